/* logopen: how a log file is opened, the same in the agent (when it writes
 * its logs itself) and in its log writer process (logd.c): a new file
 * (O_EXCL, which no symbolic link passes), or, for a name the user gave
 * (PYMEMTRACE_LOG_FILE), never through a symbolic link (its target could be
 * anyone's file, or /dev/stdout, the program's own output), never blocking
 * (a FIFO with no reader), never emptied before it is known to be one of the
 * user's regular files (or /dev/null, /dev/full, which hold nobody's data).
 *
 * Raw system calls only (no libc, no errno): the writer has no libc. */
#ifndef PMT_LOGOPEN_H
#define PMT_LOGOPEN_H

enum pmt_open_why {
    PMT_WHY_NONE,
    PMT_WHY_SYMLINK,
    PMT_WHY_FIFO,
    PMT_WHY_DEVICE,
    PMT_WHY_SOCKET,
    PMT_WHY_NOT_REGULAR,
    PMT_WHY_OTHER_USER,
    PMT_WHY_UNEXAMINED,
};

/* Opens path for appending: excl, a new file only; else the rules above.
 * mode: the new file's permission bits (the caller applies the umask it
 * wants; the process's own is set to 0 for the call by the writer). Returns
 * the descriptor (close-on-exec), or -errno; a refusal gives -EPERM... with
 * *why set. */
int pmt_log_open(const char *path, int excl, unsigned mode, int *why);

/* The text of a refusal: "is a symbolic link", ... */
const char *pmt_log_why_text(int why);

#endif
