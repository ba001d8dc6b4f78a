/* forward: the next definition of a name, read from the loaded objects'
 * symbol tables, is the one dlsym(RTLD_NEXT, name) gives. The unit tests
 * link the code into this executable, so "next" is every object after it. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <link.h>

#include "agent/forward.h"

extern ElfW(Dyn) _DYNAMIC[];

static void same_as_dlsym(const char *name)
{
    void *want = dlsym(RTLD_NEXT, name);
    void *got = fw_next_after(_DYNAMIC, name);
    cr_assert(want != NULL, "dlsym(RTLD_NEXT, \"%s\") found nothing", name);
    Dl_info a = {0}, b = {0};
    dladdr(want, &a);
    dladdr(got, &b);
    cr_assert(got == want, "%s: forward found %p (%s %s), dlsym %p (%s %s)", name, got,
              b.dli_fname ? b.dli_fname : "?", b.dli_sname ? b.dli_sname : "?", want,
              a.dli_fname ? a.dli_fname : "?", a.dli_sname ? a.dli_sname : "?");
}

/* Every name the agent forwards. */
Test(forward, the_agents_names_as_dlsym_finds_them)
{
    static const char *const names[] = {
        "free",     "realloc",  "munmap",   "madvise",   "posix_madvise", "mmap",
        "mmap64",   "mremap",   "mlock",    "mlockall",  "malloc_trim",   "shmdt",
        "pthread_create", "pthread_exit", "setuid", "setgid", "seteuid", "setegid",
        "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "initgroups",
        "_exit",    "dlsym",    "malloc",   "calloc",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        same_as_dlsym(names[i]);
}

/* memcpy has a hidden compat version (memcpy@GLIBC_2.2.5, which is
 * memmove) beside the default one (memcpy@@GLIBC_2.14), at another address:
 * the default is the one taken, never the hidden one. */
Test(forward, the_default_version_not_a_hidden_one)
{
    void *compat = dlvsym(RTLD_NEXT, "memcpy", "GLIBC_2.2.5");
    void *def = dlvsym(RTLD_NEXT, "memcpy", "GLIBC_2.14");
    if (!compat || !def || compat == def)
        cr_skip_test("this glibc has no distinct hidden memcpy@GLIBC_2.2.5");
    cr_assert_neq(fw_next_after(_DYNAMIC, "memcpy"), compat);
    same_as_dlsym("memcpy");
}

/* memcpy and strlen are IFUNCs in glibc: the resolver's choice is returned,
 * the same one dlsym returns. */
Test(forward, an_ifunc_is_resolved)
{
    same_as_dlsym("memcpy");
    same_as_dlsym("strlen");
}

Test(forward, absent_names)
{
    cr_assert_null(fw_next_after(_DYNAMIC, "pmt_no_such_function_anywhere"));
    cr_assert_null(fw_next_after(_DYNAMIC, ""));
    /* defined in this executable only, which is not after itself */
    cr_assert_null(fw_next_after(_DYNAMIC, "fw_next_after"));
}

/* An object that is not in the chain finds nothing rather than guessing. */
Test(forward, an_unknown_object)
{
    static ElfW(Dyn) not_loaded[1];
    cr_assert_null(fw_next_after(not_loaded, "free"));
}
