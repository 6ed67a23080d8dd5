/* test_funding.c — market/funding.c (settlement events from funding rows:
 * settlement rows at floor(ts_ms/1000), stream predictions for a next funding
 * time T: the last rate known before T, once T has passed and is not
 * settled), store/csv.c mts_csv_import_funding (bad lines, duplicates, rows
 * already stored kept, other symbols/exchanges untouched, the whole file
 * refused for a time outside 1970..2100), mts_provider_funding_events
 * (raw ms, cut at `to`, loaded once) and the first-use import of the bundled
 * files. Expected values are written out by hand in the comments; the bundled
 * file's count and sum come from python3 (csv + math.fsum over the file). */
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

#include "tmpdb.h"
#include "market/funding.h"
#include "market/provider.h"
#include "store/csv.h"
#include "store/store_internal.h"
#include "util/config.h"

/* ---- events from rows ---- */

static void test_settlements_floor_sorted_one_per_second(void **state) {
    (void)state;
    /* Bybit order (newest first), a jittered Binance stamp, two rows in the
     * second 57600 (the later stamp, 57600900, wins), a NaN rate (no event),
     * marks 0 / negative (not known -> NaN) */
    int64_t ms[] = {57600900, 28800002, 57600100, 1000, 86400000};
    double rate[] = {0.0003, -0.0001, 0.0009, NAN, 0.0002};
    double mark[] = {100, 0, 101, 5, -1};
    mts_funding_events_t ev;
    assert_int_equal(mts_funding_events_build_ms(ms, rate, mark, NULL, 5, &ev), 0);
    assert_int_equal(ev.n, 3);
    assert_int_equal(ev.ts[0], 28800);
    assert_int_equal(ev.ts[1], 57600);
    assert_int_equal(ev.ts[2], 86400);
    assert_true(ev.rate[0] == -0.0001);
    assert_true(ev.rate[1] == 0.0003);
    assert_true(ev.rate[2] == 0.0002);
    assert_true(isnan(ev.mark[0]));
    assert_true(ev.mark[1] == 100);
    assert_true(isnan(ev.mark[2]));
    mts_funding_events_free(&ev);
    assert_null(ev.ts);
    assert_int_equal(ev.n, 0);
}

static void test_stream_last_rate_before_T(void **state) {
    (void)state;
    /* T = 28800 s. Predictions for T at 28700.000 (0.0001) and 28799.500
     * (0.0002, mark 50000): the last before T is 0.0002. A row for T stamped
     * at 28800.300 (late, 0.0007) is stale, not used. A row at 28800.100
     * predicts T2 = 57600 (0.0003): T passed (rows at/after 28800000 ms), T2
     * not (the last row is at 28800300 < 57600000) -> no event for T2. */
    int64_t ms[] = {28700000, 28799500, 28800100, 28800300};
    double rate[] = {0.0001, 0.0002, 0.0003, 0.0007};
    double mark[] = {49000, 50000, 50100, 50200};
    int64_t nx[] = {28800000, 28800000, 57600000, 28800000};
    mts_funding_events_t ev;
    assert_int_equal(mts_funding_events_build_ms(ms, rate, mark, nx, 4, &ev), 0);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.ts[0], 28800);
    assert_true(ev.rate[0] == 0.0002);
    assert_true(ev.mark[0] == 50000);
    mts_funding_events_free(&ev);
}

static void test_stream_settled_or_only_stale(void **state) {
    (void)state;
    /* settlement of T = 28800 at 28800002 ms (rate -0.0005) and a prediction
     * for T (0.0002): T is settled, the settlement's rate counts. For
     * T2 = 57600 only a row stamped after T2 (57600500) -> no event. A
     * prediction for T3 = 86400 at 86000000 with a row at 86400000 (T3 passed,
     * no settlement within 60 s: the nearest is 28800) -> event 86400, 0.0004. */
    int64_t ms[] = {28000000, 28800002, 57600500, 86000000, 86400000};
    double rate[] = {0.0002, -0.0005, 0.0006, 0.0004, NAN};
    int64_t nx[] = {28800000, 0, 57600000, 86400000, 115200000};
    mts_funding_events_t ev;
    assert_int_equal(mts_funding_events_build_ms(ms, rate, NULL, nx, 5, &ev), 0);
    assert_int_equal(ev.n, 2);
    assert_int_equal(ev.ts[0], 28800);
    assert_true(ev.rate[0] == -0.0005);
    assert_int_equal(ev.ts[1], 86400);
    assert_true(ev.rate[1] == 0.0004);
    assert_true(isnan(ev.mark[1]));
    mts_funding_events_free(&ev);
}

static void test_build_from_provider_rows(void **state) {
    (void)state;
    /* mts_funding_t times are ceil(ts_ms/1000): a jittered settlement
     * 1765555200002 reads 1765555201 and is the event's time (funding.h);
     * next_funding 0 = settlement. A prediction row at ts 1765584000 for
     * next_funding 1765584000 is not before T (ts < T fails) -> nothing, and
     * the settlement at 1765584000 (ts) covers it anyway. */
    int64_t ts[] = {1765555201, 1765584000, 1765584000};
    double rate[] = {3.383e-05, 1.21e-06, 9e-06};
    double mark[] = {NAN, NAN, 90000};
    int64_t nx[] = {0, 0, 1765584000};
    mts_funding_t rows = {ts, rate, mark, nx, 3};
    mts_funding_events_t ev;
    assert_int_equal(mts_funding_events_build(&rows, &ev), 0);
    assert_int_equal(ev.n, 2);
    assert_int_equal(ev.ts[0], 1765555201);
    assert_int_equal(ev.ts[1], 1765584000);
    assert_true(ev.rate[1] == 1.21e-06);
    mts_funding_events_free(&ev);
    mts_funding_t none = {0};
    assert_int_equal(mts_funding_events_build(&none, &ev), 0);
    assert_int_equal(ev.n, 0);
    assert_int_equal(mts_funding_events_build(NULL, &ev), MTS_EINVAL);
}

/* ---- import ---- */

typedef struct fx {
    char dir[64], path[128], csv[160], errf[160];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("funding", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    snprintf(f->csv, sizeof f->csv, "%s/f.csv", f->dir);
    snprintf(f->errf, sizeof f->errf, "%s/err.txt", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

static void write_file(const char *path, const char *text) {
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    fputs(text, o);
    fclose(o);
}

/* Imports f->csv; the err stream's text into msgs. */
static int import(fx_t *f, const char *sym, const char *ex, mts_funding_import_t *rep, char *msgs, size_t n) {
    FILE *e = fopen(f->errf, "w+");
    int rc = mts_csv_import_funding(f->s, f->csv, sym, ex, NULL, e, rep);
    rewind(e);
    size_t got = fread(msgs, 1, n - 1, e);
    msgs[got] = 0;
    fclose(e);
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

static double q_dbl(fx_t *f, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(mts_store_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_import_bad_lines(void **state) {
    fx_t *f = *state;
    /* line 2 ok; 3 rate not a number; 4 |rate| > 1; 5 mark 0; 6 and 8 the same
     * time with different rates (both rejected); 7 ok with a mark; 9 = line 2
     * again with the same rate (stored once); 10 blank; 11 ok (negative rate) */
    write_file(f->csv, "ts,rate,mark_price\n"
                       "1765555200002,0.0001,\n"
                       "1765584000001,abc,\n"
                       "1765612800006,1.5,\n"
                       "1765641600000,0.0002,0\n"
                       "1765670400000,0.0003,\n"
                       "1765699200000,-2.5e-05,90000.5\n"
                       "1765670400000,0.0004,\n"
                       "1765555200002,0.0001,\n"
                       "\n"
                       "1765728000000,-0.0001,\n");
    mts_funding_import_t rep;
    char msgs[4096];
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARTIAL);
    assert_int_equal(rep.rows_read, 10);
    assert_int_equal(rep.rows_rejected, 5);     /* lines 3, 4, 5, 6, 8 */
    assert_int_equal(rep.rows_blank, 1);
    assert_int_equal(rep.dup, 1);
    assert_int_equal(rep.rows_ok, 3);           /* lines 2, 7, 11 */
    assert_int_equal(rep.stored, 3);
    assert_int_equal(rep.first_ms, 1765555200002);
    assert_int_equal(rep.last_ms, 1765728000000);
    assert_string_equal(rep.unit, "ms");
    assert_non_null(strstr(msgs, "f.csv:3: rate is not a number"));
    assert_non_null(strstr(msgs, "f.csv:4: rate 1.5 is beyond -1..1"));
    assert_non_null(strstr(msgs, "f.csv:5: mark_price 0 is not > 0"));
    assert_non_null(strstr(msgs, "f.csv:6: time 1765670400000 is also on line 8"));
    assert_non_null(strstr(msgs, "f.csv:8: time 1765670400000 is also on line 6"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates"), 3);
    /* 0.0001 - 2.5e-05 - 0.0001 = -2.5e-05 */
    assert_true(fabs(q_dbl(f, "SELECT SUM(rate) FROM funding_rates") - -2.5e-05) < 1e-15);
    assert_true(q_dbl(f, "SELECT mark_price FROM funding_rates WHERE ts_ms = 1765699200000") == 90000.5);
    assert_true(isnan(q_dbl(f, "SELECT mark_price FROM funding_rates WHERE ts_ms = 1765555200002")));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates WHERE next_funding_ms IS NOT NULL"), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM import_runs WHERE kind = 'funding' AND target = "
                              "'BTCUSDT@binance' AND status = 'complete' AND rows = 3"), 1);
}

static void test_import_keeps_stored_rows_and_other_series(void **state) {
    fx_t *f = *state;
    char msgs[4096];
    mts_funding_import_t rep;
    /* other series first: ETHUSDT@binance and BTCUSDT@bybit at the same times */
    write_file(f->csv, "ts,rate\n1765555200000,0.5\n1765584000000,0.25\n");
    assert_int_equal(import(f, "ETHUSDT", "binance", &rep, msgs, sizeof msgs), 0);
    assert_int_equal(import(f, "BTCUSDT", "bybit", &rep, msgs, sizeof msgs), 0);
    /* seconds; BTCUSDT@binance */
    write_file(f->csv, "ts,rate\n1765555200,0.0001\n1765584000,0.0002\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), 0);
    assert_int_equal(rep.stored, 2);
    assert_string_equal(rep.unit, "s");
    /* again, one rate changed, one new row: the stored 0.0002 is kept */
    write_file(f->csv, "ts,rate\n1765555200,0.0001\n1765584000,0.0009\n1765612800,0.0003\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARTIAL);
    assert_int_equal(rep.stored, 1);
    assert_int_equal(rep.same, 1);
    assert_int_equal(rep.differ, 1);
    assert_int_equal(rep.rows_rejected, 0);
    assert_non_null(strstr(msgs, "f.csv:3: time 1765584000000 is already stored for BTCUSDT from binance with "
                                 "rate 0.0002; kept, this file's rate 0.0009 was not stored"));
    assert_true(q_dbl(f, "SELECT rate FROM funding_rates WHERE exchange = 'binance' AND symbol = 'BTCUSDT' "
                         "AND ts_ms = 1765584000000") == 0.0002);
    /* the other series are untouched: 0.5 + 0.25 each */
    assert_true(q_dbl(f, "SELECT SUM(rate) FROM funding_rates WHERE symbol = 'ETHUSDT'") == 0.75);
    assert_true(q_dbl(f, "SELECT SUM(rate) FROM funding_rates WHERE exchange = 'bybit'") == 0.75);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates"), 2 + 2 + 3);
}

static void test_import_binance_rest_columns(void **state) {
    fx_t *f = *state;
    char msgs[4096];
    mts_funding_import_t rep;
    /* GET /fapi/v1/fundingRate as CSV: symbol,fundingTime,fundingRate,markPrice;
     * an empty markPrice (old rows) is no mark; an ETHUSDT row is rejected */
    write_file(f->csv, "symbol,fundingTime,fundingRate,markPrice\n"
                       "BTCUSDT,1765555200002,0.00003383,90123.4\n"
                       "BTCUSDT,1765584000001,0.00000121,\n"
                       "ETHUSDT,1765584000001,0.0001,3000\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARTIAL);
    assert_int_equal(rep.stored, 2);
    assert_int_equal(rep.rows_rejected, 1);
    assert_non_null(strstr(msgs, "f.csv:4: symbol ETHUSDT is not --symbol BTCUSDT"));
    assert_true(q_dbl(f, "SELECT mark_price FROM funding_rates WHERE ts_ms = 1765555200002") == 90123.4);
    /* microseconds: 1765555200002123 us -> 1765555200002 ms */
    write_file(f->csv, "time,funding_rate\n1765555200002123,0.00003383\n");
    assert_int_equal(import(f, "BTCUSDT", "okx", &rep, msgs, sizeof msgs), 0);
    assert_int_equal(q_int(f, "SELECT ts_ms FROM funding_rates WHERE exchange = 'okx'"), 1765555200002);
}

static void test_import_refused_files(void **state) {
    fx_t *f = *state;
    char msgs[4096];
    mts_funding_import_t rep;
    /* a time in 2200 (7258118400 s): the whole file refused, nothing stored */
    write_file(f->csv, "ts,rate\n1765555200,0.0001\n7258118400,0.0001\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARSE);
    assert_non_null(strstr(msgs, "f.csv:3: time 7258118400"));
    /* mixed units: refused */
    write_file(f->csv, "ts,rate\n1765555200,0.0001\n1765584000000,0.0001\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARSE);
    assert_non_null(strstr(msgs, "f.csv:3:"));
    /* no rate column */
    write_file(f->csv, "ts,value\n1765555200,0.0001\n");
    assert_int_equal(import(f, "BTCUSDT", "binance", &rep, msgs, sizeof msgs), MTS_EPARSE);
    assert_non_null(strstr(msgs, "no rate column"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates"), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM import_runs WHERE status LIKE 'failed%' AND rows = 0"), 3);
    mts_csv_opts_t o = {.interval = "1h"};
    assert_int_equal(mts_csv_import_funding(f->s, f->csv, "BTCUSDT", "binance", &o, NULL, &rep), MTS_EINVAL);
    assert_int_equal(mts_csv_import_funding(f->s, f->csv, "BTCUSDT", NULL, NULL, NULL, &rep), MTS_EINVAL);
}

/* ---- provider ---- */

static void test_provider_events(void **state) {
    fx_t *f = *state;
    char *msg = NULL;
    /* settlements at 28800002 and 57600000 ms; a stream prediction for
     * 86400 s (0.0004, before it) and a row after it; a later settlement at
     * 115200000 beyond `to` = 100000 */
    assert_int_equal(sqlite3_exec(mts_store_db(f->s),
        "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price, next_funding_ms) VALUES"
        " ('binance','BTCUSDT',28800002,0.0001,NULL,NULL),"
        " ('binance','BTCUSDT',57600000,-0.0002,50000,NULL),"
        " ('binance','BTCUSDT',86000000,0.0004,51000,86400000),"
        " ('binance','BTCUSDT',86400500,0.0001,51000,115200000),"
        " ('binance','BTCUSDT',115200000,0.0003,NULL,NULL)", NULL, NULL, &msg), SQLITE_OK);
    mts_provider_t *p;
    assert_int_equal(mts_provider_new(f->s, NULL, 100000, &p), 0);
    const mts_funding_events_t *ev = mts_provider_funding_events(p, "BTCUSDT", "binance");
    assert_non_null(ev);
    assert_int_equal(ev->n, 3);
    assert_int_equal(ev->ts[0], 28800);      /* floor(28800002 / 1000), not the provider's ceil 28801 */
    assert_int_equal(ev->ts[1], 57600);
    assert_int_equal(ev->ts[2], 86400);
    assert_true(ev->rate[2] == 0.0004);
    assert_true(ev->mark[1] == 50000);
    assert_ptr_equal(mts_provider_funding_events(p, "BTCUSDT", NULL), mts_provider_funding_events(p, "BTCUSDT", NULL));
    assert_ptr_equal(mts_provider_funding_events(p, "BTCUSDT", "binance"), ev);
    assert_null(mts_provider_funding_events(p, "ETHUSDT", "binance"));
    assert_non_null(strstr(mts_provider_errmsg(p), "mts import funding FILE --symbol ETHUSDT --exchange binance"));
    mts_provider_free(p);
}

static void test_first_use_bundled(void **state) {
    fx_t *f = *state;
    /* config/mts.json datasets.funding."BTCUSDT@binance" -> the bundled file.
     * python3: 540 rows, math.fsum of the rates = 0.00756491, ts 1765555200002
     * .. 1781078400011 (floor s 1765555200 .. 1781078400) */
    const char *root = mts_root();
    mts_provider_t *p;
    assert_int_equal(mts_provider_new(f->s, root, INT64_MAX, &p), 0);
    const mts_funding_events_t *ev = mts_provider_funding_events(p, "BTCUSDT", "binance");
    assert_non_null(ev);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates WHERE exchange = 'binance' AND symbol = 'BTCUSDT'"),
                     540);
    assert_true(fabs(q_dbl(f, "SELECT SUM(rate) FROM funding_rates") - 0.00756491) < 1e-12);
    assert_int_equal(ev->n, 540);
    assert_int_equal(ev->ts[0], 1765555200);
    assert_int_equal(ev->ts[539], 1781078400);
    double sum = 0;
    for (int64_t i = 0; i < ev->n; i++) {
        sum += ev->rate[i];
        assert_int_equal(ev->ts[i] % 28800, 0);   /* every settlement on the 8 h grid once floored */
    }
    assert_true(fabs(sum - 0.00756491) < 1e-12);
    /* the rows themselves (ctx:funding): 540 of them — more than the 256 of the
     * provider's first allocation, which its growth once failed to record */
    const mts_funding_t *rows = mts_provider_funding(p, "BTCUSDT", "binance");
    assert_non_null(rows);
    assert_int_equal(rows->n, 540);
    double rsum = 0;
    for (int64_t i = 0; i < rows->n; i++) rsum += rows->rate[i];
    assert_true(fabs(rsum - 0.00756491) < 1e-12);
    assert_int_equal(rows->ts[0], 1765555201);   /* ceil(1765555200002 / 1000) */
    /* a second provider: already there, nothing imported again */
    mts_provider_t *p2;
    assert_int_equal(mts_provider_new(f->s, root, INT64_MAX, &p2), 0);
    assert_non_null(mts_provider_funding_events(p2, "BTCUSDT", "binance"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM import_runs WHERE kind = 'funding'"), 1);
    /* exchange NULL with two bundled exchanges: nothing imported for bybit */
    assert_int_equal(mts_store_ensure_funding(f->s, root, "BTCUSDT", NULL), 0);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM funding_rates WHERE exchange = 'bybit'"), 0);
    mts_provider_free(p2);
    mts_provider_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settlements_floor_sorted_one_per_second),
        cmocka_unit_test(test_stream_last_rate_before_T),
        cmocka_unit_test(test_stream_settled_or_only_stale),
        cmocka_unit_test(test_build_from_provider_rows),
        cmocka_unit_test_setup_teardown(test_import_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_keeps_stored_rows_and_other_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_binance_rest_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_refused_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_use_bundled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
