/* logfmt: cPyMemTrace's line layouts, produced without printf.
 *
 * Each layout is one column table (below; docs/LOGS.md prints the same
 * tables): every column's title, width, alignment and the separator before
 * it. The header line, the general formatter (any field, however wide) and
 * the fixed positions of the fast path (every field within its width) all
 * come from that table. The unit tests compare the bytes with snprintf of
 * the printf formats docs/LOGS.md gives. printf never truncates a %-Ns
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

/* ---- the column tables --------------------------------------------------------
 * X(id, previous id, title, width, alignment, separator on data lines,
 *   separator on the header line). From each row come an index (id), the
 * column's width (id_W) and, counted from the line's prefix, the offsets
 * where it starts and ends when every earlier field fitted its width
 * (id_AT, id_END). */

enum fmt_align { FMT_LEFT, FMT_RIGHT };

struct fmt_col {
    const char *title;
    unsigned width;
    enum fmt_align align;
    const char *sep;      /* before the column on data lines */
    const char *hdr_sep;  /* before its title on the HDR: line */
};

/* Profile and trace event lines, after "FRST: " (4 letters, ':', ' '). */
#define FMT_EVENT_COLUMNS(X)                                         \
    X(EV_EVENT, EV_PREFIX, "Event", 12, FMT_LEFT, "", "")             \
    X(EV_DEVENT, EV_EVENT, "dEvent", 6, FMT_LEFT, " +", " ")          \
    X(EV_CLOCK, EV_DEVENT, "Clock", 12, FMT_LEFT, " ", "  ")          \
    X(EV_WHAT, EV_CLOCK, "What", 8, FMT_LEFT, " ", " ")               \
    X(EV_FILE, EV_WHAT, "File", 80, FMT_LEFT, " ", " ")               \
    X(EV_LINE, EV_FILE, "Line", 4, FMT_RIGHT, " ", " ")               \
    X(EV_FUNC, EV_LINE, "Function", 32, FMT_LEFT, " ", " ")           \
    X(EV_RSS, EV_FUNC, "RSS", 12, FMT_RIGHT, " ", " ")                \
    X(EV_DRSS, EV_RSS, "dRSS", 12, FMT_RIGHT, " ", " ")
#define FMT_EVENT_PREFIX 6 /* "FRST: ", "MSG:  " */

/* Reference tracing NEW/DEL lines, after "NEW:". */
#define FMT_REF_COLUMNS(X)                                           \
    X(RF_CLOCK, RF_PREFIX, "Clock", 12, FMT_RIGHT, " ", " ")          \
    X(RF_ADDRESS, RF_CLOCK, "Address", 16, FMT_RIGHT, " ", " ")       \
    X(RF_LIVE, RF_ADDRESS, "LiveCnt", 16, FMT_RIGHT, " ", " ")        \
    X(RF_TYPE, RF_LIVE, "Type", 32, FMT_LEFT, " ", " ")               \
    X(RF_FILE, RF_TYPE, "File", 80, FMT_LEFT, " ", " ")               \
    X(RF_LINE, RF_FILE, "Line", 4, FMT_RIGHT, " ", " ")               \
    X(RF_FUNC, RF_LINE, "Function", 40, FMT_LEFT, " ", " ")           \
    X(RF_RSS, RF_FUNC, "RSS", 16, FMT_RIGHT, " ", " ")                \
    X(RF_DRSS, RF_RSS, "dRSS", 16, FMT_RIGHT, " ", " ")
#define FMT_REF_PREFIX 4 /* "NEW:" */

#define FMT_ID(id, prev, title, width, align, sep, hdr_sep) id,
#define FMT_ROW(id, prev, title, width, align, sep, hdr_sep) {title, width, align, sep, hdr_sep},
#define FMT_AT(id, prev, title, width, align, sep, hdr_sep)                                      \
    id##_W = width, id##_AT = prev##_END + (int)sizeof sep - 1, id##_END = id##_AT + width,

enum { FMT_EVENT_COLUMNS(FMT_ID) EV_NCOLS };
enum { FMT_REF_COLUMNS(FMT_ID) RF_NCOLS };
enum { EV_PREFIX_END = FMT_EVENT_PREFIX, FMT_EVENT_COLUMNS(FMT_AT) EV_LEN = EV_DRSS_END + 1 };
enum { RF_PREFIX_END = FMT_REF_PREFIX, FMT_REF_COLUMNS(FMT_AT) RF_LEN = RF_DRSS_END + 1 };

static const struct fmt_col fmt_event_cols[EV_NCOLS] = {FMT_EVENT_COLUMNS(FMT_ROW)};
static const struct fmt_col fmt_ref_cols[RF_NCOLS] = {FMT_REF_COLUMNS(FMT_ROW)};

/* ---- cells: one field in its column ----------------------------------------- */

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

static size_t fmt_lit(char *buf, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf, s, n);
    return n;
}

/* ---- escaping: every line stays one line ----------------------------------
 * Names and texts come from the program (a code object renamed with
 * code.replace(co_name=...), a file compiled under any name, a class made
 * by type() with any name): a newline in one would forge lines. Control
 * bytes (0x00-0x1f, 0x7f) and the backslash are written escaped:
 * \n \r \t \\ and \xNN for the others. */
static inline int fmt_is_special(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '\\';
}

int fmt_needs_escape(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fmt_is_special((unsigned char)s[i]))
            return 1;
    return 0;
}

size_t fmt_escape(char *dst, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[4];
        size_t len = 2;
        e[0] = '\\';
        if (!fmt_is_special(c)) {
            e[0] = (char)c;
            len = 1;
        } else if (c == '\n') {
            e[1] = 'n';
        } else if (c == '\r') {
            e[1] = 'r';
        } else if (c == '\t') {
            e[1] = 't';
        } else if (c == '\\') {
            e[1] = '\\';
        } else {
            e[1] = 'x';
            e[2] = hex[c >> 4];
            e[3] = hex[c & 15];
            len = 4;
        }
        if (k + len > cap)
            break; /* cut at a whole escape */
        memcpy(dst + k, e, len);
        k += len;
    }
    return k;
}

/* s (up to PMT_FIELD_MAX bytes) at buf, escaped where it must be; its
 * length through *n. */
static size_t fmt_text(char *buf, const char *s)
{
    size_t t = strnlen(s, PMT_FIELD_MAX);
    if (__builtin_expect(!fmt_needs_escape(s, t), 1)) {
        memcpy(buf, s, t);
        return t;
    }
    return fmt_escape(buf, PMT_FIELD_MAX, s, t);
}

/* n bytes of s, aligned in a column of width (never cut: printf's %Ns) */
static size_t fmt_aligned(char *buf, const char *s, size_t n, size_t width, enum fmt_align align)
{
    size_t pad = 0;
    if (align == FMT_RIGHT)
        pad = fmt_pad(buf, n, width);
    memcpy(buf + pad, s, n);
    if (align == FMT_LEFT)
        pad = fmt_pad(buf + n, n, width);
    return n + pad;
}

/* A name a site escaped already (its length was given: logfmt.h), as it is. */
static size_t fmt_cell_escaped(char *buf, const char *s, const struct fmt_col *col)
{
    return fmt_aligned(buf, s, strnlen(s, PMT_FIELD_MAX), col->width, col->align);
}

static size_t fmt_cell_str(char *buf, const char *s, const struct fmt_col *col)
{
    size_t n = s ? strnlen(s, PMT_FIELD_MAX) : 0;
    if (__builtin_expect(!fmt_needs_escape(s, n), 1))
        return fmt_aligned(buf, s ? s : "", n, col->width, col->align);
    /* Escaped in place (where the column's padding would start), then
     * aligned: the text moves right for a right-aligned column. */
    size_t e = fmt_escape(buf, PMT_FIELD_MAX, s, n);
    if (col->align == FMT_RIGHT && e < col->width) {
        memmove(buf + (col->width - e), buf, e);
        memset(buf, ' ', col->width - e);
        return col->width;
    }
    return e + (col->align == FMT_LEFT ? fmt_pad(buf + e, e, col->width) : 0);
}

static size_t fmt_cell_u64(char *buf, uint64_t v, const struct fmt_col *col)
{
    char tmp[24];
    return fmt_aligned(buf, tmp, fmt_u64(tmp, v), col->width, col->align);
}

static size_t fmt_cell_i64(char *buf, int64_t v, const struct fmt_col *col)
{
    char tmp[24];
    return fmt_aligned(buf, tmp, fmt_i64(tmp, v), col->width, col->align);
}

/* %.6f of clock_us / 1e6. cPyMemTrace prints (double)clock()/CLOCKS_PER_SEC
 * where clock() counts microseconds; our clock is kept in microseconds too,
 * so six decimals are exactly the microseconds and integer arithmetic gives
 * printf's digits. */
static size_t fmt_cell_clock(char *buf, uint64_t clock_us, const struct fmt_col *col)
{
    char tmp[32];
    size_t n = fmt_u64(tmp, clock_us / 1000000u);
    uint64_t frac = clock_us % 1000000u;
    tmp[n++] = '.';
    for (int i = 5; i >= 0; i--) {
        tmp[n + (size_t)i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return fmt_aligned(buf, tmp, n + 6, col->width, col->align);
}

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

/* The HDR: line of a table: each title in its column. */
static size_t fmt_header_of(char *buf, const char *prefix, const struct fmt_col *cols, int ncols)
{
    size_t n = fmt_lit(buf, prefix);
    for (int c = 0; c < ncols; c++) {
        n += fmt_lit(buf + n, cols[c].hdr_sep);
        n += fmt_cell_str(buf + n, cols[c].title, &cols[c]);
    }
    buf[n++] = '\n';
    return n;
}

size_t fmt_header(char *buf)
{
    return fmt_header_of(buf, "HDR: ", fmt_event_cols, EV_NCOLS);
}

size_t fmt_ref_header(char *buf)
{
    return fmt_header_of(buf, "HDR:", fmt_ref_cols, RF_NCOLS);
}

/* One event line's column c, after its separator. */
static size_t fmt_event_cell(char *buf, int c, const struct pmt_event_fields *f)
{
    const struct fmt_col *col = &fmt_event_cols[c];
    size_t n = fmt_lit(buf, col->sep);
    switch (c) {
    case EV_EVENT:
        return n + fmt_cell_u64(buf + n, f->event, col);
    case EV_DEVENT:
        return n + fmt_cell_i64(buf + n, f->devent, col);
    case EV_CLOCK:
        return n + fmt_cell_clock(buf + n, f->clock_us, col);
    case EV_WHAT:
        return n + fmt_cell_str(buf + n, f->what, col);
    case EV_FILE:
        return n + (f->file_len ? fmt_cell_escaped : fmt_cell_str)(buf + n, f->file, col);
    case EV_LINE:
        return n + fmt_cell_i64(buf + n, f->line, col);
    case EV_FUNC:
        return n + (f->func_len ? fmt_cell_escaped : fmt_cell_str)(buf + n, f->func, col);
    case EV_RSS:
        return n + fmt_cell_u64(buf + n, f->rss, col);
    default:
        return n + fmt_cell_i64(buf + n, f->drss, col);
    }
}

/* ---- the fast path: every field within its width ------------------------------
 * Then each column starts at its fixed offset (the tables' _AT and _END): the
 * line is spaces with the fields dropped in. */

static const uint64_t fmt_pow10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};
/* Whether a number's digits (and its '-') fit in width columns. */
#define FMT_FITS_U(v, width) ((uint64_t)(v) < fmt_pow10[(width)])
#define FMT_FITS_I(v, width)                                                                   \
    ((int64_t)(v) > -(int64_t)fmt_pow10[(width) - 1] && (int64_t)(v) < (int64_t)fmt_pow10[(width)])
/* A clock (seconds with six decimals) in width columns. */
#define FMT_FITS_CLOCK(us, width) ((us) < fmt_pow10[(width) - 1])

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
    /* By the bit length's guess, corrected once: no division. */
    static const unsigned char guess[65] = {
        1,  1,  1,  1,  2,  2,  2,  3,  3,  3,  4,  4,  4,  4,  5,  5,  5,  6,  6,  6,  7,  7,
        7,  7,  8,  8,  8,  9,  9,  9,  10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 13,
        14, 14, 14, 15, 15, 15, 16, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19, 19, 19, 19, 20,
    };
    size_t n = guess[v ? 64 - __builtin_clzll(v) : 0];
    return n - (n > 1 && v < fmt_pow10[n - 1]);
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

/* The six decimals of clock_us ending at end[-1], the '.' before them and
 * the seconds before that. Returns where the seconds start. */
static char *fmt_clock_before(char *end, uint64_t clock_us)
{
    uint64_t us = clock_us % 1000000u;
    char *frac = end;
    for (int i = 0; i < 3; i++) {
        frac -= 2;
        memcpy(frac, fmt_pairs + 2 * (us % 100), 2);
        us /= 100;
    }
    frac[-1] = '.';
    return frac - 1 - fmt_digits_before(frac - 1, clock_us / 1000000u);
}

/* An event line's blanks, its one separator that is not a space ('+'
 * before dEvent) and its newline, copied in 16-byte stores: a memset of
 * the line compiled to `rep stosb`, whose start-up cost was a third of the
 * formatting at every-event logging. */
typedef char fmt_v16 __attribute__((vector_size(16), aligned(1)));
enum { EV_BLANK_V = (EV_LEN + 15) / 16 };
_Static_assert(EV_BLANK_V * 16 <= PMT_LINE_MAX, "the blank's last store stays in a line's room");
static const union {
    char c[EV_BLANK_V * 16];
    fmt_v16 v[EV_BLANK_V];
} fmt_ev_blank = {.c = {[0 ... EV_DEVENT_AT - 2] = ' ',
                        [EV_DEVENT_AT - 1] = '+',
                        [EV_DEVENT_AT... EV_LEN - 2] = ' ',
                        [EV_LEN - 1] = '\n'}};

/* Whole stores: the last one may pass the line's end, into the room every
 * caller leaves for a line of PMT_LINE_MAX. Kept a loop of stores (GCC
 * would make it a memcpy, and that a `rep movs` again). */
static inline __attribute__((always_inline, optimize("no-tree-loop-distribute-patterns"))) void
fmt_blank(char *buf)
{
#pragma GCC unroll 16
    for (int i = 0; i < EV_BLANK_V; i++)
        ((fmt_v16 *)buf)[i] = fmt_ev_blank.v[i];
}

static size_t fmt_event_fast(char *buf, const char *prefix, const struct pmt_event_fields *f,
                             size_t what_len, size_t file_len, size_t func_len)
{
    fmt_blank(buf);
    memcpy(buf, prefix, 4);
    buf[4] = ':';
    fmt_left_u64(buf + EV_EVENT_AT, f->event);
    fmt_left_u64(buf + EV_DEVENT_AT, (uint64_t)f->devent);
    /* left-aligned: the seconds' digits first, then '.' and six decimals */
    fmt_clock_before(buf + EV_CLOCK_AT + fmt_ndigits(f->clock_us / 1000000u) + 7, f->clock_us);
    memcpy(buf + EV_WHAT_AT, f->what, what_len);
    memcpy(buf + EV_FILE_AT, f->file, file_len);
    fmt_right_i64(buf + EV_LINE_END, f->line);
    memcpy(buf + EV_FUNC_AT, f->func, func_len);
    fmt_digits_before(buf + EV_RSS_END, f->rss);
    fmt_right_i64(buf + EV_DRSS_END, f->drss);
    return EV_LEN;
}

size_t fmt_event_line(char *buf, const char *prefix, const struct pmt_event_fields *f)
{
    size_t what_len = strlen(f->what);
    size_t file_len = f->file_len ? f->file_len : strnlen(f->file, PMT_FIELD_MAX);
    size_t func_len = f->func_len ? f->func_len : strnlen(f->func, PMT_FIELD_MAX);
    if (FMT_FITS_U(f->event, EV_EVENT_W) && f->devent >= 0 && FMT_FITS_U(f->devent, EV_DEVENT_W) &&
        FMT_FITS_CLOCK(f->clock_us, EV_CLOCK_W) && what_len <= EV_WHAT_W &&
        file_len <= EV_FILE_W && FMT_FITS_I(f->line, EV_LINE_W) && func_len <= EV_FUNC_W &&
        FMT_FITS_U(f->rss, EV_RSS_W) && FMT_FITS_I(f->drss, EV_DRSS_W) &&
        /* a length given is a site's, whose names are escaped already */
        (f->file_len || !fmt_needs_escape(f->file, file_len)) &&
        (f->func_len || !fmt_needs_escape(f->func, func_len)))
        return fmt_event_fast(buf, prefix, f, what_len, file_len, func_len);
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    buf[n++] = ' ';
    for (int c = 0; c < EV_NCOLS; c++)
        n += fmt_event_cell(buf + n, c, f);
    buf[n++] = '\n';
    return n;
}

size_t fmt_note_line(char *buf, const char *prefix, uint64_t event, int64_t devent,
                     uint64_t clock_us, const char *text)
{
    /* The prefix, the event line's first three columns, then the text. */
    struct pmt_event_fields f = {.event = event, .devent = devent, .clock_us = clock_us};
    size_t n = fmt_lit(buf, prefix);
    n += fmt_lit(buf + n, ":  ");
    for (int c = EV_EVENT; c <= EV_CLOCK; c++)
        n += fmt_event_cell(buf + n, c, &f);
    n += fmt_lit(buf + n, " # ");
    n += fmt_text(buf + n, text);
    buf[n++] = '\n';
    return n;
}

size_t fmt_msg_line(char *buf, uint64_t event, int64_t devent, uint64_t clock_us, const char *text)
{
    return fmt_note_line(buf, "MSG", event, devent, clock_us, text);
}

/* ---- reference tracing lines ----------------------------------------------- */

static size_t fmt_ref_cell(char *buf, int c, const struct pmt_ref_fields *f)
{
    const struct fmt_col *col = &fmt_ref_cols[c];
    size_t n = fmt_lit(buf, col->sep);
    char tmp[24];
    switch (c) {
    case RF_CLOCK:
        return n + fmt_cell_clock(buf + n, f->clock_us, col);
    case RF_ADDRESS:
        return n + fmt_aligned(buf + n, tmp, fmt_ptr(tmp, f->address), col->width, col->align);
    case RF_LIVE:
        return n + fmt_cell_i64(buf + n, f->live, col);
    case RF_TYPE:
        return n + fmt_cell_str(buf + n, f->type, col);
    case RF_FILE:
        return n + (f->file_len ? fmt_cell_escaped : fmt_cell_str)(buf + n, f->file, col);
    case RF_LINE:
        return n + fmt_cell_i64(buf + n, f->line, col);
    case RF_FUNC:
        return n + (f->func_len ? fmt_cell_escaped : fmt_cell_str)(buf + n, f->func, col);
    case RF_RSS:
        return n + fmt_cell_u64(buf + n, f->rss, col);
    default:
        return n + fmt_cell_i64(buf + n, f->drss, col);
    }
}

static size_t fmt_ref_fast(char *buf, const char *prefix, const struct pmt_ref_fields *f,
                           size_t type_len, size_t file_len, size_t func_len)
{
    static const char hex[] = "0123456789abcdef";
    memset(buf, ' ', RF_LEN - 1);
    buf[RF_LEN - 1] = '\n';
    memcpy(buf, prefix, 3);
    buf[3] = ':';
    fmt_clock_before(buf + RF_CLOCK_END, f->clock_us);
    char *p = buf + RF_ADDRESS_END;
    for (uintptr_t v = (uintptr_t)f->address; v; v >>= 4)
        *--p = hex[v & 15];
    *--p = 'x';
    *--p = '0';
    fmt_right_i64(buf + RF_LIVE_END, f->live);
    memcpy(buf + RF_TYPE_AT, f->type, type_len);
    memcpy(buf + RF_FILE_AT, f->file, file_len);
    fmt_right_i64(buf + RF_LINE_END, f->line);
    memcpy(buf + RF_FUNC_AT, f->func, func_len);
    fmt_digits_before(buf + RF_RSS_END, f->rss);
    fmt_right_i64(buf + RF_DRSS_END, f->drss);
    return RF_LEN;
}

size_t fmt_ref_line(char *buf, const char *prefix, const struct pmt_ref_fields *f)
{
    size_t type_len = strnlen(f->type, PMT_FIELD_MAX);
    size_t file_len = f->file_len ? f->file_len : strnlen(f->file, PMT_FIELD_MAX);
    size_t func_len = f->func_len ? f->func_len : strnlen(f->func, PMT_FIELD_MAX);
    if (FMT_FITS_CLOCK(f->clock_us, RF_CLOCK_W) && f->address &&
        (uintptr_t)f->address < ((uintptr_t)1 << 4 * (RF_ADDRESS_W - 2)) &&
        FMT_FITS_I(f->live, RF_LIVE_W) && type_len <= RF_TYPE_W && file_len <= RF_FILE_W &&
        FMT_FITS_I(f->line, RF_LINE_W) && func_len <= RF_FUNC_W && FMT_FITS_U(f->rss, RF_RSS_W) &&
        FMT_FITS_I(f->drss, RF_DRSS_W) && !fmt_needs_escape(f->type, type_len) &&
        (f->file_len || !fmt_needs_escape(f->file, file_len)) &&
        (f->func_len || !fmt_needs_escape(f->func, func_len)))
        return fmt_ref_fast(buf, prefix, f, type_len, file_len, func_len);
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    for (int c = 0; c < RF_NCOLS; c++)
        n += fmt_ref_cell(buf + n, c, f);
    buf[n++] = '\n';
    return n;
}

size_t fmt_ref_msg(char *buf, const char *prefix, uint64_t clock_us, const char *text)
{
    size_t n = fmt_lit(buf, prefix);
    buf[n++] = ':';
    n += fmt_lit(buf + n, fmt_ref_cols[RF_CLOCK].sep);
    n += fmt_cell_clock(buf + n, clock_us, &fmt_ref_cols[RF_CLOCK]);
    n += fmt_lit(buf + n, " # ");
    n += fmt_text(buf + n, text);
    buf[n++] = '\n';
    return n;
}

/* %<width>zu, for the sampler's pid */
static size_t fmt_u64_right(char *buf, uint64_t v, size_t width)
{
    char tmp[24];
    return fmt_aligned(buf, tmp, fmt_u64(tmp, v), width, FMT_RIGHT);
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
