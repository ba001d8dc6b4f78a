#include <criterion/criterion.h>

#include "shim/pyversion.h"
#include "shim/shim.h"

Test(pyversion, debian_string)
{
    struct pmt_pyversion v;
    cr_assert_eq(pyv_parse("3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]", &v), 0);
    cr_assert_eq(v.major, 3);
    cr_assert_eq(v.minor, 11);
    cr_assert_eq(v.micro, 2);
    cr_assert_str_eq(v.text, "3.11.2");
    cr_assert_eq(v.free_threaded, 0);
    cr_assert_eq(pyv_supported(&v), 1);
}

Test(pyversion, prerelease_and_free_threaded)
{
    struct pmt_pyversion v;
    cr_assert_eq(pyv_parse("3.13.0rc1 experimental free-threading build (main)", &v), 0);
    cr_assert_str_eq(v.text, "3.13.0rc1");
    cr_assert_eq(v.free_threaded, 1);
    cr_assert_eq(pyv_supported(&v), 0, "free-threaded builds are refused");
}

Test(pyversion, range)
{
    static const char *const yes[] = {"3.8.18 (x)", "3.9.0", "3.10.13", "3.12.1", "3.13.0", "3.14.10", "3.15.2"};
    static const char *const no[] = {"2.7.18 (x)", "3.6.15", "3.7.16 (default)", "3.16.0", "4.0.0", "3.7.0", "3.17.1"};
    struct pmt_pyversion v;
    for (size_t i = 0; i < 7; i++) {
        cr_assert_eq(pyv_parse(yes[i], &v), 0);
        cr_assert_eq(pyv_supported(&v), 1, "%s", yes[i]);
        cr_assert_eq(pyv_parse(no[i], &v), 0);
        cr_assert_eq(pyv_supported(&v), 0, "%s", no[i]);
    }
}

Test(pyversion, newer)
{
    struct pmt_pyversion v;
    cr_assert_eq(pyv_parse("3.16.0a1 (main)", &v), 0);
    cr_assert_eq(pyv_newer(&v), 1);
    cr_assert_eq(pyv_parse("3.15.2", &v), 0);
    cr_assert_eq(pyv_newer(&v), 0);
    cr_assert_eq(pyv_parse("3.16.0 experimental free-threading build", &v), 0);
    cr_assert_eq(pyv_newer(&v), 0, "free-threaded builds are refused");
}

Test(pyversion, garbage)
{
    struct pmt_pyversion v;
    cr_assert_eq(pyv_parse(NULL, &v), -1);
    cr_assert_eq(pyv_parse("", &v), -1);
    cr_assert_eq(pyv_parse("three", &v), -1);
    cr_assert_eq(pyv_parse("3", &v), -1);
    cr_assert_eq(pyv_parse("3.x", &v), -1);
}

Test(pyversion, every_supported_version_has_a_layout)
{
    for (int minor = 8; minor <= PYV_NEWEST_MINOR; minor++)
        cr_assert_not_null(shim_layout_for(3, minor), "3.%d", minor);
    cr_assert_null(shim_layout_for(3, 7));
    cr_assert_null(shim_layout_for(3, PYV_NEWEST_MINOR + 1));
    cr_assert_null(shim_layout_for(2, 7));
}
