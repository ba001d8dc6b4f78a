/* How a traced process ends, forks and execs: the log on disk is always
 * complete (LAST, EOF) and valid, and the process ends as it would without
 * the agent: its status, its signal, its own output. */
#include "checks.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* ---- exit paths --------------------------------------------------------- */

struct exit_case {
    const char *how;       /* exits.py's argument */
    const char *modes;
    int status;            /* expected exit status, or -1 for SIGINT */
    const char *err_tail;  /* the end of the program's own stderr ("" = none at all) */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void run_exit(const struct pmt_python *py, const void *arg)
{
    const struct exit_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("exits.py"), c->how),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->modes)),
            },
            &r);
    if (c->status >= 0)
        cr_assert(r.exited && r.exit_code == c->status, "expected exit status %d\n%s", c->status,
                  pmt_run_describe(&r));
    else
        cr_assert(r.signaled && r.signal == SIGINT,
                  "an uncaught KeyboardInterrupt ends the process by SIGINT\n%s", pmt_run_describe(&r));
    char *want_out = pmt_strf("exits: %s total=985050\n", c->how);
    cr_assert(!strcmp(r.out, want_out), "stdout should be `%s`\n%s", want_out, pmt_run_describe(&r));

    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, e2e_mode_letters(c->modes), py->version, true);
    char *rest = e2e_check_stderr(&r, dir, &set, false, c->err_tail[0] ? NULL : "");
    if (c->err_tail[0])
        cr_assert(!strncmp(rest, "Traceback (most recent call last):\n", 35) && ends_with(rest, c->err_tail),
                  "the program's stderr should be a traceback ending with `%s`, got:\n%s", c->err_tail,
                  pmt_excerpt(rest, 3000));
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, -1);
}

#define EXIT_CASES(how, status, tail)                                                              \
    {                                                                                              \
        {how, "profile", status, tail}, { how, "trace", status, tail }                             \
    }

static const struct exit_case normal_cases[] = EXIT_CASES("normal", 0, "");
static const struct exit_case sys_exit_cases[] = EXIT_CASES("sys_exit", 3, "");
static const struct exit_case exception_cases[] = EXIT_CASES("exception", 1, "RuntimeError: pmt-e2e uncaught\n");
static const struct exit_case sigint_cases[] = EXIT_CASES("sigint", -1, "KeyboardInterrupt\n");
static const struct exit_case os_exit_cases[] = EXIT_CASES("os_exit", 5, "");

E2E_TESTS_SUPPORTED(lifecycle, exit_normal_profile, run_exit, &normal_cases[0])
E2E_TESTS_SUPPORTED(lifecycle, exit_normal_trace, run_exit, &normal_cases[1])
E2E_TESTS_SUPPORTED(lifecycle, exit_sys_exit_profile, run_exit, &sys_exit_cases[0])
E2E_TESTS_SUPPORTED(lifecycle, exit_sys_exit_trace, run_exit, &sys_exit_cases[1])
E2E_TESTS_SUPPORTED(lifecycle, exit_exception_profile, run_exit, &exception_cases[0])
E2E_TESTS_SUPPORTED(lifecycle, exit_exception_trace, run_exit, &exception_cases[1])
E2E_TESTS_SUPPORTED(lifecycle, exit_sigint_profile, run_exit, &sigint_cases[0])
E2E_TESTS_SUPPORTED(lifecycle, exit_sigint_trace, run_exit, &sigint_cases[1])
E2E_TESTS_SUPPORTED(lifecycle, exit_os_exit_profile, run_exit, &os_exit_cases[0])
E2E_TESTS_SUPPORTED(lifecycle, exit_os_exit_trace, run_exit, &os_exit_cases[1])

/* ---- fork --------------------------------------------------------------- */

static void run_fork(const struct pmt_python *py, const void *arg)
{
    const char *variant = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("forks.py"), variant),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_D_RSS_TRIGGER=0"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    int child = 0, parent = 0, child2 = 0, status = -1, used = 0;
    cr_assert(sscanf(r.out, "child pid=%d\nparent pid=%d child=%d status=%d\n%n", &child, &parent, &child2, &status,
                     &used) == 4 &&
                  (size_t)used == r.out_len && child == child2 && parent == r.pid && status == 0,
              "unexpected output\n%s", pmt_run_describe(&r));

    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert(set.n == 4, "expected 2 logs of the parent and 2 of the child, found %zu", set.n);
    e2e_check_names(&set, &r, parent, "PT", py->version, true);
    e2e_check_names(&set, &r, child, "PT", py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    for (const char *m = "PT"; *m; m++) {
        const struct pmt_logfile *pf = pmt_logset_get(&set, parent, *m), *cf = pmt_logset_get(&set, child, *m);
        e2e_check_log(pf, NULL, 0);
        e2e_check_log(cf, NULL, 0);
        cr_assert(pmt_log_find_func(cf->log, "child_only_work") >= 0, "%s: the child's log lacks child_only_work",
                  cf->path);
        long in_parent = pmt_log_find_func(pf->log, "child_only_work");
        cr_assert(in_parent < 0, "%s line %ld: the child's events are in the parent's log", pf->path, in_parent + 1);
        cr_assert(pmt_log_find_func(pf->log, "parent_side_work") >= 0, "%s: the parent's log lacks parent_side_work",
                  pf->path);
        cr_assert(pmt_log_find_func(cf->log, "parent_side_work") < 0, "%s: the parent's events are in the child's log",
                  cf->path);
    }
}

E2E_TESTS_SUPPORTED(lifecycle, fork_child_os_exit, run_fork, "os_exit")
E2E_TESTS_SUPPORTED(lifecycle, fork_child_sys_exit, run_fork, "sys_exit")

/* ---- exec --------------------------------------------------------------- */

static void run_exec(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("execs.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_D_RSS_TRIGGER=0"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "/bin/true's status is 0\n%s", pmt_run_describe(&r));
    char *want = pmt_strf("exec now pid=%d\n", (int)r.pid);
    cr_assert(!strcmp(r.out, want), "stdout should be `%s`\n%s", want, pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    cr_assert(set.n == 2, "/bin/true wrote logs");
    e2e_check_stderr(&r, dir, &set, false, "");
    for (size_t i = 0; i < set.n; i++) {
        e2e_check_log(&set.files[i], NULL, 0);
        cr_assert(pmt_log_find_func(set.files[i].log, "before_exec") >= 0, "%s: no event in before_exec",
                  set.files[i].path);
    }
}

E2E_TESTS_SUPPORTED(lifecycle, exec, run_exec, NULL)
