/* macro_fill.h — turn a macro series observed on some days (FRED: business
 * days, with "." for missing values) into one row per calendar day. Days
 * between two original observations (weekends, holidays, missing values) are
 * forward-filled (flag bit1, MTS_MACRO_FORWARD_FILLED) or linearly
 * interpolated by day count (flag bit0, MTS_MACRO_INTERPOLATED); originals keep
 * flag 0. Nothing is added before the first or after the last original (no
 * later observation to interpolate to, and a fill there would be a guess).
 * The flags are the ones mts_store_upsert_macro takes, and the store never
 * lets a filled row replace an original. Needs mts.h, lua/mts_ffi.h. */
#ifndef MTS_MACRO_FILL_H
#define MTS_MACRO_FILL_H

#include <stdint.h>
#include "mts.h"
#include "lua/mts_ffi.h"

#define MTS_MACRO_INTERPOLATED   1
#define MTS_MACRO_FORWARD_FILLED 2

typedef enum { MTS_FILL_NONE = 0, MTS_FILL_FORWARD = 1, MTS_FILL_INTERPOLATE = 2 } mts_fill_mode_t;

/* in: ascending, distinct days (times are floored to UTC midnight), finite
 * values. out: replaced with the daily series (arrays grown with
 * mts_series_reserve); *flags: grown with mts_realloc, one per out row, the
 * caller frees it with mts_free. *n_filled (may be NULL): rows added.
 * MTS_EINVAL when in is not ascending/distinct; MTS_ERANGE when the span is
 * over 200 000 days. */
int mts_macro_fill(const mts_series_t *in, mts_fill_mode_t mode, mts_series_t *out,
                   uint8_t **flags, int64_t *n_filled);

/* "forward" | "interpolate" | "none" -> mode; MTS_EINVAL otherwise. */
int mts_macro_fill_parse(const char *s, mts_fill_mode_t *mode);

#endif
