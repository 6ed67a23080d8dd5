/* config.h — where mts lives and what config/mts.json says.
 *
 * mts_root(): the directory holding scripts/ and config/: $MTS_ROOT, else the
 * nearest ancestor (up to three levels) of the running binary that has
 * scripts/lib, or <prefix>/share/mts for an installed binary, else ".".
 * config/mts.json is read once, lazily; a missing file means defaults, an
 * invalid one (bad JSON, not a regular file, over MTS_CONFIG_MAX_BYTES) is
 * reported once on stderr (naming the path) and then treated as missing; a
 * leading UTF-8 byte order mark is skipped. Values are borrowed: they live as long as the process. */
#ifndef MTS_CONFIG_H
#define MTS_CONFIG_H
#include <stddef.h>
#include <stdint.h>

const char *mts_root(void);
/* Where the running binary's own scripts/lib lives (its install or source
 * tree, as mts_root finds it without $MTS_ROOT; mts_root() when there is
 * none): the Lua libraries and the FFI header come from there when $MTS_ROOT
 * names a directory without them (a project holding only strategies). */
const char *mts_install_root(void);
/* dst = a + b (a plain concatenation, for paths); 0, or -1 with dst empty when
 * it does not fit in n bytes. */
int mts_path_join(char *dst, size_t n, const char *a, const char *b);
/* What is at path, from stat() (symlinks followed); nothing is opened, so a
 * FIFO cannot block the caller. *size (may be NULL) = the size of a regular
 * file, else 0. Also in lua/mts_ffi.h (scripts/lib/config.lua uses it). */
#define MTS_PATH_NONE    0   /* nothing there (or not reachable) */
#define MTS_PATH_REGULAR 1
#define MTS_PATH_DIR     2
#define MTS_PATH_FIFO    3
#define MTS_PATH_DEVICE  4   /* character or block device, e.g. /dev/zero */
#define MTS_PATH_SOCKET  5
#define MTS_PATH_OTHER   6
int32_t mts_path_kind(const char *path, int64_t *size);
/* "a directory", "a FIFO", ... for a kind that is not MTS_PATH_REGULAR. */
const char *mts_path_kind_name(int32_t kind);
/* config/mts.json larger than this is refused (as is anything not a regular file). */
#define MTS_CONFIG_MAX_BYTES (1 << 20)

/* section NULL = top level; NULL / MTS_ENOTFOUND when absent or of another type */
/* config/mts.json under root, decoded (a cJSON object the caller frees with
 * cJSON_Delete); NULL when there is none, it is too big or not a JSON object
 * (the lookups below report a bad file once; callers of this take defaults).
 * For sections read as a whole: books, instruments (backtest/, market/instrument.c). */
struct cJSON *mts_config_site(const char *root);
const char *mts_config_string(const char *section, const char *key);
int mts_config_number(const char *section, const char *key, double *out);
/* an array of strings joined with commas into buf */
int mts_config_list(const char *section, const char *key, char *buf, size_t len);
/* datasets.<kind>.<name> ("assets" or "macro"): its file (relative to the
 * root) and optional value column. 0 or MTS_ENOTFOUND. */
int mts_config_dataset(const char *kind, const char *name, const char **file, const char **column);
/* datasets.assets.<name>: the file of its bars at `interval` — the entry
 * "intervals": {"1h": FILE, ...}, else "file" when its "interval" (default
 * "1d") is that one. 0 or MTS_ENOTFOUND. */
int mts_config_dataset_file(const char *kind, const char *name, const char *interval, const char **file);
/* "bitcoin, ethereum, ..." — mts_free it. */
char *mts_config_dataset_names(const char *kind);

#endif
