/* backtest.c — one backtest run as a library call (see backtest.h). */
#include "backtest/backtest.h"
#include "market/instrument.h"
#include "market/interval.h"
#include "market/series.h"
#include "market/provider.h"
#include "store/imports.h"
#include "util/config.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a,b,c" from names; mts_malloc'd. */
static char *join(const char *const *names, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(names[i]) + 1;
    char *s = mts_malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (i) *p++ = ',';
        memcpy(p, names[i], l);
        p += l;
    }
    *p = 0;
    return s;
}

/* ---- config/mts.json under root: books, instruments (issue 12) ---- */

static cJSON *obj_at(const cJSON *o, const char *key) {
    cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsObject(v) ? v : NULL;
}

int mts_backtest_allocations(const char *root, const char *spec, const char *const *strategies, int n,
                             double *out, char *err, size_t errlen) {
    if (n < 1 || n > MTS_ENGINE_MAX_BOOKS)
        return mts_errf(err, errlen, MTS_EINVAL, "independent mode: 1 to %d strategies (one book each), got %d",
                        MTS_ENGINE_MAX_BOOKS, n);
    for (int i = 0; i < n; i++) out[i] = NAN;
    const char *src = spec ? "--allocate" : "config/mts.json books.allocate";
    if (spec) {
        const char *p = spec;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            if (!eq || eq == p)
                return mts_errf(err, errlen, MTS_EINVAL, "--allocate expects NAME=FRACTION,..., got '%.*s'",
                                (int)len, p);
            size_t nl = (size_t)(eq - p);
            int k = -1;
            for (int i = 0; i < n; i++)
                if (strlen(strategies[i]) == nl && strncmp(strategies[i], p, nl) == 0) k = i;
            if (k < 0) {
                char *names = join(strategies, n);
                int rc = mts_errf(err, errlen, MTS_EINVAL, "--allocate: '%.*s' is not a strategy of this run (%s)",
                                  (int)nl, p, names ? names : "");
                mts_free(names);
                return rc;
            }
            char num[64];
            size_t vl = len - nl - 1;
            if (vl == 0 || vl >= sizeof num)
                return mts_errf(err, errlen, MTS_EINVAL, "--allocate: %s needs a fraction, e.g. %s=0.5",
                                strategies[k], strategies[k]);
            memcpy(num, eq + 1, vl);
            num[vl] = 0;
            char *e2;
            double v = strtod(num, &e2);
            if (*e2 || !isfinite(v) || v <= 0 || v > 1)
                return mts_errf(err, errlen, MTS_EINVAL, "--allocate: %s=%s: a fraction of the capital in (0, 1]",
                                strategies[k], num);
            if (!isnan(out[k]))
                return mts_errf(err, errlen, MTS_EINVAL, "--allocate: %s is given twice", strategies[k]);
            out[k] = v;
            p = end ? end + 1 : p + len;
        }
    } else {
        cJSON *cfg = mts_config_site(root);
        cJSON *al = obj_at(obj_at(cfg, "books"), "allocate");
        for (int i = 0; al && i < n; i++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(al, strategies[i]);
            if (!v) continue;
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0 || v->valuedouble > 1) {
                cJSON_Delete(cfg);
                return mts_errf(err, errlen, MTS_EINVAL, "%s.%s must be a fraction of the capital in (0, 1]",
                                src, strategies[i]);
            }
            out[i] = v->valuedouble;
        }
        cJSON_Delete(cfg);
    }
    double sum = 0;
    int rest = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(out[i])) rest++;
        else sum += out[i];
    }
    if (sum > 1 + 1e-9)
        return mts_errf(err, errlen, MTS_EINVAL, "%s: the shares add up to %.10g, more than the capital (1)", src, sum);
    if (rest > 0) {
        double left = 1 - sum;
        if (!(left > 1e-9)) {
            for (int i = 0; i < n; i++)
                if (isnan(out[i]))
                    return mts_errf(err, errlen, MTS_EINVAL, "%s: nothing is left for %s (give it a share too)",
                                    src, strategies[i]);
        }
        for (int i = 0; i < n; i++)
            if (isnan(out[i])) out[i] = rest == n ? 1.0 / n : left / rest;
    }
    return 0;
}

/* A number field of an instrument section: absent -> *out untouched; else
 * finite and >= 0, or MTS_EINVAL naming it. */
/* The stored JSON below is written by hand, numbers with mts_json_number (the
 * shortest text that reads back as the same double; null when not finite):
 * cJSON's printer keeps 15 digits when they are within an epsilon, so
 * 0.7300194827281818 would be stored as 0.730019482728182. The callers free
 * the text with cJSON_free (= free: no cJSON hooks are installed). */
static void xnum(FILE *f, const char *k, double v) {
    fprintf(f, ",\"%s\":", k);
    mts_json_number(f, v);
}

static void xint(FILE *f, const char *k, int64_t v) { fprintf(f, ",\"%s\":%lld", k, (long long)v); }

/* buf: the memstream's pointer, set by fclose (read only after it). */
static char *xclose(FILE *f, char **buf) {
    if (fclose(f) != 0) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* The metrics of one book as JSON (backtest_books.metrics; also --json's books). */
static char *book_metrics_json(const mts_backtest_book_t *bk) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fputs("{\"return\":", f);
    mts_json_number(f, bk->metrics.total_return);
    xnum(f, "sharpe", bk->metrics.sharpe_ratio);
    xnum(f, "max_drawdown", bk->metrics.max_drawdown);
    xint(f, "risk_trimmed", bk->risk_trimmed);
    xint(f, "risk_refused", bk->risk_refused);
    xint(f, "risk_short_refused", bk->risk_short_refused);
    xint(f, "bp_cut", bk->stats.bp_cut);
    xint(f, "bp_refused", bk->stats.bp_refused);
    xint(f, "short_refused", bk->stats.short_refused);
    xint(f, "lot_refused", bk->stats.lot_refused);
    xint(f, "liquidations", bk->stats.liquidations);
    fputc('}', f);
    return xclose(f, &buf);
}

/* backtest_results.extra: mode, market, leverage, the further metrics, the benchmark. */
static char *extra_json(const mts_backtest_t *b) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    const mts_metrics_t *m = &b->metrics;
    fputs("{\"mode\":\"", f);
    mts_json_escape(f, b->mode);
    fputs("\",\"market\":\"", f);
    mts_json_escape(f, b->market);
    fputc('"', f);
    xnum(f, "leverage", b->leverage);
    xnum(f, "sortino_ratio", m->sortino_ratio);
    xnum(f, "exposure_time", m->exposure_time);
    xnum(f, "avg_trade", m->avg_trade);
    xnum(f, "expectancy", m->expectancy);
    xint(f, "longest_losing_streak", m->longest_losing_streak);
    xnum(f, "alpha", m->alpha);
    xnum(f, "beta", m->beta);
    xnum(f, "funding", b->account.funding);
    xint(f, "risk_trimmed", b->risk_trimmed);
    xint(f, "risk_refused", b->risk_refused);
    xint(f, "risk_short_refused", b->risk_short_refused);
    xint(f, "bp_cut", b->account.bp_cut);
    xint(f, "bp_refused", b->account.bp_refused);
    xint(f, "short_refused", b->account.short_refused);
    xint(f, "liquidations", b->account.liquidations);
    if (b->has_benchmark) {
        const mts_metrics_t *x = &b->benchmark_metrics;
        fputs(",\"benchmark\":{\"final_value\":", f);
        mts_json_number(f, x->final_value);
        xnum(f, "total_return", x->total_return);
        xnum(f, "annualized_return", x->annualized_return);
        xnum(f, "volatility", x->volatility);
        xnum(f, "sharpe_ratio", x->sharpe_ratio);
        xnum(f, "max_drawdown", x->max_drawdown);
        fputc('}', f);
    }
    fputc('}', f);
    return xclose(f, &buf);
}


/* The run row, its signals (backtest_signals), trades (backtest_trades: every
 * book's closed trades, then the END_OF_DATA records of positions still open,
 * open = 1), books (backtest_books) and the account's equity curve
 * (backtest_curves: one MTC1 blob per run) in one transaction, so `mts report
 * ID` can rebuild everything from stored numbers. */
static int store_run(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_t *b,
                     const mts_backtest_row_t *row, char *err, size_t errlen) {
    int64_t n = 0, n_closed = 0, n_open = 0;
    const mts_signal_rec_t *sigs = mts_engine_signals(b->engine, &n);
    const mts_trade_t *closed = mts_engine_trades(b->engine, &n_closed);
    const mts_trade_t *open = mts_engine_open_trades(b->engine, &n_open);
    const mts_series_t *curve = mts_engine_equity_curve(b->engine);
    int64_t n_trades = n_closed + n_open;
    b->n_signals = n;
    mts_signal_row_t *rows = n ? mts_calloc((size_t)n, sizeof *rows) : NULL;
    mts_trade_row_t *trades = n_trades ? mts_calloc((size_t)n_trades, sizeof *trades) : NULL;
    mts_book_row_t *books = b->n_books ? mts_calloc((size_t)b->n_books, sizeof *books) : NULL;
    char **metrics = b->n_books ? mts_calloc((size_t)b->n_books, sizeof *metrics) : NULL;
    if ((n && !rows) || (n_trades && !trades) || (b->n_books && (!books || !metrics))) {
        mts_free(rows);
        mts_free(trades);
        mts_free(books);
        mts_free(metrics);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory storing the run");
    }
    for (int64_t i = 0; i < n; i++) {
        const mts_signal_rec_t *r = &sigs[i];
        rows[i] = (mts_signal_row_t){
            .asset = mts_engine_asset_name(b->engine, r->asset),
            .strategy_name = (r->strategy >= 0 && r->strategy < o->n_strategies)
                                 ? o->strategies[r->strategy] : "aggregate",
            .signal_type = mts_signal_name(r->signal_type), .ts = r->ts, .price = r->price,
            .confidence = r->confidence, .position_size = r->position_size,
            .stop_loss = r->stop_loss, .take_profit = r->take_profit};
    }
    for (int64_t i = 0; i < n_trades; i++) {
        const mts_trade_t *t = i < n_closed ? &closed[i] : &open[i - n_closed];
        trades[i] = (mts_trade_row_t){
            .asset = mts_engine_asset_name(b->engine, t->asset), .side = t->side, .qty = t->qty,
            .entry_ts = t->entry_ts, .entry_price = t->entry_price, .exit_ts = t->exit_ts,
            .exit_price = t->exit_price, .pnl = t->pnl, .fees = t->fees,
            .strategy = (t->strategy >= 0 && t->strategy < o->n_strategies) ? o->strategies[t->strategy] : NULL,
            .entry_reason = mts_reason_name(t->entry_reason), .exit_reason = mts_reason_name(t->exit_reason),
            .funding = t->funding, .mae = t->mae, .mfe = t->mfe, .open = i >= n_closed};
    }
    int rc = 0;
    for (int k = 0; k < b->n_books; k++) {
        const mts_backtest_book_t *bk = &b->books[k];
        const mts_portfolio_t *pf = mts_engine_book(b->engine, k);
        if (!(metrics[k] = book_metrics_json(bk))) rc = MTS_ENOMEM;
        books[k] = (mts_book_row_t){
            .book = k, .strategy = bk->strategy, .allocation = bk->allocation, .initial = bk->stats.initial,
            .final = bk->stats.equity, .pnl = bk->stats.equity - bk->stats.initial, .fees = bk->stats.fees,
            .funding = bk->stats.funding, .trades = bk->metrics.trade_count, .metrics_json = metrics[k],
            .curve_ts = b->n_books > 1 && pf ? pf->equity.ts : NULL,
            .curve_v = b->n_books > 1 && pf ? pf->equity.v : NULL,
            .curve_n = b->n_books > 1 && pf ? pf->equity.n : 0};
    }
    if (rc == 0) {
        mts_store_set_cancel(store, o->cancel);   /* a cancel also ends a wait for the lock */
        rc = mts_store_insert_run(store, row, rows, n, trades, n_trades, curve->ts, curve->v, curve->n, books,
                                  b->n_books, &b->run_id);
        mts_store_set_cancel(store, NULL);
        if (rc != 0) mts_errf(err, errlen, rc, "storing the result: %s", mts_store_errmsg(store));
    } else {
        mts_errf(err, errlen, rc, "out of memory storing the run");
    }
    for (int k = 0; k < b->n_books; k++) cJSON_free(metrics[k]);
    mts_free(metrics);
    mts_free(rows);
    mts_free(trades);
    mts_free(books);
    return rc;
}

static int load_asset(mts_store_t *store, const mts_backtest_opts_t *o, const char *root,
                      const char *db, const char *asset, mts_bars_view_t *bars, char *err, size_t errlen) {
    int rc = mts_series_ensure(store, root, asset, o->interval);   /* bundled data on first use */
    if (rc == MTS_ENOTFOUND) {
        char *names = mts_config_dataset_names("assets");
        rc = mts_errf(err, errlen, MTS_ENOTFOUND,
                  "unknown asset '%s': %s has no bars for it and there is no bundled file "
                  "(bundled: %s).\n  Import one with: mts import csv FILE --asset %s",
                  asset, db, names && *names ? names : "none", asset);
        mts_free(names);
        return rc;
    }
    if (rc != 0) return mts_errf(err, errlen, rc, "%s: %s", db, mts_store_errmsg(store));
    const char *iv = o->interval ? o->interval : MTS_INTERVAL_DEFAULT;
    /* stored (from the shared bar cache, read-only), or resampled from a
     * finer stored interval (market/series.h) */
    mts_series_info_t info;
    rc = mts_series_map_bars(store, asset, iv, o->from, o->to, 0, bars, &info);
    if (rc != 0) return mts_errf(err, errlen, rc, "loading %s: %s", asset, info.error);
    if (bars->n > 0) return 0;

    mts_bars_t all;
    memset(&all, 0, sizeof all);
    mts_series_load_bars(store, asset, iv, INT64_MIN, INT64_MAX, &all, NULL);
    char d0[16] = "?", d1[16] = "?";
    if (all.n) {
        mts_time_format_date(all.ts[0], d0);
        mts_time_format_date(all.ts[all.n - 1], d1);
    }
    rc = mts_errf(err, errlen, MTS_ENOTFOUND,
              "no %s bars for %s in the requested range; %s has %lld from %s to %s",
              iv, asset, db, (long long)all.n, d0, d1);
    mts_bars_free(&all);
    return rc;
}

struct mts_backtest_data {
    int           n_assets;
    char         *assets[MTS_BACKTEST_MAX_ASSETS];
    char         *interval, *root;
    int64_t       from, to;
    mts_bars_view_t views[MTS_BACKTEST_MAX_ASSETS];   /* own the bars (store.h) */
    mts_bars_t    bars[MTS_BACKTEST_MAX_ASSETS];   /* the views borrowed: read-only */
    mts_series_t  vix;            /* n = 0: none */
    mts_provider_t *provider;     /* its cache is shared by the runs (provider.h) */
    char         *warnings;
    int64_t       start_ts, end_ts, total_bars;
};

/* What both the run and the data load check of o. */
static int check_assets(const mts_backtest_opts_t *o, char *err, size_t errlen) {
    if (o->n_assets < 1 || o->n_assets > MTS_BACKTEST_MAX_ASSETS)
        return mts_errf(err, errlen, MTS_EINVAL, "a backtest needs 1 to %d assets", MTS_BACKTEST_MAX_ASSETS);
    for (int a = 0; a < o->n_assets; a++)
        for (int k = 0; k < a; k++)
            if (strcmp(o->assets[a], o->assets[k]) == 0)
                return mts_errf(err, errlen, MTS_EINVAL, "asset '%s' is listed twice", o->assets[a]);
    if (o->interval && mts_interval_seconds(o->interval) < 0)
        return mts_errf(err, errlen, MTS_EINVAL, "unknown interval '%s' (one of %s)", o->interval, MTS_INTERVALS);
    return 0;
}

void mts_backtest_data_free(mts_backtest_data_t *d) {
    if (!d) return;
    for (int a = 0; a < MTS_BACKTEST_MAX_ASSETS; a++) {
        mts_bars_view_release(&d->views[a]);   /* d->bars[a] borrowed them */
        mts_free(d->assets[a]);
    }
    mts_series_free(&d->vix);
    mts_provider_free(d->provider);
    mts_free(d->interval);
    mts_free(d->root);
    mts_free(d->warnings);
    mts_free(d);
}

int mts_backtest_data_load(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_data_t **out,
                           char *err, size_t errlen) {
    if (!store || !o || !out) return mts_errf(err, errlen, MTS_EINVAL, "backtest: missing argument");
    *out = NULL;
    int rc = check_assets(o, err, errlen);
    if (rc) return rc;
    const char *root = o->root ? o->root : mts_root();
    const char *db = o->db_label ? o->db_label : "the database";
    const char *iv = o->interval ? o->interval : MTS_INTERVAL_DEFAULT;
    mts_backtest_data_t *d = mts_calloc(1, sizeof *d);
    if (!d || !(d->interval = mts_strdup(iv)) || !(d->root = mts_strdup(root))) {
        mts_backtest_data_free(d);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    }
    d->from = o->from;
    d->to = o->to;
    d->start_ts = INT64_MAX;
    d->end_ts = INT64_MIN;
    for (int a = 0; a < o->n_assets; a++) {
        if (!(d->assets[a] = mts_strdup(o->assets[a]))) {
            rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            goto error;
        }
        d->n_assets = a + 1;
        if ((rc = load_asset(store, o, root, db, o->assets[a], &d->views[a], err, errlen)) != 0) goto error;
        mts_bars_view_borrow(&d->views[a], &d->bars[a]);
        /* bars of an import that did not finish are used, but not silently */
        mts_imports_warnings(store, "ohlcv", o->assets[a], iv, &d->warnings);
        const mts_bars_t *bars = &d->bars[a];
        d->total_bars += bars->n;
        if (bars->ts[0] < d->start_ts) d->start_ts = bars->ts[0];
        if (bars->ts[bars->n - 1] > d->end_ts) d->end_ts = bars->ts[bars->n - 1];
    }
    /* VIX for the macro-aware strategies: all history up to the end of the
     * range (strategies align it as-of to bar times, so no look-ahead). A
     * database without VIX is fine: those strategies then say what is missing. */
    if (mts_store_ensure_macro(store, root, "VIX") == 0 &&
        mts_store_load_macro(store, "VIX", INT64_MIN, o->to, &d->vix) == 0 && d->vix.n > 0)
        mts_imports_warnings(store, "macro", "VIX", NULL, &d->warnings);
    else d->vix.n = 0;
    /* what ctx:bars/macro/funding/book load: everything stored (the runner
     * shows each as-of the current bar; a row after --to but before the last
     * bar's end is still visible to that bar) */
    if ((rc = mts_provider_new(store, root, INT64_MAX, &d->provider)) != 0) {
        mts_errf(err, errlen, rc, "out of memory");
        goto error;
    }
    *out = d;
    return 0;
error:
    mts_backtest_data_free(d);
    return rc;
}

void mts_backtest_data_range(const mts_backtest_data_t *d, int64_t *start_ts, int64_t *end_ts) {
    if (start_ts) *start_ts = d ? d->start_ts : 0;
    if (end_ts) *end_ts = d ? d->end_ts : 0;
}

const char *mts_backtest_data_warnings(const mts_backtest_data_t *d) { return d ? d->warnings : NULL; }

static int same(const char *x, const char *y) { return strcmp(x, y) == 0; }

int mts_backtest_run(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_t **out,
                     char *err, size_t errlen) {
    if (!store || !o || !out) return mts_errf(err, errlen, MTS_EINVAL, "backtest: missing argument");
    *out = NULL;
    int rc = check_assets(o, err, errlen);
    if (rc) return rc;
    if (o->n_strategies < 1) return mts_errf(err, errlen, MTS_EINVAL, "a backtest needs a strategy");
    const char *root = o->root ? o->root : mts_root();
    const mts_backtest_data_t *d = o->data;
    if (d) {   /* shared data: of this run's assets, interval, range and root */
        int ok = d->n_assets == o->n_assets && d->from == o->from && d->to == o->to &&
                 same(d->interval, o->interval ? o->interval : MTS_INTERVAL_DEFAULT) && same(d->root, root);
        for (int a = 0; ok && a < o->n_assets; a++) ok = same(d->assets[a], o->assets[a]);
        if (!ok)
            return mts_errf(err, errlen, MTS_EINVAL, "backtest: the shared data was loaded for other assets, "
                                                 "interval, range or root than this run's");
    }
    mts_backtest_t *b = mts_calloc(1, sizeof *b);
    if (!b) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    b->n_assets = o->n_assets;
    if (!d) {
        if ((rc = mts_backtest_data_load(store, o, &b->own_data, err, errlen)) != 0) goto error;
        d = b->own_data;
    }
    /* the data's arrays, read-only (mts_backtest_free frees own_data, not these) */
    memcpy(b->bars, d->bars, sizeof b->bars);
    b->vix = d->vix;
    b->start_ts = d->start_ts;
    b->end_ts = d->end_ts;
    b->total_bars = d->total_bars;
    if (d->warnings && !(b->warnings = mts_strdup(d->warnings))) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto error;
    }

    if (!(o->leverage == 0 || (isfinite(o->leverage) && o->leverage >= 1))) {
        rc = mts_errf(err, errlen, MTS_EINVAL, "--leverage must be >= 1, got %g", o->leverage);
        goto error;
    }
    mts_engine_config_t cfg = {o->capital, o->commission_bps, o->slippage_bps, o->leverage};
    if ((rc = mts_engine_create(&cfg, &b->engine)) != 0) {
        mts_errf(err, errlen, rc, "cannot create the engine: %s", mts_strerror(rc));
        goto error;
    }
    for (int a = 0; a < o->n_assets; a++) {
        int32_t id;
        if ((rc = mts_engine_add_asset(b->engine, o->assets[a], &b->bars[a], &id)) != 0) {
            mts_errf(err, errlen, rc, "%s", mts_engine_errmsg(b->engine));
            goto error;
        }
    }
    if (b->vix.n > 0) mts_engine_add_macro(b->engine, "VIX", &b->vix);
    mts_provider_t *provider = d->provider;

    /* books: independent = one per strategy (its share of the capital), vote = one */
    cJSON *site = mts_config_site(root);
    const char *mode = o->mode;
    if (!mode) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(obj_at(site, "books"), "mode");
        mode = cJSON_IsString(m) ? m->valuestring : "independent";
    }
    if (!strcmp(mode, "independent")) b->mode = "independent";
    else if (!strcmp(mode, "vote")) b->mode = "vote";
    else {
        rc = mts_errf(err, errlen, MTS_EINVAL, "unknown mode '%s' (independent or vote)", mode);
        cJSON_Delete(site);
        goto error;
    }
    double alloc[MTS_ENGINE_MAX_BOOKS];
    int n_books = 1;
    alloc[0] = 1;
    if (b->mode[0] == 'i') {
        if ((rc = mts_backtest_allocations(root, o->allocate, o->strategies, o->n_strategies, alloc, err,
                                           errlen)) != 0) {
            cJSON_Delete(site);
            goto error;
        }
        n_books = o->n_strategies;
        if ((n_books > 1 || alloc[0] != 1) && (rc = mts_engine_set_books(b->engine, n_books, alloc)) != 0) {
            mts_errf(err, errlen, rc, "%s", mts_engine_errmsg(b->engine));
            cJSON_Delete(site);
            goto error;
        }
    } else if (o->allocate) {
        rc = mts_errf(err, errlen, MTS_EINVAL, "--allocate splits the capital between the strategies' own books: "
                      "it needs --mode independent (vote trades one book)");
        cJSON_Delete(site);
        goto error;
    }
    /* instruments, and the perps' funding from the provider */
    int n_spot = 0, n_perp = 0;
    for (int a = 0; a < o->n_assets; a++) {
        mts_instrument_t ins;
        char symbuf[64] = "", exbuf[32] = "";
        mts_instrument_opts_t io = {o->market, o->commission_bps, o->maker_bps, o->taker_bps, o->has_maker,
                                    o->has_taker};
        if ((rc = mts_instrument_resolve_in(site, o->assets[a], &io, &ins, symbuf, sizeof symbuf, exbuf,
                                            sizeof exbuf, err, errlen)) != 0) break;
        const char *sym = symbuf[0] ? symbuf : NULL, *exch = exbuf[0] ? exbuf : NULL;
        if ((rc = mts_engine_set_instrument(b->engine, a, &ins)) != 0) {
            mts_errf(err, errlen, rc, "%s", mts_engine_errmsg(b->engine));
            break;
        }
        if (ins.type == MTS_INST_SPOT) {
            n_spot++;
            continue;
        }
        n_perp++;
        const mts_funding_events_t *ev = provider && sym ? mts_provider_funding_events(provider, sym, exch) : NULL;
        char line[512] = "";
        if (ev) {
            /* borrowed: a backtest never appends (engine.h), so the provider's copy is shared */
            if ((rc = mts_engine_set_funding(b->engine, a, (mts_funding_events_t *)ev)) != 0) {
                mts_errf(err, errlen, rc, "%s", mts_engine_errmsg(b->engine));
                break;
            }
            /* settlements every 8 h at most: a gap of more than a day at either end of the
             * bars is funding not counted, and said */
            const mts_bars_t *bars = &b->bars[a];
            if (ev->n > 0 && bars->n > 0 &&
                (ev->ts[0] > bars->ts[0] + 86400 || ev->ts[ev->n - 1] < bars->ts[bars->n - 1] - 86400)) {
                char f0[16], f1[16];
                mts_time_format_date(ev->ts[0], f0);
                mts_time_format_date(ev->ts[ev->n - 1], f1);
                snprintf(line, sizeof line, "the funding rates of %s%s%s cover %s .. %s only: %s's funding outside "
                         "is not counted", sym, exch ? " on " : "", exch ? exch : "", f0, f1, o->assets[a]);
            }
        } else {
            snprintf(line, sizeof line, "no funding rates for %s%s%s (%s perp): its funding is not counted; "
                     "import them with: mts import funding FILE --symbol %s%s%s",
                     sym ? sym : o->assets[a], exch ? " on " : "", exch ? exch : "", o->assets[a],
                     sym ? sym : "SYMBOL", exch ? " --exchange " : "", exch ? exch : "");
        }
        if (line[0]) {
            size_t have = b->warnings ? strlen(b->warnings) : 0;
            char *w = mts_realloc(b->warnings, have + strlen(line) + 2);
            if (!w) {
                rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
                break;
            }
            snprintf(w + have, strlen(line) + 2, "%s\n", line);
            b->warnings = w;
        }
    }
    cJSON_Delete(site);
    if (rc != 0) goto error;
    b->market = n_perp == 0 ? "spot" : n_spot == 0 ? "perp" : "mixed";
    b->leverage = n_perp ? mts_engine_leverage(b->engine) : 1;

    mts_run_spec_t spec = {
        .engine = b->engine, .root = root, .strategies = o->strategies,
        .n_strategies = o->n_strategies, .param_keys = o->param_keys,
        .param_values = o->param_values, .n_params = o->n_params, .trusted = o->trusted,
        .interval = o->interval, .provider = provider, .mode = b->mode,
        .max_position = o->max_position, .max_portfolio_risk = o->max_portfolio_risk,
        .decisions = o->decisions};
    /* a progress bar for long runs (stderr on a terminal only; util/progress.h) */
    mts_progress_t bar;
    int show = o->progress && b->total_bars >= MTS_BACKTEST_PROGRESS_MIN_BARS;
    if (show) {
        mts_progress_begin(&bar, "backtest", b->total_bars, "bars");
        mts_engine_set_progress(b->engine, &bar);
    }
    mts_engine_set_cancel(b->engine, o->cancel);
    rc = mts_lua_backtest(&spec, &b->lua, err, errlen);
    if (rc == 0 && mts_engine_cancelled(b->engine))
        rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled after %lld of %lld bars; nothing stored",
                  (long long)mts_engine_bars_done(b->engine), (long long)b->total_bars);
    if (show) {
        mts_engine_set_progress(b->engine, NULL);
        if (rc == 0) mts_progress_update(&bar, b->total_bars);
        mts_progress_end(&bar);
    }
    if (rc != 0) goto error;

    /* the END_OF_DATA records of positions still open (never counted by the metrics) */
    if ((rc = mts_engine_finish(b->engine)) != 0) {
        mts_errf(err, errlen, rc, "%s", mts_engine_errmsg(b->engine));
        goto error;
    }
    int64_t iv_s = mts_interval_seconds(o->interval ? o->interval : "1d");
    {
        const mts_series_t *curve = mts_engine_equity_curve(b->engine);
        int64_t n_closed = 0, n_open = 0;
        const mts_trade_t *closed = mts_engine_trades(b->engine, &n_closed);
        const mts_trade_t *open = mts_engine_open_trades(b->engine, &n_open);
        if ((rc = mts_metrics_compute_at(curve, iv_s, o->capital, o->risk_free, closed, n_closed, &b->metrics)) != 0 ||
            (rc = mts_metrics_trade_stats(closed, n_closed, open, n_open, curve, &b->metrics)) != 0) {
            mts_errf(err, errlen, rc, "computing metrics: %s", mts_strerror(rc));
            goto error;
        }
        /* the benchmark: equal-weight buy-and-hold of the run's assets (no curve: none) */
        if (curve->n > 0) {
            const mts_bars_t *bp[MTS_BACKTEST_MAX_ASSETS];
            for (int a = 0; a < o->n_assets; a++) bp[a] = &b->bars[a];
            if (mts_metrics_benchmark(bp, o->n_assets, curve, iv_s, o->capital, o->risk_free, &b->benchmark,
                                      &b->benchmark_metrics, &b->metrics) == 0)
                b->has_benchmark = 1;
        }
    }
    b->strategy_name = join(o->strategies, o->n_strategies);
    b->assets_joined = join(o->assets, o->n_assets);
    if (!b->strategy_name || !b->assets_joined) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto error;
    }
    /* the books: the engine's stats, metrics over each one's curve and trades,
     * risk.lua's counts (vote: one book, the counts summed) */
    if (mts_engine_book_stats(b->engine, -1, &b->account) != 0) memset(&b->account, 0, sizeof b->account);
    for (int i = 0; i < b->lua.n_risk; i++) {
        b->risk_trimmed += b->lua.risk_trimmed[i];
        b->risk_refused += b->lua.risk_refused[i];
        b->risk_short_refused += b->lua.risk_short_refused[i];
    }
    b->n_books = mts_engine_book_count(b->engine);
    if (b->n_books < 1 || !(b->books = mts_calloc((size_t)b->n_books, sizeof *b->books))) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto error;
    }
    for (int k = 0; k < b->n_books; k++) {
        mts_backtest_book_t *bk = &b->books[k];
        const mts_portfolio_t *pf = mts_engine_book(b->engine, k);
        mts_engine_book_stats(b->engine, k, &bk->stats);
        int own = b->mode[0] == 'i' && b->n_books == o->n_strategies;
        bk->strategy = own ? o->strategies[k] : b->strategy_name;
        bk->allocation = own ? alloc[k] : 1;
        if (own && k < b->lua.n_risk) {
            bk->risk_trimmed = b->lua.risk_trimmed[k];
            bk->risk_refused = b->lua.risk_refused[k];
            bk->risk_short_refused = b->lua.risk_short_refused[k];
        } else if (!own) {
            bk->risk_trimmed = b->risk_trimmed;
            bk->risk_refused = b->risk_refused;
            bk->risk_short_refused = b->risk_short_refused;
        }
        if ((rc = mts_metrics_compute_at(&pf->equity, iv_s, bk->stats.initial, o->risk_free, pf->trades,
                                         pf->n_trades, &bk->metrics)) != 0) {
            mts_errf(err, errlen, rc, "computing the metrics of book %d: %s", k, mts_strerror(rc));
            goto error;
        }
    }
    int64_t n_sig = 0;
    mts_engine_signals(b->engine, &n_sig);
    b->n_signals = n_sig;
    if (o->store_result) {
        char start_iso[32], end_iso[32];
        mts_time_format_iso(b->start_ts, start_iso);
        mts_time_format_iso(b->end_ts, end_iso);
        const mts_metrics_t *m = &b->metrics;
        mts_backtest_row_t row = {
            .strategy_name = b->strategy_name, .assets = b->assets_joined,
            .start_date = start_iso, .end_date = end_iso,
            .parameters_json = b->lua.parameters_json, .initial_capital = o->capital,
            .final_value = m->final_value, .total_return = m->total_return,
            .annualized_return = m->annualized_return, .sharpe_ratio = m->sharpe_ratio,
            .max_drawdown = m->max_drawdown, .volatility = m->volatility,
            .calmar_ratio = m->calmar_ratio, .win_rate = m->win_rate,
            .profit_factor = m->profit_factor, .commission_bps = o->commission_bps,
            .slippage_bps = o->slippage_bps, .trade_count = m->trade_count,
            .interval = o->interval ? o->interval : MTS_INTERVAL_DEFAULT};
        char *extra = extra_json(b);
        row.extra_json = extra;
        rc = store_run(store, o, b, &row, err, errlen);
        cJSON_free(extra);
        if (rc != 0) {
            if (!o->keep_unstored || rc == MTS_ECANCELED) goto error;
            /* computed but not stored: the caller prints it and says why */
            b->run_id = 0;
            b->store_rc = rc;
            snprintf(b->store_err, sizeof b->store_err, "%s", mts_store_errmsg(store));
            if (err && errlen) err[0] = '\0';
        }
    }
    *out = b;
    return 0;

error:
    mts_backtest_free(b);
    return rc;
}

void mts_backtest_free(mts_backtest_t *b) {
    if (!b) return;
    mts_engine_free(b->engine);
    mts_backtest_data_free(b->own_data);
    mts_run_result_free(&b->lua);
    mts_free(b->strategy_name);
    mts_free(b->assets_joined);
    mts_free(b->warnings);
    mts_free(b->books);
    mts_series_free(&b->benchmark);
    mts_free(b);
}

static void jkv_num(FILE *f, const char *k, double v) {
    fprintf(f, "\"%s\":", k);
    mts_json_number(f, v);
    fputc(',', f);
}

void mts_backtest_json_extra(FILE *f, const mts_backtest_t *b) {
    const mts_metrics_t *m = &b->metrics;
    jkv_num(f, "funding", b->account.funding);
    jkv_num(f, "sortino_ratio", m->sortino_ratio);
    jkv_num(f, "exposure_time", m->exposure_time);
    jkv_num(f, "avg_trade", m->avg_trade);
    jkv_num(f, "expectancy", m->expectancy);
    fprintf(f, "\"longest_losing_streak\":%lld,", (long long)m->longest_losing_streak);
    jkv_num(f, "alpha", m->alpha);
    jkv_num(f, "beta", m->beta);
    if (b->has_benchmark) {
        const mts_metrics_t *x = &b->benchmark_metrics;
        fputs("\"benchmark\":{", f);
        jkv_num(f, "final_value", x->final_value);
        jkv_num(f, "total_return", x->total_return);
        jkv_num(f, "annualized_return", x->annualized_return);
        jkv_num(f, "volatility", x->volatility);
        jkv_num(f, "sharpe_ratio", x->sharpe_ratio);
        fputs("\"max_drawdown\":", f);
        mts_json_number(f, x->max_drawdown);
        fputs("},", f);
    }
    fprintf(f, "\"mode\":\"%s\",\"market\":\"%s\",", b->mode, b->market);
    jkv_num(f, "leverage", b->leverage);
    fprintf(f, "\"risk\":{\"trimmed\":%lld,\"refused\":%lld,\"bp_cut\":%lld,\"bp_refused\":%lld,"
               "\"short_refused\":%lld,\"lot_refused\":%lld,\"liquidations\":%lld},",
            (long long)b->risk_trimmed, (long long)b->risk_refused, (long long)b->account.bp_cut,
            (long long)b->account.bp_refused, (long long)(b->account.short_refused + b->risk_short_refused),
            (long long)b->account.lot_refused, (long long)b->account.liquidations);
    fputs("\"books\":[", f);
    for (int k = 0; k < b->n_books; k++) {
        const mts_backtest_book_t *bk = &b->books[k];
        const mts_book_stats_t *st = &bk->stats;
        fputs(k ? ",{\"strategy\":\"" : "{\"strategy\":\"", f);
        mts_json_escape(f, bk->strategy);
        fputs("\",", f);
        jkv_num(f, "allocation", bk->allocation);
        jkv_num(f, "initial", st->initial);
        jkv_num(f, "final", st->equity);
        jkv_num(f, "pnl", st->equity - st->initial);
        jkv_num(f, "fees", st->fees);
        jkv_num(f, "funding", st->funding);
        fprintf(f, "\"trades\":%lld,", (long long)bk->metrics.trade_count);
        jkv_num(f, "return", bk->metrics.total_return);
        jkv_num(f, "sharpe", bk->metrics.sharpe_ratio);
        jkv_num(f, "max_drawdown", bk->metrics.max_drawdown);
        fprintf(f, "\"risk_trimmed\":%lld,\"risk_refused\":%lld,\"bp_cut\":%lld,\"bp_refused\":%lld,"
                   "\"short_refused\":%lld,\"liquidations\":%lld}",
                (long long)bk->risk_trimmed, (long long)bk->risk_refused, (long long)st->bp_cut,
                (long long)st->bp_refused, (long long)(st->short_refused + bk->risk_short_refused),
                (long long)st->liquidations);
    }
    fputs("],", f);
}
