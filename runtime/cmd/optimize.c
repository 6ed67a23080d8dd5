/* optimize.c — `mts optimize`: grid search over strategy parameters. Every
 * combination of the --param value lists is one mts_backtest_run (the same
 * pipeline as `mts backtest`), for each strategy given; the runs are ranked by
 * --metric and printed as a table or JSON, optionally as an HTML grid report.
 * The grid, the runs (--jobs: worker processes) and the ranking are the research library
 * (runtime/research/research.h); this file parses and prints.
 *
 * Storing (decided here): by default every run is stored like a backtest
 * (backtest_results + signals + trades + equity), so each ranked row has an id
 * that `mts report ID` opens and every number in the grid is a stored one.
 * --store best stores only the winner (it is run once more with storing on:
 * runs are deterministic), --store none stores nothing. With --jobs N the ids
 * follow the order the runs finished in; the ranking and the numbers do not.
 *
 * The bars, VIX and the provider's series are loaded once for the whole grid
 * (mts_opt_data_load) and shared read-only by every run (copy-on-write in the
 * worker processes of --jobs). */
#include "cmd/cmd.h"
#include "util/strategies.h"
#include "util/config.h"
#include "backtest/backtest.h"
#include "market/interval.h"
#include "report/report.h"
#include "research/research.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 32

typedef struct {
    char *strategies_buf, *assets_buf;
    const char *strategies[MAX_LIST], *assets[MAX_LIST];
    int n_strategies, n_assets;
    mts_grid_t grid;
    mts_cli_run_opts_t run;    /* range, costs, interval, jobs (0: the number of cores) */
    const char *db, *report_path, *metric, *redis;
    int json, top, store;      /* store: MTS_OPT_STORE_* */
    int trusted, resume;
} opts_t;

/* A ranked row: the point and its result. */
typedef struct {
    const mts_opt_point_t  *p;
    const mts_opt_result_t *r;
} run_t;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts optimize --strategy NAME[,NAME...] --asset LIST --param KEY=VALUES [...] [options]\n\n"
        "Grid search: runs one backtest per combination of the --param values (for each strategy\n"
        "given) and ranks the runs by --metric. VALUES is a list a,b,c or a range start:stop:step\n"
        "(inclusive). A key may name its strategy (sma_cross.fast) to apply to that one only.\n\n"
        "options:\n"
        "  --strategy LIST       strategies to optimize, each on its own (required): names in\n"
        "                        $MTS_STRATEGY_PATH or scripts/strategies, or paths to .lua files;\n"
        "                        only those in $ENABLED_STRATEGIES when it is set\n"
        "  --asset LIST          assets, as for mts backtest (required)\n"
        "  --param KEY=VALUES    a parameter axis (repeatable; the first two span the heatmap)\n"
        "  --metric NAME         ranking metric (default sharpe_ratio): sharpe_ratio, total_return,\n"
        "                        annualized_return, calmar_ratio, win_rate, profit_factor,\n"
        "                        final_value, sortino_ratio, exposure_time, avg_trade, expectancy,\n"
        "                        alpha, beta (higher is better; alpha, beta against the equal-weight\n"
        "                        buy-and-hold of the assets), max_drawdown, volatility (lower)\n"
        "  --top N               rows to print (default 10, 0 = all)\n"
        "  --report FILE         self-contained HTML: heatmap of the metric + ranked table\n"
        "  --store all|best|none store every run (default), only the best, or none\n"
        "  --json                one JSON object on stdout instead of the table\n"
        "  --trusted             strategies keep the JIT, no sandbox limits (faster; your own code)\n"
        "  --jobs N              runs at once, in worker processes sharing the bars (default:\n"
        "                        the cores; 1 = one after another); results and ranking are the same\n"
        "  --redis URL           run the grid on `mts worker` processes sharing this Redis\n"
        "                        (redis://host:6379; see docs/research.md)\n"
        "  --resume              with --redis: continue this grid after a restart of this process\n"
        "  --interval I          the bars' interval, one of " MTS_INTERVALS " (default 1d)\n"
        "  --from DATE --to DATE --capital X --commission-bps X --slippage-bps X --risk-free X\n"
        "  --db PATH             as for mts backtest\n\n"
        "%s"
        "Shows a progress bar with rate and ETA on stderr when it is a terminal.\n"
        "A run that could not be stored (the database stayed locked past MTS_DB_BUSY_TIMEOUT_MS,\n"
        "default 600000 ms) is still ranked and printed, without an id; the exit status is then 4.\n\n"
        "examples:\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --param fast=5:20:5 --param slow=30,50,100\n"
        "  mts optimize --strategy mean_reversion --asset ethereum --param rsi_period=7,14,21 \\\n"
        "               --metric calmar_ratio --top 5 --report out/grid.html\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --param fast=5:20:5 --max-position 0.5\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --interval 4h --param fast=5,10 \\\n"
        "               --market perp --leverage 3 --maker-bps 2 --taker-bps 5\n"
        "(--allocate is backtest's: every point runs one strategy with the whole capital)\n",
        mts_cli_book_help);
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

static void free_opts(opts_t *o) {
    free(o->strategies_buf);
    free(o->assets_buf);
    mts_grid_free(&o->grid);
}

enum { O_STRATEGY, O_ASSET, O_PARAM, O_METRIC, O_TOP, O_REPORT, O_STORE, O_JSON, O_FROM, O_TO,
       O_CAPITAL, O_COMM, O_SLIP, O_RF, O_DB, O_HELP, O_TRUSTED, O_INTERVAL, O_JOBS, O_REDIS, O_RESUME };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--asset", 1}, {"--param", 1}, {"--metric", 1}, {"--top", 1}, {"--report", 1},
    {"--store", 1}, {"--json", 0}, {"--from", 1}, {"--to", 1}, {"--capital", 1},
    {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--risk-free", 1}, {"--db", 1}, {"--help", 0},
    {"--trusted", 0}, {"--interval", 1}, {"--jobs", 1}, {"--redis", 1}, {"--resume", 0}, MTS_CLI_BOOK_OPTS,
    {NULL, 0}};

static int parse(int argc, char **argv, opts_t *o) {
    o->metric = "sharpe_ratio";
    o->top = 10;
    o->store = MTS_OPT_STORE_ALL;
    if (mts_cli_backtest_defaults(&o->run.capital, &o->run.commission_bps, &o->run.slippage_bps, &o->run.rf) != 0)
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
        case O_PARAM: {
            char err[1200];
            int rc = mts_grid_add_axis(&o->grid, val, err, sizeof err);
            if (rc == MTS_ENOMEM) {
                fprintf(stderr, "error: out of memory for --param '%s'\n", val);
                return -1;
            }
            if (rc) return usage_error(err, NULL);
            break;
        }
        case O_METRIC: {
            if (!mts_opt_metric_known(val)) {
                const char *const *METRICS = mts_opt_metrics;
                const char *near = mts_cli_suggest(val, METRICS);
                for (int m = 0; !near && METRICS[m]; m++)
                    if (*val && strncmp(METRICS[m], val, strlen(val)) == 0) near = METRICS[m];
                fprintf(stderr, "mts optimize: unknown metric '%s'%s%s%s (one of: sharpe_ratio, total_return, "
                                "annualized_return, max_drawdown, volatility, calmar_ratio, win_rate, "
                                "profit_factor, final_value, sortino_ratio, exposure_time, avg_trade, expectancy, alpha, "
                                "beta)\n", val, near ? "; did you mean '" : "",
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
            if (!strcmp(val, "all")) o->store = MTS_OPT_STORE_ALL;
            else if (!strcmp(val, "best")) o->store = MTS_OPT_STORE_BEST;
            else if (!strcmp(val, "none")) o->store = MTS_OPT_STORE_NONE;
            else return usage_error("--store is all, best or none, got", val);
            break;
        case O_JSON: o->json = 1; break;
        case O_TRUSTED: o->trusted = 1; break;
        default:   /* --from --to --capital --commission-bps --slippage-bps --risk-free --interval --jobs */
            if (mts_cli_run_option("optimize", OPTS[k].name, val, &o->run) < 0) return -1;
            break;
        case O_REDIS: o->redis = val; break;
        case O_RESUME: o->resume = 1; break;
        case O_DB: o->db = val; break;
        }
    }
    if (o->n_strategies == 0)
        return usage_error("--strategy is required, e.g. --strategy sma_cross", NULL);
    if (mts_cli_strategies("optimize", o->strategies, o->n_strategies, 1)) return -1;
    /* the distributed workers get the sources of scripts/strategies only (research/remote.c):
     * a strategy from elsewhere (a path, $MTS_STRATEGY_PATH) would run another file there */
    for (int k = 0; o->redis && k < o->n_strategies; k++) {
        char tree[4200], found[4200], a[PATH_MAX], b[PATH_MAX];
        snprintf(tree, sizeof tree, "%s/scripts/strategies/%s.lua", mts_root(), o->strategies[k]);
        const char *reg = mts_strategy_registered(o->strategies[k]);
        if (reg) snprintf(found, sizeof found, "%s", reg);
        else if (mts_strategy_find(mts_root(), o->strategies[k], found, sizeof found, NULL, 0) != MTS_OK) continue;
        if (!realpath(tree, a) || !realpath(found, b) || strcmp(a, b) != 0) {
            fprintf(stderr, "mts optimize: --redis ships only strategies of %s/scripts/strategies to the workers; "
                    "'%s' is %s (copy it there, or run without --redis)\n", mts_root(), o->strategies[k], found);
            return -1;
        }
    }
    if (o->n_assets == 0) return usage_error("--asset is required, e.g. --asset bitcoin", NULL);
    if (o->resume && !o->redis) return usage_error("--resume goes with --redis URL", NULL);
    if (o->grid.n_axes == 0)
        return usage_error("give at least one --param axis, e.g. --param fast=5,10,20 or --param fast=5:20:5", NULL);
    if (o->run.has_from && o->run.has_to && o->run.from > o->run.to) return usage_error("--from is after --to", NULL);
    if (o->run.allocate)
        return usage_error("--allocate: every point runs one strategy with the whole capital (use mts backtest "
                           "for shares of several)", NULL);
    if (o->redis && (o->run.mode || o->run.max_position || o->run.max_portfolio_risk || o->run.market ||
                     o->run.leverage || o->run.has_maker || o->run.has_taker))
        return usage_error("--mode/--max-position/--max-portfolio-risk/--market/--leverage/--maker-bps/--taker-bps "
                           "are not passed to --redis workers yet; run without --redis", NULL);
    return 0;
}

static int higher_is_better(const char *metric) { return mts_opt_higher_is_better(metric); }

/* The value text of axis k in run r, NULL when the axis does not apply. */
static const char *value_of(const opts_t *o, const run_t *r, int k) {
    return r->p->value[k] >= 0 ? o->grid.axes[k].values[r->p->value[k]] : NULL;
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
           "\"results\":[", o->metric, o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT,
           higher_is_better(o->metric) ? "true" : "false", n);
    for (int i = 0; i < shown; i++) {
        const run_t *r = &runs[i];
        printf("%s{\"rank\":%d,\"strategy\":\"", i ? "," : "", i + 1);
        mts_json_escape(stdout, o->strategies[r->p->strategy]);
        printf("\",\"params\":{");
        int first = 1;
        for (int k = 0; k < o->grid.n_axes; k++) {
            if (!value_of(o, r, k)) continue;
            printf("%s\"", first ? "" : ",");
            mts_json_escape(stdout, o->grid.axes[k].key);
            printf("\":");
            print_value_json(value_of(o, r, k));
            first = 0;
        }
        printf("},\"id\":");
        if (r->r->run_id > 0) printf("%lld", (long long)r->r->run_id);
        else printf("null");
        const mts_metrics_t *m = &r->r->m;
        const char *names[] = {"value", "final_value", "total_return", "annualized_return", "sharpe_ratio",
                               "max_drawdown", "volatility", "calmar_ratio", "win_rate", "profit_factor"};
        double vals[] = {r->r->metric, m->final_value, m->total_return, m->annualized_return, m->sharpe_ratio,
                         m->max_drawdown, m->volatility, m->calmar_ratio, m->win_rate, m->profit_factor};
        for (int k = 0; k < 10; k++) {
            printf(",\"%s\":", names[k]);
            mts_json_number(stdout, vals[k]);
        }
        printf(",\"trade_count\":%lld,\"disabled\":%s}", (long long)m->trade_count, r->r->disabled ? "true" : "false");
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
           o->assets_buf, o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT, range, n, o->metric, higher_is_better(o->metric) ? "higher" : "lower");
    printf("%5s  %-16s", "rank", "strategy");
    for (int k = 0; k < o->grid.n_axes; k++) printf(" %10.10s", o->grid.axes[k].key);
    printf(" %10s %10s %10s %8s %7s %7s\n", "sharpe", "return", "max_dd", "win", "trades", "id");
    for (int i = 0; i < shown; i++) {
        const run_t *r = &runs[i];
        char c[4][32];
        printf("%5d  %-16.16s", i + 1, o->strategies[r->p->strategy]);
        for (int k = 0; k < o->grid.n_axes; k++) printf(" %10.10s", value_of(o, r, k) ? value_of(o, r, k) : "-");
        fmt_cell(c[0], 32, r->r->m.sharpe_ratio, 0);
        fmt_cell(c[1], 32, r->r->m.total_return, 1);
        fmt_cell(c[2], 32, r->r->m.max_drawdown, 1);
        fmt_cell(c[3], 32, r->r->m.win_rate, 1);
        printf(" %10s %10s %10s %8s %7lld", c[0], c[1], c[2], c[3], (long long)r->r->m.trade_count);
        if (r->r->run_id > 0) printf(" %7lld\n", (long long)r->r->run_id);
        else printf(" %7s\n", "-");
    }
    if (shown < n) printf("  (%d more; --top 0 shows all)\n", n - shown);
    if (runs[0].r->run_id > 0)
        printf("best: mts report %lld --html report.html\n", (long long)runs[0].r->run_id);
}

static int write_grid(const opts_t *o, const run_t *runs, int n, const char *range) {
    mts_report_grid_row_t *rows = mts_calloc((size_t)n, sizeof *rows);
    const char **vals = mts_calloc((size_t)n * (size_t)o->grid.n_axes + 1, sizeof *vals);
    const char *keys[MTS_GRID_MAX_AXES];
    int rc = MTS_ENOMEM;
    FILE *f = NULL;
    if (!rows || !vals) goto done;
    for (int k = 0; k < o->grid.n_axes; k++) keys[k] = o->grid.axes[k].key;
    for (int i = 0; i < n; i++) {
        const char **v = vals + (size_t)i * (size_t)o->grid.n_axes;
        for (int k = 0; k < o->grid.n_axes; k++) v[k] = value_of(o, &runs[i], k) ? value_of(o, &runs[i], k) : "";
        rows[i] = (mts_report_grid_row_t){o->strategies[runs[i].p->strategy], v, runs[i].r->m, runs[i].r->metric,
                                          runs[i].r->run_id};
    }
    char title[600];
    snprintf(title, sizeof title, "%.250s on %.250s, %s bars", o->strategies_buf, o->assets_buf,
             o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT);
    mts_report_grid_t g = {title, range, o->metric, higher_is_better(o->metric), keys, o->grid.n_axes, rows, n};
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

static int fail_count(char *err, size_t n, int64_t got, int64_t want) {
    snprintf(err, n, "the executor returned %lld results for %lld points", (long long)got, (long long)want);
    return MTS_EINVAL;
}

static void on_progress(void *ctx, int64_t done, int64_t total) {
    (void)total;
    mts_progress_update(ctx, done);
}

int mts_cmd_optimize(int argc, char **argv) {
    opts_t o;
    memset(&o, 0, sizeof o);
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        free_opts(&o);
        return prc > 0 ? MTS_EXIT_OK : MTS_EXIT_USAGE;
    }
    const char *db_path = mts_cli_db_path(o.db);
    mts_opt_spec_t spec = {
        .strategies = o.strategies, .n_strategies = o.n_strategies, .assets = o.assets, .n_assets = o.n_assets,
        .interval = o.run.interval, .from = o.run.has_from ? o.run.from : INT64_MIN, .to = o.run.has_to ? o.run.to : INT64_MAX,
        .capital = o.run.capital, .commission_bps = o.run.commission_bps, .slippage_bps = o.run.slippage_bps,
        .risk_free = o.run.rf, .trusted = o.trusted, .root = mts_root(), .db_label = db_path, .grid = &o.grid,
        .metric = o.metric, .store = o.store,
        .mode = o.run.mode, .max_position = o.run.max_position, .max_portfolio_risk = o.run.max_portfolio_risk,
        .market = o.run.market, .leverage = o.run.leverage, .maker_bps = o.run.maker_bps, .taker_bps = o.run.taker_bps,
        .has_maker = o.run.has_maker, .has_taker = o.run.has_taker};
    /* the combinations: for each strategy, the product of the axes that apply to it */
    mts_opt_point_t *points = NULL;
    mts_opt_result_t *results = NULL;
    int64_t np = 0, nr = 0, *order = NULL;
    run_t *runs = NULL;
    char err[1600] = "";
    int rc = mts_opt_points(&spec, &points, &np, err, sizeof err);
    if (rc != 0) {
        if (rc == MTS_ERANGE) fprintf(stderr, "mts optimize: %s\n", err);
        else fprintf(stderr, "error: %s\n", err);
        free_opts(&o);
        return rc == MTS_ERANGE ? MTS_EXIT_USAGE : MTS_EXIT_ERROR;
    }
    int n = (int)np, exit_code = MTS_EXIT_ERROR, n_disabled = 0, n_unstored = 0;
    char unstored_err[640] = "";
    mts_store_t *store = NULL;
    mts_backtest_data_t *data = NULL;
    runs = mts_calloc((size_t)n + 1, sizeof *runs);
    order = mts_calloc((size_t)n + 1, sizeof *order);
    if (!runs || !order) {
        fprintf(stderr, "error: out of memory for %d combinations\n", n);
        goto done;
    }
    if ((store = mts_cli_open_store(db_path)) == NULL) goto done;
    /* the bars, VIX and provider: loaded once, shared read-only by every run */
    if ((rc = mts_opt_data_load(store, &spec, &data, err, sizeof err)) != 0) {
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        goto done;
    }

    mts_progress_t bar;
    mts_progress_begin(&bar, "optimize", n, "runs");
    if (o.redis)
        rc = mts_opt_run_remote(o.redis, db_path, &spec, o.resume, on_progress, &bar, NULL, &results, &nr, err,
                                sizeof err);
    else
        rc = mts_opt_run_data(store, db_path, &spec, data, o.run.jobs, on_progress, &bar, NULL, &results, &nr, err,
                              sizeof err);
    mts_progress_end(&bar);
    if (rc == 0 && nr != np) rc = fail_count(err, sizeof err, nr, np);
    if (rc != 0) {
        size_t el = strlen(err);   /* the library says "run it again": name the command */
        const char *tail = "run it again)";
        if (el >= strlen(tail) && strcmp(err + el - strlen(tail), tail) == 0 && el + 16 < sizeof err)
            snprintf(err + el - strlen(tail), sizeof err - (el - strlen(tail)), "run mts optimize again)");
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        goto done;
    }
    for (const char *w = mts_backtest_data_warnings(data); w && *w;) {   /* as mts backtest: once for the run set */
        const char *nl = strchr(w, '\n');
        fprintf(stderr, "warning: %.*s\n", nl ? (int)(nl - w) : (int)strlen(w), w);
        w = nl ? nl + 1 : "";
    }
    char range[80] = "";
    {
        int64_t t0, t1;
        char d0[32], d1[32];
        mts_backtest_data_range(data, &t0, &t1);
        if (mts_interval_seconds(o.run.interval ? o.run.interval : MTS_INTERVAL_DEFAULT) < 86400) {
            mts_time_format_iso(t0, d0);   /* intraday: the times matter */
            mts_time_format_iso(t1, d1);
        } else {
            mts_time_format_date(t0, d0);
            mts_time_format_date(t1, d1);
        }
        snprintf(range, sizeof range, "%s .. %s", d0, d1);
    }
    for (int i = 0; i < n; i++) {
        if (results[i].store_rc) {   /* computed, not stored: still ranked and printed */
            n_unstored++;
            snprintf(unstored_err, sizeof unstored_err, "%s", results[i].store_err);
        }
        if (results[i].disabled) n_disabled++;
    }

    mts_opt_rank(&spec, results, np, order);
    for (int i = 0; i < n; i++) runs[i] = (run_t){&points[order[i]], &results[order[i]]};

    if (o.store == MTS_OPT_STORE_BEST) {   /* store the winner: run it again with storing on (runs are deterministic) */
        mts_opt_result_t best;
        if ((rc = mts_opt_run_point(store, &spec, data, runs[0].p, 1, &best, err, sizeof err)) != 0) {
            fprintf(stderr, "error: storing the best run: %s\n", err[0] ? err : mts_strerror(rc));
            goto done;
        }
        results[order[0]].run_id = best.run_id;
        if (best.store_rc) {
            n_unstored++;
            snprintf(unstored_err, sizeof unstored_err, "%s", best.store_err);
        }
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
                n_unstored, o.store == MTS_OPT_STORE_BEST ? 1 : n, db_path, unstored_err, MTS_STORE_WRITE_WAIT_MS);
        exit_code = MTS_EXIT_NOT_STORED;
    }
done:
    mts_backtest_data_free(data);
    mts_store_close(store);
    mts_free(results);
    mts_free(points);
    mts_free(order);
    mts_free(runs);
    free_opts(&o);
    return exit_code;
}
