/* Settings from the environment: bad values (one line on stderr, then the
 * program runs as without the agent), the good ones that change where and
 * what is written (PYMEMTRACE_MESSAGE, _QUIET, _LOG_DIR, _LOG_FILE), and
 * places the log cannot be written (the program must not suffer). */
#include "checks.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Debian's python3 and one pyenv interpreter. */
#define E2E_TESTS_TWO(suite, name, fn, arg)                                    \
    E2E_TEST_PY(suite, name##_debian, PMT_PY_DEBIAN, fn, arg)                  \
    E2E_TESTS_313_UP(suite, name, fn, arg)

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- bad values --------------------------------------------------------- */

struct bad_setting {
    const char *const env[3];   /* entries on top of LD_PRELOAD */
    const char *var;            /* the variable the message must name */
    const char *value;          /* and its value */
};

static void run_bad(const struct pmt_python *py, const void *arg)
{
    const struct bad_setting *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    size_t n;
    char **lines = e2e_run_plain_against_baseline(py, dir, "100", c->env, &n, &r);
    cr_assert(n == 1, "%s=%s: expected exactly one `pymemtrace: ` line on stderr\n%s", c->var, c->value,
              pmt_run_describe(&r));
    cr_assert(strstr(lines[0], c->var) && ends_with(lines[0], "; not tracing"),
              "the line should name %s and end with `; not tracing`: `%s`", c->var, lines[0]);
    if (c->value[0])
        cr_assert(strstr(lines[0], c->value), "the line should show the value `%s`: `%s`", c->value, lines[0]);
    e2e_check_no_files(dir, "a bad setting");
}

#define BAD(name, var, value, ...)                                                                 \
    static const struct bad_setting bad_##name = {{__VA_ARGS__, NULL}, var, value};               \
    E2E_TESTS_TWO(settings, bad_##name, run_bad, &bad_##name)

BAD(mode_bogus, "PYMEMTRACE", "bogus", "PYMEMTRACE=bogus")
BAD(mode_trailing_comma, "PYMEMTRACE", "profile,", "PYMEMTRACE=profile,")
BAD(trigger_abc, "PYMEMTRACE_D_RSS_TRIGGER", "abc", "PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=abc")
BAD(trigger_empty, "PYMEMTRACE_D_RSS_TRIGGER", "", "PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=")
BAD(trigger_minus_5, "PYMEMTRACE_D_RSS_TRIGGER", "-5", "PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=-5")
BAD(trigger_overflow, "PYMEMTRACE_D_RSS_TRIGGER", "99999999999999999999", "PYMEMTRACE=profile",
    "PYMEMTRACE_D_RSS_TRIGGER=99999999999999999999")
BAD(quiet_yes, "PYMEMTRACE_QUIET", "yes", "PYMEMTRACE=profile", "PYMEMTRACE_QUIET=yes")
BAD(log_dir_empty, "PYMEMTRACE_LOG_DIR", "", "PYMEMTRACE=profile", "PYMEMTRACE_LOG_DIR=")
BAD(log_file_unknown_escape, "PYMEMTRACE_LOG_FILE", "x%q", "PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=x%q")
/* an unknown name: the name is what is wrong, its value need not be shown */
BAD(misspelt_option, "PYMEMTRACE_TRIGER", "", "PYMEMTRACE=profile", "PYMEMTRACE_TRIGER=5")
BAD(children_2, "PYMEMTRACE_CHILDREN", "2", "PYMEMTRACE=profile", "PYMEMTRACE_CHILDREN=2")
BAD(gc_collect_3, "PYMEMTRACE_GC_COLLECT_ON_EXIT", "3", "PYMEMTRACE=profile", "PYMEMTRACE_GC_COLLECT_ON_EXIT=3")
BAD(include_types_space, "PYMEMTRACE_INCLUDE_TYPES", "LASSection, Curve", "PYMEMTRACE=reftrace",
    "PYMEMTRACE_INCLUDE_TYPES=LASSection, Curve")
BAD(exclude_types_empty_item, "PYMEMTRACE_EXCLUDE_TYPES", "A,,B", "PYMEMTRACE=reftrace",
    "PYMEMTRACE_EXCLUDE_TYPES=A,,B")
BAD(include_builtins_2, "PYMEMTRACE_INCLUDE_BUILTINS", "2", "PYMEMTRACE=reftrace,profile",
    "PYMEMTRACE_INCLUDE_BUILTINS=2")

/* ---- good values -------------------------------------------------------- */

#define MESSAGE "e2e message: 100% of %s and %n, kept as is"

static struct pmt_run_result run_grow(const struct pmt_python *py, const char *cwd, const char *const *env)
{
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("grow.py")),
                                   .cwd = cwd,
                                   .env = pmt_list_cat(PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace"), env)},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(e2e_grow_output(&r, py->version) == r.pid);
    return r;
}

static void run_message(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_grow(py, dir, PMT_LIST("PYMEMTRACE_MESSAGE=" MESSAGE));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    for (size_t i = 0; i < set.n; i++) {
        e2e_check_log(&set.files[i], MESSAGE, -1);
        e2e_check_grow_jump(&set.files[i], "/grow.py");
    }
}

static void run_quiet(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_grow(py, dir, PMT_LIST("PYMEMTRACE_QUIET=1"));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    e2e_check_stderr(&r, dir, &set, true, "");
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, -1);
}

static void run_log_dir(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *cwd = pmt_tmpdir(), *base = pmt_tmpdir();
    char *logs = pmt_strf("%s/not/yet/there", base);
    struct pmt_run_result r = run_grow(py, cwd, PMT_LIST(pmt_strf("PYMEMTRACE_LOG_DIR=%s", logs)));
    e2e_check_no_files(cwd, "PYMEMTRACE_LOG_DIR elsewhere");
    struct pmt_logset set;
    pmt_logset_load(logs, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    e2e_check_stderr(&r, logs, &set, false, "");
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, -1);
}

static void run_log_file(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *cwd = pmt_tmpdir(), *out = pmt_tmpdir();
    char real[PATH_MAX];
    cr_assert(realpath(out, real) != NULL);
    struct pmt_run_result r = run_grow(py, cwd, PMT_LIST(pmt_strf("PYMEMTRACE_LOG_FILE=%s/log-%%p-%%m-%%n.txt", out)));
    e2e_check_no_files(cwd, "PYMEMTRACE_LOG_FILE elsewhere");
    size_t n;
    char **names = pmt_list_dir(out, NULL, &n);
    char *want_p = pmt_strf("log-%d-P-0.txt", (int)r.pid), *want_t = pmt_strf("log-%d-T-1.txt", (int)r.pid);
    cr_assert(n == 2 && !strcmp(names[0], want_p) && !strcmp(names[1], want_t),
              "expected %s and %s in %s, found %zu file(s)%s%s", want_p, want_t, out, n, n ? ": " : "",
              n ? names[0] : "");
    char **lines, *rest;
    size_t nl;
    pmt_split_stderr(r.err, &lines, &nl, &rest);
    char *line_p = pmt_strf("pymemtrace: profile log: %s/%s", real, want_p);
    char *line_t = pmt_strf("pymemtrace: trace log: %s/%s", real, want_t);
    cr_assert(nl == 2 && rest[0] == '\0' &&
                  ((!strcmp(lines[0], line_p) && !strcmp(lines[1], line_t)) ||
                   (!strcmp(lines[0], line_t) && !strcmp(lines[1], line_p))),
              "stderr should be the two lines `%s` and `%s`\n%s", line_p, line_t, pmt_run_describe(&r));
    for (size_t i = 0; i < 2; i++) {
        struct pmt_logfile f = {.name = names[i], .path = pmt_join(out, names[i]), .id = {.mode = i ? 'T' : 'P'}};
        f.log = pmt_log_load(f.path);
        e2e_check_log(&f, NULL, -1);
        e2e_check_grow_jump(&f, "/grow.py");
    }
}

E2E_TESTS_TWO(settings, message, run_message, NULL)
E2E_TESTS_TWO(settings, quiet, run_quiet, NULL)
E2E_TESTS_TWO(settings, log_dir_created, run_log_dir, NULL)
E2E_TESTS_TWO(settings, log_file_pattern, run_log_file, NULL)

/* ---- no harm when the log cannot be written ----------------------------- */

static void run_unwritable(const struct pmt_python *py, const void *arg)
{
    const char *const *env = arg;
    const char *target = strchr(env[1], '=') + 1;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    size_t n;
    char **lines = e2e_run_plain_against_baseline(py, dir, "2000", env, &n, &r);
    cr_assert(n == 1 && strstr(lines[0], target),
              "%s: expected exactly one `pymemtrace: ` line on stderr, naming %s\n%s", env[1], target,
              pmt_run_describe(&r));
    e2e_check_no_files(dir, env[1]);
}

/* QUIET, so the one line is the error, not "profile log: /dev/full". */
static const char *const dev_full[] = {"PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=/dev/full",
                                       "PYMEMTRACE_D_RSS_TRIGGER=0", "PYMEMTRACE_QUIET=1", NULL};
static const char *const proc_dir[] = {"PYMEMTRACE=profile", "PYMEMTRACE_LOG_DIR=/proc/pymemtrace-nope",
                                       "PYMEMTRACE_D_RSS_TRIGGER=0", NULL};

E2E_TESTS_SUPPORTED(settings, no_harm_dev_full, run_unwritable, dev_full)
E2E_TESTS_SUPPORTED(settings, no_harm_log_dir_in_proc, run_unwritable, proc_dir)
