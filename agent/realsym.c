/* realsym: see realsym.h. */
#include "agent/realsym.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <string.h>

__attribute__((visibility("hidden"))) void *pmt_real_dlsym;
__attribute__((visibility("hidden"))) void *pmt_real_dlopen;

/* libc's definition of a name the agent replaces, by its symbol tables,
 * else by the versions glibc has given it. Not dlsym(RTLD_NEXT, name) for
 * dlsym itself: that call would come back to the agent's own. */
PMT_EARLY static void *rs_libc_next(const char *name)
{
    void *p = fw_next(name);
    if (!p)
        p = dlvsym(RTLD_NEXT, name, "GLIBC_2.34");
    if (!p)
        p = dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5");
    return p;
}

PMT_EARLY void pmt_resolve_dlsym(void)
{
    if (!pmt_real_dlsym)
        pmt_real_dlsym = rs_libc_next("dlsym");
}

PMT_EARLY void pmt_resolve_dlopen(void)
{
    if (!pmt_real_dlopen)
        pmt_real_dlopen = rs_libc_next("dlopen");
}

PMT_EARLY void *pmt_dlsym(void *handle, const char *name)
{
    if (!pmt_real_dlsym)
        return NULL;
    return ((void *(*)(void *, const char *))pmt_real_dlsym)(handle, name);
}

void *pmt_real_symbol(const char *name, void *caller)
{
    pmt_resolve_dlsym();
    if (!pmt_real_dlsym)
        return NULL;
    void *p = pmt_dlsym(RTLD_NEXT, name);
    Dl_info info;
    if (!p && caller && dladdr(caller, &info) && info.dli_fname) {
        /* A libpython loaded RTLD_LOCAL (an embedding host) is not after us
         * in the global scope; its own handle finds it. */
        void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            p = pmt_dlsym(h, name);
            dlclose(h);
        }
    }
    dlerror();
    return p;
}

/* dl_iterate_phdr: 1 when an object loaded before the agent (the
 * executable excepted: its imports show as PLT stubs) defines name other
 * than as libc does. Preloads ahead of the agent are such objects. */
struct rs_scan {
    const char *name;
    void *libc_def;
    const char *self; /* the agent's path: the scan stops there */
    int other;
    int index;
};

static int rs_scan_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct rs_scan *scan = data;
    if (scan->index++ == 0 || !info->dlpi_name || !*info->dlpi_name)
        return 0; /* the executable (or vDSO) */
    if (strcmp(info->dlpi_name, scan->self) == 0)
        return 1;
    void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    void *def = pmt_dlsym(h, scan->name); /* this object or its dependencies */
    if (def && def != scan->libc_def)
        scan->other = 1;
    dlclose(h);
    return scan->other;
}

/* Whether the name everyone's calls reach is libc's definition. */
static int rs_is_libc(void *libc, const char *name, int interposed_here)
{
    void *libc_def = pmt_dlsym(libc, name);
    if (interposed_here) /* free, realloc: ours forwards to the next one */
        return pmt_dlsym(RTLD_NEXT, name) == libc_def;
    void *def = pmt_dlsym(RTLD_DEFAULT, name);
    if (def == libc_def)
        return 1;
    /* A non-PIE executable's import appears as its PLT stub: an undefined
     * symbol with a value. The definition is then the first one in the
     * global scope: a preload before the agent, or what follows it. */
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!def || !dladdr1(def, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
        sym->st_shndx != SHN_UNDEF)
        return 0;
    Dl_info self;
    if (!dladdr((void *)rs_is_libc, &self) || !self.dli_fname)
        return 0;
    struct rs_scan scan = {name, libc_def, self.dli_fname, 0, 0};
    dl_iterate_phdr(rs_scan_one, &scan);
    return !scan.other && pmt_dlsym(RTLD_NEXT, name) == libc_def;
}

int pmt_glibc_malloc(void)
{
    pmt_resolve_dlsym();
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!libc)
        return 0;
    int same = rs_is_libc(libc, "malloc", 0) && rs_is_libc(libc, "calloc", 0) &&
               rs_is_libc(libc, "free", 1) && rs_is_libc(libc, "realloc", 1);
    dlclose(libc);
    return same;
}

int pmt_sigaction_next(int sig, const struct sigaction *act, struct sigaction *old)
{
    static int (*next)(int, const struct sigaction *, struct sigaction *);
    if (!next)
        next = (int (*)(int, const struct sigaction *, struct sigaction *))rs_libc_next("sigaction");
    if (next)
        return next(sig, act, old);
    errno = ENOSYS;
    return -1;
}
