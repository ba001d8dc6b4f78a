/* checks: see checks.h. */
#include "checks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW_BYTES (50L * 1024 * 1024)

void e2e_run_case(enum pmt_py_id id, e2e_case_fn fn, const void *arg)
{
    struct pmt_python py;
    pmt_python_require(id, &py);
    fn(&py, arg);
    pmt_done();
}

char *e2e_program(const char *name)
{
    return pmt_join(pmt_env("PMT_PROGRAMS"), name);
}

const char *e2e_preload_first(void)
{
    const char *first = getenv("PMT_PRELOAD_FIRST");
    return first ? first : "";
}

bool e2e_sanitized(void)
{
    return *e2e_preload_first() != '\0';
}

const char *e2e_preload(void)
{
    static char *s;
    if (!s)
        s = pmt_strf("LD_PRELOAD=%s%s%s", e2e_preload_first(), *e2e_preload_first() ? " " : "",
                     pmt_env("PMT_AGENT"));
    return s;
}

const char *e2e_mode_letters(const char *pymemtrace)
{
    if (!strcmp(pymemtrace, "profile"))
        return "P";
    if (!strcmp(pymemtrace, "trace"))
        return "T";
    if (!strcmp(pymemtrace, "profile,trace"))
        return "PT";
    if (!strcmp(pymemtrace, "sample"))
        return "S";
    if (!strcmp(pymemtrace, "profile,sample"))
        return "PS";
    cr_assert_fail("no mode letters known for PYMEMTRACE=%s", pymemtrace);
    return NULL;
}

const char *e2e_mode_name(char letter)
{
    return letter == 'P' ? "profile" : letter == 'T' ? "trace" : letter == 'S' ? "sample" : "reftrace";
}

static char *list_names(const struct pmt_logset *set)
{
    char *s = pmt_strf("%s", set->n ? "" : " (none)");
    for (size_t i = 0; i < set->n; i++)
        s = pmt_strf("%s\n  %s", s, set->files[i].name);
    return s;
}

void e2e_check_names(const struct pmt_logset *set, const struct pmt_run_result *r, pid_t pid,
                     const char *letters, const char *version, bool check_n)
{
    size_t mine = 0;
    for (size_t i = 0; i < set->n; i++)
        mine += set->files[i].id.pid == pid;
    cr_assert(mine == strlen(letters), "expected %zu log(s) (%s) of pid %d, found %zu; logs:%s\n%s",
              strlen(letters), letters, (int)pid, mine, list_names(set), pmt_run_describe(r));
    for (size_t k = 0; letters[k]; k++) {
        const struct pmt_logfile *f = pmt_logset_get(set, pid, letters[k]);
        if (check_n)
            cr_assert(f->id.n == k, "%s: the %s log should be number %zu of the process (%s)", f->name,
                      e2e_mode_name(letters[k]), k, letters);
        cr_assert(f->id.depth == 0, "%s: depth should be 0", f->name);
        cr_assert(!strcmp(f->id.version, version), "%s: the interpreter is Python %s", f->name, version);
        cr_assert(f->id.when >= r->started - 1 && f->id.when <= r->ended + 1,
                  "%s: the time in the name is not the UTC time of the run (%lld not in [%lld, %lld])", f->name,
                  (long long)f->id.when, (long long)r->started, (long long)r->ended);
    }
}

void e2e_check_log(const struct pmt_logfile *f, const char *message, long long trigger)
{
    char *err = pmt_log_validate(f->log, message);
    cr_assert(err == NULL, "structure: %s", err);
    err = pmt_log_check_semantics(f->log, trigger);
    cr_assert(err == NULL, "semantics (d_rss_trigger %lld): %s", trigger, err);
    size_t hdr = message ? 2 : 1;
    cr_assert(f->log->n > hdr + 1, "%s: too short", f->path);
    const struct pmt_line *m = &f->log->lines[hdr + 1];
    cr_assert(m->kind == PMT_K_MSG && m->text && strstr(m->text, "pymemtrace"),
              "%s line %d: expected the agent's MSG line (containing `pymemtrace`) right after HDR, got `%s`",
              f->path, m->lineno, m->raw);
}

char *e2e_check_stderr(const struct pmt_run_result *r, const char *dir, const struct pmt_logset *set,
                       bool quiet, const char *program_err)
{
    char **lines, *rest;
    size_t n;
    pmt_split_stderr(r->err, &lines, &n, &rest);
    char real[PATH_MAX];
    cr_assert(realpath(dir, real) != NULL, "realpath %s", dir);
    size_t want = quiet ? 0 : set->n;
    cr_assert(n == want, "expected %zu `pymemtrace: ` line(s) on stderr (one per log%s), got %zu; logs:%s\n%s", want,
              quiet ? ", none when quiet" : "", n, list_names(set), pmt_run_describe(r));
    bool *used = calloc(n + 1, sizeof *used);
    for (size_t i = 0; i < want; i++) {
        const struct pmt_logfile *f = &set->files[i];
        char *expect = pmt_strf("pymemtrace: %s log: %s/%s", e2e_mode_name(f->id.mode), real, f->name);
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            if (!used[j] && !strcmp(lines[j], expect))
                used[j] = found = true;
        cr_assert(found, "stderr lacks the line `%s`\n%s", expect, pmt_run_describe(r));
    }
    if (program_err)
        cr_assert(!strcmp(rest, program_err),
                  "the program's own stderr changed\n--- expected:\n%s\n--- got (agent lines removed):\n%s",
                  pmt_excerpt(program_err, 2000), pmt_excerpt(rest, 2000));
    return rest;
}

void e2e_check_no_files(const char *dir, const char *why)
{
    size_t n;
    char **names = pmt_list_dir(dir, NULL, &n);
    char *s = pmt_strf("%s", "");
    for (size_t i = 0; i < n; i++)
        s = pmt_strf("%s\n  %s", s, names[i]);
    cr_assert(n == 0, "%s: expected no files in %s, found:%s", why, dir, s);
}

void e2e_grow_lines(struct grow_lines *g)
{
    char *path = e2e_program("grow.py");
    g->def = pmt_marker_line(path, "# PMT:def");
    g->alloc = pmt_marker_line(path, "# PMT:alloc");
    g->loop = pmt_marker_line(path, "# PMT:loop");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static char *big_jumps(const struct pmt_log *log)
{
    char *s = pmt_strf("%s", "");
    for (size_t i = 0; i < log->n; i++)
        if (pmt_is_event(log->lines[i].kind) && log->lines[i].drss >= GROW_BYTES / 2)
            s = pmt_strf("%s\n  line %d: %s", s, log->lines[i].lineno, log->lines[i].raw);
    return s[0] ? s : pmt_strf(" none");
}

void e2e_check_grow_jump(const struct pmt_logfile *f, const char *file_suffix)
{
    struct grow_lines g;
    e2e_grow_lines(&g);
    const struct pmt_log *log = f->log;
    bool trace = f->id.mode == 'T';
    const char *want_what = trace ? "LINE" : "C_CALL", *want_func = trace ? "grow" : "len";
    const struct pmt_line *jump = NULL;
    size_t at = 0;
    for (size_t i = 0; i < log->n && !jump; i++) {
        const struct pmt_line *l = &log->lines[i];
        if (l->kind == PMT_K_NEXT && l->drss >= GROW_BYTES && ends_with(l->file, file_suffix) && l->line == g.loop) {
            jump = l;
            at = i;
        }
    }
    cr_assert(jump != NULL,
              "%s: no NEXT with dRSS >= %ld in *%s at line %d (the loop line after the allocation); "
              "events with dRSS >= 25 MiB:%s",
              f->path, GROW_BYTES, file_suffix, g.loop, big_jumps(log));
    cr_assert(!strcmp(jump->what, want_what) && !strcmp(jump->func, want_func),
              "%s line %d: the jump should be `%s %s` (%s mode), got `%s %s`", f->path, jump->lineno, want_what,
              want_func, e2e_mode_name(f->id.mode), jump->what, jump->func);
    const struct pmt_line *before = NULL;
    for (size_t i = at; i-- > 0;) {
        const struct pmt_line *l = &log->lines[i];
        if (l->kind == PMT_K_MSG && e2e_msg_thread_id(l) >= 0)
            continue;
        before = l;
        break;
    }
    const char *b_what = trace ? "LINE" : "CALL";
    int b_line = trace ? g.alloc : g.def;
    cr_assert(before && (before->kind == PMT_K_PREV || before->kind == PMT_K_NEXT) &&
                  before->event + 1 == jump->event,
              "%s line %d: the jump is not bracketed by the event before it (a PREV, or a NEXT when that event "
              "was logged too) with event %zu; the line before is `%s`",
              f->path, jump->lineno, jump->event - 1, before ? before->raw : "(none)");
    cr_assert(!strcmp(before->what, b_what) && !strcmp(before->func, "grow") && before->line == b_line &&
                  ends_with(before->file, file_suffix),
              "%s line %d: the event before the jump should be `%s` of grow at line %d of *%s, got `%s`", f->path,
              before->lineno, b_what, b_line, file_suffix, before->raw);
}

pid_t e2e_grow_output(const struct pmt_run_result *r, const char *version)
{
    int pid = 0;
    char v[64] = "";
    long size = 0;
    int used = 0;
    int got = sscanf(r->out, "pid=%d version=%63s size=%ld\n%n", &pid, v, &size, &used);
    cr_assert(got == 3 && size == GROW_BYTES && (size_t)used == r->out_len,
              "grow.py's output is not the single line `pid=<pid> version=<v> size=%ld`\n%s", GROW_BYTES,
              pmt_run_describe(r));
    cr_assert(!strcmp(v, version), "the program runs Python %s, the interpreter says %s", v, version);
    return pid;
}

void e2e_check_frst_file(const struct pmt_logfile *f, const char *expected_file, bool module_run)
{
    const struct pmt_line *l = pmt_log_first(f->log, PMT_K_FRST);
    cr_assert(l != NULL, "%s: no FRST line", f->path);
    cr_assert(!ends_with(l->file, "site.py") && (module_run || !strstr(l->file, "importlib")),
              "%s line %d: the first event is in CPython's start-up or run machinery (site.py, importlib), "
              "not in the user's program: `%s`", f->path,
              l->lineno, l->raw);
    if (expected_file)
        cr_assert(!strcmp(l->file, expected_file),
                  "%s line %d: the first event should come from the user's %s, got `%s`", f->path, l->lineno,
                  expected_file, l->raw);
}

long e2e_msg_thread_id(const struct pmt_line *l)
{
    if (l->kind != PMT_K_MSG || !l->text)
        return -1;
    const char *p = strstr(l->text, "thread native_id=");
    if (!p)
        return -1;
    p += strlen("thread native_id=");
    char *end;
    long id = strtol(p, &end, 10);
    return end == p ? -1 : id;
}

/* plain.py with and without the agent: same status and stdout, and the
 * agent's stderr lines returned with the program's own stderr checked. */
char **e2e_run_plain_against_baseline(const struct pmt_python *py, const char *dir, const char *rounds,
                                         const char *const *agent_env, size_t *n_lines, struct pmt_run_result *r)
{
    const char *const *argv = PMT_LIST(py->path, e2e_program("plain.py"), rounds);
    struct pmt_run_result base;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir}, &base);
    cr_assert(base.exited && base.exit_code == 4, "plain.py without the agent\n%s", pmt_run_describe(&base));
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .env = pmt_list_cat(PMT_LIST(e2e_preload()), agent_env)},
            r);
    cr_assert(r->exited && r->exit_code == 4, "the program's status is 4\n%s", pmt_run_describe(r));
    cr_assert(!strcmp(r->out, base.out), "stdout differs from the run without the agent\n--- without:\n%s\n%s",
              base.out, pmt_run_describe(r));
    char **lines, *rest;
    pmt_split_stderr(r->err, &lines, n_lines, &rest);
    cr_assert(!strcmp(rest, base.err), "the program's own stderr changed\n--- without the agent:\n%s\n%s", base.err,
              pmt_run_describe(r));
    return lines;
}
