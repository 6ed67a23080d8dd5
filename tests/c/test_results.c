/* test_results.c — storing a backtest run (store/results.c) while another
 * process holds the write lock: the store waits it out (longer than the 5 s
 * per-statement busy timeout), gives up only after the write wait with
 * MTS_EDBLOCKED and a message naming the cause, and stores nothing partial.
 * Also: error messages name the cause (disk full, read-only), and the equity
 * curve written in chunks comes back point for point. */
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
                                     101, 1.5, 0.1};
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
    return mts_store_insert_run(s, &r->row, r->sig, 5, r->tr, 3, r->ts, r->eq, r->n, id);
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
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_equity"), 10007);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_trades"), 3);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM signal_history"), 5);
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
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_equity"), 0);
    /* and once free, the same handle stores it */
    assert_int_equal(store_run(f->s, &r, &id), 0);
    assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM backtest_equity"), 100);
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

/* The equity curve is written in multi-row chunks: sizes around the chunk
 * come back point for point (values from make_run, not from the store). */
static void test_equity_chunks_round_trip(void **state) {
    fx_t *f = *state;
    const int64_t sizes[] = {1, 63, 64, 65, 1000, 4097};
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waits_out_a_long_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gives_up_naming_the_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_ends_the_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_wait_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equity_chunks_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
