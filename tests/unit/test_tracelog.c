/* tracelog: which events become which lines, on synthetic event streams,
 * checked as whole files. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/logfmt.h"
#include "agent/tracelog.h"

static char dir[] = "/tmp/pmt-tracelog-XXXXXX";
static char path[4200];

static void setup(void)
{
    strcpy(dir, "/tmp/pmt-tracelog-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.log", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* Lines come from lasti / 2 so each test knows them. */
static int fake_line(const struct pmt_site *site, int lasti)
{
    (void)site;
    return lasti / 2;
}

static uint64_t same_clock(uint64_t ticks)
{
    return ticks;
}

static const struct pmt_site site_a = {(void *)1, "app.py", "work", 6, 4, 0};
static const struct pmt_site site_b = {(void *)2, "lib.py", "<module>", 6, 8, 0};

static struct pmt_log lg;
static unsigned ordinal;

/* The kinds of log the table of modes gives these two modes. */
static const struct pmt_log_kind profile_kind = {"profile", 'P', 0};
static const struct pmt_log_kind trace_kind = {"trace", 'T', 0};

static void open_log(int64_t trigger, const char *message)
{
    static struct pmt_config cfg;
    cfg = (struct pmt_config){.log_file = path, .message = message, .d_rss_trigger = trigger,
                              .quiet = 1};
    struct pmt_log_env env = {.cfg = &cfg, .py_version = "3.11.2", .info = "info"};
    memset(&lg, 0, sizeof lg);
    ordinal = 0;
    cr_assert_eq(tracelog_open(&lg, &env, &profile_kind, 0, fake_line, same_clock, &ordinal, 5, 100),
                 0);
}

static void ev(uint64_t n, uint64_t rss, const struct pmt_site *site, int line, int what,
               uint32_t thread)
{
    struct pmt_event e = {n, 1000 + n, rss, site, line * 2, what, NULL, thread, NULL, 0};
    tracelog_event(&lg, &e);
}

static char *slurp(void)
{
    static char text[1 << 16];
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    cr_assert_geq(n, 0);
    text[n] = 0;
    return text;
}

static void expect(const char *want_lines[], size_t count)
{
    char want[1 << 16];
    size_t off = 0;
    for (size_t i = 0; i < count; i++)
        off += (size_t)snprintf(want + off, sizeof want - off, "%s\n", want_lines[i]);
    char *got = slurp();
    cr_assert_str_eq(got, want);
}

static char line_buf[64][512];

/* The expected line, built with the docs/LOGS.md format string. */
static const char *L(int slot, const char *k, unsigned long n, long dn, unsigned long clock_us,
                     const char *what, const char *file, int line, const char *func,
                     unsigned long rss, long drss)
{
    snprintf(line_buf[slot], sizeof line_buf[slot],
             "%s: %-12lu +%-6ld %-12.6f %-8s %-80s %4d %-32s %12lu %12ld", k, n, dn,
             (double)clock_us / 1e6, what, file, line, func, rss, drss);
    return line_buf[slot];
}

static const char *M(int slot, unsigned long n, long dn, unsigned long clock_us, const char *text)
{
    snprintf(line_buf[slot], sizeof line_buf[slot], "MSG:  %-12lu +%-6ld %-12.6f # %s", n, dn,
             (double)clock_us / 1e6, text);
    return line_buf[slot];
}

static const char *HDR(int slot)
{
    snprintf(line_buf[slot], sizeof line_buf[slot],
             "HDR: %-12s %-6s  %-12s %-8s %-80s %4s %-32s %12s %12s", "Event", "dEvent", "Clock",
             "What", "File", "Line", "Function", "RSS", "dRSS");
    return line_buf[slot];
}

TestSuite(tracelog, .init = setup, .fini = teardown);

Test(tracelog, page_trigger_brackets_each_jump_with_prev)
{
    open_log(-1, "my message");
    ev(0, 40960, &site_a, 10, 0, 100); /* FRST */
    ev(1, 40960, &site_a, 11, 2, 100);
    ev(2, 41000, &site_a, 12, 2, 100); /* +40 bytes: below a page */
    ev(3, 81920, &site_b, 13, 3, 100); /* jump: PREV 2, NEXT 3 */
    ev(4, 40960, &site_b, 14, 2, 100); /* fall, previous event logged: no PREV */
    ev(5, 40960, &site_a, 15, 2, 100);
    tracelog_close(&lg);
    const char *want[] = {
        "my message",
        "SOF",
        HDR(0),
        M(1, 0, 0, 5, "info"),
        L(2, "FRST", 0, 0, 1000, "CALL", "app.py", 10, "work", 40960, 0),
        L(3, "PREV", 2, 2, 1002, "LINE", "app.py", 12, "work", 41000, 40),
        L(4, "NEXT", 3, 3, 1003, "RETURN", "lib.py", 13, "<module>", 81920, 40960),
        L(5, "NEXT", 4, 1, 1004, "LINE", "lib.py", 14, "<module>", 40960, -40960),
        L(6, "LAST", 5, 1, 1005, "LINE", "app.py", 15, "work", 40960, 0),
        "EOF",
    };
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, trigger_zero_logs_every_event)
{
    open_log(0, NULL);
    ev(0, 4096, &site_a, 1, 0, 100);
    ev(1, 4096, &site_a, 2, 2, 100);
    ev(2, 8192, &site_a, 3, 2, 100);
    tracelog_close(&lg);
    const char *want[] = {
        "SOF",
        HDR(0),
        M(1, 0, 0, 5, "info"),
        L(2, "FRST", 0, 0, 1000, "CALL", "app.py", 1, "work", 4096, 0),
        L(3, "NEXT", 1, 1, 1001, "LINE", "app.py", 2, "work", 4096, 0),
        L(4, "NEXT", 2, 1, 1002, "LINE", "app.py", 3, "work", 8192, 4096),
        L(5, "LAST", 2, 0, 1002, "LINE", "app.py", 3, "work", 8192, 0),
        "EOF",
    };
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, byte_trigger_ignores_smaller_moves)
{
    open_log(10000, NULL);
    ev(0, 100000, &site_a, 1, 0, 100);
    ev(1, 108192, &site_a, 2, 2, 100); /* +8192 < 10000 */
    ev(2, 110000, &site_a, 3, 2, 100); /* +10000: logged, PREV 1 */
    ev(3, 100000, &site_a, 4, 2, 100); /* -10000: logged */
    tracelog_close(&lg);
    const char *want[] = {
        "SOF",
        HDR(0),
        M(1, 0, 0, 5, "info"),
        L(2, "FRST", 0, 0, 1000, "CALL", "app.py", 1, "work", 100000, 0),
        L(3, "PREV", 1, 1, 1001, "LINE", "app.py", 2, "work", 108192, 8192),
        L(4, "NEXT", 2, 2, 1002, "LINE", "app.py", 3, "work", 110000, 10000),
        L(5, "NEXT", 3, 1, 1003, "LINE", "app.py", 4, "work", 100000, -10000),
        L(6, "LAST", 3, 0, 1003, "LINE", "app.py", 4, "work", 100000, 0),
        "EOF",
    };
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, thread_change_gets_a_msg_line)
{
    open_log(0, NULL);
    ev(0, 4096, &site_a, 1, 0, 100);
    ev(1, 4096, &site_b, 2, 0, 200);
    ev(2, 4096, &site_a, 3, 2, 100);
    tracelog_close(&lg);
    const char *want[] = {
        "SOF",
        HDR(0),
        M(1, 0, 0, 5, "info"),
        L(2, "FRST", 0, 0, 1000, "CALL", "app.py", 1, "work", 4096, 0),
        M(3, 1, 1, 1001, "thread native_id=200"),
        L(4, "NEXT", 1, 1, 1001, "CALL", "lib.py", 2, "<module>", 4096, 0),
        M(5, 2, 1, 1002, "thread native_id=100"),
        L(6, "NEXT", 2, 1, 1002, "LINE", "app.py", 3, "work", 4096, 0),
        L(7, "LAST", 2, 0, 1002, "LINE", "app.py", 3, "work", 4096, 0),
        "EOF",
    };
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, c_events_show_the_c_function)
{
    open_log(0, NULL);
    static const char *const len_name = "len";
    struct pmt_event e = {0, 1000, 4096, &site_a, 8, 4, &len_name, 100, NULL, 0};
    tracelog_event(&lg, &e);
    tracelog_close(&lg);
    const char *want[] = {
        "SOF",
        HDR(0),
        M(1, 0, 0, 5, "info"),
        L(2, "FRST", 0, 0, 1000, "C_CALL", "app.py", 4, "len", 4096, 0),
        L(3, "LAST", 0, 0, 1000, "C_CALL", "app.py", 4, "len", 4096, 0),
        "EOF",
    };
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, no_events_no_frst_no_last)
{
    open_log(-1, NULL);
    tracelog_close(&lg);
    const char *want[] = {"SOF", HDR(0), M(1, 0, 0, 5, "info"), "EOF"};
    expect(want, sizeof want / sizeof want[0]);
}

Test(tracelog, dev_full_fails_once_and_stops, .init = cr_redirect_stderr)
{
    struct pmt_config cfg = {.log_file = "/dev/full", .quiet = 1};
    struct pmt_log_env env = {.cfg = &cfg, .py_version = "3.11.2", .info = "info"};
    struct pmt_log full;
    memset(&full, 0, sizeof full);
    unsigned n = 0;
    pmt_log_failed = 0;
    cr_assert_eq(tracelog_open(&full, &env, &profile_kind, 0, fake_line, same_clock, &n, 5, 100), -1);
    cr_assert_eq(full.state, PMT_LOG_FAILED);
    cr_assert_eq(pmt_log_failed, 0, "tracing never started: nothing to stop");
    tracelog_close(&full); /* nothing more is said */
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "pymemtrace: cannot write /dev/full: No space left on device; not tracing\n");
}

Test(tracelog, unwritable_folder_is_said_once, .init = cr_redirect_stderr)
{
    struct pmt_config cfg = {.log_dir = "/proc/pmt-no-such-folder", .quiet = 1};
    struct pmt_log_env env = {.cfg = &cfg, .py_version = "3.11.2", .info = "info"};
    struct pmt_log bad;
    memset(&bad, 0, sizeof bad);
    unsigned n = 0;
    cr_assert_eq(tracelog_open(&bad, &env, &trace_kind, 0, fake_line, same_clock, &n, 5, 100), -1);
    fflush(stderr);
    cr_assert_stderr_eq_str("pymemtrace: cannot create the log folder /proc/pmt-no-such-folder: "
                            "No such file or directory; not tracing\n");
}

Test(tracelog, says_where_the_log_goes, .init = cr_redirect_stderr)
{
    struct pmt_config cfg = {.log_file = path};
    struct pmt_log_env env = {.cfg = &cfg, .py_version = "3.11.2", .info = "info"};
    struct pmt_log ok;
    memset(&ok, 0, sizeof ok);
    unsigned n = 0;
    cr_assert_eq(tracelog_open(&ok, &env, &trace_kind, 0, fake_line, same_clock, &n, 5, 100), 0);
    tracelog_close(&ok);
    fflush(stderr);
    char want[4400];
    snprintf(want, sizeof want, "pymemtrace: trace log: %s\n", path);
    cr_assert_stderr_eq_str(want);
}
