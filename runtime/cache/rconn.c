/* rconn.c — the Redis connection shared by cache.c and bus.c (see rconn.h),
 * and the cache clock with its test hook (cache.h). */
/* error messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "cache/rconn.h"
#include "cache/cache.h"
#include "mts.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS   10000
#define LOG_EVERY_MS     5000

static _Atomic int64_t clock_offset_ms;

int64_t mts_cache_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&clock_offset_ms);
}

void mts_cache_test_advance_ms(int64_t ms) { atomic_fetch_add(&clock_offset_ms, ms); }

/* ---- URL ---- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into dst (cap bytes with the NUL); -1 if bad or too long. */
static int pct_decode(char *dst, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* Non-empty all-digit [s, s+n) within [lo, hi] -> *out; else -1. */
static int parse_uint(const char *s, size_t n, long lo, long hi, int *out) {
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int bad_url(mts_rconn_t *r, const char *why) {
    snprintf(r->err, sizeof r->err,
             "bad Redis URL '%s': %s (expected redis://[:password@]host[:port][/db], or \"none\")",
             r->shown, why);
    return MTS_ECONFIG;
}

int mts_rconn_init(mts_rconn_t *r, const char *url, int timeout_ms, const char *who) {
    memset(r, 0, sizeof *r);
    r->who = who ? who : "redis";
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 500;
    r->port = 6379;
    if (!url) url = "";
    /* the URL for messages: the password (between ':' and '@' of the userinfo) masked */
    const char *scheme_end = strstr(url, "://");
    const char *auth_start = scheme_end ? scheme_end + 3 : url;
    const char *slash = strchr(auth_start, '/');
    const char *at = memrchr(auth_start, '@', slash ? (size_t)(slash - auth_start) : strlen(auth_start));
    if (at) {
        const char *colon = memchr(auth_start, ':', (size_t)(at - auth_start));
        if (colon)
            snprintf(r->shown, sizeof r->shown, "%.*s:***%s", (int)(colon - url), url, at);
        else
            snprintf(r->shown, sizeof r->shown, "%s", url);
    } else {
        snprintf(r->shown, sizeof r->shown, "%s", url);
    }
    if (strncmp(url, "redis://", 8) != 0) {
        if (!strncmp(url, "rediss://", 9)) return bad_url(r, "TLS (rediss://) is not supported");
        return bad_url(r, "the scheme must be redis://");
    }
    const char *p = url + 8;
    const char *end = p + strlen(p);
    const char *path = strchr(p, '/');
    const char *hostpart_end = path ? path : end;
    const char *amp = memrchr(p, '@', (size_t)(hostpart_end - p));
    if (amp) {
        const char *colon = memchr(p, ':', (size_t)(amp - p));
        const char *uend = colon ? colon : amp;
        if (pct_decode(r->user, sizeof r->user, p, (size_t)(uend - p)))
            return bad_url(r, "the user name is malformed or too long");
        if (colon && pct_decode(r->pass, sizeof r->pass, colon + 1, (size_t)(amp - colon - 1)))
            return bad_url(r, "the password is malformed or too long");
        p = amp + 1;
    }
    const char *hend = hostpart_end;
    const char *pc = memrchr(p, ':', (size_t)(hend - p));
    if (*p == '[') return bad_url(r, "IPv6 literals are not supported; use a host name");
    if (pc) {
        if (parse_uint(pc + 1, (size_t)(hend - pc - 1), 1, 65535, &r->port))
            return bad_url(r, "the port must be a number 1..65535");
        hend = pc;
    }
    if (hend == p) return bad_url(r, "no host");
    if ((size_t)(hend - p) >= sizeof r->host) return bad_url(r, "the host name is too long");
    for (const char *q = p; q < hend; q++)
        if (*q == '?' || *q == '#' || *q == ' ' || *q == '@')
            return bad_url(r, "the host contains an invalid character");
    memcpy(r->host, p, (size_t)(hend - p));
    r->host[hend - p] = '\0';
    if (path && path + 1 < end) {
        if (parse_uint(path + 1, (size_t)(end - path - 1), 0, 1000000, &r->db))
            return bad_url(r, "the database after '/' must be a number");
    }
    return 0;
}

/* ---- connection ---- */

static void log_err(mts_rconn_t *r, const char *event) {
    int64_t now = mts_cache_now_ms();
    if (r->last_log_ms && now - r->last_log_ms < LOG_EVERY_MS) {
        r->suppressed++;
        return;
    }
    char ev[64];
    snprintf(ev, sizeof ev, "%s.%s", r->who, event);
    if (mts_log_enabled(MTS_LOG_WARN)) {
        /* the message may hold quotes: escape it into a buffer */
        char esc[2 * sizeof r->err + 8];
        size_t o = 0;
        for (const char *s = r->err; *s && o + 7 < sizeof esc; s++) {
            unsigned char c = (unsigned char)*s;
            if (c == '"' || c == '\\') { esc[o++] = '\\'; esc[o++] = (char)c; }
            else if (c < 0x20) o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", c);
            else esc[o++] = (char)c;
        }
        esc[o] = '\0';
        mts_log(MTS_LOG_WARN, ev, "\"error\":\"%s\",\"retry_ms\":%d,\"suppressed\":%lld", esc,
                r->backoff_ms, (long long)r->suppressed);
    }
    r->last_log_ms = now ? now : 1;
    r->suppressed = 0;
}

static void schedule(mts_rconn_t *r) {
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS) r->backoff_ms = BACKOFF_MAX_MS;
    r->next_try_ms = mts_cache_now_ms() + r->backoff_ms;
}

static void drop(mts_rconn_t *r) {
    if (r->ctx) redisFree(r->ctx);
    r->ctx = NULL;
}

void mts_rconn_reply_error(mts_rconn_t *r, const char *what, const char *reply) {
    if (!strncmp(reply, "NOAUTH", 6))
        snprintf(r->err, sizeof r->err,
                 "%s %s:%d: %s: the Redis server requires a password (%s): give it in the URL, "
                 "redis://:PASSWORD@%s:%d (--redis, $REDIS_URL or config/mts.json redis_url)",
                 r->who, r->host, r->port, what, reply, r->host, r->port);
    else if (!strncmp(reply, "WRONGPASS", 9) || strstr(reply, "invalid password") ||
             strstr(reply, "invalid username-password"))
        snprintf(r->err, sizeof r->err,
                 "%s %s:%d: %s: the Redis server refused the user name or password of the URL %s (%s)",
                 r->who, r->host, r->port, what, r->shown, reply);
    else
        snprintf(r->err, sizeof r->err, "%s %s:%d: %s failed: %s", r->who, r->host, r->port, what, reply);
}

/* One command during the handshake; 0 if the reply is not an error. */
static int handshake_cmd(mts_rconn_t *r, const char *what, redisReply *rep) {
    if (!rep) {
        snprintf(r->err, sizeof r->err, "%s %s:%d: %s failed: %s", r->who, r->host, r->port, what,
                 r->ctx->errstr[0] ? r->ctx->errstr : "no reply");
        return -1;
    }
    int bad = rep->type == REDIS_REPLY_ERROR;
    if (bad) mts_rconn_reply_error(r, what, rep->str);
    freeReplyObject(rep);
    return bad ? -1 : 0;
}

int mts_rconn_ensure(mts_rconn_t *r, int force) {
    if (r->ctx) return 0;
    if (!force && r->next_try_ms && mts_cache_now_ms() < r->next_try_ms) return MTS_ECACHE;
    r->last_try_ms = mts_cache_now_ms();
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(r->err, sizeof r->err, "%s: cannot connect to Redis at %s:%d: %s", r->who, r->host,
                 r->port, r->ctx ? r->ctx->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        snprintf(r->err, sizeof r->err, "%s %s:%d: cannot set the timeout", r->who, r->host, r->port);
        goto fail;
    }
    if (r->pass[0]) {
        redisReply *rep = r->user[0] ? redisCommand(r->ctx, "AUTH %s %s", r->user, r->pass)
                                     : redisCommand(r->ctx, "AUTH %s", r->pass);
        if (handshake_cmd(r, "AUTH", rep)) goto fail;
    }
    if (r->db) {
        redisReply *rep = redisCommand(r->ctx, "SELECT %d", r->db);
        if (handshake_cmd(r, "SELECT", rep)) goto fail;
    } else if (!r->pass[0]) {
        /* no AUTH and no SELECT said whether the server wants a password:
         * a PING does, so "NOAUTH" is reported here and not as an odd reply later */
        redisReply *rep = redisCommand(r->ctx, "PING");
        if (handshake_cmd(r, "PING", rep)) goto fail;
    }
    if (r->ever_up || r->errors) r->reconnects++;
    if (r->errors && mts_log_enabled(MTS_LOG_INFO)) {
        char ev[64];
        snprintf(ev, sizeof ev, "%s.reconnected", r->who);
        mts_log(MTS_LOG_INFO, ev, "\"host\":\"%s\",\"port\":%d", r->host, r->port);
    }
    r->ever_up = 1;
    r->backoff_ms = 0;
    r->next_try_ms = 0;
    return 0;
fail:
    drop(r);
    r->errors++;
    schedule(r);
    log_err(r, "down");
    return MTS_ECACHE;
}

int mts_rconn_fail(mts_rconn_t *r, const char *what) {
    if (r->ctx && r->ctx->err)
        snprintf(r->err, sizeof r->err, "%s %s:%d: %s: %s", r->who, r->host, r->port, what, r->ctx->errstr);
    else
        snprintf(r->err, sizeof r->err, "%s %s:%d: %s: unexpected reply", r->who, r->host, r->port, what);
    drop(r);
    r->errors++;
    schedule(r);
    log_err(r, "error");
    return MTS_ECACHE;
}

int mts_rconn_revive(mts_rconn_t *r) {
    if (r->ctx) return 0;
    return mts_rconn_ensure(r, mts_cache_now_ms() - r->last_try_ms >= MTS_RCONN_PROBE_MS);
}

void mts_rconn_close(mts_rconn_t *r) {
    if (r) drop(r);
}

redisReply *mts_rconn_command(mts_rconn_t *r, const char *what, const char *fmt, ...) {
    for (int attempt = 0; attempt < 2; attempt++) {
        int had = r->ctx != NULL;
        if (mts_rconn_ensure(r, attempt > 0)) return NULL;
        va_list ap;
        va_start(ap, fmt);
        redisReply *rep = redisvCommand(r->ctx, fmt, ap);
        va_end(ap);
        if (rep) return rep;
        mts_rconn_fail(r, what);
        if (!had) return NULL;   /* a fresh connection failed: wait for the backoff */
    }
    return NULL;
}

double mts_rconn_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
