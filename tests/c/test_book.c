/* test_book.c — the L2 book: snapshot + diffs replayed from the exchanges'
 * wire formats (tests/fixtures/exchanges) equal the expected book level by
 * level, for Binance (U/u rules) and Bybit (u + 1 rule); gaps clear the book.
 * Expected books are worked out by hand in the comments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "feeds/book.h"
#include "feeds/parse_binance.h"
#include "feeds/parse_bybit.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char bufs[8][8192];
    static int next;
    char *b = bufs[next++ % 8];
    *len = fread(b, 1, sizeof bufs[0] - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static mts_feed_event_t EV[64];
static mts_level_t LV[4096];
static mts_parse_buf_t PB = {EV, 64, 0, LV, 4096, 0, 0, 0, 0, 0};

typedef struct { double p, q; } lv_t;

static void expect_side(mts_book_t *b, int side, const lv_t *want, int n) {
    int have;
    const mts_level_t *lv = mts_book_side(b, side, &have);
    assert_int_equal(have, n);
    for (int i = 0; i < n; i++) {
        /* both sides come from decimal strings parsed to the nearest double: compare exactly */
        if (lv[i].price != want[i].p || lv[i].qty != want[i].q)
            fail_msg("%s level %d: got %.10g x %.10g, want %.10g x %.10g", side ? "ask" : "bid", i,
                     lv[i].price, lv[i].qty, want[i].p, want[i].q);
    }
}

static int feed_binance(mts_book_t *b, const char *msg) {
    assert_int_equal(mts_parse_binance(msg, strlen(msg), &PB), 0);
    assert_int_equal(PB.n_ev, 1);
    return mts_book_apply(b, &EV[0]);
}

static int feed_bybit(mts_book_t *b, const char *msg, size_t n) {
    assert_int_equal(mts_parse_bybit(msg, n, &PB), 0);
    assert_int_equal(PB.n_ev, 1);
    return mts_book_apply(b, &EV[0]);
}

/* The documented diff (U=157 u=160, bid 0.0024 -> 10, ask 0.0026 -> 100) on a
 * snapshot with lastUpdateId 156: first diff rule U=157 <= 157 <= u=160 holds. */
static void test_binance_sample_diff(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BINANCE, "BNBBTC", &b), 0);
    const char *snap = "{\"lastUpdateId\":156,\"bids\":[[\"0.0024\",\"5\"],[\"0.0023\",\"1\"]],"
                       "\"asks\":[[\"0.0026\",\"50\"],[\"0.0027\",\"1\"]]}";
    assert_int_equal(mts_parse_binance_depth_snapshot(snap, strlen(snap), "BNBBTC", &PB), 0);
    assert_int_equal(mts_book_apply(b, &EV[0]), 0);
    size_t n;
    const char *diff = slurp("tests/fixtures/exchanges/binance_spot/depthUpdate_diff.json", &n);
    assert_int_equal(feed_binance(b, diff), MTS_BOOK_APPLIED);
    /* bids: 0.0024 5 -> 10, 0.0023 untouched; asks: 0.0026 50 -> 100, 0.0027 untouched */
    lv_t bids[] = {{0.0024, 10}, {0.0023, 1}}, asks[] = {{0.0026, 100}, {0.0027, 1}};
    expect_side(b, MTS_BOOK_BID, bids, 2);
    expect_side(b, MTS_BOOK_ASK, asks, 2);
    assert_int_equal(mts_book_update_id(b), 160);
    /* the same diff again is stale (u=160 <= 160) */
    assert_int_equal(feed_binance(b, diff), MTS_BOOK_STALE);
    mts_book_free(b);
}

/* The documented REST snapshot (lastUpdateId 1027024, bid 4 x 431, ask 4.000002 x 12)
 * followed by diffs in the depthUpdate wire format. */
static void test_binance_snapshot_and_diffs(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BINANCE, "BNBBTC", &b), 0);
    size_t n;
    const char *snap = slurp("tests/fixtures/exchanges/binance_spot/rest_depth_snapshot.json", &n);
    assert_int_equal(mts_parse_binance_depth_snapshot(snap, n, "BNBBTC", &PB), 0);
    assert_int_equal(mts_book_apply(b, &EV[0]), 0);
    assert_true(mts_book_synced(b));
#define DIFF(U, u, B, A) "{\"stream\":\"bnbbtc@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1672515782136," \
    "\"s\":\"BNBBTC\",\"U\":" #U ",\"u\":" #u ",\"b\":[" B "],\"a\":[" A "]}}"
    /* d0: u=1027020 <= 1027024: stale, dropped (would set bid 4 to 999) */
    assert_int_equal(feed_binance(b, DIFF(1027000, 1027020, "[\"4.00000000\",\"999\"]", "")), MTS_BOOK_STALE);
    /* d1: U=1027020 <= 1027025 <= u=1027030: the first applied diff */
    assert_int_equal(feed_binance(b, DIFF(1027020, 1027030, "[\"3.99\",\"10\"],[\"3.98\",\"5\"]",
                                          "[\"4.01\",\"7\"]")), MTS_BOOK_APPLIED);
    /* d2: U = 1027030 + 1: delete bid 4, add bid 3.995; ask 4.000002 12 -> 15, add 4.005 */
    assert_int_equal(feed_binance(b, DIFF(1027031, 1027035, "[\"4.00000000\",\"0.00000000\"],[\"3.995\",\"2\"]",
                                          "[\"4.00000200\",\"15\"],[\"4.005\",\"3\"]")), MTS_BOOK_APPLIED);
    /* d3: delete ask 4.01, bid 3.98 5 -> 6.5 */
    assert_int_equal(feed_binance(b, DIFF(1027036, 1027040, "[\"3.98\",\"6.5\"]", "[\"4.01\",\"0\"]")),
                     MTS_BOOK_APPLIED);
    /* book: bids 3.995x2, 3.99x10, 3.98x6.5; asks 4.000002x15, 4.005x3 */
    lv_t bids[] = {{3.995, 2}, {3.99, 10}, {3.98, 6.5}}, asks[] = {{4.000002, 15}, {4.005, 3}};
    expect_side(b, MTS_BOOK_BID, bids, 3);
    expect_side(b, MTS_BOOK_ASK, asks, 2);
    mts_level_t top[2];
    assert_int_equal(mts_book_top(b, MTS_BOOK_BID, 2, top), 2);
    assert_true(top[0].price == 3.995 && top[1].price == 3.99);
    assert_int_equal(mts_book_top(b, MTS_BOOK_ASK, 20, top), 2);
    /* d4: U=1027042 != 1027041: a gap; the book is dropped */
    assert_int_equal(feed_binance(b, DIFF(1027042, 1027045, "[\"3.9\",\"1\"]", "")), MTS_ERANGE);
    assert_false(mts_book_synced(b));
    int nb;
    mts_book_side(b, MTS_BOOK_BID, &nb);
    assert_int_equal(nb, 0);
    /* a diff while unsynced is refused */
    assert_int_equal(feed_binance(b, DIFF(1027046, 1027047, "", "")), MTS_EINVAL);
    mts_book_free(b);
}

/* The first diff after a snapshot must straddle lastUpdateId + 1. */
static void test_binance_first_diff_rule(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BINANCE, "BNBBTC", &b), 0);
    mts_level_t bid = {1, 1}, ask = {2, 1};
    assert_int_equal(mts_book_snapshot(b, &bid, 1, &ask, 1, 100), 0);
    /* U=105 > 101: updates 101..104 were missed */
    assert_int_equal(feed_binance(b, DIFF(105, 110, "", "")), MTS_ERANGE);
    assert_int_equal(mts_book_snapshot(b, &bid, 1, &ask, 1, 100), 0);
    /* U=101 <= 101 <= 101 */
    assert_int_equal(feed_binance(b, DIFF(101, 101, "[\"1\",\"0\"]", "")), MTS_BOOK_APPLIED);
    int nb;
    mts_book_side(b, MTS_BOOK_BID, &nb);
    assert_int_equal(nb, 0);
    mts_book_free(b);
}

/* Futures diffs chain by pu == previous u. */
static void test_binance_futures_pu_rule(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BINANCE, "BTCUSDT", &b), 0);
    mts_level_t bid = {0.0024, 1}, ask = {0.0026, 1};
    assert_int_equal(mts_book_snapshot(b, &bid, 1, &ask, 1, 158), 0);
    size_t n;
    /* documented futures diff: U=157 <= 158 <= u=160 */
    const char *d = slurp("tests/fixtures/exchanges/binance_usdm_futures/depthUpdate_diff.json", &n);
    assert_int_equal(feed_binance(b, d), MTS_BOOK_APPLIED);
    const char *next_ok = "{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":161,\"u\":170,\"pu\":160,\"b\":[],\"a\":[]}";
    const char *next_bad = "{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":175,\"u\":180,\"pu\":171,\"b\":[],\"a\":[]}";
    assert_int_equal(feed_binance(b, next_ok), MTS_BOOK_APPLIED);
    assert_int_equal(feed_binance(b, next_bad), MTS_ERANGE);
    mts_book_free(b);
}

/* Bybit: the documented snapshot (u=18521288), then deltas u+1, u+2. */
static void test_bybit_snapshot_and_deltas(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BYBIT, "BTCUSDT", &b), 0);
    size_t n;
    const char *snap = slurp("tests/fixtures/exchanges/bybit_v5/orderbook_snapshot.json", &n);
    assert_int_equal(feed_bybit(b, snap, n), 0);
    /* bids 16493.50x0.006, 16493.00x0.100; asks 16611.00x0.029, 16612.00x0.213 */
    lv_t b0[] = {{16493.5, 0.006}, {16493.0, 0.1}}, a0[] = {{16611.0, 0.029}, {16612.0, 0.213}};
    expect_side(b, MTS_BOOK_BID, b0, 2);
    expect_side(b, MTS_BOOK_ASK, a0, 2);
#define DELTA(u, B, A) "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":1687940967466," \
    "\"data\":{\"s\":\"BTCUSDT\",\"b\":[" B "],\"a\":[" A "],\"u\":" #u ",\"seq\":66544703342},\"cts\":1687940967464}"
    const char *d1 = DELTA(18521289, "[\"16493.50\",\"0\"],[\"16494.00\",\"1.5\"]", "[\"16611.00\",\"0.5\"],[\"16650.00\",\"2\"]");
    const char *d2 = DELTA(18521290, "[\"16493.00\",\"0.25\"]", "[\"16612.00\",\"0\"]");
    assert_int_equal(feed_bybit(b, d1, strlen(d1)), MTS_BOOK_APPLIED);
    assert_int_equal(feed_bybit(b, d2, strlen(d2)), MTS_BOOK_APPLIED);
    /* bids: 16493.50 deleted, 16494.00 added 1.5, 16493.00 0.1 -> 0.25
     * asks: 16611.00 0.029 -> 0.5, 16612.00 deleted, 16650.00 added 2 */
    lv_t b1[] = {{16494.0, 1.5}, {16493.0, 0.25}}, a1[] = {{16611.0, 0.5}, {16650.0, 2}};
    expect_side(b, MTS_BOOK_BID, b1, 2);
    expect_side(b, MTS_BOOK_ASK, a1, 2);
    /* u=18521292 skips 18521291: gap */
    const char *d3 = DELTA(18521292, "", "");
    assert_int_equal(feed_bybit(b, d3, strlen(d3)), MTS_ERANGE);
    assert_false(mts_book_synced(b));
    mts_book_free(b);
}

/* Bybit: the documented delta (u=177400507) on a snapshot with u=177400506. */
static void test_bybit_sample_delta(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BYBIT, "BTCUSDT", &b), 0);
    const char *snap = "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"snapshot\",\"ts\":1687940967000,"
        "\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"30247.20\",\"5\"],[\"30240.00\",\"1.0\"],[\"30230.00\",\"1\"]],"
        "\"a\":[[\"30248.70\",\"1\"],[\"30249.60\",\"2\"],[\"30260.00\",\"1\"]],\"u\":177400506,\"seq\":66544703000},"
        "\"cts\":1687940967000}";
    assert_int_equal(feed_bybit(b, snap, strlen(snap)), 0);
    size_t n;
    const char *delta = slurp("tests/fixtures/exchanges/bybit_v5/orderbook_delta.json", &n);
    assert_int_equal(feed_bybit(b, delta, n), MTS_BOOK_APPLIED);
    /* bids: 30247.20 5 -> 30.028; add 30245.40 .224, 30242.10 1.593, 30240.30 1.305;
     *       30240.00 deleted; 30230 kept.
     * asks: 30248.70 and 30249.60 deleted; add 30249.30 .892, 30249.50 1.778,
     *       30251.90 2.947, 30252.20 .659, 30252.50 4.591; 30260 kept. */
    lv_t bids[] = {{30247.2, 30.028}, {30245.4, 0.224}, {30242.1, 1.593}, {30240.3, 1.305}, {30230, 1}};
    lv_t asks[] = {{30249.3, 0.892}, {30249.5, 1.778}, {30251.9, 2.947}, {30252.2, 0.659},
                   {30252.5, 4.591}, {30260, 1}};
    expect_side(b, MTS_BOOK_BID, bids, 5);
    expect_side(b, MTS_BOOK_ASK, asks, 6);
    assert_int_equal(mts_book_update_id(b), 177400507);
    /* a new snapshot resets everything */
    size_t n2;
    const char *snap2 = slurp("tests/fixtures/exchanges/bybit_v5/orderbook_snapshot.json", &n2);
    assert_int_equal(feed_bybit(b, snap2, n2), 0);
    int nb;
    mts_book_side(b, MTS_BOOK_BID, &nb);
    assert_int_equal(nb, 2);
    assert_int_equal(mts_book_update_id(b), 18521288);
    mts_book_free(b);
}

/* Many random-ish inserts stay sorted and match a brute-force model. */
static void test_book_many_levels_sorted(void **st) {
    (void)st;
    mts_book_t *b;
    assert_int_equal(mts_book_create(MTS_EXCH_BYBIT, "X", &b), 0);
    assert_int_equal(mts_book_snapshot(b, NULL, 0, NULL, 0, 0), 0);
    static double model[2000];   /* qty by price index: price = 100 + i/100 */
    memset(model, 0, sizeof model);
    uint32_t x = 12345;
    mts_level_t lv;
    mts_feed_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = MTS_FEV_BOOK;
    ev.book_kind = MTS_BOOK_DIFF;
    for (int k = 1; k <= 20000; k++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % 2000);
        double q = ((x >> 4) % 5) * 0.5;   /* 0 deletes */
        lv.price = 100 + i / 100.0;
        lv.qty = q;
        model[i] = q;
        ev.update_id = k;
        ev.bids = &lv;
        ev.n_bids = 1;
        assert_int_equal(mts_book_apply(b, &ev), MTS_BOOK_APPLIED);
    }
    int n, j = 0;
    const mts_level_t *s = mts_book_side(b, MTS_BOOK_BID, &n);
    for (int i = 1999; i >= 0; i--)
        if (model[i] > 0) {
            assert_true(j < n);
            assert_true(s[j].price == 100 + i / 100.0 && s[j].qty == model[i]);
            j++;
        }
    assert_int_equal(j, n);
    mts_book_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binance_sample_diff),
        cmocka_unit_test(test_binance_snapshot_and_diffs),
        cmocka_unit_test(test_binance_first_diff_rule),
        cmocka_unit_test(test_binance_futures_pu_rule),
        cmocka_unit_test(test_bybit_snapshot_and_deltas),
        cmocka_unit_test(test_bybit_sample_delta),
        cmocka_unit_test(test_book_many_levels_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
