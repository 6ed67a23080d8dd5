/* test_lua_bridge.c — mts_lua_backtest over the real engine: the shipped
 * sma_cross on crafted bars (fills at the next open), run-stopping errors with
 * their codes and messages, a strategy error that disables one strategy, and
 * the VIX strategies running over a macro series. Run from the repository
 * root (or set MTS_ROOT). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "lua/bridge.h"

#define DAY 86400

static const char *root(void) {
    const char *r = getenv("MTS_ROOT");
    return r ? r : ".";
}

typedef struct {
    int64_t ts[64];
    double open[64], high[64], low[64], close[64], vol[64];
    mts_bars_t bars;
} fixture_bars_t;

static void make_bars(fixture_bars_t *f, const double *close, const double *open, int n) {
    for (int i = 0; i < n; i++) {
        f->ts[i] = (int64_t)i * DAY;
        f->close[i] = close[i];
        f->open[i] = open ? open[i] : close[i];
        f->high[i] = fmax(f->open[i], f->close[i]);
        f->low[i] = fmin(f->open[i], f->close[i]);
        f->vol[i] = 1;
    }
    f->bars = (mts_bars_t){f->ts, f->open, f->high, f->low, f->close, f->vol, n, n};
}

static mts_engine_t *engine_with(fixture_bars_t *f, const char *name) {
    mts_engine_config_t cfg = {100000, 0, 0, 0};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    int32_t id;
    assert_int_equal(mts_engine_add_asset(e, name, &f->bars, &id), 0);
    return e;
}

/* sma_cross fast=2 slow=3 units=3 on the crafted closes of sma_cross_spec:
 * CLOSE@5 (flat: no order), LONG@7 -> buy 3 at bar 8's open (= 9). */
static void test_sma_cross_fills_next_open(void **state) {
    (void)state;
    static fixture_bars_t f;
    double close[] = {10, 10, 10, 13, 13, 7, 7, 10, 10, 10};
    double open[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    make_bars(&f, close, open, 10);
    mts_engine_t *e = engine_with(&f, "bitcoin");
    const char *strategies[] = {"sma_cross"};
    const char *keys[] = {"fast", "slow", "units"}, *vals[] = {"2", "3", "3"};
    mts_run_spec_t spec = {e, root(), strategies, 1, keys, vals, 3, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    mts_run_result_t rr;
    char err[512];
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    if (rc) fail_msg("backtest failed: %s", err);
    assert_string_equal(rr.parameters_json,
        "{\"sma_cross\":{\"fast\":2,\"risk_management\":{\"max_position_size\":0.1},\"slow\":3,\"units\":3}}");
    assert_int_equal(rr.n_disabled, 0);
    assert_null(rr.disabled);
    int64_t ns = 0;
    const mts_signal_rec_t *sig = mts_engine_signals(e, &ns);
    assert_int_equal(ns, 2);
    assert_int_equal(sig[0].signal_type, MTS_SIGNAL_CLOSE);
    assert_int_equal(sig[0].ts, 5 * DAY);
    assert_int_equal(sig[1].signal_type, MTS_SIGNAL_LONG);
    assert_int_equal(sig[1].ts, 7 * DAY);
    assert_int_equal(mts_engine_fill_count(e), 1);
    assert_true(mts_engine_position(e, 0) == 3);
    assert_true(mts_engine_avg_cost(e, 0) == 9);      /* bar 8's open, no slippage */
    mts_run_result_free(&rr);
    mts_engine_free(e);
}

/* spec.decisions (POST /signals/generate): the aggregate of the asset's last
 * step with signals — here bar 7's LONG (bar 5's CLOSE is older), attributed
 * to sma_cross, at bar 7's close. */
static void test_decisions_keep_the_last_signal_step(void **state) {
    (void)state;
    static fixture_bars_t f;
    double close[] = {10, 10, 10, 13, 13, 7, 7, 10, 10, 10};
    make_bars(&f, close, NULL, 10);
    mts_engine_t *e = engine_with(&f, "bitcoin");
    const char *strategies[] = {"sma_cross"};
    const char *keys[] = {"fast", "slow", "units"}, *vals[] = {"2", "3", "3"};
    mts_run_spec_t spec = {e, root(), strategies, 1, keys, vals, 3, 0, NULL, NULL, NULL, 0, 0, 1, NULL, 0};
    mts_run_result_t rr;
    char err[512];
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    if (rc) fail_msg("backtest failed: %s", err);
    assert_int_equal(rr.n_decisions, 1);
    const mts_decision_t *d = &rr.decisions[0];
    assert_int_equal(d->asset, 0);
    assert_int_equal(d->ts, 7 * DAY);
    assert_int_equal(d->decided, 1);
    assert_int_equal(d->signal_type, MTS_SIGNAL_LONG);
    assert_int_equal(d->strategy, 0);
    assert_int_equal(d->n_signals, 1);
    assert_true(d->strategies == 1);
    assert_true(d->price == 10 && d->confidence == 1);
    assert_true(isnan(d->stop_loss) && isnan(d->take_profit) && isnan(d->position_size));
    mts_run_result_free(&rr);
    assert_null(rr.decisions);
    mts_engine_free(e);
    /* without spec.decisions: none kept */
    static fixture_bars_t g;
    make_bars(&g, close, NULL, 10);
    e = engine_with(&g, "bitcoin");
    spec.engine = e;
    spec.decisions = 0;
    if (mts_lua_backtest(&spec, &rr, err, sizeof err)) fail_msg("backtest failed: %s", err);
    assert_int_equal(rr.n_decisions, 0);
    assert_null(rr.decisions);
    mts_run_result_free(&rr);
    mts_engine_free(e);
}

static void test_run_stopping_errors(void **state) {
    (void)state;
    static fixture_bars_t f;
    double close[] = {1, 2, 3};
    make_bars(&f, close, NULL, 3);
    mts_engine_t *e = engine_with(&f, "bitcoin");
    mts_run_result_t rr;
    char err[512];

    const char *unknown[] = {"no_such_strategy"};
    mts_run_spec_t spec = {e, root(), unknown, 1, NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    assert_int_equal(mts_lua_backtest(&spec, &rr, err, sizeof err), MTS_ELUA);
    assert_non_null(strstr(err, "scripts/strategies/no_such_strategy.lua does not exist (available: "));
    assert_non_null(strstr(err, "sma_cross"));

    const char *sma[] = {"sma_cross"};
    const char *k1[] = {"nope"}, *v1[] = {"1"};
    mts_run_spec_t spec2 = {e, root(), sma, 1, k1, v1, 1, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    assert_int_equal(mts_lua_backtest(&spec2, &rr, err, sizeof err), MTS_ECONFIG);
    assert_non_null(strstr(err, "--param nope=1: no selected strategy declares 'nope'"));

    const char *k2[] = {"fast"}, *v2[] = {"ten"};
    mts_run_spec_t spec3 = {e, root(), sma, 1, k2, v2, 1, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    assert_int_equal(mts_lua_backtest(&spec3, &rr, err, sizeof err), MTS_ECONFIG);
    assert_string_equal(err, "--param fast=ten: sma_cross.fast must be a number, got 'ten'");

    mts_run_spec_t bad = {NULL, root(), sma, 1, NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    assert_int_equal(mts_lua_backtest(&bad, &rr, err, sizeof err), MTS_EINVAL);
    mts_run_result_free(NULL);
    mts_engine_free(e);
}

/* init fails (fast >= slow): the strategy is disabled, the run succeeds. */
static void test_disabled_strategy(void **state) {
    (void)state;
    static fixture_bars_t f;
    double close[] = {1, 2, 3, 4};
    make_bars(&f, close, NULL, 4);
    mts_engine_t *e = engine_with(&f, "bitcoin");
    const char *sma[] = {"sma_cross"};
    const char *k[] = {"fast"}, *v[] = {"40"};
    mts_run_spec_t spec = {e, root(), sma, 1, k, v, 1, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    mts_run_result_t rr;
    char err[512];
    assert_int_equal(mts_lua_backtest(&spec, &rr, err, sizeof err), 0);
    assert_int_equal(rr.n_disabled, 1);
    /* "sma_cross: scripts/strategies/sma_cross.lua:LINE: fast (40) ... (in init, bitcoin)\n" */
    assert_non_null(rr.disabled);
    assert_true(strncmp(rr.disabled, "sma_cross: scripts/strategies/sma_cross.lua:", 44) == 0);
    assert_non_null(strstr(rr.disabled, ": fast (40) must be shorter than slow (30) (in init, bitcoin)\n"));
    mts_run_result_free(&rr);
    mts_engine_free(e);
}

/* Both VIX strategies over 400 days of synthetic bars and a weekday VIX. */
static void test_vix_strategies_run(void **state) {
    (void)state;
    enum { N = 400 };
    static int64_t ts[N], vts[N];
    static double o[N], h[N], l[N], c[N], v[N], vix[N];
    int nv = 0;
    double px = 100, vx = 20;
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        double r = ((double)(s >> 8) / 16777216.0 - 0.5) * 0.08;
        o[i] = px;
        px *= 1 + r;
        c[i] = px;
        h[i] = fmax(o[i], c[i]) * 1.01;
        l[i] = fmin(o[i], c[i]) * 0.99;
        v[i] = 1;
        ts[i] = (int64_t)i * DAY;
        vx = fmax(9, vx - 300 * r + ((i / 50) % 2 ? 0.5 : -0.4));
        if (i % 7 < 5) { vts[nv] = ts[i]; vix[nv++] = vx; }
    }
    mts_bars_t bars = {ts, o, h, l, c, v, N, N};
    mts_series_t vs = {vts, vix, nv, nv};
    mts_engine_config_t cfg = {100000, 10, 0, 0};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    int32_t id;
    assert_int_equal(mts_engine_add_asset(e, "bitcoin", &bars, &id), 0);
    assert_int_equal(mts_engine_add_macro(e, "VIX", &vs), 0);
    const char *strategies[] = {"vix_correlation", "mean_reversion"};
    const char *k[] = {"rsi_oversold", "vix_spike_threshold"}, *val[] = {"45", "15"};
    mts_run_spec_t spec = {e, root(), strategies, 2, k, val, 2, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0};
    mts_run_result_t rr;
    char err[512];
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    if (rc) fail_msg("backtest failed: %s", err);
    if (rr.n_disabled) fail_msg("disabled: %s", rr.disabled);
    int64_t ns = 0;
    const mts_signal_rec_t *sig = mts_engine_signals(e, &ns);
    int per[2] = {0, 0};
    for (int64_t i = 0; i < ns; i++) per[sig[i].strategy]++;
    if (per[0] == 0 || per[1] == 0) fail_msg("signals: vix_correlation %d, mean_reversion %d", per[0], per[1]);
    assert_true(mts_engine_fill_count(e) > 0);
    mts_run_result_free(&rr);
    mts_engine_free(e);
}

/* Shadow strategies (issue 14): spec.shadows trade their own shadow books. The
 * bars of test_sma_cross_fills_next_open: the live sma_cross (fast=2 slow=3
 * units=3 from the --param list) buys 3 at bar 8's open (9); the shadow
 * "sma_cross:units=2" gets the same global params, then its own units=2, and
 * buys 2 at 9 in its book of 50000. By hand, no costs, marked at the last close 10:
 * account 100000 + 3 x (10 - 9) = 100003, shadow 50000 + 2 x (10 - 9) = 50002. */
static void test_shadow_trades_its_own_book(void **state) {
    (void)state;
    static fixture_bars_t f;
    double close[] = {10, 10, 10, 13, 13, 7, 7, 10, 10, 10};
    double open[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    make_bars(&f, close, open, 10);
    mts_engine_t *e = engine_with(&f, "bitcoin");
    int32_t b = -1;
    assert_int_equal(mts_engine_add_shadow_book(e, 50000, &b), 0);
    assert_int_equal(b, 1);
    const char *strategies[] = {"sma_cross"}, *shadows[] = {"sma_cross:units=2"};
    const char *keys[] = {"fast", "slow", "units"}, *vals[] = {"2", "3", "3"};
    mts_run_spec_t spec = {e, root(), strategies, 1, keys, vals, 3, 0, NULL, NULL, NULL, 0, 0, 0, shadows, 1};
    mts_run_result_t rr;
    char err[512];
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    if (rc) fail_msg("backtest failed: %s", err);
    assert_int_equal(rr.n_disabled, 0);
    assert_int_equal(rr.n_risk, 2);                      /* the live strategy, then the shadow */
    assert_non_null(rr.shadows_json);
    assert_non_null(strstr(rr.shadows_json, "\"label\":\"sma_cross:units=2\""));
    assert_non_null(strstr(rr.shadows_json, "\"units\":2"));
    assert_null(strstr(rr.parameters_json, "units=2"));  /* the account's parameters only */
    assert_true(mts_engine_position(e, 0) == 3);
    assert_true(mts_engine_book_position(e, 1, 0) == 2);
    assert_int_equal(mts_engine_fill_count(e), 1);
    const mts_portfolio_t *sp = mts_engine_book(e, 1);
    assert_non_null(sp);
    assert_int_equal(sp->fills, 1);
    assert_true(fabs(mts_engine_equity(e) - 100003) < 1e-9);
    assert_true(fabs(mts_engine_book_equity(e, 1) - 50002) < 1e-9);
    mts_run_result_free(&rr);
    mts_engine_free(e);

    /* refused: a label equal to a live strategy's name; an engine without the shadow book */
    mts_engine_t *e2 = engine_with(&f, "bitcoin");
    assert_int_equal(mts_engine_add_shadow_book(e2, 50000, &b), 0);
    const char *same[] = {"sma_cross"};
    mts_run_spec_t s2 = {e2, root(), strategies, 1, keys, vals, 3, 0, NULL, NULL, NULL, 0, 0, 0, same, 1};
    assert_int_equal(mts_lua_backtest(&s2, &rr, err, sizeof err), MTS_ECONFIG);
    assert_non_null(strstr(err, "a live strategy has that name"));
    mts_engine_free(e2);
    mts_engine_t *e3 = engine_with(&f, "bitcoin");
    mts_run_spec_t s3 = {e3, root(), strategies, 1, keys, vals, 3, 0, NULL, NULL, NULL, 0, 0, 0, shadows, 1};
    assert_int_equal(mts_lua_backtest(&s3, &rr, err, sizeof err), MTS_ECONFIG);
    assert_non_null(strstr(err, "shadow books"));
    mts_engine_free(e3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sma_cross_fills_next_open),
        cmocka_unit_test(test_decisions_keep_the_last_signal_step),
        cmocka_unit_test(test_run_stopping_errors),
        cmocka_unit_test(test_disabled_strategy),
        cmocka_unit_test(test_vix_strategies_run),
        cmocka_unit_test(test_shadow_trades_its_own_book),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
