/* audit: see audit.h. */
#include "shim/audit.h"

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

long shim_audit_changed_word(const unsigned char *before_zero, const void *const *after,
                             size_t nwords)
{
    long found = -1;
    for (size_t i = 0; i < nwords; i++) {
        if (!(before_zero[i / 8] & (1u << (i % 8))) || !after[i])
            continue;
        if (found >= 0)
            return -1; /* two words changed: not told apart */
        found = (long)i;
    }
    return found;
}

/* Reads n bytes at p without faulting on an address that is not mapped. */
static int au_read(const void *p, void *out, size_t n)
{
    struct iovec local = {out, n}, remote = {(void *)p, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

int shim_audit_add(const struct pmt_shim *py, pmt_lookup lookup, void *handle, pmt_audithook hook,
                   void *data, struct pmt_audit_slot *slot)
{
    memset(slot, 0, sizeof *slot);
    void **runtime = lookup(handle, "_PyRuntime");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    size_t nwords = 0;
    if (runtime && dladdr1(runtime, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
        (void *)info.dli_saddr == (void *)runtime)
        nwords = sym->st_size / sizeof(void *);
    dlerror(); /* a failed lookup leaves no error for the program */
    unsigned char *zero = NULL;
    size_t bytes = (nwords + 7) / 8;
    if (nwords) {
        zero = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (zero == MAP_FAILED)
            zero = NULL;
    }
    int initialized = py->api.Py_IsInitialized();
    for (size_t i = 0; zero && i < nwords; i++)
        if (!runtime[i])
            zero[i / 8] |= (unsigned char)(1u << (i % 8));
    int rc = py->api.PySys_AddAuditHook(hook, data);
    if (zero) {
        long w = rc == 0 ? shim_audit_changed_word(zero, (const void *const *)runtime, nwords) : -1;
        munmap(zero, bytes);
        void *entry[3];
        /* Before initialisation nothing else runs: the one word that changed
         * is the head and points at our entry. After it, other threads may
         * change words too, so the entry is read with a call that cannot
         * fault before it is believed. */
        if (w >= 0 && (initialized ? au_read(runtime[w], entry, sizeof entry) == 0
                                   : (memcpy(entry, runtime[w], sizeof entry), 1)) &&
            entry[1] == (void *)hook && entry[2] == data) {
            slot->head = &runtime[w];
            slot->entry = runtime[w];
        }
    }
    slot->in = rc == 0;
    return rc;
}

int shim_audit_remove(struct pmt_audit_slot *slot)
{
    if (!slot->in || !slot->head)
        return -1;
    void *volatile *head = (void *volatile *)slot->head;
    if (*head != slot->entry)
        return -1;
    *head = ((void **)slot->entry)[0]; /* the hooks added after ours stay */
    slot->in = 0;
    return 0;
}
