/* store.h — SQLite storage: one connection, WAL, schema migrations, prepared
 * statements, one transaction per batch. Needs sqlite3, mts.h, mts_ffi.h.
 *
 * Tables (schema_version in PRAGMA user_version; docs/store.md): ohlcv_blocks
 * (bars in column blocks, store/bars.c), ohlcv_series (each series' random
 * version and bar count, for the bar cache, store/barcache.c), macro_indicators, signal_history,
 * backtest_results (the reference architecture's columns, UNIQUE constraints
 * kept; backtest_results extended with the full metric set, assets,
 * parameters and costs), and what stream, paper trading, imports and stored
 * runs add (store.c's migrations). Bar times are unix seconds UTC.
 * macro_indicators.date is 'YYYY-MM-DD'. The row table crypto_ohlcv of schema
 * v1..v6 is gone: migration 7 moved every bar into ohlcv_blocks; `mts export
 * table crypto_ohlcv` still writes its columns (mts_csv_export_table).
 *
 * Errors: 0 / negative MTS_E*; mts_store_errmsg() keeps the last message. */
#ifndef MTS_STORE_H
#define MTS_STORE_H

#include <signal.h>
#include <stdio.h>
#include "mts.h"
#include "lua/mts_ffi.h"

typedef struct mts_store mts_store_t;

/* A handle belongs to one thread at a time (its prepared statements are
 * shared state); open one per thread. On failure *out is NULL and
 * mts_store_errmsg(NULL) says why, e.g. "data/mts.db: unable to open database file". */
int  mts_store_open(const char *path, mts_store_t **out);   /* creates + migrates */
void mts_store_close(mts_store_t *s);                        /* accepts NULL */
/* s NULL: the message of this thread's last failed mts_store_open. */
const char *mts_store_errmsg(const mts_store_t *s);

/* Concurrency (docs/store.md): several processes share one database file.
 * SQLite lets one writer at a time; the others wait. Every statement waits up
 * to MTS_STORE_BUSY_MS for the write lock (PRAGMA busy_timeout). Storing a
 * computed result (mts_store_insert_run) waits much longer: it retries until
 * the write wait has passed (default MTS_STORE_WRITE_WAIT_MS, or
 * MTS_DB_BUSY_TIMEOUT_MS from the environment at open; a value that is not a
 * whole number of ms >= 0 makes mts_store_open fail), logging
 * store.waiting_for_lock while it waits, then fails with MTS_EDBLOCKED.
 * Every write transaction is BEGIN IMMEDIATE: it takes the write lock first,
 * so a transaction never has to upgrade a read lock to a write lock half-way
 * (that upgrade can fail with SQLITE_BUSY at once, with no wait, whenever
 * another process wrote since the transaction's first read). */
#define MTS_STORE_BUSY_MS 5000
#define MTS_STORE_WRITE_WAIT_MS 600000
void    mts_store_set_write_wait(mts_store_t *s, int64_t ms);   /* < 0 means 0 */
int64_t mts_store_write_wait(const mts_store_t *s);
/* A flag (borrowed, may be NULL) checked between tries while waiting for the
 * write lock: once non-zero the wait ends with MTS_ECANCELED ("cancelled while
 * waiting for ..."). mts_backtest_run sets its cancel flag here while storing,
 * so a server's shutdown is not held up by a locked database. */
void    mts_store_set_cancel(mts_store_t *s, const volatile sig_atomic_t *flag);
int  mts_store_schema_version(mts_store_t *s);

/* OHLCV. A series is (asset, interval): interval is a name of
 * market/interval.h ("1m" .. "1w"; MTS_INTERVAL_DEFAULT "1d"); no call reads
 * or writes another interval's bars. Stored in blocks (store/bars.c): one row
 * of ohlcv_blocks per (asset, interval, block_start), block_start = the
 * largest multiple of MTS_OHLCV_BLOCK_BARS interval lengths <= the bar's time
 * (bars off the interval's grid go to the block of their time); its `bars`
 * BLOB is MTC1 (store/colblob.h) with 5 columns open, high, low, close, volume,
 * bit for bit as given (-0.0, infinities kept).
 *
 * Upsert: one BEGIN IMMEDIATE transaction for the whole batch (all or
 * nothing); called inside a transaction the caller opened (mts_store_db has
 * one open), it joins it under a savepoint instead (the caller's COMMIT keeps
 * the bars, its ROLLBACK drops them; a failure here undoes only the bars). The bars may come in any order; of bars with the same time the
 * last one given wins; a stored bar of the same time is replaced, the other
 * stored bars are kept; a block whose bars are all already stored with the
 * same bits is not rewritten. MTS_EINVAL (nothing written) for an unknown
 * interval name or a NaN value ("upsert_ohlcv ASSET IV TIME: volume is NaN
 * ..."); MTS_EPARSE when a stored block it must merge into is damaged.
 * A write of any block also gives the series a new random version in
 * ohlcv_series (same transaction; n kept as the series' bar count): whatever
 * else writes or deletes blocks must do the same, or the bar cache (below)
 * serves the bars of before. */
#define MTS_OHLCV_BLOCK_BARS 1024
int mts_store_upsert_ohlcv(mts_store_t *s, const char *asset, const char *interval, const mts_bars_t *bars);
/* Load [from, to] inclusive (INT64_MIN / INT64_MAX for open ends), ascending:
 * one range query for the blocks, the arrays reserved once, each block
 * decoded straight into them. out is caller-owned; arrays are grown with
 * mts_realloc; free with mts_bars_free. The load functions replace out's
 * contents (out->n is reset, also on failure) and reuse its arrays.
 * MTS_EPARSE when a stored block is damaged. */
int mts_store_load_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                         mts_bars_t *out);
/* Bars to read, without a copy of one's own: a view of (asset, interval) in
 * [from, to]. With the shared bar cache (store/barcache.c, docs/store.md "Bar
 * cache") the pointers are into a read-only memory mapping of a cache file
 * that every process reading the same series of the same database shares
 * (built on the first read, rebuilt when the series' version in ohlcv_series
 * changes); when the cache cannot be used (MTS_CACHE_DIR=off, the directory
 * unusable, a database in memory, no version row) they are into a decoded
 * copy the view owns, exactly as mts_store_load_ohlcv gives it. Either way
 * the bits are those of mts_store_load_ohlcv, and NOTHING may write through
 * the pointers: a mapped view is PROT_READ, a write is SIGSEGV. The view
 * stays valid until mts_bars_view_release, also after the store is closed
 * and after the series is written (it keeps the bars it was given).
 * 0 / the errors of mts_store_load_ohlcv; on failure the view is empty. */
typedef struct mts_bars_view {
    int64_t n;
    const int64_t *ts;
    const double *open, *high, *low, *close, *volume;
    int cached;              /* 1: in the shared cache's mapping; 0: an owned copy */
    void *map_;              /* private: the mapping (cached) */
    size_t map_len_;
    mts_bars_t own_;         /* private: the copy (not cached) */
} mts_bars_view_t;
int  mts_store_map_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                         mts_bars_view_t *out);
/* Unmaps or frees; zeroes the view. Accepts NULL and a zeroed view. */
void mts_bars_view_release(mts_bars_view_t *v);
/* A view over bars the caller loaded itself (e.g. resampled): takes *owned's
 * arrays (*owned is zeroed); release frees them. */
void mts_bars_view_adopt(mts_bars_view_t *v, mts_bars_t *owned);
/* The view as an mts_bars_t for the read-only consumers that take one (the
 * engine's mts_engine_add_asset, a backtest's bars): its pointers are the
 * view's with const cast away and cap = n. Nothing may write through them,
 * grow them or free them (mts_bars_free): the view owns them. */
void mts_bars_view_borrow(const mts_bars_view_t *v, mts_bars_t *b);
/* Where the cache is: $MTS_CACHE_DIR, else /dev/shm/mts-cache-<uid>; "off"
 * when MTS_CACHE_DIR=off. Into buf (n bytes); returns buf. */
const char *mts_bar_cache_dir(char *buf, size_t n);

/* The number of bars of the series (the sum of its blocks' n). */
int mts_store_count_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t *n);
/* The intervals stored for asset, finest first, at most max of them, into
 * names (each a NUL-terminated name); *n their number. */
int mts_store_ohlcv_intervals(mts_store_t *s, const char *asset, char names[][8], int max, int *n);

/* Macro: ts = UTC midnight of the observation date. flags bit0 interpolated,
 * bit1 forward-filled (flags may be NULL = original observations). An original
 * observation is never overwritten by a filled one. */
int mts_store_upsert_macro(mts_store_t *s, const char *indicator, const int64_t *ts,
                           const double *v, const uint8_t *flags, int64_t n);
int mts_store_load_macro(mts_store_t *s, const char *indicator, int64_t from, int64_t to, mts_series_t *out);
int mts_store_count_macro(mts_store_t *s, const char *indicator, int64_t *n);
/* The rows of `indicator` in [from, to] (as mts_store_load_macro) that are
 * original observations (neither interpolated nor forward-filled), ascending:
 * for merging a second source into a series (mts collect: FRED VIXCLS into the
 * VIX the bundled CBOE file filled). 0 or MTS_EDB / MTS_ENOMEM / MTS_EPARSE. */
int mts_store_load_macro_originals(mts_store_t *s, const char *indicator, int64_t from, int64_t to,
                                   mts_series_t *out);

typedef struct mts_backtest_row {
    const char *strategy_name;   /* e.g. "sma_cross" or "vix_correlation,mean_reversion" */
    const char *assets;          /* comma separated */
    const char *start_date, *end_date;   /* ISO-8601 */
    const char *parameters_json; /* may be NULL */
    double initial_capital, final_value, total_return, annualized_return, sharpe_ratio;
    double max_drawdown, volatility, calmar_ratio, win_rate, profit_factor;
    double commission_bps, slippage_bps;
    int64_t trade_count;
    const char *interval;        /* the bars' interval; NULL = not recorded (read back as 1d).
                                    mts_store_insert_run keeps it in the parameters JSON as
                                    "interval" (no column of its own) */
    const char *extra_json;      /* backtest_results.extra (schema v8): a JSON object of what the
                                    columns do not hold (mode, market, leverage, benchmark and
                                    further metrics, ...); NULL = none. Anything but a JSON
                                    object is MTS_EINVAL */
} mts_backtest_row_t;

int mts_store_insert_backtest(mts_store_t *s, const mts_backtest_row_t *row, int64_t *id_out);

typedef struct mts_signal_row {
    const char *asset, *strategy_name, *signal_type;  /* "LONG" "SHORT" "CLOSE" */
    int64_t ts;
    double price, confidence, position_size, stop_loss, take_profit;  /* NaN -> NULL */
} mts_signal_row_t;
int mts_store_insert_signals(mts_store_t *s, const mts_signal_row_t *rows, int64_t n);

/* Bundled data (store/datasets.c): if the store has no rows for `asset` at
 * `interval` (NULL = "1d"; or the macro `indicator`) and config/mts.json maps
 * it to a file under root, import that file (a note goes to stderr); also when
 * it has rows but the last import of that file did not finish
 * (store/imports.h). 0 when present or imported, MTS_ENOTFOUND when unknown,
 * MTS_EINVAL for an interval name not in market/interval.h. */
int mts_store_ensure_asset(mts_store_t *s, const char *root, const char *asset, const char *interval);
int mts_store_ensure_macro(mts_store_t *s, const char *root, const char *indicator);

void mts_bars_free(mts_bars_t *b);      /* frees the arrays, zeroes the struct */
void mts_series_free(mts_series_t *s);
int  mts_bars_reserve(mts_bars_t *b, int64_t cap);
int  mts_series_reserve(mts_series_t *s, int64_t cap);

/* ---- CSV (store/csv.c) ----
 * Import reads a header row; the time column is the first of: timestamp,
 * open_time, date, observation_date, DATE, ts, time (case-insensitive); extra
 * columns are ignored. Times: unix s/ms/us/ns (told by magnitude), ISO-8601
 * date or date-time (with or without offset, 'T' or ' '), or MM/DD/YYYY.
 * These are store/csv.h's _ex functions with default options: the OHLCV
 * interval is told from the spacing (refused when it cannot be), see there.
 * Every bad row is reported to `err` as "FILE:LINE: reason" and skipped; good
 * rows are stored. Returns 0, MTS_EPARTIAL if any row was rejected, or an error
 * when nothing could be read (missing file, no header, missing column).
 * path "-" reads stdin; err may be NULL; rep may be NULL. rows_read counts
 * every line after the header = rows_ok + rows_rejected + rows_blank (blank
 * lines, and for macro files blank or "." values). */
typedef struct mts_import_report {
    int64_t rows_read, rows_ok, rows_rejected, rows_blank;
} mts_import_report_t;

int mts_csv_import_ohlcv(mts_store_t *s, const char *path, const char *asset,
                         FILE *err, mts_import_report_t *rep);
/* value column: `column` if given, else "value", else the indicator's name
 * (e.g. VIXCLS), else CLOSE. A blank or "." value is no observation. */
int mts_csv_import_macro(mts_store_t *s, const char *path, const char *indicator,
                         const char *column, FILE *err, mts_import_report_t *rep);
/* The asset's 1d bars in [from, to] (read through mts_store_load_ohlcv) as
 * `mts export ohlcv` writes them. */
int mts_csv_export_ohlcv(mts_store_t *s, const char *asset, int64_t from, int64_t to, FILE *out);
int mts_csv_export_macro(mts_store_t *s, const char *indicator, int64_t from, int64_t to, FILE *out);
/* The tables mts_csv_export_table accepts, NULL-terminated. */
extern const char *const mts_store_tables[];
/* Any of mts_store_tables as CSV, every column, ordered by id; except
 * crypto_ohlcv (bars are stored in ohlcv_blocks since schema v7): the bars
 * decoded from their blocks as the columns cryptocurrency, interval, timestamp,
 * date_str, open, high, low, close, volume (the row table's, without id and
 * created_at), ordered by cryptocurrency, interval, timestamp. */
int mts_csv_export_table(mts_store_t *s, const char *table, FILE *out);

/* ---- stored runs (store/results.c) ----
 * A backtest as stored: its backtest_results row (since schema v8 with an
 * `extra` JSON object), its closed trades (backtest_trades; since v8 also the
 * END_OF_DATA records of positions still open, open = 1), its books
 * (backtest_books, v8: one row per book, docs/store.md), its equity curve (backtest_curves: ONE row per run, n
 * points in an MTC1 blob of one column, store/colblob.h; schema v7, before
 * that one backtest_equity row per point) and its signals (backtest_signals,
 * below), enough for `mts report ID` to rebuild every number of a report
 * without running anything again.
 *
 * backtest_signals (schema v7): ONE row per run stored since v7, also when the
 * run had no signal (n = 0); no row = a run stored before v7, whose signals
 * went to signal_history, which names no run (they stay there). Columns:
 *   n      signals
 *   names  JSON {"assets":[...],"strategies":[...]}: the names the indices mean
 *   data   MTC1 blob (store/colblob.h), n rows in the run's signal order; its
 *          time column is the row index (REGULAR 0..n-1: a signal's time can
 *          repeat, several strategies or assets on one bar) and its k = 9
 *          float64 columns are, in this order:
 *            0 ts          the signal's unix seconds (exact: |ts| <= 2^53)
 *            1 type        MTS_STORED_SIGNAL_LONG 1, _SHORT -1, _CLOSE 0
 *            2 asset       index into names.assets
 *            3 strategy    index into names.strategies
 *            4 price  5 confidence  6 position_size  7 stop_loss  8 take_profit
 *          (NaN = not given, kept bit for bit).
 * signal_history keeps the signals of live sessions (`mts run`,
 * mts_store_insert_signals, store/paper.h). */
typedef struct mts_trade_row {
    const char *asset;            /* name */
    int32_t side;                 /* +1 long, -1 short (stored as 'long' / 'short') */
    double  qty;
    int64_t entry_ts;
    double  entry_price;
    int64_t exit_ts;
    double  exit_price, pnl, fees;
    /* schema v8 (a row initialised without them stores NULL, NULL, NULL, 0, 0, 0, 0) */
    const char *strategy;         /* the strategy that opened the position; NULL = not known */
    const char *entry_reason, *exit_reason;   /* mts_reason_name: "signal", "stop_loss",
                                     "take_profit", "liquidation", "end_of_data"; NULL = not known */
    double  funding;              /* funding received (+) / paid (-), in pnl */
    double  mae, mfe;             /* currency, <= 0 / >= 0; NaN -> NULL */
    int32_t open;                 /* 1: the END_OF_DATA record of a position still open */
} mts_trade_row_t;

/* One book of a run (backtest_books, schema v8): a strategy's share of the
 * capital in mode independent (book id = strategy id). The curve is optional
 * (curve_n 0: none; stored as an MTC1 blob of one column, times strictly
 * ascending, only worth it when the run has more than one book). */
typedef struct mts_book_row {
    int32_t book;                 /* 0 .. books-1, unique within the run */
    const char *strategy;         /* may be NULL */
    double  allocation;           /* share of the initial capital, (0, 1] */
    double  initial, final, pnl, fees, funding;   /* NaN -> NULL */
    int64_t trades;
    const char *metrics_json;     /* a JSON object (return, sharpe, max_drawdown, risk counts, ...);
                                     NULL = none; anything else is MTS_EINVAL */
    const int64_t *curve_ts;
    const double *curve_v;
    int64_t curve_n;
} mts_book_row_t;

/* The run, its signals, trades, books and equity curve in ONE transaction: either all
 * of it is stored or none. Any of the arrays may be empty (no equity points:
 * no backtest_curves row; no signals: a backtest_signals row with n = 0; no
 * books: no backtest_books rows). Books (schema v8) are one backtest_books
 * row each; a book id given twice, a book curve out of order, metrics_json or
 * row->extra_json that is not a JSON object, or a trade reason that is not
 * one of mts_reason_name's, is MTS_EINVAL and nothing is stored.
 * *id_out = the new backtest_results id. The signals go to backtest_signals
 * (above), not to signal_history. Checked and encoded before the write lock is
 * taken: a signal without its required fields, a signal_type other than
 * "LONG", "SHORT" or "CLOSE", a time beyond 2^53, or equity times not strictly
 * ascending, is MTS_EINVAL and nothing is stored.
 * A busy database is waited for up to the write wait (above), the whole
 * transaction redone if it meets SQLITE_BUSY half-way; then MTS_EDBLOCKED with a
 * message naming the cause. Other failures: MTS_EDB / MTS_EINVAL. */
int mts_store_insert_run(mts_store_t *s, const mts_backtest_row_t *row,
                         const mts_signal_row_t *signals, int64_t n_signals,
                         const mts_trade_row_t *trades, int64_t n_trades,
                         const int64_t *equity_ts, const double *equity, int64_t n_equity,
                         const mts_book_row_t *books, int32_t n_books,
                         int64_t *id_out);

/* A trade as read back. Stored before schema v8: strategy "", reasons "",
 * funding 0, mae/mfe NaN, open 0. */
typedef struct mts_stored_trade {
    char    asset[64];
    int32_t side;
    double  qty;
    int64_t entry_ts;
    double  entry_price;
    int64_t exit_ts;
    double  exit_price, pnl, fees;
    char    strategy[64];         /* "" = not known */
    const char *entry_reason, *exit_reason;   /* static strings: one of mts_reason_name's, or ""
                                     (not stored, or a name this build does not know) */
    double  funding, mae, mfe;    /* mae/mfe NULL -> NaN */
    int32_t open;
} mts_stored_trade_t;

/* A book of a stored run (backtest_books); NULL columns read as NaN. */
typedef struct mts_stored_book {
    int32_t book;
    char    strategy[64];         /* "" = not stored */
    double  allocation, initial, final, pnl, fees, funding;
    int64_t trades;
    char   *metrics_json;         /* owned; NULL = none */
    mts_series_t curve;           /* owned; n 0 = none */
} mts_stored_book_t;

enum { MTS_STORED_SIGNAL_LONG = 1, MTS_STORED_SIGNAL_SHORT = -1, MTS_STORED_SIGNAL_CLOSE = 0 };

/* A signal of a stored run; asset and strategy point into the run's names. */
typedef struct mts_stored_signal {
    int64_t ts;
    const char *asset, *strategy;
    const char *signal_type;      /* "LONG" "SHORT" "CLOSE" (static strings) */
    int32_t type;                 /* MTS_STORED_SIGNAL_* */
    double  price, confidence, position_size, stop_loss, take_profit;  /* NaN = not given */
} mts_stored_signal_t;

/* A stored run read back; NULL columns read as NaN. Every pointer is owned by
 * the struct; free with mts_stored_run_free (accepts NULL, zeroes the struct). */
typedef struct mts_stored_run {
    int64_t id;
    char   *strategy_name, *assets, *start_date, *end_date, *parameters_json, *created_at;
    double  initial_capital, final_value, total_return, annualized_return, sharpe_ratio;
    double  max_drawdown, volatility, calmar_ratio, win_rate, profit_factor;
    double  commission_bps, slippage_bps;
    int64_t trade_count;
    char    interval[8];          /* parameters' "interval", else "1d" (runs stored before it) */
    mts_stored_trade_t *trades;
    int64_t n_trades;
    mts_series_t equity;
    int     has_details;          /* 1 when trades/equity were stored with the run */
    mts_stored_signal_t *signals; /* in the order they were stored */
    int64_t n_signals;
    int     has_signals;          /* 1 when the run has a backtest_signals row (stored
                                     since schema v7; 0: its signals, if any, are
                                     unattributed rows of signal_history) */
    char  **names;                /* the strings signals[].asset/.strategy point to */
    int     n_names;
    char   *extra_json;           /* backtest_results.extra (a JSON object), NULL = none
                                     (every run stored before schema v8); also read by
                                     mts_store_list_runs */
    mts_stored_book_t *books;     /* ordered by book; none for runs stored without books */
    int32_t n_books;
} mts_stored_run_t;

/* 0, MTS_ENOTFOUND (no run with that id), MTS_EPARSE when the run's curve or
 * signal blob is damaged (the message names the run), or an error. The
 * curve's and the signals' numbers read back bit for bit as they were stored. */
int  mts_store_load_run(mts_store_t *s, int64_t id, mts_stored_run_t *out);
void mts_stored_run_free(mts_stored_run_t *r);
/* Up to max most recent runs (newest first), without trades and equity;
 * *out is mts_malloc'd (free each with mts_stored_run_free, then mts_free). */
int  mts_store_list_runs(mts_store_t *s, int max, mts_stored_run_t **out, int *n);

#endif
