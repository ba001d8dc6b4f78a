/* forward: where an interposed function forwards to, found without the
 * dynamic loader's help.
 *
 * Why not dlsym(RTLD_NEXT, name): the agent's free and realloc are called
 * from inside glibc itself, and from inside libdl in particular. glibc 2.34+
 * keeps each thread's dlerror state in one heap object (a struct
 * dl_action_result behind the TLS variable __libc_dlerror_result), and
 * dlerror() builds its message with asprintf, which calls realloc. When that
 * realloc was the agent's first, resolving it with dlsym ran a nested
 * _dlerror_run, which found the state without an error and freed it, while
 * the outer dlerror() went on writing into it: a use after free in the
 * chunk's free-list links, which surfaced much later as "free(): too many
 * chunks detected in tcache" or a segmentation fault in the program's own
 * malloc (CPython's test_threading under every mode; a plain `python -c pass`
 * with glibc.malloc.tcache_count=0). Any lazy dlsym inside a forwarder has
 * that hazard, so none is left: fw_next reads the loaded objects' symbol
 * tables itself, which calls nothing, allocates nothing and takes no lock,
 * and is therefore safe from any context, including before the agent's
 * constructor and inside the dynamic loader. */
#ifndef PMT_FORWARD_H
#define PMT_FORWARD_H

/* Code that may run before anyone's initialisation (a forwarder called from
 * another library's constructor or from inside the dynamic loader, the
 * dlsym trampoline's slow path called by a sanitizer's own start-up) is
 * never instrumented by a sanitizer build: its runtime may not be ready. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define PMT_EARLY __attribute__((no_sanitize("address", "undefined")))
#endif
#endif
#ifndef PMT_EARLY
#define PMT_EARLY
#endif

/* The definition of `name` that the first object after the agent in the
 * process's global search order exports (the default version of a
 * versioned symbol, as dlsym(RTLD_NEXT, name) would return; an IFUNC is
 * resolved on x86-64), or NULL. */
PMT_EARLY void *fw_next(const char *name);

/* The same search from the object that contains `self_dynamic` (its
 * _DYNAMIC): for tests, which link the code into an executable. */
PMT_EARLY void *fw_next_after(const void *self_dynamic, const char *name);

#endif
