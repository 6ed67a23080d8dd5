/* stored.c — a stored run's JSON objects, books and report extras (stored.h). */
#include "report/stored.h"
#include "market/series.h"
#include "portfolio/metrics.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A parsed JSON value written back; numbers as the shortest text that reads
 * back as the same double (cJSON's own printer rounds to 15 digits when that
 * is within an epsilon: 0.30000000000000004 would come out as 0.3). */
static void json_value(FILE *f, const cJSON *v) {
    if (cJSON_IsNumber(v)) mts_json_number(f, v->valuedouble);
    else if (cJSON_IsString(v)) {
        fputc('"', f);
        mts_json_escape(f, v->valuestring);
        fputc('"', f);
    } else if (cJSON_IsTrue(v)) fputs("true", f);
    else if (cJSON_IsFalse(v)) fputs("false", f);
    else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        fputc(obj ? '{' : '[', f);
        for (const cJSON *m = v->child; m; m = m->next) {
            if (m != v->child) fputc(',', f);
            if (obj) {
                fputc('"', f);
                mts_json_escape(f, m->string ? m->string : "");
                fputs("\":", f);
            }
            json_value(f, m);
        }
        fputc(obj ? '}' : ']', f);
    } else fputs("null", f);
}

void mts_stored_json_merge(FILE *f, const char *json, const char *const *taken) {
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return;
    }
    for (const cJSON *m = o->child; m; m = m->next) {
        if (!m->string) continue;
        int skip = 0;
        for (int k = 0; taken && taken[k] && !skip; k++) skip = !strcmp(taken[k], m->string);
        if (skip) continue;
        fputs(",\"", f);
        mts_json_escape(f, m->string);
        fputs("\":", f);
        json_value(f, m);
    }
    cJSON_Delete(o);
}

int mts_stored_json_has(const char *json, const char *key) {
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    int has = cJSON_IsObject(o) && key && cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
    cJSON_Delete(o);
    return has;
}

static void kv_num(FILE *f, const char *k, double v) {
    fprintf(f, ",\"%s\":", k);
    mts_json_number(f, v);
}

void mts_stored_book_json(FILE *f, const mts_stored_book_t *b, int with_curve) {
    static const char *const keys[] = {"book", "strategy", "allocation", "initial", "final", "pnl", "fees",
                                       "funding", "trades", "curve", NULL};
    fprintf(f, "{\"book\":%d,\"strategy\":\"", b->book);
    mts_json_escape(f, b->strategy);
    fputc('"', f);
    kv_num(f, "allocation", b->allocation);
    kv_num(f, "initial", b->initial);
    kv_num(f, "final", b->final);
    kv_num(f, "pnl", b->pnl);
    kv_num(f, "fees", b->fees);
    kv_num(f, "funding", b->funding);
    fprintf(f, ",\"trades\":%lld", (long long)b->trades);
    mts_stored_json_merge(f, b->metrics_json, keys);   /* return, sharpe, max_drawdown, risk counts, ... */
    if (with_curve && b->curve.n > 0) {
        fputs(",\"curve\":[", f);
        for (int64_t i = 0; i < b->curve.n; i++) {
            fprintf(f, "%s[%lld,", i ? "," : "", (long long)b->curve.ts[i]);
            mts_json_number(f, b->curve.v[i]);
            fputc(']', f);
        }
        fputc(']', f);
    }
    fputc('}', f);
}

/* ---- the report's extras ---- */

static double num_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void mts_report_stored_free(mts_report_stored_t *x) {
    if (!x) return;
    mts_free(x->books);
    mts_free(x->stories);
    mts_series_free(&x->benchmark);
    memset(x, 0, sizeof *x);
}

/* The run's bounds: its stored start/end (the first and last bar it loaded),
 * else its curve's. */
static void run_bounds(const mts_stored_run_t *run, int64_t *t0, int64_t *t1) {
    *t0 = run->equity.ts[0];
    *t1 = run->equity.ts[run->equity.n - 1];
    int64_t v;
    if (run->start_date && mts_time_parse(run->start_date, strlen(run->start_date), &v) == 0) *t0 = v;
    if (run->end_date && mts_time_parse(run->end_date, strlen(run->end_date), &v) == 0 && v >= *t0) *t1 = v;
}

/* The benchmark line from the stored bars; "" note, or why there is none. */
static int rebuild_benchmark(mts_store_t *store, const mts_stored_run_t *run, mts_report_stored_t *x,
                             const cJSON *stored_bm) {
    if (!run->has_details || run->equity.n <= 0) return 0;   /* no chart to draw it on */
    if (!store) {
        snprintf(x->note, sizeof x->note, "No benchmark line: the database was not at hand to rebuild it from "
                                          "the stored bars.");
        return 0;
    }
    int64_t t0, t1;
    run_bounds(run, &t0, &t1);
    char *names = mts_strdup(run->assets ? run->assets : "");
    if (!names) return MTS_ENOMEM;
    mts_bars_t bars[64];
    const mts_bars_t *bp[64];
    int n = 0, rc = 0;
    memset(bars, 0, sizeof bars);
    char *save = NULL;
    for (char *a = strtok_r(names, ",", &save); a && !x->note[0]; a = strtok_r(NULL, ",", &save)) {
        if (n == 64) {
            snprintf(x->note, sizeof x->note, "No benchmark line: the run has more than 64 assets.");
            break;
        }
        mts_series_info_t info;
        int lr = mts_series_load_bars(store, a, run->interval, t0, t1, &bars[n], &info);
        if (lr == MTS_ENOMEM) rc = MTS_ENOMEM;
        if (lr != 0 || bars[n].n == 0) {
            snprintf(x->note, sizeof x->note,
                     "No benchmark line: the stored %s bars of %s over the run's range are gone (deleted since "
                     "the run, or in another database); the benchmark's numbers above are the ones stored with "
                     "the run.", run->interval, a);
        } else {
            bp[n] = &bars[n];
        }
        n++;
    }
    if (n == 0 && !x->note[0]) snprintf(x->note, sizeof x->note, "No benchmark line: the run names no assets.");
    if (!x->note[0] && rc == 0) {
        rc = mts_benchmark_buy_hold(bp, n, &run->equity, run->initial_capital, &x->benchmark);
        if (rc != 0) {
            mts_series_free(&x->benchmark);
            if (rc != MTS_ENOMEM) {
                snprintf(x->note, sizeof x->note, "No benchmark line: %s.", mts_strerror(rc));
                rc = 0;
            }
        } else {
            /* the bars today against the ones the run saw: the stored final value */
            double want = num_of(stored_bm, "final_value"), got = x->benchmark.v[x->benchmark.n - 1];
            if (isfinite(want) && !(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want))))
                snprintf(x->note, sizeof x->note,
                         "The benchmark line is rebuilt from the bars stored now, which differ from the ones "
                         "the run used: it ends at %.2f, the run's benchmark at %.2f.", got, want);
        }
    }
    for (int i = 0; i < n; i++) mts_bars_free(&bars[i]);
    mts_free(names);
    return rc;
}

int mts_report_stored_load(mts_store_t *store, const mts_stored_run_t *run, mts_report_stored_t *out) {
    if (!out) return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    if (!run) return MTS_EINVAL;
    mts_report_extra_t *x = &out->extra;
    cJSON *extra = run->extra_json ? cJSON_Parse(run->extra_json) : NULL;
    if (!cJSON_IsObject(extra)) {
        cJSON_Delete(extra);
        extra = NULL;
    }
    const cJSON *bm = extra ? cJSON_GetObjectItemCaseSensitive(extra, "benchmark") : NULL;
    if (!cJSON_IsObject(bm)) bm = NULL;

    /* the further metrics (stored since schema v8) */
    if (extra) {
        mts_metrics_t *m = &out->metrics;
        m->final_value = run->final_value;
        m->total_return = run->total_return;
        m->annualized_return = run->annualized_return;
        m->sharpe_ratio = run->sharpe_ratio;
        m->max_drawdown = run->max_drawdown;
        m->volatility = run->volatility;
        m->calmar_ratio = run->calmar_ratio;
        m->win_rate = run->win_rate;
        m->profit_factor = run->profit_factor;
        m->trade_count = run->trade_count;
        m->sortino_ratio = num_of(extra, "sortino_ratio");
        m->exposure_time = num_of(extra, "exposure_time");
        m->avg_trade = num_of(extra, "avg_trade");
        m->expectancy = num_of(extra, "expectancy");
        double streak = num_of(extra, "longest_losing_streak");
        m->longest_losing_streak = isfinite(streak) ? (int64_t)streak : 0;
        m->alpha = num_of(extra, "alpha");
        m->beta = num_of(extra, "beta");
        x->metrics = m;
    }
    if (bm) {
        mts_metrics_t *m = &out->benchmark_metrics;
        m->final_value = num_of(bm, "final_value");
        m->total_return = num_of(bm, "total_return");
        m->annualized_return = num_of(bm, "annualized_return");
        m->volatility = num_of(bm, "volatility");
        m->sharpe_ratio = num_of(bm, "sharpe_ratio");
        m->max_drawdown = num_of(bm, "max_drawdown");
        m->alpha = m->beta = NAN;
        x->benchmark_metrics = m;
    }

    int rc = 0;
    /* the books: the attribution table */
    if (run->n_books > 0) {
        if (!(out->books = mts_calloc((size_t)run->n_books, sizeof *out->books))) rc = MTS_ENOMEM;
        for (int32_t i = 0; rc == 0 && i < run->n_books; i++) {
            const mts_stored_book_t *s = &run->books[i];
            mts_report_book_t *k = &out->books[i];
            cJSON *bmj = s->metrics_json ? cJSON_Parse(s->metrics_json) : NULL;
            k->strategy = s->strategy;
            k->allocation = s->allocation;
            k->pnl = s->pnl;
            k->ret = num_of(bmj, "return");
            if (!isfinite(k->ret) && s->initial > 0) k->ret = s->pnl / s->initial;
            k->sharpe = num_of(bmj, "sharpe");
            k->max_dd = num_of(bmj, "max_drawdown");
            k->fees = s->fees;
            k->funding = s->funding;
            k->trades = s->trades;
            cJSON_Delete(bmj);
        }
        x->books = out->books;
        x->n_books = rc == 0 ? run->n_books : 0;
    }
    /* each trade's story (schema v8; "" / NaN for trades stored before) */
    if (rc == 0 && run->n_trades > 0) {
        if (!(out->stories = mts_calloc((size_t)run->n_trades, sizeof *out->stories))) rc = MTS_ENOMEM;
        for (int64_t i = 0; rc == 0 && i < run->n_trades; i++) {
            const mts_stored_trade_t *t = &run->trades[i];
            out->stories[i] = (mts_report_trade_story_t){
                .strategy = t->strategy, .entry_reason = t->entry_reason, .exit_reason = t->exit_reason,
                .funding = t->funding, .mae = t->mae, .mfe = t->mfe, .open = t->open != 0};
        }
        if (rc == 0) {
            x->stories = out->stories;
            x->n_stories = run->n_trades;
        }
    }
    if (rc == 0) rc = rebuild_benchmark(store, run, out, bm);
    if (out->benchmark.n > 0) x->benchmark = &out->benchmark;
    if (out->note[0]) x->benchmark_note = out->note;
    cJSON_Delete(extra);
    return rc;
}
