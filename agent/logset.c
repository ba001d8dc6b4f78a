/* logset: see logset.h. */
#include "agent/logset.h"

#include <stdio.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/rss.h"
#include "agent/sites.h"

static char ls_rss_source[480];

void pmt_logs_set_info(const char *rss_source, uint32_t tid)
{
    if (rss_source != ls_rss_source)
        snprintf(ls_rss_source, sizeof ls_rss_source, "%s", rss_source);
    snprintf(pmt.info, sizeof pmt.info,
             "pymemtrace agent %s, pid %d, Python %s; %s; thread native_id=%u", PMT_VERSION,
             (int)getpid(), pmt.py.version.text, rss_source, tid);
}

void pmt_logs_info_for_thread(uint32_t tid)
{
    pmt_logs_set_info(ls_rss_source, tid);
}

static void ls_note(struct pmt_log *lg, const char *prefix, const char *text)
{
    if (lg->ref)
        tracelog_ref_msg(lg, prefix, pmt_clock_us(), text);
    else
        tracelog_note(lg, prefix, pmt_clock_us(), text);
}

void pmt_logs_msg(struct pmt_log *lg, const char *text)
{
    ls_note(lg, "MSG", text);
}

void pmt_logs_err(struct pmt_log *lg, const char *text)
{
    ls_note(lg, "ERR", text);
}

int pmt_logs_reopen(struct pmt_log *lg)
{
    for (int i = 0; i < PMT_NLOGS; i++) {
        struct pmt_log *l = &pmt.logs[i];
        if (l->state == PMT_LOG_REOPEN)
            tracelog_open(l, &pmt.env, l->kind, l->depth, pmt_site_line, pmt_ticks_us,
                          &pmt.ordinal, pmt_clock_us(), pmt_thread_id());
    }
    return lg->state == PMT_LOG_OPEN ? 0 : -1;
}
