/* selfcheck: see selfcheck.h. */
#include "agent/selfcheck.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/hooks.h"
#include "agent/rss.h"
#include "agent/sites.h"

uint64_t chk_failures;
static uint64_t chk_calls;
static int chk_running; /* hook calls in progress, all threads */
static char chk_first[200];

void chk_fail(const char *what, const char *detail)
{
    if (chk_failures++ == 0) {
        snprintf(chk_first, sizeof chk_first, "%.100s%s%.90s", what, detail ? ": " : "",
                 detail ? detail : "");
        pmt_say("self-check: ", chk_first, NULL);
    }
}

static void chk_failf(const char *what, unsigned long long a, unsigned long long b)
{
    char detail[96];
    snprintf(detail, sizeof detail, "%llu, expected %llu", a, b);
    chk_fail(what, detail);
}

/* Before the hook: who calls, with what. */
static void chk_enter(pmt_frame *frame, int what)
{
    const struct pmt_shim *py = &pmt.py;
    if (__atomic_fetch_add(&chk_running, 1, __ATOMIC_ACQ_REL) != 0)
        chk_fail("a hook was called while another hook call was running", NULL);
    if (!py->api.PyGILState_Check())
        chk_fail("a hook was called by a thread that does not hold the GIL", NULL);
    chk_calls++;
    if (what < 0 || what > 7)
        chk_failf("a hook was called with an unknown event kind", (unsigned long long)what, 0);
    if (!frame)
        return;
    if (py->api.frame_type && shim_type_of((pmt_obj *)frame) != py->api.frame_type) {
        chk_fail("a hook's frame is not a frame object", NULL);
        return;
    }
    pmt_obj *code = shim_frame_code(py, frame);
    if (py->api.code_type && shim_type_of(code) != py->api.code_type) {
        chk_fail("a frame's code is not a code object", NULL);
        return;
    }
    const struct pmt_site *site = pmt_site_of(code);
    if (site && site->code != code)
        chk_fail("the site cache gave another code object's site", site->func);
}

static void chk_leave(void)
{
    __atomic_fetch_sub(&chk_running, 1, __ATOMIC_ACQ_REL);
}

/* The hook counted exactly this event in its log, when it was logging. */
static int chk_call(int log, pmt_tracefunc hook, pmt_obj *obj, pmt_frame *frame, int what,
                    pmt_obj *arg)
{
    struct pmt_log *lg = &pmt.logs[log];
    chk_enter(frame, what);
    int counted = lg->state == PMT_LOG_OPEN && pmt.active && !pmt_log_failed;
    uint32_t id = lg->sink.id;
    uint64_t before = lg->nevents;
    int rc = hook(obj, frame, what, arg);
    if (counted && lg->state == PMT_LOG_OPEN && lg->sink.id == id && !pmt_log_failed &&
        lg->nevents != before + 1)
        chk_failf("an event was not counted once", (unsigned long long)(lg->nevents - before), 1);
    if (rc != 0)
        chk_failf("a hook returned an error", (unsigned long long)rc, 0);
    chk_leave();
    return rc;
}

int chk_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    return chk_call(PMT_LOG_PROFILE, pmt_profile_hook, obj, frame, what, arg);
}

int chk_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    return chk_call(PMT_LOG_TRACE, pmt_trace_hook, obj, frame, what, arg);
}

void chk_summary(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "self-check: %llu hook calls checked, %llu inconsistencies",
                     (unsigned long long)chk_calls, (unsigned long long)chk_failures);
    if (chk_failures && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " (first: %s)", chk_first);
}

void chk_log_ending(const struct pmt_log *lg)
{
    (void)lg;
    if (pmt_log_writing != 0)
        chk_failf("a log is ending while a line is being written", (unsigned long long)pmt_log_writing,
                  0);
    if (rss.threads < 0)
        chk_failf("more threads ended than started", (unsigned long long)-rss.threads, 0);
}

void chk_log_closed(const struct pmt_log *lg, uint64_t size)
{
    if (size == (uint64_t)-1 || lg->state != PMT_LOG_CLOSED)
        return;
    if ((unsigned long long)size != (unsigned long long)lg->sink.offset) {
        char detail[200];
        const char *name = strrchr(lg->path, '/');
        snprintf(detail, sizeof detail, "%.100s holds %llu bytes, the log produced %llu",
                 name ? name + 1 : lg->path,
                 (unsigned long long)size, (unsigned long long)lg->sink.offset);
        chk_fail("a log's file does not hold what was written", detail);
    }
}
