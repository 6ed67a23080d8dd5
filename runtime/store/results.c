/* results.c — stored backtest runs (see store.h, "stored runs"): the run row,
 * its signals, closed trades and equity curve written in one transaction, and
 * read back for reports. Statements here are prepared per call (a run is
 * stored or loaded once, not in a hot loop) and reused for every row.
 *
 * Storing holds the database's write lock for the whole transaction, so it is
 * kept short: everything is checked and computed before BEGIN IMMEDIATE (the
 * signals checked and encoded as one MTC1 blob, the equity curve as another,
 * store/colblob.h), then the transaction is a handful of statements: trades
 * go ROWS_PER_INSERT rows per multi-row INSERT, the signals are ONE row of
 * backtest_signals and the curve (the bulk: one point per bar) ONE row of
 * backtest_curves. Measured on the 2-core test machine
 * (tests/bench/bench_runs.c, CPU time, median of 5): 1,000,000 points a
 * minute apart with gaps store in ~15-18 ms (encoding ~1.6 ms of it, before
 * the lock) and add 9.0 MB to the file, load in ~7 ms; one backtest_equity
 * row per point, 128 per INSERT (schema v6): ~0.30 s, 22.7 MB, ~78 ms.
 * 40,000 signals + 20,000 trades: ~25 ms (one INSERT per row into
 * signal_history and backtest_trades: ~125 ms); the 5th run's 40,000 signals
 * into a database holding 4 such runs: ~3.5 ms (~66 ms as signal_history
 * rows, 64 per INSERT). See docs/store.md. */
#include "store/store.h"
#include "store/store_internal.h"
#include "store/colblob.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int exec(mts_store_t *s, const char *sql, const char *what) {
    if (sqlite3_exec(mts_store_db(s), sql, NULL, NULL, NULL) != SQLITE_OK) return mts_store_db_error(s, what);
    return 0;
}

static int prepare(mts_store_t *s, const char *sql, sqlite3_stmt **st, const char *what) {
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return mts_store_db_error(s, what);
    }
    return 0;
}

/* ---- many rows, few statements ----
 * Rows go ROWS_PER_INSERT per INSERT ... VALUES(...),(...),...: one statement
 * for the full chunks, prepared once and reused, and one for the rest. With
 * `shared`, ?1 is the same in every row (the run's id) and row r of a chunk
 * binds ?(2 + r*per_row) .. ; else ?(1 + r*per_row) ... */
#define ROWS_PER_INSERT 64

typedef void (*bind_row_fn)(sqlite3_stmt *st, int first, const void *rows, int64_t i);

static int build_insert(char *sql, size_t cap, const char *head, int shared, int per_row, int rows) {
    size_t len = (size_t)snprintf(sql, cap, "%s VALUES", head);
    int p = shared ? 2 : 1;
    for (int r = 0; r < rows && len < cap; r++) {
        len += (size_t)snprintf(sql + len, cap - len, "%s(%s", r ? "," : "", shared ? "?1," : "");
        for (int c = 0; c < per_row && len < cap; c++, p++)
            len += (size_t)snprintf(sql + len, cap - len, "%s?%d", c ? "," : "", p);
        if (len < cap) len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    return len < cap ? 0 : -1;
}

static int insert_rows(mts_store_t *s, const char *head, int shared, int64_t id, int per_row,
                       const void *rows, int64_t n, bind_row_fn bind, const char *what) {
    if (n <= 0) return 0;
    char sql[256 + ROWS_PER_INSERT * 160];   /* 16 parameters a row: up to ~110 bytes */
    sqlite3_stmt *st[2] = {NULL, NULL};   /* [0] a full chunk, [1] the rest */
    int64_t full = n / ROWS_PER_INSERT, rest = n % ROWS_PER_INSERT;
    int ret = 0;
    for (int k = 0; k < 2 && !ret; k++) {
        int m = k == 0 ? (full ? ROWS_PER_INSERT : 0) : (int)rest;
        if (!m) continue;
        if (build_insert(sql, sizeof sql, head, shared, per_row, m)) {
            mts_store_set_error(s, "%s: statement too long", what);
            ret = MTS_EINVAL;
        } else if (!(ret = prepare(s, sql, &st[k], what)) && shared) {
            sqlite3_bind_int64(st[k], 1, id);
        }
    }
    int64_t i = 0;
    for (int64_t c = 0; c < full && !ret; c++) {
        for (int r = 0; r < ROWS_PER_INSERT; r++, i++) bind(st[0], (shared ? 2 : 1) + r * per_row, rows, i);
        if (sqlite3_step(st[0]) != SQLITE_DONE) ret = mts_store_db_error(s, what);
        sqlite3_reset(st[0]);
    }
    if (rest && !ret) {
        for (int r = 0; r < (int)rest; r++, i++) bind(st[1], (shared ? 2 : 1) + r * per_row, rows, i);
        if (sqlite3_step(st[1]) != SQLITE_DONE) ret = mts_store_db_error(s, what);
    }
    sqlite3_finalize(st[0]);
    sqlite3_finalize(st[1]);
    return ret;
}

/* Before the transaction: a signal without its required fields is refused
 * (and nothing is stored). */
static int check_signals(mts_store_t *s, const mts_signal_row_t *rows, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const mts_signal_row_t *r = &rows[i];
        if (!r->asset || !r->strategy_name || !r->signal_type || !isfinite(r->price) ||
            !isfinite(r->confidence)) {
            mts_store_set_error(s, "insert_run: signal %lld: a required field is missing or not finite",
                                (long long)i);
            return MTS_EINVAL;
        }
    }
    return 0;
}

/* The reason names (mts_reason_name, engine/portfolio.h: MTS_REASON_* in
 * this order) a trade's entry_reason / exit_reason may hold. */
static const char *const reasons[] = {"signal", "stop_loss", "take_profit", "liquidation", "end_of_data"};
#define N_REASONS ((int)(sizeof reasons / sizeof reasons[0]))

/* The static string of a stored reason; "" for NULL or a name not known. */
static const char *reason_static(const char *r) {
    for (int k = 0; r && k < N_REASONS; k++)
        if (!strcmp(r, reasons[k])) return reasons[k];
    return "";
}

static int check_trades(mts_store_t *s, const mts_trade_row_t *t, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (!t[i].asset) {
            mts_store_set_error(s, "insert_run: trade %lld has no asset", (long long)i);
            return MTS_EINVAL;
        }
        if (isnan(t[i].funding)) {
            mts_store_set_error(s, "insert_run: trade %lld: funding is NaN", (long long)i);
            return MTS_EINVAL;
        }
        const char *r[2] = {t[i].entry_reason, t[i].exit_reason};
        for (int j = 0; j < 2; j++)
            if (r[j] && !*reason_static(r[j])) {
                mts_store_set_error(s, "insert_run: trade %lld: %s '%.32s' is not signal, stop_loss, take_profit,"
                                       " liquidation or end_of_data", (long long)i,
                                    j ? "exit_reason" : "entry_reason", r[j]);
                return MTS_EINVAL;
            }
    }
    return 0;
}

static void bind_trade(sqlite3_stmt *st, int p, const void *rows, int64_t i) {
    const mts_trade_row_t *t = &((const mts_trade_row_t *)rows)[i];
    sqlite3_bind_text(st, p, t->asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, p + 1, t->side < 0 ? "short" : "long", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, p + 2, t->qty);
    sqlite3_bind_int64(st, p + 3, t->entry_ts);
    sqlite3_bind_double(st, p + 4, t->entry_price);
    sqlite3_bind_int64(st, p + 5, t->exit_ts);
    sqlite3_bind_double(st, p + 6, t->exit_price);
    sqlite3_bind_double(st, p + 7, t->pnl);
    sqlite3_bind_double(st, p + 8, t->fees);
    if (t->strategy) sqlite3_bind_text(st, p + 9, t->strategy, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, p + 9);
    if (t->entry_reason) sqlite3_bind_text(st, p + 10, t->entry_reason, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, p + 10);
    if (t->exit_reason) sqlite3_bind_text(st, p + 11, t->exit_reason, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, p + 11);
    sqlite3_bind_double(st, p + 12, t->funding);
    if (isnan(t->mae)) sqlite3_bind_null(st, p + 13);
    else sqlite3_bind_double(st, p + 13, t->mae);
    if (isnan(t->mfe)) sqlite3_bind_null(st, p + 14);
    else sqlite3_bind_double(st, p + 14, t->mfe);
    sqlite3_bind_int(st, p + 15, t->open != 0);
}

#define TRADE_COLS 16

static int insert_trades(mts_store_t *s, int64_t id, const mts_trade_row_t *t, int64_t n) {
    return insert_rows(s, "INSERT INTO backtest_trades(backtest_id, asset, side, qty, entry_ts, entry_price,"
                          " exit_ts, exit_price, pnl, fees, strategy, entry_reason, exit_reason, funding, mae, mfe,"
                          " open)",
                       1, id, TRADE_COLS, t, n, bind_trade, "insert_run trades");
}

/* ---- the equity curve: one MTC1 blob (k = 1: equity) per run ----
 * Encoded before the lock. Up to CURVE_BIND_MAX points the whole blob is
 * encoded and bound as one value (the fastest: 1 M points in ~15 ms). Beyond
 * that binding would cost twice the curve's size in memory (the blob, and the
 * record SQLite builds from it: ~180 MB more for 10 M points), so only the
 * blob's head (header + ts section: 32 bytes when the times are evenly spaced,
 * about a byte a point when not) is encoded; in the transaction the row is
 * inserted with a zeroblob of the whole size (SQLite does not build a
 * zeroblob in memory) and the head and the caller's equity array are written
 * straight into its pages (sqlite3_blob_write): ~15 MB more for 10 M points. */

typedef struct curve_head {
    uint8_t *head;        /* mts_malloc'd: the head, or with `full` the whole blob */
    size_t head_len, total;
    int full;
} curve_head_t;

/* Measured (4 M points, gaps): bound whole ~100 ms CPU and +80 MB peak RSS;
 * written in place ~95 ms and +14 MB. At 1 M points binding is faster (~16
 * vs ~22 ms) and the curve reads back faster (~6.5 vs ~15 ms). */
#define CURVE_BIND_MAX (4 * 1000 * 1000)

/* MTS_EINVAL, naming the first point out of order, when the times are not
 * strictly ascending (the encoder checks them). */
static int encode_head(mts_store_t *s, const char *what, const int64_t *ts, const double *v, int64_t n,
                       curve_head_t *c) {
    memset(c, 0, sizeof *c);
    if (n > (int64_t)UINT32_MAX) {
        mts_store_set_error(s, "%s: %lld equity points, more than a curve holds (%u)", what, (long long)n,
                            UINT32_MAX);
        return MTS_EINVAL;
    }
    size_t cap = mts_colblob_head_bound(n);
    int full = n <= CURVE_BIND_MAX;
    if (full) cap = mts_colblob_bound(n, 1);
    if (!(c->head = mts_malloc(cap))) {
        mts_store_set_error(s, "%s: out of memory encoding %lld equity points", what, (long long)n);
        return MTS_ENOMEM;
    }
    const double *cols[1] = {v};
    int rc = full ? mts_colblob_encode(ts, cols, 1, n, c->head, cap, &c->head_len)
                  : mts_colblob_encode_head(ts, 1, n, c->head, cap, &c->head_len);
    if (rc) {
        mts_free(c->head);
        c->head = NULL;
        for (int64_t i = 1; i < n; i++)   /* the encoder's MTS_EINVAL: say which point */
            if (ts[i] <= ts[i - 1]) {
                mts_store_set_error(s, "%s: equity point %lld (time %lld) is not after the one before (%lld):"
                                       " a curve's times must be strictly ascending",
                                    what, (long long)i, (long long)ts[i], (long long)ts[i - 1]);
                return MTS_EINVAL;
            }
        mts_store_set_error(s, "%s: cannot encode the equity curve: %s", what, mts_strerror(rc));
        return rc;
    }
    c->full = full;
    c->total = full ? c->head_len : c->head_len + (size_t)n * 8u;
    int64_t limit = sqlite3_limit(mts_store_db(s), SQLITE_LIMIT_LENGTH, -1);
    if ((int64_t)c->total > limit) {
        mts_free(c->head);
        c->head = NULL;
        mts_store_set_error(s, "%s: a curve of %lld points is %zu bytes, more than SQLite's limit for one"
                               " value (%lld)", what, (long long)n, c->total, (long long)limit);
        return MTS_EINVAL;
    }
    return 0;
}

/* The curve's row of run id: c's head, then v[0..n) as column 0. */
static int insert_curve(mts_store_t *s, int64_t id, int64_t n, const curve_head_t *c, const double *v,
                        const char *what) {
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *st;
    if (prepare(s, "INSERT INTO backtest_curves(backtest_id, n, data) VALUES(?1, ?2, ?3)", &st, what))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, n);
    if (c->full) sqlite3_bind_blob64(st, 3, c->head, (sqlite3_uint64)c->total, SQLITE_STATIC);
    else sqlite3_bind_zeroblob64(st, 3, (sqlite3_uint64)c->total);
    int ret = sqlite3_step(st) == SQLITE_DONE ? 0 : mts_store_db_error(s, what);
    sqlite3_finalize(st);
    if (ret || c->full) return ret;
    sqlite3_blob *b;
    if (sqlite3_blob_open(db, "main", "backtest_curves", "data", id, 1, &b) != SQLITE_OK) {
        ret = mts_store_db_error(s, what);
        sqlite3_blob_close(b);
        return ret;
    }
    int rc = sqlite3_blob_write(b, c->head, (int)c->head_len, 0);
    const uint8_t *p = (const uint8_t *)v;
    size_t left = (size_t)n * 8u, off = c->head_len;
    while (rc == SQLITE_OK && left > 0) {   /* int lengths: 64 MB a write */
        int m = left > ((size_t)1 << 26) ? 1 << 26 : (int)left;
        rc = sqlite3_blob_write(b, p, m, (int)off);
        p += m;
        off += (size_t)m;
        left -= (size_t)m;
    }
    if (rc != SQLITE_OK) ret = mts_store_db_error(s, what);
    if (sqlite3_blob_close(b) != SQLITE_OK && !ret) ret = mts_store_db_error(s, what);
    return ret;
}

/* ---- the books (backtest_books, schema v8): one row per book ----
 * Checked and their curves encoded (whole: a book's curve is bound as one
 * value) before the lock. */

typedef struct book_blobs {
    uint8_t **blob;       /* per book: its curve's MTC1 blob, NULL when none */
    size_t *len;
    int32_t n;
} book_blobs_t;

static void book_blobs_free(book_blobs_t *b) {
    for (int32_t i = 0; b->blob && i < b->n; i++) mts_free(b->blob[i]);
    mts_free(b->blob);
    mts_free(b->len);
    memset(b, 0, sizeof *b);
}

static int encode_books(mts_store_t *s, const mts_book_row_t *books, int32_t n, book_blobs_t *out) {
    memset(out, 0, sizeof *out);
    if (n <= 0) return 0;
    for (int32_t i = 0; i < n; i++) {
        const mts_book_row_t *b = &books[i];
        const char *bad = b->book < 0 ? "its book id is negative"
                        : b->curve_n < 0 ? "curve_n is negative"
                        : b->curve_n > 0 && (!b->curve_ts || !b->curve_v) ? "its curve arrays are missing"
                        : b->metrics_json && !mts_store_json_object(s, b->metrics_json) ? "metrics_json is not a JSON object"
                        : NULL;
        for (int32_t j = 0; j < i && !bad; j++)
            if (books[j].book == b->book) bad = "its book id is given twice";
        if (bad) {
            mts_store_set_error(s, "insert_run: book %d (index %d): %s", b->book, i, bad);
            return MTS_EINVAL;
        }
    }
    out->blob = mts_calloc((size_t)n, sizeof *out->blob);
    out->len = mts_calloc((size_t)n, sizeof *out->len);
    out->n = n;
    if (!out->blob || !out->len) {
        book_blobs_free(out);
        mts_store_set_error(s, "insert_run: out of memory");
        return MTS_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const mts_book_row_t *b = &books[i];
        if (b->curve_n == 0) continue;
        char what[64];
        snprintf(what, sizeof what, "insert_run book %d", b->book);
        curve_head_t c;
        int rc = encode_head(s, what, b->curve_ts, b->curve_v, b->curve_n, &c);
        if (!rc && !c.full) {   /* beyond CURVE_BIND_MAX: the whole blob here too */
            mts_free(c.head);
            c.head = NULL;
            size_t cap = mts_colblob_bound(b->curve_n, 1);
            const double *cols[1] = {b->curve_v};
            if (!(c.head = mts_malloc(cap))) rc = MTS_ENOMEM;
            else if ((rc = mts_colblob_encode(b->curve_ts, cols, 1, b->curve_n, c.head, cap, &c.head_len)))
                mts_store_set_error(s, "%s: cannot encode the curve: %s", what, mts_strerror(rc));
            if (rc == MTS_ENOMEM) mts_store_set_error(s, "%s: out of memory", what);
        }
        if (rc) {
            mts_free(c.head);
            book_blobs_free(out);
            return rc;
        }
        out->blob[i] = c.head;
        out->len[i] = c.head_len;
    }
    return 0;
}

static void bind_nan_null(sqlite3_stmt *st, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(st, i);
    else sqlite3_bind_double(st, i, v);
}

static int insert_books(mts_store_t *s, int64_t id, const mts_book_row_t *books, const book_blobs_t *bb) {
    if (bb->n <= 0) return 0;
    const char *what = "insert_run books";
    sqlite3_stmt *st;
    if (prepare(s, "INSERT INTO backtest_books(backtest_id, book, strategy, allocation, initial, final, pnl, fees,"
                   " funding, trades, metrics, curve) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                &st, what))
        return MTS_EDB;
    int ret = 0;
    for (int32_t i = 0; i < bb->n && !ret; i++) {
        const mts_book_row_t *b = &books[i];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, b->book);
        if (b->strategy) sqlite3_bind_text(st, 3, b->strategy, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 3);
        bind_nan_null(st, 4, b->allocation);
        bind_nan_null(st, 5, b->initial);
        bind_nan_null(st, 6, b->final);
        bind_nan_null(st, 7, b->pnl);
        bind_nan_null(st, 8, b->fees);
        bind_nan_null(st, 9, b->funding);
        sqlite3_bind_int64(st, 10, b->trades);
        if (b->metrics_json) sqlite3_bind_text(st, 11, b->metrics_json, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 11);
        if (bb->blob[i]) sqlite3_bind_blob64(st, 12, bb->blob[i], (sqlite3_uint64)bb->len[i], SQLITE_STATIC);
        else sqlite3_bind_null(st, 12);
        if (sqlite3_step(st) != SQLITE_DONE) ret = mts_store_db_error(s, what);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sqlite3_finalize(st);
    return ret;
}

/* ---- the signals: one MTC1 blob (k = 9, store.h "backtest_signals") per run ----
 * Encoded before the lock; the names the indices mean go in `names` (JSON).
 * The signal_history rows they replace landed in the middle of its index
 * (strategy_name, asset, timestamp) among every earlier run's rows of the
 * same strategy/asset/times: the 5th run's 40,000 signals took ~66 ms, as
 * this row ~3.5 ms (tests/bench/bench_runs.c). */

#define SIG_COLS 9
#define SIG_TS_MAX 9007199254740992LL   /* 2^53: every int64 up to it is a double */

/* Names to indices: open addressing over FNV-1a; the same pointer as the last
 * lookup (the usual case: one string per asset) skips the hash. */
typedef struct intern {
    const char **names;
    int n, cap;
    int32_t *slot;        /* index + 1, 0 = empty */
    uint32_t mask;
    const char *last;
    int last_idx;
} intern_t;

static uint32_t fnv1a(const char *p) {
    uint32_t h = 2166136261u;
    for (; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static void intern_free(intern_t *t) {
    mts_free(t->names);
    mts_free(t->slot);
    memset(t, 0, sizeof *t);
}

/* The index of name, added when new; -1 when out of memory. */
static int intern_get(intern_t *t, const char *name) {
    if (t->last == name && name) return t->last_idx;
    if ((uint32_t)(t->n + 1) * 2 > t->mask + 1 || !t->slot) {   /* grow: keep the table under half full */
        uint32_t size = t->slot ? (t->mask + 1) * 2 : 16;
        int32_t *slot = mts_calloc(size, sizeof *slot);
        const char **names = mts_realloc(t->names, (size_t)size / 2 * sizeof *names);
        if (!slot || !names) {
            mts_free(slot);
            if (names) t->names = names;
            return -1;
        }
        t->names = names;
        t->cap = (int)(size / 2);
        for (int i = 0; i < t->n; i++) {
            uint32_t h = fnv1a(names[i]) & (size - 1);
            while (slot[h]) h = (h + 1) & (size - 1);
            slot[h] = i + 1;
        }
        mts_free(t->slot);
        t->slot = slot;
        t->mask = size - 1;
    }
    uint32_t h = fnv1a(name) & t->mask;
    int idx = -1;
    for (; t->slot[h]; h = (h + 1) & t->mask)
        if (strcmp(t->names[t->slot[h] - 1], name) == 0) {
            idx = t->slot[h] - 1;
            break;
        }
    if (idx < 0) {
        idx = t->n++;
        t->names[idx] = name;
        t->slot[h] = idx + 1;
    }
    t->last = name;
    t->last_idx = idx;
    return idx;
}

/* A JSON string (quotes included) into buf at *len (buf has room: 6 bytes a
 * byte + 2). */
static void json_str(char *buf, size_t *len, const char *v) {
    static const char hex[] = "0123456789abcdef";
    size_t k = *len;
    buf[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf[k++] = '\\';
            buf[k++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(buf + k, "\\u00", 4);
            buf[k + 4] = hex[*p >> 4];
            buf[k + 5] = hex[*p & 15];
            k += 6;
        } else {
            buf[k++] = (char)*p;
        }
    }
    buf[k++] = '"';
    *len = k;
}

static char *names_json(const intern_t *assets, const intern_t *strategies) {
    size_t cap = 64;
    const intern_t *t[2] = {assets, strategies};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < t[j]->n; i++) cap += strlen(t[j]->names[i]) * 6 + 3;
    char *buf = mts_malloc(cap);
    if (!buf) return NULL;
    size_t len = 0;
    for (int j = 0; j < 2; j++) {
        const char *key = j ? "],\"strategies\":[" : "{\"assets\":[";
        memcpy(buf + len, key, strlen(key));
        len += strlen(key);
        for (int i = 0; i < t[j]->n; i++) {
            if (i) buf[len++] = ',';
            json_str(buf, &len, t[j]->names[i]);
        }
    }
    memcpy(buf + len, "]}", 3);
    return buf;
}

/* What encode_signals leaves for the transaction: the names, the blob's head
 * and each signal's type, asset and strategy as small integers (12 bytes a
 * signal). Up to SIG_BIND_MAX signals the whole blob is also built (before
 * the lock) and bound as one value: the fastest (40,000 signals: ~3.5 ms vs
 * ~5.5 ms in place). Beyond, as insert_curve does for long curves, the blob is
 * never built in memory: insert_signal_blob inserts a zeroblob of its size and
 * writes the head and the columns, a chunk at a time, straight into the row's
 * pages (sqlite3_blob_write), so n signals cost 12n bytes more, not the 72n of
 * the blob plus the 72n of the record SQLite builds from a bound blob (56 MB
 * for the ~390 k signals of a 10 M-bar run). */
#define SIG_BIND_MAX 131072

typedef struct sig_blob {
    uint8_t head[MTS_COLBLOB_HEADER];   /* REGULAR times: the head is the header */
    size_t head_len, len;
    int32_t *code;        /* 3 per signal: type, asset index, strategy index */
    uint8_t *data;        /* the whole blob (n <= SIG_BIND_MAX), else NULL */
    char *names;
    int64_t n;
} sig_blob_t;

static void sig_blob_free(sig_blob_t *b) {
    mts_free(b->code);
    mts_free(b->data);
    mts_free(b->names);
    memset(b, 0, sizeof *b);
}

static double sig_value(const mts_signal_row_t *r, const int32_t *code, int c);

/* The signals (already checked by check_signals): refused when a type is
 * not LONG/SHORT/CLOSE or a time is beyond 2^53. */
static int encode_signals(mts_store_t *s, const mts_signal_row_t *rows, int64_t n, sig_blob_t *out) {
    memset(out, 0, sizeof *out);
    if (n > (int64_t)UINT32_MAX) {
        mts_store_set_error(s, "insert_run: %lld signals, more than a run holds (%u)", (long long)n, UINT32_MAX);
        return MTS_EINVAL;
    }
    /* the head of times 0, 1, ..., n-1: REGULAR, so the codec reads ts[0..1] only
     * when n <= 2 and checks the spacing of all: give it the indices */
    int ret = 0;
    {
        int64_t small[2] = {0, 1}, *idx = small;
        if (n > 2 && !(idx = mts_malloc((size_t)n * sizeof *idx))) ret = MTS_ENOMEM;
        for (int64_t i = 0; i < n && !ret; i++) idx[i] = i;
        uint8_t *head = ret ? NULL : mts_malloc(mts_colblob_head_bound(n));
        if (!ret && !head) ret = MTS_ENOMEM;
        if (!ret && (ret = mts_colblob_encode_head(idx, SIG_COLS, n, head, mts_colblob_head_bound(n),
                                                   &out->head_len)))
            mts_store_set_error(s, "insert_run: cannot encode the signals: %s", mts_strerror(ret));
        if (!ret && out->head_len != sizeof out->head) {   /* REGULAR: never */
            mts_store_set_error(s, "insert_run: the signals' blob head is %zu bytes", out->head_len);
            ret = MTS_EINVAL;
        }
        if (!ret) memcpy(out->head, head, sizeof out->head);
        mts_free(head);
        if (idx != small) mts_free(idx);
        if (ret) {
            if (ret == MTS_ENOMEM) mts_store_set_error(s, "insert_run: out of memory encoding %lld signals", (long long)n);
            return ret;
        }
    }
    intern_t assets = {0}, strategies = {0};
    if (n && !(out->code = mts_malloc((size_t)n * 3 * sizeof *out->code))) ret = MTS_ENOMEM;
    for (int64_t i = 0; i < n && !ret; i++) {
        const mts_signal_row_t *r = &rows[i];
        int type = !strcmp(r->signal_type, "LONG") ? MTS_STORED_SIGNAL_LONG
                 : !strcmp(r->signal_type, "SHORT") ? MTS_STORED_SIGNAL_SHORT
                 : !strcmp(r->signal_type, "CLOSE") ? MTS_STORED_SIGNAL_CLOSE : 2;
        if (type == 2 || r->ts > SIG_TS_MAX || r->ts < -SIG_TS_MAX) {
            if (type == 2)
                mts_store_set_error(s, "insert_run: signal %lld: type '%s' is not LONG, SHORT or CLOSE",
                                    (long long)i, r->signal_type);
            else
                mts_store_set_error(s, "insert_run: signal %lld: time %lld is beyond 2^53", (long long)i,
                                    (long long)r->ts);
            ret = MTS_EINVAL;
            break;
        }
        int a = intern_get(&assets, r->asset), st = intern_get(&strategies, r->strategy_name);
        if (a < 0 || st < 0) {
            ret = MTS_ENOMEM;
            break;
        }
        out->code[3 * i] = type;
        out->code[3 * i + 1] = a;
        out->code[3 * i + 2] = st;
    }
    if (!ret && !(out->names = names_json(&assets, &strategies))) ret = MTS_ENOMEM;
    if (ret == MTS_ENOMEM)
        mts_store_set_error(s, "insert_run: out of memory encoding %lld signals", (long long)n);
    out->len = out->head_len + (size_t)n * SIG_COLS * 8u;
    out->n = n;
    int64_t limit = sqlite3_limit(mts_store_db(s), SQLITE_LIMIT_LENGTH, -1);
    if (!ret && (int64_t)out->len > limit) {
        mts_store_set_error(s, "insert_run: %lld signals are %zu bytes, more than SQLite's limit for one value"
                               " (%lld)", (long long)n, out->len, (long long)limit);
        ret = MTS_EINVAL;
    }
    if (!ret && n <= SIG_BIND_MAX) {
        if (!(out->data = mts_malloc(out->len))) {
            mts_store_set_error(s, "insert_run: out of memory encoding %lld signals", (long long)n);
            ret = MTS_ENOMEM;
        } else {
            memcpy(out->data, out->head, out->head_len);
            uint8_t *col = out->data + out->head_len;
            for (int c = 0; c < SIG_COLS; c++)
                for (int64_t i = 0; i < n; i++, col += 8) {
                    double v = sig_value(&rows[i], out->code + 3 * i, c);
                    memcpy(col, &v, 8);
                }
        }
    }
    intern_free(&assets);
    intern_free(&strategies);
    if (ret) sig_blob_free(out);
    return ret;
}

/* Column c's value of signal i. */
static double sig_value(const mts_signal_row_t *r, const int32_t *code, int c) {
    switch (c) {
    case 0: return (double)r->ts;
    case 1: case 2: case 3: return code[c - 1];
    case 4: return r->price;
    case 5: return r->confidence;
    case 6: return r->position_size;
    case 7: return r->stop_loss;
    default: return r->take_profit;
    }
}

#define SIG_CHUNK 4096   /* values per sqlite3_blob_write */

static int insert_signal_blob(mts_store_t *s, int64_t id, const sig_blob_t *b, const mts_signal_row_t *rows) {
    const char *what = "insert_run signals";
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *st;
    if (prepare(s, "INSERT INTO backtest_signals(backtest_id, n, names, data) VALUES(?1, ?2, ?3, ?4)", &st, what))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, b->n);
    sqlite3_bind_text(st, 3, b->names, -1, SQLITE_STATIC);
    if (b->data) sqlite3_bind_blob64(st, 4, b->data, (sqlite3_uint64)b->len, SQLITE_STATIC);
    else sqlite3_bind_zeroblob64(st, 4, (sqlite3_uint64)b->len);
    int ret = sqlite3_step(st) == SQLITE_DONE ? 0 : mts_store_db_error(s, what);
    sqlite3_finalize(st);
    if (ret || b->data) return ret;
    sqlite3_blob *h;
    if (sqlite3_blob_open(db, "main", "backtest_signals", "data", id, 1, &h) != SQLITE_OK) {
        ret = mts_store_db_error(s, what);
        sqlite3_blob_close(h);
        return ret;
    }
    int rc = sqlite3_blob_write(h, b->head, (int)b->head_len, 0);
    double chunk[SIG_CHUNK];
    size_t off = b->head_len;
    for (int c = 0; c < SIG_COLS && rc == SQLITE_OK; c++)
        for (int64_t i = 0; i < b->n && rc == SQLITE_OK; ) {
            int m = 0;
            for (; m < SIG_CHUNK && i < b->n; m++, i++) chunk[m] = sig_value(&rows[i], b->code + 3 * i, c);
            rc = sqlite3_blob_write(h, chunk, m * 8, (int)off);   /* SQLite's limit: < 2^31 bytes a value */
            off += (size_t)m * 8u;
        }
    if (rc != SQLITE_OK) ret = mts_store_db_error(s, what);
    if (sqlite3_blob_close(h) != SQLITE_OK && !ret) ret = mts_store_db_error(s, what);
    return ret;
}

/* The run's interval goes into its parameters JSON as "interval" (no schema
 * change): {"sma_cross":{"fast":10},"interval":"1h"}; reading a run back takes
 * it out again (mts_stored_run_t.interval), so parameters_json reads back as
 * the strategies' parameters only. */
static int set_interval(mts_store_t *s, int64_t id, const char *interval) {
    sqlite3_stmt *st;
    if (prepare(s, "UPDATE backtest_results SET parameters = json_set(CASE WHEN json_valid(parameters)"
                   " AND json_type(parameters) = 'object' THEN parameters ELSE '{}' END, '$.interval', ?2)"
                   " WHERE id = ?1", &st, "insert_run interval"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, interval, -1, SQLITE_STATIC);
    int ret = sqlite3_step(st) == SQLITE_DONE ? 0 : mts_store_db_error(s, "insert_run interval");
    sqlite3_finalize(st);
    return ret;
}

int mts_store_insert_run(mts_store_t *s, const mts_backtest_row_t *row,
                         const mts_signal_row_t *signals, int64_t n_signals,
                         const mts_trade_row_t *trades, int64_t n_trades,
                         const int64_t *equity_ts, const double *equity, int64_t n_equity,
                         const mts_book_row_t *books, int32_t n_books,
                         int64_t *id_out) {
    if (!s || !row || (n_signals > 0 && !signals) || (n_trades > 0 && !trades) ||
        (n_equity > 0 && (!equity_ts || !equity)) || (n_books > 0 && !books) || n_books < 0) {
        if (s) mts_store_set_error(s, "insert_run: missing argument");
        return MTS_EINVAL;
    }
    /* Checked and encoded before the write lock is taken. */
    int rc = check_signals(s, signals, n_signals);
    if (!rc) rc = check_trades(s, trades, n_trades);
    if (!rc && row->extra_json && !mts_store_json_object(s, row->extra_json)) {
        mts_store_set_error(s, "insert_run: extra_json is not a JSON object");
        rc = MTS_EINVAL;
    }
    if (rc) return rc;
    book_blobs_t bb;
    if ((rc = encode_books(s, books, n_books, &bb))) return rc;
    sig_blob_t sigs;
    if ((rc = encode_signals(s, signals, n_signals, &sigs))) {
        book_blobs_free(&bb);
        return rc;
    }
    curve_head_t curve = {0};
    if (n_equity > 0 && (rc = encode_head(s, "insert_run equity", equity_ts, equity, n_equity, &curve))) {
        sig_blob_free(&sigs);
        book_blobs_free(&bb);
        return rc;
    }
    /* BEGIN IMMEDIATE waits for the write lock (mts_store_begin_write); once
     * held, nothing in the transaction can meet SQLITE_BUSY in WAL mode, but
     * should it, the whole transaction is redone while the wait lasts. */
    int64_t started = 0;
    for (;;) {
        rc = mts_store_begin_write(s, "insert_run", &started);
        if (rc) break;
        int64_t id = 0;
        rc = mts_store_insert_backtest(s, row, &id);
        if (!rc && row->interval) rc = set_interval(s, id, row->interval);
        if (!rc) rc = insert_signal_blob(s, id, &sigs, signals);
        if (!rc) rc = insert_trades(s, id, trades, n_trades);
        if (!rc) rc = insert_books(s, id, books, &bb);
        if (!rc && curve.head) rc = insert_curve(s, id, n_equity, &curve, equity, "insert_run equity");
        if (!rc) rc = exec(s, "COMMIT", "insert_run");
        if (!rc) {
            if (id_out) *id_out = id;
            break;
        }
        if (!sqlite3_get_autocommit(mts_store_db(s)))
            sqlite3_exec(mts_store_db(s), "ROLLBACK", NULL, NULL, NULL);
        if (rc != MTS_EDBLOCKED || mts_store_now_ms() - started >= mts_store_write_wait(s)) break;
    }
    mts_free(curve.head);
    sig_blob_free(&sigs);
    book_blobs_free(&bb);
    return rc;
}

/* ---- reading back ---- */

static double col_opt(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static char *col_str(sqlite3_stmt *st, int i) {
    const char *t = (const char *)sqlite3_column_text(st, i);
    return mts_strdup(t ? t : "");
}

#define RUN_COLUMNS \
    "id, strategy_name, assets, start_date, end_date," \
    " CASE WHEN json_valid(parameters) AND json_type(parameters, '$.interval') IS NOT NULL" \
    "  THEN json_remove(parameters, '$.interval') ELSE parameters END, created_at, initial_capital," \
    " final_value, total_return, annualized_return, sharpe_ratio, max_drawdown, volatility," \
    " calmar_ratio, win_rate, profit_factor, commission_bps, slippage_bps, trade_count," \
    " CASE WHEN json_valid(parameters) THEN json_extract(parameters, '$.interval') END," \
    " CASE WHEN json_valid(extra) AND json_type(extra) = 'object' THEN extra END"

static int read_run_row(mts_store_t *s, sqlite3_stmt *st, mts_stored_run_t *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->strategy_name = col_str(st, 1);
    r->assets = col_str(st, 2);
    r->start_date = col_str(st, 3);
    r->end_date = col_str(st, 4);
    r->parameters_json = col_str(st, 5);
    r->created_at = col_str(st, 6);
    double *d[] = {&r->initial_capital, &r->final_value, &r->total_return, &r->annualized_return,
                   &r->sharpe_ratio, &r->max_drawdown, &r->volatility, &r->calmar_ratio,
                   &r->win_rate, &r->profit_factor, &r->commission_bps, &r->slippage_bps};
    for (int k = 0; k < 12; k++) *d[k] = col_opt(st, 7 + k);
    r->trade_count = sqlite3_column_int64(st, 19);
    const char *iv = sqlite3_column_type(st, 20) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 20) : NULL;
    snprintf(r->interval, sizeof r->interval, "%s", iv && strlen(iv) < sizeof r->interval ? iv : "1d");
    int no_extra = 0;
    if (sqlite3_column_type(st, 21) != SQLITE_NULL) no_extra = !(r->extra_json = col_str(st, 21));
    if (no_extra || !r->strategy_name || !r->assets || !r->start_date || !r->end_date || !r->parameters_json ||
        !r->created_at) {
        mts_stored_run_free(r);
        mts_store_set_error(s, "load_run: out of memory");
        return MTS_ENOMEM;
    }
    return 0;
}

static int load_trades(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT asset, side, qty, entry_ts, entry_price, exit_ts, exit_price, pnl, fees,"
                   " strategy, entry_reason, exit_reason, funding, mae, mfe, open"
                   " FROM backtest_trades WHERE backtest_id = ?1 ORDER BY id", &st, "load_run trades"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int64_t cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_trades == cap) {
            int64_t nc = cap ? cap * 2 : 64;
            void *p = mts_realloc(r->trades, (size_t)nc * sizeof *r->trades);
            if (!p) {
                mts_store_set_error(s, "load_run: out of memory");
                ret = MTS_ENOMEM;
                break;
            }
            r->trades = p;
            cap = nc;
        }
        mts_stored_trade_t *t = &r->trades[r->n_trades++];
        const char *a = (const char *)sqlite3_column_text(st, 0);
        const char *side = (const char *)sqlite3_column_text(st, 1);
        snprintf(t->asset, sizeof t->asset, "%s", a ? a : "");
        t->side = side && strcmp(side, "short") == 0 ? -1 : 1;
        t->qty = sqlite3_column_double(st, 2);
        t->entry_ts = sqlite3_column_int64(st, 3);
        t->entry_price = sqlite3_column_double(st, 4);
        t->exit_ts = sqlite3_column_int64(st, 5);
        t->exit_price = sqlite3_column_double(st, 6);
        t->pnl = sqlite3_column_double(st, 7);
        t->fees = sqlite3_column_double(st, 8);
        const char *sg = (const char *)sqlite3_column_text(st, 9);
        snprintf(t->strategy, sizeof t->strategy, "%s", sg ? sg : "");
        t->entry_reason = reason_static((const char *)sqlite3_column_text(st, 10));
        t->exit_reason = reason_static((const char *)sqlite3_column_text(st, 11));
        t->funding = sqlite3_column_double(st, 12);
        t->mae = col_opt(st, 13);
        t->mfe = col_opt(st, 14);
        t->open = sqlite3_column_int(st, 15) != 0;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_run trades");
    sqlite3_finalize(st);
    return ret;
}

/* The curve of run `id` from its blob into r->equity (empty when the run has
 * none). MTS_EPARSE, naming the run, when the blob is damaged. */
static int load_equity(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT n, data FROM backtest_curves WHERE backtest_id = ?1", &st, "load_run equity"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);
        const uint8_t *blob = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        mts_colblob_info_t in;
        if (!blob || mts_colblob_info(blob, len, &in) || in.k != 1 || in.n != n) {
            mts_store_set_error(s, "load_run: the equity curve of run %lld is damaged (backtest_curves.data,"
                                   " %zu bytes, is not an MTC1 blob of %lld points and one column)",
                                (long long)r->id, len, (long long)n);
            ret = MTS_EPARSE;
        } else if (n > 0 && mts_series_reserve(&r->equity, n)) {
            mts_store_set_error(s, "load_run: out of memory for the %lld equity points of run %lld",
                                (long long)n, (long long)r->id);
            ret = MTS_ENOMEM;
        } else if (n > 0) {
            double *cols[1] = {r->equity.v};
            if (mts_colblob_decode(blob, len, 0, n, r->equity.ts, cols, 1)) {
                mts_store_set_error(s, "load_run: the equity curve of run %lld is damaged (its times do not"
                                       " decode)", (long long)r->id);
                ret = MTS_EPARSE;
            } else {
                r->equity.n = n;
            }
        }
    } else if (rc != SQLITE_DONE) {
        ret = mts_store_db_error(s, "load_run equity");
    }
    sqlite3_finalize(st);
    return ret;
}

/* The run's books (backtest_books), ordered by book. MTS_EPARSE, naming the
 * run and the book, when a curve blob is damaged. */
static int load_books(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT book, strategy, allocation, initial, final, pnl, fees, funding, trades,"
                   " CASE WHEN json_valid(metrics) AND json_type(metrics) = 'object' THEN metrics END, curve"
                   " FROM backtest_books WHERE backtest_id = ?1 ORDER BY book", &st, "load_run books"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int rc, ret = 0;
    int32_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_books == cap) {
            int32_t nc = cap ? cap * 2 : 8;
            void *p = mts_realloc(r->books, (size_t)nc * sizeof *r->books);
            if (!p) {
                mts_store_set_error(s, "load_run: out of memory");
                ret = MTS_ENOMEM;
                break;
            }
            r->books = p;
            cap = nc;
        }
        mts_stored_book_t *b = &r->books[r->n_books++];
        memset(b, 0, sizeof *b);
        b->book = sqlite3_column_int(st, 0);
        const char *sg = (const char *)sqlite3_column_text(st, 1);
        snprintf(b->strategy, sizeof b->strategy, "%s", sg ? sg : "");
        double *d[] = {&b->allocation, &b->initial, &b->final, &b->pnl, &b->fees, &b->funding};
        for (int k = 0; k < 6; k++) *d[k] = col_opt(st, 2 + k);
        b->trades = sqlite3_column_int64(st, 8);
        if (sqlite3_column_type(st, 9) != SQLITE_NULL && !(b->metrics_json = col_str(st, 9))) {
            mts_store_set_error(s, "load_run: out of memory");
            ret = MTS_ENOMEM;
            break;
        }
        if (sqlite3_column_type(st, 10) == SQLITE_NULL) continue;
        const uint8_t *blob = sqlite3_column_blob(st, 10);
        size_t len = (size_t)sqlite3_column_bytes(st, 10);
        mts_colblob_info_t in;
        if (!blob || mts_colblob_info(blob, len, &in) || in.k != 1) {
            mts_store_set_error(s, "load_run: the curve of book %d of run %lld is damaged (backtest_books.curve,"
                                   " %zu bytes, is not an MTC1 blob of one column)", b->book, (long long)r->id, len);
            ret = MTS_EPARSE;
            break;
        }
        int64_t n = (int64_t)in.n;
        if (n > 0 && mts_series_reserve(&b->curve, n)) {
            mts_store_set_error(s, "load_run: out of memory for the curve of book %d", b->book);
            ret = MTS_ENOMEM;
            break;
        }
        double *cols[1] = {b->curve.v};
        if (n > 0 && mts_colblob_decode(blob, len, 0, n, b->curve.ts, cols, 1)) {
            mts_store_set_error(s, "load_run: the curve of book %d of run %lld is damaged (it does not decode)",
                                b->book, (long long)r->id);
            ret = MTS_EPARSE;
            break;
        }
        b->curve.n = n;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_run books");
    sqlite3_finalize(st);
    return ret;
}

/* The strings of names' array at `path` appended to r->names; *count = how
 * many. 1 when the array is missing or holds anything but strings. */
static int load_names(mts_store_t *s, mts_stored_run_t *r, const char *names, const char *path, int *count) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT value, type FROM json_each(?1, ?2) ORDER BY key", &st, "load_run signals"))
        return MTS_EDB;
    sqlite3_bind_text(st, 1, names, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    int rc, ret = 0;
    *count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 1);
        if (!type || strcmp(type, "text")) {
            ret = 1;
            break;
        }
        char **nn = mts_realloc(r->names, (size_t)(r->n_names + 1) * sizeof *nn);
        char *v = nn ? col_str(st, 0) : NULL;
        if (nn) r->names = nn;
        if (!v) {
            mts_store_set_error(s, "load_run: out of memory");
            ret = MTS_ENOMEM;
            break;
        }
        r->names[r->n_names++] = v;
        (*count)++;
    }
    if (!ret && rc != SQLITE_DONE) ret = 1;   /* malformed JSON */
    sqlite3_finalize(st);
    return ret;
}

/* v an integer in [lo, hi) */
static int in_range(double v, double lo, double hi) { return v >= lo && v < hi && v == floor(v); }

/* The signals of run r from its backtest_signals row (none and has_signals
 * = 0 when it has no row: stored before v7). MTS_EPARSE, naming the run, when
 * the row is damaged. */
static int load_signals(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT n, names, data, CASE WHEN json_valid(names) THEN json_type(names, '$.assets') = 'array'"
                   " AND json_type(names, '$.strategies') = 'array' ELSE 0 END"
                   " FROM backtest_signals WHERE backtest_id = ?1",
                &st, "load_run signals"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int rc = sqlite3_step(st), ret = 0;
    double *cols = NULL;
    const char *bad = NULL;
    if (rc == SQLITE_ROW) {
        r->has_signals = 1;
        int64_t n = sqlite3_column_int64(st, 0);
        const char *names = (const char *)sqlite3_column_text(st, 1);
        const uint8_t *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        mts_colblob_info_t in;
        int n_assets = 0, n_strategies = 0;
        if (!blob || mts_colblob_info(blob, len, &in) || in.k != SIG_COLS || in.n != n)
            bad = "data is not an MTC1 blob of n rows and 9 columns";
        else if (!names || !sqlite3_column_int(st, 3))
            bad = "names is not JSON {\"assets\":[...],\"strategies\":[...]}";
        else if ((ret = load_names(s, r, names, "$.assets", &n_assets)) ||
                 (ret = load_names(s, r, names, "$.strategies", &n_strategies))) {
            if (ret == 1) bad = "names holds something other than strings";
        } else if (n > 0) {
            cols = mts_malloc((size_t)n * SIG_COLS * sizeof *cols);
            r->signals = mts_calloc((size_t)n, sizeof *r->signals);
            if (!cols || !r->signals) {
                mts_store_set_error(s, "load_run: out of memory for the %lld signals of run %lld", (long long)n,
                                    (long long)r->id);
                ret = MTS_ENOMEM;
            } else {
                double *cp[SIG_COLS];
                for (int c = 0; c < SIG_COLS; c++) cp[c] = cols + (size_t)c * (size_t)n;
                if (mts_colblob_decode(blob, len, 0, n, NULL, cp, SIG_COLS)) bad = "data does not decode";
                for (int64_t i = 0; i < n && !bad; i++) {
                    double t = cp[0][i], ty = cp[1][i], a = cp[2][i], sg = cp[3][i];
                    if (!(fabs(t) <= (double)SIG_TS_MAX && t == floor(t)) || !in_range(ty, -1, 2) ||
                        !in_range(a, 0, n_assets) || !in_range(sg, 0, n_strategies)) {
                        bad = "a signal's time, type, asset or strategy is out of range";
                        break;
                    }
                    mts_stored_signal_t *g = &r->signals[i];
                    g->ts = (int64_t)t;
                    g->type = (int32_t)ty;
                    g->signal_type = g->type > 0 ? "LONG" : g->type < 0 ? "SHORT" : "CLOSE";
                    g->asset = r->names[(int)a];
                    g->strategy = r->names[n_assets + (int)sg];
                    g->price = cp[4][i];
                    g->confidence = cp[5][i];
                    g->position_size = cp[6][i];
                    g->stop_loss = cp[7][i];
                    g->take_profit = cp[8][i];
                }
                if (!bad) r->n_signals = n;
            }
        }
        if (bad) {
            mts_store_set_error(s, "load_run: the signals of run %lld are damaged (backtest_signals, n = %lld,"
                                   " %zu bytes: %s)", (long long)r->id, (long long)n, len, bad);
            ret = MTS_EPARSE;
        }
    } else if (rc != SQLITE_DONE) {
        ret = mts_store_db_error(s, "load_run signals");
    }
    mts_free(cols);
    sqlite3_finalize(st);
    return ret;
}

int mts_store_load_run(mts_store_t *s, int64_t id, mts_stored_run_t *out) {
    if (!s || !out) {
        if (s) mts_store_set_error(s, "load_run: missing argument");
        return MTS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " RUN_COLUMNS " FROM backtest_results WHERE id = ?1", &st, "load_run"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW) ret = read_run_row(s, st, out);
    else if (rc == SQLITE_DONE) {
        mts_store_set_error(s, "no backtest with id %lld", (long long)id);
        ret = MTS_ENOTFOUND;
    } else ret = mts_store_db_error(s, "load_run");
    sqlite3_finalize(st);
    if (ret) return ret;
    if ((ret = load_trades(s, out)) || (ret = load_equity(s, out)) || (ret = load_signals(s, out)) ||
        (ret = load_books(s, out))) {
        mts_stored_run_free(out);
        return ret;
    }
    out->has_details = out->equity.n > 0;
    return 0;
}

void mts_stored_run_free(mts_stored_run_t *r) {
    if (!r) return;
    mts_free(r->strategy_name);
    mts_free(r->assets);
    mts_free(r->start_date);
    mts_free(r->end_date);
    mts_free(r->parameters_json);
    mts_free(r->created_at);
    mts_free(r->trades);
    mts_series_free(&r->equity);
    mts_free(r->signals);
    for (int i = 0; i < r->n_names; i++) mts_free(r->names[i]);
    mts_free(r->names);
    mts_free(r->extra_json);
    for (int32_t i = 0; i < r->n_books; i++) {
        mts_free(r->books[i].metrics_json);
        mts_series_free(&r->books[i].curve);
    }
    mts_free(r->books);
    memset(r, 0, sizeof *r);
}

int mts_store_list_runs(mts_store_t *s, int max, mts_stored_run_t **out, int *n) {
    if (!s || !out || !n || max < 0) {
        if (s) mts_store_set_error(s, "list_runs: missing argument");
        return MTS_EINVAL;
    }
    *out = NULL;
    *n = 0;
    if (max == 0) return 0;
    mts_stored_run_t *runs = mts_calloc((size_t)max, sizeof *runs);
    if (!runs) {
        mts_store_set_error(s, "list_runs: out of memory");
        return MTS_ENOMEM;
    }
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " RUN_COLUMNS " FROM backtest_results ORDER BY id DESC LIMIT ?1", &st,
                "list_runs")) {
        mts_free(runs);
        return MTS_EDB;
    }
    sqlite3_bind_int(st, 1, max);
    int rc = SQLITE_DONE, ret = 0, k = 0;
    while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((ret = read_run_row(s, st, &runs[k]))) break;
        k++;
    }
    if (!ret && k < max && rc != SQLITE_DONE) ret = mts_store_db_error(s, "list_runs");
    sqlite3_finalize(st);
    if (ret) {
        for (int i = 0; i < k; i++) mts_stored_run_free(&runs[i]);
        mts_free(runs);
        return ret;
    }
    *out = runs;
    *n = k;
    return 0;
}

/* ---- schema v7: backtest_equity rows into one curve per run ----
 * Inside the migration's transaction (store.c): each run's points are read in
 * ts order, encoded and written, then the row table is dropped. The arrays
 * are reused from run to run, so memory is that of the largest run (16 bytes
 * a point), not of the table. A point whose ts is not an integer or whose equity is not a
 * number (the v6 code never wrote one) stops the migration, file left at v6. */
int mts_store_migrate_v7_curves(mts_store_t *s) {
    const char *what = "migration 7 (equity curves)";
    sqlite3_stmt *runs = NULL, *pts = NULL;
    int64_t *ts = NULL, cap = 0;
    double *v = NULL;
    int ret = 0, rc = SQLITE_DONE;
    if (prepare(s, "SELECT e.backtest_id, count(*), (SELECT 1 FROM backtest_results r WHERE r.id = e.backtest_id)"
                   " FROM backtest_equity e GROUP BY e.backtest_id ORDER BY e.backtest_id", &runs, what) ||
        prepare(s, "SELECT ts, equity FROM backtest_equity WHERE backtest_id = ?1 ORDER BY ts", &pts, what)) {
        ret = MTS_EDB;
        goto done;
    }
    while (!ret && (rc = sqlite3_step(runs)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(runs, 0), want = sqlite3_column_int64(runs, 1), n = 0;
        if (sqlite3_column_type(runs, 0) != SQLITE_INTEGER || want > (int64_t)UINT32_MAX) {
            mts_store_set_error(s, "%s: backtest_equity has %lld points under backtest_id '%s', which cannot be"
                                   " one curve", what, (long long)want, (const char *)sqlite3_column_text(runs, 0));
            ret = MTS_EDB;
            break;
        }
        if (sqlite3_column_type(runs, 2) == SQLITE_NULL) {   /* backtest_curves would refuse it (foreign key) */
            mts_store_set_error(s, "%s: backtest_equity has %lld points of run %lld, which has no backtest_results"
                                   " row; nothing migrated. Keep them by adding the run, or delete them"
                                   " (DELETE FROM backtest_equity WHERE backtest_id = %lld), and open again",
                                what, (long long)want, (long long)id, (long long)id);
            ret = MTS_EDB;
            break;
        }
        if (want > cap) {
            int64_t *nt = mts_realloc(ts, (size_t)want * sizeof *ts);
            if (nt) ts = nt;
            double *nv = nt ? mts_realloc(v, (size_t)want * sizeof *v) : NULL;
            if (nv) v = nv;
            if (!nt || !nv) {
                mts_store_set_error(s, "%s: out of memory for the %lld points of run %lld", what,
                                    (long long)want, (long long)id);
                ret = MTS_EDB;
                break;
            }
            cap = want;
        }
        sqlite3_bind_int64(pts, 1, id);
        while ((rc = sqlite3_step(pts)) == SQLITE_ROW && n < want) {
            int tt = sqlite3_column_type(pts, 0), et = sqlite3_column_type(pts, 1);
            if (tt != SQLITE_INTEGER || (et != SQLITE_FLOAT && et != SQLITE_INTEGER)) {
                mts_store_set_error(s, "%s: run %lld, point %lld: ts or equity is not a number (types %d, %d);"
                                       " nothing migrated", what, (long long)id, (long long)n, tt, et);
                ret = MTS_EDB;
                break;
            }
            ts[n] = sqlite3_column_int64(pts, 0);
            v[n] = sqlite3_column_double(pts, 1);
            n++;
        }
        if (!ret && rc != SQLITE_DONE) {
            if (rc == SQLITE_ROW)
                mts_store_set_error(s, "%s: run %lld has more points than counted", what, (long long)id);
            else mts_store_db_error(s, what);
            ret = MTS_EDB;
        }
        sqlite3_reset(pts);
        if (ret) break;
        if (n != want) {
            mts_store_set_error(s, "%s: run %lld: read %lld points of %lld", what, (long long)id, (long long)n,
                                (long long)want);
            ret = MTS_EDB;
            break;
        }
        /* ORDER BY ts over the (backtest_id, ts) primary key: strictly ascending */
        curve_head_t c;
        if (encode_head(s, what, ts, v, n, &c) || insert_curve(s, id, n, &c, v, what)) ret = MTS_EDB;
        mts_free(c.head);
    }
    if (!ret && rc != SQLITE_DONE) {
        mts_store_db_error(s, what);
        ret = MTS_EDB;
    }
    sqlite3_finalize(runs);
    runs = NULL;
    sqlite3_finalize(pts);
    pts = NULL;
    if (!ret && exec(s, "DROP TABLE backtest_equity", what)) ret = MTS_EDB;
done:
    sqlite3_finalize(runs);
    sqlite3_finalize(pts);
    mts_free(ts);
    mts_free(v);
    return ret;
}
