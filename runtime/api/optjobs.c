/* optjobs.c — POST /optimize as a background job (internal.h, docs/api.md):
 * the grid search of `mts optimize` (research/research.h) on a thread of its
 * own with its own store and bus handles, at most API_OPT_RUNNING at once;
 * progress published on the bus as topic "optimize" (so on /ws); the state
 * and the ranked results kept for GET /optimize/{id} (the newest
 * API_OPT_KEEP jobs). A stopping server cancels running jobs (cancel_jobs)
 * and joins them. */
#include "api/internal.h"
#include "market/interval.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_RUNNING, OPT_DONE, OPT_FAILED, OPT_CANCELLED };
static const char *const state_names[] = {"running", "done", "failed", "cancelled"};

typedef struct api_opt {
    struct api_opt *next;
    int64_t   id;
    api_server_t *s;
    api_job_t *job;              /* the parsed request: strategies, assets, grid, ... */
    pthread_t thread;
    int       started;           /* thread to join */
    /* under s->opt_mu */
    int       state;
    int64_t   done, total;
    char     *result;            /* OPT_DONE: the ranked results, JSON (malloc) */
    char      error[1200];       /* OPT_FAILED / OPT_CANCELLED */
    /* the job thread only */
    mts_bus_t *bus;
    double    last_pub;
} api_opt_t;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void publish(api_opt_t *o, const char *extra) {
    if (!o->bus) return;
    char buf[1600];
    pthread_mutex_lock(&o->s->opt_mu);
    int n = snprintf(buf, sizeof buf, "{\"id\":%lld,\"state\":\"%s\",\"done\":%lld,\"total\":%lld%s}",
                     (long long)o->id, state_names[o->state], (long long)o->done, (long long)o->total,
                     extra ? extra : "");
    pthread_mutex_unlock(&o->s->opt_mu);
    if (n > 0 && (size_t)n < sizeof buf && mts_bus_publish(o->bus, "optimize", buf, (size_t)n) != 0)
        mts_log(MTS_LOG_WARN, "serve.optimize_progress_lost", "\"id\":%lld", (long long)o->id);
}

static void on_progress(void *ctx, int64_t done, int64_t total) {
    api_opt_t *o = ctx;
    pthread_mutex_lock(&o->s->opt_mu);
    o->done = done;
    o->total = total;
    pthread_mutex_unlock(&o->s->opt_mu);
    double t = mono_s();
    if (done == 0 || done == total || t - o->last_pub >= 0.5) {   /* at most 2 a second */
        o->last_pub = t;
        publish(o, NULL);
    }
}

/* The object of `mts optimize --json` (cmd/optimize.c print_json), every row. */
static char *result_json(const mts_opt_spec_t *spec, const mts_opt_point_t *points, const mts_opt_result_t *res,
                         const int64_t *order, int64_t n, int64_t t0, int64_t t1) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    char d0[32], d1[32];
    mts_time_format_iso(t0, d0);
    mts_time_format_iso(t1, d1);
    fprintf(f, "{\"metric\":\"%s\",\"interval\":\"%s\",\"higher_is_better\":%s,\"start\":\"%s\",\"end\":\"%s\","
               "\"combinations\":%lld,\"results\":[", spec->metric, spec->interval ? spec->interval : MTS_INTERVAL_DEFAULT,
            mts_opt_higher_is_better(spec->metric) ? "true" : "false", d0, d1, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const mts_opt_result_t *r = &res[order[i]];
        const mts_opt_point_t *p = &points[order[i]];
        fprintf(f, "%s{\"rank\":%lld,\"strategy\":\"", i ? "," : "", (long long)(i + 1));
        mts_json_escape(f, spec->strategies[r->strategy]);
        fputs("\",\"params\":{", f);
        int first = 1;
        for (int k = 0; k < spec->grid->n_axes; k++) {
            if (p->value[k] < 0) continue;
            const char *v = spec->grid->axes[k].values[p->value[k]];
            fprintf(f, "%s\"", first ? "" : ",");
            mts_json_escape(f, spec->grid->axes[k].key);
            fputs("\":", f);
            char *end;
            double d = strtod(v, &end);
            if (*v && !*end && isfinite(d)) fputs(v, f);
            else {
                fputc('"', f);
                mts_json_escape(f, v);
                fputc('"', f);
            }
            first = 0;
        }
        fputs("},\"id\":", f);
        if (r->run_id > 0) fprintf(f, "%lld", (long long)r->run_id);
        else fputs("null", f);
        const mts_metrics_t *m = &r->m;
        const char *names[] = {"value", "final_value", "total_return", "annualized_return", "sharpe_ratio",
                               "max_drawdown", "volatility", "calmar_ratio", "win_rate", "profit_factor"};
        double vals[] = {r->metric, m->final_value, m->total_return, m->annualized_return, m->sharpe_ratio,
                         m->max_drawdown, m->volatility, m->calmar_ratio, m->win_rate, m->profit_factor};
        for (int k = 0; k < 10; k++) {
            fprintf(f, ",\"%s\":", names[k]);
            mts_json_number(f, vals[k]);
        }
        fprintf(f, ",\"trade_count\":%lld,\"disabled\":%s}", (long long)m->trade_count, r->disabled ? "true" : "false");
    }
    fputs("]}", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void *opt_thread(void *arg) {
    api_opt_t *o = arg;
    api_server_t *s = o->s;
    api_job_t *job = o->job;
    mts_bus_config_t bc = {.redis_url = s->cfg.redis_url, .db_path = s->cfg.db_path, .timeout_ms = 200};
    if (mts_bus_open(&bc, &o->bus) != 0) {   /* no progress on /ws then; the job still runs */
        mts_bus_close(o->bus);
        o->bus = NULL;
    }
    mts_opt_spec_t spec = {
        .strategies = (const char *const *)job->strategies, .n_strategies = job->n_strategies,
        .assets = (const char *const *)job->assets, .n_assets = job->n_assets,
        .interval = job->interval[0] ? job->interval : NULL, .from = job->from, .to = job->to,
        .capital = job->capital, .commission_bps = job->commission_bps, .slippage_bps = job->slippage_bps,
        .risk_free = job->risk_free, .root = s->root, .db_label = "the database", .grid = &job->grid,
        .metric = job->metric, .store = job->store,
        /* issue 12: the body's run options (handlers.c run_options; allocate refused there) */
        .mode = job->mode[0] ? job->mode : NULL, .max_position = job->max_position,
        .max_portfolio_risk = job->max_portfolio_risk, .market = job->market[0] ? job->market : NULL,
        .leverage = job->leverage, .maker_bps = job->maker_bps, .taker_bps = job->taker_bps,
        .has_maker = job->has_maker, .has_taker = job->has_taker};
    char err[1200] = "";
    mts_store_t *store = NULL;
    mts_backtest_data_t *data = NULL;
    mts_opt_result_t *res = NULL;
    mts_opt_point_t *points = NULL;
    int64_t n = 0, np = 0, *order = NULL;
    char *json = NULL;
    int rc = mts_store_open(s->cfg.db_path, &store);
    if (rc != 0) snprintf(err, sizeof err, "cannot open the database: %s", mts_store_errmsg(store));
    if (rc == 0) rc = mts_opt_data_load(store, &spec, &data, err, sizeof err);
    if (rc == 0)
        /* threads, never worker processes: this server is multi-threaded (lws, the
         * API workers), and a fork without exec could inherit their locks (research.h) */
        rc = mts_opt_run_data_exec(store, s->cfg.db_path, &spec, data, job->jobs, MTS_OPT_EXEC_THREADS, on_progress,
                                   o, &s->cancel_jobs, &res, &n, err, sizeof err);
    if (rc == 0) rc = mts_opt_points(&spec, &points, &np, err, sizeof err);
    if (rc == 0 && !(order = mts_calloc((size_t)n + 1, sizeof *order))) rc = MTS_ENOMEM;
    if (rc == 0) {
        mts_opt_rank(&spec, res, n, order);
        if (job->store == MTS_OPT_STORE_BEST && n > 0) {
            mts_opt_result_t best;
            if ((rc = mts_opt_run_point(store, &spec, data, &points[order[0]], 1, &best, err, sizeof err)) == 0)
                res[order[0]].run_id = best.run_id;
        }
    }
    if (rc == 0) {
        int64_t t0, t1;
        mts_backtest_data_range(data, &t0, &t1);
        if (!(json = result_json(&spec, points, res, order, n, t0, t1))) rc = MTS_ENOMEM;
    }
    pthread_mutex_lock(&s->opt_mu);
    if (rc == 0) {
        o->state = OPT_DONE;
        o->result = json;
        json = NULL;
    } else {
        o->state = rc == MTS_ECANCELED ? OPT_CANCELLED : OPT_FAILED;
        snprintf(o->error, sizeof o->error, "%s", err[0] ? err : mts_strerror(rc));
        api_field_names(o->error, sizeof o->error);
    }
    pthread_mutex_unlock(&s->opt_mu);
    if (rc == 0 && n > 0) {
        char best[512];
        snprintf(best, sizeof best, ",\"best\":{\"strategy\":\"%.64s\",\"value\":%.17g}",
                 spec.strategies[res[order[0]].strategy], isfinite(res[order[0]].metric) ? res[order[0]].metric : 0);
        publish(o, best);
    } else {
        publish(o, NULL);
    }
    mts_log(rc ? MTS_LOG_WARN : MTS_LOG_INFO, "serve.optimize_finished", "\"id\":%lld,\"state\":\"%s\",\"runs\":%lld",
            (long long)o->id, state_names[o->state], (long long)n);
    free(json);
    mts_free(order);
    mts_free(points);
    mts_free(res);
    mts_backtest_data_free(data);
    mts_store_close(store);
    mts_bus_close(o->bus);
    o->bus = NULL;
    return NULL;
}

static void opt_free(api_opt_t *o) {
    if (!o) return;
    api_job_free(o->job);
    free(o->result);
    mts_free(o);
}

void api_opt_start(api_server_t *s, api_job_t *job, api_reply_t *r) {
    mts_opt_spec_t spec = {.strategies = (const char *const *)job->strategies, .n_strategies = job->n_strategies,
                           .grid = &job->grid};
    mts_opt_point_t *pts = NULL;
    int64_t total = 0;
    char err[256];
    if (mts_opt_points(&spec, &pts, &total, err, sizeof err) != 0) {   /* checked by api_parse_job */
        api_error(r, 400, "bad_request", "%s", err);
        api_job_free(job);
        return;
    }
    mts_free(pts);
    api_opt_t *o = mts_calloc(1, sizeof *o);
    if (!o) {
        api_error(r, 500, "internal", "out of memory");
        api_job_free(job);
        return;
    }
    o->s = s;
    o->job = job;
    o->total = total;
    /* at most API_OPT_RUNNING at once; keep the newest API_OPT_KEEP (finished ones
     * beyond that are dropped, oldest first) */
    pthread_mutex_lock(&s->opt_mu);
    int running = 0, kept = 0;
    for (api_opt_t *x = s->opts; x; x = x->next) {
        running += x->state == OPT_RUNNING;
        kept++;
    }
    if (running >= API_OPT_RUNNING) {
        pthread_mutex_unlock(&s->opt_mu);
        api_error(r, 503, "busy", "%d optimizations are running (at most %d at once); retry when one is done "
                                  "(GET /optimize/{id})", running, API_OPT_RUNNING);
        r->retry_after = 10;
        opt_free(o);
        return;
    }
    api_opt_t *dropped = NULL;   /* joined and freed below, without the lock (their tail publishes) */
    while (kept >= API_OPT_KEEP) {   /* drop the oldest finished one */
        api_opt_t **pp = &s->opts, **last = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->state != OPT_RUNNING) last = pp;
        if (!last) break;
        api_opt_t *old = *last;
        *last = old->next;
        old->next = dropped;
        dropped = old;
        kept--;
    }
    o->id = ++s->opt_next_id;
    o->state = OPT_RUNNING;
    if (pthread_create(&o->thread, NULL, opt_thread, o) != 0) {
        s->opt_next_id--;
        pthread_mutex_unlock(&s->opt_mu);
        for (api_opt_t *d = dropped, *nx; d; d = nx) {
            nx = d->next;
            if (d->started) pthread_join(d->thread, NULL);
            opt_free(d);
        }
        api_error(r, 503, "busy", "cannot start a thread for the optimization; retry shortly");
        r->retry_after = 5;
        opt_free(o);
        return;
    }
    o->started = 1;
    o->next = s->opts;
    s->opts = o;
    pthread_mutex_unlock(&s->opt_mu);
    for (api_opt_t *d = dropped, *nx; d; d = nx) {
        nx = d->next;
        if (d->started) pthread_join(d->thread, NULL);   /* finished: returns at once */
        opt_free(d);
    }
    FILE *f = api_body(r);
    if (f)
        fprintf(f, "{\"id\":%lld,\"state\":\"running\",\"total\":%lld,\"jobs\":%d,\"status_url\":\"/optimize/%lld\","
                   "\"topic\":\"optimize\"}", (long long)o->id, (long long)total, job->jobs, (long long)o->id);
    api_finish(r, f, 202);
}

void api_opt_get(api_server_t *s, int64_t id, api_reply_t *r) {
    pthread_mutex_lock(&s->opt_mu);
    api_opt_t *o = s->opts;
    while (o && o->id != id) o = o->next;
    if (!o) {
        pthread_mutex_unlock(&s->opt_mu);
        api_error(r, 404, "not_found", "no optimization with id %lld (ids come from POST /optimize; the newest %d "
                                       "are kept while the server runs)", (long long)id, API_OPT_KEEP);
        return;
    }
    FILE *f = api_body(r);
    if (f) {
        fprintf(f, "{\"id\":%lld,\"state\":\"%s\",\"done\":%lld,\"total\":%lld,\"jobs\":%d", (long long)o->id,
                state_names[o->state], (long long)o->done, (long long)o->total, o->job->jobs);
        if (o->state == OPT_FAILED || o->state == OPT_CANCELLED) {
            fputs(",\"error\":\"", f);
            mts_json_escape(f, o->error);
            fputc('"', f);
        }
        if (o->state == OPT_DONE && o->result) fprintf(f, ",\"result\":%s", o->result);
        fputc('}', f);
    }
    pthread_mutex_unlock(&s->opt_mu);
    api_finish(r, f, 200);
}

void api_opt_stop_all(api_server_t *s) {
    s->cancel_jobs = 1;   /* running grids stop at their next check (engine.h) */
    pthread_mutex_lock(&s->opt_mu);
    api_opt_t *list = s->opts;
    s->opts = NULL;
    pthread_mutex_unlock(&s->opt_mu);
    for (api_opt_t *o = list, *nx; o; o = nx) {
        nx = o->next;
        if (o->started) pthread_join(o->thread, NULL);
        opt_free(o);
    }
}
