/* logfmt: the bytes of every log line and log name, and nothing else.
 *
 * No I/O, no allocation, no stdio: each function writes into a caller's
 * buffer and returns the number of bytes written (no NUL is added unless
 * said). The layouts are cPyMemTrace's, as docs/LOGS.md gives them (column
 * tables and printf formats); logfmt.c writes each from one column table,
 * without printf because they run for every logged event. */
#ifndef PMT_LOGFMT_H
#define PMT_LOGFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Room for any line: fields longer than this are cut (a 4 KiB path). A
 * reference line has three such fields (type, file, function). */
#define PMT_FIELD_MAX 4096
#define PMT_LINE_MAX (3 * PMT_FIELD_MAX + 512)

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
    size_t file_len;    /* strlen(file) if known (0: measure it); given, the name is */
    size_t func_len;    /* a site's, escaped already (sites.h), and written as it is */
};

/* Names of PyTrace_* event codes 0..7 as the What column spells them. */
const char *fmt_what_name(int what);

/* "HDR: ...\n" of Profile/Trace logs. */
size_t fmt_header(char *buf);
/* "<prefix>: <event line>\n"; prefix is "FRST", "NEXT", "PREV" or "LAST".
 * buf has room for PMT_LINE_MAX bytes (the line is shorter; bytes after it
 * may be written over). */
size_t fmt_event_line(char *buf, const char *prefix, const struct pmt_event_fields *f);
/* "MSG:  %-12zu +%-6ld %-12.6f # <text>\n" */
size_t fmt_msg_line(char *buf, uint64_t event, int64_t devent, uint64_t clock_us, const char *text);
/* The same with another prefix of three letters: ERR (what the log misses). */
size_t fmt_note_line(char *buf, const char *prefix, uint64_t event, int64_t devent,
                     uint64_t clock_us, const char *text);

/* One reference tracing event as it is written (docs/LOGS.md, reference tracing
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
    size_t file_len;     /* as in pmt_event_fields: given, escaped already */
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

/* One line of the sampler's log (PYMEMTRACE=sample), laid out as the lines
 * pymemtrace's process module writes through Python's logging, so its
 * parser (process.extract_json) reads ours: a logging prefix
 * "%(asctime)s - %(filename)s#%(lineno)d - %(process)5d - (%(threadName)-10s)
 * - %(levelname)-8s - ", the marker, a space and a JSON object with the keys
 * it writes (timestamp, memory_info, cpu_times, elapsed_time, pid), in its
 * order and with json.dumps' separators. memory_info and cpu_times carry
 * psutil's Linux names (statm's seven fields; user, system, children_user,
 * children_system, iowait) plus pfaults/pageins, which the module's table
 * reads, and peak_rss. Times are local, as datetime.now() gives them. */
#define PMT_SAMPLE_MARK "ProcessLoggingThread-JSON"
#define PMT_SAMPLE_MARK_START PMT_SAMPLE_MARK "-START"
#define PMT_SAMPLE_MARK_STOP PMT_SAMPLE_MARK "-STOP"
#define PMT_SAMPLE_LINE_MAX 1024

struct pmt_sample_fields {
    struct tm local;    /* the time of the sample, local */
    uint32_t usec;      /* and its microseconds */
    pid_t pid;
    uint64_t rss, vms, shared, text, lib, data, dirty; /* bytes, as statm gives them */
    uint64_t peak_rss;                                 /* bytes: VmHWM */
    uint64_t pfaults, pageins;                         /* all page faults, major ones */
    uint64_t user_us, system_us, children_user_us, children_system_us, iowait_us;
    uint64_t elapsed_us;                               /* since the process started */
};

/* The line with its '\n' (at most PMT_SAMPLE_LINE_MAX bytes, no NUL). */
size_t fmt_sample_line(char *buf, const char *mark, const struct pmt_sample_fields *f);

/* The broken-down time (tm_year, tm_mon, tm_mday, tm_hour, tm_min, tm_sec,
 * tm_wday, tm_yday) of secs seconds after the epoch, in the proleptic
 * Gregorian calendar, as gmtime_r gives it; without glibc's lock and time
 * zone state, so that it may run where glibc may not (rawthread.h). */
void fmt_civil_time(int64_t secs, struct tm *tm);

/* Escaping (docs/LOGS.md): control bytes (0x00-0x1f, 0x7f) and '\\' in a
 * name or text are written as \n \r \t \\ or \xNN, so that every line
 * stays one line. fmt_escape writes s's n bytes escaped into dst, at most
 * cap bytes (cut before an escape that would not fit); returns the count. */
int fmt_needs_escape(const char *s, size_t n);
size_t fmt_escape(char *dst, size_t cap, const char *s, size_t n);

/* Small helpers, exposed for the tests. */
size_t fmt_u64(char *buf, uint64_t v);                 /* decimal, no padding */
size_t fmt_i64(char *buf, int64_t v);

#endif
