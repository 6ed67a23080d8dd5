/* test_results.c — storing a backtest run (store/results.c) while another
 * process holds the write lock: the store waits it out (longer than the 5 s
 * per-statement busy timeout), gives up only after the write wait with
 * MTS_EDBLOCKED and a message naming the cause, and stores nothing partial.
 * Also: error messages name the cause (disk full, read-only); the equity
 * curve, stored as one MTC1 blob per run (backtest_curves, store/colblob.h),
 * comes back bit for bit (gaps, a regular 1,000,000-point curve, no curve); a
 * damaged blob is an error naming the run; and a schema v6 database
 * (tests/fixtures/db/schema_v6.db) migrates every backtest_equity point into
 * the curves, bit for bit, leaving the other run tables row for row as they were. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mts.h"
#include "store/store.h"
#include "tmpdb.h"
#include "store/store_internal.h"

#include <stdint.h>

typedef struct fx {
    char dir[64];
    char path[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("results", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

static int64_t raw_int(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 60000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A run: 5 signals, 3 trades, n equity points (ts = 60 s apart, equity = 1000 + i). */
typedef struct run {
    mts_backtest_row_t row;
    mts_signal_row_t sig[5];
    mts_trade_row_t tr[3];
    int64_t *ts;
    double *eq;
    int64_t n;
} run_t;

static void make_run(run_t *r, int64_t n) {
    memset(r, 0, sizeof *r);
    r->row = (mts_backtest_row_t){.strategy_name = "sma_cross", .assets = "bitcoin",
                                  .start_date = "2020-01-01T00:00:00Z", .end_date = "2020-02-01T00:00:00Z",
                                  .initial_capital = 1000, .final_value = 1000 + (double)(n - 1),
                                  .total_return = (double)(n - 1) / 1000, .sharpe_ratio = NAN,
                                  .max_drawdown = 0, .volatility = NAN, .calmar_ratio = NAN,
                                  .win_rate = 1, .profit_factor = NAN, .trade_count = 3};
    for (int i = 0; i < 5; i++)
        r->sig[i] = (mts_signal_row_t){"bitcoin", "sma_cross", "LONG", 1577836800 + i * 60, 100.0 + i, 1.0,
                                       NAN, NAN, NAN};
    for (int i = 0; i < 3; i++)
        r->tr[i] = (mts_trade_row_t){"bitcoin", 1, 1.5, 1577836800 + i * 600, 100, 1577836800 + i * 600 + 300,
                                     101, 1.5, 0.1, NULL, NULL, NULL, 0, 0, 0, 0};
    r->n = n;
    r->ts = malloc((size_t)n * sizeof *r->ts);
    r->eq = malloc((size_t)n * sizeof *r->eq);
    for (int64_t i = 0; i < n; i++) {
        r->ts[i] = 1577836800 + i * 60;
        r->eq[i] = 1000.0 + (double)i;
    }
}

static void free_run(run_t *r) {
    free(r->ts);
    free(r->eq);
}

static int store_run(mts_store_t *s, run_t *r, int64_t *id) {
    return mts_store_insert_run(s, &r->row, r->sig, 5, r->tr, 3, r->ts, r->eq, r->n, NULL, 0, id);
}

/* ---- another process (here: another connection in a thread) holds the write lock ---- */

typedef struct holder {
    const char *path;
    int hold_ms;
    volatile int locked, failed;
} holder_t;

static void *hold_lock(void *arg) {
    holder_t *h = arg;
    sqlite3 *db;
    if (sqlite3_open(h->path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO bus_events(ts_ms, topic, payload) VALUES(1, 't', 'p')",
                     NULL, NULL, NULL) != SQLITE_OK) {
        h->failed = 1;
        h->locked = 1;
        sqlite3_close(db);
        return NULL;
    }
    __atomic_store_n(&h->locked, 1, __ATOMIC_SEQ_CST);
    usleep((useconds_t)h->hold_ms * 1000);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

static void start_holder(pthread_t *t, holder_t *h) {
    assert_int_equal(pthread_create(t, NULL, hold_lock, h), 0);
    while (!__atomic_load_n(&h->locked, __ATOMIC_SEQ_CST)) usleep(1000);
    assert_int_equal(h->failed, 0);
}

/* Item 7: a writer holds BEGIN IMMEDIATE for 6.5 s, longer than the 5 s busy
 * timeout of every statement; the run is stored completely once it lets go. */
static void test_waits_out_a_long_writer(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 10007);
    pthread_t t;
    holder_t h = {f->path, 6500, 0, 0};
    start_holder(&t, &h);
    int64_t id = 0;
    int rc = store_run(f->s, &r, &id);
    pthread_join(t, NULL);
    if (rc) fprintf(stderr, "insert_run: %s\n", mts_store_errmsg(f->s));
    assert_int_equal(rc, 0);
    assert_true(id > 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 1);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_curves"), 1);
    assert_int_equal(raw_int(f->path, "SELECT n FROM backtest_curves"), 10007);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades"), 3);
    assert_int_equal(raw_int(f->path, "SELECT n FROM backtest_signals"), 5);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM bus_events"), 1);   /* the other writer's row */
    free_run(&r);
}

/* Past the write wait the store gives up: MTS_EDBLOCKED, a message that names
 * the cause and the database, and nothing half-stored. */
static void test_gives_up_naming_the_cause(void **state) {
    fx_t *f = *state;
    mts_store_set_write_wait(f->s, 300);
    assert_int_equal(mts_store_write_wait(f->s), 300);
    run_t r;
    make_run(&r, 100);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t id = 0;
    int rc = store_run(f->s, &r, &id);
    const char *msg = mts_store_errmsg(f->s);
    fprintf(stderr, "message: %s\n", msg);
    assert_int_equal(rc, MTS_EDBLOCKED);
    assert_non_null(strstr(msg, "database is locked"));
    assert_non_null(strstr(msg, "another process is writing"));
    assert_non_null(strstr(msg, f->path));
    assert_non_null(strstr(msg, "SQLITE_BUSY"));
    assert_non_null(strstr(msg, "MTS_DB_BUSY_TIMEOUT_MS"));
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_curves"), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_signals"), 0);
    /* and once free, the same handle stores it */
    assert_int_equal(store_run(f->s, &r, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT n FROM backtest_curves"), 100);
    free_run(&r);
}

/* A cancel flag raised while waiting ends the wait (a server shutting down is
 * not held up for the whole write wait). */
static void test_cancel_ends_the_wait(void **state) {
    fx_t *f = *state;
    mts_store_set_write_wait(f->s, 600000);
    run_t r;
    make_run(&r, 10);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    volatile sig_atomic_t flag = 1;
    mts_store_set_cancel(f->s, &flag);
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), MTS_ECANCELED);
    assert_non_null(strstr(mts_store_errmsg(f->s), "cancelled while waiting for the write lock"));
    flag = 0;
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    assert_int_equal(store_run(f->s, &r, &id), 0);
    mts_store_set_cancel(f->s, NULL);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 1);
    free_run(&r);
}

/* The write wait comes from MTS_DB_BUSY_TIMEOUT_MS at open; a value that is
 * not a whole number of ms is refused with a message naming the variable. */
static void test_write_wait_from_env(void **state) {
    fx_t *f = *state;
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_write_wait(f->s), 600000);   /* default: 10 minutes */
    setenv("MTS_DB_BUSY_TIMEOUT_MS", "1234", 1);
    assert_int_equal(mts_store_open(f->path, &s), 0);
    assert_int_equal(mts_store_write_wait(s), 1234);
    mts_store_close(s);
    setenv("MTS_DB_BUSY_TIMEOUT_MS", "12s", 1);
    assert_int_not_equal(mts_store_open(f->path, &s), 0);
    assert_null(s);
    assert_non_null(strstr(mts_store_errmsg(NULL), "MTS_DB_BUSY_TIMEOUT_MS"));
    assert_non_null(strstr(mts_store_errmsg(NULL), "12s"));
    unsetenv("MTS_DB_BUSY_TIMEOUT_MS");
}

/* Disk full (simulated with max_page_count) and read-only name their cause,
 * not only SQLite's words. */
static void test_errors_name_the_cause(void **state) {
    fx_t *f = *state;
    sqlite3 *db = mts_store_db(f->s);
    int64_t pages = raw_int(f->path, "PRAGMA page_count");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages + 2);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    run_t r;
    make_run(&r, 20000);
    int64_t id;
    int rc = store_run(f->s, &r, &id);
    fprintf(stderr, "message: %s\n", mts_store_errmsg(f->s));
    assert_int_equal(rc, MTS_EDB);
    assert_non_null(strstr(mts_store_errmsg(f->s), "SQLITE_FULL"));
    assert_non_null(strstr(mts_store_errmsg(f->s), "free space"));
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 0);
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL), SQLITE_OK);
    rc = store_run(f->s, &r, &id);
    fprintf(stderr, "message: %s\n", mts_store_errmsg(f->s));
    assert_int_equal(rc, MTS_EDB);
    assert_non_null(strstr(mts_store_errmsg(f->s), "SQLITE_READONLY"));
    assert_non_null(strstr(mts_store_errmsg(f->s), "not writable"));
    assert_int_equal(sqlite3_exec(db, "PRAGMA query_only = 0", NULL, NULL, NULL), SQLITE_OK);
    free_run(&r);
}

/* Signals and trades are written in multi-row chunks (64 rows per INSERT):
 * sizes around the chunk come back row for row; the curve point for point
 * (values from make_run, not from the store). */
static void test_equity_chunks_round_trip(void **state) {
    fx_t *f = *state;
    const int64_t sizes[] = {1, 2, 63, 64, 65, 1000, 4097};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        run_t r;
        make_run(&r, sizes[k]);
        int64_t id = 0;
        assert_int_equal(store_run(f->s, &r, &id), 0);
        mts_stored_run_t got;
        assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
        assert_int_equal(got.equity.n, sizes[k]);
        for (int64_t i = 0; i < sizes[k]; i++) {
            assert_int_equal(got.equity.ts[i], 1577836800 + i * 60);
            assert_true(got.equity.v[i] == 1000.0 + (double)i);
        }
        assert_int_equal(got.n_trades, 3);
        mts_stored_run_free(&got);
        free_run(&r);
    }
}

/* Signals and trades around the 64-row chunk (trades' INSERTs): every row back
 * in order, every column as given (NaN optional fields as NaN). */
static void test_signals_and_trades_chunks(void **state) {
    fx_t *f = *state;
    const int64_t sizes[] = {1, 63, 64, 65, 129, 200};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t n = sizes[k];
        run_t r;
        make_run(&r, 10);
        mts_signal_row_t *sig = calloc((size_t)n, sizeof *sig);
        mts_trade_row_t *tr = calloc((size_t)n, sizeof *tr);
        for (int64_t i = 0; i < n; i++) {
            sig[i] = (mts_signal_row_t){i % 2 ? "ether" : "bitcoin", "sma_cross", i % 3 ? "LONG" : "CLOSE",
                                        1000 + i, 0.5 + (double)i, 0.25, i % 2 ? 0.1 * (double)i : NAN,
                                        NAN, i % 5 ? NAN : 7.0};
            tr[i] = (mts_trade_row_t){i % 2 ? "ether" : "bitcoin", i % 4 ? 1 : -1, 1.0 + (double)i, 2000 + i,
                                      3.0 + (double)i, 3000 + i, 4.0 + (double)i, -5.0 + (double)i, 0.001 * (double)i,
                                      NULL, NULL, NULL, 0, 0, 0, 0};
        }
        int64_t id = 0;
        assert_int_equal(mts_store_insert_run(f->s, &r.row, sig, n, tr, n, r.ts, r.eq, r.n, NULL, 0, &id), 0);
        mts_stored_run_t got;
        assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
        assert_int_equal(got.has_signals, 1);
        assert_int_equal(got.n_signals, n);
        for (int64_t i = 0; i < n; i++) {
            const mts_stored_signal_t *g = &got.signals[i];
            assert_string_equal(g->asset, sig[i].asset);
            assert_string_equal(g->signal_type, sig[i].signal_type);
            assert_int_equal(g->type, i % 3 ? 1 : 0);
            assert_int_equal(g->ts, 1000 + i);
            assert_true(g->price == 0.5 + (double)i);
            assert_string_equal(g->strategy, "sma_cross");
            assert_true(g->confidence == 0.25);
            if (i % 2) assert_true(g->position_size == 0.1 * (double)i);
            else assert_true(isnan(g->position_size));
            assert_true(isnan(g->stop_loss));
            if (i % 5) assert_true(isnan(g->take_profit));
            else assert_true(g->take_profit == 7.0);
        }
        assert_int_equal(got.n_trades, n);
        for (int64_t i = 0; i < n; i++) {
            const mts_stored_trade_t *t = &got.trades[i];
            assert_string_equal(t->asset, i % 2 ? "ether" : "bitcoin");
            assert_int_equal(t->side, i % 4 ? 1 : -1);
            assert_true(t->qty == 1.0 + (double)i);
            assert_int_equal(t->entry_ts, 2000 + i);
            assert_true(t->entry_price == 3.0 + (double)i);
            assert_int_equal(t->exit_ts, 3000 + i);
            assert_true(t->exit_price == 4.0 + (double)i);
            assert_true(t->pnl == -5.0 + (double)i);
            assert_true(t->fees == 0.001 * (double)i);
        }
        mts_stored_run_free(&got);
        free(sig);
        free(tr);
        free_run(&r);
    }
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 0);
    /* a signal without its price is refused before anything is written */
    run_t r;
    make_run(&r, 10);
    r.sig[3].price = NAN;
    int64_t id;
    assert_int_equal(store_run(f->s, &r, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "signal 3"));
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 6);
    free_run(&r);
}

static uint64_t bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Bytes of x as unsigned LEB128, counted here (not by the codec). */
static int64_t leb_len(uint64_t x) {
    int64_t k = 1;
    while (x >= 0x80) { x >>= 7; k++; }
    return k;
}

/* A curve with gaps (irregular times) and awkward doubles: every ts and every
 * bit of every value back; the blob's size is what the format says (header +
 * LEB128 deltas + padding to 8 + 8 per point), computed here. */
static void test_curve_with_gaps_bit_identical(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 5000);
    const double odd[] = {0.1 + 0.2, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, -1234.5};
    uint64_t nan_bits = 0x7ff80000deadbeefULL;
    int64_t t = 1577836800, ts_bytes = 0;
    for (int64_t i = 0; i < r.n; i++) {
        int64_t d = i == 0 ? 0 : (i % 997 == 0 ? 86400 * 3 : i % 101 == 0 ? 3600 + 17 : 60);
        t += d;
        if (i) ts_bytes += leb_len((uint64_t)d);
        r.ts[i] = t;
        r.eq[i] = i < 6 ? odd[i] : 1000.0 + (double)i / 7.0;
    }
    memcpy(&r.eq[6], &nan_bits, sizeof nan_bits);   /* a NaN payload is bits too */
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), 0);
    int64_t pad = (32 + ts_bytes + 7) / 8 * 8;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT length(data) FROM backtest_curves WHERE backtest_id = %lld", (long long)id);
    assert_int_equal(raw_int(f->path, sql), pad + 8 * r.n);
    snprintf(sql, sizeof sql, "SELECT n FROM backtest_curves WHERE backtest_id = %lld", (long long)id);
    assert_int_equal(raw_int(f->path, sql), r.n);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.equity.n, r.n);
    assert_int_equal(got.has_details, 1);
    for (int64_t i = 0; i < r.n; i++) {
        assert_int_equal(got.equity.ts[i], r.ts[i]);
        assert_int_equal(bits(got.equity.v[i]), bits(r.eq[i]));
    }
    mts_stored_run_free(&got);

    /* times not strictly ascending: refused before the transaction, nothing stored */
    r.ts[100] = r.ts[99];
    assert_int_equal(store_run(f->s, &r, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "equity point 100"));
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 1);
    free_run(&r);
}

/* A regular 1,000,000-point curve (a minute apart): one row of
 * 32 + 8,000,000 bytes (<= 10 MB), read back point for point. */
static void test_regular_1m_curve(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 1000000);
    for (int64_t i = 0; i < r.n; i++) r.eq[i] = 10000.0 + (double)(i % 1000) * 0.01 - (double)i * 1e-6;
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_curves"), 1);
    int64_t bytes = raw_int(f->path, "SELECT length(data) FROM backtest_curves");
    assert_int_equal(bytes, 32 + 8 * 1000000);
    assert_true(bytes <= 10 * 1000 * 1000);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.equity.n, r.n);
    for (int64_t i = 0; i < r.n; i++) {
        if (got.equity.ts[i] != 1577836800 + i * 60 || bits(got.equity.v[i]) != bits(r.eq[i]))
            fail_msg("point %lld differs", (long long)i);
    }
    mts_stored_run_free(&got);
    free_run(&r);
}

/* A curve longer than results.c's CURVE_BIND_MAX (4,000,000 points) is
 * written straight into the row's pages (zeroblob + sqlite3_blob_write)
 * instead of bound whole: the same bytes, read back bit for bit; times with
 * gaps (a ts section) so the head is more than the header. */
static void test_long_curve_written_in_place(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 4000001);
    int64_t t = 1577836800, ts_bytes = 0;
    for (int64_t i = 0; i < r.n; i++) {
        int64_t d = i == 0 ? 0 : (i % 500000 == 0 ? 86400 : 60);
        t += d;
        if (i) ts_bytes += leb_len((uint64_t)d);
        r.ts[i] = t;
        r.eq[i] = 5000.0 + (double)i * 1e-3 - (double)(i % 13);
    }
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), 0);
    int64_t pad = (32 + ts_bytes + 7) / 8 * 8;
    assert_int_equal(raw_int(f->path, "SELECT length(data) FROM backtest_curves"), pad + 8 * r.n);
    assert_int_equal(raw_int(f->path, "SELECT n FROM backtest_curves"), r.n);
    /* the head as the format says: magic "MTC1", k = 1 and flags 0 (not REGULAR) */
    assert_int_equal(raw_int(f->path, "SELECT hex(substr(data, 1, 4)) = '4D544331' FROM backtest_curves"), 1);
    assert_int_equal(raw_int(f->path, "SELECT hex(substr(data, 9, 4)) = '01000000' FROM backtest_curves"), 1);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.equity.n, r.n);
    for (int64_t i = 0; i < r.n; i++)
        if (got.equity.ts[i] != r.ts[i] || bits(got.equity.v[i]) != bits(r.eq[i]))
            fail_msg("point %lld differs", (long long)i);
    mts_stored_run_free(&got);
    free_run(&r);
}

/* A run stored without a curve has no backtest_curves row and loads with an
 * empty curve (has_details 0), its trades still there. */
static void test_run_without_curve(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 1);
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, NULL, NULL, 0, NULL, 0, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_curves"), 0);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.equity.n, 0);
    assert_int_equal(got.has_details, 0);
    assert_int_equal(got.n_trades, 3);
    mts_stored_run_free(&got);
    free_run(&r);
}

/* A damaged blob (overwritten by SQL) is MTS_EPARSE with a message naming the
 * run: cut short, a wrong magic, random bytes, a point count that disagrees
 * with the row's n, an empty blob. Nothing crashes (make asan runs this too). */
static void test_damaged_curve(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 300);
    for (int64_t i = 0; i < r.n; i++) r.ts[i] += i % 7 == 0 ? 3600 : 0;   /* irregular: a ts section */
    for (int64_t i = 1; i < r.n; i++)
        if (r.ts[i] <= r.ts[i - 1]) r.ts[i] = r.ts[i - 1] + 1;
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), 0);
    const char *damage[] = {
        "UPDATE backtest_curves SET data = substr(data, 1, length(data) - 8)",
        "UPDATE backtest_curves SET data = X'4D544332' || substr(data, 5)",   /* "MTC2" */
        "UPDATE backtest_curves SET data = randomblob(2432)",
        "UPDATE backtest_curves SET n = n + 1",
        "UPDATE backtest_curves SET data = X''",
        "UPDATE backtest_curves SET data = X'4D54433101'",
        NULL,   /* below: every byte of the ts section 0x80 (a LEB128 that never ends) */
    };
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE keep AS SELECT * FROM backtest_curves", NULL, NULL, NULL),
                     SQLITE_OK);
    char want[64];
    snprintf(want, sizeof want, "run %lld", (long long)id);
    for (size_t k = 0; k < sizeof damage / sizeof *damage; k++) {
        assert_int_equal(sqlite3_exec(db, "DELETE FROM backtest_curves; INSERT INTO backtest_curves"
                                          " SELECT * FROM keep", NULL, NULL, NULL), SQLITE_OK);
        char *err = NULL;
        if (damage[k] && sqlite3_exec(db, damage[k], NULL, NULL, &err) != SQLITE_OK)
            fail_msg("%s: %s", damage[k], err);
        if (!damage[k]) {
            sqlite3_stmt *st;
            assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM backtest_curves", -1, &st, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            int len = sqlite3_column_bytes(st, 0);
            uint8_t *b = malloc((size_t)len);
            memcpy(b, sqlite3_column_blob(st, 0), (size_t)len);
            sqlite3_finalize(st);
            uint32_t ts_bytes;
            memcpy(&ts_bytes, b + 12, 4);
            assert_true(ts_bytes >= 299);
            memset(b + 32, 0x80, ts_bytes);
            assert_int_equal(sqlite3_prepare_v2(db, "UPDATE backtest_curves SET data = ?1", -1, &st, NULL), SQLITE_OK);
            sqlite3_bind_blob(st, 1, b, len, SQLITE_TRANSIENT);
            assert_int_equal(sqlite3_step(st), SQLITE_DONE);
            sqlite3_finalize(st);
            free(b);
        }
        mts_stored_run_t got;
        int rc = mts_store_load_run(f->s, id, &got);
        fprintf(stderr, "damage %zu: %s\n", k, mts_store_errmsg(f->s));
        assert_int_equal(rc, MTS_EPARSE);
        assert_non_null(strstr(mts_store_errmsg(f->s), want));
        assert_non_null(strstr(mts_store_errmsg(f->s), "damaged"));
        assert_null(got.equity.ts);
    }
    /* put back: it loads again */
    assert_int_equal(sqlite3_exec(db, "DELETE FROM backtest_curves; INSERT INTO backtest_curves"
                                      " SELECT * FROM keep", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.equity.n, r.n);
    assert_int_equal(got.equity.ts[299], r.ts[299]);
    mts_stored_run_free(&got);
    free_run(&r);
}

/* ---- the v6 -> v7 migration ---- */

typedef struct buf { char *p; size_t n, cap; } buf_t;

static void put(buf_t *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

/* Every row of `sql` as bytes: per value its type, then the int64, the
 * double's bits, or the text/blob bytes with their length. */
static buf_t dump(sqlite3 *db, const char *sql) {
    buf_t b = {0};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            int t = sqlite3_column_type(st, c);
            put(&b, &t, sizeof t);
            if (t == SQLITE_INTEGER) {
                int64_t v = sqlite3_column_int64(st, c);
                put(&b, &v, sizeof v);
            } else if (t == SQLITE_FLOAT) {
                double v = sqlite3_column_double(st, c);
                put(&b, &v, sizeof v);
            } else if (t != SQLITE_NULL) {
                const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
                int n = sqlite3_column_bytes(st, c);
                put(&b, &n, sizeof n);
                put(&b, p, (size_t)n);
            }
        }
    }
    sqlite3_finalize(st);
    put(&b, &rows, sizeof rows);
    return b;
}

typedef struct point { int64_t id, ts; uint64_t bits; } point_t;

static void test_migrates_v6_equity_bit_identical(void **state) {
    fx_t *f = *state;
    char path[160], cmd[400];
    snprintf(path, sizeof path, "%s/v6.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v6.db %s", path);
    assert_int_equal(system(cmd), 0);

    /* before: raw SQLite, no mts */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 6);
    int64_t n_points = raw_int(path, "SELECT COUNT(*) FROM backtest_equity");
    assert_int_equal(n_points, 1291);   /* tests/fixtures/db/README.md */
    point_t *pts = calloc((size_t)n_points, sizeof *pts);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT backtest_id, ts, equity FROM backtest_equity"
                                            " ORDER BY backtest_id, ts", -1, &st, NULL), SQLITE_OK);
    int64_t k = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(k < n_points);
        assert_int_equal(sqlite3_column_type(st, 2), SQLITE_FLOAT);
        pts[k] = (point_t){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                           bits(sqlite3_column_double(st, 2))};
        k++;
    }
    sqlite3_finalize(st);
    assert_int_equal(k, n_points);
    /* the columns of v6 (v8 adds some: they are not compared) */
    const char *tables[] = {"SELECT id, strategy_name, start_date, end_date, initial_capital, final_value,"
                            " total_return, sharpe_ratio, max_drawdown, trade_count, created_at, assets,"
                            " annualized_return, volatility, calmar_ratio, win_rate, profit_factor, commission_bps,"
                            " slippage_bps, parameters FROM backtest_results ORDER BY id",
                            "SELECT id, backtest_id, asset, side, qty, entry_ts, entry_price, exit_ts, exit_price,"
                            " pnl, fees FROM backtest_trades ORDER BY id",
                            "SELECT id, asset, signal_type, timestamp, price, strategy_name, confidence, position_size,"
                            " stop_loss, take_profit, created_at FROM signal_history ORDER BY id"};
    buf_t before[3];
    for (int t = 0; t < 3; t++) before[t] = dump(db, tables[t]);
    int64_t n_runs = raw_int(path, "SELECT COUNT(DISTINCT backtest_id) FROM backtest_equity");
    assert_int_equal(n_runs, 2);
    sqlite3_close(db);

    /* open with mts: migrates to v7 (and on, to the latest) */
    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) fail_msg("open: %s", mts_store_errmsg(NULL));
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 11);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'backtest_equity'"), 0);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_curves"), n_runs);
    assert_int_equal(raw_int(path, "SELECT SUM(n) FROM backtest_curves"), n_points);
    /* signal_history rows name no run: they stay where they are (compared below) */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_signals"), 0);

    /* every point, bit for bit, through the store's reader */
    k = 0;
    while (k < n_points) {
        int64_t id = pts[k].id;
        mts_stored_run_t got;
        assert_int_equal(mts_store_load_run(s, id, &got), 0);
        assert_int_equal(got.has_details, 1);
        assert_int_equal(got.has_signals, 0);
        int64_t i = 0;
        for (; k < n_points && pts[k].id == id; k++, i++) {
            assert_true(i < got.equity.n);
            assert_int_equal(got.equity.ts[i], pts[k].ts);
            assert_int_equal(bits(got.equity.v[i]), pts[k].bits);
        }
        assert_int_equal(got.equity.n, i);
        mts_stored_run_free(&got);
    }
    mts_store_close(s);

    /* the other run tables: row for row as they were */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int t = 0; t < 3; t++) {
        buf_t after = dump(db, tables[t]);
        assert_int_equal(after.n, before[t].n);
        assert_memory_equal(after.p, before[t].p, after.n);
        free(after.p);
        free(before[t].p);
    }
    sqlite3_close(db);
    free(pts);
}

/* A v6 database with equity points of a run that has no backtest_results row
 * (only possible with foreign keys off, e.g. by hand): the migration refuses,
 * naming the run, and leaves the file at v6 with every point where it was. */
static void test_migration_refuses_orphan_points(void **state) {
    fx_t *f = *state;
    char path[160], cmd[400];
    snprintf(path, sizeof path, "%s/v6o.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v6.db %s", path);
    assert_int_equal(system(cmd), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO backtest_equity VALUES(999, 1, 2.5), (999, 2, 3.5)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    mts_store_t *s = NULL;
    assert_int_not_equal(mts_store_open(path, &s), 0);
    assert_null(s);
    fprintf(stderr, "message: %s\n", mts_store_errmsg(NULL));
    assert_non_null(strstr(mts_store_errmsg(NULL), "run 999"));
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 6);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM backtest_equity"), 1293);
}

/* ---- signals stored with the run (backtest_signals, store.h) ---- */

/* A NaN with a payload, and its bits. */
static double nan_payload(uint64_t payload) {
    uint64_t u = 0x7ff8000000000000ULL | (payload & 0x0007ffffffffffffULL);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void raw_blob(const char *path, const char *sql, uint8_t **out, int *len) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *len = sqlite3_column_bytes(st, 0);
    *out = malloc((size_t)*len + 1);
    memcpy(*out, sqlite3_column_blob(st, 0), (size_t)*len);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static char *raw_text(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *v = strdup(t ? t : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Signals whose times repeat (3 assets x 2 strategies on one bar), names that
 * need escaping in JSON, NaN payloads and -0.0: back bit for bit, in order;
 * the blob laid out as store.h says (checked here byte by byte, not by the
 * codec); signal_history untouched (a live session's row stays as it was). */
static void test_signals_round_trip(void **state) {
    fx_t *f = *state;
    /* a live session's signal, before */
    mts_signal_row_t live = {"bitcoin", "sma_cross", "LONG", 1600000000, 10.5, 0.5, NAN, NAN, NAN};
    assert_int_equal(mts_store_insert_signals(f->s, &live, 1), 0);
    char *hist_before = raw_text(f->path, "SELECT group_concat(id || asset || signal_type || timestamp || price"
                                          " || strategy_name || confidence, ';') FROM signal_history");
    static const char *assets[] = {"a\"b", "c\\d\ne\x01", "bitc\xc3\xb6in"};
    static const char *strategies[] = {"sma_cross", "aggregate"};
    static const char *types[] = {"LONG", "SHORT", "CLOSE"};
    enum { N = 6 * 50 };
    mts_signal_row_t sig[N];
    /* the strategy names as other pointers with the same text: one name each */
    char dup[2][16];
    snprintf(dup[0], sizeof dup[0], "%s", strategies[0]);
    snprintf(dup[1], sizeof dup[1], "%s", strategies[1]);
    for (int i = 0; i < N; i++) {
        int bar = i / 6, a = i % 3, st = (i / 3) % 2;
        sig[i] = (mts_signal_row_t){assets[a], i % 2 ? dup[st] : strategies[st], types[(i / 2) % 3],
                                    (int64_t)1700000000 + bar * 60, 100.0 + i * 0.125, 0.1 * (i % 10),
                                    i % 4 ? 0.5 : nan_payload((uint64_t)i * 7919),
                                    i % 5 ? -0.0 : nan_payload(0x1234),
                                    i % 7 ? 101.0 + i : NAN};
    }
    sig[N - 1].ts = 9007199254740992LL;   /* 2^53: the largest time a double holds exactly */
    run_t r;
    make_run(&r, 10);
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, sig, N, r.tr, 3, r.ts, r.eq, r.n, NULL, 0, &id), 0);

    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.has_signals, 1);
    assert_int_equal(got.n_signals, N);
    for (int i = 0; i < N; i++) {
        const mts_stored_signal_t *g = &got.signals[i];
        assert_string_equal(g->asset, sig[i].asset);
        assert_string_equal(g->strategy, sig[i].strategy_name);
        assert_string_equal(g->signal_type, sig[i].signal_type);
        assert_int_equal(g->type, (i / 2) % 3 == 0 ? 1 : (i / 2) % 3 == 1 ? -1 : 0);
        assert_int_equal(g->ts, sig[i].ts);
        assert_int_equal(bits(g->price), bits(sig[i].price));
        assert_int_equal(bits(g->confidence), bits(sig[i].confidence));
        assert_int_equal(bits(g->position_size), bits(sig[i].position_size));
        assert_int_equal(bits(g->stop_loss), bits(sig[i].stop_loss));
        assert_int_equal(bits(g->take_profit), bits(sig[i].take_profit));
    }
    assert_int_equal(got.n_names, 5);   /* 3 assets + 2 strategies */
    mts_stored_run_free(&got);

    /* the row as store.h lays it out */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT n FROM backtest_signals WHERE backtest_id = %lld", (long long)id);
    assert_int_equal(raw_int(f->path, sql), N);
    char *a1 = raw_text(f->path, "SELECT json_extract(names, '$.assets[0]') || '|' ||"
                                 " json_extract(names, '$.assets[1]') || '|' || json_extract(names, '$.assets[2]')"
                                 " || '|' || json_extract(names, '$.strategies[0]') || '|' ||"
                                 " json_extract(names, '$.strategies[1]') || '|' ||"
                                 " json_array_length(names, '$.assets') || json_array_length(names, '$.strategies')"
                                 " FROM backtest_signals");
    assert_string_equal(a1, "a\"b|c\\d\ne\x01|bitc\xc3\xb6in|sma_cross|aggregate|32");
    free(a1);
    uint8_t *b;
    int len;
    raw_blob(f->path, "SELECT data FROM backtest_signals", &b, &len);
    assert_int_equal(len, 32 + 8 * N * 9);   /* REGULAR times: no ts section */
    assert_memory_equal(b, "MTC1", 4);
    uint32_t n32;
    uint16_t k16, fl16;
    int64_t first, step;
    memcpy(&n32, b + 4, 4);
    memcpy(&k16, b + 8, 2);
    memcpy(&fl16, b + 10, 2);
    memcpy(&first, b + 16, 8);
    memcpy(&step, b + 24, 8);
    assert_int_equal(n32, N);
    assert_int_equal(k16, 9);
    assert_int_equal(fl16 & 1, 1);
    assert_int_equal(first, 0);
    assert_int_equal(step, 1);
    for (int i = 0; i < N; i++) {
        double c[9];
        for (int k = 0; k < 9; k++) memcpy(&c[k], b + 32 + 8 * ((size_t)k * N + i), 8);
        assert_true(c[0] == (double)sig[i].ts);
        assert_true(c[1] == ((i / 2) % 3 == 0 ? 1.0 : (i / 2) % 3 == 1 ? -1.0 : 0.0));
        assert_true(c[2] == (double)(i % 3));          /* the order the assets first appear */
        assert_true(c[3] == (double)((i / 3) % 2));
        assert_int_equal(bits(c[4]), bits(sig[i].price));
        assert_int_equal(bits(c[6]), bits(sig[i].position_size));
        assert_int_equal(bits(c[8]), bits(sig[i].take_profit));
    }
    free(b);

    /* signal_history: the live row only, as it was */
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 1);
    char *hist_after = raw_text(f->path, "SELECT group_concat(id || asset || signal_type || timestamp || price"
                                         " || strategy_name || confidence, ';') FROM signal_history");
    assert_string_equal(hist_after, hist_before);
    free(hist_before);
    free(hist_after);
    free_run(&r);
}

/* No signals: a row with n = 0 (the run was stored since v7 and had none);
 * no row (a run stored before v7): has_signals 0. Refused: a type other than
 * LONG/SHORT/CLOSE, a time beyond 2^53; nothing stored. */
static void test_signals_none_and_refused(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 10);
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, NULL, 0, r.tr, 3, r.ts, r.eq, r.n, NULL, 0, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT n FROM backtest_signals"), 0);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.has_signals, 1);
    assert_int_equal(got.n_signals, 0);
    assert_null(got.signals);
    mts_stored_run_free(&got);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM backtest_signals", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.has_signals, 0);
    assert_int_equal(got.n_signals, 0);
    assert_int_equal(got.n_trades, 3);
    mts_stored_run_free(&got);

    r.sig[2].signal_type = "BUY";
    assert_int_equal(store_run(f->s, &r, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "signal 2"));
    assert_non_null(strstr(mts_store_errmsg(f->s), "BUY"));
    r.sig[2].signal_type = "SHORT";
    r.sig[4].ts = 9007199254740993LL;
    assert_int_equal(store_run(f->s, &r, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "signal 4"));
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), 1);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_signals"), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 0);
    free_run(&r);
}

/* More signals than results.c binds as one value (131,072): the blob is
 * written in place, chunk by chunk, column by column; back bit for bit. */
static void test_signals_many_written_in_place(void **state) {
    fx_t *f = *state;
    const int64_t n = 131072 + 4096 + 77;   /* across the 4096-value chunks */
    mts_signal_row_t *sig = calloc((size_t)n, sizeof *sig);
    for (int64_t i = 0; i < n; i++)
        sig[i] = (mts_signal_row_t){i % 3 ? "ether" : "bitcoin", i % 5 ? "sma_cross" : "rsi", i % 2 ? "SHORT" : "CLOSE",
                                    1500000000 + i / 4, 1.0 + (double)i / 3.0, 0.5, (double)i,
                                    i % 11 ? NAN : nan_payload((uint64_t)i), -(double)i};
    run_t r;
    make_run(&r, 10);
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, sig, n, NULL, 0, NULL, NULL, 0, NULL, 0, &id), 0);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT length(data) FROM backtest_signals WHERE backtest_id = %lld", (long long)id);
    assert_int_equal(raw_int(f->path, sql), 32 + 8 * 9 * n);
    /* one column by hand: take_profit (column 8) of the last signal */
    uint8_t *b;
    int len;
    raw_blob(f->path, "SELECT data FROM backtest_signals", &b, &len);
    double tp;
    memcpy(&tp, b + 32 + 8 * ((size_t)8 * (size_t)n + (size_t)(n - 1)), 8);
    assert_true(tp == -(double)(n - 1));
    free(b);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.n_signals, n);
    for (int64_t i = 0; i < n; i++) {
        const mts_stored_signal_t *g = &got.signals[i];
        if (strcmp(g->asset, sig[i].asset) || strcmp(g->strategy, sig[i].strategy_name) ||
            strcmp(g->signal_type, sig[i].signal_type) || g->ts != sig[i].ts || bits(g->price) != bits(sig[i].price) ||
            bits(g->confidence) != bits(sig[i].confidence) || bits(g->position_size) != bits(sig[i].position_size) ||
            bits(g->stop_loss) != bits(sig[i].stop_loss) || bits(g->take_profit) != bits(sig[i].take_profit))
            fail_msg("signal %lld differs", (long long)i);
    }
    mts_stored_run_free(&got);
    free(sig);
    free_run(&r);
}

/* A damaged signals row: MTS_EPARSE naming the run, never a crash. */
static void test_damaged_signals(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 10);
    r.sig[1].asset = "ether";
    int64_t id = 0;
    assert_int_equal(store_run(f->s, &r, &id), 0);
    /* 5 rows, 9 columns, REGULAR: column k row i at 32 + 8*(5k + i) */
    char asset_oob[200], type_bad[200], ts_frac[200];
    snprintf(asset_oob, sizeof asset_oob, "UPDATE backtest_signals SET data = substr(data, 1, %d) ||"
             " X'0000000000000040' || substr(data, %d)", 32 + 8 * (5 * 2 + 3), 32 + 8 * (5 * 2 + 4) + 1);  /* 2.0 */
    snprintf(type_bad, sizeof type_bad, "UPDATE backtest_signals SET data = substr(data, 1, %d) ||"
             " X'0000000000000040' || substr(data, %d)", 32 + 8 * (5 * 1 + 0), 32 + 8 * (5 * 1 + 1) + 1);
    snprintf(ts_frac, sizeof ts_frac, "UPDATE backtest_signals SET data = substr(data, 1, %d) ||"
             " X'000000000000E03F' || substr(data, %d)", 32 + 8 * 4, 32 + 8 * 5 + 1);   /* 0.5 */
    const char *damage[] = {
        "UPDATE backtest_signals SET data = substr(data, 1, length(data) - 8)",
        "UPDATE backtest_signals SET data = X'4D544332' || substr(data, 5)",
        "UPDATE backtest_signals SET data = randomblob(392)",
        "UPDATE backtest_signals SET n = n + 1",
        "UPDATE backtest_signals SET data = X''",
        "UPDATE backtest_signals SET names = 'not json'",
        "UPDATE backtest_signals SET names = '{\"assets\":[\"bitcoin\",\"ether\"]}'",
        "UPDATE backtest_signals SET names = '{\"assets\":[\"bitcoin\",7],\"strategies\":[\"sma_cross\"]}'",
        "UPDATE backtest_signals SET names = '{\"assets\":[\"bitcoin\"],\"strategies\":[\"sma_cross\"]}'",
        asset_oob, type_bad, ts_frac,
    };
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE keep AS SELECT * FROM backtest_signals", NULL, NULL, NULL),
                     SQLITE_OK);
    char want[64];
    snprintf(want, sizeof want, "signals of run %lld", (long long)id);
    for (size_t k = 0; k < sizeof damage / sizeof *damage; k++) {
        assert_int_equal(sqlite3_exec(db, "DELETE FROM backtest_signals; INSERT INTO backtest_signals"
                                          " SELECT * FROM keep", NULL, NULL, NULL), SQLITE_OK);
        mts_stored_run_t got;
        assert_int_equal(mts_store_load_run(f->s, id, &got), 0);   /* intact: loads */
        assert_int_equal(got.n_signals, 5);
        assert_string_equal(got.signals[1].asset, "ether");
        mts_stored_run_free(&got);
        char *err = NULL;
        if (sqlite3_exec(db, damage[k], NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", damage[k], err);
        int rc = mts_store_load_run(f->s, id, &got);
        fprintf(stderr, "damage %zu: %s\n", k, mts_store_errmsg(f->s));
        assert_int_equal(rc, MTS_EPARSE);
        assert_non_null(strstr(mts_store_errmsg(f->s), want));
        assert_null(got.signals);
    }
    sqlite3_close(db);
    free_run(&r);
}

/* ---- schema v8: a trade's strategy, reasons, funding, excursions, open;
 * the run's extra JSON; its books ---- */

static const char *const REASONS[5] = {"signal", "stop_loss", "take_profit", "liquidation", "end_of_data"};

/* 150 trades (two multi-row INSERTs of 64 and the rest of 22) with every new
 * field varied: each reads back with the same text and the same 64 bits. */
static void test_trade_fields_round_trip(void **state) {
    fx_t *f = *state;
    enum { N = 150 };
    static const double FUND[] = {0.30000000000000004, -1e-300, 5e-324, 1.7976931348623157e308, -2.5, 0.0};
    char long_name[64];
    memset(long_name, 'x', 63);
    long_name[63] = '\0';
    const char *strat[4] = {"sma_cross", "mean_reversion", NULL, long_name};
    run_t r;
    make_run(&r, 3);
    mts_trade_row_t *tr = calloc(N, sizeof *tr);
    assert_non_null(tr);
    for (int i = 0; i < N; i++) {
        tr[i] = (mts_trade_row_t){.asset = i % 2 ? "ether" : "bitcoin", .side = i % 3 ? 1 : -1,
                                  .qty = 0.5 + i, .entry_ts = 1000 + i, .entry_price = 10.0 + i,
                                  .exit_ts = 2000 + i, .exit_price = 11.0 + i, .pnl = 0.1 * i - 3, .fees = 0.01 * i,
                                  .strategy = strat[i % 4],
                                  .entry_reason = i % 7 == 0 ? NULL : REASONS[i % 5],
                                  .exit_reason = i % 11 == 0 ? NULL : REASONS[(i + 2) % 5],
                                  .funding = FUND[i % 6],
                                  .mae = i % 6 == 0 ? NAN : -0.1 * i - 1e-9,
                                  .mfe = i % 5 == 0 ? NAN : 0.3 * i + 0.1,
                                  .open = i % 9 == 0};
    }
    const char *extra = "{\"mode\":\"independent\",\"market\":\"perp\",\"leverage\":3,"
                        "\"benchmark\":{\"total_return\":0.30000000000000004,\"sharpe_ratio\":null},"
                        "\"sortino_ratio\":1.25,\"name\":\"caf\\u00e9 \\\"q\\\"\"}";
    r.row.extra_json = extra;
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, NULL, 0, tr, N, r.ts, r.eq, r.n, NULL, 0, &id), 0);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.n_trades, N);
    for (int i = 0; i < N; i++) {
        const mts_stored_trade_t *t = &got.trades[i];
        assert_string_equal(t->asset, tr[i].asset);
        assert_int_equal(t->side, tr[i].side);
        assert_int_equal(bits(t->qty), bits(tr[i].qty));
        assert_int_equal(t->entry_ts, tr[i].entry_ts);
        assert_int_equal(t->exit_ts, tr[i].exit_ts);
        assert_int_equal(bits(t->pnl), bits(tr[i].pnl));
        assert_int_equal(bits(t->fees), bits(tr[i].fees));
        assert_string_equal(t->strategy, tr[i].strategy ? tr[i].strategy : "");
        assert_string_equal(t->entry_reason, tr[i].entry_reason ? tr[i].entry_reason : "");
        assert_string_equal(t->exit_reason, tr[i].exit_reason ? tr[i].exit_reason : "");
        assert_int_equal(bits(t->funding), bits(tr[i].funding));
        if (isnan(tr[i].mae)) assert_true(isnan(t->mae));
        else assert_int_equal(bits(t->mae), bits(tr[i].mae));
        if (isnan(tr[i].mfe)) assert_true(isnan(t->mfe));
        else assert_int_equal(bits(t->mfe), bits(tr[i].mfe));
        assert_int_equal(t->open, i % 9 == 0);
    }
    /* the reasons are the static strings, whatever the row held */
    assert_ptr_equal(got.trades[1].entry_reason, got.trades[6].entry_reason);
    assert_non_null(got.extra_json);
    assert_string_equal(got.extra_json, extra);
    assert_int_equal(got.n_books, 0);
    mts_stored_run_free(&got);
    /* as stored: NULL for the missing texts and the NaN excursions. Of i in
     * 0..149: i % 4 == 2 is 2, 6, .., 146 (37); i % 7 == 0 is 0, 7, .., 147
     * (22); i % 6 == 0 is 0, .., 144 (25); i % 9 == 0 is 0, .., 144 (17) */
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades WHERE strategy IS NULL"), 37);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades WHERE entry_reason IS NULL"), 22);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades WHERE mae IS NULL"), 25);
    assert_int_equal(raw_int(f->path, "SELECT SUM(open) FROM backtest_trades"), 17);
    /* the list reads extra too */
    mts_stored_run_t *list = NULL;
    int n = 0;
    assert_int_equal(mts_store_list_runs(f->s, 5, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].extra_json, extra);
    mts_stored_run_free(&list[0]);
    mts_free(list);

    /* refused before anything is written: an unknown reason, a NaN funding,
     * extra that is not a JSON object */
    int64_t runs = raw_int(f->path, "SELECT COUNT(*) FROM backtest_results");
    tr[5].exit_reason = "stoploss";
    assert_int_equal(mts_store_insert_run(f->s, &r.row, NULL, 0, tr, N, r.ts, r.eq, r.n, NULL, 0, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "trade 5: exit_reason 'stoploss'"));
    tr[5].exit_reason = "signal";
    tr[7].funding = NAN;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, NULL, 0, tr, N, r.ts, r.eq, r.n, NULL, 0, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "trade 7: funding is NaN"));
    tr[7].funding = 0;
    const char *bad_extra[] = {"[1,2]", "{\"mode\":", "\"perp\"", ""};
    for (int k = 0; k < 4; k++) {
        r.row.extra_json = bad_extra[k];
        assert_int_equal(mts_store_insert_run(f->s, &r.row, NULL, 0, tr, N, r.ts, r.eq, r.n, NULL, 0, &id),
                         MTS_EINVAL);
        assert_non_null(strstr(mts_store_errmsg(f->s), "extra_json is not a JSON object"));
        assert_int_equal(mts_store_insert_backtest(f->s, &r.row, &id), MTS_EINVAL);
    }
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), runs);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades"), N);
    free(tr);
    free_run(&r);
}

/* Three books, given out of order, in the run's transaction: read back ordered
 * by book with every field (texts, NaN -> NULL -> NaN, the metrics JSON, each
 * curve bit for bit, a book without a curve). Refused whole: a book id given
 * twice, a curve out of order, metrics that are not an object. Deleting the
 * run deletes its books. */
static void test_books_round_trip(void **state) {
    fx_t *f = *state;
    run_t r;
    make_run(&r, 4);
    int64_t ts0[4] = {1577836800, 1577836860, 1577840400, 1577926800};   /* gaps: an hour, a day */
    double v0[4] = {500.0, 0.1 + 0.2, 1e-8, 499.99999999999994};
    enum { N2 = 1000 };
    int64_t *ts2 = malloc(N2 * sizeof *ts2);
    double *v2 = malloc(N2 * sizeof *v2);
    for (int i = 0; i < N2; i++) {
        ts2[i] = 1577836800 + 60 * (int64_t)i;
        v2[i] = 250.0 + 0.001 * i * (i % 2 ? 1 : -1);
    }
    const char *m2 = "{\"return\":0.1,\"sharpe\":1.5,\"max_drawdown\":-0.25,\"risk_trimmed\":3,\"bp_cut\":0}";
    mts_book_row_t books[3] = {
        {.book = 2, .strategy = "vix_correlation", .allocation = 0.25, .initial = 250, .final = 251.5,
         .pnl = 1.5, .fees = 0.75, .funding = -0.125, .trades = 7, .metrics_json = m2,
         .curve_ts = ts2, .curve_v = v2, .curve_n = N2},
        {.book = 0, .strategy = "sma_cross", .allocation = 0.5, .initial = 500, .final = 499.99999999999994,
         .pnl = -5.551115123125783e-14, .fees = 0.30000000000000004, .funding = 0, .trades = 2,
         .metrics_json = "{}", .curve_ts = ts0, .curve_v = v0, .curve_n = 4},
        {.book = 1, .strategy = NULL, .allocation = NAN, .initial = 250, .final = NAN, .pnl = NAN, .fees = 0,
         .funding = NAN, .trades = 0, .metrics_json = NULL}};
    int64_t id = 0;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, r.ts, r.eq, r.n, books, 3, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_books"), 3);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_books WHERE curve IS NULL"), 1);
    mts_stored_run_t got;
    assert_int_equal(mts_store_load_run(f->s, id, &got), 0);
    assert_int_equal(got.n_books, 3);
    const mts_book_row_t *want[3] = {&books[1], &books[2], &books[0]};
    for (int k = 0; k < 3; k++) {
        const mts_stored_book_t *b = &got.books[k];
        const mts_book_row_t *w = want[k];
        assert_int_equal(b->book, k);
        assert_string_equal(b->strategy, w->strategy ? w->strategy : "");
        const double gv[6] = {b->allocation, b->initial, b->final, b->pnl, b->fees, b->funding};
        const double wv[6] = {w->allocation, w->initial, w->final, w->pnl, w->fees, w->funding};
        for (int j = 0; j < 6; j++) {
            if (isnan(wv[j])) assert_true(isnan(gv[j]));
            else assert_int_equal(bits(gv[j]), bits(wv[j]));
        }
        assert_int_equal(b->trades, w->trades);
        if (w->metrics_json) assert_string_equal(b->metrics_json, w->metrics_json);
        else assert_null(b->metrics_json);
        assert_int_equal(b->curve.n, w->curve_n);
        for (int64_t i = 0; i < w->curve_n; i++) {
            assert_int_equal(b->curve.ts[i], w->curve_ts[i]);
            assert_int_equal(bits(b->curve.v[i]), bits(w->curve_v[i]));
        }
    }
    assert_null(got.extra_json);
    assert_int_equal(got.n_trades, 3);
    assert_int_equal(got.equity.n, 4);
    mts_stored_run_free(&got);

    /* refused whole, nothing stored */
    int64_t runs = raw_int(f->path, "SELECT COUNT(*) FROM backtest_results");
    books[2].book = 2;   /* twice */
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, r.ts, r.eq, r.n, books, 3, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "book 2 (index 2): its book id is given twice"));
    books[2].book = 1;
    ts0[2] = ts0[1];     /* not ascending */
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, r.ts, r.eq, r.n, books, 3, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "insert_run book 0: equity point 2"));
    ts0[2] = 1577840400;
    books[0].metrics_json = "[0.1]";
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, r.ts, r.eq, r.n, books, 3, &id), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "metrics_json is not a JSON object"));
    books[0].metrics_json = m2;
    assert_int_equal(mts_store_insert_run(f->s, &r.row, r.sig, 5, r.tr, 3, r.ts, r.eq, r.n, books, -1, &id), MTS_EINVAL);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_results"), runs);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_books"), 3);

    /* a damaged book curve: MTS_EPARSE naming the run and the book */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 60000);
    assert_int_equal(sqlite3_exec(db, "UPDATE backtest_books SET curve = x'4d544331' WHERE book = 2", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(mts_store_load_run(f->s, id, &got), MTS_EPARSE);
    assert_non_null(strstr(mts_store_errmsg(f->s), "the curve of book 2 of run"));
    /* a run's books go with it */
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=ON; DELETE FROM backtest_results", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_books"), 0);
    free(ts2);
    free(v2);
    free_run(&r);
}

/* The runs of a v7 database (tests/fixtures/db/schema_v7.db), read after the
 * v8 migration: every old value as the file held it (read with raw SQLite
 * before mts opened it), the new fields with their defaults: strategy "",
 * reasons "", funding 0, mae/mfe NaN, open 0, no extra, no books. */
static void test_runs_before_v8_read_with_defaults(void **state) {
    fx_t *f = *state;
    char path[160], cmd[400];
    snprintf(path, sizeof path, "%s/v7.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v7.db %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
    enum { MAXT = 64 };
    struct { int64_t run, entry_ts, exit_ts; char asset[64], side[8]; double qty, ep, xp, pnl, fees; } raw[MAXT];
    int nraw = 0;
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT backtest_id, asset, side, qty, entry_ts, entry_price, exit_ts,"
                                            " exit_price, pnl, fees FROM backtest_trades ORDER BY backtest_id, id",
                                        -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(nraw < MAXT);
        raw[nraw].run = sqlite3_column_int64(st, 0);
        snprintf(raw[nraw].asset, 64, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(raw[nraw].side, 8, "%s", (const char *)sqlite3_column_text(st, 2));
        raw[nraw].qty = sqlite3_column_double(st, 3);
        raw[nraw].entry_ts = sqlite3_column_int64(st, 4);
        raw[nraw].ep = sqlite3_column_double(st, 5);
        raw[nraw].exit_ts = sqlite3_column_int64(st, 6);
        raw[nraw].xp = sqlite3_column_double(st, 7);
        raw[nraw].pnl = sqlite3_column_double(st, 8);
        raw[nraw].fees = sqlite3_column_double(st, 9);
        nraw++;
    }
    sqlite3_finalize(st);
    double fv[2];
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT final_value FROM backtest_results ORDER BY id", -1, &st, NULL),
                     SQLITE_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        fv[k] = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(nraw, 15);   /* the fixture's: 6 + 9 trades (README) */

    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) fail_msg("open: %s", mts_store_errmsg(NULL));
    int k = 0;
    for (int64_t id = 1; id <= 2; id++) {
        mts_stored_run_t got;
        assert_int_equal(mts_store_load_run(s, id, &got), 0);
        assert_int_equal(bits(got.final_value), bits(fv[id - 1]));
        assert_null(got.extra_json);
        assert_int_equal(got.n_books, 0);
        assert_null(got.books);
        assert_int_equal(got.has_signals, 1);
        assert_true(got.equity.n > 0);
        assert_int_equal(got.n_trades, got.trade_count);
        for (int64_t i = 0; i < got.n_trades; i++, k++) {
            const mts_stored_trade_t *t = &got.trades[i];
            assert_true(k < nraw);
            assert_int_equal(raw[k].run, id);
            assert_string_equal(t->asset, raw[k].asset);
            assert_int_equal(t->side, strcmp(raw[k].side, "short") ? 1 : -1);
            assert_int_equal(t->entry_ts, raw[k].entry_ts);
            assert_int_equal(t->exit_ts, raw[k].exit_ts);
            assert_int_equal(bits(t->qty), bits(raw[k].qty));
            assert_int_equal(bits(t->entry_price), bits(raw[k].ep));
            assert_int_equal(bits(t->exit_price), bits(raw[k].xp));
            assert_int_equal(bits(t->pnl), bits(raw[k].pnl));
            assert_int_equal(bits(t->fees), bits(raw[k].fees));
            assert_string_equal(t->strategy, "");
            assert_string_equal(t->entry_reason, "");
            assert_string_equal(t->exit_reason, "");
            assert_int_equal(bits(t->funding), bits(0.0));
            assert_true(isnan(t->mae) && isnan(t->mfe));
            assert_int_equal(t->open, 0);
        }
        mts_stored_run_free(&got);
    }
    assert_int_equal(k, nraw);
    mts_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waits_out_a_long_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gives_up_naming_the_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_ends_the_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_wait_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equity_chunks_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_and_trades_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_with_gaps_bit_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regular_1m_curve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_curve_written_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_without_curve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_curve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_none_and_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_many_written_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v6_equity_bit_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_refuses_orphan_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trade_fields_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_books_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_before_v8_read_with_defaults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
