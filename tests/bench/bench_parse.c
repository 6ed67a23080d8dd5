/* bench_parse.c — exchange messages decoded AND normalised into events
 * (feeds/event.h mts_feed_event_t, book levels in the caller's buffer) per
 * second on one core, one figure per message kind, by parse_binance.c /
 * parse_bybit.c. Each kind is K_MSG distinct messages built in memory in the
 * shapes of the documented examples (../shared/data/samples, tests/fixtures/
 * exchanges: same keys, same key order, values varied):
 *   Binance spot combined streams: trade, aggTrade, depthUpdate (diff),
 *   bookTicker, kline; USD-M futures markPriceUpdate (funding);
 *   Bybit v5 linear: publicTrade, orderbook snapshot, orderbook delta, kline,
 *   tickers (funding).
 * Every message must yield its event(s) (counted; a kind that yields none
 * fails the bench). Timed with CLOCK_PROCESS_CPUTIME_ID, best of 5 passes.
 * Allocation: malloc/calloc/realloc are counted by wrappers in this program
 * (glibc's __libc_* underneath) during the timed passes; any allocation per
 * message fails the bench (it must stay 0).
 * Baseline in the same run: cJSON on the same messages (tree + strtod of every
 * string value — the least a cJSON-based normaliser would do), per kind and
 * for the mixed stream.
 * Prints: bench ws_parse_<kind> N msgs/s, bench ws_parse_<kind>_cjson N msgs/s,
 *         bench ws_messages_parsed N msgs/s (all kinds interleaved) and
 *         bench ws_messages_parsed_cjson, bench ws_parse_allocations 0 allocs. */
#include "feeds/parse_binance.h"
#include "feeds/parse_bybit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- counting allocator hooks (this program only) ---- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile long g_allocs;
void *malloc(size_t n) { g_allocs++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { g_allocs++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { g_allocs++; return __libc_realloc(p, n); }

#define K_MSG 60000
#define REPS 5

enum { K_BN_TRADE, K_BN_AGG, K_BN_DEPTH, K_BN_BOOKTICKER, K_BN_KLINE, K_BN_MARK, K_BY_TRADE, K_BY_OB_SNAP,
       K_BY_OB_DELTA, K_BY_KLINE, K_BY_TICKER, K_N };
static const char *const NAME[K_N] = {
    "binance_trade", "binance_aggtrade", "binance_depth", "binance_bookticker", "binance_kline",
    "binance_markprice", "bybit_trade", "bybit_orderbook_snapshot", "bybit_orderbook_delta", "bybit_kline",
    "bybit_tickers"};
static const int BYBIT[K_N] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1};

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void walk(const cJSON *j, double *acc) {
    for (const cJSON *c = j; c; c = c->next) {
        if (cJSON_IsString(c)) *acc += strtod(c->valuestring, NULL);
        else if (cJSON_IsNumber(c)) *acc += c->valuedouble;
        if (c->child) walk(c->child, acc);
    }
}

static int gen(int kind, int i, char *p) {
    uint32_t x = (uint32_t)i * 2654435761u + (uint32_t)kind * 40503u;
    x ^= x >> 13;
    double px = 30000 + (x >> 20) * 0.1;
    double q = ((x >> 8) & 0xfff) / 1000.0;
    long long ts = 1700000000000LL + i;
    long long t0 = 1672515780000LL + 60000LL * i;
    switch (kind) {
    case K_BN_TRADE:
        return sprintf(p, "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":%lld,\"s\":\"BTCUSDT\",\"t\":%d,"
                       "\"p\":\"%.2f\",\"q\":\"%.5f\",\"T\":%lld,\"m\":%s,\"M\":true}}",
                       ts, 1000000 + i, px, q, ts, (x & 1) ? "true" : "false");
    case K_BN_AGG:
        return sprintf(p, "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"BTCUSDT\","
                       "\"a\":%d,\"p\":\"%.2f\",\"q\":\"%.5f\",\"f\":100,\"l\":105,\"T\":%lld,\"m\":true,\"M\":true}}",
                       ts, 500000 + i, px, q, ts);
    case K_BN_DEPTH:
        return sprintf(p, "{\"stream\":\"btcusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":%lld,\"s\":\"BTCUSDT\","
                       "\"U\":%d,\"u\":%d,\"b\":[[\"%.2f\",\"%.5f\"],[\"%.2f\",\"0.00000000\"]],\"a\":[[\"%.2f\",\"%.5f\"]]}}",
                       ts, 1000 + i, 1002 + i, px, q, px - 0.5, px + 1, q);
    case K_BN_BOOKTICKER:
        return sprintf(p, "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":%d,\"s\":\"BTCUSDT\",\"b\":\"%.8f\","
                       "\"B\":\"%.8f\",\"a\":\"%.8f\",\"A\":\"%.8f\"}}", 400900217 + i, px, q, px + 0.1, q);
    case K_BN_KLINE:   /* samples/binance_spot/kline_1m.json */
        return sprintf(p, "{\"stream\":\"btcusdt@kline_1m\",\"data\":{\"e\":\"kline\",\"E\":%lld,\"s\":\"BTCUSDT\","
                       "\"k\":{\"t\":%lld,\"T\":%lld,\"s\":\"BTCUSDT\",\"i\":\"1m\",\"f\":100,\"L\":200,\"o\":\"%.2f\","
                       "\"c\":\"%.2f\",\"h\":\"%.2f\",\"l\":\"%.2f\",\"v\":\"%.5f\",\"n\":100,\"x\":%s,\"q\":\"1.0000\","
                       "\"V\":\"500\",\"Q\":\"0.500\",\"B\":\"123456\"}}}",
                       t0 + 59999, t0, t0 + 59999, px, px + 1, px + 2, px - 1, q, (i & 1) ? "true" : "false");
    case K_BN_MARK:
        return sprintf(p, "{\"stream\":\"btcusdt@markPrice@1s\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":%lld,"
                       "\"s\":\"BTCUSDT\",\"p\":\"%.8f\",\"i\":\"%.8f\",\"P\":\"%.8f\",\"r\":\"0.00038167\","
                       "\"T\":1562306400000}}", ts, px, px, px);
    case K_BY_TRADE:
        return sprintf(p, "{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":%lld,\"data\":[{\"T\":%lld,"
                       "\"s\":\"BTCUSDT\",\"S\":\"Buy\",\"v\":\"%.3f\",\"p\":\"%.2f\",\"L\":\"PlusTick\","
                       "\"i\":\"20f43950-d8dd-5b31-9112-%012d\",\"BT\":false,\"seq\":%d}]}",
                       ts, ts, q, px, i, 1783284617 + i);
    case K_BY_OB_SNAP:   /* samples/bybit_v5/orderbook_snapshot.json */
        return sprintf(p, "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"snapshot\",\"ts\":%lld,\"data\":{\"s\":\"BTCUSDT\","
                       "\"b\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"1.1\"],[\"%.2f\",\"2.5\"]],"
                       "\"a\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"0.892\"],[\"%.2f\",\"3\"]],\"u\":%d,\"seq\":%lld},\"cts\":%lld}",
                       ts, px, q, px - 1, px - 2, px + 1, q, px + 2, px + 3, 177400507 + i, 66544703342LL + i, ts);
    case K_BY_OB_DELTA:
        return sprintf(p, "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":%lld,\"data\":{\"s\":\"BTCUSDT\","
                       "\"b\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"0\"]],\"a\":[[\"%.2f\",\"%.3f\"],[\"%.2f\",\"0.892\"]],"
                       "\"u\":%d,\"seq\":%lld},\"cts\":%lld}",
                       ts, px, q, px - 1, px + 1, q, px + 2, 177400507 + i, 66544703342LL + i, ts);
    case K_BY_KLINE:   /* samples/bybit_v5/kline_5.json */
        return sprintf(p, "{\"topic\":\"kline.5.BTCUSDT\",\"data\":[{\"start\":%lld,\"end\":%lld,\"interval\":\"5\","
                       "\"open\":\"%.1f\",\"close\":\"%.1f\",\"high\":\"%.1f\",\"low\":\"%.1f\",\"volume\":\"%.3f\","
                       "\"turnover\":\"34666.4005\",\"confirm\":%s,\"timestamp\":%lld}],\"ts\":%lld,\"type\":\"snapshot\"}",
                       t0, t0 + 299999, px, px + 1, px + 2, px - 1, q, (i & 1) ? "true" : "false", ts, ts);
    default:
        return sprintf(p, "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"delta\",\"data\":{\"symbol\":\"BTCUSDT\","
                       "\"markPrice\":\"%.2f\",\"indexPrice\":\"%.2f\",\"fundingRate\":\"-0.005\",\"bid1Price\":\"%.2f\","
                       "\"bid1Size\":\"%.3f\"},\"cs\":%lld,\"ts\":%lld}", px, px, px, q, 9532239429LL + i, ts);
    }
}

static mts_feed_event_t g_ev[64];
static mts_level_t g_lv[4096];

/* Best-of-REPS CPU seconds for messages [0, n) of (buf, off, venue); events
 * per pass and parse errors out. */
static double time_parse(const char *buf, const size_t *off, const unsigned char *venue, int n, long long *events,
                         long long *errors) {
    mts_parse_buf_t pb = {g_ev, 64, 0, g_lv, 4096, 0, 0, 0, 0, 0};
    double best = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        long long ev = 0, er = 0;
        double t0 = cpu_s();
        for (int i = 0; i < n; i++) {
            const char *m = buf + off[i];
            size_t len = off[i + 1] - off[i];
            int rc = venue[i] ? mts_parse_bybit(m, len, &pb) : mts_parse_binance(m, len, &pb);
            er += rc != 0;
            ev += pb.n_ev;
        }
        double dt = cpu_s() - t0;
        if (dt < best) best = dt;
        *events = ev;
        *errors = er;
    }
    return best;
}

static double time_cjson(const char *buf, const size_t *off, int n, double *acc) {
    double t0 = cpu_s();
    for (int i = 0; i < n; i++) {
        cJSON *j = cJSON_ParseWithLength(buf + off[i], off[i + 1] - off[i]);
        if (!j) return -1;
        walk(j, acc);
        cJSON_Delete(j);
    }
    return cpu_s() - t0;
}

int main(void) {
    const int total = K_MSG * K_N;
    char *buf = malloc((size_t)total * 520);
    size_t *off = malloc(((size_t)total + 1) * sizeof *off);
    unsigned char *venue = malloc((size_t)total);
    char *mix = malloc((size_t)total * 520);            /* all kinds interleaved */
    size_t *moff = malloc(((size_t)total + 1) * sizeof *moff);
    unsigned char *mven = malloc((size_t)total);
    if (!buf || !off || !venue || !mix || !moff || !mven) return 1;
    size_t pos = 0;
    for (int k = 0; k < K_N; k++)
        for (int i = 0; i < K_MSG; i++) {
            int j = k * K_MSG + i;
            off[j] = pos;
            venue[j] = (unsigned char)BYBIT[k];
            pos += (size_t)gen(k, i, buf + pos);
        }
    off[total] = pos;
    size_t mpos = 0;
    for (int i = 0; i < K_MSG; i++)
        for (int k = 0; k < K_N; k++) {
            int j = i * K_N + k, s = k * K_MSG + i;
            size_t len = off[s + 1] - off[s];
            moff[j] = mpos;
            mven[j] = venue[s];
            memcpy(mix + mpos, buf + off[s], len);
            mpos += len;
        }
    moff[total] = mpos;

    int fail = 0;
    double acc = 0;
    long allocs = 0;
    for (int k = 0; k < K_N; k++) {
        long long events, errors;
        long a0 = g_allocs;
        double dt = time_parse(buf, off + (size_t)k * K_MSG, venue + (size_t)k * K_MSG, K_MSG, &events, &errors);
        allocs += g_allocs - a0;
        if (errors || events < K_MSG) {
            fprintf(stderr, "bench_parse: %s: %lld parse errors, %lld events from %d messages\n", NAME[k], errors,
                    events, K_MSG);
            fail = 1;
        }
        double dc = time_cjson(buf, off + (size_t)k * K_MSG, K_MSG, &acc);
        printf("bench ws_parse_%s %.0f msgs/s\n", NAME[k], K_MSG / dt);
        printf("bench ws_parse_%s_cjson %.0f msgs/s\n", NAME[k], dc > 0 ? K_MSG / dc : 0.0);
        fflush(stdout);
    }
    long long events, errors;
    long a0 = g_allocs;
    double dt = time_parse(mix, moff, mven, total, &events, &errors);
    allocs += g_allocs - a0;
    double dc = time_cjson(mix, moff, total, &acc);
    printf("bench ws_messages_parsed %.0f msgs/s\n", total / dt);
    printf("bench ws_messages_parsed_cjson %.0f msgs/s\n", dc > 0 ? total / dc : 0.0);
    printf("bench ws_parse_allocations %ld allocs\n", allocs);
    fprintf(stderr, "(%d kinds x %d messages, %.1f MB, %lld events a pass, cJSON checksum %.0f; CPU time, best of %d)\n",
            K_N, K_MSG, pos / 1e6, events, acc, REPS);
    if (errors) fail = 1;
    if (allocs) {
        fprintf(stderr, "bench_parse: %ld allocations while parsing (must be 0)\n", allocs);
        fail = 1;
    }
    free(buf);
    free(off);
    free(venue);
    free(mix);
    free(moff);
    free(mven);
    return fail;
}
