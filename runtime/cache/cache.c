/* cache.c — the two-level cache (see cache.h).
 *
 * L1: `capacity` entries allocated once at open, a chained hash over them
 * (bucket heads and chain links are entry indices; 2^k buckets >= 2 *
 * capacity) and a doubly linked LRU list (most recent at the head). Each
 * entry owns a key buffer and a value buffer that grow only when a longer
 * key or value arrives, so a hit never allocates and neither does a set that
 * fits. Expiry is per entry on the cache clock (mts_cache_now_ms, monotonic);
 * an expired entry is dropped when met. When all entries are in use the
 * least recently used one is evicted.
 *
 * L2: one synchronous hiredis context (rconn.c). get = GET and PTTL
 * pipelined (one round trip); the remaining PTTL becomes the L1 expiry. In a
 * batch (begin .. commit) SET/DEL are appended with redisAppendCommand and
 * commit reads every reply, so the batch is one write and one read; a get
 * inside a batch looks at L1 only (the pending replies are not read yet).
 * Any I/O error drops the connection; later calls reconnect on the backoff
 * schedule and in the meantime everything runs on L1.
 *
 * Invariants: an entry is in use iff it is in the LRU list iff it is in
 * exactly one hash chain; n_used <= capacity. */
/* error messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "cache/cache.h"
#include "cache/rconn.h"
#include "util/config.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL (-1)

typedef struct entry {
    char *key, *val;
    uint32_t kcap, vcap;        /* buffer sizes (with the NUL) */
    uint32_t klen, vlen;
    uint64_t hash;
    int64_t expires_ms;         /* 0 = never */
    int32_t prev, next;         /* LRU */
    int32_t chain;              /* next in the bucket */
} entry_t;

struct mts_cache {
    entry_t *e;
    int32_t *bucket;
    uint32_t mask;
    int32_t capacity, n_used;
    int32_t head, tail;         /* LRU: head = most recent */
    int32_t free_list;          /* unused entries linked through .next */
    int configured;
    mts_rconn_t rc;
    int batching, pending;      /* commands appended and not yet read */
    int l2_keep_ms;             /* mts_cache_config_t.l2_keep_ms */
    mts_cache_stats_t st;
    char err[512];
};

static int set_err(mts_cache_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(mts_cache_t *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

static _Thread_local char open_err[512];

const char *mts_cache_errmsg(const mts_cache_t *c) {
    if (!c) return open_err;
    return c->err[0] ? c->err : "no error";
}

static uint64_t hash_key(const char *k, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* ---- LRU list ---- */

static void lru_unlink(mts_cache_t *c, int32_t i) {
    entry_t *e = &c->e[i];
    if (e->prev != NIL) c->e[e->prev].next = e->next; else c->head = e->next;
    if (e->next != NIL) c->e[e->next].prev = e->prev; else c->tail = e->prev;
    e->prev = e->next = NIL;
}

static void lru_push_front(mts_cache_t *c, int32_t i) {
    entry_t *e = &c->e[i];
    e->prev = NIL;
    e->next = c->head;
    if (c->head != NIL) c->e[c->head].prev = i; else c->tail = i;
    c->head = i;
}

/* ---- hash ---- */

static int32_t l1_find(mts_cache_t *c, const char *key, size_t klen, uint64_t h) {
    for (int32_t i = c->bucket[h & c->mask]; i != NIL; i = c->e[i].chain) {
        entry_t *e = &c->e[i];
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen)) return i;
    }
    return NIL;
}

static void chain_unlink(mts_cache_t *c, int32_t i) {
    int32_t *pp = &c->bucket[c->e[i].hash & c->mask];
    while (*pp != i) pp = &c->e[*pp].chain;
    *pp = c->e[i].chain;
    c->e[i].chain = NIL;
}

/* Removes an entry in use; its buffers stay for reuse. */
static void l1_remove(mts_cache_t *c, int32_t i) {
    chain_unlink(c, i);
    lru_unlink(c, i);
    c->e[i].next = c->free_list;
    c->free_list = i;
    c->n_used--;
}

static int grow(char **buf, uint32_t *cap, size_t need) {
    if (need <= *cap) return 0;
    if (need > UINT32_MAX / 2) return MTS_ERANGE;
    size_t n = *cap ? *cap : 32;
    while (n < need) n *= 2;
    char *p = mts_realloc(*buf, n);
    if (!p) return MTS_ENOMEM;
    *buf = p;
    *cap = (uint32_t)n;
    return 0;
}

/* Stores key -> val in L1 with the absolute expiry exp_ms (0 = never);
 * returns the entry index or a negative MTS_E*. */
static int32_t l1_put(mts_cache_t *c, const char *key, size_t klen, uint64_t h, const void *val,
                      size_t vlen, int64_t exp_ms) {
    int32_t i = l1_find(c, key, klen, h);
    if (i == NIL) {
        if (c->free_list != NIL) {
            i = c->free_list;
            c->free_list = c->e[i].next;
        } else {
            i = c->tail;                      /* evict the least recently used */
            chain_unlink(c, i);
            lru_unlink(c, i);
            c->n_used--;
            c->st.evictions++;
        }
        entry_t *e = &c->e[i];
        if (grow(&e->key, &e->kcap, klen + 1)) {
            e->next = c->free_list;
            c->free_list = i;
            return set_err(c, MTS_ENOMEM, "cache: out of memory for a key of %zu bytes", klen);
        }
        memcpy(e->key, key, klen);
        e->key[klen] = '\0';
        e->klen = (uint32_t)klen;
        e->hash = h;
        e->chain = c->bucket[h & c->mask];
        c->bucket[h & c->mask] = i;
        lru_push_front(c, i);
        c->n_used++;
        e->vlen = 0;
    } else {
        lru_unlink(c, i);
        lru_push_front(c, i);
    }
    entry_t *e = &c->e[i];
    int rc = grow(&e->val, &e->vcap, vlen + 1);
    if (rc) {
        l1_remove(c, i);
        return set_err(c, rc, "cache: cannot hold a value of %zu bytes for %s", vlen, key);
    }
    if (vlen) memcpy(e->val, val, vlen);
    e->val[vlen] = '\0';
    e->vlen = (uint32_t)vlen;
    e->expires_ms = exp_ms;
    return i;
}

/* ---- open / close ---- */

int mts_cache_open(const mts_cache_config_t *cfg, mts_cache_t **out) {
    if (out) *out = NULL;
    open_err[0] = '\0';
    if (!out) return MTS_EINVAL;
    mts_cache_config_t def = {0};
    if (!cfg) cfg = &def;
    int cap = cfg->l1_capacity > 0 ? cfg->l1_capacity : 4096;
    if (cap > (1 << 24)) {
        snprintf(open_err, sizeof open_err, "cache: l1_capacity %d is more than %d entries", cap, 1 << 24);
        return MTS_ERANGE;
    }
    mts_cache_t *c = mts_calloc(1, sizeof *c);
    if (!c) goto nomem;
    uint32_t nb = 16;
    while (nb < 2u * (uint32_t)cap) nb *= 2;
    c->e = mts_calloc((size_t)cap, sizeof *c->e);
    c->bucket = mts_malloc(nb * sizeof *c->bucket);
    if (!c->e || !c->bucket) goto nomem;
    c->mask = nb - 1;
    c->capacity = cap;
    for (uint32_t i = 0; i < nb; i++) c->bucket[i] = NIL;
    for (int32_t i = 0; i < cap; i++) {
        c->e[i].prev = c->e[i].chain = NIL;
        c->e[i].next = i + 1 < cap ? i + 1 : NIL;
    }
    c->free_list = 0;
    c->head = c->tail = NIL;
    c->l2_keep_ms = cfg->l2_keep_ms;
    if (cfg->redis_url && cfg->redis_url[0]) {
        int rc = mts_rconn_init(&c->rc, cfg->redis_url, cfg->timeout_ms, "cache");
        if (rc) {
            snprintf(open_err, sizeof open_err, "%s", c->rc.err);
            mts_cache_close(c);
            return rc;
        }
        c->configured = 1;
        /* down now is not an error: L1 serves and later calls reconnect */
        mts_rconn_ensure(&c->rc, 1);
    }
    *out = c;
    return 0;
nomem:
    mts_cache_close(c);
    snprintf(open_err, sizeof open_err, "cache: out of memory");
    return MTS_ENOMEM;
}

void mts_cache_close(mts_cache_t *c) {
    if (!c) return;
    if (c->batching && c->pending) mts_cache_commit(c);
    mts_rconn_close(&c->rc);
    if (c->e)
        for (int32_t i = 0; i < c->capacity; i++) {
            mts_free(c->e[i].key);
            mts_free(c->e[i].val);
        }
    mts_free(c->e);
    mts_free(c->bucket);
    mts_free(c);
}

/* ---- L2 ---- */

static int l2_error(mts_cache_t *c, const char *what) {
    c->st.l2_errors++;
    c->pending = 0;
    mts_rconn_fail(&c->rc, what);
    return set_err(c, MTS_ECACHE, "%s", c->rc.err);
}

/* Reads the replies of a batch; 0 or MTS_ECACHE (connection dropped). */
static int drain(mts_cache_t *c) {
    int bad = 0;
    while (c->pending > 0) {
        void *r = NULL;
        if (redisGetReply(c->rc.ctx, &r) != REDIS_OK || !r) return l2_error(c, "pipeline");
        redisReply *rep = r;
        if (rep->type == REDIS_REPLY_ERROR) {
            bad++;
            set_err(c, MTS_ECACHE, "cache: Redis refused a command of the batch: %s", rep->str);
        }
        freeReplyObject(rep);
        c->pending--;
    }
    if (bad) {
        c->st.l2_errors += bad;
        return MTS_ECACHE;
    }
    return 0;
}

/* Whether L2 can take a command now (connects on the backoff schedule). */
static int l2_ready(mts_cache_t *c) {
    if (!c->configured) return 0;
    if (c->rc.ctx) return 1;
    int had_errors = c->rc.errors;
    if (mts_rconn_ensure(&c->rc, 0)) {
        if (c->rc.errors != had_errors) c->st.l2_errors++;
        return 0;
    }
    return 1;
}

/* ---- the API ---- */

int mts_cache_set(mts_cache_t *c, const char *key, const void *val, size_t len, int ttl_s) {
    if (!c || !key || !key[0] || (!val && len)) {
        if (c) set_err(c, MTS_EINVAL, "cache set: a key and a value are required");
        return MTS_EINVAL;
    }
    if (ttl_s < 0) return set_err(c, MTS_EINVAL, "cache set %s: negative TTL %d", key, ttl_s);
    size_t klen = strlen(key);
    int64_t exp = ttl_s > 0 ? mts_cache_now_ms() + (int64_t)ttl_s * 1000 : 0;
    int32_t i = l1_put(c, key, klen, hash_key(key, klen), val ? val : "", len, exp);
    if (i < 0) return i;
    c->st.sets++;
    if (!l2_ready(c)) return 0;
    if (c->batching) {
        int rc = ttl_s > 0 ? redisAppendCommand(c->rc.ctx, "SET %b %b EX %d", key, klen, val ? val : "", len, ttl_s)
                           : redisAppendCommand(c->rc.ctx, "SET %b %b", key, klen, val ? val : "", len);
        if (rc != REDIS_OK) return l2_error(c, "SET"), 0;
        c->pending++;
        return 0;
    }
    redisReply *rep = ttl_s > 0
        ? mts_rconn_command(&c->rc, "SET", "SET %b %b EX %d", key, klen, val ? val : "", len, ttl_s)
        : mts_rconn_command(&c->rc, "SET", "SET %b %b", key, klen, val ? val : "", len);
    if (!rep) {
        c->st.l2_errors++;
        set_err(c, MTS_ECACHE, "%s", c->rc.err);
        return 0;                              /* L1 has it; L2 is best effort */
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        c->st.l2_errors++;
        set_err(c, MTS_ECACHE, "cache: SET %s: %s", key, rep->str);
    }
    freeReplyObject(rep);
    return 0;
}

int mts_cache_get(mts_cache_t *c, const char *key, const char **val, size_t *len) {
    const char *tier;
    return mts_cache_get_tier(c, key, val, len, &tier);
}

void mts_cache_forget(mts_cache_t *c, const char *key) {
    if (!c || !key) return;
    size_t klen = strlen(key);
    int32_t i = l1_find(c, key, klen, hash_key(key, klen));
    if (i != NIL) l1_remove(c, i);
}

int mts_cache_get_tier(mts_cache_t *c, const char *key, const char **val, size_t *len,
                       const char **tier) {
    if (tier) *tier = NULL;
    if (val) *val = NULL;
    if (len) *len = 0;
    if (!c || !key || !val) {
        if (c) set_err(c, MTS_EINVAL, "cache get: a key and an output pointer are required");
        return MTS_EINVAL;
    }
    size_t klen = strlen(key);
    uint64_t h = hash_key(key, klen);
    int32_t i = l1_find(c, key, klen, h);
    if (i != NIL) {
        entry_t *e = &c->e[i];
        if (e->expires_ms && e->expires_ms <= mts_cache_now_ms()) {
            l1_remove(c, i);
        } else {
            if (c->head != i) {
                lru_unlink(c, i);
                lru_push_front(c, i);
            }
            c->st.l1_hits++;
            if (tier) *tier = "l1";
            *val = e->val;
            if (len) *len = e->vlen;
            return 0;
        }
    }
    c->st.l1_misses++;
    if (c->batching || !l2_ready(c)) return MTS_ENOTFOUND;
    /* GET and PTTL in one round trip */
    if (redisAppendCommand(c->rc.ctx, "GET %b", key, klen) != REDIS_OK ||
        redisAppendCommand(c->rc.ctx, "PTTL %b", key, klen) != REDIS_OK)
        return l2_error(c, "GET"), MTS_ENOTFOUND;
    void *r1 = NULL, *r2 = NULL;
    if (redisGetReply(c->rc.ctx, &r1) != REDIS_OK || redisGetReply(c->rc.ctx, &r2) != REDIS_OK) {
        if (r1) freeReplyObject(r1);
        l2_error(c, "GET");
        return MTS_ENOTFOUND;
    }
    redisReply *g = r1, *t = r2;
    int rc = MTS_ENOTFOUND;
    if (g->type == REDIS_REPLY_STRING && t->type == REDIS_REPLY_INTEGER) {
        int64_t now = mts_cache_now_ms();
        /* -1: no expiry in Redis; -2: gone since the GET (keep it a moment) */
        int64_t exp = t->integer > 0 ? now + t->integer : t->integer == -1 ? 0 : now + 1;
        /* l2_keep_ms: at most that long in L1; < 0: only until the next call
         * (an entry that expires now is dropped by the next get of its key) */
        if (c->l2_keep_ms < 0) exp = now;
        else if (c->l2_keep_ms > 0 && (exp == 0 || exp > now + c->l2_keep_ms)) exp = now + c->l2_keep_ms;
        int32_t j = l1_put(c, key, klen, h, g->str, g->len, exp);
        if (j >= 0) {
            c->st.l2_hits++;
            if (tier) *tier = "redis";
            *val = c->e[j].val;
            if (len) *len = c->e[j].vlen;
            rc = 0;
        } else {
            rc = j;
        }
    } else if (g->type == REDIS_REPLY_NIL) {
        c->st.l2_misses++;
    } else {
        c->st.l2_errors++;
        set_err(c, MTS_ECACHE, "cache: GET %s: %s", key,
                g->type == REDIS_REPLY_ERROR ? g->str : "unexpected reply");
        rc = MTS_ENOTFOUND;
    }
    freeReplyObject(g);
    freeReplyObject(t);
    return rc;
}

int mts_cache_del(mts_cache_t *c, const char *key) {
    if (!c || !key) return MTS_EINVAL;
    size_t klen = strlen(key);
    int32_t i = l1_find(c, key, klen, hash_key(key, klen));
    if (i != NIL) l1_remove(c, i);
    if (!l2_ready(c)) return 0;
    if (c->batching) {
        if (redisAppendCommand(c->rc.ctx, "DEL %b", key, klen) != REDIS_OK) return l2_error(c, "DEL"), 0;
        c->pending++;
        return 0;
    }
    redisReply *rep = mts_rconn_command(&c->rc, "DEL", "DEL %b", key, klen);
    if (!rep) {
        c->st.l2_errors++;
        set_err(c, MTS_ECACHE, "%s", c->rc.err);
        return 0;
    }
    freeReplyObject(rep);
    return 0;
}

int mts_cache_begin(mts_cache_t *c) {
    if (!c) return MTS_EINVAL;
    if (c->batching) return set_err(c, MTS_EINVAL, "cache begin: a batch is already open");
    c->batching = 1;
    c->pending = 0;
    return 0;
}

int mts_cache_commit(mts_cache_t *c) {
    if (!c) return MTS_EINVAL;
    if (!c->batching) return set_err(c, MTS_EINVAL, "cache commit: no batch is open");
    c->batching = 0;
    if (!c->pending || !c->rc.ctx) {
        c->pending = 0;
        return 0;
    }
    return drain(c);
}

int mts_cache_status(mts_cache_t *c, int *configured, int *up, double *latency_ms) {
    if (configured) *configured = c ? c->configured : 0;
    if (up) *up = 0;
    if (latency_ms) *latency_ms = 0;
    if (!c) return MTS_EINVAL;
    if (!c->configured) return 0;
    if (c->batching && c->pending) return set_err(c, MTS_EBUSY, "cache status: a batch is open");
    if (!c->rc.ctx) {   /* tried again at most every MTS_RCONN_PROBE_MS whatever the backoff (rconn.h) */
        int64_t had_errors = c->rc.errors;
        if (mts_rconn_revive(&c->rc)) {
            if (c->rc.errors != had_errors) c->st.l2_errors++;
            set_err(c, MTS_ECACHE, "%s", c->rc.err);
            return 0;
        }
    }
    double t0 = mts_rconn_seconds();
    redisReply *rep = mts_rconn_command(&c->rc, "PING", "PING");
    if (!rep) {
        c->st.l2_errors++;
        set_err(c, MTS_ECACHE, "%s", c->rc.err);
        return 0;
    }
    int ok = rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG");
    if (!ok) {
        if (rep->type == REDIS_REPLY_ERROR) mts_rconn_reply_error(&c->rc, "PING", rep->str);
        else snprintf(c->rc.err, sizeof c->rc.err, "cache %s:%d: PING: unexpected reply", c->rc.host, c->rc.port);
        set_err(c, MTS_ECACHE, "%s", c->rc.err);
    }
    freeReplyObject(rep);
    if (ok) {
        if (up) *up = 1;
        if (latency_ms) *latency_ms = (mts_rconn_seconds() - t0) * 1000.0;
    }
    return 0;
}

void mts_cache_stats(const mts_cache_t *c, mts_cache_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!c) return;
    *out = c->st;
    out->reconnects = c->rc.reconnects;
}

/* ---- keys ---- */

static int key4(char *buf, size_t n, const char *kind, const char *a, const char *b, int64_t ts) {
    if (!buf || !n || !a || !b || !a[0] || !b[0]) {
        if (buf && n) buf[0] = '\0';
        return -1;
    }
    int k = snprintf(buf, n, "%s:%s:%s:%" PRId64, kind, a, b, ts);
    if (k < 0 || (size_t)k >= n) {
        buf[0] = '\0';
        return -1;
    }
    return k;
}

int mts_cache_key_orderbook(char *buf, size_t n, const char *exchange, const char *symbol, int64_t ts) {
    return key4(buf, n, "orderbook", exchange, symbol, ts);
}
int mts_cache_key_funding(char *buf, size_t n, const char *exchange, const char *symbol, int64_t ts) {
    return key4(buf, n, "funding", exchange, symbol, ts);
}
int mts_cache_key_signal(char *buf, size_t n, const char *strategy, const char *asset, int64_t ts) {
    return key4(buf, n, "signal", strategy, asset, ts);
}
int mts_cache_key_market(char *buf, size_t n, const char *symbol, const char *timeframe, int64_t ts) {
    return key4(buf, n, "market", symbol, timeframe, ts);
}

const char *mts_cache_url_from(const char *opt) {
    const char *u = opt;
    if (!u || !u[0]) u = getenv("REDIS_URL");
    if (!u || !u[0]) u = mts_config_string(NULL, "redis_url");
    if (!u || !u[0] || !strcmp(u, "none")) return NULL;
    return u;
}
