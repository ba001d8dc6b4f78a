/* sites: a code object's file and function name, resolved once (escaped as
 * logfmt.h says, where they must be), and the
 * line of (code object, instruction offset), cached.
 *
 * Python-access layer, shared by every mode's hooks and by FUNCTION's
 * scoping. A site keeps a strong reference to its code object, so a line
 * written later (PREV, LAST, a DEL's creation site) still finds its names.
 * No hook ever mallocs: sites and tables come from mmap. GIL held. */
#ifndef PMT_SITES_H
#define PMT_SITES_H

#include "agent/tracelog.h" /* struct pmt_site */
#include "shim/shim.h"

/* The last site found: most events repeat their predecessor's code. */
extern const struct pmt_site *pmt_site_last;

/* The site of code, made on first sight; NULL only when memory ran out. */
const struct pmt_site *pmt_site_lookup(pmt_obj *code);

static inline __attribute__((always_inline)) const struct pmt_site *pmt_site_of(pmt_obj *code)
{
    if (__builtin_expect(pmt_site_last && pmt_site_last->code == code, 1))
        return pmt_site_last;
    return pmt_site_lookup(code);
}

/* The first table and chunk of sites, and the line cache, made resident
 * before the hooks go in (rss_touch): the first thousand code objects and
 * 2048 in the table touch no new page of the agent's. */
void pmt_sites_prepare(void);

/* The line of the instruction at byte offset lasti in site's code (a log's
 * pmt_line_fn). */
int pmt_site_line(const struct pmt_site *site, int lasti);

#endif
