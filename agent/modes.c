/* modes: the table (modes.h). Each mode's name and letter are written here
 * and nowhere else in the agent. */
#include "agent/modes.h"

#include "agent/agent.h"
#include "agent/hooks.h"
#include "agent/reftrace.h"
#include "agent/sampler.h"
#include "agent/selfcheck.h"

const struct pmt_mode_row pmt_modes[] = {
    {
        .kind = {"profile", 'P', 0},
        .bit = PMT_MODE_PROFILE,
        .log = PMT_LOG_PROFILE,
        .reads_frames = 1,
        .slot = PMT_HOOK_PROFILE,
        .hook = pmt_profile_hook,
        .checked_hook = chk_profile_hook,
        .threading_global = "_profile_hook",
    },
    {
        .kind = {"trace", 'T', 0},
        .bit = PMT_MODE_TRACE,
        .log = PMT_LOG_TRACE,
        .reads_frames = 1,
        .slot = PMT_HOOK_TRACE,
        .hook = pmt_trace_hook,
        .checked_hook = chk_trace_hook,
        .threading_global = "_trace_hook",
    },
    {
        .kind = {"reftrace", 'O', 1},
        .bit = PMT_MODE_REFTRACE,
        .log = PMT_LOG_REF,
        .reads_frames = 1,
        .usable = rt_usable,
        .start = rt_start_now,
        .poll = rt_poll,
        .needs_audit = rt_needs_audit,
        .finish = rt_finish,
        .session_begin = rt_session_begin,
        .session_end = rt_session_end,
    },
    {
        .kind = {"sample", 'S', 0},
        .bit = PMT_MODE_SAMPLE,
        .log = -1,
        .open = sampler_open,
        .stop = sampler_finish,
        .before_fork = sampler_before_fork,
        .after_fork_parent = sampler_after_fork_parent,
        .after_fork_child = sampler_after_fork_child,
        .resume = sampler_resume,
        .hold = sampler_hold,
        .release = sampler_release,
    },
};

const size_t pmt_nmodes = sizeof pmt_modes / sizeof pmt_modes[0];

const struct pmt_mode_row *pmt_mode_of(unsigned bit)
{
    for (size_t i = 0; i < pmt_nmodes; i++)
        if (pmt_modes[i].bit == bit)
            return &pmt_modes[i];
    return NULL;
}

const struct pmt_mode_row *pmt_mode_of_log(int log)
{
    for (size_t i = 0; i < pmt_nmodes; i++)
        if (pmt_modes[i].log == log)
            return &pmt_modes[i];
    return NULL;
}

pmt_tracefunc pmt_mode_hook(const struct pmt_mode_row *row)
{
    return pmt.cfg.check && row->checked_hook ? row->checked_hook : row->hook;
}
