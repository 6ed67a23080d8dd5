/* feed_store.c — batched writes of trades, book snapshots and funding (see
 * feed_store.h). One prepared statement per table, one transaction per flush.
 * Invariant: no transaction is open when a public function returns. */
#include "feeds/feed_store.h"
#include "feeds/book.h"
#include "store/store_internal.h"
#include "market/bar_check.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R_TRADE = 1, R_BOOK, R_FUNDING, R_BAR };

typedef struct row {
    uint8_t kind, exchange;
    int8_t side;              /* trades: MTS_SIDE_*; book: MTS_BOOK_BID/ASK */
    int32_t level;
    char symbol[MTS_SYMBOL_MAX];
    char trade_id[MTS_TRADE_ID_MAX];
    int64_t ts_ms, update_id, next_ms;
    double price, qty, rate, mark;
    double bar[5];            /* bars: open, high, low, close, volume (ts_ms = open time) */
    char interval[8];         /* bars: "1m" ... */
} row_t;

struct mts_feed_store {
    mts_store_t *store;
    sqlite3 *db;
    sqlite3_stmt *ins_trade, *ins_book, *ins_funding;
    sqlite3_stmt *begin, *commit, *rollback;
    row_t *rows;
    mts_bars_t bars;          /* one series of a flush (arrays of cap rows, grown with the buffer) */
    int n, cap, batch;        /* batch: flush threshold; cap: buffer (>= batch) */
    int failing;              /* the last flush failed */
    mts_feed_store_stats_t st;
    char err[256];
    /* mirror */
    mts_cache_t *cache;
    mts_bus_t *bus;
    int batch_open;           /* a cache batch holds writes not yet committed */
    char *json;               /* reused JSON buffer */
    size_t json_cap;
};

/* The store's wording of the failure (cause, path, SQLite code: "database is
 * locked (another process is writing to ...)", "disk is full ..."). */
static int db_fail(mts_feed_store_t *fs, const char *what) {
    int rc = mts_store_db_error(fs->store, what);
    snprintf(fs->err, sizeof fs->err, "%s", mts_store_errmsg(fs->store));
    return rc;
}

int mts_feed_store_open(mts_store_t *s, int batch_rows, mts_feed_store_t **out) {
    if (!s || !out) return MTS_EINVAL;
    *out = NULL;
    mts_feed_store_t *fs = mts_calloc(1, sizeof *fs);
    if (!fs) return MTS_ENOMEM;
    fs->store = s;
    fs->db = mts_store_db(s);
    fs->cap = fs->batch = batch_rows > 0 ? batch_rows : 1000;
    fs->rows = mts_calloc((size_t)fs->cap, sizeof *fs->rows);
    if (!fs->rows || mts_bars_reserve(&fs->bars, fs->cap) != 0) {
        mts_bars_free(&fs->bars);
        mts_free(fs->rows);
        mts_free(fs);
        return MTS_ENOMEM;
    }
    if (sqlite3_prepare_v2(fs->db,
            "INSERT OR IGNORE INTO trades(exchange, symbol, trade_id, ts_ms, price, qty, side)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &fs->ins_trade, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(fs->db,
            "INSERT OR REPLACE INTO order_book_snapshots(exchange, symbol, ts_ms, side, level, price,"
            " qty, update_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &fs->ins_book, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(fs->db,
            "INSERT OR REPLACE INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price, next_funding_ms)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &fs->ins_funding, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(fs->db, "BEGIN IMMEDIATE", -1, &fs->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(fs->db, "COMMIT", -1, &fs->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(fs->db, "ROLLBACK", -1, &fs->rollback, NULL) != SQLITE_OK) {
        db_fail(fs, "feed_store prepare");
        mts_store_set_error(s, "%s", fs->err);
        mts_feed_store_close(fs);
        return MTS_EDB;
    }
    *out = fs;
    return 0;
}

static void bind_double_or_null(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static int write_row(mts_feed_store_t *fs, const row_t *r) {
    sqlite3_stmt *st;
    const char *ex = mts_exchange_name(r->exchange);
    switch (r->kind) {
    case R_TRADE:
        st = fs->ins_trade;
        sqlite3_bind_text(st, 3, r->trade_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->ts_ms);
        sqlite3_bind_double(st, 5, r->price);
        sqlite3_bind_double(st, 6, r->qty);
        if (r->side == MTS_SIDE_BUY) sqlite3_bind_text(st, 7, "buy", -1, SQLITE_STATIC);
        else if (r->side == MTS_SIDE_SELL) sqlite3_bind_text(st, 7, "sell", -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 7);
        break;
    case R_BOOK:
        st = fs->ins_book;
        sqlite3_bind_int64(st, 3, r->ts_ms);
        sqlite3_bind_text(st, 4, r->side == MTS_BOOK_BID ? "bid" : "ask", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, r->level);
        sqlite3_bind_double(st, 6, r->price);
        sqlite3_bind_double(st, 7, r->qty);
        if (r->update_id >= 0) sqlite3_bind_int64(st, 8, r->update_id);
        else sqlite3_bind_null(st, 8);
        break;
    default:
        st = fs->ins_funding;
        sqlite3_bind_int64(st, 3, r->ts_ms);
        bind_double_or_null(st, 4, r->rate);
        bind_double_or_null(st, 5, r->mark);
        if (r->next_ms >= 0) sqlite3_bind_int64(st, 6, r->next_ms);
        else sqlite3_bind_null(st, 6);
        break;
    }
    sqlite3_bind_text(st, 1, ex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->symbol, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(fs, "feed_store insert");
    int changed = sqlite3_changes(fs->db);
    if (r->kind == R_TRADE) {
        if (changed) fs->st.trades++;
        else fs->st.trade_duplicates++;
    } else if (r->kind == R_BOOK) {
        fs->st.book_rows++;
    } else {
        fs->st.funding_rows++;
    }
    return 0;
}

/* Sends the pending Redis writes: one pipeline. */
static void mirror_commit(mts_feed_store_t *fs) {
    if (!fs->batch_open) return;
    fs->batch_open = 0;
    if (mts_cache_commit(fs->cache)) fs->st.redis_errors++;
    fs->st.redis_batches++;
}

static int step_stmt(mts_feed_store_t *fs, sqlite3_stmt *st, const char *what) {
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? 0 : db_fail(fs, what);
}

static void rollback(mts_feed_store_t *fs) {
    if (!sqlite3_get_autocommit(fs->db)) {
        sqlite3_step(fs->rollback);
        sqlite3_reset(fs->rollback);
    }
}

/* The trades, book rows and funding rows: one transaction. */
static int flush_table_rows(mts_feed_store_t *fs) {
    int any = 0;
    for (int i = 0; i < fs->n && !any; i++) any = fs->rows[i].kind != R_BAR;
    if (!any) return 0;
    if (step_stmt(fs, fs->begin, "feed_store begin")) return MTS_EDB;
    mts_feed_store_stats_t before = fs->st;
    for (int i = 0; i < fs->n; i++) {
        if (fs->rows[i].kind == R_BAR) continue;
        if (write_row(fs, &fs->rows[i])) {
            rollback(fs);
            fs->st = before;
            return MTS_EDB;   /* rows stay pending; the caller may retry */
        }
    }
    if (step_stmt(fs, fs->commit, "feed_store commit")) {
        rollback(fs);
        fs->st = before;
        return MTS_EDB;
    }
    /* written: keep only the bars */
    int k = 0;
    for (int i = 0; i < fs->n; i++)
        if (fs->rows[i].kind == R_BAR) fs->rows[k++] = fs->rows[i];
    fs->n = k;
    return 0;
}

/* The closed bars: one mts_store_upsert_ohlcv (one transaction) per series
 * <exchange>:<SYMBOL> and interval, bars in arrival order (a bar received
 * twice in one flush: the later one). A series that fails stays pending. */
static int flush_bars(mts_feed_store_t *fs) {
    int rc = 0, k = 0;
    for (int i = 0; i < fs->n; i++) {
        row_t *r = &fs->rows[i];
        if (r->kind != R_BAR) continue;   /* a series already written below */
        char asset[MTS_SYMBOL_MAX + 16];
        snprintf(asset, sizeof asset, "%s:%s", mts_exchange_name(r->exchange), r->symbol);
        mts_bars_t *b = &fs->bars;
        b->n = 0;
        int64_t n_rows = 0;
        for (int j = i; j < fs->n; j++) {
            row_t *x = &fs->rows[j];
            if (x->kind != R_BAR || x->exchange != r->exchange || strcmp(x->symbol, r->symbol) ||
                strcmp(x->interval, r->interval))
                continue;
            int64_t ts = x->ts_ms / 1000;
            int64_t at = b->n;
            for (int64_t q = b->n - 1; q >= 0 && at == b->n; q--)
                if (b->ts[q] == ts) at = q;          /* the same bar again: the later values */
            if (at == b->n) {
                if (b->n > 0 && ts < b->ts[b->n - 1]) {   /* keep ascending times */
                    at = b->n;
                    while (at > 0 && b->ts[at - 1] > ts) at--;
                    for (int64_t q = b->n; q > at; q--) {
                        b->ts[q] = b->ts[q - 1];
                        b->open[q] = b->open[q - 1];
                        b->high[q] = b->high[q - 1];
                        b->low[q] = b->low[q - 1];
                        b->close[q] = b->close[q - 1];
                        b->volume[q] = b->volume[q - 1];
                    }
                }
                b->n++;
            }
            b->ts[at] = ts;
            b->open[at] = x->bar[0];
            b->high[at] = x->bar[1];
            b->low[at] = x->bar[2];
            b->close[at] = x->bar[3];
            b->volume[at] = x->bar[4];
            n_rows++;
            if (j != i) x->kind = 0;                  /* taken (marked on success below) */
        }
        int urc = mts_store_upsert_ohlcv(fs->store, asset, r->interval, b);
        if (urc) {
            snprintf(fs->err, sizeof fs->err, "%s", mts_store_errmsg(fs->store));
            rc = MTS_EDB;
            /* keep this series pending (marked: skipped by this loop, restored below) */
            for (int j = i + 1; j < fs->n; j++) {
                row_t *x = &fs->rows[j];
                if (x->kind == 0 && x->exchange == r->exchange && !strcmp(x->symbol, r->symbol) &&
                    !strcmp(x->interval, r->interval))
                    x->kind = 0x80 | R_BAR;
            }
            r->kind = 0x80 | R_BAR;
            continue;
        }
        fs->st.bars += b->n;
        fs->st.bar_duplicates += n_rows - b->n;
        r->kind = 0;
    }
    for (int i = 0; i < fs->n; i++) {   /* what failed stays pending */
        if (fs->rows[i].kind == (0x80 | R_BAR)) fs->rows[i].kind = R_BAR;
        if (fs->rows[i].kind == R_BAR) fs->rows[k++] = fs->rows[i];
    }
    fs->n = k;
    return rc;
}

static int flush_rows(mts_feed_store_t *fs) {
    int rc = flush_table_rows(fs);
    if (rc) return rc;
    rc = flush_bars(fs);
    if (rc) return rc;
    fs->n = 0;
    fs->st.batches++;
    return 0;
}

int mts_feed_store_flush(mts_feed_store_t *fs) {
    if (!fs) return MTS_EINVAL;
    mirror_commit(fs);
    if (fs->n == 0) return 0;
    int rc = flush_rows(fs);
    fs->failing = rc != 0;
    if (rc) fs->st.flush_errors++;
    return rc;
}

static void count_not_stored(mts_feed_store_t *fs, int kind, int64_t n) {
    if (kind == R_TRADE) fs->st.not_stored_trades += n;
    else if (kind == R_BOOK) fs->st.not_stored_book_rows += n;
    else if (kind == R_BAR) fs->st.not_stored_bars += n;
    else fs->st.not_stored_funding_rows += n;
}

/* A slot for one more row, or NULL (the row is not stored: counted by the
 * caller with count_not_stored) with *rc the flush error. Flushes at the batch
 * size unless the last flush failed (then the caller's clock retries). */
static row_t *next_row(mts_feed_store_t *fs, int *rc) {
    *rc = 0;
    if (fs->n >= fs->batch && !fs->failing) *rc = mts_feed_store_flush(fs);
    if (fs->n == fs->cap) {
        if (!*rc) *rc = MTS_EDB;
        return NULL;
    }
    row_t *r = &fs->rows[fs->n++];
    memset(r, 0, sizeof *r);
    return r;
}

int mts_feed_store_reserve(mts_feed_store_t *fs, int max_rows) {
    if (!fs || max_rows <= 0) return MTS_EINVAL;
    if (max_rows <= fs->cap) return 0;
    row_t *p = mts_realloc(fs->rows, (size_t)max_rows * sizeof *p);
    if (!p) return MTS_ENOMEM;
    fs->rows = p;
    if (mts_bars_reserve(&fs->bars, max_rows) != 0) return MTS_ENOMEM;
    fs->cap = max_rows;
    return 0;
}

int mts_feed_store_failing(const mts_feed_store_t *fs) { return fs ? fs->failing : 0; }

int mts_feed_store_discard(mts_feed_store_t *fs) {
    if (!fs) return 0;
    int n = fs->n;
    for (int i = 0; i < n; i++) count_not_stored(fs, fs->rows[i].kind, 1);
    fs->n = 0;
    return n;
}

int mts_feed_store_trade(mts_feed_store_t *fs, const mts_feed_event_t *ev) {
    if (!fs || !ev || ev->kind != MTS_FEV_TRADE || !ev->trade_id[0]) return MTS_EINVAL;
    int rc;
    row_t *r = next_row(fs, &rc);
    if (!r) {
        count_not_stored(fs, R_TRADE, 1);
        return rc;
    }
    r->kind = R_TRADE;
    r->exchange = ev->exchange;
    r->side = ev->side;
    memcpy(r->symbol, ev->symbol, sizeof r->symbol);
    memcpy(r->trade_id, ev->trade_id, sizeof r->trade_id);
    r->ts_ms = ev->ts_ms;
    r->price = ev->price;
    r->qty = ev->qty;
    return 0;
}

/* ---- the mirror ---- */

int mts_feed_store_mirror(mts_feed_store_t *fs, mts_cache_t *cache, mts_bus_t *bus) {
    if (!fs) return MTS_EINVAL;
    mirror_commit(fs);
    fs->cache = cache;
    fs->bus = bus;
    return 0;
}

/* Room for need more bytes of JSON after used. */
static int json_room(mts_feed_store_t *fs, size_t need) {
    if (need <= fs->json_cap) return 0;
    size_t n = fs->json_cap ? fs->json_cap : 1024;
    while (n < need) n *= 2;
    char *p = mts_realloc(fs->json, n);
    if (!p) return MTS_ENOMEM;
    fs->json = p;
    fs->json_cap = n;
    return 0;
}

/* A double as JSON that reads back as the same double (null if not finite);
 * at most 32 bytes with the NUL. */
static int num(char *out, double v) {
    if (!isfinite(v)) return sprintf(out, "null");
    int n = sprintf(out, "%.15g", v);
    if (strtod(out, NULL) != v) n = sprintf(out, "%.17g", v);
    return n;
}

/* Writes json (len bytes) under kind:exchange:symbol:ts and ...:latest, and
 * publishes it on the bus. */
static void mirror_write(mts_feed_store_t *fs, const char *kind, const char *exch, const char *symbol,
                         int64_t ts_ms, int ttl, size_t len) {
    if (fs->cache) {
        char key[128];
        if (!fs->batch_open) {
            if (mts_cache_begin(fs->cache) == 0) fs->batch_open = 1;
        }
        int k = !strcmp(kind, "orderbook") ? mts_cache_key_orderbook(key, sizeof key, exch, symbol, ts_ms)
                                           : mts_cache_key_funding(key, sizeof key, exch, symbol, ts_ms);
        if (k < 0 || mts_cache_set(fs->cache, key, fs->json, len, ttl)) {
            fs->st.redis_errors++;
        } else {
            fs->st.redis_keys++;
            snprintf(key, sizeof key, "%s:%s:%s:latest", kind, exch, symbol);
            if (mts_cache_set(fs->cache, key, fs->json, len, ttl)) fs->st.redis_errors++;
            else fs->st.redis_keys++;
        }
    }
    if (fs->bus) {
        if (mts_bus_publish(fs->bus, kind, fs->json, len)) fs->st.bus_errors++;
        else fs->st.bus_published++;
    }
}

static size_t json_head(mts_feed_store_t *fs, const char *exch, const char *symbol, int64_t ts_ms) {
    return (size_t)sprintf(fs->json, "{\"exchange\":\"%s\",\"symbol\":\"%s\",\"ts\":%" PRId64, exch,
                           symbol, ts_ms);
}

static void mirror_funding(mts_feed_store_t *fs, const mts_feed_event_t *ev) {
    if ((!fs->cache && !fs->bus) || json_room(fs, 256 + MTS_SYMBOL_MAX)) return;
    const char *exch = mts_exchange_name(ev->exchange);
    size_t o = json_head(fs, exch, ev->symbol, ev->ts_ms);
    o += (size_t)sprintf(fs->json + o, ",\"rate\":");
    o += (size_t)num(fs->json + o, ev->rate);
    o += (size_t)sprintf(fs->json + o, ",\"mark_price\":");
    o += (size_t)num(fs->json + o, ev->mark_price);
    if (ev->next_funding_ms >= 0)
        o += (size_t)sprintf(fs->json + o, ",\"next_funding_ms\":%" PRId64 "}", ev->next_funding_ms);
    else
        o += (size_t)sprintf(fs->json + o, ",\"next_funding_ms\":null}");
    mirror_write(fs, "funding", exch, ev->symbol, ev->ts_ms, MTS_TTL_FUNDING, o);
}

static void mirror_book(mts_feed_store_t *fs, int exchange, const char *symbol, int64_t ts_ms,
                        int64_t update_id, const mts_level_t *bids, int nb, const mts_level_t *asks, int na) {
    if (!fs->cache && !fs->bus) return;
    if (json_room(fs, 256 + MTS_SYMBOL_MAX + (size_t)(nb + na) * 70)) {
        fs->st.redis_errors++;
        return;
    }
    const char *exch = mts_exchange_name(exchange);
    size_t o = json_head(fs, exch, symbol, ts_ms);
    if (update_id >= 0) o += (size_t)sprintf(fs->json + o, ",\"update_id\":%" PRId64, update_id);
    else o += (size_t)sprintf(fs->json + o, ",\"update_id\":null");
    for (int side = 0; side < 2; side++) {
        const mts_level_t *lv = side == MTS_BOOK_BID ? bids : asks;
        int n = side == MTS_BOOK_BID ? nb : na;
        o += (size_t)sprintf(fs->json + o, side == MTS_BOOK_BID ? ",\"bids\":[" : ",\"asks\":[");
        for (int i = 0; i < n; i++) {
            o += (size_t)sprintf(fs->json + o, "%s[", i ? "," : "");
            o += (size_t)num(fs->json + o, lv[i].price);
            fs->json[o++] = ',';
            o += (size_t)num(fs->json + o, lv[i].qty);
            fs->json[o++] = ']';
        }
        fs->json[o++] = ']';
    }
    fs->json[o++] = '}';
    fs->json[o] = '\0';
    mirror_write(fs, "orderbook", exch, symbol, ts_ms, MTS_TTL_ORDERBOOK, o);
}

int mts_feed_store_funding(mts_feed_store_t *fs, const mts_feed_event_t *ev) {
    if (!fs || !ev || ev->kind != MTS_FEV_FUNDING) return MTS_EINVAL;
    int rc;
    row_t *r = next_row(fs, &rc);
    if (!r) {
        count_not_stored(fs, R_FUNDING, 1);
        mirror_funding(fs, ev);   /* Redis and the bus still get it */
        return rc;
    }
    r->kind = R_FUNDING;
    r->exchange = ev->exchange;
    memcpy(r->symbol, ev->symbol, sizeof r->symbol);
    r->ts_ms = ev->ts_ms;
    r->rate = ev->rate;
    r->mark = ev->mark_price;
    r->next_ms = ev->next_funding_ms;
    mirror_funding(fs, ev);
    return 0;
}

int mts_feed_store_book(mts_feed_store_t *fs, int exchange, const char *symbol, int64_t ts_ms,
                        int64_t update_id, const mts_level_t *bids, int nb,
                        const mts_level_t *asks, int na) {
    if (!fs || !symbol || strlen(symbol) >= MTS_SYMBOL_MAX) return MTS_EINVAL;
    for (int side = 0; side < 2; side++) {
        const mts_level_t *lv = side == MTS_BOOK_BID ? bids : asks;
        int n = side == MTS_BOOK_BID ? nb : na;
        for (int i = 0; i < n; i++) {
            int rc;
            row_t *r = next_row(fs, &rc);
            if (!r) {   /* this level and the ones after it */
                count_not_stored(fs, R_BOOK, (int64_t)(n - i) + (side == MTS_BOOK_BID ? na : 0));
                mirror_book(fs, exchange, symbol, ts_ms, update_id, bids, nb, asks, na);
                return rc;
            }
            r->kind = R_BOOK;
            r->exchange = (uint8_t)exchange;
            r->side = (int8_t)side;
            r->level = i;
            strcpy(r->symbol, symbol);
            r->ts_ms = ts_ms;
            r->update_id = update_id;
            r->price = lv[i].price;
            r->qty = lv[i].qty;
        }
    }
    mirror_book(fs, exchange, symbol, ts_ms, update_id, bids, nb, asks, na);
    return 0;
}

int mts_feed_store_bar(mts_feed_store_t *fs, const mts_feed_event_t *ev, const char *interval) {
    if (!fs || !ev || ev->kind != MTS_FEV_BAR || !interval || strlen(interval) >= sizeof ((row_t *)0)->interval)
        return MTS_EINVAL;
    if (!ev->bar_closed) return 0;                     /* a bar counts once closed */
    double v[5] = {ev->open, ev->high, ev->low, ev->price, ev->qty};
    mts_bar_verdict_t why;
    if (ev->bar_open_ms % 1000 != 0 || mts_bar_check(ev->bar_open_ms / 1000, v, &why) != MTS_BAR_OK) {
        fs->st.bars_refused++;
        return 0;
    }
    int rc;
    row_t *r = next_row(fs, &rc);
    if (!r) {
        count_not_stored(fs, R_BAR, 1);
        return rc;
    }
    r->kind = R_BAR;
    r->exchange = ev->exchange;
    memcpy(r->symbol, ev->symbol, sizeof r->symbol);
    snprintf(r->interval, sizeof r->interval, "%s", interval);
    r->ts_ms = ev->bar_open_ms;
    memcpy(r->bar, v, sizeof v);
    return 0;
}

int mts_feed_store_pending(const mts_feed_store_t *fs) { return fs ? fs->n : 0; }

void mts_feed_store_stats(const mts_feed_store_t *fs, mts_feed_store_stats_t *out) {
    if (!out) return;
    if (fs) *out = fs->st;
    else memset(out, 0, sizeof *out);
}

const char *mts_feed_store_errmsg(const mts_feed_store_t *fs) {
    return fs && fs->err[0] ? fs->err : "no error";
}

void mts_feed_store_close(mts_feed_store_t *fs) {
    if (!fs) return;
    if (fs->rows && fs->ins_trade && fs->ins_book && fs->ins_funding && fs->begin && fs->commit && fs->rollback)
        mts_feed_store_flush(fs);
    sqlite3_finalize(fs->ins_trade);
    sqlite3_finalize(fs->ins_book);
    sqlite3_finalize(fs->ins_funding);
    sqlite3_finalize(fs->begin);
    sqlite3_finalize(fs->commit);
    sqlite3_finalize(fs->rollback);
    mirror_commit(fs);
    mts_bars_free(&fs->bars);
    mts_free(fs->rows);
    mts_free(fs->json);
    mts_free(fs);
}
