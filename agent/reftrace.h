/* reftrace: PYMEMTRACE=reftrace, every object creation and destruction of
 * the chosen types, through CPython 3.13's reference tracer
 * (PyRefTracer_SetTracer).
 *
 * The tracer is called for every object the interpreter creates or
 * destroys, so its common case is one hash probe by type that finds "not
 * logged" and returns. Which types are logged is decided once per type, the
 * first time one of its objects is seen (builtins, PYMEMTRACE_INCLUDE_TYPES,
 * PYMEMTRACE_EXCLUDE_TYPES), never by comparing strings per event. A type
 * object's own destruction removes its entry, so that a new type at the
 * same address is decided afresh. */
#ifndef PMT_REFTRACE_H
#define PMT_REFTRACE_H

#include <stddef.h>
#include <stdint.h>

#include "shim/shim.h"

/* Whether reftrace can run on this interpreter; if not, the stderr text. */
int rt_supported(const struct pmt_shim *py, char *why, size_t whylen);
/* The same for the interpreter found (pmt.py), whose setter it first makes
 * the interpreter's own rather than the agent's (reftrace.c says why). */
int rt_usable(char *why, size_t whylen);
/* After the log is open (install, GIL held): sets the tracer. */
void rt_start(uint64_t rss_at_start);
void rt_start_now(void); /* the same from the current RSS */
/* Now and then: notices a tracer replaced or removed by someone else
 * (where the interposed setter cannot see it). */
void rt_poll(void);
/* 1 while the tracer is on and only a poll would see another's setter
 * calls (a static interpreter): the audit events are needed for that. */
int rt_needs_audit(void);
/* Before the log closes: gc.collect if asked and Python is usable, then
 * the live count per type; removes the tracer. */
void rt_finish(int python_usable);
/* PYMEMTRACE_FUNCTION: a traced call begins (the outermost: live counts
 * from 0, the tracer set) and ends (gc.collect if asked, live counts; the
 * outermost takes the tracer out). The log is pmt.logs[PMT_LOG_REF]. */
void rt_session_begin(int outermost);
void rt_session_end(int outermost);

/* The interposed setter (reftrace.c says why). */
int PyRefTracer_SetTracer(pmt_reftracer f, void *data);
/* The same function, by the agent's own address (a hidden alias). */
__attribute__((visibility("hidden"))) int rt_own_setter(pmt_reftracer f, void *data);

#endif
