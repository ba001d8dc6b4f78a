/* The harness checked on its own: the log parser and validators against the
 * golden logs cPyMemTrace wrote (tests/e2e/data/golden) and against
 * hand-made logs, and the process runner and interpreter discovery. These
 * need no agent. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static char *golden_dir(void)
{
    return pmt_strf("%s/tests/e2e/data/golden", pmt_env("PMT_SOURCE_ROOT"));
}

static struct pmt_log *golden(const char *name)
{
    return pmt_log_load(pmt_join(golden_dir(), name));
}

static char *contains(const char *err, const char *needle)
{
    return err && strstr(err, needle) ? (char *)err : NULL;
}

Test(structure, golden_logs_have_the_spec_layout, .fini = pmt_fini)
{
    size_t n;
    char **names = pmt_list_dir(golden_dir(), ".log", &n);
    cr_assert(n == 6, "expected the 6 Profile/Trace golden logs, found %zu", n);
    for (size_t i = 0; i < n; i++) {
        struct pmt_log *log = golden(names[i]);
        cr_assert(log->n > 4 && log->lines[0].kind == PMT_K_MESSAGE, "%s: no message line", names[i]);
        char *err = pmt_log_validate(log, log->lines[0].raw);
        cr_assert(err == NULL, "%s", err);
        cr_assert(pmt_log_count(log, PMT_K_FRST) == 1 && pmt_log_count(log, PMT_K_LAST) == 1);
        struct pmt_log_name id;
        cr_assert(pmt_log_name_parse(names[i], &id), "name %s", names[i]);
        cr_assert(id.depth == 0 && (id.mode == 'P' || id.mode == 'T'));
        cr_assert(!strcmp(id.version, "3.11.2") || !strcmp(id.version, "3.13.0"), "version %s", id.version);
    }
    pmt_done();
}

Test(structure, golden_fields_are_read, .fini = pmt_fini)
{
    struct pmt_log *log = golden("20261124_140007_0_20450_P_0_PY3.11.2.log");
    const struct pmt_line *l = &log->lines[5];
    cr_assert(l->kind == PMT_K_NEXT && l->perr == NULL, "%s", l->perr);
    cr_assert(l->event == 2 && l->devent == 1 && l->clock > 0.066769 && l->clock < 0.066771);
    cr_assert_str_eq(l->what, "C_CALL");
    cr_assert_str_eq(l->file, "example.py");
    cr_assert(l->line == 12 && l->rss == 66478080 && l->drss == 52432896);
    cr_assert_str_eq(l->func, "len");
    l = pmt_log_first(log, PMT_K_FRST);
    cr_assert_str_eq(l->func, "<module>");
    cr_assert(l->line == 22 && l->drss == 13975552);

    log = golden("20261124_140007_1_20491_T_0_PY3.13.0.log");
    l = pmt_log_first(log, PMT_K_LAST);
    cr_assert(l->event == 25608 && l->devent == 25604 && l->drss == 0 && l->rss == 115372032);
    l = pmt_log_first(log, PMT_K_PREV);
    cr_assert(l != NULL && l->event == 1 && l->line == 25);
    pmt_done();
}

Test(structure, golden_quirks_are_rejected_by_the_semantic_check, .fini = pmt_fini)
{
    /* cPyMemTrace's FRST reports dRSS against 0 ... */
    char *err = pmt_log_check_semantics(golden("20261124_140007_0_20450_P_0_PY3.11.2.log"), -1);
    cr_assert(contains(err, "FRST"), "expected the FRST quirk to be found, got: %s", err);
    /* ... and its PREV repeats the previous NEXT. Skip the FRST quirk to reach it. */
    struct pmt_log *log = golden("20261124_140007_1_20450_T_0_PY3.11.2.log");
    struct pmt_line *l = (struct pmt_line *)pmt_log_first(log, PMT_K_FRST);
    l->drss = 0;
    l = (struct pmt_line *)&log->lines[4];   /* the first NEXT, also against 0 */
    l->rss += 4096;
    l->drss = 4096;
    err = pmt_log_check_semantics(log, -1);
    cr_assert(contains(err, "line 6") && contains(err, "does not follow"),
              "expected the PREV quirk (line 6) to be found, got: %s", err);
    pmt_done();
}

Test(structure, log_names, .fini = pmt_fini)
{
    struct pmt_log_name id;
    cr_assert(pmt_log_name_parse("20261124_140007_1_20491_T_0_PY3.13.0.log", &id));
    cr_assert(id.n == 1 && id.pid == 20491 && id.mode == 'T' && id.depth == 0);
    cr_assert_str_eq(id.version, "3.13.0");
    cr_assert(id.when == 1795528807, "2026-11-24 14:00:07 UTC is 1795528807, got %lld", (long long)id.when);
    cr_assert(!pmt_log_name_parse("20261124_140007_1_20491_X_0_PY3.13.0.log", &id));
    cr_assert(!pmt_log_name_parse("2026112_140007_1_20491_T_0_PY3.13.0.log", &id));
    cr_assert(!pmt_log_name_parse("20261124_140007_1_20491_T_0_PY3.13.0.txt", &id));
    cr_assert(!pmt_log_name_parse("20261124_140007__20491_T_0_PY3.13.0.log", &id));
    pmt_done();
}

/* A hand-made log, one line per array entry ("" ends it). */
static struct pmt_log *make_log(const char *const *lines)
{
    char *text = pmt_strf("%s", "");
    for (size_t i = 0; lines[i]; i++)
        text = pmt_strf("%s%s\n", text, lines[i]);
    return pmt_log_parse(text, strlen(text), "made.log");
}

#define LONG_FILE "/tmp/a folder with spaces/and a rather long name, longer than the eighty columns/x.py"
#define LONG_FUNC "a_function_name_longer_than_thirty_two_columns"

static char **good_lines(void)
{
    static char buf[16][1024];
    static char *v[17];
    int k = 0;
    v[k++] = "a message";
    v[k++] = "SOF";
    pmt_fmt_hdr(buf[k], sizeof buf[k]), v[k] = buf[k], k++;
    pmt_fmt_msg(buf[k], sizeof buf[k], 0, 0, 0.01, "pymemtrace agent"), v[k] = buf[k], k++;
    pmt_fmt_event(buf[k], sizeof buf[k], "FRST", 0, 0, 0.0125, "LINE", "<string>", 1, "<module>", 1000000, 0),
        v[k] = buf[k], k++;
    pmt_fmt_event(buf[k], sizeof buf[k], "NEXT", 1, 1, 0.013, "CALL", LONG_FILE, 12345, LONG_FUNC, 1004096, 4096),
        v[k] = buf[k], k++;
    pmt_fmt_msg(buf[k], sizeof buf[k], 5, 4, 0.02, "thread native_id=4242"), v[k] = buf[k], k++;
    pmt_fmt_event(buf[k], sizeof buf[k], "PREV", 9, 8, 0.021, "C_RETURN", "f 1.py", 7, "a func", 1004100, 4),
        v[k] = buf[k], k++;
    pmt_fmt_msg(buf[k], sizeof buf[k], 10, 9, 0.022, "thread native_id=77"), v[k] = buf[k], k++;
    pmt_fmt_event(buf[k], sizeof buf[k], "NEXT", 10, 9, 0.022, "C_EXCEPT", "", 0, "", 900000, -104096),
        v[k] = buf[k], k++;
    pmt_fmt_event(buf[k], sizeof buf[k], "LAST", 12, 2, 123456.5, "RETURN", "<stdin>", 3, "grow", 900000, 0),
        v[k] = buf[k], k++;
    v[k++] = "EOF";
    v[k] = NULL;
    return v;
}

Test(structure, made_log_with_long_and_spaced_fields, .fini = pmt_fini)
{
    struct pmt_log *log = make_log((const char *const *)good_lines());
    char *err = pmt_log_validate(log, "a message");
    cr_assert(err == NULL, "%s", err);
    err = pmt_log_check_semantics(log, -1);
    cr_assert(err == NULL, "%s", err);
    const struct pmt_line *l = &log->lines[5];
    cr_assert_str_eq(l->file, LONG_FILE);
    cr_assert_str_eq(l->func, LONG_FUNC);
    cr_assert(l->line == 12345 && l->rss == 1004096 && l->drss == 4096);
    l = &log->lines[7];
    cr_assert_str_eq(l->file, "f 1.py");
    cr_assert_str_eq(l->func, "a func");
    cr_assert_str_eq(l->what, "C_RETURN");
    l = &log->lines[9];
    cr_assert(l->file[0] == '\0' && l->func[0] == '\0' && l->line == 0 && l->drss == -104096);
    cr_assert_str_eq(log->lines[8].text, "thread native_id=77");
    pmt_done();
}

/* Replaces line i of the good log (NULL: removes it) and returns the error. */
static char *with_line(size_t i, const char *replacement, const char *message, long long trigger, bool semantics)
{
    char **v = good_lines();
    const char *lines[20];
    size_t k = 0;
    for (size_t j = 0; v[j]; j++) {
        if (j == i && replacement == NULL)
            continue;
        lines[k++] = j == i ? replacement : v[j];
    }
    lines[k] = NULL;
    struct pmt_log *log = make_log(lines);
    char *err = pmt_log_validate(log, message);
    if (!err && semantics)
        err = pmt_log_check_semantics(log, trigger);
    return err;
}

static char *spaced(size_t i, size_t col)
{
    char **v = good_lines();
    return pmt_strf("%.*s %s", (int)col, v[i], v[i] + col);
}

Test(structure, layout_errors_are_found_and_named, .fini = pmt_fini)
{
    char *e;
    cr_assert(contains(e = with_line(0, "another message", "a message", -1, false), "line 1"), "%s", e);
    cr_assert(contains(e = with_line(0, NULL, "a message", -1, false), "message"), "%s", e);
    cr_assert(contains(e = with_line(1, NULL, "a message", -1, false), "SOF"), "%s", e);
    cr_assert(contains(e = with_line(2, spaced(2, 10), "a message", -1, false), "line 3"), "%s", e);
    /* one column a space too wide, in each region of an event line */
    static const size_t cols[] = {7, 20, 29, 43, 50, 131, 136, 170, 181, 190};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        cr_assert(contains(e = with_line(4, spaced(4, cols[c]), "a message", -1, false), "line 5"),
                  "column %zu: %s", cols[c], e);
    cr_assert(contains(e = with_line(3, spaced(3, 30), "a message", -1, false), "line 4"), "%s", e);
    cr_assert(contains(e = with_line(4, NULL, "a message", -1, false), "before any FRST"), "%s", e);
    cr_assert(contains(e = with_line(10, NULL, "a message", -1, false), "LAST"), "%s", e);
    cr_assert(contains(e = with_line(11, NULL, "a message", -1, false), "EOF"), "%s", e);
    cr_assert(contains(e = with_line(11, "EOF\nmore", "a message", -1, false), "after EOF"), "%s", e);
    cr_assert(contains(e = with_line(5, "NEXT: garbage", "a message", -1, false), "line 6"), "%s", e);
    char **v = good_lines();
    char *what = pmt_strf("%.*sJUMP    %s", 40, v[5], v[5] + 48);
    cr_assert(contains(e = with_line(5, what, "a message", -1, false), "What"), "%s", e);
    char *frst2 = pmt_strf("%s\n%s", v[4], v[4]);
    cr_assert(contains(e = with_line(4, frst2, "a message", -1, false), "second FRST"), "%s", e);

    char *text = pmt_strf("SOF\n%s\nEOF", v[2]);
    e = pmt_log_validate(pmt_log_parse(text, strlen(text), "x.log"), NULL);
    cr_assert(contains(e, "LAST"), "%s", e);
    text = pmt_strf("SOF\n%s\n%s\n%s\nEOF", v[2], v[4], v[10]);
    struct pmt_log *nonl = pmt_log_parse(text, strlen(text), "x.log");
    cr_assert(contains(e = pmt_log_validate(nonl, NULL), "newline"), "%s", e);
    pmt_done();
}

static char *ev(const char *prefix, size_t event, long devent, size_t rss, long drss)
{
    char buf[1024];
    pmt_fmt_event(buf, sizeof buf, prefix, event, devent, 1.5, "LINE", "x.py", 1, "f", rss, drss);
    return pmt_strf("%s", buf);
}

static char *semantics_of(long long trigger, const char *const *events)
{
    char hdr[512];
    pmt_fmt_hdr(hdr, sizeof hdr);
    const char *lines[32] = {"SOF", hdr};
    size_t k = 2;
    for (size_t i = 0; events[i]; i++)
        lines[k++] = events[i];
    lines[k++] = "EOF";
    lines[k] = NULL;
    struct pmt_log *log = make_log(lines);
    char *err = pmt_log_validate(log, NULL);
    cr_assert(err == NULL, "%s", err);
    return pmt_log_check_semantics(log, trigger);
}

Test(structure, semantic_errors_are_found, .fini = pmt_fini)
{
    const size_t M = 1 << 20;
    char *e;
    /* good: d=-1 with a bracketed jump; d=0 every event; N */
    cr_assert_null(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("PREV", 4, 4, M + 4095, 4095),
                                                 ev("NEXT", 5, 5, 2 * M, (long)M), ev("LAST", 9, 4, 2 * M, 0))),
                   "%s", e);
    cr_assert_null(e = semantics_of(0, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, M, 0),
                                                ev("NEXT", 2, 1, M + 5, 5), ev("LAST", 3, 1, M, -5))),
                   "%s", e);
    cr_assert_null(e = semantics_of(10485760, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, 12 * M, 11 * (long)M),
                                                       ev("LAST", 1, 0, 12 * M, 0))),
                   "%s", e);
    /* bad */
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 1, 0, M, 0), ev("LAST", 2, 1, M, 0))), "FRST"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 5), ev("LAST", 2, 2, M, 0))), "FRST"), "%s", e);
    cr_assert(contains(e = semantics_of(0, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 2, M, 0), ev("LAST", 1, 0, M, 0))),
                       "dEvent"), "%s", e);
    cr_assert(contains(e = semantics_of(0, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, M, 7), ev("LAST", 1, 0, M, 0))),
                       "dRSS"), "%s", e);
    cr_assert(contains(e = semantics_of(0, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 2, 2, M, 0), ev("LAST", 2, 0, M, 0))),
                       "every event"), "%s", e);
    cr_assert(contains(e = semantics_of(0, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("PREV", 1, 1, M, 0), ev("NEXT", 2, 2, M, 0),
                                                    ev("LAST", 2, 0, M, 0))), "PREV"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 3, 3, 2 * M, (long)M),
                                                     ev("LAST", 3, 0, 2 * M, 0))), "PREV"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, M + 100, 100),
                                                     ev("LAST", 1, 0, M + 100, 0))), "below the trigger"), "%s", e);
    cr_assert(contains(e = semantics_of(10485760, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, 2 * M, (long)M),
                                                           ev("LAST", 1, 0, 2 * M, 0))), "below the trigger"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("PREV", 2, 2, M, 0), ev("LAST", 3, 3, M, 0))),
                       "followed"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("PREV", 2, 2, M, 0),
                                                     ev("NEXT", 4, 4, 2 * M, (long)M), ev("LAST", 4, 0, 2 * M, 0))),
                       "its NEXT"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("PREV", 2, 2, M + 8192, 8192),
                                                     ev("NEXT", 3, 3, 2 * M, (long)M), ev("LAST", 3, 0, 2 * M, 0))),
                       "should have been logged"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, 2 * M, (long)M),
                                                     ev("LAST", 0, 0, 2 * M, 0))), "does not follow"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, 2 * M, (long)M),
                                                     ev("LAST", 5, 5, 2 * M, 0))), "dEvent"), "%s", e);
    cr_assert(contains(e = semantics_of(-1, PMT_LIST(ev("FRST", 0, 0, M, 0), ev("NEXT", 1, 1, 2 * M, (long)M),
                                                     ev("LAST", 5, 4, 2 * M, 3))), "dRSS"), "%s", e);
    pmt_done();
}

Test(harness, runner_captures_output_status_and_stdin, .fini = pmt_fini)
{
    setenv("PYMEMTRACE_SHOULD_GO", "1", 1);
    setenv("LD_PRELOAD", "", 1);
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST("sh", "-c",
                                 "cat; echo err >&2; pwd; env | grep -c '^PYMEMTRACE\\|^LD_PRELOAD' ; "
                                 "echo \"$PMT_X\"; exit 7"),
                .cwd = dir,
                .env = PMT_LIST("PMT_X=extra"),
                .stdin_text = "from stdin\n",
            },
            &r);
    char *want = pmt_strf("from stdin\n%s\n0\nextra\n", dir);
    cr_assert(r.exited && r.exit_code == 7, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, want);
    cr_assert_str_eq(r.err, "err\n");

    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST("sh", "-c", "kill -INT $$; sleep 5")}, &r);
    cr_assert(r.signaled && r.signal == SIGINT, "%s", pmt_run_describe(&r));
    pmt_done();
}

Test(harness, debian_python_is_found, .fini = pmt_fini)
{
    struct pmt_python py;
    pmt_python_require(PMT_PY_DEBIAN, &py);
    cr_assert(py.debian && py.major == 3 && py.minor == 11 && py.libpython == NULL, "%s", py.version);
    pmt_done();
}

Test(harness, markers_are_found, .fini = pmt_fini)
{
    char *path = pmt_strf("%s/grow.py", pmt_env("PMT_PROGRAMS"));
    int def = pmt_marker_line(path, "# PMT:def"), alloc = pmt_marker_line(path, "# PMT:alloc"),
        loop = pmt_marker_line(path, "# PMT:loop");
    cr_assert(def > 0 && alloc == def + 1 && loop == alloc + 1, "%d %d %d", def, alloc, loop);
    pmt_done();
}
