/* harness: what the end-to-end tests need to run real interpreters under the
 * built agent and read what they leave behind.
 *
 * - the environment meson gives the tests (PMT_AGENT, PMT_PROGRAMS, ...);
 * - interpreter discovery: Debian's python3, the pyenv versions, and the
 *   system's static interpreters of Debian sid (3.13, 3.14, 3.15 and their
 *   debug builds), which run in the chroot of scripts/sid-chroot.sh;
 * - a process runner with a clean environment, captured output and a timeout;
 * - temporary folders that outlive a failing test (for a post-mortem);
 * - a parser and validators for Profile/Trace logs (docs/LOGS.md's byte layout).
 *
 * Everything that fails here fails the current Criterion test with a message
 * saying what was expected; nothing returns an error code to be forgotten.
 * Memory handed out by the harness lives until the test process ends (each
 * Criterion test runs in its own process). */
#ifndef PMT_E2E_HARNESS_H
#define PMT_E2E_HARNESS_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* ---- environment -------------------------------------------------------- */

/* Value of a variable meson sets for the tests; fails the test when unset. */
const char *pmt_env(const char *name);
/* printf into a new string. */
char *pmt_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A NULL-terminated array of the arguments (the list ends at the first NULL),
 * for argv and env; PMT_LIST(a, b) adds the NULL. */
const char **pmt_list(const char *first, ...);
#define PMT_LIST(...) pmt_list(__VA_ARGS__, (const char *)NULL)
/* Appends the entries of b to a copy of a. */
const char **pmt_list_cat(const char *const *a, const char *const *b);

/* ---- interpreters ------------------------------------------------------- */

enum pmt_py_id {
    PMT_PY_DEBIAN, /* /usr/bin/python3, libpython linked statically */
    PMT_PY_38,
    PMT_PY_39,
    PMT_PY_310,
    PMT_PY_311,
    PMT_PY_312,
    PMT_PY_313,
    PMT_PY_313S, /* a static python3.13 of the system (Debian sid's) */
    PMT_PY_314,  /* pyenv's, else the system's python3.14 */
    PMT_PY_315,
    PMT_PY_314D, /* the system's debug build, python3.14d */
    PMT_PY_315D,
    PMT_PY_37, /* unsupported by the agent */
    PMT_PY_36,
    PMT_PY_27,
    PMT_PY_COUNT
};

struct pmt_python {
    enum pmt_py_id id;
    const char *label;     /* "debian", "3.8", ... */
    char *path;            /* the executable */
    char *version;         /* platform.python_version(), e.g. "3.11.2" */
    int major, minor;
    char *libpython;       /* shared libpython (pyenv), NULL for Debian's */
    char *prefix;          /* the installation folder (pyenv), NULL for Debian's */
    bool debian;           /* Debian 12's python3 */
    bool system;           /* another static interpreter of the system (sid's) */
};

/* Finds an interpreter. Debian's must exist (the test fails otherwise); a
 * missing pyenv or system version skips the test with the reason. */
void pmt_python_require(enum pmt_py_id id, struct pmt_python *out);
/* The pyenv root: $PYENV_ROOT, else `pyenv root`, else $HOME/.pyenv. */
const char *pmt_pyenv_root(void);

/* ---- processes ---------------------------------------------------------- */

struct pmt_run_opts {
    const char *const *argv;  /* argv[0] with a '/' is a path, else searched in PATH */
    const char *cwd;          /* NULL: the test's current directory */
    const char *const *env;   /* NULL-terminated "NAME=value" entries set on top of
                                 the cleaned environment; "NAME" alone unsets NAME */
    const char *stdin_text;   /* NULL: stdin is /dev/null */
    int timeout_s;            /* 0: 60 s; the process group is killed and the test fails */
    bool thp_off;             /* no transparent huge pages for the process (prctl
                                 PR_SET_THP_DISABLE, kept across execve) */
};

struct pmt_run_result {
    pid_t pid;
    bool exited;              /* WIFEXITED */
    int exit_code;            /* WEXITSTATUS when exited */
    bool signaled;            /* WIFSIGNALED */
    int signal;               /* WTERMSIG when signaled */
    char *out;                /* captured stdout, NUL-terminated */
    size_t out_len;
    char *err;                /* captured stderr, NUL-terminated */
    size_t err_len;
    double seconds;           /* wall time */
    time_t started, ended;    /* time() before the start and after the end */
};

/* Runs a process in its own process group. The environment is the current one
 * with every PYMEMTRACE* and PYTHON* variable and LD_PRELOAD removed, plus
 * LC_ALL=C.UTF-8 and PYTHONDONTWRITEBYTECODE=1 (no __pycache__ in the source
 * tree), then opts->env applied. Children start with default signal
 * dispositions and an empty signal mask. */
void pmt_run(const struct pmt_run_opts *opts, struct pmt_run_result *res);
/* A short description of a result for assertion messages. */
char *pmt_run_describe(const struct pmt_run_result *res);

/* ---- files -------------------------------------------------------------- */

/* A new folder under /tmp, removed by pmt_fini when the test passed and kept
 * (and named in the test's output) when it failed. */
const char *pmt_tmpdir(void);
char *pmt_read_file(const char *path, size_t *len);   /* fails the test if unreadable */
void pmt_write_file(const char *path, const char *text, mode_t mode);
char *pmt_join(const char *dir, const char *name);
/* Names in dir (without . and ..), sorted; *n receives the count. With
 * suffix non-NULL only names ending with it. */
char **pmt_list_dir(const char *dir, const char *suffix, size_t *n);
/* 1-based number of the first line of a file containing marker; fails if none. */
int pmt_marker_line(const char *path, const char *marker);

/* ---- test life cycle ---------------------------------------------------- */

/* Every test ends its body with pmt_done(); .fini = pmt_fini then removes the
 * temporary folders. A test aborted by a failed cr_assert never reaches
 * pmt_done(), so its folders are kept for inspection. */
void pmt_done(void);
void pmt_fini(void);

/* ---- logs --------------------------------------------------------------- */

enum pmt_kind {
    PMT_K_MESSAGE, PMT_K_SOF, PMT_K_HDR, PMT_K_MSG,
    PMT_K_ERR,   /* as a MSG line: something the log misses */
    PMT_K_FRST, PMT_K_NEXT, PMT_K_PREV, PMT_K_LAST, PMT_K_EOF,
    PMT_K_NAT,   /* a NEXT line's native stack (PYMEMTRACE_NATIVE_STACK) */
    PMT_K_OTHER
};

struct pmt_line {
    enum pmt_kind kind;
    int lineno;               /* 1-based line in the file */
    char *raw;                /* the line without its '\n' */
    const char *perr;         /* why an HDR/MSG/event line does not parse, else NULL */
    /* MSG and event lines */
    size_t event;
    long devent;
    double clock;
    /* event lines */
    char what[16];
    char *file;
    int line;
    char *func;
    size_t rss;
    long drss;
    /* MSG and ERR lines: the text after " # " */
    char *text;
};

struct pmt_log {
    const char *path;         /* for messages; may be NULL */
    char *text;
    size_t len;
    struct pmt_line *lines;
    size_t n;
};

/* Splits and parses a Profile/Trace log; never fails (see pmt_log_validate). */
struct pmt_log *pmt_log_parse(const char *text, size_t len, const char *path);
struct pmt_log *pmt_log_load(const char *path);
bool pmt_is_event(enum pmt_kind k);   /* FRST NEXT PREV LAST */
/* NULL if raw is a well-formed "NAT:  #0 0x... lib sym+0x.. | #1 ..." line, else why not. */
const char *pmt_nat_check(const char *raw);

/* The exact lines docs/LOGS.md prescribes, NUL-terminated, no '\n'. */
void pmt_fmt_hdr(char *buf, size_t cap);
void pmt_fmt_event(char *buf, size_t cap, const char *prefix, size_t event, long devent,
                   double clock, const char *what, const char *file, int line,
                   const char *func, size_t rss, long drss);
void pmt_fmt_msg(char *buf, size_t cap, size_t event, long devent, double clock,
                 const char *text);

/* Structure and byte layout: [message] SOF HDR {MSG|FRST|NEXT|PREV} LAST EOF,
 * FRST once before any NEXT/PREV/LAST, every line re-formatted from its parsed
 * fields equal to itself, nothing after EOF. message NULL: no message line
 * allowed. Returns NULL or an error naming the line. */
char *pmt_log_validate(const struct pmt_log *log, const char *message);

/* Event numbers and deltas (see the brief in the test files): FRST 0/+0/0,
 * strictly increasing events, NEXT/PREV/LAST deltas against the last logged
 * event, PREV only right before its NEXT (thread MSG lines may sit between),
 * a NEXT with dEvent > 1 bracketed by a PREV, the trigger respected
 * (-1: a page, 0: every event, N: N bytes). Returns NULL or an error. */
char *pmt_log_check_semantics(const struct pmt_log *log, long long d_rss_trigger);

/* The n-th event/MSG line, for checks; NULL if none. */
const struct pmt_line *pmt_log_first(const struct pmt_log *log, enum pmt_kind kind);
size_t pmt_log_count(const struct pmt_log *log, enum pmt_kind kind);
/* Index in log->lines of the first event line whose function equals func, or -1. */
long pmt_log_find_func(const struct pmt_log *log, const char *func);

/* ---- log names ---------------------------------------------------------- */

struct pmt_log_name {
    time_t when;              /* the UTC time in the name */
    unsigned n;
    pid_t pid;
    char mode;                /* 'P', 'T', 'O' or 'S' (the sampler's) */
    unsigned depth;
    char version[32];
};

/* Parses YYYYMMDD_HHMMSS_<n>_<pid>_<P|T|O|S>_<depth>_PY<version>.log. */
bool pmt_log_name_parse(const char *name, struct pmt_log_name *out);

/* The logs an agent run left in a folder. */
struct pmt_logfile {
    char *name;
    char *path;
    struct pmt_log_name id;
    struct pmt_log *log;
};
struct pmt_logset {
    size_t n;
    struct pmt_logfile *files;
};
/* Loads every *.log of dir; fails the test on a name that does not parse. */
void pmt_logset_load(const char *dir, struct pmt_logset *out);
/* The log of that pid and mode letter; fails the test unless exactly one. */
const struct pmt_logfile *pmt_logset_get(const struct pmt_logset *set, pid_t pid, char mode);

/* ---- stderr ------------------------------------------------------------- */

/* Splits captured stderr into the agent's lines (starting "pymemtrace: ") and
 * the rest, the program's own stderr, kept byte for byte. */
void pmt_split_stderr(const char *err, char ***agent_lines, size_t *n_agent, char **rest);

/* Multi-line text for messages, trimmed to a readable size. */
char *pmt_excerpt(const char *text, size_t max);

#endif
