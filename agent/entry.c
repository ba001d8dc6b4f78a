/* entry: what the dynamic loader and libc call in the preloaded library.
 *
 * Thin on purpose (STYLE.md): the constructor reads the settings and, if
 * this process runs a CPython, attaches (lifecycle.h), which adds the audit
 * hook that installs everything else. The rest of this file is the list of
 * libc symbols the agent replaces, each forwarding to the real one: _exit
 * (os._exit runs neither atexit nor destructors, NOTES §6), dlsym (a host
 * that dlopens libpython with RTLD_LOCAL is only visible through the handle
 * it looks symbols up in, NOTES §1), the calls through which RSS can fall
 * (rss.h: each does its work, then raises pmt_rss_dirty), thread start and
 * end, and the set*id family. */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/forward.h"
#include "agent/lifecycle.h"
#include "agent/realsym.h"
#include "agent/rss.h"
#include "agent/threads.h"
#include "agent/threadstart.h"

/* Used by dlsym_trampoline.S. Watching starts on, so that a dlsym call made
 * before our constructor (another library's constructor) resolves the real
 * dlsym through the slow path; the constructor turns it off unless it has to
 * look out for an embedded libpython. */
__attribute__((visibility("hidden"))) volatile unsigned char pmt_dlsym_watch = 1;

/* The libc symbols the agent replaces, the one list: each definition
 * below does its work and forwards to the next definition (libc's, or
 * another preloaded library's), en_real_<name>, found in the constructor. */
#define EN_FORWARDS(X)                                                                    \
    X(_exit)                                                                              \
    X(munmap) X(madvise) X(posix_madvise) X(mmap) X(mmap64) X(mremap) X(mlock)            \
    X(mlockall) X(malloc_trim) X(shmdt) X(free) X(realloc)                                \
    X(pthread_create) X(pthread_exit)                                                     \
    X(execv) X(execve) X(execvp) X(execvpe) X(fexecve)                                    \
    X(setuid) X(setgid) X(seteuid) X(setegid) X(setreuid) X(setregid) X(setresuid)        \
    X(setresgid) X(setgroups) X(initgroups)                                               \
    X(signal)
#define EN_DECLARE(name) static __typeof__(&name) en_real_##name;
EN_FORWARDS(EN_DECLARE)
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

extern char **environ;

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

static void en_attach(void *handle, int python_main)
{
    en_attached = 1;
    pmt_dlsym_watch = 0;
    pmt_attach(pmt_dlsym, handle, python_main);
}

/* Called by the dlsym trampoline while pmt_dlsym_watch is set. */
__attribute__((visibility("hidden"))) PMT_EARLY void pmt_dlsym_slow(void *handle)
{
    pmt_resolve_dlsym();
    if (!en_wanted || en_attached || handle == RTLD_NEXT || !pmt_real_dlsym)
        return;
    int saved = errno;
    if (pmt_dlsym(handle, "PySys_AddAuditHook"))
        en_attach(handle, 0);
    else
        dlerror(); /* our failed lookup must not leave an error for the host */
    errno = saved;
}

__attribute__((constructor)) static void en_init(void)
{
    rss_clock_init();
    pmt_resolve_dlsym();
    pmt_resolve_dlopen();
    en_resolve_forwards();
    const char *modes = getenv("PYMEMTRACE");
    if (!modes || !*modes || !pmt_real_dlsym) {
        pmt_dlsym_watch = 0; /* inert: nothing at all happens */
        return;
    }
    pmt_start(environ);
    en_wanted = 1;
    if (pmt_dlsym(RTLD_DEFAULT, "PySys_AddAuditHook") || pmt_dlsym(RTLD_DEFAULT, "Py_GetVersion"))
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
    if (en_real__exit)
        en_real__exit(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

/* ---- where RSS can fall ---------------------------------------------------
 * Each forwards to the next definition (libc's, or another preloaded
 * library's) and then says RSS may have moved. Before the real function is
 * known (a call from another library's constructor), the unmap family falls
 * back to the system call itself. */

#define EN_REAL(name) (en_real_##name ? en_real_##name : (en_real_##name = en_next(#name)))


/* A fatal signal's default, asked for by the program while the agent
 * watches it, is the agent's handler, which ends the same way once the logs
 * are complete (lifecycle.h). Anything else passes unchanged. */
__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act,
                                                     struct sigaction *old)
{
    struct sigaction ours;
    if (act && pmt_signal_keep(sig, act, &ours))
        act = &ours;
    return pmt_sigaction_next(sig, act, old);
}

__attribute__((visibility("default"))) __sighandler_t signal(int sig, __sighandler_t handler)
{
    struct sigaction ours, old, want;
    memset(&want, 0, sizeof want);
    want.sa_handler = handler;
    if (handler != SIG_DFL || !pmt_signal_keep(sig, &want, &ours))
        return EN_REAL(signal) ? en_real_signal(sig, handler) : SIG_ERR;
    if (pmt_sigaction_next(sig, &ours, &old) != 0)
        return SIG_ERR;
    return (old.sa_flags & SA_SIGINFO) ? (__sighandler_t)(void (*)(void))old.sa_sigaction
                                       : old.sa_handler;
}

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

/* exec: the logs are complete on disk before the image is replaced
 * (lifecycle.h). Python's os.exec* call execv, execve or fexecve; a host
 * may use the path-searching ones. The l-forms build an argument vector and
 * call execve inside libc, unseen: none of Python's uses them. */
#define EN_EXEC(name, params, args)                                                      \
    __attribute__((visibility("default"))) int name params                               \
    {                                                                                    \
        if (!EN_REAL(name))                                                              \
            return errno = ENOSYS, -1;                                                   \
        pmt_before_exec();                                                               \
        return en_real_##name args;                                                      \
    }

EN_EXEC(execv, (const char *path, char *const argv[]), (path, argv))
EN_EXEC(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
EN_EXEC(execvp, (const char *file, char *const argv[]), (file, argv))
EN_EXEC(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
EN_EXEC(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))

/* A new thread's stack and thread area are set up partly without page
 * faults this process's rings count (PYMEMTRACE_RSS=check showed a page,
 * sometimes while the thread starts): statm is read for a while (rss.h).
 * Ending one does the same: pthread_exit loads the unwinder, and glibc
 * releases the stack after the start routine returns. The start routine is
 * wrapped (threadstart.h) so that its end, by return or pthread_exit, says so. */
__attribute__((visibility("default"))) int pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg)
{
    if (!EN_REAL(pthread_create))
        return EAGAIN;
    if (en_wanted)
        pmt_threads_before_create();
    void *start = en_wanted ? pmt_thread_wrap(fn, arg) : NULL;
    int rc;
    if (start) {
        rc = en_real_pthread_create(t, attr, pmt_thread_main, start);
        if (rc != 0)
            pmt_thread_unwrap(start);
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
        rss_thread_ended(); /* pmt_thread_main's own count ends here */
        rss_settle();
    }
    if (EN_REAL(pthread_exit))
        en_real_pthread_exit(rc);
    for (;;)
        syscall(SYS_exit, 0);
}

/* ---- credentials ------------------------------------------------------------
 * The agent's threads must follow a change of credentials (lifecycle.h).
 * initgroups is here too: libc calls setgroups inside it without passing
 * through an interposition. */

#define EN_SETID(name, params, args)                                                     \
    __attribute__((visibility("default"))) int name params                               \
    {                                                                                    \
        if (!EN_REAL(name)) {                                                            \
            errno = ENOSYS;                                                              \
            return -1;                                                                   \
        }                                                                                \
        unsigned held = pmt_setid_begin();                                               \
        int rc = en_real_##name args;                                                    \
        int err = errno;                                                                 \
        pmt_setid_end(held);                                                             \
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
            en_real_##name = pmt_dlsym(RTLD_NEXT, #name);                      \
            missed = 1;                                                        \
        }                                                                      \
    } while (0);

static void en_resolve_forwards(void)
{
    int missed = 0;
    EN_FORWARDS(EN_RESOLVE)
    if (missed)
        dlerror(); /* a failed lookup must leave no error for the program */
}
