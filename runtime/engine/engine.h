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
 *   Fee = |qty| * contract_size * fill_price * bps / 1e4 on every fill: the
 *   asset's maker bps for LIMIT fills, taker bps for the rest (both default to
 *   commission_bps; mts_engine_set_instrument). Before a fill, lot size, the
 *   spot short rule and buying power may cut or refuse it (rule 1 below).
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
    double leverage;          /* perps (isolated margin = notional / leverage); 0 = 1 */
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
/* Book 0 (existing callers; with several books use mts_engine_book and the account functions). */
const mts_portfolio_t *mts_engine_portfolio(const mts_engine_t *e);

/* ---- books, instruments, funding (issue 12) ----
 * Books: every order trades one book (mts_order_t.book); a book is an
 * mts_portfolio_t with its own cash, positions, trades and equity curve. The
 * ACCOUNT is the sum of the books plus the unallocated cash; its equity curve
 * has one point per step (one book holding all the capital: book 0's curve).
 * Per book (portfolio.h has the ledger):
 *   spot fill of q at p:  cash -= q*cs*p + fee;  perp fill: cash += realised gross - fee
 *   margin (perp, isolated) = |q|*cs*avg_cost / leverage; available = cash - sum(margins)
 *   exposure = sum |q|*cs*mark / (perp ? leverage : 1)
 *   equity = cash + sum_spot q*cs*mark + sum_perp q*cs*(mark - avg_cost)
 *          = initial + realized - fees + funding + unrealized
 * Rules per asset bar (ts T), in this order:
 *   0. funding: every event with last applied < ts <= T (and ts >= the asset's first
 *      bar) is paid by every book's perp position held then: payment = -q*cs*mark_f*rate
 *      (mark_f: the event's mark when > 0, else the position's mark), to cash and to the
 *      position's funding;
 *   1. orders (market, then limit/stop) with the maker (LIMIT) or taker fee; the part of a
 *      fill that opens/increases needs cost <= available (spot |dq|*cs*px + fee, perp
 *      |dq|*cs*px/leverage + fee), else it is cut to the largest affordable qty
 *      (bp_cut; lot-rounded) or refused (bp_refused); a spot sell beyond the book's long
 *      position is cut to it, or refused when flat (short_refused); a qty that lot rounding
 *      makes 0 is refused (lot_refused). Never filled on credit.
 *   2. liquidation (perp): long Pl = (avg - M/(q*cs)) / (1 - mmr), short
 *      Ps = (avg + M/(|q|*cs)) / (1 + mmr), M the position's margin; low <= Pl (high >= Ps)
 *      liquidates at Pl/Ps (or the open when it gapped beyond) with the taker fee, the loss
 *      capped at M; a stop-loss at or before the liquidation price is taken instead;
 *   3. stop-loss / take-profit, the mark at the close, the trades' MAE/MFE extremes. */
/* Shadow books (mts_engine_add_shadow_book, declared in lua/mts_ffi.h): after the account's
 * books (ids n_account..n_books-1), each with its own initial capital, trading by every rule
 * above (funding in rule 0 and the exits of rules 2-3 run over every book), but outside the
 * account: the account functions below (equity, cash, equity curve, trades, finish/open
 * trades, fill count, book_stats(-1), position / avg cost) sum the account's books only, and
 * the account's numbers are bit for bit those of a run without the shadows. A shadow's own
 * figures: mts_engine_book(e, k), mts_engine_book_stats/position/equity. The fill log
 * (mts_engine_keep_fills) has every book's fills (mts_fill_rec_t.book tells them apart).
 * The quiet path (mts_engine_quiet) declines with more than one book, shadows included. */
#define MTS_ENGINE_MAX_BOOKS 64
/* Before the start (and before any shadow book: else MTS_EINVAL). n in 1..MTS_ENGINE_MAX_BOOKS; book k starts with initial_capital*alloc[k];
 * alloc[k] > 0 finite, sum <= 1 + 1e-9 (else MTS_EINVAL + errmsg); the rest is unallocated cash,
 * part of the account. Default: one book holding all the capital (alloc NULL with n == 1: the same). */
int mts_engine_set_books(mts_engine_t *e, int32_t n, const double *alloc);
/* Before the start. Default per asset: spot, contract_size 1, no tick/lot, maker = taker =
 * cfg.commission_bps, max_leverage 1, mmr 0. Perp with cfg.leverage > max_leverage: MTS_EINVAL
 * "leverage 20 exceeds bitcoin's max_leverage 10". Bad fields: MTS_EINVAL naming the field. */
int mts_engine_set_instrument(mts_engine_t *e, int32_t asset, const mts_instrument_t *ins);
/* Funding settlements of a perp asset (borrowed; live sessions append). ts ascending (unix s,
 * the settlement time), rate (fraction, + = longs pay), mark (NaN or <= 0: not known). */
/* mts_funding_events_t: lua/mts_ffi.h */
/* f borrowed (must outlive the engine; NULL: none). Before or during the run. */
int mts_engine_set_funding(mts_engine_t *e, int32_t asset, mts_funding_events_t *f);
/* Appends one settlement (ts after the last one, else MTS_ERANGE). The arrays of a set f grow
 * with mts_realloc when full (so they must come from mts_malloc: mts_funding_events_build);
 * without a set f the engine keeps its own. */
int mts_engine_append_funding(mts_engine_t *e, int32_t asset, int64_t ts, double rate, double mark);
const mts_portfolio_t *mts_engine_book(const mts_engine_t *e, int32_t book);    /* NULL: bad id */
/* The account's equity curve (one point per step; one book with all the capital: book 0's curve). */
const mts_series_t *mts_engine_equity_curve(const mts_engine_t *e);
/* Every closed trade of every account book (never a shadow's), ordered by exit_ts, then book, then the book's order (engine-owned,
 * valid until the next call of next()/skip()/trades(); one book: book 0's array). */
const mts_trade_t *mts_engine_trades(mts_engine_t *e, int64_t *n);
/* End of a run: for every open position of every account book (shadows: mts_portfolio_open_trade), one record with exit_reason END_OF_DATA,
 * exit at the last mark, pnl = unrealised - its entry fees share + funding share (no exit fee; the
 * position is NOT closed, equity unchanged). Idempotent (recomputed from the current state).
 * Metrics never count these. Ordered by book, then asset. */
int mts_engine_finish(mts_engine_t *e);
const mts_trade_t *mts_engine_open_trades(const mts_engine_t *e, int64_t *n);

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
       MTS_FILL_TAKE_PROFIT = 4, MTS_FILL_LIQUIDATION = 5 };
typedef struct mts_fill_rec {
    int32_t asset, kind;      /* kind: MTS_FILL_* */
    int64_t ts;               /* the bar the fill happened on */
    double  qty, price, fee;  /* qty signed (> 0 buy) */
    double  realized_pnl;     /* gross PnL this fill realised (0 when it opens/adds) */
    int32_t book, strategy;   /* the order's book / strategy (-1: a stop-loss, take-profit or
                                 liquidation: the position's opening strategy) */
    int32_t reason, _pad;     /* MTS_REASON_* of the fill (an opening fill: signal) */
    double  funding;          /* funding share the closed part carried (0 when it opens/adds) */
} mts_fill_rec_t;
void mts_engine_keep_fills(mts_engine_t *e, int on);
const mts_fill_rec_t *mts_engine_fills(const mts_engine_t *e, int64_t *n);
/* Signals logged with mts_engine_log_signal(), in order. */
const mts_signal_rec_t *mts_engine_signals(const mts_engine_t *e, int64_t *n);
/* Fills of the account's books (a shadow book's: mts_engine_book(e, k)->fills). */
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
