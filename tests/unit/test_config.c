/* Unit tests of config/config.c: the PYMEMTRACE_* parser.
 *
 * Messages are compared byte for byte: they are what a user sees on stderr
 * (after "pymemtrace: "), and scripts may match them. Every envp here is built
 * in the test, so nothing depends on the environment the tests run in. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* A NULL-terminated envp from a list of "NAME=value" literals. */
#define ENV(...) ((char *const[]){__VA_ARGS__, NULL})

/* The accepted texts, as the issue gives them. */
#define ACC_MODES "comma-separated modes from profile, trace, reftrace, sample"
#define ACC_D_RSS "-1 (a page), 0 (every event) or a number of bytes > 0, with an optional K, M or G suffix"
#define ACC_DIR "a folder path"
#define ACC_FILE "a file path; %p pid, %m mode letter, %n log number, %% a percent sign"
#define ACC_MSG "one line of text"
#define ACC_FUNC "comma-separated function names: name, module:qualname or file.py:qualname"
#define ACC_BOOL "0 or 1"
#define ACC_TYPES "comma-separated type names such as LASSection"
#define ACC_GC "-1 (no collection) or a generation 0, 1 or 2"
#define ACC_SAMPLE "seconds between samples, a decimal number from 0.001 to 86400 such as 0.25"

#define KNOWN_LIST                                                                              \
    "PYMEMTRACE, PYMEMTRACE_D_RSS_TRIGGER, PYMEMTRACE_LOG_DIR, PYMEMTRACE_LOG_FILE, "          \
    "PYMEMTRACE_MESSAGE, PYMEMTRACE_FUNCTION, PYMEMTRACE_INCLUDE_BUILTINS, "                   \
    "PYMEMTRACE_INCLUDE_TYPES, PYMEMTRACE_EXCLUDE_TYPES, PYMEMTRACE_GC_COLLECT_ON_EXIT, "      \
    "PYMEMTRACE_CHILDREN, PYMEMTRACE_QUIET, PYMEMTRACE_NATIVE_STACK, PYMEMTRACE_RSS, PYMEMTRACE_SAMPLE_INTERVAL, PYMEMTRACE_CHECK, "            \
    "PYMEMTRACE_HOOKS, PYMEMTRACE_WRITER"

/* The whole message for a bad value, from literal pieces. */
#define BAD(name, value, reason, accepted) \
    name "='" value "' is not valid (" reason "); accepted: " accepted

static const struct pmt_config zero_cfg;

static void assert_zeroed(const struct pmt_config *cfg)
{
    cr_assert_eq(memcmp(cfg, &zero_cfg, sizeof *cfg), 0, "config not zeroed");
}

static void assert_defaults(const struct pmt_config *cfg)
{
    cr_assert_eq(cfg->d_rss_trigger, -1);
    cr_assert_null(cfg->log_dir);
    cr_assert_null(cfg->log_file);
    cr_assert_null(cfg->message);
    cr_assert_null(cfg->function);
    cr_assert_eq(cfg->include_builtins, 0);
    cr_assert_null(cfg->include_types);
    cr_assert_null(cfg->exclude_types);
    cr_assert_eq(cfg->gc_collect_on_exit, 2);
    cr_assert_eq(cfg->children, 1);
    cr_assert_eq(cfg->quiet, 0);
    cr_assert_eq(cfg->sample_interval_ns, 100000000LL);
}

/* Parses envp expecting success; the caller cfg_free()s. The struct starts as
 * garbage because the parser, not the caller, is responsible for defaults. */
static void parse_ok(char *const envp[], struct pmt_config *cfg)
{
    char err[PMT_CFG_ERRLEN];
    memset(cfg, 0x5a, sizeof *cfg);
    int rc = cfg_parse(envp, cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "cfg_parse failed: %s", err);
    cr_assert_str_eq(err, "");
}

/* Parses envp expecting exactly one error message and an inert struct. */
static void parse_bad(char *const envp[], const char *expected)
{
    char err[PMT_CFG_ERRLEN];
    struct pmt_config cfg;
    memset(err, 'Z', sizeof err);
    memset(&cfg, 0x5a, sizeof cfg);
    int rc = cfg_parse(envp, &cfg, err, sizeof err);
    cr_assert_eq(rc, -1, "expected an error: %s", expected);
    cr_assert_str_eq(err, expected);
    cr_assert_null(strchr(err, '\n'));
    assert_zeroed(&cfg);
}

/* One variable set to value next to PYMEMTRACE=modes (built at run time for
 * table-driven cases). */
static void parse_one_bad(const char *modes, const char *name, const char *value,
                          const char *reason, const char *accepted)
{
    char mode_var[128], var[256], expected[PMT_CFG_ERRLEN];
    snprintf(mode_var, sizeof mode_var, "PYMEMTRACE=%s", modes);
    snprintf(var, sizeof var, "%s=%s", name, value);
    snprintf(expected, sizeof expected, "%s='%s' is not valid (%s); accepted: %s", name, value,
             reason, accepted);
    parse_bad(ENV(mode_var, var), expected);
}

static struct pmt_config parse_one_ok(const char *name, const char *value)
{
    char var[256];
    struct pmt_config cfg;
    snprintf(var, sizeof var, "%s=%s", name, value);
    parse_ok(ENV("PYMEMTRACE=profile", var), &cfg);
    return cfg;
}

/* ---- PYMEMTRACE unset or empty ------------------------------------------- */

Test(config_off, empty_environment)
{
    struct pmt_config cfg;
    parse_ok(ENV("HOME=/root"), &cfg);
    cr_assert_eq(cfg.modes, 0u);
    assert_defaults(&cfg);
    cfg_free(&cfg);
}

Test(config_off, null_envp)
{
    struct pmt_config cfg;
    parse_ok(NULL, &cfg);
    cr_assert_eq(cfg.modes, 0u);
    assert_defaults(&cfg);
}

Test(config_off, unset_ignores_bad_settings)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE_D_RSS_TRIGGER=abc", "PYMEMTRACE_QUIET=maybe", "PYMEMTRACE_FOO=1",
                 "PYMEMTRACE_LOG_DIR=/tmp/x"),
             &cfg);
    cr_assert_eq(cfg.modes, 0u);
    assert_defaults(&cfg); /* not even the good LOG_DIR is read */
}

Test(config_off, empty_ignores_bad_settings)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE_QUITE=1", "PYMEMTRACE=", "PYMEMTRACE_GC_COLLECT_ON_EXIT=9"), &cfg);
    cr_assert_eq(cfg.modes, 0u);
    assert_defaults(&cfg);
}

/* ---- PYMEMTRACE ---------------------------------------------------------- */

Test(config_modes, each_mode_and_defaults)
{
    static const struct {
        const char *var;
        unsigned modes;
    } cases[] = {
        {"PYMEMTRACE=profile", PMT_MODE_PROFILE},
        {"PYMEMTRACE=trace", PMT_MODE_TRACE},
        {"PYMEMTRACE=reftrace", PMT_MODE_REFTRACE},
        {"PYMEMTRACE=sample", PMT_MODE_SAMPLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg;
        parse_ok(ENV((char *)cases[i].var), &cfg);
        cr_assert_eq(cfg.modes, cases[i].modes, "%s", cases[i].var);
        assert_defaults(&cfg);
        cfg_free(&cfg);
    }
}

Test(config_modes, combinations)
{
    static const struct {
        const char *var;
        unsigned modes;
    } cases[] = {
        {"PYMEMTRACE=profile,trace", PMT_MODE_PROFILE | PMT_MODE_TRACE},
        {"PYMEMTRACE=trace,profile", PMT_MODE_PROFILE | PMT_MODE_TRACE},
        {"PYMEMTRACE=profile,reftrace", PMT_MODE_PROFILE | PMT_MODE_REFTRACE},
        {"PYMEMTRACE=reftrace,trace", PMT_MODE_TRACE | PMT_MODE_REFTRACE},
        {"PYMEMTRACE=profile,trace,reftrace",
         PMT_MODE_PROFILE | PMT_MODE_TRACE | PMT_MODE_REFTRACE},
        {"PYMEMTRACE=reftrace,profile,trace",
         PMT_MODE_PROFILE | PMT_MODE_TRACE | PMT_MODE_REFTRACE},
        {"PYMEMTRACE=profile,sample", PMT_MODE_PROFILE | PMT_MODE_SAMPLE},
        {"PYMEMTRACE=sample,trace", PMT_MODE_TRACE | PMT_MODE_SAMPLE},
        {"PYMEMTRACE=profile,trace,reftrace,sample",
         PMT_MODE_PROFILE | PMT_MODE_TRACE | PMT_MODE_REFTRACE | PMT_MODE_SAMPLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg;
        parse_ok(ENV((char *)cases[i].var), &cfg);
        cr_assert_eq(cfg.modes, cases[i].modes, "%s", cases[i].var);
        cfg_free(&cfg);
    }
}

Test(config_modes, unknown_mode)
{
    parse_bad(ENV("PYMEMTRACE=xyz"), BAD("PYMEMTRACE", "xyz", "unknown mode 'xyz'", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=profile,xyz"),
              BAD("PYMEMTRACE", "profile,xyz", "unknown mode 'xyz'", ACC_MODES));
}

Test(config_modes, case_sensitive)
{
    parse_bad(ENV("PYMEMTRACE=Profile"),
              BAD("PYMEMTRACE", "Profile", "unknown mode 'Profile'", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=TRACE"), BAD("PYMEMTRACE", "TRACE", "unknown mode 'TRACE'", ACC_MODES));
}

Test(config_modes, no_spaces)
{
    parse_bad(ENV("PYMEMTRACE=profile, trace"),
              BAD("PYMEMTRACE", "profile, trace", "unknown mode ' trace'", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=profile "),
              BAD("PYMEMTRACE", "profile ", "unknown mode 'profile '", ACC_MODES));
}

Test(config_modes, empty_mode)
{
    parse_bad(ENV("PYMEMTRACE=profile,"), BAD("PYMEMTRACE", "profile,", "empty mode", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=,trace"), BAD("PYMEMTRACE", ",trace", "empty mode", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=profile,,trace"),
              BAD("PYMEMTRACE", "profile,,trace", "empty mode", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=,"), BAD("PYMEMTRACE", ",", "empty mode", ACC_MODES));
}

Test(config_modes, given_twice)
{
    parse_bad(ENV("PYMEMTRACE=profile,profile"),
              BAD("PYMEMTRACE", "profile,profile", "mode 'profile' given twice", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=trace,reftrace,trace"),
              BAD("PYMEMTRACE", "trace,reftrace,trace", "mode 'trace' given twice", ACC_MODES));
}

Test(config_modes, first_problem_left_to_right)
{
    parse_bad(ENV("PYMEMTRACE=profile,xyz,profile"),
              BAD("PYMEMTRACE", "profile,xyz,profile", "unknown mode 'xyz'", ACC_MODES));
    parse_bad(ENV("PYMEMTRACE=trace,trace,,"),
              BAD("PYMEMTRACE", "trace,trace,,", "mode 'trace' given twice", ACC_MODES));
}

Test(config_modes, long_unknown_mode_is_cut_in_reason_too)
{
    char var[200] = "PYMEMTRACE=";
    memset(var + strlen(var), 'x', 100);
    parse_bad(ENV(var),
              "PYMEMTRACE='" /* 80 x */
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "...' is not valid (unknown mode '"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "...'); accepted: " ACC_MODES);
}

Test(config_modes, letters_and_names)
{
    cr_assert_eq(cfg_mode_letter(PMT_MODE_PROFILE), 'P');
    cr_assert_eq(cfg_mode_letter(PMT_MODE_TRACE), 'T');
    cr_assert_eq(cfg_mode_letter(PMT_MODE_REFTRACE), 'O');
    cr_assert_eq(cfg_mode_letter(PMT_MODE_SAMPLE), 'S');
    cr_assert_str_eq(cfg_mode_name(PMT_MODE_PROFILE), "profile");
    cr_assert_str_eq(cfg_mode_name(PMT_MODE_TRACE), "trace");
    cr_assert_str_eq(cfg_mode_name(PMT_MODE_REFTRACE), "reftrace");
    cr_assert_str_eq(cfg_mode_name(PMT_MODE_SAMPLE), "sample");
}

/* ---- PYMEMTRACE_D_RSS_TRIGGER -------------------------------------------- */

Test(config_d_rss, good_values)
{
    static const struct {
        const char *value;
        long long expect;
    } cases[] = {
        {"-1", -1},
        {"0", 0},
        {"1", 1},
        {"4096", 4096},
        {"4K", 4096},
        {"10M", 10LL << 20},
        {"1G", 1LL << 30},
        {"007", 7},
        {"00", 0},
        {"-01", -1}, /* leading zeros are allowed, also on -1 */
        {"9007199254740992", 1LL << 53},
        {"8796093022208K", 1LL << 53},
        {"8589934592M", 1LL << 53},
        {"8388608G", 1LL << 53}, /* 2^23 * 2^30: exactly the limit, so accepted */
        {"8388607G", (1LL << 53) - (1LL << 30)},
        {"000000000000000000000000000012K", 12LL << 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg = parse_one_ok("PYMEMTRACE_D_RSS_TRIGGER", cases[i].value);
        cr_assert_eq(cfg.d_rss_trigger, cases[i].expect, "value '%s': %lld", cases[i].value,
                     cfg.d_rss_trigger);
        cfg_free(&cfg);
    }
}

Test(config_d_rss, literal_messages)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER="),
              BAD("PYMEMTRACE_D_RSS_TRIGGER", "", "empty", ACC_D_RSS));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=abc"),
              "PYMEMTRACE_D_RSS_TRIGGER='abc' is not valid (not a number); accepted: -1 (a page), "
              "0 (every event) or a number of bytes > 0, with an optional K, M or G suffix");
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER=-2"),
              BAD("PYMEMTRACE_D_RSS_TRIGGER", "-2", "negative", ACC_D_RSS));
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_D_RSS_TRIGGER=9007199254740993"),
              BAD("PYMEMTRACE_D_RSS_TRIGGER", "9007199254740993", "out of range", ACC_D_RSS));
}

/* Lower-case suffixes are refused (not a number): the accepted text promises
 * K, M and G, and "5k" would invite "5kb", bits or decimal kilo. */
Test(config_d_rss, bad_values)
{
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},
        {"abc", "not a number"},
        {"1.5", "not a number"},
        {" 5", "not a number"},
        {"5 ", "not a number"},
        {"+5", "not a number"},
        {"0K", "not a number"},
        {"00M", "not a number"},
        {"5KB", "not a number"},
        {"5KK", "not a number"},
        {"5k", "not a number"},
        {"5m", "not a number"},
        {"5g", "not a number"},
        {"5T", "not a number"},
        {"K", "not a number"},
        {"0x10", "not a number"},
        {"1e3", "not a number"},
        {"1_000", "not a number"},
        {"-", "not a number"},
        {"--1", "not a number"},
        {"-0", "not a number"}, /* a sign only -1 may carry */
        {"-abc", "not a number"},
        {"-1.5", "not a number"},
        {"99999999999999999999x", "not a number"},
        {"-2", "negative"},
        {"-1K", "negative"},
        {"-4096", "negative"},
        {"-10M", "negative"},
        {"-99999999999999999999", "negative"},
        {"99999999999999999999", "out of range"},
        {"9007199254740993", "out of range"},
        {"8388609G", "out of range"},
        {"8796093022209K", "out of range"},
        {"8589934593M", "out of range"},
        {"18446744073709551617", "out of range"}, /* 2^64 + 1 must not wrap */
        {"99999999999999999999G", "out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_one_bad("profile", "PYMEMTRACE_D_RSS_TRIGGER", cases[i].value, cases[i].reason,
                      ACC_D_RSS);
}

/* ---- PYMEMTRACE_SAMPLE_INTERVAL ------------------------------------------ */

Test(config_sample, good_values)
{
    static const struct {
        const char *value;
        long long ns;
    } cases[] = {
        {"0.1", 100000000LL},
        {"0.25", 250000000LL},
        {"1", 1000000000LL},
        {"2.5", 2500000000LL},
        {"0.001", 1000000LL},          /* the smallest */
        {"0.001000000", 1000000LL},    /* nine decimals: still whole nanoseconds */
        {"0.123456789", 123456789LL},
        {"86400", 86400000000000LL},   /* the largest */
        {"86400.000", 86400000000000LL},
        {"0010.5", 10500000000LL},     /* leading zeros, as for the trigger */
        {"000000000000000000000000000001", 1000000000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg = parse_one_ok("PYMEMTRACE_SAMPLE_INTERVAL", cases[i].value);
        cr_assert_eq(cfg.sample_interval_ns, cases[i].ns, "value '%s': %lld", cases[i].value,
                     cfg.sample_interval_ns);
        cfg_free(&cfg);
    }
}

/* Validated whatever the modes, as the reftrace settings are: a typo is
 * reported before the mode that would read it is switched on. */
Test(config_sample, validated_in_every_mode)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE=profile,sample", "PYMEMTRACE_SAMPLE_INTERVAL=0.25"), &cfg);
    cr_assert_eq(cfg.modes, (unsigned)(PMT_MODE_PROFILE | PMT_MODE_SAMPLE));
    cr_assert_eq(cfg.sample_interval_ns, 250000000LL);
    cfg_free(&cfg);
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_SAMPLE_INTERVAL=fast"),
              BAD("PYMEMTRACE_SAMPLE_INTERVAL", "fast", "not a number", ACC_SAMPLE));
}

Test(config_sample, literal_messages)
{
    parse_bad(ENV("PYMEMTRACE=sample", "PYMEMTRACE_SAMPLE_INTERVAL=0"),
              "PYMEMTRACE_SAMPLE_INTERVAL='0' is not valid (out of range); accepted: seconds "
              "between samples, a decimal number from 0.001 to 86400 such as 0.25");
    parse_bad(ENV("PYMEMTRACE=sample", "PYMEMTRACE_SAMPLE_INTERVAL="),
              "PYMEMTRACE_SAMPLE_INTERVAL='' is not valid (empty); accepted: seconds between "
              "samples, a decimal number from 0.001 to 86400 such as 0.25");
    parse_bad(ENV("PYMEMTRACE=sample", "PYMEMTRACE_SAMPLE_INTERVAL=-0.5"),
              BAD("PYMEMTRACE_SAMPLE_INTERVAL", "-0.5", "negative", ACC_SAMPLE));
    parse_bad(ENV("PYMEMTRACE=sample", "PYMEMTRACE_SAMPLE_INTERVAL=1e-1"),
              BAD("PYMEMTRACE_SAMPLE_INTERVAL", "1e-1", "not a number", ACC_SAMPLE));
}

Test(config_sample, bad_values)
{
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},
        {"abc", "not a number"},
        {".5", "not a number"},
        {"5.", "not a number"},
        {".", "not a number"},
        {"+0.5", "not a number"},
        {" 0.5", "not a number"},
        {"0.5 ", "not a number"},
        {"0,5", "not a number"},
        {"1e-3", "not a number"},
        {"0x10", "not a number"},
        {"inf", "not a number"},
        {"nan", "not a number"},
        {"0.5s", "not a number"},
        {"100ms", "not a number"},
        {"1.2.3", "not a number"},
        {"-", "not a number"},
        {"-0", "not a number"}, /* a sign on nothing, as for the trigger */
        {"--1", "not a number"},
        {"99999999999999999999x", "not a number"},
        {"-1", "negative"},
        {"-0.25", "negative"},
        {"-99999999999999999999", "negative"},
        {"0", "out of range"},
        {"0.0", "out of range"},
        {"0.000000001", "out of range"},
        {"0.000999999", "out of range"},
        {"86400.000000001", "out of range"},
        {"86401", "out of range"},
        {"99999999999999999999", "out of range"},
        {"18446744073709551617", "out of range"}, /* 2^64 + 1 must not wrap */
        {"0.1234567891", "finer than a nanosecond"},
        {"0.1000000000", "finer than a nanosecond"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_one_bad("sample", "PYMEMTRACE_SAMPLE_INTERVAL", cases[i].value, cases[i].reason,
                      ACC_SAMPLE);
}

/* ---- PYMEMTRACE_LOG_DIR -------------------------------------------------- */

Test(config_log_dir, good_values_are_copies)
{
    char var[] = "PYMEMTRACE_LOG_DIR=/tmp/logs";
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE=profile", var), &cfg);
    cr_assert_str_eq(cfg.log_dir, "/tmp/logs");
    cr_assert_neq((void *)cfg.log_dir, (void *)(var + strlen("PYMEMTRACE_LOG_DIR=")));
    memset(var, 'q', sizeof var - 1); /* the caller's environment may change later */
    cr_assert_str_eq(cfg.log_dir, "/tmp/logs");
    cfg_free(&cfg);

    cfg = parse_one_ok("PYMEMTRACE_LOG_DIR", "relative dir with spaces");
    cr_assert_str_eq(cfg.log_dir, "relative dir with spaces");
    cfg_free(&cfg);
}

Test(config_log_dir, empty)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_DIR="),
              "PYMEMTRACE_LOG_DIR='' is not valid (empty); accepted: a folder path");
}

/* ---- PYMEMTRACE_LOG_FILE ------------------------------------------------- */

Test(config_log_file, good_values)
{
    static const char *const single[] = {"out.log", "/tmp/%p_%n.log", "%p_%m_%n_%%.log", "100%%",
                                         "%%"};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        struct pmt_config cfg = parse_one_ok("PYMEMTRACE_LOG_FILE", single[i]);
        cr_assert_str_eq(cfg.log_file, single[i]);
        cfg_free(&cfg);
    }
}

Test(config_log_file, several_modes_need_m)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE=profile,trace", "PYMEMTRACE_LOG_FILE=run_%m.log"), &cfg);
    cr_assert_str_eq(cfg.log_file, "run_%m.log");
    cfg_free(&cfg);
    parse_ok(ENV("PYMEMTRACE=profile,trace,reftrace", "PYMEMTRACE_LOG_FILE=%p/%m/%n"), &cfg);
    cr_assert_str_eq(cfg.log_file, "%p/%m/%n");
    cfg_free(&cfg);

    parse_bad(ENV("PYMEMTRACE=profile,trace", "PYMEMTRACE_LOG_FILE=run.log"),
              "PYMEMTRACE_LOG_FILE='run.log' is not valid (several modes would share one file: "
              "add %m); accepted: a file path; %p pid, %m mode letter, %n log number, %% a "
              "percent sign");
    parse_bad(ENV("PYMEMTRACE=trace,reftrace,profile", "PYMEMTRACE_LOG_FILE=%p_%n.log"),
              BAD("PYMEMTRACE_LOG_FILE", "%p_%n.log", "several modes would share one file: add %m",
                  ACC_FILE));
    /* The sampler writes a log of its own too. */
    parse_bad(ENV("PYMEMTRACE=profile,sample", "PYMEMTRACE_LOG_FILE=run.log"),
              BAD("PYMEMTRACE_LOG_FILE", "run.log", "several modes would share one file: add %m",
                  ACC_FILE));
    parse_ok(ENV("PYMEMTRACE=sample", "PYMEMTRACE_LOG_FILE=run.log"), &cfg);
    cr_assert_str_eq(cfg.log_file, "run.log");
    cfg_free(&cfg);
    /* "%%m" is a percent sign and an 'm', not the mode letter. */
    parse_bad(ENV("PYMEMTRACE=profile,trace", "PYMEMTRACE_LOG_FILE=run%%m.log"),
              BAD("PYMEMTRACE_LOG_FILE", "run%%m.log", "several modes would share one file: add %m",
                  ACC_FILE));
}

Test(config_log_file, bad_values)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE="),
              BAD("PYMEMTRACE_LOG_FILE", "", "empty", ACC_FILE));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=run_%q.log"),
              BAD("PYMEMTRACE_LOG_FILE", "run_%q.log", "unknown escape '%q'", ACC_FILE));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=run_%P.log"),
              BAD("PYMEMTRACE_LOG_FILE", "run_%P.log", "unknown escape '%P'", ACC_FILE));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=run_%s"),
              BAD("PYMEMTRACE_LOG_FILE", "run_%s", "unknown escape '%s'", ACC_FILE));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=run%"),
              BAD("PYMEMTRACE_LOG_FILE", "run%", "unknown escape '%'", ACC_FILE));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=%%%"),
              BAD("PYMEMTRACE_LOG_FILE", "%%%", "unknown escape '%'", ACC_FILE));
    /* A control character after '%' is echoed as '?' in the reason as well. */
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=a%\tb"),
              BAD("PYMEMTRACE_LOG_FILE", "a%?b", "unknown escape '%?'", ACC_FILE));
    /* A multi-byte character after '%' is shown whole. */
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOG_FILE=log%\xc3\xa9.txt"),
              BAD("PYMEMTRACE_LOG_FILE", "log%\xc3\xa9.txt", "unknown escape '%\xc3\xa9'",
                  ACC_FILE));
}

Test(config_log_file, escape_reported_before_missing_m)
{
    parse_bad(ENV("PYMEMTRACE=profile,trace", "PYMEMTRACE_LOG_FILE=run_%x.log"),
              BAD("PYMEMTRACE_LOG_FILE", "run_%x.log", "unknown escape '%x'", ACC_FILE));
}

/* ---- PYMEMTRACE_MESSAGE -------------------------------------------------- */

Test(config_message, good_values)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_MESSAGE", "run 42: before the fix");
    cr_assert_str_eq(cfg.message, "run 42: before the fix");
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_MESSAGE", "tab\there, 100% = fine");
    cr_assert_str_eq(cfg.message, "tab\there, 100% = fine");
    cfg_free(&cfg);
}

Test(config_message, empty_means_none)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_MESSAGE", "");
    cr_assert_null(cfg.message);
    cfg_free(&cfg);
}

Test(config_message, line_breaks)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_MESSAGE=first\nsecond"),
              "PYMEMTRACE_MESSAGE='first?second' is not valid (contains a line break); accepted: "
              "one line of text");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_MESSAGE=first\r\n"),
              BAD("PYMEMTRACE_MESSAGE", "first??", "contains a line break", ACC_MSG));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_MESSAGE=\r"),
              BAD("PYMEMTRACE_MESSAGE", "?", "contains a line break", ACC_MSG));
}

/* ---- PYMEMTRACE_FUNCTION, _INCLUDE_TYPES, _EXCLUDE_TYPES ----------------- */

Test(config_lists, good_values)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_FUNCTION", "process_arguments");
    cr_assert_str_eq(cfg.function, "process_arguments");
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_FUNCTION", "main,pkg.mod:Cls.meth,tools/run.py:Cls.f");
    cr_assert_str_eq(cfg.function, "main,pkg.mod:Cls.meth,tools/run.py:Cls.f");
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_INCLUDE_TYPES", "LASSection");
    cr_assert_str_eq(cfg.include_types, "LASSection");
    cr_assert_null(cfg.exclude_types);
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_EXCLUDE_TYPES", "LASSection,numpy.ndarray");
    cr_assert_str_eq(cfg.exclude_types, "LASSection,numpy.ndarray");
    cr_assert_null(cfg.include_types);
    cfg_free(&cfg);
}

Test(config_lists, function_messages)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION="),
              "PYMEMTRACE_FUNCTION='' is not valid (empty); accepted: comma-separated function "
              "names: name, module:qualname or file.py:qualname");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a,,b"),
              BAD("PYMEMTRACE_FUNCTION", "a,,b", "empty item", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=,a"),
              BAD("PYMEMTRACE_FUNCTION", ",a", "empty item", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a,"),
              BAD("PYMEMTRACE_FUNCTION", "a,", "empty item", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a, b"),
              BAD("PYMEMTRACE_FUNCTION", "a, b", "contains a space", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=main "),
              BAD("PYMEMTRACE_FUNCTION", "main ", "contains a space", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a,\tb"),
              BAD("PYMEMTRACE_FUNCTION", "a,?b", "contains a space", ACC_FUNC));
    /* The first bad item decides the reason. */
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a b,,c"),
              BAD("PYMEMTRACE_FUNCTION", "a b,,c", "contains a space", ACC_FUNC));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FUNCTION=a,,b c"),
              BAD("PYMEMTRACE_FUNCTION", "a,,b c", "empty item", ACC_FUNC));
}

Test(config_lists, type_messages)
{
    static const char *const names[] = {"PYMEMTRACE_INCLUDE_TYPES", "PYMEMTRACE_EXCLUDE_TYPES"};
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},
        {",", "empty item"},
        {"A,,B", "empty item"},
        {"A,", "empty item"},
        {"A, B", "contains a space"},
        {" A", "contains a space"},
    };
    for (size_t n = 0; n < 2; n++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            parse_one_bad("reftrace", names[n], cases[i].value, cases[i].reason, ACC_TYPES);
    parse_bad(ENV("PYMEMTRACE=reftrace", "PYMEMTRACE_INCLUDE_TYPES=LASSection, Foo"),
              "PYMEMTRACE_INCLUDE_TYPES='LASSection, Foo' is not valid (contains a space); "
              "accepted: comma-separated type names such as LASSection");
}

/* ---- 0/1 settings and GC_COLLECT_ON_EXIT --------------------------------- */

Test(config_flags, good_values)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_INCLUDE_BUILTINS", "1");
    cr_assert_eq(cfg.include_builtins, 1);
    cfg = parse_one_ok("PYMEMTRACE_INCLUDE_BUILTINS", "0");
    cr_assert_eq(cfg.include_builtins, 0);
    cfg = parse_one_ok("PYMEMTRACE_CHILDREN", "0");
    cr_assert_eq(cfg.children, 0);
    cfg = parse_one_ok("PYMEMTRACE_CHILDREN", "1");
    cr_assert_eq(cfg.children, 1);
    cfg = parse_one_ok("PYMEMTRACE_QUIET", "1");
    cr_assert_eq(cfg.quiet, 1);
    cfg = parse_one_ok("PYMEMTRACE_QUIET", "0");
    cr_assert_eq(cfg.quiet, 0);
    cfg = parse_one_ok("PYMEMTRACE_CHECK", "1");
    cr_assert_eq(cfg.check, 1);
    cfg = parse_one_ok("PYMEMTRACE_CHECK", "0");
    cr_assert_eq(cfg.check, 0);
}

Test(config_flags, bad_values)
{
    static const char *const names[] = {"PYMEMTRACE_INCLUDE_BUILTINS", "PYMEMTRACE_CHILDREN",
                                        "PYMEMTRACE_QUIET", "PYMEMTRACE_CHECK"};
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},     {"2", "not 0 or 1"},   {"01", "not 0 or 1"}, {"yes", "not 0 or 1"},
        {" 1", "not 0 or 1"}, {"1 ", "not 0 or 1"}, {"-1", "not 0 or 1"}, {"true", "not 0 or 1"},
    };
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            parse_one_bad("profile", names[n], cases[i].value, cases[i].reason, ACC_BOOL);
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_QUIET=yes"),
              "PYMEMTRACE_QUIET='yes' is not valid (not 0 or 1); accepted: 0 or 1");
}

#define ACC_RSS "auto (page-fault events, statm on change), statm (every event) or check (both, compared)"

Test(config_rss, values)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_RSS", "statm");
    cr_assert_eq(cfg.rss_source, PMT_RSS_STATM);
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_RSS", "check");
    cr_assert_eq(cfg.rss_source, PMT_RSS_CHECK);
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_RSS", "auto");
    cr_assert_eq(cfg.rss_source, PMT_RSS_AUTO);
    cfg_free(&cfg);
    parse_one_bad("profile", "PYMEMTRACE_RSS", "", "empty", ACC_RSS);
    parse_one_bad("profile", "PYMEMTRACE_RSS", "perf", "not auto, statm or check", ACC_RSS);
    parse_one_bad("profile", "PYMEMTRACE_RSS", "STATM", "not auto, statm or check", ACC_RSS);
}

#define ACC_HOOKS                                                                             \
    "auto (sys.monitoring on Python 3.12+, else the profile and trace functions) or legacy (the " \
    "profile and trace functions)"

Test(config_hooks, values)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_HOOKS", "legacy");
    cr_assert_eq(cfg.hooks, PMT_HOOKS_LEGACY);
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_HOOKS", "auto");
    cr_assert_eq(cfg.hooks, PMT_HOOKS_AUTO);
    cfg_free(&cfg);
    parse_one_bad("profile", "PYMEMTRACE_HOOKS", "", "empty", ACC_HOOKS);
    parse_one_bad("profile", "PYMEMTRACE_HOOKS", "monitoring", "not auto or legacy", ACC_HOOKS);
    parse_one_bad("trace", "PYMEMTRACE_HOOKS", "Legacy", "not auto or legacy", ACC_HOOKS);
}

#define ACC_WRITER                                                                              \
    "process (a log writer process: lines survive the program being killed) or thread (the "    \
    "program's own process writes)"

Test(config_writer, words)
{
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_WRITER", "thread");
    cr_assert_eq(cfg.writer, PMT_WRITER_THREAD);
    cfg_free(&cfg);
    cfg = parse_one_ok("PYMEMTRACE_WRITER", "process");
    cr_assert_eq(cfg.writer, PMT_WRITER_PROCESS);
    cfg_free(&cfg);
    parse_one_bad("profile", "PYMEMTRACE_WRITER", "", "empty", ACC_WRITER);
    parse_one_bad("profile", "PYMEMTRACE_WRITER", "pipe", "not process or thread", ACC_WRITER);
}

Test(config_gc, good_values)
{
    static const struct {
        const char *value;
        int expect;
    } cases[] = {{"-1", -1}, {"0", 0}, {"1", 1}, {"2", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg = parse_one_ok("PYMEMTRACE_GC_COLLECT_ON_EXIT", cases[i].value);
        cr_assert_eq(cfg.gc_collect_on_exit, cases[i].expect, "%s", cases[i].value);
    }
}

Test(config_gc, bad_values)
{
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},
        {"3", "not one of -1, 0, 1, 2"},
        {"-2", "not one of -1, 0, 1, 2"},
        {"+1", "not one of -1, 0, 1, 2"},
        {"02", "not one of -1, 0, 1, 2"},
        {"two", "not one of -1, 0, 1, 2"},
        {"2 ", "not one of -1, 0, 1, 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_one_bad("reftrace", "PYMEMTRACE_GC_COLLECT_ON_EXIT", cases[i].value,
                      cases[i].reason, ACC_GC);
    parse_bad(ENV("PYMEMTRACE=reftrace", "PYMEMTRACE_GC_COLLECT_ON_EXIT=3"),
              "PYMEMTRACE_GC_COLLECT_ON_EXIT='3' is not valid (not one of -1, 0, 1, 2); "
              "accepted: -1 (no collection) or a generation 0, 1 or 2");
}

/* ---- everything at once, and which problem is reported ------------------- */

Test(config_all, every_setting)
{
    struct pmt_config cfg;
    parse_ok(ENV("PATH=/usr/bin", "PYMEMTRACE_QUIET=1", "PYMEMTRACE=profile,trace,reftrace,sample",
                 "PYMEMTRACE_D_RSS_TRIGGER=64K", "PYMEMTRACE_LOG_DIR=/var/tmp/pmt",
                 "PYMEMTRACE_LOG_FILE=%p_%m_%n.log", "PYMEMTRACE_MESSAGE=nightly run",
                 "PYMEMTRACE_FUNCTION=main", "PYMEMTRACE_INCLUDE_BUILTINS=1",
                 "PYMEMTRACE_INCLUDE_TYPES=A,B", "PYMEMTRACE_EXCLUDE_TYPES=C",
                 "PYMEMTRACE_GC_COLLECT_ON_EXIT=-1", "PYMEMTRACE_CHILDREN=0",
                 "PYMEMTRACE_SAMPLE_INTERVAL=0.5", "PYMEMTRACE_CHECK=1", "pymemtrace_x=1"),
             &cfg);
    cr_assert_eq(cfg.check, 1);
    cr_assert_eq(cfg.modes, (unsigned)(PMT_MODE_PROFILE | PMT_MODE_TRACE | PMT_MODE_REFTRACE |
                                       PMT_MODE_SAMPLE));
    cr_assert_eq(cfg.sample_interval_ns, 500000000LL);
    cr_assert_eq(cfg.d_rss_trigger, 65536);
    cr_assert_str_eq(cfg.log_dir, "/var/tmp/pmt");
    cr_assert_str_eq(cfg.log_file, "%p_%m_%n.log");
    cr_assert_str_eq(cfg.message, "nightly run");
    cr_assert_str_eq(cfg.function, "main");
    cr_assert_eq(cfg.include_builtins, 1);
    cr_assert_str_eq(cfg.include_types, "A,B");
    cr_assert_str_eq(cfg.exclude_types, "C");
    cr_assert_eq(cfg.gc_collect_on_exit, -1);
    cr_assert_eq(cfg.children, 0);
    cr_assert_eq(cfg.quiet, 1);
    cfg_free(&cfg);
    assert_zeroed(&cfg);
    cfg_free(&cfg); /* twice is harmless */
    assert_zeroed(&cfg);
    cfg_free(NULL);
}

Test(config_order, pymemtrace_first)
{
    parse_bad(ENV("PYMEMTRACE_D_RSS_TRIGGER=abc", "PYMEMTRACE_FOO=1", "PYMEMTRACE=xyz"),
              BAD("PYMEMTRACE", "xyz", "unknown mode 'xyz'", ACC_MODES));
}

Test(config_order, table_order_not_envp_order)
{
    parse_bad(ENV("PYMEMTRACE_QUIET=yes", "PYMEMTRACE_GC_COLLECT_ON_EXIT=9", "PYMEMTRACE=trace",
                  "PYMEMTRACE_D_RSS_TRIGGER=abc"),
              BAD("PYMEMTRACE_D_RSS_TRIGGER", "abc", "not a number", ACC_D_RSS));
    parse_bad(ENV("PYMEMTRACE_QUIET=yes", "PYMEMTRACE=trace", "PYMEMTRACE_GC_COLLECT_ON_EXIT=9"),
              BAD("PYMEMTRACE_GC_COLLECT_ON_EXIT", "9", "not one of -1, 0, 1, 2", ACC_GC));
}

Test(config_order, known_before_unknown)
{
    parse_bad(ENV("PYMEMTRACE_FOO=1", "PYMEMTRACE=trace", "PYMEMTRACE_QUIET=2"),
              BAD("PYMEMTRACE_QUIET", "2", "not 0 or 1", ACC_BOOL));
}

Test(config_order, first_unknown_in_envp_order)
{
    parse_bad(ENV("PYMEMTRACE_QUITE=1", "PYMEMTRACE=trace", "PYMEMTRACE_FOO=1"),
              "PYMEMTRACE_QUITE is not a pymemtrace setting (did you mean PYMEMTRACE_QUIET?)");
}

Test(config_order, error_frees_what_was_already_parsed)
{
    /* LOG_DIR and MESSAGE are copied before QUIET fails; the struct must come
     * back zeroed (and, under valgrind/ASan, without leaks). */
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_LOG_DIR=/tmp", "PYMEMTRACE_MESSAGE=m",
                  "PYMEMTRACE_FUNCTION=f", "PYMEMTRACE_QUIET=2"),
              BAD("PYMEMTRACE_QUIET", "2", "not 0 or 1", ACC_BOOL));
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_LOG_DIR=/tmp", "PYMEMTRACE_X=1"),
              "PYMEMTRACE_X is not a pymemtrace setting (did you mean PYMEMTRACE?)");
}

/* When envp holds a name twice, the first one counts, as getenv would pick. */
Test(config_order, duplicate_name_first_wins)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE=trace", "PYMEMTRACE_QUIET=1", "PYMEMTRACE_QUIET=bad",
                 "PYMEMTRACE=bad"),
             &cfg);
    cr_assert_eq(cfg.modes, (unsigned)PMT_MODE_TRACE);
    cr_assert_eq(cfg.quiet, 1);
}

/* ---- unknown names ------------------------------------------------------- */

Test(config_unknown, suggestions)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_quiet=1"),
              "PYMEMTRACE_quiet is not a pymemtrace setting (did you mean PYMEMTRACE_QUIET?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_QUITE=1"),
              "PYMEMTRACE_QUITE is not a pymemtrace setting (did you mean PYMEMTRACE_QUIET?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_LOGDIR=/tmp"),
              "PYMEMTRACE_LOGDIR is not a pymemtrace setting (did you mean PYMEMTRACE_LOG_DIR?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGER=0"),
              "PYMEMTRACE_D_RSS_TRIGER is not a pymemtrace setting (did you mean "
              "PYMEMTRACE_D_RSS_TRIGGER?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_DRSS_TRIGGER=0"),
              "PYMEMTRACE_DRSS_TRIGGER is not a pymemtrace setting (did you mean "
              "PYMEMTRACE_D_RSS_TRIGGER?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_children=0"),
              "PYMEMTRACE_children is not a pymemtrace setting (did you mean PYMEMTRACE_CHILDREN?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_GC_COLECT_ON_EXT=0"),
              "PYMEMTRACE_GC_COLECT_ON_EXT is not a pymemtrace setting (did you mean "
              "PYMEMTRACE_GC_COLLECT_ON_EXIT?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_=1"),
              "PYMEMTRACE_ is not a pymemtrace setting (did you mean PYMEMTRACE?)");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_MESAGE="),
              "PYMEMTRACE_MESAGE is not a pymemtrace setting (did you mean PYMEMTRACE_MESSAGE?)");
}

Test(config_unknown, closest_and_ties)
{
    /* One edit from EXCLUDE_TYPES, two from INCLUDE_TYPES: the closest wins
     * even though INCLUDE comes first in the table. */
    parse_bad(ENV("PYMEMTRACE=reftrace", "PYMEMTRACE_EXCLUDE_TYPE=A"),
              "PYMEMTRACE_EXCLUDE_TYPE is not a pymemtrace setting (did you mean "
              "PYMEMTRACE_EXCLUDE_TYPES?)");
    /* Two deletions from each: the tie goes to the earlier row. */
    parse_bad(ENV("PYMEMTRACE=reftrace", "PYMEMTRACE_CLUDE_TYPES=A"),
              "PYMEMTRACE_CLUDE_TYPES is not a pymemtrace setting (did you mean "
              "PYMEMTRACE_INCLUDE_TYPES?)");
}

Test(config_unknown, known_list)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FOOBAR=1"),
              "PYMEMTRACE_FOOBAR is not a pymemtrace setting (known: PYMEMTRACE, "
              "PYMEMTRACE_D_RSS_TRIGGER, PYMEMTRACE_LOG_DIR, PYMEMTRACE_LOG_FILE, "
              "PYMEMTRACE_MESSAGE, PYMEMTRACE_FUNCTION, PYMEMTRACE_INCLUDE_BUILTINS, "
              "PYMEMTRACE_INCLUDE_TYPES, PYMEMTRACE_EXCLUDE_TYPES, PYMEMTRACE_GC_COLLECT_ON_EXIT, "
              "PYMEMTRACE_CHILDREN, PYMEMTRACE_QUIET, PYMEMTRACE_NATIVE_STACK, PYMEMTRACE_RSS, PYMEMTRACE_SAMPLE_INTERVAL, PYMEMTRACE_CHECK, "
              "PYMEMTRACE_HOOKS, PYMEMTRACE_WRITER)");
    /* Too far from every known name to guess. */
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_HEAPSIZE=1"),
              "PYMEMTRACE_HEAPSIZE is not a pymemtrace setting (known: " KNOWN_LIST ")");
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_VERBOSE=1"),
              "PYMEMTRACE_VERBOSE is not a pymemtrace setting (known: " KNOWN_LIST ")");
}

Test(config_unknown, odd_names_are_echoed_safely)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_AAA\tBBB=1"),
              "PYMEMTRACE_AAA?BBB is not a pymemtrace setting (known: " KNOWN_LIST ")");
    /* Three edits from PYMEMTRACE_RSS: a guess is offered. */
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_FOO=1"),
              "PYMEMTRACE_FOO is not a pymemtrace setting (did you mean PYMEMTRACE_RSS?)");
    char var[200] = "PYMEMTRACE_";
    memset(var + strlen(var), 'Y', 100);
    strcat(var, "=1");
    parse_bad(ENV("PYMEMTRACE=profile", var),
              "PYMEMTRACE_" /* + 69 Y: 80 bytes of name */
              "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
              "... is not a pymemtrace setting (known: " KNOWN_LIST ")");
}

Test(config_unknown, not_our_prefix)
{
    struct pmt_config cfg;
    /* Case-sensitive prefix; PYMEMTRACEX is not under "PYMEMTRACE_"; an entry
     * without '=' is not a setting at all. */
    parse_ok(ENV("pymemtrace_quiet=1", "Pymemtrace_foo=1", "PYMEMTRACEX=1", "PYMEMTRACE_NOEQUALS",
                 "PYMEMTRACE=profile"),
             &cfg);
    cr_assert_eq(cfg.modes, (unsigned)PMT_MODE_PROFILE);
    cr_assert_eq(cfg.quiet, 0);
}

/* ---- the echoed value ---------------------------------------------------- */

Test(config_echo, long_values_are_cut)
{
    char var[200] = "PYMEMTRACE_FUNCTION=";
    memset(var + strlen(var), 'f', 99);
    strcat(var, " "); /* 100 bytes, the space at the end */
    parse_bad(ENV("PYMEMTRACE=profile", var),
              BAD("PYMEMTRACE_FUNCTION",
                  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                  "...",
                  "contains a space", ACC_FUNC));
}

Test(config_echo, cut_only_beyond_80_bytes)
{
    /* 80 bytes: shown whole. */
    char var[200] = "PYMEMTRACE_D_RSS_TRIGGER=";
    memset(var + strlen(var), '9', 80);
    parse_bad(ENV("PYMEMTRACE=profile", var),
              BAD("PYMEMTRACE_D_RSS_TRIGGER",
                  "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
                  "out of range", ACC_D_RSS));
    /* 81 bytes: the first 80 and "...". */
    strcat(var, "9");
    parse_bad(ENV("PYMEMTRACE=profile", var),
              BAD("PYMEMTRACE_D_RSS_TRIGGER",
                  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
                  "...",
                  "out of range", ACC_D_RSS));
}

Test(config_echo, control_characters)
{
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_D_RSS_TRIGGER=5\n"),
              BAD("PYMEMTRACE_D_RSS_TRIGGER", "5?", "not a number", ACC_D_RSS));
    parse_bad(ENV("PYMEMTRACE=profile", "PYMEMTRACE_QUIET=\x01\x1b[31m\x7f"),
              BAD("PYMEMTRACE_QUIET", "??[31m?", "not 0 or 1", ACC_BOOL));
    parse_bad(ENV("PYMEMTRACE=prof\tile"),
              BAD("PYMEMTRACE", "prof?ile", "unknown mode 'prof?ile'", ACC_MODES));
    /* Non-ASCII text is not a control character and is echoed as given. */
    parse_bad(ENV("PYMEMTRACE=profil\xc3\xa9"),
              BAD("PYMEMTRACE", "profil\xc3\xa9", "unknown mode 'profil\xc3\xa9'", ACC_MODES));
}

/* ---- the err buffer ------------------------------------------------------ */

Test(config_errbuf, small_errlen_is_cut_and_terminated)
{
    const char *full = BAD("PYMEMTRACE", "xyz", "unknown mode 'xyz'", ACC_MODES);
    char err[64];
    struct pmt_config cfg;
    for (size_t len = 1; len < 40; len++) {
        memset(err, 'Z', sizeof err);
        int rc = cfg_parse(ENV("PYMEMTRACE=xyz"), &cfg, err, len);
        cr_assert_eq(rc, -1);
        cr_assert_eq(strlen(err), len - 1, "errlen %zu", len);
        cr_assert_eq(strncmp(err, full, len - 1), 0, "errlen %zu: '%s'", len, err);
        for (size_t i = len; i < sizeof err; i++)
            cr_assert_eq(err[i], 'Z', "errlen %zu: byte %zu written", len, i);
        assert_zeroed(&cfg);
    }
    memset(err, 'Z', sizeof err);
    cr_assert_eq(cfg_parse(ENV("PYMEMTRACE=xyz"), &cfg, err, 16), -1);
    cr_assert_str_eq(err, "PYMEMTRACE='xyz");
}

Test(config_errbuf, zero_errlen_and_null_err)
{
    char err[8];
    struct pmt_config cfg;
    memset(err, 'Z', sizeof err);
    cr_assert_eq(cfg_parse(ENV("PYMEMTRACE=xyz"), &cfg, err, 0), -1);
    for (size_t i = 0; i < sizeof err; i++)
        cr_assert_eq(err[i], 'Z');
    assert_zeroed(&cfg);
    cr_assert_eq(cfg_parse(ENV("PYMEMTRACE=xyz"), &cfg, NULL, 0), -1);
    assert_zeroed(&cfg);
    cr_assert_eq(cfg_parse(ENV("PYMEMTRACE=profile"), &cfg, NULL, 0), 0);
    cr_assert_eq(cfg.modes, (unsigned)PMT_MODE_PROFILE);
}

Test(config_errbuf, longest_message_fits)
{
    /* A long unknown name with no suggestion is the longest message today. */
    char var[200] = "PYMEMTRACE_";
    memset(var + strlen(var), 'Y', 150);
    strcat(var, "=1");
    char err[PMT_CFG_ERRLEN];
    struct pmt_config cfg;
    cr_assert_eq(cfg_parse(ENV("PYMEMTRACE=profile", var), &cfg, err, sizeof err), -1);
    size_t n = strlen(err);
    cr_assert_lt(n, sizeof err - 1, "message was cut at %zu bytes", n);
    cr_assert_eq(strcmp(err + n - 1, ")"), 0);
}

/* ---- cfg_free ------------------------------------------------------------ */

Test(config_free, zeroes_everything)
{
    struct pmt_config cfg;
    parse_ok(ENV("PYMEMTRACE=reftrace", "PYMEMTRACE_LOG_DIR=d", "PYMEMTRACE_LOG_FILE=f",
                 "PYMEMTRACE_MESSAGE=m", "PYMEMTRACE_FUNCTION=fn", "PYMEMTRACE_INCLUDE_TYPES=I",
                 "PYMEMTRACE_EXCLUDE_TYPES=E", "PYMEMTRACE_QUIET=1"),
             &cfg);
    cr_assert_not_null(cfg.log_dir);
    cr_assert_not_null(cfg.exclude_types);
    cfg_free(&cfg);
    assert_zeroed(&cfg);
    cr_assert_eq(cfg.modes, 0u);
}

/* ---- PYMEMTRACE_NATIVE_STACK --------------------------------------------- */

#define ACC_NATIVE "0 (no native stacks) or a number of frames from 1 to 64"

Test(config_native, good_values)
{
    static const struct {
        const char *value;
        int expect;
    } cases[] = {{"0", 0}, {"1", 1}, {"8", 8}, {"16", 16}, {"64", 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pmt_config cfg = parse_one_ok("PYMEMTRACE_NATIVE_STACK", cases[i].value);
        cr_assert_eq(cfg.native_stack, cases[i].expect, "%s", cases[i].value);
    }
    struct pmt_config cfg = parse_one_ok("PYMEMTRACE_QUIET", "0");
    cr_assert_eq(cfg.native_stack, 0, "off by default");
}

Test(config_native, bad_values)
{
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"", "empty"},
        {"65", "more than 64 frames"},
        {"1000000000000", "more than 64 frames"},
        {"-1", "not a number of frames"},
        {"+8", "not a number of frames"},
        {"08", "not a number of frames"},
        {"8 ", "not a number of frames"},
        {"eight", "not a number of frames"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_one_bad("profile", "PYMEMTRACE_NATIVE_STACK", cases[i].value, cases[i].reason,
                      ACC_NATIVE);
    parse_bad(ENV("PYMEMTRACE=trace", "PYMEMTRACE_NATIVE_STACK=65"),
              "PYMEMTRACE_NATIVE_STACK='65' is not valid (more than 64 frames); "
              "accepted: 0 (no native stacks) or a number of frames from 1 to 64");
}
