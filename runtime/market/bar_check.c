/* bar_check.c — the bar rules (see bar_check.h). */
#include "market/bar_check.h"

#include <math.h>
#include <stdio.h>

const char *const mts_bar_field[5] = {"open", "high", "low", "close", "volume"};

#define DAY_MS 86400000LL
#define WEEK_MS (7 * DAY_MS)
#define MONDAY_MS (4 * DAY_MS)   /* 1970-01-05, the first Monday: Binance and Bybit weeks start there */

static mts_bar_fault_t verdict(mts_bar_verdict_t *out, mts_bar_fault_t f, int field, int other) {
    if (out) *out = (mts_bar_verdict_t){f, field, other};
    return f;
}

mts_bar_fault_t mts_bar_check(int64_t ts, const double v[5], mts_bar_verdict_t *out) {
    if (ts < MTS_BAR_TS_MIN || ts >= MTS_BAR_TS_MAX) return verdict(out, MTS_BAR_TIME, -1, -1);
    for (int k = 0; k < 5; k++) {
        if (!isfinite(v[k])) return verdict(out, MTS_BAR_NOT_FINITE, k, -1);
        if (k < 4 && !(v[k] > 0)) return verdict(out, MTS_BAR_NOT_POSITIVE, k, -1);
        if (k == 4 && v[k] < 0) return verdict(out, MTS_BAR_NEGATIVE, k, -1);
        if (v[k] > (k < 4 ? MTS_BAR_PRICE_MAX : MTS_BAR_VOLUME_MAX)) return verdict(out, MTS_BAR_TOO_LARGE, k, -1);
    }
    int kmax = v[0] >= v[3] ? 0 : 3, kmin = v[0] <= v[3] ? 0 : 3;
    if (v[1] < v[kmax]) return verdict(out, MTS_BAR_HIGH_BELOW, 1, kmax);
    if (v[2] > v[kmin]) return verdict(out, MTS_BAR_LOW_ABOVE, 2, kmin);
    return verdict(out, MTS_BAR_OK, -1, -1);
}

mts_bar_fault_t mts_bar_check_open(int64_t open_ms, int64_t interval_ms, int64_t now_ms, int64_t skew_ms) {
    if (interval_ms <= 0) return MTS_BAR_MISALIGNED;
    int64_t grid = interval_ms, phase = 0;
    if (interval_ms == WEEK_MS) phase = MONDAY_MS;
    else if (interval_ms > DAY_MS) grid = DAY_MS;       /* 3d: the venues' phase is not documented */
    int64_t r = (open_ms - phase) % grid;
    if (r != 0) return MTS_BAR_MISALIGNED;
    /* compared as "open > now + skew - interval": no overflow for any open_ms */
    if (open_ms > now_ms + skew_ms - interval_ms) return MTS_BAR_AHEAD;
    return MTS_BAR_OK;
}

const char *mts_bar_describe(const mts_bar_verdict_t *w, int64_t ts, const double v[5], char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    const char *f = w && w->field >= 0 && w->field < 5 ? mts_bar_field[w->field] : "?";
    const char *o = w && w->other >= 0 && w->other < 5 ? mts_bar_field[w->other] : "?";
    double x = w && w->field >= 0 && w->field < 5 ? v[w->field] : NAN;
    double y = w && w->other >= 0 && w->other < 5 ? v[w->other] : NAN;
    switch (w ? w->fault : MTS_BAR_OK) {
    case MTS_BAR_OK: snprintf(buf, n, "ok"); break;
    case MTS_BAR_TIME:
        snprintf(buf, n, "time %lld is outside 1970-01-01..2100-01-01", (long long)ts);
        break;
    case MTS_BAR_NOT_FINITE: snprintf(buf, n, "%s is not finite", f); break;
    case MTS_BAR_NOT_POSITIVE: snprintf(buf, n, "%s must be > 0, got %.17g", f, x); break;
    case MTS_BAR_NEGATIVE: snprintf(buf, n, "%s must be >= 0, got %.17g", f, x); break;
    case MTS_BAR_TOO_LARGE:
        snprintf(buf, n, "%s %.17g is above the %s limit %g", f, x, w->field < 4 ? "price" : "volume",
                 w->field < 4 ? MTS_BAR_PRICE_MAX : MTS_BAR_VOLUME_MAX);
        break;
    case MTS_BAR_HIGH_BELOW: snprintf(buf, n, "high %.17g < max(open, close) %.17g (%s)", x, y, o); break;
    case MTS_BAR_LOW_ABOVE: snprintf(buf, n, "low %.17g > min(open, close) %.17g (%s)", x, y, o); break;
    case MTS_BAR_MISALIGNED: snprintf(buf, n, "open time %lld is not aligned to the interval", (long long)ts); break;
    case MTS_BAR_AHEAD: snprintf(buf, n, "open time %lld is ahead of the clock", (long long)ts); break;
    }
    return buf;
}

const char *mts_bar_fault_name(mts_bar_fault_t f) {
    switch (f) {
    case MTS_BAR_OK: return "ok";
    case MTS_BAR_TIME: return "time";
    case MTS_BAR_NOT_FINITE: return "not_finite";
    case MTS_BAR_NOT_POSITIVE: return "not_positive";
    case MTS_BAR_NEGATIVE: return "negative";
    case MTS_BAR_TOO_LARGE: return "too_large";
    case MTS_BAR_HIGH_BELOW: return "high";
    case MTS_BAR_LOW_ABOVE: return "low";
    case MTS_BAR_MISALIGNED: return "misaligned";
    case MTS_BAR_AHEAD: return "ahead";
    }
    return "?";
}
