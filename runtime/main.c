/* main.c — the `mts` command: parses the first word and dispatches to
 * runtime/cmd/. No logic of its own. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"backtest", mts_cmd_backtest, "run strategies over stored bars and report metrics"},
    {"import",   mts_cmd_import,   "load OHLCV or macro CSV files into the database"},
    {"export",   mts_cmd_export,   "write stored bars, macro series or tables as CSV"},
    {"collect",  mts_cmd_collect,  "fetch OHLCV and macro series from CoinGecko and FRED"},
    {"stream",   mts_cmd_stream,   "record live trades, order books and funding from Binance or Bybit"},
    {"report",   mts_cmd_report,   "list stored backtests, or write one as a self-contained HTML report"},
    {"optimize", mts_cmd_optimize, "grid-search strategy parameters, ranked by a metric"},
    {"walkforward", mts_cmd_walkforward, "walk-forward optimization: train/test windows, stitched out-of-sample result"},
    {"repl",     mts_cmd_repl,     "interactive Lua session over the mts API"},
    {"serve",    mts_cmd_serve,    "REST + WebSocket API: JWT auth, rate limits, health, Prometheus metrics"},
    {"token",    mts_cmd_token,    "mint a JWT for the API of mts serve"},
    {"run",      mts_cmd_run,      "paper trading on live klines through the backtest engine, with hot reload"},
    {"replay",   mts_cmd_replay,   "re-run a recorded paper session (mts run) exactly, or other code/parameters over its inputs"},
    {"prune",    mts_cmd_prune,    "archive to CSV.gz, then delete, old rows of the recorder's tables (retention)"},
    {"worker",   mts_cmd_worker,   "run the grid points of mts optimize --redis, taken from a Redis stream"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
        "mts %s — a Lua-scriptable crypto trading runtime\n\n"
        "usage: mts COMMAND [options]    (mts COMMAND --help for each)\n\ncommands:\n",
        MTS_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
        "\nexamples:\n"
        "  mts backtest --strategy sma_cross --asset bitcoin --from 2020-01-01 --to 2024-12-31\n"
        "  mts backtest --strategy vix_correlation,mean_reversion --asset bitcoin,ethereum --json\n"
        "  mts import csv prices.csv --asset bitcoin\n"
        "  mts backtest --strategy mean_reversion --asset bitcoin --report out/report.html\n"
        "  mts report 42 --html out/report.html\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --param fast=5:20:5 --param slow=30,50 --report grid.html\n\n"
        "environment: DATABASE_PATH (default data/mts.db), ENABLED_STRATEGIES, MAX_POSITION_SIZE,\n"
        "  MAX_PORTFOLIO_RISK, MTS_ROOT (where scripts/ and config/ live), MTS_LOG_LEVEL\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? MTS_EXIT_USAGE : MTS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("mts %s\n", MTS_VERSION);
        return MTS_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);

    const char *names[N_COMMANDS + 1];
    for (size_t i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    names[N_COMMANDS] = NULL;
    const char *near = mts_cli_suggest(argv[1], names);
    fprintf(stderr, "mts: unknown command '%s'", argv[1]);
    if (near) fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, " (see mts --help)\n");
    return MTS_EXIT_USAGE;
}
