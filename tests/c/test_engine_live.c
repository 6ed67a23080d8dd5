/* test_engine_live.c — live assets: bars appended after the run started,
 * the event queue re-armed, orders waiting for a bar that did not exist yet,
 * late and duplicate bars refused, the fill log. Every expected price and
 * balance is worked out by hand in the comment above its assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "engine/engine.h"

#define EPS 1e-9


static void reserve(mts_bars_t *b, int64_t cap) {
    b->ts = calloc((size_t)cap, sizeof *b->ts);
    b->open = calloc((size_t)cap, sizeof(double));
    b->high = calloc((size_t)cap, sizeof(double));
    b->low = calloc((size_t)cap, sizeof(double));
    b->close = calloc((size_t)cap, sizeof(double));
    b->volume = calloc((size_t)cap, sizeof(double));
    b->n = 0;
    b->cap = cap;
}

static void release(mts_bars_t *b) {
    free(b->ts); free(b->open); free(b->high); free(b->low); free(b->close); free(b->volume);
}

static mts_engine_t *engine(double capital, double comm_bps, double slip_bps) {
    mts_engine_config_t cfg = {capital, comm_bps, slip_bps, 0};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    mts_engine_keep_fills(e, 1);
    return e;
}

static void market(mts_engine_t *e, int32_t asset, double qty) {
    mts_order_t o = {0};
    o.asset = asset;
    o.type = MTS_ORDER_MARKET;
    o.qty = qty;
    assert_int_equal(mts_engine_submit(e, &o), 0);
}

/* Drains the engine: returns the number of BAR events, last one in *last. */
static int drain(mts_engine_t *e, mts_event_t *last) {
    mts_event_t ev;
    int bars = 0, rc;
    while ((rc = mts_engine_next(e, &ev)) == 1)
        if (ev.kind == MTS_EV_BAR) { bars++; if (last) *last = ev; }
    assert_int_equal(rc, 0);
    return bars;
}

/* An order submitted on the last bar waits for the next appended bar and
 * fills at its open (+ slippage), exactly like a backtest's next-bar fill. */
static void test_order_waits_for_appended_bar(void **st) {
    (void)st;
    mts_bars_t b = {0};
    reserve(&b, 8);
    mts_engine_t *e = engine(10000, 10, 20);
    int32_t id;
    assert_int_equal(mts_engine_add_live_asset(e, "btc", &b, &id), 0);
    assert_int_equal(mts_engine_append_bar(e, id, 100, 10, 11, 9, 10.5, 1), 0);   /* warm-up bar */
    mts_event_t ev;
    assert_int_equal(drain(e, &ev), 1);
    assert_int_equal(ev.index, 0);
    /* signal on bar 0: buy 100 at the next bar, which does not exist yet */
    market(e, id, 100);
    assert_int_equal(drain(e, NULL), 0);
    assert_int_equal(mts_engine_fill_count(e), 0);
    /* bar 1 arrives: open 12, slippage 20 bps -> 12 * 1.002 = 12.024;
     * fee 10 bps of 100 * 12.024 = 1.2024; cash 10000 - 1202.4 - 1.2024 = 8796.3976;
     * marked at the close 13: equity 8796.3976 + 1300 = 10096.3976 */
    assert_int_equal(mts_engine_append_bar(e, id, 200, 12, 13.5, 11.5, 13, 1), 0);
    assert_int_equal(drain(e, &ev), 1);
    assert_int_equal(ev.index, 1);
    assert_int_equal(ev.ts, 200);
    assert_int_equal(mts_engine_fill_count(e), 1);
    int64_t nf;
    const mts_fill_rec_t *f = mts_engine_fills(e, &nf);
    assert_int_equal(nf, 1);
    assert_int_equal(f[0].ts, 200);
    assert_int_equal(f[0].kind, MTS_FILL_MARKET);
    assert_true(fabs(f[0].price - 12.024) < EPS);
    assert_true(fabs(f[0].fee - 1.2024) < EPS);
    assert_true(fabs(f[0].realized_pnl) < EPS);
    assert_true(fabs(mts_engine_cash(e) - 8796.3976) < 1e-6);
    assert_true(fabs(mts_engine_equity(e) - 10096.3976) < 1e-6);
    /* sell everything; bar 2 opens at 14: 14 * 0.998 = 13.972; fee 1.3972;
     * realised (13.972 - 12.024) * 100 = 194.8; cash 8796.3976 + 1397.2 - 1.3972 = 10192.2004 */
    market(e, id, -100);
    assert_int_equal(mts_engine_append_bar(e, id, 300, 14, 14, 13, 13.5, 1), 0);
    assert_int_equal(drain(e, NULL), 1);
    f = mts_engine_fills(e, &nf);
    assert_int_equal(nf, 2);
    assert_true(fabs(f[1].price - 13.972) < EPS);
    assert_true(fabs(f[1].realized_pnl - 194.8) < 1e-9);
    assert_true(fabs(mts_engine_cash(e) - 10192.2004) < 1e-6);
    /* one equity point per step: 100, 200, 300 */
    const mts_portfolio_t *pf = mts_engine_portfolio(e);
    assert_int_equal(pf->equity.n, 3);
    assert_int_equal(pf->equity.ts[2], 300);
    assert_true(fabs(pf->equity.v[2] - 10192.2004) < 1e-6);
    mts_engine_free(e);
    release(&b);
}

/* Appending when the asset still has a pending bar does not queue a second
 * MARKET event; bars are handed out once each, in order. */
static void test_append_before_consumed(void **st) {
    (void)st;
    mts_bars_t b = {0};
    reserve(&b, 8);
    mts_engine_t *e = engine(1000, 0, 0);
    int32_t id;
    assert_int_equal(mts_engine_add_live_asset(e, "x", &b, &id), 0);
    mts_event_t ev;
    assert_int_equal(mts_engine_next(e, &ev), 0);          /* no bars at all: NONE */
    assert_int_equal(mts_engine_append_bar(e, id, 10, 1, 1, 1, 1, 0), 0);
    assert_int_equal(mts_engine_append_bar(e, id, 20, 2, 2, 2, 2, 0), 0);
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.kind, MTS_EV_BAR);
    assert_int_equal(ev.index, 0);
    assert_int_equal(mts_engine_append_bar(e, id, 30, 3, 3, 3, 3, 0), 0);   /* bar 1 still pending */
    int64_t seen[4], k = 0;
    while (mts_engine_next(e, &ev) == 1)
        if (ev.kind == MTS_EV_BAR) seen[k++] = ev.ts;
    assert_int_equal(k, 2);
    assert_int_equal(seen[0], 20);
    assert_int_equal(seen[1], 30);
    mts_engine_free(e);
    release(&b);
}

/* Refused: a duplicate or older bar, a bar before the current step (late),
 * an asset that is not live, a full array. Nothing changes on refusal. */
static void test_refusals(void **st) {
    (void)st;
    mts_bars_t a = {0}, b = {0};
    reserve(&a, 2);
    reserve(&b, 4);
    mts_engine_t *e = engine(1000, 0, 0);
    int32_t ia, ib;
    assert_int_equal(mts_engine_add_live_asset(e, "a", &a, &ia), 0);
    assert_int_equal(mts_engine_add_live_asset(e, "b", &b, &ib), 0);
    assert_int_equal(mts_engine_append_bar(e, ia, 100, 1, 1, 1, 1, 0), 0);
    assert_int_equal(mts_engine_append_bar(e, ia, 100, 1, 1, 1, 1, 0), MTS_ERANGE);   /* duplicate */
    assert_int_equal(mts_engine_append_bar(e, ia, 50, 1, 1, 1, 1, 0), MTS_ERANGE);    /* older */
    assert_int_equal(a.n, 1);
    assert_int_equal(drain(e, NULL), 1);
    assert_int_equal(mts_engine_append_bar(e, ib, 90, 1, 1, 1, 1, 0), MTS_ERANGE);    /* late: step is 100 */
    assert_int_equal(b.n, 0);
    assert_int_equal(mts_engine_append_bar(e, ib, 100, 1, 1, 1, 1, 0), 0);            /* same step: fine */
    assert_int_equal(mts_engine_append_bar(e, ia, 200, 1, 1, 1, 1, 0), 0);
    assert_int_equal(mts_engine_append_bar(e, ia, 300, 1, 1, 1, 1, 0), MTS_ERANGE);   /* cap 2: full */
    assert_int_equal(drain(e, NULL), 2);
    /* the step at 100 had its point rewritten, not duplicated: points 100, 200 */
    assert_int_equal(mts_engine_portfolio(e)->equity.n, 2);

    mts_bars_t fixed = {0};
    reserve(&fixed, 1);
    fixed.n = 1;
    fixed.ts[0] = 5;
    mts_engine_t *e2 = engine(1000, 0, 0);
    int32_t id;
    assert_int_equal(mts_engine_add_asset(e2, "f", &fixed, &id), 0);
    assert_int_equal(mts_engine_append_bar(e2, id, 10, 1, 1, 1, 1, 0), MTS_EINVAL);
    mts_bars_t none = {0};
    assert_int_equal(mts_engine_add_live_asset(e2, "g", &none, &id), MTS_EINVAL);      /* no reserve */
    mts_engine_free(e2);
    mts_engine_free(e);
    release(&a);
    release(&b);
    release(&fixed);
}

/* The same bars all at once (a backtest) or appended one by one after each
 * drain (live) give the same fills and equity curve, stop-loss included. */
static void test_live_equals_backtest(void **st) {
    (void)st;
    static const double px[][4] = {{100, 101, 99, 100}, {100, 102, 99, 101}, {102, 103, 95, 96},
                                   {96, 97, 90, 91}, {91, 95, 90, 94}, {94, 99, 93, 98}};
    int n = 6;
    double eq[2][8];
    int64_t fills[2];
    for (int mode = 0; mode < 2; mode++) {
        mts_bars_t b = {0};
        reserve(&b, 8);
        mts_engine_t *e = engine(10000, 10, 5);
        int32_t id;
        assert_int_equal(mts_engine_add_live_asset(e, "x", &b, &id), 0);
        if (mode == 0)
            for (int i = 0; i < n; i++)
                assert_int_equal(mts_engine_append_bar(e, id, (i + 1) * 60, px[i][0], px[i][1], px[i][2], px[i][3], 0), 0);
        int appended = mode == 0 ? n : 0;
        mts_event_t ev;
        for (;;) {
            int rc = mts_engine_next(e, &ev);
            assert_true(rc >= 0);
            if (rc == 0) {
                if (appended == n) break;
                assert_int_equal(mts_engine_append_bar(e, id, (appended + 1) * 60, px[appended][0], px[appended][1],
                                                       px[appended][2], px[appended][3], 0), 0);
                appended++;
                continue;
            }
            if (ev.kind != MTS_EV_BAR) continue;
            if (ev.index == 0) {   /* buy 10 with a 5 % stop-loss: entry 100 * 1.0005, SL 95.0475 */
                mts_order_t o = {0};
                o.asset = id;
                o.qty = 10;
                o.stop_loss_pct = 0.05;
                assert_int_equal(mts_engine_submit(e, &o), 0);
            }
            if (ev.index == 3) market(e, id, 5);   /* buy 5 at bar 4's open */
        }
        const mts_portfolio_t *pf = mts_engine_portfolio(e);
        assert_int_equal(pf->equity.n, n);
        for (int i = 0; i < n; i++) eq[mode][i] = pf->equity.v[i];
        fills[mode] = mts_engine_fill_count(e);
        mts_engine_free(e);
        release(&b);
    }
    /* fills: the entry on bar 1 (100 * 1.0005 = 100.05), the stop on bar 2 (low 95 <= SL
     * 100.05 * 0.95 = 95.0475: min(open 102, SL) * 0.9995), the buy on bar 4 */
    assert_int_equal(fills[0], 3);
    assert_int_equal(fills[1], 3);
    for (int i = 0; i < n; i++) assert_true(eq[0][i] == eq[1][i]);
    /* bar 2 by hand: entry cost 10 * 100.05 = 1000.5 + fee 1.0005; exit 10 * 95.0475 * 0.9995
     * = 949.99976..., fee 0.94999976...; cash = 10000 - 1000.5 - 1.0005 + 949.9997625 - 0.9499997625 */
    double exit_px = 100.05 * 0.95 * 0.9995;
    double cash = 10000 - 1000.5 - 1.0005 + 10 * exit_px - 10 * exit_px * 0.001;
    assert_true(fabs(eq[0][2] - cash) < 1e-9);
}

/* Issue 12, live: funding appended while the session runs is paid at the next
 * appended bar; the fill log carries book, reason and the funding share.
 * Perp (leverage 1, no fees), capital 10000:
 *   bar 100 (10 flat); buy 100 -> bar 200 (O 10, C 11): filled at 10
 *   funding appended at 250, rate 0.001, no mark -> paid at bar 300 with the
 *   mark = close 11: -100*11*0.001 = -1.1
 *   sell 100 -> bar 400 (O 12): gross 200, trade funding -1.1, pnl 198.9;
 *   cash 10000 - 1.1 + 200 = 10198.9 */
static void test_live_funding(void **st) {
    (void)st;
    mts_bars_t b = {0};
    reserve(&b, 8);
    mts_engine_t *e = engine(10000, 0, 0);
    int32_t id;
    assert_int_equal(mts_engine_add_live_asset(e, "btc", &b, &id), 0);
    mts_instrument_t in = {MTS_INST_PERP, 0, 1, 0, 0, 0, 0, 1, 0};
    assert_int_equal(mts_engine_set_instrument(e, id, &in), 0);
    assert_int_equal(mts_engine_append_bar(e, id, 100, 10, 10, 10, 10, 1), 0);
    assert_int_equal(drain(e, NULL), 1);
    market(e, id, 100);
    assert_int_equal(mts_engine_append_bar(e, id, 200, 10, 11, 10, 11, 1), 0);
    assert_int_equal(drain(e, NULL), 1);
    assert_int_equal(mts_engine_append_funding(e, id, 250, 0.001, NAN), 0);
    assert_int_equal(mts_engine_append_funding(e, id, 150, 0.001, NAN), MTS_ERANGE);
    assert_int_equal(mts_engine_append_bar(e, id, 300, 11, 11, 11, 11, 1), 0);
    assert_int_equal(drain(e, NULL), 1);
    mts_book_stats_t s;
    assert_int_equal(mts_engine_book_stats(e, 0, &s), 0);
    assert_true(fabs(s.funding - -1.1) < EPS);
    market(e, id, -100);
    assert_int_equal(mts_engine_append_bar(e, id, 400, 12, 12, 12, 12, 1), 0);
    assert_int_equal(drain(e, NULL), 1);
    int64_t nf;
    const mts_fill_rec_t *f = mts_engine_fills(e, &nf);
    assert_int_equal(nf, 2);
    assert_int_equal(f[1].book, 0);
    assert_int_equal(f[1].reason, MTS_REASON_SIGNAL);
    assert_true(fabs(f[1].funding - -1.1) < EPS);
    assert_true(fabs(f[1].realized_pnl - 200) < EPS);
    assert_true(fabs(mts_engine_cash(e) - 10198.9) < 1e-6);
    int64_t n;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_true(fabs(t[0].pnl - 198.9) < 1e-9);
    mts_engine_free(e);
    release(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_waits_for_appended_bar),
        cmocka_unit_test(test_append_before_consumed),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_live_equals_backtest),
        cmocka_unit_test(test_live_funding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
