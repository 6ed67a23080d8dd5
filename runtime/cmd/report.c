/* report.c — `mts report [ID|last] [--html FILE]`: a stored backtest rebuilt
 * from the database (backtest_results + backtest_trades + backtest_books +
 * backtest_curves), as a summary on stdout or a self-contained HTML file;
 * without an ID, the list of recent runs. Nothing is re-run: the only series
 * computed is the benchmark line, from the stored bars (report/stored.h). */
#include "cmd/cmd.h"
#include "report/report.h"
#include "report/stored.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts report [ID|last] [--html FILE] [--db PATH] [--json] [--limit N]\n\n"
        "Shows a stored backtest exactly as it was stored: its metrics, and with --html a\n"
        "self-contained HTML report (summary table, the run against its benchmark, the\n"
        "per-strategy attribution table, equity and drawdown charts with entry/exit markers\n"
        "and the buy-and-hold benchmark line, monthly returns heatmap, trade list with each\n"
        "trade's strategy, entry/exit reason, funding and MAE/MFE, parameters and data range;\n"
        "inline SVG, no scripts, opens offline). The benchmark line is rebuilt from the stored\n"
        "bars of the run's assets; when they are gone the page says so. Without an ID, lists\n"
        "the most recent stored runs.\n\n"
        "options:\n"
        "  --html FILE    write the HTML report to FILE (\"-\" = stdout)\n"
        "  --json         print the stored run as one JSON object (with its books, mode,\n"
        "                 market, benchmark and further metrics when stored)\n"
        "  --limit N      how many runs to list without an ID (default 20)\n"
        "  --db PATH      database (default $DATABASE_PATH or data/mts.db)\n\n"
        "examples:\n"
        "  mts report                          # list recent runs with their ids\n"
        "  mts report 42 --html out/report.html\n"
        "  mts report last --json\n");
}

enum { O_HTML, O_JSON, O_LIMIT, O_DB, O_HELP };
static const mts_cli_opt_t OPTS[] = {
    {"--html", 1}, {"--json", 0}, {"--limit", 1}, {"--db", 1}, {"--help", 0}, {NULL, 0}};

static void pct(char *b, size_t n, double v) {
    if (isfinite(v)) snprintf(b, n, "%.2f %%", v * 100);
    else snprintf(b, n, "n/a");
}

static void num(char *b, size_t n, double v) {
    if (isfinite(v)) snprintf(b, n, "%.2f", v);
    else snprintf(b, n, "n/a");
}

static int list_runs(mts_store_t *s, int limit, const char *db_path) {
    mts_stored_run_t *runs = NULL;
    int n = 0;
    if (mts_store_list_runs(s, limit, &runs, &n) != 0) {
        fprintf(stderr, "error: %s: %s\n", db_path, mts_store_errmsg(s));
        return MTS_EXIT_ERROR;
    }
    if (n == 0) {
        printf("no stored backtests in %s\n  run one with: mts backtest --strategy sma_cross --asset bitcoin\n",
               db_path);
    } else {
        printf("%6s  %-28s %-24s %-4s %-23s %10s %8s %7s\n", "id", "strategy", "assets", "bars", "range",
               "return", "sharpe", "trades");
        for (int i = 0; i < n; i++) {
            char r[32], sh[32], range[32];
            pct(r, sizeof r, runs[i].total_return);
            num(sh, sizeof sh, runs[i].sharpe_ratio);
            snprintf(range, sizeof range, "%.10s..%.10s", runs[i].start_date, runs[i].end_date);
            printf("%6lld  %-28.28s %-24.24s %-4s %-23s %10s %8s %7lld\n", (long long)runs[i].id,
                   runs[i].strategy_name, runs[i].assets, runs[i].interval, range, r, sh,
                   (long long)runs[i].trade_count);
        }
        printf("\nopen one with: mts report ID --html report.html\n");
    }
    for (int i = 0; i < n; i++) mts_stored_run_free(&runs[i]);
    mts_free(runs);
    return MTS_EXIT_OK;
}

static void json_num(const char *k, double v) {
    printf(",\"%s\":", k);
    mts_json_number(stdout, v);
}

static void print_json(const mts_stored_run_t *r) {
    printf("{\"id\":%lld,\"strategy\":\"", (long long)r->id);
    mts_json_escape(stdout, r->strategy_name);
    printf("\",\"assets\":\"");
    mts_json_escape(stdout, r->assets);
    printf("\",\"start\":\"");
    mts_json_escape(stdout, r->start_date);
    printf("\",\"end\":\"");
    mts_json_escape(stdout, r->end_date);
    printf("\",\"interval\":\"");
    mts_json_escape(stdout, r->interval);
    printf("\"");
    json_num("initial_capital", r->initial_capital);
    json_num("final_value", r->final_value);
    json_num("total_return", r->total_return);
    json_num("annualized_return", r->annualized_return);
    json_num("sharpe_ratio", r->sharpe_ratio);
    json_num("max_drawdown", r->max_drawdown);
    json_num("volatility", r->volatility);
    json_num("calmar_ratio", r->calmar_ratio);
    json_num("win_rate", r->win_rate);
    json_num("profit_factor", r->profit_factor);
    json_num("commission_bps", r->commission_bps);
    json_num("slippage_bps", r->slippage_bps);
    printf(",\"trade_count\":%lld,\"stored_trades\":%lld,\"equity_points\":%lld,\"stored_signals\":",
           (long long)r->trade_count, (long long)r->n_trades, (long long)r->equity.n);
    if (r->has_signals) printf("%lld", (long long)r->n_signals);
    else printf("null");   /* stored before schema v7: its signals name no run */
    printf(",\"parameters\":%s", r->parameters_json && *r->parameters_json ? r->parameters_json : "{}");
    /* the books (backtest_books, schema v8) without their curves, then the
     * stored extra keys at the top level (mode, market, leverage, benchmark,
     * further metrics), as GET /backtests/{id} merges them */
    if (r->n_books > 0) {
        printf(",\"books\":[");
        for (int32_t i = 0; i < r->n_books; i++) {
            if (i) putchar(',');
            mts_stored_book_json(stdout, &r->books[i], 0);
        }
        putchar(']');
    }
    /* extra's own "books" is kept when the run has no backtest_books rows: own + 1 */
    static const char *const own[] = {"books", "id", "strategy", "assets", "start", "end", "interval", "initial_capital",
        "final_value", "total_return", "annualized_return", "sharpe_ratio", "max_drawdown", "volatility",
        "calmar_ratio", "win_rate", "profit_factor", "commission_bps", "slippage_bps", "trade_count",
        "stored_trades", "equity_points", "stored_signals", "parameters", NULL};
    mts_stored_json_merge(stdout, r->extra_json, r->n_books > 0 ? own : own + 1);
    if (r->n_books == 0 && !mts_stored_json_has(r->extra_json, "books")) printf(",\"books\":[]");
    printf("}\n");
}

static void print_summary(const mts_stored_run_t *r) {
    char b[64];
    int intraday = strcmp(r->interval, "1d") != 0 && strcmp(r->interval, "3d") != 0 &&
                   strcmp(r->interval, "1w") != 0;
    printf("backtest #%lld  %s on %s  %s bars  %.*s .. %.*s  (stored %s UTC)\n", (long long)r->id,
           r->strategy_name, r->assets, r->interval, intraday ? 20 : 10, r->start_date,
           intraday ? 20 : 10, r->end_date, r->created_at);
    printf("  %-20s %12.2f\n", "initial capital", r->initial_capital);
    printf("  %-20s %12.2f\n", "final value", r->final_value);
    pct(b, sizeof b, r->total_return);      printf("  %-20s %14s\n", "total return", b);
    pct(b, sizeof b, r->annualized_return); printf("  %-20s %14s\n", "annualized return", b);
    num(b, sizeof b, r->sharpe_ratio);      printf("  %-20s %12s\n", "sharpe ratio", b);
    pct(b, sizeof b, r->max_drawdown);      printf("  %-20s %14s\n", "max drawdown", b);
    pct(b, sizeof b, r->volatility);        printf("  %-20s %14s\n", "volatility", b);
    num(b, sizeof b, r->calmar_ratio);      printf("  %-20s %12s\n", "calmar ratio", b);
    pct(b, sizeof b, r->win_rate);          printf("  %-20s %14s\n", "win rate", b);
    num(b, sizeof b, r->profit_factor);     printf("  %-20s %12s\n", "profit factor", b);
    printf("  %-20s %12lld\n", "trades", (long long)r->trade_count);
    char sigs[48] = "";
    if (r->has_signals) snprintf(sigs, sizeof sigs, ", %lld signals", (long long)r->n_signals);
    printf("  %lld stored trades, %lld equity points%s; HTML: mts report %lld --html report.html\n",
           (long long)r->n_trades, (long long)r->equity.n, sigs, (long long)r->id);
}

int mts_cli_write_report(mts_store_t *store, const mts_stored_run_t *r, const char *path) {
    mts_report_stored_t x;
    int rc = mts_report_stored_load(store, r, &x);   /* books, stories, metrics, benchmark line */
    if (rc != 0) {
        fprintf(stderr, "error: building the report of backtest #%lld: %s\n", (long long)r->id, mts_strerror(rc));
        mts_report_stored_free(&x);
        return rc;
    }
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write the report to %s: %s (check that the directory exists "
                        "and is writable)\n", path, strerror(errno));
        mts_report_stored_free(&x);
        return MTS_EIO;
    }
    rc = mts_report_backtest_html_ex(f, r, &x.extra);
    mts_report_stored_free(&x);
    if (f != stdout && fclose(f) != 0 && rc == 0) rc = MTS_EIO;
    if (rc != 0) fprintf(stderr, "error: writing the report to %s failed: %s\n", path, mts_strerror(rc));
    return rc;
}

int mts_cmd_report(int argc, char **argv) {
    const char *id_arg = NULL, *html = NULL, *db = NULL;
    int json = 0, limit = 20, i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("report", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            if (id_arg) {
                fprintf(stderr, "mts report: unexpected argument '%s'; give one ID (see mts report --help)\n", val);
                return MTS_EXIT_USAGE;
            }
            id_arg = val;
            continue;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_HTML: html = val; break;
        case O_JSON: json = 1; break;
        case O_DB: db = val; break;
        case O_LIMIT: {
            char *end;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 1 || v > 100000) {
                fprintf(stderr, "mts report: --limit expects a whole number >= 1, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            limit = (int)v;
            break;
        }
        }
    }
    int64_t id = 0;
    if (id_arg && strcmp(id_arg, "last") != 0) {
        char *end;
        long long v = strtoll(id_arg, &end, 10);
        if (!*id_arg || *end || v < 1) {
            fprintf(stderr, "mts report: '%s' is not a backtest id (a number, or 'last'); "
                            "run mts report to list them\n", id_arg);
            return MTS_EXIT_USAGE;
        }
        id = v;
    }
    if (!id_arg && (html || json)) {
        fprintf(stderr, "mts report: which backtest? give its ID (or 'last'); run mts report to list them\n");
        return MTS_EXIT_USAGE;
    }
    const char *db_path = mts_cli_db_path(db);
    mts_store_t *s = mts_cli_open_store(db_path);
    if (!s) return MTS_EXIT_ERROR;
    int exit_code = MTS_EXIT_ERROR;
    if (!id_arg) {
        exit_code = list_runs(s, limit, db_path);
        mts_store_close(s);
        return exit_code;
    }
    if (id == 0) {   /* last */
        mts_stored_run_t *runs = NULL;
        int n = 0;
        if (mts_store_list_runs(s, 1, &runs, &n) == 0 && n == 1) id = runs[0].id;
        for (int k = 0; k < n; k++) mts_stored_run_free(&runs[k]);
        mts_free(runs);
        if (id == 0) {
            fprintf(stderr, "error: no stored backtests in %s; run one first, e.g. mts backtest "
                            "--strategy sma_cross --asset bitcoin\n", db_path);
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
    }
    mts_stored_run_t run;
    int rc = mts_store_load_run(s, id, &run);
    if (rc == MTS_ENOTFOUND) {
        fprintf(stderr, "error: no backtest with id %lld in %s (run mts report to list the stored ones, "
                        "or pass --db)\n", (long long)id, db_path);
    } else if (rc != 0) {
        fprintf(stderr, "error: %s: %s\n", db_path, mts_store_errmsg(s));
    } else {
        exit_code = MTS_EXIT_OK;
        if (html) {
            if (mts_cli_write_report(s, &run, html) != 0) exit_code = MTS_EXIT_ERROR;
            else if (strcmp(html, "-") != 0 && !json)
                printf("wrote %s (backtest #%lld)\n", html, (long long)run.id);
        }
        if (json) print_json(&run);
        else if (!html) print_summary(&run);
        mts_stored_run_free(&run);
    }
    mts_store_close(s);
    return exit_code;
}
