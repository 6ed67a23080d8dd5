/* test_events.c — store/events.c: the input log of a paper session. Events of
 * every kind written in a step's transaction (store/paper.h extra) read back
 * bit for bit in order; contents stored once per SHA-256 (the hash of "abc" is
 * the FIPS 180-2 example); a step the database refuses (another connection
 * holds the lock) stores neither its rows nor its events, and the same events
 * are stored once at the next try; the starting options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdb.h"
#include "mts.h"
#include "store/events.h"
#include "store/paper.h"
#include "store/store_internal.h"

typedef struct fx {
    char dir[64], db[128];
    mts_store_t *s;
    int64_t id;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("events", f->dir, sizeof f->dir, f->db, sizeof f->db, &f->s)) return -1;
    mts_paper_session_t ps = {"sma_cross", "binance", "BTCUSDT", "1h", 1000, 10, 0, 1700000000};
    if (mts_paper_begin(f->s, &ps, &f->id)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

static int64_t q_int(fx_t *f, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int write_ev(mts_store_t *s, void *ud) {
    fx_t *f = ((void **)ud)[0];
    return mts_events_write(s, f->id, ((void **)ud)[1]);
}

static mts_sevent_t ev(int64_t wait, int kind, int32_t asset, int64_t t, double o) {
    mts_sevent_t e;
    memset(&e, 0, sizeof e);
    e.wait = wait;
    e.kind = kind;
    e.asset = asset;
    e.t = t;
    e.o = o;
    e.h = o + 1;
    e.l = o - 1;
    e.c = 0.1 + 0.2;          /* 0.30000000000000004: read back bit for bit */
    e.v = 1e-8;
    e.ts_ms = 1700000000123;
    return e;
}

static void test_roundtrip(void **state) {
    fx_t *f = *state;
    mts_events_rec_t *r = NULL;
    assert_int_equal(mts_events_rec_new(&r), 0);
    char h1[65], h2[65];
    assert_int_equal(mts_events_add_blob(r, "abc", 3, h1), 0);
    assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(mts_events_add_blob(r, "abc", 3, h2), 0);   /* the same content: one blob */
    assert_string_equal(h1, h2);
    mts_sevent_t a = ev(0, MTS_EVK_WARMUP, 0, 1700000000, 100);
    mts_sevent_t b = ev(1, MTS_EVK_BAR, 1, 1700003600, 101.5);
    mts_sevent_t c = ev(1, MTS_EVK_FILE, -1, 1, 0);
    snprintf(c.ref, sizeof c.ref, "%s", h1);
    snprintf(c.info, sizeof c.info, "scripts/strategies/sma_cross.lua");
    mts_sevent_t d = ev(1, MTS_EVK_WAIT, -1, 2, 0);
    assert_int_equal(mts_events_add(r, &a), 0);
    assert_int_equal(mts_events_add(r, &b), 0);
    assert_int_equal(mts_events_add(r, &c), 0);
    assert_int_equal(mts_events_add(r, &d), 0);
    assert_int_equal(mts_events_pending(r), 5);   /* 4 events + 1 blob */
    void *ud[2] = {f, r};
    mts_paper_step_t step = {.total_bars = 1, .extra = write_ev, .extra_ud = ud};
    assert_int_equal(mts_paper_write_step(f->s, f->id, &step), 0);
    mts_events_written(r);
    assert_int_equal(mts_events_pending(r), 0);
    /* a second step: the same content again is not a second blob, seq goes on */
    assert_int_equal(mts_events_add_blob(r, "abc", 3, h2), 0);
    mts_sevent_t e2 = ev(2, MTS_EVK_WAIT, 0, 1, 0);
    assert_int_equal(mts_events_add(r, &e2), 0);
    assert_int_equal(mts_paper_write_step(f->s, f->id, &step), 0);
    mts_events_written(r);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM session_blobs"), 1);

    mts_sevent_t *v = NULL;
    int64_t n = 0;
    assert_int_equal(mts_events_load(f->s, f->id, &v, &n), 0);
    assert_int_equal(n, 5);
    for (int64_t i = 0; i < n; i++) assert_int_equal(v[i].seq, i);
    assert_int_equal(v[0].kind, MTS_EVK_WARMUP);
    assert_int_equal(v[1].kind, MTS_EVK_BAR);
    assert_int_equal(v[1].asset, 1);
    assert_int_equal(v[1].t, 1700003600);
    assert_int_equal(v[1].wait, 1);
    assert_true(v[1].o == 101.5 && v[1].h == 102.5 && v[1].l == 100.5);
    assert_memory_equal(&v[1].c, &b.c, sizeof(double));
    assert_true(v[1].v == 1e-8);
    assert_int_equal(v[1].ts_ms, 1700000000123);
    assert_int_equal(v[2].kind, MTS_EVK_FILE);
    assert_string_equal(v[2].info, "scripts/strategies/sma_cross.lua");
    assert_string_equal(v[2].ref, h1);
    assert_int_equal(v[3].kind, MTS_EVK_WAIT);
    assert_int_equal(v[3].asset, -1);
    assert_int_equal(v[3].t, 2);
    assert_int_equal(v[4].wait, 2);
    void *data;
    size_t len;
    assert_int_equal(mts_events_blob(f->s, h1, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 3);
    mts_free(data);
    assert_int_equal(mts_events_blob(f->s, "00", &data, &len), MTS_ENOTFOUND);
    mts_free(v);
    mts_events_rec_free(r);
}

/* the database locked by another connection: nothing of the step, events
 * pending; stored once at the next try */
static void test_busy(void **state) {
    fx_t *f = *state;
    mts_events_rec_t *r = NULL;
    assert_int_equal(mts_events_rec_new(&r), 0);
    mts_sevent_t b = ev(1, MTS_EVK_BAR, 0, 1700003600, 100);
    assert_int_equal(mts_events_add(r, &b), 0);
    void *ud[2] = {f, r};
    const int64_t ets[1] = {1700003600};
    const double eq[1] = {1000}, cash[1] = {1000};
    mts_paper_step_t step = {.equity_ts = ets, .equity = eq, .cash = cash, .n_equity = 1, .total_bars = 1,
                             .extra = write_ev, .extra_ud = ud};
    sqlite3_busy_timeout(mts_store_db(f->s), 50);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(mts_paper_write_step(f->s, f->id, &step), MTS_EDBLOCKED);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM session_events"), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity"), 0);
    assert_int_equal(mts_events_pending(r), 1);
    assert_int_equal(mts_paper_write_step(f->s, f->id, &step), 0);
    mts_events_written(r);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM session_events"), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity"), 1);
    mts_events_rec_free(r);
}

/* an event the table refuses (the same seq twice) rolls the whole step back */
static void test_extra_failure_rolls_back(void **state) {
    fx_t *f = *state;
    assert_int_equal(sqlite3_exec(mts_store_db(f->s), "INSERT INTO session_events(session_id, seq, wait, ts_ms, kind)"
                                  " VALUES(1, 0, 0, 0, 'bar')", NULL, NULL, NULL), SQLITE_OK);
    mts_events_rec_t *r = NULL;
    assert_int_equal(mts_events_rec_new(&r), 0);
    mts_sevent_t b = ev(1, MTS_EVK_BAR, 0, 1700003600, 100);
    assert_int_equal(mts_events_add(r, &b), 0);   /* seq 0 again */
    void *ud[2] = {f, r};
    const int64_t ets[1] = {1700003600};
    const double eq[1] = {1000}, cash[1] = {1000};
    mts_paper_step_t step = {.equity_ts = ets, .equity = eq, .cash = cash, .n_equity = 1, .total_bars = 1,
                             .extra = write_ev, .extra_ud = ud};
    assert_int_equal(mts_paper_write_step(f->s, f->id, &step), MTS_EDB);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM paper_equity"), 0);
    assert_int_equal(q_int(f, "SELECT bars FROM paper_sessions WHERE id = 1"), 0);
    assert_true(sqlite3_get_autocommit(mts_store_db(f->s)));
    mts_events_rec_free(r);
}

static void test_options(void **state) {
    fx_t *f = *state;
    char *j = (char *)1;
    assert_int_equal(mts_events_get_options(f->s, f->id, &j), 0);
    assert_null(j);   /* none stored yet */
    assert_int_equal(mts_events_set_options(f->s, f->id, "{\"capital\":1000}"), 0);
    assert_int_equal(mts_events_get_options(f->s, f->id, &j), 0);
    assert_string_equal(j, "{\"capital\":1000}");
    mts_free(j);
    assert_int_equal(mts_events_get_options(f->s, 999, &j), MTS_ENOTFOUND);
    assert_int_equal(mts_event_kind_of("funding"), MTS_EVK_FUNDING);
    assert_string_equal(mts_event_kind_name(MTS_EVK_MACRO), "macro");
    assert_int_equal(mts_event_kind_of("nope"), 0);
    /* issue 14 B: an attached client's write request, appended after wait */
    assert_int_equal(MTS_EVK_CONTROL, MTS_EVK_WAIT + 1);
    assert_int_equal(mts_event_kind_of("control"), MTS_EVK_CONTROL);
    assert_string_equal(mts_event_kind_name(MTS_EVK_CONTROL), "control");
    /* a series a strategy loaded through the data provider, appended after control */
    assert_int_equal(MTS_EVK_PROVIDER, MTS_EVK_CONTROL + 1);
    assert_int_equal(mts_event_kind_of("provider"), MTS_EVK_PROVIDER);
    assert_string_equal(mts_event_kind_name(MTS_EVK_PROVIDER), "provider");
    assert_string_equal(mts_event_kind_name(MTS_EVK_PROVIDER + 1), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
