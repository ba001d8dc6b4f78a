/* embed-host: an application that embeds Python the way many do, by loading
 * libpython with dlopen(RTLD_NOW | RTLD_LOCAL) and calling its C API, so that
 * libpython's symbols are not in the global scope where a preloaded agent
 * would look first.
 *
 * usage: embed-host <libpython path> <python code>
 * Initializes Python, runs the code, finalizes; exits 0, or 1 with a message
 * on stderr on any failure. No Python headers: the three entry points are
 * declared here with their documented C signatures. */
#include <dlfcn.h>
#include <stdio.h>

typedef void (*py_initialize_fn)(void);
typedef int (*py_run_simple_string_fn)(const char *command);
typedef int (*py_finalize_ex_fn)(void);

static void *need(void *lib, const char *path, const char *name)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL)
        fprintf(stderr, "embed-host: %s has no %s: %s\n", path, name, dlerror());
    return sym;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: embed-host <libpython path> <python code>\n");
        return 1;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "embed-host: cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    py_initialize_fn initialize = (py_initialize_fn)need(lib, argv[1], "Py_Initialize");
    py_run_simple_string_fn run = (py_run_simple_string_fn)need(lib, argv[1], "PyRun_SimpleString");
    py_finalize_ex_fn finalize = (py_finalize_ex_fn)need(lib, argv[1], "Py_FinalizeEx");
    if (!initialize || !run || !finalize)
        return 1;
    initialize();
    int rc = run(argv[2]);
    if (finalize() < 0) {
        fprintf(stderr, "embed-host: Py_FinalizeEx failed\n");
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "embed-host: the code raised an exception\n");
        return 1;
    }
    return 0;
}
