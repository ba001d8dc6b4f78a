/* hooks: the profile and trace functions CPython calls for every event
 * (hooks.c says how they stay cheap). */
#ifndef PMT_HOOKS_H
#define PMT_HOOKS_H

#include "shim/shim.h"

/* Which of CPython's two per-thread hook slots a mode's hook goes in. */
enum pmt_hook_slot { PMT_HOOK_NONE, PMT_HOOK_PROFILE, PMT_HOOK_TRACE };

int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
/* One event into the log in slot log (a trampoline's first event). */
void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg);

/* The program's own profile and trace functions behind the agent's (chain.h
 * owns them): by slot (enum pmt_hook_slot), how many thread states have one;
 * pmt_hooks_loaded, raised by the dlopen trampoline, says an object was
 * loaded whose entries chain.c must look at. Either set, a hook ends with
 * pmt_hooks_next, whose result it returns (until chain.c sets it, one that
 * lowers pmt_hooks_loaded). */
extern unsigned pmt_hooks_chained[3];
extern volatile unsigned char pmt_hooks_loaded;
extern int (*pmt_hooks_next)(int slot, pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);

/* Called now and then (one in PMT_HOOKS_LOOK_EVERY of the events that read
 * RSS or write a line) with the GIL held, when set (by the lifecycle): a
 * look for what needs the agent's attention, such as a thread state made
 * by C code (PyGILState_Ensure) that has no hook yet. */
#define PMT_HOOKS_LOOK_EVERY 256
extern void (*pmt_hooks_look)(void);

/* The sys.monitoring callbacks (3.12+; monitor.h registers them): one row
 * per event, by its name in sys.monitoring.events, with the logs it feeds
 * (bits 1 << PMT_LOG_*) and its C function. */
struct pmt_mon_callback {
    const char *event;
    unsigned logs;
    struct pmt_methoddef def;
};
extern const struct pmt_mon_callback pmt_mon_callbacks[];
extern const size_t pmt_mon_ncallbacks;

/* What the callbacks need, set by monitor.c before any event. */
#define PMT_MON_LONG_TAG 16   /* 3.12+ PyLongObject: lv_tag */
#define PMT_MON_LONG_DIGIT 24 /* ob_digit[0] */
struct pmt_mon_cfg {
    unsigned logs;          /* the logs fed (1 << PMT_LOG_*) */
    int compact_ints;       /* ints are read in place (checked at start) */
    pmt_obj *missing;       /* sys.monitoring.MISSING */
    pmt_obj *disable;       /* sys.monitoring.DISABLE */
    const pmt_obj *cfunction_type, *cmethod_type, *method_descr_type, *bound_method_type;
};
extern struct pmt_mon_cfg pmt_mon;

#endif
