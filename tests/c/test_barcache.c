/* test_barcache.c — the shared bar cache (store/barcache.c,
 * mts_store_map_ohlcv): a hit gives the bits stored, every write path
 * invalidates (and only its own series), a database copied over another's
 * inode is not served the old file, a damaged file is rebuilt, an unusable
 * cache directory falls back to decoding with the same bits, two processes
 * building at once, the view is read-only, and migration 7 gives every series
 * a version.
 * Expected bars are the ones the test generated and stored (bit patterns
 * compared with memcmp), not what the code under test returns. Each test has
 * its own database directory and cache directory (MTS_CACHE_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mts.h"
#include "store/store.h"
#include "tmpdb.h"

typedef struct fx {
    char dir[64], path[128], cache[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("barcache", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    snprintf(f->cache, sizeof f->cache, "%s/cache", f->dir);
    setenv("MTS_CACHE_DIR", f->cache, 1);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    unsetenv("MTS_CACHE_DIR");
    free(f);
    return rc;
}

/* n bars from t0, step seconds apart except a gap every 700 bars; values with
 * varied bit patterns (-0.0, infinities, subnormals among them). */
static void gen(mts_bars_t *b, int64_t n, int64_t t0, int64_t step, double salt) {
    assert_int_equal(mts_bars_reserve(b, n), 0);
    int64_t t = t0;
    for (int64_t i = 0; i < n; i++) {
        b->ts[i] = t;
        t += step * (i % 700 == 699 ? 5 : 1);
        double p = 100.0 + salt + sin((double)i * 0.37) * 7.0 + (double)i * 1e-3;
        b->open[i] = p;
        b->high[i] = i % 911 == 5 ? INFINITY : p + 0.25;
        b->low[i] = i % 613 == 7 ? -0.0 : p - 0.25;
        b->close[i] = i % 997 == 3 ? 4.9e-324 : p + 0.125 * (double)(i % 3);
        b->volume[i] = (double)(i % 101) * 0.1 + salt;
    }
    b->n = n;
}

/* The view holds exactly bars [lo, hi) of b, bit for bit. */
static void assert_view_is(const mts_bars_view_t *v, const mts_bars_t *b, int64_t lo, int64_t hi) {
    assert_int_equal(v->n, hi - lo);
    if (hi == lo) return;
    assert_memory_equal(v->ts, b->ts + lo, (size_t)(hi - lo) * 8);
    assert_memory_equal(v->open, b->open + lo, (size_t)(hi - lo) * 8);
    assert_memory_equal(v->high, b->high + lo, (size_t)(hi - lo) * 8);
    assert_memory_equal(v->low, b->low + lo, (size_t)(hi - lo) * 8);
    assert_memory_equal(v->close, b->close + lo, (size_t)(hi - lo) * 8);
    assert_memory_equal(v->volume, b->volume + lo, (size_t)(hi - lo) * 8);
}

/* The number of cache files (*.bars) in dir; the last one's path in out. */
static int cache_files(const char *dir, char *out, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".bars")) {
            k++;
            if (out) snprintf(out, n, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return k;
}

static ino_t ino_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

static void map_all(mts_store_t *s, const char *iv, mts_bars_view_t *v) {
    assert_int_equal(mts_store_map_ohlcv(s, "coin", iv, INT64_MIN, INT64_MAX, v), 0);
}

static void test_hit_same_bits(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0}, ld = {0};
    gen(&b, 5000, 1600000000, 60, 0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    mts_bars_view_t v;
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    assert_view_is(&v, &b, 0, b.n);
    mts_bars_view_release(&v);
    char file[256];
    assert_int_equal(cache_files(f->cache, file, sizeof file), 1);
    ino_t first = ino_of(file);
    struct stat st;
    assert_int_equal(stat(f->cache, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* ranges: a hit each, the same inode, the bits of the load */
    int64_t cuts[][2] = {{INT64_MIN, INT64_MAX}, {b.ts[10], b.ts[4000]}, {b.ts[10] + 1, b.ts[4000] - 1},
                         {b.ts[0] - 100, b.ts[0] - 1}, {b.ts[4999] + 1, INT64_MAX}, {b.ts[50], b.ts[50]},
                         {b.ts[698] + 61, b.ts[699] + 299}, {INT64_MIN, b.ts[2]}};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        int64_t from = cuts[c][0], to = cuts[c][1], lo = 0, hi = 0;
        while (lo < b.n && b.ts[lo] < from) lo++;
        hi = lo;
        while (hi < b.n && b.ts[hi] <= to) hi++;
        assert_int_equal(mts_store_map_ohlcv(f->s, "coin", "1m", from, to, &v), 0);
        assert_int_equal(v.cached, 1);
        assert_view_is(&v, &b, lo, hi);
        assert_int_equal(mts_store_load_ohlcv(f->s, "coin", "1m", from, to, &ld), 0);
        assert_int_equal(ld.n, v.n);
        if (v.n) assert_memory_equal(ld.close, v.close, (size_t)v.n * 8);
        mts_bars_view_release(&v);
    }
    assert_int_equal(ino_of(file), first);
    /* from > to: empty; a series with no bars: empty, no file */
    assert_int_equal(mts_store_map_ohlcv(f->s, "coin", "1m", 10, 9, &v), 0);
    assert_int_equal(v.n, 0);
    mts_bars_view_release(&v);
    assert_int_equal(mts_store_map_ohlcv(f->s, "nothing", "1m", INT64_MIN, INT64_MAX, &v), 0);
    assert_int_equal(v.n, 0);
    assert_int_equal(v.cached, 0);
    mts_bars_view_release(&v);
    assert_int_equal(cache_files(f->cache, NULL, 0), 1);
    /* the view outlives the store */
    map_all(f->s, "1m", &v);
    mts_store_close(f->s);
    f->s = NULL;
    assert_view_is(&v, &b, 0, b.n);
    mts_bars_view_release(&v);
    mts_bars_free(&b);
    mts_bars_free(&ld);
}

static void test_writes_invalidate(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0}, one = {0}, five = {0};
    gen(&b, 3000, 1600000020, 60, 1);   /* 1600000020 is not a block start: blocks cut inside */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    mts_bars_view_t v;
    map_all(f->s, "1m", &v);
    mts_bars_view_release(&v);
    char file[256];
    assert_int_equal(cache_files(f->cache, file, sizeof file), 1);
    ino_t ino = ino_of(file);

    /* the same bits again: nothing written, the file stays */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    mts_bars_view_release(&v);
    assert_int_equal(ino_of(file), ino);

    /* a bar changed in the middle of a block */
    assert_int_equal(mts_bars_reserve(&one, 1), 0);
    one.n = 1;
    one.ts[0] = b.ts[1500];
    one.open[0] = one.high[0] = one.low[0] = 7.0;
    one.close[0] = 7.5;
    one.volume[0] = 3.0;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &one), 0);
    b.open[1500] = b.high[1500] = b.low[1500] = 7.0;
    b.close[1500] = 7.5;
    b.volume[1500] = 3.0;
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    assert_view_is(&v, &b, 0, b.n);
    mts_bars_view_release(&v);
    assert_int_not_equal(ino_of(file), ino);
    ino = ino_of(file);

    /* a bar inserted between two stored ones (a gap) */
    one.ts[0] = b.ts[699] + 60;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &one), 0);
    map_all(f->s, "1m", &v);
    assert_int_equal(v.n, b.n + 1);
    assert_memory_equal(v.ts, b.ts, 700 * 8);
    assert_memory_equal(v.close, b.close, 700 * 8);
    assert_memory_equal(v.ts + 701, b.ts + 700, (size_t)(b.n - 700) * 8);
    assert_true(v.ts[700] == one.ts[0] && v.close[700] == 7.5);
    assert_memory_equal(v.close + 701, b.close + 700, (size_t)(b.n - 700) * 8);
    mts_bars_view_release(&v);
    assert_int_not_equal(ino_of(file), ino);
    ino = ino_of(file);

    /* a new block far later */
    one.ts[0] = b.ts[b.n - 1] + 86400 * 30;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &one), 0);
    map_all(f->s, "1m", &v);
    assert_int_equal(v.n, b.n + 2);
    assert_true(v.ts[v.n - 1] == one.ts[0]);
    mts_bars_view_release(&v);
    assert_int_not_equal(ino_of(file), ino);
    ino = ino_of(file);

    /* another interval of the same asset: this one's file stays */
    gen(&five, 400, 1600000000, 300, 2);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "5m", &five), 0);
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    mts_bars_view_release(&v);
    assert_int_equal(ino_of(file), ino);
    map_all(f->s, "5m", &v);
    assert_int_equal(v.cached, 1);
    assert_view_is(&v, &five, 0, five.n);
    mts_bars_view_release(&v);
    assert_int_equal(cache_files(f->cache, NULL, 0), 2);

    /* ohlcv_series.n followed every write */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version, n FROM ohlcv_series WHERE cryptocurrency = 'coin' "
                                            "AND interval = '1m'", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 1), b.n + 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    mts_bars_free(&b);
    mts_bars_free(&one);
    mts_bars_free(&five);
}

/* Versions are random, not counted: two databases written the same way get
 * different ones. */
static void test_versions_random(void **state) {
    fx_t *f = *state;
    char p2[160];
    snprintf(p2, sizeof p2, "%s/u.db", f->dir);
    mts_store_t *s2 = NULL;
    assert_int_equal(mts_store_open(p2, &s2), 0);
    mts_bars_t b = {0};
    gen(&b, 10, 1600000000, 60, 0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    assert_int_equal(mts_store_upsert_ohlcv(s2, "coin", "1m", &b), 0);
    mts_store_close(s2);
    int64_t v[2];
    const char *paths[2] = {f->path, p2};
    for (int i = 0; i < 2; i++) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(paths[i], &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT version, n FROM ohlcv_series", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v[i] = sqlite3_column_int64(st, 0);
        assert_int_equal(sqlite3_column_int64(st, 1), 10);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_true(v[0] != v[1]);
    mts_bars_free(&b);
}

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    int fd = open(to, O_WRONLY | O_TRUNC);   /* the same inode, other bytes */
    assert_true(fd >= 0);
    char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(write(fd, buf, r), (ssize_t)r);
    fclose(in);
    close(fd);
}

static void test_db_copied_over(void **state) {
    fx_t *f = *state;
    char p2[160];
    snprintf(p2, sizeof p2, "%s/other.db", f->dir);
    mts_bars_t a = {0}, b = {0};
    gen(&a, 2000, 1600000000, 60, 0);
    gen(&b, 2000, 1600000000, 60, 5);   /* the same times and count, other values */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &a), 0);
    mts_store_t *s2 = NULL;
    assert_int_equal(mts_store_open(p2, &s2), 0);
    assert_int_equal(mts_store_upsert_ohlcv(s2, "coin", "1m", &b), 0);
    mts_store_close(s2);                       /* checkpointed: the bars in other.db itself */
    mts_bars_view_t v;
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    assert_view_is(&v, &a, 0, a.n);
    mts_bars_view_release(&v);
    ino_t ino = ino_of(f->path);
    mts_store_close(f->s);
    f->s = NULL;
    copy_file(p2, f->path);
    assert_int_equal(ino_of(f->path), ino);
    assert_int_equal(mts_store_open(f->path, &f->s), 0);
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    assert_view_is(&v, &b, 0, b.n);
    mts_bars_view_release(&v);
    mts_bars_free(&a);
    mts_bars_free(&b);
}

static void test_damaged_file_rebuilt(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    gen(&b, 2500, 1600000000, 60, 3);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    mts_bars_view_t v;
    map_all(f->s, "1m", &v);
    mts_bars_view_release(&v);
    char file[256];
    assert_int_equal(cache_files(f->cache, file, sizeof file), 1);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    const off_t size = st.st_size;
    for (int round = 0; round < 4; round++) {
        ino_t before = ino_of(file);
        if (round == 0) assert_int_equal(truncate(file, size / 2), 0);         /* truncated */
        else if (round == 1) {                                                  /* garbage, right size */
            int fd = open(file, O_WRONLY);
            assert_true(fd >= 0);
            char junk[4096];
            for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 131 + 7);
            for (off_t at = 0; at < size; at += (off_t)sizeof junk) {
                size_t n = (size_t)(size - at < (off_t)sizeof junk ? size - at : (off_t)sizeof junk);
                assert_int_equal(pwrite(fd, junk, n, at), (ssize_t)n);
            }
            close(fd);
        } else if (round == 2) {                                                /* its version off by one bit */
            map_all(f->s, "1m", &v);
            mts_bars_view_release(&v);
            int fd = open(file, O_RDWR);
            unsigned char byte;
            assert_int_equal(pread(fd, &byte, 1, 16), 1);                      /* head: version at 16 */
            byte ^= 1;
            assert_int_equal(pwrite(fd, &byte, 1, 16), 1);
            close(fd);
            before = ino_of(file);
        } else {                                                                /* a longer file */
            assert_int_equal(truncate(file, size + 64), 0);
        }
        map_all(f->s, "1m", &v);
        assert_int_equal(v.cached, 1);
        assert_view_is(&v, &b, 0, b.n);
        mts_bars_view_release(&v);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, size);
        assert_int_not_equal(st.st_ino, before);   /* rebuilt, not trusted */
    }
    mts_bars_free(&b);
}

static void test_unusable_dir_falls_back(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    gen(&b, 1500, 1600000000, 3600, 4);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1h", &b), 0);
    char bad[5][200];
    snprintf(bad[0], sizeof bad[0], "off");
    snprintf(bad[1], sizeof bad[1], "%s/t.db", f->dir);                  /* a file */
    snprintf(bad[2], sizeof bad[2], "%s/no/such/dir", f->dir);           /* cannot be made */
    snprintf(bad[3], sizeof bad[3], "%s/open", f->dir);                  /* writable by all */
    mkdir(bad[3], 0700);
    chmod(bad[3], 0777);
    snprintf(bad[4], sizeof bad[4], "%s/ro", f->dir);                    /* not writable */
    mkdir(bad[4], 0500);
    int root = geteuid() == 0;                                           /* root writes anyway */
    for (int i = 0; i < 5; i++) {
        if (i == 4 && root) continue;
        setenv("MTS_CACHE_DIR", bad[i], 1);
        mts_bars_view_t v;
        assert_int_equal(mts_store_map_ohlcv(f->s, "coin", "1h", b.ts[3], b.ts[1200], &v), 0);
        assert_int_equal(v.cached, 0);
        assert_view_is(&v, &b, 3, 1201);
        mts_bars_view_release(&v);
    }
    assert_int_equal(cache_files(bad[3], NULL, 0), 0);
    /* the borrowed mts_bars_t of a view */
    setenv("MTS_CACHE_DIR", f->cache, 1);
    mts_bars_view_t v;
    map_all(f->s, "1h", &v);
    mts_bars_t br;
    mts_bars_view_borrow(&v, &br);
    assert_int_equal(br.n, b.n);
    assert_ptr_equal(br.close, v.close);
    mts_bars_view_release(&v);
    mts_bars_free(&b);
}

/* Two processes with an empty cache map the series at once, round after
 * round: each must get the bars stored. */
static void test_two_processes(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    gen(&b, 20000, 1600000000, 60, 6);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    for (int round = 0; round < 4; round++) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->cache);
        assert_int_equal(system(cmd), 0);
        pid_t pid[2];
        for (int k = 0; k < 2; k++) {
            pid[k] = fork();
            assert_true(pid[k] >= 0);
            if (pid[k] == 0) {
                mts_store_t *s = NULL;
                mts_bars_view_t v;
                int bad = mts_store_open(f->path, &s) || mts_store_map_ohlcv(s, "coin", "1m", INT64_MIN, INT64_MAX, &v);
                bad = bad || v.n != b.n || memcmp(v.ts, b.ts, (size_t)b.n * 8) ||
                      memcmp(v.open, b.open, (size_t)b.n * 8) || memcmp(v.volume, b.volume, (size_t)b.n * 8) ||
                      memcmp(v.close, b.close, (size_t)b.n * 8);
                _exit(bad ? 1 : 0);
            }
        }
        for (int k = 0; k < 2; k++) {
            int status = 0;
            assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
        assert_int_equal(cache_files(f->cache, NULL, 0), 1);
    }
    mts_bars_free(&b);
}

static void test_view_read_only(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    gen(&b, 100, 1600000000, 60, 0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1m", &b), 0);
    mts_bars_view_t v;
    map_all(f->s, "1m", &v);
    assert_int_equal(v.cached, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        mts_bars_t w;
        mts_bars_view_borrow(&v, &w);
        w.close[0] = 1.0;           /* must die here */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_memory_equal(v.close, b.close, 8);
    mts_bars_view_release(&v);
    mts_bars_free(&b);
}

/* Migration 7 gives every series it moves a row of ohlcv_series: n its bars,
 * a version; and the cache serves them as the load decodes them. */
static void test_migration_v7_series(void **state) {
    fx_t *f = *state;
    char p[160], cmd[400];
    snprintf(p, sizeof p, "%s/v6.db", f->dir);
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/db/schema_v6.db '%s'", p);
    assert_int_equal(system(cmd), 0);
    /* independently: the bars per series in the v6 row table */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT cryptocurrency, interval, COUNT(*) FROM crypto_ohlcv GROUP BY 1, 2"
                                            " ORDER BY 1, 2", -1, &st, NULL), SQLITE_OK);
    char names[16][2][32];
    int64_t counts[16];
    int k = 0;
    while (sqlite3_step(st) == SQLITE_ROW && k < 16) {
        snprintf(names[k][0], 32, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(names[k][1], 32, "%s", (const char *)sqlite3_column_text(st, 1));
        counts[k++] = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(k > 0);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(p, &s), 0);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT cryptocurrency, interval, n, version FROM ohlcv_series"
                                            " ORDER BY 1, 2", -1, &st, NULL), SQLITE_OK);
    int j = 0;
    int64_t versions[16];
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(j < k);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), names[j][0]);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), names[j][1]);
        assert_int_equal(sqlite3_column_int64(st, 2), counts[j]);
        versions[j] = sqlite3_column_int64(st, 3);
        for (int i = 0; i < j; i++) assert_true(versions[i] != versions[j]);
        j++;
    }
    assert_int_equal(j, k);
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (int i = 0; i < k; i++) {
        mts_bars_t ld = {0};
        mts_bars_view_t v;
        assert_int_equal(mts_store_load_ohlcv(s, names[i][0], names[i][1], INT64_MIN, INT64_MAX, &ld), 0);
        assert_int_equal(mts_store_map_ohlcv(s, names[i][0], names[i][1], INT64_MIN, INT64_MAX, &v), 0);
        assert_int_equal(v.cached, 1);
        assert_int_equal(v.n, counts[i]);
        assert_view_is(&v, &ld, 0, ld.n);
        mts_bars_view_release(&v);
        mts_bars_free(&ld);
    }
    mts_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_same_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_invalidate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_copied_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_file_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_dir_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_v7_series, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
