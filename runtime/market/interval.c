/* interval.c — interval names, grids and detection (see interval.h). */
#include "market/interval.h"

#include <stddef.h>
#include <string.h>

static const struct { const char *name; int64_t s; } names[] = {
    {"1m", 60},       {"3m", 180},      {"5m", 300},      {"15m", 900},   {"30m", 1800},
    {"1h", 3600},     {"2h", 7200},     {"4h", 14400},    {"6h", 21600},  {"8h", 28800},
    {"12h", 43200},   {"1d", 86400},    {"3d", 259200},   {"1w", 604800},
};
#define N_NAMES (sizeof names / sizeof names[0])
#define WEEK 604800
#define MONDAY 345600           /* 1970-01-05T00:00:00Z, the first Monday */

int64_t mts_interval_seconds(const char *name) {
    if (!name) return -1;
    for (size_t i = 0; i < N_NAMES; i++)
        if (strcmp(names[i].name, name) == 0) return names[i].s;
    return -1;
}

const char *mts_interval_name(int64_t seconds) {
    for (size_t i = 0; i < N_NAMES; i++)
        if (names[i].s == seconds) return names[i].name;
    return NULL;
}

/* floor division for negative times too */
static int64_t floor_to(int64_t ts, int64_t grid, int64_t phase) {
    int64_t r = (ts - phase) % grid;
    if (r < 0) r += grid;
    return ts - r;
}

int64_t mts_interval_floor(int64_t ts, int64_t seconds) {
    if (seconds <= 0) return ts;
    return floor_to(ts, seconds, seconds == WEEK ? MONDAY : 0);
}

int mts_interval_aligned(int64_t ts, int64_t seconds) {
    return seconds > 0 && mts_interval_floor(ts, seconds) == ts;
}

int64_t mts_interval_detect(const int64_t *ts, int64_t n, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (!ts || n < 2) { *why = "fewer than 2 bars"; return -1; }
    /* counts of the spacings that are interval lengths; the rest together */
    int64_t count[N_NAMES] = {0}, other = 0, total = 0;
    for (int64_t i = 1; i < n; i++) {
        int64_t d = ts[i] - ts[i - 1];
        if (d <= 0) continue;                  /* duplicates / disorder: the importer reports them */
        total++;
        size_t k = 0;
        while (k < N_NAMES && names[k].s != d) k++;
        if (k < N_NAMES) count[k]++;
        else other++;
    }
    if (total == 0) { *why = "no two bars have increasing times"; return -1; }
    size_t best = 0;
    for (size_t k = 1; k < N_NAMES; k++)
        if (count[k] > count[best]) best = k;
    if (count[best] == 0) { *why = "no spacing between bars is an interval's length (" MTS_INTERVALS ")"; return -1; }
    if (count[best] * 2 < total) { *why = "spacings are mixed: no single interval covers half of them"; return -1; }
    (void)other;
    return names[best].s;
}

int mts_interval_divides(int64_t fine, int64_t coarse) {
    if (fine <= 0 || coarse <= 0 || coarse % fine != 0) return 0;
    /* coarse's grid points must be on fine's grid: true for every pair of
     * names except a 1w (Monday phase) or 3d from a fine grid that is not a
     * divisor of 1 day */
    if (coarse == WEEK || coarse == 259200) return 86400 % fine == 0;
    return 1;
}
