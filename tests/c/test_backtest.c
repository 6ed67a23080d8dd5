/* test_backtest.c — cancelling a run: the engine's cancel flag (checked every
 * 1024 bars) and mts_backtest_run's contract (MTS_ECANCELED, nothing stored);
 * a run that cannot be stored (keep_unstored).
 * Used by `mts serve` when its shutdown grace ends and by the REPL's Ctrl-C
 * during mts.backtest. Runs from the repository root (run_c.sh), where the
 * bundled BTC bars (2920 daily bars) and the strategies are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backtest/backtest.h"
#include "engine/engine.h"
#include "store/store.h"

static const char *root(void) {
    const char *r = getenv("MTS_ROOT");
    return r && *r ? r : ".";
}

/* 5000 flat bars, one asset: the flag is raised after 2000 events; next()
 * must stop at the first multiple of 1024 after that, 2048, and say so. */
static void test_engine_stops_at_the_next_check(void **state) {
    (void)state;
    enum { N = 5000 };
    static int64_t ts[N];
    static double px[N], vol[N];
    for (int i = 0; i < N; i++) { ts[i] = 1600000000 + 60 * (int64_t)i; px[i] = 100; vol[i] = 1; }
    mts_bars_t b = {ts, px, px, px, px, vol, N, N};
    mts_engine_config_t cfg = {100000, 10, 0, 0};
    mts_engine_t *e = NULL;
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    int32_t id;
    assert_int_equal(mts_engine_add_asset(e, "x", &b, &id), 0);
    mts_engine_step_events(e, 0);
    volatile sig_atomic_t flag = 0;
    mts_engine_set_cancel(e, &flag);
    mts_event_t ev;
    int64_t bars = 0;
    int rc;
    while ((rc = mts_engine_next(e, &ev)) == 1) {
        assert_int_equal(ev.kind, MTS_EV_BAR);
        if (++bars == 2000) flag = 1;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(ev.kind, MTS_EV_NONE);
    assert_int_equal(mts_engine_cancelled(e), 1);
    assert_int_equal(mts_engine_bars_done(e), 2048);
    assert_int_equal(bars, 2047);            /* the 2048th bar was not handed out */
    mts_engine_free(e);

    /* the same run with the flag never raised goes to the end */
    assert_int_equal(mts_engine_create(&cfg, &e), 0);
    assert_int_equal(mts_engine_add_asset(e, "x", &b, &id), 0);
    mts_engine_step_events(e, 0);
    flag = 0;
    mts_engine_set_cancel(e, &flag);
    bars = 0;
    while (mts_engine_next(e, &ev) == 1) bars++;
    assert_int_equal(bars, N);
    assert_int_equal(mts_engine_cancelled(e), 0);
    mts_engine_free(e);
}

static int64_t stored_runs(mts_store_t *s) {
    mts_stored_run_t *runs = NULL;
    int n = 0;
    assert_int_equal(mts_store_list_runs(s, 100, &runs, &n), 0);
    for (int i = 0; i < n; i++) mts_stored_run_free(&runs[i]);
    mts_free(runs);
    return n;
}

static void test_backtest_cancelled_stores_nothing(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-backtest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);

    const char *strategies[] = {"sma_cross"}, *assets[] = {"bitcoin"};
    volatile sig_atomic_t flag = 1;          /* raised before the start */
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .from = INT64_MIN, .to = INT64_MAX, .capital = 100000, .commission_bps = 10,
        .root = root(), .db_label = path, .store_result = 1, .trusted = 1, .cancel = &flag};
    mts_backtest_t *b = NULL;
    char err[512] = "";
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), MTS_ECANCELED);
    assert_null(b);
    assert_non_null(strstr(err, "cancelled after 1024 of 2920 bars"));
    assert_int_equal(stored_runs(s), 0);

    /* lowered: the run completes and is stored, exactly as without a flag */
    flag = 0;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);
    assert_int_equal(b->total_bars, 2920);
    double with_flag = b->metrics.final_value;
    mts_backtest_free(b);
    o.cancel = NULL;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);
    assert_true(b->metrics.final_value == with_flag);
    mts_backtest_free(b);
    assert_int_equal(stored_runs(s), 2);

    mts_store_close(s);
    unlink(path);
    char side[sizeof path + 8];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* Issue 9 item 7: a run computed while another process holds the write lock
 * past the write wait. With keep_unstored the result comes back (run_id 0,
 * store_rc and store_err say why); without it the run is an error as before.
 * Nothing is half-stored either way. */
static void test_backtest_kept_when_not_stored(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-backtest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    const char *strategies[] = {"sma_cross"}, *assets[] = {"bitcoin"};
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .from = INT64_MIN, .to = INT64_MAX, .capital = 100000, .commission_bps = 10,
        .root = root(), .db_label = path, .store_result = 1, .trusted = 1};
    mts_backtest_t *b = NULL;
    char err[512] = "";
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);   /* imports the bars */
    double want = b->metrics.final_value;
    assert_true(b->run_id > 0);
    assert_int_equal(b->store_rc, 0);
    mts_backtest_free(b);

    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    mts_store_set_write_wait(s, 200);
    o.keep_unstored = 1;
    b = NULL;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);
    assert_non_null(b);
    assert_int_equal(b->run_id, 0);
    assert_int_equal(b->store_rc, MTS_EDBLOCKED);
    assert_non_null(strstr(b->store_err, "database is locked (another process is writing to"));
    assert_true(b->metrics.final_value == want);
    assert_int_equal(b->total_bars, 2920);
    mts_backtest_free(b);

    o.keep_unstored = 0;
    b = NULL;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), MTS_EDBLOCKED);
    assert_null(b);
    assert_non_null(strstr(err, "database is locked"));
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    assert_int_equal(stored_runs(s), 1);

    mts_store_close(s);
    unlink(path);
    char side[sizeof path + 8];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* Runs given shared data (mts_backtest_data_load, opts.data) are the runs
 * that load their own: the same bars (the same arrays for every run), the
 * same metrics, equity curve and trades, bit for bit; data of other assets,
 * interval or range is refused. Two strategies share one load (optimize). */
static void test_backtest_shared_data(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-backtest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    const char *strategies[] = {"sma_cross", "mean_reversion", "vix_correlation"}, *assets[] = {"bitcoin"};
    const char *keys[] = {"fast", "slow"}, *vals[] = {"7", "40"};
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .param_keys = keys, .param_values = vals, .n_params = 2,
        .from = INT64_MIN, .to = INT64_MAX, .capital = 100000, .commission_bps = 10,
        .root = root(), .db_label = path, .store_result = 0, .trusted = 1};
    char err[512] = "";
    mts_backtest_data_t *data = NULL;
    assert_int_equal(mts_backtest_data_load(s, &o, &data, err, sizeof err), 0);
    for (int k = 0; k < 3; k++) {
        o.strategies = &strategies[k];
        o.n_params = k == 0 ? 2 : 0;
        mts_backtest_t *own = NULL, *sh1 = NULL, *sh2 = NULL;
        o.data = NULL;
        assert_int_equal(mts_backtest_run(s, &o, &own, err, sizeof err), 0);
        o.data = data;
        assert_int_equal(mts_backtest_run(s, &o, &sh1, err, sizeof err), 0);
        assert_int_equal(mts_backtest_run(s, &o, &sh2, err, sizeof err), 0);
        assert_true(sh1->bars[0].close == sh2->bars[0].close);    /* one load, shared */
        assert_true(own->bars[0].close != sh1->bars[0].close);
        assert_int_equal(own->total_bars, 2920);
        const mts_backtest_t *r[2] = {sh1, sh2};
        for (int j = 0; j < 2; j++) {
            assert_int_equal(r[j]->total_bars, own->total_bars);
            assert_int_equal(r[j]->start_ts, own->start_ts);
            assert_int_equal(r[j]->end_ts, own->end_ts);
            assert_memory_equal(&r[j]->metrics, &own->metrics, sizeof own->metrics);
            const mts_portfolio_t *a = mts_engine_portfolio(own->engine), *b = mts_engine_portfolio(r[j]->engine);
            assert_int_equal(a->equity.n, b->equity.n);
            assert_memory_equal(a->equity.ts, b->equity.ts, (size_t)a->equity.n * sizeof *a->equity.ts);
            assert_memory_equal(a->equity.v, b->equity.v, (size_t)a->equity.n * sizeof *a->equity.v);
            assert_int_equal(a->n_trades, b->n_trades);
            if (a->n_trades) assert_memory_equal(a->trades, b->trades, (size_t)a->n_trades * sizeof *a->trades);
            assert_int_equal(r[j]->n_signals, own->n_signals);
        }
        if (k == 2) assert_true(own->vix.n > 0 && sh1->vix.n == own->vix.n);   /* VIX shared too */
        mts_backtest_free(own);
        mts_backtest_free(sh1);
        mts_backtest_free(sh2);
    }
    /* data of another range or interval is not this run's */
    mts_backtest_t *b = NULL;
    o.from = 1600000000;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), MTS_EINVAL);
    assert_null(b);
    assert_non_null(strstr(err, "shared data"));
    o.from = INT64_MIN;
    o.interval = "1h";
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), MTS_EINVAL);
    o.interval = NULL;
    const char *other[] = {"ethereum"};
    o.assets = other;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), MTS_EINVAL);
    mts_backtest_data_free(data);

    mts_store_close(s);
    unlink(path);
    char side[sizeof path + 8];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_stops_at_the_next_check),
        cmocka_unit_test(test_backtest_cancelled_stores_nothing),
        cmocka_unit_test(test_backtest_kept_when_not_stored),
        cmocka_unit_test(test_backtest_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
