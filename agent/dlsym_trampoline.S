/* dlsym and dlopen, interposed without changing who the caller is.
 *
 * glibc's dlsym resolves RTLD_NEXT (and records dependencies) relative to the
 * object its return address lies in. A C wrapper would make that object ours
 * and break other libraries' RTLD_NEXT lookups, so the real dlsym is entered
 * by a tail jump with the caller's return address still on the stack. Only
 * while the agent watches for an embedded libpython does it first call
 * pmt_dlsym_slow(handle), which never changes the arguments. */
#if defined(__x86_64__)
        .text
        .globl  dlsym
        .type   dlsym, @function
dlsym:
        cmpb    $0, pmt_dlsym_watch(%rip)
        jne     1f
        jmp     *pmt_real_dlsym(%rip)
1:
        pushq   %rdi
        pushq   %rsi
        subq    $8, %rsp
        call    pmt_dlsym_slow
        addq    $8, %rsp
        popq    %rsi
        popq    %rdi
        jmp     *pmt_real_dlsym(%rip)
        .size   dlsym, .-dlsym

/* dlopen, the same way (glibc searches the caller's own run paths, and
 * finds its namespace, from the return address): it raises
 * pmt_hooks_loaded for chain.c, which looks at the new objects from the
 * next hook call, then enters the real one by a tail jump. */
        .globl  dlopen
        .type   dlopen, @function
dlopen:
        movb    $1, pmt_hooks_loaded(%rip)
        cmpq    $0, pmt_real_dlopen(%rip)
        je      2f
        jmp     *pmt_real_dlopen(%rip)
2:
        pushq   %rdi
        pushq   %rsi
        subq    $8, %rsp
        call    pmt_resolve_dlopen
        addq    $8, %rsp
        popq    %rsi
        popq    %rdi
        jmp     *pmt_real_dlopen(%rip)
        .size   dlopen, .-dlopen
#endif
        .section .note.GNU-stack,"",@progbits
