/* internal.h — what server.c (libwebsockets, connections, auth, limits,
 * workers, websocket fan-out) shares with handlers.c (the endpoints' JSON).
 * Not for use outside runtime/api. */
#ifndef MTS_API_INTERNAL_H
#define MTS_API_INTERNAL_H

#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "cache/cache.h"
#include "api/jwt.h"
#include "api/limiter.h"
#include "api/prom.h"
#include "api/queries.h"
#include "api/server.h"
#include "backtest/backtest.h"
#include "cache/bus.h"
#include "store/store.h"
#include "research/research.h"

enum {
    R_HEALTH, R_METRICS, R_SIGNALS_GENERATE, R_BACKTEST, R_BACKTESTS, R_BACKTEST_ID,
    R_SIGNALS, R_SESSIONS, R_SESSION_ID, R_WS, R_ORDERBOOK, R_FUNDING, R_MARKET, R_OPTIMIZE, R_OPTIMIZE_ID,
    R_OPENAPI,
    R_COUNT
};
#define R_NONE (-1)

/* An answer: status, body (malloc'd by libc: open_memstream), content type. */
typedef struct api_reply {
    int status;
    char *body;
    size_t len;
    const char *ctype;          /* static; NULL = application/json */
    int retry_after;            /* > 0: Retry-After header, seconds */
    const char *allow;          /* static; 405: Allow header */
    int www_auth;               /* 401: WWW-Authenticate header */
} api_reply_t;

#define API_MAX_ARGS 16
#define API_ARG_MAX  256            /* bytes of one "k=v" query parameter, with its NUL */
typedef struct api_request {
    int route, method;          /* method: LWSHUMETH_* */
    const char *method_name;
    int64_t id;                 /* the {id} of the route */
    const char *path;           /* the decoded path (hot routes: their two {segments}) */
    const char *args[API_MAX_ARGS];   /* "k=v", urldecoded */
    int n_args;
    const char *body;
    size_t body_len;
    const char *subject;
    int detail;                 /* GET /health: the caller sent an accepted token (scope read), or --no-auth */
} api_request_t;

#define API_MAX_LIST 32
#define API_MAX_PARAMS 64
typedef struct api_job {
    int route;                  /* R_BACKTEST, R_SIGNALS_GENERATE or R_OPTIMIZE */
    char *strategies[API_MAX_LIST];
    int n_strategies;
    char *assets[API_MAX_LIST];
    int n_assets;
    char *pkeys[API_MAX_PARAMS], *pvals[API_MAX_PARAMS];
    int n_params;
    int64_t from, to;
    char interval[8];           /* the bars' interval (market/interval.h), "1d" by default */
    double capital, commission_bps, slippage_bps, risk_free;
    /* issue 12 (POST /backtest, /optimize): the run options of mts_backtest_opts_t,
     * the body's mode, allocate ({"NAME": F} as "NAME=F,..."; backtest only),
     * max_position, max_portfolio_risk, market, leverage, maker_bps, taker_bps;
     * zero / NULL / "": not given */
    char mode[16], market[8];
    char *allocate;
    double max_position, max_portfolio_risk, leverage, maker_bps, taker_bps;
    int has_maker, has_taker;
    /* R_OPTIMIZE: the grid ("params": axes), metric, threads, what to store */
    mts_grid_t grid;
    char metric[32];
    int jobs, store;
    /* results, read by the service thread after the worker hands the job back */
    api_reply_t reply;
    int found[API_MAX_LIST];    /* generate: asset i produced a signal */
    int ran_backtest;
    /* service thread only */
    struct conn *conn;          /* NULL once the client went away */
    struct api_job *next;
} api_job_t;

typedef struct api_server {
    mts_api_config_t cfg;
    char root[4096];
    struct lws_context *ctx;
    mts_store_t *store;         /* the service thread's */
    mts_bus_t *bus;             /* NULL while it cannot be opened */
    mts_cache_t *hot;           /* hot-data reads: L1 (at most cfg.cache_ttl_s) → Redis */
    mts_apiq_book_t *book;      /* scratch of GET /orderbook */
    char bus_cursor[MTS_BUS_CURSOR_MAX];
    char bus_error[256];
    double bus_retry_at;
    mts_prom_t *prom;
    mts_limiter_t *limiter;
    struct mts_peers *peers;     /* open connections per client address (peers.h) */
    double refused_logged_at;    /* serve.conn_limit log lines: at most one per 5 s */
    long refused_unlogged;
    double started_mono;
    int64_t started_unix;
    /* workers */
    pthread_t *threads;
    mts_store_t **wstores;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    api_job_t *q_head, *q_tail;  /* waiting */
    int q_len, running, quit;
    api_job_t *done;             /* finished, for the service thread */
    int jobs_outstanding;        /* service thread: queued + running + done not yet answered */
    int responses_pending;       /* service thread: answers being written */
    /* websocket clients */
    struct conn *ws_clients;
    int n_ws;
    int draining;
    int ctx_gone;                /* under mu: ctx is being destroyed; workers must not wake it */
    volatile sig_atomic_t cancel_jobs;  /* set when the grace ends: running backtests stop
                                           (mts_backtest_opts_t.cancel) */
    struct api_poll *poll;       /* the bus poll timer (server.c) */
    /* POST /optimize background jobs (optjobs.c), under opt_mu */
    pthread_mutex_t opt_mu;
    struct api_opt *opts;        /* newest first */
    int64_t opt_next_id;
    /* service thread scratch */
    char authbuf[MTS_JWT_MAX_TOKEN + 64];
    char argbuf[API_MAX_ARGS][API_ARG_MAX];
} api_server_t;

extern const char *const api_route_names[R_COUNT];
/* docs/openapi.json as built in (openapi_doc.c): GET /openapi.json */
extern const char mts_openapi_json[], mts_openapi_json_end[];

/* Sets an error reply {"error":code,"detail":...}. */
void api_error(api_reply_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A memstream for a body; api_finish closes it into r (status, body). */
FILE *api_body(api_reply_t *r);
void api_finish(api_reply_t *r, FILE *f, int status);

/* Query parameter helpers (handlers.c): the value of name or NULL; 0, or -1
 * with a 400 in r naming the first parameter not in allowed (NULL-terminated);
 * an integer parameter in [lo, hi] (def when absent), or -1 with a 400. */
const char *api_arg(const api_request_t *req, const char *name);
int api_only_args(const api_request_t *req, const char *const *allowed, api_reply_t *r);
int api_int_arg(const api_request_t *req, const char *name, int lo, int hi, int def, int *out, api_reply_t *r);

/* GET /orderbook/{exchange}/{symbol}, /funding/{exchange}/{symbol},
 * /market/{symbol}/{interval} (hotroutes.c): L1 → Redis → database. */
void api_handle_hot(api_server_t *s, const api_request_t *req, api_reply_t *r);

/* Synchronous endpoints (service thread): health, metrics and the reads. */
void api_handle_sync(api_server_t *s, const api_request_t *req, api_reply_t *r);
/* The request validators: pure functions of the request (route, query
 * parameters, body bytes) and the configuration (defaults; cfg->root for the
 * strategy files), callable without a server (tests/fuzz/fuzz_api_request.c).
 * POST /backtest and /signals/generate bodies into job: 0, or -1 with a 400
 * in r (the caller frees job with api_job_free either way). */
int api_parse_job(const mts_api_config_t *cfg, const api_request_t *req, api_job_t *job, api_reply_t *r);
/* GET /signals query parameters into flt (pointing into req): 0, or -1 with a 400 in r. */
int api_parse_signal_query(const api_request_t *req, mts_apiq_signal_filter_t *flt, api_reply_t *r);
/* Worker threads: run the job with the worker's store; fills job->reply. */
void api_job_run(api_server_t *s, mts_store_t *store, api_job_t *job);
/* A run's error message with the CLI's flags (--allocate, --leverage, ...)
 * renamed to the body's fields (allocate, leverage, ...), in place. */
void api_field_names(char *s, size_t size);
void api_job_free(api_job_t *job);   /* accepts NULL */

/* POST /optimize (optjobs.c): starts job (parsed by api_parse_job; taken over
 * either way) as a background grid search on its own thread and answers 202
 * {"id":N,...}, or 503 when API_OPT_RUNNING jobs run already. Progress goes
 * to the bus as topic "optimize" (so /ws). GET /optimize/{id}: its state and,
 * once done, the ranked results. api_opt_stop_all: cancels and joins them
 * (s->cancel_jobs set) and frees the registry. */
#define API_OPT_RUNNING 2
#define API_OPT_KEEP    32
void api_opt_start(api_server_t *s, api_job_t *job, api_reply_t *r);
void api_opt_get(api_server_t *s, int64_t id, api_reply_t *r);
void api_opt_stop_all(api_server_t *s);

#endif
