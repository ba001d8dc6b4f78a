/* The agent against what a program or another user may do to it (issue
 * 14): names that would forge lines, log paths that are not a new or own
 * regular file. */
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks.h"

/* ---- forged lines ------------------------------------------------------------
 * forged_names.py renames a function to "f\nEOF\nNEXT:\t\\" and compiles it
 * in a file named "evil\nEOF\n.py"; written raw, each newline began a line
 * of its own (a fake EOF, a fake NEXT). Escaped, the log parses as one
 * event per line and the 20 MiB is at the escaped names. */
static void case_forged_names(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("forged_names.py")),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        const struct pmt_line *jump = NULL;
        for (size_t i = 0; i < f->log->n; i++) {
            const struct pmt_line *l = &f->log->lines[i];
            if (l->kind == PMT_K_NEXT && l->drss >= 20L * 1024 * 1024 - 65536)
                jump = l;
        }
        cr_assert_not_null(jump, "%s: no 20 MiB jump", f->path);
        cr_assert_str_eq(jump->func, "f\\nEOF\\nNEXT:\\t\\\\", "%s: %s", f->path, jump->raw);
        cr_assert_str_eq(jump->file, "evil\\nEOF\\n.py", "%s: %s", f->path, jump->raw);
    }
}

E2E_TESTS_SUPPORTED(hostile, forged_names_profile, case_forged_names, "profile")
E2E_TESTS_SUPPORTED(hostile, forged_names_trace, case_forged_names, "trace")

/* ---- where a log may go --------------------------------------------------------
 * PYMEMTRACE_LOG_FILE naming something that is not a new file or one of the
 * user's regular files: a symbolic link (to a file someone cares about, or
 * /dev/stdout, the program's own output), a FIFO with no reader (open
 * blocked before the program started), a file another user planted in a
 * sticky world-writable folder. One line on stderr; the program runs as
 * without the agent; the file is left as it was. An own regular file is
 * emptied and used. */
enum target { T_SYMLINK, T_DEV_STDOUT, T_FIFO, T_OTHERS, T_OWN };

static void case_log_file(const struct pmt_python *py, const void *arg)
{
    enum target t = (enum target)(intptr_t)arg;
    const char *dir = pmt_tmpdir();
    char *precious = pmt_join(dir, "precious");
    pmt_write_file(precious, "precious\n", 0644);
    char *target = pmt_join(dir, "log");
    const char *why = NULL;
    switch (t) {
    case T_SYMLINK:
        cr_assert_eq(symlink(precious, target), 0);
        why = "is a symbolic link";
        break;
    case T_DEV_STDOUT:
        target = "/dev/stdout";
        why = "is a symbolic link";
        break;
    case T_FIFO:
        cr_assert_eq(mkfifo(target, 0600), 0);
        why = "is a FIFO, not a regular file";
        break;
    case T_OTHERS: {
        if (geteuid() != 0)
            cr_skip_test("needs root, to plant a file of another user's");
        struct passwd *nobody = getpwnam("nobody");
        cr_assert_not_null(nobody);
        char *sticky = pmt_join(dir, "sticky");
        cr_assert_eq(mkdir(sticky, 01777), 0);
        cr_assert_eq(chmod(sticky, 01777), 0);
        target = pmt_join(sticky, "planted");
        pmt_write_file(target, "theirs\n", 0666);
        cr_assert_eq(chown(target, nobody->pw_uid, nobody->pw_gid), 0);
        why = "belongs to another user";
        break;
    }
    case T_OWN:
        pmt_write_file(target, "an old log\n", 0644);
        break;
    }
    const char *program = e2e_program("plain.py");
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program), .cwd = dir}, &bare);
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile",
                                                   pmt_strf("PYMEMTRACE_LOG_FILE=%s", target)),
                                   .timeout_s = 20},
            &r);
    cr_assert(r.exited && r.exit_code == bare.exit_code, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, bare.out);
    if (t == T_OWN) {
        size_t len;
        char *text = pmt_read_file(target, &len);
        cr_assert(len > 8 && !strncmp(text, "SOF\n", 4) && !strcmp(text + len - 4, "EOF\n") &&
                      !strstr(text, "an old log"),
                  "%s: not the log alone: %s", target, text);
        cr_assert_str_eq(r.err, pmt_strf("pymemtrace: profile log: %s\n%s", target, bare.err));
        return;
    }
    char *want = pmt_strf("pymemtrace: will not write the profile log into %s: it %s (the agent "
                          "writes a new file, one of its user's regular files, or /dev/null); not tracing\n%s",
                          target, why, bare.err);
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(pmt_read_file(precious, NULL), "precious\n");
    if (t == T_OTHERS)
        cr_assert_str_eq(pmt_read_file(target, NULL), "theirs\n");
}

E2E_TESTS_SUPPORTED(hostile, log_file_symlink, case_log_file, (void *)T_SYMLINK)
E2E_TESTS_SUPPORTED(hostile, log_file_dev_stdout, case_log_file, (void *)T_DEV_STDOUT)
E2E_TESTS_SUPPORTED(hostile, log_file_fifo, case_log_file, (void *)T_FIFO)
E2E_TESTS_SUPPORTED(hostile, log_file_others, case_log_file, (void *)T_OTHERS)
E2E_TESTS_SUPPORTED(hostile, log_file_own, case_log_file, (void *)T_OWN)

/* ---- chdir ---------------------------------------------------------------------
 * chdir_fork.py moves into elsewhere/ and forks: the child's log, opened
 * after the move, goes into the folder the agent started in (default), or
 * into PYMEMTRACE_LOG_DIR made absolute then (relative), with the parent's. */
static void case_chdir(const struct pmt_python *py, const void *arg)
{
    const char *log_dir = arg; /* NULL: the default */
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("chdir_fork.py")),
                .cwd = dir,
                .env = log_dir ? PMT_LIST(e2e_preload(), "PYMEMTRACE=profile",
                                          pmt_strf("PYMEMTRACE_LOG_DIR=%s", log_dir))
                               : PMT_LIST(e2e_preload(), "PYMEMTRACE=profile"),
                .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set, stray;
    pmt_logset_load(log_dir ? pmt_join(dir, log_dir) : dir, &set);
    cr_assert_eq(set.n, 2, "%s: the parent's and the child's log expected", dir);
    char *moved = pmt_join(dir, log_dir ? pmt_strf("elsewhere/%s", log_dir) : "elsewhere");
    if (access(moved, F_OK) == 0) {
        pmt_logset_load(moved, &stray);
        cr_assert_eq(stray.n, 0, "a log went into the folder the program moved to");
    }
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, -1);
}

E2E_TESTS_SUPPORTED(hostile, chdir_default_dir, case_chdir, NULL)
E2E_TESTS_SUPPORTED(hostile, chdir_relative_dir, case_chdir, "logs")

/* ---- a long setting's line -----------------------------------------------------
 * A 120 KB PYMEMTRACE_LOG_DIR: the one stderr line is cut in the path's
 * middle ("[...]"), never before its end ("; not tracing"). */
static void case_long_log_dir(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    size_t len = 120000;
    char *dir_value = malloc(len + 1);
    memset(dir_value, 'x', len);
    memcpy(dir_value, "/tmp/", 5);
    dir_value[len] = '\0';
    const char *program = e2e_program("plain.py");
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program), .cwd = pmt_tmpdir()}, &bare);
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program),
                                   .cwd = pmt_tmpdir(),
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile",
                                                   pmt_strf("PYMEMTRACE_LOG_DIR=%s", dir_value)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == bare.exit_code, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, bare.out);
    const char *ours = r.err, *nl = strchr(ours, '\n');
    cr_assert_not_null(nl);
    cr_assert_str_eq(nl + 1, bare.err, "one line of the agent's, then the program's");
    size_t n = (size_t)(nl - ours);
    static const char head[] = "pymemtrace: cannot create the log folder /tmp/xxx";
    static const char tail[] = "xxx: File name too long; not tracing";
    cr_assert(n < 2048 && !strncmp(ours, head, sizeof head - 1) &&
                  !strncmp(nl - (sizeof tail - 1), tail, sizeof tail - 1) &&
                  memmem(ours, n, "x[...]x", 7),
              "%.*s", (int)n, ours);
}

E2E_TEST_PY(hostile, long_log_dir_debian, PMT_PY_DEBIAN, case_long_log_dir, NULL)

/* ---- file modes -----------------------------------------------------------------
 * Logs hold paths and function names: they are made as the program's own
 * files are, 0666 and the folder 0777 less the umask (077 here: 0600, 0700). */
static void case_umask(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST("/bin/sh", "-c", "umask 077 && exec \"$0\" \"$1\"", py->path,
                                 e2e_program("plain.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,sample", "PYMEMTRACE_LOG_DIR=logs"),
                .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 4, "%s", pmt_run_describe(&r));
    struct stat st;
    char *logs = pmt_join(dir, "logs");
    cr_assert_eq(stat(logs, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700, "%s: mode %o", logs, st.st_mode & 07777);
    struct pmt_logset set;
    pmt_logset_load(logs, &set);
    cr_assert_eq(set.n, 2);
    for (size_t i = 0; i < set.n; i++) {
        cr_assert_eq(stat(set.files[i].path, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0600, "%s: mode %o", set.files[i].path, st.st_mode & 07777);
    }
}

E2E_TEST_PY(hostile, umask_debian, PMT_PY_DEBIAN, case_umask, NULL)

/* ---- fatal signals --------------------------------------------------------------
 * fatal_signal.py ends by a signal at its default action after 30 MB. With
 * the agent the process dies of the same signal with the same output, and
 * each log is complete: the MSG naming the signal, the 30 MB, LAST, EOF (the
 * sampler's: its STOP line). */
struct fatal_case {
    const char *how, *name;
    int sig;
};

static void case_fatal(const struct pmt_python *py, const void *arg)
{
    const struct fatal_case *c = arg;
    if (c->sig == SIGSEGV && e2e_sanitized())
        cr_skip_test("a sanitizer's runtime handles SIGSEGV itself in this run");
    const char *program = e2e_program("fatal_signal.py");
    const char *const *argv = c->name[0] ? PMT_LIST(py->path, program, c->how, c->name)
                                         : PMT_LIST(py->path, program, c->how);
    struct pmt_run_result bare;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = pmt_tmpdir(), .timeout_s = E2E_TIMEOUT}, &bare);
    cr_assert(bare.signaled && bare.signal == c->sig, "without the agent: %s", pmt_run_describe(&bare));
    static const char *const modes[] = {"profile", "trace", "sample"};
    for (int m = 0; m < 3; m++) {
        const char *dir = pmt_tmpdir();
        struct pmt_run_result r;
        pmt_run(&(struct pmt_run_opts){.argv = argv,
                                       .cwd = dir,
                                       .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes[m]),
                                                       "PYMEMTRACE_QUIET=1"),
                                       .timeout_s = E2E_TIMEOUT},
                &r);
        cr_assert(r.signaled && r.signal == c->sig, "%s: %s", modes[m], pmt_run_describe(&r));
        cr_assert_str_eq(r.out, bare.out, "%s", modes[m]);
        if (strcmp(c->how, "segv_fh") != 0) /* faulthandler's dump names thread ids */
            cr_assert_str_eq(r.err, bare.err, "%s", modes[m]);
        size_t len;
        struct pmt_logset set;
        pmt_logset_load(dir, &set);
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, "PTS"[m]);
        char *text = pmt_read_file(f->path, &len);
        if (modes[m][0] == 's') {
            cr_assert(strstr(text, "ProcessLoggingThread-JSON-STOP"), "%s: no STOP line", f->path);
            continue;
        }
        e2e_check_log(f, NULL, -1);
        char *msg = pmt_strf("# killed by signal %d (%s)\n", c->sig, c->name[0] ? c->name
                                                                  : c->sig == SIGSEGV ? "SIGSEGV"
                                                                                      : "SIGABRT");
        cr_assert(strstr(text, msg), "%s: no '%s'", f->path, msg);
        bool grew = false;
        for (size_t i = 0; i < f->log->n; i++)
            grew = grew || (f->log->lines[i].kind == PMT_K_NEXT && f->log->lines[i].drss >= 30L << 20);
        cr_assert(grew, "%s: no 30 MB line", f->path);
    }
}

#define FATAL(id, how, name, sig)                                                              \
    static const struct fatal_case fatal_##id = {how, name, sig};                              \
    E2E_TESTS_SUPPORTED(hostile, signal_##id, case_fatal, &fatal_##id)

FATAL(hup, "send", "SIGHUP", SIGHUP)
FATAL(usr1, "send", "SIGUSR1", SIGUSR1)
FATAL(alrm, "send", "SIGALRM", SIGALRM)
FATAL(quit, "send", "SIGQUIT", SIGQUIT)
FATAL(pipe_dfl, "dfl", "SIGPIPE", SIGPIPE)
FATAL(int_dfl, "dfl", "SIGINT", SIGINT)
FATAL(term_dfl, "dfl", "SIGTERM", SIGTERM)
FATAL(segv, "segv", "", SIGSEGV)
FATAL(segv_faulthandler, "segv_fh", "", SIGSEGV)
FATAL(abort, "abort", "", SIGABRT)
