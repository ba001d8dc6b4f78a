/* test_analysis: scripts/pymemtrace-top against reference logs.
 *
 * Golden files: tests/data/golden/ holds logs written by pymemtrace's own
 * cPyMemTrace (copied from shared/golden), tests/data/prev_jump.log is
 * hand-made (PREV lines before jumps, file names with spaces and longer than
 * their column, a line kind from the future), and tests/data/expected/ holds
 * the analyser's output for them, checked by eye once and compared byte for
 * byte since. Every run is made from tests/data so that the paths printed are
 * relative. The script runs under Debian's /usr/bin/python3 and, when pyenv
 * has one, under Python 3.8, the oldest version it supports.
 *
 * To refresh an expected file after a deliberate change of the output:
 *   cd tests/data && ../../scripts/pymemtrace-top golden/NAME.log > expected/NAME.txt
 * and read the diff before committing it.
 *
 * The process runner and file helpers are in support.c, shared with
 * test_launcher.c. */
#include "support.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fixtures ------------------------------------------------------------ */

#define TA_SYSTEM_PYTHON "/usr/bin/python3"
#define TA_MAXARGS 16

static char ta_script_path[PATH_MAX];

static const char *ta_script(void)
{
    snprintf(ta_script_path, sizeof ta_script_path, "%s/scripts/pymemtrace-top",
             sup_need_env("PMT_SOURCE_ROOT"));
    cr_assert(access(ta_script_path, R_OK) == 0, "%s is missing", ta_script_path);
    return ta_script_path;
}

static const char *ta_data(void)
{
    return sup_need_env("PMT_TEST_DATA");
}

/* python pymemtrace-top args..., run in tests/data (cwd NULL) or in cwd. */
static void ta_top(struct sup_result *r, const char *python, const char *cwd, const char *const args[])
{
    const char *argv[TA_MAXARGS];
    size_t k = 0;
    argv[k++] = python;
    argv[k++] = ta_script();
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(k < TA_MAXARGS - 1);
        argv[k++] = args[i];
    }
    argv[k] = NULL;
    sup_run(r, cwd != NULL ? cwd : ta_data(), argv, NULL);
}

/* Output of `python pymemtrace-top args` == tests/data/expected/<expected>,
 * byte for byte; on a difference the actual output is kept in /tmp to diff. */
static void ta_expect_output(const char *python, const char *const args[], const char *expected)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/expected/%s", ta_data(), expected);
    size_t want_len;
    char *want = sup_slurp(path, &want_len);
    struct sup_result r;
    ta_top(&r, python, NULL, args);
    sup_assert_exit(&r, 0);
    cr_expect_eq(r.err_len, 0, "%s: stderr: %s", expected, r.err);
    int same = r.out_len == want_len && memcmp(r.out, want, want_len) == 0;
    if (!same) {
        char actual[PATH_MAX];
        snprintf(actual, sizeof actual, "/tmp/pmt-analysis-actual-%s", expected);
        FILE *f = fopen(actual, "wb");
        if (f != NULL) {
            fwrite(r.out, 1, r.out_len, f);
            fclose(f);
        }
        cr_expect(same, "%s (%s): output differs from %s; actual output kept in %s", expected,
                  python, path, actual);
    }
    sup_free(&r);
    free(want);
}

/* Every golden log against its expected output; returns how many. */
static size_t ta_expect_golden_logs(const char *python)
{
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/golden/*.log", ta_data());
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no golden logs: %s", pattern);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *name = strrchr(g.gl_pathv[i], '/') + 1;
        char rel[PATH_MAX], expected[PATH_MAX];
        snprintf(rel, sizeof rel, "golden/%s", name);
        snprintf(expected, sizeof expected, "%.*s.txt", (int)(strlen(name) - 4), name);
        ta_expect_output(python, (const char *const[]){rel, NULL}, expected);
    }
    size_t n = g.gl_pathc;
    globfree(&g);
    return n;
}

static void ta_expect_all_outputs(const char *python)
{
    cr_expect_geq(ta_expect_golden_logs(python), 7, "fewer golden logs than shared/golden has");
    ta_expect_output(python, (const char *const[]){"golden", NULL}, "golden-dir.txt");
    ta_expect_output(python, (const char *const[]){"prev_jump.log", NULL}, "prev_jump.txt");
    ta_expect_output(python, (const char *const[]){"--all", "-n", "3", "prev_jump.log", NULL},
                     "prev_jump-all-n3.txt");
}

/* ---- golden files -------------------------------------------------------- */

Test(analysis, golden_logs)
{
    ta_expect_golden_logs(TA_SYSTEM_PYTHON);
}

Test(analysis, golden_folder)
{
    ta_expect_output(TA_SYSTEM_PYTHON, (const char *const[]){"golden", NULL}, "golden-dir.txt");
}

Test(analysis, jump_after_a_prev_line)
{
    ta_expect_output(TA_SYSTEM_PYTHON, (const char *const[]){"prev_jump.log", NULL},
                     "prev_jump.txt");
    ta_expect_output(TA_SYSTEM_PYTHON,
                     (const char *const[]){"--all", "-n", "3", "prev_jump.log", NULL},
                     "prev_jump-all-n3.txt");
    /* Whatever the layout around it, the event before each jump is named. */
    struct sup_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, NULL, (const char *const[]){"prev_jump.log", NULL});
    sup_assert_exit(&r, 0);
    cr_expect_not_null(strstr(r.out, "after C_RETURN /srv/app/my records/reader.py:22 read_block "
                                     "(event 41)\n"),
                       "%s", r.out);
    /* Long file name with spaces and digits in it; MSG line between PREV and NEXT. */
    cr_expect_not_null(strstr(r.out, "eighty characters/step two.py:12346 append\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "after RETURN /data/run 12 of 30/"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "step two.py:12345 a_function_name_longer_than_32_characters "
                                     "(event 99)\n"),
                       "%s", r.out);
    sup_free(&r);
}

Test(analysis, older_python, .timeout = 120)
{
    /* The oldest supported interpreter, if pyenv has one: `pyenv root`, else
     * $PYENV_ROOT, else ~/.pyenv. */
    char root[PATH_MAX] = "";
    struct sup_result r;
    const char *argv[] = {"sh", "-c", "command -v pyenv >/dev/null 2>&1 && pyenv root", NULL};
    sup_run(&r, NULL, argv, NULL);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && r.out_len > 1)
        snprintf(root, sizeof root, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    sup_free(&r);
    if (root[0] == '\0' && getenv("PYENV_ROOT") != NULL)
        snprintf(root, sizeof root, "%s", getenv("PYENV_ROOT"));
    if (root[0] == '\0' && getenv("HOME") != NULL)
        snprintf(root, sizeof root, "%s/.pyenv", getenv("HOME"));

    char pattern[PATH_MAX + 64];
    snprintf(pattern, sizeof pattern, "%s/versions/3.8.*/bin/python3.8", root);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        cr_skip_test("no Python 3.8 found (looked for %s)", pattern);
    char python[PATH_MAX];
    snprintf(python, sizeof python, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    cr_log_info("older_python: %s", python);
    ta_expect_all_outputs(python);
}

Test(analysis, runs_through_its_shebang)
{
    cr_assert(access(ta_script(), X_OK) == 0, "%s is not executable", ta_script());
    const char *argv[] = {ta_script(), "--version", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "pymemtrace-top 0.1.0\n");
    sup_free(&r);
}

/* ---- errors -------------------------------------------------------------- */

static void ta_expect_error(const char *cwd, const char *const args[], const char *needle)
{
    struct sup_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, cwd, args);
    sup_assert_exit(&r, 2);
    cr_expect_not_null(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    sup_free(&r);
}

Test(analysis, missing_file)
{
    ta_expect_error(NULL, (const char *const[]){"no-such.log", NULL},
                    "pymemtrace-top: no-such.log: no such file or folder");
}

Test(analysis, not_a_log)
{
    char *dir = sup_tmpdir("analysis");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/notes.log", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("Meeting notes\nSOF is not at the top here\n", f);
    fclose(f);
    ta_expect_error(dir, (const char *const[]){"notes.log", NULL},
                    "pymemtrace-top: notes.log: not a pymemtrace log");
    /* The same file found through its folder. */
    ta_expect_error(dir, (const char *const[]){".", NULL}, "notes.log: not a pymemtrace log");
    snprintf(path, sizeof path, "%s/empty.log", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    ta_expect_error(dir, (const char *const[]){"empty.log", NULL}, "empty.log: not a pymemtrace log");
    sup_done(dir);
}

Test(analysis, folder_without_logs)
{
    char *dir = sup_tmpdir("analysis");
    ta_expect_error(dir, (const char *const[]){".", NULL}, "no *.log files");
    sup_done(dir);
}

Test(analysis, good_and_bad_arguments)
{
    /* The good log is still reported; the exit status says something failed. */
    struct sup_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, NULL, (const char *const[]){"prev_jump.log", "no-such.log", NULL});
    sup_assert_exit(&r, 2);
    cr_expect(strncmp(r.out, "==> prev_jump.log <==\n", 22) == 0, "stdout: %s", r.out);
    cr_expect_not_null(strstr(r.err, "no-such.log"), "stderr: %s", r.err);
    sup_free(&r);

    ta_expect_error(NULL, (const char *const[]){"-n", "x", "prev_jump.log", NULL}, "-n");
    ta_expect_error(NULL, (const char *const[]){NULL}, "usage:");
}

/* ---- a log the agent wrote (needs the built agent) ----------------------- */

Test(analysis, log_written_by_the_agent, .timeout = 120)
{
    const char *agent = sup_agent();
    char *dir = sup_tmpdir("analysis");
    char preload[PATH_MAX + 16], log_dir[PATH_MAX + 32];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", agent);
    snprintf(log_dir, sizeof log_dir, "PYMEMTRACE_LOG_DIR=%s", dir);
    const char *const env[] = {preload, "PYMEMTRACE=profile", log_dir, "PYMEMTRACE_QUIET=1", NULL};
    const char *argv[] = {TA_SYSTEM_PYTHON, "-c",
                          "def grow():\n    return bytearray(40 * 1024 * 1024)\n"
                          "x = grow()\nprint(len(x))\n",
                          NULL};
    struct sup_result r;
    sup_run(&r, dir, argv, env);
    sup_assert_exit(&r, 0);
    sup_free(&r);

    ta_top(&r, TA_SYSTEM_PYTHON, dir, (const char *const[]){".", NULL});
    sup_assert_exit(&r, 0);
    cr_expect_not_null(strstr(r.out, "kind:     Profile (from the name: log 0 of pid "), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "largest RSS increases (NEXT lines):\n"), "%s", r.out);
    cr_expect_null(strstr(r.out, "could not be read"), "%s", r.out);
    cr_expect_null(strstr(r.out, "no EOF line"), "%s", r.out);
    sup_free(&r);
    sup_done(dir);
}
