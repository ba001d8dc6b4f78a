/* The background writer (every event logged): logs stay complete and a fork
 * while it runs changes nothing the program can see. On 3.12+ os.fork()
 * warns when the process has other threads; the agent ends its writer in a
 * pthread_atfork prepare handler, so with warnings shown (-W default) the
 * program's stderr stays empty. */
#include <string.h>

#include "checks.h"

static void run_fork_busy(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-W", "default", e2e_program("fork_busy.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_QUIET=1"),
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

E2E_TESTS_SUPPORTED(writer, fork_while_writing, run_fork_busy, NULL)
