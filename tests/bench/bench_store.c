/* bench_store.c — OHLCV in SQLite: 1 000 000 one-minute bars of one asset
 * stored through mts_store_upsert_ohlcv (one transaction, column blocks of
 * schema v7) and loaded back with mts_store_load_ohlcv; beside each figure
 * the same work on the row table of schema v6 (crypto_ohlcv), built by this
 * bench with raw SQL as the store did before v7: a 50-row multi-row upsert
 * and the ORDER BY timestamp load, column by column into the same arrays.
 *
 * Prints (times are process CPU time; loads are the median of 5):
 *   bench sqlite_ohlcv_rows <rows/s> rows/s
 *   bench sqlite_ohlcv_rows_rowtable_baseline <rows/s> rows/s
 *   bench ohlcv_load_1m_bars_ms <ms> ms
 *   bench ohlcv_load_1m_bars_ms_rowtable_baseline <ms> ms
 *   bench ohlcv_map_1m_bars_ms <ms> ms          mts_store_map_ohlcv, a cache hit
 *   bench ohlcv_map_1m_bars_build_ms <ms> ms    its first call: the cache file built
 *     (the bar cache, docs/store.md: a private cache directory under /dev/shm,
 *     removed at the end; a hit maps the file with every page populated, so
 *     its figure is the whole cost of having the bars in memory; the load
 *     beside it is the decode into fresh memory that the cache saves)
 *   bench ohlcv_db_bytes_per_bar <bytes> bytes
 *   bench ohlcv_db_bytes_per_bar_rowtable_baseline <bytes> bytes */
#include "mts.h"
#include "store/store.h"
#include "util/timeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N 1000000
#define RUNS 5
#define MULTI 50

static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static void rm_db(const char *path) {
    char aux[96];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path); unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path); unlink(aux);
}

/* Bytes of the database file after a checkpoint (the WAL folded in). */
static double db_bytes(sqlite3 *db, const char *path) {
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    struct stat st;
    return stat(path, &st) ? -1 : (double)st.st_size;
}

static int die(const char *what, const char *msg) {
    fprintf(stderr, "bench_store: %s: %s\n", what, msg);
    return 1;
}

/* ---- the v6 row table, as the store used it ---- */

#define V6_TABLE \
    "CREATE TABLE crypto_ohlcv (id INTEGER PRIMARY KEY AUTOINCREMENT, cryptocurrency TEXT NOT NULL," \
    " interval TEXT NOT NULL DEFAULT '1d', timestamp INTEGER NOT NULL, date_str TEXT NOT NULL," \
    " open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL," \
    " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, UNIQUE(cryptocurrency, interval, timestamp));"
#define V6_TAIL \
    " ON CONFLICT(cryptocurrency, interval, timestamp) DO UPDATE SET" \
    "  date_str = excluded.date_str, open = excluded.open, high = excluded.high," \
    "  low = excluded.low, close = excluded.close, volume = excluded.volume" \
    " WHERE open IS NOT excluded.open OR high IS NOT excluded.high OR low IS NOT excluded.low" \
    "  OR close IS NOT excluded.close OR volume IS NOT excluded.volume OR date_str IS NOT excluded.date_str"

static int rowtable_upsert(sqlite3 *db, const mts_bars_t *b) {
    char sql[8192];
    size_t n = (size_t)snprintf(sql, sizeof sql, "INSERT INTO crypto_ohlcv(cryptocurrency, interval, timestamp, "
                                "date_str, open, high, low, close, volume) VALUES");
    for (int r = 0; r < MULTI; r++) {
        int p = 7 * r + 3;
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(?1,?2,?%d,?%d,?%d,?%d,?%d,?%d,?%d)", r ? "," : "", p,
                              p + 1, p + 2, p + 3, p + 4, p + 5, p + 6);
    }
    snprintf(sql + n, sizeof sql - n, "%s", V6_TAIL);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, "benchcoin", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, "1m", -1, SQLITE_STATIC);
    char date[MULTI][16];
    for (int64_t i = 0; i + MULTI <= b->n; i += MULTI) {   /* N is a multiple of MULTI */
        for (int r = 0; r < MULTI; r++) {
            int64_t k = i + r;
            int p = 7 * r + 3;
            mts_time_format_date(b->ts[k], date[r]);
            sqlite3_bind_int64(st, p, b->ts[k]);
            sqlite3_bind_text(st, p + 1, date[r], 10, SQLITE_STATIC);
            sqlite3_bind_double(st, p + 2, b->open[k]);
            sqlite3_bind_double(st, p + 3, b->high[k]);
            sqlite3_bind_double(st, p + 4, b->low[k]);
            sqlite3_bind_double(st, p + 5, b->close[k]);
            sqlite3_bind_double(st, p + 6, b->volume[k]);
        }
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return -1;
    }
    sqlite3_finalize(st);
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int rowtable_load(sqlite3 *db, mts_bars_t *out) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT timestamp, open, high, low, close, volume FROM crypto_ohlcv WHERE "
                               "cryptocurrency = ?1 AND interval = ?4 AND timestamp >= ?2 AND timestamp <= ?3 "
                               "ORDER BY timestamp", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, "benchcoin", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, "1m", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, INT64_MIN);
    sqlite3_bind_int64(st, 3, INT64_MAX);
    out->n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == out->cap && mts_bars_reserve(out, out->cap < 256 ? 256 : out->cap * 2)) return -1;
        int64_t i = out->n++;
        out->ts[i] = sqlite3_column_int64(st, 0);
        out->open[i] = sqlite3_column_double(st, 1);
        out->high[i] = sqlite3_column_double(st, 2);
        out->low[i] = sqlite3_column_double(st, 3);
        out->close[i] = sqlite3_column_double(st, 4);
        out->volume[i] = sqlite3_column_double(st, 5);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int main(void) {
    char path[] = "/tmp/mts-bench-store-XXXXXX", rpath[] = "/tmp/mts-bench-rows-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    fd = mkstemp(rpath);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    unlink(path);
    unlink(rpath);
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

    /* the blocks, through the store */
    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) return die("open", mts_store_errmsg(NULL));
    double t0 = cpu();
    int rc = mts_store_upsert_ohlcv(s, "benchcoin", "1m", &b);
    double up_new = cpu() - t0;
    int64_t n = 0;
    mts_store_count_ohlcv(s, "benchcoin", "1m", &n);
    if (rc || n != N) return die("upsert", mts_store_errmsg(s));
    mts_bars_t out = {0};
    double t_new[RUNS];
    for (int r = 0; r < RUNS; r++) {
        mts_bars_free(&out);                 /* a fresh struct each time, as a backtest loads */
        t0 = cpu();
        rc = mts_store_load_ohlcv(s, "benchcoin", "1m", INT64_MIN, INT64_MAX, &out);
        t_new[r] = cpu() - t0;
        if (rc || out.n != N) return die("load", mts_store_errmsg(s));
    }
    if (memcmp(out.close, b.close, sizeof(double) * N) || memcmp(out.ts, b.ts, sizeof(int64_t) * N))
        return die("load", "bars read back differ from those stored");

    /* the bar cache: built once, then hits */
    char cdir[] = "/dev/shm/mts-bench-cache-XXXXXX", cdir_tmp[] = "/tmp/mts-bench-cache-XXXXXX";
    char *cd = mkdtemp(cdir);
    if (!cd) cd = mkdtemp(cdir_tmp);
    if (!cd) { perror("mkdtemp"); return 1; }
    setenv("MTS_CACHE_DIR", cd, 1);
    mts_bars_view_t v;
    t0 = cpu();
    rc = mts_store_map_ohlcv(s, "benchcoin", "1m", INT64_MIN, INT64_MAX, &v);
    double t_build = cpu() - t0;
    if (rc || v.n != N || !v.cached) return die("map", rc ? mts_store_errmsg(s) : "the cache was not used");
    mts_bars_view_release(&v);
    double t_map[RUNS];
    for (int r = 0; r < RUNS; r++) {
        t0 = cpu();
        rc = mts_store_map_ohlcv(s, "benchcoin", "1m", INT64_MIN, INT64_MAX, &v);
        t_map[r] = cpu() - t0;
        if (rc || v.n != N || !v.cached) return die("map", rc ? mts_store_errmsg(s) : "the cache was not used");
        if (r < RUNS - 1) mts_bars_view_release(&v);
    }
    if (memcmp(v.ts, out.ts, sizeof(int64_t) * N) || memcmp(v.open, out.open, sizeof(double) * N) ||
        memcmp(v.high, out.high, sizeof(double) * N) || memcmp(v.low, out.low, sizeof(double) * N) ||
        memcmp(v.close, out.close, sizeof(double) * N) || memcmp(v.volume, out.volume, sizeof(double) * N))
        return die("map", "cached bars differ from the loaded ones");
    mts_bars_view_release(&v);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cd);
    if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", cd);
    mts_store_close(s);
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    double bytes_new = db_bytes(db, path);
    sqlite3_close(db);

    /* the row table of v6, by raw SQL */
    if (sqlite3_open(rpath, &db) != SQLITE_OK) return die("open", rpath);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; " V6_TABLE, NULL, NULL, NULL))
        return die("rowtable", sqlite3_errmsg(db));
    t0 = cpu();
    if (rowtable_upsert(db, &b)) return die("rowtable upsert", sqlite3_errmsg(db));
    double up_old = cpu() - t0;
    double t_old[RUNS];
    for (int r = 0; r < RUNS; r++) {
        mts_bars_free(&out);
        t0 = cpu();
        if (rowtable_load(db, &out) || out.n != N) return die("rowtable load", sqlite3_errmsg(db));
        t_old[r] = cpu() - t0;
    }
    double bytes_old = db_bytes(db, rpath);
    sqlite3_close(db);

    printf("bench sqlite_ohlcv_rows %.0f rows/s\n", N / up_new);
    printf("bench sqlite_ohlcv_rows_rowtable_baseline %.0f rows/s\n", N / up_old);
    printf("bench ohlcv_load_1m_bars_ms %.1f ms\n", median(t_new, RUNS) * 1e3);
    printf("bench ohlcv_load_1m_bars_ms_rowtable_baseline %.1f ms\n", median(t_old, RUNS) * 1e3);
    printf("bench ohlcv_map_1m_bars_ms %.1f ms\n", median(t_map, RUNS) * 1e3);
    printf("bench ohlcv_map_1m_bars_build_ms %.1f ms\n", t_build * 1e3);
    printf("bench ohlcv_db_bytes_per_bar %.1f bytes\n", bytes_new / N);
    printf("bench ohlcv_db_bytes_per_bar_rowtable_baseline %.1f bytes\n", bytes_old / N);
    mts_bars_free(&out);
    mts_bars_free(&b);
    rm_db(path);
    rm_db(rpath);
    return 0;
}
