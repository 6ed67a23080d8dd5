/* mts_ffi.h — the FFI surface: every type and function Lua reaches through
 * LuaJIT's FFI. It is C and it is also fed verbatim to ffi.cdef() by
 * scripts/lib/mts.lua (lines starting with '#' are dropped first), so it holds
 * only typedefs and prototypes: no macros, no includes beyond the guard, no
 * structs passed by value, no callbacks.
 *
 * Conventions: functions return 0 or a negative MTS_E* code (see mts.h);
 * results come back through out-params the caller allocates once. Arrays are
 * owned by the engine/store that filled them and are borrowed by Lua.
 * Times are int64 unix seconds, UTC. Missing values are NaN. */
#ifndef MTS_FFI_H
#define MTS_FFI_H
#include <stdint.h>

/* Bars of one asset, struct-of-arrays, ascending ts (bar open time). */
typedef struct mts_bars {
    int64_t *ts;
    double  *open, *high, *low, *close, *volume;
    int64_t  n, cap;
} mts_bars_t;

/* One numeric time series (macro indicator, equity curve, ...). */
typedef struct mts_series {
    int64_t *ts;
    double  *v;
    int64_t  n, cap;
} mts_series_t;

/* Order types. A MARKET order fills at the asset's next bar open; LIMIT and
 * STOP fill on the first later bar whose range crosses `price`. */
typedef enum { MTS_ORDER_MARKET = 0, MTS_ORDER_LIMIT = 1, MTS_ORDER_STOP = 2 } mts_order_type_t;

typedef struct mts_order {
    int32_t asset;            /* engine asset id */
    int32_t type;             /* mts_order_type_t */
    int32_t strategy;         /* attribution id (index in the run's strategy list), -1 none */
    int32_t book;             /* the book the order trades: 0 .. books-1 (one book: 0) */
    double  qty;              /* signed: > 0 buy, < 0 sell */
    double  price;            /* LIMIT limit price / STOP trigger price; ignored for MARKET */
    double  stop_loss;        /* absolute stop-loss for the resulting position, 0 = none */
    double  take_profit;      /* absolute take-profit, 0 = none */
    double  stop_loss_pct;    /* used when stop_loss == 0: fraction of the fill price, 0 = none */
    double  take_profit_pct;  /* used when take_profit == 0 */
} mts_order_t;

/* Kinds returned by mts_engine_next(). */
typedef enum { MTS_EV_NONE = 0, MTS_EV_BAR = 1, MTS_EV_STEP_END = 2 } mts_event_kind_t;

typedef struct mts_event {
    int32_t kind;             /* mts_event_kind_t */
    int32_t asset;            /* MTS_EV_BAR: which asset has a new bar */
    int64_t index;            /* MTS_EV_BAR: bar index in that asset's mts_bars_t */
    int64_t ts;               /* bar time (MTS_EV_BAR) or the step's time (STEP_END) */
} mts_event_t;

typedef struct mts_engine mts_engine_t;

/* ---- errors (mts.h) ---- */
const char *mts_strerror(int err);

/* ---- engine (runtime/engine/engine.h has the full contract) ---- */
int     mts_engine_next(mts_engine_t *e, mts_event_t *ev);
int     mts_engine_submit(mts_engine_t *e, const mts_order_t *o);
/* Whether next() returns MTS_EV_STEP_END (default 1). The runner turns it on
 * only while a step has signals pending, saving a call per bar otherwise; the
 * equity point of every step is recorded either way. */
void    mts_engine_step_events(mts_engine_t *e, int32_t on);
int     mts_engine_cancel(mts_engine_t *e, int32_t asset);
/* Only that book's orders on the asset (every book's: mts_engine_cancel). */
int     mts_engine_cancel_book(mts_engine_t *e, int32_t asset, int32_t book);
/* Quiet bars (engine.h): how many of the current asset's next bars need
 * nothing but marks and equity points, and the k calls of next() that
 * return them done at once. */
int64_t mts_engine_quiet(const mts_engine_t *e, int32_t asset, int64_t max);
int     mts_engine_skip(mts_engine_t *e, int32_t asset, int64_t k);
int32_t mts_engine_asset_count(const mts_engine_t *e);
const char *mts_engine_asset_name(const mts_engine_t *e, int32_t asset);
int32_t mts_engine_asset_id(const mts_engine_t *e, const char *name);
const mts_bars_t   *mts_engine_bars(const mts_engine_t *e, int32_t asset);
const mts_series_t *mts_engine_macro(const mts_engine_t *e, const char *name);
/* position/equity/cash/avg_cost: the ACCOUNT (sum over books, + unallocated cash);
 * mark: the asset's last close (the mts_engine_book_* functions give one book) */
double  mts_engine_position(const mts_engine_t *e, int32_t asset);
double  mts_engine_avg_cost(const mts_engine_t *e, int32_t asset);
double  mts_engine_equity(const mts_engine_t *e);
double  mts_engine_cash(const mts_engine_t *e);
double  mts_engine_mark(const mts_engine_t *e, int32_t asset);
int64_t mts_engine_now(const mts_engine_t *e);
const char *mts_engine_errmsg(const mts_engine_t *e);
int     mts_engine_log_signal(mts_engine_t *e, int32_t asset, int32_t strategy, int32_t signal_type,
                              double price, double confidence, double position_size,
                              double stop_loss, double take_profit);

/* ---- books and instruments (engine.h has the contract: per-strategy books,
 * spot / linear USDT perpetual instruments, margin, funding, liquidation) ---- */
typedef enum { MTS_INST_SPOT = 0, MTS_INST_PERP = 1 } mts_inst_type_t;
typedef struct mts_instrument {
    int32_t type;             /* mts_inst_type_t */
    int32_t _pad;
    double  contract_size;    /* base units per 1 of qty (> 0; spot 1); notional = |qty|*contract_size*price */
    double  tick_size;        /* LIMIT/STOP prices rounded to it (buy limit/sell stop down, sell limit/buy stop up); 0 none */
    double  lot_size;         /* |qty| rounded DOWN to a multiple (after buying-power cuts too); 0 none */
    double  maker_fee_bps;    /* LIMIT fills */
    double  taker_fee_bps;    /* MARKET, STOP, stop-loss, take-profit, liquidation fills */
    double  max_leverage;     /* perp >= 1; spot 1 */
    double  maintenance_margin_rate;  /* perp, in [0, 1); spot 0 */
} mts_instrument_t;

typedef struct mts_book_stats {
    double  initial, cash, equity, realized, unrealized, fees, funding, margin, available, exposure;
    int64_t fills, trades, bp_cut, bp_refused, short_refused, lot_refused, liquidations;
} mts_book_stats_t;

int32_t mts_engine_book_count(const mts_engine_t *e);
double  mts_engine_book_position(const mts_engine_t *e, int32_t book, int32_t asset);  /* NaN: bad ids */
double  mts_engine_book_equity(const mts_engine_t *e, int32_t book);                   /* NaN: bad id */
/* book = -1: the account (sum over books + unallocated cash). 0 / MTS_EINVAL */
int     mts_engine_book_stats(const mts_engine_t *e, int32_t book, mts_book_stats_t *out);
int     mts_engine_instrument(const mts_engine_t *e, int32_t asset, mts_instrument_t *out);
double  mts_engine_leverage(const mts_engine_t *e);

/* ---- live sessions (runtime/live/live.h): the runner's wait for the next
 * closed bar. wait commits the finished step, then returns 1 (bars appended
 * to the engine), 2 (reload: *reload = bit mask of watch indices, -1 = all),
 * 3 (an attached client's request: mts_live_control_request below),
 * 0 (stop) or a negative MTS_E* (the first 64 waits of a session return 1
 * with nothing appended: rehearsal rounds that let LuaJIT compile the live
 * path before the first frame is read, live.c). watch registers a strategy file whose
 * modification the session reports as a reload; returns its index. ---- */
typedef struct mts_live mts_live_t;
int     mts_live_wait(mts_live_t *l, int32_t *reload);
int32_t mts_live_watch(mts_live_t *l, const char *path);
/* The runner disabled a strategy: the session's strategy_disabled alert (once per strategy). */
void    mts_live_strategy_disabled(mts_live_t *l, const char *strategy, const char *message);
/* wait returned 3: an attached client's request (live/control.h; scripts/lib/control.lua
 * answers it): its JSON text, valid until the reply; reply ok 1: json_result is the JSON
 * value of "result"; ok 0: the error text. counts: session id, live bars, steps. */
const char *mts_live_control_request(mts_live_t *l);
int     mts_live_control_reply(mts_live_t *l, const char *json_result, int ok);
void    mts_live_control_counts(const mts_live_t *l, int64_t out[3]);

/* ---- large arrays (runtime/util/array.c): uninitialised, huge-page advised;
 * mts.lua uses them for indicator outputs and frees them through ffi.gc ---- */
void   *mts_array_alloc(int64_t bytes);
void    mts_array_free(void *p);

/* ---- files (runtime/util/config.h): what stat() says is at path, without
 * opening it: 0 nothing, 1 regular file (*size = its size), 2 directory,
 * 3 FIFO, 4 device, 5 socket, 6 other. For trusted Lua (scripts/lib/config.lua). ---- */
int32_t mts_path_kind(const char *path, int64_t *size);
/* The file a command line gave for strategy `name` (runtime/util/strategies.h), or NULL. */
const char *mts_strategy_registered(const char *name);

/* ---- the strategy sandbox (runtime/lua/guard.c): `guard` is MTS_GUARD.handle.
 * enter makes `owner` (a strategy id, -1 = trusted code) the owner of every
 * allocation until leave, and returns the previous owner; leave restores it and
 * returns 1 if an allocation was refused for the memory cap meanwhile. ---- */
int32_t mts_guard_enter(void *guard, int32_t owner);
int32_t mts_guard_leave(void *guard, int32_t prev);
double  mts_guard_usage(void *guard, int32_t owner);

/* ---- indicators (runtime/indicators/ta.h): out[i] uses x[0..i] only;
 * NaN until the window is full or when an input in the window is NaN. ---- */
int mts_ta_sma(const double *x, int64_t n, int32_t w, double *out);
int mts_ta_rolling_std(const double *x, int64_t n, int32_t w, double *out);
int mts_ta_rolling_corr(const double *x, const double *y, int64_t n, int32_t w, double *out);
int mts_ta_rsi(const double *x, int64_t n, int32_t period, double *out);
int mts_ta_drawdown(const double *x, int64_t n, double *out);
int mts_ta_pct_rank(const double *x, int64_t n, int32_t w, double *out);
int mts_ta_pct_change(const double *x, int64_t n, double *out);
int mts_ta_diff(const double *x, int64_t n, double *out);
/* Streaming rolling mean: push(x[i]) returns what mts_ta_sma puts in out[i]
 * (bit for bit). For bar-by-bar code; one allocation at creation. */
typedef struct mts_rolling mts_rolling_t;
mts_rolling_t *mts_rolling_new(int32_t w);         /* NULL if w < 1 or out of memory */
void    mts_rolling_free(mts_rolling_t *r);        /* accepts NULL */
double  mts_rolling_mean_push(mts_rolling_t *r, double x);
/* More streaming indicators, each push(x[i]) bit for bit what the batch
 * function above puts in out[i] (same NaN rules). _new returns NULL for a bad
 * argument (window/period < 1) or out of memory; _free accepts NULL.
 *   rollstd    mts_ta_rolling_std          rollcorr  mts_ta_rolling_corr
 *   rsi        mts_ta_rsi                  drawdown  mts_ta_drawdown
 *   pctrank    mts_ta_pct_rank, w >= 1 only (the expanding form needs all history)
 *   change     mts_ta_pct_change (pct != 0) or mts_ta_diff (pct == 0)
 *   asof       mts_ta_align_asof: copies the source series (ascending ts, else
 *              MTS_EINVAL); at(t) = the last non-NaN value with ts <= t (NaN
 *              before the first); t going backwards rescans from the start. */
typedef struct mts_rollstd mts_rollstd_t;
typedef struct mts_rollcorr mts_rollcorr_t;
typedef struct mts_rsi mts_rsi_t;
typedef struct mts_drawdown mts_drawdown_t;
typedef struct mts_pctrank mts_pctrank_t;
typedef struct mts_change mts_change_t;
typedef struct mts_asof mts_asof_t;
mts_rollstd_t  *mts_rollstd_new(int32_t w);
void    mts_rollstd_free(mts_rollstd_t *r);
double  mts_rollstd_push(mts_rollstd_t *r, double x);
mts_rollcorr_t *mts_rollcorr_new(int32_t w);
void    mts_rollcorr_free(mts_rollcorr_t *r);
double  mts_rollcorr_push(mts_rollcorr_t *r, double x, double y);
mts_rsi_t      *mts_rsi_new(int32_t period);
void    mts_rsi_free(mts_rsi_t *r);
double  mts_rsi_push(mts_rsi_t *r, double x);
mts_drawdown_t *mts_drawdown_new(void);
void    mts_drawdown_free(mts_drawdown_t *d);
double  mts_drawdown_push(mts_drawdown_t *d, double x);
mts_pctrank_t  *mts_pctrank_new(int32_t w);
void    mts_pctrank_free(mts_pctrank_t *r);
double  mts_pctrank_push(mts_pctrank_t *r, double x);
mts_change_t   *mts_change_new(int32_t pct);
void    mts_change_free(mts_change_t *c);
double  mts_change_push(mts_change_t *c, double x);
int     mts_asof_new(const int64_t *ts, const double *v, int64_t n, mts_asof_t **out);
void    mts_asof_free(mts_asof_t *a);
double  mts_asof_at(mts_asof_t *a, int64_t t);

/* ---- EMA, ATR, MACD, Bollinger bands, VWAP, rolling min/max (ta.h has the
 * conventions). Batch: arrays in, arrays out, NaN during warm-up; 0 or
 * MTS_EINVAL (NULL, n < 0, period < 1, bbands w < 2 or k < 0/not finite) or
 * MTS_ENOMEM (bbands, vwap w >= 1, rolling min/max allocate one window).
 * Streaming: push returns bit for bit the batch value at that index; macd's
 * signal/hist and bbands' upper/lower are read after the push. _new returns
 * NULL for a bad argument or out of memory; _free accepts NULL. ---- */
int mts_ta_ema(const double *x, int64_t n, int32_t period, double *out);
int mts_ta_atr(const double *high, const double *low, const double *close, int64_t n,
               int32_t period, double *out);
int mts_ta_macd(const double *x, int64_t n, int32_t fast, int32_t slow, int32_t signal,
                double *line, double *sig, double *hist);
int mts_ta_bbands(const double *x, int64_t n, int32_t w, double k,
                  double *mid, double *upper, double *lower);
int mts_ta_vwap(const double *high, const double *low, const double *close, const double *volume,
                int64_t n, int32_t w, double *out);          /* w <= 0: cumulative */
int mts_ta_rolling_min(const double *x, int64_t n, int32_t w, double *out);
int mts_ta_rolling_max(const double *x, int64_t n, int32_t w, double *out);
typedef struct mts_ema mts_ema_t;
typedef struct mts_atr mts_atr_t;
typedef struct mts_macd mts_macd_t;
typedef struct mts_bbands mts_bbands_t;
typedef struct mts_vwap mts_vwap_t;
typedef struct mts_rollext mts_rollext_t;
mts_ema_t      *mts_ema_new(int32_t period);
void    mts_ema_free(mts_ema_t *r);
double  mts_ema_push(mts_ema_t *r, double x);
mts_atr_t      *mts_atr_new(int32_t period);
void    mts_atr_free(mts_atr_t *r);
double  mts_atr_push(mts_atr_t *r, double high, double low, double close);
mts_macd_t     *mts_macd_new(int32_t fast, int32_t slow, int32_t signal);
void    mts_macd_free(mts_macd_t *r);
double  mts_macd_push(mts_macd_t *r, double x);          /* the MACD line */
double  mts_macd_signal(const mts_macd_t *r);
double  mts_macd_hist(const mts_macd_t *r);
mts_bbands_t   *mts_bbands_new(int32_t w, double k);
void    mts_bbands_free(mts_bbands_t *r);
double  mts_bbands_push(mts_bbands_t *r, double x);      /* the middle band */
double  mts_bbands_upper(const mts_bbands_t *r);
double  mts_bbands_lower(const mts_bbands_t *r);
mts_vwap_t     *mts_vwap_new(int32_t w);                 /* w <= 0: cumulative */
void    mts_vwap_free(mts_vwap_t *r);
double  mts_vwap_push(mts_vwap_t *r, double high, double low, double close, double volume);
mts_rollext_t  *mts_rollext_new(int32_t w, int32_t want_max);   /* rolling min (0) / max (1) */
void    mts_rollext_free(mts_rollext_t *r);
double  mts_rollext_push(mts_rollext_t *r, double x);
/* ---- the run's data provider (runtime/market/provider.h: contract, times,
 * NULL + errmsg on failure; results owned by the provider, loaded once) ---- */
typedef struct mts_provider mts_provider_t;
typedef struct mts_funding {
    int64_t *ts;              /* ceil(ts_ms / 1000): when the row was known */
    double  *rate, *mark_price;
    int64_t *next_funding;    /* next funding time, unix s (0 when not stored) */
    int64_t  n;
} mts_funding_t;
typedef struct mts_book_top {
    int64_t *ts;              /* ceil(ts_ms / 1000) of the snapshot */
    double  *bid, *ask, *mid, *spread, *imbalance;
    int64_t  n;
} mts_book_top_t;
/* Funding settlements of a perp asset (engine.h mts_engine_set_funding,
 * market/funding.h): ts ascending (unix s, the settlement time), rate
 * (fraction, + = longs pay), mark (NaN or <= 0: not known). */
typedef struct mts_funding_events { int64_t *ts; double *rate, *mark; int64_t n, cap; } mts_funding_events_t;
const mts_bars_t     *mts_provider_bars(mts_provider_t *p, const char *asset, const char *interval);
const mts_series_t   *mts_provider_macro(mts_provider_t *p, const char *name);
const mts_funding_t  *mts_provider_funding(mts_provider_t *p, const char *symbol, const char *exchange);
const mts_book_top_t *mts_provider_book(mts_provider_t *p, const char *symbol, const char *exchange);
const char *mts_provider_errmsg(const mts_provider_t *p);

/* ---- resampling (runtime/market/resample.h has the contract): the runner
 * builds ctx:bars of a traded asset at a coarser interval from the run's own
 * bars with the streaming resampler (a plain value: ffi.new, no resources). ---- */
typedef struct mts_coarse_bar {
    int64_t ts;                  /* open time of the coarse bar */
    double open, high, low, close, volume;
    int32_t fine;                /* fine bars in it */
    int32_t expected;            /* coarse_s / fine_s; fine < expected: fine bars missing */
} mts_coarse_bar_t;
typedef struct mts_resampler {   /* fields are private */
    int64_t fine_s, coarse_s;
    int64_t open_ts;             /* the forming bucket's open, INT64_MIN: none */
    int64_t last_ts;             /* the last fine bar pushed, INT64_MIN: none */
    int64_t closed_ts;           /* the last bucket closed by the clock, INT64_MIN: none */
    mts_coarse_bar_t cur;
} mts_resampler_t;
int     mts_resampler_init(mts_resampler_t *r, int64_t fine_s, int64_t coarse_s);
int64_t mts_interval_floor(int64_t ts, int64_t seconds);      /* market/interval.h */
int64_t mts_resample_bound(const mts_bars_t *fine, int64_t fine_s, int64_t coarse_s);
int     mts_resampler_feed(mts_resampler_t *r, const mts_bars_t *fine, int64_t from, int64_t to, mts_bars_t *out,
                           int64_t *bad);

int mts_ta_align_asof(const int64_t *src_ts, const double *src, int64_t n_src,
                      const int64_t *dst_ts, int64_t n_dst, double *out);

#endif
