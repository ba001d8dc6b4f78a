/* When the agent must leave the process alone: PYMEMTRACE unset or empty,
 * processes with no Python at all, and Pythons it does not support (one line
 * on stderr for those). Each run is compared with the same run without the
 * agent. */
#include "checks.h"

#include <string.h>
#include <unistd.h>

static void run_in(const char *dir, const char *const *argv, const char *const *env, struct pmt_run_result *r)
{
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .env = env}, r);
}

static char *status_of(const struct pmt_run_result *r)
{
    return r->exited ? pmt_strf("exit %d", r->exit_code) : pmt_strf("signal %d", r->signal);
}

/* Same status and stdout; stderr too unless err_checked_by_caller. */
static void same_as_baseline(const struct pmt_run_result *base, const struct pmt_run_result *r, bool compare_err)
{
    cr_assert(!strcmp(status_of(base), status_of(r)), "status %s without the agent, %s with it\n%s", status_of(base),
              status_of(r), pmt_run_describe(r));
    cr_assert(!strcmp(base->out, r->out), "stdout differs from the run without the agent\n--- without:\n%s\n%s",
              pmt_excerpt(base->out, 2000), pmt_run_describe(r));
    if (compare_err)
        cr_assert(!strcmp(base->err, r->err), "stderr differs from the run without the agent\n--- without:\n%s\n%s",
                  pmt_excerpt(base->err, 2000), pmt_run_describe(r));
}

/* ---- (a), (b): PYMEMTRACE unset or empty -------------------------------- */

static void run_switched_off(const struct pmt_python *py, const void *arg)
{
    const char *setting = arg;   /* "PYMEMTRACE" (unset) or "PYMEMTRACE=" */
    const char *dir = pmt_tmpdir();
    const char *const *argv = PMT_LIST(py->path, e2e_program("plain.py"));
    struct pmt_run_result base, r;
    run_in(dir, argv, NULL, &base);
    cr_assert(base.exited && base.exit_code == 4, "plain.py without the agent\n%s", pmt_run_describe(&base));
    run_in(dir, argv, PMT_LIST(e2e_preload(), setting, "PYMEMTRACE_D_RSS_TRIGGER=0"), &r);
    same_as_baseline(&base, &r, true);
    e2e_check_no_files(dir, setting);
}

E2E_TESTS_SUPPORTED(inert, pymemtrace_unset, run_switched_off, "PYMEMTRACE")
E2E_TESTS_SUPPORTED(inert, pymemtrace_empty, run_switched_off, "PYMEMTRACE=")

/* ---- (c): no Python in the process -------------------------------------- */

static void non_python(const char *const *argv)
{
    const char *dir = pmt_tmpdir();
    struct pmt_run_result base, r;
    run_in(dir, argv, NULL, &base);
    run_in(dir, argv, PMT_LIST(e2e_preload(), "PYMEMTRACE=profile"), &r);
    same_as_baseline(&base, &r, true);
    e2e_check_no_files(dir, argv[0]);
    pmt_done();
}

Test(inert, no_python_sh, .fini = pmt_fini, .timeout = E2E_TIMEOUT)
{
    non_python(PMT_LIST("sh", "-c", "echo hi"));
}

Test(inert, no_python_ls, .fini = pmt_fini, .timeout = E2E_TIMEOUT)
{
    non_python(PMT_LIST("ls", "/"));
}

Test(inert, no_python_gcc, .fini = pmt_fini, .timeout = E2E_TIMEOUT)
{
    const char *path = getenv("PATH");
    bool found = false;
    char *copy = pmt_strf("%s", path ? path : ""), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save))
        found = access(pmt_join(d, "gcc"), X_OK) == 0;
    if (!found)
        cr_skip_test("gcc is not in PATH");
    non_python(PMT_LIST("gcc", "--version"));
}

/* ---- (d): unsupported Pythons ------------------------------------------- */

static void run_unsupported(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    const char *const *argv = PMT_LIST(py->path, e2e_program("plain.py"));
    struct pmt_run_result base, r;
    run_in(dir, argv, NULL, &base);
    cr_assert(base.exited && base.exit_code == 4, "plain.py without the agent\n%s", pmt_run_describe(&base));
    run_in(dir, argv, PMT_LIST(e2e_preload(), "PYMEMTRACE=profile"), &r);
    same_as_baseline(&base, &r, false);
    char **lines, *rest;
    size_t n;
    pmt_split_stderr(r.err, &lines, &n, &rest);
    cr_assert(n == 1 && strstr(lines[0], "not supported"),
              "Python %s: expected exactly one `pymemtrace: ` line saying `not supported`\n%s", py->version,
              pmt_run_describe(&r));
    cr_assert(!strcmp(rest, base.err), "the program's own stderr changed\n--- without the agent:\n%s\n%s", base.err,
              pmt_run_describe(&r));
    e2e_check_no_files(dir, "unsupported Python");
    /* The launcher promises no log either: the one line is still the agent's. */
    if (e2e_sanitized())
        return; /* the launcher puts the agent first in LD_PRELOAD, where a sanitizer's runtime must be */
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(pmt_join(pmt_env("PMT_BUILD_ROOT"), "pymemtrace-run"),
                                                    "--profile", "--", py->path, e2e_program("plain.py")),
                                   .cwd = dir},
            &r);
    cr_assert(r.exited && r.exit_code == 4, "plain.py under the launcher\n%s", pmt_run_describe(&r));
    pmt_split_stderr(r.err, &lines, &n, &rest);
    cr_assert(n == 1 && strstr(lines[0], "not supported") && !strcmp(rest, base.err),
              "Python %s under the launcher: expected the agent's one line and the program's own stderr\n%s",
              py->version, pmt_run_describe(&r));
    e2e_check_no_files(dir, "unsupported Python under the launcher");
}

E2E_TEST_PY(inert, unsupported_py37, PMT_PY_37, run_unsupported, NULL)
E2E_TEST_PY(inert, unsupported_py36, PMT_PY_36, run_unsupported, NULL)
E2E_TEST_PY(inert, unsupported_py27, PMT_PY_27, run_unsupported, NULL)
