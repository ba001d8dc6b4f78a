/* state: the agent's one state struct (agent.h), and nothing else: data
 * below every module that reads it. */
#include "agent/agent.h"

struct pmt_agent pmt;
__thread int pmt_busy __attribute__((tls_model("initial-exec")));
