/* server.c — the API server's libwebsockets side (see server.h): connections,
 * routing, JWT auth, rate limits, the worker pool, the bus fan-out to
 * websocket clients, access logs and a graceful stop. The endpoints' bodies
 * are built in handlers.c. Everything here runs on the service thread except
 * worker_main. */
#include "api/internal.h"
#include "api/jwt.h"
#include "api/peers.h"
#include "util/config.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUS_POLL_US   (50 * 1000)
#define BUS_SOON_US   (5 * 1000)     /* next poll when the last one was cut short */
#define BUS_BATCH     512
#define WS_QUEUE      256            /* messages waiting per websocket client */
#define WS_STALL_S    1.0            /* a client with messages waiting and no write for this long is
                                        stalled: it loses its oldest messages, it does not hold the bus back */
#define WS_WRITES     32             /* frames written per writable callback (while the socket takes them) */
#define WS_RX_MAX     4096           /* largest client message */
#define CHUNK         16384          /* body bytes per lws_write */
#define HDR_CAP       2048
#define JWT_LEEWAY    30

const char *const api_route_names[R_COUNT] = {
    [R_HEALTH] = "/health", [R_METRICS] = "/metrics", [R_SIGNALS_GENERATE] = "/signals/generate",
    [R_BACKTEST] = "/backtest", [R_BACKTESTS] = "/backtests", [R_BACKTEST_ID] = "/backtests/{id}",
    [R_SIGNALS] = "/signals", [R_SESSIONS] = "/paper/sessions",
    [R_SESSION_ID] = "/paper/sessions/{id}", [R_WS] = "/ws",
    [R_ORDERBOOK] = "/orderbook/{exchange}/{symbol}", [R_FUNDING] = "/funding/{exchange}/{symbol}",
    [R_MARKET] = "/market/{symbol}/{interval}", [R_OPTIMIZE] = "/optimize", [R_OPTIMIZE_ID] = "/optimize/{id}",
    [R_OPENAPI] = "/openapi.json"};

/* A bus message shared by every websocket client queue it is in. */
typedef struct wsmsg {
    int refs;
    size_t len;
    unsigned char buf[];        /* LWS_PRE bytes, then the frame */
} wsmsg_t;

typedef struct conn {
    struct lws *wsi;
    int is_ws;
    /* HTTP request */
    int active;                 /* a request is being handled */
    int method, route;
    int64_t id;
    char method_name[8];
    char path[512];
    char client[64];
    char subject[128];
    char scope[64];
    char *body;
    size_t body_len, body_cap;
    int body_too_big, expect_body;
    int body_done;              /* BODY_COMPLETION seen for this request */
    int body_bogus;             /* lws handed us the request's own head as its body (pipelined POST) */
    double t0;
    api_job_t *job;
    /* HTTP answer */
    int status;
    unsigned char hdr[LWS_PRE + HDR_CAP];
    size_t hdr_len;
    unsigned char *resp;        /* LWS_PRE + body */
    size_t resp_len, resp_off;
    int hdr_sent, responding, close_after;
    /* websocket */
    wsmsg_t *q[WS_QUEUE];
    int q_head, q_len;
    long dropped;
    double last_write;          /* mono(): a frame went out, or the queue stopped being empty */
    char topics[16][32];
    int n_topics;               /* 0 = every topic */
    char rx[WS_RX_MAX];
    size_t rx_len;
    struct conn *next_ws;
} conn_t;

/* The bus poll timer of one server (libwebsockets' sorted usec list). */
struct api_poll {
    lws_sorted_usec_list_t sul;
    api_server_t *s;
};

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- replies ---- */

FILE *api_body(api_reply_t *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
    return open_memstream(&r->body, &r->len);
}

void api_finish(api_reply_t *r, FILE *f, int status) {
    if (f) fclose(f);
    r->status = status;
    if (!r->body) {   /* memstream failed: out of memory */
        r->status = 500;
        r->body = strdup("{\"error\":\"internal\",\"detail\":\"out of memory\"}");
        r->len = r->body ? strlen(r->body) : 0;
    }
}

void api_error(api_reply_t *r, int status, const char *code, const char *fmt, ...) {
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    FILE *f = api_body(r);
    if (f) {
        fprintf(f, "{\"error\":\"");
        mts_json_escape(f, code);
        fprintf(f, "\",\"detail\":\"");
        mts_json_escape(f, detail);
        fprintf(f, "\"}");
    }
    api_finish(r, f, status);
}

static void reply_clear(api_reply_t *r) {
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- access log ---- */

static void esc(const char *in, char *out, size_t cap) {
    FILE *f = fmemopen(out, cap, "w");
    if (!f) { out[0] = 0; return; }
    mts_json_escape(f, in);
    fputc(0, f);
    fclose(f);
    out[cap - 1] = 0;
}

static const char *route_label(int route) {
    return route >= 0 && route < R_COUNT ? api_route_names[route] : "unmatched";
}

/* ---- sending the answer ---- */

static void conn_reset_request(conn_t *c) {
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    c->body_too_big = c->expect_body = 0;
    free(c->resp);
    c->resp = NULL;
    c->resp_len = c->resp_off = 0;
    c->hdr_len = 0;
    c->hdr_sent = c->responding = 0;
    c->active = 0;
    c->subject[0] = c->scope[0] = 0;
}

/* Queues r as the answer on c (takes r's body) and asks for a writable callback. */
static int send_reply(api_server_t *s, conn_t *c, api_reply_t *r) {
    if (!r->body) api_error(r, 500, "internal", "no answer was produced");
    unsigned char *p = c->hdr + LWS_PRE, *end = c->hdr + sizeof c->hdr - 1;
    const char *ctype = r->ctype ? r->ctype : "application/json";
    int bad = lws_add_http_common_headers(c->wsi, (unsigned)r->status, ctype, (lws_filepos_t)r->len, &p, end);
    char v[64];
    if (!bad && r->retry_after > 0) {
        int n = snprintf(v, sizeof v, "%d", r->retry_after);
        bad = lws_add_http_header_by_name(c->wsi, (const unsigned char *)"retry-after:", (unsigned char *)v, n, &p, end);
    }
    if (!bad && r->allow)
        bad = lws_add_http_header_by_name(c->wsi, (const unsigned char *)"allow:", (const unsigned char *)r->allow,
                                          (int)strlen(r->allow), &p, end);
    if (!bad && r->www_auth) {
        const char *w = "Bearer realm=\"mts\"";
        bad = lws_add_http_header_by_name(c->wsi, (const unsigned char *)"www-authenticate:", (const unsigned char *)w,
                                          (int)strlen(w), &p, end);
    }
    if (!bad && (c->close_after || s->draining))
        bad = lws_add_http_header_by_name(c->wsi, (const unsigned char *)"connection:", (const unsigned char *)"close", 5, &p, end);
    if (!bad) bad = lws_add_http_header_by_name(c->wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-store", 8, &p, end);
    if (!bad) bad = lws_finalize_http_header(c->wsi, &p, end);
    if (bad) {
        reply_clear(r);
        return -1;
    }
    if (s->draining) c->close_after = 1;
    c->hdr_len = (size_t)(p - (c->hdr + LWS_PRE));
    c->resp = malloc(LWS_PRE + r->len + 1);
    if (!c->resp) {
        reply_clear(r);
        return -1;
    }
    memcpy(c->resp + LWS_PRE, r->body, r->len);
    c->resp_len = r->len;
    c->resp_off = 0;
    c->status = r->status;
    c->responding = 1;
    s->responses_pending++;
    reply_clear(r);
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Metrics and the access log line, once the answer is out. */
static void request_done(api_server_t *s, conn_t *c) {
    double dt = mono() - c->t0;
    mts_prom_http(s->prom, c->route, c->method_name, c->status, dt);
    if (mts_log_enabled(MTS_LOG_INFO)) {
        char path[600], sub[300], client[140];
        esc(c->path, path, sizeof path);
        esc(c->subject, sub, sizeof sub);
        esc(c->client, client, sizeof client);
        mts_log(MTS_LOG_INFO, "http.request",
                "\"method\":\"%s\",\"route\":\"%s\",\"path\":\"%s\",\"status\":%d,"
                "\"duration_ms\":%.3f,\"client\":\"%s\",\"subject\":\"%s\",\"bytes\":%zu",
                c->method_name, route_label(c->route), path, c->status, dt * 1e3, client, sub,
                c->resp_len);
    }
}

/* HTTP writable: headers, then the body in chunks. -1 closes the connection. */
static int write_more(api_server_t *s, conn_t *c) {
    if (!c->responding) return 0;
    if (!c->hdr_sent) {
        if (lws_write(c->wsi, c->hdr + LWS_PRE, c->hdr_len, LWS_WRITE_HTTP_HEADERS) != (int)c->hdr_len)
            return -1;
        c->hdr_sent = 1;
        if (c->resp_len && lws_send_pipe_choked(c->wsi)) {
            lws_callback_on_writable(c->wsi);
            return 0;
        }
    }
    while (c->resp_off < c->resp_len) {
        size_t n = c->resp_len - c->resp_off;
        if (n > CHUNK) n = CHUNK;
        int last = c->resp_off + n == c->resp_len;
        if (lws_write(c->wsi, c->resp + LWS_PRE + c->resp_off, n,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return -1;
        c->resp_off += n;
        if (!last && lws_send_pipe_choked(c->wsi)) {
            lws_callback_on_writable(c->wsi);
            return 0;
        }
    }
    request_done(s, c);
    s->responses_pending--;
    int close = c->close_after;
    conn_reset_request(c);
    if (close) return -1;
    return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

/* ---- routing ---- */

static int parse_id(const char *s, int64_t *out) {
    if (!*s || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* Route of a path; R_NONE when unknown. allow: the methods it takes. */
static int route_of(const char *path, int64_t *id, const char **allow) {
    static const struct { const char *path; int route; const char *allow; } fixed[] = {
        {"/health", R_HEALTH, "GET"}, {"/metrics", R_METRICS, "GET"},
        {"/signals/generate", R_SIGNALS_GENERATE, "POST"}, {"/backtest", R_BACKTEST, "POST"},
        {"/backtests", R_BACKTESTS, "GET"}, {"/signals", R_SIGNALS, "GET"},
        {"/paper/sessions", R_SESSIONS, "GET"}, {"/ws", R_WS, "GET"}, {"/optimize", R_OPTIMIZE, "POST"},
        {"/openapi.json", R_OPENAPI, "GET"}};
    *id = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(path, fixed[i].path) == 0) { *allow = fixed[i].allow; return fixed[i].route; }
    *allow = "GET";
    if (strncmp(path, "/backtests/", 11) == 0 && parse_id(path + 11, id) == 0) return R_BACKTEST_ID;
    if (strncmp(path, "/paper/sessions/", 16) == 0 && parse_id(path + 16, id) == 0) return R_SESSION_ID;
    if (strncmp(path, "/optimize/", 10) == 0 && parse_id(path + 10, id) == 0) return R_OPTIMIZE_ID;
    static const struct { const char *prefix; int route; } two[] = {
        {"/orderbook/", R_ORDERBOOK}, {"/funding/", R_FUNDING}, {"/market/", R_MARKET}};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        size_t n = strlen(two[i].prefix);
        if (strncmp(path, two[i].prefix, n) != 0) continue;
        /* exactly two non-empty segments */
        const char *a = path + n, *slash = strchr(a, '/');
        if (slash && slash > a && slash[1] && !strchr(slash + 1, '/')) return two[i].route;
    }
    return R_NONE;
}

static const char *method_name(int m) {
    switch (m) {
    case LWSHUMETH_GET: return "GET";
    case LWSHUMETH_POST: return "POST";
    case LWSHUMETH_OPTIONS: return "OPTIONS";
    case LWSHUMETH_PUT: return "PUT";
    case LWSHUMETH_PATCH: return "PATCH";
    case LWSHUMETH_DELETE: return "DELETE";
    case LWSHUMETH_HEAD: return "HEAD";
    default: return "OTHER";
    }
}

/* ---- auth ---- */

/* 0 with subject/scope set, or the status to answer (401 / 403) with r filled.
 * token_arg: the ?token= value (websocket), or NULL. need_write: a POST. */
static int authenticate(api_server_t *s, struct lws *wsi, const char *token_arg, int need_write,
                        char *subject, size_t sublen, char *scope, size_t scopelen, api_reply_t *r) {
    if (s->cfg.no_auth) {
        snprintf(subject, sublen, "local");
        snprintf(scope, scopelen, "write");
        return 0;
    }
    char *hdr = s->authbuf;
    const char *tok = NULL;
    size_t toklen = 0;
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0) {
        if (n >= (int)sizeof s->authbuf) {
            api_error(r, 401, "unauthorized", "the Authorization header is longer than %d bytes", MTS_JWT_MAX_TOKEN);
            r->www_auth = 1;
            return 401;
        }
        lws_hdr_copy(wsi, hdr, sizeof s->authbuf, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (strncasecmp(hdr, "Bearer ", 7) != 0) {
            api_error(r, 401, "unauthorized", "use 'Authorization: Bearer <token>' (a JWT from mts token)");
            r->www_auth = 1;
            return 401;
        }
        tok = hdr + 7;
        while (*tok == ' ') tok++;
        toklen = strlen(tok);
        while (toklen && tok[toklen - 1] == ' ') toklen--;
    } else if (token_arg && *token_arg) {
        tok = token_arg;
        toklen = strlen(tok);
    } else {
        api_error(r, 401, "unauthorized",
                  "missing 'Authorization: Bearer <token>' header; mint a token with: mts token --subject NAME --scope read");
        r->www_auth = 1;
        return 401;
    }
    mts_jwt_claims_t claims;
    char why[256];
    int rc = mts_jwt_verify_hs256(tok, toklen, s->cfg.jwt_key, s->cfg.jwt_key_len, (int64_t)time(NULL),
                                  JWT_LEEWAY, &claims, why, sizeof why);
    if (rc != 0) {
        api_error(r, 401, "invalid_token", "%s", rc == MTS_EAUTH ? why : mts_strerror(rc));
        r->www_auth = 1;
        return 401;
    }
    /* the subject names the client for the rate limits: without one a client
     * would be limited per source address, and escape the limit from many */
    if (!claims.sub[0]) {
        api_error(r, 401, "invalid_token", "the token has no \"sub\" claim (a non-empty string naming the client, "
                  "used for rate limits and logs); mint one with: mts token --subject NAME");
        r->www_auth = 1;
        return 401;
    }
    snprintf(subject, sublen, "%s", claims.sub);
    snprintf(scope, scopelen, "%s", claims.scope);
    /* scope: space-separated (RFC 8693); "write" includes "read" */
    int can_read = 0, can_write = 0;
    char sc[sizeof claims.scope];
    snprintf(sc, sizeof sc, "%s", claims.scope);
    for (char *save = NULL, *t = strtok_r(sc, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!strcmp(t, "write")) can_write = can_read = 1;
        else if (!strcmp(t, "read")) can_read = 1;
    }
    if (!can_read || (need_write && !can_write)) {
        api_error(r, 403, "forbidden", "the token's scope is '%s'; this needs scope '%s' (mts token --scope %s)",
                  claims.scope, need_write ? "write" : "read", need_write ? "write" : "read");
        return 403;
    }
    return 0;
}

/* ---- workers ---- */

typedef struct wctx { api_server_t *s; int i; } wctx_t;

static void *worker_main(void *arg) {
    wctx_t *w = arg;
    api_server_t *s = w->s;
    mts_store_t *store = s->wstores[w->i];
    mts_free(w);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->quit && !s->q_head) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) {   /* jobs still queued are freed by the service thread */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        api_job_t *job = s->q_head;
        s->q_head = job->next;
        if (!s->q_head) s->q_tail = NULL;
        s->q_len--;
        s->running++;
        pthread_mutex_unlock(&s->mu);

        api_job_run(s, store, job);

        pthread_mutex_lock(&s->mu);
        job->next = s->done;
        s->done = job;
        s->running--;
        /* under the lock: the service thread sets ctx_gone under it before destroying ctx */
        if (!s->ctx_gone) lws_cancel_service(s->ctx);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* 0 queued, -1 queue full */
static int enqueue(api_server_t *s, api_job_t *job) {
    pthread_mutex_lock(&s->mu);
    if (s->q_len >= s->cfg.queue) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    job->next = NULL;
    if (s->q_tail) s->q_tail->next = job;
    else s->q_head = job;
    s->q_tail = job;
    s->q_len++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    s->jobs_outstanding++;
    return 0;
}

/* Service thread: answer the finished jobs. */
static void collect_done(api_server_t *s) {
    pthread_mutex_lock(&s->mu);
    api_job_t *j = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        api_job_t *next = j->next;
        s->jobs_outstanding--;
        if (j->ran_backtest) mts_prom_backtest(s->prom);
        if (j->route == R_SIGNALS_GENERATE && j->reply.status == 200)
            for (int a = 0; a < j->n_assets; a++)
                if (j->found[a]) mts_prom_signal(s->prom, j->strategies[0], j->assets[a]);
        conn_t *c = j->conn;
        if (c) {
            c->job = NULL;
            if (send_reply(s, c, &j->reply) != 0) lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
        api_job_free(j);
        j = next;
    }
}

/* ---- handling a request ---- */

/* The query parameters into req (urldecoded by libwebsockets). 0, or -1 with
 * a 400 in r when there are more than API_MAX_ARGS or one is too long. */
static int query_args(struct lws *wsi, char store[API_MAX_ARGS][API_ARG_MAX], api_request_t *req, api_reply_t *r) {
    req->n_args = 0;
    for (int i = 0;; i++) {   /* the header block bounds the number of fragments */
        int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0) {   /* no such fragment, or an empty one ("a=1&&b=2") */
            char probe[2];
            if (lws_hdr_copy_fragment(wsi, probe, sizeof probe, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) return 0;
            continue;
        }
        if (req->n_args >= API_MAX_ARGS) {
            api_error(r, 400, "bad_request", "more than %d query parameters", API_MAX_ARGS);
            return -1;
        }
        if (n >= API_ARG_MAX) {
            api_error(r, 400, "bad_request", "query parameter %d is %d bytes long; the limit is %d bytes", i + 1, n,
                      API_ARG_MAX - 1);
            return -1;
        }
        if (lws_hdr_copy_fragment(wsi, store[req->n_args], API_ARG_MAX, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) return 0;
        req->args[req->n_args] = store[req->n_args];
        req->n_args++;
    }
}

static double retry_after(double wait) { return wait < 1 ? 1 : ceil(wait); }

/* The request is complete (headers, and the body of a POST): answer it now or
 * hand it to a worker. */
static void dispatch(api_server_t *s, conn_t *c) {
    api_reply_t r;
    memset(&r, 0, sizeof r);
    c->active = 1;
    api_request_t req = {.route = c->route, .method = c->method, .method_name = c->method_name,
                         .id = c->id, .path = c->path, .body = c->body, .body_len = c->body_len,
                         .subject = c->subject};
    api_reply_t qr;
    memset(&qr, 0, sizeof qr);
    int bad_query = query_args(c->wsi, s->argbuf, &req, &qr) != 0;
    const char *allow = NULL;
    int64_t id;
    int route = route_of(c->path, &id, &allow);
    int is_post_route = route == R_SIGNALS_GENERATE || route == R_BACKTEST || route == R_OPTIMIZE;

    if (s->draining) {
        api_error(&r, 503, "shutting_down", "the server is stopping; retry against another instance or after restart");
        r.retry_after = 5;
        c->close_after = 1;
    } else if (route == R_NONE) {
        api_error(&r, 404, "not_found",
                  "no route %s; routes: /health /metrics /signals/generate /backtest /backtests "
                  "/backtests/{id} /signals /paper/sessions /paper/sessions/{id} /orderbook/{exchange}/{symbol} "
                  "/funding/{exchange}/{symbol} /market/{symbol}/{interval} /optimize /optimize/{id} /ws /openapi.json", c->path);
    } else if ((is_post_route && c->method != LWSHUMETH_POST) || (!is_post_route && c->method != LWSHUMETH_GET)) {
        api_error(&r, 405, "method_not_allowed", "%s takes %s, not %s", api_route_names[route], allow, c->method_name);
        r.allow = allow;
    } else if (route == R_WS) {
        api_error(&r, 400, "upgrade_required", "/ws is a websocket: send Upgrade: websocket (see docs/api.md)");
    } else if (bad_query) {
        r = qr;
        memset(&qr, 0, sizeof qr);
    } else if (route == R_HEALTH || route == R_METRICS || route == R_OPENAPI) {   /* no token needed */
        if (route == R_HEALTH) {   /* details (addresses, error texts) only for a caller with a read token */
            api_reply_t ar;
            memset(&ar, 0, sizeof ar);
            req.detail = s->cfg.no_auth ||
                         (lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
                          authenticate(s, c->wsi, NULL, 0, c->subject, sizeof c->subject, c->scope,
                                       sizeof c->scope, &ar) == 0);
            reply_clear(&ar);
        }
        api_handle_sync(s, &req, &r);
    } else {
        const char *tok = NULL;
        int st = authenticate(s, c->wsi, tok, is_post_route, c->subject, sizeof c->subject, c->scope,
                              sizeof c->scope, &r);
        if (st == 0) {
            if (c->body_too_big) {
                api_error(&r, 413, "payload_too_large", "the request body is over the limit of %zu bytes", s->cfg.max_body);
            } else {
                const char *who = c->subject[0] && !s->cfg.no_auth ? c->subject : c->client;
                double per_min = is_post_route ? s->cfg.rate_write : s->cfg.rate_read;
                double wait = mts_limiter_take(s->limiter, who, is_post_route, per_min, mono());
                if (wait > 0) {
                    mts_prom_rate_limited(s->prom, route);
                    api_error(&r, 429, "rate_limited", "%s allows %g requests a minute per client; retry in %.0f s",
                              is_post_route ? "this route" : "reading", per_min, retry_after(wait));
                    r.retry_after = (int)retry_after(wait);
                } else if (is_post_route) {
                    api_job_t *job = mts_calloc(1, sizeof *job);
                    if (!job) api_error(&r, 500, "internal", "out of memory");
                    else if (api_parse_job(&s->cfg, &req, job, &r) != 0) api_job_free(job);
                    else if (route == R_OPTIMIZE) api_opt_start(s, job, &r);   /* a background job: 202 */
                    else if (enqueue(s, job) != 0) {
                        api_job_free(job);
                        api_error(&r, 503, "busy", "all %d workers are busy and %d jobs are waiting; retry shortly",
                                  s->n_threads, s->cfg.queue);
                        r.retry_after = 2;
                    } else {
                        job->conn = c;
                        c->job = job;
                        lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
                        reply_clear(&qr);
                        return;   /* answered when the worker is done */
                    }
                } else {
                    api_handle_sync(s, &req, &r);
                }
            }
        }
    }
    reply_clear(&qr);
    if (send_reply(s, c, &r) != 0) lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* ---- websocket ---- */

static void ws_push(api_server_t *s, conn_t *c, wsmsg_t *m) {
    if (c->q_len == WS_QUEUE) {   /* slow client: drop the oldest */
        wsmsg_t *old = c->q[c->q_head];
        if (--old->refs == 0) free(old);
        c->q_head = (c->q_head + 1) % WS_QUEUE;
        c->q_len--;
        c->dropped++;
        mts_prom_ws_dropped(s->prom, 1);
    }
    if (c->q_len == 0) c->last_write = mono();
    m->refs++;
    c->q[(c->q_head + c->q_len) % WS_QUEUE] = m;
    c->q_len++;
    lws_callback_on_writable(c->wsi);
}

static wsmsg_t *msg_new(const char *text, size_t len) {
    wsmsg_t *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m) return NULL;
    m->refs = 0;
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    return m;
}

/* A reply to one client (pong, subscribed, error). */
static void ws_send_text(api_server_t *s, conn_t *c, const char *text) {
    wsmsg_t *m = msg_new(text, strlen(text));
    if (m) ws_push(s, c, m);
}

static void ws_error(api_server_t *s, conn_t *c, const char *code, const char *detail) {
    char buf[600], d[400];
    esc(detail, d, sizeof d);
    snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"detail\":\"%s\"}", code, d);
    ws_send_text(s, c, buf);
}

static void ws_message(api_server_t *s, conn_t *c) {
    cJSON *j = cJSON_ParseWithLength(c->rx, c->rx_len);
    if (!cJSON_IsObject(j)) {
        ws_error(s, c, "bad_message", "send a JSON object: {\"op\":\"subscribe\",\"topics\":[...]} or {\"op\":\"ping\"}");
        cJSON_Delete(j);
        return;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
    if (!cJSON_IsString(op)) {
        ws_error(s, c, "bad_message", "field 'op' (a string: subscribe or ping) is missing");
    } else if (!strcmp(op->valuestring, "ping")) {
        ws_send_text(s, c, "{\"op\":\"pong\"}");
    } else if (!strcmp(op->valuestring, "subscribe")) {
        const cJSON *topics = cJSON_GetObjectItemCaseSensitive(j, "topics"), *t;
        int ok = cJSON_IsArray(topics) && cJSON_GetArraySize(topics) <= 16;
        cJSON_ArrayForEach(t, topics) {
            if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) >= sizeof c->topics[0]) ok = 0;
        }
        if (!ok) {
            ws_error(s, c, "bad_message", "field 'topics' must be an array of at most 16 topic names "
                                          "(signal, fill, equity, bar, session, ...); [] = every topic");
        } else {
            c->n_topics = 0;
            char buf[1024];
            size_t o = (size_t)snprintf(buf, sizeof buf, "{\"op\":\"subscribed\",\"topics\":[");
            cJSON_ArrayForEach(t, topics) {
                snprintf(c->topics[c->n_topics], sizeof c->topics[0], "%s", t->valuestring);
                char e[80];
                esc(t->valuestring, e, sizeof e);
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\"", c->n_topics ? "," : "", e);
                c->n_topics++;
            }
            snprintf(buf + o, sizeof buf - o, "]}");
            ws_send_text(s, c, buf);
        }
    } else {
        ws_error(s, c, "bad_message", "unknown op; use subscribe or ping");
    }
    cJSON_Delete(j);
}

static int ws_wants(const conn_t *c, const char *topic) {
    if (c->n_topics == 0) return 1;
    for (int i = 0; i < c->n_topics; i++)
        if (!strcmp(c->topics[i], topic)) return 1;
    return 0;
}

static int on_bus_message(void *ud, const char *id, const char *topic, const char *payload, size_t len) {
    api_server_t *s = ud;
    mts_prom_bus_message(s->prom, topic);
    int is_signal = !strcmp(topic, "signal");
    if (!s->ws_clients && !is_signal) return 0;
    /* the payload is a JSON object; anything else is passed as a string */
    cJSON *j = cJSON_ParseWithLength(payload, len);
    int is_obj = cJSON_IsObject(j);
    if (is_signal && is_obj) {   /* signals of `mts run`: counted by strategy and asset */
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "strategy");
        const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "asset");
        if (cJSON_IsString(st) && cJSON_IsString(as)) mts_prom_signal(s->prom, st->valuestring, as->valuestring);
    }
    cJSON_Delete(j);
    if (!s->ws_clients) return 0;
    char *raw = NULL;
    size_t rawlen = 0;
    FILE *f = open_memstream(&raw, &rawlen);
    if (!f) return 0;
    fputs("{\"topic\":\"", f);
    mts_json_escape(f, topic);
    fputs("\",\"id\":\"", f);
    mts_json_escape(f, id);
    fputs("\",\"data\":", f);
    if (is_obj) fwrite(payload, 1, len, f);
    else {
        char *copy = strndup(payload, len);
        fputc('"', f);
        mts_json_escape(f, copy);
        fputc('"', f);
        free(copy);
    }
    fputc('}', f);
    fclose(f);
    wsmsg_t *m = raw ? msg_new(raw, rawlen) : NULL;
    free(raw);
    if (!m) return 0;
    for (conn_t *c = s->ws_clients; c; c = c->next_ws)
        if (ws_wants(c, topic)) ws_push(s, c, m);
    if (m->refs == 0) free(m);
    return 0;
}

static void open_bus(api_server_t *s) {
    mts_bus_config_t bc = {.redis_url = s->cfg.redis_url, .db_path = s->cfg.db_path, .timeout_ms = 200};
    int rc = mts_bus_open(&bc, &s->bus);
    if (rc != 0) {
        snprintf(s->bus_error, sizeof s->bus_error, "%s", s->bus ? mts_bus_errmsg(s->bus) : mts_strerror(rc));
        mts_bus_close(s->bus);
        s->bus = NULL;
        s->bus_retry_at = mono() + 5;
        mts_log(MTS_LOG_WARN, "serve.bus_unavailable", "\"error\":\"%s\"", s->bus_error);
        return;
    }
    s->bus_error[0] = 0;
    /* resolve "$" now: clients get what is published after the server is up */
    snprintf(s->bus_cursor, sizeof s->bus_cursor, "$");
    if (mts_bus_poll(s->bus, s->bus_cursor, BUS_BATCH, on_bus_message, s) < 0)
        snprintf(s->bus_error, sizeof s->bus_error, "%s", mts_bus_errmsg(s->bus));
}

/* How many bus messages the websocket queues can take now without a drop:
 * the free room of the fullest queue among clients that keep up. A client
 * with messages waiting and nothing written for WS_STALL_S is not counted: it
 * loses its oldest messages instead of holding the bus back for everyone. */
static int bus_room(const api_server_t *s) {
    double now = mono();
    int used = 0;
    for (const conn_t *c = s->ws_clients; c; c = c->next_ws)
        if (c->q_len > used && now - c->last_write < WS_STALL_S) used = c->q_len;
    return WS_QUEUE - used;
}

static void poll_bus(lws_sorted_usec_list_t *sul) {
    api_server_t *s = lws_container_of(sul, struct api_poll, sul)->s;
    lws_usec_t next = BUS_POLL_US;
    if (!s->bus && mono() >= s->bus_retry_at) open_bus(s);
    if (s->bus) {
        int room = s->ws_clients ? bus_room(s) : BUS_BATCH;
        if (room > BUS_BATCH) room = BUS_BATCH;
        if (room <= 0) next = BUS_SOON_US;
        else {
            int n = mts_bus_poll(s->bus, s->bus_cursor, room, on_bus_message, s);
            if (n < 0) {
                snprintf(s->bus_error, sizeof s->bus_error, "%s", mts_bus_errmsg(s->bus));
            } else {
                s->bus_error[0] = 0;
                if (n == room) next = BUS_SOON_US;   /* more may be waiting */
            }
        }
    }
    lws_sul_schedule(s->ctx, 0, sul, poll_bus, next);
}

/* ---- the callback ---- */

static int reject_ws(struct lws *wsi, int status, const api_reply_t *r) {
    /* the upgrade is refused before any websocket framing: a plain HTTP answer */
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                     "%sconnection: close\r\n\r\n",
                     status, status == 401 ? "Unauthorized" : status == 403 ? "Forbidden" :
                     status == 404 ? "Not Found" : status == 429 ? "Too Many Requests" : "Service Unavailable",
                     r->len, status == 401 ? "www-authenticate: Bearer realm=\"mts\"\r\n" : "");
    int fd = lws_get_socket_fd(wsi);
    if (fd >= 0) {
        ssize_t w = send(fd, head, (size_t)n, MSG_NOSIGNAL);
        if (w == n && r->len) w = send(fd, r->body, r->len, MSG_NOSIGNAL);
        (void)w;
    }
    return -1;
}

/* A connection just accepted: counted against its address, or (over
 * max_conns_per_ip) answered 503 and closed by lws when this returns -1. */
static int filter_connection(api_server_t *s, const struct lws_filter_network_conn_args *a) {
    if (!s->peers) return 0;
    int held = mts_peers_accept(s->peers, (int)a->accept_fd, (const struct sockaddr *)&a->cli_addr, a->clilen,
                                s->cfg.max_conns_per_ip);
    if (s->cfg.max_conns_per_ip <= 0 || held < s->cfg.max_conns_per_ip) return 0;
    mts_prom_conn_refused(s->prom);
    int fd = (int)a->accept_fd;
    char body[400], head[600];
    int bl = snprintf(body, sizeof body,
                      "{\"error\":\"too_many_connections\",\"detail\":\"your address holds %d connections, the "
                      "limit (mts serve --max-conns-per-ip); close some or retry later\"}", held);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                      "retry-after: 5\r\nconnection: close\r\n\r\n%s", bl, body);
    /* what the client sent already is read first, so the close is a FIN
     * (the answer arrives) rather than a reset */
    char junk[4096];
    while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {}
    ssize_t w = send(fd, head, (size_t)hl, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    double now = mono();
    if (now - s->refused_logged_at >= 5.0) {
        char addr[64] = "";
        if (a->cli_addr.ss_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->cli_addr)->sin_addr, addr, sizeof addr);
        else if (a->cli_addr.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->cli_addr)->sin6_addr, addr, sizeof addr);
        mts_log(MTS_LOG_WARN, "serve.conn_limit", "\"client\":\"%s\",\"connections\":%d,\"limit\":%d,"
                "\"refused_unlogged\":%ld", addr, held, s->cfg.max_conns_per_ip, s->refused_unlogged);
        s->refused_logged_at = now;
        s->refused_unlogged = 0;
    } else {
        s->refused_unlogged++;
    }
    return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    api_server_t *s = lws_context_user(lws_get_context(wsi));
    conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:   /* wsi: the listener; user: the peer address; in: the fd */
        return s && user ? filter_connection(s, user) : 0;
    case LWS_CALLBACK_WSI_CREATE:                  /* the connection just accepted (or another wsi: no-op) */
        if (s && s->peers) mts_peers_bind(s->peers, wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (s && s->peers) mts_peers_release(s->peers, wsi);
        return 0;
    case LWS_CALLBACK_HTTP: {
        memset(c, 0, offsetof(conn_t, q));
        c->wsi = wsi;
        c->t0 = mono();
        char *uri = NULL;
        int ulen = 0;
        c->method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
        snprintf(c->method_name, sizeof c->method_name, "%s", method_name(c->method));
        snprintf(c->path, sizeof c->path, "%.*s", (int)len, (const char *)in);
        lws_get_peer_simple(wsi, c->client, sizeof c->client);
        const char *allow;
        c->route = route_of(c->path, &c->id, &allow);
        if (c->method == LWSHUMETH_POST) {
            char cl[32] = "";
            if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
                long long n = atoll(cl);
                if (n > 0) {
                    c->expect_body = 1;
                    c->body_too_big = (size_t)n > s->cfg.max_body;
                    if (n > 8LL * 1024 * 1024) {   /* not worth draining: answer and close */
                        c->close_after = 1;
                        c->expect_body = 0;
                    }
                    if (c->expect_body) return 0;   /* body callbacks follow */
                }
            }
        }
        dispatch(s, c);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!c->expect_body) return 0;
        /* lws restarts its body timeout at every chunk: a body dripping a byte
         * at a time would hold the connection for ever. The whole body gets
         * idle_timeout_s from the end of the head (checked here, at the next
         * chunk; a body that stops is cut by lws' timeout). */
        if (mono() - c->t0 > s->cfg.idle_timeout_s) {
            mts_log(MTS_LOG_WARN, "serve.body_timeout", "\"client\":\"%s\",\"received\":%zu,\"seconds\":%d",
                    c->client, c->body_len, s->cfg.idle_timeout_s);
            return -1;
        }
        /* libwebsockets 4.1 defect: a POST pipelined behind another request on
         * the same connection gets the bytes of its own request head as its
         * "body". A JSON body never starts with "POST /"; refuse such a request. */
        if (c->body_len == 0 && !c->body_too_big && len && !memcmp(in, "POST /", len < 6 ? len : 6)) c->body_bogus = 1;
        if (c->body_too_big || c->body_len + len > s->cfg.max_body) {
            c->body_too_big = 1;   /* drained, not kept */
            return 0;
        }
        if (c->body_len + len + 1 > c->body_cap) {
            size_t cap = c->body_cap ? c->body_cap * 2 : 4096;
            while (cap < c->body_len + len + 1) cap *= 2;
            char *b = realloc(c->body, cap);
            if (!b) return -1;
            c->body = b;
            c->body_cap = cap;
        }
        memcpy(c->body + c->body_len, in, len);
        c->body_len += len;
        c->body[c->body_len] = 0;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->body_done) {
            /* libwebsockets 4.1 repeats this callback without end when the
             * request (headers and body) came from data pipelined behind an
             * earlier request: it would spin the service thread. Answer now
             * (if the answer is ready) and close the connection. */
            c->close_after = 1;
            if (c->job) {   /* its answer would come too late: refuse it (the worker's result is dropped) */
                c->job->conn = NULL;
                c->job = NULL;
                api_reply_t r;
                memset(&r, 0, sizeof r);
                api_error(&r, 400, "pipelined_post", "a POST must not be pipelined behind another request on the "
                          "same connection: send it after the previous answer, or on its own connection");
                if (send_reply(s, c, &r) != 0) return -1;
            }
            if (c->responding && !c->hdr_sent && !lws_send_pipe_choked(wsi)) write_more(s, c);
            return -1;
        }
        if (!c->expect_body) return 0;
        c->expect_body = 0;
        c->body_done = 1;
        if (c->body_bogus) {
            c->active = 1;
            c->close_after = 1;
            api_reply_t r;
            memset(&r, 0, sizeof r);
            api_error(&r, 400, "pipelined_post", "a POST must not be pipelined behind another request on the "
                      "same connection: send it after the previous answer, or on its own connection");
            if (send_reply(s, c, &r) != 0) return -1;
            return 0;
        }
        dispatch(s, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!c || c->is_ws) return 0;
        return write_more(s, c);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && !c->is_ws) {
            if (c->job) c->job->conn = NULL;   /* the worker's answer is dropped */
            if (c->responding) s->responses_pending--;
            c->responding = 0;
            conn_reset_request(c);
        }
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char path[256] = "";
        lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI);
        api_reply_t r;
        memset(&r, 0, sizeof r);
        if (s->draining) {
            api_error(&r, 503, "shutting_down", "the server is stopping");
            int rc = reject_ws(wsi, 503, &r);
            reply_clear(&r);
            return rc;
        }
        if (strcmp(path, "/ws") != 0) {
            api_error(&r, 404, "not_found", "websockets are served on /ws only");
            int rc = reject_ws(wsi, 404, &r);
            reply_clear(&r);
            return rc;
        }
        char token[MTS_JWT_MAX_TOKEN + 16] = "", frag[MTS_JWT_MAX_TOKEN + 16];
        for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; i++)
            if (!strncmp(frag, "token=", 6)) memcpy(token, frag + 6, strlen(frag + 6) + 1);
        char subject[128], scope[64], client[64] = "";
        int st = authenticate(s, wsi, token, 0, subject, sizeof subject, scope, sizeof scope, &r);
        if (st == 0) {
            lws_get_peer_simple(wsi, client, sizeof client);
            double wait = mts_limiter_take(s->limiter, subject[0] && !s->cfg.no_auth ? subject : client, 0,
                                           s->cfg.rate_read, mono());
            if (wait > 0) {
                mts_prom_rate_limited(s->prom, R_WS);
                api_error(&r, 429, "rate_limited", "too many requests; retry in %.0f s", retry_after(wait));
                st = 429;
            }
        }
        mts_prom_http(s->prom, R_WS, "GET", st ? st : 101, -1);
        if (st) {
            int rc = reject_ws(wsi, st, &r);
            reply_clear(&r);
            return rc;
        }
        reply_clear(&r);
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->is_ws = 1;
        c->t0 = mono();
        lws_get_peer_simple(wsi, c->client, sizeof c->client);
        c->next_ws = s->ws_clients;
        s->ws_clients = c;
        s->n_ws++;
        mts_log(MTS_LOG_INFO, "ws.open", "\"client\":\"%s\",\"clients\":%d", c->client, s->n_ws);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (c->rx_len + len > sizeof c->rx) {   /* the client says what it wants in far fewer bytes */
            static const char why[] = "client messages are limited to 4096 bytes";
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why, sizeof why - 1);
            return -1;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            ws_message(s, c);
            c->rx_len = 0;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (!c->q_len) return s->draining ? -1 : 0;
        /* HTTP/1: more than one write per callback is fine while the socket
         * takes them (a partial write is buffered by lws and reads as choked) */
        for (int k = 0; k < WS_WRITES && c->q_len; k++) {
            if (k && lws_send_pipe_choked(wsi)) break;
            wsmsg_t *m = c->q[c->q_head];
            c->q_head = (c->q_head + 1) % WS_QUEUE;
            c->q_len--;
            int w = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
            if (--m->refs == 0) free(m);
            if (w < 0) return -1;
            c->last_write = mono();
        }
        if (c->q_len) lws_callback_on_writable(wsi);
        if (s->draining) return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED: {
        if (!c || !c->is_ws) return 0;   /* an upgrade refused before it was established */
        for (conn_t **p = &s->ws_clients; *p; p = &(*p)->next_ws)
            if (*p == c) { *p = c->next_ws; s->n_ws--; break; }
        while (c->q_len) {
            wsmsg_t *m = c->q[c->q_head];
            if (--m->refs == 0) free(m);
            c->q_head = (c->q_head + 1) % WS_QUEUE;
            c->q_len--;
        }
        mts_log(MTS_LOG_INFO, "ws.close", "\"client\":\"%s\",\"dropped\":%ld,\"seconds\":%.1f",
                c->client, c->dropped, mono() - c->t0);
        return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s) collect_done(s);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(conn_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void lws_to_log(int level, const char *line) {
    char buf[512];
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    char msg[400];
    snprintf(msg, sizeof msg, "%.*s", (int)n, line);
    esc(msg, buf, sizeof buf);
    mts_log(level & LLL_ERR ? MTS_LOG_ERROR : MTS_LOG_WARN, "serve.lws", "\"message\":\"%s\"", buf);
}

/* ---- start and stop ---- */

/* Tells the workers to stop and joins them: a backtest still running is
 * cancelled (engine.h: seen within 1024 bars; a single strategy call is
 * bounded by its time budget) and answers no one. Jobs still queued are left
 * for server_free. Call after the context is gone (ctx_gone set), so no
 * answer can reach a client. */
static void stop_workers(api_server_t *s) {
    s->cancel_jobs = 1;
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    int busy = s->running;
    pthread_mutex_unlock(&s->mu);
    if (busy) mts_log(MTS_LOG_WARN, "serve.waiting_for_workers", "\"running\":%d", busy);
    double t0 = mono();
    for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
    s->n_threads = 0;
    if (busy) mts_log(MTS_LOG_INFO, "serve.workers_joined", "\"running\":%d,\"waited_s\":%.3f", busy, mono() - t0);
}

static void server_free(api_server_t *s) {
    for (api_job_t *j = s->q_head, *n; j; j = n) { n = j->next; api_job_free(j); }
    for (api_job_t *j = s->done, *n; j; j = n) { n = j->next; api_job_free(j); }
    if (s->wstores)
        for (int i = 0; i < s->cfg.workers; i++) mts_store_close(s->wstores[i]);
    mts_free(s->wstores);
    mts_free(s->threads);
    mts_bus_close(s->bus);
    mts_cache_close(s->hot);
    mts_free(s->book);
    mts_free(s->poll);
    mts_store_close(s->store);
    mts_prom_free(s->prom);
    mts_limiter_free(s->limiter);
    mts_peers_free(s->peers);
    api_opt_stop_all(s);
    pthread_mutex_destroy(&s->opt_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    mts_free(s);
}

int mts_api_serve(const mts_api_config_t *cfg_in, volatile sig_atomic_t *stop, char *err, size_t errlen) {
    if (!cfg_in || !cfg_in->db_path) return mts_errf(err, errlen, MTS_EINVAL, "serve: no database path");
    if (!cfg_in->no_auth && (!cfg_in->jwt_key || cfg_in->jwt_key_len < MTS_JWT_MIN_SECRET))
        return mts_errf(err, errlen, MTS_ECONFIG, "the JWT secret must be at least %d bytes", MTS_JWT_MIN_SECRET);
    api_server_t *s = mts_calloc(1, sizeof *s);
    if (!s) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->opt_mu, NULL);
    s->cfg = *cfg_in;
    mts_api_config_t *c = &s->cfg;
    if (!c->host || !*c->host) c->host = "127.0.0.1";
    if (c->port < 0) c->port = 8080;
    if (c->workers <= 0) c->workers = 2;
    if (c->queue <= 0) c->queue = 8;
    if (c->max_body == 0) c->max_body = 65536;
    if (!(c->grace_s > 0)) c->grace_s = 30;
    if (c->idle_timeout_s <= 0) c->idle_timeout_s = 30;
    if (c->header_timeout_s <= 0) c->header_timeout_s = 10;
    if (c->max_conns_per_ip < 0) c->max_conns_per_ip = 0;
    snprintf(s->root, sizeof s->root, "%s", c->root ? c->root : mts_root());
    c->root = s->root;
    s->started_mono = mono();
    s->started_unix = (int64_t)time(NULL);
    int rc;

    if ((rc = mts_store_open(c->db_path, &s->store)) != 0) {
        rc = mts_errf(err, errlen, rc, "cannot open the database: %s (check --db PATH)", mts_store_errmsg(s->store));
        goto out;
    }
    s->wstores = mts_calloc((size_t)c->workers, sizeof *s->wstores);
    s->threads = mts_calloc((size_t)c->workers, sizeof *s->threads);
    s->prom = mts_prom_new(api_route_names, R_COUNT);
    s->limiter = mts_limiter_new(4096);
    {   /* one entry per descriptor the process may open (at most 65536 tracked) */
        struct rlimit rl;
        int max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536
                         ? (int)rl.rlim_cur : 65536;
        s->peers = mts_peers_new(max_fd);
        if (!s->peers) {
            rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            goto out;
        }
    }
    s->poll = mts_calloc(1, sizeof *s->poll);
    s->book = mts_malloc(sizeof *s->book);
    if (!s->wstores || !s->threads || !s->prom || !s->limiter || !s->poll || !s->book) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < c->workers; i++)
        if ((rc = mts_store_open(c->db_path, &s->wstores[i])) != 0) {
            rc = mts_errf(err, errlen, rc, "cannot open the database: %s", mts_store_errmsg(s->wstores[i]));
            goto out;
        }
    open_bus(s);
    /* The hot-data reader (hotroutes.c): `...:latest` keys other processes
     * rewrite, so a value read from Redis stays in L1 at most cache_ttl_s
     * (0: not kept, every read asks Redis) — not the hour Redis would give. */
    {
        mts_cache_config_t cc = {.redis_url = c->redis_url, .l1_capacity = 1024, .timeout_ms = 200,
                                 .l2_keep_ms = c->cache_ttl_s > 0 ? c->cache_ttl_s * 1000 : -1};
        if ((rc = mts_cache_open(&cc, &s->hot)) != 0) {
            rc = mts_errf(err, errlen, rc, "%s", mts_cache_errmsg(NULL));
            goto out;
        }
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = c->port;
    info.iface = c->host;
    info.protocols = protocols;
    info.user = s;
    info.max_http_header_data = MTS_JWT_MAX_TOKEN + 4096;
    /* no pool below the descriptor limit (lws' default when 0): with a pool of
     * 256, 256 half-sent heads made every new client wait for a buffer until
     * one of them timed out — /health took seconds (slowloris). A buffer is
     * allocated while a head is being read and freed after it. */
    info.max_http_header_pool = 0;
    info.keepalive_timeout = c->idle_timeout_s;
    info.timeout_secs = (unsigned)c->idle_timeout_s;
    /* the whole request head within this, from its first byte (lws: an
     * attached header buffer is held at most this long) */
    info.timeout_secs_ah_idle = (unsigned)c->header_timeout_s;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (!strchr(c->host, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        rc = mts_errf(err, errlen, MTS_EIO, "cannot listen on %s:%d (port in use, or not a local address?)",
                  c->host, c->port);
        goto out;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "default");
    int port = vh ? lws_get_vhost_listen_port(vh) : c->port;

    for (int i = 0; i < c->workers; i++) {
        wctx_t *w = mts_malloc(sizeof *w);
        if (!w) { rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory"); goto out_ctx; }
        w->s = s;
        w->i = i;
        if (pthread_create(&s->threads[i], NULL, worker_main, w) != 0) {
            mts_free(w);
            rc = mts_errf(err, errlen, MTS_EIO, "cannot start worker threads");
            goto out_ctx;
        }
        s->n_threads++;
    }
    s->poll->s = s;
    lws_sul_schedule(s->ctx, 0, &s->poll->sul, poll_bus, BUS_POLL_US);
    mts_log(MTS_LOG_INFO, "serve.listening", "\"host\":\"%s\",\"port\":%d,\"workers\":%d,\"auth\":%s,\"bus\":\"%s\"",
            c->host, port, c->workers, c->no_auth ? "false" : "true", s->bus ? mts_bus_backend(s->bus) : "unavailable");
    if (c->on_listening) c->on_listening(port, c->ud);

    double deadline = 0;
    for (;;) {
        if (lws_service(s->ctx, 0) < 0) break;
        if (*stop && !s->draining) {
            s->draining = 1;
            deadline = mono() + c->grace_s;
            mts_log(MTS_LOG_INFO, "serve.stopping", "\"in_flight\":%d", s->jobs_outstanding + s->responses_pending);
            for (conn_t *w = s->ws_clients; w; w = w->next_ws) lws_callback_on_writable(w->wsi);
        }
        if (s->draining) {
            if (s->jobs_outstanding == 0 && s->responses_pending == 0) break;
            if (mono() > deadline) {
                mts_log(MTS_LOG_WARN, "serve.stop_timeout", "\"in_flight\":%d,\"grace_s\":%g",
                        s->jobs_outstanding + s->responses_pending, c->grace_s);
                break;
            }
        }
    }
    rc = 0;
out_ctx:
    lws_sul_cancel(&s->poll->sul);
    /* connections close (a job whose client is gone is answered to no one),
     * then the workers are joined, then everything is freed */
    pthread_mutex_lock(&s->mu);
    s->ctx_gone = 1;
    pthread_mutex_unlock(&s->mu);
    lws_context_destroy(s->ctx);
    s->ctx = NULL;
    stop_workers(s);
out:
    server_free(s);
    return rc;
}
