/* "Another allocator" for the fallback tests, preloaded before or after the
 * agent. It owns the whole malloc family (glibc's list of what a
 * replacement malloc must define) and is strict: each block carries a
 * header of its own in front of glibc's, so a block it made that reaches
 * glibc's free (or one of glibc's that reaches its free) is caught at once
 * (abort) instead of corrupting a heap later. The agent must then neither
 * read glibc's chunk headers (it falls back to reading statm at every
 * event) nor ever free the program's allocator's memory with glibc's free. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t n);
void __libc_free(void *p);

#define FM_MAGIC 0x70796d656d6d616cULL /* "pymemmal" */

struct fm_head {
    uint64_t magic;
    void *base;    /* what glibc returned */
    size_t size;   /* what the caller asked for */
    uint64_t pad;  /* keeps the block 16-byte aligned */
};

static void *fm_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    if (n > SIZE_MAX - sizeof(struct fm_head) - align)
        return NULL;
    char *base = __libc_malloc(n + sizeof(struct fm_head) + align);
    if (!base)
        return NULL;
    uintptr_t user = ((uintptr_t)base + sizeof(struct fm_head) + align - 1) & ~(uintptr_t)(align - 1);
    struct fm_head *h = (struct fm_head *)user - 1;
    *h = (struct fm_head){FM_MAGIC, base, n, 0};
    return (void *)user;
}

static struct fm_head *fm_head_of(void *p)
{
    struct fm_head *h = (struct fm_head *)p - 1;
    if (h->magic != FM_MAGIC)
        abort(); /* not this allocator's block */
    return h;
}

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    return fm_alloc(n, 16);
}

__attribute__((visibility("default"))) void free(void *p)
{
    if (!p)
        return;
    struct fm_head *h = fm_head_of(p);
    h->magic = 0;
    __libc_free(h->base);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t k)
{
    if (k && n > SIZE_MAX / k)
        return NULL;
    void *p = fm_alloc(n * k, 16);
    if (p)
        memset(p, 0, n * k);
    return p;
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
    if (!p)
        return fm_alloc(n, 16);
    struct fm_head *h = fm_head_of(p);
    void *q = fm_alloc(n, 16);
    if (!q)
        return NULL;
    memcpy(q, p, h->size < n ? h->size : n);
    free(p);
    return q;
}

__attribute__((visibility("default"))) void *reallocarray(void *p, size_t n, size_t k)
{
    if (k && n > SIZE_MAX / k) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n * k);
}

__attribute__((visibility("default"))) int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = fm_alloc(n, align);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

__attribute__((visibility("default"))) void *aligned_alloc(size_t align, size_t n)
{
    return fm_alloc(n, align);
}

__attribute__((visibility("default"))) void *memalign(size_t align, size_t n)
{
    return fm_alloc(n, align);
}

__attribute__((visibility("default"))) void *valloc(size_t n)
{
    return fm_alloc(n, 4096);
}

__attribute__((visibility("default"))) void *pvalloc(size_t n)
{
    return fm_alloc((n + 4095) & ~(size_t)4095, 4096);
}

__attribute__((visibility("default"))) size_t malloc_usable_size(void *p)
{
    return p ? fm_head_of(p)->size : 0;
}
