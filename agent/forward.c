/* forward: see forward.h.
 *
 * The global search order of a process's startup objects is the order of
 * the dynamic loader's link map chain (the executable, the preloads, then
 * the needed libraries breadth first), which _r_debug publishes for
 * debuggers. RTLD_NEXT from the agent is the first object after it there
 * that defines the name. Each object's dynamic section gives its symbol
 * table, string table, hash table (GNU or SysV) and version table. */
#include "agent/forward.h"

#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

struct fw_tables {
    const ElfW(Sym) *sym;
    const char *str;
    const uint32_t *gnu_hash;
    const uint32_t *sysv_hash;
    const ElfW(Half) *versym;
};

/* glibc rewrites the d_ptr entries of a writable dynamic section to run-time
 * addresses and leaves read-only ones (the vDSO's, some architectures') as
 * link-time offsets. */
PMT_EARLY static const void *fw_addr(const struct link_map *m, ElfW(Addr) v)
{
    return (const void *)(v < m->l_addr ? m->l_addr + v : v);
}

/* Own loops instead of memset and strcmp: a sanitizer's runtime, which may
 * not be ready yet (PMT_EARLY), intercepts those. */
PMT_EARLY static int fw_streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

PMT_EARLY static int fw_tables_of(const struct link_map *m, struct fw_tables *t)
{
    *t = (struct fw_tables){0};
    for (const ElfW(Dyn) *d = m->l_ld; d && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: t->sym = fw_addr(m, d->d_un.d_ptr); break;
        case DT_STRTAB: t->str = fw_addr(m, d->d_un.d_ptr); break;
        case DT_GNU_HASH: t->gnu_hash = fw_addr(m, d->d_un.d_ptr); break;
        case DT_HASH: t->sysv_hash = fw_addr(m, d->d_un.d_ptr); break;
        case DT_VERSYM: t->versym = fw_addr(m, d->d_un.d_ptr); break;
        default: break;
        }
    }
    return t->sym && t->str && (t->gnu_hash || t->sysv_hash) ? 0 : -1;
}

/* A definition dlsym would take: defined, exported, and not a hidden
 * (non-default) version such as pthread_create@GLIBC_2.2.5. */
PMT_EARLY static int fw_usable(const struct fw_tables *t, uint32_t i, const char *name)
{
    const ElfW(Sym) *s = &t->sym[i];
    int bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || type == STT_TLS || s->st_value == 0)
        return 0;
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
        return 0;
    if (t->versym && (t->versym[i] & 0x8000))
        return 0;
    return fw_streq(t->str + s->st_name, name);
}

PMT_EARLY static uint32_t fw_gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

PMT_EARLY static uint32_t fw_sysv_hash(const char *s)
{
    uint32_t h = 0;
    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        uint32_t g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

/* Index of name's usable symbol in one object, or 0 (index 0 is never a
 * definition). */
PMT_EARLY static uint32_t fw_find(const struct fw_tables *t, const char *name)
{
    if (t->gnu_hash) {
        /* nbuckets, symoffset, bloom words, bloom shift, bloom, buckets, chains */
        const uint32_t *g = t->gnu_hash;
        uint32_t nbuckets = g[0], symoffset = g[1], nbloom = g[2];
        if (nbuckets == 0)
            return 0;
        const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(g + 4) + nbloom);
        const uint32_t *chain = buckets + nbuckets;
        uint32_t h = fw_gnu_hash(name);
        for (uint32_t i = buckets[h % nbuckets]; i >= symoffset && i != 0; i++) {
            uint32_t c = chain[i - symoffset];
            if ((c | 1u) == (h | 1u) && fw_usable(t, i, name))
                return i;
            if (c & 1u)
                break;
        }
        return 0;
    }
    const uint32_t *s = t->sysv_hash;
    uint32_t nbucket = s[0], nchain = s[1];
    if (nbucket == 0)
        return 0;
    const uint32_t *bucket = s + 2, *chain = bucket + nbucket;
    for (uint32_t i = bucket[fw_sysv_hash(name) % nbucket]; i != 0 && i < nchain; i = chain[i])
        if (fw_usable(t, i, name))
            return i;
    return 0;
}

PMT_EARLY static void *fw_value(const struct link_map *m, const ElfW(Sym) *s)
{
    void *p = (void *)(m->l_addr + s->st_value);
    if (ELF64_ST_TYPE(s->st_info) != STT_GNU_IFUNC)
        return p;
#if defined(__x86_64__)
    /* glibc calls x86-64 resolvers with no arguments; they read the CPU
     * features the loader found long before any agent code runs. */
    return ((void *(*)(void))p)();
#else
    return NULL; /* resolvers take arguments elsewhere: left to the caller */
#endif
}

PMT_EARLY void *fw_next_after(const void *self_dynamic, const char *name)
{
    const struct link_map *m = _r_debug.r_map;
    while (m && (const void *)m->l_ld != self_dynamic)
        m = m->l_next;
    if (!m)
        return NULL; /* not in the base namespace's chain */
    for (m = m->l_next; m; m = m->l_next) {
        struct fw_tables t;
        if (fw_tables_of(m, &t) != 0)
            continue;
        uint32_t i = fw_find(&t, name);
        if (i)
            return fw_value(m, &t.sym[i]);
    }
    return NULL;
}

PMT_EARLY void *fw_next(const char *name)
{
    return fw_next_after(_DYNAMIC, name);
}
