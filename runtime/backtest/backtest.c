/* backtest.c — one backtest run as a library call (see backtest.h). */
#include "backtest/backtest.h"
#include "market/interval.h"
#include "market/series.h"
#include "market/provider.h"
#include "store/imports.h"
#include "util/config.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
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


/* The run row, its signals (backtest_signals), closed trades (backtest_trades)
 * and equity curve (backtest_curves: one MTC1 blob per run) in one transaction, so `mts report ID`
 * can rebuild everything from stored numbers. */
static int store_run(mts_store_t *store, const mts_backtest_opts_t *o, mts_backtest_t *b,
                     const mts_backtest_row_t *row, char *err, size_t errlen) {
    int64_t n = 0;
    const mts_signal_rec_t *sigs = mts_engine_signals(b->engine, &n);
    const mts_portfolio_t *pf = mts_engine_portfolio(b->engine);
    b->n_signals = n;
    mts_signal_row_t *rows = n ? mts_calloc((size_t)n, sizeof *rows) : NULL;
    mts_trade_row_t *trades = pf->n_trades ? mts_calloc((size_t)pf->n_trades, sizeof *trades) : NULL;
    if ((n && !rows) || (pf->n_trades && !trades)) {
        mts_free(rows);
        mts_free(trades);
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
    for (int64_t i = 0; i < pf->n_trades; i++) {
        const mts_trade_t *t = &pf->trades[i];
        trades[i] = (mts_trade_row_t){
            .asset = mts_engine_asset_name(b->engine, t->asset), .side = t->side, .qty = t->qty,
            .entry_ts = t->entry_ts, .entry_price = t->entry_price, .exit_ts = t->exit_ts,
            .exit_price = t->exit_price, .pnl = t->pnl, .fees = t->fees};
    }
    mts_store_set_cancel(store, o->cancel);   /* a cancel also ends a wait for the lock */
    int rc = mts_store_insert_run(store, row, rows, n, trades, pf->n_trades, pf->equity.ts,
                                  pf->equity.v, pf->equity.n, NULL, 0, &b->run_id);
    mts_store_set_cancel(store, NULL);
    mts_free(rows);
    mts_free(trades);
    if (rc != 0) return mts_errf(err, errlen, rc, "storing the result: %s", mts_store_errmsg(store));
    return 0;
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

    mts_engine_config_t cfg = {o->capital, o->commission_bps, o->slippage_bps, 0.0};
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
    mts_run_spec_t spec = {
        .engine = b->engine, .root = root, .strategies = o->strategies,
        .n_strategies = o->n_strategies, .param_keys = o->param_keys,
        .param_values = o->param_values, .n_params = o->n_params, .trusted = o->trusted,
        .interval = o->interval, .provider = provider};
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

    const mts_portfolio_t *pf = mts_engine_portfolio(b->engine);
    if ((rc = mts_metrics_compute_at(&pf->equity, mts_interval_seconds(o->interval ? o->interval : "1d"),
                                     o->capital, o->risk_free, pf->trades, pf->n_trades,
                                     &b->metrics)) != 0) {
        mts_errf(err, errlen, rc, "computing metrics: %s", mts_strerror(rc));
        goto error;
    }
    b->strategy_name = join(o->strategies, o->n_strategies);
    b->assets_joined = join(o->assets, o->n_assets);
    if (!b->strategy_name || !b->assets_joined) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto error;
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
        if ((rc = store_run(store, o, b, &row, err, errlen)) != 0) {
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
    mts_free(b);
}
