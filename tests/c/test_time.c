/* test_time.c — util/timeutil (parsing every time format found in the shared
 * data, offsets, calendar validity, formatting) and util/log (JSON lines,
 * levels, text format, json_number/json_escape).
 *
 * Expected values are worked out by hand in the comments: days since
 * 1970-01-01 = 365 * years + leap days in between + day of year. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mts.h"
#include "util/log.h"
#include "util/timeutil.h"

static int64_t P(const char *s) {
    int64_t t = -12345;
    int rc = mts_time_parse(s, strlen(s), &t);
    if (rc) fail_msg("mts_time_parse('%s') failed: %d", s, rc);
    return t;
}

static void assert_bad(const char *s) {
    int64_t t = 777;
    int rc = mts_time_parse(s, strlen(s), &t);
    if (rc != MTS_EPARSE) fail_msg("'%s' should not parse (rc %d, t %lld)", s, rc, (long long)t);
    assert_int_equal(t, 777);           /* out untouched on error */
}

/* 2018-03-17: 48 whole years 1970..2017 with 12 leap days (1972..2016 step 4)
 * = 48*365 + 12 = 17532 days to 2018-01-01; + 31 (Jan) + 28 (Feb) + 16 = 17607
 * days; * 86400 = 1521244800. */
#define T_2018_03_17 1521244800LL

static void test_days_from_civil(void **st) {
    (void)st;
    assert_int_equal(mts_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mts_days_from_civil(1969, 12, 31), -1);
    /* 2000-01-01: 30 years, leap days 1972..1996 = 7 -> 10950 + 7 = 10957;
     * 2000-03-01 = 10957 + 31 + 29 (2000 is a leap year: divisible by 400) = 11017 */
    assert_int_equal(mts_days_from_civil(2000, 1, 1), 10957);
    assert_int_equal(mts_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(mts_days_from_civil(2018, 3, 17), 17607);
    /* 1900-03-01: 70 years back, leap days 1904..1968 = 17 (1900 is not one)
     * -> -(70*365 + 17) = -25567 to 1900-01-01; + 31 + 28 = -25508 */
    assert_int_equal(mts_days_from_civil(1900, 3, 1), -25508);
}

static void test_parse_daily_crypto(void **st) {
    (void)st;
    assert_int_equal(P("2018-03-17 00:00:00+00:00"), T_2018_03_17);
    /* close_time of the same candle: + 86399 s, the .999 truncated */
    assert_int_equal(P("2018-03-17 23:59:59.999000+00:00"), T_2018_03_17 + 86399);
    assert_int_equal(P("2018-03-17T00:00:00Z"), T_2018_03_17);
    assert_int_equal(P("2018-03-17t00:00:00z"), T_2018_03_17);
    assert_int_equal(P("2018-03-17"), T_2018_03_17);
    assert_int_equal(P("  2018-03-17  "), T_2018_03_17);
    assert_int_equal(P("2018-03-17 00:00"), T_2018_03_17);
}

static void test_parse_macro_formats(void **st) {
    (void)st;
    /* 1990-01-01: 20 years, leap days 1972..1988 = 5 -> 7305 days; 1990-01-02 = 7306
     * days = 7306 * 86400 = 631238400 */
    assert_int_equal(P("01/02/1990"), 631238400LL);
    assert_int_equal(P("1/2/1990"), 631238400LL);
    assert_int_equal(P("1990-01-02"), 631238400LL);
    /* 03/27/2026: 2026-01-01 = 56 years, leap days 1972..2024 = 14 -> 20454 days;
     * + 31 + 28 + 26 = 20539 days -> 1774569600 */
    assert_int_equal(P("03/27/2026"), 20539LL * 86400);
}

static void test_parse_intraday(void **st) {
    (void)st;
    /* 2021-01-01: 51 years, leap days 1972..2020 = 13 -> 18628 days -> 1609459200 */
    assert_int_equal(P("2021-01-01 00:00:00"), 1609459200LL);
    assert_int_equal(P("2021-01-01 01:00:00"), 1609459200LL + 3600);
    /* 1765555200002 ms -> 1765555200 s = 20434 days + 57600 s (16:00);
     * 2025-01-01 = 55 years + 14 leap days = 20089, 20434 - 20089 = 345 ->
     * Dec 12 (Jan..Nov = 334 days). Matches the funding file's 2025-12-12 16:00. */
    assert_int_equal(P("1765555200002"), 1765555200LL);
    assert_int_equal(P("1775914620000"), 1775914620LL);
    assert_int_equal(P("1765555200"), 1765555200LL);          /* seconds */
    assert_int_equal(P("1700000000.75"), 1700000000LL);       /* fraction truncated */
    /* the ms threshold: > 1e11 is milliseconds, 1e11 itself is seconds */
    assert_int_equal(P("100000000000"), 100000000000LL);
    assert_int_equal(P("100000000001"), 100000000LL);
    assert_int_equal(P("0"), 0);
    assert_int_equal(P("-1"), -1);
    char iso[32];
    mts_time_format_iso(1765555200LL, iso);
    assert_string_equal(iso, "2025-12-12T16:00:00Z");
}

static void test_parse_offsets(void **st) {
    (void)st;
    /* 2024-01-01: 54 years, leap days 1972..2020 = 13 -> 19723 days; 2024-01-02 =
     * 19724 days = 1704153600 */
    const int64_t d = 1704153600LL;
    assert_int_equal(P("2024-01-02T10:00:00+02:00"), d + 8 * 3600);   /* 10:00+02 = 08:00Z */
    assert_int_equal(P("2024-01-02T10:00:00+0200"), d + 8 * 3600);
    assert_int_equal(P("2024-01-02T10:00:00+02"), d + 8 * 3600);
    assert_int_equal(P("2024-01-02 10:00:00 +02:00"), d + 8 * 3600);
    assert_int_equal(P("2024-01-02T00:00:00-05:30"), d + 5 * 3600 + 30 * 60);
    assert_int_equal(P("2024-01-02T01:00:00+02:00"), d - 3600);       /* previous day 23:00Z */
    assert_int_equal(P("2024-01-02T10:00:00.123456-00:00"), d + 10 * 3600);
    assert_int_equal(P("2024-01-02 10:00"), d + 10 * 3600);
}

static void test_parse_calendar(void **st) {
    (void)st;
    /* 2024-02-29 exists: 19723 + 31 + 28 = 19782 days */
    assert_int_equal(P("2024-02-29"), 19782LL * 86400);
    assert_int_equal(P("2000-02-29"), (10957LL + 31 + 28) * 86400);
    assert_bad("2023-02-29");
    assert_bad("1900-02-29");
    assert_bad("2024-02-30");
    assert_bad("2024-04-31");
    assert_bad("2024-13-01");
    assert_bad("2024-00-10");
    assert_bad("2024-01-00");
    assert_bad("02/30/2024");
    assert_bad("13/01/2024");
    assert_bad("2024-01-02 24:00:00");
    assert_bad("2024-01-02 23:60:00");
    assert_bad("2024-01-02 23:59:60");
    assert_bad("2024-01-02T10:00:00+25:00");
}

static void test_parse_garbage(void **st) {
    (void)st;
    assert_bad("");
    assert_bad("   ");
    assert_bad("yesterday");
    assert_bad("12abc");
    assert_bad("2024-01-02T");
    assert_bad("2024-01-02T10");
    assert_bad("2024-01-02 10:00:00.");
    assert_bad("2024-01-02 10:00:00 UTC");
    assert_bad("2024-1-2");
    assert_bad("24-01-02");
    assert_bad("1765555200002.5");         /* fractional milliseconds */
    assert_bad("1765555200002.0");
    assert_bad("99999999999999999999");    /* overflow */
    assert_bad("1.2.3");
    assert_bad("--1");
    assert_bad("2024-01-02Z1");
    int64_t t;
    assert_int_equal(mts_time_parse("2018-03-17", 7, &t), MTS_EPARSE);   /* len is honoured: "2018-03" */
    assert_int_equal(mts_time_parse("2018-03-17xyz", 10, &t), 0);
    assert_int_equal(t, T_2018_03_17);
    assert_int_equal(mts_time_parse(NULL, 0, &t), MTS_EINVAL);
}

static void test_format(void **st) {
    (void)st;
    char iso[32], date[16];
    mts_time_format_iso(0, iso);
    assert_string_equal(iso, "1970-01-01T00:00:00Z");
    mts_time_format_iso(T_2018_03_17 + 86399, iso);
    assert_string_equal(iso, "2018-03-17T23:59:59Z");
    mts_time_format_iso(-1, iso);
    assert_string_equal(iso, "1969-12-31T23:59:59Z");
    mts_time_format_date(T_2018_03_17 + 86399, date);
    assert_string_equal(date, "2018-03-17");
    mts_time_format_date(-1, date);
    assert_string_equal(date, "1969-12-31");
    /* 2024-02-29 12:34:56 = 19782 days + 45296 s */
    mts_time_format_iso(19782LL * 86400 + 45296, iso);
    assert_string_equal(iso, "2024-02-29T12:34:56Z");
    /* round trip through the parser */
    int64_t t;
    assert_int_equal(mts_time_parse(iso, strlen(iso), &t), 0);
    assert_int_equal(t, 19782LL * 86400 + 45296);
    /* years outside 0000..9999 are written in full, not cut */
    mts_time_format_iso(mts_days_from_civil(10000, 1, 1) * 86400 + 1, iso);
    assert_string_equal(iso, "10000-01-01T00:00:01Z");
    mts_time_format_date(mts_days_from_civil(-1, 12, 31) * 86400, date);
    assert_string_equal(date, "-1-12-31");
}

static void test_day(void **st) {
    (void)st;
    assert_int_equal(mts_time_day(T_2018_03_17 + 86399), T_2018_03_17);
    assert_int_equal(mts_time_day(T_2018_03_17), T_2018_03_17);
    assert_int_equal(mts_time_day(-1), -86400);
    assert_int_equal(mts_time_day(-86400), -86400);
    assert_int_equal(mts_time_day(-86401), -2 * 86400);
}

/* Runs fn with stderr redirected to a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void)) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    static char buf[4096];
    rewind(tmp);
    size_t got = fread(buf, 1, n > 0 && n < (long)sizeof buf ? (size_t)n : sizeof buf - 1, tmp);
    buf[got] = '\0';
    fclose(tmp);
    return buf;
}

static void log_some(void) {
    mts_log(MTS_LOG_DEBUG, "hidden.debug", "\"x\":%d", 1);
    mts_log(MTS_LOG_INFO, "import.done", "\"rows\":%d,\"file\":\"%s\"", 2920, "a b.csv");
    mts_log(MTS_LOG_ERROR, "no.fields", NULL);
}

static void test_log_json(void **st) {
    (void)st;
    unsetenv("MTS_LOG_FORMAT");
    mts_log_set_level(MTS_LOG_INFO);
    assert_false(mts_log_enabled(MTS_LOG_DEBUG));
    assert_true(mts_log_enabled(MTS_LOG_WARN));
    char *out = capture_stderr(log_some);
    assert_null(strstr(out, "hidden.debug"));
    const char *l1 = strstr(out, "{\"ts\":\"");
    assert_non_null(l1);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","level":"info","event":"import.done","rows":2920,"file":"a b.csv"} */
    assert_int_equal(l1[7 + 23], 'Z');
    assert_non_null(strstr(l1, "\",\"level\":\"info\",\"event\":\"import.done\",\"rows\":2920,\"file\":\"a b.csv\"}\n"));
    assert_non_null(strstr(out, "\"level\":\"error\",\"event\":\"no.fields\"}\n"));
    /* exactly two lines */
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 2);
    mts_log_set_level(MTS_LOG_WARN);
}

/* The format is read once per process, so the text format runs in a child
 * (forked before this process ever logs). */
static void test_log_text(void **st) {
    (void)st;
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(tmp), 2);
        setenv("MTS_LOG_FORMAT", "text", 1);
        setenv("MTS_LOG_LEVEL", "debug", 1);
        mts_log(MTS_LOG_DEBUG, "import.done", "\"rows\":%d,\"file\":\"%s\",\"ok\":true", 3, "a b.csv");
        fflush(stderr);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[512] = {0};
    rewind(tmp);
    assert_true(fread(buf, 1, sizeof buf - 1, tmp) > 0);
    fclose(tmp);
    assert_string_equal(buf, "debug import.done rows=3 file=\"a b.csv\" ok=true\n");
}

static void test_json_helpers(void **st) {
    (void)st;
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    mts_json_number(f, NAN);
    fputc(' ', f);
    mts_json_number(f, INFINITY);
    fputc(' ', f);
    mts_json_number(f, -INFINITY);
    fputc(' ', f);
    mts_json_number(f, 1.5);
    fputc(' ', f);
    mts_json_number(f, 0.1 + 0.2);      /* every bit: reads back as the same double */
    fputc(' ', f);
    mts_json_escape(f, "a\"b\\c\nd\x01");
    fclose(f);
    assert_string_equal(buf, "null null null 1.5 0.30000000000000004 a\\\"b\\\\c\\nd\\u0001");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_parse_daily_crypto),
        cmocka_unit_test(test_parse_macro_formats),
        cmocka_unit_test(test_parse_intraday),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_calendar),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_log_text),
        cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_json_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
