/* selfcheck: PYMEMTRACE_CHECK's hook wrappers catch a hook called without
 * the GIL, a hook called while another runs and an unknown event kind; the
 * summary line and the one stderr line are exact. The agent's state is
 * process-wide: Criterion runs each test in a process of its own. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "agent/agent.h"
#include "agent/hooks.h"
#include "agent/modes.h"
#include "agent/selfcheck.h"

/* The hook the agent installs for a log slot: the table of modes' choice. */
static pmt_tracefunc chk_hook(int log)
{
    return pmt_mode_hook(pmt_mode_of_log(log));
}

static int fake_gil_held;
static int fake_reenter;

static int fake_gil_check(void)
{
    if (fake_reenter) {
        fake_reenter = 0;
        chk_hook(PMT_LOG_PROFILE)(NULL, NULL, 0, NULL); /* a nested hook call */
    }
    return fake_gil_held;
}

static void setup_checked(void)
{
    pmt.cfg.check = 1;
    pmt.py.api.PyGILState_Check = fake_gil_check;
    fake_gil_held = 1;
}

Test(selfcheck, plain_hooks_without_the_setting)
{
    pmt.cfg.check = 0;
    cr_assert_eq(chk_hook(PMT_LOG_PROFILE), pmt_profile_hook);
    cr_assert_eq(chk_hook(PMT_LOG_TRACE), pmt_trace_hook);
    cr_assert_null(chk_hook(PMT_LOG_REF));
    pmt.cfg.check = 1;
    cr_assert_neq(chk_hook(PMT_LOG_PROFILE), pmt_profile_hook);
    cr_assert_neq(chk_hook(PMT_LOG_TRACE), pmt_trace_hook);
}

Test(selfcheck, a_clean_run, .init = setup_checked)
{
    for (int what = 0; what < 7; what++)
        cr_assert_eq(chk_hook(PMT_LOG_TRACE)(NULL, NULL, what, NULL), 0);
    char text[256];
    chk_summary(text, sizeof text);
    cr_assert_str_eq(text, "self-check: 7 hook calls checked, 0 inconsistencies");
}

Test(selfcheck, a_hook_without_the_gil, .init = cr_redirect_stderr)
{
    setup_checked();
    fake_gil_held = 0;
    chk_hook(PMT_LOG_PROFILE)(NULL, NULL, 0, NULL);
    chk_hook(PMT_LOG_PROFILE)(NULL, NULL, 3, NULL);
    char text[256];
    chk_summary(text, sizeof text);
    cr_assert_str_eq(text, "self-check: 2 hook calls checked, 2 inconsistencies (first: a hook was called by "
                           "a thread that does not hold the GIL)");
    fflush(stderr);
    cr_assert_stderr_eq_str("pymemtrace: self-check: a hook was called by a thread that does not hold the GIL\n");
}

Test(selfcheck, a_hook_inside_another, .init = cr_redirect_stderr)
{
    setup_checked();
    fake_reenter = 1;
    chk_hook(PMT_LOG_PROFILE)(NULL, NULL, 0, NULL);
    cr_assert_eq(chk_failures, 1);
    cr_assert_stderr_eq_str("pymemtrace: self-check: a hook was called while another hook call was running\n");
}

Test(selfcheck, an_unknown_event_kind, .init = cr_redirect_stderr)
{
    setup_checked();
    chk_hook(PMT_LOG_TRACE)(NULL, NULL, 9, NULL);
    char text[256];
    chk_summary(text, sizeof text);
    cr_assert_str_eq(text, "self-check: 1 hook calls checked, 1 inconsistencies (first: a hook was called with an "
                           "unknown event kind: 9, expected 0)");
}
