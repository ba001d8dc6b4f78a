/* audit: the agent's C audit hook, which can be taken out again.
 *
 * The agent needs an audit hook only to find the moment user code starts
 * (CPYTHON-NOTES §2). CPython has no call that removes one, and while any
 * hook exists every audited operation builds its argument tuple (f.__code__,
 * id(), open(), ...: 2-4.6 times slower, and objects the program never
 * made). The runtime keeps its C hooks in a list whose head is a word of
 * _PyRuntime; every version from 3.8 to 3.15 links entries of the same shape
 * {next, function, data}. Adding the hook while watching _PyRuntime finds
 * that word: the one that goes from NULL to the new entry. Unlinking the
 * entry from it takes the hook out; the entry itself is never freed (an
 * audit call running the list may still be on it). */
#ifndef PMT_SHIM_AUDIT_H
#define PMT_SHIM_AUDIT_H

#include "shim/shim.h"

struct pmt_audit_slot {
    void **head;   /* the runtime's list head, NULL if not found */
    void *entry;   /* our entry, as linked */
    int in;        /* the hook is in the list */
};

/* Adds hook with data through py's PySys_AddAuditHook, watching _PyRuntime
 * (found through lookup(handle, ...)) to learn where the list head is.
 * Returns PySys_AddAuditHook's result. Without the head (another C hook was
 * there first, no _PyRuntime symbol, a change it cannot tell apart) the
 * hook works as usual but cannot be taken out. */
int shim_audit_add(const struct pmt_shim *py, pmt_lookup lookup, void *handle, pmt_audithook hook,
                   void *data, struct pmt_audit_slot *slot);

/* Takes the hook out of the list (the GIL held). Returns 0, or -1 when it
 * cannot be (head unknown, or the list is no longer as it was). */
int shim_audit_remove(struct pmt_audit_slot *slot);

/* The search itself, on a copy of memory: the index of the one word of
 * after[] that is 0 in before_zero's bit and not 0 now, or -1 when there is
 * not exactly one. Exposed for tests. */
long shim_audit_changed_word(const unsigned char *before_zero, const void *const *after,
                             size_t nwords);

#endif
