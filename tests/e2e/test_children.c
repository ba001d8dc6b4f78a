/* Child processes (issue 5): subprocess children that are Python, a shell
 * in the middle, multiprocessing with fork, spawn and forkserver, a pool of
 * 4 spawn workers ended by Pool.terminate() (SIGTERM), and os.fork() each
 * write their own complete log, named with their own pid; no log holds
 * another process's lines. PYMEMTRACE_CHILDREN=0: only the first Python
 * process is traced and its children's environment has no agent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

/* The pid in the agent's first MSG line ("..., pid N, ..."). */
static long info_pid(const struct pmt_logfile *f)
{
    const struct pmt_line *m = pmt_log_first(f->log, PMT_K_MSG);
    const char *p = m && m->text ? strstr(m->text, ", pid ") : NULL;
    return p ? strtol(p + 6, NULL, 10) : -1;
}

static void case_all_children(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("children.py"), "all"),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_QUIET=1"),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);

    /* Every log: its own pid inside, a valid structure ending LAST, EOF. */
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        cr_assert_eq(f->id.mode, 'P', "%s", f->name);
        cr_assert_eq(info_pid(f), (long)f->id.pid, "%s: the log of pid %d says pid %ld", f->name,
                     (int)f->id.pid, info_pid(f));
        e2e_check_log(f, NULL, -1);
    }
    /* The parent's and each reported child's. */
    pmt_logset_get(&set, r.pid, 'P');
    static const char *const kinds[] = {"subprocess", "shell", "mp-fork", "mp-spawn",
                                        "mp-forkserver", "pool", "os-fork"};
    size_t pool = 0, killed = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char *needle = pmt_strf("child %s ", kinds[k]);
        size_t seen = 0;
        for (const char *p = strstr(r.out, needle); p; p = strstr(p + 1, needle)) {
            long pid = strtol(p + strlen(needle), NULL, 10);
            cr_assert_gt(pid, 0, "output: %s", r.out);
            const struct pmt_logfile *f = pmt_logset_get(&set, (pid_t)pid, 'P');
            cr_assert_gt(pmt_log_count(f->log, PMT_K_NEXT), 0, "%s: no NEXT line", f->name);
            for (size_t i = 0; i < f->log->n; i++)
                killed += f->log->lines[i].kind == PMT_K_MSG && f->log->lines[i].text &&
                          !strcmp(f->log->lines[i].text, "killed by signal 15 (SIGTERM)");
            seen++;
        }
        cr_assert_geq(seen, 1, "no '%s' line in the output:\n%s", needle, r.out);
        if (!strcmp(kinds[k], "pool"))
            pool = seen;
    }
    cr_assert_eq(pool, 4, "a pool of 4 workers:\n%s", r.out);
    (void)killed; /* how many workers were still running at terminate() varies */
}

E2E_TESTS_SUPPORTED(children, every_kind, case_all_children, NULL)

static void case_no_children(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("children.py"), "env"),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_QUIET=1",
                                "PYMEMTRACE_CHILDREN=0"),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, "child-env None False\n");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert_eq(set.n, 1, "only the first process's log");
    e2e_check_log(pmt_logset_get(&set, r.pid, 'P'), NULL, -1);
}

E2E_TESTS_SUPPORTED(children, none_with_children_0, case_no_children, NULL)

/* A forked child with PYMEMTRACE_CHILDREN=0 writes nothing either, and the
 * parent's log stays whole. */
static void case_no_fork_child(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-c",
                                 "import os\npid = os.fork()\nif pid == 0:\n"
                                 "    x = bytearray(8 << 20)\n    os._exit(0)\n"
                                 "os.waitpid(pid, 0)\nprint('ok')"),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_QUIET=1",
                                "PYMEMTRACE_CHILDREN=0"),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PT", py->version, true);
    cr_assert_eq(set.n, 2, "the child wrote a log");
    e2e_check_log(pmt_logset_get(&set, r.pid, 'P'), NULL, -1);
    e2e_check_log(pmt_logset_get(&set, r.pid, 'T'), NULL, -1);
}

E2E_TESTS_SUPPORTED(children, no_fork_child_with_children_0, case_no_fork_child, NULL)
