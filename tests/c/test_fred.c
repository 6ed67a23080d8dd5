/* test_fred.c — feeds/fred parser on the FRED docs sample (GNPCA, copied in
 * tests/fixtures/vendors/fred_api) and on hand-made bodies: string values,
 * "." missing, bad values/dates reported as "fred:SERIES:ROW: reason". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mts.h"
#include "feeds/fred.h"
#include "store/store.h"

static void fixture_gnpca(void **st) {
    (void)st;
    FILE *f = fopen("tests/fixtures/vendors/fred_api/series_observations_GNPCA.json", "rb");
    assert_non_null(f);
    char *j = malloc(1 << 16);
    size_t n = fread(j, 1, (1 << 16) - 1, f);
    j[n] = 0;
    fclose(f);
    mts_series_t s = {0};
    mts_fred_report_t rep;
    assert_int_equal(mts_fred_parse_observations(j, n, "GNPCA", &s, stderr, &rep), 0);
    assert_int_equal(s.n, 84);                            /* "count": 84 in the sample */
    assert_int_equal(rep.missing, 0);
    /* 1929-01-01: -41 years from 1970 = -(41*365 + 10 leap days 1932..1968) = -14975 days */
    assert_int_equal(s.ts[0], -14975LL * 86400);
    assert_true(s.v[0] == 1065.9);
    assert_true(s.v[83] == 15693.1);                       /* 2012-01-01 */
    free(j);
    mts_series_free(&s);
}

static void missing_and_bad_rows(void **st) {
    (void)st;
    const char *j = "{\"observations\":["
        "{\"date\":\"2024-01-02\",\"value\":\"13.2\"},"     /* 1 ok */
        "{\"date\":\"2024-01-03\",\"value\":\".\"},"        /* 2 missing */
        "{\"date\":\"2024-01-04\",\"value\":\"abc\"},"      /* 3 not a number */
        "{\"date\":\"2024-02-30\",\"value\":\"1\"},"        /* 4 no such day */
        "{\"date\":\"2024-01-05\",\"value\":12.5},"         /* 5 number, not string */
        "{\"date\":\"2024-01-02\",\"value\":\"13.3\"},"     /* 6 duplicate date */
        "{\"date\":\"2024-01-08\",\"value\":\"-0.25\"},"    /* 7 ok (negative is fine) */
        "{\"date\":\"2024-01-09\",\"value\":\"\"}]}";       /* 8 empty */
    char buf[2048] = {0};
    FILE *err = fmemopen(buf, sizeof buf, "w");
    mts_series_t s = {0};
    mts_fred_report_t rep;
    assert_int_equal(mts_fred_parse_observations(j, strlen(j), "VIXCLS", &s, err, &rep), 0);
    fclose(err);
    assert_int_equal(s.n, 2);
    assert_true(s.v[0] == 13.2 && s.v[1] == -0.25);
    assert_int_equal(rep.missing, 1);
    assert_int_equal(rep.rejected, 5);
    const char *want[] = {"fred:VIXCLS:3: value 'abc' is not a number", "fred:VIXCLS:4: bad date '2024-02-30'",
                          "fred:VIXCLS:5:", "fred:VIXCLS:6: duplicate date 2024-01-02",
                          "fred:VIXCLS:8: value '' is not a number"};
    for (int i = 0; i < 5; i++)
        if (!strstr(buf, want[i])) fail_msg("missing '%s' in:\n%s", want[i], buf);
    mts_series_free(&s);
}

static void not_fred_json(void **st) {
    (void)st;
    mts_series_t s = {0};
    const char *bad[] = {"{\"error_code\":400,\"error_message\":\"Bad Request.\"}", "[", "{\"observations\":{}}"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(mts_fred_parse_observations(bad[i], strlen(bad[i]), "X", &s, NULL, NULL), MTS_EPARSE);
    assert_true(mts_fred_valid_series("DGS10"));
    assert_false(mts_fred_valid_series("DGS10&api_key=x"));
    mts_fred_t *f = NULL;
    assert_int_equal(mts_fred_new(NULL, "", NULL, &f), MTS_ECONFIG);   /* FRED needs a key */
    assert_null(f);
    mts_series_free(&s);
}

/* Two sources for one day: the stored original stays (equal: dropped
 * silently; different: dropped and reported); filled rows go on to the store. */
static void keep_first_source(void **st) {
    (void)st;
    const int64_t D = 86400, t0 = 1774224000;   /* 2026-03-23 00:00 UTC */
    mts_series_t stored = {0}, daily = {0};
    assert_int_equal(mts_series_reserve(&stored, 3), 0);
    /* stored originals: Thu 26th 27.44, Fri 27th 31.05 */
    stored.ts[0] = t0 + 3 * D; stored.v[0] = 27.44;
    stored.ts[1] = t0 + 4 * D; stored.v[1] = 31.05;
    stored.n = 2;
    /* fetched: Thu 27.50 (differs), Fri 31.05 (same), Sat/Sun filled, Mon 29.10 (new) */
    double v[] = {27.50, 31.05, 31.05, 31.05, 29.10};
    uint8_t flags[] = {0, 0, 2, 2, 0};
    assert_int_equal(mts_series_reserve(&daily, 5), 0);
    for (int i = 0; i < 5; i++) { daily.ts[i] = t0 + (3 + i) * D; daily.v[i] = v[i]; }
    daily.n = 5;
    char buf[512] = {0};
    FILE *err = fmemopen(buf, sizeof buf - 1, "w");
    int64_t same = -1, diff = -1;
    mts_fred_keep_first(&stored, &daily, flags, "VIXCLS", err, &same, &diff);
    fclose(err);
    assert_int_equal(same, 1);
    assert_int_equal(diff, 1);
    assert_int_equal(daily.n, 3);
    assert_int_equal(daily.ts[0], t0 + 5 * D);
    assert_int_equal(flags[0], 2);
    assert_int_equal(daily.ts[2], t0 + 7 * D);
    assert_true(daily.v[2] == 29.10 && flags[2] == 0);
    assert_non_null(strstr(buf, "fred:VIXCLS:2026-03-26: kept stored 27.44"));
    /* nothing stored: everything goes on */
    daily.n = 5;
    for (int i = 0; i < 5; i++) { daily.ts[i] = t0 + (3 + i) * D; daily.v[i] = v[i]; flags[i] = i == 2 || i == 3 ? 2 : 0; }
    stored.n = 0;
    mts_fred_keep_first(&stored, &daily, flags, "VIXCLS", NULL, &same, &diff);
    assert_int_equal(daily.n, 5);
    assert_int_equal(same + diff, 0);
    mts_series_free(&stored);
    mts_series_free(&daily);
}

/* The alias table of config/mts.json (the repository's: VIXCLS -> VIX). */
static void alias_from_config(void **st) {
    (void)st;
    assert_string_equal(mts_fred_alias("VIXCLS"), "VIX");
    assert_string_equal(mts_fred_alias("DGS10"), "DGS10");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_gnpca),
        cmocka_unit_test(missing_and_bad_rows),
        cmocka_unit_test(not_fred_json),
        cmocka_unit_test(keep_first_source),
        cmocka_unit_test(alias_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
