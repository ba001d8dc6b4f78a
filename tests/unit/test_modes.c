/* modes: the table of modes and the settings parser spell each mode alike
 * (config.c parses the names without the table, so that the parser stands
 * alone, as its fuzzer builds it), and each row is whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "agent/modes.h"
#include "config/config.h"

Test(modes, config_and_table_agree)
{
    cr_assert_eq(pmt_nmodes, 4);
    for (size_t i = 0; i < pmt_nmodes; i++) {
        const struct pmt_mode_row *row = &pmt_modes[i];
        cr_assert_str_eq(cfg_mode_name((enum pmt_mode)row->bit), row->kind.name);
        cr_assert_eq(cfg_mode_letter((enum pmt_mode)row->bit), row->kind.letter);
        cr_assert_eq(pmt_mode_of(row->bit), row);
        char env[64];
        snprintf(env, sizeof env, "PYMEMTRACE=%s", row->kind.name);
        char *envp[] = {env, NULL};
        struct pmt_config cfg;
        char err[PMT_CFG_ERRLEN];
        cr_assert_eq(cfg_parse(envp, &cfg, err, sizeof err), 0, "%s", err);
        cr_assert_eq(cfg.modes, row->bit);
        cfg_free(&cfg);
    }
}

Test(modes, rows_are_whole)
{
    unsigned bits = 0;
    for (size_t i = 0; i < pmt_nmodes; i++) {
        const struct pmt_mode_row *row = &pmt_modes[i];
        cr_assert_eq(bits & row->bit, 0, "%s: bit given twice", row->kind.name);
        bits |= row->bit;
        /* A mode writes an event log (a slot), or opens a log of its own. */
        cr_assert((row->log >= 0) != (row->open != NULL), "%s", row->kind.name);
        if (row->log >= 0)
            cr_assert_eq(pmt_mode_of_log(row->log), row);
        /* A per-thread hook has a slot, and its checked wrapper. */
        cr_assert_eq(row->slot != PMT_HOOK_NONE, row->hook != NULL, "%s", row->kind.name);
        cr_assert_eq(row->hook != NULL, row->checked_hook != NULL, "%s", row->kind.name);
        /* Threads the agent pauses across fork and set*id are started again. */
        cr_assert_eq(row->before_fork != NULL, row->resume != NULL, "%s", row->kind.name);
        cr_assert_eq(row->hold != NULL, row->release != NULL, "%s", row->kind.name);
        cr_assert_eq(row->kind.ref, row->log == PMT_LOG_REF, "%s", row->kind.name);
    }
}
