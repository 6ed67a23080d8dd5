/* test_prune.c — store/prune.c: ages ("30d" = 2592000 s, worked out by
 * hand), the archive's exact text for values a CSV writer gets wrong (read
 * with zlib here, compared with lines written by hand), the import putting
 * back the same 64 bits, the type and NULL-vs-empty of every value, deletes
 * in batches of batch_rows, a day written in parts when more rows than
 * max_rows_held are old, and a cancelled run (archived, not deleted)
 * completed by the next one without writing any row twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tmpdb.h"
#include "mts.h"
#include "store/prune.h"
#include "store/store_internal.h"

typedef struct fx {
    char dir[64], db[128], arch[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("prune", f->dir, sizeof f->dir, f->db, sizeof f->db, &f->s)) return -1;
    snprintf(f->arch, sizeof f->arch, "%s/arch", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* 2026-11-30T00:00:00Z = day 20787 since 1970 (20454 = 2026-01-01, + 333) */
#define T0 (20787LL * 86400000LL)

static void test_parse_age(void **state) {
    (void)state;
    int64_t s = 0;
    assert_int_equal(mts_prune_parse_age("30d", &s), 0);
    assert_int_equal(s, 2592000);
    assert_int_equal(mts_prune_parse_age("12h", &s), 0);
    assert_int_equal(s, 43200);
    assert_int_equal(mts_prune_parse_age("90m", &s), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(mts_prune_parse_age("2w", &s), 0);
    assert_int_equal(s, 1209600);
    assert_int_equal(mts_prune_parse_age("45s", &s), 0);
    assert_int_equal(s, 45);
    const char *bad[] = {"", "30", "d", "0d", "-1d", "30x", "1.5d", "30 d", "99999999999999999999d", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(mts_prune_parse_age(bad[i], &s), MTS_EINVAL);
}

static void exec_ok(mts_store_t *s, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(mts_store_db(s), sql, NULL, NULL, &err);
    if (rc) fprintf(stderr, "%s: %s\n", sql, err);
    assert_int_equal(rc, SQLITE_OK);
}

static void insert_trade(mts_store_t *s, int64_t id, const char *tid, int64_t ts, double price, double qty,
                         const char *side) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(s), "INSERT INTO trades(id, exchange, symbol, trade_id, ts_ms,"
                     " price, qty, side) VALUES(?1, 'bin', 'BTC', ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, tid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ts);
    sqlite3_bind_double(st, 4, price);
    sqlite3_bind_double(st, 5, qty);
    if (side) sqlite3_bind_text(st, 6, side, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static int64_t count(mts_store_t *s, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static char *read_gz(const char *path) {
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    char *buf = calloc(1, 1 << 20);
    int n = gzread(g, buf, (1 << 20) - 1);
    assert_true(n >= 0);
    gzclose(g);
    return buf;
}

static void test_archive_text_and_import_bits(void **state) {
    fx_t *f = *state;
    mts_store_t *s = f->s;
    insert_trade(s, 1, "a,\"b\"\nc", T0 + 1000, 0.1 + 0.2, 5e-324, NULL);
    insert_trade(s, 2, "", T0 + 2000, -0.0, DBL_MAX, "");
    insert_trade(s, 3, "x", T0 + 3000, INFINITY, 1.0 / 3.0, "buy");
    insert_trade(s, 4, "y", T0 + 86400000, 100, 2.5e-7, "sell");   /* next day */
    insert_trade(s, 5, "new", T0 + 10 * 86400000LL, 1, 1, "buy");   /* newer than the cutoff */
    mts_prune_opts_t o = {.older_than_s = 86400, .now_ms = T0 + 10 * 86400000LL, .archive_dir = f->arch};
    mts_prune_report_t rep;
    assert_int_equal(mts_prune_run(s, &o, &rep), 0);
    assert_int_equal(rep.n, 4);
    assert_string_equal(rep.t[0].table, "trades");
    assert_int_equal(rep.t[0].cutoff_ms, T0 + 9 * 86400000LL);
    assert_int_equal(rep.t[0].rows, 4);
    assert_int_equal(rep.t[0].deleted, 4);
    assert_int_equal(rep.t[0].files, 2);
    char p[256];
    snprintf(p, sizeof p, "%s/trades/2026-11-30.csv.gz", f->arch);
    char *text = read_gz(p);
    assert_string_equal(text,
                        "id,exchange,symbol,trade_id,ts_ms,price,qty,side\n"
                        "1,\"bin\",\"BTC\",\"a,\"\"b\"\"\nc\",1795996801000,0.30000000000000004,5e-324,\n"
                        "2,\"bin\",\"BTC\",\"\",1795996802000,0,1.7976931348623157e+308,\"\"\n"
                        "3,\"bin\",\"BTC\",\"x\",1795996803000,inf,0.3333333333333333,\"buy\"\n");
    free(text);
    snprintf(p, sizeof p, "%s/trades/2026-12-01.csv.gz", f->arch);
    text = read_gz(p);
    assert_string_equal(text, "id,exchange,symbol,trade_id,ts_ms,price,qty,side\n"
                              "4,\"bin\",\"BTC\",\"y\",1796083200000,100,2.5e-07,\"sell\"\n");
    free(text);
    assert_int_equal(count(s, "SELECT COUNT(*) FROM trades"), 1);
    /* back in: the same bits, types and NULLs */
    int64_t rows = 0, ins = 0;
    snprintf(p, sizeof p, "%s/trades/2026-11-30.csv.gz", f->arch);
    assert_int_equal(mts_prune_import_archive(s, p, NULL, &rows, &ins), 0);
    assert_int_equal(rows, 3);
    assert_int_equal(ins, 3);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(s), "SELECT id, trade_id, price, qty, side, typeof(side),"
                     " typeof(price), typeof(ts_ms) FROM trades WHERE id <= 3 ORDER BY id", -1, &st, NULL), SQLITE_OK);
    /* -0.0 reads back from SQLite as 0.0 (a REAL that is a whole number is stored as an
     * integer on disk): the archive holds what the table held */
    const double price[3] = {0.1 + 0.2, 0.0, INFINITY}, qty[3] = {5e-324, DBL_MAX, 1.0 / 3.0};
    const char *tid[3] = {"a,\"b\"\nc", "", "x"}, *sidet[3] = {"null", "text", "text"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), i + 1);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), tid[i]);
        double a = sqlite3_column_double(st, 2), b = sqlite3_column_double(st, 3);
        assert_memory_equal(&a, &price[i], sizeof a);
        assert_memory_equal(&b, &qty[i], sizeof b);
        assert_string_equal((const char *)sqlite3_column_text(st, 5), sidet[i]);
        assert_string_equal((const char *)sqlite3_column_text(st, 6), "real");
        assert_string_equal((const char *)sqlite3_column_text(st, 7), "integer");
    }
    sqlite3_finalize(st);
    /* again: nothing twice */
    assert_int_equal(mts_prune_import_archive(s, p, NULL, &rows, &ins), 0);
    assert_int_equal(ins, 0);
    assert_int_equal(count(s, "SELECT COUNT(*) FROM trades"), 4);
    /* a table prune does not handle is refused */
    assert_int_equal(mts_prune_import_archive(s, p, "backtest_results", &rows, &ins), MTS_EINVAL);
}

static void fill_events(mts_store_t *s, int n) {
    exec_ok(s, "BEGIN");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(s), "INSERT INTO bus_events(ts_ms, topic, payload)"
                     " VALUES(?1, 't', '{\"a\":1}')", -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, T0 + i);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec_ok(s, "COMMIT");
}

static void test_batches(void **state) {
    fx_t *f = *state;
    fill_events(f->s, 12000);
    mts_prune_opts_t o = {.table = "bus_events", .older_than_s = 86400, .now_ms = T0 + 2 * 86400000LL,
                          .archive_dir = f->arch, .batch_rows = 5000};
    mts_prune_report_t rep;
    assert_int_equal(mts_prune_run(f->s, &o, &rep), 0);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.t[0].deleted, 12000);
    assert_int_equal(rep.t[0].batches, 3);   /* 5000 + 5000 + 2000 */
    assert_int_equal(count(f->s, "SELECT COUNT(*) FROM bus_events"), 0);
}

/* at most max_rows_held rows held: the day is written in parts, each durable
 * before its rows are deleted; every id once over the parts */
static void test_rows_held_cap(void **state) {
    fx_t *f = *state;
    fill_events(f->s, 2500);
    mts_prune_opts_t o = {.table = "bus_events", .older_than_s = 86400, .now_ms = T0 + 2 * 86400000LL,
                          .archive_dir = f->arch, .max_rows_held = 1000};
    mts_prune_report_t rep;
    assert_int_equal(mts_prune_run(f->s, &o, &rep), 0);
    assert_int_equal(rep.t[0].files, 3);
    assert_int_equal(rep.t[0].archived, 2500);
    assert_int_equal(rep.t[0].deleted, 2500);
    static char seen[2501];
    memset(seen, 0, sizeof seen);
    const char *name[3] = {"2026-11-30.csv.gz", "2026-11-30.2.csv.gz", "2026-11-30.3.csv.gz"};
    const int want[3] = {1000, 1000, 500};
    for (int k = 0; k < 3; k++) {
        char p[256];
        snprintf(p, sizeof p, "%s/bus_events/%s", f->arch, name[k]);
        char *text = read_gz(p), *save = NULL;
        int n = 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!strncmp(line, "id,", 3)) continue;
            long id = strtol(line, NULL, 10);
            assert_true(id >= 1 && id <= 2500);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            n++;
        }
        assert_int_equal(n, want[k]);
        free(text);
    }
    assert_int_equal(count(f->s, "SELECT COUNT(*) FROM bus_events"), 0);
}

static void test_cancel_then_rerun(void **state) {
    fx_t *f = *state;
    fill_events(f->s, 3000);
    volatile sig_atomic_t cancel = 1;
    mts_prune_opts_t o = {.table = "bus_events", .older_than_s = 86400, .now_ms = T0 + 2 * 86400000LL,
                          .archive_dir = f->arch, .batch_rows = 1000, .cancel = &cancel};
    mts_prune_report_t rep;
    /* cancelled before its first span: nothing written, nothing deleted */
    assert_int_equal(mts_prune_run(f->s, &o, &rep), MTS_ECANCELED);
    assert_int_equal(count(f->s, "SELECT COUNT(*) FROM bus_events"), 3000);
    /* a dry run counts only */
    cancel = 0;
    o.dry_run = 1;
    assert_int_equal(mts_prune_run(f->s, &o, &rep), 0);
    assert_int_equal(rep.t[0].rows, 3000);
    assert_int_equal(count(f->s, "SELECT COUNT(*) FROM bus_events"), 3000);
    /* the archive of an earlier run that was killed before deleting: the rerun
     * writes no part again and deletes every row */
    o.dry_run = 0;
    assert_int_equal(mts_prune_run(f->s, &o, &rep), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/bus_events/2026-11-30.csv.gz", f->arch);
    int64_t rows = 0, ins = 0;
    assert_int_equal(mts_prune_import_archive(f->s, p, NULL, &rows, &ins), 0);
    assert_int_equal(ins, 3000);
    assert_int_equal(mts_prune_run(f->s, &o, &rep), 0);
    assert_int_equal(rep.t[0].files, 0);
    assert_int_equal(rep.t[0].archived, 0);
    assert_int_equal(rep.t[0].already, 3000);
    assert_int_equal(rep.t[0].deleted, 3000);
    snprintf(p, sizeof p, "%s/bus_events/2026-11-30.2.csv.gz", f->arch);
    assert_int_equal(access(p, F_OK), -1);
}

int main(void) {
    setenv("MTS_ROOT", "/nonexistent-mts-root", 1);   /* no config: no configured ages */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_age),
        cmocka_unit_test_setup_teardown(test_archive_text_and_import_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_held_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_then_rerun, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
