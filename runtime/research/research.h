/* research.h — parameter research as a library: grids, one grid point's run,
 * local parallel execution, ranking, walk-forward windows. Used by
 * `mts optimize`, `mts walkforward`, `mts worker`, `POST /optimize` and the
 * REPL's mts.optimize{} alike (runtime/cmd/ only parses and prints).
 * Needs backtest/backtest.h (a grid point is one mts_backtest_run).
 *
 * Determinism: a grid's points are numbered 0..n-1 in one fixed order (for
 * each strategy in the order given, the odometer over the axes that apply to
 * it, last axis fastest); a point's result depends on the point only, so
 * results are the same and come out in the same order whatever runs them
 * (--jobs 1, --jobs N, any number of workers).
 *
 * Errors: 0 / negative MTS_E* with a one-line message (what and how to fix)
 * in err. */
#ifndef MTS_RESEARCH_H
#define MTS_RESEARCH_H

#include <signal.h>
#include <stdint.h>
#include "backtest/backtest.h"

#define MTS_GRID_MAX_AXES 16
#define MTS_GRID_MAX_VALUES 1000
#define MTS_GRID_MAX_POINTS 100000

/* ---- grids ---- */

/* One --param axis: key as given ("fast", or "sma_cross.fast" for one
 * strategy only) and its values as text (a range start:stop:step is expanded
 * here, inclusive, numbers printed as %.10g). Owned by the grid. */
typedef struct mts_grid_axis {
    char  *key;
    char **values;
    int    n;
} mts_grid_axis_t;

typedef struct mts_grid {
    mts_grid_axis_t axes[MTS_GRID_MAX_AXES];
    int             n_axes;
} mts_grid_t;

/* Adds the axis "KEY=a,b,c" or "KEY=start:stop:step". MTS_EINVAL with the
 * reason (no '=', empty list, step <= 0, more than MTS_GRID_MAX_VALUES
 * values, the key given twice, too many axes). */
int  mts_grid_add_axis(mts_grid_t *g, const char *arg, char *err, size_t errlen);
void mts_grid_free(mts_grid_t *g);    /* accepts NULL; zeroes the struct */
/* Does axis key apply to strategy? "fast" to all, "s.fast" to s only. */
int  mts_grid_axis_applies(const char *key, const char *strategy);

/* ---- a research spec: what every point shares ---- */

enum { MTS_OPT_STORE_NONE = 0, MTS_OPT_STORE_BEST = 1, MTS_OPT_STORE_ALL = 2 };

typedef struct mts_opt_spec {
    const char *const *strategies;  /* each optimized on its own: a point runs one */
    int                n_strategies;
    const char *const *assets;
    int                n_assets;
    const char        *interval;    /* NULL = "1d" */
    int64_t            from, to;    /* inclusive; INT64_MIN / INT64_MAX = open */
    double             capital, commission_bps, slippage_bps, risk_free;
    int                trusted;
    const char        *root;        /* NULL = mts_root() */
    const char        *db_label;    /* the database's path, for messages */
    const mts_grid_t  *grid;
    const char        *metric;      /* ranking metric: one of mts_opt_metrics */
    int                store;       /* MTS_OPT_STORE_*: what optimize stores */
    /* issue 12, passed to every point's backtest (backtest.h has their meaning;
     * zero: not given). A point runs one strategy with the whole capital. */
    const char        *mode;
    double             max_position, max_portfolio_risk;
    const char        *market;
    double             leverage;
    double             maker_bps, taker_bps;
    int                has_maker, has_taker;
} mts_opt_spec_t;

/* The ranking metrics, NULL-terminated: sharpe_ratio total_return
 * annualized_return max_drawdown volatility calmar_ratio win_rate
 * profit_factor final_value sortino_ratio exposure_time avg_trade expectancy
 * alpha beta (portfolio/metrics.h defines them; alpha and beta against the
 * run's equal-weight buy-and-hold benchmark, which every point's backtest
 * computes). max_drawdown and volatility rank lower first, the rest higher. */
extern const char *const mts_opt_metrics[];
int    mts_opt_metric_known(const char *name);
int    mts_opt_higher_is_better(const char *metric);
double mts_opt_metric_of(const mts_metrics_t *m, const char *metric);

/* ---- grid points ---- */

typedef struct mts_opt_point {
    int64_t index;                          /* 0..n-1: the order of results */
    int     strategy;                       /* index into spec->strategies */
    int     value[MTS_GRID_MAX_AXES];       /* value index per axis; -1: the axis
                                               does not apply to this strategy */
} mts_opt_point_t;

/* Every point of the spec's grid, in the fixed order; *points is caller-owned
 * (mts_free). MTS_ERANGE when there are more than MTS_GRID_MAX_POINTS. */
int mts_opt_points(const mts_opt_spec_t *spec, mts_opt_point_t **points, int64_t *n, char *err, size_t errlen);

/* "fast=10 slow=30" (the axes that apply, in axis order), for messages and tables. */
void mts_opt_point_text(const mts_opt_spec_t *spec, const mts_opt_point_t *p, char *buf, size_t n);

/* The backtest options of point p (NULL: only what loading the data uses),
 * storing the run when store_it, on data (may be NULL: the run loads its
 * own). strategy, keys and values are the caller's (keys/values: room for
 * MTS_GRID_MAX_AXES); *bo points into them. The one place a point becomes a
 * backtest: grid runs, workers and walk-forward test windows alike. */
void mts_opt_backtest_opts(const mts_opt_spec_t *spec, const mts_opt_point_t *p, int store_it,
                           const mts_backtest_data_t *data, const char **strategy, const char **keys,
                           const char **values, mts_backtest_opts_t *bo);

/* The result of one point. */
typedef struct mts_opt_result {
    int64_t       index;
    int           strategy;
    mts_metrics_t m;
    double        metric;                   /* mts_opt_metric_of(&m, spec->metric) */
    int64_t       run_id;                   /* stored run, 0 when not stored */
    int           disabled;                 /* a strategy was disabled while running */
    int           store_rc;                 /* computed but not stored: why (store.h) */
    char          store_err[256];
} mts_opt_result_t;

/* The data every point of spec runs on (bars, VIX, provider): loaded once by
 * the caller with mts_opt_data_load and shared read-only (backtest.h). */
int mts_opt_data_load(mts_store_t *store, const mts_opt_spec_t *spec, mts_backtest_data_t **out,
                      char *err, size_t errlen);

/* Runs one point on data (borrowed) with the store of the calling thread,
 * storing the run when store_it. The unit of work of every executor
 * (local threads, Redis Streams workers). */
int mts_opt_run_point(mts_store_t *store, const mts_opt_spec_t *spec, const mts_backtest_data_t *data,
                      const mts_opt_point_t *p, int store_it, mts_opt_result_t *out, char *err, size_t errlen);

/* Progress callback: done of total points finished (called from the calling
 * thread only, in any order of points). */
typedef void (*mts_opt_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Runs every point with `jobs` executors (jobs < 1: the number of online
 * cores; the executor is chosen as by mts_opt_run_data), each with its own
 * store handle on db_path and its own Lua states, over data loaded once;
 * results[i] is point i's (caller frees with mts_free).
 * Stores every run when spec->store == ALL. cancel (may be NULL) stops it:
 * MTS_ECANCELED. The first failing point's error (lowest index) is returned. */
int mts_opt_run_local(const char *db_path, const mts_opt_spec_t *spec, int jobs, mts_opt_progress_fn progress,
                      void *progress_ctx, const volatile sig_atomic_t *cancel, mts_opt_result_t **results,
                      int64_t *n, char *err, size_t errlen);

/* How jobs > 1 run (docs/research.md "Parallel runs").
 * PROCESSES: one forked child per job, after the data is loaded (bars, VIX,
 *   provider and bar cache mappings shared copy-on-write); each child opens
 *   its own store handle on db_path and is handed point indices one at a time
 *   over a socketpair; a child that dies is an error naming its point; cancel
 *   sends SIGTERM to the children; every child is reaped before the return.
 *   Faster than threads (each run's LuaJIT traces are compiled in a fresh
 *   lua_State; in one address space their mprotect calls cost TLB shootdowns
 *   on every core). Only safe in a single-threaded process (a fork without
 *   exec from a threaded one may inherit locks held by the other threads).
 * THREADS: threads in this process, each with its own store handle on
 *   db_path. For threaded callers (the API server's POST /optimize).
 * AUTO: PROCESSES when this process has one thread, else THREADS; the
 *   environment variable MTS_OPT_EXECUTOR=threads picks THREADS (benchmarks). */
typedef enum { MTS_OPT_EXEC_AUTO = 0, MTS_OPT_EXEC_THREADS, MTS_OPT_EXEC_PROCESSES } mts_opt_exec_t;

/* The executor under mts_opt_run_local, over data the caller loaded
 * (mts_opt_data_load; borrowed): jobs == 1 runs every point in the calling
 * thread with store (the caller's handle; db_path may then be NULL; no fork,
 * no thread); jobs > 1 starts that many workers of the executor exec, each
 * opening its own handle on db_path (store is then not used by them).
 * Results, order, errors and cancel as mts_opt_run_local's. Lets the caller
 * keep the data (e.g. to rerun the best point with storing, or for its range
 * and warnings). mts_opt_run_data is exec AUTO. */
int mts_opt_run_data_exec(mts_store_t *store, const char *db_path, const mts_opt_spec_t *spec,
                          const mts_backtest_data_t *data, int jobs, mts_opt_exec_t exec,
                          mts_opt_progress_fn progress, void *progress_ctx, const volatile sig_atomic_t *cancel,
                          mts_opt_result_t **results, int64_t *n, char *err, size_t errlen);
int mts_opt_run_data(mts_store_t *store, const char *db_path, const mts_opt_spec_t *spec,
                     const mts_backtest_data_t *data, int jobs, mts_opt_progress_fn progress, void *progress_ctx,
                     const volatile sig_atomic_t *cancel, mts_opt_result_t **results, int64_t *n, char *err,
                     size_t errlen);

/* The default of --jobs: the number of online cores (1..256). */
int mts_opt_jobs_default(void);

/* The same through workers on other processes or machines: the points go
 * as jobs into a Redis stream read by `mts worker` processes (a consumer
 * group; research/remote.c, docs/research.md); results are gathered, one per
 * point even when a point ran twice, and come back in point order as from
 * mts_opt_run_local. resume: continue the grid this spec already started
 * (after the coordinator's own restart) instead of starting anew. */
int mts_opt_run_remote(const char *redis_url, const char *db_path, const mts_opt_spec_t *spec, int resume,
                       mts_opt_progress_fn progress, void *progress_ctx, const volatile sig_atomic_t *cancel,
                       mts_opt_result_t **results, int64_t *n, char *err, size_t errlen);

/* order[0..n) = indices of results, best first by spec->metric (NaN last,
 * ties by index: stable). */
void mts_opt_rank(const mts_opt_spec_t *spec, const mts_opt_result_t *results, int64_t n, int64_t *order);

/* ---- walk-forward ---- */

typedef struct mts_wf_window {
    int64_t train_from, train_to;           /* inclusive unix s */
    int64_t test_from, test_to;
} mts_wf_window_t;

/* Windows over [first, last]: first = the first bar's open time, last = the
 * last second the bars cover (the last bar's open time + its interval - 1;
 * `mts walkforward` passes that, so a test window ending with the data's last
 * bar fits). Rolling (each train window train_s long, then a test window
 * test_s long, the next window starting test_s later) or anchored (train
 * always from first). Bars are never in two test windows and every test bar
 * comes after its train window's last bar. Window k = 0, 1, ..., all bounds
 * inclusive:
 *   train_from = first + k*test_s (rolling) or first (anchored)
 *   train_to   = first + k*test_s + train_s - 1
 *   test_from  = train_to + 1,  test_to = test_from + test_s - 1
 * while test_to <= last; the tail after the last whole test window is not
 * tested. *windows caller-owned (mts_free). MTS_EINVAL when not even one
 * whole window fits (the message gives the span and the window's length),
 * for train_s or test_s <= 0, or last < first. */
int mts_wf_windows(int64_t first, int64_t last, int64_t train_s, int64_t test_s, int anchored,
                   mts_wf_window_t **windows, int *n, char *err, size_t errlen);

/* ---- walk-forward runs (research/walkforward.c) ----
 *
 * For each window: the grid runs on the train range (mts_opt_run_local, its
 * data loaded for that range only), the best point by spec->metric
 * (mts_opt_rank) is chosen, and that point runs on the test range alone (a
 * backtest whose bars start at test_from: indicators warm up inside the test
 * window, nothing before it is seen) with capital = the stitched equity at
 * the end of the previous test window (the initial capital for the first).
 * An open position at a test window's end is valued at its last close, as
 * every backtest's final value is, and the next window starts flat in cash.
 * The stitched out-of-sample curve is the test runs' curves one after the
 * other; its metrics are portfolio/metrics.h's over it and the test runs'
 * closed trades.
 *
 * Overfitting measure, over the windows whose in-sample (IS: the chosen
 * point's metric on its train window) and out-of-sample (OOS: the same
 * metric of its test run) values are both finite:
 *   gap        = mean IS - mean OOS  (higher-is-better metrics)
 *                mean OOS - mean IS  (max_drawdown, volatility)
 *                > 0: the test windows did worse than training promised;
 *   efficiency = mean OOS / mean IS  (the walk-forward efficiency ratio;
 *                1: as good as in-sample; NaN when mean IS is 0 or no window
 *                counts). Compare like with like: sharpe_ratio,
 *                annualized_return, calmar_ratio are per-year figures and
 *                comparable across train and test lengths; total_return is
 *                not (a 365-day train return vs a 90-day test return). */

typedef struct mts_wf_spec {
    mts_opt_spec_t opt;             /* the grid, metric, strategies, assets, interval,
                                       costs; opt.from/opt.to bound the data used;
                                       opt.store is not used */
    int64_t        train_s, test_s; /* > 0 */
    int            anchored;
    int            jobs;            /* threads for each window's grid (mts_opt_run_local) */
    const char    *db_path;         /* for the grid's threads' own store handles */
} mts_wf_spec_t;

typedef struct mts_wf_window_result {
    mts_wf_window_t  w;
    mts_opt_point_t  point;         /* the chosen point (index into the grid's order) */
    char             params[512];   /* "rsi_period=14" (mts_opt_point_text) */
    mts_metrics_t    is;            /* the chosen point on the train window */
    double           is_metric;
    mts_metrics_t    oos;           /* its test run */
    double           oos_metric;
    double           capital;       /* the test run's initial capital */
    int64_t          first_ts, last_ts, n_points;   /* the test run's equity curve */
    int64_t          n_trades;      /* closed trades of the test run */
    int              disabled;      /* a strategy was disabled in the test run */
} mts_wf_window_result_t;

typedef struct mts_wf_result {
    mts_wf_window_result_t *windows;
    int                     n_windows;
    int64_t                 first, last;     /* what the windows were laid over */
    mts_series_t            equity;          /* the stitched OOS curve (owned) */
    mts_trade_t            *trades;          /* the test runs' closed trades, in order */
    int64_t                 n_trades;
    mts_metrics_t           oos;             /* metrics of the stitched curve */
    double                  is_mean, oos_mean, gap, efficiency;
    int                     n_counted;       /* windows in the means */
    int                     n_disabled;      /* windows with a disabled strategy */
} mts_wf_result_t;

/* Runs the walk-forward of spec with store (the calling thread's; the test
 * runs use it). progress may be NULL (mts_opt_progress_fn: done/total over
 * every train run and test run). 0 / MTS_E*; MTS_EINVAL when no window fits
 * (the message says the data's span and what a window needs). *out is
 * filled on success (free with mts_wf_result_free). */
int  mts_wf_run(mts_store_t *store, const mts_wf_spec_t *spec, mts_opt_progress_fn progress, void *progress_ctx,
                const volatile sig_atomic_t *cancel, mts_wf_result_t *out, char *err, size_t errlen);
void mts_wf_result_free(mts_wf_result_t *r);    /* accepts NULL; zeroes it */

/* The parameters JSON of the stored stitched run: {"walkforward":{...,
 * "windows":[{train/test bounds as ISO text, strategy, params, is_metric,
 * oos_metric, capital, final_value}...], gap, efficiency}}. mts_malloc'd. */
char *mts_wf_parameters_json(const mts_wf_spec_t *spec, const mts_wf_result_t *r);

/* Stores the stitched run as a backtest_results row (strategy = the spec's
 * strategies joined with ',', the parameters JSON above, the stitched curve
 * and the test runs' closed trades; no signals) so `mts report ID` opens it.
 * 0 and *run_id, or the store's error (message in err). */
int  mts_wf_store(mts_store_t *store, const mts_wf_spec_t *spec, const mts_wf_result_t *r, int64_t *run_id,
                  char *err, size_t errlen);

#endif
