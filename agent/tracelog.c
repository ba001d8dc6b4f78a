/* tracelog: Profile/Trace log files. See tracelog.h. */
#include "agent/tracelog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/logclient.h"
#include "agent/logfmt.h"
#include "agent/rawio.h"
#include "agent/writer.h"
#include "logd/logopen.h"

#define TRACELOG_FLUSH_NS 1000000000LL

volatile int pmt_log_failed;
volatile int pmt_log_writing;
volatile int pmt_log_signal_pending;
void (*pmt_log_deferred_signal)(void);
void (*pmt_log_ending_hook)(struct pmt_log *lg);
void (*pmt_log_closed_hook)(const struct pmt_log *lg, uint64_t size);

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
    lg->sink.len = 0;
    pmt_log_failed = 1;
    /* Each log says its own failure (a full disk stops them all, one by
     * one), unless the writer process ended: said once by the log client. */
    if (!lg->said && !logclient_lost) {
        lg->said = 1;
        pmt_say("cannot write ", lg->path, ": ", pmt_errtext(err), "; tracing stopped", NULL);
    }
}

/* On the writer thread (rawthread.h's rules): say it once, stop tracing;
 * the log notices (its sink's werr). */
static void tl_async_fail(void *ctx, int err)
{
    struct pmt_log *lg = ctx;
    pmt_log_failed = 1;
    if (!lg->said) {
        lg->said = 1;
        pmt_say("cannot write ", lg->path, ": ", pmt_errtext(err), "; tracing stopped", NULL);
    }
}

void tracelog_flush(struct pmt_log *lg)
{
    if (lg->state != PMT_LOG_OPEN && lg->state != PMT_LOG_CLOSED)
        return;
    if (lg->sink.werr) {
        lg->state = PMT_LOG_FAILED; /* said by the writer */
        lg->sink.len = 0;
        return;
    }
    int err = sink_flush(&lg->sink);
    if (err) {
        tl_fail(lg, err);
        return;
    }
    lg->last_flush_ns = tl_now_ns();
}

/* Room for one more line of any length. */
static char *tl_reserve(struct pmt_log *lg)
{
    if (lg->sink.cap - lg->sink.len < PMT_LINE_MAX)
        tracelog_flush(lg);
    return lg->state == PMT_LOG_OPEN ? lg->sink.buf + lg->sink.len : NULL;
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
    sink_added(&lg->sink, n + 1);
}

static void tl_note(struct pmt_log *lg, const char *prefix, uint64_t event, int64_t devent,
                    uint64_t clock_us, const char *text)
{
    char *p = tl_reserve(lg);
    if (p)
        sink_added(&lg->sink, fmt_note_line(p, prefix, event, devent, clock_us, text));
}

static void tl_msg(struct pmt_log *lg, uint64_t event, int64_t devent, uint64_t clock_us,
                   const char *text)
{
    tl_note(lg, "MSG", event, devent, clock_us, text);
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
    sink_added(&lg->sink, fmt_event_line(p, prefix, &f));
}

static int tl_mkdirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return n == 0 ? 0 : (errno = ENAMETOOLONG, -1);
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
                     struct pmt_sink *sink, int every, char *path, size_t cap, int *why)
{
    const struct pmt_config *cfg = env->cfg;
    char name[2048];
    if (cfg->log_dir && tl_mkdirs(cfg->log_dir) != 0) {
        int err = errno;
        snprintf(path, cap, "the log folder %s", cfg->log_dir);
        return err;
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        unsigned n = (*ordinal)++;
        if (cfg->log_file) {
            if (!fmt_log_pattern(name, sizeof name, cfg->log_file, getpid(), letter, n) ||
                tl_join(path, cap, cfg->log_dir, name) != 0)
                return ENAMETOOLONG;
            return sink_open(sink, path, 0, every, why);
        }
        if (!fmt_log_name(name, sizeof name, time(NULL), n, getpid(), letter, depth,
                          env->py_version) ||
            tl_join(path, cap, cfg->log_dir, name) != 0)
            return ENAMETOOLONG;
        /* A new file only (O_EXCL, which no symbolic link passes): after
         * exec the same pid starts over, and a name taken is tried again. */
        int err = sink_open(sink, path, 1, every, why);
        if (err != EEXIST)
            return err;
    }
    return EEXIST;
}

static int tl_create_said(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                          unsigned depth, unsigned *ordinal, struct pmt_sink *sink, int every,
                          char *path, size_t cap, const char *then)
{
    path[0] = '\0';
    int why = 0;
    int err = tl_create(env, kind->letter, depth, ordinal, sink, every, path, cap, &why);
    if (err) {
        if (why)
            pmt_say("will not write the ", kind->name, " log into ", path, ": it ",
                    pmt_log_why_text(why),
                    " (the agent writes a new file, one of its user's regular files, or /dev/null)",
                    then, NULL);
        else if (path[0])
            pmt_say("cannot create ", path, ": ", pmt_errtext(err), then, NULL);
        else
            pmt_say("cannot name the ", kind->name, " log: ", pmt_errtext(err), then, NULL);
    }
    return err ? -1 : 0;
}

int tracelog_create(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                    unsigned *ordinal, struct pmt_sink *sink, char *path, size_t cap,
                    const char *then)
{
    return tl_create_said(env, kind, 0, ordinal, sink, 0, path, cap, then);
}

int tracelog_open(struct pmt_log *lg, const struct pmt_log_env *env,
                  const struct pmt_log_kind *kind, unsigned depth, pmt_line_fn line_of,
                  pmt_clock_fn clock_of, unsigned *ordinal, uint64_t clock_us, uint32_t thread)
{
    const struct pmt_config *cfg = env->cfg;
    struct pmt_sink sink = lg->sink; /* its buffers, mapped once, are kept */
    memset(lg, 0, sizeof *lg);
    lg->sink.mem = sink.mem;
    lg->kind = kind;
    lg->depth = depth;
    lg->line_of = line_of;
    lg->clock_of = clock_of;
    lg->trigger = cfg->d_rss_trigger < 0 ? (int64_t)sysconf(_SC_PAGESIZE) : cfg->d_rss_trigger;
    lg->write_through = cfg->d_rss_trigger != 0;
    lg->line_thread = thread;
    lg->state = PMT_LOG_FAILED;
    if (sink_init(&lg->sink, tl_async_fail, lg, PMT_LINE_MAX) != 0) {
        pmt_say("cannot allocate a log buffer; not tracing", NULL);
        return -1;
    }
    /* Every event logged (or every object): all buffers in turn. */
    int every = cfg->d_rss_trigger == 0 || kind->ref;
    if (tl_create_said(env, kind, depth, ordinal, &lg->sink, every, lg->path, sizeof lg->path,
                       "; not tracing") != 0)
        return -1;
    lg->state = PMT_LOG_OPEN;
    lg->ref = kind->ref;
    if (cfg->message)
        tl_raw(lg, cfg->message, strlen(cfg->message));
    tl_raw(lg, "SOF", 3);
    char *p = tl_reserve(lg);
    if (p)
        sink_added(&lg->sink, lg->ref ? fmt_ref_header(p) : fmt_header(p));
    if (lg->ref)
        tracelog_ref_msg(lg, "MSG", clock_us, env->info);
    else
        tl_msg(lg, 0, 0, clock_us, env->info);
    /* Write the head now: an unwritable target shows at once, not at exit,
     * and is the one line said about this log. */
    sink_keep_head(&lg->sink);
    int err = 0;
    if (lg->sink.werr == 0) {
        err = sink_flush(&lg->sink);
        if (!err)
            err = sink_drain(&lg->sink); /* written now, not at exit */
    }
    if (err) {
        lg->state = PMT_LOG_FAILED;
        lg->said = 1;
        uint64_t size;
        sink_close(&lg->sink, &size);
        /* A file of the agent's own, left empty by a full disk: removed. */
        if (!cfg->log_file)
            unlink(lg->path);
        if (!logclient_lost)
            pmt_say("cannot write ", lg->path, ": ", pmt_errtext(err), "; not tracing", NULL);
        return -1;
    }
    lg->last_flush_ns = tl_now_ns();
    /* An event log's RSS must not show the agent filling its buffer. */
    if (!lg->ref)
        sink_touch(&lg->sink);
    if (!cfg->quiet)
        pmt_say(kind->name, " log: ", lg->path, NULL);
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
                    sink_added(&lg->sink, fmt_native_line(p, ev->native, ev->nnative));
            }
            lg->logged = *ev;
            lg->logged.native = NULL;
            lg->logged.nnative = 0;
            if (lg->write_through || lg->sink.cap - lg->sink.len < 2 * PMT_LINE_MAX ||
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
        sink_added(&lg->sink, fmt_ref_msg(p, prefix, clock_us, text));
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
    sink_added(&lg->sink, fmt_ref_line(p, prefix, f));
    if (lg->sink.cap - lg->sink.len < 2 * PMT_LINE_MAX || tl_now_ns() - lg->last_flush_ns >= TRACELOG_FLUSH_NS)
        tracelog_flush(lg);
}

void tracelog_note(struct pmt_log *lg, const char *prefix, uint64_t clock_us, const char *text)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    uint64_t n = lg->have_first ? lg->prev.n : 0;
    tl_note(lg, prefix, n, (int64_t)(n - lg->logged.n), clock_us, text);
}

void tracelog_msg(struct pmt_log *lg, uint64_t clock_us, const char *text)
{
    tracelog_note(lg, "MSG", clock_us, text);
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
    uint64_t size;
    int err = sink_close(&lg->sink, &size);
    if (err && lg->state == PMT_LOG_CLOSED)
        tl_fail(lg, err);
    else if (lg->sink.werr)
        lg->state = PMT_LOG_FAILED;
    if (pmt_log_closed_hook)
        pmt_log_closed_hook(lg, size);
}

void tracelog_forget_after_fork(struct pmt_log *lg)
{
    if (lg->state != PMT_LOG_OPEN)
        return;
    sink_forget(&lg->sink);
    lg->state = PMT_LOG_REOPEN;
}
