/* macro_fill.c — daily forward-fill / interpolation of macro series (see macro_fill.h). */
#include "feeds/macro_fill.h"
#include "store/store.h"
#include "util/timeutil.h"

#include <string.h>

#define DAY 86400
#define MAX_SPAN_DAYS 200000

int mts_macro_fill_parse(const char *s, mts_fill_mode_t *mode) {
    if (!s || !mode) return MTS_EINVAL;
    if (!strcmp(s, "forward") || !strcmp(s, "ffill") || !strcmp(s, "forward-fill")) *mode = MTS_FILL_FORWARD;
    else if (!strcmp(s, "interpolate") || !strcmp(s, "linear")) *mode = MTS_FILL_INTERPOLATE;
    else if (!strcmp(s, "none")) *mode = MTS_FILL_NONE;
    else return MTS_EINVAL;
    return 0;
}

int mts_macro_fill(const mts_series_t *in, mts_fill_mode_t mode, mts_series_t *out,
                   uint8_t **flags, int64_t *n_filled) {
    if (!in || !out || !flags || (in->n > 0 && (!in->ts || !in->v))) return MTS_EINVAL;
    if (n_filled) *n_filled = 0;
    out->n = 0;
    if (in->n == 0) return 0;
    for (int64_t i = 1; i < in->n; i++)
        if (mts_time_day(in->ts[i]) <= mts_time_day(in->ts[i - 1])) return MTS_EINVAL;
    int64_t first = mts_time_day(in->ts[0]), last = mts_time_day(in->ts[in->n - 1]);
    int64_t days = mode == MTS_FILL_NONE ? in->n : (last - first) / DAY + 1;
    if (days > MAX_SPAN_DAYS) return MTS_ERANGE;
    int rc = mts_series_reserve(out, days);
    if (rc) return rc;
    uint8_t *f = mts_realloc(*flags, (size_t)days);
    if (!f) return MTS_ENOMEM;
    *flags = f;

    int64_t k = 0, added = 0;
    for (int64_t i = 0; i < in->n; i++) {
        int64_t d = mts_time_day(in->ts[i]);
        out->ts[k] = d;
        out->v[k] = in->v[i];
        f[k++] = 0;
        if (mode == MTS_FILL_NONE || i + 1 == in->n) continue;
        int64_t next = mts_time_day(in->ts[i + 1]);
        int64_t gap = (next - d) / DAY;            /* days from this original to the next */
        for (int64_t j = 1; j < gap; j++) {
            out->ts[k] = d + j * DAY;
            if (mode == MTS_FILL_FORWARD) {
                out->v[k] = in->v[i];
                f[k] = MTS_MACRO_FORWARD_FILLED;
            } else {
                /* straight line between the two originals, by day count */
                out->v[k] = in->v[i] + (in->v[i + 1] - in->v[i]) * (double)j / (double)gap;
                f[k] = MTS_MACRO_INTERPOLATED;
            }
            k++;
            added++;
        }
    }
    out->n = k;
    if (n_filled) *n_filled = added;
    return 0;
}
