/* barcache.c — the shared, memory-mapped bar cache behind mts_store_map_ohlcv
 * (contract in store.h; docs/store.md "Bar cache").
 *
 * Derived data only: the database stays the one thing to back up. A cache
 * file holds one whole series (asset, interval) of one database file, decoded:
 *
 *   [0, 4096)  head_t (below), the rest of the page zero
 *   then six columns, each n values padded to a multiple of 64 bytes:
 *   ts int64, open, high, low, close, volume float64 (host byte order)
 *
 * named DIR/<st_dev>-<st_ino>-<asset>-<interval>.bars (names escaped: every
 * byte but [A-Za-z0-9_] as %XX). A file is used only when its size and every
 * field of its head match what the database says now: the series' version (a
 * random 64-bit value in ohlcv_series, new with every write of the series'
 * blocks, store.h), its n, the database's st_dev/st_ino, the names. The
 * version is read, and a file built, in one read transaction, so a file never
 * holds bars of another version than its head says. A file is built into a
 * temp file of the directory and renamed over the name (atomic: a reader
 * holding the old mapping keeps its inode). Anything wrong with the
 * directory or a file: the bars are decoded into memory as without a cache. */
#include "store/store_internal.h"
#include "store/colblob.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NCOL 5
#define HEAD_BYTES 4096
#define FORMAT 1
#define STALE_SEC (7 * 86400)      /* a file not used this long is removed (when another is built) */
#define TMP_STALE_SEC 3600         /* a temp file left by a process that died */
#define TOUCH_SEC 3600             /* a hit marks the file used at most this often */
static const char MAGIC[8] = {'M', 'T', 'S', 'B', 'A', 'R', 'C', '1'};

typedef struct head {
    char     magic[8];
    uint32_t format, head_bytes;
    uint64_t version;              /* ohlcv_series.version the bars are of */
    int64_t  n, first_ts, last_ts;
    uint64_t dev, ino;             /* the database file */
    uint64_t col_bytes, file_bytes;
    char     asset[256], interval[16];
    char     db_path[3600];        /* for removing files of databases that are gone */
} head_t;
_Static_assert(sizeof(head_t) <= HEAD_BYTES, "head fits its page");

static uint64_t col_bytes(int64_t n) { return ((uint64_t)n * 8 + 63) / 64 * 64; }
static uint64_t file_bytes(int64_t n) { return HEAD_BYTES + (NCOL + 1) * col_bytes(n); }

const char *mts_bar_cache_dir(char *buf, size_t n) {
    const char *e = getenv("MTS_CACHE_DIR");
    if (e && *e) snprintf(buf, n, "%s", e);
    else snprintf(buf, n, "/dev/shm/mts-cache-%lu", (unsigned long)geteuid());
    return buf;
}

/* One line per process when the cache cannot be used (info: the bars are
 * still right, only slower). */
static void note_off(const char *dir, const char *why) {
    static int said;
    if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED)) return;
    mts_log(MTS_LOG_INFO, "store.bar_cache_off", "\"dir\":\"%s\",\"why\":\"%s\"", dir, why);
}

/* The cache directory, usable: a directory of this user that only this user
 * can write (created 0700 when missing). 0 when not (or MTS_CACHE_DIR=off). */
static int usable_dir(char *dir, size_t n) {
    mts_bar_cache_dir(dir, n);
    if (!strcmp(dir, "off")) return 0;
    if (strlen(dir) > 512 || strchr(dir, '"') || strchr(dir, '\\')) {
        note_off("?", "MTS_CACHE_DIR is too long or has quotes");
        return 0;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0 || lstat(dir, &st) != 0) {
            note_off(dir, strerror(errno));
            return 0;
        }
    }
    if (!S_ISDIR(st.st_mode)) note_off(dir, "not a directory");
    else if (st.st_uid != geteuid()) note_off(dir, "owned by another user");
    else if (st.st_mode & 022) note_off(dir, "writable by other users");
    else if (access(dir, W_OK | X_OK) != 0) note_off(dir, "not writable");
    else return 1;
    return 0;
}

static int escape_into(char *out, size_t cap, size_t *at, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (*at + 4 >= cap) return -1;
        if (plain) out[(*at)++] = (char)*p;
        else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*p >> 4];
            out[(*at)++] = hex[*p & 15];
        }
    }
    out[*at] = 0;
    return 0;
}

static int name_of(const char *dir, const struct stat *db, const char *asset, const char *interval, char *out,
                   size_t cap) {
    int w = snprintf(out, cap, "%s/%llu-%llu-", dir, (unsigned long long)db->st_dev, (unsigned long long)db->st_ino);
    if (w < 0 || (size_t)w >= cap) return -1;
    size_t at = (size_t)w;
    if (escape_into(out, cap, &at, asset) || at + 2 >= cap) return -1;
    out[at++] = '-';
    out[at] = 0;
    if (escape_into(out, cap, &at, interval) || at + 6 >= cap) return -1;
    memcpy(out + at, ".bars", 6);
    return 0;
}

/* The view of a whole series in mapping m (file_bytes(n) long). */
static void view_of(mts_bars_view_t *v, void *m, int64_t n) {
    uint8_t *base = (uint8_t *)m + HEAD_BYTES;
    uint64_t cb = col_bytes(n);
    v->n = n;
    v->ts = (const int64_t *)base;
    const double **cols[NCOL] = {&v->open, &v->high, &v->low, &v->close, &v->volume};
    for (int k = 0; k < NCOL; k++) *cols[k] = (const double *)(base + (uint64_t)(k + 1) * cb);
    v->cached = 1;
    v->map_ = m;
    v->map_len_ = (size_t)file_bytes(n);
}

static int head_matches(const head_t *h, uint64_t version, int64_t n, const struct stat *db, const char *asset,
                        const char *interval) {
    return !memcmp(h->magic, MAGIC, sizeof MAGIC) && h->format == FORMAT && h->head_bytes == HEAD_BYTES &&
           h->version == version && h->n == n && h->dev == (uint64_t)db->st_dev && h->ino == (uint64_t)db->st_ino &&
           h->col_bytes == col_bytes(n) && h->file_bytes == file_bytes(n) &&
           !strncmp(h->asset, asset, sizeof h->asset) && !strncmp(h->interval, interval, sizeof h->interval);
}

/* A file of the right size and head: mapped read-only into v. */
static int open_hit(const char *path, uint64_t version, int64_t n, const struct stat *db, const char *asset,
                    const char *interval, mts_bars_view_t *v) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    struct stat st;
    size_t len = (size_t)file_bytes(n);
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (uint64_t)st.st_size == len)
        m = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (m != MAP_FAILED && head_matches(m, version, n, db, asset, interval)) {
        if (time(NULL) - st.st_mtime > TOUCH_SEC) (void)futimens(fd, NULL);   /* used: not stale */
        close(fd);
        view_of(v, m, n);
        return 1;
    }
    if (m != MAP_FAILED) munmap(m, len);
    close(fd);
    return 0;
}

/* Removes, from the cache directory, temp files left over, files not used
 * for STALE_SEC, and files of databases that are gone (their path names no
 * file, or another file). Never `keep`. */
static void clean_dir(const char *dir, const char *keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    const char *keep_name = strrchr(keep, '/') ? strrchr(keep, '/') + 1 : keep;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        int is_tmp = strstr(nm, ".bars.tmp.") != NULL, is_bars = l > 5 && !strcmp(nm + l - 5, ".bars");
        if ((!is_tmp && !is_bars) || !strcmp(nm, keep_name)) continue;
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        int drop = is_tmp ? now - st.st_mtime > TMP_STALE_SEC : now - st.st_mtime > STALE_SEC;
        if (!drop && is_bars) {
            head_t h;
            int fd = openat(dirfd(d), nm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) continue;
            ssize_t r = pread(fd, &h, sizeof h, 0);
            close(fd);
            if (r == (ssize_t)sizeof h && !memcmp(h.magic, MAGIC, sizeof MAGIC)) {
                h.db_path[sizeof h.db_path - 1] = 0;
                struct stat ds;
                drop = stat(h.db_path, &ds) != 0 ? errno == ENOENT
                                                 : (uint64_t)ds.st_dev != h.dev || (uint64_t)ds.st_ino != h.ino;
            } else drop = r >= 0;   /* not a cache file of this format */
        }
        if (drop) (void)unlinkat(dirfd(d), nm, 0);
    }
    closedir(d);
}

/* Decodes every block of the series (in the caller's read transaction, the
 * one the version was read in) into a new file, renamed over path; mapped
 * read-only into v. 0 when it could not be built (the caller decodes into
 * memory, and reports a damaged block). */
static int build(mts_store_t *s, const char *dir, const char *path, const char *db_path, uint64_t version, int64_t n,
                 const struct stat *db, const char *asset, const char *interval, mts_bars_view_t *v) {
    if (strlen(asset) >= sizeof ((head_t *)0)->asset || strlen(interval) >= sizeof ((head_t *)0)->interval ||
        strlen(db_path) >= sizeof ((head_t *)0)->db_path)
        return 0;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) return 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        note_off(dir, strerror(errno));
        return 0;
    }
    const size_t len = (size_t)file_bytes(n);
    int err = posix_fallocate(fd, 0, (off_t)len);   /* a full tmpfs fails here, not with SIGBUS later */
    void *m = err ? MAP_FAILED : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        note_off(dir, err ? strerror(err) : strerror(errno));
        unlink(tmp);
        close(fd);
        return 0;
    }
    uint8_t *base = (uint8_t *)m + HEAD_BYTES;
    const uint64_t cb = col_bytes(n);
    int64_t *ts = (int64_t *)base;
    double *cols[NCOL];
    sqlite3_stmt *st = NULL;
    int ok = mts_store_stmt(s, MTS_STORE_LAZY_BARS_ALL, MTS_BARS_SQL_ALL, &st) == 0;
    int64_t at = 0;
    if (ok) {
        sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, interval, -1, SQLITE_STATIC);
        int rc;
        while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const uint8_t *blob = sqlite3_column_blob(st, 1);
            size_t bl = (size_t)sqlite3_column_bytes(st, 1);
            mts_colblob_info_t in;
            ok = mts_colblob_info(blob, bl, &in) == 0 && in.k == NCOL && in.n == sqlite3_column_int64(st, 0) &&
                 in.n > 0 && in.n <= n - at && (at == 0 || in.first_ts > ts[at - 1]);
            for (int k = 0; ok && k < NCOL; k++) cols[k] = (double *)(base + (uint64_t)(k + 1) * cb) + at;
            if (ok) ok = mts_colblob_decode(blob, bl, 0, in.n, ts + at, cols, NCOL) == 0;
            if (ok) at += in.n;
        }
        if (ok) ok = rc == SQLITE_DONE && at == n;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (ok) {
        head_t *h = m;
        memset(h, 0, sizeof *h);
        memcpy(h->magic, MAGIC, sizeof MAGIC);
        h->format = FORMAT;
        h->head_bytes = HEAD_BYTES;
        h->version = version;
        h->n = n;
        h->first_ts = ts[0];
        h->last_ts = ts[n - 1];
        h->dev = (uint64_t)db->st_dev;
        h->ino = (uint64_t)db->st_ino;
        h->col_bytes = cb;
        h->file_bytes = len;
        snprintf(h->asset, sizeof h->asset, "%s", asset);
        snprintf(h->interval, sizeof h->interval, "%s", interval);
        snprintf(h->db_path, sizeof h->db_path, "%s", db_path);
    }
    munmap(m, len);
    void *ro = ok ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (ro == MAP_FAILED || rename(tmp, path) != 0) {
        if (ro != MAP_FAILED) munmap(ro, len);
        unlink(tmp);
        close(fd);
        return 0;
    }
    close(fd);
    view_of(v, ro, n);
    clean_dir(dir, path);
    return 1;
}

/* The whole series from the cache (hit, or built now) into v: 1; 0 when the
 * cache cannot give it (v untouched). */
static int from_cache(mts_store_t *s, const char *asset, const char *interval, mts_bars_view_t *v) {
    char dir[PATH_MAX], path[PATH_MAX];
    if (!usable_dir(dir, sizeof dir)) return 0;
    sqlite3 *db = mts_store_db(s);
    const char *file = sqlite3_db_filename(db, "main");
    struct stat dbst;
    if (!file || !*file || stat(file, &dbst) != 0) return 0;   /* in memory, temporary */
    if (name_of(dir, &dbst, asset, interval, path, sizeof path)) return 0;
    sqlite3_stmt *ver = NULL;
    if (mts_store_stmt(s, MTS_STORE_LAZY_BARS_VERSION, MTS_BARS_SQL_VERSION, &ver)) return 0;
    /* one read transaction: the version, and the blocks a file is built from */
    const int own_tx = sqlite3_get_autocommit(db);
    if (own_tx && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return 0;
    sqlite3_bind_text(ver, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(ver, 2, interval, -1, SQLITE_STATIC);
    int got = 0;
    if (sqlite3_step(ver) == SQLITE_ROW) {
        uint64_t version = (uint64_t)sqlite3_column_int64(ver, 0);
        int64_t n = sqlite3_column_int64(ver, 1);
        sqlite3_reset(ver);
        if (n > 0 && n <= (INT64_MAX - HEAD_BYTES) / 64) {
            got = open_hit(path, version, n, &dbst, asset, interval, v);
            if (!got) got = build(s, dir, path, file, version, n, &dbst, asset, interval, v);
        }
    }
    sqlite3_reset(ver);
    sqlite3_clear_bindings(ver);
    if (own_tx && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return got;
}

static int64_t lower_bound(const int64_t *ts, int64_t n, int64_t t) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void own_view(mts_bars_view_t *v) {
    v->n = v->own_.n;
    v->ts = v->own_.ts;
    v->open = v->own_.open;
    v->high = v->own_.high;
    v->low = v->own_.low;
    v->close = v->own_.close;
    v->volume = v->own_.volume;
    v->cached = 0;
}

int mts_store_map_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                        mts_bars_view_t *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!s || !asset || !interval || !out) {
        if (s) mts_store_set_error(s, "map_ohlcv: missing argument");
        return MTS_EINVAL;
    }
    if (from > to) return 0;
    if (from_cache(s, asset, interval, out)) {
        int64_t lo = from == INT64_MIN ? 0 : lower_bound(out->ts, out->n, from);
        int64_t hi = to == INT64_MAX ? out->n : lower_bound(out->ts, out->n, to + 1);
        if (hi < lo) hi = lo;
        out->ts += lo;
        out->open += lo;
        out->high += lo;
        out->low += lo;
        out->close += lo;
        out->volume += lo;
        out->n = hi - lo;
        return 0;
    }
    int rc = mts_store_load_ohlcv(s, asset, interval, from, to, &out->own_);
    if (rc) {
        mts_bars_free(&out->own_);
        memset(out, 0, sizeof *out);
        return rc;
    }
    own_view(out);
    return 0;
}

void mts_bars_view_release(mts_bars_view_t *v) {
    if (!v) return;
    if (v->map_) munmap(v->map_, v->map_len_);
    mts_bars_free(&v->own_);
    memset(v, 0, sizeof *v);
}

void mts_bars_view_adopt(mts_bars_view_t *v, mts_bars_t *owned) {
    if (!v || !owned) return;
    mts_bars_view_release(v);
    v->own_ = *owned;
    memset(owned, 0, sizeof *owned);
    own_view(v);
}

void mts_bars_view_borrow(const mts_bars_view_t *v, mts_bars_t *b) {
    if (!b) return;
    memset(b, 0, sizeof *b);
    if (!v) return;
    b->ts = (int64_t *)v->ts;          /* const cast away: read only (store.h) */
    b->open = (double *)v->open;
    b->high = (double *)v->high;
    b->low = (double *)v->low;
    b->close = (double *)v->close;
    b->volume = (double *)v->volume;
    b->n = b->cap = v->n;
}
