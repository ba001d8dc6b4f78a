/* valgrind's memcheck over a representative subset of the end-to-end runs:
 * no error with a frame in the agent. Python allocates through malloc here
 * (PYTHONMALLOC=malloc), so memcheck sees every block; errors inside the
 * interpreter alone are not the agent's and are only counted, and so are
 * leaks whose block the interpreter allocated (CPython keeps many objects to
 * the end, a few of them made for the agent's own calls). Debian's
 * python3 and pyenv's newest version; each mode the agent has: profile at a
 * page, trace with every event logged (the writer thread), sample (the
 * sampler thread), PYMEMTRACE_FUNCTION, native stacks, reference tracing
 * (3.13), and the thread churn. Skipped with the reason when valgrind is
 * not installed. Slow (python runs ~30x slower under memcheck): a suite of
 * its own, `meson test memcheck`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"

static const char *valgrind_path(void)
{
    static const char *const places[] = {"/usr/bin/valgrind", "/usr/local/bin/valgrind"};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
        if (access(places[i], X_OK) == 0)
            return places[i];
    return NULL;
}

struct mc_case {
    const char *program;   /* in PMT_PROGRAMS */
    const char *arg;       /* its arguments (up to two), or NULL */
    const char *arg2;
    const char *modes;
    const char *extra;     /* one more setting, or NULL */
    const char *expect;    /* on stdout */
    int min_minor;         /* the oldest 3.x it applies to */
};

/* Whether an error of memcheck's XML is the agent's: a frame of its stack
 * in the agent; for a leak, the frame that called the allocator (CPython
 * keeps objects alive to the end by design, some that the agent's calls
 * made: those are not the agent's leaks). */
static bool blames_agent(const char *error)
{
    if (!strstr(error, "<kind>Leak_"))
        return strstr(error, "libpymemtrace.so</obj>") != NULL;
    for (const char *f = strstr(error, "<frame>"); f; f = strstr(f + 7, "<frame>")) {
        const char *fe = strstr(f, "</frame>");
        char *frame = pmt_strf("%.*s", fe ? (int)(fe - f) : 0, f);
        if (strstr(frame, "vgpreload_memcheck") || strstr(frame, "<fn>malloc</fn>") ||
            strstr(frame, "<fn>calloc</fn>") || strstr(frame, "<fn>realloc</fn>") ||
            strstr(frame, "<fn>strdup</fn>") || strstr(frame, "<fn>posix_memalign</fn>"))
            continue; /* the allocator itself */
        return strstr(frame, "libpymemtrace.so</obj>") != NULL;
    }
    return false;
}

/* The errors of one XML report whose stack has a frame in the agent; the
 * count of the others goes to *others. */
static char *agent_errors(const char *xml, int *others)
{
    char *found = pmt_strf("%s", "");
    *others = 0;
    for (const char *e = strstr(xml, "<error>"); e; e = strstr(e + 7, "<error>")) {
        const char *end = strstr(e, "</error>");
        if (!end)
            break;
        char *one = pmt_strf("%.*s", (int)(end - e), e);
        if (!blames_agent(one)) {
            (*others)++;
            continue;
        }
        const char *kind = strstr(one, "<kind>");
        found = pmt_strf("%s\n  %.60s", found, kind ? kind + 6 : "?");
        int frames = 0;
        for (const char *f = strstr(one, "<fn>"); f && frames < 12; f = strstr(f + 4, "<fn>"), frames++) {
            const char *fe = strstr(f, "</fn>");
            found = pmt_strf("%s\n    %.*s", found, fe ? (int)(fe - f - 4) : 40, f + 4);
        }
    }
    return found;
}

static void run_memcheck(const struct pmt_python *py, const void *arg)
{
    const struct mc_case *c = arg;
    const char *vg = valgrind_path();
    if (!vg)
        cr_skip_test("valgrind is not installed (Debian: apt-get install valgrind)");
    if (py->minor < c->min_minor)
        cr_skip_test("%s needs Python 3.%d", c->modes, c->min_minor);
    const char *dir = pmt_tmpdir(), *reports = pmt_tmpdir();
    const char *prog = e2e_program(c->program);
    const char *const *argv = PMT_LIST(vg, "--tool=memcheck", "--xml=yes",
                                       pmt_strf("--xml-file=%s/vg.%%p.xml", reports), "--num-callers=40",
                                       pmt_strf("--suppressions=%s/tests/e2e/valgrind.supp",
                                                pmt_env("PMT_SOURCE_ROOT")),
                                       "--child-silent-after-fork=yes", "--trace-children=no", py->path, prog,
                                       c->arg, c->arg2);
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = argv,
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->modes), "PYMEMTRACE_QUIET=1",
                                "PYTHONMALLOC=malloc", c->extra ? c->extra : "PYMEMTRACE_CHECK=1"),
                .timeout_s = 900,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s under memcheck\n%s", c->program, pmt_run_describe(&r));
    cr_assert(strstr(r.out, c->expect) != NULL, "%s printed\n%s", c->program, pmt_run_describe(&r));
    size_t n;
    char **names = pmt_list_dir(reports, ".xml", &n);
    cr_assert(n >= 1, "memcheck wrote no report in %s", reports);
    int others_total = 0;
    for (size_t i = 0; i < n; i++) {
        char *xml = pmt_read_file(pmt_join(reports, names[i]), NULL);
        int others;
        char *mine = agent_errors(xml, &others);
        others_total += others;
        cr_assert(!*mine, "memcheck found errors in the agent (%s):%s", names[i], mine);
    }
    size_t logs;
    pmt_list_dir(dir, ".log", &logs);
    cr_assert(logs >= 1, "no log in %s", dir);
    if (others_total)
        cr_log_info("%d memcheck error(s) outside the agent (the interpreter's own)", others_total);
}

static const struct mc_case mc_cases[] = {
    {"grow.py", NULL, NULL, "profile", NULL, "size=52428800", 8},
    {"grow.py", NULL, NULL, "trace", "PYMEMTRACE_D_RSS_TRIGGER=0", "size=52428800", 8},
    {"sample_run.py", "grow", "2", "sample", "PYMEMTRACE_SAMPLE_INTERVAL=0.02", "pid=", 8},
    {"grow.py", NULL, NULL, "profile,trace", "PYMEMTRACE_FUNCTION=grow", "size=52428800", 8},
    {"grow.py", NULL, NULL, "profile", "PYMEMTRACE_NATIVE_STACK=16", "size=52428800", 8},
    {"reftrace_objs.py", NULL, NULL, "reftrace", NULL, "done", 13},
    {"thread_churn.py", "0.1", NULL, "profile,trace,sample", NULL, " ok", 8},
};

#define MC_TEST(name, id, i)                                                   \
    Test(memcheck, name, .fini = pmt_fini, .timeout = 1200)                    \
    {                                                                          \
        e2e_run_case(id, run_memcheck, &mc_cases[i]);                          \
    }
#define MC_TESTS(name, i)                                                      \
    MC_TEST(name##_debian, PMT_PY_DEBIAN, i)                                   \
    MC_TEST(name##_py313, PMT_PY_313, i)

MC_TESTS(profile, 0)
MC_TESTS(trace_every_event, 1)
MC_TESTS(sample, 2)
MC_TESTS(function, 3)
MC_TESTS(native, 4)
MC_TESTS(reftrace, 5)
MC_TESTS(thread_churn, 6)
