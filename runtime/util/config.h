/* config.h — where mts lives and what config/mts.json says.
 *
 * mts_root(): the directory holding scripts/ and config/: $MTS_ROOT, else the
 * nearest ancestor (up to three levels) of the running binary that has
 * scripts/lib, or <prefix>/share/mts for an installed binary, else ".".
 * config/mts.json is read once, lazily; a missing file means defaults, an
 * invalid one is reported once on stderr (file:line) and then treated as
 * missing. Values are borrowed: they live as long as the process. */
#ifndef MTS_CONFIG_H
#define MTS_CONFIG_H
#include <stddef.h>

const char *mts_root(void);
/* dst = a + b (a plain concatenation, for paths); 0, or -1 with dst empty when
 * it does not fit in n bytes. */
int mts_path_join(char *dst, size_t n, const char *a, const char *b);
/* section NULL = top level; NULL / MTS_ENOTFOUND when absent or of another type */
const char *mts_config_string(const char *section, const char *key);
int mts_config_number(const char *section, const char *key, double *out);
/* an array of strings joined with commas into buf */
int mts_config_list(const char *section, const char *key, char *buf, size_t len);
/* datasets.<kind>.<name> ("assets" or "macro"): its file (relative to the
 * root) and optional value column. 0 or MTS_ENOTFOUND. */
int mts_config_dataset(const char *kind, const char *name, const char **file, const char **column);
/* "bitcoin, ethereum, ..." — mts_free it. */
char *mts_config_dataset_names(const char *kind);

#endif
