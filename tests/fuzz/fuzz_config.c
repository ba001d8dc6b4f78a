/* Fuzz target: the settings parser, every PYMEMTRACE_* value.
 *
 * The input is an environment, one "NAME=value" entry per line (any bytes
 * but NUL and newline). cfg_parse runs on it and, where it accepts, the
 * parsers behind two settings (PYMEMTRACE_FUNCTION's entries and
 * matching, the reference tracing type lists, the log file pattern) run on
 * what it accepted. Besides the sanitizers' own findings, the target
 * aborts when a promise of config.h breaks: a refusal is one non-empty line
 * naming a PYMEMTRACE variable, without control characters, that fits the
 * buffer; an acceptance holds values inside their documented ranges; and
 * cfg_free leaves the struct zeroed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/logfmt.h"
#include "config/config.h"
#include "config/funcspec.h"
#include "config/typefilter.h"

#define MAX_ENTRIES 64

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_config: broken promise: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static void check_refusal(const char *err)
{
    size_t n = strnlen(err, PMT_CFG_ERRLEN);
    CHECK(n > 0 && n < PMT_CFG_ERRLEN);
    CHECK(strncmp(err, "PYMEMTRACE", 10) == 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)err[i];
        CHECK(c >= 0x20 && c != 0x7f);
    }
}

static void check_function(const char *value, const char *probe)
{
    struct fs_spec spec;
    CHECK(fs_parse(value, &spec) == 0);
    CHECK(spec.n >= 1 && spec.n <= FS_MAX_ENTRIES);
    for (int i = 0; i < spec.n; i++) {
        const struct fs_entry *e = &spec.entries[i];
        CHECK(e->qualname_len > 0 && e->name_len > 0 && e->name_len <= e->qualname_len);
        CHECK(e->name >= e->qualname && e->name + e->name_len == e->qualname + e->qualname_len);
    }
    /* Any names at all: a decision, never a crash. */
    unsigned needs = fs_needs(&spec, probe);
    CHECK((needs & ~(unsigned)(FS_CANDIDATE | FS_NEED_QUALNAME | FS_NEED_MODULE)) == 0);
    int m = fs_match(&spec, probe, probe, probe, probe);
    CHECK(m == 0 || m == 1);
    CHECK(fs_match(&spec, probe, NULL, NULL, "") == 0 || fs_match(&spec, probe, NULL, NULL, "") == 1);
}

static void check_accepted(const struct pmt_config *c, const char *probe)
{
    CHECK((c->modes & ~0xFu) == 0);
    if (c->modes == 0)
        return; /* PYMEMTRACE unset or empty: nothing else is looked at */
    CHECK(c->d_rss_trigger >= -1);
    CHECK(c->sample_interval_ns >= PMT_SAMPLE_INTERVAL_MIN_NS &&
          c->sample_interval_ns <= PMT_SAMPLE_INTERVAL_MAX_NS);
    CHECK(c->native_stack >= 0 && c->native_stack <= PMT_NATIVE_MAX);
    CHECK(c->gc_collect_on_exit >= -1 && c->gc_collect_on_exit <= 2);
    CHECK(c->rss_source >= PMT_RSS_AUTO && c->rss_source <= PMT_RSS_CHECK);
    CHECK(c->quiet == 0 || c->quiet == 1);
    CHECK(c->children == 0 || c->children == 1);
    CHECK(c->include_builtins == 0 || c->include_builtins == 1);
    CHECK(c->check == 0 || c->check == 1);
    if (c->function)
        check_function(c->function, probe);
    int w = rt_type_wanted(probe, probe[0] & 1, 0, c->include_builtins, c->include_types,
                           c->exclude_types);
    CHECK(w == 0 || w == 1);
    if (c->include_types)
        CHECK(rt_name_listed(c->include_types, probe) <= 1);
    if (c->log_file) {
        char name[4096];
        size_t n = fmt_log_pattern(name, sizeof name, c->log_file, 4242, 'P', 7);
        CHECK(n < sizeof name && (n == 0 || strlen(name) == n));
    }
}

static void check_zeroed(const struct pmt_config *c)
{
    static const struct pmt_config zero;
    CHECK(memcmp(c, &zero, sizeof zero) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *envp[MAX_ENTRIES + 1];
    int n = 0;
    for (char *line = text; line && n < MAX_ENTRIES;) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        if (nl)
            *nl = '\0';
        if (strlen(line) == (size_t)((nl ? nl : text + size) - line)) /* no NUL inside */
            envp[n++] = line;
        line = nl ? nl + 1 : NULL;
    }
    envp[n] = NULL;
    /* A name for the matchers: the last entry's value, or nothing. */
    const char *probe = n > 0 && strchr(envp[n - 1], '=') ? strchr(envp[n - 1], '=') + 1 : "";

    struct pmt_config cfg;
    char err[PMT_CFG_ERRLEN];
    memset(err, 'x', sizeof err);
    int rc = cfg_parse(envp, &cfg, err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0)
        check_accepted(&cfg, probe);
    else
        check_refusal(err);
    cfg_free(&cfg);
    check_zeroed(&cfg);
    for (int i = 0; i < n; i++)
        (void)fs_check_item(envp[i], strcspn(envp[i], ",")); /* one entry: no comma */
    free(text);
    return 0;
}
