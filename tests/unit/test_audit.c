/* shim/audit.c: finding the runtime's audit hook list head by watching it
 * change, and taking the agent's hook out of the list again. A fake runtime
 * (an exported array, so that dladdr1 gives its size, as it gives
 * _PyRuntime's) and a fake PySys_AddAuditHook that appends as CPython does. */
#include <criterion/criterion.h>
#include <string.h>

#include "shim/audit.h"

struct entry {
    struct entry *next;
    pmt_audithook hook;
    void *data;
};

__attribute__((visibility("default"))) void *pmt_test_runtime[512];
static size_t head_at = 300; /* where the fake runtime keeps its list head */
static struct entry entries[4];
static int nentries;
static int initialized;

static int fake_is_initialized(void)
{
    return initialized;
}

static int fake_add(pmt_audithook hook, void *data)
{
    struct entry *e = &entries[nentries++];
    e->hook = hook;
    e->data = data;
    e->next = NULL;
    struct entry **p = (struct entry **)&pmt_test_runtime[head_at];
    while (*p)
        p = &(*p)->next;
    *p = e;
    return 0;
}

static void *fake_lookup(void *handle, const char *name)
{
    (void)handle;
    return strcmp(name, "_PyRuntime") == 0 ? (void *)pmt_test_runtime : NULL;
}

static int hook_a(const char *event, pmt_obj *args, void *data)
{
    (void)event, (void)args, (void)data;
    return 0;
}

static int hook_b(const char *event, pmt_obj *args, void *data)
{
    (void)event, (void)args, (void)data;
    return 0;
}

static struct pmt_shim py;

static void reset(void)
{
    memset(pmt_test_runtime, 0, sizeof pmt_test_runtime);
    memset(entries, 0, sizeof entries);
    nentries = 0;
    initialized = 0;
    memset(&py, 0, sizeof py);
    py.api.Py_IsInitialized = fake_is_initialized;
    py.api.PySys_AddAuditHook = fake_add;
    /* words that are not 0 before, as a 3.12+ runtime's static initialisers */
    for (size_t i = 0; i < 512; i += 7)
        if (i != head_at)
            pmt_test_runtime[i] = (void *)(0x1000 + i);
}

Test(audit, changed_word)
{
    const void *after[16] = {0};
    unsigned char zero[2] = {0xff, 0xff};
    cr_assert_eq(shim_audit_changed_word(zero, after, 16), -1, "nothing changed");
    after[5] = (void *)0x10;
    cr_assert_eq(shim_audit_changed_word(zero, after, 16), 5);
    after[9] = (void *)0x20;
    cr_assert_eq(shim_audit_changed_word(zero, after, 16), -1, "two words: not told apart");
    zero[1] = 0xfd; /* word 9 was not 0 before: not a change from NULL */
    cr_assert_eq(shim_audit_changed_word(zero, after, 16), 5);
}

Test(audit, found_and_removed)
{
    reset();
    struct pmt_audit_slot slot;
    int token;
    cr_assert_eq(shim_audit_add(&py, fake_lookup, NULL, hook_a, &token, &slot), 0);
    cr_assert_eq((void *)slot.head, (void *)&pmt_test_runtime[head_at]);
    cr_assert_eq(slot.entry, (void *)&entries[0]);
    cr_assert_eq(slot.in, 1);
    cr_assert_eq(fake_add(hook_b, NULL), 0); /* a hook added later stays */
    cr_assert_eq(shim_audit_remove(&slot), 0);
    cr_assert_eq(pmt_test_runtime[head_at], (void *)&entries[1], "the later hook is the head");
    cr_assert_eq(entries[0].next, &entries[1], "our entry is left as it was (a running call may be on it)");
    cr_assert_eq(shim_audit_remove(&slot), -1, "only once");
}

Test(audit, another_hook_first)
{
    reset();
    cr_assert_eq(fake_add(hook_b, NULL), 0); /* another tool's C hook, before ours */
    struct pmt_audit_slot slot;
    int token;
    cr_assert_eq(shim_audit_add(&py, fake_lookup, NULL, hook_a, &token, &slot), 0);
    cr_assert_null(slot.head, "no word of the runtime changed: the head is unknown");
    cr_assert_eq(shim_audit_remove(&slot), -1, "then the hook stays");
    cr_assert_eq(entries[0].next, &entries[1]);
}

static void *no_lookup(void *handle, const char *name)
{
    (void)handle, (void)name;
    return NULL;
}

Test(audit, no_runtime_symbol)
{
    reset();
    struct pmt_audit_slot slot;
    int token;
    cr_assert_eq(shim_audit_add(&py, no_lookup, NULL, hook_a, &token, &slot), 0, "the hook is added");
    cr_assert_eq(slot.in, 1);
    cr_assert_null(slot.head);
    cr_assert_eq(shim_audit_remove(&slot), -1);
}

Test(audit, after_initialisation)
{
    reset();
    initialized = 1; /* other threads may run: the entry is read without faulting first */
    struct pmt_audit_slot slot;
    int token;
    cr_assert_eq(shim_audit_add(&py, fake_lookup, NULL, hook_a, &token, &slot), 0);
    cr_assert_eq(slot.entry, (void *)&entries[0]);
    cr_assert_eq(shim_audit_remove(&slot), 0);
    cr_assert_null(pmt_test_runtime[head_at]);
}
