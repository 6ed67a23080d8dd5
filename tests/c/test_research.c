/* test_research.c — the research library (runtime/research/research.h):
 * grid parsing and its errors, the fixed point order (hand-listed), ranking
 * with NaN and ties, and mts_opt_run_local with 1 and 3 threads giving the
 * same metrics bit for bit as each other and as a plain mts_backtest_run;
 * both executors of jobs > 1 (worker processes and threads) bit-identical to
 * jobs 1, a worker process killed on a given point (a test hook) reported with
 * that point, and cancel — no child and no descriptor left behind.
 * Runs from the repository root (run_c.sh), where the bundled BTC bars and
 * the strategies are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "research/research.h"
#include "store/store.h"

static const char *root(void) {
    const char *r = getenv("MTS_ROOT");
    return r && *r ? r : ".";
}

static void expect_axis_error(const char *arg, const char *words) {
    mts_grid_t g = {0};
    char err[512] = "";
    assert_int_equal(mts_grid_add_axis(&g, arg, err, sizeof err), MTS_EINVAL);
    if (!strstr(err, words)) fail_msg("'%s': expected '%s' in '%s'", arg, words, err);
    assert_int_equal(g.n_axes, 0);
    mts_grid_free(&g);
}

static void test_grid_parsing(void **state) {
    (void)state;
    mts_grid_t g = {0};
    char err[512] = "";
    assert_int_equal(mts_grid_add_axis(&g, "fast=5:20:5", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.slow=30,50,100", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "k=0.1:0.3:0.1", err, sizeof err), 0);   /* 0.1+0.2 is 0.30000000000000004 */
    assert_int_equal(mts_grid_add_axis(&g, "units=-1:1:1", err, sizeof err), 0);
    assert_int_equal(g.n_axes, 4);
    assert_string_equal(g.axes[0].key, "fast");
    assert_int_equal(g.axes[0].n, 4);
    const char *fast[] = {"5", "10", "15", "20"};
    for (int i = 0; i < 4; i++) assert_string_equal(g.axes[0].values[i], fast[i]);
    assert_string_equal(g.axes[1].key, "sma_cross.slow");
    assert_int_equal(g.axes[1].n, 3);
    assert_string_equal(g.axes[1].values[2], "100");
    assert_int_equal(g.axes[2].n, 3);
    assert_string_equal(g.axes[2].values[0], "0.1");
    assert_string_equal(g.axes[2].values[1], "0.2");
    assert_string_equal(g.axes[2].values[2], "0.3");
    assert_string_equal(g.axes[3].values[0], "-1");
    assert_string_equal(g.axes[3].values[1], "0");
    assert_string_equal(g.axes[3].values[2], "1");
    /* the key given twice; the grid is unchanged */
    assert_int_equal(mts_grid_add_axis(&g, "fast=1,2", err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "given twice for 'fast'"));
    assert_int_equal(g.n_axes, 4);
    mts_grid_free(&g);
    assert_int_equal(g.n_axes, 0);
    mts_grid_free(NULL);

    expect_axis_error("fast", "KEY=a,b,c");
    expect_axis_error("=5", "KEY=a,b,c");
    expect_axis_error("fast=", "KEY=a,b,c");
    expect_axis_error("fast=1,,2", "an empty value");
    expect_axis_error("fast=1,", "an empty value");
    expect_axis_error("fast=5:2:1", "start <= stop");
    expect_axis_error("fast=1:2:0", "step > 0");
    expect_axis_error("fast=1:2", "start:stop:step");
    expect_axis_error("fast=a:2:1", "start:stop:step");
    expect_axis_error("fast=1:1001:1", "at most 1000");   /* 1001 values; 1..1000 is fine */
    mts_grid_t ok = {0};
    assert_int_equal(mts_grid_add_axis(&ok, "fast=1:1000:1", err, sizeof err), 0);
    assert_int_equal(ok.axes[0].n, 1000);
    mts_grid_free(&ok);

    /* more than MTS_GRID_MAX_AXES axes */
    for (int k = 0; k < MTS_GRID_MAX_AXES; k++) {
        char a[32];
        snprintf(a, sizeof a, "k%d=1,2", k);
        assert_int_equal(mts_grid_add_axis(&g, a, err, sizeof err), 0);
    }
    assert_int_equal(mts_grid_add_axis(&g, "one_more=1", err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "at most 16"));
    mts_grid_free(&g);

    assert_true(mts_grid_axis_applies("fast", "sma_cross"));
    assert_true(mts_grid_axis_applies("sma_cross.fast", "sma_cross"));
    assert_false(mts_grid_axis_applies("sma_cross.fast", "sma_crossover"));
    assert_false(mts_grid_axis_applies("sma.fast", "sma_cross"));
}

/* Two strategies, an axis for both, one for each: the order listed by hand. */
static void test_point_order(void **state) {
    (void)state;
    mts_grid_t g = {0};
    char err[512] = "";
    assert_int_equal(mts_grid_add_axis(&g, "fast=5,10", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.slow=30,50,100", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "mean_reversion.rsi_period=7,14", err, sizeof err), 0);
    const char *strategies[] = {"sma_cross", "mean_reversion"}, *assets[] = {"bitcoin"};
    mts_opt_spec_t spec = {.strategies = strategies, .n_strategies = 2, .assets = assets, .n_assets = 1,
                           .grid = &g, .metric = "sharpe_ratio"};
    mts_opt_point_t *p = NULL;
    int64_t n = 0;
    assert_int_equal(mts_opt_points(&spec, &p, &n, err, sizeof err), 0);
    static const int want[10][4] = {   /* strategy, fast, slow, rsi_period */
        {0, 0, 0, -1}, {0, 0, 1, -1}, {0, 0, 2, -1}, {0, 1, 0, -1}, {0, 1, 1, -1}, {0, 1, 2, -1},
        {1, 0, -1, 0}, {1, 0, -1, 1}, {1, 1, -1, 0}, {1, 1, -1, 1}};
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(p[i].index, i);
        assert_int_equal(p[i].strategy, want[i][0]);
        for (int k = 0; k < 3; k++) assert_int_equal(p[i].value[k], want[i][k + 1]);
    }
    char text[128];
    mts_opt_point_text(&spec, &p[5], text, sizeof text);
    assert_string_equal(text, "fast=10 sma_cross.slow=100");
    mts_opt_point_text(&spec, &p[7], text, sizeof text);
    assert_string_equal(text, "fast=5 mean_reversion.rsi_period=14");
    mts_free(p);

    /* 1000 x 1000 values: more than MTS_GRID_MAX_POINTS */
    mts_grid_t big = {0};
    assert_int_equal(mts_grid_add_axis(&big, "a=1:999:1", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&big, "b=1:999:1", err, sizeof err), 0);
    spec.grid = &big;
    assert_int_equal(mts_opt_points(&spec, &p, &n, err, sizeof err), MTS_ERANGE);
    assert_non_null(strstr(err, "more than 100000 combinations"));
    mts_grid_free(&big);
    mts_grid_free(&g);
}

static void test_rank_nan_and_ties(void **state) {
    (void)state;
    const double m[] = {1, NAN, 3, 1, NAN, 3, 2};
    mts_opt_result_t r[7];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 7; i++) {
        r[i].index = i;
        r[i].metric = m[i];
    }
    int64_t order[7];
    mts_opt_spec_t hi = {.metric = "sharpe_ratio"}, lo = {.metric = "max_drawdown"};
    mts_opt_rank(&hi, r, 7, order);
    const int64_t want_hi[] = {2, 5, 6, 0, 3, 1, 4};
    for (int i = 0; i < 7; i++) assert_int_equal(order[i], want_hi[i]);
    mts_opt_rank(&lo, r, 7, order);
    const int64_t want_lo[] = {0, 3, 6, 2, 5, 1, 4};
    for (int i = 0; i < 7; i++) assert_int_equal(order[i], want_lo[i]);
    assert_true(mts_opt_higher_is_better("calmar_ratio"));
    assert_false(mts_opt_higher_is_better("volatility"));
    assert_true(mts_opt_metric_known("profit_factor"));
    assert_false(mts_opt_metric_known("sharpe"));
    mts_metrics_t mm = {0};
    mm.calmar_ratio = 1.25;
    mm.final_value = 7;
    assert_true(mts_opt_metric_of(&mm, "calmar_ratio") == 1.25);
    assert_true(mts_opt_metric_of(&mm, "final_value") == 7);
}

static void unlink_db(const char *path);

/* The issue-12 metrics by name: each returns its own field (distinct values),
 * is known, ranks higher first. */
static void test_new_metric_names(void **state) {
    (void)state;
    mts_metrics_t mm;
    memset(&mm, 0, sizeof mm);
    mm.sortino_ratio = 1.5;
    mm.exposure_time = 0.25;
    mm.avg_trade = -12.5;
    mm.expectancy = 0.75;
    mm.alpha = 0.0625;
    mm.beta = -0.5;
    mm.final_value = 99;
    const char *names[] = {"sortino_ratio", "exposure_time", "avg_trade", "expectancy", "alpha", "beta"};
    const double want[] = {1.5, 0.25, -12.5, 0.75, 0.0625, -0.5};
    for (int i = 0; i < 6; i++) {
        assert_true(mts_opt_metric_known(names[i]));
        assert_true(mts_opt_higher_is_better(names[i]));
        if (mts_opt_metric_of(&mm, names[i]) != want[i])
            fail_msg("%s: got %.17g, want %.17g", names[i], mts_opt_metric_of(&mm, names[i]), want[i]);
        int listed = 0;
        for (int k = 0; mts_opt_metrics[k]; k++) listed += !strcmp(mts_opt_metrics[k], names[i]);
        assert_int_equal(listed, 1);
    }
    assert_false(mts_opt_metric_known("longest_losing_streak"));   /* a count, not offered for ranking */
}

/* One grid point of the research path (mts_opt_run_point: sma_cross fast=10
 * slow=30 on the bundled daily BTC bars, 2021-2022) ranked by each issue-12
 * metric: the value equals one computed here, independently, from the same
 * run's equity curve, bars and trades (a plain mts_backtest_run with the
 * point's options), by the definitions of portfolio/metrics.h:
 *   r_k = E_k/E_{k-1} - 1 (E_0 = capital), one point per UTC day (checked);
 *   sortino = mean(r) / sqrt(sum min(r,0)^2 / (n-1)) * sqrt(365)   (rf = 0);
 *   benchmark B_k = capital * close_k / close_0 (one asset bought at the first close);
 *   x_k = B_k/B_{k-1} - 1, beta = sum (x-mx)(y-my) / sum (x-mx)^2, alpha = (my - beta*mx)*365;
 *   avg_trade = mean closed pnl; expectancy = avg_trade / |mean of the losing pnls|;
 *   exposure_time = points t with a closed trade entry <= t < exit, or an open record entry <= t, / points. */
static void test_new_metrics_by_hand(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-research-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    mts_grid_t g = {0};
    char err[1024] = "";
    assert_int_equal(mts_grid_add_axis(&g, "fast=10", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "slow=30", err, sizeof err), 0);
    const char *strategies[] = {"sma_cross"}, *assets[] = {"bitcoin"};
    const int64_t from = 1609459200, to = 1672531199;   /* 2021-01-01 .. 2022-12-31 */
    mts_opt_spec_t spec = {.strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
                           .from = from, .to = to, .capital = 100000, .commission_bps = 10,
                           .trusted = 1, .root = root(), .db_label = path, .grid = &g,
                           .metric = "sharpe_ratio", .store = MTS_OPT_STORE_NONE};
    mts_backtest_data_t *data = NULL;
    assert_int_equal(mts_opt_data_load(s, &spec, &data, err, sizeof err), 0);
    mts_opt_point_t p = {.index = 0, .strategy = 0, .value = {0, 0}};
    const char *names[] = {"sortino_ratio", "exposure_time", "avg_trade", "expectancy", "alpha", "beta"};
    double got[6];
    for (int i = 0; i < 6; i++) {
        mts_opt_result_t r;
        spec.metric = names[i];
        assert_int_equal(mts_opt_run_point(s, &spec, data, &p, 0, &r, err, sizeof err), 0);
        got[i] = r.metric;
    }
    /* the same run, for its curve, bars and trades */
    const char *keys[] = {"fast", "slow"}, *vals[] = {"10", "30"};
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .param_keys = keys, .param_values = vals, .n_params = 2, .from = from, .to = to,
        .capital = 100000, .commission_bps = 10, .root = root(), .db_label = path, .trusted = 1};
    mts_backtest_t *b = NULL;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);
    const mts_series_t *c = mts_engine_equity_curve(b->engine);
    const mts_bars_t *bars = &b->bars[0];
    int64_t n = c->n;
    assert_true(n == 730 && bars->n == 730);
    double *y = calloc((size_t)n, sizeof *y), *x = calloc((size_t)n, sizeof *x);
    assert_non_null(y);
    assert_non_null(x);
    double my = 0, mx = 0, dn = 0;
    for (int64_t k = 0; k < n; k++) {
        assert_true(c->ts[k] % 86400 == 0 && (k == 0 || c->ts[k] - c->ts[k - 1] == 86400));
        assert_true(bars->ts[k] == c->ts[k]);
        double e0 = k ? c->v[k - 1] : 100000, b1 = 100000 * bars->close[k] / bars->close[0];
        double b0 = k ? 100000 * bars->close[k - 1] / bars->close[0] : 100000;
        y[k] = c->v[k] / e0 - 1;
        x[k] = b1 / b0 - 1;
        my += y[k] / n;
        mx += x[k] / n;
        if (y[k] < 0) dn += y[k] * y[k];
    }
    double sxy = 0, sxx = 0;
    for (int64_t k = 0; k < n; k++) {
        sxy += (x[k] - mx) * (y[k] - my);
        sxx += (x[k] - mx) * (x[k] - mx);
    }
    double beta = sxy / sxx, alpha = (my - beta * mx) * 365;
    double sortino = my / sqrt(dn / (n - 1)) * sqrt(365.0);
    int64_t nt = 0, no = 0;
    const mts_trade_t *t = mts_engine_trades(b->engine, &nt);
    const mts_trade_t *op = mts_engine_open_trades(b->engine, &no);
    assert_true(nt >= 5);
    double sum = 0, loss = 0;
    int64_t nl = 0;
    for (int64_t i = 0; i < nt; i++) {
        sum += t[i].pnl;
        if (t[i].pnl < 0) loss += t[i].pnl, nl++;
    }
    assert_true(nl > 0);
    double avg = sum / nt, expectancy = avg / fabs(loss / nl);
    int64_t in = 0;
    for (int64_t k = 0; k < n; k++) {
        int open = 0;
        for (int64_t i = 0; i < nt && !open; i++) open = t[i].entry_ts <= c->ts[k] && c->ts[k] < t[i].exit_ts;
        for (int64_t i = 0; i < no && !open; i++) open = op[i].entry_ts <= c->ts[k];
        in += open;
    }
    const double want[] = {sortino, (double)in / n, avg, expectancy, alpha, beta};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(want[i]));
        if (!(fabs(got[i] - want[i]) <= 1e-9 * fmax(1, fabs(want[i]))))
            fail_msg("%s: research path %.17g, by hand %.17g", names[i], got[i], want[i]);
    }
    assert_true(beta != 0 && alpha != 0);
    free(x);
    free(y);
    mts_backtest_free(b);
    mts_backtest_data_free(data);
    mts_grid_free(&g);
    mts_store_close(s);
    unlink_db(path);
}

static void unlink_db(const char *path) {
    char side[256];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static int64_t stored_runs(mts_store_t *s) {
    mts_stored_run_t *runs = NULL;
    int n = 0;
    assert_int_equal(mts_store_list_runs(s, 1000, &runs, &n), 0);
    for (int i = 0; i < n; i++) mts_stored_run_free(&runs[i]);
    mts_free(runs);
    return n;
}

static int64_t progress_last, progress_calls;
static void on_progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    assert_true(done >= progress_last && done <= total);
    progress_last = done;
    progress_calls++;
}

/* A real grid on the bundled 2920 daily BTC bars: --jobs 1 and 3 give the same
 * results bit for bit, in point order, and equal to a plain backtest. */
static void test_run_local_jobs(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-research-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_grid_t g = {0};
    char err[1024] = "";
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.fast=5:20:5", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.slow=30,50", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "mean_reversion.rsi_period=7,14,21", err, sizeof err), 0);
    const char *strategies[] = {"sma_cross", "mean_reversion"}, *assets[] = {"bitcoin"};
    mts_opt_spec_t spec = {.strategies = strategies, .n_strategies = 2, .assets = assets, .n_assets = 1,
                           .from = INT64_MIN, .to = INT64_MAX, .capital = 100000, .commission_bps = 10,
                           .trusted = 1, .root = root(), .db_label = path, .grid = &g,
                           .metric = "sharpe_ratio", .store = MTS_OPT_STORE_NONE};
    mts_opt_result_t *r1 = NULL, *r3 = NULL;
    int64_t n1 = 0, n3 = 0;
    progress_last = progress_calls = 0;
    assert_int_equal(mts_opt_run_local(path, &spec, 1, on_progress, NULL, NULL, &r1, &n1, err, sizeof err), 0);
    assert_int_equal(n1, 8 + 3);
    assert_int_equal(progress_last, 11);
    progress_last = progress_calls = 0;
    assert_int_equal(mts_opt_run_local(path, &spec, 3, on_progress, NULL, NULL, &r3, &n3, err, sizeof err), 0);
    assert_int_equal(n3, 11);
    assert_int_equal(progress_last, 11);
    for (int i = 0; i < 11; i++) {
        assert_int_equal(r1[i].index, i);
        assert_int_equal(r3[i].index, i);
        assert_int_equal(r1[i].strategy, i < 8 ? 0 : 1);
        assert_int_equal(r3[i].strategy, r1[i].strategy);
        assert_memory_equal(&r1[i].m, &r3[i].m, sizeof r1[i].m);
        assert_memory_equal(&r1[i].metric, &r3[i].metric, sizeof(double));
        assert_int_equal(r1[i].run_id, 0);
        assert_int_equal(r3[i].run_id, 0);
    }
    /* the results are the points' own: point 6 (fast=20 slow=30) as a plain backtest */
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    const char *keys[] = {"sma_cross.fast", "sma_cross.slow"}, *vals[] = {"20", "30"};
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .param_keys = keys, .param_values = vals, .n_params = 2, .from = INT64_MIN, .to = INT64_MAX,
        .capital = 100000, .commission_bps = 10, .root = root(), .db_label = path, .trusted = 1};
    mts_backtest_t *b = NULL;
    assert_int_equal(mts_backtest_run(s, &o, &b, err, sizeof err), 0);
    assert_memory_equal(&b->metrics, &r3[6].m, sizeof b->metrics);
    assert_true(r3[6].metric == b->metrics.sharpe_ratio);
    mts_backtest_free(b);
    /* the grid differs point to point (else the comparison above proves little) */
    assert_true(r1[0].m.final_value != r1[1].m.final_value);
    mts_free(r1);
    mts_free(r3);

    /* storing every run from 3 threads: one row each, ids all distinct */
    spec.store = MTS_OPT_STORE_ALL;
    assert_int_equal(mts_opt_run_local(path, &spec, 3, NULL, NULL, NULL, &r3, &n3, err, sizeof err), 0);
    assert_int_equal(stored_runs(s), 11);
    for (int i = 0; i < 11; i++) {
        assert_true(r3[i].run_id > 0);
        assert_int_equal(r3[i].store_rc, 0);
        for (int j = 0; j < i; j++) assert_true(r3[i].run_id != r3[j].run_id);
    }
    mts_free(r3);

    /* a failing point: the lowest failing index's error, naming its combo */
    spec.store = MTS_OPT_STORE_NONE;
    mts_grid_t bad = {0};
    assert_int_equal(mts_grid_add_axis(&bad, "fast=5,abc,7,xyz", err, sizeof err), 0);
    spec.grid = &bad;
    spec.n_strategies = 1;
    for (int jobs = 1; jobs <= 2; jobs++) {
        r3 = NULL;
        err[0] = 0;
        int rc = mts_opt_run_local(path, &spec, jobs, NULL, NULL, NULL, &r3, &n3, err, sizeof err);
        assert_true(rc < 0);
        assert_null(r3);
        if (!strstr(err, "in the run sma_cross fast=abc;")) fail_msg("jobs %d: %s", jobs, err);
    }
    /* cancelled before the start */
    volatile sig_atomic_t cancel = 1;
    spec.grid = &g;
    spec.n_strategies = 2;
    assert_int_equal(mts_opt_run_local(path, &spec, 2, NULL, NULL, &cancel, &r3, &n3, err, sizeof err),
                     MTS_ECANCELED);
    mts_grid_free(&bad);
    mts_grid_free(&g);
    mts_store_close(s);
    unlink_db(path);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void no_child_left(void) {
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);   /* no child at all: none running, no zombie */
    assert_int_equal(errno, ECHILD);
}

static volatile sig_atomic_t cancel_after_first;
static void cancel_on_progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    (void)total;
    if (done >= 1) cancel_after_first = 1;
}

/* mts_opt_run_data_exec with each executor of jobs > 1 against jobs 1 on the
 * same data: bit-identical results in point order; a worker process killed by
 * SIGKILL on point 4 (the test hook MTS_OPT_TEST_CHILD_KILL_POINT, read only in
 * the children) is an error naming point 4 and its parameters; a failing point
 * inside a child comes back with its message; cancel mid-grid. */
static void test_executors(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-research-exec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mts_grid_t g = {0};
    char err[1200] = "";
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.fast=5:20:5", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "sma_cross.slow=30,50", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(&g, "mean_reversion.rsi_period=7,14,21", err, sizeof err), 0);
    const char *strategies[] = {"sma_cross", "mean_reversion"}, *assets[] = {"bitcoin"};
    mts_opt_spec_t spec = {.strategies = strategies, .n_strategies = 2, .assets = assets, .n_assets = 1,
                           .from = INT64_MIN, .to = INT64_MAX, .capital = 100000, .commission_bps = 10,
                           .trusted = 1, .root = root(), .db_label = path, .grid = &g,
                           .metric = "sharpe_ratio", .store = MTS_OPT_STORE_NONE};
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    mts_backtest_data_t *data = NULL;
    assert_int_equal(mts_opt_data_load(s, &spec, &data, err, sizeof err), 0);
    /* the descriptors are counted after the process executor only: SQLite defers
     * closing a thread's handle on a file this process still has open (its
     * POSIX lock bookkeeping), which is not a leak of the executor */
    int fds0 = open_fds();
    mts_opt_result_t *r1 = NULL, *rx = NULL;
    int64_t n1 = 0, nx = 0;
    assert_int_equal(mts_opt_run_data_exec(s, path, &spec, data, 1, MTS_OPT_EXEC_PROCESSES, NULL, NULL, NULL, &r1,
                                           &n1, err, sizeof err), 0);
    assert_int_equal(n1, 11);
    assert_true(r1[0].m.final_value != r1[1].m.final_value);
    const mts_opt_exec_t execs[] = {MTS_OPT_EXEC_PROCESSES, MTS_OPT_EXEC_THREADS};
    for (int x = 0; x < 2; x++) {
        for (int jobs = 2; jobs <= 3; jobs++) {
            progress_last = progress_calls = 0;
            assert_int_equal(mts_opt_run_data_exec(s, path, &spec, data, jobs, execs[x], on_progress, NULL, NULL,
                                                   &rx, &nx, err, sizeof err), 0);
            assert_int_equal(nx, 11);
            assert_int_equal(progress_last, 11);
            for (int i = 0; i < 11; i++) {
                assert_int_equal(rx[i].index, i);
                assert_int_equal(rx[i].strategy, r1[i].strategy);
                assert_memory_equal(&rx[i].m, &r1[i].m, sizeof rx[i].m);
                assert_memory_equal(&rx[i].metric, &r1[i].metric, sizeof(double));
                assert_int_equal(rx[i].run_id, 0);
                assert_int_equal(rx[i].disabled, r1[i].disabled);
            }
            mts_free(rx);
            rx = NULL;
            if (execs[x] == MTS_OPT_EXEC_PROCESSES) {
                no_child_left();
                assert_int_equal(open_fds(), fds0);
            }
        }
    }
    no_child_left();
    fds0 = open_fds();   /* with the threads' deferred closes */

    /* a worker process killed on point 4 (sma_cross fast=15 slow=30) */
    setenv("MTS_OPT_TEST_CHILD_KILL_POINT", "4", 1);
    err[0] = 0;
    int rc = mts_opt_run_data_exec(s, path, &spec, data, 2, MTS_OPT_EXEC_PROCESSES, NULL, NULL, NULL, &rx, &nx, err,
                                   sizeof err);
    unsetenv("MTS_OPT_TEST_CHILD_KILL_POINT");
    assert_true(rc < 0);
    assert_null(rx);
    if (!strstr(err, "running point 4 was killed by signal 9") || !strstr(err, "fast=15") || !strstr(err, "slow=30"))
        fail_msg("the killed worker's error: %s", err);
    no_child_left();
    assert_int_equal(open_fds(), fds0);
    /* the hook is read in the children only: jobs 1 runs point 4 in this process */
    setenv("MTS_OPT_TEST_CHILD_KILL_POINT", "4", 1);
    assert_int_equal(mts_opt_run_data_exec(s, path, &spec, data, 1, MTS_OPT_EXEC_PROCESSES, NULL, NULL, NULL, &rx,
                                           &nx, err, sizeof err), 0);
    unsetenv("MTS_OPT_TEST_CHILD_KILL_POINT");
    mts_free(rx);
    rx = NULL;

    /* cancel after the first finished point: MTS_ECANCELED, children gone */
    for (int x = 0; x < 2; x++) {
        cancel_after_first = 0;
        assert_int_equal(mts_opt_run_data_exec(s, path, &spec, data, 2, execs[x], cancel_on_progress, NULL,
                                               &cancel_after_first, &rx, &nx, err, sizeof err), MTS_ECANCELED);
        assert_null(rx);
        no_child_left();
        if (execs[x] == MTS_OPT_EXEC_PROCESSES) assert_int_equal(open_fds(), fds0);
    }
    mts_backtest_data_free(data);

    /* a point failing inside a child: its message, the lowest failing point */
    mts_grid_t bad = {0};
    assert_int_equal(mts_grid_add_axis(&bad, "fast=5,abc,7,xyz", err, sizeof err), 0);
    spec.grid = &bad;
    spec.n_strategies = 1;
    assert_int_equal(mts_opt_data_load(s, &spec, &data, err, sizeof err), 0);
    for (int x = 0; x < 2; x++) {
        err[0] = 0;
        rc = mts_opt_run_data_exec(s, path, &spec, data, 2, execs[x], NULL, NULL, NULL, &rx, &nx, err, sizeof err);
        assert_true(rc < 0);
        assert_null(rx);
        if (!strstr(err, "in the run sma_cross fast=abc;")) fail_msg("executor %d: %s", x, err);
    }
    no_child_left();
    mts_backtest_data_free(data);
    mts_free(r1);
    mts_grid_free(&bad);
    mts_grid_free(&g);
    mts_store_close(s);
    unlink_db(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_parsing),
        cmocka_unit_test(test_point_order),
        cmocka_unit_test(test_rank_nan_and_ties),
        cmocka_unit_test(test_new_metric_names),
        cmocka_unit_test(test_new_metrics_by_hand),
        cmocka_unit_test(test_run_local_jobs),
        cmocka_unit_test(test_executors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
