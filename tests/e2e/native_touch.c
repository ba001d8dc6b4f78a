/* A C function that allocates and touches memory, then calls back into
 * Python (as a C extension does), for the native stack tests: the callback's
 * CALL event is where the agent sees RSS jump, with this function still on
 * the C stack. */
#include <stdlib.h>
#include <string.h>

void *pmt_touched;

__attribute__((noinline, visibility("default"))) void touch_and_call(size_t bytes,
                                                                     void (*callback)(void))
{
    pmt_touched = malloc(bytes);
    if (pmt_touched)
        memset(pmt_touched, 1, bytes);
    callback();
    __asm__ volatile("" ::: "memory"); /* no tail call: this frame stays */
}
