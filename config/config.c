/* config: PYMEMTRACE_* environment -> one settings struct, parsed strictly.
 *
 * The agent is preloaded into programs it knows nothing about, so a setting it
 * misreads must not silently change what it does: every value is checked in
 * full (no strtol without an end check, no case folding of modes) and the first
 * problem becomes one line naming the variable, the value as given and what is
 * accepted. The caller then stays inert.
 *
 * No stdio and no global state here: the message is built by hand into the
 * caller's buffer, and envp is the only input, so the parser is a pure function
 * that the unit tests drive directly. It runs from the agent's constructor, so
 * malloc is allowed (the string settings are copies owned by the struct). */
#include "config/config.h"
#include "config/funcspec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a bounded string builder -------------------------------------------- */

/* Appends never overrun cap - 1 and keep the text NUL-terminated; a message
 * that does not fit is cut, which is all a too-small err buffer can hold. */
struct cfg_buf {
    char *p;
    size_t len;
    size_t cap;
};

static void cfg_buf_init(struct cfg_buf *b, char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    if (p != NULL && cap > 0)
        p[0] = '\0';
}

static void cfg_buf_putn(struct cfg_buf *b, const char *s, size_t n)
{
    if (b->p == NULL || b->cap == 0)
        return;
    size_t room = b->cap - 1 - b->len;
    if (n > room)
        n = room;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void cfg_buf_put(struct cfg_buf *b, const char *s)
{
    cfg_buf_putn(b, s, strlen(s));
}

/* Longest part of a user's value echoed back: enough to recognise it, short
 * enough that a huge variable cannot push "accepted: ..." out of the line. */
#define CFG_ECHO_MAX 80

/* Echoes n bytes of user text: control characters become '?' so the message
 * stays one line on a terminal, and beyond CFG_ECHO_MAX bytes it ends in "...". */
static void cfg_buf_put_echo(struct cfg_buf *b, const char *s, size_t n)
{
    size_t shown = n > CFG_ECHO_MAX ? CFG_ECHO_MAX : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        char out = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        cfg_buf_putn(b, &out, 1);
    }
    if (n > shown)
        cfg_buf_put(b, "...");
}

/* ---- the parsers --------------------------------------------------------- */

enum cfg_result {
    CFG_OK = 0,
    CFG_BAD = -1,   /* the reason buffer says why */
    CFG_NOMEM = -2, /* a copy failed: not the user's fault, said differently */
};

/* A parser reads one value (present in envp, possibly empty), stores it into
 * *out or writes the reason (the text between the parentheses) into *why. */
typedef enum cfg_result (*cfg_parser)(const char *value, struct pmt_config *out,
                                      struct cfg_buf *why);

static enum cfg_result cfg_bad(struct cfg_buf *why, const char *reason)
{
    cfg_buf_put(why, reason);
    return CFG_BAD;
}

static enum cfg_result cfg_copy(const char *value, const char **dst)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return CFG_NOMEM;
    *dst = copy;
    return CFG_OK;
}

/* Spelling and bit of each mode, in the order the accepted text lists them. */
static const struct {
    const char *name;
    enum pmt_mode mode;
} cfg_modes[] = {
    {"profile", PMT_MODE_PROFILE},
    {"trace", PMT_MODE_TRACE},
    {"reftrace", PMT_MODE_REFTRACE},
    {"sample", PMT_MODE_SAMPLE},
};

#define CFG_MODES_LEN (sizeof cfg_modes / sizeof cfg_modes[0])

/* Case-sensitive and without spaces, as the names are written in the docs:
 * "Profile" or " trace" is far more likely a typo than a wish. */
static enum cfg_result cfg_parse_modes(const char *value, struct pmt_config *out,
                                       struct cfg_buf *why)
{
    unsigned modes = 0;
    const char *item = value;
    for (;;) {
        size_t n = strcspn(item, ",");
        if (n == 0)
            return cfg_bad(why, "empty mode");
        size_t k = 0;
        while (k < CFG_MODES_LEN
               && !(strlen(cfg_modes[k].name) == n && memcmp(cfg_modes[k].name, item, n) == 0))
            k++;
        if (k == CFG_MODES_LEN) {
            cfg_buf_put(why, "unknown mode '");
            cfg_buf_put_echo(why, item, n);
            cfg_buf_put(why, "'");
            return CFG_BAD;
        }
        if (modes & (unsigned)cfg_modes[k].mode) {
            cfg_buf_put(why, "mode '");
            cfg_buf_put(why, cfg_modes[k].name);
            cfg_buf_put(why, "' given twice");
            return CFG_BAD;
        }
        modes |= (unsigned)cfg_modes[k].mode;
        if (item[n] == '\0')
            break;
        item += n + 1;
    }
    out->modes = modes;
    return CFG_OK;
}

/* 2^53: the largest count a double (Python's float, pymemtrace's RSS
 * arithmetic in analysis scripts) still holds exactly; no real RSS is near it. */
#define CFG_BYTES_MAX (1ull << 53)

enum cfg_num { CFG_NUM_OK, CFG_NUM_SYNTAX, CFG_NUM_RANGE };

/* digits [K|M|G], nothing else. Digits beyond the limit are still scanned so
 * that "99999999999999999999x" is reported as not a number, not out of range.
 * Only upper-case suffixes: they are what the accepted text promises, and a
 * lower-case 'k' would invite reading "5kb" as kilobits or decimal kilo. */
static enum cfg_num cfg_scan_bytes(const char *s, unsigned long long *v, int *suffixed)
{
    unsigned long long acc = 0;
    int big = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (!big) {
            acc = acc * 10 + (unsigned long long)(*p - '0');
            big = acc > CFG_BYTES_MAX; /* stop before acc * 10 could wrap */
        }
        p++;
    }
    if (p == s)
        return CFG_NUM_SYNTAX;
    unsigned long long mult = 1;
    if (*p == 'K')
        mult = 1ull << 10;
    else if (*p == 'M')
        mult = 1ull << 20;
    else if (*p == 'G')
        mult = 1ull << 30;
    if (mult != 1)
        p++;
    if (*p != '\0')
        return CFG_NUM_SYNTAX;
    *suffixed = mult != 1;
    /* "0K" is refused: a suffix on zero suggests a size was meant, and 0 means
     * "every event", which should be asked for plainly. */
    if (!big && acc == 0 && mult != 1)
        return CFG_NUM_SYNTAX;
    /* mult is a power of two dividing CFG_BYTES_MAX, so the division is exact. */
    if (big || acc > CFG_BYTES_MAX / mult)
        return CFG_NUM_RANGE;
    *v = acc * mult;
    return CFG_NUM_OK;
}

static enum cfg_result cfg_parse_d_rss_trigger(const char *value, struct pmt_config *out,
                                               struct cfg_buf *why)
{
    unsigned long long v = 0;
    int suffixed = 0;
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    if (value[0] == '-') {
        /* The only sign accepted is the one of -1 (leading zeros allowed, as
         * for positive values). Any other negative size is named as such;
         * "-0" is not: it carries a sign the grammar does not have. */
        enum cfg_num r = cfg_scan_bytes(value + 1, &v, &suffixed);
        if (r == CFG_NUM_OK && v == 1 && !suffixed) {
            out->d_rss_trigger = -1;
            return CFG_OK;
        }
        if (r == CFG_NUM_SYNTAX || (r == CFG_NUM_OK && v == 0))
            return cfg_bad(why, "not a number");
        return cfg_bad(why, "negative");
    }
    switch (cfg_scan_bytes(value, &v, &suffixed)) {
    case CFG_NUM_SYNTAX:
        return cfg_bad(why, "not a number");
    case CFG_NUM_RANGE:
        return cfg_bad(why, "out of range");
    case CFG_NUM_OK:
        break;
    }
    out->d_rss_trigger = (long long)v;
    return CFG_OK;
}

static enum cfg_result cfg_parse_log_dir(const char *value, struct pmt_config *out,
                                         struct cfg_buf *why)
{
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    return cfg_copy(value, &out->log_dir);
}

static unsigned cfg_popcount(unsigned x)
{
    unsigned n = 0;
    for (; x != 0; x &= x - 1)
        n++;
    return n;
}

/* Relies on PYMEMTRACE being parsed first (it is row 0 of the table). */
static enum cfg_result cfg_parse_log_file(const char *value, struct pmt_config *out,
                                          struct cfg_buf *why)
{
    int has_mode = 0;
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    for (const char *p = value; *p != '\0'; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == 'm')
            has_mode = 1;
        if (*p == 'p' || *p == 'm' || *p == 'n' || *p == '%')
            continue;
        cfg_buf_put(why, "unknown escape '%");
        if (*p != '\0') {
            /* Show the whole character after '%', not half of a UTF-8 one. */
            size_t n = 1;
            if ((unsigned char)p[0] >= 0xc0)
                while (n < 4 && ((unsigned char)p[n] & 0xc0) == 0x80)
                    n++;
            cfg_buf_put_echo(why, p, n);
        }
        cfg_buf_put(why, "'");
        return CFG_BAD;
    }
    /* Each mode writes its own log: without %m two of them would open the
     * same path and interleave (or truncate) each other's lines. */
    if (cfg_popcount(out->modes) > 1 && !has_mode)
        return cfg_bad(why, "several modes would share one file: add %m");
    return cfg_copy(value, &out->log_file);
}

static enum cfg_result cfg_parse_message(const char *value, struct pmt_config *out,
                                         struct cfg_buf *why)
{
    /* The message is written as one line at the top of the log; a break in it
     * would make a line that log readers take for a record. */
    if (strpbrk(value, "\n\r") != NULL)
        return cfg_bad(why, "contains a line break");
    if (value[0] == '\0')
        return CFG_OK;
    return cfg_copy(value, &out->message);
}

/* Names (functions, types) never contain whitespace; a space is nearly always
 * "a, b" typed for "a,b", which would otherwise silently match nothing. */
static enum cfg_result cfg_check_name_list(const char *value, struct cfg_buf *why)
{
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    const char *item = value;
    for (;;) {
        size_t n = strcspn(item, ",");
        if (n == 0)
            return cfg_bad(why, "empty item");
        for (size_t i = 0; i < n; i++)
            if (strchr(" \t\n\v\f\r", item[i]) != NULL)
                return cfg_bad(why, "contains a space");
        if (item[n] == '\0')
            return CFG_OK;
        item += n + 1;
    }
}

static enum cfg_result cfg_parse_function(const char *value, struct pmt_config *out,
                                          struct cfg_buf *why)
{
    if (cfg_check_name_list(value, why) != CFG_OK)
        return CFG_BAD;
    size_t items = 0;
    for (const char *item = value;; item++) {
        size_t n = strcspn(item, ",");
        const char *bad = fs_check_item(item, n);
        if (bad)
            return cfg_bad(why, bad);
        items++;
        item += n;
        if (!*item)
            break;
    }
    if (items > FS_MAX_ENTRIES)
        return cfg_bad(why, "more than 32 names");
    return cfg_copy(value, &out->function);
}

static enum cfg_result cfg_parse_include_types(const char *value, struct pmt_config *out,
                                               struct cfg_buf *why)
{
    if (cfg_check_name_list(value, why) != CFG_OK)
        return CFG_BAD;
    return cfg_copy(value, &out->include_types);
}

static enum cfg_result cfg_parse_exclude_types(const char *value, struct pmt_config *out,
                                               struct cfg_buf *why)
{
    if (cfg_check_name_list(value, why) != CFG_OK)
        return CFG_BAD;
    return cfg_copy(value, &out->exclude_types);
}

/* Exactly "0" or "1": "yes", "01" or " 1" are refused rather than guessed. */
static enum cfg_result cfg_parse_bool(const char *value, int *dst, struct cfg_buf *why)
{
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
        return cfg_bad(why, "not 0 or 1");
    *dst = value[0] - '0';
    return CFG_OK;
}

static enum cfg_result cfg_parse_include_builtins(const char *value, struct pmt_config *out,
                                                  struct cfg_buf *why)
{
    return cfg_parse_bool(value, &out->include_builtins, why);
}

static enum cfg_result cfg_parse_children(const char *value, struct pmt_config *out,
                                          struct cfg_buf *why)
{
    return cfg_parse_bool(value, &out->children, why);
}

static enum cfg_result cfg_parse_check(const char *value, struct pmt_config *out,
                                       struct cfg_buf *why)
{
    return cfg_parse_bool(value, &out->check, why);
}

static enum cfg_result cfg_parse_quiet(const char *value, struct pmt_config *out,
                                       struct cfg_buf *why)
{
    return cfg_parse_bool(value, &out->quiet, why);
}

static enum cfg_result cfg_parse_gc_collect_on_exit(const char *value, struct pmt_config *out,
                                                    struct cfg_buf *why)
{
    static const char *const allowed[] = {"-1", "0", "1", "2"};
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strcmp(value, allowed[i]) == 0) {
            out->gc_collect_on_exit = (int)i - 1;
            return CFG_OK;
        }
    }
    return cfg_bad(why, "not one of -1, 0, 1, 2");
}

/* A plain decimal 0..PMT_NATIVE_MAX: no sign, no leading zero, no suffix. */
static enum cfg_result cfg_parse_native_stack(const char *value, struct pmt_config *out,
                                              struct cfg_buf *why)
{
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    int n = 0;
    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '9' || (p == value && *p == '0' && p[1]))
            return cfg_bad(why, "not a number of frames");
        n = n * 10 + (*p - '0');
        if (n > PMT_NATIVE_MAX)
            return cfg_bad(why, "more than 64 frames");
    }
    out->native_stack = n;
    return CFG_OK;
}

/* value, one of names (n of them), as its index into *out; else why it is
 * not ("not " and the words). */
static enum cfg_result cfg_pick_word(const char *value, const char *const *names, size_t n,
                                     int *out, const char *not_one, struct cfg_buf *why)
{
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = (int)i;
            return CFG_OK;
        }
    }
    return cfg_bad(why, not_one);
}

static enum cfg_result cfg_parse_rss(const char *value, struct pmt_config *out,
                                     struct cfg_buf *why)
{
    static const char *const names[] = {"auto", "statm", "check"};
    return cfg_pick_word(value, names, 3, &out->rss_source, "not auto, statm or check", why);
}

static enum cfg_result cfg_parse_hooks(const char *value, struct pmt_config *out,
                                       struct cfg_buf *why)
{
    static const char *const names[] = {"auto", "legacy"};
    return cfg_pick_word(value, names, 2, &out->hooks, "not auto or legacy", why);
}

/* Seconds as digits with an optional fraction: "0.25", "2", "0010.5". No sign,
 * exponent, leading or trailing point ("5.", ".5"): a time between samples is
 * typed, not computed, and the one grammar is the one the accepted text shows.
 * The value is kept in nanoseconds, so a finer fraction is refused rather
 * than rounded. Digits beyond the limit are still scanned so that a long
 * garbage value is reported as not a number. */
static enum cfg_result cfg_parse_sample_interval(const char *value, struct pmt_config *out,
                                                 struct cfg_buf *why)
{
    const char *p = value;
    int negative = 0;
    if (value[0] == '\0')
        return cfg_bad(why, "empty");
    if (*p == '-') {
        negative = 1;
        p++;
    }
    long long ns = 0;
    int big = 0, decimals = 0;
    const char *start = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (!big) {
            ns = ns * 10 + (*p - '0');
            big = ns > PMT_SAMPLE_INTERVAL_MAX_NS / 1000000000LL;
        }
    }
    if (p == start)
        return cfg_bad(why, "not a number");
    ns *= 1000000000LL; /* cannot wrap: ns < 10^6 here */
    if (*p == '.') {
        start = ++p;
        long long unit = 100000000LL;
        for (; *p >= '0' && *p <= '9'; p++, decimals++) {
            if (decimals < 9) {
                ns += (*p - '0') * unit;
                unit /= 10;
            }
        }
        if (p == start)
            return cfg_bad(why, "not a number");
    }
    if (*p != '\0')
        return cfg_bad(why, "not a number");
    if (negative)
        return cfg_bad(why, ns == 0 && !big ? "not a number" : "negative");
    if (decimals > 9)
        return cfg_bad(why, "finer than a nanosecond");
    if (big || ns < PMT_SAMPLE_INTERVAL_MIN_NS || ns > PMT_SAMPLE_INTERVAL_MAX_NS)
        return cfg_bad(why, "out of range");
    out->sample_interval_ns = ns;
    return CFG_OK;
}

static enum cfg_result cfg_parse_writer(const char *value, struct pmt_config *out,
                                        struct cfg_buf *why)
{
    static const char *const names[] = {"process", "thread"};
    return cfg_pick_word(value, names, 2, &out->writer, "not process or thread", why);
}

/* ---- the table ----------------------------------------------------------- */

/* One row per setting. Its order is the order in which problems are reported
 * and in which names are listed; PYMEMTRACE stays first because other rows
 * (LOG_FILE's %m rule) read the modes. A new setting is one row + one parser. */
struct cfg_setting {
    const char *name;
    cfg_parser parse;
    const char *accepted;
};

static const struct cfg_setting cfg_table[] = {
    {"PYMEMTRACE", cfg_parse_modes, "comma-separated modes from profile, trace, reftrace, sample"},
    {"PYMEMTRACE_D_RSS_TRIGGER", cfg_parse_d_rss_trigger,
     "-1 (a page), 0 (every event) or a number of bytes > 0, with an optional K, M or G suffix"},
    {"PYMEMTRACE_LOG_DIR", cfg_parse_log_dir, "a folder path"},
    {"PYMEMTRACE_LOG_FILE", cfg_parse_log_file,
     "a file path; %p pid, %m mode letter, %n log number, %% a percent sign"},
    {"PYMEMTRACE_MESSAGE", cfg_parse_message, "one line of text"},
    {"PYMEMTRACE_FUNCTION", cfg_parse_function,
     "comma-separated function names: name, module:qualname or file.py:qualname"},
    {"PYMEMTRACE_INCLUDE_BUILTINS", cfg_parse_include_builtins, "0 or 1"},
    {"PYMEMTRACE_INCLUDE_TYPES", cfg_parse_include_types,
     "comma-separated type names such as LASSection"},
    {"PYMEMTRACE_EXCLUDE_TYPES", cfg_parse_exclude_types,
     "comma-separated type names such as LASSection"},
    {"PYMEMTRACE_GC_COLLECT_ON_EXIT", cfg_parse_gc_collect_on_exit,
     "-1 (no collection) or a generation 0, 1 or 2"},
    {"PYMEMTRACE_CHILDREN", cfg_parse_children, "0 or 1"},
    {"PYMEMTRACE_QUIET", cfg_parse_quiet, "0 or 1"},
    {"PYMEMTRACE_NATIVE_STACK", cfg_parse_native_stack,
     "0 (no native stacks) or a number of frames from 1 to 64"},
    {"PYMEMTRACE_RSS", cfg_parse_rss,
     "auto (page-fault events, statm on change), statm (every event) or check (both, compared)"},
    {"PYMEMTRACE_SAMPLE_INTERVAL", cfg_parse_sample_interval,
     "seconds between samples, a decimal number from 0.001 to 86400 such as 0.25"},
    {"PYMEMTRACE_CHECK", cfg_parse_check, "0 or 1"},
    {"PYMEMTRACE_HOOKS", cfg_parse_hooks,
     "auto (sys.monitoring on Python 3.12+, else the profile and trace functions) or legacy "
     "(the profile and trace functions)"},
    {"PYMEMTRACE_WRITER", cfg_parse_writer,
     "process (a log writer process: lines survive the program being killed) or thread (the "
     "program's own process writes)"},
};

#define CFG_TABLE_LEN (sizeof cfg_table / sizeof cfg_table[0])

/* Only names under our exact, case-sensitive prefix are ours to judge: a
 * program's own "pymemtrace_quiet" or "PYMEMTRACEX" is none of our business. */
static const char cfg_prefix[] = "PYMEMTRACE_";

/* The value of the first entry called name, as getenv would pick it when a
 * (malformed) environment holds the same name twice. Entries without '=' are
 * not "NAME=value" and are skipped. */
static const char *cfg_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

static int cfg_is_known(const char *name, size_t n)
{
    for (size_t k = 0; k < CFG_TABLE_LEN; k++)
        if (strlen(cfg_table[k].name) == n && memcmp(cfg_table[k].name, name, n) == 0)
            return 1;
    return 0;
}

static unsigned char cfg_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Suggestions only within this many edits: further than that it is a guess. */
#define CFG_SUGGEST_DIST 3
/* Names longer than this are compared with no known name (all are far shorter,
 * so such a name is more than CFG_SUGGEST_DIST edits from every one). */
#define CFG_DIST_NAME_MAX 48

/* Damerau-Levenshtein distance (optimal string alignment: insertions,
 * deletions, substitutions, adjacent transpositions), case-insensitive so that
 * "PYMEMTRACE_quiet" is one step from PYMEMTRACE_QUIET rather than five.
 * Returns a value > CFG_SUGGEST_DIST when the lengths alone rule a match out. */
static unsigned cfg_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > CFG_DIST_NAME_MAX || lb > CFG_DIST_NAME_MAX
        || (la > lb ? la - lb : lb - la) > CFG_SUGGEST_DIST)
        return CFG_SUGGEST_DIST + 1;
    unsigned char d[CFG_DIST_NAME_MAX + 1][CFG_DIST_NAME_MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned char ca = cfg_upper((unsigned char)a[i - 1]);
            unsigned char cb = cfg_upper((unsigned char)b[j - 1]);
            unsigned best = d[i - 1][j - 1] + (ca != cb ? 1u : 0u);
            if (d[i - 1][j] + 1u < best)
                best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best)
                best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && ca == cfg_upper((unsigned char)b[j - 2])
                && cfg_upper((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

static void cfg_report_unknown(const char *name, size_t n, struct cfg_buf *msg)
{
    size_t best = CFG_TABLE_LEN;
    unsigned best_dist = CFG_SUGGEST_DIST + 1;
    for (size_t k = 0; k < CFG_TABLE_LEN; k++) {
        unsigned dist = cfg_distance(name, n, cfg_table[k].name);
        if (dist < best_dist) { /* strict: ties keep the earlier row */
            best_dist = dist;
            best = k;
        }
    }
    cfg_buf_put_echo(msg, name, n);
    if (best < CFG_TABLE_LEN) {
        cfg_buf_put(msg, " is not a pymemtrace setting (did you mean ");
        cfg_buf_put(msg, cfg_table[best].name);
        cfg_buf_put(msg, "?)");
        return;
    }
    cfg_buf_put(msg, " is not a pymemtrace setting (known: ");
    for (size_t k = 0; k < CFG_TABLE_LEN; k++) {
        if (k > 0)
            cfg_buf_put(msg, ", ");
        cfg_buf_put(msg, cfg_table[k].name);
    }
    cfg_buf_put(msg, ")");
}

/* Returns 1 and writes the message when envp holds a PYMEMTRACE_ name that no
 * row knows: a misspelt setting would otherwise be silently ignored. */
static int cfg_find_unknown(char *const envp[], struct cfg_buf *msg)
{
    size_t plen = sizeof cfg_prefix - 1;
    for (size_t i = 0; envp[i] != NULL; i++) {
        const char *eq = strchr(envp[i], '=');
        if (eq == NULL || strncmp(envp[i], cfg_prefix, plen) != 0)
            continue;
        size_t n = (size_t)(eq - envp[i]);
        if (cfg_is_known(envp[i], n))
            continue;
        cfg_report_unknown(envp[i], n, msg);
        return 1;
    }
    return 0;
}

static void cfg_defaults(struct pmt_config *out)
{
    memset(out, 0, sizeof *out);
    out->d_rss_trigger = -1;
    out->gc_collect_on_exit = 2;
    out->children = 1;
    out->sample_interval_ns = PMT_SAMPLE_INTERVAL_DEFAULT_NS;
}

/* ---- the interface ------------------------------------------------------- */

int cfg_parse(char *const envp[], struct pmt_config *out, char *err, size_t errlen)
{
    struct cfg_buf msg;
    cfg_buf_init(&msg, err, errlen);
    cfg_defaults(out);

    /* Unset or empty: the agent must be as if absent, so not even a bad
     * PYMEMTRACE_* variable is worth a word. */
    const char *modes = cfg_lookup(envp, cfg_table[0].name);
    if (modes == NULL || modes[0] == '\0')
        return 0;

    for (size_t k = 0; k < CFG_TABLE_LEN; k++) {
        const struct cfg_setting *s = &cfg_table[k];
        const char *value = cfg_lookup(envp, s->name);
        if (value == NULL)
            continue;
        char reason_text[CFG_ECHO_MAX + 128];
        struct cfg_buf why;
        cfg_buf_init(&why, reason_text, sizeof reason_text);
        enum cfg_result r = s->parse(value, out, &why);
        if (r == CFG_OK)
            continue;
        if (r == CFG_NOMEM) {
            cfg_buf_put(&msg, "out of memory while reading ");
            cfg_buf_put(&msg, s->name);
        } else {
            cfg_buf_put(&msg, s->name);
            cfg_buf_put(&msg, "='");
            cfg_buf_put_echo(&msg, value, strlen(value));
            cfg_buf_put(&msg, "' is not valid (");
            cfg_buf_put(&msg, reason_text);
            cfg_buf_put(&msg, "); accepted: ");
            cfg_buf_put(&msg, s->accepted);
        }
        cfg_free(out);
        return -1;
    }

    if (cfg_find_unknown(envp, &msg)) {
        cfg_free(out);
        return -1;
    }
    return 0;
}

/* The struct exposes const pointers (settings are read-only after start-up);
 * only their owner, here, casts that away to release them. */
static void cfg_release(const char *s)
{
    free((void *)(uintptr_t)s);
}

void cfg_free(struct pmt_config *cfg)
{
    if (cfg == NULL)
        return;
    cfg_release(cfg->log_dir);
    cfg_release(cfg->log_file);
    cfg_release(cfg->message);
    cfg_release(cfg->function);
    cfg_release(cfg->include_types);
    cfg_release(cfg->exclude_types);
    memset(cfg, 0, sizeof *cfg);
}

char cfg_mode_letter(enum pmt_mode mode)
{
    /* The letters pymemtrace puts in its log names (docs/LOGS.md). */
    switch (mode) {
    case PMT_MODE_PROFILE:
        return 'P';
    case PMT_MODE_TRACE:
        return 'T';
    case PMT_MODE_REFTRACE:
        return 'O';
    case PMT_MODE_SAMPLE:
        return 'S'; /* ours: pymemtrace's process module has no log of its own */
    }
    return '?';
}

const char *cfg_mode_name(enum pmt_mode mode)
{
    for (size_t k = 0; k < CFG_MODES_LEN; k++)
        if (cfg_modes[k].mode == mode)
            return cfg_modes[k].name;
    return "unknown";
}
