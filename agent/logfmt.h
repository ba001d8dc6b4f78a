/* logfmt: the bytes of every log line and log name, and nothing else.
 *
 * No I/O, no allocation, no stdio: each function writes into a caller's
 * buffer and returns the number of bytes written (no NUL is added unless
 * said). The layouts are cPyMemTrace's, as SPEC.md gives them as printf
 * formats; these functions produce the same bytes without printf because they
 * run for every logged event. */
#ifndef PMT_LOGFMT_H
#define PMT_LOGFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Room for any line: fields longer than this are cut (a 4 KiB path). */
#define PMT_FIELD_MAX 4096
#define PMT_LINE_MAX (2 * PMT_FIELD_MAX + 512)

/* One Profile/Trace event as it is written. clock_us is the Clock column in
 * microseconds (rss.h says which clock); the line shows it as seconds with 6
 * decimals, as cPyMemTrace shows clock()'s microseconds. */
struct pmt_event_fields {
    uint64_t event;
    int64_t devent;
    uint64_t clock_us;
    const char *what;   /* "CALL", "C_RETURN", ... */
    const char *file;
    int line;
    const char *func;
    uint64_t rss;
    int64_t drss;
    size_t file_len;    /* strlen(file) if known (0: measure it) */
    size_t func_len;
};

/* Names of PyTrace_* event codes 0..7 as the What column spells them. */
const char *fmt_what_name(int what);

/* "HDR: ...\n" of Profile/Trace logs. */
size_t fmt_header(char *buf);
/* "<prefix>: <event line>\n"; prefix is "FRST", "NEXT", "PREV" or "LAST". */
size_t fmt_event_line(char *buf, const char *prefix, const struct pmt_event_fields *f);
/* "MSG:  %-12zu +%-6ld %-12.6f # <text>\n" */
size_t fmt_msg_line(char *buf, uint64_t event, int64_t devent, uint64_t clock_us, const char *text);

/* One reference tracing event as it is written (SPEC.md, reference tracing
 * logs): " %12.6f %16p %16ld %-32s %-80s %4d %-40s %16zd %16ld" after the
 * "NEW:" or "DEL:" prefix. */
struct pmt_ref_fields {
    uint64_t clock_us;
    const void *address;
    int64_t live;        /* objects of the type alive after the event */
    const char *type;
    const char *file;
    int line;
    const char *func;
    uint64_t rss;
    int64_t drss;
    size_t file_len;     /* strlen(file) if known (0: measure it) */
    size_t func_len;
};

/* "HDR: ...\n" of reference tracing logs. */
size_t fmt_ref_header(char *buf);
/* "<prefix>: <fields>\n"; prefix is "NEW" or "DEL". */
size_t fmt_ref_line(char *buf, const char *prefix, const struct pmt_ref_fields *f);
/* "<prefix>: %12.6f # <text>\n"; prefix is "MSG" or "ERR". */
size_t fmt_ref_msg(char *buf, const char *prefix, uint64_t clock_us, const char *text);
/* printf's %p: "0x" and lower-case hex digits, "(nil)" for NULL. */
size_t fmt_ptr(char *buf, const void *p);

/* One native frame of a NAT: line. lib and sym may be NULL (unknown). */
struct pmt_native_frame {
    uintptr_t pc;
    const char *lib;   /* the object's file name, without its folder */
    const char *sym;
    uintptr_t off;     /* pc - the symbol's address */
};

/* "NAT:  " then, innermost first and separated by " | ", each frame as
 * "#<i> 0x<pc, 16 hex digits> <lib or ?> <sym or ?>+0x<off>" (no +0x<off>
 * when the symbol is unknown), then "\n". Cut before PMT_LINE_MAX. */
size_t fmt_native_line(char *buf, const struct pmt_native_frame *frames, int n);

/* Generated log name: YYYYMMDD_HHMMSS_<n>_<pid>_<P|T|O>_<depth>_PY<version>.log
 * (t in UTC). Returns the length, NUL-terminated, or 0 if cap is too small. */
size_t fmt_log_name(char *buf, size_t cap, time_t t, unsigned n, pid_t pid, char mode_letter,
                    unsigned depth, const char *py_version);
/* PYMEMTRACE_LOG_FILE pattern: %p pid, %m mode letter, %n ordinal, %% '%'.
 * Returns the length, NUL-terminated, or 0 if cap is too small or the pattern
 * has another escape (config rejects those first). */
size_t fmt_log_pattern(char *buf, size_t cap, const char *pattern, pid_t pid, char mode_letter,
                       unsigned n);

/* Small helpers, exposed for the tests. */
size_t fmt_u64(char *buf, uint64_t v);                 /* decimal, no padding */
size_t fmt_i64(char *buf, int64_t v);

#endif
