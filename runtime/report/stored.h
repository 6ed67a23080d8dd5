/* stored.h — what a stored run carries beyond its row, read back for the
 * HTML report (`mts report ID --html`, `mts backtest --report`), `mts report
 * --json` and the API (GET /backtests/{id}):
 *
 *  - its stored JSON objects (backtest_results.extra: mode, market, leverage,
 *    the further metrics, the benchmark's metrics; a book's metrics) written
 *    back member by member (mts_stored_json_merge), and a book as JSON
 *    (mts_stored_book_json), so the CLI and the API print them alike;
 *  - the extras of the HTML report (mts_report_stored_load): the books (the
 *    attribution table), each trade's story and the further metrics, all the
 *    stored numbers; and the benchmark line, which is not stored: rebuilt
 *    with mts_benchmark_buy_hold (portfolio/metrics.h) from the stored bars
 *    of the run's assets and interval over [start, end] of the run (the bars
 *    the run loaded), on the points of its stored equity curve.
 *
 * Needs store/, market/series.h, portfolio/metrics.h, report/report.h.
 * Errors: 0, MTS_EINVAL (missing argument), MTS_ENOMEM. Bars that are gone
 * are not an error: the line is left out and note says why. */
#ifndef MTS_REPORT_STORED_H
#define MTS_REPORT_STORED_H

#include <stdio.h>
#include "mts.h"
#include "report/report.h"
#include "store/store.h"

/* The members of the JSON object json (NULL or not an object: nothing) whose
 * keys are not in taken (NULL-terminated), each written as ",\"key\":value";
 * numbers as the shortest text that reads back as the same double. */
void mts_stored_json_merge(FILE *f, const char *json, const char *const *taken);
/* 1 when json is an object with member key. */
int  mts_stored_json_has(const char *json, const char *key);

/* A stored book as one JSON object: book, strategy, allocation, initial,
 * final, pnl, fees, funding, trades, the members of its metrics JSON (return,
 * sharpe, max_drawdown, risk counts), and with with_curve its curve
 * [[ts, equity], ...] when stored (runs of more than one book). */
void mts_stored_book_json(FILE *f, const mts_stored_book_t *b, int with_curve);

/* The report's extras of a stored run; every pointer inside is owned by the
 * struct or borrowed from the run (which must outlive it). */
typedef struct mts_report_stored {
    mts_report_extra_t        extra;       /* for mts_report_backtest_html_ex */
    mts_report_book_t        *books;       /* one per run->books */
    mts_report_trade_story_t *stories;     /* one per run->trades */
    mts_metrics_t             metrics;     /* the further metrics (extra.metrics when stored) */
    mts_metrics_t             benchmark_metrics;   /* extra.benchmark_metrics when stored */
    mts_series_t              benchmark;   /* the rebuilt line (extra.benchmark when n > 0) */
    char                      note[512];   /* "" or why there is no benchmark line (extra.benchmark_note) */
} mts_report_stored_t;

/* Fills out (zeroed first) from run, and the benchmark line from store's
 * bars (store may be NULL: no line, and note says so). Free with
 * mts_report_stored_free (also after a failure). */
int  mts_report_stored_load(mts_store_t *store, const mts_stored_run_t *run, mts_report_stored_t *out);
void mts_report_stored_free(mts_report_stored_t *x);   /* accepts NULL, zeroes it */

#endif
