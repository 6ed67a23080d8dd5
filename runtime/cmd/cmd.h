/* cmd.h — the commands of the `mts` binary (one file each in runtime/cmd/) and
 * the small helpers they share. main.c only dispatches.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 completed with
 * rejected rows or disabled strategies. */
#ifndef MTS_CMD_H
#define MTS_CMD_H

#include "mts.h"
#include "store/store.h"
#include "util/config.h"   /* mts_root, config/mts.json: what commands share */

enum { MTS_EXIT_OK = 0, MTS_EXIT_ERROR = 1, MTS_EXIT_USAGE = 2, MTS_EXIT_PARTIAL = 3 };

int mts_cmd_backtest(int argc, char **argv);
int mts_cmd_import(int argc, char **argv);
int mts_cmd_export(int argc, char **argv);
int mts_cmd_stream(int argc, char **argv);
int mts_cmd_collect(int argc, char **argv);
int mts_cmd_report(int argc, char **argv);
int mts_cmd_optimize(int argc, char **argv);
int mts_cmd_repl(int argc, char **argv);
int mts_cmd_serve(int argc, char **argv);
int mts_cmd_token(int argc, char **argv);
int mts_cmd_run(int argc, char **argv);

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
/* Write the HTML report of a stored run to path ("-" = stdout), printing
 * "error: ..." on failure (cmd/report.c). 0 or MTS_EIO. */
int mts_cli_write_report(const mts_stored_run_t *run, const char *path);

/* A tiny option parser: "--name value", "--name=value", flags, positionals.
 * opts ends with {NULL, 0}. Returns the index of the matched option, or one of
 * the MTS_CLI_* values below; errors (unknown option with a suggestion, missing
 * value) are printed and return MTS_CLI_ERROR. "-h" is read as "--help". */
typedef struct mts_cli_opt { const char *name; int has_arg; } mts_cli_opt_t;
enum { MTS_CLI_DONE = -1, MTS_CLI_POSITIONAL = -2, MTS_CLI_ERROR = -3 };
int mts_cli_next(const char *cmd, int argc, char **argv, int *i, const mts_cli_opt_t *opts,
                 const char **val);

#endif
