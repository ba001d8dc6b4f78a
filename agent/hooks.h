/* hooks: the profile and trace functions CPython calls for every event
 * (hooks.c says how they stay cheap). */
#ifndef PMT_HOOKS_H
#define PMT_HOOKS_H

#include "shim/shim.h"

int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
/* One event into the log in slot log (a trampoline's first event). */
void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg);

/* Called now and then (one in PMT_HOOKS_LOOK_EVERY of the events that read
 * RSS or write a line) with the GIL held, when set (by the lifecycle): a
 * look for what needs the agent's attention, such as a thread state made
 * by C code (PyGILState_Ensure) that has no hook yet. */
#define PMT_HOOKS_LOOK_EVERY 256
extern void (*pmt_hooks_look)(void);

#endif
