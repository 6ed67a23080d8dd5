/* grid.c — parameter grids (research.h): --param axes as text values, a
 * range start:stop:step expanded here. */
#include "research/research.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && !*end && errno == 0 && isfinite(*out) ? 0 : -1;
}

static void axis_free(mts_grid_axis_t *ax) {
    for (int i = 0; i < ax->n; i++) mts_free(ax->values[i]);
    mts_free(ax->values);
    mts_free(ax->key);
    memset(ax, 0, sizeof *ax);
}

static int push(mts_grid_axis_t *ax, const char *v, size_t len) {
    char *s = mts_malloc(len + 1);
    if (!s) return MTS_ENOMEM;
    memcpy(s, v, len);
    s[len] = 0;
    ax->values[ax->n++] = s;
    return 0;
}

/* The values of "KEY=..." after the '=' into ax (values sized MTS_GRID_MAX_VALUES). */
static int parse_values(const char *arg, const char *v, mts_grid_axis_t *ax, char *err, size_t errlen) {
    if (strchr(v, ':')) {
        char a[64], b[64], c[64];
        double start, stop, step;
        if (sscanf(v, "%63[^:]:%63[^:]:%63s", a, b, c) != 3 || parse_num(a, &start) || parse_num(b, &stop) ||
            parse_num(c, &step))
            return mts_errf(err, errlen, MTS_EINVAL,
                        "a range is start:stop:step with numbers, e.g. fast=5:20:5; got '%s'", arg);
        if (!(step > 0) || stop < start)
            return mts_errf(err, errlen, MTS_EINVAL, "a range needs step > 0 and start <= stop, got '%s'", arg);
        double count = floor((stop - start) / step + 1e-9) + 1;
        if (count > MTS_GRID_MAX_VALUES)
            return mts_errf(err, errlen, MTS_EINVAL, "too many values (at most %d per parameter) in '%s'",
                        MTS_GRID_MAX_VALUES, arg);
        for (int i = 0; i < (int)count; i++) {
            char buf[64];
            double x = start + step * i;
            int len = snprintf(buf, sizeof buf, "%.10g", fabs(x) < 1e-12 ? 0.0 : x);
            if (push(ax, buf, (size_t)len)) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        }
        return 0;
    }
    for (const char *tok = v;;) {
        const char *comma = strchr(tok, ',');
        size_t len = comma ? (size_t)(comma - tok) : strlen(tok);
        if (len == 0) return mts_errf(err, errlen, MTS_EINVAL, "an empty value in '%s'", arg);
        if (ax->n >= MTS_GRID_MAX_VALUES)
            return mts_errf(err, errlen, MTS_EINVAL, "too many values (at most %d per parameter) in '%s'",
                        MTS_GRID_MAX_VALUES, arg);
        if (push(ax, tok, len)) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        if (!comma) break;
        tok = comma + 1;
    }
    return 0;
}

int mts_grid_add_axis(mts_grid_t *g, const char *arg, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!g || !arg) return mts_errf(err, errlen, MTS_EINVAL, "grid: missing argument");
    if (g->n_axes >= MTS_GRID_MAX_AXES)
        return mts_errf(err, errlen, MTS_EINVAL, "at most %d --param axes", MTS_GRID_MAX_AXES);
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return mts_errf(err, errlen, MTS_EINVAL, "--param expects KEY=a,b,c or KEY=start:stop:step, got '%s'", arg);
    size_t klen = (size_t)(eq - arg);
    for (int a = 0; a < g->n_axes; a++)
        if (strlen(g->axes[a].key) == klen && strncmp(g->axes[a].key, arg, klen) == 0)
            return mts_errf(err, errlen, MTS_EINVAL, "--param given twice for '%s'", g->axes[a].key);
    mts_grid_axis_t ax = {0};
    ax.key = mts_malloc(klen + 1);
    ax.values = mts_calloc(MTS_GRID_MAX_VALUES, sizeof *ax.values);
    if (!ax.key || !ax.values) {
        axis_free(&ax);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    }
    memcpy(ax.key, arg, klen);
    ax.key[klen] = 0;
    int rc = parse_values(arg, eq + 1, &ax, err, errlen);
    if (rc) {
        axis_free(&ax);
        return rc;
    }
    g->axes[g->n_axes++] = ax;
    return 0;
}

void mts_grid_free(mts_grid_t *g) {
    if (!g) return;
    for (int k = 0; k < g->n_axes; k++) axis_free(&g->axes[k]);
    memset(g, 0, sizeof *g);
}

int mts_grid_axis_applies(const char *key, const char *strategy) {
    const char *dot = strchr(key, '.');
    if (!dot) return 1;
    return strlen(strategy) == (size_t)(dot - key) && strncmp(key, strategy, (size_t)(dot - key)) == 0;
}
