/* test_launcher: scripts/pymemtrace-run, as a user calls it.
 *
 * Each test runs the launcher as a child process (fork + execvpe, stdout and
 * stderr captured into files) with a scrubbed environment: no inherited
 * PYMEMTRACE* or LD_PRELOAD, LC_ALL=C. The flag and environment tests need
 * only a file to preload (PMT_AGENT, given with --library); the last ones run
 * a real Python under the built agent.
 *
 * The small process runner is local to this file on purpose: the scripts
 * tests must not depend on the e2e harness, which changes with the agent. */
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

struct lt_result {
    int status; /* as waitpid gives it */
    pid_t pid;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
};

static char *lt_slurp(const char *path, size_t *len)
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
static int lt_named_in(const char *const *list, const char *entry)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strncmp(list[i], entry, n) == 0 && (list[i][n] == '=' || list[i][n] == '\0'))
            return 1;
    return 0;
}

/* environ less PYMEMTRACE*, LD_PRELOAD and LC_ALL, plus LC_ALL=C, then the
 * overrides: "NAME=value" sets, a bare "NAME" removes. */
static char **lt_env(const char *const *overrides)
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
            || strncmp(e, "LC_ALL=", 7) == 0 || lt_named_in(overrides, e))
            continue;
        env[k++] = (char *)e;
    }
    if (!lt_named_in(overrides, "LC_ALL"))
        env[k++] = (char *)"LC_ALL=C";
    for (size_t j = 0; j < m; j++)
        if (strchr(overrides[j], '=') != NULL)
            env[k++] = (char *)overrides[j];
    env[k] = NULL;
    return env;
}

/* Runs argv (argv[0] looked up in PATH unless it has a '/') in cwd (NULL: ours),
 * stdin from /dev/null, and waits for it. */
static void lt_run(struct lt_result *r, const char *cwd, const char *const argv[],
                   const char *const overrides[])
{
    char dir[] = "/tmp/pmt-launcher-run-XXXXXX";
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    char **env = lt_env(overrides);
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
        dprintf(2, "lt_run: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    free(env);
    r->status = status;
    r->pid = pid;
    r->out = lt_slurp(out_path, &r->out_len);
    r->err = lt_slurp(err_path, &r->err_len);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
}

static void lt_free(struct lt_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static const char *lt_status_text(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "wait status %#x", (unsigned)status);
    return buf;
}

#define lt_assert_exit(r, want)                                                               \
    do {                                                                                      \
        char st_[64];                                                                         \
        cr_assert(WIFEXITED((r)->status) && WEXITSTATUS((r)->status) == (want),              \
                  "%s, expected exit status %d\nstdout: %s\nstderr: %s",                      \
                  lt_status_text((r)->status, st_, sizeof st_), (want), (r)->out, (r)->err); \
    } while (0)

/* ---- fixtures ------------------------------------------------------------ */

static const char *lt_need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && v[0] != '\0', "%s is not set (meson test sets it; see tests/meson.build)",
              name);
    return v;
}

static char lt_launcher_path[PATH_MAX];

static const char *lt_launcher(void)
{
    snprintf(lt_launcher_path, sizeof lt_launcher_path, "%s/scripts/pymemtrace-run",
             lt_need_env("PMT_SOURCE_ROOT"));
    cr_assert(access(lt_launcher_path, X_OK) == 0, "%s is missing or not executable",
              lt_launcher_path);
    return lt_launcher_path;
}

static const char *lt_agent(void)
{
    const char *agent = lt_need_env("PMT_AGENT");
    cr_assert(access(agent, R_OK) == 0,
              "PMT_AGENT %s does not exist: build the agent first (ninja -C build)", agent);
    return agent;
}

/* The agent's path as the launcher puts it in LD_PRELOAD: folder resolved. */
static void lt_agent_resolved(char *out, size_t cap)
{
    const char *agent = lt_agent();
    const char *slash = strrchr(agent, '/');
    cr_assert_not_null(slash, "PMT_AGENT must be a path: %s", agent);
    char dir[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - agent), agent);
    cr_assert_not_null(realpath(dir[0] ? dir : "/", real), "realpath %s: %s", dir, strerror(errno));
    snprintf(out, cap, "%s%s", strcmp(real, "/") == 0 ? "" : real, slash);
}

static char *lt_tmpdir(void)
{
    char tmpl[] = "/tmp/pmt-launcher-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    char real[PATH_MAX];
    cr_assert_not_null(realpath(tmpl, real));
    char *dir = strdup(real);
    cr_assert_not_null(dir);
    return dir;
}

static int lt_unlink_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes a test's folder once it passed (a failed test leaves it to look at). */
static void lt_done(char *dir)
{
    nftw(dir, lt_unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static int lt_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void lt_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

static void lt_mkdir(const char *path)
{
    cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
}

/* argv = launcher, args..., then (if marker) "touch", marker. */
#define LT_MAXARGS 40

static void lt_build_argv(const char *argv[], const char *first, const char *const args[],
                          const char *marker)
{
    size_t k = 0;
    argv[k++] = first;
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(k < LT_MAXARGS - 3);
        argv[k++] = args[i];
    }
    if (marker != NULL) {
        argv[k++] = "touch";
        argv[k++] = marker;
    }
    argv[k] = NULL;
}

/* A usage mistake: exit 2, "pymemtrace-run: <what>" then the usage on stderr,
 * nothing on stdout, and the command (touch MARKER) never ran. */
static void lt_expect_usage_error(const char *const args[], int with_command, const char *needle)
{
    char *dir = lt_tmpdir();
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    const char *argv[LT_MAXARGS];
    lt_build_argv(argv, lt_launcher(), args, with_command ? marker : NULL);
    struct lt_result r;
    lt_run(&r, dir, argv, NULL);
    lt_assert_exit(&r, 2);
    cr_expect_eq(r.out_len, 0, "stdout should be empty, got: %s", r.out);
    cr_expect(strncmp(r.err, "pymemtrace-run: ", 16) == 0, "stderr should start with the error: %s",
              r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert_not_null(nl, "stderr: %s", r.err);
    cr_expect(strstr(nl + 1, "Usage: pymemtrace-run") == nl + 1,
              "the usage should follow the one-line error: %s", r.err);
    char first_line[1024];
    snprintf(first_line, sizeof first_line, "%.*s", (int)(nl - r.err), r.err);
    cr_expect_not_null(strstr(first_line, needle), "the error should mention '%s': %s", needle,
                       first_line);
    cr_expect(!lt_exists(marker), "the command ran although the options were bad");
    lt_free(&r);
    lt_done(dir);
}

/* ---- bad command lines --------------------------------------------------- */

Test(launcher, unknown_option_is_refused)
{
    lt_expect_usage_error((const char *const[]){"--bogus", "--", NULL}, 1, "--bogus");
    lt_expect_usage_error((const char *const[]){"--profile", "-x", NULL}, 1, "-x");
    lt_expect_usage_error((const char *const[]){"--bogus=1", NULL}, 1, "--bogus");
}

Test(launcher, flag_given_a_value_is_refused)
{
    lt_expect_usage_error((const char *const[]){"--quiet=1", NULL}, 1, "--quiet");
    lt_expect_usage_error((const char *const[]){"--profile=yes", NULL}, 1, "--profile");
}

Test(launcher, missing_value_is_refused)
{
    lt_expect_usage_error((const char *const[]){"--log-dir", NULL}, 0, "--log-dir");
    lt_expect_usage_error((const char *const[]){"--message", NULL}, 0, "--message");
    lt_expect_usage_error((const char *const[]){"--d-rss-trigger", NULL}, 0, "--d-rss-trigger");
    /* "--" ends the options: it is never taken for a folder. */
    lt_expect_usage_error((const char *const[]){"--log-dir", "--", NULL}, 1, "--log-dir");
    lt_expect_usage_error((const char *const[]){"--log-dir=", NULL}, 1, "--log-dir");
    lt_expect_usage_error((const char *const[]){"--library=", NULL}, 1, "--library");
}

Test(launcher, bad_trigger_is_refused)
{
    static const char *const bad[] = {"abc", "1.5", "-2", "", "0K", "10k", "1X", "+5",
                                      "99999999999999999", "8388609G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--d-rss-trigger=%s", bad[i]);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        lt_expect_usage_error((const char *const[]){opt, "--", NULL}, 1, quoted);
        lt_expect_usage_error((const char *const[]){"--d-rss-trigger", bad[i], NULL}, 1, quoted);
    }
}

Test(launcher, bad_log_file_message_function_are_refused)
{
    lt_expect_usage_error((const char *const[]){"--log-file", "run_%q.log", NULL}, 1, "--log-file");
    /* Two modes, one file: the agent would refuse it, so the launcher does first. */
    lt_expect_usage_error((const char *const[]){"--profile", "--trace", "--log-file", "run.log", NULL},
                          1, "%m");
    lt_expect_usage_error((const char *const[]){"--message", "two\nlines", NULL}, 1, "--message");
    lt_expect_usage_error((const char *const[]){"--function", "a, b", NULL}, 1, "--function");
}

Test(launcher, no_command_is_refused)
{
    lt_expect_usage_error((const char *const[]){NULL}, 0, "no command");
    lt_expect_usage_error((const char *const[]){"--profile", NULL}, 0, "no command");
    lt_expect_usage_error((const char *const[]){"--trace", "--", NULL}, 0, "no command");
}

/* ---- help and version ---------------------------------------------------- */

Test(launcher, help_documents_every_flag)
{
    static const char *const words[] = {
        "Usage: pymemtrace-run", "--profile", "--trace", "--d-rss-trigger", "--log-dir",
        "--log-file", "--message", "--function", "--quiet", "--library", "--help", "--version",
        "PYMEMTRACE=profile", "PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER", "PYMEMTRACE_LOG_DIR",
        "PYMEMTRACE_LOG_FILE", "PYMEMTRACE_MESSAGE", "PYMEMTRACE_FUNCTION", "PYMEMTRACE_QUIET=1",
        "LD_PRELOAD",
    };
    const char *opts[] = {"--help", "-h"};
    for (size_t o = 0; o < 2; o++) {
        const char *argv[] = {lt_launcher(), "--profile", opts[o], "--bogus-after-help", NULL};
        struct lt_result r;
        lt_run(&r, NULL, argv, NULL);
        lt_assert_exit(&r, 0);
        cr_expect_eq(r.err_len, 0, "stderr: %s", r.err);
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            cr_expect_not_null(strstr(r.out, words[i]), "%s: help does not mention %s", opts[o],
                               words[i]);
        lt_free(&r);
    }
}

Test(launcher, version)
{
    const char *argv[] = {lt_launcher(), "--version", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "pymemtrace-run 0.1.0\n");
    cr_expect_eq(r.err_len, 0, "stderr: %s", r.err);
    lt_free(&r);
}

/* ---- what the program is given ------------------------------------------- */

/* Runs the launcher (under shell, or directly when NULL) with args, then
 * sh -c script; returns the program's stdout. */
static char *lt_capture(const char *shell, const char *cwd, const char *const args[],
                        const char *script, const char *const overrides[], struct lt_result *r)
{
    const char *argv[LT_MAXARGS];
    size_t k = 0;
    if (shell != NULL)
        argv[k++] = shell;
    argv[k++] = lt_launcher();
    for (size_t i = 0; args[i] != NULL; i++)
        argv[k++] = args[i];
    argv[k++] = "sh";
    argv[k++] = "-c";
    argv[k++] = script;
    argv[k] = NULL;
    lt_run(r, cwd, argv, overrides);
    lt_assert_exit(r, 0);
    return r->out;
}

Test(launcher, good_trigger_values_are_passed_on)
{
    static const char *const good[] = {"-1", "0", "4096", "10K", "2M", "1G", "007", "8388608G"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        for (int eq = 0; eq < 2; eq++) {
            char opt[64];
            snprintf(opt, sizeof opt, "--d-rss-trigger=%s", good[i]);
            struct lt_result r;
            const char *const args_eq[] = {"--quiet", "--library", lt_agent(), opt, "--", NULL};
            const char *const args_sp[] = {"--quiet", "--library", lt_agent(), "--d-rss-trigger",
                                           good[i], NULL};
            lt_capture(NULL, NULL, eq ? args_eq : args_sp, "printf %s \"$PYMEMTRACE_D_RSS_TRIGGER\"",
                       NULL, &r);
            cr_expect_str_eq(r.out, good[i]);
            lt_free(&r);
        }
    }
}

Test(launcher, ld_preload_puts_agent_first_and_keeps_the_rest)
{
    char agent[PATH_MAX], want[PATH_MAX + 64], self_twice[PATH_MAX + 64];
    lt_agent_resolved(agent, sizeof agent);
    const char *const args[] = {"--quiet", "--library", lt_agent(), NULL};
    const char *script = "printf %s \"$LD_PRELOAD\"";
    struct lt_result r;

    /* Nothing before: the agent alone. */
    lt_capture(NULL, NULL, args, script, NULL, &r);
    cr_expect_str_eq(r.out, agent);
    lt_free(&r);

    /* An existing entry is kept, after the agent. */
    lt_capture(NULL, NULL, args, script, (const char *const[]){"LD_PRELOAD=libm.so.6", NULL}, &r);
    snprintf(want, sizeof want, "%s:libm.so.6", agent);
    cr_expect_str_eq(r.out, want);
    lt_free(&r);

    /* Already there (a launcher run from a launched program): never twice. */
    snprintf(self_twice, sizeof self_twice, "LD_PRELOAD=libm.so.6:%s", agent);
    lt_capture(NULL, NULL, args, script, (const char *const[]){self_twice, NULL}, &r);
    cr_expect_str_eq(r.out, want);
    lt_free(&r);
}

/* The launcher is POSIX sh: dash (Debian's sh, via the #! line) and bash must
 * give the program the same environment. */
Test(launcher, exports_the_settings)
{
    static const char *const shells[] = {NULL, "bash", "dash"};
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    for (size_t s = 0; s < sizeof shells / sizeof shells[0]; s++) {
        char *dir = lt_tmpdir();
        const char *const args[] = {"--trace", "--profile", "--d-rss-trigger", "10K",
                                    "--log-dir", "sub/logs", "--log-file", "run_%p_%m.log",
                                    "--message", "hello world", "--function", "mod:main",
                                    "--quiet", "--library", lt_agent(), "--", NULL};
        struct lt_result r;
        lt_capture(shells[s], dir, args, script, NULL, &r);
        char want[4 * PATH_MAX];
        snprintf(want, sizeof want,
                 "PYMEMTRACE=profile,trace\n"
                 "PYMEMTRACE_D_RSS_TRIGGER=10K\n"
                 "PYMEMTRACE_FUNCTION=mod:main\n"
                 "PYMEMTRACE_LOG_DIR=%s/sub/logs\n"
                 "PYMEMTRACE_LOG_FILE=run_%%p_%%m.log\n"
                 "PYMEMTRACE_MESSAGE=hello world\n"
                 "PYMEMTRACE_QUIET=1\n",
                 dir);
        cr_expect_str_eq(r.out, want, "shell %s", shells[s] ? shells[s] : "(#! line)");
        char logs[PATH_MAX];
        snprintf(logs, sizeof logs, "%s/sub/logs", dir);
        cr_expect(lt_exists(logs), "the log folder %s was not created", logs);
        lt_free(&r);
        lt_done(dir);
    }
}

Test(launcher, defaults_and_equals_forms)
{
    char *dir = lt_tmpdir();
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    char want[2 * PATH_MAX], library_opt[PATH_MAX + 16];
    struct lt_result r;

    /* No mode flag: profile; no folder: the current one, absolute. */
    lt_capture(NULL, dir, (const char *const[]){"--library", lt_agent(), NULL}, script, NULL, &r);
    snprintf(want, sizeof want, "PYMEMTRACE=profile\nPYMEMTRACE_LOG_DIR=%s\n", dir);
    cr_expect_str_eq(r.out, want);
    lt_free(&r);

    /* --option=VALUE, split at the first '=' only. */
    snprintf(library_opt, sizeof library_opt, "--library=%s", lt_agent());
    lt_capture(NULL, dir,
               (const char *const[]){"--trace", "--log-dir=logs", "--message=a=b",
                                     "--d-rss-trigger=2M", library_opt, "--quiet", NULL},
               script, NULL, &r);
    snprintf(want, sizeof want,
             "PYMEMTRACE=trace\nPYMEMTRACE_D_RSS_TRIGGER=2M\nPYMEMTRACE_LOG_DIR=%s/logs\n"
             "PYMEMTRACE_MESSAGE=a=b\nPYMEMTRACE_QUIET=1\n",
             dir);
    cr_expect_str_eq(r.out, want);
    lt_free(&r);

    /* The first argument not starting with '-' ends the options: later ones are the program's. */
    const char *argv[] = {lt_launcher(), "--quiet", "--library", lt_agent(), "sh", "-c",
                          "printf '%s|' \"$@\"", "x", "--trace", "--bogus", NULL};
    lt_run(&r, dir, argv, NULL);
    lt_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "--trace|--bogus|");
    lt_free(&r);
    lt_done(dir);
}

Test(launcher, says_where_the_logs_go)
{
    char *dir = lt_tmpdir();
    char want[2 * PATH_MAX];
    struct lt_result r;
    const char *argv1[] = {lt_launcher(), "--library", lt_agent(), "--log-dir", "out", "true", NULL};
    lt_run(&r, dir, argv1, NULL);
    lt_assert_exit(&r, 0);
    snprintf(want, sizeof want, "pymemtrace-run: profile log(s) will be written to %s/out\n", dir);
    cr_expect(strncmp(r.err, want, strlen(want)) == 0, "stderr: %s\nwanted first: %s", r.err, want);
    lt_free(&r);

    const char *argv2[] = {lt_launcher(), "--library", lt_agent(), "--trace", "--profile",
                           "--log-file", "run_%m.log", "true", NULL};
    lt_run(&r, dir, argv2, NULL);
    lt_assert_exit(&r, 0);
    snprintf(want, sizeof want,
             "pymemtrace-run: profile and trace log(s) will be written to %s/run_%%m.log\n", dir);
    cr_expect(strncmp(r.err, want, strlen(want)) == 0, "stderr: %s\nwanted first: %s", r.err, want);
    lt_free(&r);

    const char *argv3[] = {lt_launcher(), "--library", lt_agent(), "--quiet", "true", NULL};
    lt_run(&r, dir, argv3, NULL);
    lt_assert_exit(&r, 0);
    cr_expect_eq(r.err_len, 0, "--quiet, yet stderr: %s", r.err);
    lt_free(&r);
    lt_done(dir);
}

/* ---- the program's own exit ---------------------------------------------- */

Test(launcher, exit_status_and_signals_are_the_programs)
{
    const char *lib = lt_agent();
    struct lt_result r;
    const char *argv1[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "exit 7", NULL};
    lt_run(&r, NULL, argv1, NULL);
    lt_assert_exit(&r, 7);
    lt_free(&r);

    /* exec, not a child: the signal reaches our waitpid as a signal. */
    const char *argv2[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "kill -TERM $$", NULL};
    lt_run(&r, NULL, argv2, NULL);
    char st[64];
    cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "%s, expected SIGTERM",
              lt_status_text(r.status, st, sizeof st));
    lt_free(&r);

    const char *argv3[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "echo $$", NULL};
    lt_run(&r, NULL, argv3, NULL);
    lt_assert_exit(&r, 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)r.pid);
    cr_expect_str_eq(r.out, pid, "the program should have the launcher's pid (exec)");
    lt_free(&r);
}

Test(launcher, command_not_found)
{
    const char *argv[] = {lt_launcher(), "--quiet", "--library", lt_agent(),
                          "no-such-command-pmt", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 127);
    cr_expect_not_null(strstr(r.err, "pymemtrace-run: command not found: no-such-command-pmt"),
                       "stderr: %s", r.err);
    lt_free(&r);
}

/* ---- setup failures: exit 2, the program not run ------------------------- */

static void lt_expect_setup_error(const char *dir, const char *const args[], const char *needle)
{
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    const char *argv[LT_MAXARGS];
    lt_build_argv(argv, lt_launcher(), args, marker);
    struct lt_result r;
    lt_run(&r, dir, argv, NULL);
    lt_assert_exit(&r, 2);
    cr_expect(strncmp(r.err, "pymemtrace-run: ", 16) == 0, "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    cr_expect(!lt_exists(marker), "the command ran although the setup failed");
    lt_free(&r);
}

Test(launcher, log_dir_that_cannot_be_created)
{
    char *dir = lt_tmpdir();
    char file[PATH_MAX], bad[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/a-file", dir);
    lt_write_file(file, "x\n", 0644);
    snprintf(bad, sizeof bad, "%s/sub", file);
    lt_expect_setup_error(dir, (const char *const[]){"--library", lt_agent(), "--log-dir", bad, NULL},
                          "cannot create the log folder");
    lt_done(dir);
}

Test(launcher, library_that_does_not_exist)
{
    char *dir = lt_tmpdir();
    lt_expect_setup_error(dir, (const char *const[]){"--library", "/nonexistent/libpymemtrace.so", NULL},
                          "/nonexistent/libpymemtrace.so");
    lt_done(dir);
}

/* ---- finding the library ------------------------------------------------- */

/* Copies the source launcher to path; with libdir, as configure_file would. */
static void lt_install_launcher(const char *path, const char *libdir)
{
    char *text = lt_slurp(lt_launcher(), NULL);
    static const char placeholder[] = "@PYMEMTRACE_LIBDIR@";
    char *at = strstr(text, placeholder);
    cr_assert_not_null(at, "the launcher has no libdir placeholder");
    cr_assert_null(strstr(at + 1, placeholder),
                   "the placeholder appears twice: configure_file would replace both");
    char *out = malloc(strlen(text) + PATH_MAX);
    cr_assert_not_null(out);
    if (libdir != NULL)
        sprintf(out, "%.*s%s%s", (int)(at - text), text, libdir, at + strlen(placeholder));
    else
        strcpy(out, text);
    lt_write_file(path, out, 0755);
    free(out);
    free(text);
}

/* Runs launcher (no --library) and returns LD_PRELOAD as the program sees it. */
static char *lt_preload_of(const char *launcher)
{
    const char *argv[] = {launcher, "--quiet", "sh", "-c", "printf %s \"$LD_PRELOAD\"", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 0);
    free(r.err);
    return r.out;
}

Test(launcher, finds_the_library_where_it_is_built_or_installed)
{
    /* Empty stand-ins: ld.so complains and goes on, and only LD_PRELOAD is read. */
    char *dir = lt_tmpdir();
    char p[PATH_MAX], q[PATH_MAX], want[PATH_MAX];
    char *got;

    /* Source checkout: scripts/ beside build/. */
    snprintf(p, sizeof p, "%s/src", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/src/scripts", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/src/build", dir);
    lt_mkdir(p);
    snprintf(want, sizeof want, "%s/src/build/libpymemtrace.so", dir);
    lt_write_file(want, "", 0644);
    snprintf(p, sizeof p, "%s/src/scripts/pymemtrace-run", dir);
    lt_install_launcher(p, NULL);
    got = lt_preload_of(p);
    cr_expect_str_eq(got, want, "source layout");
    free(got);

    /* The build folder's configured copy sits beside the library, and wins
     * over the configured libdir (which may hold an older install). */
    snprintf(p, sizeof p, "%s/build", dir);
    lt_mkdir(p);
    snprintf(want, sizeof want, "%s/build/libpymemtrace.so", dir);
    lt_write_file(want, "", 0644);
    snprintf(q, sizeof q, "%s/libdir", dir);
    lt_mkdir(q);
    snprintf(q, sizeof q, "%s/libdir/libpymemtrace.so", dir);
    lt_write_file(q, "", 0644);
    snprintf(q, sizeof q, "%s/libdir", dir);
    snprintf(p, sizeof p, "%s/build/pymemtrace-run", dir);
    lt_install_launcher(p, q);
    got = lt_preload_of(p);
    cr_expect_str_eq(got, want, "build layout");
    free(got);

    /* ...and through a symlink from elsewhere (~/bin/pymemtrace-run). */
    snprintf(q, sizeof q, "%s/home-bin", dir);
    lt_mkdir(q);
    snprintf(q, sizeof q, "%s/home-bin/pymemtrace-run", dir);
    cr_assert_eq(symlink("../build/pymemtrace-run", q), 0, "symlink: %s", strerror(errno));
    got = lt_preload_of(q);
    cr_expect_str_eq(got, want, "through a relative symlink");
    free(got);

    /* Installed: bin/ with the configured libdir. */
    snprintf(p, sizeof p, "%s/bin", dir);
    lt_mkdir(p);
    snprintf(q, sizeof q, "%s/libdir", dir);
    snprintf(p, sizeof p, "%s/bin/pymemtrace-run", dir);
    lt_install_launcher(p, q);
    snprintf(want, sizeof want, "%s/libdir/libpymemtrace.so", dir);
    got = lt_preload_of(p);
    cr_expect_str_eq(got, want, "configured libdir");
    free(got);

    /* A prefix copied elsewhere: bin/ beside lib/x86_64-linux-gnu/. */
    snprintf(p, sizeof p, "%s/prefix", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/prefix/bin", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/prefix/lib", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/prefix/lib/x86_64-linux-gnu", dir);
    lt_mkdir(p);
    snprintf(want, sizeof want, "%s/prefix/lib/x86_64-linux-gnu/libpymemtrace.so", dir);
    lt_write_file(want, "", 0644);
    snprintf(p, sizeof p, "%s/prefix/bin/pymemtrace-run", dir);
    lt_install_launcher(p, "/nonexistent/libdir");
    got = lt_preload_of(p);
    cr_expect_str_eq(got, want, "prefix layout");
    free(got);

    /* Nowhere: exit 2, the program not run. */
    snprintf(p, sizeof p, "%s/nowhere", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/nowhere/bin", dir);
    lt_mkdir(p);
    snprintf(p, sizeof p, "%s/nowhere/bin/pymemtrace-run", dir);
    lt_install_launcher(p, NULL);
    const char *argv[] = {p, "--quiet", "sh", "-c", "echo ran", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 2);
    cr_expect_eq(r.out_len, 0, "stdout: %s", r.out);
    cr_expect_not_null(strstr(r.err, "cannot find the agent"), "stderr: %s", r.err);
    lt_free(&r);
    lt_done(dir);
}

Test(launcher, build_folder_copy_finds_the_built_agent)
{
    char launcher[PATH_MAX], agent[PATH_MAX];
    snprintf(launcher, sizeof launcher, "%s/pymemtrace-run", lt_need_env("PMT_BUILD_ROOT"));
    cr_assert(lt_exists(launcher), "%s does not exist: meson configures it (ninja -C build)",
              launcher);
    lt_agent_resolved(agent, sizeof agent);
    /* Through sh: configure_file may not keep the mode bits on every meson. */
    const char *argv[] = {"sh", launcher, "--quiet", "sh", "-c", "printf %s \"$LD_PRELOAD\"", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, agent);
    lt_free(&r);
}

/* ---- real runs (need the built agent) ------------------------------------ */

static size_t lt_logs(const char *dir, const char *mode_letter, char *first, size_t cap)
{
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/*_%s_*.log", dir, mode_letter);
    glob_t g;
    size_t n = 0;
    if (glob(pattern, 0, NULL, &g) == 0) {
        n = g.gl_pathc;
        snprintf(first, cap, "%s", g.gl_pathv[0]);
        globfree(&g);
    }
    return n;
}

static void lt_expect_log_shape(const char *path)
{
    size_t len;
    char *text = lt_slurp(path, &len);
    cr_expect(strncmp(text, "SOF\n", 4) == 0 || strstr(text, "\nSOF\n") != NULL, "%s: no SOF line",
              path);
    cr_expect(strncmp(text, "HDR: ", 5) == 0 || strstr(text, "\nHDR: ") != NULL,
              "%s: no HDR: line", path);
    cr_expect(len >= 4 && strcmp(text + len - 4, "EOF\n") == 0, "%s does not end with EOF", path);
    free(text);
}

Test(launcher, python_run_writes_a_profile_log, .timeout = 120)
{
    char *dir = lt_tmpdir();
    char logs[PATH_MAX], log[PATH_MAX], want[2 * PATH_MAX];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    const char *argv[] = {lt_launcher(), "--library", lt_agent(), "--log-dir", logs, "--",
                          "/usr/bin/python3", "-c",
                          "x = bytearray(30 * 1024 * 1024)\nprint(len(x))", NULL};
    struct lt_result r;
    lt_run(&r, dir, argv, NULL);
    lt_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "31457280\n");
    snprintf(want, sizeof want, "pymemtrace-run: profile log(s) will be written to %s\n", logs);
    cr_expect(strncmp(r.err, want, strlen(want)) == 0, "stderr: %s", r.err);
    cr_assert_eq(lt_logs(logs, "P", log, sizeof log), 1, "expected one profile log in %s", logs);
    lt_expect_log_shape(log);
    lt_free(&r);
    lt_done(dir);
}

Test(launcher, python_run_with_profile_and_trace, .timeout = 120)
{
    char *dir = lt_tmpdir();
    char log[PATH_MAX];
    const char *argv[] = {lt_launcher(), "--quiet", "--library", lt_agent(), "--profile",
                          "--trace", "--log-dir", dir, "--message", "launcher test",
                          "/usr/bin/python3", "-c", "import sys; sys.exit(3)", NULL};
    struct lt_result r;
    lt_run(&r, NULL, argv, NULL);
    lt_assert_exit(&r, 3);
    cr_expect_eq(r.err_len, 0, "--quiet, yet stderr: %s", r.err);
    cr_assert_eq(lt_logs(dir, "P", log, sizeof log), 1, "expected one profile log in %s", dir);
    lt_expect_log_shape(log);
    char *text = lt_slurp(log, NULL);
    cr_expect(strncmp(text, "launcher test\nSOF\n", 18) == 0, "%s should start with the message",
              log);
    free(text);
    cr_assert_eq(lt_logs(dir, "T", log, sizeof log), 1, "expected one trace log in %s", dir);
    lt_expect_log_shape(log);
    lt_free(&r);
    lt_done(dir);
}
