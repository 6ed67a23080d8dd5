/* handlers.c — the API's endpoints: their JSON (health, Prometheus metrics,
 * stored backtests, signals, paper sessions), the validation of POST bodies
 * into worker jobs, and the jobs themselves (a backtest, or the latest signal
 * per asset). See server.h for the routes and docs/api.md for the wire. */
#include "alerts/alerts.h"
#include "util/strategies.h"
#include "api/internal.h"
#include "api/queries.h"
#include "backtest/decide.h"
#include "market/interval.h"
#include "report/stored.h"
#include "store/paper.h"
#include "store/store_internal.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#define DISK_MIN_FREE (64LL * 1024 * 1024)   /* /health: less free space is "degraded" */

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void kv_num(FILE *f, const char *k, double v, int comma) {
    fprintf(f, "\"%s\":", k);
    mts_json_number(f, v);
    if (comma) fputc(',', f);
}

static void kv_str(FILE *f, const char *k, const char *v, int comma) {
    fprintf(f, "\"%s\":", k);
    if (!v) fputs("null", f);
    else {
        fputc('"', f);
        mts_json_escape(f, v);
        fputc('"', f);
    }
    if (comma) fputc(',', f);
}

/* ---- query parameters ---- */

/* The value of query parameter name, or NULL. */
static const char *arg(const api_request_t *req, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < req->n_args; i++)
        if (!strncmp(req->args[i], name, n) && req->args[i][n] == '=') return req->args[i] + n + 1;
    return NULL;
}

/* 0, or -1 with a 400 naming the first parameter not in allowed (NULL-terminated). */
static int only_args(const api_request_t *req, const char *const *allowed, api_reply_t *r) {
    for (int i = 0; i < req->n_args; i++) {
        const char *eq = strchr(req->args[i], '=');
        size_t n = eq ? (size_t)(eq - req->args[i]) : strlen(req->args[i]);
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strlen(*a) == n && !strncmp(*a, req->args[i], n)) ok = 1;
        if (!ok) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            api_error(r, 400, "bad_request", "unknown query parameter '%.*s' (accepted: %s)", (int)n,
                      req->args[i], *allowed ? list : "none");
            return -1;
        }
    }
    return 0;
}

const char *api_arg(const api_request_t *req, const char *name) { return arg(req, name); }
int api_only_args(const api_request_t *req, const char *const *allowed, api_reply_t *r) {
    return only_args(req, allowed, r);
}

static int int_arg(const api_request_t *req, const char *name, int lo, int hi, int def, int *out,
                   api_reply_t *r) {
    const char *v = arg(req, name);
    *out = def;
    if (!v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        api_error(r, 400, "bad_request", "query parameter '%s' must be an integer from %d to %d, got '%s'",
                  name, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* ---- /health ---- */

/* Without req->detail (no accepted token): the status and each check's ok
 * only — no addresses, paths, error texts, latencies or counts. */
static void health(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    double db_ms = 0, bus_ms = 0;
    int db_ok = mts_apiq_ping(s->store, &db_ms) == 0;
    int64_t running = 0;
    if (db_ok) (void)mts_paper_recover_stale(s->store, (int64_t)time(NULL), NULL);   /* killed sessions -> crashed */
    /* session_crashed alerts (alerts/alerts.h) for sessions marked crashed, once in all processes
     * (table alerts_fired); this process's alerts and their bus, made on first use, under a lock */
    static pthread_mutex_t alerts_mu = PTHREAD_MUTEX_INITIALIZER;
    static mts_alerts_t *alerts;
    static mts_bus_t *alerts_bus;
    static int alerts_tried;
    pthread_mutex_lock(&alerts_mu);
    if (!alerts_tried) {
        alerts_tried = 1;
        char aerr[256];
        mts_alerts_config_t ac = {.source = "serve"};
        if (mts_alerts_open(&ac, &alerts, aerr, sizeof aerr) != 0)
            mts_log(MTS_LOG_ERROR, "api.alerts_config", "\"error\":\"%s\"", aerr);
        mts_bus_config_t bc = {.redis_url = s->cfg.redis_url, .db_path = s->cfg.db_path};
        if (mts_alerts_has(alerts, MTS_ALERT_SESSION_CRASHED) && mts_bus_open(&bc, &alerts_bus) == 0)
            mts_alerts_set_bus(alerts, alerts_bus);
    }
    if (db_ok) (void)mts_alerts_check_sessions(alerts, mts_store_db(s->store));
    pthread_mutex_unlock(&alerts_mu);
    /* the external APIs' breakers, as their processes (mts collect, mts run) recorded them */
    char *brk = NULL;
    size_t brk_len = 0;
    int brk_open = 0;
    FILE *bf = open_memstream(&brk, &brk_len);
    if (bf) {
        mts_alerts_breakers_json(bf, db_ok ? mts_store_db(s->store) : NULL, &brk_open);
        if (fclose(bf) != 0) { free(brk); brk = NULL; }
    }
    int sessions_ok = db_ok && mts_apiq_running_sessions(s->store, &running) == 0;
    int redis_conf = s->cfg.redis_url && *s->cfg.redis_url;
    int bus_ok = s->bus && mts_bus_ping(s->bus, &bus_ms) == 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", s->cfg.db_path);
    struct statvfs vfs;
    int disk_known = statvfs(dirname(dir), &vfs) == 0;
    long long free_bytes = disk_known ? (long long)vfs.f_bavail * (long long)vfs.f_frsize : -1;
    int disk_ok = disk_known && free_bytes >= DISK_MIN_FREE;
    const char *status = !db_ok ? "down" : (!bus_ok || !disk_ok) ? "degraded" : "ok";
    pthread_mutex_lock(&s->mu);
    int queued = s->q_len, busy = s->running;
    pthread_mutex_unlock(&s->mu);

    FILE *f = api_body(r);
    if (!f) { free(brk); api_finish(r, NULL, 500); return; }
    if (!req->detail) {
        fprintf(f, "{\"status\":\"%s\",\"version\":\"%s\",\"checks\":{\"database\":{\"ok\":%s},"
                   "\"redis\":{\"configured\":%s,\"ok\":%s},\"bus\":{\"backend\":\"%s\",\"ok\":%s},"
                   "\"disk_space\":{\"ok\":%s},\"paper_sessions\":{\"ok\":%s},\"external_apis\":{\"ok\":%s}},"
                   "\"details\":\"send Authorization: Bearer <token> (scope read) for the details\"}",
                status, MTS_VERSION, db_ok ? "true" : "false", redis_conf ? "true" : "false",
                !redis_conf ? "null" : bus_ok ? "true" : "false",
                s->bus ? mts_bus_backend(s->bus) : redis_conf ? "redis" : "sqlite", bus_ok ? "true" : "false",
                disk_ok ? "true" : "false", sessions_ok ? "true" : "false", brk_open ? "false" : "true");
        free(brk);
        api_finish(r, f, db_ok ? 200 : 503);
        return;
    }
    fprintf(f, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.3f,", status, MTS_VERSION,
            mono() - s->started_mono);
    fprintf(f, "\"checks\":{\"database\":{\"ok\":%s,\"latency_ms\":", db_ok ? "true" : "false");
    if (db_ok) mts_json_number(f, db_ms);
    else fputs("null", f);
    if (!db_ok) {
        fputc(',', f);
        kv_str(f, "error", mts_store_errmsg(s->store), 0);
    }
    fprintf(f, "},\"redis\":{\"configured\":%s,\"ok\":%s,\"latency_ms\":", redis_conf ? "true" : "false",
            !redis_conf ? "null" : bus_ok ? "true" : "false");
    if (redis_conf && bus_ok) mts_json_number(f, bus_ms);
    else fputs("null", f);
    fprintf(f, "},\"bus\":{\"backend\":\"%s\",\"ok\":%s", s->bus ? mts_bus_backend(s->bus) : redis_conf ? "redis" : "sqlite",
            bus_ok ? "true" : "false");
    if (!bus_ok) {
        fputc(',', f);
        kv_str(f, "error", s->bus ? mts_bus_errmsg(s->bus) : s->bus_error, 0);
    }
    fprintf(f, "},\"disk_space\":{\"ok\":%s,\"free_bytes\":%lld,\"min_free_bytes\":%lld}",
            disk_ok ? "true" : "false", free_bytes, DISK_MIN_FREE);
    fprintf(f, ",\"paper_sessions\":{\"ok\":%s,\"running\":%lld}", sessions_ok ? "true" : "false", (long long)running);
    fprintf(f, ",\"workers\":{\"threads\":%d,\"busy\":%d,\"queued\":%d,\"queue_limit\":%d}",
            s->n_threads, busy, queued, s->cfg.queue);
    /* an open breaker does not degrade the status: the API serves stored data without the vendor */
    fprintf(f, ",\"external_apis\":{\"ok\":%s,\"open\":%d,\"breakers\":%s}}}", brk_open ? "false" : "true",
            brk_open, brk ? brk : "[]");
    free(brk);
    api_finish(r, f, db_ok ? 200 : 503);
}

/* ---- /metrics ---- */

static void metrics(api_server_t *s, api_reply_t *r) {
    FILE *f = api_body(r);
    if (!f) { api_finish(r, NULL, 500); return; }
    mts_prom_render(s->prom, f);
    pthread_mutex_lock(&s->mu);
    int queued = s->q_len, busy = s->running;
    pthread_mutex_unlock(&s->mu);
    fprintf(f, "# HELP mts_ws_clients Websocket clients connected to /ws.\n# TYPE mts_ws_clients gauge\n"
               "mts_ws_clients %d\n", s->n_ws);
    fprintf(f, "# HELP mts_worker_jobs Backtest jobs by state.\n# TYPE mts_worker_jobs gauge\n"
               "mts_worker_jobs{state=\"queued\"} %d\nmts_worker_jobs{state=\"running\"} %d\n", queued, busy);
    fprintf(f, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
               "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
            (long long)s->started_unix);
    if (mts_apiq_portfolio_gauge(s->store, f) != 0)
        fprintf(f, "# portfolio gauge unavailable: database error\n");
    api_finish(r, f, 200);
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- stored backtests ---- */

/* The keys a stored run's object has of its own: the run's extra JSON merges
 * in every other key (mode, market, leverage, benchmark, further metrics). */
static const char *const run_keys[] = {"id", "strategy", "assets", "interval", "start", "end", "initial_capital",
    "final_value", "total_return", "annualized_return", "sharpe_ratio", "max_drawdown", "volatility",
    "calmar_ratio", "win_rate", "profit_factor", "trade_count", "commission_bps", "slippage_bps", "parameters",
    "created_at", "trades", "equity", "signals", "books", NULL};
/* extra's own "books" is kept when the run has no backtest_books rows */
static const char *const run_keys_but_books[] = {"id", "strategy", "assets", "interval", "start", "end",
    "initial_capital", "final_value", "total_return", "annualized_return", "sharpe_ratio", "max_drawdown",
    "volatility", "calmar_ratio", "win_rate", "profit_factor", "trade_count", "commission_bps", "slippage_bps",
    "parameters", "created_at", "trades", "equity", "signals", NULL};

static void stored_run(FILE *f, const mts_stored_run_t *run, int details) {
    fprintf(f, "{\"id\":%lld,", (long long)run->id);
    kv_str(f, "strategy", run->strategy_name, 1);
    fputs("\"assets\":", f);
    mts_json_string_array(f, run->assets, ',');
    fputc(',', f);
    kv_str(f, "interval", run->interval, 1);
    kv_str(f, "start", run->start_date, 1);
    kv_str(f, "end", run->end_date, 1);
    kv_num(f, "initial_capital", run->initial_capital, 1);
    kv_num(f, "final_value", run->final_value, 1);
    kv_num(f, "total_return", run->total_return, 1);
    kv_num(f, "annualized_return", run->annualized_return, 1);
    kv_num(f, "sharpe_ratio", run->sharpe_ratio, 1);
    kv_num(f, "max_drawdown", run->max_drawdown, 1);
    kv_num(f, "volatility", run->volatility, 1);
    kv_num(f, "calmar_ratio", run->calmar_ratio, 1);
    kv_num(f, "win_rate", run->win_rate, 1);
    kv_num(f, "profit_factor", run->profit_factor, 1);
    fprintf(f, "\"trade_count\":%lld,", (long long)run->trade_count);
    kv_num(f, "commission_bps", run->commission_bps, 1);
    kv_num(f, "slippage_bps", run->slippage_bps, 1);
    fprintf(f, "\"parameters\":%s,", run->parameters_json && run->parameters_json[0] == '{' ? run->parameters_json : "null");
    /* ISO-8601 UTC like every *_at of the API; the store keeps SQLite's
     * CURRENT_TIMESTAMP text "YYYY-MM-DD HH:MM:SS" (UTC) */
    char created[40];
    const char *ca = run->created_at ? run->created_at : "";
    if (strlen(ca) == 19 && ca[10] == ' ') snprintf(created, sizeof created, "%.10sT%sZ", ca, ca + 11);
    else snprintf(created, sizeof created, "%s", ca);
    kv_str(f, "created_at", created, 0);
    if (details) {
        fputs(",\"trades\":[", f);
        for (int64_t i = 0; i < run->n_trades; i++) {
            const mts_stored_trade_t *t = &run->trades[i];
            fprintf(f, "%s{", i ? "," : "");
            kv_str(f, "asset", t->asset, 1);
            kv_str(f, "side", t->side > 0 ? "long" : "short", 1);
            kv_num(f, "qty", t->qty, 1);
            fprintf(f, "\"entry_ts\":%lld,", (long long)t->entry_ts);
            kv_num(f, "entry_price", t->entry_price, 1);
            fprintf(f, "\"exit_ts\":%lld,", (long long)t->exit_ts);
            kv_num(f, "exit_price", t->exit_price, 1);
            kv_num(f, "pnl", t->pnl, 1);
            kv_num(f, "fees", t->fees, 1);
            /* schema v8; a trade stored before: "", "", "", 0, null, null, false */
            kv_str(f, "strategy", t->strategy, 1);
            kv_str(f, "entry_reason", t->entry_reason ? t->entry_reason : "", 1);
            kv_str(f, "exit_reason", t->exit_reason ? t->exit_reason : "", 1);
            kv_num(f, "funding", t->funding, 1);
            kv_num(f, "mae", t->mae, 1);
            kv_num(f, "mfe", t->mfe, 1);
            fprintf(f, "\"open\":%s", t->open ? "true" : "false");
            fputc('}', f);
        }
        fputs("],\"equity\":[", f);
        for (int64_t i = 0; i < run->equity.n; i++) {
            fprintf(f, "%s[%lld,", i ? "," : "", (long long)run->equity.ts[i]);
            mts_json_number(f, run->equity.v[i]);
            fputc(']', f);
        }
        fputc(']', f);
        /* the run's signals (backtest_signals), in the order stored, as GET
         * /signals rows without id; null for a run stored before schema v7 */
        fputs(",\"signals\":", f);
        if (!run->has_signals) fputs("null", f);
        else {
            fputc('[', f);
            for (int64_t i = 0; i < run->n_signals; i++) {
                const mts_stored_signal_t *g = &run->signals[i];
                char iso[32];
                mts_time_format_iso(g->ts, iso);
                fprintf(f, "%s{", i ? "," : "");
                kv_str(f, "strategy", g->strategy, 1);
                kv_str(f, "asset", g->asset, 1);
                kv_str(f, "type", g->signal_type, 1);
                fprintf(f, "\"ts\":%lld,\"time\":\"%s\",", (long long)g->ts, iso);
                kv_num(f, "price", g->price, 1);
                kv_num(f, "confidence", g->confidence, 1);
                kv_num(f, "position_size", g->position_size, 1);
                kv_num(f, "stop_loss", g->stop_loss, 1);
                kv_num(f, "take_profit", g->take_profit, 0);
                fputc('}', f);
            }
            fputc(']', f);
        }
        /* the run's books (backtest_books, schema v8), each with its metrics */
        if (run->n_books > 0) {
            fputs(",\"books\":[", f);
            for (int32_t i = 0; i < run->n_books; i++) {
                if (i) fputc(',', f);
                mts_stored_book_json(f, &run->books[i], 1);
            }
            fputc(']', f);
        }
    }
    mts_stored_json_merge(f, run->extra_json, details && run->n_books > 0 ? run_keys : run_keys_but_books);
    if (details && run->n_books == 0 && !mts_stored_json_has(run->extra_json, "books")) fputs(",\"books\":[]", f);
    fputc('}', f);
}

static void list_backtests(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {"limit", NULL};
    int limit;
    if (only_args(req, allowed, r) || int_arg(req, "limit", 1, 1000, 20, &limit, r)) return;
    mts_stored_run_t *runs = NULL;
    int n = 0;
    if (mts_store_list_runs(s->store, limit, &runs, &n) != 0) {
        api_error(r, 500, "database", "%s", mts_store_errmsg(s->store));
        return;
    }
    FILE *f = api_body(r);
    if (f) {
        fputs("{\"backtests\":[", f);
        for (int i = 0; i < n; i++) {
            if (i) fputc(',', f);
            stored_run(f, &runs[i], 0);
        }
        fprintf(f, "],\"count\":%d}", n);
    }
    for (int i = 0; i < n; i++) mts_stored_run_free(&runs[i]);
    mts_free(runs);
    api_finish(r, f, 200);
}

static void get_backtest(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {NULL};
    if (only_args(req, allowed, r)) return;
    mts_stored_run_t run;
    int rc = mts_store_load_run(s->store, req->id, &run);
    if (rc == MTS_ENOTFOUND) {
        api_error(r, 404, "not_found", "no backtest with id %lld (list them: GET /backtests)", (long long)req->id);
        return;
    }
    if (rc != 0) {
        api_error(r, 500, "database", "%s", mts_store_errmsg(s->store));
        return;
    }
    FILE *f = api_body(r);
    if (f) stored_run(f, &run, 1);
    mts_stored_run_free(&run);
    api_finish(r, f, 200);
}

/* ---- signals and paper sessions ---- */

int api_parse_signal_query(const api_request_t *req, mts_apiq_signal_filter_t *flt, api_reply_t *r) {
    static const char *const allowed[] = {"strategy", "asset", "since", "limit", NULL};
    memset(flt, 0, sizeof *flt);
    flt->strategy = arg(req, "strategy");
    flt->asset = arg(req, "asset");
    flt->since = INT64_MIN;
    if (only_args(req, allowed, r) || int_arg(req, "limit", 1, 10000, 100, &flt->limit, r)) return -1;
    const char *since = arg(req, "since");
    if (since && mts_time_parse(since, strlen(since), &flt->since) != 0) {
        api_error(r, 400, "bad_request", "query parameter 'since' must be a date (YYYY-MM-DD), an ISO-8601 "
                                         "time or unix seconds, got '%s'", since);
        return -1;
    }
    return 0;
}

static void list_signals(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    mts_apiq_signal_filter_t flt;
    if (api_parse_signal_query(req, &flt, r)) return;
    FILE *f = api_body(r);
    if (!f) { api_finish(r, NULL, 500); return; }
    fputs("{\"signals\":", f);
    int rc = mts_apiq_signals(s->store, &flt, f);
    fputc('}', f);
    if (rc != 0) {
        fclose(f);
        api_error(r, 500, "database", "%s", mts_store_errmsg(s->store));
        return;
    }
    api_finish(r, f, 200);
}

static void list_sessions(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {"limit", NULL};
    int limit;
    if (only_args(req, allowed, r) || int_arg(req, "limit", 1, 1000, 50, &limit, r)) return;
    FILE *f = api_body(r);
    if (!f) { api_finish(r, NULL, 500); return; }
    fputs("{\"sessions\":", f);
    int rc = mts_apiq_sessions(s->store, limit, f);
    fputc('}', f);
    if (rc != 0) {
        fclose(f);
        api_error(r, 500, "database", "%s", mts_store_errmsg(s->store));
        return;
    }
    api_finish(r, f, 200);
}

static void get_session(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {NULL};
    if (only_args(req, allowed, r)) return;
    FILE *f = api_body(r);
    if (!f) { api_finish(r, NULL, 500); return; }
    int rc = mts_apiq_session(s->store, req->id, f);
    if (rc != 0) {
        fclose(f);
        if (rc == MTS_ENOTFOUND)
            api_error(r, 404, "not_found", "no paper session with id %lld (list them: GET /paper/sessions)",
                      (long long)req->id);
        else api_error(r, 500, "database", "%s", mts_store_errmsg(s->store));
        return;
    }
    api_finish(r, f, 200);
}

/* ---- /openapi.json ---- */

/* docs/openapi.json as built in: every route, its parameters, bodies, answers,
 * auth and limits (OpenAPI 3.1; tests/e2e/test_openapi.py keeps it true). */
static void openapi(const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {NULL};
    if (only_args(req, allowed, r)) return;
    FILE *f = api_body(r);
    if (f) fwrite(mts_openapi_json, 1, (size_t)(mts_openapi_json_end - mts_openapi_json), f);
    api_finish(r, f, 200);
}

void api_handle_sync(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    switch (req->route) {
    case R_HEALTH: health(s, req, r); break;
    case R_METRICS: metrics(s, r); break;
    case R_BACKTESTS: list_backtests(s, req, r); break;
    case R_BACKTEST_ID: get_backtest(s, req, r); break;
    case R_SIGNALS: list_signals(s, req, r); break;
    case R_SESSIONS: list_sessions(s, req, r); break;
    case R_SESSION_ID: get_session(s, req, r); break;
    case R_ORDERBOOK:
    case R_FUNDING:
    case R_MARKET: api_handle_hot(s, req, r); break;
    case R_OPTIMIZE_ID: api_opt_get(s, req->id, r); break;
    case R_OPENAPI: openapi(req, r); break;
    default: api_error(r, 500, "internal", "route %d has no handler", req->route);
    }
}

/* ---- POST bodies ---- */

static int valid_name(const char *s, int allow_dot_dash) {
    if (!*s || strlen(s) > 63) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 (allow_dot_dash && (c == '-' || c == '.'));
        if (!ok) return 0;
    }
    return 1;
}

/* "a", "a,b" or ["a","b"] into out (strdup'd). 0 or -1 with a 400 naming field. */
static int name_list(const cJSON *v, const char *field, int dots, char **out, int *n, api_reply_t *r) {
    *n = 0;
    char buf[4096];
    if (cJSON_IsString(v)) {
        snprintf(buf, sizeof buf, "%s", v->valuestring);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            size_t l = strlen(t);
            while (l && t[l - 1] == ' ') t[--l] = 0;
            if (*n >= API_MAX_LIST) goto too_many;
            if (!valid_name(t, dots)) goto bad_name;
            out[(*n)++] = strdup(t);
        }
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            if (!cJSON_IsString(it)) {
                api_error(r, 400, "bad_request", "field '%s' must be a list of strings", field);
                return -1;
            }
            if (*n >= API_MAX_LIST) goto too_many;
            snprintf(buf, sizeof buf, "%s", it->valuestring);
            if (!valid_name(buf, dots)) goto bad_name;
            out[(*n)++] = strdup(buf);
        }
    } else {
        api_error(r, 400, "bad_request", "field '%s' must be a string or a list of strings", field);
        return -1;
    }
    if (*n == 0) {
        api_error(r, 400, "bad_request", "field '%s' is empty", field);
        return -1;
    }
    for (int i = 0; i < *n; i++)
        if (!out[i]) { api_error(r, 500, "internal", "out of memory"); return -1; }
    return 0;
too_many:
    api_error(r, 400, "bad_request", "field '%s' has more than %d names", field, API_MAX_LIST);
    return -1;
bad_name:
    api_error(r, 400, "bad_request", "field '%s': '%s' is not a valid name (letters, digits, _%s; at most 63)",
              field, buf, dots ? " - ." : "");
    return -1;
}

static int number(const cJSON *v, const char *field, double lo, int lo_open, double *out, api_reply_t *r) {
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        api_error(r, 400, "bad_request", "field '%s' must be a number", field);
        return -1;
    }
    double x = v->valuedouble;
    if (lo_open ? !(x > lo) : !(x >= lo)) {
        api_error(r, 400, "bad_request", "field '%s' must be %s %g, got %g", field, lo_open ? ">" : ">=", lo, x);
        return -1;
    }
    *out = x;
    return 0;
}

static int date(const cJSON *v, const char *field, int end_of_day, int64_t *out, api_reply_t *r) {
    if (!v) return 0;
    if (!cJSON_IsString(v) || mts_time_parse(v->valuestring, strlen(v->valuestring), out) != 0) {
        api_error(r, 400, "bad_request", "field '%s' must be a date string (YYYY-MM-DD or ISO-8601)", field);
        return -1;
    }
    const char *s = v->valuestring;
    if (end_of_day && strlen(s) == 10 && s[4] == '-') *out += 86399;   /* a bare date: the whole day */
    return 0;
}

static int params(const cJSON *v, api_job_t *job, api_reply_t *r) {
    if (!v) return 0;
    if (!cJSON_IsObject(v)) {
        api_error(r, 400, "bad_request", "field 'params' must be an object of name: value");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (job->n_params >= API_MAX_PARAMS) {
            api_error(r, 400, "bad_request", "field 'params' has more than %d entries", API_MAX_PARAMS);
            return -1;
        }
        char val[64];
        if (cJSON_IsString(it)) snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
            snprintf(val, sizeof val, "%.15g", it->valuedouble);
            if (strtod(val, NULL) != it->valuedouble) snprintf(val, sizeof val, "%.17g", it->valuedouble);
        } else if (cJSON_IsBool(it)) snprintf(val, sizeof val, "%s", cJSON_IsTrue(it) ? "true" : "false");
        else {
            api_error(r, 400, "bad_request", "field 'params.%s' must be a string, number or boolean", it->string);
            return -1;
        }
        job->pkeys[job->n_params] = strdup(it->string);
        job->pvals[job->n_params] = strdup(val);
        job->n_params++;
        if (!job->pkeys[job->n_params - 1] || !job->pvals[job->n_params - 1]) {
            api_error(r, 500, "internal", "out of memory");
            return -1;
        }
    }
    return 0;
}

/* POST /optimize "params": {"fast": "5:50:5" | "5,10,20" | [5, 10, 20] | 7, ...} into
 * job->grid, axes in the body's order (that order fixes the points'). */
static int axes(const cJSON *v, api_job_t *job, api_reply_t *r) {
    if (!v || !cJSON_IsObject(v) || !v->child) {
        api_error(r, 400, "bad_request", "field 'params' is required: an object of name: values, e.g. "
                                         "{\"fast\": \"5:50:5\", \"slow\": [20, 50, 100]}");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        char arg[4096];
        size_t n = (size_t)snprintf(arg, sizeof arg, "%s=", it->string);
        const cJSON *x;
        int first = 1, ok = 1;
        if (cJSON_IsArray(it)) {
            cJSON_ArrayForEach(x, it) {
                if (cJSON_IsString(x)) n += (size_t)snprintf(arg + n, n < sizeof arg ? sizeof arg - n : 0, "%s%s", first ? "" : ",", x->valuestring);
                else if (cJSON_IsNumber(x) && isfinite(x->valuedouble))
                    n += (size_t)snprintf(arg + n, n < sizeof arg ? sizeof arg - n : 0, "%s%.15g", first ? "" : ",", x->valuedouble);
                else ok = 0;
                first = 0;
            }
            if (first) ok = 0;
        } else if (cJSON_IsString(it)) n += (size_t)snprintf(arg + n, sizeof arg - n, "%s", it->valuestring);
        else if (cJSON_IsNumber(it) && isfinite(it->valuedouble))
            n += (size_t)snprintf(arg + n, sizeof arg - n, "%.15g", it->valuedouble);
        else ok = 0;
        if (!ok || n >= sizeof arg) {
            api_error(r, 400, "bad_request", "field 'params.%s' must be a range \"start:stop:step\", a list "
                                             "\"a,b,c\" or [a, b, c], or one value", it->string);
            return -1;
        }
        char err[512];
        int rc = mts_grid_add_axis(&job->grid, arg, err, sizeof err);
        if (rc) {
            api_error(r, rc == MTS_ENOMEM ? 500 : 400, rc == MTS_ENOMEM ? "internal" : "bad_request",
                      "field 'params': %s", err);
            return -1;
        }
    }
    return 0;
}

/* "independent" / "vote", "spot" / "perp": the CLI's --mode / --market choices. */
static int choice(const cJSON *v, const char *field, const char *a, const char *b, char *out, size_t n,
                  api_reply_t *r) {
    if (!v) return 0;
    if (!cJSON_IsString(v) || (strcmp(v->valuestring, a) && strcmp(v->valuestring, b))) {
        api_error(r, 400, "bad_request", "field '%s' must be \"%s\" or \"%s\"%s%s%s", field, a, b,
                  cJSON_IsString(v) ? ", got \"" : "", cJSON_IsString(v) ? v->valuestring : "",
                  cJSON_IsString(v) ? "\"" : "");
        return -1;
    }
    snprintf(out, n, "%s", v->valuestring);
    return 0;
}

/* The issue-12 run options of the body, with the names and rules of the REPL's
 * mts.backtest{} (lua/api.c book_opts, scripts/lib/api.lua) and so of the CLI's
 * --mode ... --taker-bps (cmd/common.c mts_cli_run_option): mode "independent" |
 * "vote", allocate {"NAME": F, ...} (the text of --allocate, every digit kept,
 * checked by mts_backtest_allocations as the run will; {} = not given),
 * max_position > 0, max_portfolio_risk > 0, market "spot" | "perp", leverage >= 1,
 * maker_bps >= 0, taker_bps >= 0. 0, or -1 with a 400 naming the field. */
static int run_options(const mts_api_config_t *cfg, const cJSON *j, int opt, api_job_t *job, api_reply_t *r) {
    if (choice(cJSON_GetObjectItemCaseSensitive(j, "mode"), "mode", "independent", "vote", job->mode,
               sizeof job->mode, r) ||
        choice(cJSON_GetObjectItemCaseSensitive(j, "market"), "market", "spot", "perp", job->market,
               sizeof job->market, r) ||
        number(cJSON_GetObjectItemCaseSensitive(j, "max_position"), "max_position", 0, 1, &job->max_position, r) ||
        number(cJSON_GetObjectItemCaseSensitive(j, "max_portfolio_risk"), "max_portfolio_risk", 0, 1,
               &job->max_portfolio_risk, r) ||
        number(cJSON_GetObjectItemCaseSensitive(j, "leverage"), "leverage", 1, 0, &job->leverage, r))
        return -1;
    const cJSON *mk = cJSON_GetObjectItemCaseSensitive(j, "maker_bps");
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "taker_bps");
    if (number(mk, "maker_bps", 0, 0, &job->maker_bps, r) || number(tk, "taker_bps", 0, 0, &job->taker_bps, r))
        return -1;
    job->has_maker = mk != NULL;
    job->has_taker = tk != NULL;
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(j, "allocate");
    if (!al) return 0;
    if (opt) {   /* as mts optimize --allocate and mts.optimize{allocate=} */
        api_error(r, 400, "bad_request", "field 'allocate': every point runs one strategy with the whole capital "
                                         "(use POST /backtest for shares of several)");
        return -1;
    }
    if (!cJSON_IsObject(al)) {
        api_error(r, 400, "bad_request", "field 'allocate' must be an object {\"strategy\": fraction, ...}, e.g. "
                                         "{\"sma_cross\": 0.6, \"mean_reversion\": 0.4}");
        return -1;
    }
    if (!al->child) return 0;   /* {}: the config's books.allocate, else equal shares */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) { api_error(r, 500, "internal", "out of memory"); return -1; }
    const cJSON *it;
    int bad = 0;
    cJSON_ArrayForEach(it, al) {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
            api_error(r, 400, "bad_request", "field 'allocate.%s' must be a fraction of the capital (a number)",
                      it->string);
            bad = 1;
            break;
        }
        if (!valid_name(it->string, 0)) {
            api_error(r, 400, "bad_request", "field 'allocate': '%s' is not a strategy name", it->string);
            bad = 1;
            break;
        }
        fprintf(f, "%s%s=%.17g", it == al->child ? "" : ",", it->string, it->valuedouble);
    }
    if (fclose(f) != 0 || !buf) {
        free(buf);
        if (!bad) api_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (bad) { free(buf); return -1; }
    job->allocate = buf;
    if (!strcmp(job->mode, "vote")) {
        api_error(r, 400, "bad_request", "field 'allocate' splits the capital between the strategies' own books: "
                                         "it needs mode \"independent\" (vote trades one book)");
        return -1;
    }
    /* the run's own check, now: names of this run, fractions in (0, 1], the sum <= 1 */
    double shares[API_MAX_LIST];
    char err[512];
    int rc = mts_backtest_allocations(cfg->root, job->allocate, (const char *const *)job->strategies,
                                      job->n_strategies, shares, err, sizeof err);
    if (rc) {
        const char *msg = !strncmp(err, "--allocate", 10) ? err + 10 : err;
        if (*msg == ':') msg++;
        while (*msg == ' ') msg++;
        api_error(r, 400, "bad_request", "field 'allocate': %s", msg);
        return -1;
    }
    return 0;
}

int api_parse_job(const mts_api_config_t *cfg, const api_request_t *req, api_job_t *job, api_reply_t *r) {
    job->route = req->route;
    job->from = INT64_MIN;
    job->to = INT64_MAX;
    job->capital = cfg->capital;
    job->commission_bps = cfg->commission_bps;
    job->slippage_bps = cfg->slippage_bps;
    job->risk_free = cfg->risk_free;
    if (req->n_args) {
        static const char *const none[] = {NULL};
        if (only_args(req, none, r)) return -1;
    }
    if (!req->body || !req->body_len) {
        api_error(r, 400, "bad_request", "the body must be a JSON object (Content-Type: application/json)");
        return -1;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= req->body && at <= req->body + req->body_len ? (size_t)(at - req->body) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (req->body[i] == '\n') line++, col = 1;
            else col++;
        }
        api_error(r, 400, "invalid_json", "the body is not valid JSON: error at byte %zu (line %d, column %d)",
                  off, line, col);
        return -1;
    }
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        api_error(r, 400, "bad_request", "the body must be a JSON object");
        goto done;
    }
    int gen = req->route == R_SIGNALS_GENERATE, opt = req->route == R_OPTIMIZE;
    static const char *const opt_fields[] = {"strategy_name", "assets", "start", "end", "interval", "initial_capital",
                                             "commission_bps", "slippage_bps", "risk_free", "params", "metric",
                                             "jobs", "store", "mode", "allocate", "max_position",
                                             "max_portfolio_risk", "market", "leverage", "maker_bps", "taker_bps",
                                             NULL};
    static const char *const bt_fields[] = {"strategy_name", "assets", "start", "end", "interval", "initial_capital",
                                            "commission_bps", "slippage_bps", "risk_free", "params", "mode",
                                            "allocate", "max_position", "max_portfolio_risk", "market", "leverage",
                                            "maker_bps", "taker_bps", NULL};
    /* "symbols": the deprecated alias of "assets" (docs/api.md "Names") */
    static const char *const gen_fields[] = {"strategy_name", "assets", "symbols", "timeframe", "params", NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        int known = 0;
        for (const char *const *k = gen ? gen_fields : opt ? opt_fields : bt_fields; *k; k++)
            if (!strcmp(*k, it->string)) known = 1;
        if (!known) {
            api_error(r, 400, "bad_request", "unknown field '%s' (accepted: %s)", it->string,
                      gen ? "strategy_name, assets (or its deprecated alias symbols), timeframe, params"
                          : opt ? "strategy_name, assets, start, end, interval, initial_capital, commission_bps, "
                                  "slippage_bps, risk_free, params, metric, jobs, store, mode, allocate (refused), "
                                  "max_position, max_portfolio_risk, market, leverage, maker_bps, taker_bps"
                          : "strategy_name, assets, start, end, interval, initial_capital, commission_bps, "
                            "slippage_bps, risk_free, params, mode, allocate, max_position, max_portfolio_risk, "
                            "market, leverage, maker_bps, taker_bps");
            goto done;
        }
    }
    const cJSON *strat = cJSON_GetObjectItemCaseSensitive(j, "strategy_name");
    const cJSON *assets = cJSON_GetObjectItemCaseSensitive(j, "assets");
    const char *assets_key = "assets";
    if (gen && cJSON_GetObjectItemCaseSensitive(j, "symbols")) {
        if (assets) {
            api_error(r, 400, "bad_request", "fields 'assets' and 'symbols' both given ('symbols' is the deprecated "
                                             "alias of 'assets': send one)");
            goto done;
        }
        assets = cJSON_GetObjectItemCaseSensitive(j, "symbols");
        assets_key = "symbols";
    }
    if (!strat) { api_error(r, 400, "bad_request", "field 'strategy_name' is required"); goto done; }
    if (!assets) {
        api_error(r, 400, "bad_request", "field 'assets' is required (asset names, e.g. [\"bitcoin\"]%s)",
                  gen ? "; 'symbols' is its deprecated alias" : "");
        goto done;
    }
    if (name_list(strat, "strategy_name", 0, job->strategies, &job->n_strategies, r)) goto done;
    for (int a = 0; gen && a < job->n_strategies; a++)
        for (int b = 0; b < a; b++)
            if (!strcmp(job->strategies[a], job->strategies[b])) {
                api_error(r, 400, "bad_request", "field 'strategy_name': '%s' is listed twice", job->strategies[a]);
                goto done;
            }
    /* names only (valid_name refused paths): a request runs what is on
     * $MTS_STRATEGY_PATH or in scripts/strategies, never an arbitrary file */
    for (int i = 0; i < job->n_strategies; i++) {
        char sp[4200], serr[512];
        if (mts_strategy_find(cfg->root, job->strategies[i], sp, sizeof sp, serr, sizeof serr) != MTS_OK ||
            mts_strategy_enabled(job->strategies[i], serr, sizeof serr) != MTS_OK) {
            api_error(r, 400, "bad_request", "field 'strategy_name': %s", serr);
            goto done;
        }
    }
    if (name_list(assets, assets_key, 1, job->assets, &job->n_assets, r)) goto done;
    for (int a = 0; a < job->n_assets; a++)
        for (int b = 0; b < a; b++)
            if (!strcmp(job->assets[a], job->assets[b])) {
                api_error(r, 400, "bad_request", "field '%s': '%s' is listed twice", assets_key,
                          job->assets[a]);
                goto done;
            }
    if (opt ? axes(cJSON_GetObjectItemCaseSensitive(j, "params"), job, r)
            : params(cJSON_GetObjectItemCaseSensitive(j, "params"), job, r))
        goto done;
    /* the bars' interval: "interval" (POST /backtest), "timeframe" (POST /signals/generate) */
    const char *ivf = gen ? "timeframe" : "interval";
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(j, ivf);
    if (iv && (!cJSON_IsString(iv) || mts_interval_seconds(iv->valuestring) < 0)) {
        api_error(r, 400, "bad_request", "field '%s' must be one of %s (default \"1d\"), got %s%s%s", ivf,
                  MTS_INTERVALS, cJSON_IsString(iv) ? "\"" : "a ", cJSON_IsString(iv) ? iv->valuestring : "non-string",
                  cJSON_IsString(iv) ? "\"" : "");
        goto done;
    }
    snprintf(job->interval, sizeof job->interval, "%s", iv ? iv->valuestring : MTS_INTERVAL_DEFAULT);
    if (!gen) {
        if (date(cJSON_GetObjectItemCaseSensitive(j, "start"), "start", 0, &job->from, r) ||
            date(cJSON_GetObjectItemCaseSensitive(j, "end"), "end", 1, &job->to, r) ||
            number(cJSON_GetObjectItemCaseSensitive(j, "initial_capital"), "initial_capital", 0, 1, &job->capital, r) ||
            number(cJSON_GetObjectItemCaseSensitive(j, "commission_bps"), "commission_bps", 0, 0, &job->commission_bps, r) ||
            number(cJSON_GetObjectItemCaseSensitive(j, "slippage_bps"), "slippage_bps", 0, 0, &job->slippage_bps, r) ||
            number(cJSON_GetObjectItemCaseSensitive(j, "risk_free"), "risk_free", -1, 0, &job->risk_free, r))
            goto done;
        if (job->from > job->to) { api_error(r, 400, "bad_request", "field 'start' is after 'end'"); goto done; }
        if (run_options(cfg, j, opt, job, r)) goto done;
    }
    if (opt) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "metric");
        if (m && (!cJSON_IsString(m) || !mts_opt_metric_known(m->valuestring))) {
            char names[512];
            size_t n = 0;
            names[0] = 0;
            for (int k = 0; mts_opt_metrics[k] && n < sizeof names; k++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", k ? ", " : "", mts_opt_metrics[k]);
            api_error(r, 400, "bad_request", "field 'metric' must be one of %s", names);
            goto done;
        }
        snprintf(job->metric, sizeof job->metric, "%s", m ? m->valuestring : "sharpe_ratio");
        const cJSON *jb = cJSON_GetObjectItemCaseSensitive(j, "jobs");
        int cores = mts_opt_jobs_default();
        if (jb && (!cJSON_IsNumber(jb) || jb->valuedouble != (int)jb->valuedouble || jb->valuedouble < 1 ||
                   jb->valuedouble > cores)) {
            api_error(r, 400, "bad_request", "field 'jobs' must be a whole number from 1 to %d (the cores)", cores);
            goto done;
        }
        job->jobs = jb ? (int)jb->valuedouble : cores;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "store");
        const char *sv = st && cJSON_IsString(st) ? st->valuestring : st ? "" : "all";
        job->store = !strcmp(sv, "all") ? MTS_OPT_STORE_ALL : !strcmp(sv, "best") ? MTS_OPT_STORE_BEST
                   : !strcmp(sv, "none") ? MTS_OPT_STORE_NONE : -1;
        if (job->store < 0) {
            api_error(r, 400, "bad_request", "field 'store' must be \"all\" (default), \"best\" or \"none\"");
            goto done;
        }
        mts_opt_spec_t spec = {.strategies = (const char *const *)job->strategies, .n_strategies = job->n_strategies,
                               .grid = &job->grid};
        mts_opt_point_t *pts = NULL;
        int64_t np = 0;
        char err[256];
        int prc = mts_opt_points(&spec, &pts, &np, err, sizeof err);
        mts_free(pts);
        if (prc) {
            api_error(r, prc == MTS_ENOMEM ? 500 : 400, prc == MTS_ENOMEM ? "internal" : "bad_request", "%s", err);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

void api_job_free(api_job_t *job) {
    if (!job) return;
    for (int i = 0; i < job->n_strategies; i++) free(job->strategies[i]);
    for (int i = 0; i < job->n_assets; i++) free(job->assets[i]);
    for (int i = 0; i < job->n_params; i++) { free(job->pkeys[i]); free(job->pvals[i]); }
    free(job->allocate);
    mts_grid_free(&job->grid);
    free(job->reply.body);
    mts_free(job);
}

/* ---- worker side ---- */

static int status_of(int rc) {
    switch (rc) {
    case MTS_EINVAL: case MTS_ENOTFOUND: case MTS_EVALID: case MTS_ERANGE: case MTS_EPARSE: case MTS_ECONFIG:
        return 400;
    case MTS_ELUA: case MTS_EBACKTEST: return 422;
    case MTS_ECANCELED: return 503;
    default: return 500;
    }
}

/* The same object as `mts backtest --json` (cmd/backtest.c print_json). */
static void backtest_json(FILE *f, const api_job_t *job, const mts_backtest_t *b) {
    const mts_metrics_t *m = &b->metrics;
    char start_iso[32], end_iso[32];
    mts_time_format_iso(b->start_ts, start_iso);
    mts_time_format_iso(b->end_ts, end_iso);
    if (b->run_id > 0) fprintf(f, "{\"id\":%lld,", (long long)b->run_id);
    else {   /* computed but not stored (keep_unstored): say so and why */
        fputs("{\"id\":null,\"stored\":false,", f);
        kv_str(f, "store_error", b->store_err, 1);
    }
    kv_str(f, "strategy", b->strategy_name, 1);
    fputs("\"assets\":", f);
    mts_json_string_array(f, b->assets_joined, ',');
    fputc(',', f);
    kv_str(f, "interval", job->interval, 1);
    kv_str(f, "start", start_iso, 1);
    kv_str(f, "end", end_iso, 1);
    kv_num(f, "initial_capital", job->capital, 1);
    kv_num(f, "final_value", m->final_value, 1);
    kv_num(f, "total_return", m->total_return, 1);
    kv_num(f, "annualized_return", m->annualized_return, 1);
    kv_num(f, "sharpe_ratio", m->sharpe_ratio, 1);
    kv_num(f, "max_drawdown", m->max_drawdown, 1);
    kv_num(f, "volatility", m->volatility, 1);
    kv_num(f, "calmar_ratio", m->calmar_ratio, 1);
    kv_num(f, "win_rate", m->win_rate, 1);
    kv_num(f, "profit_factor", m->profit_factor, 1);
    fprintf(f, "\"trade_count\":%lld,", (long long)m->trade_count);
    kv_num(f, "fees", b->account.fees, 1);     /* the account's (all books) */
    mts_backtest_json_extra(f, b);              /* funding ... books (issue 12), as the CLI */
    fprintf(f, "\"bars\":%lld,\"fills\":%lld,\"signals\":%lld,", (long long)b->total_bars,
            (long long)mts_engine_fill_count(b->engine), (long long)b->n_signals);
    fprintf(f, "\"parameters\":%s,\"disabled\":", b->lua.parameters_json ? b->lua.parameters_json : "{}");
    mts_json_string_array(f, b->lua.disabled, '\n');
    fputs(",\"warnings\":", f);                    /* unfinished imports (store/imports.h) */
    mts_json_string_array(f, b->warnings, '\n');
    fputc('}', f);
}

static void opts_of(api_server_t *s, const api_job_t *job, const char *const *assets, int n_assets,
                    int store, mts_backtest_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->strategies = (const char *const *)job->strategies;
    o->n_strategies = job->n_strategies;
    o->assets = assets;
    o->n_assets = n_assets;
    o->param_keys = (const char *const *)job->pkeys;
    o->param_values = (const char *const *)job->pvals;
    o->n_params = job->n_params;
    o->from = job->from;
    o->to = job->to;
    o->interval = job->interval[0] ? job->interval : NULL;
    o->capital = job->capital;
    o->commission_bps = job->commission_bps;
    o->slippage_bps = job->slippage_bps;
    o->risk_free = job->risk_free;
    o->root = s->root;
    o->db_label = "the database";
    o->store_result = store;
    o->keep_unstored = store;   /* a busy database never throws a computed result away */
    o->cancel = &s->cancel_jobs;
    o->mode = job->mode[0] ? job->mode : NULL;
    o->allocate = job->allocate;
    o->max_position = job->max_position;
    o->max_portfolio_risk = job->max_portfolio_risk;
    o->market = job->market[0] ? job->market : NULL;
    o->leverage = job->leverage;
    o->maker_bps = job->maker_bps;
    o->taker_bps = job->taker_bps;
    o->has_maker = job->has_maker;
    o->has_taker = job->has_taker;
}

/* A run's message names the CLI's flags (backtest.c, engine): here, the body's
 * fields. s rewritten in place (at most size bytes with its NUL). */
void api_field_names(char *s, size_t size) {
    static const char *const map[][2] = {
        {"--mode independent", "mode \"independent\""}, {"--max-portfolio-risk", "max_portfolio_risk"},
        {"--max-position", "max_position"}, {"--allocate", "allocate"}, {"--leverage", "leverage"},
        {"--market", "market"}, {"--maker-bps", "maker_bps"}, {"--taker-bps", "taker_bps"}, {"--mode", "mode"},
        {"--commission-bps", "commission_bps"}};
    char out[2048];
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof out;) {
        size_t k = 0, m = sizeof map / sizeof map[0];
        while (k < m && strncmp(p, map[k][0], strlen(map[k][0])) != 0) k++;
        if (k < m) {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", map[k][1]);
            if (n >= sizeof out) n = sizeof out - 1;
            p += strlen(map[k][0]);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    if (n >= size) n = size - 1;
    memcpy(s, out, n);
    s[n] = 0;
}

static void run_backtest(api_server_t *s, mts_store_t *store, api_job_t *job) {
    mts_backtest_opts_t o;
    opts_of(s, job, (const char *const *)job->assets, job->n_assets, 1, &o);
    mts_backtest_t *b = NULL;
    char err[1024] = "";
    int rc = mts_backtest_run(store, &o, &b, err, sizeof err);
    job->ran_backtest = 1;
    if (rc != 0) {
        api_field_names(err, sizeof err);
        api_error(&job->reply, status_of(rc), rc == MTS_ENOTFOUND ? "not_found" : "backtest_failed", "%s",
                  err[0] ? err : mts_strerror(rc));
        return;
    }
    FILE *f = api_body(&job->reply);
    if (f) backtest_json(f, job, b);
    api_finish(&job->reply, f, 200);
    mts_backtest_free(b);
}


/* POST /signals/generate: the current aggregated decision (backtest/decide.h)
 * in the reference architecture's SignalResponse shape: signals, timestamp,
 * metadata. */
static void generate(api_server_t *s, mts_store_t *store, api_job_t *job) {
    mts_backtest_opts_t o;
    opts_of(s, job, (const char *const *)job->assets, job->n_assets, 0, &o);
    mts_decide_result_t res[API_MAX_LIST];
    char err[1024] = "";
    int failed = -1;
    int rc = mts_decide(store, &o, res, &failed, err, sizeof err);
    if (rc != 0) {
        mts_decide_free(res, job->n_assets);
        api_field_names(err, sizeof err);
        if (failed >= 0)
            api_error(&job->reply, status_of(rc), rc == MTS_ENOTFOUND ? "not_found" : "generation_failed",
                      "assets[%d] '%s': %s", failed, job->assets[failed], err[0] ? err : mts_strerror(rc));
        else
            api_error(&job->reply, status_of(rc), "generation_failed", "%s", err[0] ? err : mts_strerror(rc));
        return;
    }
    FILE *f = api_body(&job->reply);
    if (!f) { mts_decide_free(res, job->n_assets); api_finish(&job->reply, NULL, 500); return; }
    int n_sig = 0;
    fputs("{\"signals\":[", f);
    for (int a = 0; a < job->n_assets; a++) {
        const mts_decide_result_t *r = &res[a];
        if (!r->decided) continue;
        const mts_decision_t *d = &r->signal;
        char iso[32];
        mts_time_format_iso(d->ts, iso);
        fprintf(f, "%s{", n_sig++ ? "," : "");
        kv_str(f, "asset", job->assets[a], 1);
        kv_str(f, "signal_type", mts_signal_name(d->signal_type), 1);
        kv_num(f, "price", d->price, 1);
        kv_num(f, "confidence", d->confidence, 1);
        kv_num(f, "position_size", d->position_size, 1);
        kv_num(f, "stop_loss", d->stop_loss, 1);
        kv_num(f, "take_profit", d->take_profit, 1);
        kv_str(f, "strategy", d->strategy >= 0 && d->strategy < job->n_strategies ? job->strategies[d->strategy]
                                                                                 : "aggregate", 1);
        fputs("\"strategies\":[", f);
        for (int k = 0, first = 1; k < job->n_strategies && k < 64; k++)
            if (d->strategies >> k & 1) {
                fprintf(f, "%s\"", first ? "" : ",");
                mts_json_escape(f, job->strategies[k]);
                fputc('"', f);
                first = 0;
            }
        fprintf(f, "],\"timestamp\":%lld,", (long long)d->ts);
        kv_str(f, "time", iso, 0);
        fputc('}', f);
        job->found[a] = 1;
    }
    fprintf(f, "],\"timestamp\":%lld,\"metadata\":{\"strategies\":[", (long long)time(NULL));
    for (int k = 0; k < job->n_strategies; k++) {
        fprintf(f, "%s\"", k ? "," : "");
        mts_json_escape(f, job->strategies[k]);
        fputc('"', f);
    }
    fputs("],", f);
    kv_str(f, "timeframe", job->interval[0] ? job->interval : MTS_INTERVAL_DEFAULT, 1);
    kv_str(f, "aggregation", job->n_strategies > 1 ? "vote" : "single", 1);
    fputs("\"assets\":[", f);
    for (int a = 0; a < job->n_assets; a++) {
        const mts_decide_result_t *r = &res[a];
        char asof[32];
        mts_time_format_iso(r->last_ts, asof);
        fprintf(f, "%s{", a ? "," : "");
        kv_str(f, "asset", job->assets[a], 1);
        kv_str(f, "as_of", asof, 1);
        fprintf(f, "\"as_of_ts\":%lld,\"bars\":%lld,\"signals_at_last_bar\":%d,\"signal\":%s,",
                (long long)r->last_ts, (long long)r->bars, r->n_signals, r->decided ? "true" : "false");
        kv_str(f, "reason", r->decided ? NULL : r->reason, 1);
        fputs("\"disabled\":", f);
        mts_json_string_array(f, r->disabled, '\n');
        fputc('}', f);
    }
    fputs("]", f);
    if (n_sig == 0) {
        int ties = 0;
        for (int a = 0; a < job->n_assets; a++) ties += res[a].reason && !strcmp(res[a].reason, "tie");
        fputc(',', f);
        kv_str(f, "reason", ties ? "no aggregated signal at the latest bar: the strategies' signals there cancelled "
                                   "out (a tie) or they gave none (metadata.assets[].reason)"
                                 : "no signal at the latest bar: the strategies gave none there (they signal "
                                   "on a change, e.g. sma_cross on a crossing)", 0);
    }
    fputs("}}", f);
    mts_decide_free(res, job->n_assets);
    api_finish(&job->reply, f, 200);
}

void api_job_run(api_server_t *s, mts_store_t *store, api_job_t *job) {
    if (job->route == R_BACKTEST) run_backtest(s, store, job);
    else generate(s, store, job);
}

int api_int_arg(const api_request_t *req, const char *name, int lo, int hi, int def, int *out, api_reply_t *r) {
    return int_arg(req, name, lo, hi, def, out, r);
}
