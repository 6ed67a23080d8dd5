/* engine.h — the event-driven backtest engine: a time-ordered queue of Market
 * and Order events across all assets, order fills with commission and slippage,
 * stop-loss/take-profit, and the portfolio it updates. The FFI-visible part of
 * the API is declared in lua/mts_ffi.h; this header adds the C-only part.
 *
 * Event flow (one step = all bars sharing one timestamp):
 *   mts_engine_next() pops the next Market event. Before returning it as
 *   MTS_EV_BAR it fills, against that bar, the orders pending for that asset:
 *     1. MARKET orders at the bar's open (+/- slippage);
 *     2. LIMIT orders if the range crosses the limit: buy at min(open, limit),
 *        sell at max(open, limit) (no slippage: a limit never fills worse);
 *        STOP orders if the range crosses the trigger: buy at max(open, stop),
 *        sell at min(open, stop), then slippage;
 *     3. stop-loss / take-profit of the position (including one opened in step 1):
 *        long: low <= SL -> exit at min(open, SL) (slipped); high >= TP -> exit at
 *        max(open, TP). Short mirrored. A bar touching both: the STOP is taken
 *        (the conservative assumption; intrabar order is unknown).
 *     4. marks the position at the close.
 *   When every bar of the step has been returned, next() records one equity
 *   point for the step's ts and returns MTS_EV_STEP_END with that ts (the moment
 *   to aggregate signals) — unless STEP_END events are off
 *   (mts_engine_step_events(e, 0)): the runner turns them on only for steps
 *   that have signals, which saves an FFI round trip per bar.
 *   Orders submitted while handling a step fill at the asset's NEXT bar; orders
 *   from the last bar never fill. Positions are not closed at the end.
 *   Commission = |qty| * fill_price * commission_bps / 1e4 on every fill.
 *   Slippage moves market/stop fills against the trader by slippage_bps / 1e4.
 *
 * Ownership: bars and macro series added to the engine are borrowed and must
 * outlive it. Errors: 0 / negative MTS_E*; mts_engine_errmsg() has the text. */
#ifndef MTS_ENGINE_H
#define MTS_ENGINE_H

#include <signal.h>
#include "mts.h"
#include "lua/mts_ffi.h"
#include "portfolio/portfolio.h"

typedef struct mts_engine_config {
    double initial_capital;   /* default 100000 */
    double commission_bps;    /* default 10 */
    double slippage_bps;      /* default 0 */
} mts_engine_config_t;

/* Signal types as stored in signal_history.signal_type */
enum { MTS_SIGNAL_LONG = 1, MTS_SIGNAL_SHORT = -1, MTS_SIGNAL_CLOSE = 0 };
/* The signal_history text of a signal type: "LONG", "SHORT" or "CLOSE". */
static inline const char *mts_signal_name(int t) { return t > 0 ? "LONG" : t < 0 ? "SHORT" : "CLOSE"; }

typedef struct mts_signal_rec {
    int32_t asset, strategy, signal_type, _pad;
    int64_t ts;
    double  price, confidence, position_size, stop_loss, take_profit;  /* NaN = not given */
} mts_signal_rec_t;

/* Bounds of mts_engine_submit, beyond "finite": |qty| <= MTS_ENGINE_MAX_QTY;
 * a LIMIT/STOP price, stop_loss and take_profit <= MTS_ENGINE_MAX_PRICE; the
 * notional |qty| x price (the order's price, or for a MARKET order the
 * asset's latest close when there is one) <= MTS_ENGINE_MAX_PRICE too. Beyond
 * them submit returns MTS_ERANGE (errmsg names the field and value) and queues
 * nothing; the engine carries on. Non-finite or missing values stay MTS_EINVAL.
 * Generous on purpose: the runner refuses absurd signals long before
 * (docs/strategies.md, "Signal bounds"); this keeps cash and fees finite. */
#define MTS_ENGINE_MAX_QTY   1e18
#define MTS_ENGINE_MAX_PRICE 1e15

int  mts_engine_create(const mts_engine_config_t *cfg, mts_engine_t **out);
void mts_engine_free(mts_engine_t *e);      /* accepts NULL */
const char *mts_engine_errmsg(const mts_engine_t *e);
/* Add an asset before the first mts_engine_next(). name is copied; bars borrowed. */
int  mts_engine_add_asset(mts_engine_t *e, const char *name, const mts_bars_t *bars, int32_t *id_out);
int  mts_engine_add_macro(mts_engine_t *e, const char *name, const mts_series_t *s);
const mts_portfolio_t *mts_engine_portfolio(const mts_engine_t *e);

/* ---- quiet bars (declared in lua/mts_ffi.h; the runner's fast path) ----
 * After next() returned MTS_EV_BAR for bar i of an asset, with STEP_END
 * events off: mts_engine_quiet(e, asset, max) says how many of that asset's next
 * bars (i+1, i+2, ..., at most max) are quiet — next() would return them one
 * step each with nothing to do but mark the position at the close and record
 * the step's equity: no other asset has bars left and no order is queued,
 * the asset has no pending order and is not live, the position has no
 * stop-loss / take-profit, and no cancel/progress check falls among them.
 * mts_engine_skip(e, asset, k) (k <= quiet) then does exactly what k more calls of
 * next() returning those bars would have done (equity points, marks, bar
 * count), leaving the engine as after the k-th: its step open. So the
 * runner can run its strategies over k bars with one call instead of k;
 * it must skip up to a bar before it asks the engine for anything that
 * bar changes (equity, mark, now), and before submitting an order.
 * 0 for an engine that is not in such a state (or another asset's bar next). */
/* ---- live assets (paper trading: runtime/live/) ----
 * A live asset's bars grow while the engine runs. Its arrays are borrowed
 * like any asset's, but writable, and must be reserved up front (bars->cap):
 * appending never reallocates, so the pointers strategies' views hold stay
 * valid; a full array is MTS_ERANGE. (The runtime/util/array.c allocations
 * are committed lazily: a large reserve costs address space, not memory.)
 * mts_engine_append_bar adds a closed bar: ts must be after the asset's last
 * bar and not before the current step (a late bar is MTS_ERANGE, nothing
 * changes); if the asset had no pending bar its MARKET event is queued again,
 * and orders submitted when no later bar existed are queued to activate just
 * before it. So after mts_engine_next() returned MTS_EV_NONE, appending
 * bars makes next() go on exactly as if they had been there from the start:
 * the fills are the backtest's. */
int  mts_engine_add_live_asset(mts_engine_t *e, const char *name, mts_bars_t *bars, int32_t *id_out);
int  mts_engine_append_bar(mts_engine_t *e, int32_t asset, int64_t ts, double open, double high,
                           double low, double close, double volume);

/* Fill log (off by default; live sessions turn it on before the start). */
enum { MTS_FILL_MARKET = 0, MTS_FILL_LIMIT = 1, MTS_FILL_STOP = 2, MTS_FILL_STOP_LOSS = 3,
       MTS_FILL_TAKE_PROFIT = 4 };
typedef struct mts_fill_rec {
    int32_t asset, kind;      /* kind: MTS_FILL_* */
    int64_t ts;               /* the bar the fill happened on */
    double  qty, price, fee;  /* qty signed (> 0 buy) */
    double  realized_pnl;     /* gross PnL this fill realised (0 when it opens/adds) */
} mts_fill_rec_t;
void mts_engine_keep_fills(mts_engine_t *e, int on);
const mts_fill_rec_t *mts_engine_fills(const mts_engine_t *e, int64_t *n);
/* Signals logged with mts_engine_log_signal(), in order. */
const mts_signal_rec_t *mts_engine_signals(const mts_engine_t *e, int64_t *n);
int64_t mts_engine_fill_count(const mts_engine_t *e);
/* Report bars processed to a progress bar (borrowed; NULL stops): updated every
 * 65536 bars, so it costs the hot path one increment and a test. */
struct mts_progress;
void mts_engine_set_progress(mts_engine_t *e, struct mts_progress *p);
/* A flag that stops the run (borrowed; NULL = none): checked every 1024 bars,
 * so it costs the hot path nothing measurable. Once it is seen non-zero,
 * next() returns MTS_EV_NONE as if the bars had run out and
 * mts_engine_cancelled() says 1; the run's results are then incomplete. */
void mts_engine_set_cancel(mts_engine_t *e, const volatile sig_atomic_t *flag);
int  mts_engine_cancelled(const mts_engine_t *e);
/* Bar events returned by next() so far. */
int64_t mts_engine_bars_done(const mts_engine_t *e);

#endif
