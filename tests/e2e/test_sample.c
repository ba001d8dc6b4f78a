/* PYMEMTRACE=sample: the sampler thread's log, read the way pymemtrace's
 * process module reads it (sample_check.py, run by Debian's python3, applies
 * the module's line pattern, json.loads and its timestamp format), on every
 * interpreter: about one line per interval, START first and STOP last on
 * every way out (exit, os._exit, exec), RSS that follows the program's
 * growth, a log of its own for a forked child, no fork warning on 3.12+
 * (the thread is ended around os.fork()), and bad intervals refused with the
 * exact message while the program runs untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

#define MIB (1024ull * 1024)

/* ---- reading a sampler log ------------------------------------------------ */

struct sample_rec {
    char kind[8]; /* START, SAMPLE, STOP */
    long pid;
    unsigned long long rss, peak, vms, pfaults;
    double user, elapsed, ts;
};

struct sample_log {
    const char *path;
    size_t n;
    struct sample_rec *r;
};

static void sample_load(const char *path, const char *message, struct sample_log *out)
{
    const char *check = e2e_program("sample_check.py");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = message ? PMT_LIST("/usr/bin/python3", check, path, message)
                                                   : PMT_LIST("/usr/bin/python3", check, path)},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s is not a log that pymemtrace's process module reads\n%s", path,
              pmt_run_describe(&r));
    out->path = path;
    out->n = 0;
    out->r = calloc(r.out_len / 16 + 1, sizeof *out->r);
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        struct sample_rec *s = &out->r[out->n++];
        cr_assert(sscanf(line, "%7s %ld %llu %llu %llu %llu %lf %lf %lf", s->kind, &s->pid, &s->rss, &s->peak,
                         &s->vms, &s->pfaults, &s->user, &s->elapsed, &s->ts) == 9,
                  "sample_check.py printed `%s`", line);
    }
}

static size_t sample_count(const struct sample_log *l, const char *kind)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += !strcmp(l->r[i].kind, kind);
    return n;
}

/* START first, STOP last, samples between; every line of pid; time moving
 * forward; the peak never below RSS nor falling. */
static void sample_check(const struct sample_log *l, pid_t pid)
{
    cr_assert(l->n >= 2 && !strcmp(l->r[0].kind, "START") && !strcmp(l->r[l->n - 1].kind, "STOP"),
              "%s: should begin with START and end with STOP (%zu records)", l->path, l->n);
    cr_assert(sample_count(l, "START") == 1 && sample_count(l, "STOP") == 1, "%s: one START and one STOP",
              l->path);
    for (size_t i = 0; i < l->n; i++) {
        const struct sample_rec *s = &l->r[i];
        cr_assert(s->pid == pid, "%s record %zu: pid %ld, the process is %d", l->path, i + 1, s->pid, (int)pid);
        cr_assert(s->rss > 0 && s->peak >= s->rss && s->vms >= s->rss && s->pfaults > 0,
                  "%s record %zu: rss %llu, peak %llu, vms %llu, faults %llu", l->path, i + 1, s->rss, s->peak,
                  s->vms, s->pfaults);
        if (i == 0)
            continue;
        const struct sample_rec *p = &l->r[i - 1];
        cr_assert(s->ts > p->ts && s->elapsed > p->elapsed,
                  "%s record %zu: timestamp %.6f / elapsed %.6f not after the previous %.6f / %.6f", l->path, i + 1,
                  s->ts, s->elapsed, p->ts, p->elapsed);
        cr_assert(s->peak >= p->peak && s->pfaults >= p->pfaults && s->user >= p->user,
                  "%s record %zu: peak RSS, faults and CPU time never fall", l->path, i + 1);
    }
}

/* The sampler log of pid in dir, checked. */
static void sample_get(const struct pmt_logset *set, pid_t pid, const char *message, struct sample_log *out)
{
    sample_load(pmt_logset_get(set, pid, 'S')->path, message, out);
    sample_check(out, pid);
}

static pid_t output_pid(const struct pmt_run_result *r, const char *key)
{
    char *want = pmt_strf("%s=", key);
    const char *p = strstr(r->out, want);
    cr_assert(p != NULL, "no `%s<pid>` on stdout\n%s", want, pmt_run_describe(r));
    return (pid_t)atol(p + strlen(want));
}

static struct pmt_run_result run_sampled(const struct pmt_python *py, const char *dir, const char *modes,
                                         const char *interval, const char *const *argv_tail)
{
    struct pmt_run_result r;
    const char *const *argv = pmt_list_cat(PMT_LIST(py->path, "-W", "default", e2e_program("sample_run.py")),
                                           argv_tail);
    pmt_run(&(struct pmt_run_opts){.argv = argv,
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                                   pmt_strf("PYMEMTRACE_SAMPLE_INTERVAL=%s", interval)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    return r;
}

/* ---- a growing program ------------------------------------------------------ */

struct grow_case {
    const char *modes;
    const char *interval;
    double seconds;
};

static void run_grow(const struct pmt_python *py, const void *arg)
{
    const struct grow_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_sampled(py, dir, c->modes, c->interval, PMT_LIST("grow", "1.0"));
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(output_pid(&r, "pid") == r.pid);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, e2e_mode_letters(c->modes), py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    if (strchr(e2e_mode_letters(c->modes), 'P'))
        e2e_check_log(pmt_logset_get(&set, r.pid, 'P'), NULL, -1);

    struct sample_log l;
    sample_get(&set, r.pid, NULL, &l);
    /* About one sample per interval over the run: not more than its wall
     * time allows, and at least half of the program's own second (a loaded
     * 2-core machine can delay a wake-up, never add one). */
    double interval = atof(c->interval);
    size_t samples = sample_count(&l, "SAMPLE"), most = (size_t)(r.seconds / interval) + 1,
           least = (size_t)(c->seconds / interval / 2);
    cr_assert(samples >= least && samples <= most, "%s: %zu samples at %s s over a %.2f s run, expected %zu to %zu",
              l.path, samples, c->interval, r.seconds, least, most);
    /* 50 MB touched at a fifth of the run and kept: the last sample is well
     * above the first line. */
    const struct sample_rec *last = &l.r[l.n - 2];
    cr_assert(last->rss >= l.r[0].rss + 40 * MIB, "%s: the last sample's RSS %llu is not 40 MiB above START's %llu",
              l.path, last->rss, l.r[0].rss);
}

static const struct grow_case grow_default = {"sample", "0.1", 1.0};
static const struct grow_case grow_quarter = {"sample", "0.25", 1.0};
static const struct grow_case grow_profile = {"profile,sample", "0.1", 1.0};

E2E_TESTS_SUPPORTED(sample, grow, run_grow, &grow_default)
E2E_TESTS_SUPPORTED(sample, grow_quarter_second, run_grow, &grow_quarter)
E2E_TESTS_SUPPORTED(sample, grow_with_profile, run_grow, &grow_profile)

/* ---- glibc keeps its single-thread paths ------------------------------------
 * The sampler's thread is one glibc does not know (agent/rawthread.h), so
 * that the program's malloc stays as fast as without the agent. The kernel
 * counts two threads; glibc still takes the process for single-threaded. */

static void run_single_threaded(const struct pmt_python *py, const void *arg)
{
    (void)arg;
#if !defined(__x86_64__)
    cr_skip_test("the sampler's glibc-free thread is built on x86-64 only; here it is a pthread");
#endif
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_sampled(py, dir, "sample", "0.05", PMT_LIST("grow", "0.5", "glibc"));
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(strstr(r.out, "glibc_single=1 threads=2\n") != NULL,
              "expected glibc to see one thread while the kernel runs two (the sampler's)\n%s",
              pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    struct sample_log l;
    sample_get(&set, r.pid, NULL, &l);
    cr_assert(sample_count(&l, "SAMPLE") >= 2, "%s: the thread wrote %zu samples in 0.5 s at 0.05 s", l.path,
              sample_count(&l, "SAMPLE"));
}

E2E_TESTS_SUPPORTED(sample, glibc_single_threaded, run_single_threaded, NULL)

/* What the agent's threads run may not call into glibc beyond pure
 * functions (rawthread.h's rules): the sampler's (sample mode) and the
 * writer's (every-event logs). Checked on the built agent: every function
 * reached by direct calls and jumps from each thread's body, and every call
 * out of the library, which must be one of the pure ones below. The
 * indirect calls are rawthread's start (rt_run) into those bodies and the
 * writer's failure callback, tracelog's tl_async_fail: each target is
 * followed as a root of its own. */

static const char *const pure_imports[] = {"memcpy", "memmove", "memset", "strlen", "strnlen", "strcspn",
                                           "strrchr", "strstr", "strerrordesc_np", NULL};
static const char *const thread_roots[] = {"rt_run", "sm_main", "wr_main", "tl_async_fail", NULL};
static const char *const may_call_indirectly[] = {"rt_run", "wr_main", "wr_write", NULL};

struct fn_calls {
    char name[128];
    char callees[128][128];
    size_t n;
    int indirect; /* a call through a register or memory */
};

static int in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}

Test(sample, threads_call_only_pure_functions, .timeout = 120)
{
#if !defined(__x86_64__)
    cr_skip_test("the agent's glibc-free threads are built on x86-64 only");
#endif
    const char *agent = getenv("PMT_AGENT");
    cr_assert(agent != NULL, "PMT_AGENT is not set");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST("objdump", "-d", "--no-show-raw-insn", agent)}, &r);
    if (!r.exited || r.exit_code != 0)
        cr_skip_test("objdump (binutils) cannot disassemble %s", agent);
    size_t cap = 4096, n = 0;
    struct fn_calls *fns = calloc(cap, sizeof *fns), *cur = NULL;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[128];
        unsigned long long addr;
        if (sscanf(line, "%llx <%127[^>]>:", &addr, name) == 2 && line[0] != ' ') {
            cr_assert(n < cap, "more than %zu functions", cap);
            cur = &fns[n++];
            snprintf(cur->name, sizeof cur->name, "%s", name);
            continue;
        }
        if (!cur || !(strstr(line, "\tcall") || strstr(line, "\tjmp")))
            continue;
        const char *lt = strchr(line, '<');
        if (!lt) {
            cur->indirect |= strstr(line, "\tcall") != NULL && strchr(line, '*') != NULL;
            continue;
        }
        char target[128];
        if (sscanf(lt, "<%127[^>]>", target) != 1 || strchr(target, '+'))
            continue; /* a jump within a function */
        int again = 0;
        for (size_t i = 0; i < cur->n && !again; i++)
            again = !strcmp(cur->callees[i], target);
        if (again)
            continue; /* a sanitizer build calls its report functions many times */
        cr_assert(cur->n < 128, "%s: too many callees", cur->name);
        snprintf(cur->callees[cur->n++], sizeof cur->callees[0], "%s", target);
    }
    const char *todo[512];
    size_t ntodo = 0, seen = 0;
    for (const char *const *root = thread_roots; *root; root++)
        todo[ntodo++] = *root;
    char reached[512][128];
    while (ntodo) {
        const char *name = todo[--ntodo];
        int known = 0;
        for (size_t i = 0; i < seen; i++)
            known |= !strcmp(reached[i], name);
        if (known)
            continue;
        cr_assert(seen < 512);
        snprintf(reached[seen++], sizeof reached[0], "%s", name);
        const char *plt = strstr(name, "@plt");
        if (plt) {
            int pure = 0;
            for (const char *const *p = pure_imports; *p; p++)
                pure |= strlen(*p) == (size_t)(plt - name) && !strncmp(name, *p, (size_t)(plt - name));
            /* The paths that only run once something is already wrong: a
             * smashed stack, and a sanitizer build's reports. */
            pure |= !strncmp(name, "__stack_chk_fail@", 17) ||
                    (e2e_sanitized() && (!strncmp(name, "__asan_", 7) || !strncmp(name, "__ubsan_", 8)));
            cr_assert(pure, "an agent thread reaches %s, which is not a pure glibc function", name);
            continue;
        }
        struct fn_calls *f = NULL;
        for (size_t i = 0; i < n && !f; i++)
            if (!strcmp(fns[i].name, name))
                f = &fns[i];
        if (!f && in_list(thread_roots, name))
            cr_skip_test("%s has no symbol table (stripped): cannot follow the threads' calls", agent);
        cr_assert(f != NULL, "no function %s in the disassembly of %s", name, agent);
        cr_assert(!f->indirect || in_list(may_call_indirectly, name), "an agent thread makes an indirect call in %s",
                  name);
        for (size_t i = 0; i < f->n; i++) {
            cr_assert(ntodo < 512);
            todo[ntodo++] = f->callees[i];
        }
    }
    cr_assert(seen >= 12, "only %zu functions reached from the threads: the disassembly was not read", seen);
}

/* ---- a process that drops root -------------------------------------------------
 * glibc's setuid family changes the credentials of the threads glibc knows;
 * the sampler's is not one of them, so the agent restarts it around those
 * calls. No thread of the process may keep root afterwards, and the
 * samples go on. */

static void run_setuid(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    if (geteuid() != 0)
        cr_skip_test("needs root, to drop it");
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_sampled(py, dir, "sample", "0.05", PMT_LIST("setuid", "0.9"));
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert(strstr(r.out, "task_ids=65534\n") != NULL,
              "a thread of the process kept other credentials than nobody's\n%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    struct sample_log l;
    sample_get(&set, r.pid, NULL, &l);
    const struct sample_rec *stop = &l.r[l.n - 1];
    size_t late = 0;
    for (size_t i = 0; i < l.n; i++)
        late += !strcmp(l.r[i].kind, "SAMPLE") && l.r[i].ts > stop->ts - 0.25;
    cr_assert(late >= 2, "%s: %zu samples in the last 0.25 s at 0.05 s: the sampler did not go on after setuid",
              l.path, late);
}

E2E_TESTS_SUPPORTED(sample, setuid_drops_every_thread, run_setuid, NULL)

/* ---- local time across a change of UTC offset --------------------------------
 * The thread may not call localtime_r; the offsets ahead are found when it
 * starts. A POSIX TZ rule puts a one-hour change (UTC+0 to UTC+1) three
 * seconds after the launch: the lines' local times step by an hour there and
 * only there, and each line's time is UTC, then UTC+1. */

static double line_local_seconds(const char *line)
{
    struct tm tm = {0};
    int ms = -1;
    if (sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d,%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}

static void run_zone_change(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    time_t change = time(NULL) + 3;
    struct tm at;
    gmtime_r(&change, &at);
    /* Zero-based day numbers (leap days counted); standard time is UTC. Summer
     * time ends at midnight three days on, so it lasts more than two days: the
     * sampler looks for changes a day apart, and real zones keep an offset for
     * months (with two days on, a change after 23:00 UTC left less than a day). */
    char *tz = pmt_strf("TZ=AAA0BBB-1,%d/%02d:%02d:%02d,%d/0", at.tm_yday, at.tm_hour, at.tm_min, at.tm_sec,
                        (at.tm_yday + 3) % 365);
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("sample_run.py"), "grow", "5"),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=sample", tz,
                                                   "PYMEMTRACE_SAMPLE_INTERVAL=0.1"),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const char *path = pmt_logset_get(&set, r.pid, 'S')->path;
    size_t len;
    char *text = pmt_read_file(path, &len);
    size_t lines = 0, steps = 0, before = 0, after = 0;
    double previous = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        double local = line_local_seconds(line);
        cr_assert(local >= 0, "%s: no local time at the start of `%s`", path, line);
        /* The true time of the line is within its run: which offset is it? */
        double offset = local - (double)change;
        if (offset < 0) {
            before++;
            cr_assert(offset > -5, "%s: `%.23s` is not UTC before the change at %ld", path, line, (long)change);
        } else {
            after++;
            cr_assert(offset >= 3600 && offset < 3600 + 5, "%s: `%.23s` is not UTC+1 after the change at %ld", path,
                      line, (long)change);
        }
        if (previous >= 0) {
            double step = local - previous;
            steps += step > 3000;
            cr_assert((step >= 0 && step < 1) || (step > 3599 && step < 3601),
                      "%s line %zu: %.3f s after the line before", path, lines + 1, step);
        }
        previous = local;
        lines++;
    }
    cr_assert(steps == 1 && before >= 5 && after >= 5,
              "%s: %zu lines before the change, %zu after, %zu steps of an hour (expected one)", path, before, after,
              steps);
}

E2E_TEST_PY(sample, zone_change_debian, PMT_PY_DEBIAN, run_zone_change, NULL)
E2E_TEST_PY(sample, zone_change_py38, PMT_PY_38, run_zone_change, NULL)
E2E_TESTS_313_UP(sample, zone_change, run_zone_change, NULL)

/* ---- fork --------------------------------------------------------------------
 * Run with -W default: on 3.12+ os.fork() in a process with another thread
 * prints a DeprecationWarning (-W error does not show it: CPython drops the
 * error), so the program's stderr must stay empty. With `logging`, a Python
 * at-fork callback runs inside os.fork() before 3.13 counts threads. */

static void run_fork(const struct pmt_python *py, const void *arg)
{
    const char *extra = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r =
        run_sampled(py, dir, "sample", "0.05", extra ? PMT_LIST("fork", "1.2", extra) : PMT_LIST("fork", "1.2"));
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    pid_t child = output_pid(&r, "child");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert(set.n == 2, "expected the parent's and the child's sampler logs, found %zu", set.n);
    e2e_check_names(&set, &r, r.pid, "S", py->version, true);
    e2e_check_names(&set, &r, child, "S", py->version, true);
    char *rest = e2e_check_stderr(&r, dir, &set, false, NULL);
    cr_assert(strstr(rest, "multi-threaded") == NULL && rest[0] == '\0',
              "the sampler thread showed in the program's stderr:\n%s", pmt_excerpt(rest, 2000));
    struct sample_log parent, kid;
    sample_get(&set, r.pid, NULL, &parent);
    sample_get(&set, child, NULL, &kid);
    cr_assert(sample_count(&kid, "SAMPLE") >= 1, "%s: the child ran 0.4 s at 0.05 s and has no sample", kid.path);
    /* The parent's sampler went on after the fork: samples after the child
     * started, and after it ended. */
    const struct sample_rec *kid_start = &kid.r[0], *kid_stop = &kid.r[kid.n - 1];
    size_t during = 0, after = 0;
    for (size_t i = 0; i < parent.n; i++) {
        during += !strcmp(parent.r[i].kind, "SAMPLE") && parent.r[i].ts > kid_start->ts && parent.r[i].ts < kid_stop->ts;
        after += !strcmp(parent.r[i].kind, "SAMPLE") && parent.r[i].ts > kid_stop->ts;
    }
    cr_assert(during >= 1 && after >= 1, "%s: %zu samples while the child ran, %zu after: the sampler did not resume",
              parent.path, during, after);
}

E2E_TESTS_SUPPORTED(sample, fork, run_fork, NULL)
E2E_TESTS_SUPPORTED(sample, fork_with_logging, run_fork, "logging")

/* ---- os._exit and exec: STOP on the way out ------------------------------- */

static void run_exit_path(const struct pmt_python *py, const void *arg)
{
    const char *what = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = run_sampled(py, dir, "sample", "0.05", PMT_LIST(what, "0.3"));
    int status = !strcmp(what, "os_exit") ? 7 : 0;
    cr_assert(r.exited && r.exit_code == status, "expected status %d\n%s", status, pmt_run_describe(&r));
    cr_assert(output_pid(&r, "pid") == r.pid);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "S", py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    struct sample_log l;
    sample_get(&set, r.pid, NULL, &l); /* STOP last */
    cr_assert(sample_count(&l, "SAMPLE") >= 1, "%s: no sample in 0.3 s at 0.05 s", l.path);
}

E2E_TESTS_SUPPORTED(sample, os_exit, run_exit_path, "os_exit")
E2E_TESTS_SUPPORTED(sample, exec, run_exit_path, "exec")

/* ---- the message line and quiet ------------------------------------------- */

static void run_message(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("sample_run.py"), "grow", "0.3"),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=sample", "PYMEMTRACE_QUIET=1",
                                                   "PYMEMTRACE_MESSAGE=nightly run 7")},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "S", py->version, true);
    e2e_check_stderr(&r, dir, &set, true, "");
    struct sample_log l;
    sample_get(&set, r.pid, "nightly run 7", &l);
}

E2E_TEST_PY(sample, message_and_quiet_debian, PMT_PY_DEBIAN, run_message, NULL)
E2E_TESTS_313_UP(sample, message_and_quiet, run_message, NULL)

/* ---- bad intervals and unwritable targets: the program runs untouched ----- */

struct refused {
    const char *const env[4];
    const char *line; /* the one agent line on stderr */
};

static void run_refused(const struct pmt_python *py, const void *arg)
{
    const struct refused *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    size_t n;
    char **lines = e2e_run_plain_against_baseline(py, dir, "2000", c->env, &n, &r);
    cr_assert(n == 1 && !strcmp(lines[0], c->line), "expected exactly the line `%s` on stderr\n%s", c->line,
              pmt_run_describe(&r));
    e2e_check_no_files(dir, c->env[1]);
}

#define ACCEPTED "accepted: seconds between samples, a decimal number from 0.001 to 86400 such as 0.25; not tracing"
#define REFUSED(name, value, reason)                                                                         \
    static const struct refused refused_##name = {                                                           \
        {"PYMEMTRACE=sample", "PYMEMTRACE_SAMPLE_INTERVAL=" value, NULL},                                     \
        "pymemtrace: PYMEMTRACE_SAMPLE_INTERVAL='" value "' is not valid (" reason "); " ACCEPTED};          \
    E2E_TEST_PY(sample, bad_interval_##name##_debian, PMT_PY_DEBIAN, run_refused, &refused_##name)           \
    E2E_TESTS_313_UP(sample, bad_interval_##name, run_refused, &refused_##name)

REFUSED(zero, "0", "out of range")
REFUSED(word, "fast", "not a number")
REFUSED(negative, "-0.5", "negative")
REFUSED(leading_point, ".5", "not a number")
REFUSED(too_long, "86401", "out of range")
REFUSED(too_fine, "0.0000000001", "finer than a nanosecond")

/* QUIET, so the one line is the failure. */
static const struct refused dev_full = {
    {"PYMEMTRACE=sample", "PYMEMTRACE_LOG_FILE=/dev/full", "PYMEMTRACE_QUIET=1", NULL},
    "pymemtrace: cannot write /dev/full: No space left on device; not sampling"};
static const struct refused proc_dir = {
    {"PYMEMTRACE=sample", "PYMEMTRACE_LOG_DIR=/proc/pymemtrace-nope", NULL},
    "pymemtrace: cannot create the log folder /proc/pymemtrace-nope: No such file or directory; not sampling"};

E2E_TESTS_SUPPORTED(sample, no_harm_dev_full, run_refused, &dev_full)
E2E_TESTS_SUPPORTED(sample, no_harm_log_dir_in_proc, run_refused, &proc_dir)
