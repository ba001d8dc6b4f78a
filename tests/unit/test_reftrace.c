/* reftrace: the line layouts of reference tracing logs (docs/LOGS.md, against
 * snprintf of its formats and cPyMemTrace's golden log), and the type filter
 * that decides, once per type, whether its objects are logged. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/logfmt.h"
#include "config/typefilter.h"

static char buf[PMT_LINE_MAX];
static char want[PMT_LINE_MAX];

Test(reflog, header_is_cpymemtrace_header)
{
    const char *golden = "HDR:        Clock          Address          LiveCnt Type                "
                         "             File                                                      "
                         "                       Line Function                                   "
                         "           RSS             dRSS\n";
    snprintf(want, sizeof want, "HDR: %12s %16s %16s %-32s %-80s %4s %-40s %16s %16s\n", "Clock",
             "Address", "LiveCnt", "Type", "File", "Line", "Function", "RSS", "dRSS");
    cr_assert_str_eq(want, golden);
    size_t n = fmt_ref_header(buf);
    cr_assert_eq(n, strlen(golden));
    cr_assert_eq(memcmp(buf, golden, n), 0, "[%.*s]", (int)n, buf);
}

Test(reflog, golden_new_line)
{
    const char *golden = "NEW:     0.217627   0x7f1b18a406e0                1 LASSection          "
                         "             example.py                                                "
                         "                         17 work                                        "
                         "    115376128        115376128\n";
    struct pmt_ref_fields f = {217627, (void *)0x7f1b18a406e0, 1, "LASSection", "example.py", 17,
                               "work", 115376128, 115376128, 0, 0};
    size_t n = fmt_ref_line(buf, "NEW", &f);
    cr_assert_eq(n, strlen(golden), "[%.*s]", (int)n, buf);
    cr_assert_eq(memcmp(buf, golden, n), 0, "[%.*s]", (int)n, buf);
}

static void check_line(const char *prefix, const struct pmt_ref_fields *f)
{
    size_t n = fmt_ref_line(buf, prefix, f);
    snprintf(want, sizeof want, "%s: %12.6f %16p %16lld %-32s %-80s %4d %-40s %16lld %16lld\n",
             prefix, (double)f->clock_us / 1e6, f->address, (long long)f->live, f->type, f->file,
             f->line, f->func, (long long)f->rss, (long long)f->drss);
    cr_assert_eq(n, strlen(want), "length %zu, want %zu for %s", n, strlen(want), want);
    cr_assert_eq(memcmp(buf, want, n), 0, "got  [%.*s]\nwant [%s]", (int)n, buf, want);
}

Test(reflog, lines_match_printf)
{
    static const uint64_t clocks[] = {0, 1, 999999, 1000000, 36891, 123456789012ull};
    static const uintptr_t addrs[] = {0, 0x10, 0x7f1b18a406e0, 0x562291aab7d0,
                                      0xffffffffffffffffull, 0x1234};
    static const int64_t lives[] = {0, 1, -1, 7, 1234567890123456789ll, -42};
    static const int lines[] = {0, 1, 22, 9999, 12345, -1};
    static const int64_t drss[] = {0, 4096, -4096, -52432896, 9007199254740992ll, 115376128};
    for (size_t i = 0; i < 6; i++) {
        struct pmt_ref_fields f = {
            .clock_us = clocks[i],
            .address = (const void *)addrs[i],
            .live = lives[i],
            .type = i % 2 ? "collections.OrderedDict" : "a_type_name_longer_than_thirty_two_characters",
            .file = i % 3 ? "example.py"
                          : "/a/rather/long/path/that/goes/on/and/on/beyond/eighty/characters/of/"
                            "width/module.py",
            .line = lines[i],
            .func = i % 2 ? "<module>" : "a_function_name_longer_than_forty_characters_in_all",
            .rss = (uint64_t)i * 1234567891ull,
            .drss = drss[i],
        };
        check_line("NEW", &f);
        check_line("DEL", &f);
    }
}

/* Random fields, mostly within the columns (the fast path) and sometimes
 * not: every line must be snprintf's. */
Test(reflog, random_lines_match_printf)
{
    static const char *const types[] = {"LASSection", "int", "collections.OrderedDict", "",
                                        "a_type_name_of_exactly_32_chars_", "x"};
    static const char *const files[] = {"example.py", "<frozen importlib._bootstrap>", "",
                                        "/tmp/a/b.py"};
    static const char *const funcs[] = {"work", "<module>", "", "f_name_of_exactly_forty_characters_here_",
                                        "f_name_of_more_than_forty_characters_here_for_sure"};
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        uint64_t r[8];
        for (int k = 0; k < 8; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r[k] = x;
        }
        struct pmt_ref_fields f = {
            .clock_us = r[0] % (i % 7 ? 100000000000ull : 10000000000000ull), /* printf: exact below 2^53 */
            .address = (const void *)(uintptr_t)(i % 11 ? r[1] >> (8 + r[2] % 40) : r[1]),
            .live = (int64_t)(r[2] % 2000001) - 1000000 + (i % 13 ? 0 : (int64_t)(r[3] >> 2)),
            .type = types[r[3] % 6],
            .file = files[r[4] % 4],
            .line = (int)(r[5] % 20000) - 1000,
            .func = funcs[r[6] % 5],
            .rss = i % 17 ? r[7] % 100000000000ull : r[7] >> 1,
            .drss = (int64_t)(r[0] % 200000001) - 100000000,
        };
        check_line(i % 2 ? "NEW" : "DEL", &f);
    }
}

Test(reflog, messages)
{
    size_t n = fmt_ref_msg(buf, "MSG", 26093, "gc.collect(2)");
    cr_assert_eq(n, strlen("MSG:     0.026093 # gc.collect(2)\n"));
    cr_assert_eq(memcmp(buf, "MSG:     0.026093 # gc.collect(2)\n", n), 0, "[%.*s]", (int)n, buf);
    n = fmt_ref_msg(buf, "ERR", 123456789012ull, "x");
    snprintf(want, sizeof want, "ERR: %12.6f # %s\n", 123456.789012, "x");
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(buf, want, n), 0, "[%.*s]", (int)n, buf);
}

Test(reflog, pointers_as_printf)
{
    static const uintptr_t v[] = {0, 1, 0xabcdef, 0x7fffffffffff, UINTPTR_MAX};
    for (size_t i = 0; i < 5; i++) {
        size_t n = fmt_ptr(buf, (const void *)v[i]);
        snprintf(want, sizeof want, "%p", (const void *)v[i]);
        cr_assert_eq(n, strlen(want));
        cr_assert_eq(memcmp(buf, want, n), 0, "[%.*s] want [%s]", (int)n, buf, want);
    }
}

Test(typefilter, names_in_a_list)
{
    cr_assert(rt_name_listed("LASSection", "LASSection"));
    cr_assert(rt_name_listed("A,LASSection,B", "LASSection"));
    cr_assert(rt_name_listed("OrderedDict", "collections.OrderedDict"));
    cr_assert(rt_name_listed("collections.OrderedDict", "collections.OrderedDict"));
    cr_assert_not(rt_name_listed("LASSection", "LASSectionX"));
    cr_assert_not(rt_name_listed("LASSectionX", "LASSection"));
    cr_assert_not(rt_name_listed("LAS", "LASSection"));
    cr_assert_not(rt_name_listed("collections", "collections.OrderedDict"));
    cr_assert_not(rt_name_listed("lassection", "LASSection"), "names are case-sensitive");
    cr_assert_not(rt_name_listed(NULL, "LASSection"));
    cr_assert_not(rt_name_listed("", "LASSection"));
    cr_assert(rt_name_listed("A,,B", "B"));
}

Test(typefilter, decisions)
{
    /* name, builtin, never, include_builtins, include, exclude -> logged */
    cr_assert(rt_type_wanted("LASSection", 0, 0, 0, NULL, NULL));
    cr_assert_not(rt_type_wanted("int", 1, 0, 0, NULL, NULL), "builtins skipped by default");
    cr_assert(rt_type_wanted("int", 1, 0, 1, NULL, NULL), "INCLUDE_BUILTINS=1");
    cr_assert_not(rt_type_wanted("frame", 0, 1, 1, NULL, NULL), "frames never");
    cr_assert_not(rt_type_wanted("code", 0, 1, 1, "code", NULL), "code objects never, even named");
    cr_assert(rt_type_wanted("LASSection", 0, 0, 0, "LASSection", NULL));
    cr_assert_not(rt_type_wanted("Curve", 0, 0, 0, "LASSection", NULL), "only the included");
    cr_assert(rt_type_wanted("dict", 1, 0, 0, "dict", NULL), "an included builtin is logged");
    cr_assert_not(rt_type_wanted("LASSection", 0, 0, 0, NULL, "LASSection"));
    cr_assert_not(rt_type_wanted("LASSection", 0, 0, 0, "LASSection", "LASSection"),
                  "exclude wins over include");
    cr_assert(rt_type_wanted("Curve", 0, 0, 0, NULL, "LASSection"));
}
