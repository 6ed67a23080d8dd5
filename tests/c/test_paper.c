/* test_paper.c — store/paper.c: the recovery rule for sessions whose process
 * died (its boundaries, worked out by hand: stale after max(3 x interval,
 * 60 s) — 1m: 180 s, 1h: 10800 s, an unknown interval: 60 s; this host: the
 * pid decides), a heartbeat reviving a session marked by mistake, and a step
 * meeting a locked database: MTS_EDBLOCKED naming "database is locked", nothing
 * written, the same step stored in full on the next try with bars equal to
 * the equity rows. */
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
    const mts_paper_fill_t fill = {1700003600, "bitcoin", 0.01, 150, 0.0015, 0, 0, NULL, NULL, 0};
    const mts_live_bar_t bars[2] = {{"binance", "BTCUSDT", "1h", 1700000000000LL, 100, 101, 99, 100.5, 1},
                                    {"binance", "BTCUSDT", "1h", 1700003600000LL, 150, 151, 149, 150.5, 1}};
    mts_paper_step_t step = {.fills = &fill, .n_fills = 1, .equity_ts = ets, .equity = eq, .cash = cash,
                             .n_equity = 2, .bars = bars, .n_bars = 2, .total_bars = 2};
    assert_int_equal(mts_paper_write_step(f->s, id, &step), MTS_EDBLOCKED);
    assert_non_null(strstr(mts_store_errmsg(f->s), "database is locked"));
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity WHERE session_id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1", id), 0);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 0);
    assert_int_equal(mts_paper_write_step(f->s, id, &step), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity WHERE session_id = ?1", id), 2);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_fills WHERE session_id = ?1", id), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM live_bars WHERE ?1 > 0", id), 2);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = ?1", id), 2);
    /* the store is usable afterwards (no transaction left open) */
    assert_true(sqlite3_get_autocommit(mts_store_db(f->s)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_after),
        cmocka_unit_test_setup_teardown(test_recover_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_liveness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_step, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
