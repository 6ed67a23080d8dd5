/* provider.c — the run's data provider (see provider.h). A small list of
 * loaded series keyed by kind and name; each loaded once. A session's
 * recorder and a replay's lookup (provider.h "Recording and replay") sit in
 * new_item (the lookup, before the store) and in the public requests (the
 * recorder, after a load from the store). */
#include "market/provider.h"
#include "market/funding.h"
#include "store/csv.h"
#include "market/series.h"
#include "market/interval.h"
#include "store/store_internal.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { K_BARS = MTS_PROVIDER_BARS, K_MACRO = MTS_PROVIDER_MACRO, K_FUNDING = MTS_PROVIDER_FUNDING,
       K_BOOK = MTS_PROVIDER_BOOK, K_FUNDING_EV };

typedef struct missed {       /* a series whose failed request was recorded */
    struct missed *next;
    char what[MTS_PROVIDER_WHAT_MAX];
} missed_t;

typedef struct item {
    struct item *next;
    int kind;
    char *key;                 /* name "\t" interval / symbol "\t" exchange */
    mts_bars_t bars;
    mts_series_t macro;
    mts_funding_t funding;
    mts_book_top_t book;
    mts_funding_events_t events;
    void *blocks[6];           /* funding/book arrays */
} item_t;

struct mts_provider {
    mts_store_t *store;
    char *root;
    int64_t to;
    item_t *items;
    pthread_mutex_t mu;        /* requests from several threads (research --jobs) */
    mts_provider_record_fn rec;
    void *rec_ud;
    mts_provider_lookup_fn look;
    void *look_ud;
    missed_t *missed;          /* failures recorded (each once) */
    /* the request under way (under mu): its what, whether the store was
     * asked (a new item not answered by the lookup), the item it loaded */
    char what[MTS_PROVIDER_WHAT_MAX];
    int tried;
    item_t *fresh;
};

/* The message of this thread's last failed request: several threads may
 * share a provider (backtest.h), each reads its own. */
static _Thread_local char tl_err[512];

static void set_err(mts_provider_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(mts_provider_t *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)p;
    vsnprintf(tl_err, sizeof tl_err, fmt, ap);
    va_end(ap);
}

int mts_provider_new(mts_store_t *store, const char *root, int64_t to, mts_provider_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    if (!store) return MTS_EINVAL;
    mts_provider_t *p = mts_calloc(1, sizeof *p);
    if (!p) return MTS_ENOMEM;
    p->store = store;
    p->to = to;
    pthread_mutex_init(&p->mu, NULL);
    if (root && !(p->root = mts_strdup(root))) {
        mts_free(p);
        return MTS_ENOMEM;
    }
    *out = p;
    return 0;
}

static void item_free(item_t *it) {
    mts_bars_free(&it->bars);
    mts_series_free(&it->macro);
    mts_funding_events_free(&it->events);
    for (int k = 0; k < 6; k++) mts_free(it->blocks[k]);
    mts_free(it->key);
    mts_free(it);
}

void mts_provider_free(mts_provider_t *p) {
    if (!p) return;
    for (item_t *it = p->items, *nx; it; it = nx) {
        nx = it->next;
        item_free(it);
    }
    for (missed_t *m = p->missed, *nx; m; m = nx) {
        nx = m->next;
        mts_free(m);
    }
    mts_free(p->root);
    pthread_mutex_destroy(&p->mu);
    mts_free(p);
}

const char *mts_provider_errmsg(const mts_provider_t *p) { return p ? tl_err : "no provider"; }

static char *make_key(const char *a, const char *b) {
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *k = mts_malloc(la + lb + 2);
    if (!k) return NULL;
    memcpy(k, a, la);
    k[la] = '\t';
    if (lb) memcpy(k + la + 1, b, lb);
    k[la + 1 + lb] = 0;
    return k;
}

static item_t *find(mts_provider_t *p, int kind, const char *key) {
    for (item_t *it = p->items; it; it = it->next)
        if (it->kind == kind && strcmp(it->key, key) == 0) return it;
    return NULL;
}

static const char *const KIND_NAME[] = {"", "bars", "macro", "funding", "book"};

int mts_provider_columns(int kind) {
    switch (kind) {
    case K_BARS: return 6;
    case K_MACRO: return 2;
    case K_FUNDING: return 4;
    case K_BOOK: return 6;
    default: return 0;
    }
}

int mts_provider_what(int kind, const char *name, const char *arg, char *buf, size_t len) {
    if (!buf || !len || !name || mts_provider_columns(kind) == 0) return -1;
    if (kind == K_BARS && !arg) arg = MTS_INTERVAL_DEFAULT;
    if (kind == K_MACRO) arg = NULL;
    int w = snprintf(buf, len, "%s %s%s%s", KIND_NAME[kind], name, arg ? " " : "", arg ? arg : "");
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

void mts_provider_on_load(mts_provider_t *p, mts_provider_record_fn fn, void *ud) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->rec = fn;
    p->rec_ud = ud;
    pthread_mutex_unlock(&p->mu);
}

void mts_provider_set_lookup(mts_provider_t *p, mts_provider_lookup_fn fn, void *ud) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->look = fn;
    p->look_ud = ud;
    pthread_mutex_unlock(&p->mu);
}

/* Column k of an item of kind: the slot of its array. */
static void **col_slot(item_t *it, int kind, int k) {
    if (kind == K_BARS) {
        void **c[6] = {(void **)&it->bars.ts, (void **)&it->bars.open, (void **)&it->bars.high,
                       (void **)&it->bars.low, (void **)&it->bars.close, (void **)&it->bars.volume};
        return c[k];
    }
    if (kind == K_MACRO) return k == 0 ? (void **)&it->macro.ts : (void **)&it->macro.v;
    return &it->blocks[k];
}

static int64_t item_rows(const item_t *it, int kind) {
    switch (kind) {
    case K_BARS: return it->bars.n;
    case K_MACRO: return it->macro.n;
    case K_FUNDING: return it->funding.n;
    default: return it->book.n;
    }
}

/* An item of kind from a blob in the native layout (provider.h). */
static int fill_item(item_t *it, int kind, const void *data, size_t size) {
    int nc = mts_provider_columns(kind);
    if (nc == 0) return MTS_EINVAL;
    if (size % ((size_t)nc * 8) != 0 || (size && !data)) return MTS_EPARSE;
    int64_t n = (int64_t)(size / ((size_t)nc * 8));
    for (int k = 0; k < nc; k++) {
        void **slot = col_slot(it, kind, k);
        if (!(*slot = mts_malloc(n ? (size_t)n * 8 : 8))) return MTS_ENOMEM;
        if (n) memcpy(*slot, (const char *)data + (size_t)k * (size_t)n * 8, (size_t)n * 8);
    }
    switch (kind) {
    case K_BARS: it->bars.n = it->bars.cap = n; break;
    case K_MACRO: it->macro.n = it->macro.cap = n; break;
    case K_FUNDING:
        it->funding = (mts_funding_t){it->blocks[0], it->blocks[1], it->blocks[2], it->blocks[3], n};
        break;
    default:
        it->book = (mts_book_top_t){it->blocks[0], it->blocks[1], it->blocks[2], it->blocks[3], it->blocks[4],
                                    it->blocks[5], n};
        break;
    }
    return 0;
}

/* The recorder after a request (p->what, p->tried, p->fresh set by it): the
 * series it loaded from the store, or its failure (once per series). */
static void note(mts_provider_t *p, int kind, const void *result) {
    if (!p->rec || !p->tried) return;
    if (result && p->fresh) {
        item_t *it = p->fresh;
        int nc = mts_provider_columns(kind);
        int64_t n = item_rows(it, kind);
        size_t col = (size_t)n * 8, size = col * (size_t)nc;
        char *buf = mts_malloc(size ? size : 1);
        if (!buf) {
            p->rec(p->rec_ud, kind, p->what, -1, NULL, 0);   /* the recorder says it could not */
            return;
        }
        for (int k = 0; k < nc; k++) memcpy(buf + (size_t)k * col, *col_slot(it, kind, k), col);
        p->rec(p->rec_ud, kind, p->what, n, buf, size);
        mts_free(buf);
    } else if (!result) {
        for (missed_t *m = p->missed; m; m = m->next)
            if (!strcmp(m->what, p->what)) return;
        missed_t *m = mts_calloc(1, sizeof *m);
        if (!m) return;
        snprintf(m->what, sizeof m->what, "%s", p->what);
        m->next = p->missed;
        p->missed = m;
        p->rec(p->rec_ud, kind, p->what, -1, tl_err, strlen(tl_err));
    }
}

static void keep(mts_provider_t *p, item_t *it);

/* A new item for (kind, a, b), or the cached one in *hit — or, with a lookup,
 * the recorded one (kept, returned in *hit) or NULL + the recorded failure.
 * NULL + err on OOM. */
static item_t *new_item(mts_provider_t *p, int kind, const char *a, const char *b, item_t **hit) {
    *hit = NULL;
    p->tried = 0;
    p->fresh = NULL;
    p->what[0] = 0;
    char *key = make_key(a, b);
    if (!key) {
        set_err(p, "out of memory");
        return NULL;
    }
    item_t *it = find(p, kind, key);
    if (it) {
        mts_free(key);
        *hit = it;
        return it;
    }
    it = mts_calloc(1, sizeof *it);
    if (!it) {
        mts_free(key);
        set_err(p, "out of memory");
        return NULL;
    }
    it->kind = kind;
    it->key = key;
    if (kind == K_FUNDING_EV || mts_provider_what(kind, a, b, p->what, sizeof p->what) != 0) {
        p->what[0] = 0;
        return it;   /* not recorded */
    }
    if (p->look) {
        const void *data = NULL;
        size_t size = 0;
        int got = p->look(p->look_ud, kind, p->what, &data, &size);
        if (got == 2) {
            set_err(p, "%.*s", (int)(size < 500 ? size : 500), data ? (const char *)data : "");
            item_free(it);
            return NULL;
        }
        if (got == 1) {
            int rc = fill_item(it, kind, data, size);
            if (rc) {
                set_err(p, "%s: the recorded series is unreadable (%s)", p->what, mts_strerror(rc));
                item_free(it);
                return NULL;
            }
            keep(p, it);
            *hit = it;
            return it;
        }
    }
    p->tried = 1;
    return it;
}

static void keep(mts_provider_t *p, item_t *it) {
    it->next = p->items;
    p->items = it;
    if (p->tried) p->fresh = it;
}

int mts_provider_put(mts_provider_t *p, int kind, const char *name, const char *arg, const void *data, size_t size) {
    if (!p || !name || !*name || mts_provider_columns(kind) == 0) return MTS_EINVAL;
    if (kind == K_BARS && !arg) arg = MTS_INTERVAL_DEFAULT;
    if (kind == K_MACRO) arg = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    char *key = make_key(name, arg);
    item_t *it = NULL;
    if (!key) rc = MTS_ENOMEM;
    else if (find(p, kind, key)) rc = MTS_EVALID;
    else if (!(it = mts_calloc(1, sizeof *it))) rc = MTS_ENOMEM;
    if (rc) {
        mts_free(key);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    it->kind = kind;
    it->key = key;
    if ((rc = fill_item(it, kind, data, size)) != 0) item_free(it);
    else {
        it->next = p->items;
        p->items = it;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static const mts_bars_t *bars_locked(mts_provider_t *p, const char *asset, const char *interval) {
    if (!p) return NULL;
    if (!asset || !*asset) {
        set_err(p, "no asset named");
        return NULL;
    }
    if (!interval) interval = MTS_INTERVAL_DEFAULT;
    if (mts_interval_seconds(interval) < 0) {
        set_err(p, "unknown interval '%s' (one of %s)", interval, MTS_INTERVALS);
        return NULL;
    }
    item_t *hit, *it = new_item(p, K_BARS, asset, interval, &hit);
    if (hit) return &hit->bars;
    if (!it) return NULL;
    /* bundled files are imported on first use, as for a backtest; the bars are
     * stored, or resampled from a finer stored interval (market/series.h) */
    if (p->root) (void)mts_series_ensure(p->store, p->root, asset, interval);
    mts_series_info_t info;
    int rc = mts_series_load_bars(p->store, asset, interval, INT64_MIN, p->to, &it->bars, &info);
    if (rc != 0 || it->bars.n == 0) {
        if (rc == MTS_ENOTFOUND)
            set_err(p, "%s; import them with: mts import csv FILE --asset %s --interval %s", info.error, asset,
                    interval);
        else if (rc != 0)
            set_err(p, "loading %s %s bars: %s", asset, interval, info.error[0] ? info.error : mts_store_errmsg(p->store));
        else
            set_err(p, "no %s bars for %s in the database; import them with: mts import csv FILE --asset %s "
                       "--interval %s", interval, asset, asset, interval);
        item_free(it);
        return NULL;
    }
    keep(p, it);
    return &it->bars;
}

static const mts_series_t *macro_locked(mts_provider_t *p, const char *name) {
    if (!p) return NULL;
    if (!name || !*name) {
        set_err(p, "no macro series named");
        return NULL;
    }
    item_t *hit, *it = new_item(p, K_MACRO, name, NULL, &hit);
    if (hit) return &hit->macro;
    if (!it) return NULL;
    if (p->root) mts_store_ensure_macro(p->store, p->root, name);
    int rc = mts_store_load_macro(p->store, name, INT64_MIN, p->to, &it->macro);
    if (rc != 0 || it->macro.n == 0) {
        if (rc != 0)
            set_err(p, "loading macro %s: %s", name, mts_store_errmsg(p->store));
        else
            set_err(p, "no macro series %s in the database; import it with: mts import macro FILE --indicator %s",
                    name, name);
        item_free(it);
        return NULL;
    }
    keep(p, it);
    return &it->macro;
}

/* The exchange to read `table` rows of symbol from: `exchange` when given,
 * else the only one with rows. 0, or -1 with the error set. */
static int pick_exchange(mts_provider_t *p, const char *table, const char *what, const char *symbol,
                         const char *exchange, char *out, size_t outlen) {
    if (exchange) {
        snprintf(out, outlen, "%s", exchange);
        return 0;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT DISTINCT exchange FROM %s WHERE symbol = ?1 ORDER BY exchange LIMIT 3", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(p->store), sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(p, "reading %s: %s", table, sqlite3_errmsg(mts_store_db(p->store)));
        return -1;
    }
    sqlite3_bind_text(st, 1, symbol, -1, SQLITE_STATIC);
    int n = 0;
    char names[128] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *e = (const char *)sqlite3_column_text(st, 0);
        if (!e) continue;
        if (n == 0) snprintf(out, outlen, "%s", e);
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", n ? ", " : "", e);
        n++;
    }
    sqlite3_finalize(st);
    if (n == 0) {
        set_err(p, "no %s stored for %s (table %s; record it with: mts stream)", what, symbol, table);
        return -1;
    }
    if (n > 1) {
        set_err(p, "%s for %s is stored from several exchanges (%s%s); name one, e.g. (asset, \"%s\")", what,
                symbol, names, n > 2 ? ", ..." : "", out);
        return -1;
    }
    return 0;
}

static int64_t ceil_s(int64_t ms) { return ms >= 0 ? (ms + 999) / 1000 : -((-ms) / 1000); }

static int grow(void **arr, size_t elem, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap * 2 : 256;
    while (nc < need) nc *= 2;
    void *q = mts_realloc(*arr, (size_t)nc * elem);
    if (!q) return -1;
    *arr = q;
    *cap = nc;   /* was missing: funding/book series of more than 256 rows overflowed their arrays */
    return 0;
}

/* The stored funding rows of symbol on exchange (importing the bundled history on
 * first use), oldest first: ts_ms, rate, mark_price, next_funding_ms. NULL (it freed,
 * errmsg set) when there are none or they cannot be read. */
static sqlite3_stmt *funding_rows(mts_provider_t *p, item_t *it, const char *symbol, const char *exchange,
                                  char *ex, size_t exlen) {
    if (p->root) (void)mts_store_ensure_funding(p->store, p->root, symbol, exchange);
    if (pick_exchange(p, "funding_rates", "funding", symbol, exchange, ex, exlen)) {
        item_free(it);
        return NULL;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(p->store),
                           "SELECT ts_ms, rate, mark_price, next_funding_ms FROM funding_rates"
                           " WHERE exchange = ?1 AND symbol = ?2 ORDER BY ts_ms", -1, &st, NULL) != SQLITE_OK) {
        set_err(p, "reading funding_rates: %s", sqlite3_errmsg(mts_store_db(p->store)));
        item_free(it);
        return NULL;
    }
    sqlite3_bind_text(st, 1, ex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    return st;
}

static const mts_funding_t *funding_locked(mts_provider_t *p, const char *symbol, const char *exchange) {
    if (!p) return NULL;
    if (!symbol || !*symbol) {
        set_err(p, "no symbol named");
        return NULL;
    }
    item_t *hit, *it = new_item(p, K_FUNDING, symbol, exchange, &hit);
    if (hit) return &hit->funding;
    if (!it) return NULL;
    char ex[64];
    sqlite3_stmt *st = funding_rows(p, it, symbol, exchange, ex, sizeof ex);
    if (!st) return NULL;
    mts_funding_t *f = &it->funding;
    int64_t cap = 0, n = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t = ceil_s(sqlite3_column_int64(st, 0));
        if (t > p->to && p->to != INT64_MAX) break;
        if (n == cap) {
            int64_t c0 = cap;
            for (int k = 0; k < 4 && !oom; k++) {
                c0 = cap;
                if (grow(&it->blocks[k], 8, &c0, n + 1)) oom = 1;
            }
            if (oom) break;
            cap = c0;
        }
        ((int64_t *)it->blocks[0])[n] = t;
        ((double *)it->blocks[1])[n] =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        ((double *)it->blocks[2])[n] =
            sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        ((int64_t *)it->blocks[3])[n] =
            sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3) / 1000;
        n++;
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        set_err(p, oom ? "out of memory loading funding" : "reading funding_rates failed");
        item_free(it);
        return NULL;
    }
    if (n == 0) {
        set_err(p, "no funding stored for %s from %s (table funding_rates; record it with: mts stream)", symbol, ex);
        item_free(it);
        return NULL;
    }
    f->ts = it->blocks[0];
    f->rate = it->blocks[1];
    f->mark_price = it->blocks[2];
    f->next_funding = it->blocks[3];
    f->n = n;
    keep(p, it);
    return f;
}

static const mts_funding_events_t *funding_events_locked(mts_provider_t *p, const char *symbol,
                                                         const char *exchange) {
    if (!p) return NULL;
    if (!symbol || !*symbol) {
        set_err(p, "no symbol named");
        return NULL;
    }
    item_t *hit, *it = new_item(p, K_FUNDING_EV, symbol, exchange, &hit);
    if (hit) return &hit->events;
    if (!it) return NULL;
    char ex[64];
    sqlite3_stmt *st = funding_rows(p, it, symbol, exchange, ex, sizeof ex);
    if (!st) return NULL;
    int64_t cap = 0, n = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int64_t c0 = cap;
            for (int k = 0; k < 4 && !oom; k++) {
                c0 = cap;
                if (grow(&it->blocks[k], 8, &c0, n + 1)) oom = 1;
            }
            if (oom) break;
            cap = c0;
        }
        ((int64_t *)it->blocks[0])[n] = sqlite3_column_int64(st, 0);
        ((double *)it->blocks[1])[n] =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        ((double *)it->blocks[2])[n] =
            sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        ((int64_t *)it->blocks[3])[n] = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
        n++;
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        set_err(p, oom ? "out of memory loading funding" : "reading funding_rates failed");
        item_free(it);
        return NULL;
    }
    rc = mts_funding_events_build_ms(it->blocks[0], it->blocks[1], it->blocks[2], it->blocks[3], n, &it->events);
    for (int k = 0; k < 4; k++) {   /* the rows are not kept: only the events */
        mts_free(it->blocks[k]);
        it->blocks[k] = NULL;
    }
    if (rc) {
        set_err(p, "out of memory building funding events");
        item_free(it);
        return NULL;
    }
    mts_funding_events_t *ev = &it->events;
    if (p->to != INT64_MAX)
        while (ev->n > 0 && ev->ts[ev->n - 1] > p->to) ev->n--;
    if (ev->n == 0) {
        if (n)
            set_err(p, "no funding settlement in the %lld funding rows of %s from %s up to the run's end (table "
                       "funding_rates; import a funding history with: mts import funding FILE --symbol %s "
                       "--exchange %s)", (long long)n, symbol, ex, symbol, ex);
        else
            set_err(p, "no funding stored for %s from %s (table funding_rates; import a funding history with: "
                       "mts import funding FILE --symbol %s --exchange %s)", symbol, ex, symbol, ex);
        item_free(it);
        return NULL;
    }
    keep(p, it);
    return ev;
}

static const mts_book_top_t *book_locked(mts_provider_t *p, const char *symbol, const char *exchange) {
    if (!p) return NULL;
    if (!symbol || !*symbol) {
        set_err(p, "no symbol named");
        return NULL;
    }
    item_t *hit, *it = new_item(p, K_BOOK, symbol, exchange, &hit);
    if (hit) return &hit->book;
    if (!it) return NULL;
    char ex[64];
    if (pick_exchange(p, "order_book_snapshots", "order book snapshots", symbol, exchange, ex, sizeof ex)) {
        item_free(it);
        return NULL;
    }
    sqlite3_stmt *st;
    /* per snapshot: best bid = max bid price, best ask = min ask price (level 0
     * when the feed orders its levels), summed quantities per side */
    if (sqlite3_prepare_v2(mts_store_db(p->store),
                           "SELECT ts_ms, MAX(CASE WHEN side = 'bid' THEN price END),"
                           " MIN(CASE WHEN side = 'ask' THEN price END),"
                           " TOTAL(CASE WHEN side = 'bid' THEN qty END), TOTAL(CASE WHEN side = 'ask' THEN qty END)"
                           " FROM order_book_snapshots WHERE exchange = ?1 AND symbol = ?2"
                           " GROUP BY ts_ms ORDER BY ts_ms", -1, &st, NULL) != SQLITE_OK) {
        set_err(p, "reading order_book_snapshots: %s", sqlite3_errmsg(mts_store_db(p->store)));
        item_free(it);
        return NULL;
    }
    sqlite3_bind_text(st, 1, ex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    int64_t cap = 0, n = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t = ceil_s(sqlite3_column_int64(st, 0));
        if (t > p->to && p->to != INT64_MAX) break;
        if (n == cap) {
            int64_t c0 = cap;
            for (int k = 0; k < 6 && !oom; k++) {
                c0 = cap;
                if (grow(&it->blocks[k], 8, &c0, n + 1)) oom = 1;
            }
            if (oom) break;
            cap = c0;
        }
        double bid = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        double ask = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        double qb = sqlite3_column_double(st, 3), qa = sqlite3_column_double(st, 4);
        ((int64_t *)it->blocks[0])[n] = t;
        ((double *)it->blocks[1])[n] = bid;
        ((double *)it->blocks[2])[n] = ask;
        ((double *)it->blocks[3])[n] = (bid + ask) / 2;
        ((double *)it->blocks[4])[n] = ask - bid;
        ((double *)it->blocks[5])[n] = qb + qa > 0 ? (qb - qa) / (qb + qa) : NAN;
        n++;
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        set_err(p, oom ? "out of memory loading the order book" : "reading order_book_snapshots failed");
        item_free(it);
        return NULL;
    }
    if (n == 0) {
        set_err(p, "no order book snapshots stored for %s from %s (table order_book_snapshots; record them "
                   "with: mts stream)", symbol, ex);
        item_free(it);
        return NULL;
    }
    mts_book_top_t *b = &it->book;
    b->ts = it->blocks[0];
    b->bid = it->blocks[1];
    b->ask = it->blocks[2];
    b->mid = it->blocks[3];
    b->spread = it->blocks[4];
    b->imbalance = it->blocks[5];
    b->n = n;
    keep(p, it);
    return b;
}

const mts_bars_t *mts_provider_bars(mts_provider_t *p, const char *asset, const char *interval) {
    if (!p) return NULL;
    pthread_mutex_lock(&p->mu);
    const mts_bars_t *r = bars_locked(p, asset, interval);
    note(p, K_BARS, r);
    pthread_mutex_unlock(&p->mu);
    return r;
}

const mts_series_t *mts_provider_macro(mts_provider_t *p, const char *name) {
    if (!p) return NULL;
    pthread_mutex_lock(&p->mu);
    const mts_series_t *r = macro_locked(p, name);
    note(p, K_MACRO, r);
    pthread_mutex_unlock(&p->mu);
    return r;
}

const mts_funding_t *mts_provider_funding(mts_provider_t *p, const char *symbol, const char *exchange) {
    if (!p) return NULL;
    pthread_mutex_lock(&p->mu);
    const mts_funding_t *r = funding_locked(p, symbol, exchange);
    note(p, K_FUNDING, r);
    pthread_mutex_unlock(&p->mu);
    return r;
}

const mts_book_top_t *mts_provider_book(mts_provider_t *p, const char *symbol, const char *exchange) {
    if (!p) return NULL;
    pthread_mutex_lock(&p->mu);
    const mts_book_top_t *r = book_locked(p, symbol, exchange);
    note(p, K_BOOK, r);
    pthread_mutex_unlock(&p->mu);
    return r;
}

const mts_funding_events_t *mts_provider_funding_events(mts_provider_t *p, const char *symbol, const char *exchange) {
    if (!p) return NULL;
    pthread_mutex_lock(&p->mu);
    const mts_funding_events_t *r = funding_events_locked(p, symbol, exchange);
    pthread_mutex_unlock(&p->mu);
    return r;
}
