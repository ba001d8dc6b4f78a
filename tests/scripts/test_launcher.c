/* test_launcher: scripts/pymemtrace-run, as a user calls it.
 *
 * Each test runs the launcher as a child process (fork + execvpe, stdout and
 * stderr captured into files) with a scrubbed environment: no inherited
 * PYMEMTRACE* or LD_PRELOAD, LC_ALL=C. The flag and environment tests need
 * only a file to preload (PMT_AGENT, given with --library); the last ones run
 * a real Python under the built agent.
 *
 * The process runner and file helpers are in support.c, shared with
 * test_analysis.c (and not with the e2e harness, which changes with the agent). */
#include "support.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fixtures ------------------------------------------------------------ */

static char lt_launcher_path[PATH_MAX];

static const char *lt_launcher(void)
{
    snprintf(lt_launcher_path, sizeof lt_launcher_path, "%s/scripts/pymemtrace-run",
             sup_need_env("PMT_SOURCE_ROOT"));
    cr_assert(access(lt_launcher_path, X_OK) == 0, "%s is missing or not executable",
              lt_launcher_path);
    return lt_launcher_path;
}

/* The agent's path as the launcher puts it in LD_PRELOAD: folder resolved. */
static void lt_agent_resolved(char *out, size_t cap)
{
    const char *agent = sup_agent();
    const char *slash = strrchr(agent, '/');
    cr_assert_not_null(slash, "PMT_AGENT must be a path: %s", agent);
    char dir[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - agent), agent);
    cr_assert_not_null(realpath(dir[0] ? dir : "/", real), "realpath %s: %s", dir, strerror(errno));
    snprintf(out, cap, "%s%s", strcmp(real, "/") == 0 ? "" : real, slash);
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
    char *dir = sup_tmpdir("launcher");
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    const char *argv[LT_MAXARGS];
    lt_build_argv(argv, lt_launcher(), args, with_command ? marker : NULL);
    struct sup_result r;
    sup_run(&r, dir, argv, NULL);
    sup_assert_exit(&r, 2);
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
    cr_expect(!sup_exists(marker), "the command ran although the options were bad");
    sup_free(&r);
    sup_done(dir);
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
        "LD_PRELOAD", "--reftrace", "PYMEMTRACE=reftrace", "--include-types",
        "PYMEMTRACE_INCLUDE_TYPES", "--exclude-types", "PYMEMTRACE_EXCLUDE_TYPES",
        "--include-builtins", "PYMEMTRACE_INCLUDE_BUILTINS=1", "--gc-collect-on-exit",
        "PYMEMTRACE_GC_COLLECT_ON_EXIT", "--no-children", "PYMEMTRACE_CHILDREN=0",
        "--native", "PYMEMTRACE_NATIVE_STACK", "--sample", "PYMEMTRACE=sample",
        "--sample-interval", "PYMEMTRACE_SAMPLE_INTERVAL",
    };
    const char *opts[] = {"--help", "-h"};
    for (size_t o = 0; o < 2; o++) {
        const char *argv[] = {lt_launcher(), "--profile", opts[o], "--bogus-after-help", NULL};
        struct sup_result r;
        sup_run(&r, NULL, argv, NULL);
        sup_assert_exit(&r, 0);
        cr_expect_eq(r.err_len, 0, "stderr: %s", r.err);
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            cr_expect_not_null(strstr(r.out, words[i]), "%s: help does not mention %s", opts[o],
                               words[i]);
        sup_free(&r);
    }
}

Test(launcher, version)
{
    const char *argv[] = {lt_launcher(), "--version", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "pymemtrace-run 0.1.0\n");
    cr_expect_eq(r.err_len, 0, "stderr: %s", r.err);
    sup_free(&r);
}

/* ---- what the program is given ------------------------------------------- */

/* Runs the launcher (under shell, or directly when NULL) with args, then
 * sh -c script; returns the program's stdout. */
static char *lt_capture(const char *shell, const char *cwd, const char *const args[],
                        const char *script, const char *const overrides[], struct sup_result *r)
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
    sup_run(r, cwd, argv, overrides);
    sup_assert_exit(r, 0);
    return r->out;
}

Test(launcher, good_trigger_values_are_passed_on)
{
    static const char *const good[] = {"-1", "0", "4096", "10K", "2M", "1G", "007", "8388608G"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        for (int eq = 0; eq < 2; eq++) {
            char opt[64];
            snprintf(opt, sizeof opt, "--d-rss-trigger=%s", good[i]);
            struct sup_result r;
            const char *const args_eq[] = {"--quiet", "--library", sup_agent(), opt, "--", NULL};
            const char *const args_sp[] = {"--quiet", "--library", sup_agent(), "--d-rss-trigger",
                                           good[i], NULL};
            lt_capture(NULL, NULL, eq ? args_eq : args_sp, "printf %s \"$PYMEMTRACE_D_RSS_TRIGGER\"",
                       NULL, &r);
            cr_expect_str_eq(r.out, good[i]);
            sup_free(&r);
        }
    }
}

Test(launcher, ld_preload_puts_agent_first_and_keeps_the_rest)
{
    char agent[PATH_MAX], want[PATH_MAX + 64], self_twice[PATH_MAX + 64];
    lt_agent_resolved(agent, sizeof agent);
    const char *const args[] = {"--quiet", "--library", sup_agent(), NULL};
    const char *script = "printf %s \"$LD_PRELOAD\"";
    struct sup_result r;

    /* Nothing before: the agent alone. */
    lt_capture(NULL, NULL, args, script, NULL, &r);
    cr_expect_str_eq(r.out, agent);
    sup_free(&r);

    /* An existing entry is kept, after the agent. */
    lt_capture(NULL, NULL, args, script, (const char *const[]){"LD_PRELOAD=libm.so.6", NULL}, &r);
    snprintf(want, sizeof want, "%s:libm.so.6", agent);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);

    /* Already there (a launcher run from a launched program): never twice. */
    snprintf(self_twice, sizeof self_twice, "LD_PRELOAD=libm.so.6:%s", agent);
    lt_capture(NULL, NULL, args, script, (const char *const[]){self_twice, NULL}, &r);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);
}

/* The launcher is POSIX sh: dash (Debian's sh, via the #! line) and bash must
 * give the program the same environment. */
Test(launcher, exports_the_settings)
{
    static const char *const shells[] = {NULL, "bash", "dash"};
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    for (size_t s = 0; s < sizeof shells / sizeof shells[0]; s++) {
        char *dir = sup_tmpdir("launcher");
        const char *const args[] = {"--trace", "--profile", "--d-rss-trigger", "10K",
                                    "--log-dir", "sub/logs", "--log-file", "run_%p_%m.log",
                                    "--message", "hello world", "--function", "mod:main",
                                    "--quiet", "--library", sup_agent(), "--", NULL};
        struct sup_result r;
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
        cr_expect(sup_exists(logs), "the log folder %s was not created", logs);
        sup_free(&r);
        sup_done(dir);
    }
}

Test(launcher, exports_the_reftrace_settings)
{
    char *dir = sup_tmpdir("launcher");
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    const char *const args[] = {"--reftrace", "--profile", "--include-types", "LASSection,Curve",
                                "--exclude-types=Curve", "--include-builtins",
                                "--gc-collect-on-exit", "-1", "--no-children", "--native=16",
                                "--library", sup_agent(), "--", NULL};
    struct sup_result r;
    lt_capture(NULL, dir, args, script, NULL, &r);
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want,
             "PYMEMTRACE=profile,reftrace\n"
             "PYMEMTRACE_CHILDREN=0\n"
             "PYMEMTRACE_EXCLUDE_TYPES=Curve\n"
             "PYMEMTRACE_GC_COLLECT_ON_EXIT=-1\n"
             "PYMEMTRACE_INCLUDE_BUILTINS=1\n"
             "PYMEMTRACE_INCLUDE_TYPES=LASSection,Curve\n"
             "PYMEMTRACE_LOG_DIR=%s\n"
             "PYMEMTRACE_NATIVE_STACK=16\n",
             dir);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);
    sup_done(dir);
}

Test(launcher, exports_the_sample_settings)
{
    char *dir = sup_tmpdir("launcher");
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    const char *const args[] = {"--sample", "--trace", "--sample-interval=0.25", "--library",
                                sup_agent(), "--", NULL};
    struct sup_result r;
    lt_capture(NULL, dir, args, script, NULL, &r);
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want,
             "PYMEMTRACE=trace,sample\n"
             "PYMEMTRACE_LOG_DIR=%s\n"
             "PYMEMTRACE_SAMPLE_INTERVAL=0.25\n",
             dir);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);
    sup_done(dir);
    lt_expect_usage_error((const char *const[]){"--sample-interval", "1e-1", NULL}, 1,
                          "--sample-interval");
    lt_expect_usage_error((const char *const[]){"--sample-interval", ".5", NULL}, 1,
                          "--sample-interval");
    lt_expect_usage_error((const char *const[]){"--sample-interval", "0.1234567891", NULL}, 1,
                          "--sample-interval");
}

Test(launcher, bad_reftrace_values)
{
    lt_expect_usage_error((const char *const[]){"--include-types", "a, b", NULL}, 1,
                          "--include-types");
    lt_expect_usage_error((const char *const[]){"--exclude-types", "a,,b", NULL}, 1,
                          "--exclude-types");
    lt_expect_usage_error((const char *const[]){"--gc-collect-on-exit", "3", NULL}, 1,
                          "--gc-collect-on-exit");
    lt_expect_usage_error((const char *const[]){"--native", "0", NULL}, 1, "--native");
    lt_expect_usage_error((const char *const[]){"--native", "65", NULL}, 1, "--native");
    lt_expect_usage_error((const char *const[]){"--native", "08", NULL}, 1, "--native");
    lt_expect_usage_error((const char *const[]){"--include-builtins=1", NULL}, 1,
                          "--include-builtins");
    lt_expect_usage_error((const char *const[]){"--reftrace", "--trace", "--log-file", "run.log",
                                                NULL},
                          1, "%m");
}

Test(launcher, defaults_and_equals_forms)
{
    char *dir = sup_tmpdir("launcher");
    const char *script = "env | grep '^PYMEMTRACE' | LC_ALL=C sort";
    char want[2 * PATH_MAX], library_opt[PATH_MAX + 16];
    struct sup_result r;

    /* No mode flag: profile; no folder: the current one, absolute. */
    lt_capture(NULL, dir, (const char *const[]){"--library", sup_agent(), NULL}, script, NULL, &r);
    snprintf(want, sizeof want, "PYMEMTRACE=profile\nPYMEMTRACE_LOG_DIR=%s\n", dir);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);

    /* --option=VALUE, split at the first '=' only. */
    snprintf(library_opt, sizeof library_opt, "--library=%s", sup_agent());
    lt_capture(NULL, dir,
               (const char *const[]){"--trace", "--log-dir=logs", "--message=a=b",
                                     "--d-rss-trigger=2M", library_opt, "--quiet", NULL},
               script, NULL, &r);
    snprintf(want, sizeof want,
             "PYMEMTRACE=trace\nPYMEMTRACE_D_RSS_TRIGGER=2M\nPYMEMTRACE_LOG_DIR=%s/logs\n"
             "PYMEMTRACE_MESSAGE=a=b\nPYMEMTRACE_QUIET=1\n",
             dir);
    cr_expect_str_eq(r.out, want);
    sup_free(&r);

    /* The first argument not starting with '-' ends the options: later ones are the program's. */
    const char *argv[] = {lt_launcher(), "--quiet", "--library", sup_agent(), "sh", "-c",
                          "printf '%s|' \"$@\"", "x", "--trace", "--bogus", NULL};
    sup_run(&r, dir, argv, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "--trace|--bogus|");
    sup_free(&r);
    sup_done(dir);
}

/* The launcher promises no log: the agent says where each one goes as it
 * opens it, or why there is none (a command that runs no Python here). */
Test(launcher, promises_no_log_the_agent_does_not_write)
{
    char *dir = sup_tmpdir("launcher");
    struct sup_result r;
    const char *argv1[] = {lt_launcher(), "--library", sup_agent(), "--log-dir", "out", "true", NULL};
    sup_run(&r, dir, argv1, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_eq(r.err_len, 0, "no Python ran, yet stderr: %s", r.err);
    sup_free(&r);

    const char *argv2[] = {lt_launcher(), "--library", sup_agent(), "--trace", "--profile",
                           "--log-file", "run_%m.log", "true", NULL};
    sup_run(&r, dir, argv2, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_eq(r.err_len, 0, "no Python ran, yet stderr: %s", r.err);
    sup_free(&r);
    sup_done(dir);
}

Test(launcher, exit_status_and_signals_are_the_programs)
{
    const char *lib = sup_agent();
    struct sup_result r;
    const char *argv1[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "exit 7", NULL};
    sup_run(&r, NULL, argv1, NULL);
    sup_assert_exit(&r, 7);
    sup_free(&r);

    /* exec, not a child: the signal reaches our waitpid as a signal. */
    const char *argv2[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "kill -TERM $$", NULL};
    sup_run(&r, NULL, argv2, NULL);
    char st[64];
    cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "%s, expected SIGTERM",
              sup_status_text(r.status, st, sizeof st));
    sup_free(&r);

    const char *argv3[] = {lt_launcher(), "--quiet", "--library", lib, "sh", "-c", "echo $$", NULL};
    sup_run(&r, NULL, argv3, NULL);
    sup_assert_exit(&r, 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)r.pid);
    cr_expect_str_eq(r.out, pid, "the program should have the launcher's pid (exec)");
    sup_free(&r);
}

Test(launcher, command_not_found)
{
    const char *argv[] = {lt_launcher(), "--quiet", "--library", sup_agent(),
                          "no-such-command-pmt", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 127);
    cr_expect_not_null(strstr(r.err, "pymemtrace-run: command not found: no-such-command-pmt"),
                       "stderr: %s", r.err);
    sup_free(&r);
}

/* ---- setup failures: exit 2, the program not run ------------------------- */

static void lt_expect_setup_error(const char *dir, const char *const args[], const char *needle)
{
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    const char *argv[LT_MAXARGS];
    lt_build_argv(argv, lt_launcher(), args, marker);
    struct sup_result r;
    sup_run(&r, dir, argv, NULL);
    sup_assert_exit(&r, 2);
    cr_expect(strncmp(r.err, "pymemtrace-run: ", 16) == 0, "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    cr_expect(!sup_exists(marker), "the command ran although the setup failed");
    sup_free(&r);
}

Test(launcher, log_dir_that_cannot_be_created)
{
    char *dir = sup_tmpdir("launcher");
    char file[PATH_MAX], bad[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/a-file", dir);
    sup_write_file(file, "x\n", 0644);
    snprintf(bad, sizeof bad, "%s/sub", file);
    lt_expect_setup_error(dir, (const char *const[]){"--library", sup_agent(), "--log-dir", bad, NULL},
                          "cannot create the log folder");
    sup_done(dir);
}

Test(launcher, library_that_does_not_exist)
{
    char *dir = sup_tmpdir("launcher");
    lt_expect_setup_error(dir, (const char *const[]){"--library", "/nonexistent/libpymemtrace.so", NULL},
                          "/nonexistent/libpymemtrace.so");
    sup_done(dir);
}

/* ---- finding the library ------------------------------------------------- */

/* Copies the source launcher to path; with libdir, as configure_file would. */
static void lt_install_launcher(const char *path, const char *libdir)
{
    char *text = sup_slurp(lt_launcher(), NULL);
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
    sup_write_file(path, out, 0755);
    free(out);
    free(text);
}

/* Runs launcher (no --library) and returns LD_PRELOAD as the program sees it. */
static char *lt_preload_of(const char *launcher)
{
    const char *argv[] = {launcher, "--quiet", "sh", "-c", "printf %s \"$LD_PRELOAD\"", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 0);
    free(r.err);
    return r.out;
}

/* An empty stand-in library, dir/folder/libpymemtrace.so (folders made), its
 * path in path[PATH_MAX]: ld.so complains and goes on, and only LD_PRELOAD is read. */
static void lt_stub_library(char *path, const char *dir, const char *folder)
{
    sup_mkdirs(dir, folder);
    snprintf(path, PATH_MAX, "%s/%s/libpymemtrace.so", dir, folder);
    sup_write_file(path, "", 0644);
}

/* A launcher copy at dir/folder/pymemtrace-run (folders made; libdir as for
 * lt_install_launcher), its path in path[PATH_MAX]. */
static void lt_place_launcher(char *path, const char *dir, const char *folder, const char *libdir)
{
    sup_mkdirs(dir, folder);
    snprintf(path, PATH_MAX, "%s/%s/pymemtrace-run", dir, folder);
    lt_install_launcher(path, libdir);
}

/* The launcher at path preloads want; layout names the case in a failure. */
static void lt_expect_preload(const char *launcher, const char *want, const char *layout)
{
    char *got = lt_preload_of(launcher);
    cr_expect_str_eq(got, want, "%s", layout);
    free(got);
}

Test(launcher, finds_the_library_where_it_is_built_or_installed)
{
    char *dir = sup_tmpdir("launcher");
    char launcher[PATH_MAX], libdir[PATH_MAX], link[PATH_MAX], built[PATH_MAX], installed[PATH_MAX],
        want[PATH_MAX];

    /* Source checkout: scripts/ beside build/. */
    lt_stub_library(want, dir, "src/build");
    lt_place_launcher(launcher, dir, "src/scripts", NULL);
    lt_expect_preload(launcher, want, "source layout");

    /* The build folder's configured copy sits beside the library, and wins
     * over the configured libdir (which may hold an older install). */
    lt_stub_library(built, dir, "build");
    lt_stub_library(installed, dir, "libdir");
    snprintf(libdir, sizeof libdir, "%s/libdir", dir);
    lt_place_launcher(launcher, dir, "build", libdir);
    lt_expect_preload(launcher, built, "build layout");

    /* ...and through a symlink from elsewhere (~/bin/pymemtrace-run). */
    sup_mkdirs(dir, "home-bin");
    snprintf(link, sizeof link, "%s/home-bin/pymemtrace-run", dir);
    cr_assert_eq(symlink("../build/pymemtrace-run", link), 0, "symlink: %s", strerror(errno));
    lt_expect_preload(link, built, "through a relative symlink");

    /* Installed: bin/ with the configured libdir. */
    lt_place_launcher(launcher, dir, "bin", libdir);
    lt_expect_preload(launcher, installed, "configured libdir");

    /* A prefix copied elsewhere: bin/ beside lib/x86_64-linux-gnu/. */
    lt_stub_library(want, dir, "prefix/lib/x86_64-linux-gnu");
    lt_place_launcher(launcher, dir, "prefix/bin", "/nonexistent/libdir");
    lt_expect_preload(launcher, want, "prefix layout");

    /* Nowhere: exit 2, the program not run. */
    lt_place_launcher(launcher, dir, "nowhere/bin", NULL);
    const char *argv[] = {launcher, "--quiet", "sh", "-c", "echo ran", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 2);
    cr_expect_eq(r.out_len, 0, "stdout: %s", r.out);
    cr_expect_not_null(strstr(r.err, "cannot find the agent"), "stderr: %s", r.err);
    sup_free(&r);
    sup_done(dir);
}

Test(launcher, build_folder_copy_finds_the_built_agent)
{
    char launcher[PATH_MAX], agent[PATH_MAX];
    snprintf(launcher, sizeof launcher, "%s/pymemtrace-run", sup_need_env("PMT_BUILD_ROOT"));
    cr_assert(sup_exists(launcher), "%s does not exist: meson configures it (ninja -C build)",
              launcher);
    lt_agent_resolved(agent, sizeof agent);
    /* Through sh: configure_file may not keep the mode bits on every meson. */
    const char *argv[] = {"sh", launcher, "--quiet", "sh", "-c", "printf %s \"$LD_PRELOAD\"", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, agent);
    sup_free(&r);
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
    char *text = sup_slurp(path, &len);
    cr_expect(strncmp(text, "SOF\n", 4) == 0 || strstr(text, "\nSOF\n") != NULL, "%s: no SOF line",
              path);
    cr_expect(strncmp(text, "HDR: ", 5) == 0 || strstr(text, "\nHDR: ") != NULL,
              "%s: no HDR: line", path);
    cr_expect(len >= 4 && strcmp(text + len - 4, "EOF\n") == 0, "%s does not end with EOF", path);
    free(text);
}

Test(launcher, python_run_writes_a_profile_log, .timeout = 120)
{
    char *dir = sup_tmpdir("launcher");
    char logs[PATH_MAX], log[PATH_MAX], want[2 * PATH_MAX];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    const char *argv[] = {lt_launcher(), "--library", sup_agent(), "--log-dir", logs, "--",
                          "/usr/bin/python3", "-c",
                          "x = bytearray(30 * 1024 * 1024)\nprint(len(x))", NULL};
    struct sup_result r;
    sup_run(&r, dir, argv, NULL);
    sup_assert_exit(&r, 0);
    cr_expect_str_eq(r.out, "31457280\n");
    cr_assert_eq(lt_logs(logs, "P", log, sizeof log), 1, "expected one profile log in %s", logs);
    snprintf(want, sizeof want, "pymemtrace: profile log: %s\n", log);
    cr_expect_str_eq(r.err, want, "the agent's line and nothing else");
    lt_expect_log_shape(log);
    sup_free(&r);
    sup_done(dir);
}

Test(launcher, python_run_with_profile_and_trace, .timeout = 120)
{
    char *dir = sup_tmpdir("launcher");
    char log[PATH_MAX];
    const char *argv[] = {lt_launcher(), "--quiet", "--library", sup_agent(), "--profile",
                          "--trace", "--log-dir", dir, "--message", "launcher test",
                          "/usr/bin/python3", "-c", "import sys; sys.exit(3)", NULL};
    struct sup_result r;
    sup_run(&r, NULL, argv, NULL);
    sup_assert_exit(&r, 3);
    cr_expect_eq(r.err_len, 0, "--quiet, yet stderr: %s", r.err);
    cr_assert_eq(lt_logs(dir, "P", log, sizeof log), 1, "expected one profile log in %s", dir);
    lt_expect_log_shape(log);
    char *text = sup_slurp(log, NULL);
    cr_expect(strncmp(text, "launcher test\nSOF\n", 18) == 0, "%s should start with the message",
              log);
    free(text);
    cr_assert_eq(lt_logs(dir, "T", log, sizeof log), 1, "expected one trace log in %s", dir);
    lt_expect_log_shape(log);
    sup_free(&r);
    sup_done(dir);
}
