/* bench_store.c — OHLCV rows/s into SQLite through mts_store_upsert_ohlcv:
 * a generated batch of 1 000 000 daily bars (one transaction) into a fresh
 * temporary database. Prints "bench sqlite_ohlcv_rows <rows/s> rows/s". */
#include "mts.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define N 1000000

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
    char path[] = "/tmp/mts-bench-store-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) { fprintf(stderr, "bench_store: %s\n", mts_store_errmsg(NULL)); return 1; }
    mts_bars_t b = {0};
    if (mts_bars_reserve(&b, N)) return 1;
    for (int64_t i = 0; i < N; i++) {
        double p = 100.0 + (double)(i % 1000) * 0.01;
        b.ts[i] = 1500000000LL + i * 60;     /* one a minute: distinct keys */
        b.open[i] = p;
        b.high[i] = p + 1;
        b.low[i] = p - 1;
        b.close[i] = p + 0.5;
        b.volume[i] = 1000 + (double)(i % 97);
    }
    b.n = N;
    double t0 = now();
    int rc = mts_store_upsert_ohlcv(s, "benchcoin", "1d", &b);
    double dt = now() - t0;
    int64_t n = 0;
    mts_store_count_ohlcv(s, "benchcoin", "1d", &n);
    if (rc || n != N) {
        fprintf(stderr, "bench_store: upsert failed (%s), %lld rows\n", mts_store_errmsg(s), (long long)n);
        return 1;
    }
    printf("bench sqlite_ohlcv_rows %.0f rows/s\n", N / dt);
    mts_bars_free(&b);
    mts_store_close(s);
    char aux[64];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path); unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path); unlink(aux);
    return 0;
}
