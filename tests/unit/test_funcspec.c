/* Unit tests of config/funcspec.c: PYMEMTRACE_FUNCTION's three forms, the
 * path-suffix rule, what the agent is asked to find out per code object, and
 * the messages for bad entries (through cfg_parse, as a user sees them). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/funcspec.h"

static struct fs_spec spec_of(const char *value)
{
    struct fs_spec s;
    cr_assert_eq(fs_parse(value, &s), 0, "fs_parse(%s)", value);
    return s;
}

static int match(const char *value, const char *co_name, const char *qualname, const char *module,
                 const char *file)
{
    struct fs_spec s = spec_of(value);
    return fs_match(&s, co_name, qualname, module, file);
}

Test(funcspec, parse_forms)
{
    struct fs_spec s = spec_of("process_arguments,pkg.mod:Class.method,src/app.py:f,Cls.g,./a/b.py:h");
    cr_assert_eq(s.n, 5);
    cr_assert_eq(s.entries[0].kind, FS_ANY);
    cr_assert_eq(s.entries[0].dotted, 0);
    cr_assert_eq(s.entries[0].name_len, strlen("process_arguments"));
    cr_assert_eq(s.entries[1].kind, FS_MODULE);
    cr_assert_eq(s.entries[1].where_len, 7);
    cr_assert_eq(strncmp(s.entries[1].where, "pkg.mod", 7), 0);
    cr_assert_eq(s.entries[1].qualname_len, strlen("Class.method"));
    cr_assert_eq(strncmp(s.entries[1].name, "method", 6), 0);
    cr_assert_eq(s.entries[1].dotted, 1);
    cr_assert_eq(s.entries[2].kind, FS_FILE);
    cr_assert_eq(strncmp(s.entries[2].where, "src/app.py", 10), 0);
    cr_assert_eq(s.entries[3].kind, FS_ANY);
    cr_assert_eq(s.entries[3].dotted, 1);
    cr_assert_eq(s.entries[4].kind, FS_FILE);
    cr_assert_eq(s.entries[4].where_len, 6, "a leading ./ is dropped");
    /* "app.py" alone (no '/') is a path: it ends in .py */
    s = spec_of("app.py:main");
    cr_assert_eq(s.entries[0].kind, FS_FILE);
}

Test(funcspec, bare_name)
{
    cr_assert(match("process_arguments", "process_arguments", NULL, NULL, "/x/app.py"));
    cr_assert(match("process_arguments", "process_arguments", "Cls.process_arguments", "m", "/x/y.py"),
              "a bare name matches a method of that name too");
    cr_assert_not(match("process_arguments", "process", NULL, NULL, "/x/app.py"));
    cr_assert_not(match("process_arguments", "process_arguments_2", NULL, NULL, "/x/app.py"));
    cr_assert_not(match("process_arguments", NULL, NULL, NULL, "/x/app.py"));
    /* dotted without ':': the qualified name in any module */
    cr_assert(match("Cls.meth", "meth", "Cls.meth", NULL, "/x/a.py"));
    cr_assert_not(match("Cls.meth", "meth", "Other.meth", NULL, "/x/a.py"));
    cr_assert_not(match("Cls.meth", "meth", NULL, NULL, "/x/a.py"), "qualname unknown: no match");
    cr_assert(match("outer.<locals>.inner", "inner", "outer.<locals>.inner", NULL, "a.py"));
}

Test(funcspec, module_form)
{
    cr_assert(match("pkg.mod:Class.method", "method", "Class.method", "pkg.mod", "/x/pkg/mod.py"));
    cr_assert_not(match("pkg.mod:Class.method", "method", "Class.method", "pkg.mod2", "/x/pkg/mod.py"));
    cr_assert_not(match("pkg.mod:Class.method", "method", "Class.method", "pkg", "/x/pkg/mod.py"));
    cr_assert_not(match("pkg.mod:Class.method", "method", "Other.method", "pkg.mod", "/x/pkg/mod.py"));
    cr_assert_not(match("pkg.mod:Class.method", "method", "Class.method", NULL, "/x/pkg/mod.py"));
    cr_assert(match("__main__:f", "f", "f", "__main__", "/x/app.py"));
    cr_assert_not(match("__main__:f", "f", "C.f", "__main__", "/x/app.py"),
                  "an undotted qualname after mod: is the module-level function only");
    cr_assert(match("mod:f", "f", "f", "mod", "whatever"));
}

Test(funcspec, file_form)
{
    const char *q = "process_arguments";
    cr_assert(match("src/app.py:process_arguments", q, q, "m", "/home/u/src/app.py"));
    cr_assert(match("src/app.py:process_arguments", q, q, "m", "src/app.py"));
    cr_assert_not(match("src/app.py:process_arguments", q, q, "m", "/home/u/xsrc/app.py"),
                  "suffix at a component boundary only");
    cr_assert_not(match("src/app.py:process_arguments", q, q, "m", "/home/u/src/app.pyc"));
    cr_assert_not(match("src/app.py:process_arguments", q, "C.process_arguments", "m", "/h/src/app.py"));
    cr_assert(match("app.py:C.m", "m", "C.m", NULL, "/h/app.py"));
    cr_assert_not(match("app.py:C.m", "m", "C.m", NULL, "/h/myapp.py"));
    cr_assert(match("/h/src/app.py:f", "f", "f", NULL, "/h/src/app.py"));
    cr_assert_not(match("/h/src/app.py:f", "f", "f", NULL, "/g/h/src/app.pyx"));
    cr_assert(match("./src/app.py:f", "f", "f", NULL, "/h/src/app.py"));
    cr_assert_not(match("src/app.py:f", "f", "f", NULL, NULL));
}

Test(funcspec, path_suffix)
{
    cr_assert(fs_path_suffix("/a/b/c.py", "c.py", 4));
    cr_assert(fs_path_suffix("/a/b/c.py", "b/c.py", 6));
    cr_assert(fs_path_suffix("/a/b/c.py", "/a/b/c.py", 9));
    cr_assert(fs_path_suffix("c.py", "c.py", 4));
    cr_assert(fs_path_suffix("/a/b/c.py", "./b/c.py", 8));
    cr_assert_not(fs_path_suffix("/a/bb/c.py", "b/c.py", 6));
    cr_assert_not(fs_path_suffix("/a/b/c.py", "a/b/c.py/", 9));
    cr_assert_not(fs_path_suffix("c.py", "b/c.py", 6));
    cr_assert_not(fs_path_suffix("/a/b/c.py", "", 0));
}

Test(funcspec, list_and_needs)
{
    struct fs_spec s = spec_of("main,pkg.mod:Cls.meth,tools/run.py:Cls.f,meth");
    cr_assert(fs_match(&s, "main", NULL, NULL, "/x.py"));
    cr_assert(fs_match(&s, "f", "Cls.f", NULL, "/r/tools/run.py"));
    cr_assert(fs_match(&s, "meth", "Other.meth", "elsewhere", "/y.py"), "the bare entry 'meth'");
    cr_assert_not(fs_match(&s, "f", "Cls.f", NULL, "/r/tools/walk.py"));
    cr_assert_eq(fs_needs(&s, "main"), FS_CANDIDATE, "a bare name needs nothing more");
    cr_assert_eq(fs_needs(&s, "meth"), FS_CANDIDATE | FS_NEED_QUALNAME | FS_NEED_MODULE);
    cr_assert_eq(fs_needs(&s, "f"), FS_CANDIDATE | FS_NEED_QUALNAME);
    cr_assert_eq(fs_needs(&s, "other"), 0u, "not a candidate: decided at once");
    struct fs_spec big;
    char value[400] = "f0";
    for (int i = 1; i <= FS_MAX_ENTRIES; i++)
        sprintf(value + strlen(value), ",f%d", i);
    cr_assert_eq(fs_parse(value, &big), -1);
}

/* Messages through cfg_parse, as on stderr. */
#define ACC "comma-separated function names: name, module:qualname or file.py:qualname"
static void bad(const char *value, const char *reason)
{
    char var[256], want[512], err[PMT_CFG_ERRLEN];
    snprintf(var, sizeof var, "PYMEMTRACE_FUNCTION=%s", value);
    char *env[] = {"PYMEMTRACE=profile", var, NULL};
    struct pmt_config cfg;
    cr_assert_eq(cfg_parse(env, &cfg, err, sizeof err), -1, "%s accepted", value);
    snprintf(want, sizeof want, "PYMEMTRACE_FUNCTION='%s' is not valid (%s); accepted: %s", value, reason, ACC);
    cr_assert_str_eq(err, want);
}

Test(funcspec, bad_entries)
{
    bad(":f", "nothing before ':'");
    bad("mod:", "nothing after ':'");
    bad("a:b:c", "more than one ':'");
    bad("f,mod:.g", "a name starts or ends with '.'");
    bad("Cls.", "a name starts or ends with '.'");
    bad("a..b", "a name has an empty part ('..')");
    bad("pkg..mod:f", "a name has an empty part ('..')");
    bad(".mod:f", "a name starts or ends with '.'");
    char many[400] = "f0";
    for (int i = 1; i <= FS_MAX_ENTRIES; i++)
        sprintf(many + strlen(many), ",f%d", i);
    /* The message shortens a long value: check the reason only. */
    char var[512], err[PMT_CFG_ERRLEN];
    snprintf(var, sizeof var, "PYMEMTRACE_FUNCTION=%s", many);
    char *env[] = {"PYMEMTRACE=profile", var, NULL};
    struct pmt_config cfg;
    cr_assert_eq(cfg_parse(env, &cfg, err, sizeof err), -1);
    cr_assert(strstr(err, "' is not valid (more than 32 names); accepted: " ACC), "%s", err);
}

Test(funcspec, good_entries)
{
    static const char *const good[] = {"f", "Cls.m", "pkg.mod:Cls.m", "src/app.py:f", "./app.py:f",
                                       "/abs/app.py:C.f", "__main__:f", "outer.<locals>.inner",
                                       "a.py:f,b,pkg:C.d"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char var[256], err[PMT_CFG_ERRLEN];
        snprintf(var, sizeof var, "PYMEMTRACE_FUNCTION=%s", good[i]);
        char *env[] = {"PYMEMTRACE=profile", var, NULL};
        struct pmt_config cfg;
        cr_assert_eq(cfg_parse(env, &cfg, err, sizeof err), 0, "%s: %s", good[i], err);
        cr_assert_str_eq(cfg.function, good[i]);
        cfg_free(&cfg);
    }
}
