/* test_portfolio.c — portfolio accounting. Every expected number is worked out
 * by hand in the comment beside it (cash, avg cost, realised, fees, trades). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "portfolio/portfolio.h"

#define EPS 1e-9

/* cmocka 1.1 only has a float comparison; doubles need their own. */
#define assert_double_equal(a, b, eps) do { double a_ = (a), b_ = (b);                  \
        if (!(a_ == b_) && !(fabs(a_ - b_) <= (eps)))                                    \
            fail_msg("%s = %.15g, expected %.15g (eps %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

/* Both reconciliation identities, after every step:
 *   equity == initial + realised - fees + unrealised
 *   sum(trade pnl) + sum(unrealised_i - open_fees_i) == equity - initial */
static void check_identities(const mts_portfolio_t *p) {
    double eq = mts_portfolio_equity(p);
    assert_double_equal(eq, p->initial_capital + mts_portfolio_realized(p) - p->total_fees +
                                mts_portfolio_unrealized(p), 1e-6);
    double s = 0;
    for (int64_t i = 0; i < p->n_trades; i++) s += p->trades[i].pnl;
    for (int32_t a = 0; a < p->n_assets; a++) {
        const mts_position_t *q = &p->pos[a];
        s += q->qty * (q->mark - q->avg_cost) - q->open_fees;
    }
    assert_double_equal(s, eq - p->initial_capital, 1e-6);
}

static void test_init_free(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 3), 0);
    assert_double_equal(p.cash, 1000, 0);
    assert_double_equal(mts_portfolio_equity(&p), 1000, 0);
    assert_double_equal(mts_portfolio_unrealized(&p), 0, 0);
    assert_double_equal(mts_portfolio_realized(&p), 0, 0);
    assert_int_equal(p.n_assets, 3);
    assert_int_equal(p.n_trades, 0);
    assert_int_equal(p.equity.n, 0);
    mts_portfolio_free(&p);
    mts_portfolio_free(NULL);
    assert_int_equal(mts_portfolio_init(&p, 1000, -1), MTS_EINVAL);
    assert_int_equal(mts_portfolio_init(&p, NAN, 1), MTS_EINVAL);
}

/* Long: buy, add, partial close, full close. initial 10000, asset 0. */
static void test_long_lifecycle(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 10000, 1), 0);
    mts_position_t *pos = &p.pos[0];

    /* 1. buy 10 @ 100, fee 1: cash = 10000 - 1000 - 1 = 8999; avg 100;
     *    equity = 8999 + 10*100 = 9999 (fill sets the mark to 100) */
    assert_int_equal(mts_portfolio_fill(&p, 0, 1000, 10, 100, 1), 0);
    assert_double_equal(p.cash, 8999, EPS);
    assert_double_equal(pos->qty, 10, EPS);
    assert_double_equal(pos->avg_cost, 100, EPS);
    assert_double_equal(pos->open_fees, 1, EPS);
    assert_int_equal(pos->opened_ts, 1000);
    assert_double_equal(mts_portfolio_equity(&p), 9999, EPS);
    check_identities(&p);

    /* mark 110: equity = 8999 + 1100 = 10099; unrealised 10*(110-100) = 100 */
    mts_portfolio_mark(&p, 0, 110);
    assert_double_equal(mts_portfolio_equity(&p), 10099, EPS);
    assert_double_equal(mts_portfolio_unrealized(&p), 100, EPS);
    check_identities(&p);

    /* 2. add 10 @ 120, fee 1.2: cash = 8999 - 1200 - 1.2 = 7797.8;
     *    avg = (10*100 + 10*120) / 20 = 110; open_fees = 2.2;
     *    equity = 7797.8 + 20*120 = 10197.8; unrealised 20*(120-110) = 200 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 2000, 10, 120, 1.2), 0);
    assert_double_equal(p.cash, 7797.8, EPS);
    assert_double_equal(pos->qty, 20, EPS);
    assert_double_equal(pos->avg_cost, 110, EPS);
    assert_double_equal(pos->open_fees, 2.2, EPS);
    assert_int_equal(pos->opened_ts, 1000);            /* still the original open */
    assert_double_equal(mts_portfolio_equity(&p), 10197.8, EPS);
    assert_double_equal(mts_portfolio_unrealized(&p), 200, EPS);
    assert_int_equal(p.n_trades, 0);
    check_identities(&p);

    /* 3. sell 5 @ 130, fee 0.65: cash = 7797.8 + 650 - 0.65 = 8447.15;
     *    gross = 5*(130-110) = 100; entry share = 2.2*5/20 = 0.55;
     *    trade fees = 0.65 + 0.55 = 1.2; trade pnl = 100 - 1.2 = 98.8;
     *    open_fees 2.2 - 0.55 = 1.65; qty 15, avg stays 110;
     *    equity = 8447.15 + 15*130 = 10397.15 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 3000, -5, 130, 0.65), 0);
    assert_double_equal(p.cash, 8447.15, EPS);
    assert_double_equal(pos->qty, 15, EPS);
    assert_double_equal(pos->avg_cost, 110, EPS);
    assert_double_equal(pos->open_fees, 1.65, EPS);
    assert_double_equal(pos->realized_pnl, 100, EPS);
    assert_double_equal(mts_portfolio_realized(&p), 100, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 10397.15, EPS);
    assert_int_equal(p.n_trades, 1);
    mts_trade_t *t = &p.trades[0];
    assert_int_equal(t->asset, 0);
    assert_int_equal(t->side, 1);
    assert_double_equal(t->qty, 5, EPS);
    assert_int_equal(t->entry_ts, 1000);
    assert_double_equal(t->entry_price, 110, EPS);
    assert_int_equal(t->exit_ts, 3000);
    assert_double_equal(t->exit_price, 130, EPS);
    assert_double_equal(t->fees, 1.2, EPS);
    assert_double_equal(t->pnl, 98.8, EPS);
    check_identities(&p);

    /* 4. sell 15 @ 90, fee 1.35: cash = 8447.15 + 1350 - 1.35 = 9795.8;
     *    gross = 15*(90-110) = -300 -> realised 100 - 300 = -200;
     *    trade fees = 1.35 + 1.65 = 3.0; pnl = -303; flat.
     *    fees total 1 + 1.2 + 0.65 + 1.35 = 4.2; equity 9795.8 = 10000 - 200 - 4.2 */
    pos->stop_loss = 80;
    pos->take_profit = 150;
    assert_int_equal(mts_portfolio_fill(&p, 0, 4000, -15, 90, 1.35), 0);
    assert_double_equal(p.cash, 9795.8, EPS);
    assert_double_equal(pos->qty, 0, 0);
    assert_double_equal(pos->avg_cost, 0, 0);
    assert_double_equal(pos->open_fees, 0, EPS);
    assert_double_equal(pos->stop_loss, 0, 0);          /* flat clears SL/TP */
    assert_double_equal(pos->take_profit, 0, 0);
    assert_double_equal(mts_portfolio_realized(&p), -200, EPS);
    assert_double_equal(p.total_fees, 4.2, EPS);
    assert_double_equal(pos->fees, 4.2, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 9795.8, EPS);
    assert_int_equal(p.n_trades, 2);
    t = &p.trades[1];
    assert_double_equal(t->qty, 15, EPS);
    assert_double_equal(t->entry_price, 110, EPS);
    assert_double_equal(t->exit_price, 90, EPS);
    assert_double_equal(t->fees, 3.0, EPS);
    assert_double_equal(t->pnl, -303, EPS);
    /* trade pnl sum 98.8 - 303 = -204.2 = 9795.8 - 10000 */
    assert_double_equal(p.trades[0].pnl + p.trades[1].pnl, -204.2, EPS);
    check_identities(&p);
    mts_portfolio_free(&p);
}

/* Flip long -> short, then cover. initial 10000. */
static void test_flip(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 10000, 1), 0);
    mts_position_t *pos = &p.pos[0];
    /* buy 10 @ 100, fee 2: cash 10000 - 1000 - 2 = 8998 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 10, 100, 2), 0);
    assert_double_equal(p.cash, 8998, EPS);
    check_identities(&p);
    pos->stop_loss = 90;

    /* sell 25 @ 120, fee 6: cash = 8998 + 3000 - 6 = 11992.
     * closing part 10 of 25: fee share 6*10/25 = 2.4; opening part 3.6.
     * gross 10*(120-100) = 200; trade fees 2.4 + 2 (entry) = 4.4; pnl 195.6.
     * new position -15 @ 120, open_fees 3.6, opened at ts 2.
     * equity = 11992 - 15*120 = 10192 = 10000 + 200 - 8 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 2, -25, 120, 6), 0);
    assert_double_equal(p.cash, 11992, EPS);
    assert_double_equal(pos->qty, -15, EPS);
    assert_double_equal(pos->avg_cost, 120, EPS);
    assert_double_equal(pos->open_fees, 3.6, EPS);
    assert_int_equal(pos->opened_ts, 2);
    assert_double_equal(pos->stop_loss, 0, 0);          /* flip clears SL/TP */
    assert_double_equal(mts_portfolio_realized(&p), 200, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 10192, EPS);
    assert_int_equal(p.n_trades, 1);
    mts_trade_t *t = &p.trades[0];
    assert_int_equal(t->side, 1);
    assert_double_equal(t->qty, 10, EPS);
    assert_int_equal(t->entry_ts, 1);
    assert_double_equal(t->entry_price, 100, EPS);
    assert_double_equal(t->exit_price, 120, EPS);
    assert_double_equal(t->fees, 4.4, EPS);
    assert_double_equal(t->pnl, 195.6, EPS);
    check_identities(&p);

    /* mark 110: equity = 11992 - 1650 = 10342; unrealised -15*(110-120) = 150 */
    mts_portfolio_mark(&p, 0, 110);
    assert_double_equal(mts_portfolio_equity(&p), 10342, EPS);
    assert_double_equal(mts_portfolio_unrealized(&p), 150, EPS);
    check_identities(&p);

    /* cover: buy 15 @ 110, fee 1.65: cash = 11992 - 1650 - 1.65 = 10340.35;
     * gross = 15*(110-120)*(-1) = 150; trade fees 1.65 + 3.6 = 5.25; pnl 144.75;
     * equity 10340.35 = 10000 + 350 - (2 + 6 + 1.65) */
    assert_int_equal(mts_portfolio_fill(&p, 0, 3, 15, 110, 1.65), 0);
    assert_double_equal(p.cash, 10340.35, EPS);
    assert_double_equal(pos->qty, 0, 0);
    assert_double_equal(mts_portfolio_realized(&p), 350, EPS);
    assert_double_equal(p.total_fees, 9.65, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 10340.35, EPS);
    t = &p.trades[1];
    assert_int_equal(t->side, -1);
    assert_double_equal(t->qty, 15, EPS);
    assert_int_equal(t->entry_ts, 2);
    assert_double_equal(t->entry_price, 120, EPS);
    assert_double_equal(t->fees, 5.25, EPS);
    assert_double_equal(t->pnl, 144.75, EPS);
    check_identities(&p);
    mts_portfolio_free(&p);
}

/* Short open, partial cover, full cover: profit when the price falls. initial 5000. */
static void test_short(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 5000, 1), 0);
    mts_position_t *pos = &p.pos[0];
    /* sell 4 @ 50, fee 0.2: cash = 5000 + 200 - 0.2 = 5199.8; equity 5199.8 - 200 = 4999.8 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 10, -4, 50, 0.2), 0);
    assert_double_equal(p.cash, 5199.8, EPS);
    assert_double_equal(pos->qty, -4, EPS);
    assert_double_equal(pos->avg_cost, 50, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 4999.8, EPS);
    check_identities(&p);
    /* mark 40: equity = 5199.8 - 160 = 5039.8; unrealised -4*(40-50) = +40 */
    mts_portfolio_mark(&p, 0, 40);
    assert_double_equal(mts_portfolio_equity(&p), 5039.8, EPS);
    assert_double_equal(mts_portfolio_unrealized(&p), 40, EPS);
    check_identities(&p);
    /* add short: sell 4 @ 40, fee 0.16: avg (4*50 + 4*40)/8 = 45;
     * cash 5199.8 + 160 - 0.16 = 5359.64; open_fees 0.36; equity 5359.64 - 320 = 5039.64 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 20, -4, 40, 0.16), 0);
    assert_double_equal(pos->avg_cost, 45, EPS);
    assert_double_equal(pos->qty, -8, EPS);
    assert_double_equal(p.cash, 5359.64, EPS);
    assert_double_equal(pos->open_fees, 0.36, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 5039.64, EPS);
    check_identities(&p);
    /* partial cover: buy 2 @ 42, fee 0.084: cash 5359.64 - 84 - 0.084 = 5275.556;
     * gross 2*(42-45)*(-1) = 6; entry share 0.36*2/8 = 0.09; trade fees 0.174; pnl 5.826;
     * qty -6; equity 5275.556 - 6*42 = 5023.556 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 30, 2, 42, 0.084), 0);
    assert_double_equal(p.cash, 5275.556, EPS);
    assert_double_equal(pos->qty, -6, EPS);
    assert_double_equal(pos->avg_cost, 45, EPS);
    assert_double_equal(pos->open_fees, 0.27, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 5023.556, EPS);
    assert_int_equal(p.trades[0].side, -1);
    assert_double_equal(p.trades[0].fees, 0.174, EPS);
    assert_double_equal(p.trades[0].pnl, 5.826, EPS);
    check_identities(&p);
    /* cover 6 @ 30, fee 0.18: cash 5275.556 - 180 - 0.18 = 5095.376;
     * gross 6*15 = 90; trade fees 0.18 + 0.27 = 0.45; pnl 89.55;
     * realised 96; fees 0.2+0.16+0.084+0.18 = 0.624; equity 5000 + 96 - 0.624 = 5095.376 */
    assert_int_equal(mts_portfolio_fill(&p, 0, 40, 6, 30, 0.18), 0);
    assert_double_equal(p.cash, 5095.376, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 5095.376, EPS);
    assert_double_equal(mts_portfolio_realized(&p), 96, EPS);
    assert_double_equal(p.total_fees, 0.624, EPS);
    assert_double_equal(p.trades[1].pnl, 89.55, EPS);
    assert_true(p.trades[1].pnl > 0);
    check_identities(&p);
    mts_portfolio_free(&p);
}

/* Two assets: equity sums both marks. initial 1000.
 * a0: buy 2 @ 100 fee 0 -> cash 800; a1: sell 10 @ 5 fee 0 -> cash 850.
 * marks 105 and 4: equity = 850 + 2*105 - 10*4 = 1020; unrealised 10 + 10 = 20 */
static void test_two_assets(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 2), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 2, 100, 0), 0);
    assert_int_equal(mts_portfolio_fill(&p, 1, 1, -10, 5, 0), 0);
    assert_double_equal(p.cash, 850, EPS);
    mts_portfolio_mark(&p, 0, 105);
    mts_portfolio_mark(&p, 1, 4);
    assert_double_equal(mts_portfolio_equity(&p), 1020, EPS);
    assert_double_equal(mts_portfolio_unrealized(&p), 20, EPS);
    check_identities(&p);
    mts_portfolio_mark(&p, 1, NAN);                 /* ignored: keeps 4 */
    mts_portfolio_mark(&p, 5, 1);                   /* unknown asset: ignored */
    assert_double_equal(mts_portfolio_equity(&p), 1020, EPS);
    mts_portfolio_free(&p);
}

/* 0.1 + 0.2 is 0.30000000000000004 in binary; selling 0.3 must leave it flat. */
static void test_float_close_snaps_flat(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 1), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 0.1, 10, 0), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 2, 0.2, 10, 0), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 3, -0.3, 20, 0), 0);
    assert_double_equal(p.pos[0].qty, 0, 0);
    assert_int_equal(p.n_trades, 1);
    /* gross 0.3*(20-10) = 3 */
    assert_double_equal(p.trades[0].pnl, 3, 1e-9);
    assert_double_equal(mts_portfolio_equity(&p), 1003, 1e-9);
    mts_portfolio_free(&p);
}

static void test_invalid_fills_change_nothing(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 1), 0);
    assert_int_equal(mts_portfolio_fill(&p, 1, 1, 1, 10, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, -1, 1, 1, 10, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 0, 10, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 1, 0, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 1, -5, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 1, NAN, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 1, 10, -1), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, INFINITY, 10, 0), MTS_EINVAL);
    assert_double_equal(p.cash, 1000, 0);
    assert_double_equal(p.pos[0].qty, 0, 0);
    assert_double_equal(p.total_fees, 0, 0);
    mts_portfolio_free(&p);
}

/* A reducing fill that cannot grow the trades array fails before touching anything. */
static void test_trade_growth_enomem(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 1), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 1, 10, 10, 0.1), 0);
    mts_alloc_fail_after(0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 2, -5, 12, 0.06), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    /* unchanged: cash 1000 - 100 - 0.1 = 899.9, qty 10 */
    assert_double_equal(p.cash, 899.9, EPS);
    assert_double_equal(p.pos[0].qty, 10, 0);
    assert_int_equal(p.n_trades, 0);
    check_identities(&p);
    /* many trades: growth by doubling works: 200 round trips of 1 @ 10 -> 11, no fee:
     * each +1, equity 899.9 + 200 = 1099.9 (the original 10 @ 10 are still held, mark 11) */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(mts_portfolio_fill(&p, 0, 3 + 2 * i, 1, 10, 0), 0);
        assert_int_equal(mts_portfolio_fill(&p, 0, 4 + 2 * i, -1, 11, 0), 0);
    }
    assert_int_equal(p.n_trades, 200);
    assert_true(p.cap_trades >= 200);
    /* avg after each add = (10*10 + 1*10)/11 = 10, so each close gross = 1*(11-10) = 1:
     * realised 200. cash = 899.9 - 200*10 + 200*11 = 1099.9; still 10 held, marked 11:
     * equity = 1099.9 + 10*11 = 1209.9 */
    check_identities(&p);
    assert_double_equal(mts_portfolio_realized(&p), 200, 1e-9);
    assert_double_equal(mts_portfolio_equity(&p), 899.9 + 200 + 10 * 11, 1e-9);
    mts_portfolio_free(&p);
}

/* record_equity appends, replaces an equal ts, rejects an earlier ts, grows. */
/* A long random sequence of fills and marks on three assets, checked against
 * an independent ledger kept here: cash moves by -qty*price - fee per fill,
 * positions add up the signed quantities, equity = cash + sum(qty * mark).
 * None of that uses average cost, so it checks the portfolio's bookkeeping
 * from outside; the two reconciliation identities are checked at every step. */
static uint64_t rng = 0x2545F4914F6CDD1DULL;
static double uni(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void test_random_fills_against_a_cash_ledger(void **state) {
    (void)state;
    enum { N_ASSETS = 3, STEPS = 5000 };
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1e6, N_ASSETS), 0);
    double cash = 1e6, fees = 0, pos[N_ASSETS] = {0}, mark[N_ASSETS] = {100, 50, 2000};
    int64_t closes = 0;
    for (int step = 0; step < STEPS; step++) {
        int a = (int)(uni() * N_ASSETS);
        mark[a] *= 1.0 + (uni() - 0.5) * 0.04;            /* the price moves */
        double px = mark[a];
        if (uni() < 0.7) {
            /* a fill: random size, sometimes exactly closing, sometimes flipping */
            double q = (uni() - 0.5) * 10.0;
            double r = uni();
            if (r < 0.1 && pos[a] != 0) q = -pos[a];        /* close exactly */
            else if (r < 0.2 && pos[a] != 0) q = -2.5 * pos[a];   /* flip */
            if (q == 0) q = 1;
            double fee = fabs(q) * px * 0.001;
            double before = pos[a];
            assert_int_equal(mts_portfolio_fill(&p, a, step, q, px, fee), 0);
            cash -= q * px + fee;
            fees += fee;
            pos[a] += q;
            if (before != 0 && (before > 0) != (q > 0)) closes++;   /* a reduction: a trade */
            if (fabs(pos[a]) < 1e-9 * (fabs(before) + fabs(q))) pos[a] = 0;
        }
        mts_portfolio_mark(&p, a, px);
        double eq = cash;
        for (int k = 0; k < N_ASSETS; k++) {
            assert_double_equal(p.pos[k].qty, pos[k], 1e-9);
            if (p.pos[k].qty != 0) eq += pos[k] * p.pos[k].mark;
        }
        assert_double_equal(p.cash, cash, 1e-6);
        assert_double_equal(p.total_fees, fees, 1e-6);
        assert_double_equal(mts_portfolio_equity(&p), eq, 1e-6);
        check_identities(&p);
    }
    assert_int_equal(p.n_trades, closes);
    for (int64_t i = 0; i < p.n_trades; i++) {
        assert_true(p.trades[i].qty > 0);
        assert_true(p.trades[i].fees >= 0);
        assert_true(p.trades[i].exit_ts >= p.trades[i].entry_ts);
    }
    mts_portfolio_free(&p);
}

static void test_record_equity(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 1), 0);
    assert_int_equal(mts_portfolio_record_equity(&p, 100), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 150, 1, 50, 1), 0);   /* cash 949, equity 999 */
    assert_int_equal(mts_portfolio_record_equity(&p, 200), 0);
    mts_portfolio_mark(&p, 0, 60);                                    /* equity 949 + 60 = 1009 */
    assert_int_equal(mts_portfolio_record_equity(&p, 200), 0);        /* replaces */
    assert_int_equal(mts_portfolio_record_equity(&p, 150), MTS_EINVAL);
    assert_int_equal(p.equity.n, 2);
    assert_int_equal(p.equity.ts[0], 100);
    assert_double_equal(p.equity.v[0], 1000, EPS);
    assert_int_equal(p.equity.ts[1], 200);
    assert_double_equal(p.equity.v[1], 1009, EPS);
    for (int64_t t = 300; t < 300 + 1000; t++) assert_int_equal(mts_portfolio_record_equity(&p, t), 0);
    assert_int_equal(p.equity.n, 1002);
    assert_double_equal(p.equity.v[1001], 1009, EPS);
    assert_int_equal(mts_portfolio_reserve(&p, 5000, 10), 0);
    assert_true(p.equity.cap >= 5000);
    assert_true(p.cap_trades >= 10);
    assert_int_equal(p.equity.n, 1002);
    assert_int_equal(p.equity.ts[1001], 1299);
    mts_portfolio_free(&p);
}

/* A curve sharing its times (mts_portfolio_share_equity_ts) keeps them
 * borrowed while the points are those times, and copies them into its own
 * array at the first other time (or past the end); the shared array is never
 * written. */
static void test_equity_shared_ts(void **state) {
    (void)state;
    int64_t shared[3] = {10, 20, 30};
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 1000, 1), 0);
    assert_int_equal(mts_portfolio_share_equity_ts(&p, NULL, 3), MTS_EINVAL);
    assert_int_equal(mts_portfolio_share_equity_ts(&p, shared, 0), MTS_EINVAL);
    assert_int_equal(mts_portfolio_share_equity_ts(&p, shared, 3), 0);
    assert_int_equal(mts_portfolio_record_equity(&p, 10), 0);
    assert_int_equal(mts_portfolio_fill(&p, 0, 15, 1, 50, 1), 0);    /* cash 949, equity 999 */
    assert_int_equal(mts_portfolio_record_equity(&p, 20), 0);
    assert_true(p.equity.ts == shared);                                /* still borrowed */
    mts_portfolio_mark(&p, 0, 60);                                     /* equity 1009 */
    assert_int_equal(mts_portfolio_record_equity(&p, 20), 0);         /* replaces the value */
    assert_int_equal(mts_portfolio_record_equity(&p, 5), MTS_EINVAL);
    assert_int_equal(mts_portfolio_share_equity_ts(&p, shared, 3), MTS_EINVAL);  /* not empty */
    assert_int_equal(mts_portfolio_record_equity(&p, 25), 0);         /* not 30: own times from here */
    assert_true(p.equity.ts != shared);
    assert_int_equal(mts_portfolio_record_equity(&p, 30), 0);
    assert_int_equal(mts_portfolio_record_equity(&p, 40), 0);         /* past the shared length */
    const int64_t ets[5] = {10, 20, 25, 30, 40};
    const double ev[5] = {1000, 1009, 1009, 1009, 1009};
    assert_int_equal(p.equity.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(p.equity.ts[i], ets[i]);
        assert_double_equal(p.equity.v[i], ev[i], EPS);
    }
    assert_int_equal(shared[0], 10);
    assert_int_equal(shared[1], 20);
    assert_int_equal(shared[2], 30);
    mts_portfolio_free(&p);

    /* all the shared times, then one more: the times are copied on growth */
    int64_t two[2] = {7, 8};
    assert_int_equal(mts_portfolio_init(&p, 500, 1), 0);
    assert_int_equal(mts_portfolio_share_equity_ts(&p, two, 2), 0);
    for (int64_t t = 7; t <= 9; t++) assert_int_equal(mts_portfolio_record_equity(&p, t), 0);
    assert_true(p.equity.ts != two);
    assert_int_equal(p.equity.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p.equity.ts[i], 7 + i);
        assert_double_equal(p.equity.v[i], 500, 0);
    }
    mts_portfolio_free(&p);   /* frees its own times, never the shared array */
}

/* Issue 12: the perp ledger (isolated margin, contract size, funding, the
 * liquidation cap) and the spot contract size. Perp cs 0.5, leverage 4, 10000:
 *   buy 8 @ 200 fee 1:   cash 9999; margin 8*0.5*200/4 = 200
 *   funding mark 210 rate 0.001: -8*0.5*210*0.001 = -0.84 -> cash 9998.16
 *   sell 2 @ 220 fee 0.5: gross 2*0.5*20 = 20; entry fee share 1*2/8 = 0.25;
 *       funding share -0.84*2/8 = -0.21; trade pnl 20 - 0.75 - 0.21 = 19.04;
 *       cash 9998.16 + 20 - 0.5 = 10017.66; margin 200*(1-2/8) = 150
 *   mark 180: equity 10017.66 + 6*0.5*(180-200) = 9957.66
 *       = 10000 + 20 - 1.5 - 0.84 - 60
 *   liquidate @ 100 fee 0.3: gross 6*0.5*(100-200) = -300; 150 - 300 - 0.3 < 0 ->
 *       gross fee - M = -149.7: cash 10017.66 - 149.7 - 0.3 = 9867.66 (M = 150 lost);
 *       trade fees 0.3 + 0.75 = 1.05, funding -0.63, pnl -149.7 - 1.05 - 0.63 = -151.38
 *   identity: 10000 + (20 - 149.7) - 1.8 + (-0.84) + 0 = 9867.66 */
static void test_perp_ledger(void **state) {
    (void)state;
    mts_portfolio_t p;
    assert_int_equal(mts_portfolio_init(&p, 10000, 2), 0);
    assert_double_equal(p.pos[0].cs, 1, 0);
    assert_int_equal(p.pos[0].strategy, -1);
    assert_int_equal(mts_portfolio_set_instrument(&p, 0, 1, 0.5, 4), 0);
    assert_int_equal(mts_portfolio_set_instrument(&p, 1, 0, 0.01, 1), 0);
    assert_int_equal(mts_portfolio_set_instrument(&p, 0, 1, 0, 4), MTS_EINVAL);
    assert_int_equal(mts_portfolio_fill_ex(&p, 0, 1, 8, 200, 1, 3, MTS_REASON_SIGNAL), 0);
    assert_int_equal(mts_portfolio_set_instrument(&p, 0, 1, 0.5, 2), MTS_EINVAL);   /* open */
    assert_double_equal(p.cash, 9999, EPS);
    assert_double_equal(mts_portfolio_margin(&p), 200, EPS);
    assert_double_equal(mts_portfolio_fund(&p, 0, 210, 0.001), -0.84, EPS);
    assert_double_equal(mts_portfolio_fund(&p, 1, 210, 0.001), 0, 0);                /* flat / spot */
    assert_double_equal(p.cash, 9998.16, EPS);
    assert_int_equal(mts_portfolio_fill_ex(&p, 0, 2, -2, 220, 0.5, 5, MTS_REASON_SIGNAL), 0);
    assert_int_equal(p.n_trades, 1);
    assert_double_equal(p.trades[0].pnl, 19.04, EPS);
    assert_double_equal(p.trades[0].funding, -0.21, EPS);
    assert_int_equal(p.trades[0].strategy, 3);                 /* the opening fill's */
    assert_double_equal(p.cash, 10017.66, EPS);
    assert_double_equal(mts_portfolio_margin(&p), 150, EPS);
    mts_portfolio_mark(&p, 0, 180);
    assert_double_equal(mts_portfolio_equity(&p), 9957.66, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 10000 + mts_portfolio_realized(&p) - p.total_fees +
                        p.total_funding + mts_portfolio_unrealized(&p), 1e-6);
    mts_trade_t open;
    assert_int_equal(mts_portfolio_open_trade(&p, 0, &open), 0);
    /* open 6 @ 200 at mark 180: unrealised -60, entry fees 0.75, funding -0.63 -> -61.38 */
    assert_double_equal(open.pnl, -61.38, EPS);
    assert_int_equal(open.exit_reason, MTS_REASON_END_OF_DATA);
    assert_int_equal(mts_portfolio_liquidate(&p, 1, 3, 100, 0), MTS_EINVAL);       /* flat spot */
    assert_int_equal(mts_portfolio_liquidate(&p, 0, 3, 100, 0.3), 0);
    assert_double_equal(p.pos[0].qty, 0, 0);
    assert_double_equal(p.cash, 9867.66, EPS);
    assert_double_equal(p.trades[1].pnl, -151.38, EPS);
    assert_double_equal(p.trades[1].fees, 1.05, EPS);
    assert_int_equal(p.trades[1].exit_reason, MTS_REASON_LIQUIDATION);
    assert_double_equal(mts_portfolio_margin(&p), 0, 0);
    assert_double_equal(mts_portfolio_equity(&p), 9867.66, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 10000 + mts_portfolio_realized(&p) - p.total_fees +
                        p.total_funding + mts_portfolio_unrealized(&p), 1e-6);
    assert_int_equal(mts_portfolio_open_trade(&p, 0, &open), MTS_EINVAL);
    /* spot with contract size 0.01: buy 100 @ 50000 costs 100*0.01*50000 = 50000 */
    assert_int_equal(mts_portfolio_fill(&p, 1, 4, 100, 50000, 0), 0);
    assert_double_equal(p.cash, 9867.66 - 50000, EPS);
    assert_double_equal(mts_portfolio_equity(&p), 9867.66, EPS);
    assert_double_equal(mts_portfolio_exposure(&p), 50000, EPS);
    mts_portfolio_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_free),
        cmocka_unit_test(test_long_lifecycle),
        cmocka_unit_test(test_flip),
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_two_assets),
        cmocka_unit_test(test_float_close_snaps_flat),
        cmocka_unit_test(test_invalid_fills_change_nothing),
        cmocka_unit_test(test_trade_growth_enomem),
        cmocka_unit_test(test_record_equity),
        cmocka_unit_test(test_equity_shared_ts),
        cmocka_unit_test(test_random_fills_against_a_cash_ledger),
        cmocka_unit_test(test_perp_ledger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
