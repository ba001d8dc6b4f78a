/* A malloc of "another allocator" for the RSS fallback test: preloaded next
 * to the agent, it owns malloc/free/calloc/realloc (forwarding to glibc's
 * implementation underneath), so the agent must not read glibc's chunk
 * headers and must fall back to reading statm at every event. */
#include <stddef.h>

void *__libc_malloc(size_t n);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t k);
void *__libc_realloc(void *p, size_t n);

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    return __libc_malloc(n);
}

__attribute__((visibility("default"))) void free(void *p)
{
    __libc_free(p);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t k)
{
    return __libc_calloc(n, k);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
    return __libc_realloc(p, n);
}
