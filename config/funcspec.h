/* funcspec: PYMEMTRACE_FUNCTION's entries and whether a code object is one
 * of them. Pure string logic, decided once per code object by the agent
 * (agent/function.c), which supplies the names Python knows.
 *
 * Forms of an entry:
 *   name                  a function of that name (co_name) in any module;
 *                         with dots (Class.method) the qualified name instead
 *   module:qualname       globals' __name__ equal to module ("pkg.mod")
 *   path.py:qualname      co_filename ending with the path at a path
 *                         component boundary ("src/app.py" matches
 *                         "/home/u/src/app.py", not "/home/u/xsrc/app.py");
 *                         the part before ':' is a path when it contains a
 *                         '/' or ends in ".py" */
#ifndef PMT_FUNCSPEC_H
#define PMT_FUNCSPEC_H

#include <stddef.h>

#define FS_MAX_ENTRIES 32

enum fs_kind { FS_ANY, FS_MODULE, FS_FILE };

struct fs_entry {
    enum fs_kind kind;
    const char *where;    /* module or path (not NUL-terminated), kind != FS_ANY */
    size_t where_len;
    const char *qualname; /* not NUL-terminated */
    size_t qualname_len;
    const char *name;     /* the qualified name's last component, inside qualname */
    size_t name_len;
    int dotted;           /* qualname has a '.': compared in full */
};

struct fs_spec {
    struct fs_entry entries[FS_MAX_ENTRIES];
    int n;
};

/* Checks one entry (no ',' in it). Returns NULL, or why it is not valid. */
const char *fs_check_item(const char *item, size_t len);

/* Splits a value that fs_check_item accepted item by item; the entries
 * point into value, which must outlive spec. Returns 0, or -1 (too many). */
int fs_parse(const char *value, struct fs_spec *spec);

/* What the agent must find out about a code object named co_name before
 * fs_match can decide: FS_NEED_* bits; 0 with no candidate entry means
 * it never matches. */
enum { FS_CANDIDATE = 1, FS_NEED_QUALNAME = 2, FS_NEED_MODULE = 4 };
unsigned fs_needs(const struct fs_spec *spec, const char *co_name);

/* 1 if a code object matches an entry. qualname and module may be NULL when
 * unknown (fs_needs did not ask for them, or Python could not say): entries
 * that need them then do not match. */
int fs_match(const struct fs_spec *spec, const char *co_name, const char *qualname,
             const char *module, const char *filename);

/* 1 if path ends with suffix at a component boundary (a leading "./" of
 * suffix ignored). */
int fs_path_suffix(const char *path, const char *suffix, size_t suffix_len);

#endif
