/* The writers (every event logged): the log writer process, and the
 * writer thread where that process cannot run (PYMEMTRACE_WRITER=thread).
 * Logs stay complete and a fork while it runs changes nothing the program
 * can see. On 3.12+ os.fork()
 * warns when the process has other threads; the agent ends its writer in a
 * pthread_atfork prepare handler, so with warnings shown (-W default) the
 * program's stderr stays empty. The writer is a thread glibc does not know,
 * so that glibc keeps its single-thread paths. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"

static void run_fork_busy(const struct pmt_python *py, const void *arg)
{
    const char *writer = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-W", "default", e2e_program("fork_busy.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_QUIET=1", pmt_strf("PYMEMTRACE_WRITER=%s", writer)),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(strstr(r.err, "multi-threaded") == NULL && strstr(r.err, "Warning") == NULL,
              "the agent's writer thread showed in the program: %s", r.err);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert_eq(set.n, 2, "parent and child logs expected in %s", dir);
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, 0);
}

E2E_TESTS_SUPPORTED(writer, fork_while_writing, run_fork_busy, "process")
E2E_TESTS_SUPPORTED(writer, fork_while_writing_thread, run_fork_busy, "thread")

/* prog (python -c) with every event profiled, quietly; it must succeed. */
static struct pmt_run_result run_every_event(const struct pmt_python *py, const char *dir,
                                            const char *prog, const char *writer)
{
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-c", prog),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_QUIET=1", pmt_strf("PYMEMTRACE_WRITER=%s", writer)),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    return r;
}

/* The one log in dir, checked as every log is. */
static const struct pmt_logfile *the_complete_log(const char *dir)
{
    struct pmt_logset *set = calloc(1, sizeof *set);
    pmt_logset_load(dir, set);
    cr_assert_eq(set->n, 1, "one log expected in %s", dir);
    e2e_check_log(&set->files[0], NULL, 0);
    return &set->files[0];
}

/* The writer thread is one glibc does not know (agent/rawthread.h): with
 * every event logged, glibc still takes the process for single-threaded
 * (its malloc keeps its lock-free paths) while the kernel counts the
 * writer, and the log is complete. With the writer process, the program
 * has no thread of the agent's at all. */
static void run_single_threaded(const struct pmt_python *py, const void *arg)
{
    const char *writer = arg;
    int threads = strcmp(writer, "thread") == 0 ? 2 : 1;
#if !defined(__x86_64__)
    cr_skip_test("the writer's glibc-free thread is built on x86-64 only; here it is a pthread");
#endif
    const char *dir = pmt_tmpdir();
    const char *prog = "import ctypes\n"
                       "flag = ctypes.c_char.in_dll(ctypes.CDLL(None), '__libc_single_threaded')\n"
                       "total = sum(len(str(i)) for i in range(200000))\n"
                       "threads = [l.split()[1] for l in open('/proc/self/status') if l.startswith('Threads:')][0]\n"
                       "print('glibc_single=%d threads=%s' % (ord(flag.value), threads))\n";
    struct pmt_run_result r = run_every_event(py, dir, prog, writer);
    cr_assert(strstr(r.out, pmt_strf("glibc_single=1 threads=%d\n", threads)) != NULL,
              "expected glibc to see one thread while the kernel runs %d\n%s", threads,
              pmt_run_describe(&r));
    const struct pmt_logfile *log = the_complete_log(dir);
    cr_assert(log->log->n > 200000, "%s: %zu lines, every event of 200,000 calls expected", log->path,
              log->log->n);
}

E2E_TESTS_SUPPORTED(writer, glibc_single_threaded, run_single_threaded, "process")
E2E_TESTS_SUPPORTED(writer, glibc_single_threaded_thread, run_single_threaded, "thread")

/* A process that drops root while every event is logged: the writer
 * thread, not one of glibc's, is ended around os.setresuid and starts
 * again with the new credentials, so no thread of the process keeps root.
 * (The writer process is not the program: it keeps the files it holds.) */
static void run_setuid(const struct pmt_python *py, const void *arg)
{
    const char *writer = arg;
    int threads = strcmp(writer, "thread") == 0 ? 2 : 1;
    if (geteuid() != 0)
        cr_skip_test("needs root, to drop it");
    const char *dir = pmt_tmpdir();
    const char *prog = "import os\n"
                       "total = sum(len(str(i)) for i in range(100000))\n"
                       "os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)\n"
                       "total += sum(len(str(i)) for i in range(100000))\n"
                       "ids = set()\n"
                       "for t in os.listdir('/proc/self/task'):\n"
                       "    for l in open('/proc/self/task/%s/status' % t):\n"
                       "        if l.startswith(('Uid:', 'Gid:')): ids.update(l.split()[1:4])\n"
                       "threads = [l.split()[1] for l in open('/proc/self/status') if l.startswith('Threads:')][0]\n"
                       "print('task_ids=%s threads=%s' % (','.join(sorted(ids)), threads))\n";
    struct pmt_run_result r = run_every_event(py, dir, prog, writer);
    cr_assert(strstr(r.out, pmt_strf("task_ids=65534 threads=%d\n", threads)) != NULL,
              "expected every thread, the writer's too, to be nobody's after setresuid\n%s", pmt_run_describe(&r));
    the_complete_log(dir);
}

E2E_TESTS_SUPPORTED(writer, setuid_drops_every_thread, run_setuid, "process")
E2E_TESTS_SUPPORTED(writer, setuid_drops_every_thread_thread, run_setuid, "thread")

/* The writer outlives the thread that started it. It is started on the
 * thread that fills a log buffer; once that thread has ended and glibc
 * unmapped its stack (stack cache 0), a writer sharing its thread pointer
 * read unmapped memory at its next stack-protector check and killed the
 * program (the sanitizer build, with -fstack-protector-all, runs this too;
 * tests/unit/test_rawthread.c shows it without Python). */
static void run_writer_outlives_starter(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("writer_from_thread.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_QUIET=1", "PYMEMTRACE_CHECK=1", "PYMEMTRACE_WRITER=thread",
                                "GLIBC_TUNABLES=glibc.pthread.stack_cache_size=0"),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0 && !strncmp(r.out, "ok ", 3), "%s", pmt_run_describe(&r));
    const struct pmt_logfile *f = the_complete_log(dir);
    cr_assert(strstr(f->log->text, "# self-check: ") && strstr(f->log->text, " 0 inconsistencies"),
              "%s: the self-check did not pass", f->path);
}

E2E_TESTS_SUPPORTED(writer, outlives_the_thread_that_started_it, run_writer_outlives_starter, NULL)
