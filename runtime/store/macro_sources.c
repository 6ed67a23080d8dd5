/* macro_sources.c — see macro_sources.h. */
#include "store/macro_sources.h"
#include "store/store_internal.h"
#include "util/timeutil.h"

#include <math.h>

int mts_store_load_macro_originals(mts_store_t *s, const char *indicator, int64_t from, int64_t to,
                                   mts_series_t *out) {
    if (!s || !indicator || !out) {
        if (s) mts_store_set_error(s, "load_macro_originals: missing argument");
        return MTS_EINVAL;
    }
    char lo[16], hi[16];
    mts_store_macro_range(from, to, lo, hi);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s),
                           "SELECT date, value FROM macro_indicators WHERE indicator = ?1 AND date >= ?2"
                           " AND date <= ?3 AND is_interpolated = 0 AND is_forward_filled = 0 ORDER BY date",
                           -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "load_macro_originals");
    sqlite3_bind_text(st, 1, indicator, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
    out->n = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        int64_t t;
        if (!d || mts_time_parse(d, (size_t)sqlite3_column_bytes(st, 0), &t)) {
            mts_store_set_error(s, "load_macro_originals %s: bad date '%s' in the database", indicator, d ? d : "");
            ret = MTS_EPARSE;
            break;
        }
        if (out->n == out->cap && mts_series_reserve(out, out->cap ? out->cap * 2 : 64)) {
            mts_store_set_error(s, "load_macro_originals %s: out of memory", indicator);
            ret = MTS_ENOMEM;
            break;
        }
        out->ts[out->n] = t;
        out->v[out->n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        out->n++;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_macro_originals");
    sqlite3_finalize(st);
    return ret;
}
