/* test_store.c — store/store.c: open + migrations (idempotent, user_version),
 * WAL and the other pragmas, errors, OHLCV upsert/load/count, the macro
 * "original beats filled" rule, signals and backtests with NaN -> NULL,
 * one transaction per batch, allocation failures.
 * Every database lives in a fresh mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mts.h"
#include "store/store.h"
#include "store/paper.h"
#include "tmpdb.h"
#include "store/store_internal.h"
#include "util/timeutil.h"

typedef struct fx {
    char dir[64];
    char path[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("store", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* One integer from a query on a separate raw connection. */
static int64_t raw_int(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t n) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
}

static void test_open_migrate_twice(void **state) {
    fx_t *f = *state;
    int v = mts_store_schema_version(f->s);                  /* every migration ran */
    assert_true(v >= 1);
    mts_store_close(f->s);
    f->s = NULL;
    assert_int_equal(mts_store_open(f->path, &f->s), 0);     /* second open: no migration to run */
    assert_int_equal(mts_store_schema_version(f->s), v);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), v);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                                      "('ohlcv_blocks','macro_indicators','signal_history','backtest_results')"), 4);
    /* v7: bars live in blocks; the row table is gone */
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'crypto_ohlcv'"), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                                      "tbl_name = 'signal_history' AND sql LIKE '%strategy_name, asset, timestamp%'"), 1);
    /* backtest_results has the extended columns */
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM pragma_table_info('backtest_results') WHERE name IN "
                                      "('assets','annualized_return','volatility','calmar_ratio','win_rate',"
                                      "'profit_factor','commission_bps','slippage_bps','parameters')"), 9);
    /* two handles on one file at once */
    mts_store_t *s2 = NULL;
    assert_int_equal(mts_store_open(f->path, &s2), 0);
    mts_store_close(s2);
}

static void test_pragmas(void **state) {
    fx_t *f = *state;
    /* journal_mode is persistent: a fresh connection sees WAL */
    sqlite3 *db;
    char mode[32];
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    raw_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    sqlite3_close(db);
    assert_string_equal(mode, "wal");
    sqlite3 *h = mts_store_db(f->s);
    raw_text(h, "PRAGMA synchronous", mode, sizeof mode);
    assert_string_equal(mode, "1");                  /* NORMAL */
    raw_text(h, "PRAGMA foreign_keys", mode, sizeof mode);
    assert_string_equal(mode, "1");
    raw_text(h, "PRAGMA busy_timeout", mode, sizeof mode);
    assert_string_equal(mode, "5000");
}

static void test_open_errors(void **state) {
    (void)state;
    mts_store_t *s = (mts_store_t *)0x1;
    assert_int_equal(mts_store_open("/nonexistent-dir-mts/x.db", &s), MTS_EDB);
    assert_null(s);
    assert_string_equal(mts_store_errmsg(NULL), "/nonexistent-dir-mts/x.db: unable to open database file");
    mts_store_close(NULL);                               /* accepts NULL */
}

static void test_newer_schema_refused(void **state) {
    fx_t *f = *state;
    int v = mts_store_schema_version(f->s);
    mts_store_close(f->s);
    f->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(mts_store_open(f->path, &f->s), MTS_EDB);
    assert_non_null(strstr(mts_store_errmsg(NULL), "schema version 99 is newer"));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    /* back to this release's version: opens again (migrations are applied once
     * each, in a transaction with the version bump, so none is re-run) */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(mts_store_open(f->path, &f->s), 0);
}

#define D0 1521244800LL       /* 2018-03-17T00:00:00Z (17607 days * 86400, see test_time.c) */
#define DAY 86400LL

static void make_bars(mts_bars_t *b, int64_t n) {
    assert_int_equal(mts_bars_reserve(b, n), 0);
    for (int64_t i = 0; i < n; i++) {
        b->ts[i] = D0 + i * DAY;
        b->open[i] = 100 + (double)i;
        b->high[i] = 110 + (double)i;
        b->low[i] = 90 + (double)i;
        b->close[i] = 105 + (double)i;
        b->volume[i] = 1000 + (double)i;
    }
    b->n = n;
}

static void test_ohlcv_upsert_idempotent(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    make_bars(&b, 3);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &b), 0);
    /* one block: 1024 days from the multiple of 1024 days before D0
     * (17607 days = 17 * 1024 + 199: the block starts 199 days before D0) */
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM ohlcv_blocks"), 1);
    assert_int_equal(raw_int(f->path, "SELECT block_start FROM ohlcv_blocks"), D0 - 199 * DAY);
    assert_int_equal(raw_int(f->path, "SELECT n * 1000 + (first_ts = 1521244800) * 10 + (last_ts = 1521417600) "
                                      "FROM ohlcv_blocks WHERE cryptocurrency = 'bitcoin' AND interval = '1d'"), 3011);
    /* the same bars again: the block is not rewritten */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE ohlcv_blocks SET updated_at = 7", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &b), 0);
    int64_t n = -1;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(raw_int(f->path, "SELECT updated_at FROM ohlcv_blocks"), 7);   /* kept, not replaced */
    assert_int_equal(mts_store_count_ohlcv(f->s, "ethereum", "1d", &n), 0);
    assert_int_equal(n, 0);
    /* a changed value is updated in place */
    b.close[1] = 107.25;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &b), 0);
    mts_bars_t out = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin", "1d", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3);
    assert_true(out.close[1] == 107.25);
    assert_true(out.open[2] == 102 && out.high[2] == 112 && out.low[2] == 92 && out.volume[2] == 1002);
    assert_int_equal(out.ts[0], D0);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

static void test_ohlcv_load_ranges(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    make_bars(&b, 10);                       /* days D0 .. D0+9d */
    /* store out of order: load must sort */
    int64_t t = b.ts[0]; b.ts[0] = b.ts[9]; b.ts[9] = t;
    double o = b.open[0]; b.open[0] = b.open[9]; b.open[9] = o;
    double h = b.high[0]; b.high[0] = b.high[9]; b.high[9] = h;
    double l = b.low[0]; b.low[0] = b.low[9]; b.low[9] = l;
    double c = b.close[0]; b.close[0] = b.close[9]; b.close[9] = c;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "ethereum", "1d", &b), 0);
    mts_bars_t out = {0};
    /* [D0+2d, D0+5d] inclusive: days 2,3,4,5 */
    assert_int_equal(mts_store_load_ohlcv(f->s, "ethereum", "1d", D0 + 2 * DAY, D0 + 5 * DAY, &out), 0);
    assert_int_equal(out.n, 4);
    assert_int_equal(out.ts[0], D0 + 2 * DAY);
    assert_int_equal(out.ts[3], D0 + 5 * DAY);
    assert_true(out.open[0] == 102);
    /* the same struct is reused: n is reset, arrays kept */
    int64_t cap = out.cap;
    assert_int_equal(mts_store_load_ohlcv(f->s, "ethereum", "1d", INT64_MIN, D0, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.cap, cap);
    assert_true(out.close[0] == 105);
    assert_int_equal(mts_store_load_ohlcv(f->s, "ethereum", "1d", D0 + 9 * DAY + 1, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(mts_store_load_ohlcv(f->s, "ethereum", "1d", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 10);
    for (int64_t i = 1; i < out.n; i++) assert_true(out.ts[i] > out.ts[i - 1]);
    assert_int_equal(mts_store_load_ohlcv(f->s, "nope", "1d", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 0);
    mts_bars_free(&out);
    mts_bars_free(&b);
    mts_bars_free(&out);                      /* twice is fine: the struct was zeroed */
    mts_bars_free(NULL);
}

static void test_ohlcv_batch_is_one_transaction(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    make_bars(&b, 25000);
    b.close[24999] = NAN;                     /* refused on the very last row */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &b), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "close is NaN"));
    int64_t n = -1;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 0);                   /* none of the first 24,999 rows was stored */
    b.close[24999] = 105;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &b), 0);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 25000);
    mts_bars_free(&b);
}

/* A bad row anywhere in a batch is named, and a time repeated inside one
 * batch ends with the later values (as row-by-row upserts would). */
static void test_ohlcv_batch_shapes(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    const int64_t sizes[] = {1, 49, 50, 51, 137};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        char asset[16];
        snprintf(asset, sizeof asset, "a%lld", (long long)sizes[k]);
        make_bars(&b, sizes[k]);
        int64_t bad = sizes[k] / 2;                /* in a 50-row chunk or in the tail */
        b.volume[bad] = NAN;
        assert_int_equal(mts_store_upsert_ohlcv(f->s, asset, "1d", &b), MTS_EINVAL);
        char iso[32], want[160];
        mts_time_format_iso(b.ts[bad], iso);
        snprintf(want, sizeof want, "upsert_ohlcv %s 1d %s: volume is NaN (a bar's prices and volume must be numbers)",
                 asset, iso);
        assert_string_equal(mts_store_errmsg(f->s), want);
        b.volume[bad] = 5;
        assert_int_equal(mts_store_upsert_ohlcv(f->s, asset, "1d", &b), 0);
        int64_t n;
        assert_int_equal(mts_store_count_ohlcv(f->s, asset, "1d", &n), 0);
        assert_int_equal(n, sizes[k]);
    }
    make_bars(&b, 60);
    b.ts[10] = b.ts[3];                            /* same time twice in the first chunk */
    b.close[10] = 104.5;
    b.ts[55] = b.ts[54];                           /* and twice in the tail */
    b.close[55] = 150.5;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "dup", "1d", &b), 0);
    mts_bars_t out = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "dup", "1d", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 58);
    assert_true(out.close[3] == 104.5);
    assert_int_equal(out.ts[53], b.ts[54]);        /* index shifts by one after the first repeat */
    assert_true(out.close[53] == 150.5);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

static void test_macro_filled_never_overwrites_original(void **state) {
    fx_t *f = *state;
    int64_t ts[3] = {D0, D0 + DAY, D0 + 2 * DAY};
    double orig[3] = {17.5, 18.25, 19.0};
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", ts, orig, NULL, 3), 0);
    /* filled values for all three days: interpolated, forward-filled, both */
    double filled[3] = {1, 2, 3};
    uint8_t flags[3] = {1, 2, 3};
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", ts, filled, flags, 3), 0);
    mts_series_t out = {0};
    assert_int_equal(mts_store_load_macro(f->s, "VIX", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3);
    assert_true(out.v[0] == 17.5 && out.v[1] == 18.25 && out.v[2] == 19.0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM macro_indicators WHERE is_interpolated OR is_forward_filled"), 0);

    /* a filled value on a new date is stored, and a later filled value replaces it */
    int64_t t4 = D0 + 3 * DAY;
    double v4 = 19.5;
    uint8_t ff = 2;
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", &t4, &v4, &ff, 1), 0);
    v4 = 19.75;
    uint8_t interp = 1;
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", &t4, &v4, &interp, 1), 0);
    assert_int_equal(raw_int(f->path, "SELECT is_interpolated * 10 + is_forward_filled FROM macro_indicators "
                                      "WHERE date = '2018-03-20'"), 10);
    /* and an original observation replaces a filled one */
    v4 = 20.0;
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", &t4, &v4, NULL, 1), 0);
    assert_int_equal(mts_store_load_macro(f->s, "VIX", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 4);
    assert_true(out.v[3] == 20.0);
    assert_int_equal(out.ts[3], t4);
    assert_int_equal(raw_int(f->path, "SELECT is_interpolated + is_forward_filled FROM macro_indicators "
                                      "WHERE date = '2018-03-20'"), 0);
    /* an original replaces an original (a corrected re-import) */
    double corr = 17.0;
    assert_int_equal(mts_store_upsert_macro(f->s, "VIX", ts, &corr, NULL, 1), 0);
    int64_t n;
    assert_int_equal(mts_store_count_macro(f->s, "VIX", &n), 0);
    assert_int_equal(n, 4);

    /* ranges: [D0 + 1 s, D0 + 2d + 1 s] holds the midnights D0+1d and D0+2d */
    assert_int_equal(mts_store_load_macro(f->s, "VIX", D0 + 1, D0 + 2 * DAY + 1, &out), 0);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.ts[0], D0 + DAY);
    assert_true(out.v[0] == 18.25 && out.v[1] == 19.0);
    assert_int_equal(mts_store_load_macro(f->s, "VIX", D0, D0, &out), 0);
    assert_int_equal(out.n, 1);
    assert_true(out.v[0] == 17.0);
    assert_int_equal(mts_store_load_macro(f->s, "VIX", D0 + 1, D0 + DAY - 1, &out), 0);
    assert_int_equal(out.n, 0);
    mts_series_free(&out);
}

static void test_signals_nan_null(void **state) {
    fx_t *f = *state;
    mts_signal_row_t rows[2] = {
        {.asset = "bitcoin", .strategy_name = "sma_cross", .signal_type = "LONG", .ts = D0,
         .price = 8260.0, .confidence = 0.75, .position_size = 0.5, .stop_loss = NAN, .take_profit = INFINITY},
        {.asset = "bitcoin", .strategy_name = "sma_cross", .signal_type = "CLOSE", .ts = D0 + DAY,
         .price = 7824.01, .confidence = 1, .position_size = NAN, .stop_loss = 7000, .take_profit = 9000},
    };
    assert_int_equal(mts_store_insert_signals(f->s, rows, 2), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 2);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history WHERE signal_type = 'LONG' AND "
                                      "stop_loss IS NULL AND take_profit IS NULL AND position_size = 0.5 AND "
                                      "price = 8260.0 AND timestamp = 1521244800"), 1);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history WHERE signal_type = 'CLOSE' AND "
                                      "position_size IS NULL AND stop_loss = 7000"), 1);
    /* a required value that is NaN rejects the whole batch */
    rows[1].price = NAN;
    assert_int_equal(mts_store_insert_signals(f->s, rows, 2), MTS_EINVAL);
    assert_string_equal(mts_store_errmsg(f->s), "insert_signals: row 1: price is not finite");
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 2);
    assert_int_equal(mts_store_insert_signals(f->s, rows, 0), 0);
}

static void test_backtest_nan_null(void **state) {
    fx_t *f = *state;
    mts_backtest_row_t r = {
        .strategy_name = "vix_correlation,mean_reversion", .assets = "bitcoin,ethereum",
        .start_date = "2018-03-17", .end_date = "2026-03-14", .parameters_json = NULL,
        .initial_capital = 100000, .final_value = 125000.5, .total_return = 0.250005,
        .annualized_return = 0.03, .sharpe_ratio = NAN, .max_drawdown = -0.2, .volatility = INFINITY,
        .calmar_ratio = -INFINITY, .win_rate = 0.5, .profit_factor = NAN, .commission_bps = 10,
        .slippage_bps = 0, .trade_count = 42};
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(mts_store_insert_backtest(f->s, &r, &id1), 0);
    r.parameters_json = "{\"window\":20}";
    r.sharpe_ratio = 1.25;
    assert_int_equal(mts_store_insert_backtest(f->s, &r, &id2), 0);
    assert_int_equal(id2, id1 + 1);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM backtest_results WHERE id = %lld AND sharpe_ratio IS NULL AND "
             "volatility IS NULL AND calmar_ratio IS NULL AND profit_factor IS NULL AND parameters IS NULL AND "
             "max_drawdown = -0.2 AND trade_count = 42 AND assets = 'bitcoin,ethereum' AND slippage_bps = 0",
             (long long)id1);
    assert_int_equal(raw_int(f->path, sql), 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM backtest_results WHERE id = %lld AND sharpe_ratio = 1.25 AND "
             "parameters = '{\"window\":20}'", (long long)id2);
    assert_int_equal(raw_int(f->path, sql), 1);
    r.total_return = NAN;
    assert_int_equal(mts_store_insert_backtest(f->s, &r, NULL), MTS_EINVAL);
    assert_string_equal(mts_store_errmsg(f->s), "insert_backtest: total_return is not finite");
}

static void test_reserve_alloc_failure(void **state) {
    (void)state;
    mts_bars_t b = {0};
    assert_int_equal(mts_bars_reserve(&b, 16), 0);
    assert_int_equal(b.cap, 16);
    mts_alloc_fail_after(3);                 /* ts, open, high grow; low fails */
    assert_int_equal(mts_bars_reserve(&b, 1024), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    assert_int_equal(b.cap, 16);             /* still consistent */
    assert_int_equal(mts_bars_reserve(&b, 1024), 0);
    assert_int_equal(b.cap, 1024);
    b.low[1023] = 1;                         /* ASan checks the size */
    mts_bars_free(&b);
    mts_series_t sr = {0};
    mts_alloc_fail_after(1);
    assert_int_equal(mts_series_reserve(&sr, 8), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    assert_int_equal(sr.cap, 0);
    assert_int_equal(mts_series_reserve(&sr, 8), 0);
    mts_series_free(&sr);
    mts_series_free(NULL);
}

/* Every row of table (as it stands in the file at path), with the columns it
 * has in the FIRST call's schema: each row's values quoted and joined, rows
 * ordered, one per line. The columns are read from the table itself the first
 * time and remembered per table name, so the same columns are compared after a
 * migration adds others. Caller frees. */
static struct { char table[64]; char cols[2048]; } seen[32];
static int n_seen;
static void dump_rows_forget(void) { n_seen = 0; }   /* a new fixture: read the columns again */

static char *dump_rows(const char *path, const char *table) {
    const char *cols = NULL;
    for (int i = 0; i < n_seen; i++)
        if (strcmp(seen[i].table, table) == 0) cols = seen[i].cols;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (!cols) {
        assert_true(n_seen < 32);
        char sql[256];
        snprintf(seen[n_seen].table, sizeof seen[n_seen].table, "%s", table);
        snprintf(sql, sizeof sql, "SELECT group_concat('quote(' || name || ')', ' || '','' || ') FROM pragma_table_info('%s')",
                 table);
        raw_text(db, sql, seen[n_seen].cols, sizeof seen[n_seen].cols);
        cols = seen[n_seen++].cols;
    }
    size_t qn = strlen(cols) + 256;
    char *q = malloc(qn);
    assert_non_null(q);
    snprintf(q, qn, "SELECT COALESCE(group_concat(r, char(10)), '') FROM (SELECT %s AS r FROM %s ORDER BY 1)", cols, table);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *out = strdup((const char *)sqlite3_column_text(st, 0));
    assert_non_null(out);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(q);
    return out;
}


/* ---- every bar, bit for bit ----
 * A growing text: one line per bar "asset|interval|ts|open|high|low|close|volume"
 * with each double as the hex of its 64 bits. */
typedef struct text { char *p; size_t n, cap; } text_t;

static void text_add(text_t *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        assert_true(k >= 0);
        if (t->p && t->n + (size_t)k < t->cap) { t->n += (size_t)k; return; }
        t->cap = (t->cap + (size_t)k + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
}

static uint64_t bits_of(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }

static void bar_line(text_t *t, const char *asset, const char *iv, int64_t ts, const double v[5]) {
    text_add(t, "%s|%s|%lld", asset, iv, (long long)ts);
    for (int k = 0; k < 5; k++) text_add(t, "|%016llx", (unsigned long long)bits_of(v[k]));
    text_add(t, "\n");
}

/* The bars of crypto_ohlcv in the file at path, read with sqlite itself
 * (v4 had no interval column: its bars were daily), ordered by asset,
 * interval, time; the series found go to series[] (asset, interval). */
static char *dump_bar_rows(const char *path, int has_interval, char series[][2][64], int max, int *n_series) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *sql = has_interval
        ? "SELECT cryptocurrency, interval, timestamp, open, high, low, close, volume FROM crypto_ohlcv ORDER BY 1, 2, 3"
        : "SELECT cryptocurrency, '1d', timestamp, open, high, low, close, volume FROM crypto_ohlcv ORDER BY 1, 2, 3";
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    text_t t = {0};
    text_add(&t, "");
    *n_series = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0), *iv = (const char *)sqlite3_column_text(st, 1);
        if (*n_series == 0 || strcmp(series[*n_series - 1][0], a) || strcmp(series[*n_series - 1][1], iv)) {
            assert_true(*n_series < max);
            snprintf(series[*n_series][0], 64, "%s", a);
            snprintf(series[*n_series][1], 64, "%s", iv);
            (*n_series)++;
        }
        double v[5];
        for (int k = 0; k < 5; k++) {
            assert_true(sqlite3_column_type(st, 3 + k) == SQLITE_FLOAT || sqlite3_column_type(st, 3 + k) == SQLITE_INTEGER);
            v[k] = sqlite3_column_double(st, 3 + k);
        }
        bar_line(&t, a, iv, sqlite3_column_int64(st, 2), v);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return t.p;
}

/* The same lines read back through mts_store_load_ohlcv, series by series. */
static char *dump_bar_loads(mts_store_t *s, char series[][2][64], int n_series, int64_t *total) {
    text_t t = {0};
    text_add(&t, "");
    *total = 0;
    mts_bars_t b = {0};
    for (int i = 0; i < n_series; i++) {
        assert_int_equal(mts_store_load_ohlcv(s, series[i][0], series[i][1], INT64_MIN, INT64_MAX, &b), 0);
        int64_t n = -1;
        assert_int_equal(mts_store_count_ohlcv(s, series[i][0], series[i][1], &n), 0);
        assert_int_equal(n, b.n);
        for (int64_t j = 0; j < b.n; j++) {
            double v[5] = {b.open[j], b.high[j], b.low[j], b.close[j], b.volume[j]};
            bar_line(&t, series[i][0], series[i][1], b.ts[j], v);
        }
        *total += b.n;
    }
    mts_bars_free(&b);
    return t.p;
}

static void rm_db(const char *path) {
    char cmd[512];
    unlink(path);
    snprintf(cmd, sizeof cmd, "rm -f %s-wal %s-shm", path, path);
    assert_int_equal(system(cmd), 0);
}

/* A database written by the previous release (schema v4, with rows in every
 * kind of table: tests/fixtures/db/README.md) keeps every row when a newer
 * mts opens it: the same counts and the same contents, table by table,
 * before and after, and the new columns and tables exist. */
static void test_migrate_v4_keeps_every_row(void **state) {
    fx_t *f = *state;
    char path[192], cmd[512];
    snprintf(path, sizeof path, "%s/v4.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v4.db %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 4);
    dump_rows_forget();
    /* crypto_ohlcv becomes blocks (checked bar by bar below); backtest_equity
     * becomes one curve per run (store/results.c checks its own) */
    static const char *tables[] = {"macro_indicators", "signal_history", "backtest_results",
                                   "backtest_trades", "trades", "order_book_snapshots",
                                   "funding_rates", "bus_events", "live_bars", "paper_sessions", "paper_fills",
                                   "paper_equity"};
    enum { NT = sizeof tables / sizeof tables[0] };
    int64_t count[NT];
    char *before[NT];
    for (int i = 0; i < NT; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        count[i] = raw_int(path, sql);
        before[i] = dump_rows(path, tables[i]);
    }
    char series[8][2][64];
    int n_series = 0;
    char *bars_before = dump_bar_rows(path, 0, series, 8, &n_series);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM crypto_ohlcv"), 2920);   /* the bundled BTC daily bars */
    assert_int_equal(n_series, 1);
    assert_int_equal(count[0], 9152);          /* the bundled VIX */
    assert_int_equal(count[9], 2);             /* two paper sessions */
    /* v7 moves backtest_equity into one curve per run (store/results.c): every
     * point is read here with raw SQLite (ts, the double's bits) and compared
     * with the run loaded after */
    int64_t n_eq = raw_int(path, "SELECT COUNT(*) FROM backtest_equity");
    assert_true(n_eq > 0);
    int64_t *eq_id = malloc((size_t)n_eq * sizeof *eq_id), *eq_ts = malloc((size_t)n_eq * sizeof *eq_ts);
    double *eq_v = malloc((size_t)n_eq * sizeof *eq_v);
    assert_non_null(eq_id); assert_non_null(eq_ts); assert_non_null(eq_v);
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT backtest_id, ts, equity FROM backtest_equity"
                                                " ORDER BY backtest_id, ts", -1, &st, NULL), SQLITE_OK);
        for (int64_t k = 0; k < n_eq; k++) {
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            eq_id[k] = sqlite3_column_int64(st, 0);
            eq_ts[k] = sqlite3_column_int64(st, 1);
            eq_v[k] = sqlite3_column_double(st, 2);
        }
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    assert_int_equal(mts_store_schema_version(s), raw_int(path, "PRAGMA user_version"));
    assert_int_equal(mts_store_schema_version(s), 11);
    for (int64_t k = 0; k < n_eq;) {
        mts_stored_run_t run;
        assert_int_equal(mts_store_load_run(s, eq_id[k], &run), 0);
        int64_t i = 0;
        for (; k < n_eq && eq_id[k] == run.id; k++, i++) {
            assert_true(i < run.equity.n);
            assert_int_equal(run.equity.ts[i], eq_ts[k]);
            assert_memory_equal(&run.equity.v[i], &eq_v[k], sizeof(double));
        }
        assert_int_equal(run.equity.n, i);
        mts_stored_run_free(&run);
    }
    free(eq_id);
    free(eq_ts);
    free(eq_v);
    /* v6 made every bar stored before a daily bar; v7 moved them into blocks */
    int64_t total = 0;
    char *bars_after = dump_bar_loads(s, series, n_series, &total);
    assert_int_equal(total, 2920);
    assert_string_equal(bars_after, bars_before);
    free(bars_after);
    free(bars_before);
    mts_store_close(s);

    for (int i = 0; i < NT; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        assert_int_equal(raw_int(path, sql), count[i]);
        char *after = dump_rows(path, tables[i]);
        assert_string_equal(after, before[i]);          /* every row, every old column, unchanged */
        free(after);
        free(before[i]);
    }
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'crypto_ohlcv'"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'backtest_equity'"), 0);
    assert_int_equal(raw_int(path, "SELECT SUM(n) FROM backtest_curves"), n_eq);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_table_info('import_runs') WHERE name = 'interval'"), 1);
    /* v5: the session liveness columns and the import record */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_table_info('paper_sessions') WHERE name IN "
                                   "('heartbeat_at','pid','host')"), 3);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'import_runs'"), 1);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_sessions WHERE status = 'running' AND heartbeat_at IS NULL"), 1);
    rm_db(path);
}

/* A database of schema v6 (tests/fixtures/db/README.md: bitcoin 1d and 1h,
 * three hand-written 1m bars of testcoin, runs, stream and paper rows)
 * migrates to v7 in one go: every bar reads back through the loader with the
 * same asset, interval, time and the same 64 bits of each value, series by
 * series; every other table (but backtest_equity, whose rows
 * store/results.c moves) keeps every row unchanged. */
static void test_migrate_v6_keeps_every_bar(void **state) {
    fx_t *f = *state;
    char path[192], cmd[512];
    snprintf(path, sizeof path, "%s/v6.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v6.db %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 6);
    dump_rows_forget();
    /* every table of the file, but the two v7 moves and sqlite's own */
    char names[64][64];
    int nt = 0;
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                                                "('crypto_ohlcv','backtest_equity') AND name NOT LIKE 'sqlite_%' "
                                                "ORDER BY name", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            assert_true(nt < 64);
            snprintf(names[nt++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(nt, 13);
    char *before[64];
    for (int i = 0; i < nt; i++) before[i] = dump_rows(path, names[i]);
    char seq_before[1024], seq_after[1024];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence "
                 "WHERE name <> 'crypto_ohlcv' ORDER BY name)", seq_before, sizeof seq_before);
    sqlite3_close(db);

    char series[8][2][64];
    int n_series = 0;
    char *bars_before = dump_bar_rows(path, 1, series, 8, &n_series);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM crypto_ohlcv"), 2920 + 1200 + 3);
    assert_int_equal(n_series, 3);              /* bitcoin 1d, bitcoin 1h, testcoin 1m */
    assert_string_equal(series[0][1], "1d");
    assert_string_equal(series[1][1], "1h");
    assert_string_equal(series[2][0], "testcoin");

    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    assert_int_equal(mts_store_schema_version(s), 11);
    int64_t total = 0;
    char *bars_after = dump_bar_loads(s, series, n_series, &total);
    assert_int_equal(total, 2920 + 1200 + 3);
    assert_string_equal(bars_after, bars_before);
    /* the hand-written bars, by value: 0.1 and 0.30000000000000004 (the bits
     * of 0.1 + 0.2), 1e-8, a zero volume, an hour's gap */
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(s, "testcoin", "1m", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 3);
    double sum = 0.1 + 0.2;
    int has_01 = 0, has_sum = 0, has_1e8 = 0, has_zero_vol = 0;
    for (int64_t i = 0; i < b.n; i++) {
        double v[5] = {b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i]};
        for (int k = 0; k < 5; k++) {
            has_01 |= bits_of(v[k]) == bits_of(0.1);
            has_sum |= bits_of(v[k]) == bits_of(sum);
            has_1e8 |= bits_of(v[k]) == bits_of(1e-8);
        }
        has_zero_vol |= b.volume[i] == 0;
    }
    assert_true(has_01 && has_sum && has_1e8 && has_zero_vol);
    assert_int_equal(b.ts[0], 1704067200);      /* 2024-01-01 00:00, 00:01, then 01:00 */
    assert_int_equal(b.ts[1], 1704067260);
    assert_int_equal(b.ts[2], 1704070800);
    assert_true(bits_of(b.high[0]) == bits_of(sum) && b.volume[0] == 0 && bits_of(b.volume[1]) == bits_of(123456789.123456));
    mts_bars_free(&b);
    free(bars_after);
    free(bars_before);
    char iv[4][8];
    int k = 0;
    assert_int_equal(mts_store_ohlcv_intervals(s, "bitcoin", iv, 4, &k), 0);
    assert_int_equal(k, 2);
    assert_string_equal(iv[0], "1h");
    assert_string_equal(iv[1], "1d");
    mts_store_close(s);

    assert_int_equal(raw_int(path, "PRAGMA user_version"), 11);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'crypto_ohlcv'"), 0);
    /* 2920 daily bars from 2018-03-17 span 3 or 4 blocks of 1024 days;
     * 1200 hourly bars 2 or 3 blocks of 1024 hours; testcoin 1 or 2 */
    assert_int_equal(raw_int(path, "SELECT SUM(n) FROM ohlcv_blocks"), 4123);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM ohlcv_blocks WHERE n < 1 OR n > 1024 OR first_ts > last_ts "
                                   "OR first_ts < block_start OR last_ts >= block_start + 1024 * "
                                   "(CASE interval WHEN '1d' THEN 86400 WHEN '1h' THEN 3600 ELSE 60 END)"), 0);
    for (int i = 0; i < nt; i++) {
        char *after = dump_rows(path, names[i]);
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence "
                 "WHERE name <> 'crypto_ohlcv' ORDER BY name)", seq_after, sizeof seq_after);
    sqlite3_close(db);
    assert_string_equal(seq_after, seq_before);
    rm_db(path);
}

/* A database of schema v7 with data (tests/fixtures/db/README.md: two
 * imported series, two stored runs with their trades, curves and signals,
 * a trimmed VIX, the stream and paper rows) migrates to v8 in one go: every
 * table keeps every row and every old column's value (quote(): text, the
 * 17-digit doubles, blobs as hex), the sequences are unchanged, and the
 * columns v8 adds hold their defaults: NULL, funding 0, open 0. */
static void test_migrate_v7_keeps_every_row(void **state) {
    fx_t *f = *state;
    char path[192], cmd[512];
    snprintf(path, sizeof path, "%s/v7.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v7.db %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
    dump_rows_forget();
    char names[64][64];
    int nt = 0;
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                                "'sqlite_%' ORDER BY name", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            assert_true(nt < 64);
            snprintf(names[nt++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(nt, 17);   /* every table of v7 (README) */
    /* the counts the fixture was made with (tests/fixtures/db/README.md) */
    static const struct { const char *table; int64_t n; } made[] = {
        {"backtest_results", 2}, {"backtest_trades", 15}, {"backtest_curves", 2}, {"backtest_signals", 2},
        {"ohlcv_blocks", 2}, {"ohlcv_series", 2}, {"macro_indicators", 335}, {"import_runs", 3},
        {"signal_history", 5}, {"paper_sessions", 2}, {"paper_fills", 2}, {"paper_equity", 1}, {"trades", 1},
        {"order_book_snapshots", 1}, {"funding_rates", 1}, {"bus_events", 1}, {"live_bars", 1}};
    int64_t count[64];
    char *before[64];
    for (int i = 0; i < nt; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", names[i]);
        count[i] = raw_int(path, sql);
        before[i] = dump_rows(path, names[i]);
        int found = 0;
        for (size_t k = 0; k < sizeof made / sizeof made[0]; k++)
            if (!strcmp(made[k].table, names[i])) {
                assert_int_equal(count[i], made[k].n);
                found = 1;
            }
        assert_true(found);
    }
    char seq_before[1024], seq_after[1024];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence ORDER BY name)",
             seq_before, sizeof seq_before);
    sqlite3_close(db);

    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) fail_msg("open: %s", mts_store_errmsg(NULL));
    assert_int_equal(mts_store_schema_version(s), 11);
    /* the bars still read (their blocks are rows compared below): 400 + 300 days */
    int64_t n = 0;
    assert_int_equal(mts_store_count_ohlcv(s, "testbtc", "1d", &n), 0);
    assert_int_equal(n, 400);
    assert_int_equal(mts_store_count_ohlcv(s, "testeth", "1d", &n), 0);
    assert_int_equal(n, 300);
    mts_store_close(s);

    assert_int_equal(raw_int(path, "PRAGMA user_version"), 11);
    for (int i = 0; i < nt; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", names[i]);
        assert_int_equal(raw_int(path, sql), count[i]);
        char *after = dump_rows(path, names[i]);   /* the v7 columns only */
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence ORDER BY name)",
             seq_after, sizeof seq_after);
    sqlite3_close(db);
    assert_string_equal(seq_after, seq_before);
    /* the new columns, with their defaults on every old row */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_trades WHERE strategy IS NULL AND entry_reason IS NULL"
                                   " AND exit_reason IS NULL AND funding = 0 AND typeof(funding) != 'null'"
                                   " AND mae IS NULL AND mfe IS NULL AND open = 0"), 15);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_results WHERE extra IS NULL"), 2);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_fills WHERE book IS NULL AND strategy IS NULL"
                                   " AND reason IS NULL AND funding = 0"), 2);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_books"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_table_info('backtest_books') WHERE name IN ('backtest_id',"
                                   "'book','strategy','allocation','initial','final','pnl','fees','funding','trades',"
                                   "'metrics','curve')"), 12);
    /* a run's books go with it (ON DELETE CASCADE, foreign keys on) */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_list('backtest_books') WHERE \"table\" ="
                                   " 'backtest_results' AND on_delete = 'CASCADE'"), 1);
    rm_db(path);
}

/* A database of schema v10 with data (tests/fixtures/db/README.md: an
 * imported series, a stored run with its trades, curve, signals and book, a
 * trimmed VIX, a recorded paper session with its fills, equity, signals, live
 * bars, series, input log and blobs, bus events, a running session of another
 * host, the stream rows, an alert fired and a breaker) migrates to v11 in one
 * go: every table keeps every row and every v10 column's value, the
 * sequences are unchanged; old fills read shadow 0, old sessions no control
 * socket, and the two new tables are empty, their rows going with their
 * session. */
static void test_migrate_v10_keeps_every_row(void **state) {
    fx_t *f = *state;
    char path[192], cmd[512];
    snprintf(path, sizeof path, "%s/v10.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v10.db %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 10);
    dump_rows_forget();
    char names[64][64];
    int nt = 0;
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                                "'sqlite_%' ORDER BY name", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            assert_true(nt < 64);
            snprintf(names[nt++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(nt, 22);   /* every table of v10 */
    /* the counts the fixture was made with (tests/fixtures/db/README.md): every table has rows */
    static const struct { const char *table; int64_t n; } made[] = {
        {"alerts_fired", 1}, {"api_breakers", 1}, {"backtest_books", 1}, {"backtest_curves", 1},
        {"backtest_results", 1}, {"backtest_signals", 1}, {"backtest_trades", 7}, {"bus_events", 186},
        {"funding_rates", 1}, {"import_runs", 2}, {"live_bars", 80}, {"macro_indicators", 317},
        {"ohlcv_blocks", 2}, {"ohlcv_series", 2}, {"order_book_snapshots", 1}, {"paper_equity", 81},
        {"paper_fills", 12}, {"paper_sessions", 2}, {"session_blobs", 6}, {"session_events", 207},
        {"signal_history", 12}, {"trades", 1}};
    int64_t count[64];
    char *before[64];
    for (int i = 0; i < nt; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", names[i]);
        count[i] = raw_int(path, sql);
        before[i] = dump_rows(path, names[i]);
        int found = 0;
        for (size_t k = 0; k < sizeof made / sizeof made[0]; k++)
            if (!strcmp(made[k].table, names[i])) {
                assert_int_equal(count[i], made[k].n);
                found = 1;
            }
        assert_true(found);
    }
    char seq_before[1024], seq_after[1024];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence ORDER BY name)",
             seq_before, sizeof seq_before);
    sqlite3_close(db);

    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) fail_msg("open: %s", mts_store_errmsg(NULL));
    assert_int_equal(mts_store_schema_version(s), 11);
    int64_t n = 0;
    assert_int_equal(mts_store_count_ohlcv(s, "testbtc", "1d", &n), 0);
    assert_int_equal(n, 400);
    /* the recorded session (1, stopped) and the other host's (2, running): no socket */
    char st[32], sock[64];
    assert_int_equal(mts_paper_get_control(s, 1, st, sizeof st, sock, sizeof sock), 0);
    assert_string_equal(st, "stopped");
    assert_string_equal(sock, "");
    assert_int_equal(mts_paper_get_control(s, 2, st, sizeof st, sock, sizeof sock), 0);
    assert_string_equal(st, "running");
    mts_store_close(s);

    assert_int_equal(raw_int(path, "PRAGMA user_version"), 11);
    for (int i = 0; i < nt; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", names[i]);
        assert_int_equal(raw_int(path, sql), count[i]);
        char *after = dump_rows(path, names[i]);   /* the v10 columns only */
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, "SELECT group_concat(name || '=' || seq, ',') FROM (SELECT * FROM sqlite_sequence ORDER BY name)",
             seq_after, sizeof seq_after);
    sqlite3_close(db);
    assert_string_equal(seq_after, seq_before);
    /* the new columns, with their defaults on every old row */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_fills WHERE shadow = 0 AND typeof(shadow) = 'integer'"), 12);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_sessions WHERE control_socket IS NULL"), 2);
    /* the signals stored before v11 have no session (replay matches them by strategy and time) */
    assert_true(raw_int(path, "SELECT COUNT(*) FROM signal_history") > 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM signal_history WHERE session_id IS NOT NULL"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_books"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM paper_book_equity"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_table_info('paper_books') WHERE name IN ('session_id',"
                                   "'book','strategy','shadow','initial','equity','cash','fees','funding','fills',"
                                   "'trades','updated_ts')"), 12);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_list('paper_books') WHERE \"table\" ="
                                   " 'paper_sessions' AND on_delete = 'CASCADE'"), 1);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_list('paper_book_equity') WHERE \"table\" ="
                                   " 'paper_sessions' AND on_delete = 'CASCADE'"), 1);
    rm_db(path);
}

/* A migration that cannot keep a bar (a value written by hand as text) is
 * refused whole: the file stays at v6 with its rows, and the message names
 * the row. */
static void test_migrate_v6_refuses_a_bar_it_cannot_keep(void **state) {
    fx_t *f = *state;
    char path[192], cmd[512];
    snprintf(path, sizeof path, "%s/v6bad.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v6.db %s", path);
    assert_int_equal(system(cmd), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE crypto_ohlcv SET high = 'n/a' WHERE cryptocurrency = 'testcoin' AND "
                                      "timestamp = (SELECT MIN(timestamp) FROM crypto_ohlcv WHERE cryptocurrency = 'testcoin')",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), MTS_EDB);
    assert_non_null(strstr(mts_store_errmsg(NULL), "migration 7: crypto_ohlcv row id"));
    assert_non_null(strstr(mts_store_errmsg(NULL), "testcoin 1m"));
    assert_non_null(strstr(mts_store_errmsg(NULL), "high is text"));
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 6);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM crypto_ohlcv"), 4123);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ohlcv_blocks'"), 0);
    rm_db(path);
}

/* Two intervals of one asset are two series: an hourly upsert never touches
 * the daily bar at 00:00, loads and counts see one interval only, and the
 * stored intervals are listed finest first. */
static void test_ohlcv_intervals_are_separate_series(void **state) {
    fx_t *f = *state;
    mts_bars_t d = {0}, h = {0}, out = {0};
    assert_int_equal(mts_bars_reserve(&d, 2), 0);
    assert_int_equal(mts_bars_reserve(&h, 24), 0);
    const int64_t H0 = 1704067200;                       /* 2024-01-01T00:00:00Z */
    for (int i = 0; i < 2; i++) {
        d.ts[i] = H0 + i * 86400;
        d.open[i] = 100 + i; d.high[i] = 110 + i; d.low[i] = 90 + i; d.close[i] = 105 + i; d.volume[i] = 1000;
    }
    d.n = 2;
    for (int i = 0; i < 24; i++) {
        h.ts[i] = H0 + i * 3600;
        h.open[i] = 200 + i; h.high[i] = 210 + i; h.low[i] = 190 + i; h.close[i] = 205 + i; h.volume[i] = 10;
    }
    h.n = 24;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1d", &d), 0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "1h", &h), 0);
    int64_t n = 0;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1h", &n), 0);
    assert_int_equal(n, 24);
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin", "1d", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 2);
    assert_true(out.open[0] == 100 && out.close[1] == 106);   /* the daily bar at 00:00 is the daily one */
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin", "1h", H0, H0 + 3600, &out), 0);
    assert_int_equal(out.n, 2);
    assert_true(out.open[0] == 200 && out.open[1] == 201);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "4h", &n), 0);
    assert_int_equal(n, 0);
    char names[4][8];
    int k = 0;
    assert_int_equal(mts_store_ohlcv_intervals(f->s, "bitcoin", names, 4, &k), 0);
    assert_int_equal(k, 2);
    assert_string_equal(names[0], "1h");
    assert_string_equal(names[1], "1d");
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", "2d", &d), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "unknown interval '2d'"));
    mts_bars_free(&d);
    mts_bars_free(&h);
    mts_bars_free(&out);
}


/* ---- blocks ---- */
#define T0 1704067200LL          /* 2024-01-01T00:00:00Z */
#define SPAN_1M (1024LL * 60)    /* a block of 1m bars */

static void minute_bars(mts_bars_t *b, int64_t n, int64_t t0) {
    assert_int_equal(mts_bars_reserve(b, n), 0);
    for (int64_t i = 0; i < n; i++) {
        b->ts[i] = t0 + i * 60;
        b->open[i] = 1000 + (double)i * 0.1;
        b->high[i] = b->open[i] + 0.5;
        b->low[i] = b->open[i] - 0.25;
        b->close[i] = b->open[i] + 0.125;
        b->volume[i] = (double)(i % 7) * 1e-8;
    }
    b->n = n;
}

static void path_text(const char *path, const char *sql, char *out, size_t n) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_text(db, sql, out, n);
    sqlite3_close(db);
}

static void path_exec(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* out[lo, hi) equals b[i0 ..] bit for bit */
static void assert_same_bars(const mts_bars_t *out, int64_t lo, int64_t hi, const mts_bars_t *b, int64_t i0) {
    for (int64_t i = lo; i < hi; i++) {
        int64_t j = i0 + (i - lo);
        assert_int_equal(out->ts[i], b->ts[j]);
        assert_true(bits_of(out->open[i]) == bits_of(b->open[j]));
        assert_true(bits_of(out->high[i]) == bits_of(b->high[j]));
        assert_true(bits_of(out->low[i]) == bits_of(b->low[j]));
        assert_true(bits_of(out->close[i]) == bits_of(b->close[j]));
        assert_true(bits_of(out->volume[i]) == bits_of(b->volume[j]));
    }
}

/* A 1m series of 3000 bars from 2024-01-01 crosses blocks of 1024 minutes:
 * 2024-01-01 is 1704067200 s = 27735 blocks + 28800 s (480 min), so the first
 * block holds 1024 - 480 = 544 bars, then 1024, 1024 and 408. Every value
 * (also -0.0, infinities, the smallest subnormal) reads back bit for bit, a
 * load range cutting blocks gives exactly its bars, and an upsert into the
 * middle of a block replaces one bar and rewrites only that block. */
static void test_ohlcv_blocks_cross_and_cut(void **state) {
    fx_t *f = *state;
    assert_int_equal(T0 % SPAN_1M, 28800);
    mts_bars_t b = {0}, out = {0};
    minute_bars(&b, 3000, T0);
    b.open[543] = -0.0;                       /* the last bar of the first block */
    b.high[544] = INFINITY;                   /* the first of the second */
    b.low[1567] = -INFINITY;
    b.volume[2999] = 4.9406564584124654e-324;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "mcoin", "1m", &b), 0);
    char txt[256];
    path_text(f->path, "SELECT group_concat(n || ':' || (block_start % 61440) || ':' || (first_ts - block_start) || "
                       "':' || (last_ts - block_start), ',') FROM (SELECT * FROM ohlcv_blocks WHERE cryptocurrency "
                       "= 'mcoin' ORDER BY block_start)", txt, sizeof txt);
    assert_string_equal(txt, "544:0:28800:61380,1024:0:0:61380,1024:0:0:61380,408:0:0:24420");
    assert_int_equal(raw_int(f->path, "SELECT MIN(block_start) FROM ohlcv_blocks"), T0 - 28800);
    int64_t n = 0;
    assert_int_equal(mts_store_count_ohlcv(f->s, "mcoin", "1m", &n), 0);
    assert_int_equal(n, 3000);
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3000);
    assert_same_bars(&out, 0, 3000, &b, 0);
    assert_true(signbit(out.open[543]) && out.open[543] == 0);
    /* [bar 500 + 30 s, bar 2100]: bars 501 .. 2100, cutting the first and third blocks */
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", T0 + 500 * 60 + 30, T0 + 2100 * 60, &out), 0);
    assert_int_equal(out.n, 1600);
    assert_same_bars(&out, 0, 1600, &b, 501);
    /* inside one block, between two bars: nothing */
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", T0 + 700 * 60 + 1, T0 + 700 * 60 + 59, &out), 0);
    assert_int_equal(out.n, 0);
    /* exactly one bar, the first of a block */
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", T0 + 544 * 60, T0 + 544 * 60, &out), 0);
    assert_int_equal(out.n, 1);
    assert_same_bars(&out, 0, 1, &b, 544);
    /* from > to: nothing */
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", T0 + 60, T0, &out), 0);
    assert_int_equal(out.n, 0);

    /* one bar in the middle of the second block replaced: only that block is written */
    path_exec(f->path, "UPDATE ohlcv_blocks SET updated_at = 7");
    mts_bars_t one = {0};
    assert_int_equal(mts_bars_reserve(&one, 1), 0);
    one.ts[0] = T0 + 1000 * 60;
    one.open[0] = 1.5; one.high[0] = 2.5; one.low[0] = 0.5; one.close[0] = 2; one.volume[0] = 42;
    one.n = 1;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "mcoin", "1m", &one), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM ohlcv_blocks WHERE updated_at <> 7"), 1);
    assert_int_equal(raw_int(f->path, "SELECT block_start FROM ohlcv_blocks WHERE updated_at <> 7"),
                     T0 - 28800 + SPAN_1M);
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3000);
    assert_same_bars(&out, 0, 1000, &b, 0);
    assert_same_bars(&out, 1000, 1001, &one, 0);
    assert_same_bars(&out, 1001, 3000, &b, 1001);
    /* a bar off the grid (17 s past a minute) goes to the block of its time;
     * that block's times are no longer regular and still read back */
    one.ts[0] = T0 + 2000 * 60 + 17;
    one.open[0] = -3;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "mcoin", "1m", &one), 0);
    assert_int_equal(mts_store_count_ohlcv(f->s, "mcoin", "1m", &n), 0);
    assert_int_equal(n, 3001);
    assert_int_equal(mts_store_load_ohlcv(f->s, "mcoin", "1m", T0 + 2000 * 60, T0 + 2001 * 60, &out), 0);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.ts[1], T0 + 2000 * 60 + 17);
    assert_true(out.open[1] == -3);
    assert_same_bars(&out, 0, 1, &b, 2000);
    assert_same_bars(&out, 2, 3, &b, 2001);
    assert_int_equal(raw_int(f->path, "SELECT n FROM ohlcv_blocks WHERE block_start = " "1704038400 + 2 * 61440"), 1025);
    mts_bars_free(&one);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

/* Bars given out of order and repeated across blocks: stored ascending, the
 * last of each time wins, bars before 1970 and far in the future too. */
static void test_ohlcv_unsorted_across_blocks(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0}, out = {0};
    assert_int_equal(mts_bars_reserve(&b, 6), 0);
    const int64_t t[6] = {T0 + 5 * SPAN_1M, -86400 * 365LL, T0, T0 + 5 * SPAN_1M, 4102444800LL, T0};
    for (int i = 0; i < 6; i++) {
        b.ts[i] = t[i];
        b.open[i] = b.high[i] = b.low[i] = b.close[i] = (double)(i + 1);
        b.volume[i] = 10 * (i + 1);
    }
    b.n = 6;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "u", "1m", &b), 0);
    assert_int_equal(mts_store_load_ohlcv(f->s, "u", "1m", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 4);
    const int64_t want_ts[4] = {-86400 * 365LL, T0, T0 + 5 * SPAN_1M, 4102444800LL};
    const double want_v[4] = {2, 6, 4, 5};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out.ts[i], want_ts[i]);
        assert_true(out.open[i] == want_v[i] && out.volume[i] == 10 * want_v[i]);
    }
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM ohlcv_blocks WHERE cryptocurrency = 'u'"), 4);
    /* the block before 1970 starts at a multiple of the span, below its bar */
    assert_int_equal(raw_int(f->path, "SELECT MIN(block_start) FROM ohlcv_blocks"), -((86400 * 365LL + SPAN_1M - 1) / SPAN_1M) * SPAN_1M);
    assert_int_equal(mts_store_load_ohlcv(f->s, "u", "1m", -86400 * 365LL + 1, 4102444799LL, &out), 0);
    assert_int_equal(out.n, 2);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

/* Inside a transaction the caller opened, the upsert joins it: the caller's
 * ROLLBACK drops the bars, its COMMIT keeps them with the caller's rows; a
 * refused batch inside it changes nothing and leaves the transaction open. */
static void test_ohlcv_upsert_joins_open_transaction(void **state) {
    fx_t *f = *state;
    sqlite3 *db = mts_store_db(f->s);
    mts_bars_t b = {0}, out = {0};
    assert_int_equal(mts_bars_reserve(&b, 3), 0);
    for (int i = 0; i < 3; i++) {
        b.ts[i] = T0 + 60 * i;
        b.open[i] = b.high[i] = b.low[i] = b.close[i] = 100 + i;
        b.volume[i] = 1;
    }
    b.n = 3;
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO bus_events(ts_ms, topic, payload) VALUES(1, 't', 'p')",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "j", "1m", &b), 0);
    assert_int_equal(sqlite3_get_autocommit(db), 0);               /* still the caller's transaction */
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    int64_t n = -1;
    assert_int_equal(mts_store_count_ohlcv(f->s, "j", "1m", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM bus_events"), 0);

    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO bus_events(ts_ms, topic, payload) VALUES(2, 't', 'p')",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "j", "1m", &b), 0);
    b.close[1] = NAN;                                             /* refused: nothing of it written */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "j", "1m", &b), MTS_EINVAL);
    assert_int_equal(sqlite3_get_autocommit(db), 0);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM bus_events"), 1);
    assert_int_equal(mts_store_load_ohlcv(f->s, "j", "1m", INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3);
    assert_true(out.close[1] == 101);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

/* A damaged block is refused by the loader and by an upsert that must merge
 * into it (which writes nothing), with a message naming the series. */
static void test_ohlcv_damaged_block(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0}, out = {0};
    minute_bars(&b, 10, T0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "dmg", "1m", &b), 0);
    path_exec(f->path, "UPDATE ohlcv_blocks SET bars = substr(bars, 1, length(bars) - 8), updated_at = 7");
    out.n = 99;
    assert_int_equal(mts_bars_reserve(&out, 100), 0);
    assert_int_equal(mts_store_load_ohlcv(f->s, "dmg", "1m", INT64_MIN, INT64_MAX, &out), MTS_EPARSE);
    assert_int_equal(out.n, 0);
    assert_non_null(strstr(mts_store_errmsg(f->s), "load_ohlcv dmg 1m: a stored block is damaged"));
    b.close[3] = 1;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "dmg", "1m", &b), MTS_EPARSE);
    assert_non_null(strstr(mts_store_errmsg(f->s), "is damaged"));
    assert_int_equal(raw_int(f->path, "SELECT updated_at FROM ohlcv_blocks"), 7);
    mts_bars_free(&out);
    mts_bars_free(&b);
}

static void test_open_alloc_failure(void **state) {
    fx_t *f = *state;
    mts_store_t *s = NULL;
    mts_alloc_fail_after(0);
    assert_int_equal(mts_store_open(f->path, &s), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    assert_null(s);
}

static void test_bad_args(void **state) {
    fx_t *f = *state;
    int64_t n;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, NULL, "1d", NULL), MTS_EINVAL);
    assert_int_equal(mts_store_count_ohlcv(f->s, NULL, "1d", &n), MTS_EINVAL);
    assert_int_equal(mts_store_upsert_macro(f->s, "x", NULL, NULL, NULL, 1), MTS_EINVAL);
    mts_bars_t empty = {0};
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "x", "1d", &empty), 0);
}

/* paper_fills (schema v8): a fill's book, strategy, reason and funding are
 * stored with it, bit for bit; a fill that leaves them out stores book 0,
 * NULL, NULL and funding 0. */
static void test_paper_fill_v8_columns(void **state) {
    fx_t *f = *state;
    mts_paper_session_t ps = {"sma_cross,mean_reversion", "binance", "BTCUSDT", "1h", 1000, 10, 0, 1700000000};
    int64_t id = 0;
    assert_int_equal(mts_paper_begin(f->s, &ps, &id), 0);
    const mts_paper_fill_t fills[3] = {
        {.ts = 1700003600, .asset = "bitcoin", .qty = 0.01, .price = 150, .fee = 0.0015, .realized_pnl = 0,
         .book = 1, .strategy = "mean_reversion", .reason = "signal", .funding = 0},
        {.ts = 1700007200, .asset = "bitcoin", .qty = -0.01, .price = 140, .fee = 0.0014, .realized_pnl = -0.1,
         .book = 1, .strategy = "mean_reversion", .reason = "stop_loss", .funding = -0.30000000000000004},
        {.ts = 1700007200, .asset = "bitcoin", .qty = 0.02, .price = 140, .fee = 0.0028, .realized_pnl = 0}};
    mts_paper_step_t step = {.fills = fills, .n_fills = 3, .total_bars = 2};
    assert_int_equal(mts_paper_write_step(f->s, id, &step), 0);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT book, strategy, reason, funding, typeof(book) FROM paper_fills"
                                            " WHERE session_id = ?1 ORDER BY id", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), fills[i].book);
        assert_string_equal((const char *)sqlite3_column_text(st, 4), "integer");
        const char *sg = (const char *)sqlite3_column_text(st, 1), *rs = (const char *)sqlite3_column_text(st, 2);
        if (fills[i].strategy) assert_string_equal(sg, fills[i].strategy);
        else assert_null(sg);
        if (fills[i].reason) assert_string_equal(rs, fills[i].reason);
        else assert_null(rs);
        double fu = sqlite3_column_double(st, 3);
        assert_memory_equal(&fu, &fills[i].funding, sizeof fu);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrate_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v4_keeps_every_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v6_keeps_every_bar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v6_refuses_a_bar_it_cannot_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v7_keeps_every_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v10_keeps_every_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paper_fill_v8_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_blocks_cross_and_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_unsorted_across_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_damaged_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_upsert_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_load_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_intervals_are_separate_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_batch_is_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_batch_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_macro_filled_never_overwrites_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_nan_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backtest_nan_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ohlcv_upsert_joins_open_transaction, setup, teardown),
        cmocka_unit_test(test_reserve_alloc_failure),
        cmocka_unit_test_setup_teardown(test_open_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
