/* Sharing the interpreter (issue 13): the agent's own work must not show in
 * what the program or its other tools see.
 *
 * audit_quiet.py counts, with an audit hook of its own, the sys.setprofile/
 * settrace events it sees while it runs a loop of audited operations in the
 * main thread and in a thread it starts. Without the agent it sees none;
 * with it, none either (the agent sets a new thread's hook with the current
 * thread state set aside, 3.9-3.11). And once the agent's hooks are in, its
 * own audit hook is gone: a reference trace of tuples shows none made by the
 * audited operations (CPython builds their argument tuple only while some
 * hook exists). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks.h"

static void run_quiet(const struct pmt_python *py, const char *modes, const char *const *extra,
                      struct pmt_run_result *base, struct pmt_run_result *r, const char **dir)
{
    *dir = pmt_tmpdir();
    const char *const *argv = extra ? PMT_LIST(py->path, e2e_program("audit_quiet.py"), "nohook")
                                    : PMT_LIST(py->path, e2e_program("audit_quiet.py"));
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = *dir, .timeout_s = E2E_TIMEOUT}, base);
    cr_assert(base->exited && base->exit_code == 0, "without the agent: %s", pmt_run_describe(base));
    const char *const mode[] = {e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes), NULL};
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = *dir,
                                   .env = extra ? pmt_list_cat(mode, extra) : mode,
                                   .timeout_s = E2E_TIMEOUT},
            r);
    cr_assert(r->exited && r->exit_code == 0, "%s", pmt_run_describe(r));
}

/* The program's audit hook sees what it sees without the agent. */
static void case_hook_events(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    struct pmt_run_result base, r;
    const char *dir;
    run_quiet(py, modes, NULL, &base, &r, &dir);
    cr_assert_str_eq(base.out, "hook events: none\ndone\n");
    cr_assert_str_eq(r.out, base.out, "PYMEMTRACE=%s: the program's audit hook saw the agent", modes);
}

#define HOOK_EVENTS(name, modes)                                                                   \
    E2E_TEST_PY(coexist, name##_debian, PMT_PY_DEBIAN, case_hook_events, modes)                    \
    E2E_TEST_PY(coexist, name##_py39, PMT_PY_39, case_hook_events, modes)                          \
    E2E_TEST_PY(coexist, name##_py310, PMT_PY_310, case_hook_events, modes)                        \
    E2E_TEST_PY(coexist, name##_py311, PMT_PY_311, case_hook_events, modes)

HOOK_EVENTS(audit_hook_events_profile, "profile")
HOOK_EVENTS(audit_hook_events_trace, "trace")
HOOK_EVENTS(audit_hook_events_both, "profile,trace")

/* No tuple made by an audited operation once the agent is installed. */
static void case_no_audit_tuples(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    struct pmt_run_result base, r;
    const char *dir;
    run_quiet(py, modes, PMT_LIST("PYMEMTRACE_INCLUDE_TYPES=tuple"), &base, &r, &dir);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const struct pmt_logfile *log = pmt_logset_get(&set, r.pid, 'O');
    cr_assert(log, "no reftrace log in %s", dir);
    char *program = e2e_program("audit_quiet.py");
    int line = pmt_marker_line(program, "MARK:audited");
    char *at = pmt_strf(" %-80s %4d %-40s ", program, line, "work");
    size_t len;
    char *text = pmt_read_file(log->path, &len);
    size_t tuples = 0, news = 0;
    for (char *p = text; (p = strstr(p, "\nNEW:")) != NULL; p++) {
        news++;
        char *end = strchr(p + 1, '\n');
        char *hit = strstr(p, at);
        tuples += hit && (!end || hit < end);
    }
    cr_assert(news > 0, "%s: the log has NEW tuple lines at all", log->path);
    cr_assert_eq(tuples, 0, "%s: %zu tuples made at line %d (audit arguments): the agent's audit hook is still in",
                 log->path, tuples, line);
}

/* On 3.13 and 3.14 with libpython linked into the executable, reference
 * tracing keeps the audit hook (README: tracemalloc); 3.13 here is pyenv's,
 * shared. */
E2E_TEST_PY(coexist, no_audit_tuples_py313, PMT_PY_313, case_no_audit_tuples, "reftrace")
E2E_TEST_PY(coexist, no_audit_tuples_py315, PMT_PY_315, case_no_audit_tuples, "reftrace")
E2E_TEST_PY(coexist, no_audit_tuples_py315d, PMT_PY_315D, case_no_audit_tuples, "reftrace")
E2E_TEST_PY(coexist, no_audit_tuples_profile_py313, PMT_PY_313, case_no_audit_tuples, "reftrace,profile")
E2E_TEST_PY(coexist, no_audit_tuples_profile_py314, PMT_PY_314, case_no_audit_tuples, "reftrace,profile")

/* ---- sys.monitoring tool ids (3.12+) -------------------------------------
 * The agent holds a tool id of its own; a program that asks for any id gets
 * it, counts what it counts without the agent, and the agent's logs go on
 * (the 40 MB made at the end is in both), saying in a MSG line where it went:
 * another free id ("each": the program takes the ids one at a time), or the
 * legacy hooks ("all": the program holds all six). */

/* The log's MSG line whose text starts with text, or NULL. */
static const struct pmt_line *msg_starting(const struct pmt_log *log, const char *text)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->lines[i].kind == PMT_K_MSG && !strncmp(log->lines[i].text, text, strlen(text)))
            return &log->lines[i];
    return NULL;
}

/* A NEXT line of func at line with a jump of mb MB (2^20) or more. */
static void check_jump(const struct pmt_logfile *f, const char *func, int line, long mb)
{
    bool jump = false;
    for (size_t i = 0; i < f->log->n && !jump; i++) {
        const struct pmt_line *l = &f->log->lines[i];
        jump = l->kind == PMT_K_NEXT && l->drss >= mb << 20 && !strcmp(l->func, func) &&
               l->line == line;
    }
    cr_assert(jump, "%s: the %ld MB made by %s() at line %d is not in the log", f->path, mb, func, line);
}

static void check_grow_40mb(const struct pmt_logfile *f, int grow)
{
    check_jump(f, "grow", grow, 40);
}

static void case_monitoring_ids(const struct pmt_python *py, const void *arg)
{
    const char *how = arg;
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("monitoring_ids.py");
    const char *const *argv = PMT_LIST(py->path, program, how);
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .timeout_s = E2E_TIMEOUT}, &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, base.out, "the program's view of sys.monitoring changed");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    int grow = pmt_marker_line(program, "MARK:grow");
    const char *want = !strcmp(how, "each")
                           ? "the program asked for sys.monitoring tool id 4, which the agent held: "
                             "the agent now uses id 3"
                           : "the program asked for sys.monitoring tool id 5, which the agent held, "
                             "and no other is free: the agent now uses the legacy profile and trace hooks";
    for (const char *m = "PT"; *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        cr_assert(msg_starting(f->log, want), "%s: no MSG line '%s'", f->path, want);
        check_grow_40mb(f, grow);
    }
}

#define TESTS_312_UP(name, fn, arg)                                                                \
    E2E_TEST_PY(coexist, name##_py312, PMT_PY_312, fn, arg)                                        \
    E2E_TESTS_313_UP(coexist, name, fn, arg)

TESTS_312_UP(monitoring_ids_each, case_monitoring_ids, "each")
TESTS_312_UP(monitoring_ids_all, case_monitoring_ids, "all")

/* ---- pdb, cProfile ---------------------------------------------------------- */

/* pdb's session, fed on stdin, reads as without the agent (on 3.13: as with
 * any profiler, see pdb_stop.py). */
static void case_pdb(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("pdb_stop.py");
    const char *input = "p x\nn\np x\nc\n";
    struct pmt_run_result base, r;
    bool hooked = strstr(modes, "profile") || strstr(modes, "trace");
    const char *const *base_argv = py->minor == 13 && hooked
                                       ? PMT_LIST(py->path, program, "profiled")
                                       : PMT_LIST(py->path, program);
    pmt_run(&(struct pmt_run_opts){.argv = base_argv, .cwd = dir, .stdin_text = input,
                                   .timeout_s = E2E_TIMEOUT},
            &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    cr_assert(strstr(base.out, "(Pdb) 41\n") && strstr(base.out, "result 42\n"), "pdb's session: %s",
              base.out);
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                   .cwd = dir,
                                   .stdin_text = input,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, base.out, "pdb's session differs with the agent");
    cr_assert_str_eq(r.err, base.err);
}

E2E_TESTS_SUPPORTED(coexist, pdb_profile, case_pdb, "profile")
E2E_TESTS_SUPPORTED(coexist, pdb_trace, case_pdb, "trace")
E2E_TESTS_SUPPORTED(coexist, pdb_sample, case_pdb, "sample")

/* python -m cProfile (3.12+: a sys.monitoring tool, id 2, beside the
 * agent's): cProfile's report and the agent's log, with the 40 MB. */
static void case_cprofile(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("cprofile_grow.py");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, "-m", "cProfile", "-s", "ncalls", program),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(strstr(r.out, "done\n") && strstr(r.out, "function calls"), "cProfile's report: %s", r.out);
    cr_assert(strstr(r.out, "50    0.000    0.000    0.000    0.000 cprofile_grow.py:7(small)") ||
                  strstr(r.out, "cprofile_grow.py:7(small)"),
              "cProfile saw small(): %s", r.out);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    int grow = pmt_marker_line(program, "MARK:grow");
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        check_grow_40mb(f, grow);
    }
}

E2E_TESTS_SUPPORTED(coexist, cprofile_profile, case_cprofile, "profile")
E2E_TESTS_SUPPORTED(coexist, cprofile_both, case_cprofile, "profile,trace")

/* ---- the program's own profile and trace functions ----------------------------
 * own_hooks.py sets its own (one, the other, both, one replaced by another,
 * threading's for a thread) and removes them, printing the events they saw:
 * the same output as without the agent, and the 40 MB it makes afterwards in
 * the log, with no ERR line (3.8-3.11 and the legacy hooks: the agent calls
 * the program's function in turn; 3.12+: sys.monitoring beside them). */

static bool log_has_err(const struct pmt_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->lines[i].kind == PMT_K_ERR)
            return true;
    return false;
}

static void case_own_hooks(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *hooks = "PYMEMTRACE_HOOKS=auto";
    if (!strncmp(modes, "legacy:", 7)) {
        hooks = "PYMEMTRACE_HOOKS=legacy";
        modes += 7;
    }
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("own_hooks.py");
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program), .cwd = dir,
                                   .timeout_s = E2E_TIMEOUT},
            &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    cr_assert(strstr(base.out, "gettrace None getprofile None\n") && strstr(base.out, "trace line "),
              "own_hooks.py: %s", base.out);
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   hooks),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, base.out, "the program's own functions saw other events with the agent");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    int grow = pmt_marker_line(program, "MARK:grow");
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        check_grow_40mb(f, grow);
        cr_assert(!log_has_err(f->log), "%s: an ERR line", f->path);
    }
}

E2E_TESTS_SUPPORTED(coexist, own_hooks_profile, case_own_hooks, "profile")
E2E_TESTS_SUPPORTED(coexist, own_hooks_trace, case_own_hooks, "trace")
E2E_TESTS_SUPPORTED(coexist, own_hooks_both, case_own_hooks, "profile,trace")
TESTS_312_UP(own_hooks_legacy, case_own_hooks, "legacy:profile,trace")

/* More threads with a function of their own than the agent calls in turn
 * (64): one ERR line for each thread beyond, one stderr line, a MSG line when
 * each removes its own; their functions see what they see without the
 * agent; the 40 MB made afterwards is logged. */
static size_t count_lines(const struct pmt_log *log, enum pmt_kind kind, const char *start)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += log->lines[i].kind == kind && log->lines[i].text &&
             !strncmp(log->lines[i].text, start, strlen(start));
    return n;
}

static void case_own_hooks_many(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("own_hooks_many.py");
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program), .cwd = dir,
                                   .timeout_s = E2E_TIMEOUT},
            &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=trace",
                                                   "PYMEMTRACE_HOOKS=legacy", "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, base.out, "the threads' own functions saw other events with the agent");
    const char *err = "the program set its own trace function, which the agent cannot call in turn "
                      "(more than 64 threads have one): no events of that thread until the program "
                      "removes it";
    cr_assert_str_eq(r.err, pmt_strf("pymemtrace: trace: %s\n", err));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, 'T');
    e2e_check_log(f, NULL, -1);
    cr_assert_eq(count_lines(f->log, PMT_K_ERR, err), 6, "%s: ERR lines", f->path);
    cr_assert_eq(count_lines(f->log, PMT_K_MSG, "the program removed its own trace function: that "
                                                "thread's events are logged again"),
                 6, "%s: MSG lines", f->path);
    check_grow_40mb(f, pmt_marker_line(program, "MARK:grow"));
}

E2E_TESTS_SUPPORTED(coexist, own_hooks_many, case_own_hooks_many, NULL)

/* ---- tracemalloc and faulthandler -------------------------------------------
 * tracemalloc's numbers (traced, peak, top lines) are those without the
 * agent: the agent allocates nothing the program's tracemalloc sees. Where
 * CPython's own hook machinery allocates for any profile or trace function
 * (3.11: a frame object per traced frame; 3.12+: per-code monitoring data),
 * profile and trace are compared with the floor instead, the same library
 * with hooks that do nothing (bench/): what differs is CPython's, as under
 * cProfile. */

/* One pair of runs: the floor's or the bare one, then the agent's. */
static void tracemalloc_pair(const struct pmt_python *py, const char *modes, struct pmt_run_result *base,
                             struct pmt_run_result *r, bool *to_floor)
{
    const char *dir = pmt_tmpdir();
    const char *const *argv = PMT_LIST(py->path, e2e_program("tracemalloc_same.py"));
    bool hooked = !strcmp(modes, "profile") || !strcmp(modes, "trace");
    const char *floor = pmt_strf("LD_PRELOAD=%s%s%s/libpymemtrace-noop.so", e2e_preload_first(),
                                 *e2e_preload_first() ? " " : "", pmt_env("PMT_BUILD_ROOT"));
    *to_floor = hooked && (py->major > 3 || py->minor >= 11);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = *to_floor ? PMT_LIST(floor, pmt_strf("PYMEMTRACE=%s", modes))
                                                    : NULL,
                                   .timeout_s = E2E_TIMEOUT},
            base);
    cr_assert(base->exited && base->exit_code == 0, "%s: %s", *to_floor ? "the floor" : "without the agent",
              pmt_run_describe(base));
    cr_assert(strstr(base->out, "traced "), "%s", base->out);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            r);
    cr_assert(r->exited && r->exit_code == 0, "%s", pmt_run_describe(r));
}

/* 3.14's numbers differ now and then without any agent (1 run in 40 here:
 * a line of 28 bytes more or less): a pair that differs is run again, up
 * to three times. */
static void case_tracemalloc(const struct pmt_python *py, const void *arg)
{
    struct pmt_run_result base, r;
    bool to_floor;
    for (int attempt = 0; attempt < 3; attempt++) {
        tracemalloc_pair(py, arg, &base, &r, &to_floor);
        if (!strcmp(r.out, base.out))
            break;
    }
    cr_assert_str_eq(r.out, base.out, "tracemalloc's numbers differ from %s",
                     to_floor ? "the floor's" : "those without the agent");
}

E2E_TESTS_SUPPORTED(coexist, tracemalloc_profile, case_tracemalloc, "profile")
E2E_TESTS_SUPPORTED(coexist, tracemalloc_trace, case_tracemalloc, "trace")
E2E_TESTS_SUPPORTED(coexist, tracemalloc_sample, case_tracemalloc, "sample")
E2E_TESTS_SUPPORTED(coexist, tracemalloc_reftrace, case_tracemalloc, "reftrace")

/* faulthandler's tracebacks (one dumped, then a crash's) read as without the
 * agent, with thread ids masked, and the crash ends the process by SIGSEGV
 * as without it. Only the Python part is compared: 3.14 adds the C stack. */
static char *faulthandler_text(const char *err)
{
    size_t cap = strlen(err) + 1, n = 0;
    char *out = calloc(1, cap);
    for (const char *p = err; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!strncmp(p, "  File ", 7) || !strncmp(p, "Stack (", 7) || !strncmp(p, "Fatal Python", 12) ||
            !strncmp(p, "Current thread", 14)) {
            for (size_t i = 0; i < len; i++) {
                if (p[i] == '0' && p[i + 1] == 'x') { /* a thread id */
                    out[n++] = '#';
                    for (i += 2; i < len && strchr("0123456789abcdef", p[i]); i++)
                        ;
                    i--;
                    continue;
                }
                out[n++] = p[i];
            }
            out[n++] = '\n';
        }
        p += len + (e != NULL);
    }
    return out;
}

static bool fh_ended_right(const struct pmt_run_result *r, bool crash)
{
    return crash ? r->signaled && r->signal == SIGSEGV : r->exited && r->exit_code == 0;
}

static void case_faulthandler(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    /* A sanitizer's runtime, first in this run, handles SIGSEGV itself:
     * the dumped traceback only then. */
    bool crash = !e2e_sanitized();
    const char *const *argv = PMT_LIST(py->path, e2e_program("faulthandler_same.py"),
                                       crash ? "crash" : "dump");
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .timeout_s = E2E_TIMEOUT}, &base);
    cr_assert(fh_ended_right(&base, crash), "without the agent: %s", pmt_run_describe(&base));
    char *want = faulthandler_text(base.err);
    cr_assert(strstr(want, "in inner\n") && (!crash || strstr(want, "in crash\n")), "%s", base.err);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(fh_ended_right(&r, crash), "%s", pmt_run_describe(&r));
    cr_assert_str_eq(faulthandler_text(r.err), want, "faulthandler's output differs with the agent");
}

E2E_TESTS_SUPPORTED(coexist, faulthandler_profile, case_faulthandler, "profile")
E2E_TESTS_SUPPORTED(coexist, faulthandler_trace, case_faulthandler, "trace")
E2E_TESTS_SUPPORTED(coexist, faulthandler_sample, case_faulthandler, "sample")
E2E_TESTS_SUPPORTED(coexist, faulthandler_reftrace, case_faulthandler, "reftrace")

/* ---- the agent's own pages ---------------------------------------------------
 * quiet_start.py warms up, loops without allocating, then makes 40 MB: from
 * the loop's start to that jump the log has no RSS step, at the default
 * trigger and at 0 (every event a line, the writer thread's case). The
 * agent's buffers, site tables and line cache, and the writer thread, are
 * made resident before FRST; before that, its first lines showed +4096
 * steps of the agent's own, one per page of buffer filled. */

static void case_quiet_start(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    char *program = e2e_program("quiet_start.py");
    int grow = pmt_marker_line(program, "MARK:grow");
    static const char *const triggers[] = {"-1", "0"};
    for (int t = 0; t < 2; t++) {
        const char *dir = pmt_tmpdir();
        struct pmt_run_result r;
        pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                       .cwd = dir,
                                       .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                       pmt_strf("PYMEMTRACE_D_RSS_TRIGGER=%s",
                                                                triggers[t])),
                                       .timeout_s = E2E_TIMEOUT},
                &r);
        cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
        struct pmt_logset set;
        pmt_logset_load(dir, &set);
        for (const char *m = e2e_mode_letters(modes); *m; m++) {
            const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
            e2e_check_log(f, NULL, atoll(triggers[t]));
            bool quiet = false; /* past quiet()'s first event */
            size_t checked = 0;
            for (size_t i = 0; i < f->log->n; i++) {
                const struct pmt_line *l = &f->log->lines[i];
                if (!pmt_is_event(l->kind))
                    continue;
                bool jump = !strcmp(l->func, "grow") && l->line == grow;
                if (jump)
                    break; /* the end of the loop: what follows is the program's exit */
                if (quiet) {
                    cr_assert(l->kind != PMT_K_NEXT || l->drss == 0,
                              "%s: an RSS step that is not grow()'s: %s", f->path, l->raw);
                    checked++;
                }
                quiet = quiet || !strcmp(l->func, "quiet");
            }
            if (triggers[t][0] == '0')
                cr_assert_gt(checked, 6000, "%s: %zu events checked", f->path, checked);
            check_grow_40mb(f, grow);
        }
    }
}

E2E_TESTS_SUPPORTED(coexist, quiet_start_profile, case_quiet_start, "profile")
E2E_TESTS_SUPPORTED(coexist, quiet_start_trace, case_quiet_start, "trace")
E2E_TESTS_SUPPORTED(coexist, quiet_start_both, case_quiet_start, "profile,trace")

/* ---- pytest --cov ------------------------------------------------------------
 * coverage's tracer (its C tracer where built for the interpreter: Debian's
 * python3 and sid's; else its Python one; on 3.12+ coverage 7 may use
 * sys.monitoring) beside the agent: coverage's report is the one without
 * the agent, and the 60 MB of the test is in the log. pytest, pytest-cov
 * and coverage come from Debian: a system interpreter has them in its
 * dist-packages; pyenv's get Debian's pure-Python packages on PYTHONPATH
 * (coverage then runs its Python tracer). */

static const char *const pytest_packages[] = {
    "_pytest", "pytest", "pluggy", "iniconfig", "packaging", "py", "attr", "attrs",
    "exceptiongroup", "tomli", "coverage", "pytest_cov", NULL};

/* Whether a dist-packages entry is one of theirs: the package, py.py, or
 * its metadata (pytest finds pytest-cov by its entry point). */
static bool pytest_entry(const char *name)
{
    for (const char *const *n = pytest_packages; *n; n++) {
        size_t k = strlen(*n);
        if (!strncmp(name, *n, k) && (!name[k] || name[k] == '-' || !strcmp(name + k, ".py")))
            return true;
    }
    return false;
}

/* "PYTHONPATH=..." for py, or "PYTHONPATH" (unset) when it has them; skips
 * when it cannot import them. */
static const char *pytest_env(const struct pmt_python *py)
{
    const char *site = "/usr/lib/python3/dist-packages";
    const char *env = "PYTHONPATH";
    if (!py->debian && !py->system) {
        char *pp = pmt_strf("%s/pytest-packages", pmt_tmpdir());
        cr_assert(mkdir(pp, 0755) == 0 || errno == EEXIST);
        DIR *d = opendir(site);
        for (struct dirent *e; d && (e = readdir(d));)
            if (pytest_entry(e->d_name))
                symlink(pmt_strf("%s/%s", site, e->d_name), pmt_strf("%s/%s", pp, e->d_name));
        if (d)
            closedir(d);
        env = pmt_strf("PYTHONPATH=%s", pp);
    }
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-c", "import pytest, pytest_cov, coverage"),
                .env = PMT_LIST(env),
                .timeout_s = E2E_TIMEOUT},
            &r);
    if (!(r.exited && r.exit_code == 0)) {
        cr_assert(!py->debian, "Debian's python3 cannot import pytest, pytest_cov and coverage "
                               "(packages python3-pytest-cov python3-exceptiongroup python3-tomli): %s",
                  r.err);
        cr_skip_test("Python %s: cannot import pytest, pytest_cov and coverage (Debian's "
                     "python3-pytest-cov, python3-exceptiongroup and python3-tomli give them)",
                     py->version);
    }
    return env;
}

/* The report's line of test_big.py (Stmts, Miss, Cover, Missing). */
static char *coverage_line(const char *out)
{
    const char *p = strstr(out, "test_big.py ");
    cr_assert(p, "no coverage report: %s", out);
    const char *e = strchr(p, '\n');
    return pmt_strf("%.*s", (int)(e ? e - p : (long)strlen(p)), p);
}

static void case_pytest_cov(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *pythonpath = pytest_env(py);
    const char *dir = pmt_tmpdir();
    char *test = e2e_program("covered/test_big.py");
    char *covered = e2e_program("covered");
    const char *const *argv = PMT_LIST(py->path, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                       pmt_strf("--cov=%s", covered), "--cov-report=term-missing",
                                       test);
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir,
                                   .env = PMT_LIST(pythonpath, "PYTHONDONTWRITEBYTECODE=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    char *want = coverage_line(base.out);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(pythonpath, "PYTHONDONTWRITEBYTECODE=1",
                                                   e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(strstr(r.out, "1 passed"), "%s", r.out);
    cr_assert_str_eq(coverage_line(r.out), want, "coverage's report differs with the agent");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    int big = pmt_marker_line(test, "MARK:big");
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        check_jump(f, "make_big", big, 60);
        cr_assert(!log_has_err(f->log), "%s: an ERR line", f->path);
    }
}

E2E_TESTS_SUPPORTED(coexist, pytest_cov_profile, case_pytest_cov, "profile")
E2E_TESTS_SUPPORTED(coexist, pytest_cov_trace, case_pytest_cov, "trace")
E2E_TESTS_SUPPORTED(coexist, pytest_cov_both, case_pytest_cov, "profile,trace")

/* ---- the same events through sys.monitoring as through the legacy hooks ---
 * events_mix.py at PYMEMTRACE_D_RSS_TRIGGER=0 (every event a line) under
 * PYMEMTRACE_HOOKS=legacy and auto (3.12+: sys.monitoring): the same events,
 * in the same order, with the same numbers, files, lines and functions. */

static struct pmt_log *events_of(const struct pmt_python *py, const char *modes, const char *hooks,
                                 char mode)
{
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("events_mix.py")),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   "PYMEMTRACE_D_RSS_TRIGGER=0",
                                                   pmt_strf("PYMEMTRACE_HOOKS=%s", hooks)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, mode);
    e2e_check_log(f, NULL, 0);
    return f->log;
}

static void case_same_events(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_log *a = events_of(py, modes, "legacy", *m);
        const struct pmt_log *b = events_of(py, modes, "auto", *m);
        size_t i = 0, j = 0, n = 0;
        for (;; i++, j++) {
            while (i < a->n && !pmt_is_event(a->lines[i].kind))
                i++;
            while (j < b->n && !pmt_is_event(b->lines[j].kind))
                j++;
            if (i >= a->n || j >= b->n)
                break;
            const struct pmt_line *x = &a->lines[i], *y = &b->lines[j];
            cr_assert(x->event == y->event && !strcmp(x->what, y->what) && !strcmp(x->file, y->file) &&
                          x->line == y->line && !strcmp(x->func, y->func),
                      "%s (legacy) and %s (sys.monitoring) differ at event %zu:\n%s\n%s", a->path, b->path,
                      n, x->raw, y->raw);
            n++;
        }
        cr_assert(i >= a->n && j >= b->n, "%s and %s: not as many events", a->path, b->path);
        cr_assert(n > 5000, "%s: %zu events only", a->path, n);
    }
}

TESTS_312_UP(same_events_profile, case_same_events, "profile")
TESTS_312_UP(same_events_trace, case_same_events, "trace")

/* ---- sys.getprofile(), sys.gettrace(), threading's --------------------------
 * None, as without the agent, in the main thread and in a new one (3.8 sets
 * threading's globals for new threads: not tested there). */
static void case_hooks_seen(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    const char *const *argv = PMT_LIST(py->path, e2e_program("hooks_seen.py"));
    struct pmt_run_result base, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .timeout_s = E2E_TIMEOUT}, &base);
    cr_assert(base.exited && base.exit_code == 0, "without the agent: %s", pmt_run_describe(&base));
    cr_assert(strstr(base.out, "main None None\n"), "%s", base.out);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, base.out, "PYMEMTRACE=%s: the program sees the agent's hooks", modes);
}

#define TESTS_39_UP(name, fn, arg)                                                                 \
    E2E_TEST_PY(coexist, name##_debian, PMT_PY_DEBIAN, fn, arg)                                    \
    E2E_TEST_PY(coexist, name##_py39, PMT_PY_39, fn, arg)                                          \
    E2E_TEST_PY(coexist, name##_py310, PMT_PY_310, fn, arg)                                        \
    E2E_TEST_PY(coexist, name##_py311, PMT_PY_311, fn, arg)                                        \
    TESTS_312_UP(name, fn, arg)

TESTS_39_UP(hooks_seen_profile, case_hooks_seen, "profile")
TESTS_39_UP(hooks_seen_trace, case_hooks_seen, "trace")
TESTS_39_UP(hooks_seen_both, case_hooks_seen, "profile,trace")
