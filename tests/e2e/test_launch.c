/* Every way of starting a Python program, in every mode and interpreter:
 * python -c, python script, python -m, a script on stdin and a console script
 * (#!/usr/bin/env python3). Each run of grow.py must leave one log per mode,
 * well named and valid, starting in the user's program, with the 50 MB jump
 * at the loop line; the program's output and status stay its own. */
#include "checks.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum form { FORM_C, FORM_SCRIPT, FORM_MODULE, FORM_STDIN, FORM_CONSOLE };

struct launch {
    enum form form;
    const char *modes;   /* PYMEMTRACE */
};

static void run_launch(const struct pmt_python *py, const void *arg)
{
    const struct launch *c = arg;
    const char *dir = pmt_tmpdir();
    const char *programs = pmt_env("PMT_PROGRAMS");
    char *grow = e2e_program("grow.py");
    const char **env = PMT_LIST(e2e_preload(), pmt_strf("PYMEMTRACE=%s", c->modes));
    const char **argv = NULL;
    const char *stdin_text = NULL, *file_suffix = "/grow.py", *frst_file = NULL;

    switch (c->form) {
    case FORM_C:
        argv = PMT_LIST(py->path, "-c",
                        pmt_strf("import sys; sys.path.insert(0, '%s'); import grow; grow.main()", programs));
        frst_file = "<string>";
        break;
    case FORM_SCRIPT:
        argv = PMT_LIST(py->path, grow);
        frst_file = grow;
        break;
    case FORM_MODULE:
        /* the first events come from importing runpy: FRST is only checked not to be site.py */
        argv = PMT_LIST(py->path, "-m", "grow");
        env = pmt_list_cat(env, PMT_LIST(pmt_strf("PYTHONPATH=%s", programs)));
        break;
    case FORM_STDIN:
        argv = PMT_LIST(py->path);
        stdin_text = pmt_read_file(grow, NULL);
        file_suffix = frst_file = "<stdin>";
        break;
    case FORM_CONSOLE: {
        /* like a pip-installed entry point: found through PATH, run by env */
        const char *bin = pmt_tmpdir();
        char *python3 = pmt_join(bin, "python3");
        cr_assert(symlink(py->path, python3) == 0, "symlink %s: %s", python3, strerror(errno));
        char *script = pmt_join(bin, "pmt-grow");
        pmt_write_file(script, "#!/usr/bin/env python3\nimport grow\ngrow.main()\n", 0755);
        const char *path = getenv("PATH");
        env = pmt_list_cat(env, PMT_LIST(pmt_strf("PYTHONPATH=%s", programs),
                                         pmt_strf("PATH=%s:%s", bin, path ? path : "/usr/bin:/bin")));
        argv = PMT_LIST(script);
        frst_file = script;
        break;
    }
    }

    struct pmt_run_result r;
    pmt_run(&(struct pmt_run_opts){.argv = argv, .cwd = dir, .env = env, .stdin_text = stdin_text}, &r);
    cr_assert(r.exited && r.exit_code == 0, "grow.py should exit with 0\n%s", pmt_run_describe(&r));
    pid_t pid = e2e_grow_output(&r, py->version);
    cr_assert(pid == r.pid, "the program's pid %d is not the process started (%d)", (int)pid, (int)r.pid);

    struct pmt_logset set;
    pmt_logset_load(dir, &set);
    const char *letters = e2e_mode_letters(c->modes);
    e2e_check_names(&set, &r, pid, letters, py->version, true);
    size_t n_all;
    pmt_list_dir(dir, NULL, &n_all);
    cr_assert(n_all == set.n, "files other than the logs in %s", dir);
    e2e_check_stderr(&r, dir, &set, false, "");
    for (size_t i = 0; i < set.n; i++) {
        e2e_check_log(&set.files[i], NULL, -1);
        e2e_check_grow_jump(&set.files[i], file_suffix);
        e2e_check_frst_file(&set.files[i], frst_file, c->form == FORM_MODULE);
    }
}

#define LAUNCH_CASES(form)                                                                         \
    {                                                                                              \
        {form, "profile"}, {form, "trace"}, { form, "profile,trace" }                              \
    }

static const struct launch c_cases[] = LAUNCH_CASES(FORM_C);
static const struct launch script_cases[] = LAUNCH_CASES(FORM_SCRIPT);
static const struct launch module_cases[] = LAUNCH_CASES(FORM_MODULE);
static const struct launch stdin_cases[] = LAUNCH_CASES(FORM_STDIN);
static const struct launch console_cases[] = LAUNCH_CASES(FORM_CONSOLE);

E2E_TESTS_MODES(launch, dash_c, run_launch, c_cases)
E2E_TESTS_MODES(launch, script, run_launch, script_cases)
E2E_TESTS_MODES(launch, dash_m, run_launch, module_cases)
E2E_TESTS_MODES(launch, stdin, run_launch, stdin_cases)
E2E_TESTS_MODES(launch, console_script, run_launch, console_cases)
