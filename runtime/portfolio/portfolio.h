/* portfolio.h — positions, cash ledger, realised/unrealised PnL, closed-trade
 * records and the equity curve. Needs only mts.h and mts_ffi.h.
 *
 * MONEY DECISION (made once, here): cash, prices, quantities and PnL are IEEE
 * doubles. Nothing is rounded inside the ledger; values are rounded to the cent
 * (2 decimals) only when printed or stored for people. Over the runs we care
 * about (1e5..1e9 of notional, < 1e6 fills) double keeps ~1e-6 absolute
 * precision, far below a cent, and the reconciliation identity
 *     equity = initial_capital + realised - fees + unrealised
 * is checked to 1e-6 in tests.
 *
 * Cash: a buy of q at p with fee f: cash -= q*p + f. A sell: cash += q*p - f.
 * Short positions are negative qty; equity = cash + sum(qty * mark).
 *
 * Average cost: adding in the direction of the position re-averages
 * (|q|*avg + |dq|*p) / (|q|+|dq|); reducing keeps avg and realises
 * closed*(p - avg)*sign(q); going through zero closes the whole position and
 * opens the remainder at p (a flip).
 *
 * Trades: every reduction (partial close, full close, the closing part of a
 * flip) emits one closed-trade record for the closed quantity: entry_time is
 * when the position was opened, entry_price the average cost, pnl is net of
 * fees = gross - fees, where fees = the exit fee share for that quantity plus
 * the pro-rata share of the entry fees still attached to the position. A fee on
 * a flip fill is split between the closing and the opening part by quantity. */
#ifndef MTS_PORTFOLIO_H
#define MTS_PORTFOLIO_H

#include "mts.h"
#include "lua/mts_ffi.h"

typedef struct mts_position {
    double  qty;            /* signed */
    double  avg_cost;       /* 0 when flat */
    double  mark;           /* last mark price, 0 before the first */
    double  realized_pnl;   /* gross, cumulative over the run for this asset */
    double  fees;           /* all fees paid on this asset */
    double  open_fees;      /* entry fees not yet allocated to closed trades */
    int64_t opened_ts;      /* when the current position was opened */
    double  stop_loss;      /* absolute, 0 = none */
    double  take_profit;    /* absolute, 0 = none */
    /* issue 12: instrument (mts_portfolio_set_instrument), margin, funding, story */
    double  cs;             /* contract size, > 0 (1) */
    double  lev;            /* perp leverage >= 1 (1) */
    double  margin;         /* perp: isolated margin of the position; 0 spot/flat */
    double  funding;        /* funding of the open qty not yet allocated to closed trades */
    double  lo, hi;         /* lowest / highest price since the position opened (MAE/MFE) */
    int32_t perp;           /* 1: linear perpetual */
    int32_t strategy;       /* order.strategy of the fill that opened the position, -1 unknown */
    int32_t entry_reason;   /* MTS_REASON_* of the opening fill */
    int32_t _pad;
} mts_position_t;

/* Why a trade opened / closed (mts_trade_t.entry_reason / exit_reason). */
enum { MTS_REASON_SIGNAL = 0, MTS_REASON_STOP_LOSS = 1, MTS_REASON_TAKE_PROFIT = 2,
       MTS_REASON_LIQUIDATION = 3, MTS_REASON_END_OF_DATA = 4 };
/* "signal", "stop_loss", "take_profit", "liquidation", "end_of_data"; "?" otherwise. */
const char *mts_reason_name(int r);

typedef struct mts_trade {
    int32_t asset;
    int32_t side;           /* +1 long, -1 short */
    double  qty;            /* closed quantity, > 0 */
    int64_t entry_ts;
    double  entry_price;
    int64_t exit_ts;
    double  exit_price;
    double  pnl;            /* net: gross - fees + funding */
    double  fees;
    double  funding;        /* funding received (+) / paid (-) over the closed qty's life, pro rata */
    double  mae, mfe;       /* currency for the closed qty: qty*cs*(worst-entry)*side <= 0, (best-entry)*side >= 0 */
    int32_t book, strategy; /* strategy: order.strategy of the fill that opened the position; -1 unknown */
    int32_t entry_reason, exit_reason;   /* MTS_REASON_* */
} mts_trade_t;

typedef struct mts_portfolio {
    double          initial_capital;
    double          cash;
    double          total_fees;
    int32_t         n_assets;
    mts_position_t *pos;           /* n_assets */
    mts_trade_t    *trades;
    int64_t         n_trades, cap_trades;
    mts_series_t    equity;        /* one point per recorded step */
    int64_t         equity_ts_shared;  /* > 0: equity.ts is borrowed (that many times,
                                          mts_portfolio_share_equity_ts), not owned */
    /* issue 12 */
    int32_t         book;          /* id written into its trades (0) */
    int32_t         _pad;
    double          total_funding; /* funding received (+) / paid (-) */
    int64_t         fills, bp_cut, bp_refused, short_refused, lot_refused, liquidations;  /* engine counts */
} mts_portfolio_t;

int    mts_portfolio_init(mts_portfolio_t *p, double initial_capital, int32_t n_assets);
void   mts_portfolio_free(mts_portfolio_t *p);           /* accepts NULL */
/* Apply a fill: qty signed (> 0 buy), price > 0, fee >= 0 (currency).
 * The fill also sets the position's mark to the fill price (the latest traded
 * price). A position that opens, flips or goes flat has stop_loss/take_profit
 * cleared (the engine sets them from the order afterwards). */
int    mts_portfolio_fill(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee);
/* The same with the story: strategy (-1 unknown) and reason (MTS_REASON_*): an opening fill's
 * are the position's entry strategy/reason, a reducing fill's reason is its trades' exit reason.
 * mts_portfolio_fill = strategy -1, MTS_REASON_SIGNAL. */
int    mts_portfolio_fill_ex(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee,
                             int32_t strategy, int32_t reason);
/* Liquidation of a perp position: closes it all at price with fee, exit reason liquidation;
 * the loss is capped at the position's margin (when margin + gross - fee < 0 the gross is
 * raised to fee - margin). MTS_EINVAL for a flat or spot position. */
int    mts_portfolio_liquidate(mts_portfolio_t *p, int32_t asset, int64_t ts, double price, double fee);
/* The asset's instrument: perp 0/1, contract size cs > 0, leverage lev >= 1 (perp). Only while
 * the position is flat (else MTS_EINVAL). */
int    mts_portfolio_set_instrument(mts_portfolio_t *p, int32_t asset, int perp, double cs, double lev);
/* A funding settlement: a perp position pays -q*cs*mark*rate (received when > 0) into cash,
 * the position's funding and total_funding; returns the payment (0: flat, spot, bad ids). */
double mts_portfolio_fund(mts_portfolio_t *p, int32_t asset, double mark, double rate);
/* Widen the position's MAE/MFE price range by [lo, hi] (a bar's range while it is held). */
static inline void mts_portfolio_extremes(mts_position_t *pos, double lo, double hi) {
    if (lo < pos->lo) pos->lo = lo;
    if (hi > pos->hi) pos->hi = hi;
}
/* Money views: sum of perp margins; cash - margins; sum |q|*cs*mark/(perp ? lev : 1). */
double mts_portfolio_margin(const mts_portfolio_t *p);
double mts_portfolio_available(const mts_portfolio_t *p);
double mts_portfolio_exposure(const mts_portfolio_t *p);
/* The END_OF_DATA record of the open position in asset (mts_engine_finish): 0, or MTS_EINVAL when flat. */
int    mts_portfolio_open_trade(const mts_portfolio_t *p, int32_t asset, mts_trade_t *out);
void   mts_portfolio_mark(mts_portfolio_t *p, int32_t asset, double price);
double mts_portfolio_equity(const mts_portfolio_t *p);
double mts_portfolio_unrealized(const mts_portfolio_t *p);   /* sum q*cs*(mark - avg_cost) */
double mts_portfolio_realized(const mts_portfolio_t *p);
/* Append (ts, current equity) to the equity curve; a point with the same ts as
 * the last one replaces it; a ts before the last one is MTS_EINVAL. */
int    mts_portfolio_record_equity(mts_portfolio_t *p, int64_t ts);
/* The common case of mts_portfolio_record_equity, inline for per-bar loops
 * (the engine's quiet bars): appends (ts, v) when ts is a new step after the
 * last point (or the first) and the curve has room (with borrowed times: when ts is the next
 * of them; the times are never written). Returns 1 when appended, 0 when the
 * caller must take mts_portfolio_record_equity. v: the equity at ts. */
static inline int mts_portfolio_append_equity(mts_portfolio_t *p, int64_t ts, double v) {
    mts_series_t *c = &p->equity;
    if (c->n >= c->cap || (c->n > 0 && !(c->ts[c->n - 1] < ts))) return 0;
    if (p->equity_ts_shared) {
        if (c->n >= p->equity_ts_shared || c->ts[c->n] != ts) return 0;
    } else {
        c->ts[c->n] = ts;
    }
    c->v[c->n++] = v;
    return 1;
}
/* Reserve room for equity points and closed trades so later appends do not
 * allocate (the engine reserves total bars + 1 equity points before a run). */
int    mts_portfolio_reserve(mts_portfolio_t *p, int64_t equity_cap, int64_t trades_cap);
/* The equity curve's times will most likely be ts[0..n-1], one per step (a
 * backtest of one asset: its bars' times): equity.ts then points at ts,
 * borrowed (it must outlive the portfolio, or the curve's use), instead of an
 * own copy — the curve keeps only its values (8 bytes a point, not 16). A
 * point whose ts is not the next of these (the steps of several assets whose
 * times differ, more points than n) makes the curve copy the times it has and
 * go on with its own array, as if it had never shared. Only on an empty curve
 * (else MTS_EINVAL); n < 1 or ts NULL is MTS_EINVAL. Reserves room for n values. */
int    mts_portfolio_share_equity_ts(mts_portfolio_t *p, const int64_t *ts, int64_t n);

#endif
