/* test_remote.c — the protocol pieces of the Redis Streams workers that need
 * no Redis (research/worker.h, remote.c): SHA-256 against the FIPS 180-2
 * vector, the grid id of a spec (its canonical JSON written out by hand here
 * and its hash computed independently with Python's hashlib), the spec JSON
 * read back, result JSON round trips bit for bit (awkward doubles, NaN,
 * infinities, -0.0, subnormals, an error with quotes), the strategy sources
 * bundle (paths sorted, hash follows contents, written back as a root), and
 * importing a dataset into a worker's database: into an empty one, over the
 * same bars, and refused (nothing written) over other bars or VIX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mts.h"
#include "research/worker.h"
#include "market/series.h"
#include "tmpdb.h"

static uint64_t bits(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }

static void test_sha256_vector(void **state) {
    (void)state;
    char h[65];
    mts_remote_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static const char *STRATS[] = {"sma_cross", "mean_reversion"};
static const char *ASSETS[] = {"bitcoin", "ethereum"};

static void make_spec(mts_opt_spec_t *s, mts_grid_t *g) {
    memset(g, 0, sizeof *g);
    char err[256];
    assert_int_equal(mts_grid_add_axis(g, "fast=5,10", err, sizeof err), 0);
    assert_int_equal(mts_grid_add_axis(g, "mean_reversion.rsi_period=7:21:7", err, sizeof err), 0);
    memset(s, 0, sizeof *s);
    *s = (mts_opt_spec_t){.strategies = STRATS, .n_strategies = 2, .assets = ASSETS, .n_assets = 2,
                          .interval = "1h", .from = 1600000000, .to = INT64_MAX, .capital = 100000,
                          .commission_bps = 10, .slippage_bps = 0.5, .risk_free = 0.1, .grid = g,
                          .metric = "calmar_ratio", .root = "/somewhere", .db_label = "x.db",
                          .store = MTS_OPT_STORE_ALL};
}

static const char SPEC_JSON[] =
    "{\"v\":1,\"strategies\":[\"sma_cross\",\"mean_reversion\"],\"assets\":[\"bitcoin\",\"ethereum\"],"
    "\"interval\":\"1h\",\"from\":\"1600000000\",\"to\":\"9223372036854775807\",\"capital\":\"100000\","
    "\"commission_bps\":\"10\",\"slippage_bps\":\"0.5\",\"risk_free\":\"0.10000000000000001\",\"trusted\":0,"
    "\"grid\":[{\"key\":\"fast\",\"values\":[\"5\",\"10\"]},{\"key\":\"mean_reversion.rsi_period\","
    "\"values\":[\"7\",\"14\",\"21\"]}],\"metric\":\"calmar_ratio\","
    "\"dataset\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"sources\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}";
/* python3 -c "import hashlib; print(hashlib.sha256(SPEC_JSON).hexdigest())" */
static const char GRID_ID[] = "140d97745757b3ab6985a2b720e120c2fbc0de2c0d1261fc6138647333031805";

static char A64[65], B64[65], C64[65];

static void grid_id(const mts_opt_spec_t *s, const char *ds, const char *src, char out[65]) {
    char *j = NULL;
    assert_int_equal(mts_remote_spec_json(s, ds, src, &j), 0);
    mts_remote_sha256_hex(j, strlen(j), out);
    mts_free(j);
}

static void test_grid_id_stable(void **state) {
    (void)state;
    memset(A64, 'a', 64);
    memset(B64, 'b', 64);
    memset(C64, 'c', 64);
    mts_opt_spec_t s;
    mts_grid_t g;
    make_spec(&s, &g);
    char *j = NULL;
    assert_int_equal(mts_remote_spec_json(&s, A64, B64, &j), 0);
    assert_string_equal(j, SPEC_JSON);      /* root, db_label, store: not part of it */
    mts_free(j);
    char id[65], id2[65];
    grid_id(&s, A64, B64, id);
    assert_string_equal(id, GRID_ID);
    /* anything that changes the results changes the id */
    grid_id(&s, C64, B64, id2);
    assert_string_not_equal(id, id2);
    grid_id(&s, A64, C64, id2);
    assert_string_not_equal(id, id2);
    s.commission_bps = 10.000000000000002;
    grid_id(&s, A64, B64, id2);
    assert_string_not_equal(id, id2);
    s.commission_bps = 10;
    s.to = INT64_MAX - 1;
    grid_id(&s, A64, B64, id2);
    assert_string_not_equal(id, id2);
    s.to = INT64_MAX;
    s.trusted = 1;
    grid_id(&s, A64, B64, id2);
    assert_string_not_equal(id, id2);
    s.trusted = 0;
    grid_id(&s, A64, B64, id2);
    assert_string_equal(id, id2);
    mts_grid_free(&g);
}

static void test_spec_parse_roundtrip(void **state) {
    (void)state;
    mts_opt_spec_t s;
    mts_grid_t g;
    make_spec(&s, &g);
    mts_remote_spec_t rs;
    char err[256];
    assert_int_equal(mts_remote_spec_parse(SPEC_JSON, &rs, err, sizeof err), 0);
    assert_int_equal(rs.spec.n_strategies, 2);
    assert_string_equal(rs.spec.strategies[1], "mean_reversion");
    assert_string_equal(rs.spec.assets[1], "ethereum");
    assert_true(rs.spec.to == INT64_MAX && rs.spec.from == 1600000000);
    assert_true(bits(rs.spec.risk_free) == bits(0.1));
    assert_int_equal(rs.grid.n_axes, 2);
    assert_int_equal(rs.grid.axes[1].n, 3);
    assert_string_equal(rs.grid.axes[1].values[2], "21");
    assert_string_equal(rs.dataset, A64);
    /* the same points in the same order as the original spec */
    mts_opt_point_t *p1, *p2;
    int64_t n1, n2;
    assert_int_equal(mts_opt_points(&s, &p1, &n1, err, sizeof err), 0);
    assert_int_equal(mts_opt_points(&rs.spec, &p2, &n2, err, sizeof err), 0);
    assert_int_equal(n1, 2 + 2 * 3);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, (size_t)n1 * sizeof *p1);
    mts_free(p1);
    mts_free(p2);
    char *j = NULL;
    assert_int_equal(mts_remote_spec_json(&rs.spec, rs.dataset, rs.sources, &j), 0);
    assert_string_equal(j, SPEC_JSON);
    mts_free(j);
    mts_remote_spec_free(&rs);
    assert_int_not_equal(mts_remote_spec_parse("{\"v\":1}", &rs, err, sizeof err), 0);
    assert_int_not_equal(mts_remote_spec_parse("not json", &rs, err, sizeof err), 0);
    mts_grid_free(&g);
}

static void check_result_roundtrip(const mts_opt_result_t *r) {
    char *j = NULL;
    assert_int_equal(mts_remote_result_json(r, 0, NULL, &j), 0);
    mts_opt_result_t b;
    int rc = 1;
    char e[64];
    assert_int_equal(mts_remote_result_parse(j, &b, &rc, e, sizeof e), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(b.index, r->index);
    assert_int_equal(b.strategy, r->strategy);
    assert_int_equal(b.disabled, r->disabled);
    const double *x = &r->m.initial_capital, *y = &b.m.initial_capital;
    for (int i = 0; i < 10; i++) {   /* initial_capital .. profit_factor */
        if (isnan(x[i])) assert_true(isnan(y[i]));
        else if (bits(x[i]) != bits(y[i])) fail_msg("field %d: %.17g read back as %.17g (%s)", i, x[i], y[i], j);
    }
    /* the issue-12 metrics a worker sends for ranking (--metric) */
    const double xs[6] = {r->m.sortino_ratio, r->m.exposure_time, r->m.avg_trade, r->m.expectancy, r->m.alpha,
                          r->m.beta};
    const double ys[6] = {b.m.sortino_ratio, b.m.exposure_time, b.m.avg_trade, b.m.expectancy, b.m.alpha, b.m.beta};
    for (int i = 0; i < 6; i++) {
        if (isnan(xs[i])) assert_true(isnan(ys[i]));
        else if (bits(xs[i]) != bits(ys[i])) fail_msg("metric %d: %.17g read back as %.17g (%s)", i, xs[i], ys[i], j);
    }
    assert_int_equal(b.m.longest_losing_streak, r->m.longest_losing_streak);
    assert_int_equal(b.m.trade_count, r->m.trade_count);
    assert_int_equal(b.m.n_periods, r->m.n_periods);
    assert_int_equal(b.m.period_s, r->m.period_s);
    mts_free(j);
}

static void test_result_json_bit_exact(void **state) {
    (void)state;
    mts_opt_result_t r;
    memset(&r, 0, sizeof r);
    r.index = 99999;
    r.strategy = 3;
    r.disabled = 1;
    double v[10] = {0.1, 1.0 / 3, -0.0, 4.9406564584124654e-324, DBL_MAX, NAN, INFINITY, -INFINITY,
                    2.2250738585072009e-308, -123456789.123456789};
    memcpy(&r.m.initial_capital, v, sizeof v);
    r.m.trade_count = 1234567;
    r.m.sortino_ratio = 1.0 / 7;
    r.m.exposure_time = 0.3;
    r.m.avg_trade = -12.5;
    r.m.expectancy = NAN;
    r.m.alpha = 0.01;
    r.m.beta = -0.7;
    r.m.longest_losing_streak = 9;
    r.m.n_periods = 2920;
    r.m.period_s = 86400;
    check_result_roundtrip(&r);
    /* a spread of doubles from a fixed generator: every one bit for bit */
    uint64_t x = 88172645463325252ull;
    for (int k = 0; k < 2000; k++) {
        for (int i = 0; i < 10; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            uint64_t u = x;
            double d;
            memcpy(&d, &u, 8);
            v[i] = isfinite(d) ? d : (double)(x >> 11) / 9007199254740992.0;
        }
        memcpy(&r.m.initial_capital, v, sizeof v);
        r.disabled = k & 1;
        check_result_roundtrip(&r);
    }
}

static void test_result_json_error(void **state) {
    (void)state;
    mts_opt_result_t r, b;
    memset(&r, 0, sizeof r);
    r.index = 7;
    r.strategy = 1;
    char *j = NULL;
    assert_int_equal(mts_remote_result_json(&r, MTS_ELUA, "bad \"fast\"\n\\ value", &j), 0);
    int rc = 0;
    char e[128];
    assert_int_equal(mts_remote_result_parse(j, &b, &rc, e, sizeof e), 0);
    assert_int_equal(rc, MTS_ELUA);
    assert_string_equal(e, "bad \"fast\"\n\\ value");
    assert_int_equal(b.index, 7);
    assert_int_equal(b.strategy, 1);
    mts_free(j);
    assert_int_not_equal(mts_remote_result_parse("{\"index\":1}", &b, &rc, e, sizeof e), 0);
}

static void write_file(const char *dir, const char *rel, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    for (char *s = p + strlen(dir) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_sources_bundle(void **state) {
    (void)state;
    char dir[] = "/tmp/mts_test_remote_src_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "scripts/lib/runner.lua", "return 1\n");
    write_file(dir, "scripts/lib/aggregator.lua", "return 2\n");
    write_file(dir, "scripts/lib/mts_ffi.h", "typedef int x;\n");        /* not shipped: the binary's */
    write_file(dir, "scripts/strategies/s1.lua", "return {}\n");
    write_file(dir, "scripts/strategies/other.lua", "return {}\n");   /* not in the grid */
    write_file(dir, "config/strategies/s1.json", "{}\n");
    write_file(dir, "config/mts.json", "{\"backtest\":{}}\n");
    const char *strats[] = {"s1"};
    mts_remote_sources_t src, src2;
    char err[256];
    assert_int_equal(mts_remote_sources_load(dir, strats, 1, &src, err, sizeof err), 0);
    const char *want[] = {"config/mts.json", "config/strategies/s1.json", "scripts/lib/aggregator.lua",
                          "scripts/lib/runner.lua", "scripts/strategies/s1.lua"};
    assert_int_equal(src.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(src.path[i], want[i]);
    assert_int_equal(src.len[3], 9);
    assert_memory_equal(src.data[3], "return 1\n", 9);
    /* written as a root and read back: the same hash */
    char out[64];
    snprintf(out, sizeof out, "%s/copy", dir);
    assert_int_equal(mts_remote_sources_write(&src, out, err, sizeof err), 0);
    assert_int_equal(mts_remote_sources_load(out, strats, 1, &src2, err, sizeof err), 0);
    assert_string_equal(src.hash, src2.hash);
    mts_remote_sources_free(&src2);
    /* one byte of the strategy changes it */
    write_file(out, "scripts/strategies/s1.lua", "return {} \n");
    assert_int_equal(mts_remote_sources_load(out, strats, 1, &src2, err, sizeof err), 0);
    assert_string_not_equal(src.hash, src2.hash);
    mts_remote_sources_free(&src2);
    /* a strategy without its file is an error naming it */
    const char *missing[] = {"nope"};
    assert_int_equal(mts_remote_sources_load(dir, missing, 1, &src2, err, sizeof err), MTS_ENOTFOUND);
    assert_non_null(strstr(err, "scripts/strategies/nope.lua"));
    mts_remote_sources_free(&src);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* n daily bars from t0 with close = base + i */
static void fill_bars(mts_bars_t *b, int64_t n, double base) {
    memset(b, 0, sizeof *b);
    assert_int_equal(mts_bars_reserve(b, n), 0);
    for (int64_t i = 0; i < n; i++) {
        b->ts[i] = 1600041600 + i * 86400;   /* 2020-09-14 00:00 UTC */
        b->open[i] = base + (double)i - 0.25;
        b->high[i] = base + (double)i + 1.0 / 3;
        b->low[i] = base + (double)i - 0.5;
        b->close[i] = base + (double)i;
        b->volume[i] = 1000.0 + (double)i * 0.1;
    }
    b->n = n;
}

static void make_ds(mts_remote_dataset_t *ds, double base) {
    memset(ds, 0, sizeof *ds);
    ds->n_assets = 1;
    ds->assets[0] = mts_strdup("coin");
    ds->interval = mts_strdup("1d");
    fill_bars(&ds->bars[0], 50, base);
    assert_int_equal(mts_series_reserve(&ds->vix, 3), 0);
    for (int i = 0; i < 3; i++) {
        ds->vix.ts[i] = 1600041600 + i * 86400;
        ds->vix.v[i] = 20.5 + i;
    }
    ds->vix.n = 3;
}

static void check_store_has(mts_store_t *s, const mts_bars_t *want) {
    mts_bars_t got;
    memset(&got, 0, sizeof got);
    mts_series_info_t info;
    assert_int_equal(mts_series_load_bars(s, "coin", "1d", INT64_MIN, INT64_MAX, &got, &info), 0);
    assert_int_equal(got.n, want->n);
    size_t n = (size_t)want->n * 8;
    assert_memory_equal(got.ts, want->ts, n);
    assert_memory_equal(got.close, want->close, n);
    assert_memory_equal(got.high, want->high, n);
    assert_memory_equal(got.volume, want->volume, n);
    mts_bars_free(&got);
}

static void test_dataset_import(void **state) {
    (void)state;
    char dir[128], path[192];
    mts_store_t *s;
    assert_int_equal(tmpdb_open("remote", dir, sizeof dir, path, sizeof path, &s), 0);
    mts_remote_dataset_t ds, other;
    make_ds(&ds, 100);
    make_ds(&other, 100);
    other.bars[0].close[17] += 1e-9;
    mts_opt_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.from = INT64_MIN;
    spec.to = INT64_MAX;
    char err[512];
    /* empty database: imported */
    assert_int_equal(mts_remote_dataset_import(s, "w.db", &spec, &ds, err, sizeof err), 0);
    check_store_has(s, &ds.bars[0]);
    mts_series_t vix;
    memset(&vix, 0, sizeof vix);
    assert_int_equal(mts_store_load_macro(s, "VIX", INT64_MIN, INT64_MAX, &vix), 0);
    assert_int_equal(vix.n, 3);
    assert_true(vix.v[2] == 22.5);
    mts_series_free(&vix);
    /* the same again: fine, nothing changes */
    assert_int_equal(mts_remote_dataset_import(s, "w.db", &spec, &ds, err, sizeof err), 0);
    check_store_has(s, &ds.bars[0]);
    /* other bars: refused, the database keeps its own */
    assert_int_equal(mts_remote_dataset_import(s, "w.db", &spec, &other, err, sizeof err), MTS_EVALID);
    assert_non_null(strstr(err, "w.db"));
    assert_non_null(strstr(err, "differ"));
    check_store_has(s, &ds.bars[0]);
    /* other VIX only: refused too */
    mts_remote_dataset_free(&other);
    make_ds(&other, 100);
    other.vix.v[1] = 99;
    assert_int_equal(mts_remote_dataset_import(s, "w.db", &spec, &other, err, sizeof err), MTS_EVALID);
    assert_non_null(strstr(err, "VIX"));
    mts_remote_dataset_free(&other);
    /* no VIX at the coordinator, VIX here: refused (the runs would differ) */
    make_ds(&other, 100);
    other.vix.n = 0;
    assert_int_equal(mts_remote_dataset_import(s, "w.db", &spec, &other, err, sizeof err), MTS_EVALID);
    assert_non_null(strstr(err, "VIX"));
    mts_remote_dataset_free(&other);
    mts_remote_dataset_free(&ds);
    assert_int_equal(tmpdb_close(dir, s), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vector),
        cmocka_unit_test(test_grid_id_stable),
        cmocka_unit_test(test_spec_parse_roundtrip),
        cmocka_unit_test(test_result_json_bit_exact),
        cmocka_unit_test(test_result_json_error),
        cmocka_unit_test(test_sources_bundle),
        cmocka_unit_test(test_dataset_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
