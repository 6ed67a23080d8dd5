/* portfolio.c — positions, cash ledger, PnL, closed trades and the equity
 * curve. The accounting rules are in portfolio.h.
 *
 * Quantities are doubles; a reduction whose size equals the position up to a
 * relative 1e-12 is treated as an exact close so that, e.g., buying 0.1 then
 * 0.2 and selling 0.3 leaves the position flat instead of 5e-17 long. */
#include "portfolio/portfolio.h"

#include <math.h>
#include <string.h>
#if defined(__linux__)

#endif

#define QTY_REL_EPS 1e-12

int mts_portfolio_init(mts_portfolio_t *p, double initial_capital, int32_t n_assets) {
    if (!p || n_assets < 0 || !isfinite(initial_capital)) return MTS_EINVAL;
    memset(p, 0, sizeof *p);
    p->pos = mts_calloc(n_assets ? (size_t)n_assets : 1, sizeof *p->pos);
    if (!p->pos) return MTS_ENOMEM;
    p->initial_capital = initial_capital;
    p->cash = initial_capital;
    p->n_assets = n_assets;
    for (int32_t i = 0; i < n_assets; i++) {
        p->pos[i].cs = 1.0;
        p->pos[i].lev = 1.0;
        p->pos[i].strategy = -1;
    }
    return MTS_OK;
}

void mts_portfolio_free(mts_portfolio_t *p) {
    if (!p) return;
    mts_free(p->pos);
    mts_free(p->trades);
    if (!p->equity_ts_shared) mts_free(p->equity.ts);
    mts_free(p->equity.v);
    memset(p, 0, sizeof *p);
}

static int reserve_trades(mts_portfolio_t *p, int64_t cap) {
    if (cap <= p->cap_trades) return MTS_OK;
    if ((uint64_t)cap > SIZE_MAX / sizeof(mts_trade_t)) return MTS_ENOMEM;
    mts_trade_t *t = mts_realloc(p->trades, (size_t)cap * sizeof *t);
    if (!t) return MTS_ENOMEM;
    p->trades = t;
    p->cap_trades = cap;
    return MTS_OK;
}

/* Own times for a curve that shared them (equity_ts_shared): the ones so far
 * copied into an array of cap. */
static int own_equity_ts(mts_portfolio_t *p, int64_t cap) {
    if ((uint64_t)cap > SIZE_MAX / sizeof(int64_t)) return MTS_ENOMEM;
    int64_t *ts = mts_malloc((size_t)(cap ? cap : 1) * sizeof *ts);
    if (!ts) return MTS_ENOMEM;
    if (p->equity.n) memcpy(ts, p->equity.ts, (size_t)p->equity.n * sizeof *ts);
    mts_advise_huge(ts, (size_t)cap * sizeof *ts);
    p->equity.ts = ts;
    p->equity_ts_shared = 0;
    return MTS_OK;
}

static int reserve_equity(mts_portfolio_t *p, int64_t cap) {
    if (cap <= p->equity.cap) return MTS_OK;
    if ((uint64_t)cap > SIZE_MAX / sizeof(double)) return MTS_ENOMEM;
    if (p->equity_ts_shared) {         /* growing past the shared times: own them */
        int rc = own_equity_ts(p, cap);
        if (rc) return rc;
    } else {
        int64_t *ts = mts_realloc(p->equity.ts, (size_t)cap * sizeof *ts);
        if (!ts) return MTS_ENOMEM;
        p->equity.ts = ts;           /* kept even if v fails: cap stays the smaller */
        mts_advise_huge(ts, (size_t)cap * sizeof *ts);
    }
    double *v = mts_realloc(p->equity.v, (size_t)cap * sizeof *v);
    if (!v) return MTS_ENOMEM;
    p->equity.v = v;
    p->equity.cap = cap;
    mts_advise_huge(v, (size_t)cap * sizeof *v);
    return MTS_OK;
}

int mts_portfolio_share_equity_ts(mts_portfolio_t *p, const int64_t *ts, int64_t n) {
    if (!p || !ts || n < 1 || p->equity.n != 0) return MTS_EINVAL;
    if ((uint64_t)n > SIZE_MAX / sizeof(double)) return MTS_ENOMEM;
    double *v = mts_realloc(p->equity.v, (size_t)n * sizeof *v);
    if (!v) return MTS_ENOMEM;
    mts_advise_huge(v, (size_t)n * sizeof *v);
    if (!p->equity_ts_shared) mts_free(p->equity.ts);
    p->equity.v = v;
    p->equity.ts = (int64_t *)ts;      /* never written through (record_equity) */
    p->equity.cap = n;
    p->equity_ts_shared = n;
    return MTS_OK;
}

int mts_portfolio_reserve(mts_portfolio_t *p, int64_t equity_cap, int64_t trades_cap) {
    if (!p || equity_cap < 0 || trades_cap < 0) return MTS_EINVAL;
    int rc = reserve_equity(p, equity_cap);
    if (rc) return rc;
    return reserve_trades(p, trades_cap);
}

const char *mts_reason_name(int r) {
    static const char *const names[] = {"signal", "stop_loss", "take_profit", "liquidation", "end_of_data"};
    return r >= 0 && r <= MTS_REASON_END_OF_DATA ? names[r] : "?";
}

int mts_portfolio_set_instrument(mts_portfolio_t *p, int32_t asset, int perp, double cs, double lev) {
    if (!p || asset < 0 || asset >= p->n_assets || !isfinite(cs) || !(cs > 0) || !isfinite(lev) || !(lev >= 1))
        return MTS_EINVAL;
    mts_position_t *pos = &p->pos[asset];
    if (pos->qty != 0) return MTS_EINVAL;
    pos->perp = perp != 0;
    pos->cs = cs;
    pos->lev = perp ? lev : 1.0;
    return MTS_OK;
}

/* MAE / MFE in currency of `closed` qty of the position, its range widened by the exit price. */
static void excursions(const mts_position_t *pos, double closed, double exit_px, double *mae, double *mfe) {
    double lo = pos->lo, hi = pos->hi;
    if (exit_px < lo) lo = exit_px;
    if (exit_px > hi) hi = exit_px;
    double k = closed * pos->cs, avg = pos->avg_cost;
    double a, f;
    if (pos->qty > 0) { a = k * (lo - avg); f = k * (hi - avg); }
    else { a = k * (avg - hi); f = k * (avg - lo); }
    *mae = a < 0 ? a : 0.0;
    *mfe = f > 0 ? f : 0.0;
}

static void push_trade(mts_portfolio_t *p, int32_t asset, const mts_position_t *pos, int64_t ts,
                       double closed, double price, double gross, double fees, double funding, int32_t reason) {
    mts_trade_t *t = &p->trades[p->n_trades++];
    t->asset = asset;
    t->side = pos->qty > 0 ? 1 : -1;
    t->qty = closed;
    t->entry_ts = pos->opened_ts;
    t->entry_price = pos->avg_cost;
    t->exit_ts = ts;
    t->exit_price = price;
    t->fees = fees;
    t->pnl = gross - fees + funding;
    t->funding = funding;
    excursions(pos, closed, price, &t->mae, &t->mfe);
    t->book = p->book;
    t->strategy = pos->strategy;
    t->entry_reason = pos->entry_reason;
    t->exit_reason = reason;
}

/* A (re)opened position at price: the story starts here. */
static void open_story(mts_position_t *pos, int64_t ts, double price, int32_t strategy, int32_t reason) {
    pos->opened_ts = ts;
    pos->lo = pos->hi = price;
    pos->funding = 0;
    pos->strategy = strategy;
    pos->entry_reason = reason;
}

/* liq: the liquidation rule (whole position; the loss capped at the margin). */
static int fill(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee,
                int32_t strategy, int32_t reason, int liq) {
    if (!p || asset < 0 || asset >= p->n_assets) return MTS_EINVAL;
    if (!isfinite(qty) || qty == 0 || !isfinite(price) || !(price > 0) || !isfinite(fee) || fee < 0)
        return MTS_EINVAL;
    mts_position_t *pos = &p->pos[asset];
    double q = pos->qty;
    int reduces = q != 0 && ((q > 0) != (qty > 0));
    if (reduces && p->n_trades == p->cap_trades) {
        int rc = reserve_trades(p, p->cap_trades ? p->cap_trades * 2 : 64);
        if (rc) return rc;   /* nothing changed yet */
    }
    const int perp = pos->perp;
    const double cs = pos->cs;

    /* cash: spot buy pays q*cs*p + f, sell receives |q|*cs*p - f; perp: the fee here,
     * the realised gross below */
    if (perp) p->cash -= fee;
    else p->cash -= qty * cs * price + fee;
    p->total_fees += fee;
    pos->fees += fee;
    pos->mark = price;       /* the fill is the latest traded price */

    if (q == 0) {                                   /* open */
        pos->qty = qty;
        pos->avg_cost = price;
        pos->open_fees = fee;
        pos->stop_loss = pos->take_profit = 0;
        open_story(pos, ts, price, strategy, reason);
        if (perp) pos->margin = fabs(qty) * cs * price / pos->lev;
        return MTS_OK;
    }
    double aq = fabs(q), adq = fabs(qty), s = q > 0 ? 1.0 : -1.0;
    if (!reduces) {                                 /* add: re-average */
        pos->avg_cost = (aq * pos->avg_cost + adq * price) / (aq + adq);
        pos->qty = q + qty;
        pos->open_fees += fee;
        mts_portfolio_extremes(pos, price, price);
        if (perp) pos->margin = fabs(pos->qty) * cs * pos->avg_cost / pos->lev;
        return MTS_OK;
    }
    double tol = QTY_REL_EPS * (aq > adq ? aq : adq);
    if (adq < aq - tol) {                           /* partial close */
        double gross = adq * cs * (price - pos->avg_cost) * s;
        double frac = adq / aq;
        double entry_share = pos->open_fees * frac;
        double fund_share = pos->funding * frac;
        pos->realized_pnl += gross;
        if (perp) {
            p->cash += gross;
            pos->margin -= pos->margin * frac;
        }
        push_trade(p, asset, pos, ts, adq, price, gross, fee + entry_share, fund_share, reason);
        pos->open_fees -= entry_share;
        pos->funding -= fund_share;
        pos->qty = q + qty;
        return MTS_OK;
    }
    /* full close (|dq| == |q| within tol) or flip: close the whole position */
    double gross = aq * cs * (price - pos->avg_cost) * s;
    int flip = adq > aq + tol;
    double close_fee = flip ? fee * (aq / adq) : fee;
    if (liq && pos->margin + gross - close_fee < 0) gross = close_fee - pos->margin;   /* loss capped at M */
    pos->realized_pnl += gross;
    if (perp) p->cash += gross;
    push_trade(p, asset, pos, ts, aq, price, gross, close_fee + pos->open_fees, pos->funding, reason);
    if (flip) {
        pos->qty = q + qty;
        pos->avg_cost = price;
        pos->open_fees = fee - close_fee;
        open_story(pos, ts, price, strategy, MTS_REASON_SIGNAL);
        pos->margin = perp ? fabs(pos->qty) * cs * price / pos->lev : 0;
    } else {
        pos->qty = 0;
        pos->avg_cost = 0;
        pos->open_fees = 0;
        pos->funding = 0;
        pos->margin = 0;
    }
    pos->stop_loss = pos->take_profit = 0;
    return MTS_OK;
}

int mts_portfolio_fill(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee) {
    return fill(p, asset, ts, qty, price, fee, -1, MTS_REASON_SIGNAL, 0);
}

int mts_portfolio_fill_ex(mts_portfolio_t *p, int32_t asset, int64_t ts, double qty, double price, double fee,
                          int32_t strategy, int32_t reason) {
    return fill(p, asset, ts, qty, price, fee, strategy, reason, 0);
}

int mts_portfolio_liquidate(mts_portfolio_t *p, int32_t asset, int64_t ts, double price, double fee) {
    if (!p || asset < 0 || asset >= p->n_assets) return MTS_EINVAL;
    const mts_position_t *pos = &p->pos[asset];
    if (pos->qty == 0 || !pos->perp) return MTS_EINVAL;
    return fill(p, asset, ts, -pos->qty, price, fee, pos->strategy, MTS_REASON_LIQUIDATION, 1);
}

double mts_portfolio_fund(mts_portfolio_t *p, int32_t asset, double mark, double rate) {
    if (!p || asset < 0 || asset >= p->n_assets) return 0;
    mts_position_t *pos = &p->pos[asset];
    if (pos->qty == 0 || !pos->perp || !isfinite(mark) || !isfinite(rate)) return 0;
    double pay = -pos->qty * pos->cs * mark * rate;
    p->cash += pay;
    pos->funding += pay;
    p->total_funding += pay;
    return pay;
}

double mts_portfolio_margin(const mts_portfolio_t *p) {
    if (!p) return NAN;
    double m = 0;
    for (int32_t i = 0; i < p->n_assets; i++) m += p->pos[i].margin;
    return m;
}

double mts_portfolio_available(const mts_portfolio_t *p) {
    return p ? p->cash - mts_portfolio_margin(p) : NAN;
}

double mts_portfolio_exposure(const mts_portfolio_t *p) {
    if (!p) return NAN;
    double x = 0;
    for (int32_t i = 0; i < p->n_assets; i++) {
        const mts_position_t *pos = &p->pos[i];
        if (pos->qty != 0) x += fabs(pos->qty) * pos->cs * pos->mark / (pos->perp ? pos->lev : 1.0);
    }
    return x;
}

int mts_portfolio_open_trade(const mts_portfolio_t *p, int32_t asset, mts_trade_t *t) {
    if (!p || !t || asset < 0 || asset >= p->n_assets) return MTS_EINVAL;
    const mts_position_t *pos = &p->pos[asset];
    if (pos->qty == 0) return MTS_EINVAL;
    double aq = fabs(pos->qty);
    double unreal = pos->qty * pos->cs * (pos->mark - pos->avg_cost);
    t->asset = asset;
    t->side = pos->qty > 0 ? 1 : -1;
    t->qty = aq;
    t->entry_ts = pos->opened_ts;
    t->entry_price = pos->avg_cost;
    t->exit_ts = 0;
    t->exit_price = pos->mark;
    t->fees = pos->open_fees;
    t->funding = pos->funding;
    t->pnl = unreal - pos->open_fees + pos->funding;
    excursions(pos, aq, pos->mark, &t->mae, &t->mfe);
    t->book = p->book;
    t->strategy = pos->strategy;
    t->entry_reason = pos->entry_reason;
    t->exit_reason = MTS_REASON_END_OF_DATA;
    return MTS_OK;
}

void mts_portfolio_mark(mts_portfolio_t *p, int32_t asset, double price) {
    if (!p || asset < 0 || asset >= p->n_assets || !isfinite(price)) return;
    p->pos[asset].mark = price;
}

double mts_portfolio_equity(const mts_portfolio_t *p) {
    if (!p) return NAN;
    double eq = p->cash;
    for (int32_t i = 0; i < p->n_assets; i++) {
        const mts_position_t *pos = &p->pos[i];
        if (pos->qty == 0) continue;
        if (pos->perp) eq += pos->qty * pos->cs * (pos->mark - pos->avg_cost);
        else eq += pos->qty * pos->cs * pos->mark;
    }
    return eq;
}

double mts_portfolio_unrealized(const mts_portfolio_t *p) {
    if (!p) return NAN;
    double u = 0;
    for (int32_t i = 0; i < p->n_assets; i++) {
        const mts_position_t *pos = &p->pos[i];
        if (pos->qty != 0) u += pos->qty * pos->cs * (pos->mark - pos->avg_cost);
    }
    return u;
}

double mts_portfolio_realized(const mts_portfolio_t *p) {
    if (!p) return NAN;
    double r = 0;
    for (int32_t i = 0; i < p->n_assets; i++) r += p->pos[i].realized_pnl;
    return r;
}

int mts_portfolio_record_equity(mts_portfolio_t *p, int64_t ts) {
    if (!p) return MTS_EINVAL;
    mts_series_t *e = &p->equity;
    double eq = mts_portfolio_equity(p);
    if (e->n > 0) {
        if (e->ts[e->n - 1] == ts) { e->v[e->n - 1] = eq; return MTS_OK; }
        if (ts < e->ts[e->n - 1]) return MTS_EINVAL;   /* the curve stays ascending */
    }
    if (mts_portfolio_append_equity(p, ts, eq)) return MTS_OK;
    if (p->equity_ts_shared) {
        int rc = own_equity_ts(p, e->cap);   /* another time: the curve's own from here */
        if (rc) return rc;
    }
    if (e->n == e->cap) {
        int rc = reserve_equity(p, e->cap ? e->cap * 2 : 256);
        if (rc) return rc;
    }
    e->ts[e->n] = ts;
    e->v[e->n] = eq;
    e->n++;
    return MTS_OK;
}
