/* tracelog: one Profile or Trace log: its file, its buffer, and the rules
 * that decide which events become lines (FRST, NEXT, PREV, MSG, LAST).
 *
 * It knows nothing of Python: an event arrives with its site (a code object's
 * file and function, interned once per code object by the hooks) and a
 * callback turns (site, instruction offset) into a line number only for the
 * events that are written. The caller serialises calls (the GIL does). */
#ifndef PMT_TRACELOG_H
#define PMT_TRACELOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/rawio.h" /* pmt_say, pmt_errtext, for every user of a log */
#include "agent/sink.h"
#include "config/config.h"

struct pmt_native_frame;

/* Where events happen: one per code object, owned by the hooks' cache. */
struct pmt_site {
    const void *code;  /* the code object (kept alive by the cache) */
    const char *file;
    const char *func;
    size_t file_len, func_len;
    int match;         /* PYMEMTRACE_FUNCTION: -1 undecided, 0 no, 1 a traced function */
};

struct pmt_event {
    uint64_t n;                   /* event number, from 0 */
    uint64_t ticks;               /* raw clock: the log's clock_of makes it time */
    uint64_t rss;
    const struct pmt_site *site;  /* NULL: no Python frame */
    int lasti;                    /* byte offset of the instruction, negative before the
                                     first, or a line already known: PMT_LASTI_OF_LINE */
    int what;                     /* PyTrace_* */
    const char *const *cfunc;     /* C events: where the C function's name is
                                     (PyMethodDef.ml_name, static) */
    uint32_t thread;              /* native thread id */
    /* A NEXT line's native stack (PYMEMTRACE_NATIVE_STACK), written after
     * it; only tracelog_event's own argument carries one. */
    const struct pmt_native_frame *native;
    int nnative;
};

/* An event whose line is known (sys.monitoring's LINE event) keeps it in
 * lasti, far below any offset a frame gives (3.10's first is -2: f_lasti
 * -1 in code units); the line function (sites.h) gives it back. */
#define PMT_LASTI_LINE_BASE (-1000000)
#define PMT_LASTI_OF_LINE(line) (PMT_LASTI_LINE_BASE - (line))
#define PMT_LASTI_IS_LINE(lasti) ((lasti) <= PMT_LASTI_LINE_BASE)
#define PMT_LINE_OF_LASTI(lasti) (PMT_LASTI_LINE_BASE - (lasti))

enum pmt_log_state {
    PMT_LOG_UNUSED,
    PMT_LOG_OPEN,
    PMT_LOG_REOPEN,  /* forked child: open a log of its own at the next event */
    PMT_LOG_CLOSED,
    PMT_LOG_FAILED,
};

typedef int (*pmt_line_fn)(const struct pmt_site *site, int lasti);
typedef uint64_t (*pmt_clock_fn)(uint64_t ticks); /* to microseconds */

/* What kind of log, from its mode's row in the table of modes (modes.h). */
struct pmt_log_kind {
    const char *name;  /* the mode's name: "<name> log: <path>" on stderr */
    char letter;       /* the mode letter in the file's name */
    int ref;           /* reference tracing lines (NEW/DEL) instead of events */
};

struct pmt_log {
    enum pmt_log_state state;
    int ref;              /* kind->ref: NEW/DEL lines */
    const struct pmt_log_kind *kind;
    unsigned depth;       /* the name's depth field (PYMEMTRACE_FUNCTION's nesting) */
    int64_t trigger;      /* d_rss_trigger, with -1 already turned into the page size */
    int write_through;    /* flush after each logged event (trigger != 0) */
    pmt_line_fn line_of;
    pmt_clock_fn clock_of;
    struct pmt_sink sink; /* where the lines go (sink.h) */
    uint64_t nevents;
    int have_first;
    struct pmt_event logged;  /* the last FRST/NEXT */
    struct pmt_event prev;    /* the event before the current one */
    uint32_t line_thread;     /* thread of the last event line written */
    int64_t last_flush_ns;
    volatile int said;    /* its write failure was said (once per log) */
    char path[4096];
};

/* What every log of this process shares. Two parts on purpose: cfg is what
 * the user asked for (config.h: file pattern, folder, message, trigger,
 * quiet), parsed before any Python is known and read-only since; the rest
 * is what the agent learnt at start (the interpreter's version, the first
 * MSG line, which names the RSS source and the thread). */
struct pmt_log_env {
    const struct pmt_config *cfg;
    const char *py_version;
    const char *info;      /* text of the first MSG: line */
};

/* Opens the log (its file named as the README says, with ordinal *ordinal,
 * then incremented; depth is the name's <depth> field, nonzero for a traced
 * function's call nested in another, PYMEMTRACE_FUNCTION) and writes
 * message, SOF, HDR and the first MSG. On failure says so on stderr once
 * and returns -1 with the log FAILED. */
int tracelog_open(struct pmt_log *lg, const struct pmt_log_env *env,
                  const struct pmt_log_kind *kind, unsigned depth, pmt_line_fn line_of,
                  pmt_clock_fn clock_of, unsigned *ordinal, uint64_t clock_us, uint32_t thread);

/* The file of any log of this process (tracelog_open's, the sampler's),
 * opened into sink (sink_init'ed): named with the kind's letter, or from
 * PYMEMTRACE_LOG_FILE, inside the log folder (created if missing), with
 * ordinal *ordinal (then incremented). Returns 0, with the absolute path in
 * path; or -1 after one line on stderr saying why, ending with then ("; not
 * tracing"). */
int tracelog_create(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                    unsigned *ordinal, struct pmt_sink *sink, char *path, size_t cap,
                    const char *then);

/* Records one event; writes the lines it calls for. */
void tracelog_event(struct pmt_log *lg, const struct pmt_event *ev);

/* The common case, inline: an event whose RSS is within the trigger of the
 * last logged one is written nowhere; it only becomes the event a PREV or
 * LAST line may show. Returns the slot the caller fills with it, or NULL
 * when the event must go through tracelog_event. */
static inline struct pmt_event *tracelog_quiet_slot(struct pmt_log *lg, uint64_t rss)
{
    int64_t d = (int64_t)(rss - lg->logged.rss);
    if (__builtin_expect(!lg->have_first || d >= lg->trigger || -d >= lg->trigger, 0))
        return NULL;
    lg->prev.n = lg->nevents++;
    lg->prev.rss = rss;
    return &lg->prev;
}

struct pmt_ref_fields;
/* Reference tracing logs: one NEW/DEL line (after a MSG line naming the
 * thread if it changed), and MSG/ERR lines. Written through at least once a
 * second. */
void tracelog_ref_line(struct pmt_log *lg, const char *prefix, const struct pmt_ref_fields *f,
                       uint32_t thread);
void tracelog_ref_msg(struct pmt_log *lg, const char *prefix, uint64_t clock_us, const char *text);

/* Writes a MSG: line at the current event; a line of another prefix (ERR). */
void tracelog_msg(struct pmt_log *lg, uint64_t clock_us, const char *text);
void tracelog_note(struct pmt_log *lg, const char *prefix, uint64_t clock_us, const char *text);

/* Writes LAST: (if any event was seen) and EOF, flushes and closes. */
void tracelog_close(struct pmt_log *lg);

/* Writes the buffer out (before fork/exec, at exit). */
void tracelog_flush(struct pmt_log *lg);

/* In a forked child: drop the parent's buffer and file without writing
 * anything, and open a new log at the next event. */
void tracelog_forget_after_fork(struct pmt_log *lg);

/* Called, when set, by tracelog_close: as a log ends (lines may still be
 * written), and after its EOF was written, with what the file holds then
 * ((uint64_t)-1: not a regular file). */
extern void (*pmt_log_ending_hook)(struct pmt_log *lg);
extern void (*pmt_log_closed_hook)(const struct pmt_log *lg, uint64_t size);

/* Set when a write failed: the agent stops tracing. */
extern volatile int pmt_log_failed;
/* Non-zero while the agent writes a line outside the hot path: a signal
 * handler must then leave the buffers alone. */
extern volatile int pmt_log_writing;

/* A fatal signal that came while a line was being written waits for the
 * line: its handler sets pmt_log_signal_pending, and pmt_write_end then
 * calls pmt_log_deferred_signal (set by whoever handles the signal: the
 * lifecycle, which completes the logs and raises it again). */
extern volatile int pmt_log_signal_pending;
extern void (*pmt_log_deferred_signal)(void);
static inline void pmt_write_begin(void)
{
    pmt_log_writing++;
}
static inline void pmt_write_end(void)
{
    if (--pmt_log_writing == 0 && __builtin_expect(pmt_log_signal_pending, 0) &&
        pmt_log_deferred_signal)
        pmt_log_deferred_signal();
}

#endif
