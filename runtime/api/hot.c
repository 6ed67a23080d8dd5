/* hot.c — L1 → Redis reads of the hot `...:latest` keys (see hot.h). */
#include "api/hot.h"
#include "cache/cache.h"
#include "cache/rconn.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

struct mts_api_hot {
    mts_cache_t *l1;          /* L1 only (no URL); NULL when ttl_s == 0 */
    mts_rconn_t rc;
    int configured, up, ttl_s;
    char *buf;                /* the last Redis value, NUL terminated (reused) */
    size_t cap;
    mts_api_hot_stats_t st;
};

int mts_api_hot_open(const char *redis_url, int ttl_s, int timeout_ms, mts_api_hot_t **out,
                     char *err, size_t errlen) {
    *out = NULL;
    if (ttl_s < 0 || ttl_s > 3600) {
        snprintf(err, errlen, "the hot-data L1 TTL must be 0..3600 s, got %d", ttl_s);
        return MTS_EINVAL;
    }
    mts_api_hot_t *h = mts_calloc(1, sizeof *h);
    if (!h) { snprintf(err, errlen, "out of memory"); return MTS_ENOMEM; }
    h->ttl_s = ttl_s;
    if (ttl_s > 0) {
        mts_cache_config_t cc = {.redis_url = NULL, .l1_capacity = 1024};
        int rc = mts_cache_open(&cc, &h->l1);
        if (rc != 0) {
            snprintf(err, errlen, "%s", mts_cache_errmsg(NULL));
            mts_free(h);
            return rc;
        }
    }
    if (redis_url && *redis_url) {
        int rc = mts_rconn_init(&h->rc, redis_url, timeout_ms > 0 ? timeout_ms : 200, "cache");
        if (rc != 0) {
            snprintf(err, errlen, "%s", h->rc.err);
            mts_api_hot_close(h);
            return rc;
        }
        h->configured = 1;
        h->up = mts_rconn_ensure(&h->rc, 1) == 0;
    }
    *out = h;
    return 0;
}

void mts_api_hot_close(mts_api_hot_t *h) {
    if (!h) return;
    if (h->configured) mts_rconn_close(&h->rc);
    mts_cache_close(h->l1);
    mts_free(h->buf);
    mts_free(h);
}

int mts_api_hot_get(mts_api_hot_t *h, const char *key, const char **val, size_t *len, const char **tier) {
    if (h->l1 && mts_cache_get(h->l1, key, val, len) == 0) {
        h->st.l1_hits++;
        *tier = "l1";
        return 0;
    }
    if (!h->configured) return MTS_ENOTFOUND;
    redisReply *rep = mts_rconn_command(&h->rc, "GET", "GET %s", key);
    if (!rep) {
        h->up = 0;
        h->st.redis_errors++;
        return MTS_ENOTFOUND;
    }
    h->up = 1;
    int rc = MTS_ENOTFOUND;
    if (rep->type == REDIS_REPLY_STRING) {
        if (rep->len + 1 > h->cap) {
            size_t cap = h->cap ? h->cap : 1024;
            while (cap < rep->len + 1) cap *= 2;
            char *nb = mts_realloc(h->buf, cap);
            if (!nb) goto out;
            h->buf = nb;
            h->cap = cap;
        }
        memcpy(h->buf, rep->str, rep->len);
        h->buf[rep->len] = 0;
        *val = h->buf;
        *len = rep->len;
        *tier = "redis";
        h->st.redis_hits++;
        if (h->l1) (void)mts_cache_set(h->l1, key, h->buf, rep->len, h->ttl_s);
        rc = 0;
    } else if (rep->type == REDIS_REPLY_NIL) {
        h->st.redis_misses++;
    } else {
        /* WRONGTYPE and the like: someone else's key; the database answers */
        h->st.redis_errors++;
        mts_log(MTS_LOG_WARN, "serve.cache_error", "\"key\":\"%s\",\"error\":\"%s\"", key,
                rep->type == REDIS_REPLY_ERROR ? "error reply" : "not a string");
    }
out:
    freeReplyObject(rep);
    return rc;
}

void mts_api_hot_forget(mts_api_hot_t *h, const char *key) {
    if (h && h->l1) (void)mts_cache_del(h->l1, key);
}

void mts_api_hot_status(const mts_api_hot_t *h, int *configured, int *up) {
    *configured = h && h->configured;
    *up = h && h->configured && h->up;
}

void mts_api_hot_stats(const mts_api_hot_t *h, mts_api_hot_stats_t *out) {
    if (h) *out = h->st;
    else memset(out, 0, sizeof *out);
}
