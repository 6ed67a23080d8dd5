/* http.c — libcurl REST client with retries, Retry-After, per-host circuit
 * breakers and a token-bucket rate limiter (see http.h). */
#include "feeds/http.h"
#include "feeds/breaker.h"
#include "alerts/alerts.h"
#include "feeds/ratelimit.h"
#include "util/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_HOSTS 8
#define HOST_LEN 256

typedef struct host {
    char name[HOST_LEN];       /* "host:port" as written in the URL */
    CURL *curl;                /* reused: keeps the connection alive */
    mts_breaker_t breaker;
} host_t;

typedef struct body_buf {
    char *p;
    size_t len, cap, max;
    int too_big;
} body_buf_t;

struct mts_http {
    mts_http_config_t cfg;
    char *vendor;
    mts_http_hooks_t hooks;
    volatile sig_atomic_t *cancel;
    struct curl_slist *headers;
    host_t hosts[MAX_HOSTS];
    int n_hosts;
    mts_ratelimit_t rl;
    mts_http_stats_t stats;
    uint64_t rng;
    char retry_after[64];      /* header of the current attempt */
    char err[512];
};

/* ---- default hooks ---- */
static double real_now(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void real_sleep_impl(mts_http_t *h, double s) {
    /* Sleep in slices so a raised cancel flag ends the wait quickly. */
    while (s > 0 && !(h->cancel && *h->cancel)) {
        double step = s > 0.1 ? 0.1 : s;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);   /* EINTR: the loop re-checks the flag */
        s -= step;
    }
}

static double xorshift_unit(mts_http_t *h) {
    uint64_t x = h->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    h->rng = x;
    return (double)(x >> 11) / 9007199254740992.0;   /* 2^53 */
}

static double hnow(mts_http_t *h) { return h->hooks.now ? h->hooks.now(h->hooks.ud) : real_now(NULL); }
static void hsleep(mts_http_t *h, double s) {
    if (s <= 0) return;
    h->stats.slept_s += s;
    if (h->hooks.sleep) h->hooks.sleep(h->hooks.ud, s);
    else real_sleep_impl(h, s);
}
static double hrand(mts_http_t *h) { return h->hooks.random ? h->hooks.random(h->hooks.ud) : xorshift_unit(h); }
static int cancelled(const mts_http_t *h) { return h->cancel && *h->cancel; }

static void set_err(mts_http_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(mts_http_t *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err, sizeof h->err, fmt, ap);
    va_end(ap);
}

void mts_http_config_defaults(mts_http_config_t *c) {
    memset(c, 0, sizeof *c);
    c->vendor = "http";
    c->timeout_s = 30;
    c->connect_timeout_s = 10;
    c->max_attempts = 3;
    c->backoff_base_s = 0.5;
    c->backoff_max_s = 30;
    c->retry_after_max_s = 120;
    c->breaker_threshold = MTS_BREAKER_DEFAULT_THRESHOLD;
    c->breaker_timeout_s = MTS_BREAKER_DEFAULT_TIMEOUT;
    c->rate_per_min = 0;
    c->rate_burst = 1;
    c->max_body = (size_t)64 << 20;
}

static int curl_ready = 0;

int mts_http_new(const mts_http_config_t *cfg, mts_http_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return MTS_EIO;
        curl_ready = 1;
    }
    mts_http_t *h = mts_calloc(1, sizeof *h);
    if (!h) return MTS_ENOMEM;
    if (cfg) h->cfg = *cfg;
    else mts_http_config_defaults(&h->cfg);
    if (h->cfg.max_attempts < 1) h->cfg.max_attempts = 1;
    if (h->cfg.max_body == 0) h->cfg.max_body = (size_t)64 << 20;
    h->vendor = mts_strdup(h->cfg.vendor ? h->cfg.vendor : "http");
    if (!h->vendor) { mts_free(h); return MTS_ENOMEM; }
    h->cfg.vendor = h->vendor;
    h->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    if (!h->rng) h->rng = 1;
    mts_ratelimit_init(&h->rl, h->cfg.rate_per_min, h->cfg.rate_burst, real_now(NULL));
    *out = h;
    return 0;
}

void mts_http_free(mts_http_t *h) {
    if (!h) return;
    for (int i = 0; i < h->n_hosts; i++) curl_easy_cleanup(h->hosts[i].curl);
    curl_slist_free_all(h->headers);
    mts_free(h->vendor);
    mts_free(h);
}

void mts_http_set_hooks(mts_http_t *h, const mts_http_hooks_t *hooks) {
    if (!h) return;
    if (hooks) h->hooks = *hooks;
    else memset(&h->hooks, 0, sizeof h->hooks);
    /* the limiter's clock changes scale with the hook: restart it full */
    mts_ratelimit_init(&h->rl, h->cfg.rate_per_min, h->cfg.rate_burst, hnow(h));
}

void mts_http_set_cancel(mts_http_t *h, volatile sig_atomic_t *flag) { if (h) h->cancel = flag; }

int mts_http_add_header(mts_http_t *h, const char *line) {
    if (!h || !line) return MTS_EINVAL;
    struct curl_slist *n = curl_slist_append(h->headers, line);
    if (!n) return MTS_ENOMEM;
    h->headers = n;
    return 0;
}

const char *mts_http_errmsg(const mts_http_t *h) { return h ? h->err : "no client"; }
const mts_http_stats_t *mts_http_stats(const mts_http_t *h) { return h ? &h->stats : NULL; }

void mts_http_response_free(mts_http_response_t *r) {
    if (!r) return;
    mts_free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* "scheme://host:port/path?q" -> "host:port" and a loggable "host:port/path". */
static int split_url(const char *url, char host[HOST_LEN], char *safe, size_t safe_len) {
    const char *p = strstr(url, "://");
    if (!p) return -1;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= HOST_LEN) return -1;
    memcpy(host, p, n);
    host[n] = 0;
    size_t m = strcspn(p, "?#");
    if (m >= safe_len) m = safe_len - 1;
    memcpy(safe, p, m);
    safe[m] = 0;
    return 0;
}

/* 1 when a and b have the same scheme, host and port (default ports filled
 * in), by libcurl's own URL parser; 0 otherwise or when either does not parse. */
static int same_origin(const char *a, const char *b) {
    CURLU *u[2] = {curl_url(), curl_url()};
    char *part[2][3] = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    static const CURLUPart P[3] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
    int ok = u[0] && u[1];
    for (int k = 0; ok && k < 2; k++) {
        if (curl_url_set(u[k], CURLUPART_URL, k ? b : a, 0) != CURLUE_OK) ok = 0;
        for (int j = 0; ok && j < 3; j++)
            if (curl_url_get(u[k], P[j], &part[k][j], j == 2 ? CURLU_DEFAULT_PORT : 0) != CURLUE_OK) ok = 0;
    }
    if (ok)
        ok = !strcasecmp(part[0][0], part[1][0]) && !strcasecmp(part[0][1], part[1][1]) &&
             !strcmp(part[0][2], part[1][2]);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 3; j++) curl_free(part[k][j]);
        curl_url_cleanup(u[k]);
    }
    return ok;
}

static host_t *get_host(mts_http_t *h, const char *name, int create) {
    for (int i = 0; i < h->n_hosts; i++)
        if (strcmp(h->hosts[i].name, name) == 0) return &h->hosts[i];
    if (!create) return NULL;
    if (h->n_hosts == MAX_HOSTS) {
        /* reuse the oldest slot: a client talks to one or two hosts */
        curl_easy_cleanup(h->hosts[0].curl);
        memmove(&h->hosts[0], &h->hosts[1], (MAX_HOSTS - 1) * sizeof(host_t));
        h->n_hosts--;
    }
    host_t *e = &h->hosts[h->n_hosts];
    memset(e, 0, sizeof *e);
    e->curl = curl_easy_init();
    if (!e->curl) return NULL;
    snprintf(e->name, sizeof e->name, "%s", name);
    mts_breaker_init(&e->breaker, h->cfg.breaker_threshold, h->cfg.breaker_timeout_s);
    h->n_hosts++;
    return e;
}

const char *mts_http_breaker_state(mts_http_t *h, const char *url) {
    char host[HOST_LEN], safe[8];
    if (!h || !url || split_url(url, host, safe, sizeof safe)) return "closed";
    host_t *e = get_host(h, host, 0);
    return e ? mts_breaker_state_name(e->breaker.state) : "closed";
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    body_buf_t *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->max) { b->too_big = 1; return 0; }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = mts_realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

/* CURLOPT_XFERINFOFUNCTION with cancel_aborts: non-zero aborts the transfer. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt; (void)dn; (void)ut; (void)un;
    return cancelled(ud) ? 1 : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
    mts_http_t *h = ud;
    size_t n = size * nmemb;
    static const char key[] = "retry-after:";
    if (n > sizeof key - 1 && strncasecmp(data, key, sizeof key - 1) == 0) {
        const char *v = data + sizeof key - 1;
        size_t vl = n - (sizeof key - 1);
        while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        if (vl >= sizeof h->retry_after) vl = sizeof h->retry_after - 1;
        memcpy(h->retry_after, v, vl);
        h->retry_after[vl] = 0;
    }
    return n;
}

double mts_http_parse_retry_after(const char *v, int64_t now_unix) {
    if (!v) return -1;
    while (*v == ' ') v++;
    if (!*v) return -1;
    char *end;
    errno = 0;
    long long s = strtoll(v, &end, 10);
    if (end != v && errno == 0) {
        while (*end == ' ') end++;
        if (*end == 0) return s < 0 ? -1 : (double)s;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    /* IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT" */
    const char *r = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!r || *r) return -1;
    int64_t t = (int64_t)timegm(&tm);
    double d = (double)(t - now_unix);
    return d < 0 ? 0 : d;
}

double mts_http_backoff_window(double base, double cap, int retry) {
    double w = base;
    for (int i = 1; i < retry && w < cap; i++) w *= 2;
    return w < cap ? w : cap;
}

/* Transport errors worth another try: the network or the server hiccupped. */
static int transient_curl(CURLcode c) {
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: case CURLE_BAD_CONTENT_ENCODING:
        return 1;
    default:
        return 0;
    }
}

static void log_breaker(mts_http_t *h, host_t *e, const char *to) {
    mts_log(strcmp(to, "open") == 0 ? MTS_LOG_WARN : MTS_LOG_INFO, "http.breaker",
            "\"vendor\":\"%s\",\"host\":\"%s\",\"state\":\"%s\",\"threshold\":%d,\"reset_timeout_s\":%g",
            h->vendor, e->name, to, e->breaker.threshold, e->breaker.reset_timeout);
    /* GET /health "external_apis" (alerts/alerts.h: kept in this process and in api_breakers) */
    mts_alerts_breaker_note(h->vendor, e->name, to, strcmp(to, "open") == 0 ? e->breaker.threshold : e->breaker.failures,
                            strcmp(to, "open") == 0 ? (int64_t)time(NULL) : 0);
}

static void breaker_note(mts_http_t *h, host_t *e, int ok, double now) {
    mts_breaker_state_t before = e->breaker.state;
    if (ok) mts_breaker_success(&e->breaker, now);
    else mts_breaker_failure(&e->breaker, now);
    if (e->breaker.state != before) {
        if (e->breaker.state == MTS_BREAKER_OPEN) h->stats.breaker_opens++;
        if (e->breaker.state == MTS_BREAKER_CLOSED) h->stats.breaker_closes++;
        log_breaker(h, e, mts_breaker_state_name(e->breaker.state));
    }
}

/* Wait for a rate-limit token; non-zero when cancelled. */
static int rate_wait(mts_http_t *h) {
    for (int waited = 0;;) {
        double w = mts_ratelimit_acquire(&h->rl, hnow(h));
        if (w <= 0) return 0;
        if (!waited) { h->stats.rate_waits++; waited = 1; }
        mts_log(MTS_LOG_DEBUG, "http.rate_wait", "\"vendor\":\"%s\",\"wait_s\":%.3f", h->vendor, w);
        hsleep(h, w);
        if (cancelled(h)) return -1;
    }
}

/* mts_http_get's body; *curp holds the URL a same-origin redirect led to
 * (owned, freed by the caller). */
static int http_get(mts_http_t *h, const char *url, mts_http_response_t *resp, char **curp) {
    char hostname[HOST_LEN], safe[512];
    if (split_url(url, hostname, safe, sizeof safe)) {
        set_err(h, "%s: not an http(s) URL", h->vendor);
        return MTS_EINVAL;
    }
    host_t *e = get_host(h, hostname, 1);
    if (!e) { set_err(h, "%s: curl_easy_init failed", h->vendor); return MTS_ENOMEM; }
    h->stats.requests++;

    int last_kind = MTS_EAPI;
    int redirects = 0;
    for (int attempt = 1; attempt <= h->cfg.max_attempts; attempt++) {
        if (cancelled(h)) { set_err(h, "%s %s: cancelled", h->vendor, safe); return MTS_EAPI; }
        double now = hnow(h);
        mts_breaker_state_t before = e->breaker.state;
        if (!mts_breaker_allow(&e->breaker, now)) {
            h->stats.breaker_rejects++;
            set_err(h, "%s %s: circuit breaker open for %s (retry in %.1f s)", h->vendor, safe,
                    e->name, mts_breaker_retry_in(&e->breaker, now));
            mts_log(MTS_LOG_ERROR, "http.error",
                    "\"type\":\"api\",\"vendor\":\"%s\",\"url\":\"%s\",\"reason\":\"breaker_open\"",
                    h->vendor, safe);
            return MTS_EAPI;
        }
        if (before == MTS_BREAKER_OPEN && e->breaker.state == MTS_BREAKER_HALF_OPEN)
            log_breaker(h, e, "half_open");
        if (rate_wait(h)) { set_err(h, "%s %s: cancelled", h->vendor, safe); return MTS_EAPI; }

    follow:;
        body_buf_t body = {NULL, 0, 0, h->cfg.max_body, 0};
        h->retry_after[0] = 0;
        CURL *c = e->curl;
        curl_easy_reset(c);   /* keeps the connection cache */
        curl_easy_setopt(c, CURLOPT_URL, *curp ? *curp : url);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(h->cfg.timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->cfg.connect_timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(c, CURLOPT_USERAGENT, "mts/" MTS_VERSION);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        /* Redirects are followed below, not by libcurl: libcurl would send our
         * custom headers (api keys) to any host a Location names. */
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (h->cfg.cancel_aborts && h->cancel) {
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
        if (h->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);

        h->stats.attempts++;
        if (attempt > 1) h->stats.retries++;
        CURLcode cc = curl_easy_perform(c);
        long status = 0, nconn = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
        h->stats.connects += nconn;
        resp->status = status;
        now = hnow(h);

        if (cc == CURLE_OK && (status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
            char *loc = NULL;
            curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
            mts_free(body.p);
            char lhost[HOST_LEN], lsafe[512];
            if (loc && same_origin(url, loc) && redirects < 3) {
                char *next = mts_strdup(loc);
                if (!next) return MTS_ENOMEM;
                mts_free(*curp);
                *curp = next;
                redirects++;
                mts_log(MTS_LOG_INFO, "http.redirect", "\"vendor\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"same_host\":true",
                        h->vendor, safe, status);
                goto follow;
            }
            breaker_note(h, e, 1, now);   /* the host answered */
            if (!loc || split_url(loc, lhost, lsafe, sizeof lsafe)) snprintf(lsafe, sizeof lsafe, "(no usable Location)");
            if (loc && !same_origin(url, loc))
                set_err(h, "%s %s: HTTP %ld redirects to another host (%s); not followed, credentials are never "
                        "sent to another host (if the service moved, set its base URL to the new address)",
                        h->vendor, safe, status, lsafe);
            else if (loc)
                set_err(h, "%s %s: more than 3 redirects (last to %s)", h->vendor, safe, lsafe);
            else
                set_err(h, "%s %s: HTTP %ld redirect without a Location", h->vendor, safe, status);
            mts_log(MTS_LOG_ERROR, "http.error",
                    "\"type\":\"api\",\"vendor\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"reason\":\"redirect_refused\",\"location\":\"%s\"",
                    h->vendor, safe, status, lsafe);
            return MTS_EAPI;
        }

        if (cc == CURLE_OK && status >= 200 && status < 300) {
            breaker_note(h, e, 1, now);
            if (!body.p) {   /* empty body: still hand back a string */
                body.p = mts_malloc(1);
                if (!body.p) return MTS_ENOMEM;
                body.p[0] = 0;
            }
            resp->body = body.p;
            resp->len = body.len;
            return 0;
        }
        int client_error = cc == CURLE_OK && status != 429 && status < 500;
        if (client_error && body.p) {
            resp->body = body.p;
            resp->len = body.len;
        } else {
            mts_free(body.p);
        }

        double delay = -1;
        const char *why;
        char whybuf[160];
        int retry = 0;
        if (cc != CURLE_OK) {
            if (body.too_big) {
                set_err(h, "%s %s: response larger than %zu bytes", h->vendor, safe, h->cfg.max_body);
                mts_log(MTS_LOG_ERROR, "http.error", "\"type\":\"api\",\"vendor\":\"%s\",\"url\":\"%s\",\"reason\":\"too_big\"",
                        h->vendor, safe);
                return MTS_EAPI;
            }
            h->stats.transport_errors++;
            snprintf(whybuf, sizeof whybuf, "%s", curl_easy_strerror(cc));
            why = whybuf;
            retry = transient_curl(cc);
            breaker_note(h, e, 0, now);
            last_kind = MTS_EAPI;
            set_err(h, "%s %s: %s", h->vendor, safe, why);
        } else if (status == 429) {
            h->stats.status_429++;
            why = "HTTP 429 Too Many Requests";
            retry = 1;
            last_kind = MTS_ERATELIMIT;
            double ra = mts_http_parse_retry_after(h->retry_after, (int64_t)time(NULL));
            if (ra >= 0) delay = ra > h->cfg.retry_after_max_s ? h->cfg.retry_after_max_s : ra;
            set_err(h, "%s %s: rate limited (HTTP 429%s%s)", h->vendor, safe,
                    h->retry_after[0] ? ", Retry-After " : "", h->retry_after);
            /* 429 says the host is up: it does not count against the breaker */
        } else if (status >= 500) {
            h->stats.status_5xx++;
            snprintf(whybuf, sizeof whybuf, "HTTP %ld", status);
            why = whybuf;
            retry = 1;
            last_kind = MTS_EAPI;
            breaker_note(h, e, 0, now);
            set_err(h, "%s %s: server error HTTP %ld", h->vendor, safe, status);
        } else {
            /* 4xx (not 429), 3xx leftovers: our request is wrong; retrying will not
             * help. The body is handed back: vendors explain the error there. */
            breaker_note(h, e, 1, now);
            set_err(h, "%s %s: HTTP %ld", h->vendor, safe, status);
            mts_log(MTS_LOG_ERROR, "http.error",
                    "\"type\":\"api\",\"vendor\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"attempt\":%d",
                    h->vendor, safe, status, attempt);
            return MTS_EAPI;
        }

        if (!retry || attempt == h->cfg.max_attempts) {
            mts_log(MTS_LOG_ERROR, "http.error",
                    "\"type\":\"%s\",\"vendor\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"attempt\":%d,\"error\":\"%s\"",
                    last_kind == MTS_ERATELIMIT ? "rate_limit" : "api", h->vendor, safe, status, attempt, why);
            return last_kind;
        }
        if (delay < 0) {
            /* full jitter: U(0, min(cap, base * 2^(attempt-1))) */
            double w = mts_http_backoff_window(h->cfg.backoff_base_s, h->cfg.backoff_max_s, attempt);
            delay = w * hrand(h);
        }
        mts_log(MTS_LOG_WARN, "http.retry",
                "\"vendor\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"attempt\":%d,\"error\":\"%s\",\"delay_s\":%.3f",
                h->vendor, safe, status, attempt, why, delay);
        hsleep(h, delay);
    }
    return last_kind;   /* not reached */
}

int mts_http_get(mts_http_t *h, const char *url, mts_http_response_t *resp) {
    if (!h || !url || !resp) return MTS_EINVAL;
    memset(resp, 0, sizeof *resp);
    char *cur = NULL;
    int rc = http_get(h, url, resp, &cur);
    mts_free(cur);
    return rc;
}
