/* hooks: the profile and trace functions CPython calls for every event
 * (hooks.c says how they stay cheap). */
#ifndef PMT_HOOKS_H
#define PMT_HOOKS_H

#include "shim/shim.h"

int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
/* One event into the log in slot log (a trampoline's first event). */
void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg);

#endif
