/* PYMEMTRACE_D_RSS_TRIGGER: -1 (a page), 0 (every event) and 10 MiB, in
 * profile and trace mode, on grow.py run as a script. The semantic check
 * (harness) holds each NEXT/PREV/LAST to the trigger; the grow() jump must
 * show with every trigger. */
#include "checks.h"

struct trigger_case {
    const char *modes;
    const char *value;
    long long trigger;
};

static void run_trigger(const struct pmt_python *py, const void *arg)
{
    const struct trigger_case *c = arg;
    const char *dir = pmt_tmpdir();
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, e2e_program("grow.py")),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->modes),
                                pmt_strf("PYMEMTRACE_D_RSS_TRIGGER=%s", c->value)),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    pid_t pid = e2e_grow_output(&r, py->version);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, pid, e2e_mode_letters(c->modes), py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    const struct pmt_logfile *f = &set.files[0];
    e2e_check_log(f, NULL, c->trigger);
    e2e_check_grow_jump(f, "/grow.py");
    size_t nexts = pmt_log_count(f->log, PMT_K_NEXT);
    if (c->trigger == 0) {
        const struct pmt_line *last = pmt_log_first(f->log, PMT_K_LAST);
        cr_assert(pmt_log_count(f->log, PMT_K_PREV) == 0, "%s: PREV lines with d_rss_trigger 0", f->path);
        cr_assert(last->event == nexts || last->event == nexts + 1,
                  "%s: with every event logged, LAST (event %zu) should follow the %zu NEXT lines", f->path,
                  last->event, nexts);
    } else {
        /* a 50 MB program moves RSS a few times, not at every event */
        cr_assert(nexts < 1000, "%s: %zu NEXT lines with d_rss_trigger %lld", f->path, nexts, c->trigger);
    }
}

static const struct trigger_case page_cases[] = {{"profile", "-1", -1}, {"trace", "-1", -1}};
static const struct trigger_case every_cases[] = {{"profile", "0", 0}, {"trace", "0", 0}};
static const struct trigger_case ten_mib_cases[] = {{"profile", "10485760", 10485760},
                                                    {"trace", "10485760", 10485760}};

E2E_TESTS_SUPPORTED(trigger, page_profile, run_trigger, &page_cases[0])
E2E_TESTS_SUPPORTED(trigger, page_trace, run_trigger, &page_cases[1])
E2E_TESTS_SUPPORTED(trigger, every_event_profile, run_trigger, &every_cases[0])
E2E_TESTS_SUPPORTED(trigger, every_event_trace, run_trigger, &every_cases[1])
E2E_TESTS_SUPPORTED(trigger, ten_mib_profile, run_trigger, &ten_mib_cases[0])
E2E_TESTS_SUPPORTED(trigger, ten_mib_trace, run_trigger, &ten_mib_cases[1])
