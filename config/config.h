/* config: PYMEMTRACE_* environment -> one const settings struct.
 *
 * Parsed once, in the agent's constructor (never in a hook), strictly: a bad
 * value produces exactly one line of text naming the variable, the value and
 * what is accepted, and the agent then does nothing at all. */
#ifndef PMT_CONFIG_H
#define PMT_CONFIG_H

#include <stddef.h>

enum pmt_mode {
    PMT_MODE_PROFILE = 1u << 0,
    PMT_MODE_TRACE = 1u << 1,
    PMT_MODE_REFTRACE = 1u << 2,
    PMT_MODE_SAMPLE = 1u << 3,   /* a background thread samples the process */
};

/* PYMEMTRACE_SAMPLE_INTERVAL: default and bounds, in nanoseconds. */
#define PMT_SAMPLE_INTERVAL_DEFAULT_NS 100000000LL /* 0.1 s */
#define PMT_SAMPLE_INTERVAL_MIN_NS 1000000LL       /* 0.001 s */
#define PMT_SAMPLE_INTERVAL_MAX_NS 86400000000000LL /* a day */

/* Where RSS comes from (PYMEMTRACE_RSS). */
enum pmt_rss_source {
    PMT_RSS_AUTO,   /* page-fault events + unmap watch, statm only on change; else statm */
    PMT_RSS_STATM,  /* /proc/self/statm at every event */
    PMT_RSS_CHECK,  /* both at every event, disagreements counted (tests) */
};

/* How profile and trace events reach the agent (PYMEMTRACE_HOOKS). */
enum pmt_hooks {
    PMT_HOOKS_AUTO,   /* sys.monitoring on 3.12+ (a tool id of its own), else the legacy hooks */
    PMT_HOOKS_LEGACY, /* PyEval_SetProfile/SetTrace on every version */
};

/* Who writes the log files (PYMEMTRACE_WRITER). */
enum pmt_writer {
    PMT_WRITER_PROCESS, /* a log writer process of the agent's: lines survive a kill */
    PMT_WRITER_THREAD,  /* the program's process itself (a thread of the agent's) */
};

struct pmt_config {
    unsigned modes;            /* PMT_MODE_* bits; 0 when PYMEMTRACE is unset or empty */
    long long d_rss_trigger;   /* -1 (a page), 0 (every event) or N > 0 bytes */
    const char *log_dir;       /* NULL: the current directory */
    const char *log_file;      /* NULL: generated names; else a pattern with %p %m %n %% */
    const char *message;       /* NULL: no message line */
    const char *function;      /* NULL: whole program (scoping: later issue) */
    int include_builtins;      /* 0 or 1 */
    const char *include_types; /* NULL: all */
    const char *exclude_types; /* NULL: none */
    int gc_collect_on_exit;    /* -1, 0, 1 or 2 */
    int children;              /* 0 or 1 */
    int rss_source;            /* PMT_RSS_* */
    int native_stack;          /* frames after each NEXT line, 0: none (PMT_NATIVE_MAX at most) */
    int quiet;                 /* 0 or 1 */
    long long sample_interval_ns; /* sample mode: time between samples */
    int check;                 /* 0 or 1: the agent checks its own invariants (selfcheck.h) */
    int hooks;                 /* PMT_HOOKS_* */
    int writer;                /* PMT_WRITER_* */
};

#define PMT_NATIVE_MAX 64

/* Longest message cfg_parse writes, terminating NUL included. */
#define PMT_CFG_ERRLEN 640

/* Fills *out from envp (a NULL-terminated "NAME=value" array, as environ).
 * Returns 0 on success. On a bad setting returns -1 and writes one line of text
 * (no trailing newline, no "pymemtrace: " prefix) into err. Strings in *out are
 * copies owned by the struct (cfg_free releases them). With PYMEMTRACE unset or
 * empty it returns 0 with modes == 0 and looks at nothing else. */
int cfg_parse(char *const envp[], struct pmt_config *out, char *err, size_t errlen);
void cfg_free(struct pmt_config *cfg);

/* The mode letter used in log names (the same as the table of modes', agent/modes.c). */
char cfg_mode_letter(enum pmt_mode mode);
const char *cfg_mode_name(enum pmt_mode mode);

#endif
