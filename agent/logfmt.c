/* logfmt: cPyMemTrace's line layouts, produced without printf.
 *
 * Each function mirrors one printf format of SPEC.md; the unit tests compare
 * the bytes with snprintf of that format. printf never truncates a %-Ns
 * field, so neither do we (apart from the PMT_FIELD_MAX safety cut). */
#include "agent/logfmt.h"

#include <string.h>

static const char *const fmt_what_names[] = {
    "CALL", "EXCEPT", "LINE", "RETURN", "C_CALL", "C_EXCEPT", "C_RETURN", "OPCODE",
};

const char *fmt_what_name(int what)
{
    if (what < 0 || what >= (int)(sizeof fmt_what_names / sizeof fmt_what_names[0]))
        return "?";
    return fmt_what_names[what];
}

size_t fmt_u64(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

size_t fmt_i64(char *buf, int64_t v)
{
    if (v >= 0)
        return fmt_u64(buf, (uint64_t)v);
    buf[0] = '-';
    /* -(v + 1) + 1 avoids overflow at INT64_MIN */
    return 1 + fmt_u64(buf + 1, (uint64_t)(-(v + 1)) + 1u);
}

static size_t fmt_pad(char *buf, size_t have, size_t width)
{
    if (have >= width)
        return 0;
    memset(buf, ' ', width - have);
    return width - have;
}

/* %-<width>s, cut at PMT_FIELD_MAX bytes */
static size_t fmt_str_left(char *buf, const char *s, size_t width)
{
    size_t n = s ? strnlen(s, PMT_FIELD_MAX) : 0;
    memcpy(buf, s ? s : "", n);
    return n + fmt_pad(buf + n, n, width);
}

static size_t fmt_u64_left(char *buf, uint64_t v, size_t width)
{
    size_t n = fmt_u64(buf, v);
    return n + fmt_pad(buf + n, n, width);
}

static size_t fmt_i64_left(char *buf, int64_t v, size_t width)
{
    size_t n = fmt_i64(buf, v);
    return n + fmt_pad(buf + n, n, width);
}

/* %<width>ld / %<width>zu: digits formatted aside, then right-aligned */
static size_t fmt_right(char *buf, const char *digits, size_t n, size_t width)
{
    size_t pad = fmt_pad(buf, n, width);
    memcpy(buf + pad, digits, n);
    return pad + n;
}

static size_t fmt_i64_right(char *buf, int64_t v, size_t width)
{
    char tmp[24];
    return fmt_right(buf, tmp, fmt_i64(tmp, v), width);
}

static size_t fmt_u64_right(char *buf, uint64_t v, size_t width)
{
    char tmp[24];
    return fmt_right(buf, tmp, fmt_u64(tmp, v), width);
}

/* %-12.6f of clock_us / 1e6. cPyMemTrace prints (double)clock()/CLOCKS_PER_SEC
 * where clock() counts microseconds; our clock is kept in microseconds too,
 * so six decimals are exactly the
 * microseconds and integer arithmetic gives printf's digits. */
static size_t fmt_clock_left(char *buf, uint64_t clock_us)
{
    size_t n = fmt_u64(buf, clock_us / 1000000u);
    uint64_t frac = clock_us % 1000000u;
    buf[n++] = '.';
    for (int i = 5; i >= 0; i--) {
        buf[n + (size_t)i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    n += 6;
    return n + fmt_pad(buf + n, n, 12);
}

static size_t fmt_lit(char *buf, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf, s, n);
    return n;
}

size_t fmt_header(char *buf)
{
    /* "HDR: %-12s %-6s  %-12s %-8s %-80s %4s %-32s %12s %12s" */
    size_t n = fmt_lit(buf, "HDR: ");
    n += fmt_str_left(buf + n, "Event", 12);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "dEvent", 6);
    buf[n++] = ' ';
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "Clock", 12);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "What", 8);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "File", 80);
    n += fmt_lit(buf + n, " Line ");
    n += fmt_str_left(buf + n, "Function", 32);
    n += fmt_lit(buf + n, "          RSS         dRSS\n");
    return n;
}

/* "%-12zu +%-6ld %-12.6f " shared by event and MSG lines */
static size_t fmt_counters(char *buf, uint64_t event, int64_t devent, uint64_t clock_us)
{
    size_t n = fmt_u64_left(buf, event, 12);
    buf[n++] = ' ';
    buf[n++] = '+';
    n += fmt_i64_left(buf + n, devent, 6);
    buf[n++] = ' ';
    n += fmt_clock_left(buf + n, clock_us);
    buf[n++] = ' ';
    return n;
}

/* ---- the fast path: every field within its width --------------------------
 * Then each column starts at a fixed offset: the line is a copy of a
 * pre-padded template with the fields dropped in. Columns (from 0):
 * prefix 0, event 6 (12), '+' 19, dEvent 20 (6), clock 27 (12), what 40 (8),
 * file 49 (80), line 130 (4, right), function 135 (32), RSS 168 (12, right),
 * dRSS 181 (12, right), '\n' 193. */
#define FAST_LEN 194

static const char fmt_template[FAST_LEN + 1] =
    "XXXX:              +                                                      "
    "                                                                          "
    "                                             \n";

static const char fmt_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v's digits so that the last one is at end[-1]; returns the count. */
static size_t fmt_digits_before(char *end, uint64_t v)
{
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, fmt_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, fmt_pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return (size_t)(end - p);
}

static size_t fmt_ndigits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static void fmt_left_u64(char *at, uint64_t v)
{
    fmt_digits_before(at + fmt_ndigits(v), v);
}

static void fmt_right_i64(char *end, int64_t v)
{
    if (v >= 0) {
        fmt_digits_before(end, (uint64_t)v);
    } else {
        size_t n = fmt_digits_before(end, (uint64_t)(-(v + 1)) + 1u);
        end[-(ptrdiff_t)n - 1] = '-';
    }
}

static size_t fmt_event_fast(char *buf, const char *prefix, const struct pmt_event_fields *f,
                             size_t what_len, size_t file_len, size_t func_len)
{
    memcpy(buf, fmt_template, FAST_LEN);
    memcpy(buf, prefix, 4);
    fmt_left_u64(buf + 6, f->event);
    fmt_left_u64(buf + 20, (uint64_t)f->devent);
    uint64_t secs = f->clock_us / 1000000u;
    size_t k = fmt_ndigits(secs);
    fmt_digits_before(buf + 27 + k, secs);
    buf[27 + k] = '.';
    char *frac = buf + 28 + k + 6;
    uint64_t us = f->clock_us % 1000000u;
    for (int i = 0; i < 3; i++) {
        frac -= 2;
        memcpy(frac, fmt_pairs + 2 * (us % 100), 2);
        us /= 100;
    }
    memcpy(buf + 40, f->what, what_len);
    memcpy(buf + 49, f->file, file_len);
    fmt_right_i64(buf + 134, f->line);
    memcpy(buf + 135, f->func, func_len);
    fmt_digits_before(buf + 180, f->rss);
    fmt_right_i64(buf + 193, f->drss);
    return FAST_LEN;
}

size_t fmt_event_line(char *buf, const char *prefix, const struct pmt_event_fields *f)
{
    size_t what_len = strlen(f->what);
    size_t file_len = f->file_len ? f->file_len : strnlen(f->file, PMT_FIELD_MAX);
    size_t func_len = f->func_len ? f->func_len : strnlen(f->func, PMT_FIELD_MAX);
    if (f->event < 1000000000000ull && f->devent >= 0 && f->devent < 1000000 &&
        f->clock_us < 100000000000ull && what_len <= 8 && file_len <= 80 && f->line >= -999 &&
        f->line <= 9999 && func_len <= 32 && f->rss < 1000000000000ull &&
        f->drss > -100000000000ll && f->drss < 1000000000000ll)
        return fmt_event_fast(buf, prefix, f, what_len, file_len, func_len);
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    buf[n++] = ' ';
    n += fmt_counters(buf + n, f->event, f->devent, f->clock_us);
    n += fmt_str_left(buf + n, f->what, 8);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, f->file, 80);
    buf[n++] = ' ';
    n += fmt_i64_right(buf + n, f->line, 4);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, f->func, 32);
    buf[n++] = ' ';
    n += fmt_u64_right(buf + n, f->rss, 12);
    buf[n++] = ' ';
    n += fmt_i64_right(buf + n, f->drss, 12);
    buf[n++] = '\n';
    return n;
}

size_t fmt_msg_line(char *buf, uint64_t event, int64_t devent, uint64_t clock_us, const char *text)
{
    size_t n = fmt_lit(buf, "MSG:  ");
    n += fmt_counters(buf + n, event, devent, clock_us);
    n += fmt_lit(buf + n, "# ");
    size_t t = strnlen(text, PMT_FIELD_MAX);
    memcpy(buf + n, text, t);
    n += t;
    buf[n++] = '\n';
    return n;
}

/* ---- reference tracing lines ------------------------------------------- */

size_t fmt_ptr(char *buf, const void *p)
{
    static const char hex[] = "0123456789abcdef";
    uintptr_t v = (uintptr_t)p;
    if (!v)
        return fmt_lit(buf, "(nil)");
    char tmp[2 * sizeof v];
    size_t k = 0;
    while (v) {
        tmp[k++] = hex[v & 15];
        v >>= 4;
    }
    buf[0] = '0';
    buf[1] = 'x';
    for (size_t i = 0; i < k; i++)
        buf[2 + i] = tmp[k - 1 - i];
    return 2 + k;
}

/* %<width>s */
static size_t fmt_str_right(char *buf, const char *s, size_t width)
{
    size_t n = strnlen(s, PMT_FIELD_MAX);
    size_t pad = fmt_pad(buf, n, width);
    memcpy(buf + pad, s, n);
    return pad + n;
}

/* %12.6f of clock_us / 1e6 (see fmt_clock_left) */
static size_t fmt_clock_right(char *buf, uint64_t clock_us)
{
    char tmp[32];
    size_t n = fmt_clock_left(tmp, clock_us);
    while (n > 0 && tmp[n - 1] == ' ')
        n--; /* fmt_clock_left pads to 12 on the right */
    return fmt_right(buf, tmp, n, 12);
}

size_t fmt_ref_header(char *buf)
{
    /* "HDR: %12s %16s %16s %-32s %-80s %4s %-40s %16s %16s" */
    size_t n = fmt_lit(buf, "HDR: ");
    n += fmt_str_right(buf + n, "Clock", 12);
    buf[n++] = ' ';
    n += fmt_str_right(buf + n, "Address", 16);
    buf[n++] = ' ';
    n += fmt_str_right(buf + n, "LiveCnt", 16);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "Type", 32);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "File", 80);
    buf[n++] = ' ';
    n += fmt_str_right(buf + n, "Line", 4);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, "Function", 40);
    buf[n++] = ' ';
    n += fmt_str_right(buf + n, "RSS", 16);
    buf[n++] = ' ';
    n += fmt_str_right(buf + n, "dRSS", 16);
    buf[n++] = '\n';
    return n;
}

/* The fast path, as for event lines: every field within its width, so each
 * column starts at a fixed offset. Columns (from 0): prefix 0, clock 5 (12,
 * right), address 18 (16, right), live 35 (16, right), type 52 (32), file 85
 * (80), line 166 (4, right), function 171 (40), RSS 212 (16, right), dRSS 229
 * (16, right), '\n' 245. */
#define REF_FAST_LEN 246

static const char fmt_ref_template[REF_FAST_LEN + 1] =
    "XXX:                                                                          "
    "                                                                              "
    "                                                                              "
    "           \n";

static size_t fmt_ref_fast(char *buf, const char *prefix, const struct pmt_ref_fields *f,
                           size_t type_len, size_t file_len, size_t func_len)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(buf, fmt_ref_template, REF_FAST_LEN);
    memcpy(buf, prefix, 3);
    uint64_t us = f->clock_us % 1000000u;
    char *frac = buf + 17;
    for (int i = 0; i < 3; i++) {
        frac -= 2;
        memcpy(frac, fmt_pairs + 2 * (us % 100), 2);
        us /= 100;
    }
    buf[10] = '.';
    fmt_digits_before(buf + 10, f->clock_us / 1000000u);
    char *p = buf + 34;
    for (uintptr_t v = (uintptr_t)f->address; v; v >>= 4)
        *--p = hex[v & 15];
    *--p = 'x';
    *--p = '0';
    fmt_right_i64(buf + 51, f->live);
    memcpy(buf + 52, f->type, type_len);
    memcpy(buf + 85, f->file, file_len);
    fmt_right_i64(buf + 170, f->line);
    memcpy(buf + 171, f->func, func_len);
    fmt_digits_before(buf + 228, f->rss);
    fmt_right_i64(buf + 245, f->drss);
    return REF_FAST_LEN;
}

size_t fmt_ref_line(char *buf, const char *prefix, const struct pmt_ref_fields *f)
{
    size_t type_len = strnlen(f->type, PMT_FIELD_MAX);
    size_t file_len = f->file_len ? f->file_len : strnlen(f->file, PMT_FIELD_MAX);
    size_t func_len = f->func_len ? f->func_len : strnlen(f->func, PMT_FIELD_MAX);
    if (f->clock_us < 100000000000ull && f->address &&
        (uintptr_t)f->address < ((uintptr_t)1 << 56) && f->live > -100000000000000ll &&
        f->live < 1000000000000000ll && type_len <= 32 && file_len <= 80 && f->line >= -999 &&
        f->line <= 9999 && func_len <= 40 && f->rss < 10000000000000000ull &&
        f->drss > -100000000000000ll && f->drss < 1000000000000000ll)
        return fmt_ref_fast(buf, prefix, f, type_len, file_len, func_len);
    char tmp[24];
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    buf[n++] = ' ';
    n += fmt_clock_right(buf + n, f->clock_us);
    buf[n++] = ' ';
    n += fmt_right(buf + n, tmp, fmt_ptr(tmp, f->address), 16);
    buf[n++] = ' ';
    n += fmt_i64_right(buf + n, f->live, 16);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, f->type, 32);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, f->file, 80);
    buf[n++] = ' ';
    n += fmt_i64_right(buf + n, f->line, 4);
    buf[n++] = ' ';
    n += fmt_str_left(buf + n, f->func, 40);
    buf[n++] = ' ';
    n += fmt_u64_right(buf + n, f->rss, 16);
    buf[n++] = ' ';
    n += fmt_i64_right(buf + n, f->drss, 16);
    buf[n++] = '\n';
    return n;
}

size_t fmt_ref_msg(char *buf, const char *prefix, uint64_t clock_us, const char *text)
{
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    buf[n++] = ' ';
    n += fmt_clock_right(buf + n, clock_us);
    n += fmt_lit(buf + n, " # ");
    size_t t = strnlen(text, PMT_FIELD_MAX);
    memcpy(buf + n, text, t);
    n += t;
    buf[n++] = '\n';
    return n;
}

/* ---- native stacks -------------------------------------------------------- */

static size_t fmt_hex(char *buf, uintptr_t v, int width)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[2 * sizeof v];
    int k = 0;
    do {
        tmp[k++] = hex[v & 15];
        v >>= 4;
    } while (v);
    size_t n = 0;
    for (int i = k; i < width; i++)
        buf[n++] = '0';
    while (k)
        buf[n++] = tmp[--k];
    return n;
}

size_t fmt_native_line(char *buf, const struct pmt_native_frame *frames, int n)
{
    size_t len = fmt_lit(buf, "NAT:  ");
    for (int i = 0; i < n; i++) {
        const struct pmt_native_frame *f = &frames[i];
        const char *lib = f->lib && *f->lib ? f->lib : "?";
        const char *sym = f->sym && *f->sym ? f->sym : "?";
        size_t lib_len = strnlen(lib, 256), sym_len = strnlen(sym, 512);
        if (len + lib_len + sym_len + 64 > PMT_LINE_MAX - 2)
            break; /* what fits */
        if (i)
            len += fmt_lit(buf + len, " | ");
        buf[len++] = '#';
        len += fmt_u64(buf + len, (uint64_t)i);
        len += fmt_lit(buf + len, " 0x");
        len += fmt_hex(buf + len, f->pc, 16);
        buf[len++] = ' ';
        memcpy(buf + len, lib, lib_len);
        len += lib_len;
        buf[len++] = ' ';
        memcpy(buf + len, sym, sym_len);
        len += sym_len;
        if (f->sym && *f->sym) {
            len += fmt_lit(buf + len, "+0x");
            len += fmt_hex(buf + len, f->off, 1);
        }
    }
    buf[len++] = '\n';
    return len;
}

/* Appends s to buf[*n] if it fits (keeping room for the NUL). */
static int fmt_put(char *buf, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len + 1 > cap)
        return -1;
    memcpy(buf + *n, s, len);
    *n += len;
    return 0;
}

static int fmt_put_u64(char *buf, size_t cap, size_t *n, uint64_t v, size_t width)
{
    char tmp[24];
    size_t len = fmt_u64(tmp, v);
    while (len < width) { /* zero padding for dates */
        if (fmt_put(buf, cap, n, "0", 1))
            return -1;
        width--;
    }
    return fmt_put(buf, cap, n, tmp, len);
}

size_t fmt_log_name(char *buf, size_t cap, time_t t, unsigned n, pid_t pid, char mode_letter,
                    unsigned depth, const char *py_version)
{
    struct tm tm;
    size_t len = 0;
    char letter[2] = {mode_letter, 0};
    if (!gmtime_r(&t, &tm))
        return 0;
    if (fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_year + 1900, 4) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_mon + 1, 2) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_mday, 2) || fmt_put(buf, cap, &len, "_", 1) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_hour, 2) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_min, 2) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)tm.tm_sec, 2) || fmt_put(buf, cap, &len, "_", 1) ||
        fmt_put_u64(buf, cap, &len, n, 0) || fmt_put(buf, cap, &len, "_", 1) ||
        fmt_put_u64(buf, cap, &len, (uint64_t)pid, 0) || fmt_put(buf, cap, &len, "_", 1) ||
        fmt_put(buf, cap, &len, letter, 1) || fmt_put(buf, cap, &len, "_", 1) ||
        fmt_put_u64(buf, cap, &len, depth, 0) || fmt_put(buf, cap, &len, "_PY", 3) ||
        fmt_put(buf, cap, &len, py_version, strlen(py_version)) ||
        fmt_put(buf, cap, &len, ".log", 4))
        return 0;
    buf[len] = '\0';
    return len;
}

size_t fmt_log_pattern(char *buf, size_t cap, const char *pattern, pid_t pid, char mode_letter,
                       unsigned n)
{
    size_t len = 0;
    for (const char *p = pattern; *p; p++) {
        int rc;
        if (*p != '%') {
            rc = fmt_put(buf, cap, &len, p, 1);
        } else {
            switch (*++p) {
            case 'p': rc = fmt_put_u64(buf, cap, &len, (uint64_t)pid, 0); break;
            case 'm': rc = fmt_put(buf, cap, &len, &mode_letter, 1); break;
            case 'n': rc = fmt_put_u64(buf, cap, &len, n, 0); break;
            case '%': rc = fmt_put(buf, cap, &len, "%", 1); break;
            default: return 0;
            }
        }
        if (rc)
            return 0;
    }
    buf[len] = '\0';
    return len;
}

/* ---- the sampler's lines --------------------------------------------------- */

static size_t fmt_zero_padded(char *buf, uint64_t v, size_t width)
{
    char tmp[24];
    size_t n = fmt_u64(tmp, v), pad = n < width ? width - n : 0;
    memset(buf, '0', pad);
    memcpy(buf + pad, tmp, n);
    return pad + n;
}

/* YYYY-MM-DD HH:MM:SS */
void fmt_civil_time(int64_t secs, struct tm *tm)
{
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    tm->tm_hour = (int)(rem / 3600);
    tm->tm_min = (int)(rem % 3600 / 60);
    tm->tm_sec = (int)(rem % 60);
    tm->tm_wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    /* Counted in 400-year cycles (146097 days) of years that begin on March
     * 1st, so that the leap day is the last day of its year. */
    int64_t shifted = days + 719468; /* days from 0000-03-01 */
    int64_t cycle = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
    int64_t day_of_cycle = shifted - cycle * 146097;                 /* 0..146096 */
    int64_t year_of_cycle = (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36524 -
                             day_of_cycle / 146096) / 365;            /* 0..399 */
    int64_t day_of_year = day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 -
                                          year_of_cycle / 100);       /* 0..365, from March */
    int64_t month_index = (5 * day_of_year + 2) / 153;               /* 0 = March */
    int64_t year = year_of_cycle + cycle * 400 + (month_index >= 10);
    tm->tm_mday = (int)(day_of_year - (153 * month_index + 2) / 5 + 1);
    tm->tm_mon = (int)(month_index < 10 ? month_index + 2 : month_index - 10);
    tm->tm_year = (int)(year - 1900);
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    static const short before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    tm->tm_yday = before[tm->tm_mon] + tm->tm_mday - 1 + (leap && tm->tm_mon >= 2);
}

static size_t fmt_datetime(char *buf, const struct tm *tm)
{
    size_t n = fmt_zero_padded(buf, (uint64_t)tm->tm_year + 1900, 4);
    buf[n++] = '-';
    n += fmt_zero_padded(buf + n, (uint64_t)tm->tm_mon + 1, 2);
    buf[n++] = '-';
    n += fmt_zero_padded(buf + n, (uint64_t)tm->tm_mday, 2);
    buf[n++] = ' ';
    n += fmt_zero_padded(buf + n, (uint64_t)tm->tm_hour, 2);
    buf[n++] = ':';
    n += fmt_zero_padded(buf + n, (uint64_t)tm->tm_min, 2);
    buf[n++] = ':';
    n += fmt_zero_padded(buf + n, (uint64_t)tm->tm_sec, 2);
    return n;
}

/* Seconds with six decimals, a JSON number. */
static size_t fmt_seconds(char *buf, uint64_t us)
{
    size_t n = fmt_u64(buf, us / 1000000u);
    buf[n++] = '.';
    return n + fmt_zero_padded(buf + n, us % 1000000u, 6);
}

struct fmt_json_field {
    const char *key;
    uint64_t v;
};

/* `"key": v, ...`: v an integer, or with seconds set microseconds shown as seconds. */
static size_t fmt_json_fields(char *buf, const struct fmt_json_field *fields, size_t count,
                              int seconds)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i)
            n += fmt_lit(buf + n, ", ");
        buf[n++] = '"';
        n += fmt_lit(buf + n, fields[i].key);
        n += fmt_lit(buf + n, "\": ");
        n += seconds ? fmt_seconds(buf + n, fields[i].v) : fmt_u64(buf + n, fields[i].v);
    }
    return n;
}

#define FMT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t fmt_sample_line(char *buf, const char *mark, const struct pmt_sample_fields *f)
{
    const struct fmt_json_field memory[] = {
        {"rss", f->rss},           {"vms", f->vms},         {"shared", f->shared},
        {"text", f->text},         {"lib", f->lib},         {"data", f->data},
        {"dirty", f->dirty},       {"peak_rss", f->peak_rss}, {"pfaults", f->pfaults},
        {"pageins", f->pageins},
    };
    const struct fmt_json_field cpu[] = {
        {"user", f->user_us},
        {"system", f->system_us},
        {"children_user", f->children_user_us},
        {"children_system", f->children_system_us},
        {"iowait", f->iowait_us},
    };
    const struct fmt_json_field elapsed = {"elapsed_time", f->elapsed_us};
    const struct fmt_json_field pid = {"pid", (uint64_t)f->pid};
    /* The prefix: logging's asctime has milliseconds after a comma. */
    size_t n = fmt_datetime(buf, &f->local);
    buf[n++] = ',';
    n += fmt_zero_padded(buf + n, f->usec / 1000u, 3);
    n += fmt_lit(buf + n, " - libpymemtrace.so#0 - ");
    n += fmt_u64_right(buf + n, (uint64_t)f->pid, 5);
    n += fmt_lit(buf + n, " - (pymemtrace) - INFO     - ");
    n += fmt_lit(buf + n, mark);
    /* The JSON object, as json.dumps writes pymemtrace's dict. */
    n += fmt_lit(buf + n, " {\"timestamp\": \"");
    n += fmt_datetime(buf + n, &f->local);
    buf[n++] = '.';
    n += fmt_zero_padded(buf + n, f->usec, 6);
    n += fmt_lit(buf + n, "\", \"memory_info\": {");
    n += fmt_json_fields(buf + n, memory, FMT_COUNT(memory), 0);
    n += fmt_lit(buf + n, "}, \"cpu_times\": {");
    n += fmt_json_fields(buf + n, cpu, FMT_COUNT(cpu), 1);
    n += fmt_lit(buf + n, "}, ");
    n += fmt_json_fields(buf + n, &elapsed, 1, 1);
    n += fmt_lit(buf + n, ", ");
    n += fmt_json_fields(buf + n, &pid, 1, 0);
    n += fmt_lit(buf + n, "}\n");
    return n;
}
