/* typefilter: which types reference tracing logs. See typefilter.h. */
#include "config/typefilter.h"

#include <string.h>

int rt_name_listed(const char *names, const char *tp_name)
{
    if (!names || !tp_name)
        return 0;
    const char *dot = strrchr(tp_name, '.');
    const char *shortname = dot ? dot + 1 : tp_name;
    size_t full_len = strlen(tp_name), short_len = strlen(shortname);
    for (const char *p = names; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == full_len && memcmp(p, tp_name, n) == 0) ||
            (n == short_len && memcmp(p, shortname, n) == 0))
            return 1;
        p += n + (end != NULL);
    }
    return 0;
}

int rt_type_wanted(const char *tp_name, int builtin, int never, int include_builtins,
                   const char *include, const char *exclude)
{
    if (never || rt_name_listed(exclude, tp_name))
        return 0;
    if (include) /* a type named in the list is logged, builtin or not */
        return rt_name_listed(include, tp_name);
    return !builtin || include_builtins;
}
