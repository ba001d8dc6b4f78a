/* Fuzz target: the log formatters, with names of any bytes and any numbers.
 *
 * Every line type is compared byte for byte with what snprintf makes of
 * docs/LOGS.md's format for the same fields (the Clock column from integers, as
 * the formatters define it: seconds and microseconds of clock_us; string
 * fields cut at PMT_FIELD_MAX bytes and escaped, as documented); the log names with
 * their own expansion; the calendar with gmtime_r. Lines without a printf
 * form (native stacks, sampler lines) must stay inside their bounds and end
 * with a newline. Any difference aborts with both texts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/logfmt.h"

/* More frames than the agent ever captures: the line must still be cut. */
#define PMT_NATIVE_MAX_FRAMES_FUZZ 80

/* ---- reading the input ------------------------------------------------------ */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint64_t take_u64(struct in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && in->n; i++, in->p++, in->n--)
        v = v << 8 | *in->p;
    return v;
}

/* A string of any bytes but NUL, up to the next 0xff byte or len bytes. */
static char *take_str(struct in *in, size_t most)
{
    size_t len = 0;
    while (len < in->n && len < most && in->p[len] != 0xff)
        len++;
    char *s = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        s[i] = in->p[i] ? (char)in->p[i] : '0';
    s[len] = '\0';
    in->p += len;
    in->n -= len;
    if (in->n) { /* the separator */
        in->p++;
        in->n--;
    }
    return s;
}

/* A name or text as docs/LOGS.md says it is written: its first
 * PMT_FIELD_MAX bytes, control bytes (0x00-0x1f, 0x7f) and the backslash
 * escaped (backslash-n, -r, -t, a doubled backslash, backslash-x and two
 * hex digits), cut before an escape that would pass PMT_FIELD_MAX bytes.
 * Written here from the rule, not from the agent's code. */
static char *escaped(const char *s)
{
    size_t n = strnlen(s, PMT_FIELD_MAX), k = 0;
    char *out = malloc(PMT_FIELD_MAX + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '\n')
            strcpy(e, "\\n");
        else if (c == '\r')
            strcpy(e, "\\r");
        else if (c == '\t')
            strcpy(e, "\\t");
        else if (c == '\\')
            strcpy(e, "\\\\");
        else if (c < 0x20 || c == 0x7f)
            snprintf(e, sizeof e, "\\x%02x", c);
        else
            e[0] = (char)c, e[1] = '\0';
        size_t el = strlen(e);
        if (k + el > PMT_FIELD_MAX)
            break;
        memcpy(out + k, e, el);
        k += el;
    }
    out[k] = '\0';
    return out;
}

/* ---- comparing ---------------------------------------------------------------- */

static char got[PMT_LINE_MAX + 64];
static char want[3 * PMT_LINE_MAX];

static void same(const char *what, size_t n, const char *expect)
{
    size_t w = strlen(expect);
    if (n != w || memcmp(got, expect, n) != 0) {
        fprintf(stderr, "fuzz_logfmt: %s differs\n got  (%zu) [%.*s]\n want (%zu) [%s]\n", what, n,
                (int)n, got, w, expect);
        abort();
    }
}

/* Lines without a printf form: only the bounds and the final newline. */
static void bounded(const char *what, size_t n, size_t most)
{
    if (n == 0 || n > most || got[n - 1] != '\n') {
        fprintf(stderr, "fuzz_logfmt: %s: %zu bytes, at most %zu, ending with a newline\n", what, n,
                most);
        abort();
    }
}

/* The Clock column's digits: "%.6f" of clock_us / 1e6, from integers. */
static void clock_text(char *buf, size_t cap, uint64_t clock_us)
{
    snprintf(buf, cap, "%llu.%06llu", (unsigned long long)(clock_us / 1000000u),
             (unsigned long long)(clock_us % 1000000u));
}

#define CUT ".4096s"
_Static_assert(PMT_FIELD_MAX == 4096, "CUT is PMT_FIELD_MAX");

static void event_line(struct in *in)
{
    static const char *const prefixes[] = {"FRST", "NEXT", "PREV", "LAST"};
    struct pmt_event_fields f;
    f.event = take_u64(in);
    f.devent = (int64_t)take_u64(in);
    f.clock_us = take_u64(in);
    f.rss = take_u64(in);
    f.drss = (int64_t)take_u64(in);
    f.line = (int)(int32_t)take_u64(in);
    int what = (int)(take_u64(in) % 9);
    f.what = fmt_what_name(what);
    char *file = take_str(in, 9000), *func = take_str(in, 9000);
    f.file = file;
    f.func = func;
    f.file_len = f.func_len = 0;
    const char *prefix = prefixes[f.event % 4];
    char clock[64];
    clock_text(clock, sizeof clock, f.clock_us);
    char *efile = escaped(file), *efunc = escaped(func);
    snprintf(want, sizeof want, "%s: %-12llu +%-6lld %-12s %-8s %-80" CUT " %4d %-32" CUT " %12llu %12lld\n",
             prefix, (unsigned long long)f.event, (long long)f.devent, clock, f.what, efile, f.line, efunc,
             (unsigned long long)f.rss, (long long)f.drss);
    same("event line", fmt_event_line(got, prefix, &f), want);

    snprintf(want, sizeof want, "MSG:  %-12llu +%-6lld %-12s # %" CUT "\n", (unsigned long long)f.event,
             (long long)f.devent, clock, efunc);
    same("MSG line", fmt_msg_line(got, f.event, f.devent, f.clock_us, func), want);
    free(file);
    free(func);
    free(efile);
    free(efunc);
}

static void ref_line(struct in *in)
{
    struct pmt_ref_fields f;
    f.clock_us = take_u64(in);
    f.address = (const void *)(uintptr_t)take_u64(in);
    f.live = (int64_t)take_u64(in);
    f.line = (int)(int32_t)take_u64(in);
    f.rss = take_u64(in) >> 1; /* an RSS below 2^63, where %zd and the unsigned column agree */
    f.drss = (int64_t)take_u64(in);
    char *type = take_str(in, 9000), *file = take_str(in, 9000), *func = take_str(in, 9000);
    f.type = type;
    f.file = file;
    f.func = func;
    f.file_len = f.func_len = 0;
    const char *prefix = f.live & 1 ? "NEW" : "DEL";
    char clock[64], ptr[32];
    clock_text(clock, sizeof clock, f.clock_us);
    snprintf(ptr, sizeof ptr, "%p", f.address);
    char *etype = escaped(type), *efile = escaped(file), *efunc = escaped(func);
    snprintf(want, sizeof want,
             "%s: %12s %16s %16lld %-32" CUT " %-80" CUT " %4d %-40" CUT " %16lld %16lld\n", prefix, clock,
             ptr, (long long)f.live, etype, efile, f.line, efunc, (long long)f.rss, (long long)f.drss);
    same("reference line", fmt_ref_line(got, prefix, &f), want);
    snprintf(want, sizeof want, "ERR: %12s # %" CUT "\n", clock, etype);
    same("reference MSG line", fmt_ref_msg(got, "ERR", f.clock_us, type), want);
    snprintf(want, sizeof want, "%p", f.address);
    same("pointer", fmt_ptr(got, f.address), want);
    free(type);
    free(file);
    free(func);
    free(etype);
    free(efile);
    free(efunc);
}

static void numbers(struct in *in)
{
    uint64_t u = take_u64(in);
    int64_t i = (int64_t)take_u64(in);
    snprintf(want, sizeof want, "%llu", (unsigned long long)u);
    same("fmt_u64", fmt_u64(got, u), want);
    snprintf(want, sizeof want, "%lld", (long long)i);
    same("fmt_i64", fmt_i64(got, i), want);
    /* The calendar, over the years 1 to 9999. */
    int64_t secs = (int64_t)(u % 315537897600ull) - 62135596800ll;
    struct tm a, b;
    time_t t = (time_t)secs;
    memset(&a, 0, sizeof a);
    fmt_civil_time(secs, &a);
    if (!gmtime_r(&t, &b))
        return;
    if (a.tm_year != b.tm_year || a.tm_mon != b.tm_mon || a.tm_mday != b.tm_mday || a.tm_hour != b.tm_hour ||
        a.tm_min != b.tm_min || a.tm_sec != b.tm_sec || a.tm_wday != b.tm_wday || a.tm_yday != b.tm_yday) {
        fprintf(stderr, "fuzz_logfmt: fmt_civil_time(%lld) differs from gmtime_r\n", (long long)secs);
        abort();
    }
}

static void names(struct in *in)
{
    uint64_t a = take_u64(in), b = take_u64(in);
    size_t cap = (size_t)(a % 300);
    unsigned n = (unsigned)(a >> 16);
    pid_t pid = (pid_t)(b % 4194304);
    char letter = "PTOS"[b >> 62];
    unsigned depth = (unsigned)((b >> 32) % 40);
    char *version = take_str(in, 64), *pattern = take_str(in, 600);
    time_t t = (time_t)(b % 253402300799ull); /* up to 9999-12-31 */
    struct tm tm;
    gmtime_r(&t, &tm);
    char *name = malloc(cap + 1);
    snprintf(want, sizeof want, "%04d%02d%02d_%02d%02d%02d_%u_%d_%c_%u_PY%s.log", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, n, (int)pid, letter, depth, version);
    size_t len = fmt_log_name(name, cap, t, n, pid, letter, depth, version);
    size_t w = strlen(want);
    if (w < cap ? (len != w || memcmp(name, want, w + 1) != 0) : len != 0) {
        fprintf(stderr, "fuzz_logfmt: log name (cap %zu): got %zu, want [%s]\n", cap, len, want);
        abort();
    }
    /* The pattern: %p %m %n %%; any other escape refused. */
    size_t k = 0;
    int bad = 0;
    for (const char *p = pattern; *p && !bad; p++) {
        char piece[32] = {*p, 0};
        if (*p == '%') {
            p++;
            if (*p == 'p')
                snprintf(piece, sizeof piece, "%d", (int)pid);
            else if (*p == 'm')
                snprintf(piece, sizeof piece, "%c", letter);
            else if (*p == 'n')
                snprintf(piece, sizeof piece, "%u", n);
            else if (*p == '%')
                snprintf(piece, sizeof piece, "%%");
            else
                bad = 1;
            if (!*p)
                break;
        }
        size_t pl = strlen(piece);
        if (k + pl < sizeof want) {
            memcpy(want + k, piece, pl);
            k += pl;
        }
    }
    want[k] = '\0';
    len = fmt_log_pattern(name, cap, pattern, pid, letter, n);
    if (bad || k >= cap ? len != 0 : (len != k || memcmp(name, want, k + 1) != 0)) {
        fprintf(stderr, "fuzz_logfmt: pattern [%s] (cap %zu): got %zu, want %s[%s]\n", pattern, cap, len,
                bad ? "a refusal " : "", want);
        abort();
    }
    free(name);
    free(version);
    free(pattern);
}

static void native_and_sample(struct in *in)
{
    struct pmt_native_frame frames[PMT_NATIVE_MAX_FRAMES_FUZZ];
    int n = (int)(take_u64(in) % (PMT_NATIVE_MAX_FRAMES_FUZZ + 1));
    char *strs[2 * PMT_NATIVE_MAX_FRAMES_FUZZ];
    for (int i = 0; i < n; i++) {
        frames[i].pc = (uintptr_t)take_u64(in);
        frames[i].off = (uintptr_t)take_u64(in);
        strs[2 * i] = take_str(in, 5000);
        strs[2 * i + 1] = take_str(in, 5000);
        frames[i].lib = strs[2 * i][0] ? strs[2 * i] : NULL;
        frames[i].sym = strs[2 * i + 1][0] ? strs[2 * i + 1] : NULL;
    }
    size_t len = fmt_native_line(got, frames, n);
    bounded("native line", len, PMT_LINE_MAX);
    if (memcmp(got, "NAT:  ", 6) != 0)
        abort();
    for (int i = 0; i < 2 * n; i++)
        free(strs[i]);

    struct pmt_sample_fields f;
    memset(&f, 0, sizeof f);
    uint64_t a = take_u64(in);
    fmt_civil_time((int64_t)(a % 253402300799ull), &f.local);
    f.usec = (uint32_t)(a % 1000000u);
    f.pid = (pid_t)(take_u64(in) % 4194304);
    uint64_t *nums[] = {&f.rss, &f.vms, &f.shared, &f.text, &f.lib, &f.data, &f.dirty, &f.peak_rss,
                        &f.pfaults, &f.pageins, &f.user_us, &f.system_us, &f.children_user_us,
                        &f.children_system_us, &f.iowait_us, &f.elapsed_us};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        *nums[i] = take_u64(in);
    static const char *const marks[] = {PMT_SAMPLE_MARK, PMT_SAMPLE_MARK_START, PMT_SAMPLE_MARK_STOP};
    len = fmt_sample_line(got, marks[a % 3], &f);
    bounded("sample line", len, PMT_SAMPLE_LINE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    if (size == 0)
        return 0;
    uint8_t which = *in.p++;
    in.n--;
    switch (which % 5) {
    case 0: event_line(&in); break;
    case 1: ref_line(&in); break;
    case 2: numbers(&in); break;
    case 3: names(&in); break;
    default: native_and_sample(&in); break;
    }
    return 0;
}
