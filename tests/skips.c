/* Every Criterion executable of the project links this: a test skipped by
 * cr_skip_test says so, with its reason, at the default verbosity, in the
 * form scripts/test.sh's summary collects ("[SKIP] suite::name: reason").
 * Tests left out by --filter are not skipped ones and say nothing. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>

ReportHook(POST_TEST)(struct criterion_test_stats *stats)
{
    if (stats->test_status != CR_STATUS_SKIPPED || stats->test->data->disabled)
        return;
    printf("[SKIP] %s::%s: %s\n", stats->test->category, stats->test->name,
           stats->message ? stats->message : "no reason given");
    fflush(stdout);
}
