/* test_parse_bybit.c — Bybit v5 public messages from tests/fixtures/exchanges
 * (the documented examples) become the expected normalized events; control
 * replies set flags; truncated or garbage text is rejected. Expected values
 * are read off the fixture files and written here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/parse_bybit.h"

static char *slurp(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/exchanges/bybit_v5/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char buf[8192];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static mts_feed_event_t EV[16];
static mts_level_t LV[256];
static mts_parse_buf_t PB = {EV, 16, 0, LV, 256, 0, 0, 0, 0, 0};

static int parse_file(const char *name) {
    size_t n;
    const char *s = slurp(name, &n);
    return mts_parse_bybit(s, n, &PB);
}

static void test_public_trade(void **st) {
    (void)st;
    /* T 1672304486865, S Buy, v 0.001, p 16578.50, i 20f43950-... */
    assert_int_equal(parse_file("publicTrade.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_TRADE);
    assert_int_equal(EV[0].exchange, MTS_EXCH_BYBIT);
    assert_string_equal(EV[0].symbol, "BTCUSDT");
    assert_string_equal(EV[0].trade_id, "20f43950-d8dd-5b31-9112-a178eb6023af");
    assert_true(EV[0].price == 16578.5 && EV[0].qty == 0.001);
    assert_int_equal(EV[0].side, MTS_SIDE_BUY);
    assert_int_equal(EV[0].ts_ms, 1672304486865LL);
    /* several trades in one message -> several events */
    const char *m = "{\"topic\":\"publicTrade.ETHUSDT\",\"type\":\"snapshot\",\"ts\":1,\"data\":["
        "{\"T\":10,\"s\":\"ETHUSDT\",\"S\":\"Sell\",\"v\":\"2\",\"p\":\"3000.5\",\"L\":\"MinusTick\",\"i\":\"id-1\",\"BT\":false},"
        "{\"T\":11,\"s\":\"ETHUSDT\",\"S\":\"Buy\",\"v\":\"0.5\",\"p\":\"3001\",\"L\":\"PlusTick\",\"i\":\"id-2\",\"BT\":false}]}";
    assert_int_equal(mts_parse_bybit(m, strlen(m), &PB), 0);
    assert_int_equal(PB.n_ev, 2);
    assert_int_equal(EV[0].side, MTS_SIDE_SELL);
    assert_string_equal(EV[1].trade_id, "id-2");
    assert_true(EV[1].price == 3001 && EV[1].qty == 0.5);
}

static void test_orderbook(void **st) {
    (void)st;
    assert_int_equal(parse_file("orderbook_snapshot.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_SNAPSHOT);
    assert_int_equal(EV[0].update_id, 18521288);
    assert_int_equal(EV[0].seq, 7961638724LL);
    assert_int_equal(EV[0].ts_ms, 1672304484978LL);
    assert_int_equal(EV[0].n_bids, 2);
    assert_int_equal(EV[0].n_asks, 2);
    assert_true(EV[0].bids[1].price == 16493.0 && EV[0].bids[1].qty == 0.1);
    assert_true(EV[0].asks[0].price == 16611.0 && EV[0].asks[0].qty == 0.029);
    assert_int_equal(parse_file("orderbook_delta.json"), 0);
    assert_int_equal(EV[0].book_kind, MTS_BOOK_DIFF);
    assert_int_equal(EV[0].update_id, 177400507);
    assert_int_equal(EV[0].n_bids, 5);
    assert_int_equal(EV[0].n_asks, 7);
    assert_true(EV[0].bids[4].price == 30240.0 && EV[0].bids[4].qty == 0);   /* "0" deletes */
    assert_true(EV[0].asks[6].price == 30252.5 && EV[0].asks[6].qty == 4.591);
}

static void test_tickers_funding(void **st) {
    (void)st;
    /* perpetual: fundingRate -0.005, markPrice 66666.60, nextFundingTime "1760342400000", ts 1760325052630 */
    assert_int_equal(parse_file("tickers_linear_perpetual.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_FUNDING);
    assert_string_equal(EV[0].symbol, "BTCUSDT");
    assert_true(EV[0].rate == -0.005 && EV[0].mark_price == 66666.6);
    assert_int_equal(EV[0].next_funding_ms, 1760342400000LL);
    assert_int_equal(EV[0].ts_ms, 1760325052630LL);
    /* dated futures: fundingRate "" and nextFundingTime "" -> NaN / -1, mark 121144.63 */
    assert_int_equal(parse_file("tickers_linear_futures.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_true(isnan(EV[0].rate) && EV[0].mark_price == 121144.63);
    assert_int_equal(EV[0].next_funding_ms, -1);
    /* spot tickers carry no funding fields: no event */
    assert_int_equal(parse_file("tickers_spot.json"), 0);
    assert_int_equal(PB.n_ev, 0);
    /* a delta with only the rate */
    const char *d = "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"delta\",\"data\":{\"symbol\":\"BTCUSDT\",\"fundingRate\":\"0.0001\"},\"cs\":1,\"ts\":5}";
    assert_int_equal(mts_parse_bybit(d, strlen(d), &PB), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_true(EV[0].rate == 0.0001 && isnan(EV[0].mark_price));
}

static void test_kline(void **st) {
    (void)st;
    assert_int_equal(parse_file("kline_5.json"), 0);
    assert_int_equal(PB.n_ev, 1);
    assert_int_equal(EV[0].kind, MTS_FEV_BAR);
    assert_true(EV[0].open == 16649.5 && EV[0].price == 16677 && EV[0].high == 16677 &&
                EV[0].low == 16608 && EV[0].qty == 2.081);
}

static void test_control(void **st) {
    (void)st;
    assert_int_equal(parse_file("ws_pong_linear.json"), 0);
    assert_true(PB.pong && PB.n_ev == 0);
    assert_int_equal(parse_file("ws_pong_spot.json"), 0);
    assert_true(PB.pong);
    assert_int_equal(parse_file("ws_subscribe_response_linear.json"), 0);
    assert_true(PB.ack && !PB.pong);
    assert_int_equal(parse_file("ws_subscribe_response_spot.json"), 0);
    assert_true(PB.ack);
    const char *no = "{\"success\":false,\"ret_msg\":\"error:handler not found\",\"op\":\"subscribe\"}";
    assert_int_equal(mts_parse_bybit(no, strlen(no), &PB), 0);
    assert_true(PB.nack && !PB.ack);
}

static void test_truncated_and_garbage(void **st) {
    (void)st;
    const char *files[] = {"publicTrade.json", "orderbook_snapshot.json", "orderbook_delta.json",
                           "tickers_linear_perpetual.json", "ws_pong_linear.json", "kline_5.json"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        const char *s = slurp(files[f], &n);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
        char *full = malloc(n);
        memcpy(full, s, n);
        for (size_t k = 0; k < n; k++) {
            char *cp = malloc(k + 1);
            memcpy(cp, full, k);
            int rc = mts_parse_bybit(cp, k, &PB);
            free(cp);
            if (rc != MTS_EPARSE) fail_msg("%s prefix %zu: rc %d", files[f], k, rc);
            assert_int_equal(PB.n_ev, 0);
        }
        free(full);
    }
    const char *bad[] = {"", "not json", "{\"topic\":\"publicTrade.BTCUSDT\"}",
                         "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"data\":{\"b\":[],\"a\":[]}}",
                         "{\"topic\":\"publicTrade.BTCUSDT\",\"data\":[{\"T\":1,\"s\":\"BTCUSDT\",\"S\":\"Up\",\"v\":\"1\",\"p\":\"1\",\"i\":\"x\"}]}",
                         "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"data\":{\"b\":[[\"x\",\"1\"]],\"a\":[],\"u\":2}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (mts_parse_bybit(bad[i], strlen(bad[i]), &PB) != MTS_EPARSE) fail_msg("accepted: %s", bad[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_trade),
        cmocka_unit_test(test_orderbook),
        cmocka_unit_test(test_tickers_funding),
        cmocka_unit_test(test_kline),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_truncated_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
