/* strategies.h — how a strategy argument becomes a file, and which strategies
 * the site allows (issue 14).
 *
 * A strategy argument is a path when it has a '/' or ends in ".lua"
 * (`./my.lua`, `/abs/dir/my.lua`); anything else is a name, looked up in the
 * directories of $MTS_STRATEGY_PATH (colon-separated, in order) and then in
 * <root>/scripts/strategies. A strategy is known by its file's basename
 * without ".lua" (books, stored runs, the bus): names are letters, digits,
 * '_' and '-'. Its config is <dir>/<name>.json beside the file when the file
 * is outside <root>/scripts/strategies (absent: the defaults of
 * get_parameters()), else config/strategies/<name>.json (runner.lua).
 *
 * mts_strategy_args rewrites a command line's list in place into names and
 * registers each path-given file in a process-wide table (written by the
 * command's thread before any run starts, read-only afterwards), which the
 * runner asks through mts_strategy_registered (lua/mts_ffi.h): a path given
 * on the command line wins over the search, so hot reloads and every worker
 * thread load the same file. Two different files with one name are refused.
 *
 * ENABLED_STRATEGIES (comma list, environment): when set and not empty, only
 * the strategies it names may run (mts run, serve, optimize, walkforward);
 * mts_strategy_enabled says why not, naming the variable. */
#ifndef MTS_STRATEGIES_H
#define MTS_STRATEGIES_H
#include <stddef.h>

#define MTS_STRATEGY_NAME_MAX 64

/* 1 when arg is a path (has '/' or ends in ".lua"). */
int mts_strategy_is_path(const char *arg);
/* The file of a name: $MTS_STRATEGY_PATH dirs, then root/scripts/strategies.
 * MTS_OK with path filled, MTS_ENOTFOUND (err says where it looked) or MTS_EINVAL
 * (a name with other characters). Paths are refused (MTS_EINVAL): the API uses
 * this, so a request can name only what is on the path. */
int mts_strategy_find(const char *root, const char *name, char *path, size_t pathlen, char *err, size_t errlen);
/* list[0..n): each path-like entry resolved (it must be a regular file), replaced by
 * its name, and registered; names checked; a name twice (by two files, or a file
 * and a name found elsewhere) is MTS_EINVAL with both files in err. */
int mts_strategy_args(const char *root, const char **list, int n, char *err, size_t errlen);
/* The file registered for name by mts_strategy_args, or NULL. */
const char *mts_strategy_registered(const char *name);
/* MTS_OK when ENABLED_STRATEGIES is unset/empty or names `name`; else MTS_EINVAL
 * with "strategy 'x' is not enabled: ENABLED_STRATEGIES=a,b (add it to ...)". */
int mts_strategy_enabled(const char *name, char *err, size_t errlen);

#endif
