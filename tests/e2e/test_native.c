/* Native stacks (PYMEMTRACE_NATIVE_STACK, issue 5): each NEXT line of
 * profile and trace logs is followed by a NAT line with the C stack of the
 * thread at that event. A C function that touches 50 MiB and then calls
 * back into Python must be on the NAT line of the NEXT that logs the jump.
 * Off by default: no NAT line at all. */
#include <stdio.h>
#include <string.h>

#include "checks.h"

struct native_case {
    const char *modes;
    const char *frames; /* PYMEMTRACE_NATIVE_STACK, or NULL: unset */
};

static void run_native(const struct pmt_python *py, const void *arg)
{
    const struct native_case *c = arg;
    const char *dir = pmt_tmpdir();
    const char *env[4] = {e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->modes),
                          c->frames ? pmt_strf("PYMEMTRACE_NATIVE_STACK=%s", c->frames) : NULL,
                          NULL};
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("native_touch.py"), pmt_env("PMT_TOUCH_LIB")),
                .cwd = dir,
                .env = env,
                .timeout_s = E2E_TIMEOUT,
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    cr_assert_str_eq(r.out, "done\n");
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, r.pid, e2e_mode_letters(c->modes), py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    int mark = pmt_marker_line(e2e_program("native_touch.py"), "MARK:callback");
    for (size_t i = 0; i < set.n; i++) {
        const struct pmt_logfile *f = &set.files[i];
        e2e_check_log(f, NULL, -1); /* NAT lines only right after NEXT, well formed */
        size_t nat = pmt_log_count(f->log, PMT_K_NAT);
        size_t next = pmt_log_count(f->log, PMT_K_NEXT);
        if (!c->frames) {
            cr_assert_eq(nat, 0, "%s: NAT lines without PYMEMTRACE_NATIVE_STACK", f->name);
            continue;
        }
        cr_assert_eq(nat, next, "%s: %zu NAT lines for %zu NEXT lines", f->name, nat, next);
        /* The jump: a NEXT of >= 50 MiB in after_touch (CALL, or its first
         * LINE in trace), whose NAT line holds touch_and_call. */
        bool found = false;
        for (size_t k = 0; k + 1 < f->log->n; k++) {
            const struct pmt_line *l = &f->log->lines[k];
            if (l->kind != PMT_K_NEXT || l->drss < (50l << 20) - (1l << 20))
                continue;
            cr_assert_str_eq(l->func, "after_touch", "%s: the jump is at line %d", f->name, l->lineno);
            cr_assert(l->line == mark || l->line == mark - 1, "%s: line %d", f->name, l->lineno);
            const char *nat_raw = f->log->lines[k + 1].raw;
            cr_assert(strstr(nat_raw, " libpmttouch.so touch_and_call+0x") != NULL,
                      "%s: touch_and_call is not on the jump's NAT line:\n%s", f->name, nat_raw);
            found = true;
            break;
        }
        cr_assert(found, "%s: no NEXT line with the 50 MiB jump", f->name);
        const struct pmt_line *first = pmt_log_first(f->log, PMT_K_MSG);
        cr_assert(strstr(first->text, pmt_strf("NAT lines: up to %s native frames (libunwind)",
                                               c->frames)),
                  "%s: the first MSG line: %s", f->name, first->text);
    }
}

static const struct native_case native_cases[] = {
    {"profile", "32"},
    {"trace", "32"},
    {"profile,trace", NULL},
};

E2E_TESTS_SUPPORTED(native, profile_32, run_native, &native_cases[0])
E2E_TESTS_SUPPORTED(native, trace_32, run_native, &native_cases[1])
E2E_TESTS_SUPPORTED(native, off_by_default, run_native, &native_cases[2])
