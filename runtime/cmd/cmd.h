/* cmd.h — the commands of the `mts` binary (one file each in runtime/cmd/) and
 * the small helpers they share. main.c only dispatches.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 completed with
 * rejected rows or disabled strategies, 4 a result was computed and printed
 * but could not be stored (e.g. the database stayed locked; docs/store.md). */
#ifndef MTS_CMD_H
#define MTS_CMD_H

#include "mts.h"
#include "store/store.h"
#include "util/config.h"   /* mts_root, config/mts.json: what commands share */

enum { MTS_EXIT_OK = 0, MTS_EXIT_ERROR = 1, MTS_EXIT_USAGE = 2, MTS_EXIT_PARTIAL = 3, MTS_EXIT_NOT_STORED = 4 };

int mts_cmd_backtest(int argc, char **argv);
int mts_cmd_import(int argc, char **argv);
int mts_cmd_export(int argc, char **argv);
int mts_cmd_stream(int argc, char **argv);
int mts_cmd_collect(int argc, char **argv);
int mts_cmd_report(int argc, char **argv);
int mts_cmd_optimize(int argc, char **argv);
int mts_cmd_walkforward(int argc, char **argv);
int mts_cmd_repl(int argc, char **argv);
int mts_cmd_serve(int argc, char **argv);
int mts_cmd_token(int argc, char **argv);
int mts_cmd_run(int argc, char **argv);
int mts_cmd_replay(int argc, char **argv);
int mts_cmd_worker(int argc, char **argv);
int mts_cmd_prune(int argc, char **argv);
int mts_cmd_import_archive(int argc, char **argv);   /* `mts import archive` (cmd/prune.c) */

/* --db value, else $DATABASE_PATH, else <root>/data/mts.db if <root>/data is writable,
 * else $XDG_DATA_HOME/mts/mts.db or ~/.local/share/mts/mts.db (directory created). */
const char *mts_cli_db_path(const char *opt);
/* Open the store, printing "error: ..." on failure. NULL on error. */
mts_store_t *mts_cli_open_store(const char *path);
/* Parse a --from/--to style date; prints an error naming `opt` on failure. */
int mts_cli_parse_time(const char *opt, const char *val, int64_t *out);
/* The candidate closest to word (edit distance <= 3), or NULL. candidates ends with NULL. */
const char *mts_cli_suggest(const char *word, const char *const *candidates);
/* Splits "a,b,c" in place into out[] (at most max items); an empty item or too
 * many are reported as "mts CMD: OPT ..." and return -1. */
/* --strategy's list (util/strategies.h): paths resolved into names, a name given
 * by two files refused, and, with `enabled` set, each checked against
 * ENABLED_STRATEGIES. 0, or -1 after printing "mts CMD: ..." on stderr. */
int mts_cli_strategies(const char *cmd, const char **list, int n, int enabled);
int mts_cli_split_list(const char *cmd, const char *opt, char *buf, const char **out, int max,
                       int *n);
/* SIGINT and SIGTERM call handler (no SA_RESTART: blocking calls see EINTR). */
void mts_cli_on_stop_signals(void (*handler)(int));
/* Backtest defaults: 100000 capital, 10 bps commission, 0 slippage, rf 0, then
 * config/mts.json "backtest" values, then RISK_FREE_RATE. -1 (printed) if that
 * variable is not a number. */
int mts_cli_backtest_defaults(double *capital, double *commission_bps, double *slippage_bps,
                              double *risk_free);
/* strtod of the whole string; prints "error: OPT expects a number, got 'x'" on failure. */
int mts_cli_parse_double(const char *opt, const char *val, double *out);
/* The options of the research commands (mts optimize, mts walkforward) that
 * shape every run: --from --to (a bare date: the whole day) --capital
 * --commission-bps --slippage-bps --risk-free --interval --jobs; and of every
 * run command (mts backtest too; issue 12): --mode --allocate --max-position
 * --max-portfolio-risk --market --leverage --maker-bps --taker-bps
 * (MTS_CLI_BOOK_OPTS: their table entries; MTS_CLI_BOOK_HELP: their --help lines). */
typedef struct mts_cli_run_opts {
    int64_t from, to;
    int has_from, has_to;
    double capital, commission_bps, slippage_bps, rf;
    const char *interval;   /* NULL: 1d */
    int jobs;               /* 0: the default */
    const char *mode;       /* "independent" | "vote"; NULL: config/mts.json books.mode */
    const char *allocate;   /* "NAME=F,..."; NULL: config books.allocate, else equal shares */
    double max_position, max_portfolio_risk;   /* 0: not given */
    const char *market;     /* "spot" | "perp"; NULL: per asset from config instruments */
    double leverage;        /* 0: 1 */
    double maker_bps, taker_bps;
    int has_maker, has_taker;
} mts_cli_run_opts_t;
#define MTS_CLI_BOOK_OPTS                                                                       \
    {"--mode", 1}, {"--allocate", 1}, {"--max-position", 1}, {"--max-portfolio-risk", 1},      \
    {"--market", 1}, {"--leverage", 1}, {"--maker-bps", 1}, {"--taker-bps", 1}
extern const char mts_cli_book_help[];
/* 1 when name is one of them (its value stored in r), 0 when it is not, -1 on
 * a bad value (said on stderr as "mts CMD: ... (see mts CMD --help)"). */
int mts_cli_run_option(const char *cmd, const char *name, const char *val, mts_cli_run_opts_t *r);
/* Write the HTML report of a stored run to path ("-" = stdout), with its
 * books, trade stories, further metrics and the benchmark line rebuilt from
 * store's bars (report/stored.h; store NULL: no line), printing "error: ..."
 * on failure (cmd/report.c). 0, MTS_EIO or MTS_ENOMEM. */
/* The table's "risk" line of an account (who NULL) or a book: orders trimmed / refused
 * by the limits, cut or refused by buying power, spot shorts refused; nothing when all are 0. */
void mts_cli_print_risk(const char *who, int64_t trimmed, int64_t refused, int64_t buying_power,
                        int64_t spot_shorts);
int mts_cli_write_report(mts_store_t *store, const mts_stored_run_t *run, const char *path);

/* "30s" "5m" "1h" "500ms" or bare seconds -> milliseconds; -1 unless a number > 0. */
int64_t mts_cli_parse_duration(const char *s);
/* "binance" / "bybit" -> MTS_EXCH_* (feeds/event.h); anything else is printed as
 * "mts CMD: unknown exchange 'x'; did you mean 'y'? (binance or bybit)" and is -1. */
int mts_cli_parse_exchange(const char *cmd, const char *name);

/* Exchange feed settings, the same for every command that connects to an exchange
 * (mts stream, mts run; the systemd units read them from /etc/mts/env), from the
 * environment, else the public endpoints (feeds/ws.h) and the client's defaults:
 * BINANCE_WS_URL, BINANCE_FUTURES_WS_URL, BINANCE_REST_URL, BYBIT_WS_URL,
 * BYBIT_REST_URL, MTS_WS_PING_INTERVAL_MS (20000), MTS_WS_BACKOFF_MS (500),
 * MTS_WS_IDLE_TIMEOUT_MS (60000). A variable that is set but unusable (not a
 * ws(s):// or http(s):// URL, not a whole number of ms) is printed as
 * "mts CMD: NAME ..." and the call returns -1. The strings are the environment's
 * or static: valid until the environment changes. */
typedef struct mts_cli_feed_env {
    const char *binance_ws_url, *binance_futures_ws_url, *binance_rest_url;
    const char *bybit_ws_url, *bybit_rest_url;
    int ping_interval_ms, backoff_ms, idle_timeout_ms;
    int handshake_timeout_ms;     /* MTS_WS_HANDSHAKE_TIMEOUT_MS (10000) */
    long max_message_bytes;       /* MTS_WS_MAX_MESSAGE_BYTES (16 MiB) */
} mts_cli_feed_env_t;
int mts_cli_feed_env(const char *cmd, mts_cli_feed_env_t *out);
/* The "environment:" block of --help that lists those variables (ends with a blank line). */
extern const char mts_cli_feed_env_help[];

/* A tiny option parser: "--name value", "--name=value", flags, positionals.
 * opts ends with {NULL, 0}. Returns the index of the matched option, or one of
 * the MTS_CLI_* values below; errors (unknown option with a suggestion, missing
 * value) are printed and return MTS_CLI_ERROR. "-h" is read as "--help". */
typedef struct mts_cli_opt { const char *name; int has_arg; } mts_cli_opt_t;
enum { MTS_CLI_DONE = -1, MTS_CLI_POSITIONAL = -2, MTS_CLI_ERROR = -3 };
int mts_cli_next(const char *cmd, int argc, char **argv, int *i, const mts_cli_opt_t *opts,
                 const char **val);

#endif
