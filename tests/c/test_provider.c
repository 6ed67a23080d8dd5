/* test_provider.c — market/provider.c: bars of a stored interval, macro by
 * name, funding rates and top of book from rows inserted here (values
 * computed by hand in the comments), loaded once (same pointer on the second
 * ask), errors naming what is missing and how to fix it, several exchanges
 * refused without a name. Every database lives in a fresh mkdtemp directory. */
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
    if (tmpdb_open("provider", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
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

static void test_bars_of_a_stored_interval(void **state) {
    fx_t *f = *state;
    /* rows as (interval, ts, open, high, low, close, volume), stored through the store's upsert */
    static const double rows[3][7] = {{4, 14400, 1, 2, 0.5, 1.5, 10}, {4, 0, 1, 1, 1, 1, 1}, {24, 0, 9, 9, 9, 9, 9}};
    for (int r = 0; r < 3; r++) {
        mts_bars_t one = {0};
        assert_int_equal(mts_bars_reserve(&one, 1), 0);
        one.ts[0] = (int64_t)rows[r][1];
        one.open[0] = rows[r][2]; one.high[0] = rows[r][3]; one.low[0] = rows[r][4];
        one.close[0] = rows[r][5]; one.volume[0] = rows[r][6];
        one.n = 1;
        assert_int_equal(mts_store_upsert_ohlcv(f->s, "bitcoin", rows[r][0] == 4 ? "4h" : "1d", &one), 0);
        mts_bars_free(&one);
    }
    const mts_bars_t *b = mts_provider_bars(f->p, "bitcoin", "4h");
    assert_non_null(b);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->ts[0], 0);
    assert_int_equal(b->ts[1], 14400);
    assert_true(b->close[1] == 1.5 && b->low[1] == 0.5 && b->volume[1] == 10);
    assert_ptr_equal(mts_provider_bars(f->p, "bitcoin", "4h"), b);    /* loaded once */
    assert_null(mts_provider_bars(f->p, "bitcoin", "1h"));
    assert_non_null(strstr(mts_provider_errmsg(f->p), "no 1h bars for bitcoin: stored are 4h, 1d"));
    assert_non_null(strstr(mts_provider_errmsg(f->p), "import them with: mts import csv FILE --asset bitcoin --interval 1h"));
    /* 8h is not stored: resampled from the two 4h bars (first open, max high, min low, last close, sum) */
    const mts_bars_t *e = mts_provider_bars(f->p, "bitcoin", "8h");
    assert_non_null(e);
    assert_int_equal(e->n, 1);
    assert_int_equal(e->ts[0], 0);
    assert_true(e->open[0] == 1 && e->high[0] == 2 && e->low[0] == 0.5 && e->close[0] == 1.5 && e->volume[0] == 11);
    assert_null(mts_provider_bars(f->p, "bitcoin", "7h"));
    assert_non_null(strstr(mts_provider_errmsg(f->p), "unknown interval '7h'"));
}

static void test_macro_by_name(void **state) {
    fx_t *f = *state;
    exec(f, "INSERT INTO macro_indicators(indicator, date, value) VALUES ('DGS10', '2024-01-09', 4.02),"
            " ('DGS10', '2024-01-08', 4.01)");
    const mts_series_t *m = mts_provider_macro(f->p, "DGS10");
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_int_equal(m->ts[0], 1704672000);     /* 2024-01-08T00:00:00Z */
    assert_true(m->v[0] == 4.01 && m->v[1] == 4.02);
    assert_null(mts_provider_macro(f->p, "NOPE"));
    assert_non_null(strstr(mts_provider_errmsg(f->p), "no macro series NOPE"));
}

static void test_funding_rows_known_from_their_second(void **state) {
    fx_t *f = *state;
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price, next_funding_ms) VALUES"
            " ('binance', 'BTCUSDT', 1704787200001, 0.0003, NULL, NULL),"
            " ('binance', 'BTCUSDT', 1704787200000, 0.0002, 45000.5, 1704816000000)");
    const mts_funding_t *fr = mts_provider_funding(f->p, "BTCUSDT", NULL);
    assert_non_null(fr);
    assert_int_equal(fr->n, 2);
    assert_int_equal(fr->ts[0], 1704787200);       /* a whole second: itself */
    assert_int_equal(fr->ts[1], 1704787201);       /* 1 ms later: known from the next second */
    assert_true(fr->rate[0] == 0.0002 && fr->rate[1] == 0.0003);
    assert_true(fr->mark_price[0] == 45000.5 && isnan(fr->mark_price[1]));
    assert_int_equal(fr->next_funding[0], 1704816000);
    assert_int_equal(fr->next_funding[1], 0);
    assert_ptr_equal(mts_provider_funding(f->p, "BTCUSDT", NULL), fr);
    assert_null(mts_provider_funding(f->p, "ETHUSDT", NULL));
    assert_string_equal(mts_provider_errmsg(f->p),
                        "no funding stored for ETHUSDT (table funding_rates; record it with: mts stream)");
    /* a second exchange: name one */
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate) VALUES ('bybit', 'BTCUSDT', 1, 0.1)");
    assert_null(mts_provider_funding(f->p, "BTCUSDT", "okx"));
    assert_string_equal(mts_provider_errmsg(f->p), "no funding stored for BTCUSDT from okx (table funding_rates; "
                                                   "record it with: mts stream)");
    mts_provider_t *q;
    assert_int_equal(mts_provider_new(f->s, NULL, INT64_MAX, &q), 0);
    assert_null(mts_provider_funding(q, "BTCUSDT", NULL));
    assert_non_null(strstr(mts_provider_errmsg(q), "stored from several exchanges (binance, bybit)"));
    const mts_funding_t *fb = mts_provider_funding(q, "BTCUSDT", "bybit");
    assert_non_null(fb);
    assert_int_equal(fb->n, 1);
    assert_true(fb->rate[0] == 0.1);
    mts_provider_free(q);
}

static void test_book_top_and_imbalance(void **state) {
    fx_t *f = *state;
    /* snapshot 1 (1000 ms): bids 100 x 3, 99 x 1; ask 101 x 2 ->
     *   mid 100.5, spread 1, imbalance (4 - 2) / 6 = 1/3
     * snapshot 2 (2500 ms): bid 100 x 1; asks 102 x 1, 103 x 2 ->
     *   mid 101, spread 2, imbalance (1 - 3) / 4 = -0.5
     * snapshot 3 (4000 ms): asks only -> bid NaN, mid NaN, imbalance -1 */
    exec(f, "INSERT INTO order_book_snapshots(exchange, symbol, ts_ms, side, level, price, qty) VALUES"
            " ('binance', 'BTCUSDT', 1000, 'bid', 0, 100, 3), ('binance', 'BTCUSDT', 1000, 'bid', 1, 99, 1),"
            " ('binance', 'BTCUSDT', 1000, 'ask', 0, 101, 2), ('binance', 'BTCUSDT', 2500, 'bid', 0, 100, 1),"
            " ('binance', 'BTCUSDT', 2500, 'ask', 0, 102, 1), ('binance', 'BTCUSDT', 2500, 'ask', 1, 103, 2),"
            " ('binance', 'BTCUSDT', 4000, 'ask', 0, 104, 1)");
    const mts_book_top_t *b = mts_provider_book(f->p, "BTCUSDT", NULL);
    assert_non_null(b);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->ts[0], 1);
    assert_int_equal(b->ts[1], 3);
    assert_int_equal(b->ts[2], 4);
    assert_true(b->bid[0] == 100 && b->ask[0] == 101 && b->mid[0] == 100.5 && b->spread[0] == 1);
    assert_true(fabs(b->imbalance[0] - 1.0 / 3.0) < 1e-15);
    assert_true(b->mid[1] == 101 && b->spread[1] == 2 && b->imbalance[1] == -0.5);
    assert_true(isnan(b->bid[2]) && isnan(b->mid[2]) && b->imbalance[2] == -1);
    assert_null(mts_provider_book(f->p, "ETHUSDT", NULL));
    assert_non_null(strstr(mts_provider_errmsg(f->p), "no order book snapshots stored for ETHUSDT"));
}

static void test_to_cuts_the_rows(void **state) {
    fx_t *f = *state;
    exec(f, "INSERT INTO funding_rates(exchange, symbol, ts_ms, rate) VALUES ('binance', 'X', 1000, 1),"
            " ('binance', 'X', 2000, 2), ('binance', 'X', 3000, 3)");
    mts_provider_t *q;
    assert_int_equal(mts_provider_new(f->s, NULL, 2, &q), 0);
    const mts_funding_t *fr = mts_provider_funding(q, "X", NULL);
    assert_non_null(fr);
    assert_int_equal(fr->n, 2);
    mts_provider_free(q);
    assert_int_equal(mts_provider_new(NULL, NULL, 0, &q), MTS_EINVAL);
    assert_null(q);
    mts_provider_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bars_of_a_stored_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_macro_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_funding_rows_known_from_their_second, setup, teardown),
        cmocka_unit_test_setup_teardown(test_book_top_and_imbalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_cuts_the_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
