/* test_shadow_books.c — shadow books in the engine (issue 14, SPEC14B A1):
 * mts_engine_add_shadow_book / mts_engine_account_books / mts_engine_book_is_shadow.
 * A shadow book trades like any book (buying power from its own cash, maker/taker
 * fees, stop-loss/take-profit, funding, liquidation, per-book cancel) but is left
 * out of everything the account reports. Two kinds of oracle, never the code under
 * test: the account's numbers are compared with a second engine run WITHOUT the
 * shadow book (the same orders into the account's books: every equity point, every
 * trade, every fill record, the stats, bit for bit), and the shadow's own numbers
 * are worked out by hand in the comment above their assertions. */
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
/* bit for bit: the same double (NaN equal to NaN) */
#define assert_same(a, b) do { double a_ = (a), b_ = (b);                                  \
        if (memcmp(&a_, &b_, sizeof a_) != 0)                                             \
            fail_msg("%s = %.17g differs from %s = %.17g", #a, a_, #b, b_);              \
    } while (0)

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

static int64_t step(mts_engine_t *e) {
    mts_event_t ev;
    for (;;) {
        assert_int_equal(mts_engine_next(e, &ev), 1);
        if (ev.kind == MTS_EV_STEP_END) return ev.ts;
        assert_int_equal(ev.kind, MTS_EV_BAR);
    }
}

static void run_out(mts_engine_t *e) {
    mts_event_t ev;
    int rc;
    while ((rc = mts_engine_next(e, &ev)) == 1) {}
    assert_int_equal(rc, 0);
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

/* Everything the account reports, after a step: compared between the run with the
 * shadow book and the run without it. */
static void assert_same_account(const mts_engine_t *a, const mts_engine_t *b, int32_t n_assets) {
    assert_same(mts_engine_equity(a), mts_engine_equity(b));
    assert_same(mts_engine_cash(a), mts_engine_cash(b));
    for (int32_t i = 0; i < n_assets; i++) {
        assert_same(mts_engine_position(a, i), mts_engine_position(b, i));
        assert_same(mts_engine_avg_cost(a, i), mts_engine_avg_cost(b, i));
        assert_same(mts_engine_mark(a, i), mts_engine_mark(b, i));
    }
    mts_book_stats_t sa = stats(a, -1), sb = stats(b, -1);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_int_equal(mts_engine_fill_count(a), mts_engine_fill_count(b));
}

/* The end of two runs: the account's curve point by point, its trades, its
 * END_OF_DATA records and its fill records (the shadow's left out of the log). */
static void assert_same_run(mts_engine_t *a, mts_engine_t *b, int32_t n_account) {
    const mts_series_t *ca = mts_engine_equity_curve(a), *cb = mts_engine_equity_curve(b);
    assert_int_equal(ca->n, cb->n);
    for (int64_t k = 0; k < ca->n; k++) {
        assert_int_equal(ca->ts[k], cb->ts[k]);
        assert_same(ca->v[k], cb->v[k]);
    }
    int64_t na = -1, nb = -2;
    const mts_trade_t *ta = mts_engine_trades(a, &na);
    const mts_trade_t *tb = mts_engine_trades(b, &nb);
    assert_int_equal(na, nb);
    if (na) assert_memory_equal(ta, tb, (size_t)na * sizeof *ta);
    assert_int_equal(mts_engine_finish(a), 0);
    assert_int_equal(mts_engine_finish(b), 0);
    ta = mts_engine_open_trades(a, &na);
    tb = mts_engine_open_trades(b, &nb);
    assert_int_equal(na, nb);
    if (na) assert_memory_equal(ta, tb, (size_t)na * sizeof *ta);
    const mts_fill_rec_t *fa = mts_engine_fills(a, &na), *fb = mts_engine_fills(b, &nb);
    int64_t j = 0;
    for (int64_t k = 0; k < na; k++) {
        if (fa[k].book >= n_account) continue;       /* a shadow's fill */
        assert_true(j < nb);
        assert_memory_equal(&fa[k], &fb[j], sizeof fa[k]);
        j++;
    }
    assert_int_equal(j, nb);
}

/* ---- one account book + one shadow book, spot ---- */

/* Bars (ts: O H L C), one spot asset, maker 2 bps, taker 10 bps, no slippage:
 *   1: 100 100 100 100 | 2: 100 105  99 104 | 3: 104 110 103 108
 *   4: 108 109 100 101 | 5: 101 102  95  96 | 6:  96  98  94  97
 * The account (book 0, 100000), the same orders in both runs:
 *   after step 1: MARKET buy 100 -> bar 2 open 100, fee 100*100*0.001 = 10
 *   after step 3: MARKET sell 100 -> bar 4 open 108, fee 10.8, realised 800
 *   after step 4: MARKET buy 50  -> bar 5 open 101, fee 5.05 (open at the end)
 *   curve: 1: 100000; 2: cash 89990 + 100*104 = 100390; 3: 89990 + 10800 = 100790;
 *          4: 89990 + 10800 - 10.8 = 100779.2; 5: cash 100779.2 - 5050 - 5.05 = 95724.15,
 *          + 50*96 = 100524.15; 6: 95724.15 + 50*97 = 100574.15
 * The shadow (book 1, its own 20000), only in the second run:
 *   after step 1: LIMIT buy 150 @ 100, take_profit 107 -> bar 2 low 99 <= 100: fills at
 *     min(open 100, 100) = 100, maker fee 15000*0.0002 = 3; cash 20000 - 15003 = 4997;
 *     bar 2 high 105 < 107; equity at 2: 4997 + 150*104 = 20597
 *   bar 3 high 110 >= 107: take-profit at max(open 104, 107) = 107, taker fee
 *     150*107*0.001 = 16.05, realised 150*7 = 1050; cash 4997 + 16050 - 16.05 = 21030.95
 *   after step 4: MARKET buy 100, stop_loss 96 -> bar 5 open 101, fee 10.1; the same bar's
 *     low 95 <= 96: stop-loss at min(101, 96) = 96, fee 9.6, realised -500;
 *     cash 21030.95 - 10100 - 10.1 + 9600 - 9.6 = 20511.25
 *     (= capital + realised - fees = 20000 + 550 - (3 + 16.05 + 10.1 + 9.6) = 20511.25)
 *   after step 5: MARKET buy 10 -> bar 6 open 96, fee 0.96; cash 20511.25 - 960.96 = 19550.29,
 *     equity 19550.29 + 10*97 = 20520.29 (= 20000 + 550 + 10*(97-96) - 39.71)
 *   its curve: 20000, 20597, 21030.95, 21030.95, 20511.25, 20520.29
 *   its trades: TP  pnl 1050 - 3 - 16.05 = 1030.95; SL pnl -500 - 10.1 - 9.6 = -519.7 */
static const int64_t TS6[6] = {1, 2, 3, 4, 5, 6};
static const ohlc_t X6[6] = {{100, 100, 100, 100}, {100, 105, 99, 104}, {104, 110, 103, 108},
                             {108, 109, 100, 101}, {101, 102, 95, 96}, {96, 98, 94, 97}};

static mts_engine_t *spot_engine(const mts_bars_t *b, int32_t n_books, const double *alloc) {
    mts_engine_t *e = make_engine(100000, 10, 0);
    assert_int_equal(mts_engine_add_asset(e, "btc", b, NULL), 0);
    if (n_books > 1) assert_int_equal(mts_engine_set_books(e, n_books, alloc), 0);
    instrument(e, 0, MTS_INST_SPOT, 1, 0, 0, 2, 10, 1, 0);
    mts_engine_keep_fills(e, 1);
    return e;
}

static void test_account_equals_the_account_alone(void **state) {
    (void)state;
    mts_bars_t b = make_bars(6, TS6, X6);
    mts_engine_t *alone = spot_engine(&b, 1, NULL), *e = spot_engine(&b, 1, NULL);
    int32_t sh = -1;
    assert_int_equal(mts_engine_book_count(e), 1);
    assert_int_equal(mts_engine_add_shadow_book(e, 20000, &sh), 0);
    assert_int_equal(sh, 1);                                  /* book_count() before the call */
    assert_int_equal(mts_engine_book_count(e), 2);
    assert_int_equal(mts_engine_account_books(e), 1);
    assert_int_equal(mts_engine_account_books(alone), 1);
    assert_int_equal(mts_engine_book_is_shadow(e, 0), 0);
    assert_int_equal(mts_engine_book_is_shadow(e, 1), 1);
    assert_int_equal(mts_engine_book_is_shadow(e, 2), 0);    /* bad ids: 0 */
    assert_int_equal(mts_engine_book_is_shadow(e, -1), 0);
    assert_int_equal(mts_engine_book_is_shadow(NULL, 1), 0);
    /* before the start too: the shadow's capital, the account's untouched */
    assert_double_equal(mts_engine_book_equity(e, 1), 20000, 0);
    assert_same_account(e, alone, 1);

    const double acct_curve[6] = {100000, 100390, 100790, 100779.2, 100524.15, 100574.15};
    const double shadow_curve[6] = {20000, 20597, 21030.95, 21030.95, 20511.25, 20520.29};
    mts_engine_t *both[2] = {alone, e};
    for (int s = 0; s < 6; s++) {
        for (int r = 0; r < 2; r++) {
            mts_engine_t *x = both[r];
            assert_int_equal(step(x), TS6[s]);
            if (s == 0) submit(x, order(0, 0, MTS_ORDER_MARKET, 100, 0));
            if (s == 2) submit(x, order(0, 0, MTS_ORDER_MARKET, -100, 0));
            if (s == 3) submit(x, order(0, 0, MTS_ORDER_MARKET, 50, 0));
        }
        if (s == 0) {
            mts_order_t o = order(sh, 0, MTS_ORDER_LIMIT, 150, 100);
            o.take_profit = 107;
            submit(e, o);
        }
        if (s == 3) {
            mts_order_t o = order(sh, 0, MTS_ORDER_MARKET, 100, 0);
            o.stop_loss = 96;
            submit(e, o);
        }
        if (s == 4) submit(e, order(sh, 0, MTS_ORDER_MARKET, 10, 0));
        assert_same_account(e, alone, 1);
        assert_double_equal(mts_engine_equity(e), acct_curve[s], 1e-9);
        assert_double_equal(mts_engine_book_equity(e, sh), shadow_curve[s], 1e-9);
    }
    run_out(alone);
    run_out(e);
    assert_same_account(e, alone, 1);
    /* the account's curve is book 0's, one point per step, the hand values above */
    const mts_series_t *c = mts_engine_equity_curve(e);
    assert_int_equal(c->n, 6);
    for (int s = 0; s < 6; s++) assert_double_equal(c->v[s], acct_curve[s], 1e-9);
    assert_ptr_equal(c, &mts_engine_book(e, 0)->equity);
    /* the shadow's own curve */
    const mts_portfolio_t *p = mts_engine_book(e, sh);
    assert_non_null(p);
    assert_int_equal(p->equity.n, 6);
    for (int s = 0; s < 6; s++) assert_double_equal(p->equity.v[s], shadow_curve[s], 1e-9);
    /* its stats: initial 20000, realised 550, fees 39.71, 10 held at 96 marked 97 */
    mts_book_stats_t ss = stats(e, sh);
    assert_double_equal(ss.initial, 20000, 0);
    assert_double_equal(ss.cash, 19550.29, 1e-9);
    assert_double_equal(ss.realized, 550, 1e-9);
    assert_double_equal(ss.fees, 3 + 16.05 + 10.1 + 9.6 + 0.96, 1e-9);
    assert_double_equal(ss.unrealized, 10, 1e-9);
    assert_double_equal(ss.equity, 20520.29, 1e-9);
    assert_int_equal(ss.fills, 5);
    assert_int_equal(ss.trades, 2);
    assert_double_equal(mts_engine_book_position(e, sh, 0), 10, 0);
    assert_int_equal(p->n_trades, 2);
    assert_int_equal(p->trades[0].book, sh);
    assert_int_equal(p->trades[0].exit_reason, MTS_REASON_TAKE_PROFIT);
    assert_double_equal(p->trades[0].exit_price, 107, 0);
    assert_double_equal(p->trades[0].pnl, 1030.95, 1e-9);
    assert_int_equal(p->trades[1].exit_reason, MTS_REASON_STOP_LOSS);
    assert_double_equal(p->trades[1].exit_price, 96, 0);
    assert_double_equal(p->trades[1].pnl, -519.7, 1e-9);
    /* the account: position 50 (not 60), avg cost 101 (not (50*101 + 10*96)/60), one trade
     * (800 - 10 - 10.8 = 779.2), three fills; stats(-1) the account's alone */
    assert_double_equal(mts_engine_position(e, 0), 50, 0);
    assert_double_equal(mts_engine_avg_cost(e, 0), 101, 0);
    assert_int_equal(mts_engine_fill_count(e), 3);
    mts_book_stats_t sa = stats(e, -1);
    assert_double_equal(sa.initial, 100000, 0);
    assert_double_equal(sa.equity, 100574.15, 1e-9);
    assert_double_equal(sa.fees, 10 + 10.8 + 5.05, 1e-9);
    assert_int_equal(sa.fills, 3);
    assert_int_equal(sa.trades, 1);
    int64_t n = 0;
    const mts_trade_t *t = mts_engine_trades(e, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(t, mts_engine_book(e, 0)->trades);         /* one account book: book 0's array */
    assert_int_equal(t[0].book, 0);
    assert_double_equal(t[0].pnl, 779.2, 1e-9);
    /* the fill log has every book's fills: 3 of the account + 5 of the shadow */
    (void)mts_engine_fills(e, &n);
    assert_int_equal(n, 8);
    assert_same_run(e, alone, 1);
    /* END_OF_DATA: the account's one open position only (the shadow's 10 are not in it) */
    t = mts_engine_open_trades(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].book, 0);
    assert_double_equal(t[0].qty, 50, 0);
    mts_engine_free(alone);
    mts_engine_free(e);
    free_bars(&b);
}

/* The multi-book account (2 books, 0.6 / 0.3 of 100000, 10000 unallocated) and a
 * shadow book trading the same asset: the account's curve (its own series, the sum
 * of the two books + 10000), its merged trades, its END_OF_DATA records, stats(-1),
 * position and avg cost equal the run without the shadow, bit for bit; the bars
 * and fees of the test above. The shadow (5000): MARKET buy 40 after step 1 ->
 * bar 2 at 100, fee 4; MARKET sell 40 after step 2 -> bar 3 at 104, fee 4.16,
 * realised 160: equity 5000 + 160 - 8.16 = 5151.84 from step 3 on. */
static void test_two_account_books_and_a_shadow(void **state) {
    (void)state;
    mts_bars_t b = make_bars(6, TS6, X6);
    const double alloc[2] = {0.6, 0.3};
    mts_engine_t *alone = spot_engine(&b, 2, alloc), *e = spot_engine(&b, 2, alloc);
    int32_t sh = -1;
    assert_int_equal(mts_engine_add_shadow_book(e, 5000, &sh), 0);
    assert_int_equal(sh, 2);
    assert_int_equal(mts_engine_account_books(e), 2);
    assert_int_equal(mts_engine_book_count(e), 3);
    mts_engine_t *both[2] = {alone, e};
    for (int s = 0; s < 6; s++) {
        for (int r = 0; r < 2; r++) {
            mts_engine_t *x = both[r];
            assert_int_equal(step(x), TS6[s]);
            if (s == 0) {
                submit(x, order(0, 0, MTS_ORDER_MARKET, 100, 0));
                submit(x, order(1, 0, MTS_ORDER_MARKET, 30, 0));
            }
            if (s == 1) submit(x, order(1, 0, MTS_ORDER_MARKET, -30, 0));
            if (s == 2) submit(x, order(0, 0, MTS_ORDER_MARKET, -100, 0));
            if (s == 3) {
                submit(x, order(0, 0, MTS_ORDER_MARKET, 50, 0));
                submit(x, order(1, 0, MTS_ORDER_MARKET, 20, 0));
            }
        }
        if (s == 0) submit(e, order(sh, 0, MTS_ORDER_MARKET, 40, 0));
        if (s == 1) submit(e, order(sh, 0, MTS_ORDER_MARKET, -40, 0));
        if (s == 3) submit(e, order(sh, 0, MTS_ORDER_MARKET, 7, 0));   /* open at the end */
        assert_same_account(e, alone, 1);
    }
    run_out(alone);
    run_out(e);
    assert_same_account(e, alone, 1);
    /* the account curve is its own series (not a book's), 6 points, and ends at
     * 100000 + book 0 (800 - 25.85 - 200, the test above) + book 1:
     *   buy 30 at 100 (fee 3), sell at 104 (fee 3.12): +120 - 6.12; buy 20 at 101 (fee 2.02),
     *   marked 97: -80 - 2.02 -> 100000 + 574.15 + 31.86 = 100606.01 */
    const mts_series_t *c = mts_engine_equity_curve(e);
    assert_int_equal(c->n, 6);
    assert_double_equal(c->v[5], 100606.01, 1e-9);
    assert_double_equal(mts_engine_avg_cost(e, 0), 101, 0);      /* 50 and 20 at 101; not the shadow's 7 */
    assert_double_equal(mts_engine_position(e, 0), 70, 0);
    /* the shadow: 5000 + 160 - 8.16 - 7*101*0.001 (0.707) + 7*(97 - 101) = 5123.133 */
    assert_double_equal(mts_engine_book_equity(e, sh), 5000 + 160 - 8.16 - 0.707 - 28, 1e-9);
    assert_double_equal(mts_engine_book(e, sh)->equity.v[2], 5151.84, 1e-9);
    assert_int_equal(stats(e, sh).trades, 1);
    assert_same_run(e, alone, 2);
    int64_t n = 0;
    (void)mts_engine_open_trades(e, &n);
    assert_int_equal(n, 2);                                        /* books 0 and 1, not the shadow */
    mts_engine_free(alone);
    mts_engine_free(e);
    free_bars(&b);
}

/* Buying power: a shadow order beyond its own cash is cut to what its cash buys,
 * however much the account holds. Spot, taker 10 bps, lot 1. Account 100000, shadow
 * 1000; both buy 50 MARKET after step 1, filled at bar 2's open 100:
 *   account: 50*100*1.001 = 5005 <= 100000: all 50
 *   shadow:  5005 > 1000: fit = 1000 / (100*1.001) = 9.99 -> lot 1 -> 9; cost 900 + 0.9;
 *            cash 1000 - 900.9 = 99.1; bp_cut 1
 * And the reverse: an account of 1000 does not cap a shadow of 100000. */
static void test_shadow_buying_power_is_its_own(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(3, ts, x);
    for (int rev = 0; rev < 2; rev++) {
        mts_engine_t *e = make_engine(rev ? 1000 : 100000, 10, 0);
        assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
        instrument(e, 0, MTS_INST_SPOT, 1, 0, 1, 10, 10, 1, 0);
        int32_t sh;
        assert_int_equal(mts_engine_add_shadow_book(e, rev ? 100000 : 1000, &sh), 0);
        assert_int_equal(step(e), 1);
        submit(e, order(0, 0, MTS_ORDER_MARKET, 50, 0));
        submit(e, order(sh, 0, MTS_ORDER_MARKET, 50, 0));
        assert_int_equal(step(e), 2);
        int32_t small = rev ? 0 : sh, big = rev ? sh : 0;
        assert_double_equal(mts_engine_book_position(e, small, 0), 9, 0);
        assert_double_equal(mts_engine_book_position(e, big, 0), 50, 0);
        assert_double_equal(stats(e, small).cash, 99.1, 1e-9);
        assert_int_equal(stats(e, small).bp_cut, 1);
        assert_int_equal(stats(e, big).bp_cut, 0);
        /* the account's counts are its own book's */
        assert_int_equal(stats(e, -1).bp_cut, rev ? 1 : 0);
        assert_double_equal(mts_engine_position(e, 0), rev ? 9 : 50, 0);
        /* big: 100000 - 5005 = 94995 */
        assert_double_equal(stats(e, big).cash, 94995, 1e-9);
        assert_double_equal(mts_engine_cash(e), rev ? 99.1 : 94995, 1e-9);
        run_out(e);
        mts_engine_free(e);
    }
    free_bars(&b);
}

/* A perp shadow pays funding from its own cash and its liquidation leaves the account
 * alone. Perp, leverage 10, taker 5 bps, maker 2, mmr 0.004. Account 100000: short 1;
 * shadow 6000: long 1; both MARKET after step 1 -> bar 2 open 50000.
 *   margin each 50000/10 = 5000, fee 50000*5e-4 = 25
 * Funding event ts 3, rate 0.001, mark NaN -> at bar 3 the position's mark 50000:
 *   long pays 1*50000*0.001 = 50 (shadow cash 6000 - 25 - 50 = 5925), the short gets 50.
 * Bar 4: O 49000 H 49500 L 45000 C 45500: the long's
 *   Pl = (50000 - 5000/1) / (1 - 0.004) = 45000/0.996 = 45180.72289156626; low <= Pl,
 *   open above: liquidated at Pl, fee 45180.72289156626*5e-4 = 22.59036144578313,
 *   gross -4819.277108433736 (M + gross - fee = 158.13 > 0: no cap);
 *   shadow cash 5925 - 4819.277108433736 - 22.59036144578313 = 1083.132530120481
 * The account's short: Ps = 55000/1.004 > every high: never liquidated; equal to the run
 * without the shadow. */
static void test_perp_shadow_funding_and_liquidation(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{50000, 50000, 50000, 50000}, {50000, 50000, 50000, 50000},
                         {50000, 50000, 50000, 50000}, {49000, 49500, 45000, 45500},
                         {45500, 46000, 45000, 45800}};
    mts_bars_t b = make_bars(5, ts, x);
    int64_t fts[1] = {3};
    double rate[1] = {0.001}, mark[1] = {NAN};
    mts_funding_events_t f = {fts, rate, mark, 1, 1};
    mts_engine_t *eng[2];
    for (int r = 0; r < 2; r++) {
        eng[r] = make_engine(100000, 10, 10);
        assert_int_equal(mts_engine_add_asset(eng[r], "bitcoin", &b, NULL), 0);
        instrument(eng[r], 0, MTS_INST_PERP, 1, 0, 0, 2, 5, 20, 0.004);
        assert_int_equal(mts_engine_set_funding(eng[r], 0, &f), 0);
        mts_engine_keep_fills(eng[r], 1);
    }
    mts_engine_t *alone = eng[0], *e = eng[1];
    int32_t sh;
    assert_int_equal(mts_engine_add_shadow_book(e, 6000, &sh), 0);
    for (int s = 0; s < 5; s++) {
        for (int r = 0; r < 2; r++) {
            assert_int_equal(step(eng[r]), ts[s]);
            if (s == 0) submit(eng[r], order(0, 0, MTS_ORDER_MARKET, -1, 0));
        }
        if (s == 0) submit(e, order(sh, 0, MTS_ORDER_MARKET, 1, 0));
        assert_same_account(e, alone, 1);
        if (s == 1) {
            assert_double_equal(stats(e, sh).margin, 5000, 1e-9);
            assert_double_equal(stats(e, sh).cash, 6000 - 25, 1e-9);
        }
        if (s == 2) {
            assert_double_equal(stats(e, sh).funding, -50, 1e-9);
            assert_double_equal(stats(e, sh).cash, 5925, 1e-9);
            assert_double_equal(stats(e, -1).funding, 50, 1e-9);    /* the account's short only */
        }
        if (s == 3) {
            mts_book_stats_t ss = stats(e, sh);
            assert_int_equal(ss.liquidations, 1);
            assert_double_equal(ss.cash, 1083.132530120481, 1e-7);
            assert_double_equal(ss.equity, 1083.132530120481, 1e-7);
            assert_double_equal(ss.margin, 0, 0);
            assert_double_equal(mts_engine_book_position(e, sh, 0), 0, 0);
            assert_int_equal(stats(e, -1).liquidations, 0);
            assert_double_equal(mts_engine_position(e, 0), -1, 0);
        }
    }
    run_out(alone);
    run_out(e);
    const mts_portfolio_t *p = mts_engine_book(e, sh);
    assert_int_equal(p->n_trades, 1);
    assert_int_equal(p->trades[0].exit_reason, MTS_REASON_LIQUIDATION);
    assert_double_equal(p->trades[0].exit_price, 45180.72289156626, 1e-8);
    assert_double_equal(p->trades[0].funding, -50, 1e-9);
    /* the log has the shadow's liquidation fill, booked to the shadow */
    int64_t n = 0;
    const mts_fill_rec_t *fl = mts_engine_fills(e, &n);
    int liq = 0;
    for (int64_t k = 0; k < n; k++)
        if (fl[k].kind == MTS_FILL_LIQUIDATION) { liq++; assert_int_equal(fl[k].book, sh); }
    assert_int_equal(liq, 1);
    assert_same_account(e, alone, 1);
    assert_same_run(e, alone, 1);
    mts_engine_free(alone);
    mts_engine_free(e);
    free_bars(&b);
}

/* Per-book cancel: a shadow's resting LIMIT is withdrawn by cancel_book(shadow) while
 * the account's stays and fills. Bars 100 flat then a dip to 95: both buy 0.7 LIMIT @ 96
 * after step 1 (bar 2 low 100: no fill); cancel_book(shadow) after step 2; bar 3 low 95
 * fills the account's at min(open 99, 96) = 96; the shadow stays flat. With one account
 * book the account's avg cost is book 0's own, 96 exactly (a quantity-weighted average
 * recomputed as 0.7*96/0.7 would be 95.99999999999999). */
static void test_cancel_shadow_book_only(void **state) {
    (void)state;
    const int64_t ts[3] = {1, 2, 3};
    const ohlc_t x[3] = {{100, 100, 100, 100}, {100, 101, 100, 100}, {99, 99, 95, 97}};
    mts_bars_t b = make_bars(3, ts, x);
    mts_engine_t *e = make_engine(10000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
    int32_t sh;
    assert_int_equal(mts_engine_add_shadow_book(e, 10000, &sh), 0);
    assert_int_equal(step(e), 1);
    submit(e, order(0, 0, MTS_ORDER_LIMIT, 0.7, 96));
    submit(e, order(sh, 0, MTS_ORDER_LIMIT, 0.7, 96));
    assert_int_equal(step(e), 2);
    assert_int_equal(mts_engine_cancel_book(e, 0, sh), 0);
    assert_int_equal(step(e), 3);
    assert_double_equal(mts_engine_book_position(e, 0, 0), 0.7, 0);
    assert_double_equal(mts_engine_book(e, 0)->pos[0].avg_cost, 96, 0);
    assert_same(mts_engine_avg_cost(e, 0), 96.0);
    assert_same(mts_engine_position(e, 0), 0.7);
    assert_double_equal(mts_engine_book_position(e, sh, 0), 0, 0);
    assert_double_equal(mts_engine_book_equity(e, sh), 10000, 0);
    mts_engine_free(e);
    free_bars(&b);
}

/* The quiet path (runner's fast skip) declines with a shadow book, as with several
 * account books: skip() would move book 0 only. The same engine without the shadow
 * reports quiet bars (4 bars left after bar 0, step events off). */
static void test_quiet_declines_with_a_shadow(void **state) {
    (void)state;
    const int64_t ts[5] = {1, 2, 3, 4, 5};
    const ohlc_t x[5] = {{100, 100, 100, 100}, {100, 100, 100, 100}, {100, 100, 100, 100},
                         {100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(5, ts, x);
    for (int with = 0; with < 2; with++) {
        mts_engine_t *e = make_engine(10000, 0, 0);
        assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
        if (with) assert_int_equal(mts_engine_add_shadow_book(e, 500, NULL), 0);
        mts_engine_step_events(e, 0);
        mts_event_t ev;
        assert_int_equal(mts_engine_next(e, &ev), 1);
        assert_int_equal(ev.kind, MTS_EV_BAR);
        assert_int_equal(mts_engine_quiet(e, 0, 100), with ? 0 : 4);
        if (with) assert_int_equal(mts_engine_skip(e, 0, 1), MTS_EINVAL);
        run_out(e);
        /* one point per step in both books either way */
        assert_int_equal(mts_engine_equity_curve(e)->n, 5);
        if (with) assert_int_equal(mts_engine_book(e, 1)->equity.n, 5);
        mts_engine_free(e);
    }
    free_bars(&b);
}

/* Errors: capital <= 0 or not finite; set_books after a shadow; a shadow after the
 * start; the book limit (64 in all, account and shadows); bad ids. */
static void test_errors_and_limits(void **state) {
    (void)state;
    const int64_t ts[2] = {1, 2};
    const ohlc_t x[2] = {{100, 100, 100, 100}, {100, 100, 100, 100}};
    mts_bars_t b = make_bars(2, ts, x);
    mts_engine_t *e = make_engine(10000, 0, 0);
    assert_int_equal(mts_engine_add_asset(e, "btc", &b, NULL), 0);
    int32_t id = 77;
    const double bad[] = {0, -1, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(mts_engine_add_shadow_book(e, bad[k], &id), MTS_EINVAL);
        assert_non_null(strstr(mts_engine_errmsg(e), "capital"));
    }
    assert_int_equal(id, 77);                         /* untouched on error */
    assert_int_equal(mts_engine_book_count(e), 1);
    assert_int_equal(mts_engine_add_shadow_book(NULL, 1000, &id), MTS_EINVAL);
    /* set_books first, then shadows; set_books after one is refused and changes nothing */
    const double alloc[2] = {0.5, 0.5};
    assert_int_equal(mts_engine_set_books(e, 2, alloc), 0);
    assert_int_equal(mts_engine_add_shadow_book(e, 1000, &id), 0);
    assert_int_equal(id, 2);
    assert_int_equal(mts_engine_set_books(e, 2, alloc), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "shadow"));
    assert_int_equal(mts_engine_set_books(e, 1, NULL), MTS_EINVAL);
    assert_int_equal(mts_engine_book_count(e), 3);
    assert_int_equal(mts_engine_account_books(e), 2);
    assert_int_equal(mts_engine_book_is_shadow(e, 2), 1);
    /* orders: the shadow's id is a book; one past it is not */
    mts_order_t o = order(3, 0, MTS_ORDER_MARKET, 1, 0);
    assert_int_equal(mts_engine_submit(e, &o), MTS_EINVAL);
    assert_int_equal(mts_engine_cancel_book(e, 0, 3), MTS_EINVAL);
    assert_true(isnan(mts_engine_book_equity(e, 3)));
    assert_null(mts_engine_book(e, 3));
    mts_book_stats_t s;
    assert_int_equal(mts_engine_book_stats(e, 3, &s), MTS_EINVAL);
    /* the limit: 64 books in all -> 61 more shadows (ids 3..63), the 62nd refused */
    for (int32_t k = 3; k < MTS_ENGINE_MAX_BOOKS; k++) {
        assert_int_equal(mts_engine_add_shadow_book(e, 100 + k, &id), 0);
        assert_int_equal(id, k);
    }
    assert_int_equal(mts_engine_book_count(e), MTS_ENGINE_MAX_BOOKS);
    id = 77;
    assert_int_equal(mts_engine_add_shadow_book(e, 1000, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "64"));
    assert_int_equal(id, 77);
    assert_int_equal(mts_engine_book_count(e), MTS_ENGINE_MAX_BOOKS);
    /* every shadow starts with its own capital; the account is its 10000 */
    assert_int_equal(step(e), 1);
    assert_double_equal(mts_engine_book_equity(e, 63), 163, 0);
    assert_double_equal(stats(e, 63).initial, 163, 0);
    assert_double_equal(mts_engine_book_equity(e, 2), 1000, 0);
    assert_double_equal(mts_engine_equity(e), 10000, 0);
    assert_double_equal(mts_engine_cash(e), 10000, 0);
    assert_double_equal(stats(e, -1).initial, 10000, 0);
    /* after the start: refused */
    assert_int_equal(mts_engine_add_shadow_book(e, 1000, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_engine_errmsg(e), "started"));
    assert_int_equal(mts_engine_book_count(e), MTS_ENGINE_MAX_BOOKS);
    run_out(e);
    mts_engine_free(e);

    /* one account book + 63 shadows is the limit too; freed with its books (ASan) */
    e = make_engine(10000, 0, 0);
    for (int32_t k = 1; k < MTS_ENGINE_MAX_BOOKS; k++) assert_int_equal(mts_engine_add_shadow_book(e, 1, NULL), 0);
    assert_int_equal(mts_engine_add_shadow_book(e, 1, NULL), MTS_EINVAL);
    assert_int_equal(mts_engine_account_books(e), 1);
    mts_engine_free(e);
    free_bars(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_equals_the_account_alone),
        cmocka_unit_test(test_two_account_books_and_a_shadow),
        cmocka_unit_test(test_shadow_buying_power_is_its_own),
        cmocka_unit_test(test_perp_shadow_funding_and_liquidation),
        cmocka_unit_test(test_cancel_shadow_book_only),
        cmocka_unit_test(test_quiet_declines_with_a_shadow),
        cmocka_unit_test(test_errors_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
