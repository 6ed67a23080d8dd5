/* bars.c — OHLCV bars in column blocks (ohlcv_blocks; contract in store.h,
 * layout in docs/store.md).
 *
 * A series (asset, interval) is cut into blocks of span = MTS_OHLCV_BLOCK_BARS
 * interval lengths: a bar at time ts belongs to the block starting at
 * block_start(ts) = the largest multiple of span <= ts (bars off the interval's
 * grid too). One row of ohlcv_blocks per block; its `bars` BLOB is an MTC1 blob
 * (store/colblob.h) of the block's bars, ascending, with 5 columns: open, high,
 * low, close, volume. n, first_ts, last_ts mirror the blob (for SUM(n) and the
 * range query without reading the blob).
 *
 * Invariants: a block holds at least one bar, its times strictly ascending and
 * all in [block_start, block_start + span); blocks of a series never overlap,
 * so the blocks in block_start order, each decoded, are the series ascending.
 * No transaction is left open when a function returns. */
#include "store/store_internal.h"
#include "market/interval.h"
#include "store/colblob.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define NCOL 5

static const char *const COL_NAME[NCOL] = {"open", "high", "low", "close", "volume"};

#define SQL_GET \
    "SELECT bars FROM ohlcv_blocks WHERE cryptocurrency = ?1 AND interval = ?2 AND block_start = ?3"
#define SQL_PUT \
    "INSERT INTO ohlcv_blocks(cryptocurrency, interval, block_start, n, first_ts, last_ts, bars, updated_at)" \
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" \
    " ON CONFLICT(cryptocurrency, interval, block_start) DO UPDATE SET n = excluded.n," \
    "  first_ts = excluded.first_ts, last_ts = excluded.last_ts, bars = excluded.bars," \
    "  updated_at = excluded.updated_at"
/* The blocks that may hold bars in [from, to]: on the unique index
 * (cryptocurrency, interval, block_start). */
#define SQL_RANGE_WHERE \
    " FROM ohlcv_blocks WHERE cryptocurrency = ?1 AND interval = ?2 AND block_start >= ?3" \
    " AND block_start <= ?4 AND last_ts >= ?5"
#define SQL_SUM "SELECT COALESCE(SUM(n), 0)" SQL_RANGE_WHERE
#define SQL_LOAD "SELECT n, bars" SQL_RANGE_WHERE " ORDER BY block_start"
#define SQL_COUNT "SELECT COALESCE(SUM(n), 0) FROM ohlcv_blocks WHERE cryptocurrency = ?1 AND interval = ?2"
#define SQL_INTERVALS "SELECT DISTINCT interval FROM ohlcv_blocks WHERE cryptocurrency = ?1"
/* A write of the series' blocks: a new random version (SQLite's random(),
 * seeded from /dev/urandom), n moved by the bars added (?3); a series without
 * a row yet gets one with n from its blocks (written before, in this
 * transaction). */
#define SQL_BUMP \
    "UPDATE ohlcv_series SET version = random(), n = n + ?3 WHERE cryptocurrency = ?1 AND interval = ?2"
#define SQL_SERIES_NEW \
    "INSERT INTO ohlcv_series(cryptocurrency, interval, version, n) SELECT ?1, ?2, random(), COALESCE(SUM(n), 0)" \
    " FROM ohlcv_blocks WHERE cryptocurrency = ?1 AND interval = ?2"

/* ---- blocks ---- */

/* The span of a block of `interval`, in seconds. A name this mts does not
 * know (a v6 row written by hand; the upsert refuses them) gets the span of
 * 1d, so its bars are still kept and can be read. */
static int64_t block_span(const char *interval) {
    int64_t sec = mts_interval_seconds(interval);
    if (sec <= 0) sec = 86400;
    return sec * MTS_OHLCV_BLOCK_BARS;
}

/* The largest multiple of span <= ts (INT64_MIN when that is below INT64_MIN:
 * the lowest block then starts there). */
static int64_t block_start(int64_t ts, int64_t span) {
    int64_t r = ts % span;
    if (r < 0) r += span;
    if (ts < INT64_MIN + r) return INT64_MIN;
    return ts - r;
}

static double *const *cols_of(const mts_bars_t *b, double *out[NCOL], int64_t at) {
    out[0] = b->open + at;
    out[1] = b->high + at;
    out[2] = b->low + at;
    out[3] = b->close + at;
    out[4] = b->volume + at;
    return out;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Grows a byte buffer to at least n bytes. */
static int buf_reserve(uint8_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < n) c *= 2;
    uint8_t *p = mts_realloc(*buf, c);
    if (!p) return MTS_ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

/* Encodes bars [0, n) of b (times strictly ascending, one block) into *buf and
 * writes the block row with put (bound ?1 asset, ?2 interval already). */
static int put_block(mts_store_t *s, sqlite3_stmt *put, const char *what, int64_t bs, const int64_t *ts,
                     double *const *cols, int64_t n, uint8_t **buf, size_t *cap, int64_t now) {
    size_t need = mts_colblob_bound(n, NCOL), len = 0;
    if (buf_reserve(buf, cap, need)) {
        mts_store_set_error(s, "%s: out of memory", what);
        return MTS_ENOMEM;
    }
    int rc = mts_colblob_encode(ts, (const double *const *)cols, NCOL, n, *buf, *cap, &len);
    if (rc) {
        mts_store_set_error(s, "%s: cannot encode a block of %lld bars (%s)", what, (long long)n, mts_strerror(rc));
        return rc;
    }
    sqlite3_bind_int64(put, 3, bs);
    sqlite3_bind_int64(put, 4, n);
    sqlite3_bind_int64(put, 5, ts[0]);
    sqlite3_bind_int64(put, 6, ts[n - 1]);
    sqlite3_bind_blob(put, 7, *buf, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(put, 8, now);
    int src = sqlite3_step(put);
    sqlite3_reset(put);
    if (src != SQLITE_DONE) return mts_store_db_error(s, what);
    return 0;
}

/* The series' row of ohlcv_series after a write of its blocks (in the
 * writer's transaction): a new random version, n + added. */
static int bump_series(mts_store_t *s, const char *asset, const char *interval, int64_t added, const char *what) {
    sqlite3_stmt *up = NULL, *ins = NULL;
    int ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_BUMP, SQL_BUMP, &up);
    if (!ret) ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_SERIES_NEW, SQL_SERIES_NEW, &ins);
    if (ret) return ret;
    sqlite3_bind_text(up, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, interval, -1, SQLITE_STATIC);
    sqlite3_bind_int64(up, 3, added);
    if (sqlite3_step(up) != SQLITE_DONE) ret = mts_store_db_error(s, what);
    else if (sqlite3_changes(mts_store_db(s)) == 0) {   /* the series' first write */
        sqlite3_bind_text(ins, 1, asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, interval, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) ret = mts_store_db_error(s, what);
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
    }
    sqlite3_reset(up);
    sqlite3_clear_bindings(up);
    return ret;
}

/* ---- upsert ---- */

typedef struct keyed { int64_t ts, i; } keyed_t;

static int cmp_keyed(const void *a, const void *b) {
    const keyed_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The work of one upsert: the stored block decoded (old), merged with the new
 * bars (mg), the blob. */
typedef struct upsert_ctx {
    mts_bars_t old, mg;
    uint8_t *buf;
    size_t cap;
} upsert_ctx_t;

static int64_t next_cap(int64_t have, int64_t need) {
    int64_t c = have < 1024 ? 1024 : have;
    while (c < need) c *= 2;
    return c;
}

static int grow(mts_bars_t *b, int64_t need) {
    return need <= b->cap ? 0 : mts_bars_reserve(b, next_cap(b->cap, need));
}

/* Merges the stored block (old, its blob at blob/len) with the new bars nb
 * (ascending, unique): a new bar replaces the stored one of the same time.
 * *changed = 0 when every new bar is already stored with the same bits. */
static int merge_block(upsert_ctx_t *c, const uint8_t *blob, size_t len, const int64_t *nts, double *const *ncol,
                       int64_t nn, int *changed) {
    mts_colblob_info_t in;
    int rc = mts_colblob_info(blob, len, &in);
    if (rc) return rc;
    if (in.k != NCOL) return MTS_EPARSE;
    c->old.n = in.n;
    if (grow(&c->old, in.n) || grow(&c->mg, in.n + nn)) return MTS_ENOMEM;
    double *oc[NCOL], *mc[NCOL];
    cols_of(&c->old, oc, 0);
    cols_of(&c->mg, mc, 0);
    rc = mts_colblob_decode(blob, len, 0, in.n, c->old.ts, oc, NCOL);
    if (rc) return rc;
    int64_t i = 0, j = 0, m = 0, on = in.n;
    *changed = 0;
    while (i < on || j < nn) {
        if (j >= nn || (i < on && c->old.ts[i] < nts[j])) {
            c->mg.ts[m] = c->old.ts[i];
            for (int k = 0; k < NCOL; k++) mc[k][m] = oc[k][i];
            i++;
        } else {
            if (i < on && c->old.ts[i] == nts[j]) {
                for (int k = 0; k < NCOL; k++)
                    if (!same_bits(oc[k][i], ncol[k][j])) *changed = 1;
                i++;
            } else {
                *changed = 1;
            }
            c->mg.ts[m] = nts[j];
            for (int k = 0; k < NCOL; k++) mc[k][m] = ncol[k][j];
            j++;
        }
        m++;
    }
    c->mg.n = m;
    return 0;
}

int mts_store_upsert_ohlcv(mts_store_t *s, const char *asset, const char *interval, const mts_bars_t *bars) {
    if (!s || !asset || !bars) {
        if (s) mts_store_set_error(s, "upsert_ohlcv: missing argument");
        return MTS_EINVAL;
    }
    if (mts_interval_seconds(interval) < 0) {
        mts_store_set_error(s, "upsert_ohlcv %s: unknown interval '%s' (%s)", asset, interval ? interval : "(null)",
                            MTS_INTERVALS);
        return MTS_EINVAL;
    }
    if (bars->n <= 0) return 0;
    const int64_t n = bars->n;
    double *in_col[NCOL];
    cols_of(bars, in_col, 0);
    /* A bar's values must be numbers (the row table's NOT NULL refused NaN
     * too): checked before anything is written. */
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < NCOL; k++)
            if (isnan(in_col[k][i])) {
                char iso[32];
                mts_time_format_iso(bars->ts[i], iso);
                mts_store_set_error(s, "upsert_ohlcv %s %s %s: %s is NaN (a bar's prices and volume must be numbers)",
                                    asset, interval, iso, COL_NAME[k]);
                return MTS_EINVAL;
            }
    /* The order to write in: ascending time; of bars with the same time the
     * last one given wins (as row-by-row upserts would do). */
    int sorted = 1;
    for (int64_t i = 1; i < n && sorted; i++) sorted = bars->ts[i] > bars->ts[i - 1];
    if (!sorted) {
        /* sort a copy (ties by position), keep the last of each time, and
         * store that */
        keyed_t *ord = mts_malloc((size_t)n * sizeof *ord);
        mts_bars_t sb = {0};
        if (!ord || mts_bars_reserve(&sb, n)) {
            mts_free(ord);
            mts_bars_free(&sb);
            mts_store_set_error(s, "upsert_ohlcv %s: out of memory", asset);
            return MTS_ENOMEM;
        }
        for (int64_t i = 0; i < n; i++) ord[i] = (keyed_t){bars->ts[i], i};
        qsort(ord, (size_t)n, sizeof *ord, cmp_keyed);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = ord[i].i, m = sb.n;
            if (m > 0 && sb.ts[m - 1] == ord[i].ts) m--;          /* the later one wins */
            sb.ts[m] = bars->ts[k];
            sb.open[m] = bars->open[k];
            sb.high[m] = bars->high[k];
            sb.low[m] = bars->low[k];
            sb.close[m] = bars->close[k];
            sb.volume[m] = bars->volume[k];
            sb.n = m + 1;
        }
        mts_free(ord);
        int ret = mts_store_upsert_ohlcv(s, asset, interval, &sb);
        mts_bars_free(&sb);
        return ret;
    }

    /* bars ascending, unique: one block after the other */
    sqlite3_stmt *get = NULL, *put = NULL;
    int ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_GET, SQL_GET, &get);
    if (!ret) ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_PUT, SQL_PUT, &put);
    if (ret) return ret;
    char what[160];
    snprintf(what, sizeof what, "upsert_ohlcv %s %s", asset, interval);
    /* Inside the caller's transaction (e.g. a live session's step) the bars
     * join it under a savepoint: they are written with the caller's rows or
     * not at all, and a failure here undoes only them. */
    sqlite3 *db = mts_store_db(s);
    const int joined = !sqlite3_get_autocommit(db);
    if (joined) {
        if (sqlite3_exec(db, "SAVEPOINT upsert_ohlcv", NULL, NULL, NULL) != SQLITE_OK)
            return mts_store_db_error(s, what);
    } else {
        ret = mts_store_tx_begin(s);
        if (ret) return ret;
    }
    sqlite3_bind_text(get, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, interval, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 2, interval, -1, SQLITE_STATIC);
    const int64_t span = block_span(interval), now = (int64_t)time(NULL);
    upsert_ctx_t c = {0};
    int64_t added = 0;      /* bars the series gained */
    int wrote = 0;          /* blocks written: the series gets a new version */
    for (int64_t j = 0; j < n && !ret;) {
        int64_t bs = block_start(bars->ts[j], span), e = j + 1;
        while (e < n && block_start(bars->ts[e], span) == bs) e++;
        double *ncol[NCOL];
        cols_of(bars, ncol, j);
        sqlite3_bind_int64(get, 3, bs);
        int grc = sqlite3_step(get);
        if (grc == SQLITE_ROW) {
            const uint8_t *blob = sqlite3_column_blob(get, 0);
            size_t len = (size_t)sqlite3_column_bytes(get, 0);
            int changed = 0;
            int mrc = merge_block(&c, blob, len, bars->ts + j, ncol, e - j, &changed);
            sqlite3_reset(get);
            if (mrc == MTS_ENOMEM) {
                mts_store_set_error(s, "%s: out of memory", what);
                ret = mrc;
            } else if (mrc) {
                char iso[32];
                mts_time_format_iso(bs, iso);
                mts_store_set_error(s, "%s: the stored block starting %s is damaged (not an MTC1 blob of 5 "
                                       "columns); nothing written", what, iso);
                ret = MTS_EPARSE;
            } else if (changed) {
                double *mc[NCOL];
                ret = put_block(s, put, what, bs, c.mg.ts, cols_of(&c.mg, mc, 0), c.mg.n, &c.buf, &c.cap, now);
                added += c.mg.n - c.old.n;
                wrote = 1;
            }
        } else {
            sqlite3_reset(get);
            if (grc != SQLITE_DONE) ret = mts_store_db_error(s, what);
            else ret = put_block(s, put, what, bs, bars->ts + j, ncol, e - j, &c.buf, &c.cap, now);
            added += e - j;
            wrote = 1;
        }
        j = e;
    }
    if (!ret && wrote) ret = bump_series(s, asset, interval, added, what);
    sqlite3_clear_bindings(get);   /* drop the borrowed strings */
    sqlite3_clear_bindings(put);
    mts_bars_free(&c.old);
    mts_bars_free(&c.mg);
    mts_free(c.buf);
    if (joined) {
        if (ret) sqlite3_exec(db, "ROLLBACK TO upsert_ohlcv", NULL, NULL, NULL);
        if (sqlite3_exec(db, "RELEASE upsert_ohlcv", NULL, NULL, NULL) != SQLITE_OK && !ret)
            ret = mts_store_db_error(s, what);
        return ret;
    }
    if (!ret) ret = mts_store_tx_commit(s);
    if (ret) mts_store_tx_rollback(s);
    return ret;
}

/* ---- load, count, intervals ---- */

int mts_store_load_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                         mts_bars_t *out) {
    if (!s || !asset || !out || !interval) {
        if (s) mts_store_set_error(s, "load_ohlcv: missing argument");
        return MTS_EINVAL;
    }
    out->n = 0;
    if (from > to) return 0;
    sqlite3_stmt *sum = NULL, *st = NULL;
    int ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_SUM, SQL_SUM, &sum);
    if (!ret) ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_LOAD, SQL_LOAD, &st);
    if (ret) return ret;
    const int64_t lo_bs = block_start(from, block_span(interval));
    sqlite3_stmt *both[2] = {sum, st};
    for (int i = 0; i < 2; i++) {
        sqlite3_bind_text(both[i], 1, asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(both[i], 2, interval, -1, SQLITE_STATIC);
        sqlite3_bind_int64(both[i], 3, lo_bs);
        sqlite3_bind_int64(both[i], 4, to);
        sqlite3_bind_int64(both[i], 5, from);
    }
    /* one allocation: the bars of every block in range (edges included) */
    int rc = sqlite3_step(sum);
    int64_t total = rc == SQLITE_ROW ? sqlite3_column_int64(sum, 0) : 0;
    if (rc != SQLITE_ROW) ret = mts_store_db_error(s, "load_ohlcv");
    sqlite3_reset(sum);
    sqlite3_clear_bindings(sum);
    if (!ret && total > out->cap && mts_bars_reserve(out, total)) {
        mts_store_set_error(s, "load_ohlcv %s %s: out of memory for %lld bars", asset, interval, (long long)total);
        ret = MTS_ENOMEM;
    }
    while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *blob = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        int64_t n = sqlite3_column_int64(st, 0);
        mts_colblob_info_t in;
        int64_t lo = 0, hi = 0;
        int brc = mts_colblob_info(blob, len, &in);
        if (!brc && (in.k != NCOL || in.n != n)) brc = MTS_EPARSE;
        if (!brc) {
            hi = in.n;
            if (in.n > 0 && in.first_ts < from) brc = mts_colblob_lower_bound(blob, len, from, &lo);
            if (!brc && in.n > 0 && in.last_ts > to) brc = mts_colblob_lower_bound(blob, len, to + 1, &hi);
        }
        if (!brc && out->n + (hi - lo) > out->cap &&
            mts_bars_reserve(out, next_cap(out->cap, out->n + (hi - lo)))) {
            mts_store_set_error(s, "load_ohlcv %s %s: out of memory", asset, interval);
            ret = MTS_ENOMEM;
            break;
        }
        double *oc[NCOL];
        if (!brc && hi > lo) brc = mts_colblob_decode(blob, len, lo, hi, out->ts + out->n, cols_of(out, oc, out->n), NCOL);
        if (brc) {
            mts_store_set_error(s, "load_ohlcv %s %s: a stored block is damaged (not an MTC1 blob of %lld bars "
                                   "of 5 columns)", asset, interval, (long long)n);
            ret = MTS_EPARSE;
            break;
        }
        out->n += hi - lo;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_ohlcv");
    if (ret) out->n = 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int mts_store_count_ohlcv(mts_store_t *s, const char *asset, const char *interval, int64_t *n) {
    if (!s || !asset || !interval || !n) {
        if (s) mts_store_set_error(s, "count_ohlcv: missing argument");
        return MTS_EINVAL;
    }
    sqlite3_stmt *st = NULL;
    int ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_COUNT, SQL_COUNT, &st);
    if (ret) return ret;
    sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, interval, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) *n = sqlite3_column_int64(st, 0);
    else ret = mts_store_db_error(s, "count_ohlcv");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int mts_store_ohlcv_intervals(mts_store_t *s, const char *asset, char names[][8], int max, int *n) {
    if (!s || !asset || !n || (max > 0 && !names)) {
        if (s) mts_store_set_error(s, "ohlcv_intervals: missing argument");
        return MTS_EINVAL;
    }
    *n = 0;
    sqlite3_stmt *st = NULL;
    int ret = mts_store_stmt(s, MTS_STORE_LAZY_BARS_INTERVALS, SQL_INTERVALS, &st);
    if (ret) return ret;
    sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
    /* finest first: the order of their lengths, not of their names */
    int64_t secs[32];
    int rc, k = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < 32) {
        const char *iv = (const char *)sqlite3_column_text(st, 0);
        int64_t sec = mts_interval_seconds(iv);
        if (sec < 0) continue;                       /* not a name this mts knows */
        int j = k++;
        while (j > 0 && secs[j - 1] > sec) { secs[j] = secs[j - 1]; j--; }
        secs[j] = sec;
    }
    ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : mts_store_db_error(s, "ohlcv_intervals");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < k && i < max; i++) snprintf(names[i], 8, "%s", mts_interval_name(secs[i]));
    *n = k < max ? k : max;
    return ret;
}

/* ---- the bars' arrays ---- */

/* Large arrays are asked to be backed by transparent huge pages (Linux,
 * THP in "madvise" mode): the first touch of a fresh 8 MB array then costs 4
 * page faults instead of 2048, which is about half the time of loading 1 M
 * bars into a fresh struct (docs/store.md). Advice only: ignored where it
 * does not apply. */
static void advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (bytes < 2 * huge) return;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

int mts_bars_reserve(mts_bars_t *b, int64_t cap) {
    if (!b || cap < 0) return MTS_EINVAL;
    if (cap <= b->cap) return 0;
    /* Each array is grown in turn; b->cap only moves once all of them are
     * large enough, so a failure leaves a consistent (smaller) struct. */
    int64_t **ip = &b->ts;
    double **dp[5] = {&b->open, &b->high, &b->low, &b->close, &b->volume};
    void *np = mts_realloc(*ip, (size_t)cap * sizeof **ip);
    if (!np) return MTS_ENOMEM;
    *ip = np;
    advise_huge(np, (size_t)cap * sizeof **ip);
    for (int k = 0; k < 5; k++) {
        np = mts_realloc(*dp[k], (size_t)cap * sizeof **dp[k]);
        if (!np) return MTS_ENOMEM;
        *dp[k] = np;
        advise_huge(np, (size_t)cap * sizeof **dp[k]);
    }
    b->cap = cap;
    return 0;
}

void mts_bars_free(mts_bars_t *b) {
    if (!b) return;
    mts_free(b->ts);
    mts_free(b->open);
    mts_free(b->high);
    mts_free(b->low);
    mts_free(b->close);
    mts_free(b->volume);
    memset(b, 0, sizeof *b);
}

/* ---- schema v7: crypto_ohlcv into blocks ---- */

/* The value of column c of the current row as a double, refusing what is not
 * a number (a value written by hand as text): a bar is never changed or
 * dropped silently. */
static int row_double(mts_store_t *s, sqlite3_stmt *st, int c, const char *name, double *v) {
    int t = sqlite3_column_type(st, c);
    if (t != SQLITE_FLOAT && t != SQLITE_INTEGER) {
        mts_store_set_error(s, "migration 7: crypto_ohlcv row id %lld (%s %s %lld): %s is %s, not a number; "
                               "correct or delete that row with sqlite3, then open the database again",
                            (long long)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2), (long long)sqlite3_column_int64(st, 3),
                            name, t == SQLITE_NULL ? "NULL" : t == SQLITE_TEXT ? "text" : "a blob");
        return MTS_EDB;
    }
    *v = sqlite3_column_double(st, c);
    return 0;
}

int mts_store_migrate_v7_bars(mts_store_t *s) {
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *rd = NULL, *put = NULL, *has = NULL;
    int ret = 0;
    /* a database that never had the table (cannot happen from v6; kept safe) */
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'crypto_ohlcv'",
                           -1, &has, NULL) != SQLITE_OK || sqlite3_step(has) != SQLITE_ROW) {
        sqlite3_finalize(has);
        return mts_store_db_error(s, "migration 7");
    }
    int exists = sqlite3_column_int(has, 0) > 0;
    sqlite3_finalize(has);
    if (!exists) return 0;
    /* in the order of the unique index: one block after the other, memory
     * for one block only */
    if (sqlite3_prepare_v2(db, "SELECT id, cryptocurrency, interval, timestamp, open, high, low, close, volume"
                               " FROM crypto_ohlcv ORDER BY cryptocurrency, interval, timestamp",
                           -1, &rd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, SQL_PUT, -1, &put, NULL) != SQLITE_OK) {
        ret = mts_store_db_error(s, "migration 7");
        goto done;
    }
    mts_bars_t blk = {0};
    uint8_t *buf = NULL;
    size_t cap = 0;
    char *asset = NULL, *iv = NULL;
    int64_t bs = 0, span = 0, now = (int64_t)time(NULL);
    int rc;
    for (;;) {
        rc = sqlite3_step(rd);
        const char *a = NULL, *i = NULL;
        int64_t t = 0, tbs = 0;
        if (rc == SQLITE_ROW) {
            a = (const char *)sqlite3_column_text(rd, 1);
            i = (const char *)sqlite3_column_text(rd, 2);
            if (!a || !i || sqlite3_column_type(rd, 3) != SQLITE_INTEGER) {
                mts_store_set_error(s, "migration 7: crypto_ohlcv row id %lld: its cryptocurrency, interval or "
                                       "timestamp is not what a bar has; correct or delete that row with sqlite3, "
                                       "then open the database again", (long long)sqlite3_column_int64(rd, 0));
                ret = MTS_EDB;
                break;
            }
            t = sqlite3_column_int64(rd, 3);
        }
        int same = rc == SQLITE_ROW && asset && !strcmp(a, asset) && !strcmp(i, iv);
        if (same) tbs = block_start(t, span);
        if (blk.n > 0 && (!same || tbs != bs)) {   /* the block is complete: write it */
            double *bc[NCOL];
            char what[160];
            snprintf(what, sizeof what, "migration 7: bars of %s %s", asset, iv);
            ret = put_block(s, put, what, bs, blk.ts, cols_of(&blk, bc, 0), blk.n, &buf, &cap, now);
            blk.n = 0;
            if (ret) break;
        }
        if (rc != SQLITE_ROW) break;
        if (!same) {
            mts_free(asset);
            mts_free(iv);
            asset = mts_strdup(a);
            iv = mts_strdup(i);
            if (!asset || !iv) {
                mts_store_set_error(s, "migration 7: out of memory");
                ret = MTS_ENOMEM;
                break;
            }
            sqlite3_bind_text(put, 1, asset, -1, SQLITE_STATIC);
            sqlite3_bind_text(put, 2, iv, -1, SQLITE_STATIC);
            span = block_span(iv);
            tbs = block_start(t, span);
        }
        bs = tbs;
        if (grow(&blk, blk.n + 1)) {
            mts_store_set_error(s, "migration 7: out of memory");
            ret = MTS_ENOMEM;
            break;
        }
        double *bc[NCOL];
        cols_of(&blk, bc, blk.n);
        for (int k = 0; k < NCOL && !ret; k++) ret = row_double(s, rd, 4 + k, COL_NAME[k], bc[k]);
        if (ret) break;
        blk.ts[blk.n++] = t;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "migration 7: reading crypto_ohlcv");
    mts_bars_free(&blk);
    mts_free(buf);
    mts_free(asset);
    mts_free(iv);
done:
    sqlite3_finalize(rd);
    sqlite3_finalize(put);
    if (!ret) {   /* every series moved gets its version (ohlcv_series) */
        char *msg = NULL;
        if (sqlite3_exec(db, "INSERT INTO ohlcv_series(cryptocurrency, interval, version, n)"
                             " SELECT cryptocurrency, interval, random(), SUM(n) FROM ohlcv_blocks"
                             " GROUP BY cryptocurrency, interval", NULL, NULL, &msg) != SQLITE_OK) {
            mts_store_set_error(s, "migration 7: ohlcv_series: %s", msg ? msg : sqlite3_errmsg(db));
            ret = MTS_EDB;
        }
        sqlite3_free(msg);
    }
    if (!ret) {
        char *msg = NULL;
        if (sqlite3_exec(db, "DROP TABLE crypto_ohlcv", NULL, NULL, &msg) != SQLITE_OK) {
            mts_store_set_error(s, "migration 7: DROP TABLE crypto_ohlcv: %s", msg ? msg : sqlite3_errmsg(db));
            ret = MTS_EDB;
        }
        sqlite3_free(msg);
    }
    return ret ? MTS_EDB : 0;
}
