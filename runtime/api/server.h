/* server.h — `mts serve`: the REST + WebSocket API on one libwebsockets
 * context (one vhost, HTTP/1.1 and websocket upgrades on the same port).
 *
 *   GET  /health                 no auth: status; details with a read token
 *   GET  /metrics                no auth: Prometheus text format 0.0.4
 *   POST /signals/generate       write scope: latest signal per asset (worker thread)
 *   POST /backtest               write scope: run and store a backtest (worker thread)
 *   GET  /backtests, /backtests/{id}, /signals, /paper/sessions, /paper/sessions/{id}
 *   GET  /orderbook/{exchange}/{symbol}, /funding/{exchange}/{symbol},
 *        /market/{symbol}/{interval}: the newest value, L1 → Redis → database (hotroutes.c, cache/cache.h)
 *   GET  /ws                     websocket: bus messages pushed as JSON text frames
 *
 * GET /health without a token answers the status and each check's ok only; a
 * read token gets the details (latencies, counts, error texts with addresses).
 * Connections: at most max_conns_per_ip per client address (api/peers.h),
 * every request head complete within header_timeout_s; header buffers are
 * not pooled below the descriptor limit, so held heads never make a new
 * client wait for one.
 *
 * Every other request needs "Authorization: Bearer <HS256 JWT>" (api/jwt.h)
 * with scope "read" (GETs, /ws) or "write" (also POSTs); each client (JWT
 * subject, else peer address) has token buckets per route class
 * (api/limiter.h). Backtests and signal generation run on cfg->workers
 * threads, each with its own store handle, fed by a bounded queue (503 with
 * Retry-After when full); results go back to the service thread through
 * lws_cancel_service(). The bus (cache/bus.h) is polled every 50 ms from the
 * service loop and fanned out to websocket clients, each with a bounded queue
 * that drops its oldest message when full. docs/api.md documents the wire.
 *
 * Needs libwebsockets, cJSON, pthreads, api/jwt.h, api/prom.h, api/limiter.h,
 * api/queries.h, backtest/backtest.h, cache/bus.h, util/log.h.
 * Errors: 0 or a negative MTS_E* with a message in err. */
#ifndef MTS_API_SERVER_H
#define MTS_API_SERVER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "mts.h"

typedef struct mts_api_config {
    const char *host;              /* listen address; default "127.0.0.1" */
    int         port;              /* 0 = any free port (on_listening tells which) */
    const char *db_path;           /* the mts database (required) */
    const char *redis_url;         /* NULL or "" = the SQLite bus in db_path, and hot reads
                                      from the database only */
    int         cache_ttl_s;       /* hot reads (hotroutes.c, cache/cache.h l2_keep_ms): seconds a Redis value is served
                                      from the server's L1; 0 = no L1 (serve.c's default: 1) */
    const char *root;              /* scripts/ and config/; NULL = mts_root() */
    const uint8_t *jwt_key;        /* HS256 secret (borrowed); NULL only with no_auth */
    size_t      jwt_key_len;       /* >= MTS_JWT_MIN_SECRET */
    int         no_auth;           /* every request acts as subject "local" with scope write */
    int         workers;           /* backtest threads; default 2 */
    int         queue;             /* waiting jobs before 503; default 8 */
    double      rate_write;        /* per client per minute: POSTs; default 10 */
    double      rate_read;         /* per client per minute: authenticated GETs and /ws; default 300 */
    size_t      max_body;          /* request body limit in bytes; default 65536 */
    double      grace_s;           /* on stop, wait this long for in-flight work; default 30 */
    int         idle_timeout_s;    /* a request body not complete, or a keep-alive connection
                                      idle, this long: closed; default 30 */
    int         header_timeout_s;  /* a request head (request line and headers) not complete this
                                      long after it began: closed, however steadily its bytes
                                      come (slowloris); default 10 */
    int         max_conns_per_ip;  /* open connections one client address (an IPv6 /64) may hold;
                                      more are answered 503 and closed at accept; 0 = no limit;
                                      default 64 (serve.c); behind a proxy raise it or use 0 */
    /* POST /backtest and /signals/generate defaults (the CLI's: cmd.h) */
    double      capital, commission_bps, slippage_bps, risk_free;
    void      (*on_listening)(int port, void *ud);   /* optional: called once bound */
    void       *ud;
} mts_api_config_t;

/* Runs until *stop becomes non-zero (set it from a signal handler), then stops
 * taking requests (503), lets in-flight ones finish for up to grace_s and
 * returns 0. Errors (cannot listen, cannot open the database) return at once. */
int mts_api_serve(const mts_api_config_t *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
