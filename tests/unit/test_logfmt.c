/* logfmt: the bytes of each line type, checked against snprintf of the
 * formats docs/LOGS.md gives, and against cPyMemTrace's own header line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/logfmt.h"

static char buf[PMT_LINE_MAX];
static char want[PMT_LINE_MAX];

static void check_event(const char *prefix, const struct pmt_event_fields *f)
{
    size_t n = fmt_event_line(buf, prefix, f);
    snprintf(want, sizeof want, "%s: %-12llu +%-6lld %-12.6f %-8s %-80s %4d %-32s %12llu %12lld\n",
             prefix, (unsigned long long)f->event, (long long)f->devent, (double)f->clock_us / 1e6,
             f->what, f->file, f->line, f->func, (unsigned long long)f->rss, (long long)f->drss);
    cr_assert_eq(n, strlen(want), "length %zu, want %zu for %s", n, strlen(want), want);
    cr_assert_eq(memcmp(buf, want, n), 0, "got  [%.*s]\nwant [%s]", (int)n, buf, want);
}

Test(logfmt, header_is_cpymemtrace_header)
{
    /* The HDR line of the golden logs (shared/golden), byte for byte. */
    const char *golden = "HDR: Event        dEvent  Clock        What     File                       "
                         "                                                      Line Function     "
                         "                             RSS         dRSS\n";
    size_t n = fmt_header(buf);
    snprintf(want, sizeof want, "HDR: %-12s %-6s  %-12s %-8s %-80s %4s %-32s %12s %12s\n", "Event",
             "dEvent", "Clock", "What", "File", "Line", "Function", "RSS", "dRSS");
    cr_assert_str_eq(want, golden);
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(buf, want, n), 0);
}

Test(logfmt, golden_event_line)
{
    struct pmt_event_fields f = {2, 1, 66770, "C_CALL", "example.py", 12, "len", 66478080, 52432896, 0, 0};
    const char *golden = "NEXT: 2            +1      0.066770     C_CALL   example.py                 "
                         "                                                        12 len          "
                         "                        66478080     52432896\n";
    size_t n = fmt_event_line(buf, "NEXT", &f);
    cr_assert_eq(n, strlen(golden));
    cr_assert_eq(memcmp(buf, golden, n), 0, "[%.*s]", (int)n, buf);
}

Test(logfmt, event_lines_match_printf)
{
    static const char *const prefixes[] = {"FRST", "NEXT", "PREV", "LAST"};
    static const uint64_t clocks[] = {0, 1, 999999, 1000000, 36891, 123456789012ull};
    static const int64_t drss[] = {0, 4096, -4096, -52432896, 9007199254740992ll, INT64_MIN + 1};
    static const int lines[] = {0, 1, 22, 9999, 12345, -1};
    for (int w = 0; w < 8; w++) {
        for (size_t i = 0; i < 6; i++) {
            struct pmt_event_fields f = {
                .event = (uint64_t)i * 1234567891ull,
                .devent = (int64_t)i * 99991,
                .clock_us = clocks[i],
                .what = fmt_what_name(w),
                .file = i % 2 ? "/a/rather/long/path/that/goes/on/and/on/beyond/eighty/characters/of/"
                                "width/module.py"
                              : "<string>",
                .line = lines[i],
                .func = i % 3 ? "<module>" : "a_function_name_longer_than_thirty_two_chars",
                .rss = (uint64_t)i * 1000003ull * 4096,
                .drss = drss[i],
            };
            check_event(prefixes[(size_t)w % 4], &f);
        }
    }
}

Test(logfmt, what_names)
{
    static const char *const names[] = {"CALL", "EXCEPT", "LINE", "RETURN",
                                        "C_CALL", "C_EXCEPT", "C_RETURN", "OPCODE"};
    for (int i = 0; i < 8; i++)
        cr_assert_str_eq(fmt_what_name(i), names[i]);
    cr_assert_str_eq(fmt_what_name(8), "?");
    cr_assert_str_eq(fmt_what_name(-1), "?");
}

Test(logfmt, msg_line_matches_printf)
{
    size_t n = fmt_msg_line(buf, 12, 3, 1500000, "thread native_id=42");
    snprintf(want, sizeof want, "MSG:  %-12zu +%-6ld %-12.6f # %s\n", (size_t)12, 3L, 1.5,
             "thread native_id=42");
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(buf, want, n), 0, "[%.*s]", (int)n, buf);
}

Test(logfmt, err_line_is_a_msg_line_with_its_prefix)
{
    const char *text = "the program set its own trace function, which the agent cannot call in turn";
    size_t n = fmt_note_line(buf, "ERR", 7, 0, 250, text);
    const char *want_exact = "ERR:  7            +0      0.000250     # the program set its own trace "
                             "function, which the agent cannot call in turn\n";
    cr_assert_eq(n, strlen(want_exact));
    cr_assert_eq(memcmp(buf, want_exact, n), 0, "[%.*s]", (int)n, buf);
}

Test(logfmt, long_fields_are_cut_at_field_max)
{
    static char file[PMT_FIELD_MAX + 100];
    memset(file, 'x', sizeof file - 1);
    struct pmt_event_fields f = {0, 0, 0, "LINE", file, 1, "f", 1, 0, 0, 0};
    size_t n = fmt_event_line(buf, "NEXT", &f);
    cr_assert_lt(n, (size_t)PMT_LINE_MAX);
    cr_assert_eq(buf[n - 1], '\n');
    cr_assert_eq(memchr(buf, 'x', n) != NULL, 1);
}

Test(logfmt, escape_exact_bytes)
{
    char out[64];
    const char in[] = "a\nb\rc\td\\e\x01\x1f\x7f\xc3\xa9" "f";
    size_t n = fmt_escape(out, sizeof out, in, sizeof in - 1);
    const char *want_exact = "a\\nb\\rc\\td\\\\e\\x01\\x1f\\x7f\xc3\xa9" "f";
    cr_assert_eq(n, strlen(want_exact), "[%.*s]", (int)n, out);
    cr_assert_eq(memcmp(out, want_exact, n), 0, "[%.*s]", (int)n, out);
    cr_assert_eq(fmt_needs_escape(in, sizeof in - 1), 1);
    cr_assert_eq(fmt_needs_escape("plain <module> \xc3\xa9", 17), 0);
    /* cut before an escape that would not fit */
    n = fmt_escape(out, 5, "ab\x01", 3);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(out, "ab", 2), 0);
}

Test(logfmt, forged_names_stay_one_line)
{
    /* A name with a newline would forge a line: every field that comes
     * from the program is escaped, the line is one line, columns as printf
     * gives them for the escaped text. */
    struct pmt_event_fields f = {
        5, 1, 250, "CALL", "evil\nEOF\n.py", 3, "f\nNEXT: 1 +1", 4096, 0, 0, 0,
    };
    size_t n = fmt_event_line(buf, "NEXT", &f);
    snprintf(want, sizeof want, "NEXT: %-12d +%-6d %-12.6f %-8s %-80s %4d %-32s %12d %12d\n", 5, 1,
             0.00025, "CALL", "evil\\nEOF\\n.py", 3, "f\\nNEXT: 1 +1", 4096, 0);
    cr_assert_eq(n, strlen(want), "[%.*s]", (int)n, buf);
    cr_assert_eq(memcmp(buf, want, n), 0, "[%.*s]\n[%s]", (int)n, buf, want);
    /* A site's names come escaped (their lengths given): written as they
     * are, on the fast path and on the slow one (a file past 80 columns). */
    static const char esc_long[] =
        "/a/very/long/path/of/more/than/eighty/columns/in/all/so/the/slow/path/writes/it/evil\\nEOF.py";
    struct pmt_event_fields g = {5, 1, 250, "CALL", esc_long, 3, "f\\n", 4096, 0,
                                 sizeof esc_long - 1, 3};
    n = fmt_event_line(buf, "NEXT", &g);
    snprintf(want, sizeof want, "NEXT: %-12d +%-6d %-12.6f %-8s %-80s %4d %-32s %12d %12d\n", 5, 1,
             0.00025, "CALL", esc_long, 3, "f\\n", 4096, 0);
    cr_assert_eq(n, strlen(want), "[%.*s]", (int)n, buf);
    cr_assert_eq(memcmp(buf, want, n), 0, "[%.*s]\n[%s]", (int)n, buf, want);
    n = fmt_msg_line(buf, 7, 0, 0, "log dir /tmp/a\nEOF");
    const char *msg = "MSG:  7            +0      0.000000     # log dir /tmp/a\\nEOF\n";
    cr_assert_eq(n, strlen(msg), "[%.*s]", (int)n, buf);
    cr_assert_eq(memcmp(buf, msg, n), 0, "[%.*s]", (int)n, buf);
    struct pmt_ref_fields r = {
        .clock_us = 1, .address = (void *)0x1000, .live = 1, .type = "T\nNEW: x",
        .file = "a.py", .line = 1, .func = "g", .rss = 4096, .drss = 0,
    };
    n = fmt_ref_line(buf, "NEW", &r);
    cr_assert_eq(memchr(buf, '\n', n), buf + n - 1, "[%.*s]", (int)n, buf);
    cr_assert_not_null(memmem(buf, n, "T\\nNEW: x", 9), "[%.*s]", (int)n, buf);
}

Test(logfmt, ref_line_with_three_long_fields_fits)
{
    /* A type, a file and a function of PMT_FIELD_MAX bytes each, all to be
     * escaped: the line is cut within PMT_LINE_MAX, one line. */
    static char type[PMT_FIELD_MAX + 1], file[PMT_FIELD_MAX + 1], func[PMT_FIELD_MAX + 1];
    memset(type, '\n', PMT_FIELD_MAX);
    memset(file, 'f', PMT_FIELD_MAX);
    memset(func, '\x01', PMT_FIELD_MAX);
    struct pmt_ref_fields r = {.clock_us = 1, .address = (void *)0x1000, .live = 1, .type = type,
                               .file = file, .line = 1, .func = func, .rss = 4096, .drss = 0};
    size_t n = fmt_ref_line(buf, "NEW", &r);
    cr_assert_lt(n, (size_t)PMT_LINE_MAX);
    cr_assert_eq(memchr(buf, '\n', n), buf + n - 1);
}

Test(logfmt, integers)
{
    char b[32];
    b[fmt_u64(b, 0)] = 0;
    cr_assert_str_eq(b, "0");
    b[fmt_u64(b, UINT64_MAX)] = 0;
    cr_assert_str_eq(b, "18446744073709551615");
    b[fmt_i64(b, -1)] = 0;
    cr_assert_str_eq(b, "-1");
    b[fmt_i64(b, INT64_MIN)] = 0;
    cr_assert_str_eq(b, "-9223372036854775808");
}

Test(logfmt, log_name)
{
    char name[128];
    /* 2026-11-24 14:00:07 UTC */
    size_t n = fmt_log_name(name, sizeof name, (time_t)1795528807, 3, 20491, 'T', 0, "3.13.0");
    cr_assert_str_eq(name, "20261124_140007_3_20491_T_0_PY3.13.0.log");
    cr_assert_eq(n, strlen(name));
    n = fmt_log_name(name, sizeof name, (time_t)0, 0, 1, 'P', 2, "3.8.18");
    cr_assert_str_eq(name, "19700101_000000_0_1_P_2_PY3.8.18.log");
    cr_assert_eq(fmt_log_name(name, 20, (time_t)0, 0, 1, 'P', 2, "3.8.18"), 0, "too small");
}

Test(logfmt, log_pattern)
{
    char name[128];
    cr_assert_gt(fmt_log_pattern(name, sizeof name, "/tmp/run-%p-%m-%n.log", 42, 'P', 7), 0);
    cr_assert_str_eq(name, "/tmp/run-42-P-7.log");
    cr_assert_gt(fmt_log_pattern(name, sizeof name, "100%%_%m", 1, 'T', 0), 0);
    cr_assert_str_eq(name, "100%_T");
    cr_assert_eq(fmt_log_pattern(name, sizeof name, "x%q", 1, 'T', 0), 0);
    cr_assert_eq(fmt_log_pattern(name, sizeof name, "x%", 1, 'T', 0), 0);
    cr_assert_eq(fmt_log_pattern(name, 5, "abcdef", 1, 'T', 0), 0, "too small");
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Many random lines, fast path and slow path alike, against snprintf. */
Test(logfmt, random_lines_match_printf)
{
    static const char *const files[] = {"", "a.py", "<string>", "<frozen importlib._bootstrap>",
        "/usr/lib/python3.11/very/long/path/that/is/exactly/eighty/characters/long/xx/m.py",
        "/usr/lib/python3.11/very/long/path/that/is/more/than/eighty/characters/long/xxx/m.py"};
    static const char *const funcs[] = {"", "f", "<module>", "a_function_of_exactly_32_chars_x",
                                        "a_function_name_of_thirty_three_c"};
    uint64_t x = 88172645463325252ull;
#define RND() xorshift(&x)
    for (int i = 0; i < 20000; i++) {
        static const uint64_t scales[] = {10, 1000, 1000000, 1000000000ull, 1000000000000ull,
                                          100000000000000ull};
        struct pmt_event_fields f = {
            .event = RND() % scales[RND() % 6],
            .devent = (int64_t)(RND() % scales[RND() % 4]),
            .clock_us = RND() % scales[RND() % 6],
            .what = fmt_what_name((int)(RND() % 8)),
            .file = files[RND() % 6],
            .line = (int)(RND() % 20000) - 1000,
            .func = funcs[RND() % 5],
            .rss = RND() % scales[RND() % 6],
            .drss = (int64_t)(RND() % scales[RND() % 6]) * (RND() % 2 ? 1 : -1),
        };
        if (RND() % 2) {
            f.file_len = strlen(f.file);
            f.func_len = strlen(f.func);
        }
        check_event(i % 2 ? "NEXT" : "PREV", &f);
    }
#undef RND
}

/* ---- the sampler's lines ---------------------------------------------------- */

static struct pmt_sample_fields sample_fields(void)
{
    struct pmt_sample_fields f = {
        .local = {.tm_year = 126, .tm_mon = 10, .tm_mday = 4, .tm_hour = 9, .tm_min = 7, .tm_sec = 5},
        .usec = 90921,
        .pid = 4242,
        .rss = 145448960,
        .vms = 4542902272ull,
        .shared = 6934528,
        .text = 4096,
        .lib = 0,
        .data = 8466432,
        .dirty = 0,
        .peak_rss = 150011904,
        .pfaults = 37618,
        .pageins = 3,
        .user_us = 284220,
        .system_us = 99182,
        .children_user_us = 0,
        .children_system_us = 1,
        .iowait_us = 10000,
        .elapsed_us = 12000005,
    };
    return f;
}

Test(logfmt, sample_line_literal)
{
    struct pmt_sample_fields f = sample_fields();
    const char *golden =
        "2026-11-04 09:07:05,090 - libpymemtrace.so#0 -  4242 - (pymemtrace) - INFO     - "
        "ProcessLoggingThread-JSON-START {\"timestamp\": \"2026-11-04 09:07:05.090921\", "
        "\"memory_info\": {\"rss\": 145448960, \"vms\": 4542902272, \"shared\": 6934528, "
        "\"text\": 4096, \"lib\": 0, \"data\": 8466432, \"dirty\": 0, \"peak_rss\": 150011904, "
        "\"pfaults\": 37618, \"pageins\": 3}, \"cpu_times\": {\"user\": 0.284220, "
        "\"system\": 0.099182, \"children_user\": 0.000000, \"children_system\": 0.000001, "
        "\"iowait\": 0.010000}, \"elapsed_time\": 12.000005, \"pid\": 4242}\n";
    size_t n = fmt_sample_line(buf, PMT_SAMPLE_MARK_START, &f);
    cr_assert_eq(n, strlen(golden), "length %zu, want %zu: [%.*s]", n, strlen(golden), (int)n, buf);
    cr_assert_eq(memcmp(buf, golden, n), 0, "got  [%.*s]\nwant [%s]", (int)n, buf, golden);
}

/* Against printf of the same layout, at the edges of every field (widest
 * numbers, six-digit pids, fractions that need zero padding). */
Test(logfmt, sample_lines_match_printf)
{
    static const uint64_t values[] = {0, 1, 999999, 1000000, 123456789, UINT64_MAX};
    static const pid_t pids[] = {1, 99999, 123456, 4194304};
    static const char *const marks[] = {PMT_SAMPLE_MARK, PMT_SAMPLE_MARK_START, PMT_SAMPLE_MARK_STOP};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct pmt_sample_fields f = sample_fields();
        uint64_t v = values[i], us = v;
        f.rss = f.vms = f.shared = f.text = f.lib = f.data = f.dirty = f.peak_rss = v;
        f.pfaults = f.pageins = v;
        f.user_us = f.system_us = f.children_user_us = f.children_system_us = f.iowait_us = us;
        f.elapsed_us = us;
        f.usec = (uint32_t)(v % 1000000u);
        f.pid = pids[i % 4];
        const char *mark = marks[i % 3];
        unsigned long long u = (unsigned long long)v;
        unsigned long long s = (unsigned long long)(us / 1000000u), frac = (unsigned long long)(us % 1000000u);
        snprintf(want, sizeof want,
                 "%04d-%02d-%02d %02d:%02d:%02d,%03u - libpymemtrace.so#0 - %5d - (pymemtrace) - "
                 "INFO     - %s {\"timestamp\": \"%04d-%02d-%02d %02d:%02d:%02d.%06u\", "
                 "\"memory_info\": {\"rss\": %llu, \"vms\": %llu, \"shared\": %llu, \"text\": %llu, "
                 "\"lib\": %llu, \"data\": %llu, \"dirty\": %llu, \"peak_rss\": %llu, "
                 "\"pfaults\": %llu, \"pageins\": %llu}, \"cpu_times\": {\"user\": %llu.%06llu, "
                 "\"system\": %llu.%06llu, \"children_user\": %llu.%06llu, "
                 "\"children_system\": %llu.%06llu, \"iowait\": %llu.%06llu}, "
                 "\"elapsed_time\": %llu.%06llu, \"pid\": %d}\n",
                 f.local.tm_year + 1900, f.local.tm_mon + 1, f.local.tm_mday, f.local.tm_hour,
                 f.local.tm_min, f.local.tm_sec, f.usec / 1000u, (int)f.pid, mark,
                 f.local.tm_year + 1900, f.local.tm_mon + 1, f.local.tm_mday, f.local.tm_hour,
                 f.local.tm_min, f.local.tm_sec, f.usec, u, u, u, u, u, u, u, u, u, u, s, frac, s,
                 frac, s, frac, s, frac, s, frac, s, frac, (int)f.pid);
        size_t n = fmt_sample_line(buf, mark, &f);
        cr_assert_leq(n, PMT_SAMPLE_LINE_MAX);
        cr_assert_eq(n, strlen(want), "length %zu, want %zu for %s", n, strlen(want), want);
        cr_assert_eq(memcmp(buf, want, n), 0, "got  [%.*s]\nwant [%s]", (int)n, buf, want);
    }
}

/* The sampler's own calendar against gmtime_r: the edges of the epoch, of
 * leap years and of 400-year cycles, then a day's worth of random seconds
 * over five thousand years either side of 1970. */
static void civil_matches_gmtime(int64_t secs)
{
    struct tm want, got;
    time_t t = (time_t)secs;
    cr_assert(gmtime_r(&t, &want) != NULL);
    memset(&got, 0x55, sizeof got);
    fmt_civil_time(secs, &got);
    cr_assert(got.tm_year == want.tm_year && got.tm_mon == want.tm_mon && got.tm_mday == want.tm_mday &&
                  got.tm_hour == want.tm_hour && got.tm_min == want.tm_min && got.tm_sec == want.tm_sec &&
                  got.tm_wday == want.tm_wday && got.tm_yday == want.tm_yday,
              "%lld: got %d-%d-%d %d:%d:%d wday %d yday %d, gmtime_r gives %d-%d-%d %d:%d:%d wday %d yday %d",
              (long long)secs, got.tm_year + 1900, got.tm_mon + 1, got.tm_mday, got.tm_hour, got.tm_min, got.tm_sec,
              got.tm_wday, got.tm_yday, want.tm_year + 1900, want.tm_mon + 1, want.tm_mday, want.tm_hour,
              want.tm_min, want.tm_sec, want.tm_wday, want.tm_yday);
}

Test(logfmt, civil_time_matches_gmtime)
{
    static const int64_t edges[] = {
        0, -1, 1, 86399, 86400, -86400, -86401,
        951782399, 951782400, 951868800,   /* 2000-02-28 23:59:59, 02-29, 03-01 */
        4107542399, 4107542400,            /* 2099-12-31 23:59:59, 2100-01-01 */
        4107715200, 4107801600,            /* 2100-02-28 (no 29th), 03-01 */
        -2208988800, -62135596800,         /* 1900-01-01, 0001-01-01 */
        1796083200,                        /* 2026-12-01 */
        253402300799,                      /* 9999-12-31 23:59:59 */
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        civil_matches_gmtime(edges[i]);
    /* Every day boundary of four centuries around 2000, at a random second. */
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (int64_t day = -146097; day < 2 * 146097; day++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        civil_matches_gmtime(10957 * 86400LL + day * 86400 + (int64_t)(state >> 33) % 86400);
    }
    for (int i = 0; i < 86400; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        civil_matches_gmtime((int64_t)(state >> 1) % (5000LL * 366 * 86400) * (state & 1 ? 1 : -1));
    }
}
