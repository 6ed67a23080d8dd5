/* optimize.c — `mts optimize`: grid search over strategy parameters. Every
 * combination of the --param value lists is one mts_backtest_run (the same
 * pipeline as `mts backtest`), for each strategy given; the runs are ranked by
 * --metric and printed as a table or JSON, optionally as an HTML grid report.
 *
 * Storing (decided here): by default every run is stored like a backtest
 * (backtest_results + signals + trades + equity), so each ranked row has an id
 * that `mts report ID` opens and every number in the grid is a stored one.
 * --store best stores only the winner (it is run once more with storing on:
 * runs are deterministic), --store none stores nothing.
 *
 * The bars, VIX and the provider's series are loaded once for the whole grid
 * (mts_backtest_data_load) and shared read-only by every run. */
#include "cmd/cmd.h"
#include "util/config.h"
#include "backtest/backtest.h"
#include "market/interval.h"
#include "report/report.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 32
#define MAX_KEYS 16
#define MAX_VALUES 1000
#define MAX_COMBOS 100000

typedef struct {
    char *key;                 /* as given: "fast" or "sma_cross.fast" */
    char *values[MAX_VALUES];
    int n;
} axis_t;

typedef struct {
    char *strategies_buf, *assets_buf;
    const char *strategies[MAX_LIST], *assets[MAX_LIST];
    int n_strategies, n_assets;
    axis_t axes[MAX_KEYS];
    int n_axes;
    int64_t from, to;
    int has_from, has_to;
    const char *db, *report_path, *metric, *interval;
    double capital, commission_bps, slippage_bps, rf;
    int json, top, store;      /* store: 0 none, 1 best, 2 all */
    int trusted;
} opts_t;

typedef struct {
    int strategy;              /* index into strategies */
    int *idx;                  /* value index per axis, -1 = axis not used by this strategy */
    mts_metrics_t m;
    double metric;
    int64_t run_id;
    int disabled;
} run_t;

static const char *const METRICS[] = {"sharpe_ratio", "total_return", "annualized_return", "max_drawdown",
                                      "volatility", "calmar_ratio", "win_rate", "profit_factor",
                                      "final_value", NULL};

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts optimize --strategy NAME[,NAME...] --asset LIST --param KEY=VALUES [...] [options]\n\n"
        "Grid search: runs one backtest per combination of the --param values (for each strategy\n"
        "given) and ranks the runs by --metric. VALUES is a list a,b,c or a range start:stop:step\n"
        "(inclusive). A key may name its strategy (sma_cross.fast) to apply to that one only.\n\n"
        "options:\n"
        "  --strategy LIST       strategies to optimize, each on its own (required)\n"
        "  --asset LIST          assets, as for mts backtest (required)\n"
        "  --param KEY=VALUES    a parameter axis (repeatable; the first two span the heatmap)\n"
        "  --metric NAME         ranking metric (default sharpe_ratio): sharpe_ratio, total_return,\n"
        "                        annualized_return, calmar_ratio, win_rate, profit_factor,\n"
        "                        final_value (higher is better), max_drawdown, volatility (lower)\n"
        "  --top N               rows to print (default 10, 0 = all)\n"
        "  --report FILE         self-contained HTML: heatmap of the metric + ranked table\n"
        "  --store all|best|none store every run (default), only the best, or none\n"
        "  --json                one JSON object on stdout instead of the table\n"
        "  --trusted             strategies keep the JIT, no sandbox limits (faster; your own code)\n"
        "  --interval I          the bars' interval, one of " MTS_INTERVALS " (default 1d)\n"
        "  --from DATE --to DATE --capital X --commission-bps X --slippage-bps X --risk-free X\n"
        "  --db PATH             as for mts backtest\n\n"
        "Shows a progress bar with rate and ETA on stderr when it is a terminal.\n"
        "A run that could not be stored (the database stayed locked past MTS_DB_BUSY_TIMEOUT_MS,\n"
        "default 600000 ms) is still ranked and printed, without an id; the exit status is then 4.\n\n"
        "examples:\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --param fast=5:20:5 --param slow=30,50,100\n"
        "  mts optimize --strategy mean_reversion --asset ethereum --param rsi_period=7,14,21 \\\n"
        "               --metric calmar_ratio --top 5 --report out/grid.html\n");
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "mts optimize: %s%s%s%s (see mts optimize --help)\n", msg, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "");
    return -1;
}

static int split_list(const char *opt, char *buf, const char **out, int *n) {
    return mts_cli_split_list("optimize", opt, buf, out, MAX_LIST, n);
}

static int parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && !*end && errno == 0 && isfinite(*out) ? 0 : -1;
}

/* KEY=a,b,c or KEY=start:stop:step into an axis. */
static int parse_axis(const char *arg, axis_t *ax) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return usage_error("--param expects KEY=a,b,c or KEY=start:stop:step, got", arg);
    ax->key = strndup(arg, (size_t)(eq - arg));
    const char *v = eq + 1;
    if (strchr(v, ':')) {
        char a[64], b[64], c[64];
        double start, stop, step;
        if (sscanf(v, "%63[^:]:%63[^:]:%63s", a, b, c) != 3 || parse_num(a, &start) || parse_num(b, &stop) ||
            parse_num(c, &step))
            return usage_error("a range is start:stop:step with numbers, e.g. fast=5:20:5; got", arg);
        if (!(step > 0) || stop < start)
            return usage_error("a range needs step > 0 and start <= stop, got", arg);
        double count = floor((stop - start) / step + 1e-9) + 1;
        if (count > MAX_VALUES) return usage_error("too many values (at most 1000 per parameter) in", arg);
        for (int i = 0; i < (int)count; i++) {
            char buf[64];
            double x = start + step * i;
            snprintf(buf, sizeof buf, "%.10g", fabs(x) < 1e-12 ? 0.0 : x);
            ax->values[ax->n++] = strdup(buf);
        }
        return 0;
    }
    char *copy = strdup(v);
    for (char *tok = copy;;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (!*tok) {
            free(copy);
            return usage_error("an empty value in", arg);
        }
        if (ax->n >= MAX_VALUES) {
            free(copy);
            return usage_error("too many values (at most 1000 per parameter) in", arg);
        }
        ax->values[ax->n++] = strdup(tok);
        if (!comma) break;
        tok = comma + 1;
    }
    free(copy);
    return 0;
}

static void free_opts(opts_t *o) {
    free(o->strategies_buf);
    free(o->assets_buf);
    for (int k = 0; k < o->n_axes; k++) {
        free(o->axes[k].key);
        for (int i = 0; i < o->axes[k].n; i++) free(o->axes[k].values[i]);
    }
}

enum { O_STRATEGY, O_ASSET, O_PARAM, O_METRIC, O_TOP, O_REPORT, O_STORE, O_JSON, O_FROM, O_TO,
       O_CAPITAL, O_COMM, O_SLIP, O_RF, O_DB, O_HELP, O_TRUSTED, O_INTERVAL };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--asset", 1}, {"--param", 1}, {"--metric", 1}, {"--top", 1}, {"--report", 1},
    {"--store", 1}, {"--json", 0}, {"--from", 1}, {"--to", 1}, {"--capital", 1},
    {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--risk-free", 1}, {"--db", 1}, {"--help", 0},
    {"--trusted", 0}, {"--interval", 1}, {NULL, 0}};

static int parse(int argc, char **argv, opts_t *o) {
    o->metric = "sharpe_ratio";
    o->top = 10;
    o->store = 2;
    if (mts_cli_backtest_defaults(&o->capital, &o->commission_bps, &o->slippage_bps, &o->rf) != 0)
        return -1;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("optimize", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return -1;
        if (k == MTS_CLI_POSITIONAL) return usage_error("unexpected argument", val);
        switch (k) {
        case O_HELP: usage(stdout); return 1;
        case O_STRATEGY:
            free(o->strategies_buf);
            o->strategies_buf = strdup(val);
            if (split_list("--strategy", o->strategies_buf, o->strategies, &o->n_strategies)) return -1;
            break;
        case O_ASSET:
            free(o->assets_buf);
            o->assets_buf = strdup(val);
            if (split_list("--asset", o->assets_buf, o->assets, &o->n_assets)) return -1;
            break;
        case O_PARAM:
            if (o->n_axes >= MAX_KEYS) return usage_error("at most 16 --param axes", NULL);
            if (parse_axis(val, &o->axes[o->n_axes++])) return -1;
            for (int a = 0; a + 1 < o->n_axes; a++)
                if (strcmp(o->axes[a].key, o->axes[o->n_axes - 1].key) == 0)
                    return usage_error("--param given twice for", o->axes[a].key);
            break;
        case O_METRIC: {
            int ok = 0;
            for (int m = 0; METRICS[m]; m++) ok |= strcmp(METRICS[m], val) == 0;
            if (!ok) {
                const char *near = mts_cli_suggest(val, METRICS);
                for (int m = 0; !near && METRICS[m]; m++)
                    if (*val && strncmp(METRICS[m], val, strlen(val)) == 0) near = METRICS[m];
                fprintf(stderr, "mts optimize: unknown metric '%s'%s%s%s (one of: sharpe_ratio, total_return, "
                                "annualized_return, max_drawdown, volatility, calmar_ratio, win_rate, "
                                "profit_factor, final_value)\n", val, near ? "; did you mean '" : "",
                        near ? near : "", near ? "'?" : "");
                return -1;
            }
            o->metric = val;
            break;
        }
        case O_TOP: {
            char *end;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 0) return usage_error("--top expects a whole number >= 0, got", val);
            o->top = (int)v;
            break;
        }
        case O_REPORT: o->report_path = val; break;
        case O_STORE:
            if (!strcmp(val, "all")) o->store = 2;
            else if (!strcmp(val, "best")) o->store = 1;
            else if (!strcmp(val, "none")) o->store = 0;
            else return usage_error("--store is all, best or none, got", val);
            break;
        case O_JSON: o->json = 1; break;
        case O_TRUSTED: o->trusted = 1; break;
        case O_FROM:
            if (mts_cli_parse_time("--from", val, &o->from)) return -1;
            o->has_from = 1;
            break;
        case O_TO:
            if (mts_cli_parse_time("--to", val, &o->to)) return -1;
            if (strlen(val) == 10 && val[4] == '-') o->to += 86399;
            o->has_to = 1;
            break;
        case O_CAPITAL:
            if (mts_cli_parse_double("--capital", val, &o->capital)) return -1;
            if (!(o->capital > 0)) return usage_error("--capital must be > 0, got", val);
            break;
        case O_COMM:
            if (mts_cli_parse_double("--commission-bps", val, &o->commission_bps)) return -1;
            if (o->commission_bps < 0) return usage_error("--commission-bps must be >= 0, got", val);
            break;
        case O_SLIP:
            if (mts_cli_parse_double("--slippage-bps", val, &o->slippage_bps)) return -1;
            if (o->slippage_bps < 0) return usage_error("--slippage-bps must be >= 0, got", val);
            break;
        case O_RF:
            if (mts_cli_parse_double("--risk-free", val, &o->rf)) return -1;
            break;
        case O_DB: o->db = val; break;
        case O_INTERVAL:
            if (mts_interval_seconds(val) < 0) {
                fprintf(stderr, "mts optimize: --interval: unknown interval '%s' (one of %s)\n", val,
                        MTS_INTERVALS);
                return -1;
            }
            o->interval = val;
            break;
        }
    }
    if (o->n_strategies == 0)
        return usage_error("--strategy is required, e.g. --strategy sma_cross", NULL);
    if (o->n_assets == 0) return usage_error("--asset is required, e.g. --asset bitcoin", NULL);
    if (o->n_axes == 0)
        return usage_error("give at least one --param axis, e.g. --param fast=5,10,20 or --param fast=5:20:5", NULL);
    if (o->has_from && o->has_to && o->from > o->to) return usage_error("--from is after --to", NULL);
    return 0;
}

static int higher_is_better(const char *metric) {
    return strcmp(metric, "max_drawdown") != 0 && strcmp(metric, "volatility") != 0;
}

static double metric_of(const mts_metrics_t *m, const char *name) {
    if (!strcmp(name, "sharpe_ratio")) return m->sharpe_ratio;
    if (!strcmp(name, "total_return")) return m->total_return;
    if (!strcmp(name, "annualized_return")) return m->annualized_return;
    if (!strcmp(name, "max_drawdown")) return m->max_drawdown;
    if (!strcmp(name, "volatility")) return m->volatility;
    if (!strcmp(name, "calmar_ratio")) return m->calmar_ratio;
    if (!strcmp(name, "win_rate")) return m->win_rate;
    if (!strcmp(name, "profit_factor")) return m->profit_factor;
    return m->final_value;
}

/* Does axis key apply to strategy s? "fast" applies to all, "s.fast" to s only. */
static int axis_applies(const char *key, const char *s) {
    const char *dot = strchr(key, '.');
    if (!dot) return 1;
    return strlen(s) == (size_t)(dot - key) && strncmp(key, s, (size_t)(dot - key)) == 0;
}

static int sort_higher;
static int cmp_runs(const void *a, const void *b) {
    const run_t *x = a, *y = b;
    int nx = isnan(x->metric), ny = isnan(y->metric);
    if (nx || ny) return nx - ny;   /* undefined values last */
    if (x->metric == y->metric) return 0;
    return (x->metric > y->metric) == sort_higher ? -1 : 1;
}

/* The options of run r (r NULL: only what mts_backtest_data_load uses).
 * keys/values: room for MAX_KEYS, referenced by *bo. */
static void run_opts(const opts_t *o, const char *db_path, const run_t *r, int store_it, const char **strategy,
                     const char **keys, const char **values, const mts_backtest_data_t *data,
                     mts_backtest_opts_t *bo) {
    int n = 0;
    for (int k = 0; r && k < o->n_axes; k++)
        if (r->idx[k] >= 0) {
            keys[n] = o->axes[k].key;
            values[n] = o->axes[k].values[r->idx[k]];
            n++;
        }
    *strategy = o->strategies[r ? r->strategy : 0];
    *bo = (mts_backtest_opts_t){
        .strategies = strategy, .n_strategies = 1, .assets = o->assets, .n_assets = o->n_assets,
        .param_keys = keys, .param_values = values, .n_params = n,
        .from = o->has_from ? o->from : INT64_MIN, .to = o->has_to ? o->to : INT64_MAX,
        .interval = o->interval, .capital = o->capital, .commission_bps = o->commission_bps, .slippage_bps = o->slippage_bps,
        .risk_free = o->rf, .root = mts_root(), .db_label = db_path, .store_result = store_it,
        .keep_unstored = store_it,
        .trusted = o->trusted, .data = data};
}

/* One run of the grid over the bars loaded once for them all (data). */
static int run_one(mts_store_t *store, const opts_t *o, const char *db_path, const run_t *r,
                   int store_it, const mts_backtest_data_t *data, mts_backtest_t **out, char *err, size_t errlen) {
    const char *keys[MAX_KEYS], *values[MAX_KEYS], *strategy;
    mts_backtest_opts_t bo;
    run_opts(o, db_path, r, store_it, &strategy, keys, values, data, &bo);
    return mts_backtest_run(store, &bo, out, err, errlen);
}

static void combo_text(const opts_t *o, const run_t *r, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "%s", o->strategies[r->strategy]);
    for (int k = 0; k < o->n_axes && len < n; k++)
        if (r->idx[k] >= 0)
            len += (size_t)snprintf(buf + len, n - len, " %s=%s", o->axes[k].key, o->axes[k].values[r->idx[k]]);
}

static void print_value_json(const char *v) {
    double d;
    if (parse_num(v, &d) == 0) fputs(v, stdout);
    else {
        putchar('"');
        mts_json_escape(stdout, v);
        putchar('"');
    }
}

static void print_json(const opts_t *o, const run_t *runs, int n, int shown) {
    printf("{\"metric\":\"%s\",\"interval\":\"%s\",\"higher_is_better\":%s,\"combinations\":%d,"
           "\"results\":[", o->metric, o->interval ? o->interval : MTS_INTERVAL_DEFAULT,
           higher_is_better(o->metric) ? "true" : "false", n);
    for (int i = 0; i < shown; i++) {
        const run_t *r = &runs[i];
        printf("%s{\"rank\":%d,\"strategy\":\"", i ? "," : "", i + 1);
        mts_json_escape(stdout, o->strategies[r->strategy]);
        printf("\",\"params\":{");
        int first = 1;
        for (int k = 0; k < o->n_axes; k++) {
            if (r->idx[k] < 0) continue;
            printf("%s\"", first ? "" : ",");
            mts_json_escape(stdout, o->axes[k].key);
            printf("\":");
            print_value_json(o->axes[k].values[r->idx[k]]);
            first = 0;
        }
        printf("},\"id\":");
        if (r->run_id > 0) printf("%lld", (long long)r->run_id);
        else printf("null");
        const mts_metrics_t *m = &r->m;
        const char *names[] = {"value", "final_value", "total_return", "annualized_return", "sharpe_ratio",
                               "max_drawdown", "volatility", "calmar_ratio", "win_rate", "profit_factor"};
        double vals[] = {r->metric, m->final_value, m->total_return, m->annualized_return, m->sharpe_ratio,
                         m->max_drawdown, m->volatility, m->calmar_ratio, m->win_rate, m->profit_factor};
        for (int k = 0; k < 10; k++) {
            printf(",\"%s\":", names[k]);
            mts_json_number(stdout, vals[k]);
        }
        printf(",\"trade_count\":%lld,\"disabled\":%s}", (long long)m->trade_count, r->disabled ? "true" : "false");
    }
    printf("]}\n");
}

static void fmt_cell(char *b, size_t n, double v, int pct) {
    if (isnan(v)) snprintf(b, n, "n/a");
    else if (isinf(v)) snprintf(b, n, v > 0 ? "inf" : "-inf");
    else if (pct) snprintf(b, n, "%.2f%%", v * 100);
    else snprintf(b, n, "%.3f", v);
}

static void print_table(const opts_t *o, const run_t *runs, int n, int shown, const char *range) {
    printf("optimize %s on %s  %s bars  %s: %d runs ranked by %s (%s is better)\n", o->strategies_buf,
           o->assets_buf, o->interval ? o->interval : MTS_INTERVAL_DEFAULT, range, n, o->metric, higher_is_better(o->metric) ? "higher" : "lower");
    printf("%5s  %-16s", "rank", "strategy");
    for (int k = 0; k < o->n_axes; k++) printf(" %10.10s", o->axes[k].key);
    printf(" %10s %10s %10s %8s %7s %7s\n", "sharpe", "return", "max_dd", "win", "trades", "id");
    for (int i = 0; i < shown; i++) {
        const run_t *r = &runs[i];
        char c[4][32];
        printf("%5d  %-16.16s", i + 1, o->strategies[r->strategy]);
        for (int k = 0; k < o->n_axes; k++) printf(" %10.10s", r->idx[k] >= 0 ? o->axes[k].values[r->idx[k]] : "-");
        fmt_cell(c[0], 32, r->m.sharpe_ratio, 0);
        fmt_cell(c[1], 32, r->m.total_return, 1);
        fmt_cell(c[2], 32, r->m.max_drawdown, 1);
        fmt_cell(c[3], 32, r->m.win_rate, 1);
        printf(" %10s %10s %10s %8s %7lld", c[0], c[1], c[2], c[3], (long long)r->m.trade_count);
        if (r->run_id > 0) printf(" %7lld\n", (long long)r->run_id);
        else printf(" %7s\n", "-");
    }
    if (shown < n) printf("  (%d more; --top 0 shows all)\n", n - shown);
    if (runs[0].run_id > 0)
        printf("best: mts report %lld --html report.html\n", (long long)runs[0].run_id);
}

static int write_grid(const opts_t *o, const run_t *runs, int n, const char *range) {
    mts_report_grid_row_t *rows = mts_calloc((size_t)n, sizeof *rows);
    const char **vals = mts_calloc((size_t)n * (size_t)o->n_axes + 1, sizeof *vals);
    const char *keys[MAX_KEYS];
    int rc = MTS_ENOMEM;
    FILE *f = NULL;
    if (!rows || !vals) goto done;
    for (int k = 0; k < o->n_axes; k++) keys[k] = o->axes[k].key;
    for (int i = 0; i < n; i++) {
        const char **v = vals + (size_t)i * (size_t)o->n_axes;
        for (int k = 0; k < o->n_axes; k++) v[k] = runs[i].idx[k] >= 0 ? o->axes[k].values[runs[i].idx[k]] : "";
        rows[i] = (mts_report_grid_row_t){o->strategies[runs[i].strategy], v, runs[i].m, runs[i].metric,
                                          runs[i].run_id};
    }
    char title[600];
    snprintf(title, sizeof title, "%.250s on %.250s, %s bars", o->strategies_buf, o->assets_buf,
             o->interval ? o->interval : MTS_INTERVAL_DEFAULT);
    mts_report_grid_t g = {title, range, o->metric, higher_is_better(o->metric), keys, o->n_axes, rows, n};
    f = strcmp(o->report_path, "-") == 0 ? stdout : fopen(o->report_path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write the report to %s: %s (check that the directory exists and "
                        "is writable)\n", o->report_path, strerror(errno));
        rc = MTS_EIO;
        goto done;
    }
    rc = mts_report_grid_html(f, &g);
    if (f != stdout && fclose(f) != 0 && rc == 0) rc = MTS_EIO;
    if (rc) fprintf(stderr, "error: writing the report to %s failed: %s\n", o->report_path, mts_strerror(rc));
done:
    if (rc == MTS_ENOMEM) fprintf(stderr, "error: out of memory writing the grid report\n");
    mts_free(rows);
    mts_free(vals);
    return rc;
}

int mts_cmd_optimize(int argc, char **argv) {
    opts_t o;
    memset(&o, 0, sizeof o);
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        free_opts(&o);
        return prc > 0 ? MTS_EXIT_OK : MTS_EXIT_USAGE;
    }
    /* the combinations: for each strategy, the product of the axes that apply to it */
    int64_t total = 0;
    for (int s = 0; s < o.n_strategies; s++) {
        int64_t c = 1;
        for (int k = 0; k < o.n_axes; k++)
            if (axis_applies(o.axes[k].key, o.strategies[s])) c *= o.axes[k].n;
        total += c;
        if (total > MAX_COMBOS) {
            fprintf(stderr, "mts optimize: more than %d combinations; use fewer values or a coarser step\n",
                    MAX_COMBOS);
            free_opts(&o);
            return MTS_EXIT_USAGE;
        }
    }
    int n = (int)total, exit_code = MTS_EXIT_ERROR, n_disabled = 0, n_unstored = 0;
    char unstored_err[640] = "";
    char *warnings = NULL;   /* the first run's unfinished imports: every run uses the same series */
    run_t *runs = mts_calloc((size_t)n, sizeof *runs);
    int *idx = mts_calloc((size_t)n * (size_t)o.n_axes + 1, sizeof *idx);
    const char *db_path = mts_cli_db_path(o.db);
    mts_store_t *store = NULL;
    mts_backtest_data_t *data = NULL;
    if (!runs || !idx) {
        fprintf(stderr, "error: out of memory for %d combinations\n", n);
        goto done;
    }
    int r = 0;
    for (int s = 0; s < o.n_strategies; s++) {
        int cur[MAX_KEYS];
        for (int k = 0; k < o.n_axes; k++) cur[k] = axis_applies(o.axes[k].key, o.strategies[s]) ? 0 : -1;
        for (;;) {
            runs[r].strategy = s;
            runs[r].idx = idx + (size_t)r * (size_t)o.n_axes;
            memcpy(runs[r].idx, cur, (size_t)o.n_axes * sizeof *cur);
            r++;
            int k = o.n_axes - 1;   /* odometer over the axes that apply */
            for (; k >= 0; k--) {
                if (cur[k] < 0) continue;
                if (++cur[k] < o.axes[k].n) break;
                cur[k] = 0;
            }
            if (k < 0) break;
        }
    }
    if ((store = mts_cli_open_store(db_path)) == NULL) goto done;
    {   /* the bars, VIX and provider: loaded once, shared read-only by every run */
        const char *keys[MAX_KEYS], *values[MAX_KEYS], *strategy;
        mts_backtest_opts_t bo;
        char err[1024] = "";
        run_opts(&o, db_path, NULL, 0, &strategy, keys, values, NULL, &bo);
        int rc = mts_backtest_data_load(store, &bo, &data, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
            goto done;
        }
    }

    char range[80] = "";
    mts_progress_t bar;
    mts_progress_begin(&bar, "optimize", n, "runs");
    for (int i = 0; i < n; i++) {
        char err[1024] = "";
        mts_backtest_t *b = NULL;
        int rc = run_one(store, &o, db_path, &runs[i], o.store == 2, data, &b, err, sizeof err);
        if (rc != 0) {
            char combo[512];
            combo_text(&o, &runs[i], combo, sizeof combo);
            mts_progress_end(&bar);
            fprintf(stderr, "error: %s\n  (in the run %s; fix the --param values or the strategy and run "
                            "mts optimize again)\n", err[0] ? err : mts_strerror(rc), combo);
            goto done;
        }
        runs[i].m = b->metrics;
        runs[i].metric = metric_of(&b->metrics, o.metric);
        runs[i].run_id = b->run_id;
        if (i == 0 && b->warnings && *b->warnings) warnings = strdup(b->warnings);   /* NULL: not said */
        if (b->store_rc) {   /* computed, not stored: still ranked and printed */
            n_unstored++;
            snprintf(unstored_err, sizeof unstored_err, "%s", b->store_err);
        }
        if (b->lua.disabled && *b->lua.disabled) {
            runs[i].disabled = 1;
            n_disabled++;
        }
        if (!range[0]) {
            char d0[32], d1[32];
            if (mts_interval_seconds(o.interval ? o.interval : MTS_INTERVAL_DEFAULT) < 86400) {
                mts_time_format_iso(b->start_ts, d0);   /* intraday: the times matter */
                mts_time_format_iso(b->end_ts, d1);
            } else {
                mts_time_format_date(b->start_ts, d0);
                mts_time_format_date(b->end_ts, d1);
            }
            snprintf(range, sizeof range, "%s .. %s", d0, d1);
        }
        mts_backtest_free(b);
        mts_progress_update(&bar, i + 1);
    }
    mts_progress_end(&bar);
    for (const char *w = warnings; w && *w;) {   /* as mts backtest: once for the run set */
        const char *nl = strchr(w, '\n');
        fprintf(stderr, "warning: %.*s\n", nl ? (int)(nl - w) : (int)strlen(w), w);
        w = nl ? nl + 1 : "";
    }

    sort_higher = higher_is_better(o.metric);
    qsort(runs, (size_t)n, sizeof *runs, cmp_runs);

    if (o.store == 1) {   /* store the winner: run it again with storing on (runs are deterministic) */
        char err[1024] = "";
        mts_backtest_t *b = NULL;
        int rc = run_one(store, &o, db_path, &runs[0], 1, data, &b, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "error: storing the best run: %s\n", err[0] ? err : mts_strerror(rc));
            goto done;
        }
        runs[0].run_id = b->run_id;
        if (b->store_rc) {
            n_unstored++;
            snprintf(unstored_err, sizeof unstored_err, "%s", b->store_err);
        }
        mts_backtest_free(b);
    }
    int shown = o.top == 0 || o.top > n ? n : o.top;
    if (o.report_path && write_grid(&o, runs, n, range) != 0) goto done;
    if (o.json) print_json(&o, runs, n, shown);
    else print_table(&o, runs, n, shown, range);
    exit_code = MTS_EXIT_OK;
    if (n_disabled) {
        fprintf(stderr, "error: a strategy was disabled while running in %d of %d runs (its error is in "
                        "mts backtest with the same --param values); their metrics are partial\n",
                n_disabled, n);
        exit_code = MTS_EXIT_PARTIAL;
    }
    if (n_unstored) {
        fprintf(stderr, "error: %d of %d runs were computed but NOT stored in %s (they are ranked above "
                        "without an id): %s\n  run mts optimize again when the database is free, or give "
                        "storing more time with MTS_DB_BUSY_TIMEOUT_MS (ms, default %d)\n",
                n_unstored, o.store == 1 ? 1 : n, db_path, unstored_err, MTS_STORE_WRITE_WAIT_MS);
        exit_code = MTS_EXIT_NOT_STORED;
    }
done:
    free(warnings);
    mts_backtest_data_free(data);
    mts_store_close(store);
    mts_free(runs);
    mts_free(idx);
    free_opts(&o);
    return exit_code;
}
