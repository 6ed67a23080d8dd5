/* report.h — self-contained HTML reports: one file with inline CSS and inline
 * SVG, no scripts, nothing fetched, so it opens offline in any browser.
 *
 *  - a stored backtest (mts_report_backtest_html): summary metrics table,
 *    equity curve and drawdown charts with entry/exit markers, monthly returns
 *    heatmap, trade list, strategy parameters and data range; with
 *    mts_report_backtest_html_ex also the benchmark line and table, the newer
 *    metrics, a per-strategy attribution table and each trade's story;
 *  - an optimization grid (mts_report_grid_html): a heatmap of the ranked
 *    metric over the first two parameters and the ranked table.
 *
 * Numbers are the ones handed in (the stored run, the optimizer's metrics),
 * only formatted: every metric cell carries its exact value in data-raw (the
 * shortest text that reads back as the same double) next to the rounded text.
 * Derived series are drawn from the stored equity curve with the definitions
 * of portfolio/metrics.h: drawdown_t = (peak_t - E_t) / peak_t, peak including
 * the initial capital; a month's return = its last equity point / the previous
 * month's last point - 1, the first month against the initial capital.
 *
 * Needs store/store.h (mts_stored_run_t) and portfolio/metrics.h. Errors:
 * 0, MTS_EINVAL (missing argument), MTS_EIO (write failed). */
#ifndef MTS_REPORT_H
#define MTS_REPORT_H

#include <stdio.h>
#include "mts.h"
#include "portfolio/metrics.h"
#include "store/store.h"

typedef struct mts_month_return {
    int    year, month;     /* month 1..12 */
    double ret;             /* fraction */
} mts_month_return_t;

/* Monthly returns of an equity curve (ascending ts, UTC months), in order.
 * Writes at most cap entries into out and returns how many months there are
 * (so a first call with cap 0 sizes the array). */
int64_t mts_report_monthly(const mts_series_t *equity, double initial_capital,
                           mts_month_return_t *out, int64_t cap);

int mts_report_backtest_html(FILE *out, const mts_stored_run_t *run);

/* ---- what a stored run's row does not carry (issue 12): optional extras ----
 * Every field may be NULL / 0: that part of the page is left out, so
 * mts_report_backtest_html_ex(f, run, NULL) is mts_report_backtest_html. */

/* One book (strategy) of the run: a row of the attribution table. */
typedef struct mts_report_book {
    const char *strategy;
    double      allocation;         /* fraction of the capital */
    double      pnl;                /* final - initial of the book (currency) */
    double      ret;                /* pnl / the book's initial capital */
    double      sharpe, max_dd;     /* of the book's curve (metrics.h) */
    double      fees, funding;      /* currency; funding received (+) / paid (-) */
    int64_t     trades;             /* closed trades */
} mts_report_book_t;

/* The story of run->trades[i] (the same index). */
typedef struct mts_report_trade_story {
    const char *strategy;                   /* NULL: "" */
    const char *entry_reason, *exit_reason; /* mts_reason_name() text; NULL: "" */
    double      funding, mae, mfe;          /* currency; NaN: n/a */
    int         open;                       /* 1: a position still open at the end
                                               (end_of_data record): no exit marker,
                                               not counted as closed */
} mts_report_trade_story_t;

typedef struct mts_report_extra {
    /* drawn under the equity curve (a lighter line, in the legend); points
     * outside the curve's time span are not drawn */
    const mts_series_t *benchmark;
    const char         *benchmark_label;    /* NULL: "buy and hold (equal weight)" */
    const char         *benchmark_note;     /* NULL, or a line under the equity chart (e.g. why
                                               there is no benchmark line: its bars are gone) */
    /* the run's metrics: the summary gains sortino, exposure time, average
     * trade, expectancy and longest losing streak; alpha/beta go to the
     * benchmark table */
    const mts_metrics_t *metrics;
    /* the benchmark's own metrics: a table "strategy vs benchmark" (total
     * return, volatility, sharpe, max drawdown; alpha, beta from metrics) */
    const mts_metrics_t *benchmark_metrics;
    const mts_report_book_t *books;         /* the attribution table, one row a book + a sum row */
    int                 n_books;
    const mts_report_trade_story_t *stories;   /* used only when n_stories == run->n_trades */
    int64_t             n_stories;
} mts_report_extra_t;

int mts_report_backtest_html_ex(FILE *out, const mts_stored_run_t *run, const mts_report_extra_t *extra);

typedef struct mts_report_grid_row {
    const char         *strategy;
    const char *const  *values;     /* one per key; "" when the run had no such key */
    mts_metrics_t       m;
    double              metric;     /* the ranked metric's value */
    int64_t             run_id;     /* backtest_results id, 0 when not stored */
} mts_report_grid_row_t;

typedef struct mts_report_grid {
    const char *title;              /* e.g. "sma_cross on bitcoin" */
    const char *range;              /* e.g. "2020-01-01 .. 2024-12-31" */
    const char *metric;             /* e.g. "sharpe_ratio" */
    int         higher_is_better;
    const char *const *keys;        /* parameter names, the first two span the heatmap */
    int         n_keys;
    const mts_report_grid_row_t *rows;   /* ranked, best first */
    int         n_rows;
} mts_report_grid_t;

int mts_report_grid_html(FILE *out, const mts_report_grid_t *g);

/* The shortest "%.15g".."%.17g" text that reads back as v; "nan"/"inf"/"-inf"
 * for non-finite values. buf needs 32 bytes. */
void mts_report_exact(double v, char buf[32]);

/* ---- a walk-forward (research.h; mts_report_walkforward_html) ----
 * The stitched out-of-sample equity curve and its drawdown (drawn as a
 * backtest's are), a strip under them with the test windows on the same time
 * axis, the stitched metrics, the overfitting measure, and a table of the
 * windows (bounds, chosen parameters, IS and OOS metric, starting capital,
 * the test run's return, drawdown and trades). */
typedef struct mts_report_wf_row {
    int64_t       train_from, train_to, test_from, test_to;
    const char   *chosen;           /* "rsi_period=14" */
    double        is_metric, oos_metric, capital;
    mts_metrics_t oos;              /* the window's test run */
} mts_report_wf_row_t;

typedef struct mts_report_wf {
    const char *title, *metric, *interval, *train, *test;   /* train/test as given: "365d" */
    int         higher_is_better, anchored;
    const mts_series_t *equity;     /* the stitched curve (>= 1 point) */
    double      initial_capital;
    const mts_trade_t *trades;      /* closed trades, drawn as entry/exit markers */
    int64_t     n_trades;
    const char *const *assets;      /* names of trades[].asset (an index into it) */
    int         n_assets;
    mts_metrics_t oos;              /* of the stitched curve */
    double      is_mean, oos_mean, gap, efficiency;
    int         n_counted;
    const mts_report_wf_row_t *rows;
    int         n_rows;
    int64_t     run_id;             /* the stored stitched run, 0 when not stored */
    const mts_series_t *benchmark;  /* optional: buy and hold under the stitched curve (NULL: none) */
} mts_report_wf_t;

int mts_report_walkforward_html(FILE *out, const mts_report_wf_t *w);

#endif
