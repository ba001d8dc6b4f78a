/* The program's heap and threads are not the agent's to touch.
 *
 * (a) Start-up with glibc's malloc made strict: no per-thread cache
 *     (glibc.malloc.tcache_count=0) and freed memory filled with a pattern
 *     (glibc.malloc.perturb). A single chunk the agent freed, or wrote after
 *     its free, then breaks the very next malloc. This is how the heap
 *     corruption behind CPython's test_threading crashing under the agent
 *     was made deterministic: the constructor's dlerror() called realloc,
 *     whose lazy resolution by dlsym freed the dlerror state dlerror() was
 *     still writing (agent/forward.h). Before the fix `python -c` crashed
 *     at its first malloc in every mode on every interpreter.
 * (b) Thread churn (thread_churn.py): what test_threading.BarrierTests does
 *     (many short threads from _thread.start_new_thread, barriers waited on,
 *     aborted, timed out and reset), threading.Thread starts, a thread pool,
 *     and threads started from C through the agent's pthread_create, under
 *     the same strict malloc and PYMEMTRACE_CHECK=1: the program's own
 *     checks pass, every log is complete and well formed, and each event
 *     log's self-check found 0 inconsistencies in its hook calls.
 * Every mode: profile, trace, sample, reftrace (3.13+; refused with one line
 * before), everything with every event logged (the writer and sampler
 * threads), PYMEMTRACE_FUNCTION and native stacks. */
#include <stdio.h>
#include <string.h>

#include "checks.h"

#define STRICT_MALLOC "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"

struct heap_mode {
    const char *name;
    const char *modes;   /* PYMEMTRACE */
    const char *extra1;  /* further settings, or NULL */
    const char *extra2;
    long long trigger;
};

static const struct heap_mode heap_modes[] = {
    {"profile", "profile", NULL, NULL, -1},
    {"trace", "trace", NULL, NULL, -1},
    {"sample", "sample", "PYMEMTRACE_SAMPLE_INTERVAL=0.01", NULL, -1},
    {"reftrace", "reftrace", NULL, NULL, -1},
    {"every_event", "profile,trace,sample", "PYMEMTRACE_D_RSS_TRIGGER=0", NULL, 0},
    {"function", "profile,trace", "PYMEMTRACE_FUNCTION=barrier_rounds,c_threads,plain_call", NULL, -1},
    {"native", "profile", "PYMEMTRACE_NATIVE_STACK=16", NULL, -1},
};

static bool reftrace_refused(const struct pmt_python *py, const struct heap_mode *m)
{
    return strstr(m->modes, "reftrace") && (py->major == 3 && py->minor < 13);
}

static struct pmt_run_result heap_run(const struct pmt_python *py, const struct heap_mode *m, const char *dir,
                                      const char *const *argv)
{
    const char *env[8];
    size_t n = 0;
    env[n++] = e2e_preload();
    env[n++] = pmt_strf("PYMEMTRACE=%s", m->modes);
    env[n++] = "PYMEMTRACE_QUIET=1";
    env[n++] = "PYMEMTRACE_CHECK=1";
    env[n++] = STRICT_MALLOC;
    if (m->extra1)
        env[n++] = m->extra1;
    if (m->extra2)
        env[n++] = m->extra2;
    env[n] = NULL;
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .env = env, .timeout_s = E2E_TIMEOUT}, &r);
    cr_assert(r.exited && r.exit_code == 0, "%s under the agent (%s) with strict malloc\n%s", argv[1], m->name,
              pmt_run_describe(&r));
    /* Quiet: the agent says nothing, but for reftrace's refusal before 3.13. */
    char **lines, *rest;
    size_t nl;
    pmt_split_stderr(r.err, &lines, &nl, &rest);
    size_t allowed = reftrace_refused(py, m) ? 1 : 0;
    cr_assert(nl == allowed, "the agent said %zu line(s) on stderr, expected %zu\n%s", nl, allowed,
              pmt_run_describe(&r));
    if (allowed)
        cr_assert(strstr(lines[0], "reference tracing needs Python 3.13 or newer"), "%s", lines[0]);
    cr_assert_str_empty(rest, "the program wrote to stderr\n%s", pmt_run_describe(&r));
    return r;
}

/* Every log of the run: complete, and each event log's self-check clean. */
static size_t heap_check_logs(const char *dir, const struct heap_mode *m)
{
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        const char *text = f->log->text;
        if (f->id.mode == 'S') {
            cr_assert(strstr(text, "ProcessLoggingThread-JSON-START") &&
                          strstr(text, "ProcessLoggingThread-JSON-STOP"),
                      "%s: the sampler log lacks START or STOP", f->path);
            continue;
        }
        if (f->id.mode == 'P' || f->id.mode == 'T')
            e2e_check_log(f, NULL, m->trigger);
        const char *sc = strstr(text, "# self-check: ");
        cr_assert(sc != NULL, "%s: no self-check line", f->path);
        const char *eol = strchr(sc, '\n');
        char *line = pmt_strf("%.*s", (int)(eol ? eol - sc : (long)strlen(sc)), sc);
        cr_assert(strstr(line, " 0 inconsistencies") != NULL, "%s: %s", f->path, line);
        cr_assert(strstr(text, "\nEOF") != NULL, "%s: no EOF", f->path);
    }
    return set.n;
}

static void run_startup(const struct pmt_python *py, const void *arg)
{
    const struct heap_mode *m = arg;
    const char *dir = pmt_tmpdir();
    const char *prog = "import sys\n"
                       "def plain_call():\n"
                       "    return [bytes(i) for i in range(200)]\n"
                       "print(len(plain_call()), sys.version_info[0])\n";
    struct pmt_run_result r = heap_run(py, m, dir, PMT_LIST(py->path, "-c", prog));
    cr_assert_str_eq(r.out, "200 3\n", "%s", pmt_run_describe(&r));
    size_t n = heap_check_logs(dir, m);
    cr_assert(n > 0 || reftrace_refused(py, m), "no log in %s", dir);
}

static void run_churn(const struct pmt_python *py, const void *arg)
{
    const struct heap_mode *m = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = heap_run(py, m, dir, PMT_LIST(py->path, e2e_program("thread_churn.py")));
    cr_assert(strstr(r.out, "barrier_passed=15 short=1000 threading=200 pool=400 c=100 ok") != NULL,
              "the program's counts\n%s", pmt_run_describe(&r));
    size_t n = heap_check_logs(dir, m);
    cr_assert(n > 0 || reftrace_refused(py, m), "no log in %s", dir);
}

#define HEAP_TESTS(kind, fn)                                                   \
    E2E_TESTS_SUPPORTED(heap, kind##_profile, fn, &heap_modes[0])             \
    E2E_TESTS_SUPPORTED(heap, kind##_trace, fn, &heap_modes[1])               \
    E2E_TESTS_SUPPORTED(heap, kind##_sample, fn, &heap_modes[2])              \
    E2E_TESTS_SUPPORTED(heap, kind##_reftrace, fn, &heap_modes[3])            \
    E2E_TESTS_SUPPORTED(heap, kind##_every_event, fn, &heap_modes[4])         \
    E2E_TESTS_SUPPORTED(heap, kind##_function, fn, &heap_modes[5])            \
    E2E_TESTS_SUPPORTED(heap, kind##_native, fn, &heap_modes[6])

HEAP_TESTS(startup_strict_malloc, run_startup)
HEAP_TESTS(thread_churn, run_churn)
