/* bench_cache.c — the cache and the bus (runtime/cache/). Prints:
 *   bench cache_l1_get_hit        ops/s   hits on 1000 hot keys of a 4096-entry L1
 *   bench cache_l1_set            ops/s   overwrites of 1000 keys (buffers reused)
 *   bench cache_redis_set_pipelined ops/s 200 000 SET EX in batches of 1000 (one round trip each)
 *   bench cache_redis_set_single  ops/s   SET EX one round trip each (for comparison)
 *   bench bus_sqlite_publish      msgs/s  mts_bus_publish, SQLite backend (WAL, autocommit)
 *   bench bus_sqlite_publish_poll msgs/s  publish N then poll them all, per message
 *   bench bus_redis_publish       msgs/s  XADD MAXLEN ~, one round trip each
 *   bench bus_redis_publish_poll  msgs/s  publish N then XREAD them in pages of 1000
 * Redis figures need $MTS_TEST_REDIS_URL (tests/bench/run.sh starts a
 * throwaway server); without it they are skipped with a note on stderr.
 * Payloads are ~120-byte JSON objects like the signal messages of `mts run`. */
#include "mts.h"
#include "cache/bus.h"
#include "cache/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char PAYLOAD[] =
    "{\"strategy\":\"mean_reversion\",\"asset\":\"bitcoin\",\"ts\":1700000000,\"signal\":1,"
    "\"strength\":0.8125,\"price\":37123.45,\"reason\":\"z<-2\"}";

static int count_cb(void *ud, const char *id, const char *topic, const char *payload, size_t len) {
    (void)id; (void)topic; (void)payload; (void)len;
    (*(long *)ud)++;
    return 0;
}

static void bench_l1(void) {
    mts_cache_t *c = NULL;
    if (mts_cache_open(NULL, &c)) exit(1);
    char keys[1000][48];
    for (int i = 0; i < 1000; i++) {
        mts_cache_key_signal(keys[i], sizeof keys[i], "mean_reversion", "bitcoin", 1700000000 + i);
        mts_cache_set(c, keys[i], PAYLOAD, sizeof PAYLOAD - 1, MTS_TTL_SIGNAL);
    }
    const long N = 20000000;
    const char *v;
    size_t len, total = 0;
    double t0 = now();
    for (long i = 0; i < N; i++) {
        if (mts_cache_get(c, keys[i % 1000], &v, &len)) exit(1);
        total += len;
    }
    double dt = now() - t0;
    if (total != (size_t)N * (sizeof PAYLOAD - 1)) exit(1);
    printf("bench cache_l1_get_hit %.0f ops/s\n", N / dt);
    const long M = 5000000;
    t0 = now();
    for (long i = 0; i < M; i++)
        if (mts_cache_set(c, keys[i % 1000], PAYLOAD, sizeof PAYLOAD - 1 - (size_t)(i & 7), MTS_TTL_SIGNAL)) exit(1);
    dt = now() - t0;
    printf("bench cache_l1_set %.0f ops/s\n", M / dt);
    mts_cache_close(c);
}

static void bench_redis_cache(const char *url) {
    mts_cache_config_t cfg = {.redis_url = url, .l1_capacity = 4096, .timeout_ms = 5000};
    mts_cache_t *c = NULL;
    if (mts_cache_open(&cfg, &c)) exit(1);
    char key[64];
    const int N = 200000, B = 1000;
    double t0 = now();
    for (int i = 0; i < N; i += B) {
        mts_cache_begin(c);
        for (int j = i; j < i + B; j++) {
            snprintf(key, sizeof key, "mts:bench:%d:%d", (int)getpid(), j);
            mts_cache_set(c, key, PAYLOAD, sizeof PAYLOAD - 1, 60);
        }
        if (mts_cache_commit(c)) { fprintf(stderr, "bench_cache: %s\n", mts_cache_errmsg(c)); exit(1); }
    }
    double dt = now() - t0;
    mts_cache_stats_t st;
    mts_cache_stats(c, &st);
    if (st.l2_errors) { fprintf(stderr, "bench_cache: %lld Redis errors\n", (long long)st.l2_errors); exit(1); }
    printf("bench cache_redis_set_pipelined %.0f ops/s\n", N / dt);
    const int S = 20000;
    t0 = now();
    for (int j = 0; j < S; j++) {
        snprintf(key, sizeof key, "mts:bench:%d:%d", (int)getpid(), j);
        mts_cache_set(c, key, PAYLOAD, sizeof PAYLOAD - 1, 60);
    }
    dt = now() - t0;
    printf("bench cache_redis_set_single %.0f ops/s\n", S / dt);
    /* the keys expire in 60 s; delete them now anyway, in one pipeline a batch */
    for (int i = 0; i < N; i += B) {
        mts_cache_begin(c);
        for (int j = i; j < i + B; j++) {
            snprintf(key, sizeof key, "mts:bench:%d:%d", (int)getpid(), j);
            mts_cache_del(c, key);
        }
        mts_cache_commit(c);
    }
    mts_cache_close(c);
}

static void bench_bus(const char *name, const mts_bus_config_t *cfg, int n) {
    mts_bus_t *pub = NULL, *sub = NULL;
    if (mts_bus_open(cfg, &pub) || mts_bus_open(cfg, &sub)) {
        fprintf(stderr, "bench_cache: bus: %s\n", mts_bus_errmsg(NULL));
        exit(1);
    }
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    long got = 0;
    if (mts_bus_poll(sub, cur, 1, count_cb, &got) < 0) exit(1);
    double t0 = now();
    for (int i = 0; i < n; i++)
        if (mts_bus_publish(pub, "signal", PAYLOAD, sizeof PAYLOAD - 1)) {
            fprintf(stderr, "bench_cache: publish: %s\n", mts_bus_errmsg(pub));
            exit(1);
        }
    double t1 = now();
    while (got < n) {
        int k = mts_bus_poll(sub, cur, 1000, count_cb, &got);
        if (k <= 0) { fprintf(stderr, "bench_cache: poll: %d %s\n", k, mts_bus_errmsg(sub)); exit(1); }
    }
    double t2 = now();
    printf("bench bus_%s_publish %.0f msgs/s\n", name, n / (t1 - t0));
    printf("bench bus_%s_publish_poll %.0f msgs/s\n", name, n / (t2 - t0));
    mts_bus_close(pub);
    mts_bus_close(sub);
}

int main(void) {
    bench_l1();
    char dir[] = "/tmp/mts-bench-bus-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/bus.db", dir);
    mts_bus_config_t sq = {.db_path = path, .maxlen = 1000000};
    bench_bus("sqlite", &sq, 100000);
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    const char *url = getenv("MTS_TEST_REDIS_URL");
    if (!url || !*url) {
        fprintf(stderr, "bench_cache: MTS_TEST_REDIS_URL not set: Redis figures skipped\n");
        return 0;
    }
    bench_redis_cache(url);
    char stream[64];
    snprintf(stream, sizeof stream, "mts:bench:bus:%d", (int)getpid());
    mts_bus_config_t rd = {.redis_url = url, .stream = stream, .maxlen = 1000000, .timeout_ms = 5000};
    bench_bus("redis", &rd, 50000);
    mts_cache_config_t cc = {.redis_url = url};
    mts_cache_t *c = NULL;
    if (mts_cache_open(&cc, &c) == 0) mts_cache_del(c, stream);
    mts_cache_close(c);
    return 0;
}
