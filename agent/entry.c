/* entry: what the dynamic loader and libc call in the preloaded library.
 *
 * Thin on purpose (STYLE.md): the constructor reads the settings and, if
 * this process runs a supported CPython, adds the audit hook that will
 * install everything else (install.c). The interposed symbols are _exit
 * (os._exit runs neither atexit nor destructors, NOTES §6) and dlsym (a host
 * that dlopens libpython with RTLD_LOCAL is only visible through the handle
 * it looks symbols up in, NOTES §1). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/rss.h"

struct pmt_agent pmt;

/* Used by dlsym_trampoline.S. Watching starts on, so that a dlsym call made
 * before our constructor (another library's constructor) resolves the real
 * dlsym through the slow path; the constructor turns it off unless it has to
 * look out for an embedded libpython. */
__attribute__((visibility("hidden"))) void *pmt_real_dlsym;
__attribute__((visibility("hidden"))) volatile unsigned char pmt_dlsym_watch = 1;

typedef void (*en_exit_fn)(int) __attribute__((noreturn));
static en_exit_fn en_real_exit;
static int en_wanted;          /* PYMEMTRACE is set: look for Python */
static int en_attached;        /* a Python was found and dealt with */
static int en_cfg_rc;
static char en_cfg_err[PMT_CFG_ERRLEN];

extern char **environ;

static void en_resolve_dlsym(void)
{
    if (pmt_real_dlsym)
        return;
    /* Not dlsym(RTLD_NEXT, "dlsym"): that call would come back here. */
    void *p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!p)
        p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    pmt_real_dlsym = p;
}

static void *en_lookup(void *handle, const char *name)
{
    return ((void *(*)(void *, const char *))pmt_real_dlsym)(handle, name);
}

/* The python executable installs at cpython.run_*; anything else that runs
 * Python (an embedding host) at the first event after initialisation. */
static int en_is_python_main(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    return strncmp(base, "python", 6) == 0;
}

static void en_after_fork_child(void)
{
    if (!pmt.active)
        return;
    pmt.owner = getpid();
    pmt.ordinal = 0;
    rss_reopen_after_fork();
    pmt_hooks_after_fork();
    for (int i = 0; i < PMT_NLOGS; i++)
        tracelog_forget_after_fork(&pmt.logs[i]);
}

static void en_attach(void *handle, int python_main)
{
    char why[256];
    en_attached = 1;
    pmt_dlsym_watch = 0;
    if (en_cfg_rc != 0) {
        pmt_say(en_cfg_err, "; not tracing", NULL);
        return;
    }
    if (shim_resolve(en_lookup, handle, &pmt.py, why, sizeof why) != 0) {
        pmt_say(why, "; not tracing", NULL);
        return;
    }
    if (pmt.cfg.function) {
        pmt_say("PYMEMTRACE_FUNCTION is not implemented in this version; not tracing", NULL);
        return;
    }
    if (pmt.cfg.modes & PMT_MODE_REFTRACE) {
        pmt_say("reftrace is not implemented in this version; the other modes still run", NULL);
        if (!(pmt.cfg.modes & (PMT_MODE_PROFILE | PMT_MODE_TRACE)))
            return;
    }
    pmt.python_main = python_main;
    pmt.env.log_dir = pmt.cfg.log_dir;
    pmt.env.log_file = pmt.cfg.log_file;
    pmt.env.message = pmt.cfg.message;
    pmt.env.py_version = pmt.py.version.text;
    pmt.env.d_rss_trigger = pmt.cfg.d_rss_trigger;
    pmt.env.quiet = pmt.cfg.quiet;
    snprintf(pmt.info, sizeof pmt.info,
             "pymemtrace agent %s, pid %d, Python %s; RSS from /proc/self/statm; "
             "Clock is process CPU time (clock()); thread native_id=%ld",
             PMT_VERSION, (int)getpid(), pmt.py.version.text, (long)syscall(SYS_gettid));
    pmt.env.info = pmt.info;
    pthread_atfork(NULL, NULL, en_after_fork_child);
    if (pmt.py.api.PySys_AddAuditHook(pmt_audit_hook, NULL) != 0)
        pmt_say("cannot add an audit hook; not tracing", NULL);
}

/* Called by the dlsym trampoline while pmt_dlsym_watch is set. */
__attribute__((visibility("hidden"))) void pmt_dlsym_slow(void *handle)
{
    en_resolve_dlsym();
    if (!en_wanted || en_attached || handle == RTLD_NEXT || !pmt_real_dlsym)
        return;
    int saved = errno;
    if (en_lookup(handle, "PySys_AddAuditHook"))
        en_attach(handle, 0);
    else
        dlerror(); /* our failed lookup must not leave an error for the host */
    errno = saved;
}

__attribute__((constructor)) static void en_init(void)
{
    en_resolve_dlsym();
    en_real_exit = (en_exit_fn)en_lookup(RTLD_NEXT, "_exit");
    const char *modes = getenv("PYMEMTRACE");
    if (!modes || !*modes || !pmt_real_dlsym) {
        pmt_dlsym_watch = 0; /* inert: nothing at all happens */
        return;
    }
    en_cfg_rc = cfg_parse(environ, &pmt.cfg, en_cfg_err, sizeof en_cfg_err);
    en_wanted = 1;
    if (en_lookup(RTLD_DEFAULT, "PySys_AddAuditHook") || en_lookup(RTLD_DEFAULT, "Py_GetVersion"))
        en_attach(RTLD_DEFAULT, en_is_python_main());
}

__attribute__((destructor)) static void en_fini(void)
{
    /* A host that never finalised Python, or exit() from C code. */
    pmt_finish(0);
}

__attribute__((visibility("default"), noreturn)) void _exit(int status)
{
    pmt_finish(0);
    if (en_real_exit)
        en_real_exit(status);
    for (;;)
        syscall(SYS_exit_group, status);
}
