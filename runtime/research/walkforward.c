/* walkforward.c — walk-forward windows and runs (research.h, "walk-forward"):
 * optimize each train window through the optimizer library, run the chosen
 * point on the window's test range, stitch the test runs into one
 * out-of-sample curve. */
#include "research/research.h"
#include "market/interval.h"
#include "market/series.h"
#include "util/config.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "400d 3h" style text of a duration, for messages. */
static void dur_text(int64_t s, char *buf, size_t n) {
    if (s % 86400 == 0) snprintf(buf, n, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0) snprintf(buf, n, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0) snprintf(buf, n, "%lldm", (long long)(s / 60));
    else snprintf(buf, n, "%llds", (long long)s);
}

int mts_wf_windows(int64_t first, int64_t last, int64_t train_s, int64_t test_s, int anchored,
                   mts_wf_window_t **windows, int *n, char *err, size_t errlen) {
    if (!windows || !n) return mts_errf(err, errlen, MTS_EINVAL, "walk-forward windows: missing argument");
    *windows = NULL;
    *n = 0;
    if (train_s <= 0 || test_s <= 0)
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: the train and test lengths must be > 0");
    if (last < first) return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: no data (the last time is before the first)");
    /* guard the arithmetic: every bound stays below first + span + train + test */
    const int64_t lim = INT64_MAX / 4;
    if (train_s > lim || test_s > lim || first < -lim || last > lim || last - first > lim)
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: lengths or times out of range");
    int64_t span = last - first + 1;
    if (train_s + test_s > span) {
        char a[32], b[32], c[32];
        dur_text(span, a, sizeof a);
        dur_text(train_s, b, sizeof b);
        dur_text(test_s, c, sizeof c);
        return mts_errf(err, errlen, MTS_EINVAL,
                    "walk-forward: the data spans %s, too short for one window of %s train + %s test; "
                    "use shorter --train/--test or more data", a, b, c);
    }
    int64_t count = (span - train_s) / test_s;   /* test_to(k) = first+train+(k+1)*test-1 <= last */
    if (count > 1000000)
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: %lld windows is too many; use a longer --test",
                    (long long)count);
    mts_wf_window_t *w = mts_calloc((size_t)count, sizeof *w);
    if (!w) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory for %lld windows", (long long)count);
    for (int64_t k = 0; k < count; k++) {
        w[k].train_from = anchored ? first : first + k * test_s;
        w[k].train_to = first + k * test_s + train_s - 1;
        w[k].test_from = w[k].train_to + 1;
        w[k].test_to = w[k].test_from + test_s - 1;
    }
    *windows = w;
    *n = (int)count;
    return 0;
}

/* ---- the run ---- */

/* The first bar's open time and the last second covered, over the spec's
 * assets within [opt.from, opt.to]. */
static int data_span(mts_store_t *store, const mts_opt_spec_t *o, int64_t *first, int64_t *last, char *err,
                     size_t errlen) {
    const char *iv = o->interval ? o->interval : MTS_INTERVAL_DEFAULT;
    const char *root = o->root ? o->root : mts_root();
    int64_t iv_s = mts_interval_seconds(iv);
    if (iv_s <= 0) return mts_errf(err, errlen, MTS_EINVAL, "unknown interval '%s' (one of %s)", iv, MTS_INTERVALS);
    *first = INT64_MAX;
    *last = INT64_MIN;
    for (int a = 0; a < o->n_assets; a++) {
        int rc = mts_series_ensure(store, root, o->assets[a], iv);
        if (rc == MTS_ENOTFOUND)
            return mts_errf(err, errlen, rc, "unknown asset '%s': no bars for it and nothing bundled; import one "
                                         "with: mts import csv FILE --asset %s", o->assets[a], o->assets[a]);
        if (rc) return mts_errf(err, errlen, rc, "%s: %s", o->assets[a], mts_store_errmsg(store));
        mts_bars_view_t v;
        mts_series_info_t info;
        rc = mts_series_map_bars(store, o->assets[a], iv, o->from, o->to, 0, &v, &info);
        if (rc == 0 && v.n > 0) {
            if (v.ts[0] < *first) *first = v.ts[0];
            if (v.ts[v.n - 1] + iv_s - 1 > *last) *last = v.ts[v.n - 1] + iv_s - 1;
        }
        int64_t nb = rc == 0 ? v.n : 0;
        mts_bars_view_release(&v);
        if (rc) return mts_errf(err, errlen, rc, "loading %s: %s", o->assets[a], info.error);
        if (nb == 0) return mts_errf(err, errlen, MTS_ENOTFOUND, "no %s bars for %s in the requested range", iv, o->assets[a]);
    }
    return 0;
}

typedef struct {
    mts_opt_progress_fn fn;
    void *ctx;
    int64_t base, total;
} prog_t;

static void window_progress(void *ctx, int64_t done, int64_t total) {
    (void)total;
    prog_t *p = ctx;
    if (p->fn) p->fn(p->ctx, p->base + done, p->total);
}

static int append_curve(mts_series_t *dst, const mts_series_t *src) {
    if (src->n <= 0) return 0;
    int64_t need = dst->n + src->n;
    if (need > dst->cap) {
        int64_t cap = dst->cap ? dst->cap : 1024;
        while (cap < need) cap *= 2;
        int64_t *ts = mts_realloc(dst->ts, (size_t)cap * sizeof *ts);
        if (!ts) return MTS_ENOMEM;
        dst->ts = ts;
        double *v = mts_realloc(dst->v, (size_t)cap * sizeof *v);
        if (!v) return MTS_ENOMEM;
        dst->v = v;
        dst->cap = cap;
    }
    memcpy(dst->ts + dst->n, src->ts, (size_t)src->n * sizeof *src->ts);
    memcpy(dst->v + dst->n, src->v, (size_t)src->n * sizeof *src->v);
    dst->n = need;
    return 0;
}

/* The test run of point p on window w with capital. */
static int test_run(mts_store_t *store, const mts_wf_spec_t *spec, const mts_wf_window_t *w,
                    const mts_opt_point_t *p, double capital, const volatile sig_atomic_t *cancel,
                    mts_backtest_t **out, char *err, size_t errlen) {
    mts_opt_spec_t o = spec->opt;      /* the grid's spec over the test window, with its capital */
    o.from = w->test_from;
    o.to = w->test_to;
    o.capital = capital;
    const char *keys[MTS_GRID_MAX_AXES], *vals[MTS_GRID_MAX_AXES], *strategy;
    mts_backtest_opts_t bo;
    mts_opt_backtest_opts(&o, p, 0, NULL, &strategy, keys, vals, &bo);
    bo.cancel = cancel;
    return mts_backtest_run(store, &bo, out, err, errlen);
}

void mts_wf_result_free(mts_wf_result_t *r) {
    if (!r) return;
    mts_free(r->windows);
    mts_series_free(&r->equity);
    mts_free(r->trades);
    memset(r, 0, sizeof *r);
}

int mts_wf_run(mts_store_t *store, const mts_wf_spec_t *spec, mts_opt_progress_fn progress, void *progress_ctx,
               const volatile sig_atomic_t *cancel, mts_wf_result_t *out, char *err, size_t errlen) {
    if (!store || !spec || !out || !spec->db_path || !spec->opt.metric)
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: missing argument");
    memset(out, 0, sizeof *out);
    const mts_opt_spec_t *o = &spec->opt;
    if (!mts_opt_metric_known(o->metric))
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward: unknown metric '%s'", o->metric);
    int rc = data_span(store, o, &out->first, &out->last, err, errlen);
    if (rc) return rc;
    mts_wf_window_t *wins = NULL;
    int nw = 0;
    if ((rc = mts_wf_windows(out->first, out->last, spec->train_s, spec->test_s, spec->anchored, &wins, &nw, err,
                             errlen)) != 0)
        return rc;
    mts_opt_point_t *points = NULL;
    int64_t n_points = 0;
    if ((rc = mts_opt_points(o, &points, &n_points, err, errlen)) != 0) {
        mts_free(wins);
        return rc;
    }
    out->windows = mts_calloc((size_t)nw, sizeof *out->windows);
    int64_t *order = mts_calloc((size_t)n_points, sizeof *order);
    if (!out->windows || !order) {
        mts_free(wins);
        mts_free(order);
        mts_free(points);
        mts_wf_result_free(out);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    }
    out->n_windows = nw;
    const int higher = mts_opt_higher_is_better(o->metric);
    const int64_t iv_s = mts_interval_seconds(o->interval ? o->interval : MTS_INTERVAL_DEFAULT);
    prog_t prog = {progress, progress_ctx, 0, (int64_t)nw * (n_points + 1)};
    double capital = o->capital, is_sum = 0, oos_sum = 0;
    int64_t trades_cap = 0;
    for (int k = 0; k < nw; k++) {
        mts_wf_window_result_t *wr = &out->windows[k];
        wr->w = wins[k];
        /* 1. the grid on the train window */
        mts_opt_spec_t train = *o;
        train.from = wins[k].train_from;
        train.to = wins[k].train_to;
        train.store = MTS_OPT_STORE_NONE;
        mts_opt_result_t *res = NULL;
        int64_t nres = 0;
        prog.base = (int64_t)k * (n_points + 1);
        char e[1024] = "";
        rc = mts_opt_run_local(spec->db_path, &train, spec->jobs, window_progress, &prog, cancel, &res, &nres, e,
                               sizeof e);
        if (rc == 0 && nres != n_points) rc = MTS_EINVAL, snprintf(e, sizeof e, "the grid gave %lld results, not %lld",
                                                                (long long)nres, (long long)n_points);
        if (rc) {
            char d0[32], d1[32];
            mts_time_format_iso(wins[k].train_from, d0);
            mts_time_format_iso(wins[k].train_to, d1);
            mts_errf(err, errlen, rc, "window %d: training on %s .. %s: %s", k + 1, d0, d1, e[0] ? e : mts_strerror(rc));
            mts_free(res);
            goto error;
        }
        mts_opt_rank(&train, res, nres, order);
        const mts_opt_result_t *best = &res[order[0]];
        wr->point = points[best->index];
        mts_opt_point_text(o, &wr->point, wr->params, sizeof wr->params);
        wr->is = best->m;
        wr->is_metric = best->metric;
        mts_free(res);

        /* 2. the chosen point on the test window, with the stitched capital */
        mts_backtest_t *b = NULL;
        wr->capital = capital;
        if ((rc = test_run(store, spec, &wins[k], &wr->point, capital, cancel, &b, e, sizeof e)) != 0) {
            char d0[32], d1[32];
            mts_time_format_iso(wins[k].test_from, d0);
            mts_time_format_iso(wins[k].test_to, d1);
            mts_errf(err, errlen, rc, "window %d: testing %s on %s .. %s: %s", k + 1, wr->params, d0, d1,
                 e[0] ? e : mts_strerror(rc));
            goto error;
        }
        const mts_portfolio_t *pf = mts_engine_portfolio(b->engine);
        wr->oos = b->metrics;
        wr->oos_metric = mts_opt_metric_of(&b->metrics, o->metric);
        wr->disabled = b->lua.disabled && *b->lua.disabled;
        out->n_disabled += wr->disabled;
        wr->n_points = pf->equity.n;
        wr->first_ts = pf->equity.n ? pf->equity.ts[0] : 0;
        wr->last_ts = pf->equity.n ? pf->equity.ts[pf->equity.n - 1] : 0;
        wr->n_trades = pf->n_trades;
        rc = append_curve(&out->equity, &pf->equity);
        if (rc == 0 && pf->n_trades > 0) {
            int64_t need = out->n_trades + pf->n_trades;
            if (need > trades_cap) {
                int64_t cap = trades_cap ? trades_cap : 64;
                while (cap < need) cap *= 2;
                mts_trade_t *t = mts_realloc(out->trades, (size_t)cap * sizeof *t);
                if (!t) rc = MTS_ENOMEM;
                else {
                    out->trades = t;
                    trades_cap = cap;
                }
            }
            if (rc == 0) {
                memcpy(out->trades + out->n_trades, pf->trades, (size_t)pf->n_trades * sizeof *pf->trades);
                out->n_trades = need;
            }
        }
        if (pf->equity.n > 0) capital = pf->equity.v[pf->equity.n - 1];
        mts_backtest_free(b);
        if (rc) {
            mts_errf(err, errlen, rc, "out of memory stitching the test windows");
            goto error;
        }
        if (isfinite(wr->is_metric) && isfinite(wr->oos_metric)) {
            is_sum += wr->is_metric;
            oos_sum += wr->oos_metric;
            out->n_counted++;
        }
        if (progress) progress(progress_ctx, (int64_t)(k + 1) * (n_points + 1), prog.total);
    }
    mts_free(wins);
    mts_free(order);
    mts_free(points);
    wins = NULL;
    order = NULL;
    points = NULL;
    if ((rc = mts_metrics_compute_at(&out->equity, iv_s, o->capital, o->risk_free, out->trades, out->n_trades,
                                     &out->oos)) != 0) {
        mts_errf(err, errlen, rc, "computing the stitched metrics: %s", mts_strerror(rc));
        goto error;
    }
    if (out->n_counted > 0) {
        out->is_mean = is_sum / out->n_counted;
        out->oos_mean = oos_sum / out->n_counted;
        out->gap = higher ? out->is_mean - out->oos_mean : out->oos_mean - out->is_mean;
        out->efficiency = out->is_mean != 0 ? out->oos_mean / out->is_mean : NAN;
    } else {
        out->is_mean = out->oos_mean = out->gap = out->efficiency = NAN;
    }
    return 0;
error:
    mts_free(wins);
    mts_free(order);
    mts_free(points);
    mts_wf_result_free(out);
    return rc;
}

/* ---- storing ---- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    mts_json_escape(f, s ? s : "");
    fputc('"', f);
}

static void json_iso(FILE *f, int64_t ts) {
    char b[32];
    mts_time_format_iso(ts, b);
    json_str(f, b);
}

/* A value as a JSON number when it reads as one, else a string. */
static void json_value(FILE *f, const char *v) {
    char *end;
    double d = strtod(v, &end);
    if (*v && !*end && isfinite(d)) fputs(v, f);
    else json_str(f, v);
}

char *mts_wf_parameters_json(const mts_wf_spec_t *spec, const mts_wf_result_t *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    const mts_opt_spec_t *o = &spec->opt;
    fputs("{\"walkforward\":{\"metric\":", f);
    json_str(f, o->metric);
    fprintf(f, ",\"higher_is_better\":%s,\"anchored\":%s,\"train_s\":%lld,\"test_s\":%lld,\"first\":",
            mts_opt_higher_is_better(o->metric) ? "true" : "false", spec->anchored ? "true" : "false",
            (long long)spec->train_s, (long long)spec->test_s);
    json_iso(f, r->first);
    fputs(",\"last\":", f);
    json_iso(f, r->last);
    fputs(",\"grid\":{", f);
    for (int k = 0; o->grid && k < o->grid->n_axes; k++) {
        fprintf(f, "%s", k ? "," : "");
        json_str(f, o->grid->axes[k].key);
        fputs(":[", f);
        for (int i = 0; i < o->grid->axes[k].n; i++) {
            if (i) fputc(',', f);
            json_value(f, o->grid->axes[k].values[i]);
        }
        fputc(']', f);
    }
    fputs("},\"windows\":[", f);
    for (int k = 0; k < r->n_windows; k++) {
        const mts_wf_window_result_t *w = &r->windows[k];
        fprintf(f, "%s{\"train_from\":", k ? "," : "");
        json_iso(f, w->w.train_from);
        fputs(",\"train_to\":", f);
        json_iso(f, w->w.train_to);
        fputs(",\"test_from\":", f);
        json_iso(f, w->w.test_from);
        fputs(",\"test_to\":", f);
        json_iso(f, w->w.test_to);
        fputs(",\"strategy\":", f);
        json_str(f, o->strategies[w->point.strategy]);
        fputs(",\"params\":{", f);
        int first = 1;
        for (int a = 0; o->grid && a < o->grid->n_axes; a++) {
            if (w->point.value[a] < 0) continue;
            if (!first) fputc(',', f);
            first = 0;
            json_str(f, o->grid->axes[a].key);
            fputc(':', f);
            json_value(f, o->grid->axes[a].values[w->point.value[a]]);
        }
        fputs("},\"is_metric\":", f);
        mts_json_number(f, w->is_metric);
        fputs(",\"oos_metric\":", f);
        mts_json_number(f, w->oos_metric);
        fputs(",\"capital\":", f);
        mts_json_number(f, w->capital);
        fputs(",\"final_value\":", f);
        mts_json_number(f, w->oos.final_value);
        fputc('}', f);
    }
    fputs("],\"is_mean\":", f);
    mts_json_number(f, r->is_mean);
    fputs(",\"oos_mean\":", f);
    mts_json_number(f, r->oos_mean);
    fputs(",\"gap\":", f);
    mts_json_number(f, r->gap);
    fputs(",\"efficiency\":", f);
    mts_json_number(f, r->efficiency);
    fputs("}}", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    char *s = mts_malloc(len + 1);
    if (s) memcpy(s, buf, len + 1);
    free(buf);
    return s;
}

int mts_wf_store(mts_store_t *store, const mts_wf_spec_t *spec, const mts_wf_result_t *r, int64_t *run_id,
                 char *err, size_t errlen) {
    if (!store || !spec || !r || !run_id || r->equity.n < 1)
        return mts_errf(err, errlen, MTS_EINVAL, "walk-forward store: nothing to store");
    const mts_opt_spec_t *o = &spec->opt;
    size_t sl = 1, al = 1;
    for (int i = 0; i < o->n_strategies; i++) sl += strlen(o->strategies[i]) + 1;
    for (int i = 0; i < o->n_assets; i++) al += strlen(o->assets[i]) + 1;
    char *strategies = mts_calloc(1, sl), *assets = mts_calloc(1, al);
    char *params = mts_wf_parameters_json(spec, r);
    mts_trade_row_t *trades = r->n_trades ? mts_calloc((size_t)r->n_trades, sizeof *trades) : NULL;
    int rc = 0;
    if (!strategies || !assets || !params || (r->n_trades && !trades)) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory storing the walk-forward");
        goto done;
    }
    for (int i = 0; i < o->n_strategies; i++) {
        if (i) strcat(strategies, ",");
        strcat(strategies, o->strategies[i]);
    }
    for (int i = 0; i < o->n_assets; i++) {
        if (i) strcat(assets, ",");
        strcat(assets, o->assets[i]);
    }
    for (int64_t i = 0; i < r->n_trades; i++) {
        const mts_trade_t *t = &r->trades[i];
        trades[i] = (mts_trade_row_t){
            .asset = t->asset >= 0 && t->asset < o->n_assets ? o->assets[t->asset] : "?", .side = t->side,
            .qty = t->qty, .entry_ts = t->entry_ts, .entry_price = t->entry_price, .exit_ts = t->exit_ts,
            .exit_price = t->exit_price, .pnl = t->pnl, .fees = t->fees};
    }
    char d0[32], d1[32];
    mts_time_format_iso(r->equity.ts[0], d0);
    mts_time_format_iso(r->equity.ts[r->equity.n - 1], d1);
    const mts_metrics_t *m = &r->oos;
    mts_backtest_row_t row = {
        .strategy_name = strategies, .assets = assets, .start_date = d0, .end_date = d1,
        .parameters_json = params, .initial_capital = o->capital, .final_value = m->final_value,
        .total_return = m->total_return, .annualized_return = m->annualized_return,
        .sharpe_ratio = m->sharpe_ratio, .max_drawdown = m->max_drawdown, .volatility = m->volatility,
        .calmar_ratio = m->calmar_ratio, .win_rate = m->win_rate, .profit_factor = m->profit_factor,
        .commission_bps = o->commission_bps, .slippage_bps = o->slippage_bps, .trade_count = m->trade_count,
        .interval = o->interval ? o->interval : MTS_INTERVAL_DEFAULT};
    rc = mts_store_insert_run(store, &row, NULL, 0, trades, r->n_trades, r->equity.ts, r->equity.v, r->equity.n,
                              NULL, 0, run_id);
    if (rc) mts_errf(err, errlen, rc, "storing the walk-forward: %s", mts_store_errmsg(store));
done:
    mts_free(strategies);
    mts_free(assets);
    mts_free(params);
    mts_free(trades);
    return rc;
}
