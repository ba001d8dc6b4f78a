/* Reference tracing (PYMEMTRACE=reftrace, issue 4) on pyenv's 3.13, and the
 * clear refusal on older interpreters (Debian's python3, 3.8, 3.12).
 *
 * reftrace_objs.py makes 7 Leak objects and frees 4 (list slice deletion),
 * makes a Cycle that only the cycle collector frees, and with "threads" a
 * Leak in each of three threads. The log must have the NEW and DEL lines of
 * those objects with the right live counts, file, line and function, in
 * docs/LOGS.md's byte layout, the gc.collect at exit, and the live counts at the
 * end; the filters must keep and drop the right types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

/* ---- a reference tracing log -------------------------------------------- */

struct ref_line {
    char kind[4];     /* "NEW", "DEL", "MSG", "ERR" */
    const char *raw;
    double clock;
    char addr[24];
    long live;
    char type[128];
    char file[512];
    int line;
    char func[256];
    long long rss, drss;
    const char *text; /* MSG/ERR */
};

struct ref_log {
    const char *path;
    char **raw;
    size_t nraw;
    struct ref_line *lines; /* NEW/DEL/MSG/ERR, in order */
    size_t n;
};

/* Re-formats a parsed NEW/DEL line with docs/LOGS.md's format: it must give the
 * line back byte for byte. */
static void ref_check_layout(const struct ref_log *log, const struct ref_line *l)
{
    void *addr = NULL;
    cr_assert(sscanf(l->addr, "%p", &addr) == 1, "%s: address '%s'", log->path, l->addr);
    char *again = pmt_strf("%s: %12.6f %16p %16ld %-32s %-80s %4d %-40s %16lld %16lld", l->kind,
                           l->clock, addr, l->live, l->type, l->file, l->line, l->func, l->rss,
                           l->drss);
    cr_assert_str_eq(again, l->raw, "%s: the line is not in docs/LOGS.md's layout:\n[%s]\n[%s]", log->path, l->raw, again);
}

static bool is_int(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Takes the last space-separated token off the end of s ("" if none). */
static char *pop_token(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    while (n && s[n - 1] != ' ')
        n--;
    char *tok = pmt_strf("%s", s + n);
    s[n] = '\0';
    return tok;
}

static void ref_parse_event(const struct ref_log *log, struct ref_line *l)
{
    int used = 0;
    cr_assert(sscanf(l->raw + 4, " %lf %23s %ld %n", &l->clock, l->addr, &l->live, &used) == 3,
              "%s: cannot parse [%s]", log->path, l->raw);
    /* The type is a %-32s column and may hold spaces ("symtable entry"):
     * its 32 characters, and on to the next space when longer. */
    size_t type_at = 4 + (size_t)used, type_len = 32;
    cr_assert(strlen(l->raw) > type_at + 32, "%s: [%s]", log->path, l->raw);
    while (l->raw[type_at + type_len] != ' ')
        type_len++;
    snprintf(l->type, sizeof l->type, "%.*s", (int)type_len, l->raw + type_at);
    for (size_t k = strlen(l->type); k && l->type[k - 1] == ' ';)
        l->type[--k] = '\0';
    /* From the right: dRSS, RSS, function, line; the file (which may hold
     * spaces: "<frozen importlib._bootstrap>") is what remains. File and
     * function are empty where no Python code runs (the collector at exit). */
    size_t file_at = type_at + type_len + 1;
    cr_assert(file_at <= strlen(l->raw), "%s: [%s]", log->path, l->raw);
    char *rest = pmt_strf("%s", l->raw + file_at);
    l->drss = atoll(pop_token(rest));
    l->rss = atoll(pop_token(rest));
    char *func = pop_token(rest);
    char *line = func;
    if (is_int(func))
        func = "";
    else
        line = pop_token(rest);
    cr_assert(is_int(line), "%s: line number of [%s]", log->path, l->raw);
    l->line = atoi(line);
    snprintf(l->func, sizeof l->func, "%s", func);
    size_t n = strlen(rest);
    while (n && rest[n - 1] == ' ')
        rest[--n] = '\0';
    snprintf(l->file, sizeof l->file, "%s", rest);
    ref_check_layout(log, l);
}

/* Structure: [message] SOF HDR (HDR exact) then NEW/DEL/MSG/ERR lines and EOF
 * last; the first MSG is the agent's. */
static struct ref_log *ref_load(const char *path, const char *message)
{
    struct ref_log *log = calloc(1, sizeof *log);
    log->path = path;
    size_t len;
    char *text = pmt_read_file(path, &len);
    cr_assert(len > 0 && text[len - 1] == '\n', "%s: empty or no final newline", path);
    log->raw = calloc(len + 1, sizeof *log->raw);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        log->raw[log->nraw++] = p;
        p = nl + 1;
    }
    size_t i = 0;
    if (message)
        cr_assert_str_eq(log->raw[i++], message, "%s: the message line", path);
    cr_assert(i + 3 <= log->nraw, "%s: too short", path);
    cr_assert_str_eq(log->raw[i++], "SOF", "%s: SOF", path);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "HDR: %12s %16s %16s %-32s %-80s %4s %-40s %16s %16s", "Clock",
             "Address", "LiveCnt", "Type", "File", "Line", "Function", "RSS", "dRSS");
    cr_assert_str_eq(log->raw[i++], hdr, "%s: HDR", path);
    cr_assert_str_eq(log->raw[log->nraw - 1], "EOF", "%s: EOF must be the last line", path);
    log->lines = calloc(log->nraw, sizeof *log->lines);
    for (; i + 1 < log->nraw; i++) {
        struct ref_line *l = &log->lines[log->n++];
        l->raw = log->raw[i];
        cr_assert(strlen(l->raw) > 4 && l->raw[3] == ':', "%s: line %zu: [%s]", path, i + 1, l->raw);
        memcpy(l->kind, l->raw, 3);
        if (!strcmp(l->kind, "MSG") || !strcmp(l->kind, "ERR")) {
            int used = 0;
            cr_assert(sscanf(l->raw + 4, " %lf #%n", &l->clock, &used) == 1 && used > 0,
                      "%s: line %zu: [%s]", path, i + 1, l->raw);
            l->text = l->raw + 4 + used + 1;
            char *again = pmt_strf("%s: %12.6f # %s", l->kind, l->clock, l->text);
            cr_assert_str_eq(again, l->raw, "%s: line %zu layout", path, i + 1);
        } else {
            cr_assert(!strcmp(l->kind, "NEW") || !strcmp(l->kind, "DEL"), "%s: line %zu: [%s]",
                      path, i + 1, l->raw);
            ref_parse_event(log, l);
        }
    }
    cr_assert(log->n > 0 && !strcmp(log->lines[0].kind, "MSG") &&
                  !strncmp(log->lines[0].text, "pymemtrace agent ", 17),
              "%s: the agent's MSG line must come first", path);
    /* dRSS is the change since the line before (the first: since tracing began). */
    const struct ref_line *prev = NULL;
    for (size_t k = 0; k < log->n; k++) {
        const struct ref_line *l = &log->lines[k];
        if (l->kind[0] == 'M' || l->kind[0] == 'E')
            continue;
        if (prev)
            cr_assert_eq(l->drss, l->rss - prev->rss, "%s: dRSS of [%s]", path, l->raw);
        prev = l;
    }
    return log;
}

static size_t ref_count(const struct ref_log *log, const char *kind, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += !strcmp(log->lines[i].kind, kind) && (!type || !strcmp(log->lines[i].type, type));
    return n;
}

/* Index of the first MSG/ERR line whose text starts with text, or -1. */
static long ref_find_text(const struct ref_log *log, const char *kind, const char *text)
{
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->lines[i].kind, kind) && !strncmp(log->lines[i].text, text, strlen(text)))
            return (long)i;
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- running it --------------------------------------------------------- */

struct ref_run {
    const char *dir;
    struct pmt_run_result r;
    struct pmt_logset set;
    const struct pmt_logfile *file;
    struct ref_log *log;
    char *program;
};

static void ref_run(const struct pmt_python *py, const char *program, const char *arg,
                    const char *const *env, const char *message, struct ref_run *out)
{
    memset(out, 0, sizeof *out);
    out->dir = pmt_tmpdir();
    out->program = e2e_program(program);
    const char *const base[] = {e2e_preload(), "PYMEMTRACE=reftrace", NULL};
    pmt_run(&(struct pmt_run_opts){
                .argv = arg ? PMT_LIST(py->path, out->program, arg) : PMT_LIST(py->path, out->program),
                .cwd = out->dir,
                .env = env ? pmt_list_cat(base, env) : base,
                .timeout_s = E2E_TIMEOUT,
            },
            &out->r);
    cr_assert(out->r.exited && out->r.exit_code == 0, "%s", pmt_run_describe(&out->r));
    cr_assert(strstr(out->r.out, "done"), "the program's output: %s", out->r.out);
    pmt_logset_load(out->dir, &out->set);
    e2e_check_names(&out->set, &out->r, out->r.pid, "O", py->version, true);
    out->file = pmt_logset_get(&out->set, out->r.pid, 'O');
    out->log = ref_load(out->file->path, message);
}

static bool version_lacks_destroys(const struct pmt_python *py)
{
    int micro = 0;
    sscanf(py->version, "3.13.%d", &micro);
    return py->minor == 13 && micro < 3;
}

/* The Leak and Cycle lines of reftrace_objs.py (without threads). */
static void check_objects(const struct ref_run *run, bool gc)
{
    const struct ref_log *log = run->log;
    int l_new = pmt_marker_line(run->program, "MARK:new");
    int l_del = pmt_marker_line(run->program, "MARK:del");
    int l_cycle = pmt_marker_line(run->program, "MARK:cycle");
    const char *made[7];
    size_t nn = 0, nd = 0;
    for (size_t i = 0; i < log->n; i++) {
        const struct ref_line *l = &log->lines[i];
        if (strcmp(l->type, "Leak"))
            continue;
        cr_assert(ends_with(l->file, "reftrace_objs.py"), "%s: file of [%s]", log->path, l->raw);
        if (!strcmp(l->kind, "NEW")) {
            cr_assert(nn < 7, "%s: more than 7 Leak NEW lines", log->path);
            cr_assert_eq(l->live, (long)nn + 1, "%s: live count of [%s]", log->path, l->raw);
            cr_assert_eq(l->line, l_new, "%s: line of [%s]", log->path, l->raw);
            cr_assert_str_eq(l->func, "make", "%s: function of [%s]", log->path, l->raw);
            made[nn++] = l->addr;
        } else {
            cr_assert_eq(nn, 7, "%s: a DEL before the 7 NEW lines: [%s]", log->path, l->raw);
            cr_assert_eq(l->live, 6 - (long)nd, "%s: live count of [%s]", log->path, l->raw);
            cr_assert_eq(l->line, l_del, "%s: line of [%s]", log->path, l->raw);
            cr_assert_str_eq(l->func, "<module>", "%s: function of [%s]", log->path, l->raw);
            bool one_of_first_four = false;
            for (int k = 0; k < 4; k++)
                one_of_first_four |= !strcmp(made[k], l->addr);
            cr_assert(one_of_first_four, "%s: [%s] frees an object not among keep[0:4]", log->path,
                      l->raw);
            nd++;
        }
    }
    cr_assert_eq(nn, 7, "%s: %zu Leak NEW lines, want 7", log->path, nn);
    cr_assert_eq(nd, 4, "%s: %zu Leak DEL lines, want 4", log->path, nd);

    cr_assert_eq(ref_count(log, "NEW", "Cycle"), 1, "%s: one Cycle NEW", log->path);
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->lines[i].kind, "NEW") && !strcmp(log->lines[i].type, "Cycle"))
            cr_assert(log->lines[i].line == l_cycle && log->lines[i].live == 1,
                      "%s: [%s]", log->path, log->lines[i].raw);
    long gc_at = ref_find_text(log, "MSG", "gc.collect(2)");
    long cycle_del = -1;
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->lines[i].kind, "DEL") && !strcmp(log->lines[i].type, "Cycle"))
            cycle_del = (long)i;
    if (gc) {
        cr_assert(gc_at >= 0, "%s: no 'gc.collect(2)' MSG line", log->path);
        cr_assert(cycle_del > gc_at, "%s: the Cycle must be freed by the collector at exit",
                  log->path);
        cr_assert_eq(log->lines[cycle_del].live, 0);
        cr_assert(ref_find_text(log, "MSG", "live 1 Cycle") < 0, "%s", log->path);
    } else {
        cr_assert(gc_at < 0, "%s: gc.collect with PYMEMTRACE_GC_COLLECT_ON_EXIT=-1", log->path);
        cr_assert(cycle_del < 0, "%s: a Cycle DEL without the collector", log->path);
        cr_assert(ref_find_text(log, "MSG", "live 1 Cycle") >= 0, "%s: 'live 1 Cycle'",
                  log->path);
    }
    long alive = ref_find_text(log, "MSG", "objects alive at the end, per type: ");
    long leak_live = ref_find_text(log, "MSG", "live 3 Leak");
    cr_assert(alive >= 0 && leak_live > alive, "%s: the live counts at the end", log->path);
}

static void check_caveat(const struct pmt_python *py, const struct ref_log *log)
{
    long at = ref_find_text(log, "MSG", pmt_strf("Python %s does not report the destruction", py->version));
    if (version_lacks_destroys(py))
        cr_assert(at == 1, "%s: the gh-130382 MSG line must follow the agent's", log->path);
    else
        cr_assert(at < 0, "%s: Python %s reports every destruction", log->path, py->version);
}

static const char *const builtin_names[] = {"int", "float", "str", "bytes", "tuple", "list",
                                            "dict", "set", "function", "method", "cell",
                                            "generator", "module", "frame", "code", NULL};

static void no_types(const struct ref_log *log, const char *const *names)
{
    for (size_t i = 0; i < log->n; i++)
        for (size_t k = 0; names[k]; k++)
            cr_assert(strcmp(log->lines[i].type, names[k]), "%s: [%s]", log->path,
                      log->lines[i].raw);
}

/* ---- cases -------------------------------------------------------------- */

static void case_defaults(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", NULL, NULL, NULL, &run);
    e2e_check_stderr(&run.r, run.dir, &run.set, false, "");
    check_objects(&run, true);
    check_caveat(py, run.log);
    no_types(run.log, builtin_names);
}

/* A class whose name would forge lines (reftrace_forged.py): its objects'
 * lines carry the name escaped, one line each (issue 14). */
static void case_forged_type(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_forged.py", NULL, NULL, NULL, &run);
    cr_assert_eq(ref_count(run.log, "NEW", "T\\nDEL:\\tx"), 3, "%s", run.log->path);
    cr_assert_eq(ref_count(run.log, "DEL", "T\\nDEL:\\tx"), 3, "%s", run.log->path);
}

static void case_no_gc(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", NULL, PMT_LIST("PYMEMTRACE_GC_COLLECT_ON_EXIT=-1"), NULL, &run);
    check_objects(&run, false);
}

static void case_include(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", NULL,
            PMT_LIST("PYMEMTRACE_INCLUDE_TYPES=Leak", "PYMEMTRACE_MESSAGE=only Leak"), "only Leak",
            &run);
    size_t events = ref_count(run.log, "NEW", NULL) + ref_count(run.log, "DEL", NULL);
    cr_assert_eq(ref_count(run.log, "NEW", "Leak"), 7);
    cr_assert_eq(ref_count(run.log, "DEL", "Leak"), 4);
    cr_assert_eq(events, 11, "%s: only Leak lines", run.log->path);
    cr_assert(ref_find_text(run.log, "MSG", "live 3 Leak") >= 0);
}

static void case_exclude(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", NULL, PMT_LIST("PYMEMTRACE_EXCLUDE_TYPES=Leak,Cycle"), NULL, &run);
    no_types(run.log, PMT_LIST("Leak", "Cycle"));
    no_types(run.log, builtin_names);
}

static void case_builtins(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", NULL, PMT_LIST("PYMEMTRACE_INCLUDE_BUILTINS=1"), NULL, &run);
    check_objects(&run, true);
    cr_assert_gt(ref_count(run.log, "NEW", "list"), 0, "%s: no list with builtins", run.log->path);
    cr_assert_gt(ref_count(run.log, "NEW", "str"), 0, "%s: no str with builtins", run.log->path);
    no_types(run.log, PMT_LIST("frame", "code"));
}

static void case_threads(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_objs.py", "threads", PMT_LIST("PYMEMTRACE_INCLUDE_TYPES=Leak"), NULL, &run);
    int l_thread = pmt_marker_line(run.program, "MARK:thread");
    const struct ref_log *log = run.log;
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++) {
        const struct ref_line *l = &log->lines[i];
        if (strcmp(l->kind, "NEW") || l->line != l_thread)
            continue;
        cr_assert_str_eq(l->func, "worker", "%s: [%s]", log->path, l->raw);
        cr_assert_eq(l->live, 4 + (long)n, "%s: live count of [%s]", log->path, l->raw);
        /* each thread's line comes after a MSG naming that thread */
        cr_assert(i > 0 && !strcmp(log->lines[i - 1].kind, "MSG") &&
                      !strncmp(log->lines[i - 1].text, "thread native_id=", 17),
                  "%s: no thread MSG before [%s]", log->path, l->raw);
        n++;
    }
    cr_assert_eq(n, 3, "%s: %zu NEW lines from the threads, want 3", log->path, n);
    cr_assert_eq(ref_count(log, "NEW", "Leak"), 10);
}

static void case_tracemalloc(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_tracemalloc.py", NULL, PMT_LIST("PYMEMTRACE_INCLUDE_TYPES=Obj"), NULL, &run);
    const struct ref_log *log = run.log;
    int before = pmt_marker_line(run.program, "MARK:before");
    int during = pmt_marker_line(run.program, "MARK:during");
    int after = pmt_marker_line(run.program, "MARK:after");
    cr_assert(strstr(run.r.out, "traced True True\n"), "tracemalloc traced: %s", run.r.out);
    char **agent;
    size_t n;
    char *rest;
    pmt_split_stderr(run.r.err, &agent, &n, &rest);
    cr_assert_str_eq(rest, "", "the program's stderr");
    /* With a shared libpython the setter is the agent's; in a static
     * interpreter _tracemalloc's start and stop are the agent's look-alikes:
     * tracemalloc's tracer is chained from the start, nothing is missed,
     * nothing to say. */
    cr_assert_eq(ref_count(log, "NEW", "Obj"), 3, "%s: every Obj", log->path);
    cr_assert_eq(ref_count(log, "ERR", NULL), 0, "%s: no ERR line", log->path);
    cr_assert_eq(n, 1, "stderr: only the log's name:\n%s", run.r.err);
    int want[] = {before, during, after}, k = 0;
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->lines[i].kind, "NEW"))
            cr_assert_eq(log->lines[i].line, want[k++], "%s: [%s]", log->path, log->lines[i].raw);
}

/* The last part of a tp_name after its dots ("os.stat_result" -> "stat_result"). */
static const char *short_type(const char *tp_name)
{
    const char *dot = strrchr(tp_name, '.');
    return dot ? dot + 1 : tp_name;
}

/* cPyMemTrace's rule (reftrace_builtins.py prints what it says of each of
 * its objects): a NEW line of that type at that line exactly when logged. */
static void case_builtins_rule(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    struct ref_run run;
    ref_run(py, "reftrace_builtins.py", NULL, NULL, NULL, &run);
    const struct ref_log *log = run.log;
    size_t checked = 0, logged = 0;
    for (char *p = run.r.out; (p = strstr(p, "EXPECT ")) != NULL; p++) {
        int line = 0, want = -1;
        char type[128];
        cr_assert(sscanf(p, "EXPECT %d %127s %d", &line, type, &want) == 3, "[%.80s]", p);
        bool seen = false;
        for (size_t i = 0; i < log->n && !seen; i++) {
            const struct ref_line *l = &log->lines[i];
            seen = !strcmp(l->kind, "NEW") && l->line == line && ends_with(l->file, "reftrace_builtins.py") &&
                   !strcmp(short_type(l->type), type);
        }
        cr_assert_eq(seen, want == 1, "%s: %s at line %d: %s, cPyMemTrace's rule says %s", log->path,
                     type, line, seen ? "logged" : "not logged", want ? "logged" : "skipped");
        checked++;
        logged += want == 1;
    }
    cr_assert(checked >= 50 && logged >= 10, "the program's EXPECT lines: %zu (%zu logged)", checked,
              logged);
}

static void case_all_modes(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("reftrace_objs.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=reftrace,trace,profile"),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, "PTO", py->version, true);
    e2e_check_log(pmt_logset_get(&set, r.pid, 'P'), NULL, -1);
    e2e_check_log(pmt_logset_get(&set, r.pid, 'T'), NULL, -1);
    struct ref_log *log = ref_load(pmt_logset_get(&set, r.pid, 'O')->path, NULL);
    cr_assert_eq(ref_count(log, "NEW", "Leak"), 7);
}

/* A daemon thread still runs when the agent's atexit callback comes: its
 * gc.collect would run a finalizer that joins the thread, for ever. It is
 * left to CPython's final collection, which comes after the daemon threads
 * stop, and the log says so; the program ends as without the agent. */
static void case_daemon_finalizer(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    if (py->major == 3 && py->minor < 14)
        cr_skip_test("Python %s hangs in this program without the agent (a daemon thread joined at exit; "
                     "3.14 raises PythonFinalizationError instead)",
                     py->version);
    struct ref_run run;
    ref_run(py, "reftrace_daemon_finalizer.py", NULL, NULL, NULL, &run);
    cr_assert_str_eq(run.r.out, "main done\njoin refused at finalization\n", "%s", pmt_run_describe(&run.r));
    cr_assert(ref_find_text(run.log, "MSG",
                            "gc.collect(2) not run: 1 other Python thread is still alive at exit (daemon)") >= 0,
              "%s: no MSG saying why gc.collect did not run", run.log->path);
}

E2E_TESTS_313_UP(reftrace, daemon_finalizer, case_daemon_finalizer, NULL)
E2E_TESTS_313_UP(reftrace, defaults, case_defaults, NULL)
E2E_TESTS_313_UP(reftrace, no_gc, case_no_gc, NULL)
E2E_TESTS_313_UP(reftrace, forged_type, case_forged_type, NULL)
E2E_TESTS_313_UP(reftrace, include, case_include, NULL)
E2E_TESTS_313_UP(reftrace, exclude, case_exclude, NULL)
E2E_TESTS_313_UP(reftrace, builtins, case_builtins, NULL)
E2E_TESTS_313_UP(reftrace, builtins_rule, case_builtins_rule, NULL)
E2E_TESTS_313_UP(reftrace, threads, case_threads, NULL)
E2E_TESTS_313_UP(reftrace, tracemalloc, case_tracemalloc, NULL)
E2E_TESTS_313_UP(reftrace, all_modes, case_all_modes, NULL)

/* ---- older interpreters: one line, and the other modes still run --------- */

static void case_refused(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("reftrace_objs.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, "done 3\n");
    bool alone = !strcmp(modes, "reftrace");
    char *want = pmt_strf("pymemtrace: reference tracing needs Python 3.13 or newer; this is %s; %s",
                          py->version, alone ? "not tracing" : "the other modes still run");
    char **agent;
    size_t n;
    char *rest;
    pmt_split_stderr(r.err, &agent, &n, &rest);
    cr_assert(n >= 1, "stderr:\n%s", r.err);
    cr_assert_str_eq(agent[0], want);
    cr_assert_str_eq(rest, "");
    if (alone) {
        cr_assert_eq(n, 1, "stderr:\n%s", r.err);
        e2e_check_no_files(dir, "reftrace alone on an older Python");
    } else {
        struct pmt_logset set;
        pmt_logset_load(dir, &set);
        e2e_check_names(&set, &r, r.pid, "P", py->version, true);
        e2e_check_log(pmt_logset_get(&set, r.pid, 'P'), NULL, -1);
    }
}

E2E_TEST_PY(reftrace, refused_debian, PMT_PY_DEBIAN, case_refused, "reftrace")
E2E_TEST_PY(reftrace, refused_py38, PMT_PY_38, case_refused, "reftrace")
E2E_TEST_PY(reftrace, refused_py312, PMT_PY_312, case_refused, "reftrace")
E2E_TEST_PY(reftrace, others_run_debian, PMT_PY_DEBIAN, case_refused, "profile,reftrace")
E2E_TEST_PY(reftrace, others_run_py38, PMT_PY_38, case_refused, "profile,reftrace")
