/* backtest.c — `mts backtest`: load bars (importing bundled data on first use),
 * build the engine, hand it to the Lua runner, then compute metrics, print them,
 * write the optional trades/equity CSVs and store the run and its signals. */
#include "cmd/cmd.h"
#include "engine/engine.h"
#include "lua/bridge.h"
#include "portfolio/metrics.h"
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
    const char *db, *trades_path, *equity_path;
    double capital, commission_bps, slippage_bps, rf;
    int json, quiet;
} opts_t;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts backtest --strategy NAME[,NAME...] --asset NAME[,NAME...] [options]\n\n"
        "Runs the strategies over the stored daily bars of the assets (bundled BTC, ETH, BNB\n"
        "and VIX are imported into the database on first use), prints the metrics and stores\n"
        "the run in backtest_results and every signal in signal_history.\n\n"
        "options:\n"
        "  --strategy LIST       strategies in scripts/strategies (default: $ENABLED_STRATEGIES or\n"
        "                        config/mts.json enabled_strategies)\n"
        "  --asset LIST          assets, e.g. bitcoin,ethereum,binancecoin (required)\n"
        "  --from DATE --to DATE range of bars, inclusive (YYYY-MM-DD or ISO-8601)\n"
        "  --capital X           initial capital (default 100000)\n"
        "  --commission-bps X    commission per fill, basis points of notional (default 10)\n"
        "  --slippage-bps X      slippage per market/stop fill, basis points (default 0)\n"
        "  --param KEY=VALUE     override a strategy parameter (repeatable)\n"
        "  --risk-free X         annual risk-free rate for Sharpe (default 0)\n"
        "  --trades FILE         write closed trades as CSV\n"
        "  --equity FILE         write the equity curve (one row per bar) as CSV\n"
        "  --db PATH             database (default $DATABASE_PATH or data/mts.db)\n"
        "  --json                one JSON object on stdout instead of the table\n"
        "  --quiet               no summary table\n\n"
        "examples:\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --from 2020-01-01 --to 2024-12-31\n"
        "  mts backtest --strategy sma_cross --asset ethereum --param fast=5 --param slow=20 --trades t.csv\n"
        "  mts backtest --strategy vix_correlation,mean_reversion --asset bitcoin,ethereum,binancecoin --json\n");
}

/* Split a comma list in place into out[]; empty items are an error. */
static int split_list(const char *opt, char *buf, const char **out, int *n) {
    *n = 0;
    for (char *tok = buf;;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        while (*tok == ' ') tok++;
        if (!*tok) {
            fprintf(stderr, "mts backtest: %s has an empty item\n", opt);
            return -1;
        }
        if (*n >= MAX_LIST) {
            fprintf(stderr, "mts backtest: %s: at most %d items\n", opt, MAX_LIST);
            return -1;
        }
        out[(*n)++] = tok;
        if (!comma) break;
        tok = comma + 1;
    }
    return 0;
}

static void free_opts(opts_t *o) {
    free(o->strategies_buf);
    free(o->assets_buf);
    for (int i = 0; i < o->n_params; i++) free(o->param_buf[i]);
}

enum { O_STRATEGY, O_ASSET, O_FROM, O_TO, O_CAPITAL, O_COMM, O_SLIP, O_PARAM, O_RF, O_TRADES,
       O_EQUITY, O_DB, O_JSON, O_QUIET, O_HELP };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--asset", 1}, {"--from", 1}, {"--to", 1}, {"--capital", 1},
    {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--param", 1}, {"--risk-free", 1},
    {"--trades", 1}, {"--equity", 1}, {"--db", 1}, {"--json", 0}, {"--quiet", 0},
    {"--help", 0}, {NULL, 0}};

/* 0 ok, 1 help shown, -1 usage error */
static int parse(int argc, char **argv, opts_t *o) {
    o->capital = 100000;
    o->commission_bps = 10;
    o->slippage_bps = 0;
    mts_cli_config_number("backtest", "initial_capital", &o->capital);
    mts_cli_config_number("backtest", "commission_bps", &o->commission_bps);
    mts_cli_config_number("backtest", "slippage_bps", &o->slippage_bps);
    mts_cli_config_number("backtest", "risk_free_rate", &o->rf);
    const char *rf_env = getenv("RISK_FREE_RATE");
    if (rf_env && *rf_env && mts_cli_parse_double("RISK_FREE_RATE", rf_env, &o->rf) != 0) return -1;

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
        case O_DB: o->db = val; break;
        case O_JSON: o->json = 1; break;
        case O_QUIET: o->quiet = 1; break;
        }
    }
    if (o->n_strategies == 0) {
        const char *env = getenv("ENABLED_STRATEGIES");
        char buf[512] = "";
        if (env && *env) snprintf(buf, sizeof buf, "%s", env);
        else if (mts_cli_config_list(NULL, "enabled_strategies", buf, sizeof buf) != 0)
            snprintf(buf, sizeof buf, "vix_correlation,mean_reversion");
        o->strategies_buf = strdup(buf);
        if (split_list("--strategy", o->strategies_buf, o->strategies, &o->n_strategies)) return -1;
    }
    if (o->n_assets == 0) {
        char *names = mts_cli_dataset_names("assets");
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

static const char *signal_name(int t) {
    return t > 0 ? "LONG" : t < 0 ? "SHORT" : "CLOSE";
}

static int write_trades(const char *path, const mts_engine_t *e, const mts_portfolio_t *p) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write trades to %s\n", path);
        return -1;
    }
    fprintf(f, "asset,side,qty,entry_time,entry_price,exit_time,exit_price,pnl,fees\n");
    char t0[32], t1[32];
    for (int64_t i = 0; i < p->n_trades; i++) {
        const mts_trade_t *t = &p->trades[i];
        mts_time_format_iso(t->entry_ts, t0);
        mts_time_format_iso(t->exit_ts, t1);
        fprintf(f, "%s,%s,%.12g,%s,%.12g,%s,%.12g,%.6f,%.6f\n", mts_engine_asset_name(e, t->asset),
                t->side > 0 ? "long" : "short", t->qty, t0, t->entry_price, t1, t->exit_price,
                t->pnl, t->fees);
    }
    if (f != stdout) fclose(f);
    return 0;
}

static int write_equity(const char *path, const mts_portfolio_t *p) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write equity to %s\n", path);
        return -1;
    }
    fprintf(f, "timestamp,equity\n");
    char ts[32];
    for (int64_t i = 0; i < p->equity.n; i++) {
        mts_time_format_iso(p->equity.ts[i], ts);
        fprintf(f, "%s,%.6f\n", ts, p->equity.v[i]);
    }
    if (f != stdout) fclose(f);
    return 0;
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
    mts_engine_t *eng = NULL;
    mts_bars_t bars[MAX_LIST];
    mts_series_t vix;
    memset(bars, 0, sizeof bars);
    memset(&vix, 0, sizeof vix);
    mts_run_result_t rr;
    memset(&rr, 0, sizeof rr);
    mts_signal_row_t *sig_rows = NULL;
    char *assets_joined = NULL, *strategies_joined = NULL;
    if (!store) goto done;

    int64_t from = o.has_from ? o.from : INT64_MIN, to = o.has_to ? o.to : INT64_MAX;
    mts_engine_config_t cfg = {o.capital, o.commission_bps, o.slippage_bps};
    if (mts_engine_create(&cfg, &eng) != 0) {
        fprintf(stderr, "error: out of memory creating the engine\n");
        goto done;
    }
    int64_t total_bars = 0;
    for (int a = 0; a < o.n_assets; a++) {
        for (int b = 0; b < a; b++)
            if (strcmp(o.assets[a], o.assets[b]) == 0) {
                fprintf(stderr, "error: --asset lists '%s' twice\n", o.assets[a]);
                goto done;
            }
        int rc = mts_cli_ensure_asset(store, o.assets[a]);
        if (rc == MTS_ENOTFOUND) {
            char *names = mts_cli_dataset_names("assets");
            fprintf(stderr,
                    "error: unknown asset '%s': %s has no bars for it and there is no bundled file "
                    "(bundled: %s).\n  Import one with: mts import csv FILE --asset %s\n",
                    o.assets[a], db_path, names ? names : "none", o.assets[a]);
            mts_free(names);
            goto done;
        } else if (rc != 0) {
            fprintf(stderr, "error: %s: %s\n", db_path, mts_store_errmsg(store));
            goto done;
        }
        if (mts_store_load_ohlcv(store, o.assets[a], from, to, &bars[a]) != 0) {
            fprintf(stderr, "error: loading %s: %s\n", o.assets[a], mts_store_errmsg(store));
            goto done;
        }
        if (bars[a].n == 0) {
            mts_bars_t all;
            memset(&all, 0, sizeof all);
            mts_store_load_ohlcv(store, o.assets[a], INT64_MIN, INT64_MAX, &all);
            char d0[16] = "?", d1[16] = "?";
            if (all.n) {
                mts_time_format_date(all.ts[0], d0);
                mts_time_format_date(all.ts[all.n - 1], d1);
            }
            fprintf(stderr, "error: no bars for %s in the requested range; %s has %lld bars from %s to %s\n",
                    o.assets[a], db_path, (long long)all.n, d0, d1);
            mts_bars_free(&all);
            goto done;
        }
        total_bars += bars[a].n;
        int32_t id;
        if (mts_engine_add_asset(eng, o.assets[a], &bars[a], &id) != 0) {
            fprintf(stderr, "error: %s\n", mts_engine_errmsg(eng));
            goto done;
        }
    }
    /* VIX for the macro-aware strategies: all history up to the end of the range
     * (the strategies align it as-of to bar times, so there is no look-ahead). */
    if (mts_cli_ensure_macro(store, "VIX") == 0 &&
        mts_store_load_macro(store, "VIX", INT64_MIN, to, &vix) == 0 && vix.n > 0)
        mts_engine_add_macro(eng, "VIX", &vix);

    mts_run_spec_t spec = {
        .engine = eng, .root = mts_cli_root(), .strategies = o.strategies,
        .n_strategies = o.n_strategies, .param_keys = o.param_keys,
        .param_values = o.param_values, .n_params = o.n_params};
    char err[1024] = "";
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        goto done;
    }

    const mts_portfolio_t *pf = mts_engine_portfolio(eng);
    mts_metrics_t m;
    if (mts_metrics_compute(&pf->equity, o.capital, o.rf, pf->trades, pf->n_trades, &m) != 0) {
        fprintf(stderr, "error: computing metrics failed\n");
        goto done;
    }

    /* first and last bar of the run */
    int64_t t_start = INT64_MAX, t_end = INT64_MIN;
    for (int a = 0; a < o.n_assets; a++) {
        if (bars[a].ts[0] < t_start) t_start = bars[a].ts[0];
        if (bars[a].ts[bars[a].n - 1] > t_end) t_end = bars[a].ts[bars[a].n - 1];
    }
    char start_iso[32], end_iso[32];
    mts_time_format_iso(t_start, start_iso);
    mts_time_format_iso(t_end, end_iso);

    size_t alen = 1, slen = 1;
    for (int a = 0; a < o.n_assets; a++) alen += strlen(o.assets[a]) + 1;
    for (int s = 0; s < o.n_strategies; s++) slen += strlen(o.strategies[s]) + 1;
    assets_joined = calloc(1, alen);
    strategies_joined = calloc(1, slen);
    for (int a = 0; a < o.n_assets; a++) {
        if (a) strcat(assets_joined, ",");
        strcat(assets_joined, o.assets[a]);
    }
    for (int s = 0; s < o.n_strategies; s++) {
        if (s) strcat(strategies_joined, ",");
        strcat(strategies_joined, o.strategies[s]);
    }

    /* store the run and its signals */
    mts_backtest_row_t row = {
        .strategy_name = strategies_joined, .assets = assets_joined, .start_date = start_iso,
        .end_date = end_iso, .parameters_json = rr.parameters_json, .initial_capital = o.capital,
        .final_value = m.final_value, .total_return = m.total_return,
        .annualized_return = m.annualized_return, .sharpe_ratio = m.sharpe_ratio,
        .max_drawdown = m.max_drawdown, .volatility = m.volatility, .calmar_ratio = m.calmar_ratio,
        .win_rate = m.win_rate, .profit_factor = m.profit_factor,
        .commission_bps = o.commission_bps, .slippage_bps = o.slippage_bps,
        .trade_count = m.trade_count};
    int64_t run_id = 0;
    if (mts_store_insert_backtest(store, &row, &run_id) != 0) {
        fprintf(stderr, "error: storing the result: %s\n", mts_store_errmsg(store));
        goto done;
    }
    int64_t n_sig = 0;
    const mts_signal_rec_t *sigs = mts_engine_signals(eng, &n_sig);
    if (n_sig > 0) {
        sig_rows = calloc((size_t)n_sig, sizeof *sig_rows);
        if (!sig_rows) goto done;
        for (int64_t i = 0; i < n_sig; i++) {
            const mts_signal_rec_t *r = &sigs[i];
            sig_rows[i] = (mts_signal_row_t){
                .asset = mts_engine_asset_name(eng, r->asset),
                .strategy_name = (r->strategy >= 0 && r->strategy < o.n_strategies)
                                     ? o.strategies[r->strategy] : "aggregate",
                .signal_type = signal_name(r->signal_type), .ts = r->ts, .price = r->price,
                .confidence = r->confidence, .position_size = r->position_size,
                .stop_loss = r->stop_loss, .take_profit = r->take_profit};
        }
        if (mts_store_insert_signals(store, sig_rows, n_sig) != 0) {
            fprintf(stderr, "error: storing signals: %s\n", mts_store_errmsg(store));
            goto done;
        }
    }

    if (o.trades_path && write_trades(o.trades_path, eng, pf) != 0) goto done;
    if (o.equity_path && write_equity(o.equity_path, pf) != 0) goto done;

    if (o.json) {
        printf("{");
        printf("\"id\":%lld,", (long long)run_id);
        json_kv_str("strategy", strategies_joined, 1);
        printf("\"assets\":[");
        for (int a = 0; a < o.n_assets; a++) {
            printf("%s\"", a ? "," : "");
            mts_json_escape(stdout, o.assets[a]);
            printf("\"");
        }
        printf("],");
        json_kv_str("start", start_iso, 1);
        json_kv_str("end", end_iso, 1);
        json_kv_num("initial_capital", o.capital, 1);
        json_kv_num("final_value", m.final_value, 1);
        json_kv_num("total_return", m.total_return, 1);
        json_kv_num("annualized_return", m.annualized_return, 1);
        json_kv_num("sharpe_ratio", m.sharpe_ratio, 1);
        json_kv_num("max_drawdown", m.max_drawdown, 1);
        json_kv_num("volatility", m.volatility, 1);
        json_kv_num("calmar_ratio", m.calmar_ratio, 1);
        json_kv_num("win_rate", m.win_rate, 1);
        json_kv_num("profit_factor", m.profit_factor, 1);
        printf("\"trade_count\":%lld,", (long long)m.trade_count);
        json_kv_num("fees", pf->total_fees, 1);
        printf("\"bars\":%lld,", (long long)total_bars);
        printf("\"fills\":%lld,", (long long)mts_engine_fill_count(eng));
        printf("\"signals\":%lld,", (long long)n_sig);
        printf("\"parameters\":%s,", rr.parameters_json ? rr.parameters_json : "{}");
        printf("\"disabled\":[");
        if (rr.disabled) {
            int first = 1;
            for (char *line = rr.disabled; *line;) {
                char *nl = strchr(line, '\n');
                if (nl) *nl = 0;
                printf("%s\"", first ? "" : ",");
                mts_json_escape(stdout, line);
                printf("\"");
                first = 0;
                if (!nl) break;
                *nl = '\n';
                line = nl + 1;
            }
        }
        printf("]}\n");
    } else if (!o.quiet) {
        char d0[16], d1[16];
        mts_time_format_date(t_start, d0);
        mts_time_format_date(t_end, d1);
        printf("backtest #%lld  %s on %s  %s .. %s  (%lld bars)\n", (long long)run_id,
               strategies_joined, assets_joined, d0, d1, (long long)total_bars);
        print_money("initial capital", o.capital);
        print_money("final value", m.final_value);
        print_pct("total return", m.total_return);
        print_pct("annualized return", m.annualized_return);
        print_num("sharpe ratio", m.sharpe_ratio);
        print_pct("max drawdown", m.max_drawdown);
        print_pct("volatility", m.volatility);
        print_num("calmar ratio", m.calmar_ratio);
        print_pct("win rate", m.win_rate);
        print_num("profit factor", m.profit_factor);
        printf("  %-20s %12lld\n", "trades", (long long)m.trade_count);
        print_money("fees paid", pf->total_fees);
        printf("  stored in %s (backtest_results id %lld, %lld signals)\n", db_path,
               (long long)run_id, (long long)n_sig);
    }
    exit_code = MTS_EXIT_OK;
    if (rr.n_disabled > 0) {
        for (char *line = rr.disabled; line && *line;) {
            char *nl = strchr(line, '\n');
            fprintf(stderr, "error: strategy disabled: %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
            if (!nl) break;
            line = nl + 1;
        }
        exit_code = MTS_EXIT_PARTIAL;
    }

done:
    free(sig_rows);
    free(assets_joined);
    free(strategies_joined);
    mts_run_result_free(&rr);
    mts_engine_free(eng);
    for (int a = 0; a < MAX_LIST; a++) mts_bars_free(&bars[a]);
    mts_series_free(&vix);
    mts_store_close(store);
    free_opts(&o);
    return exit_code;
}
