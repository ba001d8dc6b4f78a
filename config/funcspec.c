/* funcspec: PYMEMTRACE_FUNCTION matching. See funcspec.h. */
#include "config/funcspec.h"

#include <string.h>

static int fs_is_path(const char *s, size_t n)
{
    return memchr(s, '/', n) != NULL || (n > 3 && memcmp(s + n - 3, ".py", 3) == 0);
}

/* A dotted name: non-empty components, no empty one ("a..b", ".a", "a."). */
static const char *fs_check_dotted(const char *s, size_t n, const char *what_empty)
{
    if (n == 0)
        return what_empty;
    if (s[0] == '.' || s[n - 1] == '.')
        return "a name starts or ends with '.'";
    for (size_t i = 1; i < n; i++)
        if (s[i] == '.' && s[i - 1] == '.')
            return "a name has an empty part ('..')";
    return NULL;
}

const char *fs_check_item(const char *item, size_t len)
{
    const char *colon = memchr(item, ':', len);
    if (!colon)
        return fs_check_dotted(item, len, "empty item");
    size_t wlen = (size_t)(colon - item), qlen = len - wlen - 1;
    if (memchr(colon + 1, ':', qlen))
        return "more than one ':'";
    if (wlen == 0)
        return "nothing before ':'";
    const char *why = fs_check_dotted(colon + 1, qlen, "nothing after ':'");
    if (why)
        return why;
    if (!fs_is_path(item, wlen))
        return fs_check_dotted(item, wlen, "nothing before ':'");
    return NULL;
}

int fs_parse(const char *value, struct fs_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, ",");
        if (spec->n == FS_MAX_ENTRIES)
            return -1;
        struct fs_entry *e = &spec->entries[spec->n++];
        const char *colon = memchr(p, ':', n);
        e->qualname = colon ? colon + 1 : p;
        e->qualname_len = colon ? n - (size_t)(colon - p) - 1 : n;
        if (colon) {
            e->where = p;
            e->where_len = (size_t)(colon - p);
            e->kind = fs_is_path(p, e->where_len) ? FS_FILE : FS_MODULE;
            if (e->kind == FS_FILE && e->where_len > 2 && !memcmp(p, "./", 2)) {
                e->where += 2;
                e->where_len -= 2;
            }
        }
        const char *last = e->qualname;
        for (size_t i = 0; i < e->qualname_len; i++)
            if (e->qualname[i] == '.')
                last = e->qualname + i + 1;
        e->name = last;
        e->name_len = e->qualname_len - (size_t)(last - e->qualname);
        e->dotted = last != e->qualname;
        p += n + (p[n] == ',');
    }
    return 0;
}

static int fs_eq(const char *s, const char *t, size_t tlen)
{
    return s && strlen(s) == tlen && memcmp(s, t, tlen) == 0;
}

unsigned fs_needs(const struct fs_spec *spec, const char *co_name)
{
    unsigned need = 0;
    for (int i = 0; i < spec->n; i++) {
        const struct fs_entry *e = &spec->entries[i];
        if (!fs_eq(co_name, e->name, e->name_len))
            continue;
        need |= FS_CANDIDATE;
        if (e->dotted || e->kind != FS_ANY)
            need |= FS_NEED_QUALNAME;
        if (e->kind == FS_MODULE)
            need |= FS_NEED_MODULE;
    }
    return need;
}

int fs_path_suffix(const char *path, const char *suffix, size_t suffix_len)
{
    if (suffix_len > 2 && !memcmp(suffix, "./", 2)) {
        suffix += 2;
        suffix_len -= 2;
    }
    size_t n = path ? strlen(path) : 0;
    if (suffix_len == 0 || n < suffix_len || memcmp(path + n - suffix_len, suffix, suffix_len))
        return 0;
    return n == suffix_len || suffix[0] == '/' || path[n - suffix_len - 1] == '/';
}

int fs_match(const struct fs_spec *spec, const char *co_name, const char *qualname,
             const char *module, const char *filename)
{
    for (int i = 0; i < spec->n; i++) {
        const struct fs_entry *e = &spec->entries[i];
        if (!fs_eq(co_name, e->name, e->name_len))
            continue;
        /* A qualified name is compared whenever the entry gives one in
         * full (dotted) or pins a place: a bare name after "mod:" is a
         * module-level function, not a method of the same name. */
        if ((e->dotted || e->kind != FS_ANY) && !fs_eq(qualname, e->qualname, e->qualname_len))
            continue;
        if (e->kind == FS_MODULE && !fs_eq(module, e->where, e->where_len))
            continue;
        if (e->kind == FS_FILE && !fs_path_suffix(filename, e->where, e->where_len))
            continue;
        return 1;
    }
    return 0;
}
