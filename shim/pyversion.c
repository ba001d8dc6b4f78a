#include "shim/pyversion.h"

#include <string.h>

static const char *pyv_number(const char *p, int *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    int v = 0;
    while (*p >= '0' && *p <= '9' && v < 100000)
        v = v * 10 + (*p++ - '0');
    *out = v;
    return p;
}

int pyv_parse(const char *version, struct pmt_pyversion *out)
{
    memset(out, 0, sizeof *out);
    if (!version)
        return -1;
    const char *p = pyv_number(version, &out->major);
    if (!p || *p != '.')
        return -1;
    p = pyv_number(p + 1, &out->minor);
    if (!p)
        return -1;
    if (*p == '.' && !pyv_number(p + 1, &out->micro))
        return -1;
    size_t n = strcspn(version, " ");
    if (n >= sizeof out->text)
        n = sizeof out->text - 1;
    memcpy(out->text, version, n);
    out->text[n] = '\0';
    out->free_threaded = strstr(version, "free-threading") != NULL;
    return 0;
}

int pyv_supported(const struct pmt_pyversion *v)
{
    return v->major == 3 && v->minor >= 8 && v->minor <= PYV_NEWEST_MINOR && !v->free_threaded;
}

int pyv_newer(const struct pmt_pyversion *v)
{
    return v->major == 3 && v->minor > PYV_NEWEST_MINOR && !v->free_threaded;
}
