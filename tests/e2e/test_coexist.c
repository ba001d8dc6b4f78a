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
#include <string.h>

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
