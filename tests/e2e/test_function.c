/* PYMEMTRACE_FUNCTION: logging only while a named function runs, as
 * pymemtrace's decorators do, on function_target.py (see its docstring).
 *
 * Every call of the function gets its own profile and trace logs (both
 * modes at once, every event logged): its FRST is the function's CALL at its
 * def line, its LAST the function's RETURN, it holds the callees' events and
 * none of the code outside the call. Nested listed calls get logs one depth
 * deeper, the outer log saying where it detached and re-attached. */
#include "checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Functions of function_target.py that never run inside a traced call. */
static const char *const outside_funcs[] = {"outside_before", "outside_after", "main", "<module>"};

/* quiet: PYMEMTRACE_QUIET=1, for runs with more logs than stderr announces. */
static struct pmt_run_result fn_run_quiet(const struct pmt_python *py, const char *dir, const char *scenario,
                                          const char *spec, bool quiet)
{
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("function_target.py"), scenario),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                pmt_strf("PYMEMTRACE_FUNCTION=%s", spec), "PYTHONDONTWRITEBYTECODE=1",
                                quiet ? "PYMEMTRACE_QUIET=1" : "PYMEMTRACE_QUIET"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    return r;
}

static struct pmt_run_result fn_run(const struct pmt_python *py, const char *dir, const char *scenario,
                                    const char *spec)
{
    return fn_run_quiet(py, dir, scenario, spec, false);
}

/* The program's output without the agent: the agent must not change it. */
static void fn_same_output(const struct pmt_python *py, const char *scenario, const struct pmt_run_result *traced)
{
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("function_target.py"), scenario),
                .cwd = pmt_tmpdir(),
                .env = PMT_LIST("PYTHONDONTWRITEBYTECODE=1"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    /* the last line holds thread ids, which differ from run to run */
    const char *a = strstr(r.out, "native_id="), *b = strstr(traced->out, "native_id=");
    cr_assert(a && b && a - r.out == b - traced->out && !strncmp(r.out, traced->out, (size_t)(a - r.out)),
              "stdout differs\n--- without the agent:\n%s\n--- with it:\n%s", r.out, traced->out);
}

/* The program's report of the frame-evaluation function at its end:
 * CPython's own ("default") where the agent watched functions instead
 * (3.12+ but 3.14, whose property getters are called inline whatever the
 * agent does to the function; plain functions only), another one ("other")
 * where it evaluates frames itself; 3.8 cannot say ("unknown"). */
static void fn_check_evaluator(const struct pmt_python *py, const struct pmt_run_result *r, bool plain)
{
    bool watched = plain && (py->major > 3 || py->minor >= 12) && !(py->major == 3 && py->minor == 14);
    const char *want = py->major == 3 && py->minor == 8 ? "unknown" : watched ? "default" : "other";
    const char *at = strstr(r->out, "evaluator=");
    cr_assert(at && !strncmp(at + 10, want, strlen(want)),
              "expected evaluator=%s at the end of the run (%s functions, Python %s)\n%s", want,
              plain ? "plain" : "generator", py->version, pmt_run_describe(r));
}

/* The run's logs ordered by their number n, checked as every log is. */
static const struct pmt_logfile **fn_logs_quiet(const char *dir, const struct pmt_run_result *r,
                                                const struct pmt_python *py, size_t want, bool quiet)
{
    struct pmt_logset *set = calloc(1, sizeof *set);
    pmt_logset_load(dir, set);
    char *names = pmt_strf("%s", "");
    for (size_t i = 0; i < set->n; i++)
        names = pmt_strf("%s\n  %s", names, set->files[i].name);
    cr_assert(set->n == want, "expected %zu logs, found %zu:%s\n%s", want, set->n, names, pmt_run_describe(r));
    const struct pmt_logfile **by_n = calloc(want + 1, sizeof *by_n);
    for (size_t i = 0; i < set->n; i++) {
        const struct pmt_logfile *f = &set->files[i];
        cr_assert(f->id.n < want && !by_n[f->id.n], "%s: log numbers should be 0..%zu, once each:%s", f->name,
                  want - 1, names);
        cr_assert(f->id.pid == r->pid, "%s: not the pid of the run (%d)", f->name, (int)r->pid);
        cr_assert(!strcmp(f->id.version, py->version), "%s: the interpreter is Python %s", f->name, py->version);
        by_n[f->id.n] = f;
        e2e_check_log(f, NULL, 0);
    }
    e2e_check_stderr(r, dir, set, quiet, "");
    return by_n;
}

static const struct pmt_logfile **fn_logs(const char *dir, const struct pmt_run_result *r, const struct pmt_python *py,
                                          size_t want)
{
    return fn_logs_quiet(dir, r, py, want, false);
}

static const struct pmt_line *fn_event(const struct pmt_log *log, enum pmt_kind kind)
{
    const struct pmt_line *l = pmt_log_first(log, kind);
    cr_assert(l, "%s: no %s line", log->path, kind == PMT_K_FRST ? "FRST" : "LAST");
    return l;
}

/* One call's log: mode letter and depth in the name, FRST the CALL of func
 * at def_line (< 0: any line), LAST its RETURN, an event in callee (NULL: not checked), no
 * event outside. */
static void fn_check_call(const struct pmt_logfile *f, char mode, unsigned depth, const char *func, int def_line,
                          const char *callee)
{
    const struct pmt_log *log = f->log;
    cr_assert(f->id.mode == mode && f->id.depth == depth, "%s: expected a %c log at depth %u", f->name, mode, depth);
    const struct pmt_line *first = fn_event(log, PMT_K_FRST), *last = fn_event(log, PMT_K_LAST);
    cr_assert(!strcmp(first->what, "CALL") && !strcmp(first->func, func) && (def_line < 0 || first->line == def_line),
              "%s line %d: FRST should be the CALL of %s at line %d: %s", f->path, first->lineno, func, def_line,
              first->raw);
    cr_assert(!strcmp(last->what, "RETURN") && !strcmp(last->func, func),
              "%s line %d: LAST should be the RETURN of %s: %s", f->path, last->lineno, func, last->raw);
    if (callee)
        cr_assert(pmt_log_find_func(log, callee) >= 0, "%s: no event in %s, which %s calls", f->path, callee, func);
    for (size_t i = 0; i < sizeof outside_funcs / sizeof outside_funcs[0]; i++) {
        long at = pmt_log_find_func(log, outside_funcs[i]);
        cr_assert(at < 0, "%s line %d: an event of %s, outside the traced call: %s", f->path,
                  at < 0 ? 0 : log->lines[at].lineno, outside_funcs[i], at < 0 ? "" : log->lines[at].raw);
    }
}

static int fn_marker(const char *file, const char *what)
{
    return pmt_marker_line(e2e_program(file), pmt_strf("# marker: def %s", what));
}

/* ---- a function called twice, named in each of the three forms ----------- */

struct form_case {
    const char *spec;
    const char *func;     /* co_name of the traced function */
    const char *file;     /* where it is defined */
    const char *marker;
    const char *callee;
};

static void run_twice(const struct pmt_python *py, const void *arg)
{
    const struct form_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "twice", c->spec);
    fn_same_output(py, "twice", &r);
    fn_check_evaluator(py, &r, true);
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 4);
    int def = fn_marker(c->file, c->marker);
    for (size_t k = 0; k < 4; k++)
        fn_check_call(logs[k], "PT"[k % 2], 0, c->func, def, c->callee);
    /* the two calls differ: the first fills 4 MiB, the second 3 MiB (or the
     * same 3 MiB for Worker.run), but each starts again at event 0 */
    cr_assert(logs[0]->log->n > 0 && logs[2]->log->n > 0);
    /* the decoy: a module-level run() is not function_mod:Worker.run */
    if (!strcmp(c->func, "run"))
        for (size_t k = 0; k < 4; k++)
            cr_assert(pmt_log_find_func(logs[k]->log, "fn_callee") < 0,
                      "%s: the module-level run() of function_target.py was traced", logs[k]->path);
}

static const struct form_case form_cases[] = {
    {"process_arguments", "process_arguments", "function_target.py", "process_arguments", "fn_callee"},
    {"function_mod:Worker.run", "run", "function_mod.py", "Worker.run", "fill"},
    {"programs/function_target.py:process_arguments", "process_arguments", "function_target.py",
     "process_arguments", "fn_callee"},
    /* a list: only the second entry is ever called */
    {"no_such_function,e2e/programs/function_mod.py:Worker.run", "run", "function_mod.py", "Worker.run", "fill"},
};

E2E_TESTS_SUPPORTED(function, bare_name_called_twice, run_twice, &form_cases[0])
E2E_TESTS_SUPPORTED(function, module_qualname, run_twice, &form_cases[1])
E2E_TESTS_SUPPORTED(function, file_qualname, run_twice, &form_cases[2])
E2E_TESTS_SUPPORTED(function, list_with_file_form, run_twice, &form_cases[3])

/* ---- nesting: recurse(1) -> recurse(0) -> process_arguments() ------------ */

static long fn_find_msg(const struct pmt_log *log, const char *text, size_t from)
{
    for (size_t i = from; i < log->n; i++)
        if (log->lines[i].kind == PMT_K_MSG && log->lines[i].text && strstr(log->lines[i].text, text))
            return (long)i;
    return -1;
}

/* An outer log's detach and re-attach lines around the deeper call. */
static void fn_check_detach(const struct pmt_logfile *f, const char *inner_func, unsigned inner_depth)
{
    const struct pmt_log *log = f->log;
    char *detach = pmt_strf("detached: %s called on this thread; its call is logged at depth %u", inner_func,
                            inner_depth);
    char *reattach = pmt_strf("re-attached: the call logged at depth %u returned", inner_depth);
    long d = fn_find_msg(log, detach, 0);
    cr_assert(d >= 0, "%s: no MSG `%s`", f->path, detach);
    long a = fn_find_msg(log, reattach, (size_t)d);
    cr_assert(a > d, "%s: no MSG `%s` after the detach line %d", f->path, reattach, log->lines[d].lineno);
    /* nothing of the deeper call in between */
    for (long i = d + 1; i < a; i++)
        cr_assert(!pmt_is_event(log->lines[i].kind), "%s line %d: an event while detached: %s", f->path,
                  log->lines[i].lineno, log->lines[i].raw);
}

static void run_nest(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "nest", "recurse,process_arguments");
    fn_same_output(py, "nest", &r);
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 6);
    int def_recurse = fn_marker("function_target.py", "recurse");
    int def_pa = fn_marker("function_target.py", "process_arguments");
    for (size_t k = 0; k < 6; k++) {
        unsigned depth = (unsigned)(k / 2);
        char mode = "PT"[k % 2];
        if (depth < 2) {
            fn_check_call(logs[k], mode, depth, "recurse", def_recurse, NULL);
            fn_check_detach(logs[k], depth == 0 ? "recurse" : "process_arguments", depth + 1);
            cr_assert(pmt_log_find_func(logs[k]->log, "fn_callee") < 0,
                      "%s: the deeper call's events are in the outer log", logs[k]->path);
        } else {
            fn_check_call(logs[k], mode, depth, "process_arguments", def_pa, "fn_callee");
            cr_assert(fn_find_msg(logs[k]->log, "detached", 0) < 0, "%s: the innermost log detached",
                      logs[k]->path);
        }
    }
}

E2E_TESTS_SUPPORTED(function, recursion_and_nesting, run_nest, NULL)

/* recurse(40) traced: logs at depths 0 to 31; the depth-31 log says once
 * that deeper calls stay in it, and holds them (down to fn_callee). */
static void run_deep(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run_quiet(py, dir, "deep", "recurse", true);
    fn_same_output(py, "deep", &r);
    const struct pmt_logfile **logs = fn_logs_quiet(dir, &r, py, 64, true);
    int def_recurse = fn_marker("function_target.py", "recurse");
    for (size_t k = 0; k < 64; k++) {
        unsigned depth = (unsigned)(k / 2);
        char mode = "PT"[k % 2];
        const struct pmt_log *log = logs[k]->log;
        if (depth < 31) {
            fn_check_call(logs[k], mode, depth, "recurse", def_recurse, NULL);
            fn_check_detach(logs[k], "recurse", depth + 1);
            continue;
        }
        fn_check_call(logs[k], mode, depth, "recurse", def_recurse, "fn_callee");
        const char *capped = "not detached: recurse called at depth 32, past the 32 nested logs a thread may "
                             "have; this and deeper calls are part of this log";
        long at = fn_find_msg(log, capped, 0);
        cr_assert(at >= 0, "%s: no MSG `%s`", logs[k]->path, capped);
        cr_assert(fn_find_msg(log, "not detached", (size_t)at + 1) < 0, "%s: the limit is said more than once",
                  logs[k]->path);
        cr_assert(fn_find_msg(log, "its call is logged at depth", 0) < 0 && fn_find_msg(log, "re-attached", 0) < 0,
                  "%s: the deepest log detached", logs[k]->path);
    }
}

E2E_TESTS_SUPPORTED(function, deeper_than_the_log_limit, run_deep, NULL)

/* forking(1) -> forking(0), which forks. The parent's logs are as without
 * the fork. The child writes logs of its own, with its pid and the same
 * depths: depth 1 from the fork to forking(0)'s RETURN (with the child's
 * fn_callee), then depth 0, opened when that call re-attaches, to
 * forking(1)'s RETURN. */
static void run_fork_inside(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "forkin", "forking");
    const char *at = strstr(r.out, "child=");
    cr_assert(at != NULL, "no child=<pid> on stdout\n%s", pmt_run_describe(&r));
    pid_t child = (pid_t)atol(at + 6);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_stderr(&r, dir, &set, false, "");
    int def = fn_marker("function_target.py", "forking");
    size_t parent_logs = 0, child_logs = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        e2e_check_log(f, NULL, 0);
        unsigned depth = f->id.depth;
        cr_assert(depth <= 1, "%s: depth %u", f->name, depth);
        if (f->id.pid == r.pid) {
            parent_logs++;
            fn_check_call(f, f->id.mode, depth, "forking", def, NULL);
            if (depth == 0)
                fn_check_detach(f, "forking", 1);
            continue;
        }
        cr_assert(f->id.pid == child, "%s: neither the parent's pid %d nor the child's %d", f->name, (int)r.pid,
                  (int)child);
        child_logs++;
        /* Logs numbered from 0 in the child, in the order they opened. */
        cr_assert(f->id.n == (depth == 1 ? 0u : 2u) + (f->id.mode == 'T'), "%s: log number %u", f->name,
                  f->id.n);
        const struct pmt_line *last = fn_event(f->log, PMT_K_LAST);
        cr_assert(!strcmp(last->what, "RETURN") && !strcmp(last->func, "forking"),
                  "%s line %d: LAST should be a RETURN of forking: %s", f->path, last->lineno, last->raw);
        if (depth == 1)
            cr_assert(pmt_log_find_func(f->log, "fn_callee") >= 0, "%s: no event of the child's fn_callee",
                      f->path);
        else
            cr_assert(fn_find_msg(f->log, "re-attached: the call logged at depth 1 returned", 0) >= 0 &&
                          pmt_log_find_func(f->log, "fn_callee") < 0,
                      "%s: the child's outer log should start at the re-attach, after fn_callee", f->path);
    }
    cr_assert(parent_logs == 4 && child_logs == 4, "expected 4 logs of the parent and 4 of the child, found %zu and %zu",
              parent_logs, child_logs);
}

E2E_TESTS_SUPPORTED(function, fork_inside_nested_calls, run_fork_inside, NULL)

/* ---- functions made before the agent started, and code swapped ------------
 * genericpath.exists is made while Python starts, before the agent is
 * installed (3.12+: found by the one scan of existing functions); matching
 * is by code object, so a function given a listed function's code is that
 * function from then on (3.12+: the function watcher's code change event). */

static void run_before(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "before", "genericpath:exists");
    fn_same_output(py, "before", &r);
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 4);
    for (size_t k = 0; k < 4; k++)
        fn_check_call(logs[k], "PT"[k % 2], 0, "exists", -1, NULL);
}

E2E_TESTS_SUPPORTED(function, made_before_start, run_before, NULL)

static void run_swap(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "swap", "swap_b");
    fn_same_output(py, "swap", &r);
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 2);
    int def = fn_marker("function_target.py", "swap_b");
    for (size_t k = 0; k < 2; k++) {
        fn_check_call(logs[k], "PT"[k], 0, "swap_b", def, "fn_callee");
        cr_assert(pmt_log_find_func(logs[k]->log, "swap_a") < 0, "%s: swap_a's own code was logged",
                  logs[k]->path);
    }
    /* and the other way: swap_a listed, its code gone after the first call */
    const char *dir2 = pmt_tmpdir();
    struct pmt_run_result r2 = fn_run(py, dir2, "swap", "swap_a");
    logs = fn_logs(dir2, &r2, py, 2);
    for (size_t k = 0; k < 2; k++)
        fn_check_call(logs[k], "PT"[k], 0, "swap_a", fn_marker("function_target.py", "swap_a"), "fn_callee");
}

E2E_TESTS_SUPPORTED(function, code_swapped, run_swap, NULL)

/* ---- calls CPython 3.12+ specialise into inline frames --------------------
 * BINARY_SUBSCR_GETITEM, LOAD_ATTR_PROPERTY and
 * LOAD_ATTR_GETATTRIBUTE_OVERRIDDEN push the function's frame without a
 * vectorcall once a site is specialised: every one of the 20 uses must
 * still be a session of its own. */

struct special_case {
    const char *scenario, *spec, *func;
};

static void run_specialised(const struct pmt_python *py, const void *arg)
{
    const struct special_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run_quiet(py, dir, c->scenario, c->spec, true);
    fn_same_output(py, c->scenario, &r);
    const struct pmt_logfile **logs = fn_logs_quiet(dir, &r, py, 40, true);
    /* a decorated function's CALL is at its decorator's line */
    int def = strcmp(c->func, "value") ? fn_marker("function_target.py", c->func) : -1;
    for (size_t k = 0; k < 40; k++)
        fn_check_call(logs[k], "PT"[k % 2], 0, c->func, def, "fn_callee");
}

static const struct special_case special_cases[] = {
    {"getitem", "__main__:Box.__getitem__", "__getitem__"},
    {"property", "Box.value", "value"},
    {"getattribute", "Odd.__getattribute__", "__getattribute__"},
};

E2E_TESTS_SUPPORTED(function, specialised_getitem, run_specialised, &special_cases[0])
E2E_TESTS_SUPPORTED(function, specialised_property, run_specialised, &special_cases[1])
E2E_TESTS_SUPPORTED(function, specialised_getattribute, run_specialised, &special_cases[2])

/* ---- an exception leaving the function ------------------------------------ */

static void run_raise(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "raise", "fails");
    fn_same_output(py, "raise", &r);
    cr_assert(strstr(r.out, "caught leaves fails()"), "%s", pmt_run_describe(&r));
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 2);
    int def = fn_marker("function_target.py", "fails");
    for (size_t k = 0; k < 2; k++)
        fn_check_call(logs[k], "PT"[k], 0, "fails", def, "fn_callee");
    /* trace sees the exception itself before the RETURN */
    long ex = -1;
    for (size_t i = 0; i < logs[1]->log->n && ex < 0; i++)
        if (pmt_is_event(logs[1]->log->lines[i].kind) && !strcmp(logs[1]->log->lines[i].what, "EXCEPT") &&
            !strcmp(logs[1]->log->lines[i].func, "fails"))
            ex = (long)i;
    cr_assert(ex >= 0, "%s: no EXCEPT event in fails", logs[1]->path);
}

E2E_TESTS_SUPPORTED(function, exception_leaves, run_raise, NULL)

/* ---- never called: nothing at all ------------------------------------------ */

static void run_never(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "twice", "no_such_function,pkg.mod:Cls.method,nowhere.py:f");
    fn_same_output(py, "twice", &r);
    cr_assert(r.err[0] == '\0', "stderr should be empty\n%s", pmt_run_describe(&r));
    e2e_check_no_files(dir, "a function never called");
}

E2E_TESTS_SUPPORTED(function, never_called, run_never, NULL)

/* ---- called in a thread: that thread's call only ----------------------------- */

static void run_thread(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "thread", "process_arguments");
    long main_id = 0, worker_id = 0;
    const char *ids = strstr(r.out, "native_id=");
    cr_assert(ids && sscanf(ids, "native_id=%ld worker=%ld", &main_id, &worker_id) == 2 && worker_id > 0,
              "unexpected output\n%s", pmt_run_describe(&r));
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 2);
    int def = fn_marker("function_target.py", "process_arguments");
    for (size_t k = 0; k < 2; k++) {
        const struct pmt_log *log = logs[k]->log;
        fn_check_call(logs[k], "PT"[k], 0, "process_arguments", def, "fn_callee");
        cr_assert(pmt_log_find_func(log, "body") < 0 && pmt_log_find_func(log, "run") < 0,
                  "%s: events of the thread outside the call", logs[k]->path);
        /* the first MSG names the thread the call ran on; no other thread appears */
        const struct pmt_line *info = pmt_log_first(log, PMT_K_MSG);
        cr_assert(e2e_msg_thread_id(info) == worker_id, "%s: the first MSG should name the worker thread %ld: %s",
                  logs[k]->path, worker_id, info->raw);
        for (size_t i = 0; i < log->n; i++)
            cr_assert(e2e_msg_thread_id(&log->lines[i]) < 0 || e2e_msg_thread_id(&log->lines[i]) == worker_id,
                      "%s line %d: another thread in the log: %s", logs[k]->path, log->lines[i].lineno,
                      log->lines[i].raw);
    }
}

E2E_TESTS_SUPPORTED(function, called_in_a_thread, run_thread, NULL)

/* ---- two threads at once: the first call is traced, the other is not ------- */

static void run_overlap(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "overlap", "slow_target");
    long main_id = 0, worker_id = 0;
    const char *ids = strstr(r.out, "native_id=");
    cr_assert(ids && sscanf(ids, "native_id=%ld worker=%ld", &main_id, &worker_id) == 2 && worker_id > 0,
              "unexpected output\n%s", pmt_run_describe(&r));
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 2);
    int def = fn_marker("function_target.py", "slow_target");
    char *note = pmt_strf("not traced: slow_target called on another thread (native id %ld) while this log "
                          "traces this call",
                          main_id);
    for (size_t k = 0; k < 2; k++) {
        const struct pmt_log *log = logs[k]->log;
        fn_check_call(logs[k], "PT"[k], 0, "slow_target", def, "fn_callee");
        cr_assert(e2e_msg_thread_id(pmt_log_first(log, PMT_K_MSG)) == worker_id,
                  "%s: the traced call is the worker's (native_id=%ld)", logs[k]->path, worker_id);
        cr_assert(fn_find_msg(log, note, 0) >= 0, "%s: no MSG `%s`", logs[k]->path, note);
        for (size_t i = 0; i < log->n; i++)
            cr_assert(e2e_msg_thread_id(&log->lines[i]) < 0 || e2e_msg_thread_id(&log->lines[i]) == worker_id,
                      "%s line %d: the main thread's call got into the log: %s", logs[k]->path,
                      log->lines[i].lineno, log->lines[i].raw);
    }
}

E2E_TESTS_SUPPORTED(function, second_thread_while_traced, run_overlap, NULL)

/* ---- a generator: each resume is a call with a log of its own -------------- */

static void run_generator(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r = fn_run(py, dir, "gen", "produce");
    fn_same_output(py, "gen", &r);
    fn_check_evaluator(py, &r, false);
    /* three yields and the end: four resumes; creating it is none (3.11+
     * evaluate the call up to RETURN_GENERATOR, which has no event) */
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 8);
    int def = fn_marker("function_target.py", "produce");
    for (size_t k = 0; k < 8; k++)
        fn_check_call(logs[k], "PT"[k % 2], 0, "produce", k < 2 ? def : -1, k < 6 ? "fn_callee" : NULL);
}

E2E_TESTS_SUPPORTED(function, generator_resumes, run_generator, NULL)

/* ---- many calls: the first 16 are announced on stderr, then one line -------- */

static void run_many(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("function_target.py"), "many"),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=process_arguments"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert(set.n == 20, "expected 20 logs, one per call, found %zu\n%s", set.n, pmt_run_describe(&r));
    char **lines, *rest;
    size_t n;
    pmt_split_stderr(r.err, &lines, &n, &rest);
    cr_assert(n == 17, "expected 16 log paths and one closing line on stderr, got %zu lines\n%s", n,
              pmt_run_describe(&r));
    for (size_t i = 0; i < 16; i++)
        cr_assert(!strncmp(lines[i], "pymemtrace: profile log: ", 25), "stderr line %zu: %s", i + 1, lines[i]);
    cr_assert_str_eq(lines[16],
                     "pymemtrace: further PYMEMTRACE_FUNCTION logs go to the same folder without being announced");
    cr_assert_str_eq(rest, "");
    for (size_t i = 0; i < set.n; i++)
        e2e_check_log(&set.files[i], NULL, -1);
}

E2E_TESTS_SUPPORTED(function, many_calls_announced_sparingly, run_many, NULL)

/* ---- os._exit inside nested calls: every log still complete --------------- */

static void run_exit(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("function_target.py"), "exit"),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace", "PYMEMTRACE_D_RSS_TRIGGER=0",
                                "PYMEMTRACE_FUNCTION=leave"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 3 && strstr(r.out, "leaving"), "%s", pmt_run_describe(&r));
    const struct pmt_logfile **logs = fn_logs(dir, &r, py, 4);
    for (size_t k = 0; k < 4; k++) {
        cr_assert(logs[k]->id.depth == k / 2, "%s: depth %zu expected", logs[k]->name, k / 2);
        cr_assert(fn_find_msg(logs[k]->log, "tracing ended (the process is ending) inside this call", 0) >= 0,
                  "%s: no MSG saying the process ended inside the call", logs[k]->path);
    }
    fn_check_detach(logs[0], "leave", 1);
}

E2E_TESTS_SUPPORTED(function, os_exit_inside_nested_calls, run_exit, NULL)

/* ---- reftrace, scoped ---------------------------------------------------------
 * reftrace_function.py: target(3) makes 3 Leak, frees 1 and makes a Cyc
 * that only gc frees; rec(1) -> rec(0) -> target(2) nests to depth 2. Each
 * call has its own reference tracing log; objects made outside the calls
 * are in none; each log ends with gc.collect and the live counts. */

static size_t count_lines(const char *text, const char *prefix, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = pmt_strf("%.*s", (int)len, p);
        n += !strncmp(line, prefix, strlen(prefix)) && (!needle || strstr(line, needle));
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static void run_reftrace_scoped(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    char *program = e2e_program("reftrace_function.py");
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, program),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes),
                                "PYMEMTRACE_FUNCTION=target,rec", "PYMEMTRACE_INCLUDE_TYPES=Leak,Cyc",
                                "PYMEMTRACE_QUIET=1"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, "done\n");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const struct pmt_logfile *o[4] = {NULL};
    size_t no = 0, np = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        if (f->id.mode == 'P') {
            e2e_check_log(f, NULL, -1);
            np++;
            continue;
        }
        cr_assert(f->id.mode == 'O' && no < 4, "%s: unexpected", f->name);
        o[no++] = f;
    }
    cr_assert_eq(no, 4, "four reference tracing logs (target, rec, rec, target), found %zu", no);
    cr_assert_eq(np, strchr(modes, ',') ? 4 : 0, "profile logs");
    /* in the order they were opened: target (0), rec (0), rec (1), target (2) */
    static const unsigned depth[4] = {0, 0, 1, 2};
    int l_del = pmt_marker_line(program, "MARK:del");
    for (size_t k = 0; k < 4; k++) {
        cr_assert_eq(o[k]->id.depth, depth[k], "%s: depth", o[k]->name);
        size_t len;
        char *text = pmt_read_file(o[k]->path, &len);
        cr_assert(len > 4 && !strcmp(text + len - 4, "EOF\n"), "%s: EOF", o[k]->name);
        cr_assert(strstr(text, "# gc.collect(2)"), "%s: gc.collect at the end of the call",
                  o[k]->name);
        cr_assert_eq(count_lines(text, "NEW:", " <module> "), 0,
                     "%s: an object made outside the calls is logged", o[k]->name);
        bool is_target = k == 0 || k == 3;
        size_t made = is_target ? (k == 0 ? 3 : 2) : 0;
        cr_assert_eq(count_lines(text, "NEW:", " Leak "), made, "%s: Leak NEW lines", o[k]->name);
        cr_assert_eq(count_lines(text, "DEL:", pmt_strf(" %d target", l_del)), is_target ? 1 : 0,
                     "%s: the del line", o[k]->name);
        cr_assert_eq(count_lines(text, "NEW:", " Cyc "), is_target ? 1 : 0, "%s: Cyc", o[k]->name);
        cr_assert_eq(count_lines(text, "DEL:", " Cyc "), is_target ? 1 : 0,
                     "%s: the Cyc freed by gc at the end of the call", o[k]->name);
        cr_assert_eq(count_lines(text, "MSG:", "# detached: "), k == 1 || k == 2 ? 1 : 0,
                     "%s: detach", o[k]->name);
        cr_assert_eq(count_lines(text, "MSG:", "# re-attached: "), k == 1 || k == 2 ? 1 : 0,
                     "%s: re-attach", o[k]->name);
        cr_assert(strstr(text, "# objects alive at the end, per type: "), "%s: live counts",
                  o[k]->name);
    }
    size_t len;
    char *first = pmt_read_file(o[0]->path, &len);
    cr_assert(strstr(first, "# live 2 Leak\n"), "%s: 2 Leak alive after target(3)", o[0]->name);
}

E2E_TESTS_313_UP(function, reftrace_scoped, run_reftrace_scoped, "reftrace")
E2E_TESTS_313_UP(function, reftrace_and_profile_scoped, run_reftrace_scoped,
            "reftrace,profile")

/* Older interpreters: reftrace is refused as without scoping, profile runs per call. */
static void run_reftrace_old(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("reftrace_function.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=reftrace,profile",
                                "PYMEMTRACE_FUNCTION=target", "PYMEMTRACE_QUIET=1"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    char **lines, *rest;
    size_t n;
    pmt_split_stderr(r.err, &lines, &n, &rest);
    cr_assert(n == 1, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(lines[0], pmt_strf("pymemtrace: reference tracing needs Python 3.13 or newer; "
                                        "this is %s; the other modes still run", py->version));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert_eq(set.n, 2, "the profile logs of target(3) and target(2)");
    for (size_t i = 0; i < set.n; i++)
        cr_assert(set.files[i].id.mode == 'P', "%s", set.files[i].name);
}

E2E_TEST_PY(function, reftrace_refused_debian, PMT_PY_DEBIAN, run_reftrace_old, NULL)
E2E_TEST_PY(function, reftrace_refused_py38, PMT_PY_38, run_reftrace_old, NULL)

/* ---- the launcher's --function ------------------------------------------------ */

static void run_launcher(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    if (e2e_sanitized())
        cr_skip_test("the launcher puts the agent first in LD_PRELOAD, where a sanitizer's runtime must be");
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(pmt_join(pmt_env("PMT_BUILD_ROOT"), "pymemtrace-run"), "--profile", "--trace",
                                 "--d-rss-trigger", "0", "--function", "function_mod:Worker.run", "--", py->path,
                                 e2e_program("function_target.py"), "twice"),
                .cwd = dir,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    cr_assert(set.n == 4, "expected the profile and trace logs of Worker.run's two calls, found %zu\n%s", set.n,
              pmt_run_describe(&r));
    int def = fn_marker("function_mod.py", "Worker.run");
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        e2e_check_log(f, NULL, 0);
        fn_check_call(f, f->id.mode, 0, "run", def, "fill");
    }
}

E2E_TESTS_SUPPORTED(function, launcher_option, run_launcher, NULL)
