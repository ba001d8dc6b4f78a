/* Threads: every thread is traced, and a MSG line names the thread
 * ("thread native_id=<N>") where the thread of consecutive logged events
 * changes. (a) a threading.Thread started while tracing; (b) a thread already
 * running when tracing begins (started by sitecustomize during start-up). */
#include "checks.h"

#include <stdio.h>
#include <string.h>

/* Index of the thread MSG line in force at line index i (the last one
 * before it), or -1. */
static long thread_msg_before(const struct pmt_log *log, size_t i)
{
    while (i-- > 0)
        if (e2e_msg_thread_id(&log->lines[i]) >= 0)
            return (long)i;
    return -1;
}

static long last_event_of(const struct pmt_log *log, const char *func)
{
    long at = -1;
    for (size_t i = 0; i < log->n; i++)
        if (pmt_is_event(log->lines[i].kind) && !strcmp(log->lines[i].func, func))
            at = (long)i;
    return at;
}

static bool thread_msg_after(const struct pmt_log *log, size_t i, long id)
{
    for (; i < log->n; i++)
        if (e2e_msg_thread_id(&log->lines[i]) == id)
            return true;
    return false;
}

static char *thread_msgs(const struct pmt_log *log)
{
    char *s = pmt_strf("%s", "");
    for (size_t i = 0; i < log->n; i++)
        if (log->lines[i].kind == PMT_K_MSG)
            s = pmt_strf("%s\n  line %d: %s", s, log->lines[i].lineno, log->lines[i].raw);
    return s[0] ? pmt_excerpt(s, 3000) : pmt_strf(" none");
}

/* The thread's events are attributed to it: the thread MSG line in force at
 * each event in func names worker_id, and at least one does (events before
 * any thread MSG belong to the thread the log began on). */
static void check_thread_events(const struct pmt_logfile *f, const char *func, long worker_id)
{
    const struct pmt_log *log = f->log;
    cr_assert(pmt_log_find_func(log, func) >= 0, "%s: no event in %s (that thread is not traced); MSG lines:%s",
              f->path, func, thread_msgs(log));
    bool announced = false;
    for (size_t i = 0; i < log->n; i++) {
        const struct pmt_line *l = &log->lines[i];
        if (!pmt_is_event(l->kind) || strcmp(l->func, func) != 0)
            continue;
        long m = thread_msg_before(log, i);
        if (m < 0)
            continue;
        long id = e2e_msg_thread_id(&log->lines[m]);
        cr_assert(id == worker_id,
                  "%s line %d: an event in %s follows the MSG `thread native_id=%ld` of line %d, but that "
                  "thread's threading.get_native_id() is %ld; MSG lines:%s",
                  f->path, l->lineno, func, id, log->lines[m].lineno, worker_id, thread_msgs(log));
        announced = true;
    }
    cr_assert(announced, "%s: no MSG line `thread native_id=%ld` announces the events in %s; MSG lines:%s", f->path,
              worker_id, func, thread_msgs(log));
}

static void run_new_thread(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("threads_new.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_D_RSS_TRIGGER=0"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    long main_id = 0, worker_id = 0, size = 0;
    cr_assert(sscanf(r.out, "main_native_id=%ld worker_native_id=%ld size=%ld", &main_id, &worker_id, &size) == 3 &&
                  size == 20L * 1024 * 1024,
              "unexpected output\n%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        e2e_check_log(f, NULL, 0);
        check_thread_events(f, "thread_worker_alloc", worker_id);
        long last = last_event_of(f->log, "thread_worker_alloc");
        cr_assert(thread_msg_after(f->log, (size_t)last, main_id),
                  "%s: after the worker's last event (line %d) no MSG names the main thread again "
                  "(native_id=%ld); MSG lines:%s",
                  f->path, f->log->lines[last].lineno, main_id, thread_msgs(f->log));
    }
}

static void run_preexisting(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir(), *site = pmt_tmpdir();
    pmt_write_file(pmt_join(site, "sitecustomize.py"),
                   pmt_read_file(e2e_program("sitecustomize_preexisting.py"), NULL), 0644);
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("threads_pre.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes), "PYMEMTRACE_D_RSS_TRIGGER=0",
                                pmt_strf("PYTHONPATH=%s", site)),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    long steps = 0, worker_id = 0;
    cr_assert(sscanf(r.out, "steps_while_traced=%ld worker_native_id=%ld", &steps, &worker_id) == 2,
              "unexpected output\n%s", pmt_run_describe(&r));
    cr_assert(steps >= 50, "the pre-existing thread made only %ld steps while the program ran\n%s", steps,
              pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, e2e_mode_letters(modes), py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    const struct pmt_logfile *f = &set.files[0];
    e2e_check_log(f, NULL, 0);
    check_thread_events(f, "preexisting_step", worker_id);
}

E2E_TESTS_SUPPORTED(threads, started_while_tracing, run_new_thread, NULL)
E2E_TESTS_SUPPORTED(threads, preexisting_profile, run_preexisting, "profile")
E2E_TESTS_SUPPORTED(threads, preexisting_trace, run_preexisting, "trace")
