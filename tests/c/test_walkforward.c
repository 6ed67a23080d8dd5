/* test_walkforward.c — walk-forward windows (research.h mts_wf_windows) checked
 * against dates worked out by hand, and the walk-forward HTML report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "report/report.h"
#include "research/research.h"

#define DAY 86400

/* "YYYY-MM-DDTHH:MM:SS" UTC -> unix seconds, by the C library (not by mts). */
static int64_t at(const char *iso) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_int_equal(sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec), 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* A daily series 2020-01-01 .. 2020-12-31 (366 bars, a leap year): first =
 * the first bar's open, last = the last second of the last bar. */
static int64_t FIRST, LAST;
static int setup(void **state) {
    (void)state;
    FIRST = at("2020-01-01T00:00:00");
    LAST = at("2020-12-31T23:59:59");
    return 0;
}

static void expect(const mts_wf_window_t *w, const char *trf, const char *trt, const char *tsf, const char *tst) {
    assert_int_equal(w->train_from, at(trf));
    assert_int_equal(w->train_to, at(trt));
    assert_int_equal(w->test_from, at(tsf));
    assert_int_equal(w->test_to, at(tst));
}

/* Rolling 180d/60d: windows move by 60 days; the third test window ends on
 * 2020-12-25 and the 6 days after it (Dec 26..31) do not make a whole test
 * window: not tested. */
static void rolling_by_hand(void **state) {
    (void)state;
    mts_wf_window_t *w = NULL;
    int n = -1;
    char err[256] = "";
    assert_int_equal(mts_wf_windows(FIRST, LAST, 180 * DAY, 60 * DAY, 0, &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    expect(&w[0], "2020-01-01T00:00:00", "2020-06-28T23:59:59", "2020-06-29T00:00:00", "2020-08-27T23:59:59");
    expect(&w[1], "2020-03-01T00:00:00", "2020-08-27T23:59:59", "2020-08-28T00:00:00", "2020-10-26T23:59:59");
    expect(&w[2], "2020-04-30T00:00:00", "2020-10-26T23:59:59", "2020-10-27T00:00:00", "2020-12-25T23:59:59");
    mts_free(w);
}

/* Anchored: the same test windows, every train window from Jan 1. */
static void anchored_by_hand(void **state) {
    (void)state;
    mts_wf_window_t *w = NULL;
    int n = -1;
    char err[256] = "";
    assert_int_equal(mts_wf_windows(FIRST, LAST, 180 * DAY, 60 * DAY, 1, &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    expect(&w[0], "2020-01-01T00:00:00", "2020-06-28T23:59:59", "2020-06-29T00:00:00", "2020-08-27T23:59:59");
    expect(&w[1], "2020-01-01T00:00:00", "2020-08-27T23:59:59", "2020-08-28T00:00:00", "2020-10-26T23:59:59");
    expect(&w[2], "2020-01-01T00:00:00", "2020-10-26T23:59:59", "2020-10-27T00:00:00", "2020-12-25T23:59:59");
    mts_free(w);
}

/* A test window ending exactly with the data's last bar fits; one second
 * short of it does not; data shorter than train + test is refused. */
static void exact_fit_and_too_short(void **state) {
    (void)state;
    mts_wf_window_t *w = NULL;
    int n = -1;
    char err[256] = "";
    /* 240 daily bars: 2020-01-01 .. 2020-08-27 */
    int64_t last = at("2020-08-27T23:59:59");
    assert_int_equal(mts_wf_windows(FIRST, last, 180 * DAY, 60 * DAY, 0, &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    expect(&w[0], "2020-01-01T00:00:00", "2020-06-28T23:59:59", "2020-06-29T00:00:00", "2020-08-27T23:59:59");
    mts_free(w);
    w = NULL;
    /* 239 bars: too short */
    n = -1;
    err[0] = 0;
    assert_int_equal(mts_wf_windows(FIRST, at("2020-08-26T23:59:59"), 180 * DAY, 60 * DAY, 0, &w, &n, err, sizeof err),
                     MTS_EINVAL);
    assert_null(w);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "too short"));
    assert_non_null(strstr(err, "239d"));
    /* lengths must be > 0; last before first */
    assert_int_equal(mts_wf_windows(FIRST, LAST, 0, 60 * DAY, 0, &w, &n, err, sizeof err), MTS_EINVAL);
    assert_int_equal(mts_wf_windows(FIRST, LAST, 180 * DAY, -1, 0, &w, &n, err, sizeof err), MTS_EINVAL);
    assert_int_equal(mts_wf_windows(LAST, FIRST, DAY, DAY, 0, &w, &n, err, sizeof err), MTS_EINVAL);
    assert_null(w);
}

/* Hourly: 12h train, 4h test over 2024-03-01 00:00 .. 2024-03-01 23:59:59
 * (24 hourly bars): (24 - 12) / 4 = 3 windows. */
static void hourly_by_hand(void **state) {
    (void)state;
    mts_wf_window_t *w = NULL;
    int n = -1;
    char err[256] = "";
    assert_int_equal(mts_wf_windows(at("2024-03-01T00:00:00"), at("2024-03-01T23:59:59"), 12 * 3600, 4 * 3600, 0,
                                    &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    expect(&w[0], "2024-03-01T00:00:00", "2024-03-01T11:59:59", "2024-03-01T12:00:00", "2024-03-01T15:59:59");
    expect(&w[1], "2024-03-01T04:00:00", "2024-03-01T15:59:59", "2024-03-01T16:00:00", "2024-03-01T19:59:59");
    expect(&w[2], "2024-03-01T08:00:00", "2024-03-01T19:59:59", "2024-03-01T20:00:00", "2024-03-01T23:59:59");
    mts_free(w);
}

/* The promises of the header over many shapes: test windows never overlap
 * and follow each other; each starts right after its train window; none
 * reaches past last; the next window would. */
static void invariants(void **state) {
    (void)state;
    srand(7);
    for (int it = 0; it < 2000; it++) {
        int64_t first = (int64_t)(rand() % 100000) * 60, span = 1 + (int64_t)(rand() % 5000) * 60;
        int64_t last = first + span - 1, train = 1 + rand() % 3000 * 60, test = 1 + rand() % 1000 * 60;
        int anchored = rand() % 2;
        mts_wf_window_t *w = NULL;
        int n = 0;
        char err[256];
        int rc = mts_wf_windows(first, last, train, test, anchored, &w, &n, err, sizeof err);
        if (train + test > span) {
            assert_int_equal(rc, MTS_EINVAL);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(n >= 1);
        for (int k = 0; k < n; k++) {
            assert_int_equal(w[k].train_from, anchored ? first : first + k * test);
            assert_int_equal(w[k].train_to - (anchored ? first : w[k].train_from) + 1, anchored ? train + k * test : train);
            assert_int_equal(w[k].test_from, w[k].train_to + 1);
            assert_int_equal(w[k].test_to - w[k].test_from + 1, test);
            assert_true(w[k].test_to <= last);
            if (k) assert_int_equal(w[k].test_from, w[k - 1].test_to + 1);
        }
        assert_true(w[n - 1].test_to + test > last);   /* one more would not fit */
        mts_free(w);
    }
}

/* The report: the windows' rows, the stitched metrics, the overfitting
 * numbers with their exact values, the strip of test windows. */
static void report_html(void **state) {
    (void)state;
    int64_t ts[4] = {at("2020-06-29T00:00:00"), at("2020-06-30T00:00:00"), at("2020-08-28T00:00:00"),
                     at("2020-08-29T00:00:00")};
    double v[4] = {1000, 1100, 1100, 990};
    mts_series_t eq = {ts, v, 4, 4};
    mts_report_wf_row_t rows[2] = {
        {at("2020-01-01T00:00:00"), at("2020-06-28T23:59:59"), ts[0], at("2020-08-27T23:59:59"), "fast=5 <x>",
         1.5, 0.25, 1000, {.total_return = 0.1, .trade_count = 1}},
        {at("2020-03-01T00:00:00"), at("2020-08-27T23:59:59"), ts[2], at("2020-10-26T23:59:59"), "fast=10",
         2.0, -0.5, 1100, {.total_return = -0.1, .trade_count = 2}}};
    mts_trade_t trades[1] = {{.asset = 0, .side = 1, .qty = 2, .entry_ts = ts[1], .entry_price = 50,
                               .exit_ts = ts[3], .exit_price = 45, .pnl = -10}};
    const char *assets[1] = {"bitcoin"};
    mts_report_wf_t w = {.trades = trades, .n_trades = 1, .assets = assets, .n_assets = 1, .title = "Walk-forward: sma_cross on bitcoin", .metric = "sharpe_ratio", .interval = "1d",
                         .train = "180d", .test = "60d", .higher_is_better = 1, .equity = &eq,
                         .initial_capital = 1000, .oos = {.final_value = 990, .total_return = -0.01},
                         .is_mean = 1.75, .oos_mean = -0.125, .gap = 1.875, .efficiency = -0.125 / 1.75,
                         .n_counted = 2, .rows = rows, .n_rows = 2, .run_id = 42};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_walkforward_html(f, &w), 0);
    fclose(f);
    assert_non_null(strstr(buf, "<table id=\"windows\">"));
    assert_non_null(strstr(buf, "2020-01-01 .. 2020-06-28"));
    assert_non_null(strstr(buf, "2020-08-28 .. 2020-10-26"));
    assert_non_null(strstr(buf, "fast=5 &lt;x&gt;"));          /* escaped */
    assert_non_null(strstr(buf, "data-metric=\"gap\" data-raw=\"1.875\""));
    assert_non_null(strstr(buf, "data-metric=\"final_value\" data-raw=\"990\""));
    assert_non_null(strstr(buf, "id=\"equity-chart\""));
    assert_non_null(strstr(buf, "id=\"windows-strip\""));
    assert_non_null(strstr(buf, "<title>entry long bitcoin 2020-06-30</title>"));   /* the trade's markers */
    assert_non_null(strstr(buf, "class=\"marker exit loss\""));
    assert_non_null(strstr(buf, "mts report 42"));
    assert_null(strstr(buf, "<script"));
    free(buf);
    w.equity = NULL;
    f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_walkforward_html(f, &w), MTS_EINVAL);
    fclose(f);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rolling_by_hand),
        cmocka_unit_test(anchored_by_hand),
        cmocka_unit_test(exact_fit_and_too_short),
        cmocka_unit_test(hourly_by_hand),
        cmocka_unit_test(invariants),
        cmocka_unit_test(report_html),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
