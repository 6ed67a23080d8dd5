/* test_engine.c — the backtest engine: event order, fills (market, limit,
 * stop), commission and slippage, stop-loss/take-profit, multi-asset steps and
 * the equity curve. Every expected price and balance is worked out by hand in
 * the comment above its assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define assert_double_equal(a, b, eps) do { double a_ = (a), b_ = (b);                  \
        if (!(a_ == b_) && !(fabs(a_ - b_) <= (eps)))                                    \
            fail_msg("%s = %.15g, expected %.15g (eps %g)", #a, a_, b_, (double)(eps)); \
    } while (0)
#define EPS 1e-6

/* ---- helpers ---- */

typedef struct { double o, h, l, c; } ohlc_t;

static mts_bars_t make_bars(int n, const int64_t *ts, const ohlc_t *x) {
    mts_bars_t b = {0};
    size_t k = n ? (size_t)n : 1;
    b.ts = malloc(k * sizeof *b.ts);
    b.open = malloc(k * sizeof(double));
    b.high = malloc(k * sizeof(double));
    b.low = malloc(k * sizeof(double));
    b.close = malloc(k * sizeof(double));
    b.volume = malloc(k * sizeof(double));
    for (int i = 0; i < n; i++) {
        b.ts[i] = ts[i];
        b.open[i] = x[i].o;
        b.high[i] = x[i].h;
        b.low[i] = x[i].l;
        b.close[i] = x[i].c;
        b.volume[i] = 1;
    }
    b.n = b.cap = n;
    return b;
}

static void free_bars(mts_bars_t *b) {
    free(b->ts); free(b->open); free(b->high); free(b->low); free(b->close); free(b->volume);
}

static mts_engine_t *make_engine(double capital, double comm_bps, double slip_bps) {
    mts_engine_config_t cfg = {capital, comm_bps, slip_bps, 0};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    assert_non_null(e);
    return e;
}

/* next() through the following STEP_END; returns the step's ts. */
static int64_t step(mts_engine_t *e) {
    mts_event_t ev;
    for (;;) {
        assert_int_equal(mts_engine_next(e, &ev), 1);
        if (ev.kind == MTS_EV_STEP_END) return ev.ts;
        assert_int_equal(ev.kind, MTS_EV_BAR);
    }
}

static void finish(mts_engine_t *e) {
    mts_event_t ev;
    int rc;
    while ((rc = mts_engine_next(e, &ev)) == 1) {}
    assert_int_equal(rc, 0);
    assert_int_equal(mts_engine_next(e, &ev), 0);   /* stays done */
}

static mts_order_t market(int32_t asset, double qty) {
    mts_order_t o = {0};
    o.asset = asset;
    o.type = MTS_ORDER_MARKET;
    o.strategy = -1;
    o.qty = qty;
    return o;
}

static mts_order_t priced(int32_t asset, int32_t type, double qty, double price) {
    mts_order_t o = market(asset, qty);
    o.type = type;
    o.price = price;
    return o;
}

/* Issue 12: spot shorts are refused, so the tests of short mechanics (mirrored
 * SL/TP, flips, fills within a bar) trade the asset as a linear perp at
 * leverage 1 (no maintenance margin: never liquidated; the engine's default
 * leverage is 1). Their fills and PnL are the same; a perp fill moves cash by
 * the realised PnL - fee only, so cash equals the old spot cash once flat. */
static void perp1(mts_engine_t *e, int32_t asset, double fee_bps) {
    mts_instrument_t in = {0};
    in.type = MTS_INST_PERP;
    in.contract_size = 1;
    in.maker_fee_bps = in.taker_fee_bps = fee_bps;
    in.max_leverage = 1;
    assert_int_equal(mts_engine_set_instrument(e, asset, &in), 0);
}

/* ---- tests ---- */

static void test_create_defaults_and_errors(void **state) {
    (void)state;
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(NULL, &e), 0);       /* defaults 100000 / 10 / 0 */
    assert_double_equal(mts_engine_equity(e), 100000, 0);
    assert_double_equal(mts_engine_cash(e), 100000, 0);
    assert_int_equal(mts_engine_now(e), 0);
    mts_engine_free(e);
    mts_engine_free(NULL);
    mts_engine_config_t bad = {0, 10, 0, 0};
    assert_int_equal(mts_engine_create(&bad, &e), MTS_EINVAL);
    mts_engine_config_t bad2 = {1000, -1, 0, 0};
    assert_int_equal(mts_engine_create(&bad2, &e), MTS_EINVAL);
}

/* Market buy decided at bar 0's close fills at bar 1's OPEN, with 10 bps
 * commission and 5 bps slippage; then a market sell.
 *   bars (ts: O H L C): 1000: 100 101 99 100.5 | 2000: 102 104 101 103
 *                        3000: 104 105 100 101  | 4000: 100 102 99 101.5
 *   buy 10 at 102 * 1.0005 = 102.051 (not the 100.5 close);
 *       fee 10 * 102.051 * 0.001 = 1.02051; cash 100000 - 1020.51 - 1.02051 = 98978.46949
 *   sell 10 at 100 * 0.9995 = 99.95; fee 10 * 99.95 * 0.001 = 0.9995;
 *       cash 98978.46949 + 999.5 - 0.9995 = 99976.96999
 *   equity points (marked at each close):
 *       1000: 100000; 2000: 98978.46949 + 10*103 = 100008.46949;
 *       3000: 98978.46949 + 10*101 = 99988.46949; 4000: 99976.96999
 *   trade pnl: 10*(99.95 - 102.051) - (1.02051 + 0.9995) = -21.01 - 2.02001 = -23.03001 */
static void test_market_fill_next_open_commission_slippage(void **state) {
    (void)state;
    const int64_t ts[4] = {1000, 2000, 3000, 4000};
    const ohlc_t x[4] = {{100, 101, 99, 100.5}, {102, 104, 101, 103}, {104, 105, 100, 101}, {100, 102, 99, 101.5}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 5);
    int32_t id = -1;
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, &id), 0);
    assert_int_equal(id, 0);

    mts_event_t ev;
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.kind, MTS_EV_BAR);
    assert_int_equal(ev.asset, 0);
    assert_int_equal(ev.index, 0);
    assert_int_equal(ev.ts, 1000);
    assert_int_equal(mts_engine_now(e), 1000);
    mts_order_t o = market(0, 10);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.kind, MTS_EV_STEP_END);
    assert_int_equal(ev.ts, 1000);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);    /* not filled at this close */

    assert_int_equal(step(e), 2000);
    assert_double_equal(mts_engine_position(e, 0), 10, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 102.051, 1e-9);
    assert_double_equal(mts_engine_cash(e), 98978.46949, EPS);
    assert_double_equal(mts_engine_mark(e, 0), 103, 0);
    assert_double_equal(mts_engine_equity(e), 100008.46949, EPS);
    assert_double_equal(mts_engine_portfolio(e)->total_fees, 1.02051, 1e-9);

    assert_int_equal(step(e), 3000);
    o = market(0, -10);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 4000);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(mts_engine_cash(e), 99976.96999, EPS);
    assert_double_equal(round(mts_engine_cash(e) * 100) / 100, 99976.97, 1e-9);   /* to the cent */
    finish(e);

    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_int_equal(p->equity.n, 4);
    const double eq[4] = {100000, 100008.46949, 99988.46949, 99976.96999};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(p->equity.ts[i], ts[i]);
        assert_double_equal(p->equity.v[i], eq[i], EPS);
    }
    assert_int_equal(p->n_trades, 1);
    assert_double_equal(p->trades[0].pnl, -23.03001, EPS);
    assert_double_equal(p->trades[0].entry_price, 102.051, 1e-9);
    assert_double_equal(p->trades[0].exit_price, 99.95, 1e-9);
    assert_int_equal(p->trades[0].entry_ts, 2000);
    assert_int_equal(p->trades[0].exit_ts, 4000);
    assert_int_equal(mts_engine_fill_count(e), 2);
    mts_engine_free(e);
    free_bars(&b);
}

/* An order placed on the last bar never fills; positions stay open at the end. */
static void test_order_on_last_bar_never_fills(void **state) {
    (void)state;
    const int64_t ts[2] = {10, 20};
    const ohlc_t x[2] = {{5, 6, 4, 5}, {5, 6, 4, 5.5}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    assert_int_equal(step(e), 10);
    mts_order_t o = market(0, 1);
    assert_int_equal(mts_engine_submit(e, &o), 0);   /* fills at bar 1 open 5: cash 995 */
    assert_int_equal(step(e), 20);
    o = market(0, 1);
    assert_int_equal(mts_engine_submit(e, &o), 0);   /* last bar: never fills */
    finish(e);
    assert_int_equal(mts_engine_submit(e, &o), 0);   /* after the end: accepted, never fills */
    assert_int_equal(mts_engine_fill_count(e), 1);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);
    assert_double_equal(mts_engine_cash(e), 995, 0);
    /* final equity point: 995 + 1*5.5 = 1000.5 */
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_int_equal(p->equity.n, 2);
    assert_double_equal(p->equity.v[1], 1000.5, 1e-9);
    assert_int_equal(p->n_trades, 0);                /* not closed at the end */
    mts_engine_free(e);
    free_bars(&b);
}

/* Limit orders, no commission, 10 bps slippage (limits never slip):
 *   ts1: 100 101 99 100  -> submit limit buy 1 @ 95
 *   ts2:  94  96 93  95  -> gaps below: fills at min(94, 95) = 94
 *                           submit limit buy 1 @ 90
 *   ts3:  95  97 91  96  -> low 91 > 90: pending
 *   ts4:  92  93 89  90  -> touches intrabar: min(92, 90) = 90; avg (94+90)/2 = 92
 *                           submit limit sell 2 @ 100
 *   ts5:  97 101 96  99  -> max(97, 100) = 100
 *                           submit limit sell 1 @ 95 (opens a short), then cancel
 *   ts6:  99 100 98  99  -> would have filled at max(99, 95) = 99: cancelled, no fill
 *   cash 100000 - 94 - 90 + 200 = 100016; trade qty 2 @ 92 -> 100, pnl 16 */
static void test_limit_orders(void **state) {
    (void)state;
    const int64_t ts[6] = {1, 2, 3, 4, 5, 6};
    const ohlc_t x[6] = {{100, 101, 99, 100}, {94, 96, 93, 95}, {95, 97, 91, 96},
                         {92, 93, 89, 90}, {97, 101, 96, 99}, {99, 100, 98, 99}};
    mts_bars_t b = make_bars(6, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 10);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    assert_int_equal(step(e), 1);
    mts_order_t o = priced(0, MTS_ORDER_LIMIT, 1, 95);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_avg_cost(e, 0), 94, 0);
    o = priced(0, MTS_ORDER_LIMIT, 1, 90);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);      /* still pending */
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 2, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 92, 1e-12);
    assert_double_equal(mts_engine_cash(e), 100000 - 94 - 90, 1e-9);
    o = priced(0, MTS_ORDER_LIMIT, -2, 100);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 5);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(mts_engine_cash(e), 100016, 1e-9);
    o = priced(0, MTS_ORDER_LIMIT, -1, 95);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(mts_engine_cancel(e, 0), 0);
    finish(e);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_int_equal(mts_engine_fill_count(e), 3);
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_int_equal(p->n_trades, 1);
    assert_double_equal(p->trades[0].qty, 2, 0);
    assert_double_equal(p->trades[0].pnl, 16, 1e-9);
    mts_engine_free(e);
    free_bars(&b);
}

/* Stop orders, no commission, 10 bps slippage (stops do slip):
 *   ts1: 100 101  99 100  -> submit stop buy 1 @ 103
 *   ts2: 101 102 100 101  -> high 102 < 103: pending
 *   ts3: 102 104 101 103  -> triggered: max(102, 103) * 1.001 = 103.103
 *                            submit stop sell 1 @ 98
 *   ts4:  97  99  96  97  -> gap below: min(97, 98) * 0.999 = 96.903
 *   cash 100000 - 103.103 + 96.903 = 99993.8; pnl 96.903 - 103.103 = -6.2 */
static void test_stop_orders(void **state) {
    (void)state;
    const int64_t ts[4] = {1, 2, 3, 4};
    const ohlc_t x[4] = {{100, 101, 99, 100}, {101, 102, 100, 101}, {102, 104, 101, 103}, {97, 99, 96, 97}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 10);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    assert_int_equal(step(e), 1);
    mts_order_t o = priced(0, MTS_ORDER_STOP, 1, 103);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 103.103, 1e-9);
    o = priced(0, MTS_ORDER_STOP, -1, 98);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(mts_engine_cash(e), 99993.8, 1e-9);
    assert_double_equal(mts_engine_portfolio(e)->trades[0].exit_price, 96.903, 1e-9);
    assert_double_equal(mts_engine_portfolio(e)->trades[0].pnl, -6.2, 1e-9);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Stop-loss and take-profit, no commission, 10 bps slippage:
 *   ts1: 100 100 100 100 -> market buy 1, SL 95, TP 110
 *   ts2: 100 102  98 101 -> buy at 100 * 1.001 = 100.1; SL/TP untouched
 *   ts3: 100 101  94  96 -> low 94 <= 95: exit at min(100, 95) * 0.999 = 94.905
 *                           market buy 1 with stop_loss_pct 5%
 *   ts4:  96  97  95 96.5 -> buy at 96 * 1.001 = 96.096; SL = 96.096 * 0.95 = 91.2912
 *   ts5:  90  92  89  91 -> gaps through the stop: min(90, 91.2912) * 0.999 = 89.91
 *                           market buy 1 with take_profit_pct 10%
 *   ts6: 100 105  99 104 -> buy at 100.1; TP = 100.1 * 1.1 = 110.11
 *   ts7: 108 111 107 109 -> high 111 >= 110.11: exit at max(108, 110.11) = 110.11 (no slip)
 *   cash: 100000 - 100.1 + 94.905 - 96.096 + 89.91 - 100.1 + 110.11 = 99998.629 */
static void test_stop_loss_take_profit(void **state) {
    (void)state;
    const int64_t ts[7] = {1, 2, 3, 4, 5, 6, 7};
    const ohlc_t x[7] = {{100, 100, 100, 100}, {100, 102, 98, 101}, {100, 101, 94, 96}, {96, 97, 95, 96.5},
                         {90, 92, 89, 91}, {100, 105, 99, 104}, {108, 111, 107, 109}};
    mts_bars_t b = make_bars(7, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 10);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    const mts_portfolio_t *p = mts_engine_portfolio(e);   /* stable for the engine's life */
    assert_int_equal(step(e), 1);
    mts_order_t o = market(0, 1);
    o.stop_loss = 95;
    o.take_profit = 110;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);
    assert_double_equal(p->pos[0].stop_loss, 95, 0);
    assert_double_equal(p->pos[0].take_profit, 110, 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_int_equal(p->n_trades, 1);
    assert_double_equal(p->trades[0].exit_price, 94.905, 1e-9);
    assert_int_equal(p->trades[0].exit_ts, 3);
    assert_double_equal(p->pos[0].stop_loss, 0, 0);
    assert_double_equal(p->pos[0].take_profit, 0, 0);

    o = market(0, 1);
    o.stop_loss_pct = 0.05;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 4);
    assert_double_equal(p->pos[0].stop_loss, 91.2912, 1e-9);
    assert_double_equal(p->pos[0].take_profit, 0, 0);
    assert_int_equal(step(e), 5);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(p->trades[1].exit_price, 89.91, 1e-9);

    o = market(0, 1);
    o.take_profit_pct = 0.10;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 6);
    assert_double_equal(p->pos[0].take_profit, 110.11, 1e-9);
    assert_int_equal(step(e), 7);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(p->trades[2].exit_price, 110.11, 1e-9);
    assert_double_equal(mts_engine_cash(e), 99998.629, 1e-9);
    assert_int_equal(mts_engine_fill_count(e), 6);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* A bar touching both SL and TP takes the stop; SL/TP apply to a position
 * opened at this very open; short exits mirrored. No commission or slippage.
 *   ts1: 100 100 100 100 -> market buy 1, SL 95, TP 105
 *   ts2: 100 106  94 100 -> bought at 100, then both touched: stop at min(100, 95) = 95
 *                           market sell 1 (short), stop_loss_pct 2%, take_profit_pct 5%
 *   ts3: 100 101  99 100 -> short at 100: SL 102, TP 95; untouched
 *   ts4:  99 100  94  96 -> low 94 <= TP 95: cover at min(99, 95) = 95
 *                           market sell 1, SL 103
 *   ts5: 100 101  99 100 -> short at 100
 *   ts6: 104 105 100 101 -> gap above the stop: max(104, 103) = 104
 *   cash 100000 - 100 + 95 + 100 - 95 + 100 - 104 = 99996 */
static void test_sl_tp_same_bar_and_short(void **state) {
    (void)state;
    const int64_t ts[6] = {1, 2, 3, 4, 5, 6};
    const ohlc_t x[6] = {{100, 100, 100, 100}, {100, 106, 94, 100}, {100, 101, 99, 100},
                         {99, 100, 94, 96}, {100, 101, 99, 100}, {104, 105, 100, 101}};
    mts_bars_t b = make_bars(6, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    perp1(e, 0, 0);    /* issue 12: shorts need a perp (flat at the end: same cash) */
    assert_int_equal(step(e), 1);
    mts_order_t o = market(0, 1);
    o.stop_loss = 95;
    o.take_profit = 105;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2);
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_int_equal(p->n_trades, 1);
    assert_double_equal(p->trades[0].entry_price, 100, 0);
    assert_double_equal(p->trades[0].exit_price, 95, 0);       /* the stop, not the 105 target */
    assert_int_equal(p->trades[0].entry_ts, 2);
    assert_int_equal(p->trades[0].exit_ts, 2);

    o = market(0, -1);
    o.stop_loss_pct = 0.02;
    o.take_profit_pct = 0.05;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), -1, 0);
    assert_double_equal(p->pos[0].stop_loss, 102, 1e-12);
    assert_double_equal(p->pos[0].take_profit, 95, 1e-12);
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(p->trades[1].exit_price, 95, 1e-12);
    assert_int_equal(p->trades[1].side, -1);
    assert_double_equal(p->trades[1].pnl, 5, 1e-12);

    o = market(0, -1);
    o.stop_loss = 103;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 5);
    assert_int_equal(step(e), 6);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(p->trades[2].exit_price, 104, 0);
    assert_double_equal(mts_engine_cash(e), 99996, 1e-9);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* SL/TP bookkeeping across adds, flips and closes. No fees. Opens 100, 110, 120, 130, 130:
 *   buy 1 SL 90 TP 200        -> @100: SL 90, TP 200
 *   buy 1 (neither)           -> @110: avg 105, SL/TP kept 90/200
 *   buy 1 stop_loss_pct 10%   -> @120: avg (100+110+120)/3 = 110, SL 110*0.9 = 99, TP kept 200
 *   sell 5 (neither)          -> @130: flips to -2 @ 130: SL/TP cleared
 *   buy 2, SL 150             -> @130: flat: SL/TP cleared although one was given
 * Also: an order submitted before the first next() fills at bar 0's open. */
static void test_sl_tp_updates(void **state) {
    (void)state;
    const int64_t ts[6] = {1, 2, 3, 4, 5, 6};
    const ohlc_t x[6] = {{100, 101, 99, 100}, {100, 101, 99, 100}, {110, 111, 109, 110},
                         {120, 121, 119, 120}, {130, 131, 129, 130}, {130, 131, 129, 130}};
    mts_bars_t b = make_bars(6, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    perp1(e, 0, 0);    /* issue 12: the flip to -2 needs a perp (flat at the end: same cash) */
    /* before the start: fills at bar 0 (ts 1) open 100; then sold at bar 1 open 100 */
    mts_order_t o = market(0, 3);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 1);
    assert_double_equal(mts_engine_position(e, 0), 3, 0);
    o = market(0, -3);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    o = market(0, 1);
    o.stop_loss = 90;
    o.take_profit = 200;
    assert_int_equal(mts_engine_submit(e, &o), 0);   /* same bar, after the sell (submission order) */
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);
    assert_double_equal(p->pos[0].stop_loss, 90, 0);
    assert_double_equal(p->pos[0].take_profit, 200, 0);
    o = market(0, 1);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_avg_cost(e, 0), 105, 1e-12);
    assert_double_equal(p->pos[0].stop_loss, 90, 0);
    assert_double_equal(p->pos[0].take_profit, 200, 0);
    o = market(0, 1);
    o.stop_loss_pct = 0.10;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_avg_cost(e, 0), 110, 1e-12);
    assert_double_equal(p->pos[0].stop_loss, 99, 1e-12);
    assert_double_equal(p->pos[0].take_profit, 200, 0);
    o = market(0, -5);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 5);
    assert_double_equal(mts_engine_position(e, 0), -2, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 130, 0);
    assert_double_equal(p->pos[0].stop_loss, 0, 0);
    assert_double_equal(p->pos[0].take_profit, 0, 0);
    o = market(0, 2);
    o.stop_loss = 150;
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 6);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(p->pos[0].stop_loss, 0, 0);
    /* cash: 100000 -300 +300 -100 -110 -120 +650 -260 = 100060
     * (round trip 0; long 3 @ 110 closed at 130: +60; short 2 @ 130 covered at 130: 0) */
    assert_double_equal(mts_engine_cash(e), 100060, 1e-9);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Two assets on different calendars, plus an empty one.
 *   A: 100 (O 9.5 C 10), 200 (10.5, 11), 300 (11.5, 12)
 *   B: 150 (19.5, 20),   200 (20.5, 21), 400 (21.5, 22)
 * Expected events: A@100 END100 B@150 END150 A@200 B@200 END200 A@300 END300 B@400 END400.
 * At END100: buy 2 A (fills at A's next bar, 200: 10.5) and buy 1 B (B's next bar, 150: 19.5).
 * At BAR A@200 (B's bar at 200 not yet processed): sell 1 B -> must fill at B@400 open 21.5,
 * not at B@200 which is part of the current step.
 * Equity, no fees, marked at closes:
 *   100: 100000
 *   150: cash 100000 - 19.5 = 99980.5; + B 1*20                 = 100000.5
 *   200: cash 99980.5 - 21 = 99959.5; + A 2*11 + B 1*21         = 100002.5
 *   300: 99959.5 + A 2*12 + B 1*21                              = 100004.5
 *   400: cash 99959.5 + 21.5 = 99981; + A 2*12 (B flat)         = 100005 */
static void test_two_assets_interleave(void **state) {
    (void)state;
    const int64_t ta[3] = {100, 200, 300}, tb[3] = {150, 200, 400};
    const ohlc_t xa[3] = {{9.5, 10, 9, 10}, {10.5, 11, 10, 11}, {11.5, 12, 11, 12}};
    const ohlc_t xb[3] = {{19.5, 20, 19, 20}, {20.5, 21, 20, 21}, {21.5, 22, 21, 22}};
    mts_bars_t a = make_bars(3, ta, xa), bb = make_bars(3, tb, xb), empty = make_bars(0, NULL, NULL);
    mts_engine_t *e = make_engine(100000, 0, 0);
    int32_t ia, ib, ic;
    assert_int_equal(mts_engine_add_asset(e, "A", &a, &ia), 0);
    assert_int_equal(mts_engine_add_asset(e, "B", &bb, &ib), 0);
    assert_int_equal(mts_engine_add_asset(e, "C", &empty, &ic), 0);
    assert_int_equal(mts_engine_add_asset(e, "A", &a, NULL), MTS_EINVAL);   /* duplicate */
    assert_int_equal(mts_engine_asset_count(e), 3);
    assert_int_equal(mts_engine_asset_id(e, "B"), 1);
    assert_true(mts_engine_asset_id(e, "nope") < 0);
    assert_string_equal(mts_engine_asset_name(e, 2), "C");
    assert_null(mts_engine_asset_name(e, 3));
    assert_ptr_equal(mts_engine_bars(e, 1), &bb);

    const struct { int kind, asset; int64_t ts, index; } want[] = {
        {MTS_EV_BAR, 0, 100, 0}, {MTS_EV_STEP_END, -1, 100, -1},
        {MTS_EV_BAR, 1, 150, 0}, {MTS_EV_STEP_END, -1, 150, -1},
        {MTS_EV_BAR, 0, 200, 1}, {MTS_EV_BAR, 1, 200, 1}, {MTS_EV_STEP_END, -1, 200, -1},
        {MTS_EV_BAR, 0, 300, 2}, {MTS_EV_STEP_END, -1, 300, -1},
        {MTS_EV_BAR, 1, 400, 2}, {MTS_EV_STEP_END, -1, 400, -1},
    };
    mts_event_t ev;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        assert_int_equal(mts_engine_next(e, &ev), 1);
        assert_int_equal(ev.kind, want[k].kind);
        assert_int_equal(ev.ts, want[k].ts);
        assert_int_equal(mts_engine_now(e), want[k].ts);
        if (ev.kind == MTS_EV_BAR) {
            assert_int_equal(ev.asset, want[k].asset);
            assert_int_equal(ev.index, want[k].index);
        }
        if (k == 1) {               /* END100 */
            mts_order_t o = market(ia, 2);
            assert_int_equal(mts_engine_submit(e, &o), 0);
            o = market(ib, 1);
            assert_int_equal(mts_engine_submit(e, &o), 0);
            o = market(ic, 1);
            assert_int_equal(mts_engine_submit(e, &o), 0);   /* no bars: never fills */
        }
        if (k == 4) {               /* BAR A@200 */
            mts_order_t o = market(ib, -1);
            assert_int_equal(mts_engine_submit(e, &o), 0);
        }
        if (k == 5) assert_double_equal(mts_engine_position(e, ib), 1, 0);   /* not at B@200 */
    }
    assert_int_equal(mts_engine_next(e, &ev), 0);
    assert_double_equal(mts_engine_position(e, ib), 0, 0);
    assert_double_equal(mts_engine_position(e, ic), 0, 0);
    assert_int_equal(mts_engine_fill_count(e), 3);
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    const int64_t ets[5] = {100, 150, 200, 300, 400};
    const double ev_[5] = {100000, 100000.5, 100002.5, 100004.5, 100005};
    assert_int_equal(p->equity.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(p->equity.ts[i], ets[i]);
        assert_double_equal(p->equity.v[i], ev_[i], 1e-9);
    }
    assert_true(p->equity.cap >= 7);    /* reserved: 3 + 3 + 0 bars + 1 */
    /* adding after the start is refused */
    assert_int_equal(mts_engine_add_asset(e, "D", &a, NULL), MTS_EINVAL);
    assert_true(mts_engine_errmsg(e)[0] != '\0');
    mts_engine_free(e);
    free_bars(&a);
    free_bars(&bb);
    free_bars(&empty);
}

/* With STEP_END events off, next() returns only bars, yet records the same
 * equity point per step; turning them on mid-step delivers that step's
 * STEP_END (the runner does this when a signal arrives). Same bars as
 * test_two_assets_interleave: steps at 100, 150, 200, 300, 400. */
static void test_step_events_off(void **state) {
    (void)state;
    const int64_t ta[3] = {100, 200, 300}, tb[3] = {150, 200, 400};
    const ohlc_t xa[3] = {{9.5, 10, 9, 10}, {10.5, 11, 10, 11}, {11.5, 12, 11, 12}};
    const ohlc_t xb[3] = {{19.5, 20, 19, 20}, {20.5, 21, 20, 21}, {21.5, 22, 21, 22}};
    mts_bars_t a = make_bars(3, ta, xa), bb = make_bars(3, tb, xb);
    mts_engine_t *e = make_engine(100000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "A", &a, NULL), 0);
    assert_int_equal(mts_engine_add_asset(e, "B", &bb, NULL), 0);
    mts_engine_step_events(e, 0);
    mts_event_t ev;
    int bars = 0, ends = 0;
    int64_t end_ts = -1;
    while (mts_engine_next(e, &ev) == 1) {
        if (ev.kind == MTS_EV_BAR) {
            bars++;
            if (ev.ts == 200 && ev.asset == 0) mts_engine_step_events(e, 1);   /* mid-step */
        } else {
            assert_int_equal(ev.kind, MTS_EV_STEP_END);
            ends++;
            end_ts = ev.ts;
            mts_engine_step_events(e, 0);
        }
    }
    assert_int_equal(bars, 6);
    assert_int_equal(ends, 1);
    assert_int_equal(end_ts, 200);
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    const int64_t ets[5] = {100, 150, 200, 300, 400};
    assert_int_equal(p->equity.n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(p->equity.ts[i], ets[i]);
    mts_engine_free(e);
    free_bars(&a);
    free_bars(&bb);
}

static void test_no_assets_and_zero_bars(void **state) {
    (void)state;
    mts_engine_t *e = make_engine(1000, 10, 0);
    mts_event_t ev;
    assert_int_equal(mts_engine_next(e, &ev), 0);
    assert_int_equal(mts_engine_portfolio(e)->equity.n, 0);
    mts_engine_free(e);

    mts_bars_t empty = make_bars(0, NULL, NULL);
    e = make_engine(1000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "z", &empty, NULL), 0);
    assert_int_equal(mts_engine_next(e, &ev), 0);
    assert_double_equal(mts_engine_equity(e), 1000, 0);
    mts_engine_free(e);
    free_bars(&empty);
}

static void test_invalid_inputs(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 3, 2};   /* not ascending */
    const ohlc_t x[3] = {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}};
    mts_bars_t bad = make_bars(3, ts, x);
    mts_bars_t good = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "bad", &bad, NULL), MTS_EINVAL);
    assert_int_equal(mts_engine_add_asset(e, NULL, &good, NULL), MTS_EINVAL);
    assert_int_equal(mts_engine_add_asset(e, "g", &good, NULL), 0);
    mts_order_t o = market(1, 1);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);      /* unknown asset */
    o = market(0, 0);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);      /* zero qty */
    o = market(0, NAN);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);
    o = priced(0, MTS_ORDER_LIMIT, 1, 0);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);      /* limit without price */
    o = priced(0, 9, 1, 1);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);      /* unknown type */
    o = market(0, 1);
    o.stop_loss = -1;
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);
    assert_int_equal(mts_engine_submit(e, NULL), MTS_EINVAL);
    assert_int_equal(mts_engine_cancel(e, 5), MTS_EINVAL);
    assert_int_equal(mts_engine_next(e, NULL), MTS_EINVAL);
    assert_true(isnan(mts_engine_position(e, 7)));
    assert_double_equal(mts_engine_position(e, 0), 0, 0);       /* before the start */
    assert_int_equal(mts_engine_log_signal(e, 3, 0, 1, 1, 1, 1, NAN, NAN), MTS_EINVAL);
    mts_series_t s = {0};
    assert_int_equal(mts_engine_add_macro(e, "vix", &s), 0);
    assert_int_equal(mts_engine_add_macro(e, "vix", &s), MTS_EINVAL);
    assert_ptr_equal(mts_engine_macro(e, "vix"), &s);
    assert_null(mts_engine_macro(e, "dxy"));
    assert_int_equal(mts_engine_fill_count(e), 0);
    mts_engine_free(e);
    free_bars(&bad);
    free_bars(&good);
}

/* Orders beyond the engine's bounds (engine.h: |qty| <= MTS_ENGINE_MAX_QTY =
 * 1e18, prices and |qty| x price <= MTS_ENGINE_MAX_PRICE = 1e15) are refused
 * with MTS_ERANGE, nothing queued, and the run goes on (issue 9: units=1e308
 * used to be accepted and aborted the run at the fill).
 *   bars 1000: 100 100 100 100 | 2000: 100 100 100 100; capital 1000, no fees
 *   after step 1000 the reference price of a market order is close[0] = 100
 *   qty 1e308                       > 1e18              -> ERANGE
 *   LIMIT buy 1 at 1e300            > 1e15              -> ERANGE
 *   market buy 1, stop_loss 1e300   > 1e15              -> ERANGE
 *   market buy 1e14 at 100: notional 1e16 > 1e15        -> ERANGE
 *   market buy 1e12 at 100: notional 1e14 <= 1e15       -> accepted
 *   fill at 2000's open 100: issue 12's buying power cuts it to what the cash
 *   buys: 1000 / 100 = 10 (it used to fill 1e12 on credit: cash -99999999999000);
 *   position 10, cash 0, one bp_cut */
static void test_submit_bounds(void **state) {
    (void)state;
    const int64_t ts[2] = {1000, 2000};
    const ohlc_t x[2] = {{100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    assert_int_equal(step(e), 1000);
    mts_order_t o = market(0, 1e308);
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    assert_non_null(strstr(mts_engine_errmsg(e), "qty"));
    o = market(0, -1e308);
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    o = market(0, INFINITY);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);
    o = priced(0, MTS_ORDER_LIMIT, 1, 1e300);
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    assert_non_null(strstr(mts_engine_errmsg(e), "price"));
    o = priced(0, MTS_ORDER_STOP, 1, INFINITY);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);
    o = market(0, 1);
    o.stop_loss = 1e300;
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    o = market(0, 1);
    o.take_profit = 1e300;
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    o = market(0, 1e14);
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    assert_non_null(strstr(mts_engine_errmsg(e), "notional"));
    o = priced(0, MTS_ORDER_LIMIT, 1e11, 1e5);           /* 1e16 at its own price */
    assert_int_equal(mts_engine_submit(e, &o), MTS_ERANGE);
    o = market(0, 1e12);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2000);
    finish(e);
    assert_int_equal(mts_engine_fill_count(e), 1);
    assert_double_equal(mts_engine_position(e, 0), 10, 1e-9);
    assert_double_equal(mts_engine_cash(e), 0, 1e-9);
    assert_true(mts_engine_cash(e) >= 0);
    mts_book_stats_t st;
    assert_int_equal(mts_engine_book_stats(e, 0, &st), 0);
    assert_int_equal(st.bp_cut, 1);
    mts_engine_free(e);
    free_bars(&b);
}

/* log_signal appends records stamped with the current step's ts. */
static void test_signals(void **state) {
    (void)state;
    const int64_t ts[2] = {60, 120};
    const ohlc_t x[2] = {{1, 1, 1, 1}, {1, 1, 1, 1}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    assert_int_equal(step(e), 60);
    assert_int_equal(mts_engine_log_signal(e, 0, 2, MTS_SIGNAL_LONG, 1.5, 0.8, 0.1, 1.2, NAN), 0);
    assert_int_equal(step(e), 120);
    for (int i = 0; i < 300; i++)   /* growth */
        assert_int_equal(mts_engine_log_signal(e, 0, 1, MTS_SIGNAL_CLOSE, i, NAN, NAN, NAN, NAN), 0);
    int64_t n = 0;
    const mts_signal_rec_t *s = mts_engine_signals(e, &n);
    assert_int_equal(n, 301);
    assert_int_equal(s[0].ts, 60);
    assert_int_equal(s[0].asset, 0);
    assert_int_equal(s[0].strategy, 2);
    assert_int_equal(s[0].signal_type, MTS_SIGNAL_LONG);
    assert_double_equal(s[0].price, 1.5, 0);
    assert_double_equal(s[0].confidence, 0.8, 0);
    assert_double_equal(s[0].position_size, 0.1, 0);
    assert_double_equal(s[0].stop_loss, 1.2, 0);
    assert_true(isnan(s[0].take_profit));
    assert_int_equal(s[300].ts, 120);
    assert_double_equal(s[300].price, 299, 0);
    mts_engine_free(e);
    free_bars(&b);
}

/* Orders of one bar fill in submission order, market before limit/stop:
 * no fees.  ts1: 10 10 10 10; ts2: O 10 H 12 L 8 C 11.
 *   submitted: limit buy 1 @ 9, market sell 2, market buy 1
 *   fills at ts2: market sell 2 @ 10 (short -2), market buy 1 @ 10 (-1),
 *                 then the limit buy 1 @ min(10, 9) = 9 -> flat.
 *   cash 1000 + 20 - 10 - 9 = 1001; trades: 1 @ 10 -> 10 (pnl 0), 1 @ 10 -> 9 (pnl +1) */
static void test_fill_order_within_bar(void **state) {
    (void)state;
    const int64_t ts[2] = {1, 2};
    const ohlc_t x[2] = {{10, 10, 10, 10}, {10, 12, 8, 11}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    perp1(e, 0, 0);    /* issue 12: the short -2 needs a perp (flat at the end: same cash) */
    assert_int_equal(step(e), 1);
    mts_order_t o = priced(0, MTS_ORDER_LIMIT, 1, 9);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    o = market(0, -2);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    o = market(0, 1);
    assert_int_equal(mts_engine_submit(e, &o), 0);
    assert_int_equal(step(e), 2);
    const mts_portfolio_t *p = mts_engine_portfolio(e);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(mts_engine_cash(e), 1001, 1e-12);
    assert_int_equal(p->n_trades, 2);
    assert_double_equal(p->trades[0].exit_price, 10, 0);
    assert_double_equal(p->trades[0].pnl, 0, 0);
    assert_double_equal(p->trades[1].exit_price, 9, 0);
    assert_double_equal(p->trades[1].pnl, 1, 1e-12);
    assert_int_equal(mts_engine_fill_count(e), 3);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Fault injection (SQLite's idea): make the Nth allocation fail for every N
 * a short run performs; each run must end in success or a clean MTS_ENOMEM,
 * never a crash or a leak (ASan checks the latter). */
static void test_alloc_failures(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{10, 11, 9, 10}, {10, 11, 9, 10}, {10, 11, 9, 10}};
    mts_bars_t b = make_bars(3, ts, x);
    int ok_runs = 0;
    for (long n = 0; n < 40; n++) {
        mts_alloc_fail_after(n);
        mts_engine_t *e = NULL;
        int rc = mts_engine_create(NULL, &e);
        if (rc == 0) rc = mts_engine_add_asset(e, "a", &b, NULL);
        if (rc == 0) rc = mts_engine_add_macro(e, "m", NULL) == MTS_EINVAL ? 0 : -99;
        mts_event_t ev;
        int64_t steps = 0;
        if (rc == 0) {
            mts_order_t o = market(0, 1);
            rc = mts_engine_submit(e, &o);
        }
        while (rc == 0) {
            int r = mts_engine_next(e, &ev);
            if (r < 0) { rc = r; break; }
            if (r == 0) break;
            if (ev.kind == MTS_EV_STEP_END) {
                steps++;
                mts_order_t o = market(0, steps % 2 ? -1 : 1);
                rc = mts_engine_submit(e, &o);
                if (rc == 0) rc = mts_engine_log_signal(e, 0, 0, 1, 1, 1, 1, 1, 1);
            }
        }
        mts_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == MTS_ENOMEM);
        if (rc == 0) {
            ok_runs++;
            /* default 10 bps: buy 1 @ 10 (fee 0.01), sell 1 @ 10, buy 1 @ 10; the sell
             * from the last step never fills: cash 100000 - 10.01 + 9.99 - 10.01 = 99989.97 */
            assert_int_equal(steps, 3);
            assert_double_equal(mts_engine_cash(e), 99989.97, 1e-9);
        }
        mts_engine_free(e);
    }
    assert_true(ok_runs > 0);
    free_bars(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_defaults_and_errors),
        cmocka_unit_test(test_market_fill_next_open_commission_slippage),
        cmocka_unit_test(test_order_on_last_bar_never_fills),
        cmocka_unit_test(test_limit_orders),
        cmocka_unit_test(test_stop_orders),
        cmocka_unit_test(test_stop_loss_take_profit),
        cmocka_unit_test(test_sl_tp_same_bar_and_short),
        cmocka_unit_test(test_sl_tp_updates),
        cmocka_unit_test(test_two_assets_interleave),
        cmocka_unit_test(test_step_events_off),
        cmocka_unit_test(test_no_assets_and_zero_bars),
        cmocka_unit_test(test_invalid_inputs),
        cmocka_unit_test(test_submit_bounds),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_fill_order_within_bar),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
