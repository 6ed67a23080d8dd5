/* walkforward.c — `mts walkforward`: walk-forward optimization (research.h,
 * "walk-forward runs"). Parses, runs mts_wf_run, prints one line per window
 * and the stitched out-of-sample summary (or JSON), writes the HTML report,
 * and stores the stitched run like a backtest so `mts report ID` opens it. */
#include "cmd/cmd.h"
#include "market/interval.h"
#include "report/report.h"
#include "research/research.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 32

typedef struct {
    char *strategies_buf, *assets_buf;    /* split in place: NUL-separated */
    char strategies_text[512], assets_text[512];   /* "a,b" as given, for titles */
    const char *strategies[MAX_LIST], *assets[MAX_LIST];
    int n_strategies, n_assets;
    mts_grid_t grid;
    mts_cli_run_opts_t run;    /* range, costs, interval, jobs */
    int64_t train_s, test_s;
    int anchored, json, trusted, store;
    const char *db, *report_path, *metric, *train_arg, *test_arg;
} opts_t;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts walkforward --strategy NAME[,NAME...] --asset LIST --param KEY=VALUES [...]\n"
        "                       --train DURATION --test DURATION [options]\n\n"
        "Walk-forward optimization: the data is cut into windows of a train part followed by a test\n"
        "part. For each window the --param grid runs on the train part, the best point by --metric is\n"
        "chosen, and that point alone runs on the test part, starting with the equity the previous\n"
        "test part ended with. The test parts, stitched, are an out-of-sample equity curve: what the\n"
        "procedure would have earned on data it never fitted. Rolling windows (default) move by the\n"
        "test length; --anchored keeps every train part starting at the data's first bar.\n"
        "A test run sees only its own bars: indicators warm up inside the test window.\n\n"
        "options:\n"
        "  --strategy LIST       strategies, each optimized on its own (required): names or paths,\n"
        "                        as mts optimize (and $ENABLED_STRATEGIES likewise)\n"
        "  --asset LIST          assets, as for mts backtest (required)\n"
        "  --param KEY=VALUES    a parameter axis, a,b,c or start:stop:step (repeatable, required)\n"
        "  --train DURATION      train length: a number and a unit s, m, h, d or w (365d, 12h, 4w)\n"
        "  --test DURATION       test length, the same way (also the step between windows)\n"
        "  --anchored            train parts grow from the first bar instead of rolling\n"
        "  --metric NAME         choose by this metric (default sharpe_ratio): sharpe_ratio,\n"
        "                        total_return, annualized_return, calmar_ratio, win_rate,\n"
        "                        profit_factor, final_value, sortino_ratio, exposure_time, avg_trade,\n"
        "                        expectancy, alpha, beta (higher is better; alpha, beta against the\n"
        "                        equal-weight buy-and-hold of the assets), max_drawdown, volatility\n"
        "                        (lower)\n"
        "  --jobs N              worker processes for each window's grid (default: the number of cores)\n"
        "  --report FILE         self-contained HTML: stitched curve, drawdown, per-window table\n"
        "  --no-store            do not store the stitched run (stored by default)\n"
        "  --json                one JSON object on stdout instead of the table\n"
        "  --trusted             strategies keep the JIT, no sandbox limits (faster; your own code)\n"
        "  --interval I          the bars' interval, one of " MTS_INTERVALS " (default 1d)\n"
        "  --from DATE --to DATE bound the data the windows are laid over\n"
        "  --capital X --commission-bps X --slippage-bps X --risk-free X --db PATH\n"
        "                        as for mts backtest\n\n"
        "%s"
        "Printed per window: its train and test range, the chosen parameters, the in-sample metric\n"
        "(IS: the chosen point on its train part) and the out-of-sample one (OOS: its test run).\n"
        "Then the stitched curve's metrics and the overfitting measure: gap = mean IS - mean OOS\n"
        "(OOS - IS for max_drawdown and volatility; > 0: the test parts did worse than training\n"
        "promised) and efficiency = mean OOS / mean IS (1 = as good as in-sample).\n"
        "The stitched run is stored as a backtest (mts report ID opens it); its parameters list the\n"
        "windows and the chosen parameters. A progress bar shows on stderr when it is a terminal.\n\n"
        "examples:\n"
        "  mts walkforward --strategy mean_reversion --asset bitcoin --param rsi_period=7:28:7 \\\n"
        "                  --train 365d --test 90d --metric sharpe_ratio --report wf.html\n"
        "  mts walkforward --strategy sma_cross --asset ethereum --param fast=5:20:5 --param slow=30,50 \\\n"
        "                  --train 52w --test 13w --anchored --jobs 2 --json\n"
        "  mts walkforward --strategy sma_cross --asset bitcoin --param fast=5:20:5 --train 365d --test 90d \\\n"
        "                  --max-position 0.5 --market perp --leverage 2\n"
        "(--allocate is backtest's: every run here is one strategy with the whole capital)\n",
        mts_cli_book_help);
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "mts walkforward: %s%s%s%s (see mts walkforward --help)\n", msg, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "");
    return -1;
}

/* "365d" "12h" "4w" "30m" "90s" -> seconds; -1 unless a whole number > 0 and a unit. */
static int64_t parse_span(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v <= 0 || !end[0] || end[1]) return -1;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return -1;
    }
    if (v > INT64_MAX / 4 / unit) return -1;
    return (int64_t)v * unit;
}

enum { O_STRATEGY, O_ASSET, O_PARAM, O_METRIC, O_TRAIN, O_TEST, O_ANCHORED, O_JOBS, O_REPORT, O_NOSTORE,
       O_JSON, O_FROM, O_TO, O_CAPITAL, O_COMM, O_SLIP, O_RF, O_DB, O_HELP, O_TRUSTED, O_INTERVAL };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--asset", 1}, {"--param", 1}, {"--metric", 1}, {"--train", 1}, {"--test", 1},
    {"--anchored", 0}, {"--jobs", 1}, {"--report", 1}, {"--no-store", 0}, {"--json", 0}, {"--from", 1},
    {"--to", 1}, {"--capital", 1}, {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--risk-free", 1},
    {"--db", 1}, {"--help", 0}, {"--trusted", 0}, {"--interval", 1}, MTS_CLI_BOOK_OPTS, {NULL, 0}};

static int parse(int argc, char **argv, opts_t *o) {
    o->metric = "sharpe_ratio";
    o->store = 1;
    o->run.jobs = 0;
    if (mts_cli_backtest_defaults(&o->run.capital, &o->run.commission_bps, &o->run.slippage_bps, &o->run.rf) != 0) return -1;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("walkforward", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return -1;
        if (k == MTS_CLI_POSITIONAL) return usage_error("unexpected argument", val);
        switch (k) {
        case O_HELP: usage(stdout); return 1;
        case O_STRATEGY:
            free(o->strategies_buf);
            o->strategies_buf = strdup(val);
            snprintf(o->strategies_text, sizeof o->strategies_text, "%s", val);
            if (mts_cli_split_list("walkforward", "--strategy", o->strategies_buf, o->strategies, MAX_LIST,
                                   &o->n_strategies))
                return -1;
            break;
        case O_ASSET:
            free(o->assets_buf);
            o->assets_buf = strdup(val);
            snprintf(o->assets_text, sizeof o->assets_text, "%s", val);
            if (mts_cli_split_list("walkforward", "--asset", o->assets_buf, o->assets, MAX_LIST, &o->n_assets))
                return -1;
            break;
        case O_PARAM: {
            char err[256] = "";
            if (mts_grid_add_axis(&o->grid, val, err, sizeof err) != 0) {
                fprintf(stderr, "mts walkforward: --param %s: %s (see mts walkforward --help)\n", val, err);
                return -1;
            }
            break;
        }
        case O_METRIC:
            if (!mts_opt_metric_known(val)) {
                const char *near = mts_cli_suggest(val, mts_opt_metrics);
                fprintf(stderr, "mts walkforward: unknown metric '%s'%s%s%s (one of: sharpe_ratio, total_return, "
                                "annualized_return, max_drawdown, volatility, calmar_ratio, win_rate, "
                                "profit_factor, final_value, sortino_ratio, exposure_time, avg_trade, expectancy, alpha, "
                                "beta)\n", val, near ? "; did you mean '" : "",
                        near ? near : "", near ? "'?" : "");
                return -1;
            }
            o->metric = val;
            break;
        case O_TRAIN:
            if ((o->train_s = parse_span(val)) < 0)
                return usage_error("--train expects a length like 365d, 12h or 4w, got", val);
            o->train_arg = val;
            break;
        case O_TEST:
            if ((o->test_s = parse_span(val)) < 0)
                return usage_error("--test expects a length like 90d, 12h or 4w, got", val);
            o->test_arg = val;
            break;
        case O_ANCHORED: o->anchored = 1; break;
        default:   /* --from --to --capital --commission-bps --slippage-bps --risk-free --interval --jobs */
            if (mts_cli_run_option("walkforward", OPTS[k].name, val, &o->run) < 0) return -1;
            break;
        case O_REPORT: o->report_path = val; break;
        case O_NOSTORE: o->store = 0; break;
        case O_JSON: o->json = 1; break;
        case O_TRUSTED: o->trusted = 1; break;
        case O_DB: o->db = val; break;
        }
    }
    if (o->n_strategies == 0) return usage_error("--strategy is required, e.g. --strategy sma_cross", NULL);
    if (mts_cli_strategies("walkforward", o->strategies, o->n_strategies, 1)) return -1;
    if (o->n_assets == 0) return usage_error("--asset is required, e.g. --asset bitcoin", NULL);
    if (o->grid.n_axes == 0)
        return usage_error("give at least one --param axis, e.g. --param fast=5,10,20 or --param fast=5:20:5", NULL);
    if (!o->train_arg) return usage_error("--train is required, e.g. --train 365d", NULL);
    if (!o->test_arg) return usage_error("--test is required, e.g. --test 90d", NULL);
    if (o->run.has_from && o->run.has_to && o->run.from > o->run.to) return usage_error("--from is after --to", NULL);
    if (o->run.allocate)
        return usage_error("--allocate: every run of a walk-forward is one strategy with the whole capital", NULL);
    return 0;
}

static void free_opts(opts_t *o) {
    free(o->strategies_buf);
    free(o->assets_buf);
    mts_grid_free(&o->grid);
}

/* ---- progress and cancel ---- */

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void on_progress(void *ctx, int64_t done, int64_t total) {
    mts_progress_t *bar = ctx;
    if (bar->total != total) bar->total = total;
    mts_progress_update(bar, done);
}

/* ---- output ---- */

static void when(const opts_t *o, int64_t ts, char buf[32]) {
    if (mts_interval_seconds(o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT) < 86400) mts_time_format_iso(ts, buf);
    else mts_time_format_date(ts, buf);
}

static void cell(char *b, size_t n, double v, int pct) {
    if (isnan(v)) snprintf(b, n, "n/a");
    else if (isinf(v)) snprintf(b, n, v > 0 ? "inf" : "-inf");
    else if (pct) snprintf(b, n, "%.2f%%", v * 100);
    else snprintf(b, n, "%.3f", v);
}

static int metric_is_pct(const char *m) {
    return !strcmp(m, "total_return") || !strcmp(m, "annualized_return") || !strcmp(m, "max_drawdown") ||
           !strcmp(m, "volatility") || !strcmp(m, "win_rate");
}

static void print_table(const opts_t *o, const mts_wf_spec_t *spec, const mts_wf_result_t *r, int64_t run_id) {
    char a[32], b[32], c[32], d[32];
    const int pct = metric_is_pct(o->metric);
    when(o, r->first, a);
    when(o, r->last, b);
    printf("walkforward %s on %s  %s bars  %s .. %s: %d %s windows, train %s, test %s, chosen by %s\n",
           o->strategies_text, o->assets_text, o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT, a, b, r->n_windows,
           o->anchored ? "anchored" : "rolling", o->train_arg, o->test_arg, o->metric);
    int wd = mts_interval_seconds(o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT) < 86400 ? 20 : 10;
    printf("%3s  %-*s %-*s  %-*s %-*s  %-24s %10s %10s %10s %8s\n", "#", wd, "train_from", wd, "train_to", wd,
           "test_from", wd, "test_to", "chosen", "IS", "OOS", "oos_ret", "trades");
    for (int k = 0; k < r->n_windows; k++) {
        const mts_wf_window_result_t *w = &r->windows[k];
        char t0[32], t1[32], s0[32], s1[32], chosen[600];
        when(o, w->w.train_from, t0);
        when(o, w->w.train_to, t1);
        when(o, w->w.test_from, s0);
        when(o, w->w.test_to, s1);
        if (spec->opt.n_strategies > 1)
            snprintf(chosen, sizeof chosen, "%s %s", spec->opt.strategies[w->point.strategy], w->params);
        else snprintf(chosen, sizeof chosen, "%s", w->params);
        cell(a, sizeof a, w->is_metric, pct);
        cell(b, sizeof b, w->oos_metric, pct);
        cell(c, sizeof c, w->oos.total_return, 1);
        printf("%3d  %-*s %-*s  %-*s %-*s  %-24s %10s %10s %10s %8lld%s\n", k + 1, wd, t0, wd, t1, wd, s0, wd, s1,
               chosen, a, b, c, (long long)w->oos.trade_count, w->disabled ? "  (strategy disabled)" : "");
    }
    const mts_metrics_t *m = &r->oos;
    cell(a, sizeof a, m->total_return, 1);
    cell(b, sizeof b, m->sharpe_ratio, 0);
    cell(c, sizeof c, m->max_drawdown, 1);
    cell(d, sizeof d, m->annualized_return, 1);
    printf("stitched out-of-sample: final %.2f from %.2f  return %s  annualized %s  sharpe %s  max_dd %s  "
           "trades %lld\n", m->final_value, spec->opt.capital, a, d, b, c, (long long)m->trade_count);
    cell(a, sizeof a, r->is_mean, pct);
    cell(b, sizeof b, r->oos_mean, pct);
    cell(c, sizeof c, r->gap, pct);
    cell(d, sizeof d, r->efficiency, 0);
    printf("overfitting (%s, %d of %d windows): mean IS %s  mean OOS %s  gap %s  efficiency %s\n", o->metric,
           r->n_counted, r->n_windows, a, b, c, d);
    if (run_id > 0) printf("stored as run %lld: mts report %lld --html report.html\n", (long long)run_id, (long long)run_id);
}

static void json_metrics(const mts_metrics_t *m) {
    const char *names[] = {"final_value", "total_return", "annualized_return", "sharpe_ratio", "max_drawdown",
                           "volatility", "calmar_ratio", "win_rate", "profit_factor"};
    double vals[] = {m->final_value, m->total_return, m->annualized_return, m->sharpe_ratio, m->max_drawdown,
                     m->volatility, m->calmar_ratio, m->win_rate, m->profit_factor};
    putchar('{');
    for (int k = 0; k < 9; k++) {
        printf("%s\"%s\":", k ? "," : "", names[k]);
        mts_json_number(stdout, vals[k]);
    }
    printf(",\"trade_count\":%lld}", (long long)m->trade_count);
}

static void json_time(int64_t ts) {
    char b[32];
    mts_time_format_iso(ts, b);
    printf("{\"ts\":%lld,\"iso\":\"%s\"}", (long long)ts, b);
}

static void print_json(const opts_t *o, const mts_wf_spec_t *spec, const mts_wf_result_t *r, int64_t run_id) {
    printf("{\"metric\":\"%s\",\"higher_is_better\":%s,\"interval\":\"%s\",\"anchored\":%s,\"train_s\":%lld,"
           "\"test_s\":%lld,\"capital\":", o->metric, mts_opt_higher_is_better(o->metric) ? "true" : "false",
           o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT, o->anchored ? "true" : "false",
           (long long)o->train_s, (long long)o->test_s);
    mts_json_number(stdout, spec->opt.capital);
    printf(",\"first\":");
    json_time(r->first);
    printf(",\"last\":");
    json_time(r->last);
    printf(",\"windows\":[");
    const mts_grid_t *g = &o->grid;
    for (int k = 0; k < r->n_windows; k++) {
        const mts_wf_window_result_t *w = &r->windows[k];
        printf("%s{\"train_from\":", k ? "," : "");
        json_time(w->w.train_from);
        printf(",\"train_to\":");
        json_time(w->w.train_to);
        printf(",\"test_from\":");
        json_time(w->w.test_from);
        printf(",\"test_to\":");
        json_time(w->w.test_to);
        printf(",\"strategy\":\"");
        mts_json_escape(stdout, spec->opt.strategies[w->point.strategy]);
        printf("\",\"point\":%lld,\"params\":{", (long long)w->point.index);
        int first = 1;
        for (int a = 0; a < g->n_axes; a++) {
            if (w->point.value[a] < 0) continue;
            printf("%s\"", first ? "" : ",");
            mts_json_escape(stdout, g->axes[a].key);
            printf("\":\"");
            mts_json_escape(stdout, g->axes[a].values[w->point.value[a]]);
            printf("\"");
            first = 0;
        }
        printf("},\"is_metric\":");
        mts_json_number(stdout, w->is_metric);
        printf(",\"oos_metric\":");
        mts_json_number(stdout, w->oos_metric);
        printf(",\"capital\":");
        mts_json_number(stdout, w->capital);
        printf(",\"equity_first_ts\":%lld,\"equity_last_ts\":%lld,\"equity_points\":%lld,\"disabled\":%s,\"is\":",
               (long long)w->first_ts, (long long)w->last_ts, (long long)w->n_points, w->disabled ? "true" : "false");
        json_metrics(&w->is);
        printf(",\"oos\":");
        json_metrics(&w->oos);
        putchar('}');
    }
    printf("],\"stitched\":");
    json_metrics(&r->oos);
    printf(",\"equity_points\":%lld,\"overfitting\":{\"windows_counted\":%d,\"is_mean\":", (long long)r->equity.n,
           r->n_counted);
    mts_json_number(stdout, r->is_mean);
    printf(",\"oos_mean\":");
    mts_json_number(stdout, r->oos_mean);
    printf(",\"gap\":");
    mts_json_number(stdout, r->gap);
    printf(",\"efficiency\":");
    mts_json_number(stdout, r->efficiency);
    printf("},\"id\":");
    if (run_id > 0) printf("%lld", (long long)run_id);
    else printf("null");
    printf("}\n");
}

static int write_report(const opts_t *o, const mts_wf_spec_t *spec, const mts_wf_result_t *r, int64_t run_id) {
    mts_report_wf_row_t *rows = mts_calloc((size_t)r->n_windows + 1, sizeof *rows);
    char (*chosen)[600] = mts_calloc((size_t)r->n_windows + 1, sizeof *chosen);
    if (!rows || !chosen) {
        mts_free(rows);
        mts_free(chosen);
        fprintf(stderr, "error: out of memory writing the walk-forward report\n");
        return MTS_ENOMEM;
    }
    for (int k = 0; k < r->n_windows; k++) {
        const mts_wf_window_result_t *w = &r->windows[k];
        if (spec->opt.n_strategies > 1)
            snprintf(chosen[k], sizeof chosen[k], "%s %s", spec->opt.strategies[w->point.strategy], w->params);
        else snprintf(chosen[k], sizeof chosen[k], "%s", w->params);
        rows[k] = (mts_report_wf_row_t){w->w.train_from, w->w.train_to, w->w.test_from, w->w.test_to, chosen[k],
                                        w->is_metric, w->oos_metric, w->capital, w->oos};
    }
    char title[600];
    snprintf(title, sizeof title, "Walk-forward: %.250s on %.250s", o->strategies_text, o->assets_text);
    mts_report_wf_t rep = {
        .title = title, .metric = o->metric, .higher_is_better = mts_opt_higher_is_better(o->metric),
        .interval = o->run.interval ? o->run.interval : MTS_INTERVAL_DEFAULT, .anchored = o->anchored,
        .train = o->train_arg, .test = o->test_arg, .equity = &r->equity, .initial_capital = spec->opt.capital,
        .trades = r->trades, .n_trades = r->n_trades, .assets = o->assets, .n_assets = o->n_assets,
        .oos = r->oos, .is_mean = r->is_mean, .oos_mean = r->oos_mean, .gap = r->gap,
        .efficiency = r->efficiency, .n_counted = r->n_counted, .rows = rows, .n_rows = r->n_windows,
        .run_id = run_id};
    FILE *f = strcmp(o->report_path, "-") == 0 ? stdout : fopen(o->report_path, "w");
    int rc;
    if (!f) {
        fprintf(stderr, "error: cannot write the report to %s: %s (check that the directory exists and is "
                        "writable)\n", o->report_path, strerror(errno));
        rc = MTS_EIO;
    } else {
        rc = mts_report_walkforward_html(f, &rep);
        if (f != stdout && fclose(f) != 0 && rc == 0) rc = MTS_EIO;
        if (rc) fprintf(stderr, "error: writing the report to %s failed: %s\n", o->report_path, mts_strerror(rc));
    }
    mts_free(rows);
    mts_free(chosen);
    return rc;
}

int mts_cmd_walkforward(int argc, char **argv) {
    opts_t o;
    memset(&o, 0, sizeof o);
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        free_opts(&o);
        return prc > 0 ? MTS_EXIT_OK : MTS_EXIT_USAGE;
    }
    const char *db_path = mts_cli_db_path(o.db);
    mts_store_t *store = mts_cli_open_store(db_path);
    if (!store) {
        free_opts(&o);
        return MTS_EXIT_ERROR;
    }
    mts_wf_spec_t spec = {
        .opt = {.strategies = o.strategies, .n_strategies = o.n_strategies, .assets = o.assets,
                .n_assets = o.n_assets, .interval = o.run.interval, .from = o.run.has_from ? o.run.from : INT64_MIN,
                .to = o.run.has_to ? o.run.to : INT64_MAX, .capital = o.run.capital, .commission_bps = o.run.commission_bps,
                .slippage_bps = o.run.slippage_bps, .risk_free = o.run.rf, .trusted = o.trusted, .root = mts_root(),
                .db_label = db_path, .grid = &o.grid, .metric = o.metric, .store = MTS_OPT_STORE_NONE,
                .mode = o.run.mode, .max_position = o.run.max_position, .max_portfolio_risk = o.run.max_portfolio_risk,
                .market = o.run.market, .leverage = o.run.leverage, .maker_bps = o.run.maker_bps, .taker_bps = o.run.taker_bps,
                .has_maker = o.run.has_maker, .has_taker = o.run.has_taker},
        .train_s = o.train_s, .test_s = o.test_s, .anchored = o.anchored, .jobs = o.run.jobs, .db_path = db_path};
    mts_wf_result_t r;
    memset(&r, 0, sizeof r);
    char err[1024] = "";
    mts_progress_t bar;
    mts_progress_begin(&bar, "walkforward", 0, "runs");
    mts_cli_on_stop_signals(on_stop);
    int rc = mts_wf_run(store, &spec, on_progress, &bar, &stop_flag, &r, err, sizeof err);
    mts_progress_end(&bar);
    int exit_code = MTS_EXIT_ERROR;
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        goto done;
    }
    int64_t run_id = 0;
    int not_stored = 0;
    if (o.store) {
        if (mts_wf_store(store, &spec, &r, &run_id, err, sizeof err) != 0) {
            fprintf(stderr, "error: the stitched run was computed but NOT stored in %s: %s\n", db_path, err);
            not_stored = 1;
        }
    }
    if (o.report_path && write_report(&o, &spec, &r, run_id) != 0) goto done;
    if (o.json) print_json(&o, &spec, &r, run_id);
    else print_table(&o, &spec, &r, run_id);
    exit_code = MTS_EXIT_OK;
    if (r.n_disabled) {
        fprintf(stderr, "error: a strategy was disabled while running in %d of %d test windows; their metrics "
                        "are partial\n", r.n_disabled, r.n_windows);
        exit_code = MTS_EXIT_PARTIAL;
    }
    if (not_stored) exit_code = MTS_EXIT_NOT_STORED;
done:
    mts_wf_result_free(&r);
    mts_store_close(store);
    free_opts(&o);
    return exit_code;
}
