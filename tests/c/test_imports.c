/* test_imports.c — store/imports.c: the import_runs record (running ->
 * complete | failed: reason), which runs are outstanding (running, or failed
 * after storing rows, with no later complete run of the same source), and the
 * warning text (series, file, start time, rows, the command that fixes it).
 * Rows are read back with raw SQL, not through the module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tmpdb.h"
#include "mts.h"
#include "store/imports.h"
#include "store/store.h"

typedef struct fx {
    char dir[64];
    char db[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("imports", f->dir, sizeof f->dir, f->db, sizeof f->db, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* One row of import_runs read through a second connection (so what is
 * committed is what another process would see). */
typedef struct row { char kind[16], target[64], source[256], status[256]; long long started, finished, rows; int finished_null; } row_t;

static int read_row(const char *db, long long id, row_t *r) {
    sqlite3 *c;
    if (sqlite3_open(db, &c) != SQLITE_OK) return -1;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(c, "SELECT kind, target, source, status, started_at, finished_at, rows FROM import_runs"
                          " WHERE id = ?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    int ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        snprintf(r->kind, sizeof r->kind, "%s", sqlite3_column_text(st, 0));
        snprintf(r->target, sizeof r->target, "%s", sqlite3_column_text(st, 1));
        snprintf(r->source, sizeof r->source, "%s", sqlite3_column_text(st, 2));
        snprintf(r->status, sizeof r->status, "%s", sqlite3_column_text(st, 3));
        r->started = sqlite3_column_int64(st, 4);
        r->finished_null = sqlite3_column_type(st, 5) == SQLITE_NULL;
        r->finished = sqlite3_column_int64(st, 5);
        r->rows = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    sqlite3_close(c);
    return ok ? 0 : -1;
}

static void test_lifecycle(void **state) {
    fx_t *f = *state;
    long long t0 = (long long)time(NULL);
    int64_t id = 0;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/coin.csv", &id), 0);
    assert_true(id > 0);
    row_t r;
    assert_int_equal(read_row(f->db, id, &r), 0);
    assert_string_equal(r.kind, "ohlcv");
    assert_string_equal(r.target, "coin");
    assert_string_equal(r.source, "/data/coin.csv");
    assert_string_equal(r.status, "running");
    assert_true(r.started >= t0 && r.started <= (long long)time(NULL));
    assert_true(r.finished_null);
    assert_int_equal(r.rows, 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);

    assert_int_equal(mts_imports_progress(f->s, id, 10000), 0);
    assert_int_equal(read_row(f->db, id, &r), 0);
    assert_int_equal(r.rows, 10000);
    assert_string_equal(r.status, "running");

    assert_int_equal(mts_imports_end(f->s, id, 12345, NULL), 0);
    assert_int_equal(read_row(f->db, id, &r), 0);
    assert_string_equal(r.status, "complete");
    assert_int_equal(r.rows, 12345);
    assert_false(r.finished_null);
    assert_true(r.finished >= r.started);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 0);
    char *w = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", NULL, &w), 0);
    assert_null(w);
}

static void test_outstanding_rules(void **state) {
    fx_t *f = *state;
    int64_t a1, a2, b1, c1, d1;
    /* a: killed (left running), then re-run to completion -> clear */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/a.csv", &a1), 0);
    assert_int_equal(mts_imports_progress(f->s, a1, 20000), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, "/a.csv"), 1);
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/a.csv", &a2), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, "/a.csv"), 1);   /* the newest counts */
    assert_int_equal(mts_imports_end(f->s, a2, 30000, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, "/a.csv"), 0);
    /* b: failed before storing anything -> nothing to warn about */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/b.csv", &b1), 0);
    assert_int_equal(mts_imports_end(f->s, b1, 0, "missing column 'volume'"), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, "/b.csv"), 0);
    /* c: failed after storing rows -> outstanding, with its reason */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/c.csv", &c1), 0);
    assert_int_equal(mts_imports_end(f->s, c1, 5, "database or disk is full"), 0);
    row_t r;
    assert_int_equal(read_row(f->db, c1, &r), 0);
    assert_string_equal(r.status, "failed: database or disk is full");
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, "/c.csv"), 1);
    /* a complete run of ANOTHER file does not clear c; an earlier complete run does not either */
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);
    /* d: other kind / other target are separate */
    assert_int_equal(mts_imports_begin(f->s, "macro", "coin", "/c.csv", &d1), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);
    assert_int_equal(mts_imports_outstanding(f->s, "macro", "coin", NULL, NULL), 1);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "other", NULL, NULL), 0);
}

static void test_warning_text(void **state) {
    fx_t *f = *state;
    int64_t a, b, c;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/a.csv", &a), 0);
    assert_int_equal(mts_imports_progress(f->s, a, 20000), 0);
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/b.csv", &b), 0);
    assert_int_equal(mts_imports_end(f->s, b, 7, "read error at line 9"), 0);
    assert_int_equal(mts_imports_begin(f->s, "macro", "VIX", "-", &c), 0);
    /* started_at fixed so the text can be compared whole: 2024-01-02T03:04:05Z */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE import_runs SET started_at = 1704164645", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char *owned = mts_malloc(32);            /* a line already there stays first */
    assert_non_null(owned);
    strcpy(owned, "earlier line");
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", NULL, &owned), 2);
    assert_string_equal(owned,
        "earlier line\n"
        "coin: the import of /data/b.csv started 2024-01-02T03:04:05Z failed after storing 7 rows "
        "(read error at line 9), so its bars may be incomplete; re-run it: mts import csv /data/b.csv --asset coin\n"
        "coin: the import of /data/a.csv started 2024-01-02T03:04:05Z did not finish (killed, or still running; "
        "20000 rows stored by its last commit), so its bars may be incomplete; re-run it: "
        "mts import csv /data/a.csv --asset coin");
    mts_free(owned);
    char *m = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "macro", "VIX", NULL, &m), 1);
    assert_string_equal(m,
        "VIX: the import of - started 2024-01-02T03:04:05Z did not finish (killed, or still running; "
        "0 rows stored by its last commit), so its values may be incomplete; re-run it with the same input: "
        "mts import macro - --indicator VIX");
    mts_free(m);
}

/* A run started on a real file holds its lock: "still running" while it
 * lasts; a 'running' row whose file nobody locks was killed. */
static void test_live_or_killed(void **state) {
    fx_t *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/data.csv", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("timestamp,open,high,low,close,volume\n", fp);
    fclose(fp);
    char src[4096];
    assert_int_equal(mts_imports_source(path, src, sizeof src), 0);
    mts_import_run_t run;
    assert_int_equal(mts_imports_start(f->s, "ohlcv", "coin", path, &run), 0);
    assert_true(run.lock_fd >= 0);
    assert_int_equal(mts_imports_live(src), 1);
    char *w = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", NULL, &w), 1);
    assert_non_null(strstr(w, "is still running (0 rows stored so far)"));
    assert_non_null(strstr(w, "wait for it, or re-run it: mts import csv "));
    mts_free(w);
    mts_imports_progress(f->s, run.id, 10000);
    assert_int_equal(mts_imports_finish(f->s, &run, 10001, 0, NULL), 0);
    assert_int_equal(run.lock_fd, -1);
    assert_int_equal(mts_imports_live(src), 0);
    mts_imports_wait(src);                        /* returns at once: nobody holds it */
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 0);

    /* what a SIGKILL leaves: the row, no lock */
    int64_t id;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", src, &id), 0);
    assert_int_equal(mts_imports_progress(f->s, id, 20000), 0);
    w = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", NULL, &w), 1);
    assert_non_null(strstr(w, "did not finish (killed; 20000 rows stored by its last commit)"));
    mts_free(w);
    /* a failed import (rows stored) is outstanding, newest first, with a reason */
    assert_int_equal(mts_imports_start(f->s, "ohlcv", "coin", path, &run), 0);
    assert_int_equal(mts_imports_finish(f->s, &run, 3, MTS_EIO, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);
    row_t r;
    assert_int_equal(read_row(f->db, run.id, &r), 0);
    assert_int_equal(strncmp(r.status, "failed: ", 8), 0);
    assert_true(strlen(r.status) > 8);
}

/* A re-import running now of a file imported completely before is a refresh,
 * not an incomplete series (two first uses of bundled data at once); killed,
 * it is outstanding again. */
static void test_live_refresh(void **state) {
    fx_t *f = *state;
    char path[160], src[4096];
    snprintf(path, sizeof path, "%s/data.csv", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(mts_imports_source(path, src, sizeof src), 0);
    int64_t id;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", src, &id), 0);
    assert_int_equal(mts_imports_end(f->s, id, 10, NULL), 0);
    mts_import_run_t live;
    assert_int_equal(mts_imports_start(f->s, "ohlcv", "coin", path, &live), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 0);
    char *w = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", NULL, &w), 0);
    assert_null(w);
    close(live.lock_fd);                           /* as if killed */
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);
}

static void test_source_and_args(void **state) {
    fx_t *f = *state;
    char out[4096], cwd[2048];
    assert_int_equal(mts_imports_source("-", out, sizeof out), 0);
    assert_string_equal(out, "-");
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(mts_imports_source("Makefile", out, sizeof out), 0);   /* tests run from the repo root */
    char want[4200];
    snprintf(want, sizeof want, "%s/Makefile", cwd);
    assert_string_equal(out, want);
    assert_int_equal(mts_imports_source("/no/such/file.csv", out, sizeof out), 0);
    assert_string_equal(out, "/no/such/file.csv");
    assert_int_equal(mts_imports_source("/no/such/file.csv", out, 5), MTS_ERANGE);
    int64_t id;
    assert_int_equal(mts_imports_begin(NULL, "ohlcv", "x", "y", &id), MTS_EINVAL);
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", NULL, "y", &id), MTS_EINVAL);
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "x", NULL, NULL), MTS_EINVAL);
    assert_int_equal(mts_imports_outstanding(NULL, "ohlcv", "x", NULL, NULL), MTS_EINVAL);
}

/* Runs are per (asset, interval): an unfinished 1h import makes the 1h bars
 * suspect, not the 1d bars of the same asset; its warning names the
 * interval and the command that fixes it. A run with no interval (made
 * before schema v6) counts for every interval. */
static void test_per_interval(void **state) {
    fx_t *f = *state;
    int64_t h, d, old;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/coin_1h.csv", &h), 0);
    assert_int_equal(mts_imports_set_interval(f->s, h, "1h"), 0);
    assert_int_equal(mts_imports_progress(f->s, h, 10000), 0);      /* killed after a batch */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/coin_1d.csv", &d), 0);
    assert_int_equal(mts_imports_set_interval(f->s, d, "1d"), 0);
    assert_int_equal(mts_imports_end(f->s, d, 300, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1h", NULL), 1);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1d", NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "4h", NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", NULL, NULL), 1);   /* any interval */
    char *w = NULL;
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", "1d", &w), 0);
    assert_null(w);
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", "1h", &w), 1);
    assert_non_null(strstr(w, "coin 1h: the import of /data/coin_1h.csv started "));
    assert_non_null(strstr(w, "re-run it: mts import csv /data/coin_1h.csv --asset coin --interval 1h"));
    mts_free(w);
    w = NULL;
    /* the same file completed at another interval does not clear it */
    int64_t again;
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/coin_1h.csv", &again), 0);
    assert_int_equal(mts_imports_set_interval(f->s, again, "4h"), 0);
    assert_int_equal(mts_imports_end(f->s, again, 5, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1h", NULL), 1);
    /* completed at its own interval it does */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/coin_1h.csv", &again), 0);
    assert_int_equal(mts_imports_set_interval(f->s, again, "1h"), 0);
    assert_int_equal(mts_imports_end(f->s, again, 20000, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1h", NULL), 0);
    /* a run of before v6 (interval NULL) left unfinished: every interval warns */
    assert_int_equal(mts_imports_begin(f->s, "ohlcv", "coin", "/data/old.csv", &old), 0);
    assert_int_equal(mts_imports_progress(f->s, old, 10000), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1d", NULL), 1);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "coin", "1h", NULL), 1);
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "coin", "1d", &w), 1);
    assert_non_null(strstr(w, "coin: the import of /data/old.csv"));
    assert_non_null(strstr(w, "--asset coin"));
    assert_null(strstr(w, "--interval"));
    mts_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outstanding_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warning_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_or_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_interval, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
