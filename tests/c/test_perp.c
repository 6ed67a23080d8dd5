/* test_perp.c — issue 12 in the engine: per-strategy books, instruments (spot /
 * linear perp: contract size, tick/lot, maker/taker fees), buying power,
 * isolated margin and leverage, funding, liquidation, the trade story
 * (reasons, funding share, MAE/MFE) and the END_OF_DATA records.
 * Every expected number is worked out by hand in the comment above its
 * assertion (long decimals: python3 on the formula written there), never
 * read back from the engine. After every step of every run the ledger
 * identity is checked for each book and the account:
 *     equity = initial + realized - fees + funding + unrealized
 *     account equity = sum of book equities + unallocated cash */
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

static mts_engine_t *make_engine(double capital, double comm_bps, double leverage) {
    mts_engine_config_t cfg = {capital, comm_bps, 0, leverage};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    return e;
}

/* The ledger identity for every book and the account (header comment). */
static void check_identity(const mts_engine_t *e) {
    double sum = 0;
    mts_book_stats_t s;
    for (int32_t k = 0; k < mts_engine_book_count(e); k++) {
        assert_int_equal(mts_engine_book_stats(e, k, &s), 0);
        assert_double_equal(s.equity, s.initial + s.realized - s.fees + s.funding + s.unrealized, EPS);
        assert_double_equal(s.equity, mts_engine_book_equity(e, k), 0);
        assert_double_equal(s.available, s.cash - s.margin, EPS);
        sum += s.equity;
    }
    assert_int_equal(mts_engine_book_stats(e, -1, &s), 0);
    assert_double_equal(s.equity, s.initial + s.realized - s.fees + s.funding + s.unrealized, EPS);
    assert_double_equal(mts_engine_equity(e), s.equity, EPS);
    /* unallocated = account cash - the books' cash */
    double unalloc = s.cash;
    for (int32_t k = 0; k < mts_engine_book_count(e); k++) unalloc -= mts_engine_book(e, k)->cash;
    assert_double_equal(s.equity, sum + unalloc, EPS);
}

static int64_t step(mts_engine_t *e) {
    mts_event_t ev;
    for (;;) {
        assert_int_equal(mts_engine_next(e, &ev), 1);
        if (ev.kind == MTS_EV_STEP_END) { check_identity(e); return ev.ts; }
        assert_int_equal(ev.kind, MTS_EV_BAR);
    }
}

static void finish(mts_engine_t *e) {
    mts_event_t ev;
    int rc;
    while ((rc = mts_engine_next(e, &ev)) == 1) {}
    assert_int_equal(rc, 0);
    check_identity(e);
}

static mts_order_t order(int32_t book, int32_t asset, int32_t type, double qty, double price) {
    mts_order_t o = {0};
    o.asset = asset;
    o.type = type;
    o.strategy = book;
    o.book = book;
    o.qty = qty;
    o.price = price;
    return o;
}

static void submit(mts_engine_t *e, mts_order_t o) { assert_int_equal(mts_engine_submit(e, &o), 0); }

static void instrument(mts_engine_t *e, int32_t asset, int32_t type, double cs, double tick, double lot,
                       double maker, double taker, double max_lev, double mmr) {
    mts_instrument_t in = {type, 0, cs, tick, lot, maker, taker, max_lev, mmr};
    assert_int_equal(mts_engine_set_instrument(e, asset, &in), 0);
}

static mts_book_stats_t stats(const mts_engine_t *e, int32_t book) {
    mts_book_stats_t s;
    assert_int_equal(mts_engine_book_stats(e, book, &s), 0);
    return s;
}

/* ---- tests ---- */

/* Funding, long and short, with a rate whose sign changes. Two books (0.5 / 0.5
 * of 100000), a perp at leverage 2, no fees. Bars (ts: O H L C):
 *   0: 100 100 100 100 | 3600: 100 100 100 100 | 7200: 100 110 100 110
 *   10800: 110 120 110 120 | 14400: 120 120 120 120
 * After step 0: book 0 buys 10, book 1 sells 10 -> both fill at 3600's open 100;
 * margin each 10*100/2 = 500.
 * Events (payment = -q*cs*mark*rate, paid before the bar's fills):
 *   1800  rate +0.001  mark NaN : at bar 3600 both books are still flat -> nothing
 *   7200  rate +0.001  mark 105 : long -10*105*0.001 = -1.05, short +1.05
 *   9000  rate -0.002  mark NaN : at bar 10800, mark = last close 110:
 *                                 long -10*110*(-0.002) = +2.2, short -2.2
 *   14400 rate +0.0005 mark 0   : at bar 14400, mark = close 120: long -0.6, short +0.6
 *   20000 (after the last bar)  : never
 * long funding -1.05 + 2.2 - 0.6 = 0.55; short -0.55.
 * End (mark 120): book 0 cash 50000.55, equity 50000.55 + 10*20 = 50200.55;
 *                 book 1 cash 49999.45, equity 49999.45 - 200 = 49799.45.
 * END_OF_DATA: book 0 pnl = 200 - 0 + 0.55 = 200.55, book 1 -200.55; exit 120 at ts 14400;
 * MAE/MFE over [100, 120] (bars held 3600..14400, entry 100, exit mark 120):
 *   long mae 10*(100-100) = 0, mfe 10*(120-100) = 200; short mae -200, mfe 0. */
static void test_funding_long_short_sign_change(void **state) {
    (void)state;
    const int64_t ts[5] = {0, 3600, 7200, 10800, 14400};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 110, 100, 110},
                         {110, 120, 110, 120}, {120, 120, 120, 120}};
    mts_bars_t b = make_bars(5, ts, x);
    int64_t fts[5] = {1800, 7200, 9000, 14400, 20000};
    double rate[5] = {0.001, 0.001, -0.002, 0.0005, 0.1}, mark[5] = {NAN, 105, NAN, 0, NAN};
    mts_funding_events_t f = {fts, rate, mark, 5, 5};
    mts_engine_t *e = make_engine(100000, 0, 2);
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
    const double alloc[2] = {0.5, 0.5};
    assert_int_equal(mts_engine_set_books(e, 2, alloc), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 0, 0, 10, 0);
    assert_int_equal(mts_engine_set_funding(e, 0, &f), 0);
    assert_int_equal(step(e), 0);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 10, 0));
    submit(e, order(1, 0, MTS_ORDER_MARKET, -10, 0));
    assert_int_equal(step(e), 3600);
    assert_double_equal(stats(e, 0).funding, 0, 0);
    assert_double_equal(stats(e, 0).margin, 500, 1e-9);
    assert_double_equal(stats(e, 1).margin, 500, 1e-9);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);           /* the account: 10 - 10 */
    assert_double_equal(mts_engine_book_position(e, 1, 0), -10, 0);
    assert_int_equal(step(e), 7200);
    assert_double_equal(stats(e, 0).funding, -1.05, 1e-9);
    assert_double_equal(stats(e, 1).funding, 1.05, 1e-9);
    assert_int_equal(step(e), 10800);
    assert_double_equal(stats(e, 0).funding, -1.05 + 2.2, 1e-9);
    assert_double_equal(stats(e, 1).funding, 1.05 - 2.2, 1e-9);
    assert_int_equal(step(e), 14400);
    finish(e);
    assert_double_equal(stats(e, 0).funding, 0.55, 1e-9);
    assert_double_equal(stats(e, 1).funding, -0.55, 1e-9);
    assert_double_equal(stats(e, 0).cash, 50000.55, 1e-9);
    assert_double_equal(stats(e, 1).cash, 49999.45, 1e-9);
    assert_double_equal(mts_engine_book_equity(e, 0), 50200.55, 1e-9);
    assert_double_equal(mts_engine_book_equity(e, 1), 49799.45, 1e-9);
    assert_double_equal(mts_engine_equity(e), 100000, 1e-9);
    assert_double_equal(stats(e, -1).funding, 0, 1e-9);

    int64_t n = -1;
    (void)mts_engine_open_trades(e, &n);
    assert_int_equal(n, 0);                                           /* before finish: none */
    assert_int_equal(mts_engine_finish(e), 0);
    assert_int_equal(mts_engine_finish(e), 0);                        /* idempotent */
    const mts_trade_t *t = mts_engine_open_trades(e, &n);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].book, 0);
    assert_int_equal(t[0].side, 1);
    assert_int_equal(t[0].exit_reason, MTS_REASON_END_OF_DATA);
    assert_int_equal(t[0].entry_reason, MTS_REASON_SIGNAL);
    assert_int_equal(t[0].strategy, 0);
    assert_int_equal(t[0].entry_ts, 3600);
    assert_int_equal(t[0].exit_ts, 14400);
    assert_double_equal(t[0].exit_price, 120, 0);
    assert_double_equal(t[0].funding, 0.55, 1e-9);
    assert_double_equal(t[0].pnl, 200.55, 1e-9);
    assert_double_equal(t[0].mae, 0, 1e-9);
    assert_double_equal(t[0].mfe, 200, 1e-9);
    assert_int_equal(t[1].book, 1);
    assert_int_equal(t[1].strategy, 1);
    assert_int_equal(t[1].side, -1);
    assert_double_equal(t[1].pnl, -200.55, 1e-9);
    assert_double_equal(t[1].mae, -200, 1e-9);
    assert_double_equal(t[1].mfe, 0, 1e-9);
    /* the records close nothing */
    assert_double_equal(mts_engine_book_position(e, 0, 0), 10, 0);
    assert_double_equal(mts_engine_book_equity(e, 0), 50200.55, 1e-9);
    n = -1;
    (void)mts_engine_trades(e, &n);
    assert_int_equal(n, 0);
    mts_engine_free(e);
    free_bars(&b);
}

/* Liquidation price and fill, long, leverage 10, mmr 0.004, taker 5 bps, maker 2.
 * Long 1 at 50000 (bar 1's open): M = 1*50000/10 = 5000, entry fee 50000*5e-4 = 25.
 *   Pl = (avg - M/(q*cs)) / (1 - mmr) = 50000*(1-0.1)/(1-0.004) = 45000/0.996 = 45180.72289156626
 *   (check: at Pl the position's equity M + (Pl - avg) = 180.722891566 = mmr*Pl: maintenance)
 * Bar 2: O 49000 H 49500 L 45000 C 45500: low <= Pl, open above it -> liquidated at Pl.
 *   fee 45180.72289156626*5e-4 = 22.59036144578313, gross Pl - 50000 = -4819.277108433736;
 *   M + gross - fee = 158.13 > 0: no cap.
 *   cash 100000 - 25 - 4819.277108433736 - 22.59036144578313 = 95133.13253012048
 *   trade pnl = gross - (22.59036144578313 + 25) = -4866.867469879519 */
static void test_liquidation_long(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{50000, 50000, 50000, 50000}, {50000, 50100, 49900, 50000},
                         {49000, 49500, 45000, 45500}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 10);
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0.1, 0.001, 2, 5, 125, 0.004);
    assert_double_equal(mts_engine_leverage(e), 10, 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(step(e), 2);
    assert_double_equal(stats(e, 0).margin, 5000, 1e-9);
    assert_double_equal(stats(e, 0).available, 100000 - 25 - 5000, 1e-9);
    /* exposure = |q|*cs*mark/leverage = 50000/10 */
    assert_double_equal(stats(e, 0).exposure, 5000, 1e-9);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    mts_book_stats_t s = stats(e, 0);
    assert_int_equal(s.liquidations, 1);
    assert_double_equal(s.cash, 95133.13253012048, 1e-7);
    assert_double_equal(s.margin, 0, 0);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].exit_reason, MTS_REASON_LIQUIDATION);
    assert_double_equal(t[0].exit_price, 45180.72289156626, 1e-8);
    assert_double_equal(t[0].fees, 25 + 22.59036144578313, 1e-8);
    assert_double_equal(t[0].pnl, -4866.867469879519, 1e-7);
    assert_string_equal(mts_reason_name(t[0].exit_reason), "liquidation");
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Short liquidation price, and the capped loss when the open gaps through it.
 * Short 1 at 50000, L 10, mmr 0.004, taker 5 bps: M = 5000, entry fee 25.
 *   Ps = (avg + M/(|q|*cs)) / (1 + mmr) = 50000*1.1/1.004 = 55000/1.004 = 54780.876494023905
 * Bar 2 (O 52000 H 54000 L 51000 C 53000): high 54000 < Ps: nothing.
 * Bar 3 opens at 60000 > Ps: liquidated at the open 60000, fee 60000*5e-4 = 30,
 *   gross -(60000-50000) = -10000; M + gross - fee = -5030 < 0 -> gross raised to
 *   fee - M = -4970: the book loses exactly M at the liquidation:
 *   cash 100000 - 25 + (-4970) - 30 = 94975; trade pnl -4970 - (30 + 25) = -5025. */
static void test_liquidation_short_gap_capped(void **state) {
    (void)state;
    const int64_t ts[4] = {1, 2, 3, 4};
    const ohlc_t x[4] = {{50000, 50000, 50000, 50000}, {50000, 50000, 50000, 50000},
                         {52000, 54000, 51000, 53000}, {60000, 61000, 59000, 60500}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 10);
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 2, 5, 20, 0.004);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -1, 0));
    assert_int_equal(step(e), 2);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), -1, 0);
    /* just below Ps: at 54000 the position's equity 5000 - 4000 = 1000 > mmr*54000 = 216 */
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(stats(e, 0).cash, 94975, 1e-9);
    assert_int_equal(stats(e, 0).liquidations, 1);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_double_equal(t[0].exit_price, 60000, 0);
    assert_double_equal(t[0].pnl, -5025, 1e-9);
    assert_int_equal(t[0].exit_reason, MTS_REASON_LIQUIDATION);
    /* the short's MAE/MFE: held at the closes of bars 2 (50000 flat) and 3 (51000..54000),
     * entry 50000, exit 60000 (bar 4's 59000..61000 does not count: not held at its close):
     * worst 60000 -> 1*(50000 - 60000) = -10000; best 50000 -> 0 */
    assert_double_equal(t[0].mae, -10000, 1e-9);
    assert_double_equal(t[0].mfe, 0, 1e-9);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* A short liquidated AT its price: short 1 at 50000, L 10, mmr 0.004, taker 5 bps;
 * bar 3 opens 52000 (below Ps) and its high 56000 crosses
 *   Ps = 50000*1.1/1.004 = 54780.876494023905 -> filled at Ps;
 *   fee 54780.876494023905*5e-4 = 27.390438247011954; gross 50000 - Ps = -4780.876494023905;
 *   M + gross - fee = 191.73 > 0: no cap;
 *   cash 100000 - 25 - 4780.876494023905 - 27.390438247011954 = 95166.73306772909;
 *   trade pnl -4780.876494023905 - 27.390438247011954 - 25 = -4833.266932270917 */
static void test_liquidation_short_at_price(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{50000, 50000, 50000, 50000}, {50000, 50000, 50000, 50000},
                         {52000, 56000, 51000, 55500}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 10);
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 2, 5, 20, 0.004);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -1, 0));
    assert_int_equal(step(e), 2);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].exit_reason, MTS_REASON_LIQUIDATION);
    assert_double_equal(t[0].exit_price, 54780.876494023905, 1e-8);
    assert_double_equal(t[0].pnl, -4833.266932270917, 1e-7);
    assert_double_equal(stats(e, 0).cash, 95166.73306772909, 1e-7);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* A stop-loss at or before the liquidation price is taken instead:
 * long 1 at 50000, L 10, mmr 0.004: Pl = 45180.72...; SL 46000 >= Pl.
 * Bar 2: O 49000 L 45000: the stop fills at min(49000, 46000) = 46000, exit reason
 * stop_loss, no liquidation. Taker 5 bps: fees 25 + 23; pnl -4000 - 48 = -4048. */
static void test_stop_before_liquidation(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{50000, 50000, 50000, 50000}, {50000, 50100, 49900, 50000},
                         {49000, 49500, 45000, 45500}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 10);
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 2, 5, 125, 0.004);
    assert_int_equal(step(e), 1);
    mts_order_t o = order(0, 0, MTS_ORDER_MARKET, 1, 0);
    o.stop_loss = 46000;
    submit(e, o);
    assert_int_equal(step(e), 2);
    assert_int_equal(step(e), 3);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].exit_reason, MTS_REASON_STOP_LOSS);
    assert_double_equal(t[0].exit_price, 46000, 0);
    assert_double_equal(t[0].pnl, -4048, 1e-9);
    assert_int_equal(stats(e, 0).liquidations, 0);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Margin and available after open, add and partial close. Perp, contract size 0.1,
 * leverage 5, no fees, capital 10000. Bars O (=H=L=C unless said): 1000, 1000, 1100, 1200.
 *   open 20 @ 1000: margin 20*0.1*1000/5 = 400; cash 10000; available 9600
 *   add 20 @ 1100:  avg (20*1000 + 20*1100)/40 = 1050; margin 40*0.1*1050/5 = 840;
 *                   available 9160; equity at 1100: 10000 + 40*0.1*(1100-1050) = 10200
 *   sell 10 @ 1200: gross 10*0.1*(1200-1050) = 150; cash 10150; margin 840*(1-10/40) = 630;
 *                   available 9520; equity 10150 + 30*0.1*150 = 10600;
 *                   exposure 30*0.1*1200/5 = 720; trade qty 10 pnl 150 */
static void test_margin_open_add_partial(void **state) {
    (void)state;
    const int64_t ts[4] = {1, 2, 3, 4};
    const ohlc_t x[4] = {{1000, 1000, 1000, 1000}, {1000, 1000, 1000, 1000}, {1100, 1100, 1100, 1100},
                         {1200, 1200, 1200, 1200}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(10000, 0, 5);
    assert_int_equal(mts_engine_add_asset(e, "eth", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 0.1, 0, 0, 0, 0, 50, 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 20, 0));
    assert_int_equal(step(e), 2);
    mts_book_stats_t s = stats(e, 0);
    assert_double_equal(s.margin, 400, 1e-9);
    assert_double_equal(s.cash, 10000, 0);
    assert_double_equal(s.available, 9600, 1e-9);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 20, 0));
    assert_int_equal(step(e), 3);
    s = stats(e, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 1050, 1e-9);
    assert_double_equal(s.margin, 840, 1e-9);
    assert_double_equal(s.available, 9160, 1e-9);
    assert_double_equal(s.equity, 10200, 1e-9);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -10, 0));
    assert_int_equal(step(e), 4);
    s = stats(e, 0);
    assert_double_equal(s.cash, 10150, 1e-9);
    assert_double_equal(s.margin, 630, 1e-9);
    assert_double_equal(s.available, 9520, 1e-9);
    assert_double_equal(s.equity, 10600, 1e-9);
    assert_double_equal(s.exposure, 720, 1e-9);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_double_equal(t[0].qty, 10, 0);
    assert_double_equal(t[0].pnl, 150, 1e-9);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Buying power on spot: capital 1000, 10 bps, lot 0.01, every open 100.
 *   buy 20: cost 20*100*1.001 = 2002 > 1000 -> cut: 1000/100.1 = 9.99000999 -> lot 9.99;
 *           cost 999 + 0.999 = 999.999; cash 0.001; bp_cut 1
 *   buy 1:  0.001/100.1 -> 0 lots: refused, bp_refused 1
 *   sell 15 with 9.99 held: cut to 9.99 (short_refused 1): cash 0.001 + 999 - 0.999 = 998.002
 *   sell 1 flat: refused (short_refused 2)
 * Never negative cash. */
static void test_buying_power_spot(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 100, 100, 100},
                         {100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(5, ts, x);
    mts_engine_t *e = make_engine(1000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    instrument(e, 0, MTS_INST_SPOT, 1, 0, 0.01, 10, 10, 1, 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 20, 0));
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_position(e, 0), 9.99, 1e-12);
    assert_double_equal(mts_engine_cash(e), 0.001, 1e-9);
    assert_true(mts_engine_cash(e) >= 0);
    assert_int_equal(stats(e, 0).bp_cut, 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 9.99, 1e-12);
    assert_int_equal(stats(e, 0).bp_refused, 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -15, 0));
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_double_equal(mts_engine_cash(e), 998.002, 1e-9);
    assert_int_equal(stats(e, 0).short_refused, 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -1, 0));
    assert_int_equal(step(e), 5);
    assert_double_equal(mts_engine_position(e, 0), 0, 0);
    assert_int_equal(stats(e, 0).short_refused, 2);
    assert_int_equal(stats(e, 0).fills, 2);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Buying power on a perp: capital 1000, leverage 10, taker 5 bps, lot 0.1, opens 100.
 *   buy 200: cost 200*100/10 + 200*100*5e-4 = 2010 > 1000 -> unit 10 + 0.05 = 10.05,
 *            1000/10.05 = 99.502 -> lot 99.5; margin 995; fee 4.975; cash 995.025; available 0.025
 *   sell 300 (a flip): the closing 99.5 always fills and frees its margin:
 *            available 0.025 + 995 + gross 0 - 99.5*0.05 = 990.05 -> opening 990.05/10.05 = 98.51
 *            -> lot 98.5; sold 99.5 + 98.5 = 198 (bp_cut 2); fee 198*0.05 = 9.9;
 *            cash 995.025 - 9.9 = 985.125; position -98.5; margin 985; available 0.125 */
static void test_buying_power_perp(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(1000, 10, 10);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0.1, 2, 5, 20, 0.004);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 200, 0));
    assert_int_equal(step(e), 2);
    mts_book_stats_t s = stats(e, 0);
    assert_double_equal(mts_engine_position(e, 0), 99.5, 1e-12);
    assert_double_equal(s.margin, 995, 1e-9);
    assert_double_equal(s.cash, 995.025, 1e-9);
    assert_double_equal(s.available, 0.025, 1e-9);
    assert_int_equal(s.bp_cut, 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -300, 0));
    assert_int_equal(step(e), 3);
    s = stats(e, 0);
    assert_double_equal(mts_engine_position(e, 0), -98.5, 1e-9);
    assert_double_equal(s.cash, 985.125, 1e-9);
    assert_double_equal(s.margin, 985, 1e-9);
    assert_double_equal(s.available, 0.125, 1e-9);
    assert_true(s.available >= 0);
    assert_int_equal(s.bp_cut, 2);
    assert_int_equal(s.short_refused, 0);      /* perps may short */
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Maker fees on LIMIT fills, taker on MARKET and STOP; LIMIT/STOP prices on the tick.
 * Spot, maker 2 bps, taker 5 bps, tick 0.5, capital 10000.
 *   limit buy 1 @ 99.3 -> tick down 99.0; bar 2 (O 100 H 101 L 98): fills at min(100, 99) = 99,
 *       maker 99*2e-4 = 0.0198
 *   limit sell 1 @ 100.2 -> tick up 100.5; bar 3 (O 100 H 101 L 99.5): max(100, 100.5) = 100.5,
 *       maker 100.5*2e-4 = 0.0201
 *   market buy 1; bar 4 (O 100 H 100 L 99 C 100): 100, taker 100*5e-4 = 0.05
 *   stop sell 1 @ 99.2 -> tick down 99.0; bar 5 (O 100 H 100 L 98 C 98.5): min(100, 99) = 99,
 *       taker 99*5e-4 = 0.0495
 *   cash 10000 - 99 + 100.5 - 100 + 99 - (0.0198 + 0.0201 + 0.05 + 0.0495) = 10000.3606 */
static void test_maker_taker_tick(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 101, 98, 100}, {100, 101, 99.5, 100},
                         {100, 100, 99, 100}, {100, 100, 98, 98.5}};
    mts_bars_t b = make_bars(5, ts, x);
    mts_engine_t *e = make_engine(10000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    instrument(e, 0, MTS_INST_SPOT, 1, 0.5, 0, 2, 5, 1, 0);
    mts_engine_keep_fills(e, 1);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_LIMIT, 1, 99.3));
    assert_int_equal(step(e), 2);
    submit(e, order(0, 0, MTS_ORDER_LIMIT, -1, 100.2));
    assert_int_equal(step(e), 3);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(step(e), 4);
    submit(e, order(0, 0, MTS_ORDER_STOP, -1, 99.2));
    assert_int_equal(step(e), 5);
    finish(e);
    int64_t n = 0;
    const mts_fill_rec_t *f = mts_engine_fills(e, &n);
    assert_int_equal(n, 4);
    assert_double_equal(f[0].price, 99, 0);
    assert_double_equal(f[0].fee, 0.0198, 1e-12);
    assert_double_equal(f[1].price, 100.5, 0);
    assert_double_equal(f[1].fee, 0.0201, 1e-12);
    assert_double_equal(f[2].price, 100, 0);
    assert_double_equal(f[2].fee, 0.05, 1e-12);
    assert_double_equal(f[3].price, 99, 0);
    assert_double_equal(f[3].fee, 0.0495, 1e-12);
    assert_int_equal(f[3].kind, MTS_FILL_STOP);
    assert_int_equal(f[3].book, 0);
    assert_double_equal(mts_engine_cash(e), 10000.3606, 1e-9);
    mts_engine_free(e);
    free_bars(&b);
}

/* Lot rounding: lot 0.1, capital 1000, no fees, opens 10.
 *   buy 0.3 -> 0.3 (0.3/0.1 = 2.9999999999999996 must not round to 0.2)
 *   buy 0.3333 -> 0.3; position 0.6, cash 1000 - 6 = 994
 *   buy 0.04 -> 0 lots: refused (lot_refused 1) */
static void test_lot_rounding(void **state) {
    (void)state;
    const int64_t ts[4] = {1, 2, 3, 4};
    const ohlc_t x[4] = {{10, 10, 10, 10}, {10, 10, 10, 10}, {10, 10, 10, 10}, {10, 10, 10, 10}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "a", &b, NULL), 0);
    instrument(e, 0, MTS_INST_SPOT, 1, 0, 0.1, 0, 0, 1, 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 0.3, 0));
    assert_int_equal(step(e), 2);
    assert_double_equal(mts_engine_position(e, 0), 0.3, 1e-12);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 0.3333, 0));
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_position(e, 0), 0.6, 1e-12);
    assert_double_equal(mts_engine_cash(e), 994, 1e-9);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 0.04, 0));
    assert_int_equal(step(e), 4);
    assert_double_equal(mts_engine_position(e, 0), 0.6, 1e-12);
    assert_int_equal(stats(e, 0).lot_refused, 1);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

/* Two books trading one perp in opposite directions reconcile with the account
 * to the cent. Capital 100000: book 0 0.3 (30000), book 1 0.5 (50000), 20000
 * unallocated. Leverage 2, taker 5 bps, mmr 0.01.
 * Bars (ts: O H L C): 60: 1000 flat | 120: 1000 1010 990 1005 | 180: 1010 1030 1000 1020
 *                     240: 1020 1025 1015 1018
 * step 60: book 0 buys 10, book 1 sells 20 -> at 1000: fees 5 and 10.
 *   step 120 (close 1005): book 0 cash 29995, equity 29995 + 10*5 = 30045;
 *                          book 1 cash 49990, equity 49990 - 20*5 = 49890; account 99935
 * step 120: book 0 sells 4, book 1 buys 30 (flip) -> at 1010:
 *   book 0: gross 4*10 = 40, fee 4*1010*5e-4 = 2.02: cash 30032.98, 6 @ 1000
 *   book 1: closing gross 20*(1000-1010) = -200, fee 30*1010*5e-4 = 15.15:
 *           cash 49990 - 200 - 15.15 = 49774.85, 10 @ 1010
 *   step 180 (close 1020): 30032.98 + 6*20 = 30152.98; 49774.85 + 10*10 = 49874.85;
 *                          account 100027.83
 *   step 240 (close 1018): 30140.98; 49854.85; account 99995.83
 * Trades merged by exit_ts then book: book 0's (4, pnl 40 - 2.02 - 5*4/10 = 35.98),
 *   book 1's (20, pnl -200 - 15.15*20/30 - 10 = -220.1). */
static void test_two_books_reconcile(void **state) {
    (void)state;
    const int64_t ts[4] = {60, 120, 180, 240};
    const ohlc_t x[4] = {{1000, 1000, 1000, 1000}, {1000, 1010, 990, 1005}, {1010, 1030, 1000, 1020},
                         {1020, 1025, 1015, 1018}};
    mts_bars_t b = make_bars(4, ts, x);
    mts_engine_t *e = make_engine(100000, 10, 2);
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
    const double alloc[2] = {0.3, 0.5};
    assert_int_equal(mts_engine_set_books(e, 2, alloc), 0);
    assert_int_equal(mts_engine_book_count(e), 2);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 2, 5, 10, 0.01);
    assert_int_equal(step(e), 60);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 10, 0));
    submit(e, order(1, 0, MTS_ORDER_MARKET, -20, 0));
    assert_int_equal(step(e), 120);
    assert_double_equal(mts_engine_book_equity(e, 0), 30045, 1e-9);
    assert_double_equal(mts_engine_book_equity(e, 1), 49890, 1e-9);
    assert_double_equal(mts_engine_equity(e), 99935, 1e-9);
    assert_double_equal(mts_engine_position(e, 0), -10, 0);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -4, 0));
    submit(e, order(1, 0, MTS_ORDER_MARKET, 30, 0));
    assert_int_equal(step(e), 180);
    assert_double_equal(stats(e, 0).cash, 30032.98, 1e-9);
    assert_double_equal(stats(e, 1).cash, 49774.85, 1e-9);
    assert_double_equal(mts_engine_equity(e), 100027.83, 1e-9);
    assert_double_equal(mts_engine_cash(e), 30032.98 + 49774.85 + 20000, 1e-9);
    assert_double_equal(mts_engine_position(e, 0), 16, 0);
    assert_int_equal(step(e), 240);
    finish(e);
    assert_double_equal(mts_engine_book_equity(e, 0), 30140.98, 1e-9);
    assert_double_equal(mts_engine_book_equity(e, 1), 49854.85, 1e-9);
    assert_double_equal(mts_engine_equity(e), 99995.83, 1e-9);
    mts_book_stats_t acc = stats(e, -1);
    assert_double_equal(acc.equity, 99995.83, 1e-9);
    assert_double_equal(acc.initial, 100000, 0);
    assert_double_equal(acc.fees, 5 + 10 + 2.02 + 15.15, 1e-9);
    /* the account's curve: one point per step */
    const mts_series_t *c = mts_engine_equity_curve(e);
    assert_int_equal(c->n, 4);
    const double want[4] = {100000, 99935, 100027.83, 99995.83};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c->ts[i], ts[i]);
        assert_double_equal(c->v[i], want[i], 1e-9);
    }
    const mts_portfolio_t *b0 = mts_engine_book(e, 0);
    assert_non_null(b0);
    assert_null(mts_engine_book(e, 2));
    assert_int_equal(b0->equity.n, 4);
    assert_double_equal(b0->equity.v[3], 30140.98, 1e-9);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].book, 0);
    assert_double_equal(t[0].qty, 4, 0);
    assert_double_equal(t[0].pnl, 35.98, 1e-9);
    assert_int_equal(t[1].book, 1);
    assert_int_equal(t[1].strategy, 1);
    assert_double_equal(t[1].qty, 20, 0);
    assert_double_equal(t[1].pnl, -220.1, 1e-9);
    assert_true(isnan(mts_engine_book_position(e, 2, 0)));
    assert_true(isnan(mts_engine_book_equity(e, -1)));
    mts_engine_free(e);
    free_bars(&b);
}

/* MAE / MFE over known bars; strategy and reasons.
 * Asset 0 spot, asset 1 perp (leverage 1), the same bars, no fees:
 *   1: 100 flat | 2: O 100 H 103 L 98 C 101 | 3: 101 106 99 104 | 4: 104 105 95 97
 *   5: 97 99 90 92
 * long 2 (spot, strategy 7) and short 1 (perp) open at bar 2's open 100; both closed
 * at bar 5's open 97 (bar 5 is not held at its close: its 90..99 does not count).
 * Range held: bars 2..4 lows/highs, entry 100, exit 97: worst low 95, best high 106.
 *   long:  mae 2*(95-100) = -10, mfe 2*(106-100) = 12, pnl 2*(97-100) = -6
 *   short: mae 1*(100-106) = -6, mfe 1*(100-95) = 5, pnl +3 */
static void test_mae_mfe(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 103, 98, 101}, {101, 106, 99, 104},
                         {104, 105, 95, 97}, {97, 99, 90, 92}};
    mts_bars_t b0 = make_bars(5, ts, x), b1 = make_bars(5, ts, x);
    mts_engine_t *e = make_engine(10000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "s", &b0, NULL), 0);
    assert_int_equal(mts_engine_add_asset(e, "p", &b1, NULL), 0);
    instrument(e, 1, MTS_INST_PERP, 1, 0, 0, 0, 0, 1, 0);
    assert_int_equal(step(e), 1);
    mts_order_t o = order(0, 0, MTS_ORDER_MARKET, 2, 0);
    o.strategy = 7;
    submit(e, o);
    submit(e, order(0, 1, MTS_ORDER_MARKET, -1, 0));
    assert_int_equal(step(e), 2);
    assert_int_equal(step(e), 3);
    assert_int_equal(step(e), 4);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -2, 0));
    submit(e, order(0, 1, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(step(e), 5);
    finish(e);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].asset, 0);
    assert_int_equal(t[0].strategy, 7);
    assert_int_equal(t[0].entry_reason, MTS_REASON_SIGNAL);
    assert_int_equal(t[0].exit_reason, MTS_REASON_SIGNAL);
    assert_double_equal(t[0].mae, -10, 1e-12);
    assert_double_equal(t[0].mfe, 12, 1e-12);
    assert_double_equal(t[0].pnl, -6, 1e-12);
    assert_int_equal(t[1].asset, 1);
    assert_int_equal(t[1].side, -1);
    assert_double_equal(t[1].mae, -6, 1e-12);
    assert_double_equal(t[1].mfe, 5, 1e-12);
    assert_double_equal(t[1].pnl, 3, 1e-12);
    assert_double_equal(t[1].funding, 0, 0);
    /* all closed: no END_OF_DATA records */
    assert_int_equal(mts_engine_finish(e), 0);
    (void)mts_engine_open_trades(e, &n);
    assert_int_equal(n, 0);
    mts_engine_free(e);
    free_bars(&b0);
    free_bars(&b1);
}

/* The funding share of a partial close, pro rata, and of the rest; END_OF_DATA of spot.
 * Perp (leverage 1, no fees), long 4 at 100 (bar 2); event at ts 3 rate 0.01 mark 100:
 * -4*100*0.01 = -4. Bar 3 (100 flat) sells 1 at 100: trade funding -4*1/4 = -1, pnl -1.
 * Event at ts 4 rate -0.01, mark NaN -> mark 100: -3*100*(-0.01) = +3; position funding
 * -3 + 3 = 0; sell 3 at bar 5's open 110: funding 0, pnl 3*10 = 30.
 * Spot asset (the same bars, its own events): buy 1 at 100, held to the end:
 * END_OF_DATA pnl = 1*(110-100) = 10 at exit 110, funding 0 (spot pays none). */
static void test_funding_share_and_open_spot(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 100, 100, 100},
                         {100, 100, 100, 100}, {110, 110, 110, 110}};
    mts_bars_t bp = make_bars(5, ts, x), bs = make_bars(5, ts, x);
    mts_engine_t *e = make_engine(10000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "p", &bp, NULL), 0);
    assert_int_equal(mts_engine_add_asset(e, "s", &bs, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 0, 0, 1, 0);
    /* funding appended (the live path) instead of set; the spot asset's events pay nothing */
    assert_int_equal(mts_engine_append_funding(e, 0, 3, 0.01, 100), 0);
    assert_int_equal(mts_engine_append_funding(e, 0, 4, -0.01, NAN), 0);
    assert_int_equal(mts_engine_append_funding(e, 0, 4, 0.5, 1), MTS_ERANGE);   /* not after the last */
    assert_int_equal(mts_engine_append_funding(e, 1, 3, 0.01, 100), 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 4, 0));
    submit(e, order(0, 1, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(step(e), 2);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -1, 0));
    assert_int_equal(step(e), 3);
    assert_double_equal(stats(e, 0).funding, -4, 1e-12);
    assert_int_equal(step(e), 4);
    assert_double_equal(stats(e, 0).funding, -1, 1e-12);
    submit(e, order(0, 0, MTS_ORDER_MARKET, -3, 0));
    assert_int_equal(step(e), 5);
    finish(e);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 2);
    assert_double_equal(t[0].funding, -1, 1e-12);
    assert_double_equal(t[0].pnl, -1, 1e-12);
    assert_double_equal(t[1].funding, 0, 1e-12);
    assert_double_equal(t[1].pnl, 30, 1e-12);
    assert_int_equal(mts_engine_finish(e), 0);
    const mts_trade_t *o = mts_engine_open_trades(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].asset, 1);
    assert_int_equal(o[0].exit_reason, MTS_REASON_END_OF_DATA);
    assert_string_equal(mts_reason_name(o[0].exit_reason), "end_of_data");
    assert_double_equal(o[0].exit_price, 110, 0);
    assert_double_equal(o[0].pnl, 10, 1e-12);
    assert_double_equal(o[0].funding, 0, 0);
    /* equity 10000 - 1 + 30 (perp) + 10 (spot, unrealised) */
    assert_double_equal(mts_engine_equity(e), 10039, 1e-9);
    mts_engine_free(e);
    free_bars(&bp);
    free_bars(&bs);
}

/* Argument checks and names. */
static void test_errors_and_names(void **state) {
    (void)state;
    const int64_t ts[2] = {1, 2};
    const ohlc_t x[2] = {{10, 10, 10, 10}, {10, 10, 10, 10}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(1000, 10, 20);
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &b, NULL), 0);
    const double over[2] = {0.6, 0.5}, zero[2] = {0.5, 0}, ok[1] = {0.25};
    assert_int_equal(mts_engine_set_books(e, 2, over), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "sum"));
    assert_int_equal(mts_engine_set_books(e, 2, zero), MTS_EINVAL);
    assert_int_equal(mts_engine_set_books(e, 0, ok), MTS_EINVAL);
    assert_int_equal(mts_engine_set_books(e, MTS_ENGINE_MAX_BOOKS + 1, NULL), MTS_EINVAL);
    mts_instrument_t in = {MTS_INST_PERP, 0, 1, 0, 0, 2, 5, 10, 0.004};
    assert_int_equal(mts_engine_set_instrument(e, 0, &in), MTS_EINVAL);
    assert_string_equal(mts_engine_errmsg(e), "leverage 20 exceeds bitcoin's max_leverage 10");
    in.max_leverage = 125;
    in.contract_size = 0;
    assert_int_equal(mts_engine_set_instrument(e, 0, &in), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "contract_size"));
    in.contract_size = 1;
    in.maintenance_margin_rate = 1;
    assert_int_equal(mts_engine_set_instrument(e, 0, &in), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "maintenance_margin_rate"));
    in.maintenance_margin_rate = 0.004;
    assert_int_equal(mts_engine_set_instrument(e, 0, &in), 0);
    mts_instrument_t got;
    assert_int_equal(mts_engine_instrument(e, 0, &got), 0);
    assert_int_equal(got.type, MTS_INST_PERP);
    assert_double_equal(got.taker_fee_bps, 5, 0);
    assert_int_equal(mts_engine_instrument(e, 1, &got), MTS_EINVAL);
    /* one book with a quarter of the capital: 750 unallocated, part of the account */
    assert_int_equal(mts_engine_set_books(e, 1, ok), 0);
    assert_double_equal(mts_engine_equity(e), 1000, 0);
    assert_double_equal(mts_engine_book_equity(e, 0), 250, 0);
    mts_order_t o = order(1, 0, MTS_ORDER_MARKET, 1, 0);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);            /* book 1 of 1 */
    assert_non_null(strstr(mts_engine_errmsg(e), "book"));
    assert_string_equal(mts_reason_name(MTS_REASON_SIGNAL), "signal");
    assert_string_equal(mts_reason_name(MTS_REASON_STOP_LOSS), "stop_loss");
    assert_string_equal(mts_reason_name(MTS_REASON_TAKE_PROFIT), "take_profit");
    assert_string_equal(mts_reason_name(9), "?");
    mts_event_t ev;
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(mts_engine_set_books(e, 1, NULL), MTS_EINVAL);   /* started */
    assert_int_equal(mts_engine_set_instrument(e, 0, &in), MTS_EINVAL);
    mts_engine_free(e);
    free_bars(&b);
}

/* The quiet path declines what it cannot do exactly: several books, an open perp
 * position; with a flat perp it skips and passes the funding events it skipped
 * (they must not be charged to a position opened later).
 * Perp, no fees, leverage 1; bars every 10 s, all 100; events at 15 (rate 0.5)
 * and 45 (rate 0.01). Step events off. After bar 0, quiet is 3; skip 3 (bars
 * 1..3, ts 10..30: the event at 15 passes, flat). A buy of 1 submitted then fills
 * at bar 4 (ts 40); the event at 45 is paid at bar 5 (ts 50): -1*100*0.01 = -1;
 * the one at 15 never is. With the perp open quiet is 0. */
static void test_quiet_declines_and_funding(void **state) {
    (void)state;
    int64_t ts[8];
    ohlc_t x[8];
    for (int i = 0; i < 8; i++) { ts[i] = 10 * i; x[i] = (ohlc_t){100, 100, 100, 100}; }
    mts_bars_t b = make_bars(8, ts, x);
    int64_t fts[2] = {15, 45};
    double rate[2] = {0.5, 0.01};
    mts_funding_events_t f = {fts, rate, NULL, 2, 2};
    mts_engine_t *e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "p", &b, NULL), 0);
    instrument(e, 0, MTS_INST_PERP, 1, 0, 0, 0, 0, 1, 0);
    assert_int_equal(mts_engine_set_funding(e, 0, &f), 0);
    mts_engine_step_events(e, 0);
    mts_event_t ev;
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.index, 0);
    assert_true(mts_engine_quiet(e, 0, 3) == 3);
    assert_int_equal(mts_engine_skip(e, 0, 3), 0);
    submit(e, order(0, 0, MTS_ORDER_MARKET, 1, 0));
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.index, 4);
    assert_double_equal(mts_engine_position(e, 0), 1, 0);
    assert_int_equal(mts_engine_quiet(e, 0, 3), 0);                    /* open perp */
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(ev.index, 5);
    assert_double_equal(stats(e, 0).funding, -1, 1e-12);
    finish(e);
    check_identity(e);
    mts_engine_free(e);

    /* two books: never quiet */
    e = make_engine(1000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "p", &b, NULL), 0);
    const double alloc[2] = {0.5, 0.5};
    assert_int_equal(mts_engine_set_books(e, 2, alloc), 0);
    mts_engine_step_events(e, 0);
    assert_int_equal(mts_engine_next(e, &ev), 1);
    assert_int_equal(mts_engine_quiet(e, 0, 3), 0);
    mts_engine_free(e);
    free_bars(&b);
}

/* Two books with resting limit buys on one asset: cancelling book 0's leaves
 * book 1's in place, and it fills on the next bar that reaches it. Spot, fee 0.
 * Bar 2 (low 95) reaches both limits (96 and 97) but only book 1's remains:
 * book 1 buys 2 at min(open 100, 97) = 97 -> cash 50000 - 194 = 49806. */
static void test_cancel_book_keeps_other_books(void **state) {
    (void)state;
    const int64_t ts[3] = {60, 120, 180};
    const ohlc_t x[3] = {{100, 100, 100, 100}, {100, 101, 99, 100}, {100, 100, 95, 98}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(100000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
    const double alloc[2] = {0.5, 0.5};
    assert_int_equal(mts_engine_set_books(e, 2, alloc), 0);
    assert_int_equal(step(e), 60);
    submit(e, order(0, 0, MTS_ORDER_LIMIT, 1, 96));
    submit(e, order(1, 0, MTS_ORDER_LIMIT, 2, 97));
    assert_int_equal(step(e), 120);                 /* low 99: neither fills */
    assert_int_equal(mts_engine_cancel_book(e, 0, 0), 0);
    assert_int_equal(mts_engine_cancel_book(e, 0, 2), MTS_EINVAL);
    assert_int_equal(step(e), 180);
    assert_double_equal(mts_engine_book_position(e, 0, 0), 0, 0);
    assert_double_equal(mts_engine_book_position(e, 1, 0), 2, 0);
    assert_double_equal(stats(e, 1).cash, 49806, 1e-9);
    assert_double_equal(stats(e, 0).cash, 50000, 0);
    finish(e);
    mts_engine_free(e);
    free_bars(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_funding_long_short_sign_change),
        cmocka_unit_test(test_liquidation_long),
        cmocka_unit_test(test_liquidation_short_gap_capped),
        cmocka_unit_test(test_liquidation_short_at_price),
        cmocka_unit_test(test_stop_before_liquidation),
        cmocka_unit_test(test_margin_open_add_partial),
        cmocka_unit_test(test_buying_power_spot),
        cmocka_unit_test(test_buying_power_perp),
        cmocka_unit_test(test_maker_taker_tick),
        cmocka_unit_test(test_lot_rounding),
        cmocka_unit_test(test_two_books_reconcile),
        cmocka_unit_test(test_mae_mfe),
        cmocka_unit_test(test_funding_share_and_open_spot),
        cmocka_unit_test(test_errors_and_names),
        cmocka_unit_test(test_quiet_declines_and_funding),
        cmocka_unit_test(test_cancel_book_keeps_other_books),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
