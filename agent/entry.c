/* entry: what the dynamic loader and libc call in the preloaded library.
 *
 * Thin on purpose (STYLE.md): the constructor reads the settings and, if
 * this process runs a supported CPython, adds the audit hook that will
 * install everything else (install.c). The interposed symbols are _exit
 * (os._exit runs neither atexit nor destructors, NOTES §6), dlsym (a host
 * that dlopens libpython with RTLD_LOCAL is only visible through the handle
 * it looks symbols up in, NOTES §1), and the calls through which RSS can
 * fall (rss.h): each does its work, then raises pmt_rss_dirty. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/forward.h"
#include "agent/function.h"
#include "agent/reftrace.h"
#include "agent/rss.h"
#include "agent/sampler.h"
#include "agent/writer.h"

struct pmt_agent pmt;

/* Used by dlsym_trampoline.S. Watching starts on, so that a dlsym call made
 * before our constructor (another library's constructor) resolves the real
 * dlsym through the slow path; the constructor turns it off unless it has to
 * look out for an embedded libpython. */
__attribute__((visibility("hidden"))) void *pmt_real_dlsym;
__attribute__((visibility("hidden"))) volatile unsigned char pmt_dlsym_watch = 1;

typedef void (*en_exit_fn)(int) __attribute__((noreturn));
static en_exit_fn en_real_exit;
static void en_resolve_forwards(void);

/* The next definition, read from the loaded objects' symbol tables: never
 * dlsym here, which these functions may be called from inside (forward.h
 * tells the heap corruption that came of it). */
PMT_EARLY static void *en_next(const char *name)
{
    return fw_next(name);
}

static int en_wanted;          /* PYMEMTRACE is set: look for Python */
static int en_attached;        /* a Python was found and dealt with */
static int en_cfg_rc;
static char en_cfg_err[PMT_CFG_ERRLEN];

extern char **environ;

PMT_EARLY static void en_resolve_dlsym(void)
{
    if (pmt_real_dlsym)
        return;
    /* Not dlsym(RTLD_NEXT, "dlsym"): that call would come back here. */
    void *p = fw_next("dlsym");
    if (!p)
        p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!p)
        p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    pmt_real_dlsym = p;
}

PMT_EARLY static void *en_lookup(void *handle, const char *name)
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

/* PYMEMTRACE_CHILDREN=0: the environment this process passes on carries
 * neither the agent (its entry in LD_PRELOAD) nor the PYMEMTRACE* settings.
 * Done in the first Python process, before Py_Initialize, so that
 * os.environ, which subprocess and multiprocessing hand to children, is made
 * without them too. */
static void en_keep_from_children(void)
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
    if (!preload || !dladdr((void *)en_keep_from_children, &self) || !self.dli_fname)
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

static void en_start_pool_reset(void);

static void en_after_fork_child(void)
{
    en_start_pool_reset(); /* records of threads starting in the parent are not the child's */
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
        char source[320] = "";
        rss_reopen_after_fork(pmt_glibc_malloc(), source, sizeof source);
        pmt_set_info(source, (uint32_t)syscall(SYS_gettid)); /* the child's pid */
        pmt_hooks_after_fork();
        if (pmt.cfg.function)
            fn_after_fork_child();
        for (int i = 0; i < PMT_NLOGS; i++)
            tracelog_forget_after_fork(&pmt.logs[i]);
    }
    sampler_after_fork_child(pmt.cfg.children ? &pmt.ordinal : NULL);
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
    /* The first Python process: a shell or a pyenv shim on the way passes
     * the agent on untouched. */
    if (!pmt.cfg.children)
        en_keep_from_children();
    /* With a shared libpython our own PyRefTracer_SetTracer comes first in
     * the global scope (libpython calls it through its PLT): the agent calls
     * the real one, the next definition. A static interpreter's own comes
     * before ours and is the real one. Compared with our definition's own
     * address (rt_own_setter): the plain name would resolve, like any
     * exported name, to the first definition, the executable's there, and
     * the next one after the agent is then none. */
    if ((void *)pmt.py.api.PyRefTracer_SetTracer == (void *)rt_own_setter)
        pmt.py.api.PyRefTracer_SetTracer =
            (int (*)(pmt_reftracer, void *))en_lookup(RTLD_NEXT, "PyRefTracer_SetTracer");
    dlerror(); /* the optional symbols' failed lookups must leave no error */
    if (pmt.py.partial && (pmt.cfg.modes & ~(unsigned)PMT_MODE_SAMPLE)) {
        pmt.cfg.modes &= PMT_MODE_SAMPLE; /* reads no interpreter frame */
        if (!pmt.cfg.modes) {
            pmt_say(pmt.py.why_partial, "; not tracing", NULL);
            return;
        }
        pmt_say(pmt.py.why_partial, "; the sample log still runs", NULL);
    }
    if ((pmt.cfg.modes & PMT_MODE_REFTRACE) && !rt_supported(&pmt.py, why, sizeof why)) {
        pmt.cfg.modes &= ~(unsigned)PMT_MODE_REFTRACE; /* the others run, sample included */
        if (!pmt.cfg.modes) {
            pmt_say(why, "; not tracing", NULL);
            return;
        }
        pmt_say(why, "; the other modes still run", NULL);
    }
    pmt.python_main = python_main;
    pmt.env.log_dir = pmt.cfg.log_dir;
    pmt.env.log_file = pmt.cfg.log_file;
    pmt.env.message = pmt.cfg.message;
    pmt.env.py_version = pmt.py.version.text;
    pmt.env.d_rss_trigger = pmt.cfg.d_rss_trigger;
    pmt.env.quiet = pmt.cfg.quiet;
    pmt.env.info = pmt.info; /* written at install, once the RSS source is known */
    pthread_atfork(pmt_fork_prepare, pmt_fork_parent, en_after_fork_child);
    if (pmt.py.api.PySys_AddAuditHook(pmt_audit_hook, NULL) != 0)
        pmt_say("cannot add an audit hook; not tracing", NULL);
}

/* Called by the dlsym trampoline while pmt_dlsym_watch is set. */
__attribute__((visibility("hidden"))) PMT_EARLY void pmt_dlsym_slow(void *handle)
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
    rss_clock_init();
    en_resolve_dlsym();
    en_resolve_forwards();
    en_real_exit = (en_exit_fn)en_next("_exit");
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

/* ---- where RSS can fall ---------------------------------------------------
 * Each forwards to the next definition (libc's, or another preloaded
 * library's) and then says RSS may have moved. Before the real function is
 * known (a call from another library's constructor), the unmap family falls
 * back to the system call itself. */

#define EN_REAL(name) (en_real_##name ? en_real_##name : (en_real_##name = en_next(#name)))

static __typeof__(&munmap) en_real_munmap;
static __typeof__(&madvise) en_real_madvise;
static __typeof__(&posix_madvise) en_real_posix_madvise;
static __typeof__(&mremap) en_real_mremap;
static __typeof__(&mlock) en_real_mlock;
static __typeof__(&mlockall) en_real_mlockall;
static __typeof__(&malloc_trim) en_real_malloc_trim;
static __typeof__(&shmdt) en_real_shmdt;
static __typeof__(&free) en_real_free;
static __typeof__(&pthread_create) en_real_pthread_create;
typedef void (*en_pthread_exit_fn)(void *) __attribute__((noreturn));
static en_pthread_exit_fn en_real_pthread_exit;
static __typeof__(&realloc) en_real_realloc;

__attribute__((visibility("default"))) int munmap(void *addr, size_t len)
{
    int rc = EN_REAL(munmap) ? en_real_munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
    pmt_rss_dirty = 1;
    return rc;
}

__attribute__((visibility("default"))) int madvise(void *addr, size_t len, int advice)
{
    int rc = EN_REAL(madvise) ? en_real_madvise(addr, len, advice)
                              : (int)syscall(SYS_madvise, addr, len, advice);
    pmt_rss_dirty = 1;
    return rc;
}

__attribute__((visibility("default"))) int posix_madvise(void *addr, size_t len, int advice)
{
    int rc = EN_REAL(posix_madvise) ? en_real_posix_madvise(addr, len, advice) : ENOSYS;
    pmt_rss_dirty = 1;
    return rc;
}

/* A fixed mapping replaces pages; MAP_POPULATE brings them in without faults.
 * Both names are defined under their own symbols: with _FILE_OFFSET_BITS=64
 * the header renames mmap to mmap64, and off_t is 64 bits either way here. */
typedef void *(*en_mmap_fn)(void *, size_t, int, int, int, off_t);
static en_mmap_fn en_real_mmap, en_real_mmap64;

static void *en_mmap_via(en_mmap_fn *real, const char *name, void *addr, size_t len, int prot,
                         int flags, int fd, off_t off)
{
    if (!*real)
        *real = (en_mmap_fn)en_next(name);
    void *p = *real ? (*real)(addr, len, prot, flags, fd, off)
                    : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (flags & (MAP_FIXED | MAP_POPULATE))
        pmt_rss_dirty = 1;
    return p;
}

__attribute__((visibility("default"))) void *en_mmap(void *addr, size_t len, int prot, int flags,
                                                     int fd, off_t off) __asm__("mmap");
void *en_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return en_mmap_via(&en_real_mmap, "mmap", addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) void *en_mmap64(void *addr, size_t len, int prot,
                                                       int flags, int fd, off_t off)
    __asm__("mmap64");
void *en_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return en_mmap_via(&en_real_mmap64, "mmap64", addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) void *mremap(void *old, size_t old_len, size_t new_len,
                                                    int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    void *p = EN_REAL(mremap) ? en_real_mremap(old, old_len, new_len, flags, new_addr)
                              : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    pmt_rss_dirty = 1;
    return p;
}

__attribute__((visibility("default"))) int mlock(const void *addr, size_t len)
{
    int rc = EN_REAL(mlock) ? en_real_mlock(addr, len) : (int)syscall(SYS_mlock, addr, len);
    pmt_rss_dirty = 1;
    return rc;
}

__attribute__((visibility("default"))) int mlockall(int flags)
{
    int rc = EN_REAL(mlockall) ? en_real_mlockall(flags) : (int)syscall(SYS_mlockall, flags);
    pmt_rss_dirty = 1;
    return rc;
}

__attribute__((visibility("default"))) int malloc_trim(size_t pad)
{
    int rc = EN_REAL(malloc_trim) ? en_real_malloc_trim(pad) : 0;
    pmt_rss_dirty = 1;
    return rc;
}

__attribute__((visibility("default"))) int shmdt(const void *addr)
{
    int rc = EN_REAL(shmdt) ? en_real_shmdt(addr) : (int)syscall(SYS_shmdt, addr);
    pmt_rss_dirty = 1;
    return rc;
}

/* A new thread's stack and thread area are set up partly without page
 * faults this process's rings count (PYMEMTRACE_RSS=check showed a page,
 * sometimes while the thread starts): statm is read for a while (rss.h). */
/* Ending one does the same: pthread_exit loads the unwinder, and glibc
 * releases the stack after the start routine returns. The start routine is
 * wrapped so that its end, by return or pthread_exit, says so. */
struct en_start {
    void *(*fn)(void *);
    void *arg;
};

/* The wrapped start routines' records come from a fixed pool, never from
 * malloc: a free() written in this file binds to the agent's own free
 * (-fno-semantic-interposition), which forwards to the definition after
 * the agent, while malloc is the first definition in the process. With
 * another allocator preloaded before the agent (jemalloc, tcmalloc, a
 * sanitizer's), a record malloc'd by it was freed by glibc's free on the
 * new thread, into that thread's tcache, which glibc then freed again at
 * the thread's end: a crash (ASan's runtime preloaded first showed it, in
 * tcache_thread_shutdown). A record is held only until the new thread has
 * copied it; with the pool empty a thread simply starts unwrapped. */
#define EN_STARTS 256
static struct en_start en_starts[EN_STARTS];
static int en_start_used[EN_STARTS];

static struct en_start *en_start_take(void)
{
    static unsigned next;
    for (int tries = 0; tries < EN_STARTS; tries++) {
        unsigned k = __atomic_fetch_add(&next, 1u, __ATOMIC_RELAXED) % EN_STARTS;
        int free_slot = 0;
        if (__atomic_compare_exchange_n(&en_start_used[k], &free_slot, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return &en_starts[k];
    }
    return NULL;
}

static void en_start_give(struct en_start *s)
{
    __atomic_store_n(&en_start_used[s - en_starts], 0, __ATOMIC_RELEASE);
}

static void en_start_pool_reset(void)
{
    for (int i = 0; i < EN_STARTS; i++)
        en_start_used[i] = 0;
}

static void *en_thread_main(void *p)
{
    struct en_start start = *(struct en_start *)p;
    en_start_give(p);
    rss_thread_started();
    void *rc = start.fn(start.arg);
    rss_thread_ended();
    rss_settle(); /* only started when PYMEMTRACE is set */
    return rc;
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg)
{
    if (!EN_REAL(pthread_create))
        return EAGAIN;
    /* Thread.start comes here with the GIL held, after CPython made the new
     * thread's state and before the thread runs Python: its hooks go in now
     * (install.c). */
    if (en_wanted && pmt_new_threads_watched() && pmt.py.api.PyGILState_Check &&
        pmt.py.api.PyGILState_Check()) {
        pmt_busy++;
        pmt_hook_new_threads();
        pmt_busy--;
    }
    struct en_start *start = en_wanted ? en_start_take() : NULL;
    int rc;
    if (start) {
        start->fn = fn;
        start->arg = arg;
        rc = en_real_pthread_create(t, attr, en_thread_main, start);
        if (rc != 0)
            en_start_give(start);
    } else {
        rc = en_real_pthread_create(t, attr, fn, arg);
    }
    if (en_wanted)
        rss_settle();
    return rc;
}

__attribute__((visibility("default"), noreturn)) void pthread_exit(void *rc)
{
    if (en_wanted) {
        rss_thread_ended(); /* en_thread_main's own count ends here */
        rss_settle();
    }
    if (EN_REAL(pthread_exit))
        en_real_pthread_exit(rc);
    for (;;)
        syscall(SYS_exit, 0);
}

/* ---- credentials ------------------------------------------------------------
 * The agent's threads are not glibc's (rawthread.h), so glibc's set*id calls
 * do not change their credentials. The sampler's is ended around them and
 * started again after (sampler_hold); the writer's is ended before (with
 * the GIL held, as its one producer runs with it: os.setuid keeps it) and
 * starts again at the next full buffer. initgroups is here too: libc calls
 * setgroups inside it without passing through an interposition. */

static void en_before_setid(void)
{
    if (pmt.active && pmt.py.api.PyGILState_Check && pmt.py.api.PyGILState_Check())
        writer_stop();
}

#define EN_SETID(name, params, args)                                                     \
    static __typeof__(&name) en_real_##name;                                             \
    __attribute__((visibility("default"))) int name params                               \
    {                                                                                    \
        if (!EN_REAL(name)) {                                                            \
            errno = ENOSYS;                                                              \
            return -1;                                                                   \
        }                                                                                \
        en_before_setid();                                                               \
        int held = sampler_hold();                                                       \
        int rc = en_real_##name args;                                                    \
        int err = errno;                                                                 \
        sampler_release(held);                                                           \
        errno = err;                                                                     \
        return rc;                                                                       \
    }

EN_SETID(setuid, (uid_t u), (u))
EN_SETID(setgid, (gid_t g), (g))
EN_SETID(seteuid, (uid_t u), (u))
EN_SETID(setegid, (gid_t g), (g))
EN_SETID(setreuid, (uid_t r, uid_t e), (r, e))
EN_SETID(setregid, (gid_t r, gid_t e), (r, e))
EN_SETID(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
EN_SETID(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
EN_SETID(setgroups, (size_t n, const gid_t *list), (n, list))
EN_SETID(initgroups, (const char *user, gid_t g), (user, g))

/* glibc's free and realloc unmap and trim through internal calls that no
 * interposition sees: a chunk that was mmapped (IS_MMAPPED, 0x2) is
 * munmapped or mremapped, one from a thread's arena (NON_MAIN_ARENA, 0x4)
 * may shrink that heap, and the main arena trims by moving the break
 * (__curbrk). The header word before the pointer is read only when the
 * allocator is glibc's (pmt_watch_alloc). */
extern void *__curbrk;
#define EN_CHUNK_MAY_UNMAP(p) ((((const size_t *)(p))[-1] & 0x6u) != 0)

__attribute__((visibility("default"))) void free(void *p)
{
    if (!EN_REAL(free))
        return; /* only while resolving free itself: leak rather than crash */
    if (p && pmt_watch_alloc) {
        void *brk = __curbrk;
        if (EN_CHUNK_MAY_UNMAP(p))
            pmt_rss_dirty = 1;
        en_real_free(p);
        if (__curbrk != brk)
            pmt_rss_dirty = 1;
        return;
    }
    en_real_free(p);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
    if (!EN_REAL(realloc))
        return NULL;
    if (p && pmt_watch_alloc) {
        void *brk = __curbrk;
        if (EN_CHUNK_MAY_UNMAP(p))
            pmt_rss_dirty = 1;
        void *q = en_real_realloc(p, n);
        if (__curbrk != brk)
            pmt_rss_dirty = 1;
        return q;
    }
    return en_real_realloc(p, n);
}

/* Every forwarder's next definition, in the constructor, so that the calls
 * find it in place. fw_next answers for glibc and ordinary preloads; what it
 * cannot (an IFUNC outside x86-64) dlsym can here, where no libdl call is
 * in progress on this thread. A call before the constructor (from another
 * library's) resolves its own through fw_next, which is safe anywhere. */
#define EN_RESOLVE(name)                                                       \
    do {                                                                       \
        if (!en_real_##name)                                                   \
            en_real_##name = en_next(#name);                                   \
        if (!en_real_##name && pmt_real_dlsym) {                               \
            en_real_##name = en_lookup(RTLD_NEXT, #name);                      \
            missed = 1;                                                        \
        }                                                                      \
    } while (0)

static void en_resolve_forwards(void)
{
    int missed = 0;
    EN_RESOLVE(munmap);
    EN_RESOLVE(madvise);
    EN_RESOLVE(posix_madvise);
    EN_RESOLVE(mmap);
    EN_RESOLVE(mmap64);
    EN_RESOLVE(mremap);
    EN_RESOLVE(mlock);
    EN_RESOLVE(mlockall);
    EN_RESOLVE(malloc_trim);
    EN_RESOLVE(shmdt);
    EN_RESOLVE(free);
    EN_RESOLVE(realloc);
    EN_RESOLVE(pthread_create);
    EN_RESOLVE(pthread_exit);
    EN_RESOLVE(setuid);
    EN_RESOLVE(setgid);
    EN_RESOLVE(seteuid);
    EN_RESOLVE(setegid);
    EN_RESOLVE(setreuid);
    EN_RESOLVE(setregid);
    EN_RESOLVE(setresuid);
    EN_RESOLVE(setresgid);
    EN_RESOLVE(setgroups);
    EN_RESOLVE(initgroups);
    if (missed)
        dlerror(); /* a failed lookup must leave no error for the program */
}

/* dl_iterate_phdr: 1 when an object loaded before the agent (the
 * executable excepted: its imports show as PLT stubs) defines name other
 * than as libc does. Preloads ahead of the agent are such objects. */
struct en_scan {
    const char *name;
    void *libc_def;
    const char *self; /* the agent's path: the scan stops there */
    int other;
    int index;
};

static int en_scan_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct en_scan *scan = data;
    if (scan->index++ == 0 || !info->dlpi_name || !*info->dlpi_name)
        return 0; /* the executable (or vDSO) */
    if (strcmp(info->dlpi_name, scan->self) == 0)
        return 1;
    void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    void *def = en_lookup(h, scan->name); /* this object or its dependencies */
    if (def && def != scan->libc_def)
        scan->other = 1;
    dlclose(h);
    return scan->other;
}

/* Whether the name everyone's calls reach is libc's definition. */
static int en_is_libc(void *libc, const char *name, int interposed_here)
{
    void *libc_def = en_lookup(libc, name);
    if (interposed_here) /* free, realloc: ours forwards to the next one */
        return en_lookup(RTLD_NEXT, name) == libc_def;
    void *def = en_lookup(RTLD_DEFAULT, name);
    if (def == libc_def)
        return 1;
    /* A non-PIE executable's import appears as its PLT stub: an undefined
     * symbol with a value. The definition is then the first one in the
     * global scope: a preload before the agent, or what follows it. */
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!def || !dladdr1(def, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
        sym->st_shndx != SHN_UNDEF)
        return 0;
    Dl_info self;
    if (!dladdr((void *)en_is_libc, &self) || !self.dli_fname)
        return 0;
    struct en_scan scan = {name, libc_def, self.dli_fname, 0, 0};
    dl_iterate_phdr(en_scan_one, &scan);
    return !scan.other && en_lookup(RTLD_NEXT, name) == libc_def;
}

void *pmt_real_symbol(const char *name, void *caller)
{
    en_resolve_dlsym();
    if (!pmt_real_dlsym)
        return NULL;
    void *p = en_lookup(RTLD_NEXT, name);
    Dl_info info;
    if (!p && caller && dladdr(caller, &info) && info.dli_fname) {
        /* A libpython loaded RTLD_LOCAL (an embedding host) is not after us
         * in the global scope; its own handle finds it. */
        void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            p = en_lookup(h, name);
            dlclose(h);
        }
    }
    dlerror();
    return p;
}

int pmt_glibc_malloc(void)
{
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!libc)
        return 0;
    int same = en_is_libc(libc, "malloc", 0) && en_is_libc(libc, "calloc", 0) &&
               en_is_libc(libc, "free", 1) && en_is_libc(libc, "realloc", 1);
    dlclose(libc);
    return same;
}
