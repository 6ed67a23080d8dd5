/* test_parse_binance.c — Binance payloads from tests/fixtures/exchanges (the
 * documented examples) become the expected normalized events; malformed or
 * truncated text is rejected with MTS_EPARSE and never half-used. Expected
 * values are read off the fixture files by eye and written here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/parse_binance.h"
#include "feeds/ws_json.h"

static char *slurp(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/exchanges/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ % 4];
    *len = fread(b, 1, sizeof bufs[0] - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static mts_feed_event_t EV[16];
static mts_level_t LV[256];
static mts_parse_buf_t PB = {EV, 16, 0, LV, 256, 0, 0, 0, 0, 0};

static int parse_file(const char *name) {
    size_t n;
    const char *s = slurp(name, &n);
    return mts_parse_binance(s, n, &PB);
}

static void test_trade(void **st) {
    (void)st;
    /* {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
     *  "T":1672515782136,"m":true,...}: m = buyer is maker -> the taker sold */
    assert_int_equal(parse_file("binance_spot/trade.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_TRADE);
    assert_int_equal(EV[0].exchange, MTS_EXCH_BINANCE);
    assert_string_equal(EV[0].symbol, "BNBBTC");
    assert_string_equal(EV[0].trade_id, "12345");
    assert_true(EV[0].price == 0.001 && EV[0].qty == 100);
    assert_int_equal(EV[0].ts_ms, 1672515782136LL);
    assert_int_equal(EV[0].side, MTS_SIDE_SELL);
}

static void test_agg_trade_spot_and_futures(void **st) {
    (void)st;
    assert_int_equal(parse_file("binance_spot/aggTrade.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_string_equal(EV[0].trade_id, "a12345");   /* "a": 12345, prefixed: not a trade id */
    assert_true(EV[0].price == 0.001 && EV[0].qty == 100);
    /* futures form has an extra "nq" field and T=123456785 */
    assert_int_equal(parse_file("binance_usdm_futures/aggTrade.json"), 0);
    assert_string_equal(EV[0].symbol, "BTCUSDT");
    assert_string_equal(EV[0].trade_id, "a5933014");
    assert_int_equal(EV[0].ts_ms, 123456785);
}

static void test_combined_envelope(void **st) {
    (void)st;
    size_t n;
    const char *t = slurp("binance_spot/trade.json", &n);
    char msg[1024];
    snprintf(msg, sizeof msg, "{\"stream\":\"bnbbtc@trade\",\"data\":%s}", t);
    assert_int_equal(mts_parse_binance(msg, strlen(msg), &PB), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_string_equal(EV[0].trade_id, "12345");
    /* data before stream works too */
    snprintf(msg, sizeof msg, "{\"data\":%s,\"stream\":\"bnbbtc@trade\"}", t);
    assert_int_equal(mts_parse_binance(msg, strlen(msg), &PB), 0);
    assert_int_equal(PB.n_ev, 1);
}

static void test_kline(void **st) {
    (void)st;
    /* o 0.0010 h 0.0025 l 0.0015 c 0.0020 v 1000, t 1672515780000, T 1672515839999, x false */
    assert_int_equal(parse_file("binance_spot/kline_1m.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_BAR);
    assert_true(EV[0].open == 0.001 && EV[0].high == 0.0025 && EV[0].low == 0.0015 &&
                EV[0].price == 0.002 && EV[0].qty == 1000);
    assert_int_equal(EV[0].bar_open_ms, 1672515780000LL);
    assert_int_equal(EV[0].bar_close_ms, 1672515839999LL);
    assert_int_equal(EV[0].bar_closed, 0);
}

static void test_book_ticker(void **st) {
    (void)st;
    /* spot: u 400900217, b 25.35190000 x B 31.21000000, a 25.36520000 x A 40.66000000 */
    assert_int_equal(parse_file("binance_spot/bookTicker.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_BOOK);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_TOP);
    assert_int_equal(EV[0].update_id, 400900217);
    assert_true(EV[0].price == 25.3519 && EV[0].qty == 31.21 && EV[0].ask_price == 25.3652 &&
                EV[0].ask_qty == 40.66);
    assert_int_equal(parse_file("binance_usdm_futures/bookTicker.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_TOP);
    assert_int_equal(EV[0].ts_ms, 1568014460893LL);
}

static void test_depth(void **st) {
    (void)st;
    assert_int_equal(parse_file("binance_spot/depthUpdate_diff.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_DIFF);
    assert_int_equal(EV[0].first_update_id, 157);
    assert_int_equal(EV[0].update_id, 160);
    assert_int_equal(EV[0].prev_update_id, -1);
    assert_int_equal(EV[0].n_bids, 1);
    assert_int_equal(EV[0].n_asks, 1);
    assert_true(EV[0].bids[0].price == 0.0024 && EV[0].bids[0].qty == 10);
    assert_true(EV[0].asks[0].price == 0.0026 && EV[0].asks[0].qty == 100);
    assert_int_equal(parse_file("binance_usdm_futures/depthUpdate_diff.json"), 0);
    assert_int_equal(EV[0].prev_update_id, 149);
    /* partial depth has no symbol: it comes from the stream name */
    size_t n;
    const char *p = slurp("binance_spot/depth_partial.json", &n);
    char msg[1024];
    snprintf(msg, sizeof msg, "{\"stream\":\"bnbbtc@depth5@100ms\",\"data\":%s}", p);
    assert_int_equal(mts_parse_binance(msg, strlen(msg), &PB), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_SNAPSHOT);
    assert_string_equal(EV[0].symbol, "BNBBTC");
    assert_int_equal(EV[0].update_id, 160);
    const char *r = slurp("binance_spot/rest_depth_snapshot.json", &n);
    assert_int_equal(mts_parse_binance_depth_snapshot(r, n, "BNBBTC", &PB), 0);
    assert_int_equal(EV[0].update_id, 1027024);
    assert_true(EV[0].bids[0].price == 4.0 && EV[0].bids[0].qty == 431.0);
    assert_true(EV[0].asks[0].price == 4.000002 && EV[0].asks[0].qty == 12.0);
}

static void test_mark_price(void **st) {
    (void)st;
    /* p 11794.15000000 (mark), r 0.00038167, T 1562306400000 (next funding), E 1562305380000 */
    assert_int_equal(parse_file("binance_usdm_futures/markPriceUpdate.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_FUNDING);
    assert_string_equal(EV[0].symbol, "BTCUSDT");
    assert_true(EV[0].mark_price == 11794.15 && EV[0].rate == 0.00038167);
    assert_int_equal(EV[0].next_funding_ms, 1562306400000LL);
    assert_int_equal(EV[0].ts_ms, 1562305380000LL);
    /* !markPrice@arr: an array of the same */
    assert_int_equal(parse_file("binance_usdm_futures/markPriceUpdate_allMarket_arr.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_true(EV[0].mark_price == 11185.87786614 && EV[0].rate == 0.0003);
}

static void test_control_and_unknown(void **st) {
    (void)st;
    assert_int_equal(parse_file("binance_spot/ws_subscribe_response.json"), 0);
    assert_int_equal(PB.n_ev, 0);
    assert_int_equal(PB.ack, 1);
    assert_int_equal(parse_file("binance_spot/serverShutdown_combined.json"), 0);
    assert_int_equal(PB.shutdown, 1);
    assert_int_equal(parse_file("binance_spot/serverShutdown_raw.json"), 0);
    assert_int_equal(PB.shutdown, 1);
    const char *others[] = {"binance_spot/avgPrice.json", "binance_spot/miniTicker.json",
                            "binance_spot/ticker_24hr.json", "binance_spot/blockTrade.json"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(parse_file(others[i]), 0);
        assert_int_equal(PB.n_ev, 0);
    }
}

/* Every proper prefix of every fixture is rejected (truncated JSON), and so is garbage. */
static void test_truncated_and_garbage(void **st) {
    (void)st;
    const char *files[] = {"binance_spot/trade.json", "binance_spot/aggTrade.json",
                           "binance_spot/kline_1m.json", "binance_spot/bookTicker.json",
                           "binance_spot/depthUpdate_diff.json",
                           "binance_usdm_futures/markPriceUpdate.json",
                           "binance_usdm_futures/markPriceUpdate_allMarket_arr.json"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        const char *s = slurp(files[f], &n);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
        for (size_t k = 0; k < n; k++) {
            char *cp = malloc(k + 1);   /* exact-size copy so ASan sees any over-read */
            memcpy(cp, s, k);
            int rc = mts_parse_binance(cp, k, &PB);
            free(cp);
            if (rc != MTS_EPARSE) fail_msg("%s prefix %zu: rc %d", files[f], k, rc);
            assert_int_equal(PB.n_ev, 0);
        }
    }
    const char *bad[] = {"", "garbage", "{", "}", "{\"e\":\"trade\"", "[1,2", "{\"e\":trade}",
                         "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"abc\",\"q\":\"1\",\"T\":1,\"m\":true}",
                         "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1}",
                         "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\"]],\"a\":[]}",
                         "{\"a\":1}{\"b\":2}", "{\"e\":\"trade\"}}", "\x01\x02\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (mts_parse_binance(bad[i], strlen(bad[i]), &PB) != MTS_EPARSE) fail_msg("accepted: %s", bad[i]);
}

static void test_buffer_too_small(void **st) {
    (void)st;
    mts_feed_event_t ev[1];
    mts_level_t lv[1];
    mts_parse_buf_t pb = {ev, 1, 0, lv, 1, 0, 0, 0, 0, 0};
    const char *m = "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\",\"1\"],[\"2\",\"1\"]],\"a\":[]}";
    assert_int_equal(mts_parse_binance(m, strlen(m), &pb), MTS_ERANGE);
}

/* js_decimal agrees with strtod bit for bit on typical exchange decimals. */
static void test_decimal_exact(void **st) {
    (void)st;
    const char *fixed[] = {"0.0024", "30247.20", "11794.15000000", "0.00038167", "-0.005", "0",
                           "0.000000001", "123456789.12345678", "1e-3", "4.00000200", "00012.5"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        double v;
        assert_int_equal(js_decimal(fixed[i], strlen(fixed[i]), &v), 0);
        assert_true(v == strtod(fixed[i], NULL));
    }
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        char s[64];
        int dec = (int)(x % 9);
        snprintf(s, sizeof s, "%.*f", dec, (double)(x % 100000000000ULL) / 1000.0);
        double v;
        assert_int_equal(js_decimal(s, strlen(s), &v), 0);
        if (v != strtod(s, NULL)) fail_msg("%s: %.17g vs %.17g", s, v, strtod(s, NULL));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trade),
        cmocka_unit_test(test_agg_trade_spot_and_futures),
        cmocka_unit_test(test_combined_envelope),
        cmocka_unit_test(test_kline),
        cmocka_unit_test(test_book_ticker),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_mark_price),
        cmocka_unit_test(test_control_and_unknown),
        cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_buffer_too_small),
        cmocka_unit_test(test_decimal_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
