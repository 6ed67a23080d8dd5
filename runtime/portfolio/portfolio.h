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
} mts_position_t;

typedef struct mts_trade {
    int32_t asset;
    int32_t side;           /* +1 long, -1 short */
    double  qty;            /* closed quantity, > 0 */
    int64_t entry_ts;
    double  entry_price;
    int64_t exit_ts;
    double  exit_price;
    double  pnl;            /* net of fees */
    double  fees;
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
} mts_portfolio_t;

int    mts_portfolio_init(mts_portfolio_t *p, double initial_capital, int32_t n_assets);
void   mts_portfolio_free(mts_portfolio_t *p);           /* accepts NULL */
/* Apply a fill: qty signed (> 0 buy), price > 0, fee >= 0 (currency).
 * The fill also sets the position's mark to the fill price (the latest traded
 * price). A position that opens, flips or goes flat has stop_loss/take_profit
 * cleared (the engine sets them from the order afterwards). */
int    mts_portfolio_fill(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee);
void   mts_portfolio_mark(mts_portfolio_t *p, int32_t asset, double price);
double mts_portfolio_equity(const mts_portfolio_t *p);
double mts_portfolio_unrealized(const mts_portfolio_t *p);
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
