/* function: PYMEMTRACE_FUNCTION, tracing only while a named function runs.
 *
 * A PEP 523 frame-evaluation function sees every Python frame start (and
 * every resume of a generator or coroutine). It looks the frame's code
 * object up in the hooks' site cache, where whether the code is a traced
 * function is decided once (config/funcspec.h), and only on a match opens
 * the logs and sets the profile/trace functions on the calling thread; when
 * the frame returns or raises, they are removed and the logs completed. */
#ifndef PMT_FUNCTION_H
#define PMT_FUNCTION_H

/* At install, with the GIL: parses the setting and installs the evaluation
 * function. Returns 0, or -1 after one line on stderr. */
int fn_install(void);
/* At the end of tracing: completes the logs of calls still running (the
 * innermost first) and, when Python is usable, removes the evaluation
 * function. The depth-0 logs are left to the caller. */
void fn_finish(int python_usable);
/* Before exec: completes the logs of outer calls set aside meanwhile. */
void fn_before_exec(void);
/* In a forked child: outer logs set aside are the parent's files. */
void fn_after_fork_child(void);

#endif
