/* native: native stacks with libunwind. See native.h. */
#include "agent/native.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static int (*nat_backtrace)(void **buffer, int size);
static void *nat_self_base; /* the agent's own load address */

int native_open(char *why, size_t whylen)
{
    if (nat_backtrace)
        return 0;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    void *fn = h ? dlsym(h, "unw_backtrace") : NULL;
    Dl_info self;
    if (!fn) {
        snprintf(why, whylen, "libunwind (libunwind.so.8) is not available here");
        return -1;
    }
    if (dladdr((void *)native_open, &self))
        nat_self_base = self.dli_fbase;
    memcpy(&nat_backtrace, &fn, sizeof fn);
    return 0;
}

static const char *nat_basename(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

int native_capture(struct pmt_native_frame *frames, int max)
{
    void *pcs[PMT_NATIVE_MAX + 32];
    if (!nat_backtrace || max <= 0)
        return 0;
    if (max > PMT_NATIVE_MAX)
        max = PMT_NATIVE_MAX;
    int n = nat_backtrace(pcs, max + 32);
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        Dl_info info;
        /* A return address: the call is the byte before it. */
        uintptr_t pc = (uintptr_t)pcs[i];
        int known = pc && dladdr((void *)(pc - 1), &info);
        if (known && info.dli_fbase == nat_self_base)
            continue; /* the agent's own frames */
        struct pmt_native_frame *f = &frames[k++];
        f->pc = pc;
        f->lib = known && info.dli_fname && *info.dli_fname ? nat_basename(info.dli_fname) : NULL;
        f->sym = known ? info.dli_sname : NULL;
        f->off = known && info.dli_saddr ? pc - (uintptr_t)info.dli_saddr : 0;
    }
    return k;
}
