/* support: the scripts tests' process runner and file helpers (support.h). */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- the process runner -------------------------------------------------- */

char *sup_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (;;) {
        if (cap - n < 2048) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int sup_named_in(const char *const *list, const char *entry)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strncmp(list[i], entry, n) == 0 && (list[i][n] == '=' || list[i][n] == '\0'))
            return 1;
    return 0;
}

char **sup_env(const char *const *overrides)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (overrides != NULL && overrides[m] != NULL)
        m++;
    char **env = calloc(n + m + 2, sizeof *env);
    cr_assert_not_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "PYMEMTRACE", 10) == 0 || strncmp(e, "LD_PRELOAD=", 11) == 0
            || strncmp(e, "LC_ALL=", 7) == 0 || sup_named_in(overrides, e))
            continue;
        env[k++] = (char *)e;
    }
    if (!sup_named_in(overrides, "LC_ALL"))
        env[k++] = (char *)"LC_ALL=C";
    for (size_t j = 0; j < m; j++)
        if (strchr(overrides[j], '=') != NULL)
            env[k++] = (char *)overrides[j];
    env[k] = NULL;
    return env;
}

void sup_run(struct sup_result *r, const char *cwd, const char *const argv[],
             const char *const overrides[])
{
    char dir[] = "/tmp/pmt-scripts-run-XXXXXX";
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    char **env = sup_env(overrides);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* The program must see default signal handling, whatever the runner set. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(125);
        if (cwd != NULL && chdir(cwd) != 0)
            _exit(125);
        execvpe(argv[0], (char *const *)argv, env);
        dprintf(2, "sup_run: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    free(env);
    r->status = status;
    r->pid = pid;
    r->out = sup_slurp(out_path, &r->out_len);
    r->err = sup_slurp(err_path, &r->err_len);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
}

void sup_free(struct sup_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *sup_status_text(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "wait status %#x", (unsigned)status);
    return buf;
}

/* ---- environment --------------------------------------------------------- */

const char *sup_need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && v[0] != '\0', "%s is not set (meson test sets it; see tests/meson.build)",
              name);
    return v;
}

const char *sup_agent(void)
{
    const char *agent = sup_need_env("PMT_AGENT");
    cr_assert(access(agent, R_OK) == 0,
              "PMT_AGENT %s does not exist: build the agent first (ninja -C build)", agent);
    return agent;
}

/* ---- folders and files --------------------------------------------------- */

char *sup_tmpdir(const char *name)
{
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "/tmp/pmt-%s-XXXXXX", name);
    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    char real[PATH_MAX];
    cr_assert_not_null(realpath(tmpl, real));
    char *dir = strdup(real);
    cr_assert_not_null(dir);
    return dir;
}

static int sup_unlink_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void sup_done(char *dir)
{
    nftw(dir, sup_unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

int sup_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void sup_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

void sup_mkdir(const char *path)
{
    cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
}

void sup_mkdirs(const char *dir, const char *rel)
{
    char path[PATH_MAX];
    cr_assert(strlen(dir) + 1 + strlen(rel) < sizeof path, "path too long: %s/%s", dir, rel);
    for (size_t i = 0;; i++) {
        if (rel[i] == '/' || rel[i] == '\0') {
            snprintf(path, sizeof path, "%s/%.*s", dir, (int)i, rel);
            sup_mkdir(path);
        }
        if (rel[i] == '\0')
            break;
    }
}
