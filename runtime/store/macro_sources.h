/* macro_sources.h — the original observations of a macro series, for merging
 * a second source into it (mts collect: FRED VIXCLS into the VIX the bundled
 * CBOE file filled). Kept apart from store.c: one query, no schema change.
 * Needs store.h. */
#ifndef MTS_STORE_MACRO_SOURCES_H
#define MTS_STORE_MACRO_SOURCES_H

#include "store/store.h"

/* The rows of `indicator` in [from, to] (as mts_store_load_macro) that are
 * original observations (neither interpolated nor forward-filled), ascending.
 * out is replaced (grown with mts_series_reserve). 0 or MTS_EDB / MTS_ENOMEM /
 * MTS_EPARSE with mts_store_errmsg set. */
int mts_store_load_macro_originals(mts_store_t *s, const char *indicator, int64_t from, int64_t to,
                                   mts_series_t *out);

#endif
