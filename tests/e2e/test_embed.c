/* Embedding: a C host (embed_host.c) loads libpython with
 * dlopen(RTLD_NOW | RTLD_LOCAL) and runs grow.main(). The agent must find
 * the interpreter anyway and write valid logs with the grow() jump. Tracing
 * may begin during `import site` here (there is no cpython.run_* event), so
 * the FRST line is not checked. */
#include "checks.h"

#include <string.h>
#include <unistd.h>

/* Debian's shared libpython, from its python3's sysconfig, or NULL. */
static char *debian_shared_libpython(const struct pmt_python *py)
{
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(py->path, "-c",
                                 "import sysconfig as s; print(s.get_config_var('LIBDIR') + '/' + "
                                 "s.get_config_var('INSTSONAME'))"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "%s", pmt_run_describe(&r));
    r.out[strcspn(r.out, "\n")] = '\0';
    return access(r.out, R_OK) == 0 ? r.out : NULL;
}

static void run_embed(const struct pmt_python *py, const void *arg)
{
    (void)arg;
    const char *lib = py->libpython;
    if (py->debian || py->system) {
        lib = debian_shared_libpython(py);
        if (!lib)
            cr_skip_test("Debian's shared libpython%d.%d is not installed (package libpython%d.%d)", py->major,
                         py->minor, py->major, py->minor);
    } else if (!lib) {
        cr_skip_test("pyenv Python %s has no shared libpython under %s/lib", py->version, py->prefix);
    }
    const char *dir = pmt_tmpdir();
    char *code = pmt_strf("import sys; sys.path.insert(0, '%s'); import grow; grow.main()", pmt_env("PMT_PROGRAMS"));
    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){
                .argv = PMT_LIST(pmt_env("PMT_EMBED_HOST"), lib, code),
                .cwd = dir,
                .env = PMT_LIST(e2e_preload(), "PYMEMTRACE=profile,trace"),
            },
            &r);
    cr_assert(r.exited && r.exit_code == 0, "embed-host %s should exit with 0\n%s", lib, pmt_run_describe(&r));
    pid_t pid = e2e_grow_output(&r, py->version);
    cr_assert(pid == r.pid, "the program's pid %d is not embed-host's (%d)", (int)pid, (int)r.pid);
    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    e2e_check_names(&set, &r, pid, "PT", py->version, true);
    e2e_check_stderr(&r, dir, &set, false, "");
    for (size_t i = 0; i < set.n; i++) {
        e2e_check_log(&set.files[i], NULL, -1);
        e2e_check_grow_jump(&set.files[i], "/grow.py");
    }
}

E2E_TESTS_SUPPORTED(embed, dlopen_local, run_embed, NULL)
