/* sites: see sites.h. */
#include "agent/sites.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "agent/agent.h"
#include "agent/logfmt.h"
#include "agent/rss.h"

#define SITE_CHUNK 1024 /* sites (48 bytes each) */

/* Sites live in chunks that never move (events point at them); the hash
 * table of pointers is rebuilt larger when half full. Memory comes from mmap
 * so that no hook ever calls malloc. */
static struct pmt_site *site_chunk;
static size_t site_chunk_used = SITE_CHUNK;
static struct pmt_site **site_table;
static size_t site_mask; /* table size - 1 */
static size_t site_count;
const struct pmt_site *pmt_site_last;

static void *site_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int site_new_chunk(void)
{
    struct pmt_site *c = site_map(SITE_CHUNK * sizeof *c);
    if (!c)
        return -1;
    site_chunk = c;
    site_chunk_used = 0;
    return 0;
}

static size_t site_hash(const void *code)
{
    uintptr_t x = (uintptr_t)code >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17);
}

static int site_grow(void)
{
    size_t size = site_table ? (site_mask + 1) * 2 : 4096;
    struct pmt_site **t = site_map(size * sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; site_table && i <= site_mask; i++) {
        if (!site_table[i])
            continue;
        size_t j = site_hash(site_table[i]->code) & (size - 1);
        while (t[j])
            j = (j + 1) & (size - 1);
        t[j] = site_table[i];
    }
    if (site_table)
        munmap(site_table, (site_mask + 1) * sizeof *site_table);
    site_table = t;
    site_mask = size - 1;
    return 0;
}

/* Escaped names (logfmt.h) are kept here, in chunks that are never freed:
 * names that need it are rare (a program's own renamed code objects, files
 * compiled under odd names). */
#define SITE_TEXT_CHUNK (64u << 10)
static char *site_text;
static size_t site_text_used = SITE_TEXT_CHUNK;

static const char *site_escaped(const char *u)
{
    size_t n = strnlen(u, PMT_FIELD_MAX);
    if (!fmt_needs_escape(u, n))
        return u;
    if (SITE_TEXT_CHUNK - site_text_used < PMT_FIELD_MAX) {
        char *c = site_map(SITE_TEXT_CHUNK);
        if (!c)
            return "?";
        site_text = c;
        site_text_used = 0;
    }
    char *out = site_text + site_text_used;
    size_t e = fmt_escape(out, PMT_FIELD_MAX - 1, u, n);
    out[e] = '\0';
    site_text_used += e + 1;
    return out;
}

static const char *site_utf8(pmt_obj *s)
{
    const char *u = s ? pmt.py.api.PyUnicode_AsUTF8(s) : NULL;
    if (!u)
        pmt.py.api.PyErr_Clear();
    return u ? site_escaped(u) : "?";
}

static const struct pmt_site *site_add(pmt_obj *code)
{
    if ((site_count + 1) * 2 > site_mask + 1 && site_grow() != 0)
        return NULL;
    if (site_chunk_used == SITE_CHUNK && site_new_chunk() != 0)
        return NULL;
    struct pmt_site *s = &site_chunk[site_chunk_used++];
    /* Resolving may set an exception (a filename that is not valid UTF-8);
     * keep the traced program's own pending exception untouched. */
    pmt_obj *et, *ev, *etb;
    pmt.py.api.PyErr_Fetch(&et, &ev, &etb);
    pmt.py.api.Py_IncRef(code);
    s->code = code;
    s->file = site_utf8(shim_code_filename(&pmt.py, code));
    s->func = site_utf8(shim_code_name(&pmt.py, code));
    s->file_len = strlen(s->file);
    s->func_len = strlen(s->func);
    s->match = -1; /* decided by agent/function.c when it first evaluates the code */
    pmt.py.api.PyErr_Restore(et, ev, etb);
    size_t i = site_hash(code) & site_mask;
    while (site_table[i])
        i = (i + 1) & site_mask;
    site_table[i] = s;
    site_count++;
    return s;
}

const struct pmt_site *pmt_site_lookup(pmt_obj *code)
{
    if (pmt_site_last && pmt_site_last->code == code)
        return pmt_site_last;
    if (site_table) {
        for (size_t i = site_hash(code) & site_mask; site_table[i]; i = (i + 1) & site_mask)
            if (site_table[i]->code == code)
                return pmt_site_last = site_table[i];
    }
    const struct pmt_site *s = site_add(code);
    if (s)
        pmt_site_last = s;
    return s;
}

/* Line numbers, cached by (code object, instruction offset). 3.12+ (and
 * 3.8/3.9) walk the line table on each PyCode_Addr2Line call, O(offset), so
 * a long function's lines cost microseconds each (CPYTHON-NOTES §4); logged
 * lines repeat (loops), so a direct-mapped cache answers most of them. Code
 * objects in sites are never freed, so a (code, offset) key never goes stale. */
#define LINE_CACHE 4096

static struct {
    const void *code;
    int lasti;
    int line;
} st_lines[LINE_CACHE];

void pmt_sites_prepare(void)
{
    if (!site_table && site_grow() == 0)
        rss_touch(site_table, (site_mask + 1) * sizeof *site_table);
    if (site_chunk_used == SITE_CHUNK && site_new_chunk() == 0)
        rss_touch(site_chunk, SITE_CHUNK * sizeof *site_chunk);
    rss_touch(st_lines, sizeof st_lines);
}

int pmt_site_line(const struct pmt_site *site, int lasti)
{
    if (PMT_LASTI_IS_LINE(lasti))
        return PMT_LINE_OF_LASTI(lasti);
    size_t i = (site_hash(site->code) ^ (size_t)lasti * 0x9E37u) & (LINE_CACHE - 1);
    if (st_lines[i].code == site->code && st_lines[i].lasti == lasti)
        return st_lines[i].line;
    int line = pmt.py.api.PyCode_Addr2Line((pmt_obj *)site->code, lasti);
    /* An instruction without a line of its own (3.12's implicit return
     * at the end of a generator expression): the line of the one before,
     * as the frame's line number says there. */
    for (int back = lasti - 2; line < 0 && back >= 0 && back >= lasti - 64; back -= 2)
        line = pmt.py.api.PyCode_Addr2Line((pmt_obj *)site->code, back);
    st_lines[i].code = site->code;
    st_lines[i].lasti = lasti;
    st_lines[i].line = line;
    return line;
}
