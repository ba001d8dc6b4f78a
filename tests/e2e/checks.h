/* checks: what the end-to-end test files share on top of the harness:
 * one test per interpreter, the agent's environment, and the checks every
 * traced run gets (log names, stderr lines, structure, the grow() jump). */
#ifndef PMT_E2E_CHECKS_H
#define PMT_E2E_CHECKS_H

#include "harness.h"

/* A test body that runs for one interpreter. */
typedef void (*e2e_case_fn)(const struct pmt_python *py, const void *arg);

/* Finds the interpreter (fails or skips as pmt_python_require), runs fn, then
 * pmt_done(). */
void e2e_run_case(enum pmt_py_id id, e2e_case_fn fn, const void *arg);

#define E2E_TIMEOUT 240

#define E2E_TEST_PY(suite, name, id, fn, arg)                                  \
    Test(suite, name, .fini = pmt_fini, .timeout = E2E_TIMEOUT)                \
    {                                                                          \
        e2e_run_case(id, fn, arg);                                             \
    }

/* One test per interpreter from 3.13 on: <name>_py313 (pyenv's), _py313s
 * (a static one), _py314, _py315, _py314d, _py315d (debug builds). The
 * last five are sid's here (scripts/sid-chroot.sh). */
#define E2E_TESTS_313_UP(suite, name, fn, arg)                                 \
    E2E_TEST_PY(suite, name##_py313, PMT_PY_313, fn, arg)                      \
    E2E_TEST_PY(suite, name##_py313s, PMT_PY_313S, fn, arg)                    \
    E2E_TEST_PY(suite, name##_py314, PMT_PY_314, fn, arg)                      \
    E2E_TEST_PY(suite, name##_py315, PMT_PY_315, fn, arg)                      \
    E2E_TEST_PY(suite, name##_py314d, PMT_PY_314D, fn, arg)                    \
    E2E_TEST_PY(suite, name##_py315d, PMT_PY_315D, fn, arg)

/* One test per supported interpreter: <name>_debian, <name>_py38 ... _py312,
 * and E2E_TESTS_313_UP's. */
#define E2E_TESTS_SUPPORTED(suite, name, fn, arg)                              \
    E2E_TEST_PY(suite, name##_debian, PMT_PY_DEBIAN, fn, arg)                  \
    E2E_TEST_PY(suite, name##_py38, PMT_PY_38, fn, arg)                        \
    E2E_TEST_PY(suite, name##_py39, PMT_PY_39, fn, arg)                        \
    E2E_TEST_PY(suite, name##_py310, PMT_PY_310, fn, arg)                      \
    E2E_TEST_PY(suite, name##_py311, PMT_PY_311, fn, arg)                      \
    E2E_TEST_PY(suite, name##_py312, PMT_PY_312, fn, arg)                      \
    E2E_TESTS_313_UP(suite, name, fn, arg)

/* The same for the profile, trace and profile+trace runs of a case table
 * (arg is an array of three, indexed by mode). */
#define E2E_TESTS_MODES(suite, name, fn, args)                                 \
    E2E_TESTS_SUPPORTED(suite, name##_profile, fn, &(args)[0])                 \
    E2E_TESTS_SUPPORTED(suite, name##_trace, fn, &(args)[1])                   \
    E2E_TESTS_SUPPORTED(suite, name##_both, fn, &(args)[2])

/* PMT_PROGRAMS/<name>. */
char *e2e_program(const char *name);
/* "LD_PRELOAD=<PMT_AGENT>", with PMT_PRELOAD_FIRST before it when set. */
const char *e2e_preload(void);
/* PMT_PRELOAD_FIRST: a sanitizer's runtime, which must come first in
 * LD_PRELOAD when the agent is a sanitizer build (scripts/check-memory.sh),
 * or "". */
const char *e2e_preload_first(void);
/* Whether this run is the sanitizer build's (PMT_PRELOAD_FIRST set): the
 * sanitizer's allocator is then the process's, not glibc's. */
bool e2e_sanitized(void);

/* Mode letters of a PYMEMTRACE value: "profile" -> "P", "trace" -> "T",
 * "profile,trace" -> "PT", "sample" -> "S", "profile,sample" -> "PS" (in log
 * order: n = index). */
const char *e2e_mode_letters(const char *pymemtrace);
const char *e2e_mode_name(char letter);   /* 'P' -> "profile", 'S' -> "sample" */

/* The run's logs of one process: exactly one log per letter of `letters`
 * with that pid, named with n = index in `letters` (unless check_n is false),
 * depth 0, PY<version>, a UTC time within the run. */
void e2e_check_names(const struct pmt_logset *set, const struct pmt_run_result *r, pid_t pid,
                     const char *letters, const char *version, bool check_n);

/* Structure (with the message line or none), semantics for the trigger, and
 * the agent's MSG line right after HDR. */
void e2e_check_log(const struct pmt_logfile *f, const char *message, long long trigger);

/* stderr: the agent's lines are exactly "pymemtrace: <mode> log: <abs path>"
 * once for each log in the set (none if quiet), and the rest equals
 * program_err (skipped when program_err is NULL). Returns the rest. */
char *e2e_check_stderr(const struct pmt_run_result *r, const char *dir, const struct pmt_logset *set,
                       bool quiet, const char *program_err);

/* plain.py (argument rounds) without and then with the agent (LD_PRELOAD and
 * agent_env) in dir: the same status (4) and stdout, and the program's own
 * stderr unchanged. Returns the agent's stderr lines (*n_lines of them) and
 * the agent run in *r. */
char **e2e_run_plain_against_baseline(const struct pmt_python *py, const char *dir, const char *rounds,
                                      const char *const *agent_env, size_t *n_lines, struct pmt_run_result *r);

/* Fails unless the folder holds no files at all. */
void e2e_check_no_files(const char *dir, const char *why);

/* Line numbers of grow.py's markers. */
struct grow_lines {
    int def, alloc, loop;
};
void e2e_grow_lines(struct grow_lines *g);
/* The grow() jump in a log of mode 'P' or 'T': a NEXT with dRSS >= 50 MiB in
 * a file ending with file_suffix at the loop line (T: LINE grow, P: C_CALL
 * len), right after the event before it (PREV or NEXT, event - 1): T: LINE
 * grow at the allocation line, P: CALL grow at the def line. */
void e2e_check_grow_jump(const struct pmt_logfile *f, const char *file_suffix);
/* Parses grow.py's output line "pid=<pid> version=<v> size=52428800". */
pid_t e2e_grow_output(const struct pmt_run_result *r, const char *version);

/* The FRST line is not from start-up (site.py, importlib) and, when
 * expected_file is not NULL, comes from that file. With `-m` the first event
 * is importlib's _find_and_load importing runpy (measured on 3.8-3.13 with a
 * profile function set at cpython.run_module), so module_run allows it. */
void e2e_check_frst_file(const struct pmt_logfile *f, const char *expected_file, bool module_run);

/* MSG lines naming a thread: the native id after "thread native_id=", or -1. */
long e2e_msg_thread_id(const struct pmt_line *l);

#endif
