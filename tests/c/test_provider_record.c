/* test_provider_record.c — market/provider.h "Recording and replay": the
 * recorder gets each series loaded from the store once, in the native layout
 * (columns one after the other, 8 bytes a value), and the first failed request
 * of a series once; mts_provider_put seeds a series (the store is not read);
 * a lookup answers before the store (a recorded series kept, a recorded
 * failure failing again without being kept, anything else from the store, not
 * recorded twice); mts_provider_what names the series. Values by hand in the
 * comments; every database lives in a fresh mkdtemp directory. */
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
#include "market/provider.h"
#include "store/store_internal.h"

typedef struct fx {
    char dir[64];
    char path[128];
    mts_store_t *s;
    mts_provider_t *p;
} fx_t;

static void exec(fx_t *f, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(mts_store_db(f->s), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sql: %s\n", msg ? msg : "?");
    assert_int_equal(rc, SQLITE_OK);
}

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("provrec", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    if (mts_provider_new(f->s, NULL, INT64_MAX, &f->p)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    mts_provider_free(f->p);
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* ---- a recorder that keeps copies of what it was handed ---- */
typedef struct rec {
    int n;
    int kind[8];
    char what[8][MTS_PROVIDER_WHAT_MAX];
    int64_t rows[8];
    char data[8][512];
    size_t size[8];
} rec_t;

static void on_load(void *ud, int kind, const char *what, int64_t n, const void *data, size_t size) {
    rec_t *r = ud;
    assert_true(r->n < 8);
    assert_true(size <= sizeof r->data[0]);
    r->kind[r->n] = kind;
    snprintf(r->what[r->n], sizeof r->what[0], "%s", what);
    r->rows[r->n] = n;
    memcpy(r->data[r->n], data, size);
    r->size[r->n] = size;
    r->n++;
}

static int64_t i64_at(const char *blob, size_t k) {
    int64_t v;
    memcpy(&v, blob + 8 * k, 8);
    return v;
}
static double dbl_at(const char *blob, size_t k) {
    double v;
    memcpy(&v, blob + 8 * k, 8);
    return v;
}

static void test_what_names_a_series(void **state) {
    (void)state;
    char w[MTS_PROVIDER_WHAT_MAX];
    assert_int_equal(mts_provider_what(MTS_PROVIDER_BARS, "ethereum", "4h", w, sizeof w), 0);
    assert_string_equal(w, "bars ethereum 4h");
    assert_int_equal(mts_provider_what(MTS_PROVIDER_BARS, "ethereum", NULL, w, sizeof w), 0);
    assert_string_equal(w, "bars ethereum 1d");            /* the default interval, as a request asks */
    assert_int_equal(mts_provider_what(MTS_PROVIDER_MACRO, "DGS10", "x", w, sizeof w), 0);
    assert_string_equal(w, "macro DGS10");
    assert_int_equal(mts_provider_what(MTS_PROVIDER_FUNDING, "BTCUSDT", NULL, w, sizeof w), 0);
    assert_string_equal(w, "funding BTCUSDT");
    assert_int_equal(mts_provider_what(MTS_PROVIDER_BOOK, "BTCUSDT", "binance", w, sizeof w), 0);
    assert_string_equal(w, "book BTCUSDT binance");
    assert_int_equal(mts_provider_what(MTS_PROVIDER_BOOK, "BTCUSDT", "binance", w, 10), -1);   /* does not fit */
    assert_int_equal(mts_provider_what(99, "BTCUSDT", NULL, w, sizeof w), -1);
    assert_int_equal(mts_provider_columns(MTS_PROVIDER_BARS), 6);
    assert_int_equal(mts_provider_columns(MTS_PROVIDER_MACRO), 2);
    assert_int_equal(mts_provider_columns(MTS_PROVIDER_FUNDING), 4);
    assert_int_equal(mts_provider_columns(MTS_PROVIDER_BOOK), 6);
    assert_int_equal(mts_provider_columns(0), 0);
}

static void test_each_load_recorded_once(void **state) {
    fx_t *f = *state;
    rec_t r = {0};
    mts_provider_on_load(f->p, on_load, &r);
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price, next_funding_ms) VALUES"
            " ('binance', 'BTCUSDT', 1704787200001, 0.0003, NULL, NULL),"
            " ('binance', 'BTCUSDT', 1704787200000, 0.0002, 45000.5, 1704816000000)");
    exec(f, "INSERT INTO macro_indicators(indicator, date, value) VALUES ('DGS10', '2024-01-08', 4.01)");
    const mts_funding_t *fr = mts_provider_funding(f->p, "BTCUSDT", NULL);
    assert_non_null(fr);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.kind[0], MTS_PROVIDER_FUNDING);
    assert_string_equal(r.what[0], "funding BTCUSDT");
    assert_int_equal(r.rows[0], 2);
    /* 2 rows x 4 columns: ts (ceil of ts_ms / 1000), rate, mark (NaN when not
     * stored), next funding (s; 0 when not stored) */
    assert_int_equal(r.size[0], 2 * 4 * 8);
    assert_int_equal(i64_at(r.data[0], 0), 1704787200);
    assert_int_equal(i64_at(r.data[0], 1), 1704787201);
    assert_true(dbl_at(r.data[0], 2) == 0.0002 && dbl_at(r.data[0], 3) == 0.0003);
    assert_true(dbl_at(r.data[0], 4) == 45000.5 && isnan(dbl_at(r.data[0], 5)));
    assert_int_equal(i64_at(r.data[0], 6), 1704816000);
    assert_int_equal(i64_at(r.data[0], 7), 0);
    /* asked again: cached, nothing more recorded */
    assert_ptr_equal(mts_provider_funding(f->p, "BTCUSDT", NULL), fr);
    assert_int_equal(r.n, 1);
    /* a macro series: 1 row x 2 columns (2024-01-08 00:00 UTC = 1704672000) */
    assert_non_null(mts_provider_macro(f->p, "DGS10"));
    assert_int_equal(r.n, 2);
    assert_string_equal(r.what[1], "macro DGS10");
    assert_int_equal(r.size[1], 16);
    assert_int_equal(i64_at(r.data[1], 0), 1704672000);
    assert_true(dbl_at(r.data[1], 1) == 4.01);
    /* a failure: recorded once with its message, however often it is asked */
    assert_null(mts_provider_macro(f->p, "NOPE"));
    assert_null(mts_provider_macro(f->p, "NOPE"));
    assert_int_equal(r.n, 3);
    assert_string_equal(r.what[2], "macro NOPE");
    assert_int_equal(r.rows[2], -1);
    assert_int_equal(r.size[2], strlen(mts_provider_errmsg(f->p)));
    assert_memory_equal(r.data[2], mts_provider_errmsg(f->p), r.size[2]);
    /* a refused request (no such interval) never asked the store: not recorded */
    assert_null(mts_provider_bars(f->p, "bitcoin", "7x"));
    assert_int_equal(r.n, 3);
}

static void test_put_seeds_a_series(void **state) {
    fx_t *f = *state;
    /* the store has other funding rows for BTCUSDT: the seeded ones are answered */
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate) VALUES ('binance', 'BTCUSDT', 5000, 0.5)");
    char blob[2 * 4 * 8];
    int64_t ts[2] = {100, 200}, nx[2] = {300, 0};
    double rate[2] = {0.001, -0.002}, mark[2] = {10.5, NAN};
    memcpy(blob, ts, 16);
    memcpy(blob + 16, rate, 16);
    memcpy(blob + 32, mark, 16);
    memcpy(blob + 48, nx, 16);
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_FUNDING, "BTCUSDT", NULL, blob, sizeof blob), 0);
    const mts_funding_t *fr = mts_provider_funding(f->p, "BTCUSDT", NULL);
    assert_non_null(fr);
    assert_int_equal(fr->n, 2);
    assert_int_equal(fr->ts[1], 200);
    assert_true(fr->rate[0] == 0.001 && fr->rate[1] == -0.002 && fr->mark_price[0] == 10.5 && isnan(fr->mark_price[1]));
    assert_int_equal(fr->next_funding[0], 300);
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_FUNDING, "BTCUSDT", NULL, blob, sizeof blob), MTS_EVALID);
    /* another exchange named is another series */
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_FUNDING, "BTCUSDT", "bybit", blob, 32), 0);
    assert_int_equal(mts_provider_funding(f->p, "BTCUSDT", "bybit")->n, 1);   /* 32 bytes = 1 row of 4 */
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_BOOK, "BTCUSDT", NULL, blob, 40), MTS_EPARSE);
    assert_int_equal(mts_provider_put(f->p, 0, "BTCUSDT", NULL, blob, 32), MTS_EINVAL);
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_MACRO, "", NULL, blob, 16), MTS_EINVAL);
    /* bars without an interval: the default one, as a request without one asks */
    double bars[6] = {0};
    int64_t t0 = 86400;
    memcpy(&bars[0], &t0, 8);
    bars[1] = 1, bars[2] = 3, bars[3] = 0.5, bars[4] = 2, bars[5] = 7;
    assert_int_equal(mts_provider_put(f->p, MTS_PROVIDER_BARS, "ethx", NULL, bars, sizeof bars), 0);
    const mts_bars_t *b = mts_provider_bars(f->p, "ethx", "1d");
    assert_non_null(b);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->ts[0], 86400);
    assert_true(b->open[0] == 1 && b->high[0] == 3 && b->low[0] == 0.5 && b->close[0] == 2 && b->volume[0] == 7);
}

/* ---- a lookup answering from a small table ---- */
typedef struct look {
    int calls;
    char asked[8][MTS_PROVIDER_WHAT_MAX];
    char macro[16];       /* "macro DGS10": ts 1000, 2000; v 1.5, 2.5 */
} look_t;

static int lookup(void *ud, int kind, const char *what, const void **data, size_t *size) {
    look_t *l = ud;
    if (l->calls < 8) snprintf(l->asked[l->calls], sizeof l->asked[0], "%s", what);
    l->calls++;
    if (!strcmp(what, "macro DGS10")) {
        assert_int_equal(kind, MTS_PROVIDER_MACRO);
        static char blob[32];
        int64_t ts[2] = {1000, 2000};
        double v[2] = {1.5, 2.5};
        memcpy(blob, ts, 16);
        memcpy(blob + 16, v, 16);
        *data = blob;
        *size = sizeof blob;
        return 1;
    }
    if (!strcmp(what, "funding ETHUSDT")) {
        static const char msg[] = "no funding stored for ETHUSDT (as recorded)";
        *data = msg;
        *size = strlen(msg);
        return 2;
    }
    return 0;
}

static void test_lookup_answers_before_the_store(void **state) {
    fx_t *f = *state;
    look_t l = {0};
    rec_t r = {0};
    mts_provider_set_lookup(f->p, lookup, &l);
    mts_provider_on_load(f->p, on_load, &r);
    /* the store has other DGS10 values (and ETHUSDT funding): the record wins */
    exec(f, "INSERT INTO macro_indicators(indicator, date, value) VALUES ('DGS10', '2024-01-08', 4.01),"
            " ('DGS2', '2024-01-08', 4.4)");
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate) VALUES ('binance', 'ETHUSDT', 1000, 0.1)");
    const mts_series_t *m = mts_provider_macro(f->p, "DGS10");
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_int_equal(m->ts[0], 1000);
    assert_true(m->v[0] == 1.5 && m->v[1] == 2.5);
    assert_ptr_equal(mts_provider_macro(f->p, "DGS10"), m);   /* kept: asked once */
    assert_int_equal(l.calls, 1);
    /* a recorded failure: the recorded message, asked again next time */
    assert_null(mts_provider_funding(f->p, "ETHUSDT", NULL));
    assert_string_equal(mts_provider_errmsg(f->p), "no funding stored for ETHUSDT (as recorded)");
    assert_null(mts_provider_funding(f->p, "ETHUSDT", NULL));
    assert_int_equal(l.calls, 3);
    assert_string_equal(l.asked[2], "funding ETHUSDT");
    assert_int_equal(r.n, 0);          /* nothing from the record is recorded again */
    /* not recorded: the store (1704672000 = 2024-01-08), and that load is recorded */
    const mts_series_t *d2 = mts_provider_macro(f->p, "DGS2");
    assert_non_null(d2);
    assert_int_equal(d2->n, 1);
    assert_int_equal(d2->ts[0], 1704672000);
    assert_true(d2->v[0] == 4.4);
    assert_int_equal(l.calls, 4);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.what[0], "macro DGS2");
    /* funding events (backtests) never go through the lookup */
    (void)mts_provider_funding_events(f->p, "ETHUSDT", NULL);
    assert_int_equal(l.calls, 4);
    assert_int_equal(r.n, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_names_a_series),
        cmocka_unit_test_setup_teardown(test_each_load_recorded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_seeds_a_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_answers_before_the_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
