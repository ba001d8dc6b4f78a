/* Logs that survive what a program, the kernel or another program does to
 * the process (issue 14): a daemon's closerange and dup2, SIGKILL, the OOM
 * killer, copytruncate rotation, a tight descriptor limit, a child that
 * lists its descriptors. The log writer process holds every log file and
 * the lines are in memory it shares, so none of this reaches a log. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

/* ---- the program's descriptors ------------------------------------------------
 * daemon_fds.py closes every descriptor past stderr (or dup2s a file of its
 * own over each) and writes its own files between events, every event
 * logged. Its files hold its lines only; the logs are complete, with the 20
 * MiB allocated afterwards. */
struct fds_case {
    const char *how, *writer;
};

static void check_own_files(const char *dir)
{
    size_t n;
    char **names = pmt_list_dir(dir, ".txt", &n);
    cr_assert(n >= 1, "no file of the program's in %s", dir);
    for (size_t i = 0; i < n; i++) {
        char *path = pmt_join(dir, names[i]);
        size_t len;
        char *text = pmt_read_file(path, &len);
        cr_assert(len > 0, "%s is empty", path);
        for (char *line = text; line < text + len;) {
            char *end = memchr(line, '\n', (size_t)(text + len - line));
            cr_assert(!strncmp(line, "mine ", 5), "%s holds a line of someone else's: %s", path,
                      pmt_excerpt(line, 200));
            line = end ? end + 1 : text + len;
        }
    }
}

static void case_daemon_fds(const struct pmt_python *py, const void *arg)
{
    const struct fds_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("daemon_fds.py"), c->how),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace",
                                                   "PYMEMTRACE_D_RSS_TRIGGER=0", "PYMEMTRACE_QUIET=1",
                                                   pmt_strf("PYMEMTRACE_WRITER=%s", c->writer)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    check_own_files(dir);
    if (!strcmp(c->writer, "thread"))
        return; /* the process's own descriptors: stopped, never misdirected */
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (const char *m = "PT"; *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, 0);
        bool grew = false;
        for (size_t i = 0; i < f->log->n; i++)
            grew = grew || (f->log->lines[i].kind == PMT_K_NEXT && f->log->lines[i].drss >= (20L << 20) - 65536);
        cr_assert(grew, "%s: no 20 MiB line after the descriptors were taken", f->path);
    }
}

static const struct fds_case fds_closerange = {"closerange", "process"};
static const struct fds_case fds_dup2 = {"dup2", "process"};
static const struct fds_case fds_closerange_thread = {"closerange", "thread"};
static const struct fds_case fds_dup2_thread = {"dup2", "thread"};
E2E_TESTS_SUPPORTED(survive, closerange, case_daemon_fds, &fds_closerange)
E2E_TESTS_SUPPORTED(survive, dup2, case_daemon_fds, &fds_dup2)
E2E_TEST_PY(survive, closerange_thread_writer_debian, PMT_PY_DEBIAN, case_daemon_fds, &fds_closerange_thread)
E2E_TEST_PY(survive, dup2_thread_writer_debian, PMT_PY_DEBIAN, case_daemon_fds, &fds_dup2_thread)

/* ---- killed ----------------------------------------------------------------------
 * killed.py allocates 30 MB in grow() and kills itself with SIGKILL, at once
 * or after a second asleep. Every line formatted reaches the file: the 30 MB,
 * and at trigger 0 the very event before the kill (profile: the C call of
 * os.kill; trace: the line that calls it). The writer finishes after the
 * program is gone: the test waits for it. */
struct kill_case {
    const char *mode, *when;
    long long trigger;
};

/* The log of pid's mode, once the writer is done with it (its size still
 * for 200 ms), within 10 s. */
static const struct pmt_logfile *settled_log(const char *dir, pid_t pid, char mode)
{
    struct pmt_logset *set = calloc(1, sizeof *set);
    off_t last = -1;
    for (int i = 0; i < 100; i++) {
        pmt_logset_load(dir, set);
        const struct pmt_logfile *f = pmt_logset_get(set, pid, mode);
        struct stat st;
        cr_assert_eq(stat(f->path, &st), 0);
        if (st.st_size == last)
            return f;
        last = st.st_size;
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(0, "the log of %d kept growing for 20 s", (int)pid);
    return NULL;
}

static void case_killed(const struct pmt_python *py, const void *arg)
{
    const struct kill_case *c = arg;
    const char *dir = pmt_tmpdir();
    const char *program = e2e_program("killed.py");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, program, c->when),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->mode),
                                                   pmt_strf("PYMEMTRACE_D_RSS_TRIGGER=%lld", c->trigger),
                                                   "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.signaled && r.signal == SIGKILL, "%s", pmt_run_describe(&r));
    const struct pmt_logfile *f = settled_log(dir, r.pid, c->mode[0] == 'p' ? 'P' : 'T');
    const struct pmt_log *log = f->log;
    cr_assert(log->n >= 4, "%s: %zu lines", f->path, log->n);
    const struct pmt_line *grew = NULL, *last = NULL;
    for (size_t i = 0; i < log->n; i++) {
        const struct pmt_line *l = &log->lines[i];
        if (l->kind == PMT_K_NEXT && l->drss >= 30L << 20)
            grew = l;
        if (pmt_is_event(l->kind))
            last = l;
    }
    cr_assert_not_null(grew, "%s: the 30 MB before the kill is missing", f->path);
    cr_assert(strstr(log->text, "\nEOF") == NULL, "%s: an EOF line in a killed process's log", f->path);
    if (c->trigger != 0)
        return;
    /* Every event is a line: the last is the call that killed. */
    int kill_line = pmt_marker_line(program, "os.kill(");
    if (c->mode[0] == 'p')
        cr_assert(!strcmp(last->func, "kill") && !strcmp(last->what, "C_CALL"),
                  "%s: the last line is not the call of os.kill: %s", f->path, last->raw);
    else
        cr_assert(last->line == kill_line && !strcmp(last->what, "LINE"),
                  "%s: the last line is not line %d's: %s", f->path, kill_line, last->raw);
}

static const struct kill_case kill_profile0 = {"profile", "now", 0};
static const struct kill_case kill_trace0 = {"trace", "now", 0};
static const struct kill_case kill_profile_idle = {"profile", "idle", -1};
static const struct kill_case kill_trace_idle0 = {"trace", "idle", 0};
E2E_TESTS_SUPPORTED(survive, sigkill_profile_every_event, case_killed, &kill_profile0)
E2E_TESTS_SUPPORTED(survive, sigkill_trace_every_event, case_killed, &kill_trace0)
E2E_TESTS_SUPPORTED(survive, sigkill_idle_profile, case_killed, &kill_profile_idle)
E2E_TESTS_SUPPORTED(survive, sigkill_idle_trace_every_event, case_killed, &kill_trace_idle0)

/* ---- the OOM killer ----------------------------------------------------------------
 * oom_grow.py grows by 1 MiB at a time in a cgroup limited to 200 MiB (no
 * swap) until the kernel's OOM killer ends it. The log shows the growth to
 * the end: its last NEXT lines are near the limit (before, a buffer's worth
 * of lines, the last 36-80 MB, was lost with the process). */
#define OOM_LIMIT (200L << 20)

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void case_oom(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *root = "/sys/fs/cgroup";
    char *controllers = NULL;
    if (access(pmt_join(root, "cgroup.controllers"), R_OK) == 0) {
        size_t len;
        controllers = pmt_read_file(pmt_join(root, "cgroup.controllers"), &len);
    }
    if (!controllers || !strstr(controllers, "memory"))
        cr_skip_test("no cgroup v2 memory controller at %s", root);
    write_text(pmt_join(root, "cgroup.subtree_control"), "+memory");
    char *cg = pmt_strf("%s/pmt-oom-%d", root, (int)getpid());
    if (mkdir(cg, 0755) != 0)
        cr_skip_test("cannot make a cgroup (%s): %s", cg, strerror(errno));
    if (write_text(pmt_join(cg, "memory.max"), pmt_strf("%ld", OOM_LIMIT)) != 0) {
        rmdir(cg);
        cr_skip_test("cannot limit a cgroup's memory (%s)", cg);
    }
    write_text(pmt_join(cg, "memory.swap.max"), "0");
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST("/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$1\" \"$2\"",
                                 pmt_join(cg, "cgroup.procs"), py->path, e2e_program("oom_grow.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_QUIET=1"),
                .timeout_s = E2E_TIMEOUT},
            &r);
    const struct pmt_logfile *f = r.signaled ? settled_log(dir, r.pid, 'P') : NULL;
    for (int i = 0; i < 50 && rmdir(cg) != 0; i++) { /* the writer leaves it once done */
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(r.signaled && r.signal == SIGKILL, "not OOM-killed: %s", pmt_run_describe(&r));
    size_t top = 0, start = 0;
    for (size_t i = 0; i < f->log->n; i++) {
        const struct pmt_line *l = &f->log->lines[i];
        if (l->kind == PMT_K_FRST)
            start = l->rss;
        if (l->kind == PMT_K_NEXT && l->rss > top)
            top = l->rss;
    }
    cr_assert(top >= (size_t)OOM_LIMIT - (24L << 20),
              "%s: the log ends at %zu MiB of RSS (from %zu MiB), the limit is %ld MiB", f->path, top >> 20,
              start >> 20, OOM_LIMIT >> 20);
}

E2E_TEST_PY(survive, oom_killed_cgroup_debian, PMT_PY_DEBIAN, case_oom, NULL)

/* ---- copytruncate -----------------------------------------------------------------
 * truncated.py empties its own logs as logrotate's copytruncate does, then
 * allocates 20 MiB. The log goes on cleanly: no NUL bytes (the writer
 * appends), its head again first (the writer process keeps it), the 20 MiB,
 * LAST and EOF. With the writer thread: no NUL bytes, the 20 MiB, EOF. */
static void case_truncated(const struct pmt_python *py, const void *arg)
{
    const char *writer = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("truncated.py")),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace",
                                                   "PYMEMTRACE_QUIET=1", "PYMEMTRACE_MESSAGE=rotated",
                                                   pmt_strf("PYMEMTRACE_WRITER=%s", writer)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (const char *m = "PT"; *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        const struct pmt_log *log = f->log;
        cr_assert(memchr(log->text, '\0', log->len) == NULL, "%s: NUL bytes after the truncation", f->path);
        bool grew = false;
        for (size_t i = 0; i < log->n; i++)
            grew = grew || (log->lines[i].kind == PMT_K_NEXT && log->lines[i].drss >= (20L << 20) - 65536);
        cr_assert(grew, "%s: no 20 MiB line after the truncation", f->path);
        cr_assert(log->len > 4 && !strcmp(log->text + log->len - 4, "EOF\n"), "%s: no EOF at the end", f->path);
        if (!strcmp(writer, "thread"))
            continue;
        cr_assert(!strncmp(log->text, "rotated\nSOF\nHDR: ", 17), "%s: the head is not first: %s", f->path,
                  pmt_excerpt(log->text, 200));
        cr_assert(pmt_log_count(log, PMT_K_LAST) == 1, "%s: no LAST line", f->path);
        const struct pmt_line *msg = pmt_log_first(log, PMT_K_MSG);
        cr_assert(msg && strstr(msg->text, "pymemtrace agent"), "%s: the agent's MSG line is not in the head",
                  f->path);
    }
}

E2E_TESTS_SUPPORTED(survive, copytruncate, case_truncated, "process")
E2E_TEST_PY(survive, copytruncate_thread_writer_debian, PMT_PY_DEBIAN, case_truncated, "thread")

/* ---- descriptors the program sees -------------------------------------------------
 * A child started with pass_fds lists its descriptors: besides 0, 1, 2 and
 * the one passed, at most one of the agent's (statm, held near the top of the
 * first thousand), however many CPUs and threads. Under ulimit -n 10 a
 * program that opens 5 files works as without the agent, and is traced. */
/* The descriptors fds_child.py's child listed ("fds 0 1 2 ...") into set
 * (a bitmap of the first 1024), the one passed left out. */
static void child_fds(const struct pmt_run_result *r, unsigned char set[1024])
{
    memset(set, 0, 1024);
    int passed = -1;
    const char *p = strstr(r->out, "passed ");
    cr_assert(p && sscanf(p, "passed %d", &passed) == 1, "%s", pmt_run_describe(r));
    p = strstr(r->out, "fds ");
    cr_assert_not_null(p, "%s", pmt_run_describe(r));
    for (p += 4; *p && *p != '\n';) {
        char *end;
        long fd = strtol(p, &end, 10);
        cr_assert(end != p && fd >= 0 && fd < 1024, "%s", r->out);
        p = *end == ' ' ? end + 1 : end;
        if (fd != passed)
            set[fd] = 1;
    }
}

static void case_child_fds(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *const *argv = PMT_LIST(py->path, e2e_program("fds_child.py"), "parent");
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = pmt_tmpdir(), .timeout_s = E2E_TIMEOUT}, &bare);
    cr_assert(bare.exited && bare.exit_code == 0, "without the agent: %s", pmt_run_describe(&bare));
    const char *dir = pmt_tmpdir();
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   "PYMEMTRACE_D_RSS_TRIGGER=0", "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    unsigned char without[1024], with[1024];
    child_fds(&bare, without);
    child_fds(&r, with);
    int agents = 0;
    for (int fd = 0; fd < 1024; fd++) {
        cr_assert(!without[fd] || with[fd], "descriptor %d is gone with the agent: %s", fd, r.out);
        if (with[fd] && !without[fd]) {
            cr_assert(fd >= 900, "the child sees descriptor %d of the agent's: %s (without it: %s)", fd,
                      r.out, bare.out);
            agents++;
        }
    }
    cr_assert(agents <= 1, "the child sees %d descriptors of the agent's: %s", agents, r.out);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert(set.n >= 2 * strlen(e2e_mode_letters(modes)), "the child was not traced: %zu logs", set.n);
}

E2E_TESTS_SUPPORTED(survive, child_fds, case_child_fds, "profile,trace")
E2E_TEST_PY(survive, child_fds_sampled_debian, PMT_PY_DEBIAN, case_child_fds, "profile,sample")

static void case_fd_limit(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST("/bin/sh", "-c", "ulimit -n 10 && exec \"$0\" \"$1\" limit", py->path,
                                 e2e_program("fds_child.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace,sample", "PYMEMTRACE_QUIET=1"),
                .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0 && strstr(r.out, "opened 5"), "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (const char *m = "PT"; *m; m++)
        e2e_check_log(pmt_logset_get(&set, r.pid, *m), NULL, -1);
    cr_assert_not_null(pmt_logset_get(&set, r.pid, 'S'));
}

E2E_TESTS_SUPPORTED(survive, fd_limit_10, case_fd_limit, NULL)

/* ---- the writer process killed -----------------------------------------------------
 * writer_killed.py kills the agent's log writer process, then goes on
 * logging every event. The program runs as without the agent (same output,
 * exit status 0); one line on stderr says the writer ended and tracing
 * stopped. */
static void case_writer_killed(const struct pmt_python *py, const void *arg)
{
    const char *trigger = arg;
    const char *const *argv = PMT_LIST(py->path, e2e_program("writer_killed.py"));
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = pmt_tmpdir(), .timeout_s = E2E_TIMEOUT}, &bare);
    cr_assert(bare.exited && bare.exit_code == 0, "without the agent: %s", pmt_run_describe(&bare));
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = pmt_tmpdir(),
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace",
                                                   pmt_strf("PYMEMTRACE_D_RSS_TRIGGER=%s", trigger),
                                                   "PYMEMTRACE_QUIET=1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, bare.out);
    cr_assert_str_eq(r.err, "pymemtrace: the log writer process ended; lines not yet written are lost; "
                            "tracing stopped\n");
}

E2E_TESTS_SUPPORTED(survive, writer_killed_every_event, case_writer_killed, "0")
E2E_TEST_PY(survive, writer_killed_debian, PMT_PY_DEBIAN, case_writer_killed, "-1")

/* ---- a full disk --------------------------------------------------------------------
 * The log folder on a tmpfs of 256 KiB (root only). Full from the start:
 * each log's first write fails: one line ("; not tracing"), no empty log
 * left behind, the program as without the agent. Full after a while, every
 * event logged: every log either reaches EOF or says its own failure, once;
 * the program carries on. */
static const char *mount_small_tmpfs(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to mount a small tmpfs");
    char *fs = pmt_join(pmt_tmpdir(), "fs");
    cr_assert_eq(mkdir(fs, 0755), 0);
    struct pmt_run_result m;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", fs)},
            &m);
    if (!m.exited || m.exit_code != 0)
        cr_skip_test("cannot mount a tmpfs here: %s", m.err);
    return fs;
}

static void unmount(const char *fs)
{
    struct pmt_run_result m;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST("umount", "-l", fs)}, &m);
}

static void fill(const char *fs)
{
    int fd = open(pmt_join(fs, "filler"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    char block[4096];
    memset(block, 'x', sizeof block);
    while (fd >= 0 && write(fd, block, sizeof block) > 0)
        ;
    close(fd);
}

static void case_disk_full_at_start(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *fs = mount_small_tmpfs();
    fill(fs);
    const char *const *argv = PMT_LIST(py->path, "-c", "print(sum(range(1000)))");
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = pmt_tmpdir(), .timeout_s = E2E_TIMEOUT}, &bare);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = pmt_tmpdir(),
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,sample",
                                                   "PYMEMTRACE_QUIET=1", pmt_strf("PYMEMTRACE_LOG_DIR=%s", fs)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    size_t n;
    char **names = pmt_list_dir(fs, ".log", &n);
    unmount(fs);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, bare.out);
    cr_assert_eq(n, 0, "an empty log was left behind: %s", n ? names[0] : "");
    /* The event log fails first: nothing is installed, the sampler's is not tried. */
    char *want = pmt_strf("pymemtrace: cannot write %s/", fs);
    cr_assert(!strncmp(r.err, want, strlen(want)) &&
                  strstr(r.err, ": No space left on device; not tracing\n") &&
                  !strchr(strchr(r.err, '\n') + 1, '\n'),
              "one line expected: %s", r.err);
}

E2E_TEST_PY(survive, disk_full_at_start_debian, PMT_PY_DEBIAN, case_disk_full_at_start, NULL)

static void case_disk_full_later(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *fs = mount_small_tmpfs();
    const char *const *argv =
        PMT_LIST(py->path, "-c", "x = [str(i) for i in range(100000)]\nprint(len(x))");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = pmt_tmpdir(),
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace",
                                                   "PYMEMTRACE_D_RSS_TRIGGER=0", "PYMEMTRACE_QUIET=1",
                                                   pmt_strf("PYMEMTRACE_LOG_DIR=%s", fs)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    size_t n;
    char **names = pmt_list_dir(fs, ".log", &n);
    char *texts[8] = {0};
    size_t lens[8] = {0};
    for (size_t i = 0; i < n && i < 8; i++)
        texts[i] = pmt_read_file(pmt_join(fs, names[i]), &lens[i]);
    unmount(fs);
    cr_assert(r.exited && r.exit_code == 0 && !strcmp(r.out, "100000\n"), "%s", pmt_run_describe(&r));
    cr_assert_eq(n, 2, "two logs expected, %zu found", n);
    int said = 0;
    for (size_t i = 0; i < n; i++) {
        char *line = pmt_strf("pymemtrace: cannot write %s/%s: No space left on device; tracing stopped\n",
                              fs, names[i]);
        char *first = strstr(r.err, line);
        bool complete = lens[i] > 4 && !strcmp(texts[i] + lens[i] - 4, "EOF\n");
        cr_assert(complete || first, "%s neither ends with EOF nor was said: %s", names[i], r.err);
        cr_assert(!first || !strstr(first + 1, line), "%s said twice: %s", names[i], r.err);
        said += first != NULL;
    }
    cr_assert(said >= 1, "the full disk was not said: %s", r.err);
}

E2E_TEST_PY(survive, disk_full_later_debian, PMT_PY_DEBIAN, case_disk_full_later, NULL)
E2E_TEST_PY(survive, disk_full_later_py313, PMT_PY_313, case_disk_full_later, NULL)

/* ---- deep recursion ----------------------------------------------------------------
 * deep_recursion.py recurses 20,000 deep (its limit raised) and allocates
 * 20 MiB at the bottom. With PYMEMTRACE_FUNCTION naming a function never
 * called, or the recursive one, it runs as without the agent (before: a
 * C stack overflow on 3.9-3.11, RecursionError near 750 frames on 3.12).
 * Listed, the outermost call's log is complete and holds the 20 MiB. */
static void case_deep_recursion(const struct pmt_python *py, const void *arg)
{
    const char *function = arg;
    const char *const *argv = PMT_LIST(py->path, e2e_program("deep_recursion.py"), "20000");
    struct pmt_run_result bare, r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = pmt_tmpdir(), .timeout_s = E2E_TIMEOUT}, &bare);
    if (!bare.exited || bare.exit_code != 0)
        cr_skip_test("the recursion does not run without the agent here: %s", pmt_run_describe(&bare));
    const char *dir = pmt_tmpdir();
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_QUIET=1",
                                                   pmt_strf("PYMEMTRACE_FUNCTION=%s", function)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, bare.out);
    if (strcmp(function, "f") != 0)
        return;
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const struct pmt_logfile *outer = NULL;
    for (size_t i = 0; i < set.n; i++)
        if (set.files[i].id.depth == 0 && set.files[i].id.mode == 'P')
            outer = &set.files[i];
    cr_assert_not_null(outer, "no depth-0 profile log in %s", dir);
    cr_assert(strstr(outer->log->text, "\nEOF\n"), "%s: not complete", outer->path);
    bool grew = false;
    for (size_t i = 0; i < set.n; i++)
        for (size_t k = 0; k < set.files[i].log->n; k++)
            grew = grew || (set.files[i].log->lines[k].kind == PMT_K_NEXT &&
                            set.files[i].log->lines[k].drss >= (20L << 20) - 65536);
    cr_assert(grew, "the 20 MiB made at the bottom is in no log of %s", dir);
}

E2E_TESTS_SUPPORTED(survive, deep_recursion_function_unused, case_deep_recursion, "nothing_called")
E2E_TESTS_SUPPORTED(survive, deep_recursion_function_listed, case_deep_recursion, "f")
