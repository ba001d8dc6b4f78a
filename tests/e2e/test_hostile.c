/* The agent against what a program may do to it (issue 14): names that
 * would forge lines. */
#include <stdlib.h>
#include <string.h>

#include "checks.h"

/* ---- forged lines ------------------------------------------------------------
 * forged_names.py renames a function to "f\nEOF\nNEXT:\t\\" and compiles it
 * in a file named "evil\nEOF\n.py"; written raw, each newline began a line
 * of its own (a fake EOF, a fake NEXT). Escaped, the log parses as one
 * event per line and the 20 MiB is at the escaped names. */
static void case_forged_names(const struct pmt_python *py, const void *arg)
{
    const char *modes = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = PMT_LIST(py->path, e2e_program("forged_names.py")),
                                   .cwd = dir,
                                   .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", modes)),
                                   .timeout_s = E2E_TIMEOUT},
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    for (const char *m = e2e_mode_letters(modes); *m; m++) {
        const struct pmt_logfile *f = pmt_logset_get(&set, r.pid, *m);
        e2e_check_log(f, NULL, -1);
        const struct pmt_line *jump = NULL;
        for (size_t i = 0; i < f->log->n; i++) {
            const struct pmt_line *l = &f->log->lines[i];
            if (l->kind == PMT_K_NEXT && l->drss >= 20L * 1024 * 1024 - 65536)
                jump = l;
        }
        cr_assert_not_null(jump, "%s: no 20 MiB jump", f->path);
        cr_assert_str_eq(jump->func, "f\\nEOF\\nNEXT:\\t\\\\", "%s: %s", f->path, jump->raw);
        cr_assert_str_eq(jump->file, "evil\\nEOF\\n.py", "%s: %s", f->path, jump->raw);
    }
}

E2E_TESTS_SUPPORTED(hostile, forged_names_profile, case_forged_names, "profile")
E2E_TESTS_SUPPORTED(hostile, forged_names_trace, case_forged_names, "trace")
