/* lifecycle: see lifecycle.h.
 *
 * When the hooks go in: the audit hook (added at attach, before
 * Py_Initialize when the python executable starts) watches for the moment
 * user code is about to run: in the python executable the "exec" of the
 * main code announced by a cpython.run_* event (CPYTHON-NOTES §2), in a host
 * that embeds Python the first event once the interpreter is initialised.
 * There, with the GIL held on the main thread, the logs are opened and each
 * mode's hook set on every thread (threads.h). An atexit callback
 * registered first (so it runs last of the atexit callbacks) completes the
 * logs at the last point Python is still usable (NOTES §6). */
#include "agent/lifecycle.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/chain.h"
#include "agent/function.h"
#include "agent/hooks.h"
#include "agent/logclient.h"
#include "agent/logset.h"
#include "agent/modes.h"
#include "agent/monitor.h"
#include "agent/native.h"
#include "agent/pycall.h"
#include "agent/realsym.h"
#include "agent/rss.h"
#include "agent/selfcheck.h"
#include "agent/sites.h"
#include "agent/threads.h"
#include "agent/threadstart.h"
#include "agent/writer.h"
#include "shim/audit.h"

#define LC_EACH_MODE(row) for (const struct pmt_mode_row *row = pmt_modes; row < pmt_modes + pmt_nmodes; row++)
#define LC_ON(row) ((pmt.cfg.modes & (row)->bit) != 0)

static int lc_cfg_rc;
static char lc_cfg_err[PMT_CFG_ERRLEN];

extern char **environ;

/* The log folder is fixed when the agent starts: the folder the program
 * started in, or PYMEMTRACE_LOG_DIR made absolute against it. Logs opened
 * later (a forked child's, a traced function's call, a reopened one) go
 * there even after the program's os.chdir. */
static char lc_log_dir[4096];

static void lc_fix_log_dir(void)
{
    const char *dir = pmt.cfg.log_dir;
    char cwd[2048];
    if ((dir && dir[0] == '/') || !getcwd(cwd, sizeof cwd))
        return; /* absolute already, or no current folder to fix (removed) */
    int n = dir ? snprintf(lc_log_dir, sizeof lc_log_dir, "%s/%s", cwd, dir)
                : snprintf(lc_log_dir, sizeof lc_log_dir, "%s", cwd);
    if (n > 0 && (size_t)n < sizeof lc_log_dir)
        pmt.cfg.log_dir = lc_log_dir;
}

void pmt_start(char *const envp[])
{
    lc_cfg_rc = cfg_parse(envp, &pmt.cfg, lc_cfg_err, sizeof lc_cfg_err);
    if (lc_cfg_rc == 0)
        lc_fix_log_dir();
}

/* PYMEMTRACE_CHILDREN=0: the environment this process passes on carries
 * neither the agent (its entry in LD_PRELOAD) nor the PYMEMTRACE* settings.
 * Done in the first Python process, before Py_Initialize, so that
 * os.environ, which subprocess and multiprocessing hand to children, is made
 * without them too. */
static void lc_keep_from_children(void)
{
    char names[64][128];
    int n = 0;
    for (char **e = environ; e && *e && n < 64; e++) {
        size_t k = strcspn(*e, "=");
        if (strncmp(*e, "PYMEMTRACE", 10) == 0 && k < sizeof names[0]) {
            memcpy(names[n], *e, k);
            names[n++][k] = '\0';
        }
    }
    for (int i = 0; i < n; i++)
        unsetenv(names[i]);
    Dl_info self;
    const char *preload = getenv("LD_PRELOAD");
    if (!preload || !dladdr((void *)lc_keep_from_children, &self) || !self.dli_fname)
        return;
    char kept[4096], self_real[4096], real[4096];
    size_t len = 0;
    if (!realpath(self.dli_fname, self_real))
        snprintf(self_real, sizeof self_real, "%s", self.dli_fname);
    const char *base = strrchr(self_real, '/');
    base = base ? base + 1 : self_real;
    for (const char *p = preload; *p;) {
        size_t k = strcspn(p, " :");
        char item[4096];
        if (k > 0 && k < sizeof item) {
            memcpy(item, p, k);
            item[k] = '\0';
            /* ours: the same file, or its bare name (found through the
             * library path) */
            int ours = (realpath(item, real) && strcmp(real, self_real) == 0) ||
                       strcmp(item, base) == 0;
            if (!ours && len + k + 2 < sizeof kept) {
                if (len)
                    kept[len++] = ' ';
                memcpy(kept + len, item, k);
                len += k;
            }
        }
        p += k;
        p += strspn(p, " :");
    }
    kept[len] = '\0';
    if (len)
        setenv("LD_PRELOAD", kept, 1);
    else
        unsetenv("LD_PRELOAD");
}

/* ---- fatal signals -----------------------------------------------------------
 * A process ended by a signal at its default action (SIGTERM from
 * multiprocessing's Pool.terminate() or a service manager, SIGHUP when its
 * terminal goes, SIGPIPE where the program set it back to the default, a
 * SIGSEGV in a C extension, abort()) runs neither atexit nor destructors.
 * For each such signal the program leaves at its default when the agent
 * starts, the agent's handler completes the logs (a MSG line naming the
 * signal, LAST, EOF; the sampler's STOP line; no Python API), puts the
 * default back and lets the signal do what it would have done: raised
 * again when it was sent; for a fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL
 * from the CPU) the handler returns and the instruction faults again, so
 * the exit status and the core dump are the same. Python's signal module,
 * which read the dispositions at start-up, goes on reporting SIG_DFL; a
 * handler the program (or faulthandler) sets replaces the agent's, and
 * faulthandler, after its dump, calls the agent's in turn. */

static const struct {
    int sig;
    const char *name;
} lc_fatal[] = {
    {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
    {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},   {SIGUSR1, "SIGUSR1"},
    {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},     {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},
    {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},     {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"},
    {SIGSYS, "SIGSYS"},
};
#define LC_NFATAL (sizeof lc_fatal / sizeof lc_fatal[0])

static volatile sig_atomic_t lc_pending_sig; /* deferred until a line is written */
static volatile sig_atomic_t lc_dying;       /* a handler is completing the logs */
static volatile sig_atomic_t lc_watching;    /* the handlers are the agent's to keep */

/* The default action back, through libc's own sigaction (the agent's
 * sigaction would put its handler back). */
static void lc_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    pmt_sigaction_next(sig, &sa, NULL);
}

static int lc_is_fatal(int sig);

static void lc_end_by_signal(int sig)
{
    if (!lc_dying && getpid() == pmt.owner) {
        lc_dying = 1;
        char text[64] = "killed by signal ";
        size_t n = strlen(text);
        n += fmt_u64(text + n, (uint64_t)sig);
        for (size_t i = 0; i < LC_NFATAL; i++) {
            if (lc_fatal[i].sig == sig) { /* no stdio in a handler: by hand */
                size_t k = strlen(lc_fatal[i].name);
                text[n++] = ' ';
                text[n++] = '(';
                memcpy(text + n, lc_fatal[i].name, k);
                n += k;
                text[n++] = ')';
                break;
            }
        }
        text[n] = '\0';
        if (pmt.active)
            for (int i = 0; i < PMT_NLOGS; i++)
                pmt_logs_msg(&pmt.logs[i], text);
        pmt_finish(0);
    }
    lc_default(sig);
}

/* Whether the kernel raised sig for the instruction that faulted (which
 * faults again when the handler returns), rather than someone sending it. */
static int lc_from_fault(int sig, const siginfo_t *info)
{
    return (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) && info &&
           info->si_code > 0;
}

static void lc_on_fatal(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    int saved = errno;
    int fault = lc_from_fault(sig, info);
    if (pmt_log_writing) {
        /* A line being written when the signal came (on this thread or
         * another): its buffer is the interrupted code's. A sent signal
         * waits until the line is done (pmt_write_end comes back here,
         * tracelog.h); a fault there cannot wait: the default, at once. */
        if (!fault) {
            lc_pending_sig = sig;
            pmt_log_signal_pending = 1;
            errno = saved;
            return;
        }
        lc_default(sig);
        errno = saved;
        return;
    }
    lc_end_by_signal(sig);
    if (!fault)
        raise(sig); /* delivered once the handler returns: the default action */
    errno = saved;
}

static void lc_signal_resume(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pmt_log_signal_pending = 0;
    int sig = lc_pending_sig;
    lc_end_by_signal(sig);
    raise(sig);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int lc_is_fatal(int sig)
{
    for (size_t i = 0; i < LC_NFATAL; i++)
        if (lc_fatal[i].sig == sig)
            return 1;
    return 0;
}

static void lc_fill_ours(struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = lc_on_fatal;
    sigfillset(&sa->sa_mask);
    sa->sa_flags = SA_RESTART | SA_SIGINFO;
}

int pmt_signal_keep(int sig, const struct sigaction *act, struct sigaction *ours)
{
    if (!lc_watching || lc_dying || !act || (act->sa_flags & SA_SIGINFO) ||
        act->sa_handler != SIG_DFL || !lc_is_fatal(sig) || getpid() != pmt.owner)
        return 0;
    lc_fill_ours(ours);
    return 1;
}

static void lc_watch_signals(void)
{
    if (lc_watching)
        return;
    lc_watching = 1;
    pmt_log_deferred_signal = lc_signal_resume;
    for (size_t i = 0; i < LC_NFATAL; i++) {
        struct sigaction old, sa;
        if (pmt_sigaction_next(lc_fatal[i].sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
            old.sa_handler != SIG_DFL)
            continue;
        lc_fill_ours(&sa);
        pmt_sigaction_next(lc_fatal[i].sig, &sa, NULL);
    }
}

/* ---- install ---------------------------------------------------------------- */

static pmt_obj *lc_atexit(pmt_obj *self, pmt_obj *unused)
{
    (void)self;
    (void)unused;
    pmt_finish(1);
    pmt.py.api.Py_IncRef(pmt.py.api.none);
    return pmt.py.api.none;
}

static struct pmt_methoddef lc_atexit_def = {"_pymemtrace_atexit", (void *)lc_atexit,
                                             PMT_METH_NOARGS, NULL};

/* PYMEMTRACE_CHECK: each log ends with the self-check's summary. */
static void lc_log_ending(struct pmt_log *lg)
{
    char text[320];
    chk_log_ending(lg);
    chk_summary(text, sizeof text);
    pmt_logs_msg(lg, text);
}

/* Whether a mode with an event log is on. */
static int lc_event_modes(void)
{
    LC_EACH_MODE(row)
    if (row->log >= 0 && LC_ON(row))
        return 1;
    return 0;
}

/* The hooks' look now and then (hooks.h). */
static void lc_look(void)
{
    if (pmt_busy)
        return;
    pmt_busy++;
    if (pmt_new_threads_watched())
        pmt_hook_new_threads();
    LC_EACH_MODE(row)
    if (row->poll && LC_ON(row))
        row->poll();
    pmt_busy--;
}

/* Whether the audit hook has still work to do once installed: a mode's
 * poll that nothing else runs (the hooks' look runs them all when a mode
 * with per-event hooks is on). */
static int lc_audit_needed(void)
{
    LC_EACH_MODE(row)
    if (row->hook && LC_ON(row) && !pmt.cfg.function)
        return 0;
    LC_EACH_MODE(row)
    if (row->needs_audit && LC_ON(row) && row->needs_audit())
        return 1;
    return 0;
}

static void lc_install(void)
{
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    int any = 0;

    pmt.installed = 1;
    pmt.owner = getpid();
    /* The log writer process first: every log opens through it. */
    const char *no_writer = NULL;
    pmt_sink_use_writer = pmt.cfg.writer == PMT_WRITER_PROCESS;
    if (pmt_sink_use_writer && logclient_start(&no_writer) == 0)
        no_writer = NULL;
    if (pmt.cfg.check) {
        pmt_log_ending_hook = lc_log_ending;
        pmt_log_closed_hook = chk_log_closed;
    }
    if (lc_event_modes()) {
        char source[480];
        if (rss_open(pmt.cfg.rss_source, pmt_glibc_malloc(), source, sizeof source) != 0) {
            pmt_say("cannot open /proc/self/statm to read RSS; not tracing", NULL);
            return;
        }
        if (pmt.cfg.native_stack) {
            char why[128];
            size_t n = strlen(source);
            if (native_open(why, sizeof why) != 0) {
                pmt_say("PYMEMTRACE_NATIVE_STACK: ", why, "; logging without native stacks",
                        NULL);
                pmt.cfg.native_stack = 0;
            } else {
                snprintf(source + n, sizeof source - n,
                         "; NAT lines: up to %d native frames (libunwind)", pmt.cfg.native_stack);
            }
        }
        if (no_writer) { /* said here, not on stderr: the logs are written all the same */
            size_t n = strlen(source);
            snprintf(source + n, sizeof source - n, "; lines written by this process (%s)",
                     no_writer);
        }
        pmt_logs_set_info(source, tid);
    }
    LC_EACH_MODE(row)
    {
        if (row->log < 0 || !LC_ON(row))
            continue;
        if (pmt.cfg.function) {
            any = 1; /* opened by each call of the function (function.c) */
            continue;
        }
        if (tracelog_open(&pmt.logs[row->log], &pmt.env, &row->kind, 0, pmt_site_line,
                          pmt_ticks_us, &pmt.ordinal, pmt_clock_us(), tid) != 0) {
            /* Said on stderr. Nothing is installed: close what was opened. */
            for (int j = 0; j < row->log; j++)
                tracelog_close(&pmt.logs[j]);
            return;
        }
        any = 1;
    }
    /* Logs of their own after the event logs, which they must not delay:
     * their numbers come first. */
    int own = 0;
    LC_EACH_MODE(row)
    if (row->open && LC_ON(row))
        own |= row->open(&pmt.env, &row->kind, &pmt.ordinal) == 0;
    if (!any && !own)
        return;
    /* The Python-level calls first, so that none of them is logged: the
     * first event of a log belongs to the program. */
    pmt_call_with("atexit", "register", &lc_atexit_def); /* runs last of the callbacks */
    if (!any) {
        lc_watch_signals(); /* the sampler's log alone: its STOP line */
        return;
    }
    if (pmt.cfg.function) {
        /* No hook anywhere until a traced function is called. */
        pmt.active = fn_install() == 0;
        if (pmt.active)
            lc_watch_signals();
        return;
    }
    pmt.active = 1;
    pmt_sites_prepare();
    /* The per-thread hooks' events through sys.monitoring (3.12+), else
     * the hooks on every thread. */
    unsigned logs = 0;
    LC_EACH_MODE(row)
    if (pmt_mode_hook(row) && row->log >= 0 && pmt.logs[row->log].state == PMT_LOG_OPEN)
        logs |= 1u << row->log;
    char why[160];
    if (!logs || pmt.cfg.hooks == PMT_HOOKS_LEGACY || pmt.cfg.check ||
        pmt_monitor_start(logs, why, sizeof why) != 0) {
        pmt_chain_begin();
        LC_EACH_MODE(row)
        if (row->log >= 0 && (logs & (1u << row->log)))
            pmt_chain_set_all(row, pmt_mode_hook(row));
        pmt_chain_check();
    } else {
        pmt_chain_monitoring();
    }
    pmt_threads_watch();
    pmt_hooks_look = lc_look;
    LC_EACH_MODE(row)
    if (row->start && row->log >= 0 && pmt.logs[row->log].state == PMT_LOG_OPEN)
        row->start();
    lc_watch_signals();
}

/* With PYMEMTRACE_RSS=check, each log ends with the comparison's result. */
static void lc_rss_check_line(struct pmt_log *lg)
{
    char text[256];
    int n = snprintf(text, sizeof text, "RSS check: %llu events, %llu differed from statm",
                     (unsigned long long)rss.checked, (unsigned long long)rss.mismatches);
    if (rss.mismatches && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, " (first at check %llu: %llu bytes, statm %llu)",
                 (unsigned long long)rss.first_mismatch, (unsigned long long)rss.first_fast,
                 (unsigned long long)rss.first_truth);
    pmt_logs_msg(lg, text);
}

void pmt_finish(int python_usable)
{
    lc_watching = 0; /* a default the program asks for from now on is the default */
    LC_EACH_MODE(row)
    if (row->stop)
        row->stop();
    if (!pmt.active || getpid() != pmt.owner) {
        logclient_end(); /* a sampler's log alone, or nothing: the writer ends */
        return;
    }
    LC_EACH_MODE(row)
    {
        if (row->finish && LC_ON(row)) {
            /* Still tracing: objects the collector frees show as DEL. */
            pmt_busy++;
            row->finish(python_usable);
            pmt_busy--;
        }
    }
    pmt.active = 0;
    if (pmt.cfg.function)
        fn_finish(python_usable); /* calls still running: the deeper logs first */
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (rss.mode == RSS_CHECK)
            lc_rss_check_line(&pmt.logs[i]);
        tracelog_close(&pmt.logs[i]);
    }
    logclient_end(); /* every line written, every log closed: the writer ends */
    if (!python_usable)
        return;
    /* Take the hooks out: threads still running after atexit (daemons)
     * should not pay for a hook that no longer logs. */
    pmt_busy++;
    int monitored = pmt.monitoring;
    pmt_monitor_stop();
    pmt_chain_stop();
    if (!monitored)
        LC_EACH_MODE(row)
        if (row->hook && LC_ON(row))
            pmt_chain_set_all(row, NULL); /* the program's own functions stay */
    pmt_busy--;
}

/* exec replaces the image and runs no destructor: the log must be complete on
 * disk before. If exec fails, the program goes on and a new log opens. */
void pmt_before_exec(void)
{
    if (!pmt.installed || getpid() != pmt.owner)
        return; /* not Python's exec: a child's, a vfork child's */
    LC_EACH_MODE(row)
    if (row->stop)
        row->stop(); /* not restarted if exec fails: such a mode has ended */
    if (pmt.active && getpid() == pmt.owner) {
        if (pmt.cfg.function)
            fn_before_exec();
        for (int i = 0; i < PMT_NLOGS; i++) {
            if (pmt.logs[i].state != PMT_LOG_OPEN)
                continue;
            tracelog_close(&pmt.logs[i]);
            if (pmt.logs[i].state == PMT_LOG_CLOSED)
                pmt.logs[i].state = PMT_LOG_REOPEN;
        }
    }
    /* The new image has a ring of its own: this one's writer ends (a new
     * one starts with the next log if exec fails). */
    logclient_end();
}

/* What the python executable is about to run, from its cpython.run_* event:
 * the main code object's filename, "" for whatever is exec'd first, NULL
 * while no run_* event was seen. */
static const char *lc_armed;

/* 1 when it is time to install. The python executable says what it will run
 * (cpython.run_*), compiles it, then raises "exec" with the code object just
 * before running it (3.8-3.13): installing there makes the main code's own
 * CALL the first event, after Python's preparations (the __main__ loader for
 * a script, 3.13's import of linecache for -c). For -m, runpy finds the
 * module, so tracing starts at run_module and runpy's events come first. */
static int lc_time_to_install(const char *event, pmt_obj *args)
{
    if (!pmt.python_main)
        return pmt.py.api.Py_IsInitialized();
    if (strncmp(event, "cpython.run_", 12) == 0) {
        const char *what = event + 12;
        if (strcmp(what, "file") == 0)
            lc_armed = "";
        else if (strcmp(what, "command") == 0)
            lc_armed = "<string>";
        else if (strcmp(what, "stdin") == 0)
            lc_armed = "<stdin>";
        else
            return 1; /* module, startup, interactivehook */
        return 0;
    }
    if (!lc_armed || strcmp(event, "exec") != 0)
        return 0;
    if (!*lc_armed)
        return 1;
    pmt_obj *code = pmt.py.api.PyTuple_GetItem(args, 0);
    const char *file = code ? pmt.py.api.PyUnicode_AsUTF8(shim_code_filename(&pmt.py, code)) : NULL;
    if (!file)
        pmt.py.api.PyErr_Clear();
    return file && strcmp(file, lc_armed) == 0;
}

static struct pmt_audit_slot lc_audit;

static int lc_audit_hook(const char *event, pmt_obj *args, void *data)
{
    (void)data;
    if (pmt_busy)
        return 0;
    if (__builtin_expect(pmt.installed, 1)) {
        lc_look();
        return 0;
    }
    pmt_busy++;
    if (lc_time_to_install(event, args)) {
        lc_install();
        /* Nothing more to watch for: what the hook did after install has
         * other triggers (entry.c's exec family and pthread_create, the
         * hooks' own look at new thread states, the modes' switches), and
         * while it stays, every audited operation in the program costs an
         * argument tuple. Where it cannot be taken out it goes on as
         * below. */
        if (!lc_audit_needed())
            shim_audit_remove(&lc_audit);
    }
    pmt_busy--;
    return 0;
}

/* ---- agent threads across fork() -------------------------------------------
 * On 3.12+ os.fork() warns when the process has another thread (NOTES §6), so
 * the writer and the sampler end in the prepare handler. The writer starts
 * again at its next hand-over. The sampler is started again once os.fork()
 * has counted the threads: at once where it never warns (3.8-3.11); else
 * from a pending call, which runs on the main thread at a bytecode boundary.
 * 3.12 counts right after fork(), before any Python code can run, so the
 * first such boundary is late enough. 3.13 counts after the
 * os.register_at_fork(after_in_parent=...) callbacks, whose Python code
 * (logging's, for one) reaches such boundaries: there the pending call puts
 * itself back while the frame that called os.fork() is still in that call
 * (on the stack below the current frame, at the same instruction). */

static int lc_paused;  /* a mode ended a thread in the prepare handler */
static pmt_tstate *lc_fork_ts;
static const void *lc_fork_frame, *lc_fork_instr;

static void lc_fork_prepare(void)
{
    const struct pmt_shim *py = &pmt.py;
    writer_stop();
    lc_fork_frame = NULL;
    lc_paused = 0;
    LC_EACH_MODE(row)
    if (row->before_fork)
        lc_paused |= row->before_fork();
    if (!lc_paused || py->layout.tstate_frame < 0 || !py->api.PyThreadState_GetUnchecked)
        return;
    /* A thread state of its own: a Python thread with the GIL, in os.fork(). */
    lc_fork_ts = py->api.PyThreadState_GetUnchecked();
    lc_fork_frame = lc_fork_ts ? shim_ts_frame(py, lc_fork_ts) : NULL;
    lc_fork_instr = lc_fork_frame ? shim_iframe_instr(py, lc_fork_frame) : NULL;
}

static int lc_fork_counted(void)
{
    const struct pmt_shim *py = &pmt.py;
    if (!lc_fork_frame || py->api.PyThreadState_GetUnchecked() != lc_fork_ts)
        return 1; /* the main thread did not fork: the process has two threads anyway */
    const void *cur = shim_ts_frame(py, lc_fork_ts);
    for (const void *f = cur; f; f = shim_iframe_previous(py, f))
        if (f == lc_fork_frame)
            return f == cur || shim_iframe_instr(py, f) != lc_fork_instr;
    return 1; /* the caller of os.fork() has returned */
}

static void lc_resume_all(void)
{
    LC_EACH_MODE(row)
    if (row->resume)
        row->resume();
}

static int lc_resume_pending(void *arg)
{
    (void)arg;
    if (!lc_fork_counted() && pmt.py.api.Py_AddPendingCall(lc_resume_pending, NULL) == 0)
        return 0;
    lc_fork_frame = NULL;
    lc_resume_all();
    return 0;
}

static void lc_fork_parent(void)
{
    LC_EACH_MODE(row)
    if (row->after_fork_parent)
        row->after_fork_parent();
    if (!lc_paused)
        return;
    if (pmt.py.layout.fork_count == PMT_FORK_COUNT_NONE || !pmt.py.api.Py_AddPendingCall ||
        pmt.py.api.Py_AddPendingCall(lc_resume_pending, NULL) != 0)
        lc_resume_all();
}

static void lc_fork_child(void)
{
    logclient_after_fork_child(); /* before anything can write into the parent's ring */
    pmt_thread_wrap_reset();
    pmt.ordinal = 0; /* the child's logs count from 0 */
    if (pmt.active && !pmt.cfg.children) {
        /* Only the first process is traced: the hooks stay in (no Python
         * API here) but find no log to write. */
        writer_after_fork_child();
        pmt.active = 0;
        for (int i = 0; i < PMT_NLOGS; i++) {
            tracelog_forget_after_fork(&pmt.logs[i]); /* closes the child's descriptor */
            pmt.logs[i].state = PMT_LOG_UNUSED;
        }
    } else if (pmt.active) {
        writer_after_fork_child();
        pmt.owner = getpid();
        char source[480] = "";
        rss_reopen_after_fork(pmt_glibc_malloc(), source, sizeof source);
        pmt_logs_set_info(source, (uint32_t)syscall(SYS_gettid)); /* the child's pid */
        pmt_thread_id_forget();
        if (pmt.cfg.function)
            fn_after_fork_child();
        for (int i = 0; i < PMT_NLOGS; i++)
            tracelog_forget_after_fork(&pmt.logs[i]);
    }
    LC_EACH_MODE(row)
    if (row->after_fork_child)
        row->after_fork_child(pmt.cfg.children ? &pmt.ordinal : NULL);
}

/* ---- credentials --------------------------------------------------------------
 * The agent's threads are not glibc's (rawthread.h), so glibc's set*id calls
 * do not change their credentials. A mode's thread is ended around them and
 * started again after (its row's hold/release); the writer's is ended before
 * (with the GIL held, as its one producer runs with it: os.setuid keeps it)
 * and starts again at the next full buffer. */

unsigned pmt_setid_begin(void)
{
    if (pmt.active && pmt.py.api.PyGILState_Check && pmt.py.api.PyGILState_Check())
        writer_stop();
    unsigned held = 0;
    LC_EACH_MODE(row)
    if (row->hold && row->hold())
        held |= 1u << (row - pmt_modes);
    return held;
}

void pmt_setid_end(unsigned held)
{
    LC_EACH_MODE(row)
    if (row->release)
        row->release((held >> (row - pmt_modes)) & 1u);
}

/* ---- attach ---------------------------------------------------------------------- */

/* Modes that cannot run here leave cfg.modes with one line each; 0 when
 * none is left. */
static int lc_drop_partial(void)
{
    unsigned frames = 0;
    LC_EACH_MODE(row)
    if (row->reads_frames)
        frames |= row->bit;
    if (pmt.py.partial && (pmt.cfg.modes & frames)) {
        pmt.cfg.modes &= ~frames; /* the others read no interpreter frame */
        if (!pmt.cfg.modes) {
            pmt_say(pmt.py.why_partial, "; not tracing", NULL);
            return 0;
        }
        char left[128] = "";
        LC_EACH_MODE(row)
        {
            if (!LC_ON(row) || strlen(left) + strlen(row->kind.name) + 6 >= sizeof left)
                continue;
            if (left[0])
                strcat(left, " and ");
            strcat(left, row->kind.name);
        }
        pmt_say(pmt.py.why_partial, "; the ", left, " log still runs", NULL);
    }
    char why[256];
    LC_EACH_MODE(row)
    {
        if (!row->usable || !LC_ON(row) || row->usable(why, sizeof why))
            continue;
        pmt.cfg.modes &= ~row->bit; /* the others run */
        if (!pmt.cfg.modes) {
            pmt_say(why, "; not tracing", NULL);
            return 0;
        }
        pmt_say(why, "; the other modes still run", NULL);
    }
    return 1;
}

void pmt_attach(pmt_lookup lookup, void *handle, int python_main)
{
    char why[256];
    if (lc_cfg_rc != 0) {
        pmt_say(lc_cfg_err, "; not tracing", NULL);
        return;
    }
    if (shim_resolve(lookup, handle, &pmt.py, why, sizeof why) != 0) {
        pmt_say(why, "; not tracing", NULL);
        return;
    }
    dlerror(); /* the optional symbols' failed lookups must leave no error */
    /* The first Python process: a shell or a pyenv shim on the way passes
     * the agent on untouched. */
    if (!pmt.cfg.children)
        lc_keep_from_children();
    if (!lc_drop_partial())
        return;
    pmt.python_main = python_main;
    pmt.env.cfg = &pmt.cfg;
    pmt.env.py_version = pmt.py.version.text;
    pmt.env.info = pmt.info; /* written at install, once the RSS source is known */
    pthread_atfork(lc_fork_prepare, lc_fork_parent, lc_fork_child);
    if (shim_audit_add(&pmt.py, lookup, handle, lc_audit_hook, &lc_audit, &lc_audit) != 0)
        pmt_say("cannot add an audit hook; not tracing", NULL);
}
