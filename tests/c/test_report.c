/* test_report.c — report/report.c and store/results.c: monthly returns worked
 * out by hand, exact number text, the HTML pieces a browser test relies on
 * (ids, classes, data-raw), escaping, the grid heatmap, and a stored run
 * written in one transaction and read back unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "report/report.h"
#include "store/store.h"

/* 2024-01-15, 2024-01-31 23:59:59, 2024-02-01 00:00:00, 2024-03-05 (UTC) */
#define T_JAN15 1705276800LL
#define T_JAN31_END 1706745599LL
#define T_FEB01 1706745600LL
#define T_MAR05 1709596800LL

static void series(mts_series_t *s, const int64_t *ts, const double *v, int n) {
    memset(s, 0, sizeof *s);
    assert_int_equal(mts_series_reserve(s, n), 0);
    for (int i = 0; i < n; i++) {
        s->ts[i] = ts[i];
        s->v[i] = v[i];
    }
    s->n = n;
}

static void monthly_by_hand(void **state) {
    (void)state;
    int64_t ts[] = {T_JAN15, T_JAN31_END, T_FEB01, T_MAR05};
    double v[] = {110, 121, 110, 133.1};
    mts_series_t s;
    series(&s, ts, v, 4);
    /* Jan ends at 121 (the 23:59:59 point is still January): 121/100 - 1 = 0.21
     * Feb ends at 110 (its only point):                      110/121 - 1 = -1/11
     * Mar ends at 133.1:                                     133.1/110 - 1 = 0.21 */
    assert_int_equal(mts_report_monthly(&s, 100.0, NULL, 0), 3);
    mts_month_return_t m[3];
    assert_int_equal(mts_report_monthly(&s, 100.0, m, 3), 3);
    assert_int_equal(m[0].year, 2024);
    assert_int_equal(m[0].month, 1);
    assert_true(fabs(m[0].ret - 0.21) < 1e-12);
    assert_int_equal(m[1].month, 2);
    assert_true(fabs(m[1].ret - (-1.0 / 11.0)) < 1e-12);
    assert_int_equal(m[2].month, 3);
    assert_true(fabs(m[2].ret - 0.21) < 1e-12);
    /* a short buffer gets the first months and the full count */
    assert_int_equal(mts_report_monthly(&s, 100.0, m, 1), 3);
    assert_int_equal(mts_report_monthly(NULL, 100.0, m, 3), 0);
    mts_series_free(&s);
}

static void exact_text(void **state) {
    (void)state;
    char b[32];
    mts_report_exact(0.1, b);
    assert_string_equal(b, "0.1");
    mts_report_exact(1.0 / 3.0, b);
    assert_true(strtod(b, NULL) == 1.0 / 3.0);
    assert_string_equal(b, "0.3333333333333333");   /* 16 digits suffice for 1/3 */
    mts_report_exact(NAN, b);
    assert_string_equal(b, "nan");
    mts_report_exact(-INFINITY, b);
    assert_string_equal(b, "-inf");
    mts_report_exact(100000, b);
    assert_string_equal(b, "100000");
}

/* Render into memory; returns a malloc'd string. */
static char *render_run(const mts_stored_run_t *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(mts_report_backtest_html(f, r), 0);
    fclose(f);
    return buf;
}

static void fill_run(mts_stored_run_t *r, mts_stored_trade_t *t) {
    memset(r, 0, sizeof *r);
    r->id = 7;
    r->strategy_name = "sma<b>&x";
    r->assets = "bitcoin";
    r->start_date = "2024-01-15T00:00:00Z";
    r->end_date = "2024-03-05T00:00:00Z";
    r->parameters_json = "{\"sma_cross\":{\"fast\":5}}";
    r->created_at = "2024-03-06 10:00:00";
    r->initial_capital = 100000;
    r->final_value = 133100;
    r->total_return = 0.331;
    r->annualized_return = NAN;
    r->sharpe_ratio = 1.5;
    r->max_drawdown = 1.0 / 11.0;
    r->volatility = 0.2;
    r->calmar_ratio = 3;
    r->win_rate = 1;
    r->profit_factor = NAN;
    r->trade_count = 1;
    memset(t, 0, sizeof *t);
    strcpy(t->asset, "bitcoin");
    t->side = 1;
    t->qty = 2;
    t->entry_ts = T_JAN15;
    t->entry_price = 100;
    t->exit_ts = T_MAR05;
    t->exit_price = 110;
    t->pnl = 19.5;
    t->fees = 0.5;
    r->trades = t;
    r->n_trades = 1;
    r->has_details = 1;
}

static void backtest_html(void **state) {
    (void)state;
    mts_stored_run_t r;
    mts_stored_trade_t t;
    fill_run(&r, &t);
    int64_t ts[] = {T_JAN15, T_JAN31_END, T_FEB01, T_MAR05};
    double v[] = {110000, 121000, 110000, 133100};
    series(&r.equity, ts, v, 4);
    char *h = render_run(&r);
    assert_non_null(strstr(h, "<!DOCTYPE html>"));
    assert_null(strstr(h, "<script"));
    /* the stored numbers, exact and rounded */
    assert_non_null(strstr(h, "data-metric=\"sharpe_ratio\" data-raw=\"1.5\">1.50<"));
    assert_non_null(strstr(h, "data-metric=\"total_return\" data-raw=\"0.331\">33.10 %<"));
    assert_non_null(strstr(h, "data-metric=\"final_value\" data-raw=\"133100\">133,100.00<"));
    assert_non_null(strstr(h, "data-metric=\"annualized_return\" data-raw=\"nan\">n/a<"));
    assert_non_null(strstr(h, "data-metric=\"max_drawdown\" data-raw=\"0.09090909090909091\">9.09 %<"));
    /* charts and markers */
    assert_non_null(strstr(h, "<svg id=\"equity-chart\""));
    assert_non_null(strstr(h, "<path class=\"equity\" d=\"M"));
    assert_non_null(strstr(h, "<svg id=\"drawdown-chart\""));
    assert_non_null(strstr(h, "class=\"marker entry long\""));
    assert_non_null(strstr(h, "class=\"marker exit win\""));
    /* monthly: Jan 121000/100000-1 = 21.00 %, Feb 110000/121000-1 = -9.09 % */
    assert_non_null(strstr(h, "data-month=\"2024-01\" data-raw=\"0.20999999999999996\">21.00 %<") ||
                    strstr(h, "data-month=\"2024-01\" data-raw=\"0.21\">21.00 %<"));
    assert_non_null(strstr(h, ">-9.09 %<"));
    /* escaping: the strategy name is text, not markup */
    assert_null(strstr(h, "sma<b>"));
    assert_non_null(strstr(h, "sma&lt;b&gt;&amp;x"));
    /* parameters pretty-printed, escaped */
    assert_non_null(strstr(h, "<pre id=\"parameters\">{"));
    assert_non_null(strstr(h, "&quot;fast&quot;:\t5"));
    free(h);
    mts_series_free(&r.equity);
}

static void run_without_details(void **state) {
    (void)state;
    mts_stored_run_t r;
    mts_stored_trade_t t;
    fill_run(&r, &t);
    r.has_details = 0;
    r.n_trades = 0;
    char *h = render_run(&r);
    assert_null(strstr(h, "equity-chart"));
    assert_non_null(strstr(h, "Run the backtest again"));
    assert_non_null(strstr(h, "data-metric=\"sharpe_ratio\""));
    free(h);
    assert_int_equal(mts_report_backtest_html(NULL, &r), MTS_EINVAL);
}

static void grid_html(void **state) {
    (void)state;
    const char *keys[] = {"fast", "slow"};
    const char *v[4][2] = {{"10", "30"}, {"5", "30"}, {"5", "50"}, {"10", "50"}};
    mts_report_grid_row_t rows[4];
    double metric[4] = {2.0, 1.5, 1.0, NAN};   /* ranked best first, undefined last */
    for (int i = 0; i < 4; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        rows[i].strategy = "sma_cross";
        rows[i].values = v[i];
        rows[i].metric = metric[i];
        rows[i].m.sharpe_ratio = metric[i];
        rows[i].run_id = i + 1;
    }
    mts_report_grid_t g = {"sma_cross on bitcoin", "2020-01-01 .. 2020-12-31", "sharpe_ratio", 1, keys, 2, rows, 4};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_grid_html(f, &g), 0);
    fclose(f);
    assert_non_null(strstr(buf, "<svg id=\"grid-heatmap\""));
    int cells = 0;
    for (const char *p = buf; (p = strstr(p, "class=\"cell\"")) != NULL; p++) cells++;
    assert_int_equal(cells, 4);   /* 2 fast values x 2 slow values */
    assert_non_null(strstr(buf, "data-x=\"10\" data-y=\"30\" data-value=\"2\""));
    assert_non_null(strstr(buf, "data-x=\"5\" data-y=\"50\" data-value=\"1\""));
    assert_non_null(strstr(buf, "data-x=\"10\" data-y=\"50\" data-value=\"nan\""));
    /* numeric order on the axis: 5 before 10 */
    assert_true(strstr(buf, ">5</text>") < strstr(buf, ">10</text>"));
    assert_non_null(strstr(buf, "<tr data-metric=\"2\"><td>1</td>"));
    free(buf);
}

static void stored_run_round_trip(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    mts_backtest_row_t row = {.strategy_name = "sma_cross", .assets = "bitcoin",
                              .start_date = "2024-01-15T00:00:00Z", .end_date = "2024-03-05T00:00:00Z",
                              .parameters_json = "{}", .initial_capital = 100000, .final_value = 133100,
                              .total_return = 0.331, .annualized_return = 2.5, .sharpe_ratio = 1.5,
                              .max_drawdown = 0.1, .volatility = 0.2, .calmar_ratio = 25, .win_rate = 0.5,
                              .profit_factor = INFINITY, .commission_bps = 10, .slippage_bps = 0,
                              .trade_count = 2};
    mts_trade_row_t tr[2] = {
        {"bitcoin", 1, 2, T_JAN15, 100, T_FEB01, 110, 19.5, 0.5, NULL, NULL, NULL, 0, 0, 0, 0},
        {"bitcoin", -1, 1.5, T_FEB01, 110, T_MAR05, 120, -15.25, 0.25, NULL, NULL, NULL, 0, 0, 0, 0}};
    int64_t ts[] = {T_JAN15, T_FEB01, T_MAR05};
    double eq[] = {100000, 121000.125, 133100};
    mts_signal_row_t sig = {"bitcoin", "sma_cross", "LONG", T_JAN15, 100, 1, 0.1, NAN, NAN};
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(s, &row, &sig, 1, tr, 2, ts, eq, 3, NULL, 0, &id), 0);
    assert_true(id > 0);

    mts_stored_run_t r;
    assert_int_equal(mts_store_load_run(s, id, &r), 0);
    assert_string_equal(r.strategy_name, "sma_cross");
    assert_true(r.final_value == 133100 && r.sharpe_ratio == 1.5 && r.trade_count == 2);
    assert_true(isnan(r.profit_factor));   /* inf is stored as NULL, read back as NaN */
    assert_int_equal(r.n_trades, 2);
    assert_string_equal(r.trades[1].asset, "bitcoin");
    assert_int_equal(r.trades[1].side, -1);
    assert_true(r.trades[1].qty == 1.5 && r.trades[1].pnl == -15.25 && r.trades[1].exit_ts == T_MAR05);
    assert_int_equal(r.equity.n, 3);
    assert_true(r.equity.v[1] == 121000.125 && r.equity.ts[2] == T_MAR05);
    assert_int_equal(r.has_details, 1);
    mts_stored_run_free(&r);
    mts_stored_run_free(&r);   /* zeroed: a second free is harmless */

    /* one transaction: a bad trade leaves no run, no signal, no equity behind */
    mts_trade_row_t bad = {NULL, 1, 1, T_JAN15, 1, T_FEB01, 1, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0};
    int64_t id2 = 0;
    assert_int_equal(mts_store_insert_run(s, &row, &sig, 1, &bad, 1, ts, eq, 3, NULL, 0, &id2), MTS_EINVAL);
    mts_stored_run_t *list = NULL;
    int n = 0;
    assert_int_equal(mts_store_list_runs(s, 10, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_true(list[0].id == id);
    for (int i = 0; i < n; i++) mts_stored_run_free(&list[i]);
    mts_free(list);

    assert_int_equal(mts_store_load_run(s, id + 100, &r), MTS_ENOTFOUND);
    mts_store_close(s);
    unlink(path);
    char side[512];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* The run's interval is kept in its parameters JSON and read back; a run
 * stored without one (older mts) reads back as 1d. */
static void interval_round_trip(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    mts_backtest_row_t row = {.strategy_name = "sma_cross", .assets = "bitcoin",
                              .start_date = "2024-01-15T00:00:00Z", .end_date = "2024-01-16T00:00:00Z",
                              .parameters_json = "{\"sma_cross\":{\"fast\":5}}", .initial_capital = 1,
                              .final_value = 1, .interval = "4h"};
    int64_t id = 0, id2 = 0;
    assert_int_equal(mts_store_insert_run(s, &row, NULL, 0, NULL, 0, NULL, NULL, 0, NULL, 0, &id), 0);
    row.interval = NULL;
    row.parameters_json = NULL;
    assert_int_equal(mts_store_insert_run(s, &row, NULL, 0, NULL, 0, NULL, NULL, 0, NULL, 0, &id2), 0);
    mts_stored_run_t r;
    assert_int_equal(mts_store_load_run(s, id, &r), 0);
    assert_string_equal(r.interval, "4h");
    /* kept in the row's parameters column, given back apart from the parameters */
    assert_string_equal(r.parameters_json, "{\"sma_cross\":{\"fast\":5}}");
    mts_stored_run_free(&r);
    assert_int_equal(mts_store_load_run(s, id2, &r), 0);
    assert_string_equal(r.interval, "1d");
    mts_stored_run_free(&r);
    mts_store_close(s);
    unlink(path);
    char side[512];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* An intraday run: the header and the trade list show times (UTC), not just
 * dates; the run says its interval. 2024-01-15 13:00 and 2024-01-16 07:30. */
static void intraday_trade_times(void **state) {
    (void)state;
    mts_stored_run_t r;
    mts_stored_trade_t t;
    fill_run(&r, &t);
    strcpy(r.interval, "1h");
    r.start_date = "2024-01-15T00:00:00Z";
    r.end_date = "2024-01-16T23:00:00Z";
    t.entry_ts = T_JAN15 + 13 * 3600;
    t.exit_ts = T_JAN15 + 86400 + 7 * 3600 + 1800;
    int64_t ts[] = {T_JAN15, T_JAN15 + 13 * 3600, T_JAN15 + 86400 + 7 * 3600 + 1800};
    double v[] = {100000, 100500, 100019.5};
    series(&r.equity, ts, v, 3);
    char *h = render_run(&r);
    const char *tr = strstr(h, "<table id=\"trades\"");
    assert_non_null(tr);
    assert_non_null(strstr(tr, ">2024-01-15 13:00<"));
    assert_non_null(strstr(tr, ">2024-01-16 07:30<"));
    assert_non_null(strstr(h, "1h bars"));
    assert_non_null(strstr(h, "2024-01-16T23:00:00Z"));
    free(h);
    /* a daily run keeps dates */
    strcpy(r.interval, "1d");
    h = render_run(&r);
    tr = strstr(h, "<table id=\"trades\"");
    assert_non_null(strstr(tr, ">2024-01-15<"));
    assert_null(strstr(tr, "13:00"));
    free(h);
    mts_series_free(&r.equity);
}

static char *render_ex(const mts_stored_run_t *r, const mts_report_extra_t *x) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(mts_report_backtest_html_ex(f, r, x), 0);
    fclose(f);
    return buf;
}

static int count_of(const char *h, const char *needle) {
    int n = 0;
    for (const char *p = h; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

/* Issue 12's parts of the page: the benchmark line under the equity curve,
 * the newer metrics, the benchmark table, attribution, the trades' stories. */
static void backtest_html_extras(void **state) {
    (void)state;
    mts_stored_run_t r;
    mts_stored_trade_t t[2];
    fill_run(&r, &t[0]);
    t[1] = t[0];
    strcpy(t[1].asset, "ethereum");
    t[1].entry_ts = T_FEB01;
    t[1].exit_ts = T_MAR05;
    t[1].pnl = -7.25;
    r.trades = t;
    r.n_trades = 2;
    int64_t ts[] = {T_JAN15, T_JAN31_END, T_FEB01, T_MAR05};
    double v[] = {110000, 121000, 110000, 133100};
    series(&r.equity, ts, v, 4);
    /* the benchmark: four points on the curve's times and one after its end (not drawn) */
    int64_t bts[] = {T_JAN15, T_JAN31_END, T_FEB01, T_MAR05, T_MAR05 + 86400};
    double bv[] = {100000, 105000, 102000, 120000, 1e9};
    mts_series_t bench;
    series(&bench, bts, bv, 5);
    mts_metrics_t m = {0}, bm = {0};
    m.sortino_ratio = 1.75;
    m.exposure_time = 0.4;
    m.avg_trade = 12.5;
    m.expectancy = 0.625;
    m.longest_losing_streak = 3;
    m.alpha = 0.1;
    m.beta = 0.8;
    bm.total_return = 0.2;
    bm.volatility = 0.3;
    bm.sharpe_ratio = 0.9;
    bm.max_drawdown = 0.1;
    mts_report_book_t books[2] = {
        {"sma_cross", 0.5, 1200.5, 0.02401, 1.25, 0.05, 10.25, -4.5, 3},
        {"rsi<x>", 0.3, -300, -0.01, NAN, 0.02, 5, 0, 2},
    };
    mts_report_trade_story_t st[2] = {
        {"sma_cross", "signal", "stop_loss", -1.25, -30, 45.5, 0},
        {"rsi<x>", "signal", "end_of_data", 0.5, -2, 3, 1},
    };
    mts_report_extra_t x = {.benchmark = &bench, .metrics = &m, .benchmark_metrics = &bm,
                            .books = books, .n_books = 2, .stories = st, .n_stories = 2};
    char *h = render_ex(&r, &x);
    assert_null(strstr(h, "<script"));

    /* the benchmark line, drawn before (under) the equity line. Frame: values
     * 100000 (initial and the benchmark's low) .. 133100, padded by 5 % of the
     * span (1655): 98345 .. 134755 over 300 px from y = 12; x from 78 to 944.
     * 100000 -> 12 + 34755/36410*300 = 298.4; 105000 -> 257.2; 102000 -> 281.9;
     * 120000 -> 133.6; Jan 31 23:59:59 -> 78 + 1468799/4320000*866 = 372.4 */
    const char *bl = strstr(h, "<path class=\"benchmark\" id=\"benchmark-line\" "
                               "d=\"M78.0,298.4L372.4,257.2L372.4,281.9L944.0,133.6\">");
    assert_non_null(bl);
    const char *eq = strstr(h, "<path class=\"equity\"");
    assert_non_null(eq);
    assert_true(bl < eq);
    const char *legend = strstr(h, "<p class=\"legend\">");
    assert_non_null(legend);
    assert_non_null(strstr(legend, "<path class=\"benchmark\" d=\"M0,5h18\"/></svg>buy and hold (equal weight)</span>"));

    /* the newer metrics in the summary */
    assert_non_null(strstr(h, "data-metric=\"sortino_ratio\" data-raw=\"1.75\">1.75<"));
    assert_non_null(strstr(h, "data-metric=\"exposure_time\" data-raw=\"0.4\">40.00 %<"));
    assert_non_null(strstr(h, "data-metric=\"avg_trade\" data-raw=\"12.5\">12.50<"));
    assert_non_null(strstr(h, "data-metric=\"expectancy\" data-raw=\"0.625\">0.62<") ||
                    strstr(h, "data-metric=\"expectancy\" data-raw=\"0.625\">0.63<"));
    assert_non_null(strstr(h, "data-metric=\"longest_losing_streak\" data-raw=\"3\">3<"));

    /* strategy vs benchmark */
    const char *bt = strstr(h, "<table id=\"benchmark\">");
    assert_non_null(bt);
    assert_non_null(strstr(bt, "<tr data-metric=\"total_return\"><td class=\"l\">total return</td>"
                               "<td data-raw=\"0.331\">33.10 %</td><td data-raw=\"0.2\">20.00 %</td></tr>"));
    assert_non_null(strstr(bt, "<tr data-metric=\"max_drawdown\"><td class=\"l\">max drawdown</td>"
                               "<td data-raw=\"0.09090909090909091\">9.09 %</td><td data-raw=\"0.1\">10.00 %</td></tr>"));
    assert_non_null(strstr(bt, "<td class=\"pos\" data-raw=\"0.1\">10.00 %</td>"));     /* alpha */
    assert_non_null(strstr(bt, "<td data-raw=\"0.8\">0.80</td>"));                      /* beta */

    /* attribution: a row a book, escaped, and the sums:
     * allocation 0.5 + 0.3 = 0.8, pnl 1200.5 - 300 = 900.5, trades 5, fees 15.25, funding -4.5 */
    const char *at = strstr(h, "<table id=\"attribution\">");
    assert_non_null(at);
    assert_non_null(strstr(at, "<tr class=\"book\" data-strategy=\"sma_cross\"><td class=\"l\">sma_cross</td>"
                               "<td data-raw=\"0.5\">50.00 %</td><td class=\"pos\" data-raw=\"1200.5\">1,200.50</td>"
                               "<td class=\"pos\" data-raw=\"0.02401\">2.40 %</td><td data-raw=\"1.25\">1.25</td>"
                               "<td data-raw=\"0.05\">5.00 %</td><td data-raw=\"3\">3</td>"
                               "<td data-raw=\"10.25\">10.25</td><td class=\"neg\" data-raw=\"-4.5\">-4.50</td></tr>"));
    assert_non_null(strstr(at, "<tr class=\"book\" data-strategy=\"rsi&lt;x&gt;\"><td class=\"l\">rsi&lt;x&gt;</td>"
                               "<td data-raw=\"0.3\">30.00 %</td><td class=\"neg\" data-raw=\"-300\">-300.00</td>"));
    assert_non_null(strstr(at, "<td data-raw=\"nan\">n/a</td>"));   /* rsi's sharpe */
    assert_non_null(strstr(at, "<tr class=\"sum\"><th class=\"l\">sum</th><td data-raw=\"0.8\">80.00 %</td>"
                               "<td class=\"pos\" data-raw=\"900.5\">900.50</td><td></td><td></td><td></td>"
                               "<td data-raw=\"5\">5</td><td data-raw=\"15.25\">15.25</td>"
                               "<td class=\"neg\" data-raw=\"-4.5\">-4.50</td></tr>"));
    assert_null(strstr(h, "rsi<x>"));

    /* trades with their stories; the open one has no exit marker */
    assert_non_null(strstr(h, "<h2>Trades (1 closed, 1 open at the end)</h2>"));
    const char *tt = strstr(h, "<table id=\"trades\">");
    assert_non_null(tt);
    assert_non_null(strstr(tt, "<th class=\"l\">entry reason</th><th class=\"l\">exit reason</th><th>funding</th>"
                               "<th>MAE</th><th>MFE</th>"));
    assert_non_null(strstr(tt, "<td class=\"l\">signal</td><td class=\"l\">stop_loss</td>"
                               "<td class=\"neg\" data-raw=\"-1.25\">-1.25</td><td data-raw=\"-30\">-30.00</td>"
                               "<td data-raw=\"45.5\">45.50</td></tr>"));
    assert_non_null(strstr(tt, "<tr class=\"open\"><td>2</td><td class=\"l\">ethereum</td><td class=\"l\">rsi&lt;x&gt;</td>"));
    assert_non_null(strstr(tt, " (open)</td>"));
    assert_non_null(strstr(tt, "<td class=\"l\">end_of_data</td><td class=\"pos\" data-raw=\"0.5\">0.50</td>"));
    assert_int_equal(count_of(h, "class=\"marker exit "), 1);
    assert_int_equal(count_of(h, "class=\"marker entry "), 2);
    free(h);

    /* stories that do not match the trades are left out; no books, no tables */
    mts_report_extra_t y = {.benchmark = &bench, .stories = st, .n_stories = 1};
    h = render_ex(&r, &y);
    assert_non_null(strstr(h, "id=\"benchmark-line\""));
    assert_null(strstr(h, "entry reason"));
    assert_null(strstr(h, "id=\"attribution\""));
    assert_null(strstr(h, "<table id=\"benchmark\">"));
    assert_null(strstr(h, "sortino_ratio"));
    assert_int_equal(count_of(h, "class=\"marker exit "), 2);
    free(h);

    /* without extras: the page of before */
    h = render_run(&r);
    assert_null(strstr(h, "benchmark-line"));
    assert_null(strstr(h, "<table id=\"benchmark\">"));
    assert_null(strstr(h, "attribution"));
    assert_null(strstr(h, "entry reason"));
    assert_non_null(strstr(h, "<h2>Trades (2 closed)</h2>"));
    free(h);
    x.n_books = 1;
    x.books = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_backtest_html_ex(f, &r, &x), MTS_EINVAL);
    fclose(f);
    free(buf);
    mts_series_free(&bench);
    mts_series_free(&r.equity);
}

/* A walk-forward page draws a benchmark under its stitched curve when given one. */
static void walkforward_benchmark(void **state) {
    (void)state;
    int64_t ts[] = {T_JAN15, T_FEB01, T_MAR05};
    double v[] = {100, 110, 105}, bv[] = {100, 90, 120};
    mts_series_t eq, bench;
    series(&eq, ts, v, 3);
    series(&bench, ts, bv, 3);
    mts_report_wf_t w = {.title = "wf", .metric = "sharpe_ratio", .equity = &eq, .initial_capital = 100,
                         .benchmark = &bench};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_walkforward_html(f, &w), 0);
    fclose(f);
    assert_non_null(strstr(buf, "<path class=\"benchmark\" id=\"benchmark-line\" d=\"M78.0,"));
    free(buf);
    w.benchmark = NULL;
    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_int_equal(mts_report_walkforward_html(f, &w), 0);
    fclose(f);
    assert_null(strstr(buf, "benchmark-line"));
    free(buf);
    mts_series_free(&eq);
    mts_series_free(&bench);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(monthly_by_hand),
        cmocka_unit_test(exact_text),
        cmocka_unit_test(backtest_html),
        cmocka_unit_test(run_without_details),
        cmocka_unit_test(grid_html),
        cmocka_unit_test(stored_run_round_trip),
        cmocka_unit_test(intraday_trade_times),
        cmocka_unit_test(interval_round_trip),
        cmocka_unit_test(backtest_html_extras),
        cmocka_unit_test(walkforward_benchmark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
