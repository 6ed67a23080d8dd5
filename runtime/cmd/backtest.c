/* backtest.c — `mts backtest`: load bars (importing bundled data on first use),
 * build the engine, hand it to the Lua runner, then compute metrics, print them,
 * write the optional trades/equity CSVs and store the run and its signals. */
#include "cmd/cmd.h"
#include "util/config.h"
#include "backtest/backtest.h"
#include "market/interval.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 32
#define MAX_PARAMS 64

typedef struct {
    char *strategies_buf, *assets_buf;
    const char *strategies[MAX_LIST];
    int n_strategies;
    const char *assets[MAX_LIST];
    int n_assets;
    const char *param_keys[MAX_PARAMS], *param_values[MAX_PARAMS];
    char *param_buf[MAX_PARAMS];
    int n_params;
    int64_t from, to;
    int has_from, has_to;
    const char *db, *trades_path, *equity_path, *report_path, *interval;
    double capital, commission_bps, slippage_bps, rf;
    int json, quiet, trusted;
    mts_cli_run_opts_t book;   /* --mode --allocate --max-position ... (cmd/common.c) */
} opts_t;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts backtest --strategy NAME[,NAME...] --asset NAME[,NAME...] [options]\n\n"
        "Runs the strategies over the stored bars of the assets at one interval (daily unless\n"
        "--interval; bundled BTC, ETH, BNB and VIX are imported into the database on first use),\n"
        "prints the metrics and stores the run (backtest_results) with its signals, trades and\n"
        "equity curve (mts report ID reads it back; live sessions' signals go to signal_history).\n"
        "Sharpe and volatility annualise by the interval (README, Metrics).\n\n"
        "options:\n"
        "  --strategy LIST       strategies: names in $MTS_STRATEGY_PATH or scripts/strategies, or\n"
        "                        paths to .lua files (default: $ENABLED_STRATEGIES or\n"
        "                        config/mts.json enabled_strategies)\n"
        "  --asset LIST          assets, e.g. bitcoin,ethereum,binancecoin (required)\n"
        "  --interval I          the bars' interval, one of " MTS_INTERVALS " (default 1d)\n"
        "  --from DATE --to DATE range of bars, inclusive: YYYY-MM-DD (--to: the whole day) or a\n"
        "                        time YYYY-MM-DDTHH:MM[:SS]Z for intraday runs\n"
        "  --capital X           initial capital (default 100000)\n"
        "  --commission-bps X    commission per fill, basis points of notional (default 10)\n"
        "  --slippage-bps X      slippage per market/stop fill, basis points (default 0)\n"
        "  --param KEY=VALUE     override a strategy parameter (repeatable)\n"
        "  --risk-free X         annual risk-free rate for Sharpe (default 0)\n"
        "  --trades FILE         write closed trades as CSV (times ISO-8601 UTC; numbers with every\n"
        "                        digit: the shortest text that reads back as the same double)\n"
        "  --equity FILE         write the equity curve (one row per bar) as CSV, likewise\n"
        "  --report FILE         write a self-contained HTML report of the stored run (charts,\n"
        "                        monthly returns, trades); later: mts report ID --html FILE\n"
        "  --db PATH             database (default $DATABASE_PATH or data/mts.db)\n"
        "  --json                one JSON object on stdout instead of the table\n"
        "  --quiet               no summary table\n"
        "  --trusted             run the strategies with the JIT and without the sandbox's time\n"
        "                        budget and memory cap (several times faster; for your own code)\n\n"
        "%s"
        "A database that another process is writing to is waited for (up to MTS_DB_BUSY_TIMEOUT_MS,\n"
        "default 600000 ms). If it stays locked, the result is still printed, with the reason it\n"
        "was not stored, and the exit status is 4 (docs/store.md).\n\n"
        "examples:\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --from 2020-01-01 --to 2024-12-31\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --interval 1h --from 2024-01-01T00:00Z\n"
        "  mts backtest --strategy sma_cross --asset ethereum --param fast=5 --param slow=20 --trades t.csv\n"
        "  mts backtest --strategy vix_correlation,mean_reversion --asset bitcoin,ethereum,binancecoin --json\n"
        "  mts backtest --strategy mean_reversion --asset bitcoin --report out/report.html\n"
        "  mts backtest --strategy sma_cross,mean_reversion --asset bitcoin --allocate sma_cross=0.6,mean_reversion=0.4\n"
        "  mts backtest --strategy vix_correlation,mean_reversion --asset bitcoin --mode vote\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --max-position 0.5 --max-portfolio-risk 1\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --interval 4h --market perp --leverage 3 --json\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --market perp --maker-bps 2 --taker-bps 5\n",
        mts_cli_book_help);
}

static int split_list(const char *opt, char *buf, const char **out, int *n) {
    return mts_cli_split_list("backtest", opt, buf, out, MAX_LIST, n);
}

static void free_opts(opts_t *o) {
    free(o->strategies_buf);
    free(o->assets_buf);
    for (int i = 0; i < o->n_params; i++) free(o->param_buf[i]);
}

enum { O_STRATEGY, O_ASSET, O_FROM, O_TO, O_CAPITAL, O_COMM, O_SLIP, O_PARAM, O_RF, O_TRADES,
       O_EQUITY, O_DB, O_JSON, O_QUIET, O_HELP, O_REPORT, O_TRUSTED, O_INTERVAL };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--asset", 1}, {"--from", 1}, {"--to", 1}, {"--capital", 1},
    {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--param", 1}, {"--risk-free", 1},
    {"--trades", 1}, {"--equity", 1}, {"--db", 1}, {"--json", 0}, {"--quiet", 0},
    {"--help", 0}, {"--report", 1}, {"--trusted", 0}, {"--interval", 1}, MTS_CLI_BOOK_OPTS, {NULL, 0}};

/* 0 ok, 1 help shown, -1 usage error */
static int parse(int argc, char **argv, opts_t *o) {
    if (mts_cli_backtest_defaults(&o->capital, &o->commission_bps, &o->slippage_bps, &o->rf) != 0)
        return -1;

    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("backtest", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return -1;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts backtest: unexpected argument '%s' (see mts backtest --help)\n", val);
            return -1;
        }
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
        case O_FROM:
            if (mts_cli_parse_time("--from", val, &o->from)) return -1;
            o->has_from = 1;
            break;
        case O_TO:
            if (mts_cli_parse_time("--to", val, &o->to)) return -1;
            /* a bare date means the whole day */
            if (strlen(val) == 10 && val[4] == '-') o->to += 86399;
            o->has_to = 1;
            break;
        case O_CAPITAL:
            if (mts_cli_parse_double("--capital", val, &o->capital)) return -1;
            if (!(o->capital > 0)) {
                fprintf(stderr, "error: --capital must be > 0, got %s\n", val);
                return -1;
            }
            break;
        case O_COMM:
            if (mts_cli_parse_double("--commission-bps", val, &o->commission_bps)) return -1;
            if (o->commission_bps < 0) {
                fprintf(stderr, "error: --commission-bps must be >= 0, got %s\n", val);
                return -1;
            }
            break;
        case O_SLIP:
            if (mts_cli_parse_double("--slippage-bps", val, &o->slippage_bps)) return -1;
            if (o->slippage_bps < 0) {
                fprintf(stderr, "error: --slippage-bps must be >= 0, got %s\n", val);
                return -1;
            }
            break;
        case O_RF:
            if (mts_cli_parse_double("--risk-free", val, &o->rf)) return -1;
            break;
        case O_PARAM: {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || !eq[1]) {
                fprintf(stderr, "error: --param expects KEY=VALUE, got '%s'\n", val);
                return -1;
            }
            if (o->n_params >= MAX_PARAMS) {
                fprintf(stderr, "error: at most %d --param options\n", MAX_PARAMS);
                return -1;
            }
            char *b = strdup(val);
            b[eq - val] = 0;
            o->param_buf[o->n_params] = b;
            o->param_keys[o->n_params] = b;
            o->param_values[o->n_params] = b + (eq - val) + 1;
            o->n_params++;
            break;
        }
        case O_TRADES: o->trades_path = val; break;
        case O_EQUITY: o->equity_path = val; break;
        case O_REPORT: o->report_path = val; break;
        case O_DB: o->db = val; break;
        case O_JSON: o->json = 1; break;
        case O_QUIET: o->quiet = 1; break;
        case O_TRUSTED: o->trusted = 1; break;
        case O_INTERVAL:
            if (mts_interval_seconds(val) < 0) {
                fprintf(stderr, "mts backtest: --interval: unknown interval '%s' (one of %s)\n", val,
                        MTS_INTERVALS);
                return -1;
            }
            o->interval = val;
            break;
        default:   /* --mode --allocate --max-position --max-portfolio-risk --market --leverage --maker/taker-bps */
            if (mts_cli_run_option("backtest", OPTS[k].name, val, &o->book) < 0) return -1;
            break;
        }
    }
    if (o->n_strategies == 0) {
        const char *env = getenv("ENABLED_STRATEGIES");
        char buf[512] = "";
        if (env && *env) snprintf(buf, sizeof buf, "%s", env);
        else if (mts_config_list(NULL, "enabled_strategies", buf, sizeof buf) != 0)
            snprintf(buf, sizeof buf, "vix_correlation,mean_reversion");
        o->strategies_buf = strdup(buf);
        if (split_list("--strategy", o->strategies_buf, o->strategies, &o->n_strategies)) return -1;
    }
    if (mts_cli_strategies("backtest", o->strategies, o->n_strategies, 0)) return -1;
    if (o->n_assets == 0) {
        char *names = mts_config_dataset_names("assets");
        fprintf(stderr, "mts backtest: --asset is required, e.g. --asset bitcoin (bundled: %s)\n",
                names && *names ? names : "none");
        mts_free(names);
        return -1;
    }
    if (o->has_from && o->has_to && o->from > o->to) {
        fprintf(stderr, "error: --from is after --to\n");
        return -1;
    }
    return 0;
}

/* Every digit: the shortest text that reads back as the same double. */
static void csv_num(FILE *f, double v) {
    if (isfinite(v)) mts_json_number(f, v);
    else fputs(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", f);
}

/* Every book's closed trades (exit time order), with their story. */
static int write_trades(const char *path, const opts_t *o, mts_engine_t *e) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write trades to %s\n", path);
        return -1;
    }
    fprintf(f, "asset,side,qty,entry_time,entry_price,exit_time,exit_price,pnl,fees,"
               "strategy,entry_reason,exit_reason,funding,mae,mfe\n");
    char t0[32], t1[32];
    int64_t n = 0;
    const mts_trade_t *trades = mts_engine_trades(e, &n);
    for (int64_t i = 0; i < n; i++) {
        const mts_trade_t *t = &trades[i];
        mts_time_format_iso(t->entry_ts, t0);
        mts_time_format_iso(t->exit_ts, t1);
        fprintf(f, "%s,%s,", mts_engine_asset_name(e, t->asset), t->side > 0 ? "long" : "short");
        csv_num(f, t->qty);
        fprintf(f, ",%s,", t0);
        csv_num(f, t->entry_price);
        fprintf(f, ",%s,", t1);
        csv_num(f, t->exit_price);
        fputc(',', f);
        csv_num(f, t->pnl);
        fputc(',', f);
        csv_num(f, t->fees);
        fprintf(f, ",%s,%s,%s,", t->strategy >= 0 && t->strategy < o->n_strategies ? o->strategies[t->strategy] : "",
                mts_reason_name(t->entry_reason), mts_reason_name(t->exit_reason));
        csv_num(f, t->funding);
        fputc(',', f);
        csv_num(f, t->mae);
        fputc(',', f);
        csv_num(f, t->mfe);
        fputc('\n', f);
    }
    if (f != stdout) fclose(f);
    return 0;
}

/* The account's curve; with several books, one more column per book (its strategy). */
static int write_equity(const char *path, const mts_backtest_t *b) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write equity to %s\n", path);
        return -1;
    }
    const mts_series_t *c = mts_engine_equity_curve(b->engine);
    int nb = b->n_books > 1 ? b->n_books : 0;
    fprintf(f, "timestamp,equity");
    for (int k = 0; k < nb; k++) fprintf(f, ",%s", b->books[k].strategy);
    fputc('\n', f);
    char ts[32];
    for (int64_t i = 0; i < c->n; i++) {
        mts_time_format_iso(c->ts[i], ts);
        fprintf(f, "%s,", ts);
        csv_num(f, c->v[i]);
        for (int k = 0; k < nb; k++) {
            const mts_portfolio_t *pf = mts_engine_book(b->engine, k);
            fputc(',', f);
            csv_num(f, pf && i < pf->equity.n ? pf->equity.v[i] : NAN);
        }
        fputc('\n', f);
    }
    if (f != stdout) fclose(f);
    return 0;
}

/* The report is built from the stored run (read back), so its numbers are
 * the stored numbers, the same as `mts report ID --html` gives later. */
static int write_report(mts_store_t *store, int64_t id, const char *path) {
    mts_stored_run_t run;
    int rc = mts_store_load_run(store, id, &run);
    if (rc != 0) {
        fprintf(stderr, "error: reading back backtest #%lld for the report: %s\n", (long long)id,
                mts_store_errmsg(store));
        return -1;
    }
    rc = mts_cli_write_report(store, &run, path);
    mts_stored_run_free(&run);
    return rc == 0 ? 0 : -1;
}

static void json_kv_num(const char *k, double v, int comma) {
    printf("\"%s\":", k);
    mts_json_number(stdout, v);
    if (comma) putchar(',');
}

static void json_kv_str(const char *k, const char *v, int comma) {
    printf("\"%s\":\"", k);
    mts_json_escape(stdout, v);
    printf("\"%s", comma ? "," : "");
}

static void print_pct(const char *label, double v) {
    if (isfinite(v)) printf("  %-20s %12.2f %%\n", label, v * 100.0);
    else printf("  %-20s %12s\n", label, "n/a");
}

static void print_num(const char *label, double v) {
    if (isfinite(v)) printf("  %-20s %12.2f\n", label, v);
    else if (isinf(v)) printf("  %-20s %12s\n", label, v > 0 ? "inf" : "-inf");
    else printf("  %-20s %12s\n", label, "n/a");
}

static void print_money(const char *label, double v) {
    /* thousands separators, 2 decimals */
    char raw[64], out[80];
    snprintf(raw, sizeof raw, "%.2f", fabs(v));
    char *dot = strchr(raw, '.');
    int int_len = (int)(dot - raw), j = 0;
    if (v < 0) out[j++] = '-';
    for (int i = 0; i < int_len; i++) {
        out[j++] = raw[i];
        int left = int_len - i - 1;
        if (left > 0 && left % 3 == 0) out[j++] = ',';
    }
    snprintf(out + j, sizeof out - (size_t)j, "%s", dot);
    printf("  %-20s %12s\n", label, out);
}

static void print_json(const opts_t *o, const mts_backtest_t *b) {
    const mts_metrics_t *m = &b->metrics;
    char start_iso[32], end_iso[32];
    mts_time_format_iso(b->start_ts, start_iso);
    mts_time_format_iso(b->end_ts, end_iso);
    printf("{");
    /* the same keys as POST /backtest; "stored":false and "store_error" only when not stored */
    if (b->run_id > 0) printf("\"id\":%lld,", (long long)b->run_id);
    else {
        printf("\"id\":null,\"stored\":false,");
        json_kv_str("store_error", b->store_err, 1);
    }
    json_kv_str("strategy", b->strategy_name, 1);
    printf("\"assets\":[");
    for (int a = 0; a < o->n_assets; a++) {
        printf("%s\"", a ? "," : "");
        mts_json_escape(stdout, o->assets[a]);
        printf("\"");
    }
    printf("],");
    json_kv_str("interval", o->interval ? o->interval : MTS_INTERVAL_DEFAULT, 1);
    json_kv_str("start", start_iso, 1);
    json_kv_str("end", end_iso, 1);
    json_kv_num("initial_capital", o->capital, 1);
    json_kv_num("final_value", m->final_value, 1);
    json_kv_num("total_return", m->total_return, 1);
    json_kv_num("annualized_return", m->annualized_return, 1);
    json_kv_num("sharpe_ratio", m->sharpe_ratio, 1);
    json_kv_num("max_drawdown", m->max_drawdown, 1);
    json_kv_num("volatility", m->volatility, 1);
    json_kv_num("calmar_ratio", m->calmar_ratio, 1);
    json_kv_num("win_rate", m->win_rate, 1);
    json_kv_num("profit_factor", m->profit_factor, 1);
    printf("\"trade_count\":%lld,", (long long)m->trade_count);
    json_kv_num("fees", b->account.fees, 1);
    mts_backtest_json_extra(stdout, b);   /* funding ... books (issue 12), as POST /backtest */
    printf("\"bars\":%lld,", (long long)b->total_bars);
    printf("\"fills\":%lld,", (long long)mts_engine_fill_count(b->engine));
    printf("\"signals\":%lld,", (long long)b->n_signals);
    printf("\"parameters\":%s,", b->lua.parameters_json ? b->lua.parameters_json : "{}");
    printf("\"disabled\":");
    mts_json_string_array(stdout, b->lua.disabled, '\n');
    printf(",\"warnings\":");
    mts_json_string_array(stdout, b->warnings, '\n');
    printf("}\n");
}

static void print_table(const mts_backtest_t *b, const char *interval, double capital,
                        const char *db_path) {
    const mts_metrics_t *m = &b->metrics;
    char d0[32], d1[32];
    if (mts_interval_seconds(interval) < 86400) {   /* intraday: the times matter */
        mts_time_format_iso(b->start_ts, d0);
        mts_time_format_iso(b->end_ts, d1);
    } else {
        mts_time_format_date(b->start_ts, d0);
        mts_time_format_date(b->end_ts, d1);
    }
    if (b->run_id > 0) printf("backtest #%lld", (long long)b->run_id);
    else printf("backtest (not stored)");
    printf("  %s on %s  %s bars  %s .. %s  (%lld bars)\n", b->strategy_name, b->assets_joined, interval,
           d0, d1, (long long)b->total_bars);
    print_money("initial capital", capital);
    print_money("final value", m->final_value);
    print_pct("total return", m->total_return);
    print_pct("annualized return", m->annualized_return);
    print_num("sharpe ratio", m->sharpe_ratio);
    print_pct("max drawdown", m->max_drawdown);
    print_pct("volatility", m->volatility);
    print_num("calmar ratio", m->calmar_ratio);
    print_pct("win rate", m->win_rate);
    print_num("profit factor", m->profit_factor);
    printf("  %-20s %12lld\n", "trades", (long long)m->trade_count);
    print_money("fees paid", b->account.fees);
    if (strcmp(b->market, "spot") != 0) {
        print_money("funding", b->account.funding);
        printf("  %-20s %12s\n", "market", b->market);
        print_num("leverage", b->leverage);
    }
    if (b->has_benchmark) {
        print_pct("buy & hold return", b->benchmark_metrics.total_return);
        print_num("alpha", m->alpha);
        print_num("beta", m->beta);
    }
    if (b->n_books > 1) {
        printf("  books (%s):\n", b->mode);
        for (int k = 0; k < b->n_books; k++) {
            const mts_backtest_book_t *bk = &b->books[k];
            printf("    %-18s %5.1f %%  pnl %14.2f  return %8.2f %%  trades %lld\n", bk->strategy,
                   bk->allocation * 100, bk->stats.equity - bk->stats.initial, bk->metrics.total_return * 100,
                   (long long)bk->metrics.trade_count);
        }
    }
    /* what limited the orders: only when something did */
    for (int k = -1; k < b->n_books; k++) {
        int64_t tr, rf, bp, sr;
        const char *who;
        if (k < 0) {
            tr = b->risk_trimmed, rf = b->risk_refused;
            bp = b->account.bp_cut + b->account.bp_refused;
            sr = b->account.short_refused + b->risk_short_refused;
            who = NULL;
        } else {
            if (b->n_books < 2) break;
            const mts_backtest_book_t *bk = &b->books[k];
            tr = bk->risk_trimmed, rf = bk->risk_refused, bp = bk->stats.bp_cut + bk->stats.bp_refused;
            sr = bk->stats.short_refused + bk->risk_short_refused;
            who = bk->strategy;
        }
        mts_cli_print_risk(who, tr, rf, bp, sr);
    }
    if (b->run_id > 0)
        printf("  stored in %s (backtest_results id %lld, %lld signals)\n", db_path,
               (long long)b->run_id, (long long)b->n_signals);
    else printf("  NOT stored in %s (%lld signals): see the error below\n", db_path, (long long)b->n_signals);
}

int mts_cmd_backtest(int argc, char **argv) {
    opts_t o;
    memset(&o, 0, sizeof o);
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        free_opts(&o);
        return prc > 0 ? MTS_EXIT_OK : MTS_EXIT_USAGE;
    }
    int exit_code = MTS_EXIT_ERROR;
    const char *db_path = mts_cli_db_path(o.db);
    mts_store_t *store = mts_cli_open_store(db_path);
    mts_backtest_t *b = NULL;
    if (!store) goto done;

    mts_backtest_opts_t bo = {
        .strategies = o.strategies, .n_strategies = o.n_strategies,
        .assets = o.assets, .n_assets = o.n_assets,
        .param_keys = o.param_keys, .param_values = o.param_values, .n_params = o.n_params,
        .from = o.has_from ? o.from : INT64_MIN, .to = o.has_to ? o.to : INT64_MAX,
        .interval = o.interval, .capital = o.capital, .commission_bps = o.commission_bps,
        .slippage_bps = o.slippage_bps, .risk_free = o.rf,
        .root = mts_root(), .db_label = db_path, .store_result = 1, .keep_unstored = 1,
        .trusted = o.trusted, .progress = 1,
        .mode = o.book.mode, .allocate = o.book.allocate, .max_position = o.book.max_position,
        .max_portfolio_risk = o.book.max_portfolio_risk, .market = o.book.market, .leverage = o.book.leverage,
        .maker_bps = o.book.maker_bps, .taker_bps = o.book.taker_bps, .has_maker = o.book.has_maker,
        .has_taker = o.book.has_taker};
    char err[1024] = "";
    int rc = mts_backtest_run(store, &bo, &b, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        goto done;
    }
    if (o.trades_path && write_trades(o.trades_path, &o, b->engine) != 0) goto done;
    if (o.equity_path && write_equity(o.equity_path, b) != 0) goto done;
    int stored = b->run_id > 0;
    /* the report is built from the stored run: without one it is not written */
    if (stored && o.report_path && write_report(store, b->run_id, o.report_path) != 0) goto done;
    for (const char *w = b->warnings; w && *w;) {      /* also in --json: "warnings" */
        const char *nl = strchr(w, '\n');
        fprintf(stderr, "warning: %.*s\n", nl ? (int)(nl - w) : (int)strlen(w), w);
        w = nl ? nl + 1 : "";
    }
    if (o.json) print_json(&o, b);
    else if (!o.quiet) print_table(b, o.interval ? o.interval : MTS_INTERVAL_DEFAULT, o.capital, db_path);
    exit_code = MTS_EXIT_OK;
    for (const char *line = b->lua.disabled; line && *line;) {
        const char *nl = strchr(line, '\n');
        fprintf(stderr, "error: strategy disabled: %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        exit_code = MTS_EXIT_PARTIAL;
        if (!nl) break;
        line = nl + 1;
    }
    if (!stored) {
        fprintf(stderr, "error: the result was computed%s but NOT stored in %s: %s\n"
                        "  run the backtest again when the database is free, or give storing more time with "
                        "MTS_DB_BUSY_TIMEOUT_MS (ms, default %d)%s\n",
                o.json || !o.quiet ? " and printed" : "", db_path, b->store_err, MTS_STORE_WRITE_WAIT_MS,
                o.report_path ? "; the --report was not written (it is built from the stored run)" : "");
        exit_code = MTS_EXIT_NOT_STORED;
    }

done:
    mts_backtest_free(b);
    mts_store_close(store);
    free_opts(&o);
    return exit_code;
}
