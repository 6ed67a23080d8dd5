/* test_paper.c — store/paper.c: the recovery rule for sessions whose process
 * died (its boundaries, worked out by hand: stale after max(3 x interval,
 * 60 s) — 1m: 180 s, 1h: 10800 s, an unknown interval: 60 s; this host: the
 * pid decides), a heartbeat reviving a session marked by mistake, and a step
 * meeting a locked database: MTS_EDBLOCKED naming "database is locked", nothing
 * written, the same step stored in full on the next try with bars equal to
 * the equity rows (and the step's book rows with it). Schema v11: a fill's
 * shadow flag (0 when initialised without it), the books upserted step after
 * step, per-book equity points, the attach socket's path set, read, cleared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdb.h"
#include "mts.h"
#include "store/paper.h"
#include "store/store_internal.h"

typedef struct fx {
    char dir[64], db[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("paper", f->dir, sizeof f->dir, f->db, sizeof f->db, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

static int64_t insert(fx_t *f, const char *status, int64_t started, const char *iv, int64_t hb, int64_t pid,
                      const char *host) {
    sqlite3 *db = mts_store_db(f->s);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
        "INSERT INTO paper_sessions(started_at, strategies, exchange, symbols, interval, initial_capital,"
        " commission_bps, slippage_bps, status, bars, heartbeat_at, pid, host)"
        " VALUES(?1, 'x', 'binance', 'BTCUSDT', ?2, 1000, 0, 0, ?3, 0, ?4, ?5, ?6)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, started);
    sqlite3_bind_text(st, 2, iv, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    if (hb >= 0) sqlite3_bind_int64(st, 4, hb); else sqlite3_bind_null(st, 4);
    if (pid > 0) sqlite3_bind_int64(st, 5, pid); else sqlite3_bind_null(st, 5);
    if (host) sqlite3_bind_text(st, 6, host, -1, SQLITE_STATIC); else sqlite3_bind_null(st, 6);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    return sqlite3_last_insert_rowid(db);
}

static int64_t q_int(fx_t *f, const char *sql, int64_t id) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -999;
    sqlite3_finalize(st);
    return v;
}

static const char *status_of(fx_t *f, int64_t id) {
    static char buf[4][32];
    static int k;
    k = (k + 1) % 4;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), "SELECT status FROM paper_sessions WHERE id = ?1", -1,
                                        &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf[k], sizeof buf[k], "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf[k];
}

static void test_stale_after(void **st) {
    (void)st;
    assert_int_equal(mts_paper_stale_after("1m"), 180);
    assert_int_equal(mts_paper_stale_after("15m"), 2700);
    assert_int_equal(mts_paper_stale_after("1h"), 10800);
    assert_int_equal(mts_paper_stale_after("1d"), 259200);
    assert_int_equal(mts_paper_stale_after("1w"), 1814400);
    assert_int_equal(mts_paper_stale_after("7q"), 60);
    assert_int_equal(mts_paper_stale_after(NULL), 60);
}

static void test_recover_rule(void **state) {
    fx_t *f = *state;
    const int64_t now = 1700000000;
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    const char *other = "elsewhere.invalid";
    /* another host: the heartbeat's age against the interval */
    int64_t m180 = insert(f, "running", now - 5000, "1m", now - 180, 4242, other);
    int64_t m181 = insert(f, "running", now - 5000, "1m", now - 181, 4242, other);
    int64_t h_ok = insert(f, "running", now - 50000, "1h", now - 10800, 4242, other);
    int64_t h_old = insert(f, "running", now - 50000, "1h", now - 10801, 4242, other);
    int64_t u60 = insert(f, "running", now - 500, "7q", now - 60, 4242, other);
    int64_t u61 = insert(f, "running", now - 500, "7q", now - 61, 4242, other);
    /* before schema v5: no heartbeat, pid or host: started_at's age */
    int64_t leg_ok = insert(f, "running", now - 180, "1m", -1, 0, NULL);
    int64_t leg_old = insert(f, "running", now - 181, "1m", -1, 0, NULL);
    /* this host: a child that has exited (reaped: its pid is gone) */
    pid_t child = fork();
    if (child == 0) _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    int64_t gone = insert(f, "running", now - 10, "1m", now, child, host);
    /* this host: the caller's own pid (it runs no session) */
    int64_t mine = insert(f, "running", now - 10, "1m", now, getpid(), host);
    /* this host: the parent (started before this test, alive): never, however old the heartbeat */
    int64_t live_now = (int64_t)time(NULL);
    int64_t parent = insert(f, "running", live_now, "1m", live_now - 100000, getppid(), host);
    /* this host: the parent's pid, but the session started (2023) before the parent did: reused */
    int64_t reused = insert(f, "running", now - 10, "1m", now, getppid(), host);
    /* not running: untouched */
    int64_t stopped = insert(f, "stopped", now - 90000, "1m", now - 90000, 4242, other);

    int64_t n = -1;
    assert_int_equal(mts_paper_recover_stale(f->s, now, &n), 0);
    /* crashed: m181, h_old, u61, leg_old, gone, mine, reused */
    assert_int_equal(n, 7);
    const int64_t crashed[] = {m181, h_old, u61, leg_old, gone, mine, reused};
    const int64_t last[] = {now - 181, now - 10801, now - 61, now - 181, now, now, now};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(status_of(f, crashed[i]), "crashed");
        assert_int_equal(q_int(f, "SELECT stopped_at FROM paper_sessions WHERE id = ?1", crashed[i]), last[i]);
    }
    const int64_t running[] = {m180, h_ok, u60, leg_ok, parent};
    for (int i = 0; i < 5; i++) assert_string_equal(status_of(f, running[i]), "running");
    assert_string_equal(status_of(f, stopped), "stopped");
    /* applied again: nothing new */
    assert_int_equal(mts_paper_recover_stale(f->s, now, &n), 0);
    assert_int_equal(n, 0);
    /* a session marked by mistake (another host's clock) is running again with its next heartbeat */
    assert_int_equal(mts_paper_heartbeat(f->s, m181, now + 1), 0);
    assert_string_equal(status_of(f, m181), "running");
    assert_int_equal(q_int(f, "SELECT heartbeat_at FROM paper_sessions WHERE id = ?1", m181), now + 1);
}

/* begin: heartbeat = started_at, this pid and host */
static void test_begin_liveness(void **state) {
    fx_t *f = *state;
    mts_paper_session_t ps = {"sma_cross", "binance", "BTCUSDT", "1h", 1000, 10, 0, 1700000000};
    int64_t id = 0;
    assert_int_equal(mts_paper_begin(f->s, &ps, &id), 0);
    assert_int_equal(q_int(f, "SELECT heartbeat_at FROM paper_sessions WHERE id = ?1", id), 1700000000);
    assert_int_equal(q_int(f, "SELECT pid FROM paper_sessions WHERE id = ?1", id), getpid());
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), "SELECT host FROM paper_sessions", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), host);
    sqlite3_finalize(st);
}

/* Another connection holds the write lock: the step is refused as MTS_EDBLOCKED
 * ("database is locked"), nothing of it is stored; the same step after the
 * release is stored whole, bars (2) equal to the equity rows (2). */
static void test_busy_step(void **state) {
    fx_t *f = *state;
    mts_paper_session_t ps = {"sma_cross", "binance", "BTCUSDT", "1h", 1000, 10, 0, 1700000000};
    int64_t id = 0;
    assert_int_equal(mts_paper_begin(f->s, &ps, &id), 0);
    sqlite3_busy_timeout(mts_store_db(f->s), 50);   /* the test's: not the store's 5 s */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    const int64_t ets[2] = {1700000000, 1700003600};
    const double eq[2] = {1000, 1001.5}, cash[2] = {1000, 1000};
    const mts_paper_fill_t fill = {1700003600, "bitcoin", 0.01, 150, 0.0015, 0, 0, NULL, NULL, 0, 0};
    const mts_live_bar_t bars[2] = {{"binance", "BTCUSDT", "1h", 1700000000000LL, 100, 101, 99, 100.5, 1},
                                    {"binance", "BTCUSDT", "1h", 1700003600000LL, 150, 151, 149, 150.5, 1}};
    const mts_paper_book_t book = {0, "sma_cross", 0, 1000, 1001.5, 1000, 0.0015, 0, 1, 0};
    const int32_t bbk[2] = {0, 0};
    mts_paper_step_t step = {.fills = &fill, .n_fills = 1, .equity_ts = ets, .equity = eq, .cash = cash,
                             .n_equity = 2, .bars = bars, .n_bars = 2, .total_bars = 2, .books = &book,
                             .n_books = 1, .books_ts = 1700003600, .book_eq_ts = ets, .book_eq_book = bbk,
                             .book_eq = eq, .n_book_eq = 2};
    assert_int_equal(mts_paper_write_step(f->s, id, &step), MTS_EDBLOCKED);
    assert_non_null(strstr(mts_store_errmsg(f->s), "database is locked"));
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity WHERE session_id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_books WHERE session_id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_book_equity WHERE session_id = ?1", id), 0);
    assert_int_equal(mts_paper_write_step(f->s, id, &step), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_books WHERE session_id = ?1", id), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_book_equity WHERE session_id = ?1", id), 2);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity WHERE session_id = ?1", id), 2);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1", id), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM live_bars WHERE ?1 > 0", id), 2);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 2);
    /* the store is usable afterwards (no transaction left open) */
    assert_true(sqlite3_get_autocommit(mts_store_db(f->s)));
}

static double q_dbl(fx_t *f, const char *sql, int64_t id) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    double v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : -999;
    sqlite3_finalize(st);
    return v;
}

static const char *q_text(fx_t *f, const char *sql, int64_t id) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        snprintf(buf[k], sizeof buf[k], "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(buf[k], sizeof buf[k], "(null)");
    sqlite3_finalize(st);
    return buf[k];
}

/* Schema v11 rows of a step (one writer, two steps): a fill initialised
 * without the shadow field stores 0, a shadow fill 1; the books are upserted
 * on (session, book): after the second step each holds the second step's
 * values and updated_ts; the per-book equity points add up (2 per step), a
 * point of the same (book, ts) rewritten in place. */
static void test_step_books(void **state) {
    fx_t *f = *state;
    mts_paper_session_t ps = {"sma_cross", "binance", "BTCUSDT", "1h", 1000, 10, 0, 1700000000};
    int64_t id = 0;
    assert_int_equal(mts_paper_begin(f->s, &ps, &id), 0);
    mts_paper_writer_t *w = NULL;
    assert_int_equal(mts_paper_writer_new(f->s, &w), 0);
    /* initialised without the shadow field (as live.c's v8 fills): the account's fill */
    const mts_paper_fill_t fills[2] = {
        {.ts = 1700003600, .asset = "bitcoin", .qty = 0.01, .price = 150, .fee = 0.0015, .book = 0,
         .strategy = "sma_cross", .reason = "signal", .funding = 0},
        {.ts = 1700003600, .asset = "bitcoin", .qty = -0.02, .price = 150, .fee = 0.003, .book = 1,
         .strategy = "sma_cross:fast=5", .reason = "signal", .shadow = 1}};
    mts_paper_book_t books[2] = {
        {0, "sma_cross", 0, 1000, 999.9985, 998.4985, 0.0015, 0, 1, 0},
        {1, "sma_cross:fast=5", 1, 500, 499.997, 502.997, 0.003, 0, 1, 0}};
    int64_t bts[2] = {1700003600, 1700003600};
    int32_t bbk[2] = {0, 1};
    double beq[2] = {999.9985, 499.997};
    mts_paper_step_t step = {.fills = fills, .n_fills = 2, .total_bars = 1, .books = books, .n_books = 2,
                             .books_ts = 1700003600, .book_eq_ts = bts, .book_eq_book = bbk, .book_eq = beq,
                             .n_book_eq = 2};
    assert_int_equal(mts_paper_writer_step(w, id, &step), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1 AND shadow = 0 AND book = 0", id), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1 AND shadow = 1 AND book = 1"
                              " AND strategy = 'sma_cross:fast=5' AND side = 'sell'", id), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_books WHERE session_id = ?1", id), 2);
    assert_string_equal(q_text(f, "SELECT strategy FROM paper_books WHERE session_id = ?1 AND book = 1", id),
                        "sma_cross:fast=5");
    assert_int_equal(q_int(f, "SELECT shadow FROM paper_books WHERE session_id = ?1 AND book = 1", id), 1);
    assert_int_equal(q_int(f, "SELECT shadow FROM paper_books WHERE session_id = ?1 AND book = 0", id), 0);
    assert_true(q_dbl(f, "SELECT cash FROM paper_books WHERE session_id = ?1 AND book = 1", id) == 502.997);
    assert_int_equal(q_int(f, "SELECT updated_ts FROM paper_books WHERE session_id = ?1 AND book = 0", id), 1700003600);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_book_equity WHERE session_id = ?1", id), 2);

    /* the second step: book 1 closes a trade; its point at the first ts is rewritten */
    books[1].equity = 501.25;
    books[1].cash = 501.25;
    books[1].fees = 0.006;
    books[1].fills = 2;
    books[1].trades = 1;
    books[0].equity = 1002.5;
    int64_t bts2[3] = {1700007200, 1700007200, 1700003600};
    int32_t bbk2[3] = {0, 1, 1};
    double beq2[3] = {1002.5, 501.25, 499.5};
    mts_paper_step_t step2 = {.total_bars = 2, .books = books, .n_books = 2, .books_ts = 1700007200,
                              .book_eq_ts = bts2, .book_eq_book = bbk2, .book_eq = beq2, .n_book_eq = 3};
    assert_int_equal(mts_paper_writer_step(w, id, &step2), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_books WHERE session_id = ?1", id), 2);
    assert_true(q_dbl(f, "SELECT equity FROM paper_books WHERE session_id = ?1 AND book = 1", id) == 501.25);
    assert_true(q_dbl(f, "SELECT fees FROM paper_books WHERE session_id = ?1 AND book = 1", id) == 0.006);
    assert_int_equal(q_int(f, "SELECT trades FROM paper_books WHERE session_id = ?1 AND book = 1", id), 1);
    assert_int_equal(q_int(f, "SELECT fills FROM paper_books WHERE session_id = ?1 AND book = 1", id), 2);
    assert_true(q_dbl(f, "SELECT equity FROM paper_books WHERE session_id = ?1 AND book = 0", id) == 1002.5);
    assert_int_equal(q_int(f, "SELECT MIN(updated_ts) FROM paper_books WHERE session_id = ?1", id), 1700007200);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_book_equity WHERE session_id = ?1", id), 4);
    assert_true(q_dbl(f, "SELECT equity FROM paper_book_equity WHERE session_id = ?1 AND book = 1 AND ts = 1700003600",
                      id) == 499.5);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 2);

    /* a book without a strategy name: refused before anything is written */
    books[0].strategy = NULL;
    books[1].equity = 1;
    mts_paper_step_t bad = {.total_bars = 3, .books = books, .n_books = 2, .books_ts = 1700010800};
    assert_int_equal(mts_paper_writer_step(w, id, &bad), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "no strategy name"));
    assert_true(q_dbl(f, "SELECT equity FROM paper_books WHERE session_id = ?1 AND book = 1", id) == 501.25);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 2);
    assert_true(sqlite3_get_autocommit(mts_store_db(f->s)));
    mts_paper_step_t bad2 = {.total_bars = 3, .n_book_eq = 1};   /* points without arrays */
    assert_int_equal(mts_paper_writer_step(w, id, &bad2), MTS_EINVAL);
    mts_paper_writer_free(w);

    /* the session's book rows go with it (ON DELETE CASCADE) */
    assert_int_equal(sqlite3_exec(mts_store_db(f->s), "DELETE FROM paper_sessions", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_books WHERE ?1 > 0", id), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_book_equity WHERE ?1 > 0", id), 0);
}

/* The attach socket's path: none at begin, set, read back with the status,
 * truncated to the caller's buffer, cleared by NULL; a session that does not
 * exist is MTS_ENOTFOUND for both calls. */
static void test_control_path(void **state) {
    fx_t *f = *state;
    mts_paper_session_t ps = {"sma_cross", "binance", "BTCUSDT", "1m", 1000, 10, 0, 1700000000};
    int64_t id = 0;
    assert_int_equal(mts_paper_begin(f->s, &ps, &id), 0);
    char st[32], path[128];
    assert_int_equal(mts_paper_get_control(f->s, id, st, sizeof st, path, sizeof path), 0);
    assert_string_equal(st, "running");
    assert_string_equal(path, "");
    const char *sock = "/tmp/mts-1000/session-1.sock";
    assert_int_equal(mts_paper_set_control(f->s, id, sock), 0);
    assert_string_equal(q_text(f, "SELECT control_socket FROM paper_sessions WHERE id = ?1", id), sock);
    assert_int_equal(mts_paper_get_control(f->s, id, st, sizeof st, path, sizeof path), 0);
    assert_string_equal(path, sock);
    char small[9];
    assert_int_equal(mts_paper_get_control(f->s, id, NULL, 0, small, sizeof small), 0);
    assert_string_equal(small, "/tmp/mts");               /* 8 characters and the NUL */
    assert_int_equal(mts_paper_end(f->s, id, "stopped", 1700000600, 10, 1000, NULL), 0);
    assert_int_equal(mts_paper_set_control(f->s, id, NULL), 0);
    assert_string_equal(q_text(f, "SELECT control_socket FROM paper_sessions WHERE id = ?1", id), "(null)");
    assert_int_equal(mts_paper_get_control(f->s, id, st, sizeof st, path, sizeof path), 0);
    assert_string_equal(st, "stopped");
    assert_string_equal(path, "");
    assert_int_equal(mts_paper_get_control(f->s, id + 7, st, sizeof st, path, sizeof path), MTS_ENOTFOUND);
    assert_non_null(strstr(mts_store_errmsg(f->s), "no session"));
    assert_string_equal(st, "");
    assert_int_equal(mts_paper_set_control(f->s, id + 7, sock), MTS_ENOTFOUND);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_sessions WHERE control_socket IS NOT NULL AND ?1 > 0", id), 0);
    assert_int_equal(mts_paper_get_control(f->s, id, st, 0, path, sizeof path), MTS_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_after),
        cmocka_unit_test_setup_teardown(test_recover_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_liveness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_books, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
