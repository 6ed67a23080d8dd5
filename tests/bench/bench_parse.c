/* bench_parse.c — messages/s parsed and normalized from a recorded stream:
 * ~300 000 Binance and Bybit messages built in memory from the documented
 * examples (tests/fixtures/exchanges shapes: combined-stream trade, aggTrade,
 * depthUpdate, bookTicker, markPriceUpdate; Bybit publicTrade, orderbook
 * delta, tickers), parsed on one core by parse_binance.c / parse_bybit.c.
 * For comparison the same stream is parsed with cJSON (tree + strtod of every
 * string value, i.e. the minimum a cJSON-based parser would do).
 * Prints: bench ws_messages_parsed N msgs/s, bench ws_messages_parsed_cjson N msgs/s */
#include "feeds/parse_binance.h"
#include "feeds/parse_bybit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_MSG 300000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void walk(const cJSON *j, double *acc) {
    for (const cJSON *c = j; c; c = c->next) {
        if (cJSON_IsString(c)) *acc += strtod(c->valuestring, NULL);
        else if (cJSON_IsNumber(c)) *acc += c->valuedouble;
        if (c->child) walk(c->child, acc);
    }
}

int main(void) {
    char *buf = malloc((size_t)N_MSG * 400);
    size_t *off = malloc((N_MSG + 1) * sizeof *off);
    unsigned char *venue = malloc(N_MSG);
    if (!buf || !off || !venue) return 1;
    size_t pos = 0;
    uint32_t x = 1;
    for (int i = 0; i < N_MSG; i++) {
        x = x * 1664525u + 1013904223u;
        double px = 30000 + (x >> 20) * 0.1;
        double q = ((x >> 8) & 0xfff) / 1000.0;
        long long ts = 1700000000000LL + i;
        char *p = buf + pos;
        int n;
        switch (i % 8) {
        case 0: n = sprintf(p, "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":%lld,\"s\":\"BTCUSDT\",\"t\":%d,\"p\":\"%.2f\",\"q\":\"%.5f\",\"T\":%lld,\"m\":%s,\"M\":true}}",
                        ts, 1000000 + i, px, q, ts, (x & 1) ? "true" : "false"); venue[i] = 0; break;
        case 1: n = sprintf(p, "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"BTCUSDT\",\"a\":%d,\"p\":\"%.2f\",\"q\":\"%.5f\",\"f\":100,\"l\":105,\"T\":%lld,\"m\":true,\"M\":true}}",
                        ts, 500000 + i, px, q, ts); venue[i] = 0; break;
        case 2: n = sprintf(p, "{\"stream\":\"btcusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":%lld,\"s\":\"BTCUSDT\",\"U\":%d,\"u\":%d,"
                        "\"b\":[[\"%.2f\",\"%.5f\"],[\"%.2f\",\"0.00000000\"]],\"a\":[[\"%.2f\",\"%.5f\"]]}}",
                        ts, 1000 + i, 1002 + i, px, q, px - 0.5, px + 1, q); venue[i] = 0; break;
        case 3: n = sprintf(p, "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":%d,\"s\":\"BTCUSDT\",\"b\":\"%.8f\",\"B\":\"%.8f\",\"a\":\"%.8f\",\"A\":\"%.8f\"}}",
                        400900217 + i, px, q, px + 0.1, q); venue[i] = 0; break;
        case 4: n = sprintf(p, "{\"stream\":\"btcusdt@markPrice@1s\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":%lld,\"s\":\"BTCUSDT\",\"p\":\"%.8f\",\"i\":\"%.8f\",\"P\":\"%.8f\",\"r\":\"0.00038167\",\"T\":1562306400000}}",
                        ts, px, px, px); venue[i] = 0; break;
        case 5: n = sprintf(p, "{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":%lld,\"data\":[{\"T\":%lld,\"s\":\"BTCUSDT\",\"S\":\"Buy\",\"v\":\"%.3f\",\"p\":\"%.2f\",\"L\":\"PlusTick\",\"i\":\"20f43950-d8dd-5b31-9112-%012d\",\"BT\":false,\"seq\":%d}]}",
                        ts, ts, q, px, i, 1783284617 + i); venue[i] = 1; break;
        case 6: n = sprintf(p, "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":%lld,\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"0\"]],\"a\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"0.892\"]],\"u\":%d,\"seq\":%lld},\"cts\":%lld}",
                        ts, px, q, px - 1, px + 1, q, px + 2, 177400507 + i, 66544703342LL + i, ts); venue[i] = 1; break;
        default: n = sprintf(p, "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"delta\",\"data\":{\"symbol\":\"BTCUSDT\",\"markPrice\":\"%.2f\",\"indexPrice\":\"%.2f\",\"fundingRate\":\"-0.005\",\"bid1Price\":\"%.2f\",\"bid1Size\":\"%.3f\"},\"cs\":%lld,\"ts\":%lld}",
                         px, px, px, q, 9532239429LL + i, ts); venue[i] = 1; break;
        }
        off[i] = pos;
        pos += (size_t)n;
    }
    off[N_MSG] = pos;

    static mts_feed_event_t ev[64];
    static mts_level_t lv[4096];
    mts_parse_buf_t pb = {ev, 64, 0, lv, 4096, 0, 0, 0, 0, 0};
    long long events = 0, errors = 0;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int i = 0; i < N_MSG; i++) {
            const char *m = buf + off[i];
            size_t n = off[i + 1] - off[i];
            int rc = venue[i] ? mts_parse_bybit(m, n, &pb) : mts_parse_binance(m, n, &pb);
            if (rc) errors++;
            events += pb.n_ev;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    if (errors) {
        fprintf(stderr, "bench_parse: %lld messages failed to parse\n", errors);
        return 1;
    }
    double acc = 0, t0 = now_s();
    for (int i = 0; i < N_MSG; i++) {
        cJSON *j = cJSON_ParseWithLength(buf + off[i], off[i + 1] - off[i]);
        if (!j) return 1;
        walk(j, &acc);
        cJSON_Delete(j);
    }
    double dt_cjson = now_s() - t0;
    printf("bench ws_messages_parsed %.0f msgs/s\n", N_MSG / best);
    printf("bench ws_messages_parsed_cjson %.0f msgs/s\n", N_MSG / dt_cjson);
    fprintf(stderr, "(%d messages, %.1f MB, %lld events/5 reps, checksum %.0f)\n", N_MSG, pos / 1e6, events, acc);
    free(buf);
    free(off);
    free(venue);
    return 0;
}
