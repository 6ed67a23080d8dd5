/* backtest.h — one backtest run, end to end, as a library call: load the bars
 * (importing bundled data on first use), build the engine, run the Lua runner
 * (strategies → aggregator → risk → orders), compute the metrics and, if asked,
 * store the run in backtest_results with its signals (backtest_signals), trades
 * and equity curve (backtest_curves).
 * Used by `mts backtest`; meant for the REPL, the optimizer and the API too.
 * Needs store/, engine/, portfolio/, lua/bridge.h.
 *
 * Ownership: the result owns the engine (its portfolio holds the trades and
 * the equity curve), the bars (unless borrowed from opts.data) and every
 * string; mts_backtest_free releases it.
 * Errors: 0, or a negative MTS_E* with a one-line message (what and how to fix)
 * in err; a strategy that failed while running is not an error: the run
 * completes and lists it in result->lua.disabled. */
#ifndef MTS_BACKTEST_H
#define MTS_BACKTEST_H

#include <stdio.h>
#include "engine/engine.h"
#include "lua/bridge.h"
#include "portfolio/metrics.h"
#include "store/store.h"

#define MTS_BACKTEST_MAX_ASSETS 32
#define MTS_BACKTEST_PROGRESS_MIN_BARS 500000

/* The data of a run (mts_backtest_data_load): the bars of its assets, VIX and
 * the provider (ctx:bars/macro/funding/book, market/provider.h), loaded once
 * and shared read-only by every run given it (opts.data) — `mts optimize`
 * loads them once for its whole grid. Opaque. Several threads may run on
 * it at once, each with its own store handle (runtime/research/: --jobs):
 * the bars and VIX are read-only and the provider locks its lazy loads,
 * which use the handle the data was loaded with (that thread must not use
 * the handle meanwhile). */
typedef struct mts_backtest_data mts_backtest_data_t;

typedef struct mts_backtest_opts {
    const char *const *strategies;   /* names; strategy id = index */
    int                n_strategies;
    const char *const *assets;
    int                n_assets;
    const char *const *param_keys, *const *param_values;
    int                n_params;
    int64_t            from, to;     /* inclusive; INT64_MIN / INT64_MAX = open */
    const char        *interval;     /* the bars' interval (market/interval.h); NULL = "1d" */
    double             capital, commission_bps, slippage_bps, risk_free;
    const char        *root;         /* scripts/ and config/; NULL = mts_root() */
    const char        *db_label;     /* the database's name in messages (its path) */
    int                store_result; /* store the run, its signals, trades and equity curve */
    int                keep_unstored; /* with store_result: when storing fails (e.g. the
                                        database stayed locked past the write wait,
                                        store.h), still return 0 and the result, with
                                        run_id 0 and store_rc/store_err saying why;
                                        without it such a run is an error (result freed) */
    int                trusted;      /* strategies run without the sandbox's limits */
    int                progress;     /* a progress bar on a terminal for runs of
                                        MTS_BACKTEST_PROGRESS_MIN_BARS bars or more */
    const volatile sig_atomic_t *cancel;  /* borrowed, may be NULL: set non-zero (from a
                                        signal handler or another thread) to stop the
                                        run; it then fails with MTS_ECANCELED, nothing
                                        stored (engine.h: checked every 1024 bars) */
    const mts_backtest_data_t *data; /* borrowed, may be NULL: the bars, VIX and provider
                                        loaded by mts_backtest_data_load with the same
                                        assets, interval, from, to and root (else
                                        MTS_EINVAL); it must outlive the result. NULL:
                                        the run loads its own (as that function does) */
    /* issue 12: books, risk limits, instruments. Zero values = not given: then
     * config/mts.json ("books", "risk", "instruments"; read from root), then the defaults. */
    const char        *mode;         /* "independent" (one book per strategy, the default) or
                                        "vote" (one book, signals aggregated across strategies) */
    const char        *allocate;     /* "NAME=F,NAME=F" shares of capital per strategy (independent);
                                        NULL: config books.allocate; strategies not named share
                                        what is left equally (all of it when none is named) */
    double             max_position, max_portfolio_risk;  /* risk limits (runner.lua: these >
                                        env MAX_POSITION_SIZE / MAX_PORTFOLIO_RISK > config risk) */
    const char        *market;       /* "spot" or "perp" for every asset; NULL: config
                                        instruments.<asset>.market, else spot */
    double             leverage;     /* perps (0 = 1); at most the instrument's max_leverage */
    double             maker_bps, taker_bps;  /* fees of every asset, used when has_maker /
                                        has_taker (else the instrument's config keys, else
                                        commission_bps) */
    int                has_maker, has_taker;
    int                decisions;    /* keep each asset's last aggregated decision
                                        (result->lua.decisions; backtest/decide.h) */
} mts_backtest_opts_t;

/* One book of a run (independent: one per strategy; vote: one for all). */
typedef struct mts_backtest_book {
    const char       *strategy;      /* the strategy's name (vote: the run's "a,b"); borrowed
                                        from the result */
    double            allocation;    /* share of the initial capital */
    mts_book_stats_t  stats;         /* the engine's (initial, final = equity, fees, funding, ...) */
    mts_metrics_t     metrics;       /* over the book's own curve and closed trades */
    int64_t           risk_trimmed, risk_refused, risk_short_refused;   /* risk.lua's counts */
} mts_backtest_book_t;

typedef struct mts_backtest {
    mts_engine_t     *engine;
    mts_bars_t        bars[MTS_BACKTEST_MAX_ASSETS];  /* read-only: the data's arrays */
    int               n_assets;
    mts_series_t      vix;           /* read-only, n = 0 when none */
    mts_backtest_data_t *own_data;   /* the data loaded for this run (opts.data NULL) */
    mts_metrics_t     metrics;
    mts_run_result_t  lua;           /* parameters_json, disabled strategies */
    char             *strategy_name; /* "a,b" */
    char             *assets_joined; /* "bitcoin,ethereum" */
    int64_t           start_ts, end_ts, total_bars, n_signals;
    int64_t           run_id;        /* backtest_results id, 0 when not stored */
    char             *warnings;      /* '\n'-separated lines, NULL when none: a series used
                                        whose import did not finish (store/imports.h) */
    int               store_rc;      /* keep_unstored: 0, or why it was not stored */
    char              store_err[640];/*   (MTS_EDBLOCKED, MTS_EDB...) and the message */
    /* issue 12 */
    const char       *mode;          /* "independent" or "vote" (static) */
    const char       *market;        /* "spot", "perp" or "mixed" (static) */
    double            leverage;      /* the engine's (1 without perps) */
    mts_backtest_book_t *books;      /* n_books (mts_engine_book_count); owned */
    int               n_books;
    mts_book_stats_t  account;       /* the account (book -1) */
    int64_t           risk_trimmed, risk_refused, risk_short_refused;   /* summed over strategies */
    mts_series_t      benchmark;     /* equal-weight buy-and-hold over the account curve's points */
    mts_metrics_t     benchmark_metrics;  /* its metrics; metrics.alpha/beta against it */
    int               has_benchmark; /* (a perp without stored funding rates: a line in warnings) */
} mts_backtest_t;

/* Loads what a run of o needs (o's assets, interval, from, to, root,
 * db_label; the rest of o is not used): each asset's bars (importing bundled
 * data on first use), the warnings of unfinished imports, VIX when there is
 * one, and a provider. Errors and messages as mts_backtest_run's. 0 / MTS_E*;
 * on success *out is set (free with mts_backtest_data_free after the results
 * that borrow it). */
int  mts_backtest_data_load(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_data_t **out,
                            char *err, size_t errlen);
void mts_backtest_data_free(mts_backtest_data_t *d);   /* accepts NULL */
/* The data's first and last bar open times over its assets, and the
 * warnings of unfinished imports ('\n'-separated lines, NULL when none; owned
 * by d). */
void mts_backtest_data_range(const mts_backtest_data_t *d, int64_t *start_ts, int64_t *end_ts);
const char *mts_backtest_data_warnings(const mts_backtest_data_t *d);

/* The allocation of each of n strategies for mode independent: from spec
 * ("NAME=F,..."; NULL: config/mts.json books.allocate under root), F > 0 and the
 * sum <= 1; strategies not named share what is left equally. 0 / MTS_EINVAL
 * (message: an unknown name, a bad number, the sum over 1, nothing left). */
int  mts_backtest_allocations(const char *root, const char *spec, const char *const *strategies, int n,
                              double *out, char *err, size_t errlen);

/* The keys of issue 12 in a result's JSON object, each followed by a comma:
 * "funding", "sortino_ratio", "exposure_time", "avg_trade", "expectancy",
 * "longest_losing_streak", "alpha", "beta", "benchmark" {final_value,
 * total_return, annualized_return, volatility, sharpe_ratio, max_drawdown}
 * (when there is one), "mode", "market", "leverage", "risk" {trimmed,
 * refused, bp_cut, bp_refused, short_refused, lot_refused, liquidations} and
 * "books" [{strategy, allocation, initial, final, pnl, fees, funding, trades,
 * return, sharpe, max_drawdown, risk_trimmed, risk_refused, bp_cut,
 * bp_refused, short_refused, liquidations}]. `mts backtest --json` prints
 * them after "fees" (the account's: b->account.fees); POST /backtest the same. */
void mts_backtest_json_extra(FILE *f, const mts_backtest_t *b);

/* 0 / MTS_E*; on success *out is set (free with mts_backtest_free). */
int  mts_backtest_run(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_t **out,
                      char *err, size_t errlen);
void mts_backtest_free(mts_backtest_t *b);   /* accepts NULL */

#endif
