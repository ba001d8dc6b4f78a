/* harness: see harness.h. */
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- small things ------------------------------------------------------- */

char *pmt_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0, "out of memory");
    return s;
}

const char **pmt_list(const char *first, ...)
{
    size_t n = 0, cap = 8;
    const char **v = malloc(cap * sizeof *v);
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        if (n + 1 >= cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = s;
    }
    va_end(ap);
    v[n] = NULL;
    return v;
}

const char **pmt_list_cat(const char *const *a, const char *const *b)
{
    size_t na = 0, nb = 0;
    while (a && a[na])
        na++;
    while (b && b[nb])
        nb++;
    const char **v = malloc((na + nb + 1) * sizeof *v);
    for (size_t i = 0; i < na; i++)
        v[i] = a[i];
    for (size_t i = 0; i < nb; i++)
        v[na + i] = b[i];
    v[na + nb] = NULL;
    return v;
}

const char *pmt_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && v[0] != '\0',
              "%s is not set: run the end-to-end tests with `meson test e2e`, which sets it", name);
    return v;
}

char *pmt_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    return pmt_strf("%s%s%s", dir, (dl > 0 && dir[dl - 1] == '/') ? "" : "/", name);
}

char *pmt_excerpt(const char *text, size_t max)
{
    if (text == NULL)
        return pmt_strf("(none)");
    size_t len = strlen(text);
    if (len <= max)
        return pmt_strf("%s", text);
    return pmt_strf("%.*s\n[... %zu bytes ...]\n%s", (int)(max / 2), text, len - max,
                    text + len - max / 2);
}

/* ---- test life cycle ---------------------------------------------------- */

#define PMT_MAX_TMPDIRS 16
static char *tmpdirs[PMT_MAX_TMPDIRS];
static size_t n_tmpdirs;
static bool body_done;

const char *pmt_tmpdir(void)
{
    cr_assert(n_tmpdirs < PMT_MAX_TMPDIRS, "too many temporary folders in one test");
    char *t = pmt_strf("/tmp/pmt-e2e-XXXXXX");
    cr_assert(mkdtemp(t) != NULL, "mkdtemp %s: %s", t, strerror(errno));
    tmpdirs[n_tmpdirs++] = t;
    return t;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void pmt_done(void)
{
    body_done = true;
}

void pmt_fini(void)
{
    for (size_t i = 0; i < n_tmpdirs; i++) {
        if (body_done)
            nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        else
            cr_log_warn("kept %s for inspection", tmpdirs[i]);
    }
    n_tmpdirs = 0;
}

/* ---- files -------------------------------------------------------------- */

char *pmt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            cr_assert(buf != NULL, "out of memory reading %s", path);
        }
    }
    cr_assert(!ferror(f), "cannot read %s", path);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void pmt_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        cr_assert(w > 0, "cannot write %s: %s", path, strerror(errno));
        off += (size_t)w;
    }
    cr_assert(fchmod(fd, mode) == 0 && close(fd) == 0, "cannot close %s", path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **pmt_list_dir(const char *dir, const char *suffix, size_t *n)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "cannot list %s: %s", dir, strerror(errno));
    size_t cap = 16, k = 0;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    size_t sl = suffix ? strlen(suffix) : 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        size_t nl = strlen(e->d_name);
        if (suffix && (nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0))
            continue;
        if (k + 1 >= cap)
            names = realloc(names, (cap *= 2) * sizeof *names);
        names[k++] = pmt_strf("%s", e->d_name);
    }
    closedir(d);
    qsort(names, k, sizeof *names, cmp_str);
    names[k] = NULL;
    *n = k;
    return names;
}

int pmt_marker_line(const char *path, const char *marker)
{
    char *text = pmt_read_file(path, NULL);
    int line = 1;
    for (char *p = text; *p; p++) {
        char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (memmem(p, len, marker, strlen(marker)) != NULL)
            return line;
        if (!eol)
            break;
        p = eol;
        line++;
    }
    cr_assert_fail("no line of %s contains the marker `%s`", path, marker);
    return -1;
}

/* ---- processes ---------------------------------------------------------- */

static bool env_name_is(const char *entry, const char *name)
{
    size_t nl = strlen(name);
    return strncmp(entry, name, nl) == 0 && (entry[nl] == '=' || entry[nl] == '\0');
}

/* Sets ("NAME=value") or unsets ("NAME") an entry of a NULL-terminated array. */
static void env_apply(char **env, size_t *k, const char *entry)
{
    const char *eq = strchr(entry, '=');
    char *name = eq ? pmt_strf("%.*s", (int)(eq - entry), entry) : pmt_strf("%s", entry);
    size_t w = 0;
    for (size_t r = 0; r < *k; r++)
        if (!env_name_is(env[r], name))
            env[w++] = env[r];
    *k = w;
    if (eq)
        env[(*k)++] = (char *)entry;
    env[*k] = NULL;
    free(name);
}

static char **build_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 3, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (!strncmp(e, "PYMEMTRACE", 10) || !strncmp(e, "PYTHON", 6) || env_name_is(e, "LD_PRELOAD"))
            continue;
        env[k++] = environ[i];
    }
    env[k] = NULL;
    env_apply(env, &k, "LC_ALL=C.UTF-8");
    env_apply(env, &k, "PYTHONDONTWRITEBYTECODE=1");
    for (size_t i = 0; i < m; i++)
        env_apply(env, &k, extra[i]);
    return env;
}

static const char *env_lookup(char **env, const char *name)
{
    for (size_t i = 0; env[i]; i++)
        if (env_name_is(env[i], name) && env[i][strlen(name)] == '=')
            return env[i] + strlen(name) + 1;
    return NULL;
}

/* The file execve should run for argv0, searched in the child's PATH. */
static char *resolve_program(const char *argv0, char **env)
{
    if (strchr(argv0, '/'))
        return pmt_strf("%s", argv0);
    const char *path = env_lookup(env, "PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    char *copy = pmt_strf("%s", path), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = pmt_join(dir[0] ? dir : ".", argv0);
        if (access(cand, X_OK) == 0) {
            free(copy);
            return cand;
        }
        free(cand);
    }
    free(copy);
    return pmt_strf("%s", argv0);   /* execve fails; the child says so */
}

struct sink {
    char *buf;
    size_t len, cap;
    int fd;
};

static void sink_read(struct sink *s)
{
    for (;;) {
        if (s->cap - s->len < 4096) {
            s->cap = s->cap ? s->cap * 2 : 65536;
            s->buf = realloc(s->buf, s->cap + 1);
            cr_assert(s->buf != NULL, "out of memory capturing output");
        }
        ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (r > 0) {
            s->len += (size_t)r;
            continue;
        }
        if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
            close(s->fd);
            s->fd = -1;
        }
        return;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *describe_argv(const char *const *argv)
{
    char *s = pmt_strf("%s", "");
    for (size_t i = 0; argv[i]; i++) {
        char *t = pmt_strf("%s%s'%s'", s, i ? " " : "", argv[i]);
        free(s);
        s = t;
    }
    return s;
}

static void child_exec(const struct pmt_run_opts *o, const char *prog, char **env, int in_fd,
                       int out_fd, int err_fd)
{
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    if (o->cwd && chdir(o->cwd) != 0) {
        dprintf(2, "pmt_run: chdir %s: %s\n", o->cwd, strerror(errno));
        _exit(126);
    }
    if (o->thp_off && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
        dprintf(2, "pmt_run: PR_SET_THP_DISABLE: %s\n", strerror(errno));
        _exit(126);
    }
    execve(prog, (char *const *)o->argv, env);
    dprintf(2, "pmt_run: cannot run %s: %s\n", prog, strerror(errno));
    _exit(127);
}

void pmt_run(const struct pmt_run_opts *o, struct pmt_run_result *res)
{
    memset(res, 0, sizeof *res);
    char **env = build_env(o->env);
    char *prog = resolve_program(o->argv[0], env);
    int out_p[2], err_p[2], in_p[2] = {-1, -1};
    cr_assert(pipe2(out_p, O_CLOEXEC) == 0 && pipe2(err_p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    if (o->stdin_text)
        cr_assert(pipe2(in_p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    else
        cr_assert((in_p[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0, "/dev/null: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);   /* a child that does not read its stdin must not kill the test */

    res->started = time(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(o, prog, env, in_p[0], out_p[1], err_p[1]);
    setpgid(pid, pid);
    res->pid = pid;
    close(out_p[1]);
    close(err_p[1]);
    close(in_p[0]);

    struct sink out = {.fd = out_p[0]}, err = {.fd = err_p[0]};
    fcntl(out.fd, F_SETFL, O_NONBLOCK);
    fcntl(err.fd, F_SETFL, O_NONBLOCK);
    int in_fd = in_p[1];
    size_t in_off = 0, in_len = o->stdin_text ? strlen(o->stdin_text) : 0;
    if (in_fd >= 0)
        fcntl(in_fd, F_SETFL, O_NONBLOCK);

    double deadline = t0 + (o->timeout_s > 0 ? o->timeout_s : 60);
    int status = 0;
    bool exited = false, timed_out = false;
    double exit_time = 0;
    for (;;) {
        double now = now_s();
        if (!exited && now > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            exited = timed_out = true;
            break;
        }
        if (exited && ((out.fd < 0 && err.fd < 0) || now > exit_time + 5))
            break;   /* a grandchild may hold the pipes: do not wait for it forever */
        if (in_fd >= 0 && in_off == in_len) {
            close(in_fd);
            in_fd = -1;
        }
        struct pollfd pf[3];
        int np = 0;
        if (out.fd >= 0)
            pf[np++] = (struct pollfd){.fd = out.fd, .events = POLLIN};
        if (err.fd >= 0)
            pf[np++] = (struct pollfd){.fd = err.fd, .events = POLLIN};
        if (in_fd >= 0)
            pf[np++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        poll(pf, (nfds_t)np, 20);
        for (int i = 0; i < np; i++) {
            if (!pf[i].revents)
                continue;
            if (pf[i].fd == out.fd)
                sink_read(&out);
            else if (pf[i].fd == err.fd)
                sink_read(&err);
            else if (pf[i].fd == in_fd) {
                ssize_t w = write(in_fd, o->stdin_text + in_off, in_len - in_off);
                if (w > 0)
                    in_off += (size_t)w;
                else if (errno != EAGAIN && errno != EINTR)
                    in_off = in_len;   /* the child closed its stdin */
            }
        }
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            exit_time = now_s();
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    if (out.fd >= 0)
        sink_read(&out), out.fd >= 0 ? close(out.fd) : 0;
    if (err.fd >= 0)
        sink_read(&err), err.fd >= 0 ? close(err.fd) : 0;
    res->seconds = now_s() - t0;
    res->ended = time(NULL);
    res->out = out.buf ? out.buf : pmt_strf("%s", "");
    res->out[out.len] = '\0';
    res->out_len = out.len;
    res->err = err.buf ? err.buf : pmt_strf("%s", "");
    res->err[err.len] = '\0';
    res->err_len = err.len;
    res->exited = WIFEXITED(status);
    res->exit_code = res->exited ? WEXITSTATUS(status) : -1;
    res->signaled = WIFSIGNALED(status);
    res->signal = res->signaled ? WTERMSIG(status) : 0;
    free(env);
    free(prog);
    if (timed_out) {
        char *a = describe_argv(o->argv);
        cr_assert_fail("timed out after %d s, killed: %s\n--- stdout:\n%s\n--- stderr:\n%s", o->timeout_s > 0 ? o->timeout_s : 60,
                       a, pmt_excerpt(res->out, 2000), pmt_excerpt(res->err, 2000));
    }
}

char *pmt_run_describe(const struct pmt_run_result *r)
{
    char *st = r->exited ? pmt_strf("exit status %d", r->exit_code)
                         : r->signaled ? pmt_strf("killed by signal %d (%s)", r->signal, strsignal(r->signal))
                                       : pmt_strf("unknown end");
    return pmt_strf("pid %d, %s, %.2f s\n--- stdout:\n%s\n--- stderr:\n%s", (int)r->pid, st, r->seconds,
                    pmt_excerpt(r->out, 3000), pmt_excerpt(r->err, 3000));
}

/* ---- interpreters ------------------------------------------------------- */

/* Where an interpreter is looked for: pyenv, the system (a static build
 * named pythonX.Y or pythonX.Yd in the system's standard PATH), or pyenv
 * first and then the system. */
enum py_where { PY_PYENV, PY_SYSTEM, PY_EITHER };

static const struct {
    const char *label;
    int major, minor;
    enum py_where where;
    const char *suffix; /* of the system's executable: "d" for debug builds */
} py_table[PMT_PY_COUNT] = {
    [PMT_PY_DEBIAN] = {"debian", 3, 11}, [PMT_PY_38] = {"3.8", 3, 8},   [PMT_PY_39] = {"3.9", 3, 9},
    [PMT_PY_310] = {"3.10", 3, 10},      [PMT_PY_311] = {"3.11", 3, 11}, [PMT_PY_312] = {"3.12", 3, 12},
    [PMT_PY_313] = {"3.13", 3, 13},      [PMT_PY_37] = {"3.7", 3, 7},   [PMT_PY_36] = {"3.6", 3, 6},
    [PMT_PY_27] = {"2.7", 2, 7},
    [PMT_PY_313S] = {"3.13-static", 3, 13, PY_SYSTEM, ""},
    [PMT_PY_314] = {"3.14", 3, 14, PY_EITHER, ""},
    [PMT_PY_315] = {"3.15", 3, 15, PY_EITHER, ""},
    [PMT_PY_314D] = {"3.14d", 3, 14, PY_SYSTEM, "d"},
    [PMT_PY_315D] = {"3.15d", 3, 15, PY_SYSTEM, "d"},
};

/* pythonX.Y<suffix> in the system's standard PATH (confstr's, not the
 * environment's: pyenv's shims are not the system's), or NULL. */
static char *system_python(int major, int minor, const char *suffix)
{
    char path[512];
    size_t n = confstr(_CS_PATH, path, sizeof path);
    if (n == 0 || n > sizeof path)
        snprintf(path, sizeof path, "/bin:/usr/bin");
    for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *exe = pmt_strf("%s/python%d.%d%s", dir, major, minor, suffix);
        if (access(exe, X_OK) == 0)
            return exe;
    }
    return NULL;
}

/* 1 if the interpreter has libpython linked in: no libpython is mapped in
 * it (Debian builds a shared libpython too, for embedding, so sysconfig's
 * Py_ENABLE_SHARED does not tell). */
static bool python_is_static(const char *exe)
{
    const char *argv[] = {exe, "-c", "print(any('libpython' in l for l in open('/proc/self/maps')))", NULL};
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .timeout_s = 30}, &r);
    return r.exited && r.exit_code == 0 && strncmp(r.out, "False", 5) == 0;
}

const char *pmt_pyenv_root(void)
{
    static char *root;
    if (root)
        return root;
    const char *e = getenv("PYENV_ROOT");
    if (e && e[0]) {
        root = pmt_strf("%s", e);
        return root;
    }
    char **env = build_env(NULL);
    char *prog = resolve_program("pyenv", env);
    free(env);
    if (strchr(prog, '/') && access(prog, X_OK) == 0) {
        const char *argv[] = {prog, "root", NULL};
        struct pmt_run_result r;
        pmt_run(&(struct pmt_run_opts){.argv = argv, .timeout_s = 30}, &r);
        size_t l = strlen(r.out);
        while (l > 0 && (r.out[l - 1] == '\n' || r.out[l - 1] == ' '))
            r.out[--l] = '\0';
        if (r.exited && r.exit_code == 0 && l > 0) {
            root = r.out;
            return root;
        }
    }
    const char *home = getenv("HOME");
    root = pmt_strf("%s/.pyenv", home ? home : "");
    return root;
}

/* Highest patch release <root>/versions/<major>.<minor>.<digits>, or NULL. */
static char *pyenv_version_dir(int major, int minor)
{
    char *vdir = pmt_join(pmt_pyenv_root(), "versions");
    DIR *d = opendir(vdir);
    if (!d)
        return NULL;
    char *prefix = pmt_strf("%d.%d.", major, minor);
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        const char *p = e->d_name + strlen(prefix);
        if (!*p || strspn(p, "0123456789") != strlen(p))
            continue;   /* 3.13.0t (free-threaded) and the like are other builds */
        long patch = strtol(p, NULL, 10);
        if (patch > best)
            best = patch;
    }
    closedir(d);
    if (best < 0)
        return NULL;
    return pmt_strf("%s/%s%ld", vdir, prefix, best);
}

static char *query_version(const char *exe)
{
    const char *argv[] = {exe, "-c", "import platform; print(platform.python_version())", NULL};
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .timeout_s = 30}, &r);
    cr_assert(r.exited && r.exit_code == 0, "cannot ask %s for its version: %s", exe, pmt_run_describe(&r));
    size_t l = strcspn(r.out, "\n");
    r.out[l] = '\0';
    return r.out;
}

void pmt_python_require(enum pmt_py_id id, struct pmt_python *out)
{
    memset(out, 0, sizeof *out);
    out->id = id;
    out->label = py_table[id].label;
    if (id == PMT_PY_DEBIAN) {
        out->path = pmt_strf("%s", "/usr/bin/python3");
        out->debian = true;
        cr_assert(access(out->path, X_OK) == 0,
                  "Debian's %s is missing: it is the one interpreter every run must test", out->path);
    } else if (py_table[id].where == PY_SYSTEM ||
               (py_table[id].where == PY_EITHER && !pyenv_version_dir(py_table[id].major, py_table[id].minor))) {
        int major = py_table[id].major, minor = py_table[id].minor;
        const char *suffix = py_table[id].suffix;
        out->system = true;
        out->path = system_python(major, minor, suffix);
        if (!out->path)
            cr_skip_test("Python %s: no python%d.%d%s in the system's PATH%s (Debian sid has it: "
                         "scripts/sid-chroot.sh runs these tests there)",
                         py_table[id].label, major, minor, suffix,
                         py_table[id].where == PY_EITHER ? " nor in pyenv" : "");
        if (!python_is_static(out->path))
            cr_skip_test("Python %s: %s is not a static build", py_table[id].label, out->path);
    } else {
        int major = py_table[id].major, minor = py_table[id].minor;
        char *dir = pyenv_version_dir(major, minor);
        if (dir == NULL)
            cr_skip_test("pyenv Python %d.%d not found under %s", major, minor, pmt_pyenv_root());
        out->prefix = dir;
        out->path = pmt_strf("%s/bin/python%d.%d", dir, major, minor);
        if (access(out->path, X_OK) != 0)
            cr_skip_test("pyenv Python %d.%d: no executable %s", major, minor, out->path);
        const char *abi = (major == 3 && minor < 8) ? "m" : "";
        out->libpython = pmt_strf("%s/lib/libpython%d.%d%s.so.1.0", dir, major, minor, abi);
        if (access(out->libpython, R_OK) != 0)
            out->libpython = NULL;
    }
    out->version = query_version(out->path);
    cr_assert(sscanf(out->version, "%d.%d", &out->major, &out->minor) == 2,
              "%s says its version is `%s`", out->path, out->version);
    cr_assert(out->major == py_table[id].major && out->minor == py_table[id].minor,
              "%s is Python %s, expected %d.%d", out->path, out->version, py_table[id].major,
              py_table[id].minor);
}

/* ---- log lines ---------------------------------------------------------- */

#define HDR_FMT "HDR: %-12s %-6s  %-12s %-8s %-80s %4s %-32s %12s %12s"
#define EVENT_FMT "%s: %-12zu +%-6ld %-12.6f %-8s %-80s %4d %-32s %12zu %12ld"
#define MSG_FMT "MSG:  %-12zu +%-6ld %-12.6f # %s"

static const char *const whats[] = {"CALL",   "EXCEPT",   "LINE",     "RETURN",
                                    "C_CALL", "C_EXCEPT", "C_RETURN", "OPCODE"};

void pmt_fmt_hdr(char *buf, size_t cap)
{
    snprintf(buf, cap, HDR_FMT, "Event", "dEvent", "Clock", "What", "File", "Line", "Function", "RSS", "dRSS");
}

void pmt_fmt_event(char *buf, size_t cap, const char *prefix, size_t event, long devent, double clock,
                   const char *what, const char *file, int line, const char *func, size_t rss, long drss)
{
    snprintf(buf, cap, EVENT_FMT, prefix, event, devent, clock, what, file, line, func, rss, drss);
}

void pmt_fmt_msg(char *buf, size_t cap, size_t event, long devent, double clock, const char *text)
{
    snprintf(buf, cap, MSG_FMT, event, devent, clock, text);
}

bool pmt_is_event(enum pmt_kind k)
{
    return k == PMT_K_FRST || k == PMT_K_NEXT || k == PMT_K_PREV || k == PMT_K_LAST;
}

static const char *kind_prefix(enum pmt_kind k)
{
    switch (k) {
    case PMT_K_FRST: return "FRST";
    case PMT_K_NEXT: return "NEXT";
    case PMT_K_PREV: return "PREV";
    case PMT_K_LAST: return "LAST";
    case PMT_K_MSG: return "MSG";
    case PMT_K_ERR: return "ERR";
    case PMT_K_HDR: return "HDR";
    case PMT_K_SOF: return "SOF";
    case PMT_K_EOF: return "EOF";
    case PMT_K_MESSAGE: return "message";
    default: return "?";
    }
}

/* "<event> +<dEvent> <clock>" with whatever spacing; the re-format check
 * judges the spacing. Returns the end of the clock token, sets *clock_tok. */
static const char *parse_lead(const char *p, struct pmt_line *l, const char **clock_tok)
{
    char *end;
    if (!isdigit((unsigned char)*p))
        return NULL;
    errno = 0;
    l->event = strtoull(p, &end, 10);
    if (errno)
        return NULL;
    p = end;
    while (*p == ' ')
        p++;
    if (*p++ != '+' || !(isdigit((unsigned char)*p) || *p == '-'))
        return NULL;
    l->devent = strtol(p, &end, 10);
    p = end;
    while (*p == ' ')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    *clock_tok = p;
    l->clock = strtod(p, &end);
    if (end == p)
        return NULL;
    return end;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Explains how a line differs from the bytes its fields format to. */
static char *mismatch(const char *got, const char *want)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    return pmt_strf("does not re-format to itself; first difference at column %zu\n   got: `%s`\n  want: `%s`",
                    i + 1, got, want);
}

static const char *parse_msg(struct pmt_line *l)
{
    const char *clk;
    const char *p = parse_lead(l->raw + 6, l, &clk);
    if (!p)
        return "cannot read the event, dEvent and clock columns of a MSG line";
    const char *text = clk + max_sz(12, (size_t)(p - clk)) + 3;
    if (text > l->raw + strlen(l->raw))
        return "MSG line without ` # ` and text";
    l->text = (char *)text;
    size_t cap = strlen(l->raw) + 64;
    char *buf = malloc(cap);
    pmt_fmt_msg(buf, cap, l->event, l->devent, l->clock, l->text);
    if (l->kind == PMT_K_ERR)
        memcpy(buf, "ERR", 3);
    const char *err = strcmp(buf, l->raw) ? mismatch(l->raw, buf) : NULL;
    free(buf);
    return err;
}

static char *dup_trimmed(const char *b, const char *e)
{
    while (e > b && e[-1] == ' ')
        e--;
    return pmt_strf("%.*s", (int)(e - b), b);
}

static const char *parse_event(struct pmt_line *l)
{
    const char *raw = l->raw, *end_raw = raw + strlen(raw);
    const char *clk;
    const char *p = parse_lead(raw + 6, l, &clk);
    if (!p)
        return "cannot read the event, dEvent and clock columns";
    while (*p == ' ')
        p++;
    const char *w = p;
    while (*p && *p != ' ')
        p++;
    size_t wl = (size_t)(p - w);
    if (wl == 0 || wl >= sizeof l->what)
        return "no What column";
    memcpy(l->what, w, wl);
    l->what[wl] = '\0';
    bool known = false;
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
        known |= !strcmp(l->what, whats[i]);
    if (!known)
        return pmt_strf("What `%s` is not one of CALL EXCEPT LINE RETURN C_CALL C_EXCEPT C_RETURN OPCODE", l->what);
    const char *fstart = w + max_sz(8, wl) + 1;
    if (fstart + 80 > end_raw)
        return "line too short for the File column";

    /* From the right: dRSS and RSS are the last two tokens; RSS is right-aligned
     * in 12 columns preceded by one space, which ends the Function column. */
    const char *d_b = end_raw;
    while (d_b > fstart && d_b[-1] != ' ')
        d_b--;
    const char *r_e = d_b;
    while (r_e > fstart && r_e[-1] == ' ')
        r_e--;
    const char *r_b = r_e;
    while (r_b > fstart && r_b[-1] != ' ')
        r_b--;
    if (d_b == end_raw || r_b == r_e)
        return "no RSS and dRSS columns";
    char *end;
    errno = 0;
    l->drss = strtol(d_b, &end, 10);
    if (end != end_raw || errno)
        return "dRSS is not a number";
    l->rss = strtoull(r_b, &end, 10);
    if (end != r_e || errno || !isdigit((unsigned char)*r_b))
        return "RSS is not a number";
    const char *func_end = r_e - max_sz(12, (size_t)(r_e - r_b)) - 1;
    if (func_end < fstart + 80)
        return "RSS column misaligned";

    /* File may be long or hold spaces: try each space after 80 columns as the
     * one before Line; the split whose fields re-format to the line wins. */
    size_t cap = strlen(raw) + 256;
    char *buf = malloc(cap);
    char *first_try = NULL;
    char prefix[5];
    memcpy(prefix, raw, 4);
    prefix[4] = '\0';
    for (const char *sp = fstart + 80; sp < func_end; sp++) {
        if (*sp != ' ')
            continue;
        const char *d = sp + 1;
        while (d < func_end && *d == ' ')
            d++;
        if (d >= func_end || !(isdigit((unsigned char)*d) || *d == '-'))
            continue;
        long ln = strtol(d, &end, 10);
        if (end > func_end || (end < func_end && *end != ' ') || end == d)
            continue;
        char *file = dup_trimmed(fstart, sp);
        char *func = end < func_end ? dup_trimmed(end + 1, func_end) : pmt_strf("%s", "");
        pmt_fmt_event(buf, cap, prefix, l->event, l->devent, l->clock, l->what, file, (int)ln, func, l->rss,
                      l->drss);
        if (!strcmp(buf, raw)) {
            l->file = file;
            l->func = func;
            l->line = (int)ln;
            free(buf);
            return NULL;
        }
        if (!first_try)
            first_try = pmt_strf("%s", buf);
        free(file);
        free(func);
    }
    free(buf);
    if (first_try)
        return mismatch(raw, first_try);
    return "no Line column after the File column";
}

const char *pmt_nat_check(const char *raw)
{
    const char *p = raw + 6;
    for (int i = 0;; i++) {
        int idx = -1, used = 0;
        char pc[32] = "";
        if (sscanf(p, "#%d 0x%31[0-9a-f]%n", &idx, pc, &used) != 2 || idx != i || strlen(pc) != 16)
            return pmt_strf("frame %d: expected '#%d 0x<16 hex digits>' at '%.40s'", i, i, p);
        p += used;
        if (*p++ != ' ')
            return "no library after the address";
        size_t lib = strcspn(p, " ");
        if (!lib || p[lib] != ' ')
            return "no symbol after the library";
        p += lib + 1;
        size_t sym = strcspn(p, " ");
        if (!sym)
            return "an empty symbol";
        const char *plus = memchr(p, '+', sym);
        if (plus && (strncmp(plus, "+0x", 3) || plus + 3 >= p + sym))
            return "a symbol offset not written +0x<hex>";
        if (!plus && !(sym == 1 && *p == '?'))
            return "a known symbol without its offset";
        p += sym;
        if (!*p)
            return NULL;
        if (strncmp(p, " | ", 3))
            return pmt_strf("frames must be separated by ' | ' at '%.20s'", p);
        p += 3;
    }
}

static void classify(struct pmt_line *l, bool first)
{
    static const struct {
        const char *prefix;
        enum pmt_kind kind;
    } kinds[] = {{"HDR: ", PMT_K_HDR},   {"MSG: ", PMT_K_MSG},   {"ERR: ", PMT_K_ERR},   {"FRST: ", PMT_K_FRST},
                 {"NEXT: ", PMT_K_NEXT}, {"PREV: ", PMT_K_PREV}, {"LAST: ", PMT_K_LAST},
                 {"NAT:  ", PMT_K_NAT}};
    l->kind = PMT_K_OTHER;
    if (!strcmp(l->raw, "SOF"))
        l->kind = PMT_K_SOF;
    else if (!strcmp(l->raw, "EOF"))
        l->kind = PMT_K_EOF;
    else
        for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
            if (!strncmp(l->raw, kinds[i].prefix, strlen(kinds[i].prefix)))
                l->kind = kinds[i].kind;
    if (first && l->kind != PMT_K_SOF)
        l->kind = PMT_K_MESSAGE;
    if (l->kind == PMT_K_HDR) {
        char hdr[512];
        pmt_fmt_hdr(hdr, sizeof hdr);
        l->perr = strcmp(l->raw, hdr) ? mismatch(l->raw, hdr) : NULL;
    } else if (l->kind == PMT_K_MSG || l->kind == PMT_K_ERR) {
        l->perr = parse_msg(l);
    } else if (pmt_is_event(l->kind)) {
        l->perr = parse_event(l);
    }
}

struct pmt_log *pmt_log_parse(const char *text, size_t len, const char *path)
{
    struct pmt_log *log = calloc(1, sizeof *log);
    log->path = path;
    log->text = malloc(len + 1);
    memcpy(log->text, text, len);
    log->text[len] = '\0';
    log->len = len;
    size_t cap = 64;
    log->lines = calloc(cap, sizeof *log->lines);
    char *p = log->text, *end = log->text + len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (log->n == cap)
            log->lines = realloc(log->lines, (cap *= 2) * sizeof *log->lines);
        struct pmt_line *l = &log->lines[log->n];
        memset(l, 0, sizeof *l);
        l->lineno = (int)log->n + 1;
        l->raw = pmt_strf("%.*s", (int)((eol ? eol : end) - p), p);
        classify(l, log->n == 0);
        log->n++;
        p = eol ? eol + 1 : end;
    }
    return log;
}

struct pmt_log *pmt_log_load(const char *path)
{
    size_t len;
    char *text = pmt_read_file(path, &len);
    struct pmt_log *log = pmt_log_parse(text, len, pmt_strf("%s", path));
    free(text);
    return log;
}

static char *line_err(const struct pmt_log *log, const struct pmt_line *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *line_err(const struct pmt_log *log, const struct pmt_line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = NULL;
    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    va_end(ap);
    if (l == NULL)
        return pmt_strf("%s: %s", log->path ? log->path : "log", why);
    return pmt_strf("%s line %d: %s\n  line: `%.300s`", log->path ? log->path : "log", l->lineno, why, l->raw);
}

char *pmt_log_validate(const struct pmt_log *log, const char *message)
{
    size_t i = 0;
    if (log->n == 0)
        return line_err(log, NULL, "empty file");
    if (message) {
        if (log->lines[0].kind != PMT_K_MESSAGE || strcmp(log->lines[0].raw, message) != 0)
            return line_err(log, &log->lines[0], "expected the message line `%s`", message);
        i++;
    }
    if (i >= log->n || log->lines[i].kind != PMT_K_SOF)
        return line_err(log, i < log->n ? &log->lines[i] : NULL, "expected `SOF`");
    i++;
    if (i >= log->n || log->lines[i].kind != PMT_K_HDR)
        return line_err(log, i < log->n ? &log->lines[i] : NULL, "expected the `HDR:` line");
    if (log->lines[i].perr)
        return line_err(log, &log->lines[i], "HDR: %s", log->lines[i].perr);
    i++;
    bool frst = false;
    for (; i < log->n; i++) {
        const struct pmt_line *l = &log->lines[i];
        if (l->kind == PMT_K_MSG || l->kind == PMT_K_ERR || pmt_is_event(l->kind)) {
            if (l->perr)
                return line_err(log, l, "%s line: %s", kind_prefix(l->kind), l->perr);
        } else if (l->kind == PMT_K_NAT) {
            if (log->lines[i - 1].kind != PMT_K_NEXT)
                return line_err(log, l, "a NAT line not right after a NEXT line");
            const char *why = pmt_nat_check(l->raw);
            if (why)
                return line_err(log, l, "NAT line: %s", why);
            continue;
        } else if (l->kind == PMT_K_EOF) {
            return line_err(log, l, "EOF before any LAST line");
        } else {
            return line_err(log, l, "expected a MSG/FRST/NEXT/PREV/LAST line");
        }
        if (l->kind == PMT_K_FRST) {
            if (frst)
                return line_err(log, l, "a second FRST line");
            frst = true;
        } else if (pmt_is_event(l->kind) && !frst) {
            return line_err(log, l, "%s before any FRST line", kind_prefix(l->kind));
        }
        if (l->kind == PMT_K_LAST)
            break;
    }
    if (i >= log->n)
        return line_err(log, &log->lines[log->n - 1], "the log ends without a LAST line (last line shown)");
    i++;
    if (i >= log->n || log->lines[i].kind != PMT_K_EOF)
        return line_err(log, i < log->n ? &log->lines[i] : &log->lines[i - 1],
                        i < log->n ? "expected `EOF` after LAST" : "no `EOF` after LAST (LAST shown)");
    if (i + 1 < log->n)
        return line_err(log, &log->lines[i + 1], "something after EOF");
    if (log->len == 0 || log->text[log->len - 1] != '\n')
        return line_err(log, &log->lines[i], "no newline at the end of the file");
    return NULL;
}

static long labs_l(long v)
{
    return v < 0 ? -v : v;
}

char *pmt_log_check_semantics(const struct pmt_log *log, long long trigger)
{
    long page = sysconf(_SC_PAGESIZE);
    long threshold = trigger < 0 ? page : (long)trigger;
    const struct pmt_line *logged = NULL, *prev_any = NULL;
    for (size_t i = 0; i < log->n; i++) {
        const struct pmt_line *l = &log->lines[i];
        if (!pmt_is_event(l->kind))
            continue;
        if (l->perr)
            return line_err(log, l, "does not parse: %s", l->perr);
        if (l->kind == PMT_K_FRST) {
            if (l->event != 0 || l->devent != 0 || l->drss != 0)
                return line_err(log, l, "FRST must be event 0 with dEvent +0 and dRSS 0");
            logged = prev_any = l;
            continue;
        }
        if (!logged)
            return line_err(log, l, "%s before FRST", kind_prefix(l->kind));
        if (l->kind == PMT_K_LAST ? l->event < prev_any->event : l->event <= prev_any->event)
            return line_err(log, l, "event %zu does not follow event %zu of line %d", l->event, prev_any->event,
                            prev_any->lineno);
        long want_de = (long)(l->event - logged->event);
        long want_dr = (long)l->rss - (long)logged->rss;
        if (l->devent != want_de)
            return line_err(log, l, "dEvent is %+ld, but the last logged event (line %d) is %zu: expected %+ld",
                            l->devent, logged->lineno, logged->event, want_de);
        if (l->drss != want_dr)
            return line_err(log, l, "dRSS is %ld, but RSS - RSS of the last logged event (line %d) is %ld",
                            l->drss, logged->lineno, want_dr);
        if (l->kind == PMT_K_PREV) {
            if (trigger == 0)
                return line_err(log, l, "a PREV line with d_rss_trigger 0 (every event is logged)");
            const struct pmt_line *n = NULL;
            for (size_t j = i + 1; j < log->n; j++) {
                if (log->lines[j].kind == PMT_K_MSG && log->lines[j].text &&
                    strstr(log->lines[j].text, "thread native_id="))
                    continue;   /* the NEXT may be on another thread */
                n = &log->lines[j];
                break;
            }
            if (!n || n->kind != PMT_K_NEXT)
                return line_err(log, l, "PREV not directly followed by its NEXT");
            if (l->event + 1 != n->event)
                return line_err(log, l, "PREV is event %zu but its NEXT (line %d) is event %zu", l->event,
                                n->lineno, n->event);
            if (labs_l(l->drss) >= threshold)
                return line_err(log, l, "PREV moved RSS by %ld >= the trigger %ld: it should have been logged",
                                l->drss, threshold);
        } else if (l->kind == PMT_K_NEXT) {
            if (trigger == 0 && l->devent != 1)
                return line_err(log, l, "with d_rss_trigger 0 every event is logged, but dEvent is %+ld",
                                l->devent);
            if (trigger != 0 && labs_l(l->drss) < threshold)
                return line_err(log, l, "NEXT with |dRSS| %ld below the trigger %ld", labs_l(l->drss), threshold);
            if (l->devent > 1 && prev_any->kind != PMT_K_PREV)
                return line_err(log, l, "NEXT after %ld unlogged events without the PREV line before it",
                                l->devent - 1);
            logged = l;
        } else if (l->kind == PMT_K_LAST) {
            if (l->devent < 0)
                return line_err(log, l, "LAST before the last logged event");
        }
        prev_any = l;
    }
    if (!logged)
        return line_err(log, NULL, "no FRST line");
    return NULL;
}

const struct pmt_line *pmt_log_first(const struct pmt_log *log, enum pmt_kind kind)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->lines[i].kind == kind)
            return &log->lines[i];
    return NULL;
}

size_t pmt_log_count(const struct pmt_log *log, enum pmt_kind kind)
{
    size_t c = 0;
    for (size_t i = 0; i < log->n; i++)
        c += log->lines[i].kind == kind;
    return c;
}

long pmt_log_find_func(const struct pmt_log *log, const char *func)
{
    for (size_t i = 0; i < log->n; i++)
        if (pmt_is_event(log->lines[i].kind) && log->lines[i].func && !strcmp(log->lines[i].func, func))
            return (long)i;
    return -1;
}

/* ---- log names ---------------------------------------------------------- */

static bool take_digits(const char **p, size_t exact, unsigned long long *v)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || (exact && n != exact) || n > 19)
        return false;
    *v = strtoull(s, NULL, 10);
    *p = s + n;
    return true;
}

bool pmt_log_name_parse(const char *name, struct pmt_log_name *out)
{
    const char *p = name;
    unsigned long long date, tod, n, pid, depth;
    if (!take_digits(&p, 8, &date) || *p++ != '_' || !take_digits(&p, 6, &tod) || *p++ != '_' ||
        !take_digits(&p, 0, &n) || *p++ != '_' || !take_digits(&p, 0, &pid) || *p++ != '_')
        return false;
    if (*p != 'P' && *p != 'T' && *p != 'O' && *p != 'S')
        return false;
    out->mode = *p++;
    if (*p++ != '_' || !take_digits(&p, 0, &depth) || strncmp(p, "_PY", 3) != 0)
        return false;
    p += 3;
    size_t vl = strlen(p);
    if (vl <= 4 || strcmp(p + vl - 4, ".log") != 0 || vl - 4 >= sizeof out->version)
        return false;
    memcpy(out->version, p, vl - 4);
    out->version[vl - 4] = '\0';
    struct tm tm = {
        .tm_year = (int)(date / 10000) - 1900,
        .tm_mon = (int)(date / 100 % 100) - 1,
        .tm_mday = (int)(date % 100),
        .tm_hour = (int)(tod / 10000),
        .tm_min = (int)(tod / 100 % 100),
        .tm_sec = (int)(tod % 100),
    };
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    out->when = timegm(&tm);
    out->n = (unsigned)n;
    out->pid = (pid_t)pid;
    out->depth = (unsigned)depth;
    return true;
}

void pmt_logset_load(const char *dir, struct pmt_logset *out)
{
    size_t n;
    char **names = pmt_list_dir(dir, ".log", &n);
    out->n = n;
    out->files = calloc(n + 1, sizeof *out->files);
    for (size_t i = 0; i < n; i++) {
        struct pmt_logfile *f = &out->files[i];
        f->name = names[i];
        f->path = pmt_join(dir, names[i]);
        cr_assert(pmt_log_name_parse(f->name, &f->id),
                  "log name `%s` is not YYYYMMDD_HHMMSS_<n>_<pid>_<P|T|O|S>_<depth>_PY<version>.log", f->name);
        f->log = pmt_log_load(f->path);
    }
}

const struct pmt_logfile *pmt_logset_get(const struct pmt_logset *set, pid_t pid, char mode)
{
    const struct pmt_logfile *found = NULL;
    size_t count = 0;
    char *names = pmt_strf("%s", "");
    for (size_t i = 0; i < set->n; i++) {
        names = pmt_strf("%s\n  %s", names, set->files[i].name);
        if (set->files[i].id.pid == pid && set->files[i].id.mode == mode) {
            found = &set->files[i];
            count++;
        }
    }
    cr_assert(count == 1, "expected one %c log of pid %d, found %zu among:%s", mode, (int)pid, count,
              set->n ? names : " (no logs)");
    return found;
}

/* ---- stderr ------------------------------------------------------------- */

void pmt_split_stderr(const char *err, char ***agent_lines, size_t *n_agent, char **rest)
{
    size_t cap = 8, k = 0, len = strlen(err), rl = 0;
    char **lines = calloc(cap, sizeof *lines);
    char *r = malloc(len + 1);
    const char *p = err;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (!strncmp(p, "pymemtrace: ", 12)) {
            if (k + 1 >= cap)
                lines = realloc(lines, (cap *= 2) * sizeof *lines);
            lines[k++] = pmt_strf("%.*s", (int)(eol ? ll - 1 : ll), p);
        } else {
            memcpy(r + rl, p, ll);
            rl += ll;
        }
        p += ll;
    }
    r[rl] = '\0';
    lines[k] = NULL;
    *agent_lines = lines;
    *n_agent = k;
    *rest = r;
}
