/* typefilter: the decision, made once per type, whether reference tracing
 * logs its objects (PYMEMTRACE_INCLUDE_BUILTINS, _INCLUDE_TYPES,
 * _EXCLUDE_TYPES). Pure string logic: the agent says which types are
 * builtin and which are never logged (frames, code objects). */
#ifndef PMT_TYPEFILTER_H
#define PMT_TYPEFILTER_H

/* names is a comma-separated list of type names; a type matches an entry
 * equal to its tp_name or to the part of it after the last '.'
 * ("OrderedDict" matches "collections.OrderedDict"). Case-sensitive. */
int rt_name_listed(const char *names, const char *tp_name);

/* 1 if objects of a type named tp_name are logged: never a `never` type nor
 * an excluded one; with an include list only the listed ones (builtin or
 * not); else everything but builtins, unless include_builtins. */
int rt_type_wanted(const char *tp_name, int builtin, int never, int include_builtins,
                   const char *include, const char *exclude);

#endif
