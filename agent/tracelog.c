/* tracelog: Profile/Trace log files. See tracelog.h. */
#include "agent/tracelog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/logfmt.h"
#include "agent/rawio.h"
#include "agent/writer.h"

#define TRACELOG_BUF (256u << 10) /* each of PMT_LOG_NBUF */
#define TRACELOG_FLUSH_NS 1000000000LL

volatile int pmt_log_failed;
volatile int pmt_log_writing;
void (*pmt_log_ending_hook)(struct pmt_log *lg);
void (*pmt_log_closed_hook)(const struct pmt_log *lg, int fd);

static int64_t tl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void tl_fail(struct pmt_log *lg, int err)
{
    if (lg->state == PMT_LOG_FAILED)
        return;
    lg->state = PMT_LOG_FAILED;
    lg->len = 0;
    if (!pmt_log_failed) {
        pmt_log_failed = 1;
        pmt_say("cannot write ", lg->path, ": ", pmt_errtext(err), "; tracing stopped", NULL);
    }
}

/* On the writer thread (rawthread.h's rules): say it once, stop tracing;
 * the log notices. */
static void tl_async_fail(void *ctx, int err)
{
    struct pmt_log *lg = ctx;
    lg->werr = err;
    if (!pmt_log_failed) {
        pmt_log_failed = 1;
        pmt_say("cannot write ", lg->path, ": ", pmt_errtext(err), "; tracing stopped", NULL);
    }
}

/* Hands the full buffer to the writer and moves to the next free one. */
static int tl_hand_over(struct pmt_log *lg)
{
    if (writer_submit(lg->fd, lg->buf, lg->len, lg->offset, &lg->busy[lg->cur], tl_async_fail,
                      lg) != 0)
        return -1;
    lg->offset += (off_t)lg->len;
    lg->len = 0;
    lg->cur = (lg->cur + 1) % PMT_LOG_NBUF;
    lg->buf = lg->mem + (size_t)lg->cur * lg->cap;
    while (__atomic_load_n(&lg->busy[lg->cur], __ATOMIC_ACQUIRE))
        writer_drain(); /* every buffer queued: the disk sets the pace */
    return 0;
}

void tracelog_flush(struct pmt_log *lg)
{
    if (lg->state != PMT_LOG_OPEN && lg->state != PMT_LOG_CLOSED)
        return;
    if (lg->werr) {
        lg->state = PMT_LOG_FAILED; /* said by the writer */
        lg->len = 0;
        return;
    }
    if (!(lg->async && lg->len && tl_hand_over(lg) == 0)) {
        /* Here: write(), or, for an async log without its thread, pwrite()
         * at the offset the file has reached. */
        int err = pmt_write_all(lg->fd, lg->buf, lg->len, lg->async ? lg->offset : -1);
        if (err) {
            tl_fail(lg, err);
            return;
        }
        lg->offset += (off_t)lg->len;
        lg->len = 0;
    }
    lg->last_flush_ns = tl_now_ns();
}

/* Room for one more line of any length. */
static char *tl_reserve(struct pmt_log *lg)
{
    if (lg->cap - lg->len < PMT_LINE_MAX)
        tracelog_flush(lg);
    return lg->state == PMT_LOG_OPEN ? lg->buf + lg->len : NULL;
}

static void tl_raw(struct pmt_log *lg, const char *s, size_t n)
{
    char *p = tl_reserve(lg);
    if (!p)
        return;
    if (n > PMT_LINE_MAX - 1)
        n = PMT_LINE_MAX - 1;
    memcpy(p, s, n);
    p[n] = '\n';
    lg->len += n + 1;
}

static void tl_msg(struct pmt_log *lg, uint64_t event, int64_t devent, uint64_t clock_us,
                   const char *text)
{
    char *p = tl_reserve(lg);
    if (p)
        lg->len += fmt_msg_line(p, event, devent, clock_us, text);
}

static void tl_line(struct pmt_log *lg, const char *prefix, const struct pmt_event *ev)
{
    if (ev->thread != lg->line_thread) {
        char text[48] = "thread native_id=";
        size_t k = strlen(text);
        text[k + fmt_u64(text + k, ev->thread)] = '\0';
        tl_msg(lg, ev->n, (int64_t)(ev->n - lg->logged.n), lg->clock_of(ev->ticks), text);
        lg->line_thread = ev->thread;
    }
    char *p = tl_reserve(lg);
    if (!p)
        return;
    const struct pmt_site *site = ev->site;
    struct pmt_event_fields f = {
        .event = ev->n,
        .devent = (int64_t)(ev->n - lg->logged.n),
        .clock_us = lg->clock_of(ev->ticks),
        .what = fmt_what_name(ev->what),
        .file = site ? site->file : "",
        .line = site ? lg->line_of(site, ev->lasti) : 0,
        .func = ev->cfunc ? *ev->cfunc : site ? site->func : "",
        .rss = ev->rss,
        .drss = (int64_t)(ev->rss - lg->logged.rss),
        .file_len = site ? site->file_len : 0,
        .func_len = site && !ev->cfunc ? site->func_len : 0,
    };
    lg->len += fmt_event_line(p, prefix, &f);
}

static int tl_mkdirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return n == 0 ? 0 : -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* dir + "/" + name, or name alone when absolute or no dir; then made absolute. */
static int tl_join(char *out, size_t cap, const char *dir, const char *name)
{
    char rel[4096];
    size_t n;
    if (name[0] == '/' || !dir)
        n = (size_t)snprintf(rel, sizeof rel, "%s", name);
    else
        n = (size_t)snprintf(rel, sizeof rel, "%s/%s", dir, name);
    if (n >= sizeof rel)
        return -1;
    if (rel[0] == '/') {
        n = (size_t)snprintf(out, cap, "%s", rel);
    } else {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        n = (size_t)snprintf(out, cap, "%s/%s", cwd, rel);
    }
    return n < cap ? 0 : -1;
}

static int tl_create(const struct pmt_log_env *env, char letter, unsigned depth, unsigned *ordinal,
                     char *path, size_t cap)
{
    char name[2048];
    if (env->log_dir && tl_mkdirs(env->log_dir) != 0) {
        int err = errno;
        snprintf(path, cap, "the log folder %s", env->log_dir);
        errno = err;
        return -1;
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        unsigned n = (*ordinal)++;
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY;
        if (env->log_file) {
            if (!fmt_log_pattern(name, sizeof name, env->log_file, getpid(), letter, n))
                return errno = ENAMETOOLONG, -1;
            flags |= O_TRUNC;
        } else {
            if (!fmt_log_name(name, sizeof name, time(NULL), n, getpid(), letter, depth,
                              env->py_version))
                return errno = ENAMETOOLONG, -1;
            flags |= O_EXCL; /* never overwrite: after exec the same pid starts over */
        }
        if (tl_join(path, cap, env->log_dir, name) != 0)
            return errno = ENAMETOOLONG, -1;
        int fd = open(path, flags, 0666);
        if (fd >= 0 || errno != EEXIST || env->log_file)
            return fd;
    }
    return -1;
}

static int tl_create_said(const struct pmt_log_env *env, char letter, const char *mode_name,
                          unsigned depth, unsigned *ordinal, char *path, size_t cap,
                          const char *then)
{
    path[0] = '\0';
    int fd = tl_create(env, letter, depth, ordinal, path, cap);
    if (fd < 0) {
        int err = errno;
        if (path[0])
            pmt_say("cannot create ", path, ": ", pmt_errtext(err), then, NULL);
        else
            pmt_say("cannot name the ", mode_name, " log: ", pmt_errtext(err), then, NULL);
    }
    return fd;
}

int tracelog_create(const struct pmt_log_env *env, char letter, const char *mode_name,
                    unsigned *ordinal, char *path, size_t cap, const char *then)
{
    return tl_create_said(env, letter, mode_name, 0, ordinal, path, cap, then);
}

int tracelog_open(struct pmt_log *lg, const struct pmt_log_env *env, char letter,
                  const char *mode_name, pmt_line_fn line_of, pmt_clock_fn clock_of,
                  unsigned *ordinal, uint64_t clock_us, uint32_t thread)
{
    return tracelog_open_at(lg, env, letter, 0, mode_name, line_of, clock_of, ordinal, clock_us,
                            thread);
}

int tracelog_open_at(struct pmt_log *lg, const struct pmt_log_env *env, char letter,
                     unsigned depth, const char *mode_name, pmt_line_fn line_of,
                     pmt_clock_fn clock_of, unsigned *ordinal, uint64_t clock_us,
                     uint32_t thread)
{
    char *mem = lg->mem;
    memset(lg, 0, sizeof *lg);
    lg->fd = -1;
    lg->letter = letter;
    lg->depth = depth;
    lg->mode_name = mode_name;
    lg->line_of = line_of;
    lg->clock_of = clock_of;
    lg->trigger = env->d_rss_trigger < 0 ? (int64_t)sysconf(_SC_PAGESIZE) : env->d_rss_trigger;
    lg->write_through = env->d_rss_trigger != 0;
    lg->line_thread = thread;
    lg->state = PMT_LOG_FAILED;
    if (!mem) {
        mem = mmap(NULL, PMT_LOG_NBUF * TRACELOG_BUF, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            pmt_say("cannot allocate a log buffer; not tracing", NULL);
            return -1;
        }
    }
    lg->mem = mem;
    lg->buf = mem;
    lg->cap = TRACELOG_BUF;
    lg->fd = tl_create_said(env, letter, mode_name, depth, ordinal, lg->path, sizeof lg->path,
                            "; not tracing");
    if (lg->fd < 0)
        return -1;
    lg->state = PMT_LOG_OPEN;
    lg->ref = letter == 'O';
    if (env->message)
        tl_raw(lg, env->message, strlen(env->message));
    tl_raw(lg, "SOF", 3);
    char *p = tl_reserve(lg);
    if (p)
        lg->len += lg->ref ? fmt_ref_header(p) : fmt_header(p);
    if (lg->ref)
        tracelog_ref_msg(lg, "MSG", clock_us, env->info);
    else
        tl_msg(lg, 0, 0, clock_us, env->info);
    /* Write the head now: an unwritable target shows at once, not at exit,
     * and is the one line said about this log. */
    tracelog_flush(lg);
    if (lg->state != PMT_LOG_OPEN)
        return -1;
    /* Every event logged into a file: let a thread do the copying. */
    struct stat st;
    if ((env->d_rss_trigger == 0 || lg->ref) && fstat(lg->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        lg->offset = lseek(lg->fd, 0, SEEK_CUR);
        lg->async = lg->offset >= 0;
    }
    if (!env->quiet)
        pmt_say(mode_name, " log: ", lg->path, NULL);
    return 0;
}

void tracelog_event(struct pmt_log *lg, const struct pmt_event *ev)
{
    if (!lg->have_first) {
        lg->have_first = 1;
        lg->logged = *ev;
        tl_line(lg, "FRST", ev);
    } else {
        int64_t d = (int64_t)(ev->rss - lg->logged.rss);
        if (d >= lg->trigger || -d >= lg->trigger) {
            if (lg->prev.n > lg->logged.n)
                tl_line(lg, "PREV", &lg->prev);
            tl_line(lg, "NEXT", ev);
            if (ev->nnative) {
                char *p = tl_reserve(lg);
                if (p)
                    lg->len += fmt_native_line(p, ev->native, ev->nnative);
            }
            lg->logged = *ev;
            lg->logged.native = NULL;
            lg->logged.nnative = 0;
            if (lg->write_through || lg->cap - lg->len < 2 * PMT_LINE_MAX ||
                tl_now_ns() - lg->last_flush_ns >= TRACELOG_FLUSH_NS)
                tracelog_flush(lg);
        }
    }
    lg->prev = *ev;
    lg->prev.native = NULL;
    lg->prev.nnative = 0;
    lg->nevents = ev->n + 1;
}

void tracelog_ref_msg(struct pmt_log *lg, const char *prefix, uint64_t clock_us, const char *text)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    char *p = tl_reserve(lg);
    if (p)
        lg->len += fmt_ref_msg(p, prefix, clock_us, text);
}

void tracelog_ref_line(struct pmt_log *lg, const char *prefix, const struct pmt_ref_fields *f,
                       uint32_t thread)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    if (thread != lg->line_thread) {
        char text[48] = "thread native_id=";
        size_t k = strlen(text);
        text[k + fmt_u64(text + k, thread)] = '\0';
        tracelog_ref_msg(lg, "MSG", f->clock_us, text);
        lg->line_thread = thread;
    }
    char *p = tl_reserve(lg);
    if (!p)
        return;
    lg->len += fmt_ref_line(p, prefix, f);
    if (lg->cap - lg->len < 2 * PMT_LINE_MAX || tl_now_ns() - lg->last_flush_ns >= TRACELOG_FLUSH_NS)
        tracelog_flush(lg);
}

void tracelog_msg(struct pmt_log *lg, uint64_t clock_us, const char *text)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    uint64_t n = lg->have_first ? lg->prev.n : 0;
    tl_msg(lg, n, (int64_t)(n - lg->logged.n), clock_us, text);
}

void tracelog_close(struct pmt_log *lg)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    if (pmt_log_ending_hook)
        pmt_log_ending_hook(lg);
    if (lg->have_first)
        tl_line(lg, "LAST", &lg->prev);
    tl_raw(lg, "EOF", 3);
    lg->state = PMT_LOG_CLOSED;
    tracelog_flush(lg);
    if (lg->async) {
        writer_drain();
        if (lg->werr)
            lg->state = PMT_LOG_FAILED;
    }
    if (pmt_log_closed_hook)
        pmt_log_closed_hook(lg, lg->fd);
    close(lg->fd);
    lg->fd = -1;
}

void tracelog_forget_after_fork(struct pmt_log *lg)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    close(lg->fd); /* the child's descriptor only: the parent's stays open */
    lg->fd = -1;
    lg->len = 0;
    for (int i = 0; i < PMT_LOG_NBUF; i++)
        lg->busy[i] = 0; /* the parent's writes are the parent's */
    lg->state = PMT_LOG_REOPEN;
}
