/* support: what the scripts tests (test_launcher.c, test_analysis.c) share.
 *
 * A small process runner (fork + execvpe, stdout and stderr captured into
 * files, a scrubbed environment), temporary folders and file helpers. It is
 * kept apart from the e2e harness on purpose: the scripts tests must not
 * depend on it, as it changes with the agent.
 *
 * Everything that fails here fails the current Criterion test with a message;
 * nothing returns an error code to be forgotten. */
#ifndef PMT_SCRIPTS_SUPPORT_H
#define PMT_SCRIPTS_SUPPORT_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

/* ---- the process runner -------------------------------------------------- */

struct sup_result {
    int status; /* as waitpid gives it */
    pid_t pid;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
};

/* The whole file at path, NUL-terminated (its length in *len unless NULL). */
char *sup_slurp(const char *path, size_t *len);
/* Is the variable named by entry (up to '=') one of those named in list? */
int sup_named_in(const char *const *list, const char *entry);
/* environ less PYMEMTRACE*, LD_PRELOAD and LC_ALL, plus LC_ALL=C, then the
 * overrides: "NAME=value" sets, a bare "NAME" removes (free the array only). */
char **sup_env(const char *const *overrides);
/* Runs argv (argv[0] looked up in PATH unless it has a '/') in cwd (NULL: ours),
 * stdin from /dev/null, with sup_env(overrides), and waits for it. */
void sup_run(struct sup_result *r, const char *cwd, const char *const argv[],
             const char *const overrides[]);
/* Frees the captured output of a sup_run. */
void sup_free(struct sup_result *r);
/* A wait status in words ("exit status 2", "killed by signal 15"), in buf. */
const char *sup_status_text(int status, char *buf, size_t cap);

/* Fails the test unless r exited with status want (shows its output if not). */
#define sup_assert_exit(r, want)                                                               \
    do {                                                                                       \
        char st_[64];                                                                          \
        cr_assert(WIFEXITED((r)->status) && WEXITSTATUS((r)->status) == (want),               \
                  "%s, expected exit status %d\nstdout: %s\nstderr: %s",                       \
                  sup_status_text((r)->status, st_, sizeof st_), (want), (r)->out, (r)->err); \
    } while (0)

/* ---- environment --------------------------------------------------------- */

/* Value of a variable meson sets for the tests; fails the test when unset. */
const char *sup_need_env(const char *name);
/* The built agent (PMT_AGENT); fails the test when it does not exist. */
const char *sup_agent(void);

/* ---- folders and files --------------------------------------------------- */

/* A new folder /tmp/pmt-<name>-XXXXXX, its real path (free with sup_done). */
char *sup_tmpdir(const char *name);
/* Removes a test's folder once it passed (a failed test leaves it to look at). */
void sup_done(char *dir);
/* Does path exist (following links)? */
int sup_exists(const char *path);
/* Creates or replaces path with text, then sets its mode. */
void sup_write_file(const char *path, const char *text, mode_t mode);
/* mkdir path (0755), unless it exists. */
void sup_mkdir(const char *path);
/* mkdir -p dir/rel, one folder of rel at a time (dir must exist). */
void sup_mkdirs(const char *dir, const char *rel);

#endif
