/* engine.c — the event-driven backtest engine (contract in engine.h and
 * lua/mts_ffi.h).
 *
 * Events: one MARKET event per asset is pending in the queue (its next bar);
 * a submitted order pushes an ORDER event at the time of the asset's next bar
 * after "now", which activates the order just before that bar (ORDER sorts
 * before MARKET at one ts). When the MARKET event pops, the asset's active
 * orders fill against the bar (market, then limit/stop, each in submission
 * order), then stop-loss/take-profit, then the mark at the close. The MARKET
 * event is replaced in place by the asset's next bar (one heap sift).
 *
 * The engine starts on the first mts_engine_next(): the portfolio is sized to
 * the assets, the equity curve reserved to total bars + 1 (one fixed asset:
 * its values only, the times borrowed from the bars: mts_portfolio_share_equity_ts),
 * and the first bar of every asset queued. */
#include "engine/engine.h"
#include "util/progress.h"
#include "engine/queue.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct order_slot {
    mts_order_t o;
    uint64_t    id;
    int32_t     active;     /* its ORDER event has been processed */
    int32_t     queued;     /* its ORDER event is in the queue (live: 0 until the next bar exists) */
} order_slot_t;

typedef struct asset {
    char              *name;
    const mts_bars_t  *bars;       /* borrowed */
    mts_bars_t        *wbars;      /* the same, writable: live assets (mts_engine_append_bar) */
    int64_t            next_idx;   /* bar of the pending MARKET event (n when none) */
    order_slot_t      *orders;     /* pending, in submission order */
    int32_t            n_orders, cap_orders;
    int32_t            n_active;
    int32_t            _pad;
    mts_instrument_t   inst;       /* default spot (mts_engine_set_instrument) */
    double             maker, taker;  /* fee fractions */
    mts_funding_events_t *fund;    /* borrowed (or &own_fund), NULL none */
    mts_funding_events_t own_fund; /* mts_engine_append_funding without a set one */
    int64_t            fidx;       /* next funding event to settle */
} asset_t;

typedef struct macro {
    char               *name;
    const mts_series_t *s;         /* borrowed */
} macro_t;

struct mts_engine {
    mts_engine_config_t cfg;
    double              slip, comm;      /* fractions */
    asset_t            *assets;
    int32_t             n_assets, cap_assets;
    macro_t            *macros;
    int32_t             n_macros, cap_macros;
    mts_queue_t         q;
    mts_portfolio_t    *bk;              /* n_books books; bk[0] is the one book by default */
    int32_t             n_books;         /* every book: the account's, then the shadows */
    int32_t             n_account;       /* books 0..n_account-1 are the account's; the rest shadows */
    int                 multi;           /* account books > 1 or unallocated cash: the account is not bk[0] */
    double              alloc[MTS_ENGINE_MAX_BOOKS];
    double              shadow_cap[MTS_ENGINE_MAX_BOOKS];  /* a shadow book's initial capital */
    double              unalloc;         /* cash of the account outside the books */
    double              lev;             /* perp leverage (cfg.leverage, 0 = 1) */
    mts_series_t        acct;            /* the account's equity curve when multi */
    mts_trade_t        *merged;          /* mts_engine_trades with several books */
    int64_t             n_merged, cap_merged;
    mts_trade_t        *open_tr;         /* mts_engine_finish */
    int64_t             n_open, cap_open;
    int                 started, in_step, done;
    int                 step_events;     /* return MTS_EV_STEP_END (default 1) */
    int64_t             step_ts;         /* current step (valid once started) */
    uint64_t            next_order_id;
    int64_t             fills;
    int64_t             bars_done;       /* market events returned so far */
    mts_progress_t     *progress;        /* borrowed, may be NULL */
    const volatile sig_atomic_t *cancel; /* borrowed, may be NULL */
    int                 cancelled;
    mts_signal_rec_t   *signals;
    int64_t             n_signals, cap_signals;
    int                 keep_fills;      /* record every fill (live sessions) */
    mts_fill_rec_t     *fill_log;
    int64_t             n_fill_log, cap_fill_log;
    char                err[256];
};

static int fail(mts_engine_t *e, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    return rc;
}

int mts_engine_create(const mts_engine_config_t *cfg, mts_engine_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    mts_engine_config_t c = {100000.0, 10.0, 0.0, 0.0};
    if (cfg) c = *cfg;
    if (!isfinite(c.initial_capital) || !(c.initial_capital > 0) || !isfinite(c.commission_bps) ||
        c.commission_bps < 0 || !isfinite(c.slippage_bps) || c.slippage_bps < 0 || !isfinite(c.leverage) ||
        c.leverage < 0 || (c.leverage > 0 && c.leverage < 1))
        return MTS_EINVAL;
    mts_engine_t *e = mts_calloc(1, sizeof *e);
    if (!e) return MTS_ENOMEM;
    e->cfg = c;
    e->slip = c.slippage_bps / 1e4;
    e->comm = c.commission_bps / 1e4;
    e->lev = c.leverage > 0 ? c.leverage : 1.0;
    e->n_books = e->n_account = 1;
    e->alloc[0] = 1.0;
    e->bk = mts_calloc(1, sizeof *e->bk);
    if (!e->bk) { mts_free(e); return MTS_ENOMEM; }
    int rc = mts_portfolio_init(&e->bk[0], c.initial_capital, 0);
    if (!rc) rc = mts_queue_init(&e->q, 16);
    if (rc) { mts_engine_free(e); return rc; }
    e->step_events = 1;
    *out = e;
    return MTS_OK;
}

void mts_engine_free(mts_engine_t *e) {
    if (!e) return;
    for (int32_t i = 0; i < e->n_assets; i++) {
        mts_free(e->assets[i].name);
        mts_free(e->assets[i].orders);
        mts_funding_events_t *f = &e->assets[i].own_fund;
        mts_free(f->ts); mts_free(f->rate); mts_free(f->mark);
    }
    mts_free(e->assets);
    for (int32_t i = 0; i < e->n_macros; i++) mts_free(e->macros[i].name);
    mts_free(e->macros);
    mts_queue_free(&e->q);
    for (int32_t k = 0; e->bk && k < e->n_books; k++) mts_portfolio_free(&e->bk[k]);
    mts_free(e->bk);
    mts_free(e->acct.ts);
    mts_free(e->acct.v);
    mts_free(e->merged);
    mts_free(e->open_tr);
    mts_free(e->signals);
    mts_free(e->fill_log);
    mts_free(e);
}

const char *mts_engine_errmsg(const mts_engine_t *e) {
    return e ? e->err : "no engine";
}

static int bars_valid(const mts_bars_t *b) {
    if (b->n < 0) return 0;
    if (b->n == 0) return 1;
    if (!b->ts || !b->open || !b->high || !b->low || !b->close) return 0;
    for (int64_t i = 1; i < b->n; i++)
        if (b->ts[i] <= b->ts[i - 1]) return 0;
    return 1;
}

int mts_engine_add_asset(mts_engine_t *e, const char *name, const mts_bars_t *bars, int32_t *id_out) {
    if (!e) return MTS_EINVAL;
    if (!name || !*name || !bars) return fail(e, MTS_EINVAL, "add_asset: name and bars are required");
    if (e->started) return fail(e, MTS_EINVAL, "add_asset '%s': the run has started", name);
    if (!bars_valid(bars))
        return fail(e, MTS_EINVAL, "add_asset '%s': bars must have arrays and strictly ascending ts", name);
    for (int32_t i = 0; i < e->n_assets; i++)
        if (strcmp(e->assets[i].name, name) == 0)
            return fail(e, MTS_EINVAL, "add_asset '%s': duplicate asset", name);
    if (e->n_assets == e->cap_assets) {
        int32_t cap = e->cap_assets ? e->cap_assets * 2 : 8;
        asset_t *a = mts_realloc(e->assets, (size_t)cap * sizeof *a);
        if (!a) return fail(e, MTS_ENOMEM, "add_asset: out of memory");
        e->assets = a;
        e->cap_assets = cap;
    }
    asset_t *a = &e->assets[e->n_assets];
    memset(a, 0, sizeof *a);
    a->name = mts_strdup(name);
    if (!a->name) return fail(e, MTS_ENOMEM, "add_asset: out of memory");
    a->bars = bars;
    a->inst.type = MTS_INST_SPOT;
    a->inst.contract_size = 1.0;
    a->inst.maker_fee_bps = a->inst.taker_fee_bps = e->cfg.commission_bps;
    a->inst.max_leverage = 1.0;
    a->maker = a->taker = e->comm;
    if (id_out) *id_out = e->n_assets;
    e->n_assets++;
    return MTS_OK;
}

int mts_engine_add_macro(mts_engine_t *e, const char *name, const mts_series_t *s) {
    if (!e) return MTS_EINVAL;
    if (!name || !*name || !s) return fail(e, MTS_EINVAL, "add_macro: name and series are required");
    for (int32_t i = 0; i < e->n_macros; i++)
        if (strcmp(e->macros[i].name, name) == 0)
            return fail(e, MTS_EINVAL, "add_macro '%s': duplicate series", name);
    if (e->n_macros == e->cap_macros) {
        int32_t cap = e->cap_macros ? e->cap_macros * 2 : 8;
        macro_t *m = mts_realloc(e->macros, (size_t)cap * sizeof *m);
        if (!m) return fail(e, MTS_ENOMEM, "add_macro: out of memory");
        e->macros = m;
        e->cap_macros = cap;
    }
    char *dup = mts_strdup(name);
    if (!dup) return fail(e, MTS_ENOMEM, "add_macro: out of memory");
    e->macros[e->n_macros].name = dup;
    e->macros[e->n_macros].s = s;
    e->n_macros++;
    return MTS_OK;
}

const mts_portfolio_t *mts_engine_portfolio(const mts_engine_t *e) { return e ? &e->bk[0] : NULL; }

const mts_signal_rec_t *mts_engine_signals(const mts_engine_t *e, int64_t *n) {
    if (n) *n = e ? e->n_signals : 0;
    return e ? e->signals : NULL;
}

int64_t mts_engine_fill_count(const mts_engine_t *e) { return e ? e->fills : 0; }

/* ---- run ---- */

/* A book's initial capital: an account book's share of the capital, a shadow's own. */
static double book_capital(const mts_engine_t *e, int32_t k) {
    return k < e->n_account ? e->cfg.initial_capital * e->alloc[k] : e->shadow_cap[k];
}

static int start(mts_engine_t *e) {
    int64_t total = 0;
    for (int32_t i = 0; i < e->n_assets; i++) total += e->assets[i].bars->n;
    mts_portfolio_t pf[MTS_ENGINE_MAX_BOOKS];
    int rc = MTS_OK;
    int32_t made = 0;
    /* one book, one fixed asset: the steps are its bars, so the equity curve
     * borrows their times and keeps only its values (portfolio.h); else room
     * for a point per bar */
    const asset_t *a0 = e->n_assets == 1 ? &e->assets[0] : NULL;
    for (int32_t k = 0; k < e->n_books && !rc; k++) {
        rc = mts_portfolio_init(&pf[k], book_capital(e, k), e->n_assets);
        if (rc) break;
        made++;
        pf[k].book = k;
        for (int32_t i = 0; i < e->n_assets && !rc; i++) {
            const mts_instrument_t *in = &e->assets[i].inst;
            rc = mts_portfolio_set_instrument(&pf[k], i, in->type == MTS_INST_PERP, in->contract_size, e->lev);
        }
        if (rc) break;
        if (a0 && !a0->wbars && a0->bars->n > 0) {
            rc = mts_portfolio_share_equity_ts(&pf[k], a0->bars->ts, a0->bars->n);
            if (!rc) rc = mts_portfolio_reserve(&pf[k], 0, 64);
        } else rc = mts_portfolio_reserve(&pf[k], total + 1, 64);
    }
    if (!rc && e->multi && e->acct.cap < total + 1) {
        int64_t cap = total + 1;
        int64_t *ts = mts_realloc(e->acct.ts, (size_t)cap * sizeof *ts);
        if (ts) e->acct.ts = ts;
        double *v = ts ? mts_realloc(e->acct.v, (size_t)cap * sizeof *v) : NULL;
        if (v) { e->acct.v = v; e->acct.cap = cap; }
        else rc = MTS_ENOMEM;
    }
    if (rc) {
        for (int32_t k = 0; k < made; k++) mts_portfolio_free(&pf[k]);
        return fail(e, rc, "start: %s", mts_strerror(rc));
    }
    for (int32_t k = 0; k < e->n_books; k++) {
        mts_portfolio_free(&e->bk[k]);
        e->bk[k] = pf[k];
    }
    e->acct.n = 0;
    /* room for one MARKET event per asset besides the ORDER events already
     * queued, so the pushes below cannot fail and a failed start can be retried */
    rc = mts_queue_reserve(&e->q, e->q.n + (int64_t)e->n_assets + 16);
    if (rc) return fail(e, rc, "start: %s", mts_strerror(rc));
    for (int32_t i = 0; i < e->n_assets; i++) {
        asset_t *a = &e->assets[i];
        a->next_idx = 0;
        a->fidx = 0;
        if (a->bars->n > 0) (void)mts_queue_push(&e->q, a->bars->ts[0], MTS_QEV_MARKET, i, 0);
    }
    /* orders submitted before the start were queued against bar 0 already */
    e->started = 1;
    return MTS_OK;
}

static inline double sgn(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

static int log_fill(mts_engine_t *e, int32_t book, int32_t ai, int64_t ts, double qty, double price, double fee,
                    double realized, int32_t kind, int32_t strategy, int32_t reason, double funding) {
    if (e->n_fill_log == e->cap_fill_log) {
        int64_t cap = e->cap_fill_log ? e->cap_fill_log * 2 : 64;
        mts_fill_rec_t *f = mts_realloc(e->fill_log, (size_t)cap * sizeof *f);
        if (!f) return fail(e, MTS_ENOMEM, "fill log: out of memory");
        e->fill_log = f;
        e->cap_fill_log = cap;
    }
    mts_fill_rec_t *r = &e->fill_log[e->n_fill_log++];
    r->asset = ai;
    r->kind = kind;
    r->ts = ts;
    r->qty = qty;
    r->price = price;
    r->fee = fee;
    r->realized_pnl = realized;
    r->book = book;
    r->strategy = strategy;
    r->reason = reason;
    r->_pad = 0;
    r->funding = funding;
    return MTS_OK;
}

static int32_t kind_reason(int32_t kind) {
    switch (kind) {
    case MTS_FILL_STOP_LOSS: return MTS_REASON_STOP_LOSS;
    case MTS_FILL_TAKE_PROFIT: return MTS_REASON_TAKE_PROFIT;
    case MTS_FILL_LIQUIDATION: return MTS_REASON_LIQUIDATION;
    default: return MTS_REASON_SIGNAL;
    }
}

/* One fill of qty at price into a book (no checks: the caller decided the qty). */
static int do_fill(mts_engine_t *e, int32_t book, int32_t ai, int64_t ts, double qty, double price, int32_t kind,
                   int32_t strategy) {
    const asset_t *a = &e->assets[ai];
    mts_portfolio_t *pf = &e->bk[book];
    mts_position_t *pos = &pf->pos[ai];
    double fee = fabs(qty) * pos->cs * price * (kind == MTS_FILL_LIMIT ? a->maker : a->taker);
    double before = e->keep_fills ? pos->realized_pnl : 0;
    int64_t nt = pf->n_trades;
    int32_t reason = kind_reason(kind);
    if (strategy < 0 && kind >= MTS_FILL_STOP_LOSS) strategy = pos->strategy;
    int rc = kind == MTS_FILL_LIQUIDATION ? mts_portfolio_liquidate(pf, ai, ts, price, fee)
                                          : mts_portfolio_fill_ex(pf, ai, ts, qty, price, fee, strategy, reason);
    if (rc) return fail(e, rc, "fill %s qty %g at %g: %s", a->name, qty, price, mts_strerror(rc));
    if (book < e->n_account) e->fills++;    /* the account's count (shadows: pf->fills) */
    pf->fills++;
    if (e->keep_fills) {
        double fund = 0;
        for (int64_t k = nt; k < pf->n_trades; k++) fund += pf->trades[k].funding;
        return log_fill(e, book, ai, ts, qty, price, fee, pos->realized_pnl - before, kind, strategy, reason, fund);
    }
    return MTS_OK;
}

/* After an order's fill: SL/TP of the resulting position from the order. */
static void apply_exits(mts_position_t *pos, const mts_order_t *o, double prev_qty) {
    if (pos->qty == 0) { pos->stop_loss = pos->take_profit = 0; return; }
    int fresh = prev_qty == 0 || sgn(prev_qty) != sgn(pos->qty);
    int lng = pos->qty > 0;
    double avg = pos->avg_cost;
    if (o->stop_loss > 0) pos->stop_loss = o->stop_loss;
    else if (o->stop_loss_pct > 0) pos->stop_loss = lng ? avg * (1 - o->stop_loss_pct) : avg * (1 + o->stop_loss_pct);
    else if (fresh) pos->stop_loss = 0;
    if (o->take_profit > 0) pos->take_profit = o->take_profit;
    else if (o->take_profit_pct > 0) pos->take_profit = lng ? avg * (1 + o->take_profit_pct) : avg * (1 - o->take_profit_pct);
    else if (fresh) pos->take_profit = 0;
}

/* |q| rounded down to a multiple of lot (0: none); the 1e-9 absorbs 0.3/0.1 = 2.9999999999999996. */
static double lot_down(double q, double lot) {
    if (!(lot > 0)) return q;
    double n = floor(fabs(q) / lot + 1e-9);
    return n > 0 ? copysign(n * lot, q) : 0.0;
}

/* The quantity an order of qty at px may fill in its book (engine.h, rule 1): the
 * lot, the spot short rule, buying power. 0: refused (counted). */
static double allowed_qty(mts_engine_t *e, int32_t book, int32_t ai, double qty, double px, double fr) {
    const asset_t *a = &e->assets[ai];
    mts_portfolio_t *pf = &e->bk[book];
    const mts_position_t *pos = &pf->pos[ai];
    const double lot = a->inst.lot_size, cs = pos->cs;
    double want = lot_down(qty, lot);
    if (want == 0) { pf->lot_refused++; return 0; }
    double q = pos->qty;
    if (!pos->perp && want < 0 && -want > q) {      /* a spot sell beyond the long */
        pf->short_refused++;
        if (!(q > 0)) return 0;
        want = -q;
    }
    int reduces = q != 0 && ((q > 0) != (want > 0));
    double aw = fabs(want);
    double closing = reduces ? fmin(aw, fabs(q)) : 0;
    double opening = aw - closing;
    if (!(opening > 0)) return want;
    double avail = pf->cash - mts_portfolio_margin(pf);
    if (closing > 0) {      /* a flip (perp): the closing part frees its margin and realises */
        double gross = fabs(q) * cs * (px - pos->avg_cost) * (q > 0 ? 1.0 : -1.0);
        avail += pos->margin + gross - closing * cs * px * fr;
    }
    double unit = pos->perp ? cs * px / pos->lev + cs * px * fr : cs * px + cs * px * fr;
    if (opening * unit <= avail) return want;
    double fit = avail > 0 ? avail / unit : 0;
    if (fit > 0) {
        /* never on credit: step down until the cost is within available */
        for (int k = 0; k < 64 && fit * unit > avail; k++) fit = nextafter(fit, 0);
        if (lot > 0) fit = floor(fit / lot) * lot;
    }
    double s = want > 0 ? 1.0 : -1.0;
    if (!(fit > 0)) {
        if (closing > 0) { pf->bp_cut++; return s * closing; }
        pf->bp_refused++;
        return 0;
    }
    pf->bp_cut++;
    return s * (closing + fit);
}

/* A LIMIT/STOP price on the instrument's tick: buy limit / sell stop down, sell limit / buy stop up. */
static double tick_price(const asset_t *a, const mts_order_t *o) {
    double t = a->inst.tick_size, p = o->price;
    if (!(t > 0)) return p;
    int down = (o->type == MTS_ORDER_LIMIT) == (o->qty > 0);
    double n = p / t;
    double r = down ? floor(n + 1e-9) : ceil(n - 1e-9);
    if (r < 1) r = 1;
    return r * t;
}

/* Fill the active orders of asset ai against bar i. */
static int fill_orders(mts_engine_t *e, int32_t ai, int64_t i) {
    asset_t *a = &e->assets[ai];
    const mts_bars_t *b = a->bars;
    double op = b->open[i], hi = b->high[i], lo = b->low[i];
    int64_t ts = b->ts[i];
    if (!isfinite(op) || !(op > 0) || !isfinite(hi) || !isfinite(lo)) return MTS_OK;  /* no trading on a bad bar */
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t k = 0; k < a->n_orders; k++) {
            order_slot_t *s = &a->orders[k];
            if (!s->active) continue;
            const mts_order_t *o = &s->o;
            int is_market = o->type == MTS_ORDER_MARKET;
            if ((pass == 0) != is_market) continue;
            int buy = o->qty > 0;
            double px;
            if (is_market) {
                px = buy ? op * (1 + e->slip) : op * (1 - e->slip);
            } else if (o->type == MTS_ORDER_LIMIT) {
                double lp = tick_price(a, o);
                if (buy ? !(lo <= lp) : !(hi >= lp)) continue;
                px = buy ? fmin(op, lp) : fmax(op, lp);
            } else {  /* STOP */
                double sp = tick_price(a, o);
                if (buy ? !(hi >= sp) : !(lo <= sp)) continue;
                px = buy ? fmax(op, sp) * (1 + e->slip) : fmin(op, sp) * (1 - e->slip);
            }
            int32_t bk = o->book;
            mts_position_t *pos = &e->bk[bk].pos[ai];
            double qty = allowed_qty(e, bk, ai, o->qty, px, o->type == MTS_ORDER_LIMIT ? a->maker : a->taker);
            s->active = -1;   /* filled (or refused): removed below */
            if (qty == 0) continue;
            double prev = pos->qty;
            int rc = do_fill(e, bk, ai, ts, qty, px, o->type, o->strategy);
            if (rc) return rc;
            apply_exits(pos, o, prev);
        }
    }
    int32_t w = 0, act = 0;
    for (int32_t k = 0; k < a->n_orders; k++) {
        if (a->orders[k].active < 0) continue;
        if (a->orders[k].active) act++;
        if (w != k) a->orders[w] = a->orders[k];
        w++;
    }
    a->n_orders = w;
    a->n_active = act;
    return MTS_OK;
}

/* Liquidation (perp), then stop-loss / take-profit of book bk's position in asset ai against bar i. */
static int check_exits(mts_engine_t *e, int32_t bk, int32_t ai, int64_t i) {
    const asset_t *a = &e->assets[ai];
    const mts_bars_t *b = a->bars;
    mts_position_t *pos = &e->bk[bk].pos[ai];
    double op = b->open[i], hi = b->high[i], lo = b->low[i];
    if (!isfinite(op) || !(op > 0) || !isfinite(hi) || !isfinite(lo)) return MTS_OK;
    double sl = pos->stop_loss, tp = pos->take_profit, px;
    int32_t kind;
    if (pos->perp) {
        double mmr = a->inst.maintenance_margin_rate, aq = fabs(pos->qty), k = aq * pos->cs;
        if (pos->qty > 0) {
            double pl = (pos->avg_cost - pos->margin / k) / (1 - mmr);
            if (pl > 0 && lo <= pl && !(sl > 0 && sl >= pl)) {
                int rc = do_fill(e, bk, ai, b->ts[i], -pos->qty, fmin(op, pl), MTS_FILL_LIQUIDATION, -1);
                if (rc) return rc;
                e->bk[bk].liquidations++;
                return MTS_OK;
            }
        } else {
            double ps = (pos->avg_cost + pos->margin / k) / (1 + mmr);
            if (hi >= ps && !(sl > 0 && sl <= ps)) {
                int rc = do_fill(e, bk, ai, b->ts[i], -pos->qty, fmax(op, ps), MTS_FILL_LIQUIDATION, -1);
                if (rc) return rc;
                e->bk[bk].liquidations++;
                return MTS_OK;
            }
        }
        if (!(sl > 0 || tp > 0)) return MTS_OK;
    }
    if (pos->qty > 0) {
        if (sl > 0 && lo <= sl) { px = fmin(op, sl) * (1 - e->slip); kind = MTS_FILL_STOP_LOSS; }
        else if (tp > 0 && hi >= tp) { px = fmax(op, tp); kind = MTS_FILL_TAKE_PROFIT; }
        else return MTS_OK;
    } else {
        if (sl > 0 && hi >= sl) { px = fmax(op, sl) * (1 + e->slip); kind = MTS_FILL_STOP_LOSS; }
        else if (tp > 0 && lo <= tp) { px = fmin(op, tp); kind = MTS_FILL_TAKE_PROFIT; }
        else return MTS_OK;
    }
    int rc = do_fill(e, bk, ai, b->ts[i], -pos->qty, px, kind, -1);
    if (rc) return rc;
    pos->stop_loss = pos->take_profit = 0;
    return MTS_OK;
}

/* Funding events of asset ai up to bar i's ts (engine.h rule 0). */
static void settle_funding(mts_engine_t *e, int32_t ai, int64_t i) {
    asset_t *a = &e->assets[ai];
    const mts_funding_events_t *f = a->fund;
    const mts_bars_t *b = a->bars;
    int64_t T = b->ts[i], first = b->ts[0];
    while (a->fidx < f->n && f->ts[a->fidx] <= T) {
        int64_t k = a->fidx++;
        if (f->ts[k] < first || a->inst.type != MTS_INST_PERP) continue;
        double rate = f->rate[k], m = f->mark ? f->mark[k] : NAN;
        for (int32_t bk = 0; bk < e->n_books; bk++) {
            mts_position_t *pos = &e->bk[bk].pos[ai];
            if (pos->qty == 0) continue;
            (void)mts_portfolio_fund(&e->bk[bk], ai, isfinite(m) && m > 0 ? m : pos->mark, rate);
        }
    }
}

/* The account's equity: the account's books + the unallocated cash (never a shadow book). */
static double account_equity(const mts_engine_t *e) {
    double eq = e->unalloc;
    for (int32_t k = 0; k < e->n_account; k++) eq += mts_portfolio_equity(&e->bk[k]);
    return eq;
}

static int record_step(mts_engine_t *e) {
    for (int32_t k = 0; k < e->n_books; k++) {
        int rc = mts_portfolio_record_equity(&e->bk[k], e->step_ts);
        if (rc) return fail(e, rc, "record equity: %s", mts_strerror(rc));
    }
    if (!e->multi) return MTS_OK;
    mts_series_t *c = &e->acct;
    double v = account_equity(e);
    if (c->n > 0 && c->ts[c->n - 1] == e->step_ts) { c->v[c->n - 1] = v; return MTS_OK; }
    if (c->n == c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 256;
        int64_t *ts = mts_realloc(c->ts, (size_t)cap * sizeof *ts);
        if (!ts) return fail(e, MTS_ENOMEM, "record equity: out of memory");
        c->ts = ts;
        double *vv = mts_realloc(c->v, (size_t)cap * sizeof *vv);
        if (!vv) return fail(e, MTS_ENOMEM, "record equity: out of memory");
        c->v = vv;
        c->cap = cap;
    }
    c->ts[c->n] = e->step_ts;
    c->v[c->n++] = v;
    return MTS_OK;
}

static int activate_order(mts_engine_t *e, int32_t ai, uint64_t id) {
    asset_t *a = &e->assets[ai];
    for (int32_t k = 0; k < a->n_orders; k++)
        if (a->orders[k].id == id) {
            if (!a->orders[k].active) { a->orders[k].active = 1; a->n_active++; }
            return MTS_OK;
        }
    return MTS_OK;   /* cancelled meanwhile */
}

int mts_engine_next(mts_engine_t *e, mts_event_t *ev) {
    if (!e || !ev) return MTS_EINVAL;
    if (!e->started) {
        int rc = start(e);
        if (rc) return rc;
    }
    for (;;) {
        const mts_qev_t *top = mts_queue_peek(&e->q);
        if (e->in_step && (!top || top->ts != e->step_ts)) {
            e->in_step = 0;
            int rc = record_step(e);
            if (rc) return rc;
            if (!e->step_events) continue;
            ev->kind = MTS_EV_STEP_END;
            ev->asset = -1;
            ev->index = -1;
            ev->ts = e->step_ts;
            return 1;
        }
        if (!top) {
            e->done = 1;
            ev->kind = MTS_EV_NONE;
            ev->asset = -1;
            ev->index = -1;
            ev->ts = e->step_ts;
            return 0;
        }
        if (top->kind == MTS_QEV_ORDER) {
            int32_t ai = top->asset;
            uint64_t id = (uint64_t)top->index;
            mts_queue_pop(&e->q, NULL);
            activate_order(e, ai, id);
            continue;
        }
        /* MARKET: asset's bar i */
        int32_t ai = top->asset;
        int64_t i = top->index;
        int64_t ts = top->ts;
        asset_t *a = &e->assets[ai];
        const mts_bars_t *b = a->bars;
        if (!e->in_step) { e->in_step = 1; e->step_ts = ts; }
        if (i + 1 < b->n) mts_queue_replace_top(&e->q, b->ts[i + 1], MTS_QEV_MARKET, ai, i + 1);
        else mts_queue_pop(&e->q, NULL);
        a->next_idx = i + 1;
        if (a->fund && a->fidx < a->fund->n && a->fund->ts[a->fidx] <= ts) settle_funding(e, ai, i);
        if (a->n_active) {
            int rc = fill_orders(e, ai, i);
            if (rc) return rc;
        }
        double c = b->close[i];
        for (int32_t bk = 0; bk < e->n_books; bk++) {
            mts_position_t *pos = &e->bk[bk].pos[ai];
            if (pos->qty != 0 && (pos->perp || pos->stop_loss > 0 || pos->take_profit > 0)) {
                int rc = check_exits(e, bk, ai, i);
                if (rc) return rc;
            }
            if (isfinite(c)) pos->mark = c;
            if (pos->qty != 0) mts_portfolio_extremes(pos, b->low[i], b->high[i]);
        }
        if ((++e->bars_done & 0x3FF) == 0) {
            if (e->cancel && *e->cancel) {        /* the run ends here, as if out of bars */
                e->cancelled = e->done = 1;
                ev->kind = MTS_EV_NONE;
                ev->asset = -1;
                ev->index = -1;
                ev->ts = ts;
                return 0;
            }
            if ((e->bars_done & 0xFFFF) == 0 && e->progress)
                mts_progress_update(e->progress, e->bars_done);
        }
        ev->kind = MTS_EV_BAR;
        ev->asset = ai;
        ev->index = i;
        ev->ts = ts;
        return 1;
    }
}

/* Quiet bars (the runner's fast path; engine.h). After next() returned bar i
 * of asset a, with step events off: the bars of a after i that next() would
 * return one per step with nothing to do but the mark and the step's equity
 * point. That holds while the queue has only a's MARKET event (no other
 * asset has bars left, no ORDER event), a has no orders and is not live, and
 * the position has no stop-loss / take-profit to watch; the run stops before
 * the bar whose count is a multiple of 1024 (next() checks the cancel flag
 * and the progress bar there). */
int64_t mts_engine_quiet(const mts_engine_t *e, int32_t asset, int64_t max) {
    if (!e || !e->started || !e->in_step || e->done || e->step_events || max <= 0 || e->q.n != 1) return 0;
    const mts_qev_t *top = &e->q.heap[0];
    if (top->kind != MTS_QEV_MARKET || top->asset != asset || top->ts <= e->step_ts) return 0;
    const asset_t *a = &e->assets[top->asset];
    if (a->n_orders || a->wbars || e->multi || e->n_books > 1) return 0;   /* skip() moves book 0 only */
    const mts_position_t *pos = &e->bk[0].pos[top->asset];
    if (pos->qty != 0 && (pos->perp || pos->stop_loss > 0 || pos->take_profit > 0)) return 0;
    int64_t k = a->bars->n - top->index;                      /* bars left */
    int64_t room = 1023 - (e->bars_done & 0x3FF);             /* before the next check */
    if (k > room) k = room;
    if (k > max) k = max;
    return k > 0 ? k : 0;
}

/* Exactly what k calls of next() returning the next k quiet bars do (step
 * events off): per bar, the previous step's equity point, the queue moved to
 * the following bar, the mark at the close. k <= mts_engine_quiet(e, k). */
int mts_engine_skip(mts_engine_t *e, int32_t asset, int64_t k) {
    if (!e) return MTS_EINVAL;
    if (k <= 0) return MTS_OK;
    if (mts_engine_quiet(e, asset, k) < k)
        return fail(e, MTS_EINVAL, "skip: the next %lld bars of asset %d are not quiet", (long long)k, asset);
    int32_t ai = asset;
    asset_t *a = &e->assets[ai];
    const mts_bars_t *b = a->bars;
    mts_portfolio_t *pf = &e->bk[0];
    mts_position_t *pos = &pf->pos[ai];
    const int64_t start = e->q.heap[0].index, end = start + k;
    const int single = e->n_assets == 1;
    const double qcs = pos->qty * pos->cs;    /* a spot position (quiet() refuses an open perp) */
    for (int64_t i = start; i < end; i++) {
        /* the step's equity point: what mts_portfolio_record_equity appends
         * (one asset: mts_portfolio_equity's one term), inline while the
         * curve has room and the step is a new one */
        double v = pf->cash;
        if (pos->qty != 0) v += qcs * pos->mark;
        if (!single || !mts_portfolio_append_equity(pf, e->step_ts, v)) {
            int rc = mts_portfolio_record_equity(pf, e->step_ts);
            if (rc) return fail(e, rc, "record equity: %s", mts_strerror(rc));
        }
        e->step_ts = b->ts[i];
        double c = b->close[i];
        if (isfinite(c)) pos->mark = c;
    }
    if (pos->qty != 0) {     /* the MAE/MFE range over the skipped bars */
        double lo = pos->lo, hi = pos->hi;
        for (int64_t i = start; i < end; i++) {
            if (b->low[i] < lo) lo = b->low[i];
            if (b->high[i] > hi) hi = b->high[i];
        }
        pos->lo = lo;
        pos->hi = hi;
    }
    /* funding settlements among the skipped bars pay nothing (no perp position): passed */
    if (a->fund) {
        int64_t last = b->ts[end - 1];
        while (a->fidx < a->fund->n && a->fund->ts[a->fidx] <= last) a->fidx++;
    }
    /* the asset's MARKET event moves to bar `end` (or leaves): what next()'s
     * k replace_top / pop calls did, sequence numbers included */
    e->q.seq += (uint64_t)(k - 1);
    if (end < b->n) mts_queue_replace_top(&e->q, b->ts[end], MTS_QEV_MARKET, ai, end);
    else mts_queue_pop(&e->q, NULL);
    int64_t i = end;
    a->next_idx = i;
    e->bars_done += k;
    return MTS_OK;
}

int mts_engine_submit(mts_engine_t *e, const mts_order_t *o) {
    if (!e) return MTS_EINVAL;
    if (!o) return fail(e, MTS_EINVAL, "submit: no order");
    if (o->asset < 0 || o->asset >= e->n_assets) return fail(e, MTS_EINVAL, "submit: unknown asset %d", o->asset);
    if (o->type != MTS_ORDER_MARKET && o->type != MTS_ORDER_LIMIT && o->type != MTS_ORDER_STOP)
        return fail(e, MTS_EINVAL, "submit: unknown order type %d", o->type);
    if (!isfinite(o->qty) || o->qty == 0) return fail(e, MTS_EINVAL, "submit: qty must be finite and non-zero");
    if (o->book < 0 || o->book >= e->n_books)
        return fail(e, MTS_EINVAL, "submit: unknown book %d (%d books)", o->book, e->n_books);
    if (o->type != MTS_ORDER_MARKET && (!isfinite(o->price) || !(o->price > 0)))
        return fail(e, MTS_EINVAL, "submit: %s order needs a price > 0",
                    o->type == MTS_ORDER_LIMIT ? "limit" : "stop");
    if (!(o->stop_loss >= 0) || !isfinite(o->stop_loss) || !(o->take_profit >= 0) || !isfinite(o->take_profit) ||
        !(o->stop_loss_pct >= 0) || !isfinite(o->stop_loss_pct) || !(o->take_profit_pct >= 0) ||
        !isfinite(o->take_profit_pct))
        return fail(e, MTS_EINVAL, "submit: stop_loss/take_profit (and _pct) must be finite and >= 0");
    /* magnitudes: finite is not enough (qty 1e308 overflows cash at the fill) */
    if (fabs(o->qty) > MTS_ENGINE_MAX_QTY)
        return fail(e, MTS_ERANGE, "submit: qty %g out of range (|qty| <= %g)", o->qty, MTS_ENGINE_MAX_QTY);
    if (o->type != MTS_ORDER_MARKET && o->price > MTS_ENGINE_MAX_PRICE)
        return fail(e, MTS_ERANGE, "submit: %s price %g out of range (<= %g)",
                    o->type == MTS_ORDER_LIMIT ? "limit" : "stop", o->price, MTS_ENGINE_MAX_PRICE);
    if (o->stop_loss > MTS_ENGINE_MAX_PRICE || o->take_profit > MTS_ENGINE_MAX_PRICE)
        return fail(e, MTS_ERANGE, "submit: stop_loss %g / take_profit %g out of range (<= %g)",
                    o->stop_loss, o->take_profit, MTS_ENGINE_MAX_PRICE);
    asset_t *a = &e->assets[o->asset];
    const mts_bars_t *b = a->bars;
    /* the asset's first bar after now (before the start: its first bar) */
    int64_t j = e->started ? a->next_idx : 0;
    if (e->started)   /* skip this step's bar if it has not been processed yet */
        while (j < b->n && b->ts[j] <= e->step_ts) j++;
    /* notional at the order's price, or a market order's latest close */
    double ref = o->type != MTS_ORDER_MARKET ? o->price : (j > 0 ? b->close[j - 1] : NAN);
    if (isfinite(ref) && ref > 0 && fabs(o->qty) * ref > MTS_ENGINE_MAX_PRICE)
        return fail(e, MTS_ERANGE, "submit: notional |qty| x price = %g x %g out of range (<= %g)",
                    fabs(o->qty), ref, MTS_ENGINE_MAX_PRICE);
    if (a->n_orders == a->cap_orders) {
        int32_t cap = a->cap_orders ? a->cap_orders * 2 : 4;
        order_slot_t *s = mts_realloc(a->orders, (size_t)cap * sizeof *s);
        if (!s) return fail(e, MTS_ENOMEM, "submit: out of memory");
        a->orders = s;
        a->cap_orders = cap;
    }
    uint64_t id = e->next_order_id++;
    if (j < b->n) {
        int rc = mts_queue_push(&e->q, b->ts[j], MTS_QEV_ORDER, o->asset, (int64_t)id);
        if (rc) return fail(e, rc, "submit: %s", mts_strerror(rc));
    }
    /* no bar after now yet: a live asset queues the order with its next
     * appended bar (mts_engine_append_bar); a fixed one never fills it */
    order_slot_t *s = &a->orders[a->n_orders++];
    s->o = *o;
    s->id = id;
    s->active = 0;
    s->queued = j < b->n;
    return MTS_OK;
}

int mts_engine_cancel(mts_engine_t *e, int32_t asset) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "cancel: unknown asset %d", asset);
    e->assets[asset].n_orders = 0;
    e->assets[asset].n_active = 0;
    return MTS_OK;   /* their queued ORDER events find nothing and are skipped */
}

/* Only book's orders on the asset (independent books: one strategy's CLOSE
 * must not withdraw another's resting entry); the others keep their place. */
int mts_engine_cancel_book(mts_engine_t *e, int32_t asset, int32_t book) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "cancel: unknown asset %d", asset);
    if (book < 0 || book >= e->n_books) return fail(e, MTS_EINVAL, "cancel: unknown book %d", book);
    asset_t *a = &e->assets[asset];
    int32_t w = 0, act = 0;
    for (int32_t k = 0; k < a->n_orders; k++) {
        if (a->orders[k].o.book == book) continue;
        if (a->orders[k].active) act++;
        if (w != k) a->orders[w] = a->orders[k];
        w++;
    }
    a->n_orders = w;
    a->n_active = act;
    return MTS_OK;   /* the removed orders' queued ORDER events find nothing */
}

void mts_engine_step_events(mts_engine_t *e, int32_t on) {
    if (e) e->step_events = on != 0;
}

void mts_engine_set_cancel(mts_engine_t *e, const volatile sig_atomic_t *flag) {
    if (e) e->cancel = flag;
}

int mts_engine_cancelled(const mts_engine_t *e) { return e ? e->cancelled : 0; }

int64_t mts_engine_bars_done(const mts_engine_t *e) { return e ? e->bars_done : 0; }

void mts_engine_set_progress(mts_engine_t *e, mts_progress_t *p) {
    if (e) e->progress = p;
}

int32_t mts_engine_asset_count(const mts_engine_t *e) { return e ? e->n_assets : 0; }

const char *mts_engine_asset_name(const mts_engine_t *e, int32_t asset) {
    if (!e || asset < 0 || asset >= e->n_assets) return NULL;
    return e->assets[asset].name;
}

int32_t mts_engine_asset_id(const mts_engine_t *e, const char *name) {
    if (!e || !name) return MTS_EINVAL;
    for (int32_t i = 0; i < e->n_assets; i++)
        if (strcmp(e->assets[i].name, name) == 0) return i;
    return MTS_ENOTFOUND;
}

const mts_bars_t *mts_engine_bars(const mts_engine_t *e, int32_t asset) {
    if (!e || asset < 0 || asset >= e->n_assets) return NULL;
    return e->assets[asset].bars;
}

const mts_series_t *mts_engine_macro(const mts_engine_t *e, const char *name) {
    if (!e || !name) return NULL;
    for (int32_t i = 0; i < e->n_macros; i++)
        if (strcmp(e->macros[i].name, name) == 0) return e->macros[i].s;
    return NULL;
}

/* Position of a valid asset in a book; before the start the books have no slots yet. */
static const mts_position_t *position(const mts_engine_t *e, int32_t book, int32_t asset) {
    if (!e || asset < 0 || asset >= e->n_assets || book < 0 || book >= e->n_books) return NULL;
    static const mts_position_t flat = {0};
    return asset < e->bk[book].n_assets ? &e->bk[book].pos[asset] : &flat;
}

double mts_engine_position(const mts_engine_t *e, int32_t asset) {
    const mts_position_t *p = position(e, 0, asset);
    if (!p) return NAN;
    double q = p->qty;
    for (int32_t k = 1; k < e->n_account; k++) q += position(e, k, asset)->qty;
    return q;
}

double mts_engine_avg_cost(const mts_engine_t *e, int32_t asset) {
    const mts_position_t *p = position(e, 0, asset);
    if (!p) return NAN;
    if (e->n_account == 1) return p->avg_cost;
    double q = 0, qa = 0;    /* several books: the quantity-weighted average of their costs */
    for (int32_t k = 0; k < e->n_account; k++) {
        const mts_position_t *x = position(e, k, asset);
        q += x->qty;
        qa += x->qty * x->avg_cost;
    }
    return q != 0 ? qa / q : 0.0;
}

double mts_engine_mark(const mts_engine_t *e, int32_t asset) {
    const mts_position_t *p = position(e, 0, asset);
    return p ? p->mark : NAN;
}

double mts_engine_equity(const mts_engine_t *e) {
    if (!e) return NAN;
    return e->multi ? account_equity(e) : mts_portfolio_equity(&e->bk[0]);
}

double mts_engine_cash(const mts_engine_t *e) {
    if (!e) return NAN;
    if (!e->multi) return e->bk[0].cash;
    double c = e->unalloc;
    for (int32_t k = 0; k < e->n_account; k++) c += e->bk[k].cash;
    return c;
}

int64_t mts_engine_now(const mts_engine_t *e) { return e && e->started ? e->step_ts : 0; }

/* ---- books, instruments, funding (engine.h) ---- */

int mts_engine_set_books(mts_engine_t *e, int32_t n, const double *alloc) {
    if (!e) return MTS_EINVAL;
    if (e->started) return fail(e, MTS_EINVAL, "set_books: the run has started");
    if (e->n_books > e->n_account)
        return fail(e, MTS_EINVAL, "set_books: %d shadow book(s) added already: call set_books before "
                    "mts_engine_add_shadow_book", e->n_books - e->n_account);
    if (n < 1 || n > MTS_ENGINE_MAX_BOOKS)
        return fail(e, MTS_EINVAL, "set_books: %d books (1..%d)", n, MTS_ENGINE_MAX_BOOKS);
    if (!alloc && n != 1) return fail(e, MTS_EINVAL, "set_books: %d books need their allocations", n);
    double sum = 0;
    for (int32_t k = 0; alloc && k < n; k++) {
        if (!isfinite(alloc[k]) || !(alloc[k] > 0))
            return fail(e, MTS_EINVAL, "set_books: allocation of book %d is %g (must be > 0)", k, alloc[k]);
        sum += alloc[k];
    }
    if (alloc && sum > 1 + 1e-9)
        return fail(e, MTS_EINVAL, "set_books: the allocations sum to %.12g (> 1)", sum);
    mts_portfolio_t *bk = mts_calloc((size_t)n, sizeof *bk);
    if (!bk) return fail(e, MTS_ENOMEM, "set_books: out of memory");
    for (int32_t k = 0; k < n; k++) {
        double f = alloc ? alloc[k] : 1.0;
        int rc = mts_portfolio_init(&bk[k], e->cfg.initial_capital * f, 0);
        if (rc) {
            for (int32_t j = 0; j < k; j++) mts_portfolio_free(&bk[j]);
            mts_free(bk);
            return fail(e, rc, "set_books: %s", mts_strerror(rc));
        }
        bk[k].book = k;
    }
    for (int32_t k = 0; k < e->n_books; k++) mts_portfolio_free(&e->bk[k]);
    mts_free(e->bk);
    e->bk = bk;
    e->n_books = e->n_account = n;
    double used = 0;
    for (int32_t k = 0; k < n; k++) {
        e->alloc[k] = alloc ? alloc[k] : 1.0;
        used += e->cfg.initial_capital * e->alloc[k];
    }
    e->unalloc = e->cfg.initial_capital - used;
    if (e->unalloc < 0) e->unalloc = 0;    /* within the 1e-9 tolerance */
    e->multi = n > 1 || e->unalloc != 0;
    return MTS_OK;
}

int32_t mts_engine_book_count(const mts_engine_t *e) { return e ? e->n_books : 0; }

int32_t mts_engine_account_books(const mts_engine_t *e) { return e ? e->n_account : 0; }

int mts_engine_book_is_shadow(const mts_engine_t *e, int32_t book) {
    return e && book >= e->n_account && book < e->n_books;
}

int mts_engine_add_shadow_book(mts_engine_t *e, double capital, int32_t *book_out) {
    if (!e) return MTS_EINVAL;
    if (e->started) return fail(e, MTS_EINVAL, "add_shadow_book: the run has started (add shadow books before it)");
    if (!isfinite(capital) || !(capital > 0))
        return fail(e, MTS_EINVAL, "add_shadow_book: capital %g (must be finite and > 0)", capital);
    if (e->n_books >= MTS_ENGINE_MAX_BOOKS)
        return fail(e, MTS_EINVAL, "add_shadow_book: %d books already (at most %d in all, account and shadows)",
                    e->n_books, MTS_ENGINE_MAX_BOOKS);
    int32_t k = e->n_books;
    mts_portfolio_t *bk = mts_realloc(e->bk, (size_t)(k + 1) * sizeof *bk);
    if (!bk) return fail(e, MTS_ENOMEM, "add_shadow_book: out of memory");
    e->bk = bk;
    int rc = mts_portfolio_init(&bk[k], capital, 0);
    if (rc) return fail(e, rc, "add_shadow_book: %s", mts_strerror(rc));
    bk[k].book = k;
    e->shadow_cap[k] = capital;
    e->alloc[k] = 0;         /* not part of the account's allocation */
    e->n_books = k + 1;
    if (book_out) *book_out = k;
    return MTS_OK;
}

const mts_portfolio_t *mts_engine_book(const mts_engine_t *e, int32_t book) {
    if (!e || book < 0 || book >= e->n_books) return NULL;
    return &e->bk[book];
}

double mts_engine_book_position(const mts_engine_t *e, int32_t book, int32_t asset) {
    const mts_position_t *p = position(e, book, asset);
    return p ? p->qty : NAN;
}

double mts_engine_book_equity(const mts_engine_t *e, int32_t book) {
    if (!e || book < 0 || book >= e->n_books) return NAN;
    return mts_portfolio_equity(&e->bk[book]);
}

static void book_stats(const mts_portfolio_t *p, mts_book_stats_t *o) {
    o->initial = p->initial_capital;
    o->cash = p->cash;
    o->equity = mts_portfolio_equity(p);
    o->realized = mts_portfolio_realized(p);
    o->unrealized = mts_portfolio_unrealized(p);
    o->fees = p->total_fees;
    o->funding = p->total_funding;
    o->margin = mts_portfolio_margin(p);
    o->available = o->cash - o->margin;
    o->exposure = mts_portfolio_exposure(p);
    o->fills = p->fills;
    o->trades = p->n_trades;
    o->bp_cut = p->bp_cut;
    o->bp_refused = p->bp_refused;
    o->short_refused = p->short_refused;
    o->lot_refused = p->lot_refused;
    o->liquidations = p->liquidations;
}

int mts_engine_book_stats(const mts_engine_t *e, int32_t book, mts_book_stats_t *out) {
    if (!e || !out || book < -1 || book >= e->n_books) return MTS_EINVAL;
    if (book >= 0) { book_stats(&e->bk[book], out); return MTS_OK; }
    memset(out, 0, sizeof *out);
    out->initial = e->cfg.initial_capital;
    out->cash = out->equity = out->available = e->unalloc;
    for (int32_t k = 0; k < e->n_account; k++) {
        mts_book_stats_t b;
        book_stats(&e->bk[k], &b);
        out->cash += b.cash; out->equity += b.equity; out->realized += b.realized;
        out->unrealized += b.unrealized; out->fees += b.fees; out->funding += b.funding;
        out->margin += b.margin; out->available += b.available; out->exposure += b.exposure;
        out->fills += b.fills; out->trades += b.trades; out->bp_cut += b.bp_cut;
        out->bp_refused += b.bp_refused; out->short_refused += b.short_refused;
        out->lot_refused += b.lot_refused; out->liquidations += b.liquidations;
    }
    return MTS_OK;
}

int mts_engine_set_instrument(mts_engine_t *e, int32_t asset, const mts_instrument_t *ins) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "set_instrument: unknown asset %d", asset);
    if (!ins) return fail(e, MTS_EINVAL, "set_instrument: no instrument");
    const char *nm = e->assets[asset].name;
    if (e->started) return fail(e, MTS_EINVAL, "set_instrument '%s': the run has started", nm);
    if (ins->type != MTS_INST_SPOT && ins->type != MTS_INST_PERP)
        return fail(e, MTS_EINVAL, "set_instrument '%s': type %d (0 spot, 1 perp)", nm, ins->type);
#define FIELD_OK(f, cond) do { if (!isfinite(ins->f) || !(cond)) \
        return fail(e, MTS_EINVAL, "set_instrument '%s': " #f " %g out of range", nm, ins->f); } while (0)
    FIELD_OK(contract_size, ins->contract_size > 0);
    FIELD_OK(tick_size, ins->tick_size >= 0);
    FIELD_OK(lot_size, ins->lot_size >= 0);
    FIELD_OK(maker_fee_bps, ins->maker_fee_bps >= 0 && ins->maker_fee_bps < 1e4);
    FIELD_OK(taker_fee_bps, ins->taker_fee_bps >= 0 && ins->taker_fee_bps < 1e4);
    int perp = ins->type == MTS_INST_PERP;
    FIELD_OK(max_leverage, perp ? ins->max_leverage >= 1 : ins->max_leverage >= 0);
    FIELD_OK(maintenance_margin_rate, ins->maintenance_margin_rate >= 0 && ins->maintenance_margin_rate < 1);
#undef FIELD_OK
    if (perp && e->lev > ins->max_leverage)
        return fail(e, MTS_EINVAL, "leverage %g exceeds %s's max_leverage %g", e->lev, nm, ins->max_leverage);
    asset_t *a = &e->assets[asset];
    a->inst = *ins;
    a->inst._pad = 0;
    if (!perp) { a->inst.max_leverage = 1.0; a->inst.maintenance_margin_rate = 0; }
    a->maker = ins->maker_fee_bps / 1e4;
    a->taker = ins->taker_fee_bps / 1e4;
    return MTS_OK;
}

int mts_engine_instrument(const mts_engine_t *e, int32_t asset, mts_instrument_t *out) {
    if (!e || !out || asset < 0 || asset >= e->n_assets) return MTS_EINVAL;
    *out = e->assets[asset].inst;
    return MTS_OK;
}

double mts_engine_leverage(const mts_engine_t *e) { return e ? e->lev : NAN; }

int mts_engine_set_funding(mts_engine_t *e, int32_t asset, mts_funding_events_t *f) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "set_funding: unknown asset %d", asset);
    asset_t *a = &e->assets[asset];
    if (f) {
        if (f->n < 0 || (f->n > 0 && (!f->ts || !f->rate)))
            return fail(e, MTS_EINVAL, "set_funding '%s': events need ts and rate arrays", a->name);
        for (int64_t k = 1; k < f->n; k++)
            if (f->ts[k] <= f->ts[k - 1])
                return fail(e, MTS_EINVAL, "set_funding '%s': event times must ascend (event %lld)", a->name,
                            (long long)k);
    }
    a->fund = f;
    /* during a run: the settlements not yet due (the ones up to the current bar are past) */
    a->fidx = 0;
    if (f && e->started && a->next_idx > 0) {
        int64_t last = a->bars->ts[a->next_idx - 1];
        while (a->fidx < f->n && f->ts[a->fidx] <= last) a->fidx++;
    }
    return MTS_OK;
}

int mts_engine_append_funding(mts_engine_t *e, int32_t asset, int64_t ts, double rate, double mark) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "append_funding: unknown asset %d", asset);
    asset_t *a = &e->assets[asset];
    if (!isfinite(rate)) return fail(e, MTS_EINVAL, "append_funding '%s': rate must be finite", a->name);
    if (!a->fund) a->fund = &a->own_fund;
    mts_funding_events_t *f = a->fund;
    if (f->n > 0 && ts <= f->ts[f->n - 1])
        return fail(e, MTS_ERANGE, "append_funding '%s': ts %lld is not after the last event (%lld)", a->name,
                    (long long)ts, (long long)f->ts[f->n - 1]);
    if (f->n >= f->cap || !f->mark) {
        int64_t cap = f->n >= f->cap ? (f->cap ? f->cap * 2 : 64) : f->cap;
        int64_t *t = mts_realloc(f->ts, (size_t)cap * sizeof *t);
        if (!t) return fail(e, MTS_ENOMEM, "append_funding: out of memory");
        f->ts = t;
        double *r = mts_realloc(f->rate, (size_t)cap * sizeof *r);
        if (!r) return fail(e, MTS_ENOMEM, "append_funding: out of memory");
        f->rate = r;
        int had_mark = f->mark != NULL;
        double *m = mts_realloc(f->mark, (size_t)cap * sizeof *m);
        if (!m) return fail(e, MTS_ENOMEM, "append_funding: out of memory");
        if (!had_mark) for (int64_t k = 0; k < f->n; k++) m[k] = NAN;
        f->mark = m;
        f->cap = cap;
    }
    f->ts[f->n] = ts;
    f->rate[f->n] = rate;
    f->mark[f->n] = mark;
    f->n++;
    return MTS_OK;
}

const mts_series_t *mts_engine_equity_curve(const mts_engine_t *e) {
    if (!e) return NULL;
    return e->multi ? &e->acct : &e->bk[0].equity;
}

const mts_trade_t *mts_engine_trades(mts_engine_t *e, int64_t *n) {
    if (n) *n = 0;
    if (!e) return NULL;
    if (e->n_account == 1) {
        if (n) *n = e->bk[0].n_trades;
        return e->bk[0].trades;
    }
    int64_t total = 0;
    for (int32_t k = 0; k < e->n_account; k++) total += e->bk[k].n_trades;
    if (total > e->cap_merged) {
        mts_trade_t *t = mts_realloc(e->merged, (size_t)total * sizeof *t);
        if (!t) { fail(e, MTS_ENOMEM, "trades: out of memory"); return NULL; }
        e->merged = t;
        e->cap_merged = total;
    }
    /* k-way merge: each book's trades are in exit_ts order already; ties go to the lower book */
    int64_t at[MTS_ENGINE_MAX_BOOKS] = {0};
    for (int64_t j = 0; j < total; j++) {
        int32_t best = -1;
        for (int32_t k = 0; k < e->n_account; k++) {
            if (at[k] >= e->bk[k].n_trades) continue;
            if (best < 0 || e->bk[k].trades[at[k]].exit_ts < e->bk[best].trades[at[best]].exit_ts) best = k;
        }
        e->merged[j] = e->bk[best].trades[at[best]++];
    }
    e->n_merged = total;
    if (n) *n = total;
    return e->merged;
}

int mts_engine_finish(mts_engine_t *e) {
    if (!e) return MTS_EINVAL;
    e->n_open = 0;
    for (int32_t k = 0; k < e->n_account; k++) {
        const mts_portfolio_t *p = &e->bk[k];
        for (int32_t i = 0; i < p->n_assets; i++) {
            if (p->pos[i].qty == 0) continue;
            if (e->n_open == e->cap_open) {
                int64_t cap = e->cap_open ? e->cap_open * 2 : 16;
                mts_trade_t *t = mts_realloc(e->open_tr, (size_t)cap * sizeof *t);
                if (!t) return fail(e, MTS_ENOMEM, "finish: out of memory");
                e->open_tr = t;
                e->cap_open = cap;
            }
            mts_trade_t *t = &e->open_tr[e->n_open++];
            (void)mts_portfolio_open_trade(p, i, t);
            const asset_t *a = &e->assets[i];
            t->exit_ts = a->next_idx > 0 ? a->bars->ts[a->next_idx - 1] : e->step_ts;
        }
    }
    return MTS_OK;
}

const mts_trade_t *mts_engine_open_trades(const mts_engine_t *e, int64_t *n) {
    if (n) *n = e ? e->n_open : 0;
    return e ? e->open_tr : NULL;
}

int mts_engine_log_signal(mts_engine_t *e, int32_t asset, int32_t strategy, int32_t signal_type,
                          double price, double confidence, double position_size,
                          double stop_loss, double take_profit) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "log_signal: unknown asset %d", asset);
    if (e->n_signals == e->cap_signals) {
        int64_t cap = e->cap_signals ? e->cap_signals * 2 : 256;
        mts_signal_rec_t *s = mts_realloc(e->signals, (size_t)cap * sizeof *s);
        if (!s) return fail(e, MTS_ENOMEM, "log_signal: out of memory");
        e->signals = s;
        e->cap_signals = cap;
    }
    mts_signal_rec_t *r = &e->signals[e->n_signals++];
    r->asset = asset;
    r->strategy = strategy;
    r->signal_type = signal_type;
    r->_pad = 0;
    r->ts = mts_engine_now(e);
    r->price = price;
    r->confidence = confidence;
    r->position_size = position_size;
    r->stop_loss = stop_loss;
    r->take_profit = take_profit;
    return MTS_OK;
}

/* ---- live assets (engine.h) ---- */

int mts_engine_add_live_asset(mts_engine_t *e, const char *name, mts_bars_t *bars, int32_t *id_out) {
    if (!e) return MTS_EINVAL;
    if (bars && (bars->n > bars->cap || bars->cap <= 0 || !bars->ts || !bars->open || !bars->high ||
                 !bars->low || !bars->close || !bars->volume))
        return fail(e, MTS_EINVAL, "add_live_asset '%s': the bars need reserved arrays (cap > 0)",
                    name ? name : "?");
    int32_t id;
    int rc = mts_engine_add_asset(e, name, bars, &id);
    if (rc) return rc;
    e->assets[id].wbars = bars;
    if (id_out) *id_out = id;
    return MTS_OK;
}

int mts_engine_append_bar(mts_engine_t *e, int32_t asset, int64_t ts, double open, double high,
                          double low, double close, double volume) {
    if (!e) return MTS_EINVAL;
    if (asset < 0 || asset >= e->n_assets) return fail(e, MTS_EINVAL, "append_bar: unknown asset %d", asset);
    asset_t *a = &e->assets[asset];
    mts_bars_t *b = a->wbars;
    if (!b) return fail(e, MTS_EINVAL, "append_bar '%s': not a live asset (mts_engine_add_live_asset)", a->name);
    if (b->n > 0 && ts <= b->ts[b->n - 1])
        return fail(e, MTS_ERANGE, "append_bar '%s': ts %lld is not after the last bar (%lld)", a->name,
                    (long long)ts, (long long)b->ts[b->n - 1]);
    if (e->started && ts < e->step_ts)
        return fail(e, MTS_ERANGE, "append_bar '%s': ts %lld is before the current step (%lld): late bar",
                    a->name, (long long)ts, (long long)e->step_ts);
    if (b->n == b->cap)
        return fail(e, MTS_ERANGE, "append_bar '%s': the bar arrays are full (%lld bars reserved)", a->name,
                    (long long)b->cap);
    int64_t i = b->n;
    if (e->started) {
        /* room first, so that a failure leaves the asset as it was */
        int rc = mts_queue_reserve(&e->q, e->q.n + 1 + a->n_orders);
        if (rc) return fail(e, rc, "append_bar: %s", mts_strerror(rc));
    }
    b->ts[i] = ts;
    b->open[i] = open;
    b->high[i] = high;
    b->low[i] = low;
    b->close[i] = close;
    b->volume[i] = volume;
    b->n = i + 1;
    if (!e->started) return MTS_OK;       /* start() queues bar 0 */
    /* re-arm: the asset's MARKET event was gone (all its bars consumed) */
    if (a->next_idx == i) (void)mts_queue_push(&e->q, ts, MTS_QEV_MARKET, asset, i);
    /* orders that were waiting for a bar activate just before this one */
    for (int32_t k = 0; k < a->n_orders; k++) {
        order_slot_t *s = &a->orders[k];
        if (s->queued) continue;
        (void)mts_queue_push(&e->q, ts, MTS_QEV_ORDER, asset, (int64_t)s->id);
        s->queued = 1;
    }
    e->done = 0;
    return MTS_OK;
}

void mts_engine_keep_fills(mts_engine_t *e, int on) {
    if (e) e->keep_fills = on != 0;
}

const mts_fill_rec_t *mts_engine_fills(const mts_engine_t *e, int64_t *n) {
    if (n) *n = e ? e->n_fill_log : 0;
    return e ? e->fill_log : NULL;
}
