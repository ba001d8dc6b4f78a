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
 * The process runner is local to this file on purpose (see test_launcher.c). */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- a tiny process runner ----------------------------------------------- */

struct ta_result {
    int status; /* as waitpid gives it */
    pid_t pid;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
};

static char *ta_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (;;) {
        if (cap - n < 2048) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* Is the variable named by entry (up to '=') one of those named in list? */
static int ta_named_in(const char *const *list, const char *entry)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strncmp(list[i], entry, n) == 0 && (list[i][n] == '=' || list[i][n] == '\0'))
            return 1;
    return 0;
}

/* environ less PYMEMTRACE*, LD_PRELOAD and LC_ALL, plus LC_ALL=C, then the
 * overrides: "NAME=value" sets, a bare "NAME" removes. */
static char **ta_env(const char *const *overrides)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (overrides != NULL && overrides[m] != NULL)
        m++;
    char **env = calloc(n + m + 2, sizeof *env);
    cr_assert_not_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "PYMEMTRACE", 10) == 0 || strncmp(e, "LD_PRELOAD=", 11) == 0
            || strncmp(e, "LC_ALL=", 7) == 0 || ta_named_in(overrides, e))
            continue;
        env[k++] = (char *)e;
    }
    if (!ta_named_in(overrides, "LC_ALL"))
        env[k++] = (char *)"LC_ALL=C";
    for (size_t j = 0; j < m; j++)
        if (strchr(overrides[j], '=') != NULL)
            env[k++] = (char *)overrides[j];
    env[k] = NULL;
    return env;
}

/* Runs argv (argv[0] looked up in PATH unless it has a '/') in cwd (NULL: ours),
 * stdin from /dev/null, and waits for it. */
static void ta_run(struct ta_result *r, const char *cwd, const char *const argv[],
                   const char *const overrides[])
{
    char dir[] = "/tmp/pmt-analysis-run-XXXXXX";
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    char **env = ta_env(overrides);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* The program must see default signal handling, whatever the runner set. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(125);
        if (cwd != NULL && chdir(cwd) != 0)
            _exit(125);
        execvpe(argv[0], (char *const *)argv, env);
        dprintf(2, "ta_run: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    free(env);
    r->status = status;
    r->pid = pid;
    r->out = ta_slurp(out_path, &r->out_len);
    r->err = ta_slurp(err_path, &r->err_len);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
}

static void ta_free(struct ta_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static const char *ta_status_text(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "wait status %#x", (unsigned)status);
    return buf;
}

#define ta_assert_exit(r, want)                                                               \
    do {                                                                                      \
        char st_[64];                                                                         \
        cr_assert(WIFEXITED((r)->status) && WEXITSTATUS((r)->status) == (want),              \
                  "%s, expected exit status %d\nstdout: %s\nstderr: %s",                      \
                  ta_status_text((r)->status, st_, sizeof st_), (want), (r)->out, (r)->err); \
    } while (0)

/* ---- fixtures ------------------------------------------------------------ */

#define TA_SYSTEM_PYTHON "/usr/bin/python3"
#define TA_MAXARGS 16

static const char *ta_need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && v[0] != '\0', "%s is not set (meson test sets it; see tests/meson.build)",
              name);
    return v;
}

static char ta_script_path[PATH_MAX];

static const char *ta_script(void)
{
    snprintf(ta_script_path, sizeof ta_script_path, "%s/scripts/pymemtrace-top",
             ta_need_env("PMT_SOURCE_ROOT"));
    cr_assert(access(ta_script_path, R_OK) == 0, "%s is missing", ta_script_path);
    return ta_script_path;
}

static const char *ta_data(void)
{
    return ta_need_env("PMT_TEST_DATA");
}

static int ta_unlink_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static char *ta_tmpdir(void)
{
    char tmpl[] = "/tmp/pmt-analysis-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    char *dir = strdup(tmpl);
    cr_assert_not_null(dir);
    return dir;
}

static void ta_done(char *dir)
{
    nftw(dir, ta_unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* python pymemtrace-top args..., run in tests/data (cwd NULL) or in cwd. */
static void ta_top(struct ta_result *r, const char *python, const char *cwd, const char *const args[])
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
    ta_run(r, cwd != NULL ? cwd : ta_data(), argv, NULL);
}

/* Output of `python pymemtrace-top args` == tests/data/expected/<expected>,
 * byte for byte; on a difference the actual output is kept in /tmp to diff. */
static void ta_expect_output(const char *python, const char *const args[], const char *expected)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/expected/%s", ta_data(), expected);
    size_t want_len;
    char *want = ta_slurp(path, &want_len);
    struct ta_result r;
    ta_top(&r, python, NULL, args);
    ta_assert_exit(&r, 0);
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
    ta_free(&r);
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
    struct ta_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, NULL, (const char *const[]){"prev_jump.log", NULL});
    ta_assert_exit(&r, 0);
    cr_expect_not_null(strstr(r.out, "after C_RETURN /srv/app/my records/reader.py:22 read_block "
                                     "(event 41)\n"),
                       "%s", r.out);
    /* Long file name with spaces and digits in it; MSG line between PREV and NEXT. */
    cr_expect_not_null(strstr(r.out, "eighty characters/step two.py:12346 append\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "after RETURN /data/run 12 of 30/"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "step two.py:12345 a_function_name_longer_than_32_characters "
                                     "(event 99)\n"),
                       "%s", r.out);
    ta_free(&r);
}

Test(analysis, older_python, .timeout = 120)
{
    /* The oldest supported interpreter, if pyenv has one: `pyenv root`, else
     * $PYENV_ROOT, else ~/.pyenv. */
    char root[PATH_MAX] = "";
    struct ta_result r;
    const char *argv[] = {"sh", "-c", "command -v pyenv >/dev/null 2>&1 && pyenv root", NULL};
    ta_run(&r, NULL, argv, NULL);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && r.out_len > 1)
        snprintf(root, sizeof root, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    ta_free(&r);
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
    struct ta_result r;
    ta_run(&r, NULL, argv, NULL);
    ta_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "pymemtrace-top 0.1.0\n");
    ta_free(&r);
}

/* ---- errors -------------------------------------------------------------- */

static void ta_expect_error(const char *cwd, const char *const args[], const char *needle)
{
    struct ta_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, cwd, args);
    ta_assert_exit(&r, 2);
    cr_expect_not_null(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    ta_free(&r);
}

Test(analysis, missing_file)
{
    ta_expect_error(NULL, (const char *const[]){"no-such.log", NULL},
                    "pymemtrace-top: no-such.log: no such file or folder");
}

Test(analysis, not_a_log)
{
    char *dir = ta_tmpdir();
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
    ta_done(dir);
}

Test(analysis, folder_without_logs)
{
    char *dir = ta_tmpdir();
    ta_expect_error(dir, (const char *const[]){".", NULL}, "no *.log files");
    ta_done(dir);
}

Test(analysis, good_and_bad_arguments)
{
    /* The good log is still reported; the exit status says something failed. */
    struct ta_result r;
    ta_top(&r, TA_SYSTEM_PYTHON, NULL, (const char *const[]){"prev_jump.log", "no-such.log", NULL});
    ta_assert_exit(&r, 2);
    cr_expect(strncmp(r.out, "==> prev_jump.log <==\n", 22) == 0, "stdout: %s", r.out);
    cr_expect_not_null(strstr(r.err, "no-such.log"), "stderr: %s", r.err);
    ta_free(&r);

    ta_expect_error(NULL, (const char *const[]){"-n", "x", "prev_jump.log", NULL}, "-n");
    ta_expect_error(NULL, (const char *const[]){NULL}, "usage:");
}

/* ---- a log the agent wrote (needs the built agent) ----------------------- */

Test(analysis, log_written_by_the_agent, .timeout = 120)
{
    const char *agent = ta_need_env("PMT_AGENT");
    cr_assert(access(agent, R_OK) == 0,
              "PMT_AGENT %s does not exist: build the agent first (ninja -C build)", agent);
    char *dir = ta_tmpdir();
    char preload[PATH_MAX + 16], log_dir[PATH_MAX + 32];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", agent);
    snprintf(log_dir, sizeof log_dir, "PYMEMTRACE_LOG_DIR=%s", dir);
    const char *const env[] = {preload, "PYMEMTRACE=profile", log_dir, "PYMEMTRACE_QUIET=1", NULL};
    const char *argv[] = {TA_SYSTEM_PYTHON, "-c",
                          "def grow():\n    return bytearray(40 * 1024 * 1024)\n"
                          "x = grow()\nprint(len(x))\n",
                          NULL};
    struct ta_result r;
    ta_run(&r, dir, argv, env);
    ta_assert_exit(&r, 0);
    ta_free(&r);

    ta_top(&r, TA_SYSTEM_PYTHON, dir, (const char *const[]){".", NULL});
    ta_assert_exit(&r, 0);
    cr_expect_not_null(strstr(r.out, "kind:     Profile (from the name: log 0 of pid "), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "largest RSS increases (NEXT lines):\n"), "%s", r.out);
    cr_expect_null(strstr(r.out, "could not be read"), "%s", r.out);
    cr_expect_null(strstr(r.out, "no EOF line"), "%s", r.out);
    ta_free(&r);
    ta_done(dir);
}
