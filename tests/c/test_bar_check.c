/* test_bar_check.c — market/bar_check.c, the one rule for bars (CSV import
 * and live sessions), and the import through it: a row at 1e308 is refused
 * with FILE:LINE. Every boundary below is written out by hand: 2100-01-01
 * 00:00:00 UTC = 4102444800 s (47482 days * 86400), 2021-01-01 00:00 UTC =
 * 1609459200 s, 2021-01-04 (a Monday) = 1609718400 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mts.h"
#include "market/bar_check.h"
#include "store/store.h"

#define T2021 1609459200LL

static mts_bar_fault_t chk(int64_t ts, double o, double h, double l, double c, double v, mts_bar_verdict_t *w) {
    double x[5] = {o, h, l, c, v};
    return mts_bar_check(ts, x, w);
}

static void test_good_bars(void **st) {
    (void)st;
    mts_bar_verdict_t w;
    assert_int_equal(chk(T2021, 29000, 29500, 28800, 29300, 12.5, &w), MTS_BAR_OK);
    /* flat bar, zero volume, prices at the limit, the first and last second of the range */
    assert_int_equal(chk(0, 1, 1, 1, 1, 0, &w), MTS_BAR_OK);
    assert_int_equal(chk(4102444799LL, 1e12, 1e12, 1e12, 1e12, 1e18, &w), MTS_BAR_OK);
    assert_int_equal(chk(T2021, 1e-8, 2e-8, 1e-8, 2e-8, 1, &w), MTS_BAR_OK);
}

static void test_bad_values(void **st) {
    (void)st;
    mts_bar_verdict_t w;
    assert_int_equal(chk(T2021, 10, 11, 9, 1e308, 1, &w), MTS_BAR_TOO_LARGE);
    assert_int_equal(w.field, 3);
    assert_int_equal(chk(T2021, 1e308, 1e308, 1e308, 1e308, 1, &w), MTS_BAR_TOO_LARGE);
    assert_int_equal(w.field, 0);
    assert_int_equal(chk(T2021, 10, 1.000001e12, 9, 10, 1, &w), MTS_BAR_TOO_LARGE);
    assert_int_equal(w.field, 1);
    assert_int_equal(chk(T2021, 10, 11, 9, 10, 1e19, &w), MTS_BAR_TOO_LARGE);
    assert_int_equal(w.field, 4);
    assert_int_equal(chk(T2021, -10, 11, -12, 10, 1, &w), MTS_BAR_NOT_POSITIVE);
    assert_int_equal(w.field, 0);
    assert_int_equal(chk(T2021, 10, 11, 0, 10, 1, &w), MTS_BAR_NOT_POSITIVE);
    assert_int_equal(w.field, 2);
    assert_int_equal(chk(T2021, 10, NAN, 9, 10, 1, &w), MTS_BAR_NOT_FINITE);
    assert_int_equal(w.field, 1);
    assert_int_equal(chk(T2021, 10, 11, 9, 10, INFINITY, &w), MTS_BAR_NOT_FINITE);
    assert_int_equal(w.field, 4);
    assert_int_equal(chk(T2021, 10, 11, 9, 10, -1, &w), MTS_BAR_NEGATIVE);
    assert_int_equal(w.field, 4);
    /* high 10.5 below the close 10.6; low 9.9 above the open 9.8 */
    assert_int_equal(chk(T2021, 10, 10.5, 9, 10.6, 1, &w), MTS_BAR_HIGH_BELOW);
    assert_int_equal(w.field, 1);
    assert_int_equal(w.other, 3);
    assert_int_equal(chk(T2021, 9.8, 10.5, 9.9, 10, 1, &w), MTS_BAR_LOW_ABOVE);
    assert_int_equal(w.field, 2);
    assert_int_equal(w.other, 0);
}

static void test_time_range(void **st) {
    (void)st;
    mts_bar_verdict_t w;
    assert_int_equal(chk(-1, 10, 11, 9, 10, 1, &w), MTS_BAR_TIME);
    assert_int_equal(chk(4102444800LL, 10, 11, 9, 10, 1, &w), MTS_BAR_TIME);
    /* 80 years after 2021: 2101 */
    assert_int_equal(chk(T2021 + 80LL * 365 * 86400, 10, 11, 9, 10, 1, &w), MTS_BAR_TIME);
    char buf[160];
    double x[5] = {10, 11, 9, 10, 1};
    mts_bar_describe(&w, 4102444800LL, x, buf, sizeof buf);
    assert_string_equal(buf, "time 4102444800 is outside 1970-01-01..2100-01-01");
}

static void test_describe(void **st) {
    (void)st;
    mts_bar_verdict_t w;
    double x[5] = {10, 11, 9, 1e308, 1};
    assert_int_equal(mts_bar_check(T2021, x, &w), MTS_BAR_TOO_LARGE);
    char buf[160];
    mts_bar_describe(&w, T2021, x, buf, sizeof buf);
    assert_string_equal(buf, "close 1e+308 is above the price limit 1e+12");
    double y[5] = {-5, 11, 9, 10, 1};
    assert_int_equal(mts_bar_check(T2021, y, &w), MTS_BAR_NOT_POSITIVE);
    assert_string_equal(mts_bar_describe(&w, T2021, y, buf, sizeof buf), "open must be > 0, got -5");
    assert_string_equal(mts_bar_fault_name(MTS_BAR_AHEAD), "ahead");
}

static void test_open_time(void **st) {
    (void)st;
    const int64_t H = 3600000, D = 86400000, now = (T2021 + 10 * 86400) * 1000;
    int64_t t = T2021 * 1000;
    assert_int_equal(mts_bar_check_open(t, H, now, 0), MTS_BAR_OK);
    assert_int_equal(mts_bar_check_open(t + H / 2, H, now, 0), MTS_BAR_MISALIGNED);
    assert_int_equal(mts_bar_check_open(t + 1000, 60000, now, 0), MTS_BAR_MISALIGNED);
    assert_int_equal(mts_bar_check_open(t, D, now, 0), MTS_BAR_OK);
    assert_int_equal(mts_bar_check_open(t + H, D, now, 0), MTS_BAR_MISALIGNED);
    /* weeks start on Monday 2021-01-04; 2021-01-07 is a Thursday (a multiple of 7 days since 1970) */
    assert_int_equal(mts_bar_check_open(1609718400000LL, 7 * D, now, 0), MTS_BAR_OK);
    assert_int_equal(mts_bar_check_open(1609977600000LL, 7 * D, now, 0), MTS_BAR_MISALIGNED);
    /* the bar opening an hour before now closes exactly now: closed */
    assert_int_equal(mts_bar_check_open(now - H, H, now, 0), MTS_BAR_OK);
    /* the 1h bar opening now has not closed, 2 s of skew or not; a 1m bar opening now closes
     * 60 s later: at now + 59 s it is 1 s ahead, within 2 s of skew, at now + 57 s 3 s ahead */
    assert_int_equal(mts_bar_check_open(now, H, now, 2000), MTS_BAR_AHEAD);
    assert_int_equal(mts_bar_check_open(now, 60000, now + 59000, 2000), MTS_BAR_OK);
    assert_int_equal(mts_bar_check_open(now, 60000, now + 57000, 2000), MTS_BAR_AHEAD);
    /* 80 years ahead: ahead of the clock, no overflow */
    assert_int_equal(mts_bar_check_open(now + 80LL * 365 * D, H, now, 60000), MTS_BAR_AHEAD);
    assert_int_equal(mts_bar_check_open(INT64_MAX - INT64_MAX % H, H, now, 60000), MTS_BAR_AHEAD);
}

/* The import refuses a row at 1e308 (and one above the limit) naming its line;
 * the good rows are kept. */
static void test_import_refuses_1e308(void **st) {
    (void)st;
    char dir[] = "/tmp/mts_barchk_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char csv[128], db[128];
    snprintf(csv, sizeof csv, "%s/bars.csv", dir);
    snprintf(db, sizeof db, "%s/t.db", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fputs("timestamp,open,high,low,close,volume\n"
          "2021-01-01 00:00:00,10,11,9,10.5,100\n"
          "2021-01-01 01:00:00,10,1e308,9,10.5,100\n"
          "2021-01-01 02:00:00,1e308,1e308,1e308,1e308,100\n"
          "2021-01-01 03:00:00,10,11,9,2e12,100\n"
          "2021-01-01 04:00:00,10,11,9,10.5,100\n", f);
    fclose(f);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(db, &s), 0);
    char *errbuf = NULL;
    size_t errlen = 0;
    FILE *err = open_memstream(&errbuf, &errlen);
    mts_import_report_t rep;
    int rc = mts_csv_import_ohlcv(s, csv, "x", err, &rep);
    fclose(err);
    assert_true(rc == 0 || rc == MTS_EPARTIAL);
    assert_int_equal(rep.rows_ok, 2);
    assert_int_equal(rep.rows_rejected, 3);
    char want[1024];
    snprintf(want, sizeof want,
             "%s:3: high 1e308 is above the price limit 1e+12\n"
             "%s:4: open 1e308 is above the price limit 1e+12\n"
             "%s:5: close 2e12 is above the price limit 1e+12\n", csv, csv, csv);
    assert_string_equal(errbuf, want);
    free(errbuf);
    mts_store_close(s);
    unlink(csv);
    unlink(db);
    char p[160];
    snprintf(p, sizeof p, "%s-wal", db); unlink(p);
    snprintf(p, sizeof p, "%s-shm", db); unlink(p);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_bars),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_time_range),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_open_time),
        cmocka_unit_test(test_import_refuses_1e308),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
