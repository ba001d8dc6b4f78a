/* native: the C stack of the thread at a logged event (PYMEMTRACE_NATIVE_STACK),
 * captured with libunwind's unw_backtrace.
 *
 * libunwind is loaded with dlopen only when native stacks are asked for, so
 * the agent costs nothing for them otherwise and runs where libunwind is
 * absent. Frames inside the agent itself are left out: the stack starts at
 * the code that made the event (CPython's, or an extension's calling back
 * into Python). */
#ifndef PMT_NATIVE_H
#define PMT_NATIVE_H

#include <stddef.h>

#include "agent/logfmt.h"

/* Loads libunwind; 0, or -1 with why filled in. */
int native_open(char *why, size_t whylen);
/* Up to max frames of the calling thread, innermost first, with library
 * and symbol resolved where known (dladdr). Returns the count. */
int native_capture(struct pmt_native_frame *frames, int max);

#endif
