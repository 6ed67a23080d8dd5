/* timeutil.c — time parsing and formatting (see timeutil.h).
 *
 * Pure integer calendar arithmetic (Howard Hinnant's days_from_civil /
 * civil_from_days, proleptic Gregorian), so nothing here depends on timegm,
 * TZ or the locale. Every time is int64 unix seconds, UTC. */
#include "util/timeutil.h"
#include "mts.h"

#include <stdio.h>
#include <string.h>

int64_t mts_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                          /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;    /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;              /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

int64_t mts_time_day(int64_t t) { return floor_div(t, 86400) * 86400; }

void mts_time_format_iso(int64_t t, char buf[32]) {
    int64_t days = floor_div(t, 86400), y;
    unsigned sod = (unsigned)(t - days * 86400), m, d;     /* [0, 86399] */
    civil_from_days(days, &y, &m, &d);
    unsigned hh = sod / 3600 % 24, mi = sod / 60 % 60, ss = sod % 60;
    if (y >= 0 && y <= 9999) {
        snprintf(buf, 32, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000u, m % 100u, d % 100u, hh, mi, ss);
    } else {                          /* years outside 0000..9999: never cut mid-way silently */
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m % 100u, d % 100u, hh, mi, ss);
        memcpy(buf, tmp, 31);
        buf[31] = '\0';
    }
}

void mts_time_format_date(int64_t t, char buf[16]) {
    int64_t y;
    unsigned m, d;
    civil_from_days(floor_div(t, 86400), &y, &m, &d);
    if (y < 0 || y > 9999) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "%lld-%02u-%02u", (long long)y, m % 100u, d % 100u);
        memcpy(buf, tmp, 15);
        buf[15] = '\0';
        return;
    }
    /* hot path (one call per stored bar): no snprintf */
    unsigned yy = (unsigned)y;
    buf[0] = (char)('0' + yy / 1000); buf[1] = (char)('0' + yy / 100 % 10);
    buf[2] = (char)('0' + yy / 10 % 10); buf[3] = (char)('0' + yy % 10);
    buf[4] = '-'; buf[5] = (char)('0' + m / 10); buf[6] = (char)('0' + m % 10);
    buf[7] = '-'; buf[8] = (char)('0' + d / 10); buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

/* ---- parsing ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Exactly n digits at p[*i]; advances *i. */
static int digits(const char *p, size_t len, size_t *i, int n, int *out) {
    if (*i + (size_t)n > len) return -1;
    int v = 0;
    for (int k = 0; k < n; k++) {
        char c = p[*i + (size_t)k];
        if (!is_digit(c)) return -1;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)n;
    *out = v;
    return 0;
}

/* 1 or 2 digits. */
static int digits12(const char *p, size_t len, size_t *i, int *out) {
    if (*i >= len || !is_digit(p[*i])) return -1;
    int v = p[(*i)++] - '0';
    if (*i < len && is_digit(p[*i])) v = v * 10 + (p[(*i)++] - '0');
    *out = v;
    return 0;
}

static int days_in_month(int y, int m) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28;
    return dim[m - 1];
}

/* Parses "[T ]HH:MM[:SS[.fff]][ ][Z|+HH:MM|-HH:MM|+HHMM|+HH]" starting at p[*i]
 * (which is just past the date); adds the seconds since midnight (minus the
 * offset) to *secs. */
static int time_and_zone(const char *p, size_t len, size_t i, int64_t *secs) {
    int hh = 0, mi = 0, ss = 0;
    if (i < len && (p[i] == 'T' || p[i] == 't' || p[i] == ' ')) {
        i++;
        if (digits(p, len, &i, 2, &hh) || i >= len || p[i] != ':') return -1;
        i++;
        if (digits(p, len, &i, 2, &mi)) return -1;
        if (i < len && p[i] == ':') {
            i++;
            if (digits(p, len, &i, 2, &ss)) return -1;
            if (i < len && (p[i] == '.' || p[i] == ',')) {
                i++;
                size_t f0 = i;
                while (i < len && is_digit(p[i])) i++;
                if (i == f0) return -1;           /* "12:00:00." */
            }
        }
        if (hh > 23 || mi > 59 || ss > 59) return -1;
    }
    int64_t off = 0;
    if (i < len && p[i] == ' ') i++;              /* "2024-01-02 10:00:00 +02:00" */
    if (i < len) {
        char c = p[i++];
        if (c == 'Z' || c == 'z') {
            /* UTC */
        } else if (c == '+' || c == '-') {
            int oh = 0, om = 0;
            if (digits(p, len, &i, 2, &oh)) return -1;
            if (i < len && p[i] == ':') {
                i++;
                if (digits(p, len, &i, 2, &om)) return -1;
            } else if (i < len) {
                if (digits(p, len, &i, 2, &om)) return -1;
            }
            if (oh > 23 || om > 59) return -1;
            off = (int64_t)oh * 3600 + om * 60;
            if (c == '-') off = -off;
        } else {
            return -1;
        }
    }
    if (i != len) return -1;
    *secs += (int64_t)hh * 3600 + mi * 60 + ss - off;
    return 0;
}

static int civil_to_unix(int y, int m, int d, int64_t *out) {
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
    *out = mts_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
    return 0;
}

/* Unix seconds or milliseconds, optionally signed, optionally with a
 * fraction (seconds only). */
static int parse_epoch(const char *p, size_t len, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (p[i] == '+' || p[i] == '-') neg = p[i++] == '-';
    size_t d0 = i;
    int64_t v = 0;
    while (i < len && is_digit(p[i])) {
        if (i - d0 >= 18) return -1;              /* would overflow */
        v = v * 10 + (p[i++] - '0');
    }
    if (i == d0) return -1;
    int frac_nonzero = 0, has_frac = 0;
    if (i < len && p[i] == '.') {
        has_frac = 1;
        i++;
        size_t f0 = i;
        while (i < len && is_digit(p[i])) { if (p[i] != '0') frac_nonzero = 1; i++; }
        if (i == f0) return -1;
    }
    if (i != len) return -1;
    if (v > 100000000000LL) {                     /* > 1e11: milliseconds */
        if (has_frac) return -1;
        *out = neg ? floor_div(-v, 1000) : v / 1000;
        return 0;
    }
    if (neg) *out = frac_nonzero ? -v - 1 : -v;   /* floor */
    else *out = v;
    return 0;
}

int mts_time_parse(const char *s, size_t len, int64_t *out) {
    if (!s || !out) return MTS_EINVAL;
    while (len && is_space(*s)) { s++; len--; }
    while (len && is_space(s[len - 1])) len--;
    if (!len) return MTS_EPARSE;

    int64_t t;
    if (len >= 10 && s[4] == '-' && s[7] == '-') {          /* YYYY-MM-DD... */
        size_t i = 0;
        int y, m, d;
        if (digits(s, len, &i, 4, &y) || s[i++] != '-' || digits(s, len, &i, 2, &m) ||
            s[i++] != '-' || digits(s, len, &i, 2, &d))
            return MTS_EPARSE;
        if (civil_to_unix(y, m, d, &t) || time_and_zone(s, len, i, &t)) return MTS_EPARSE;
        *out = t;
        return 0;
    }
    if (len >= 8 && (s[1] == '/' || s[2] == '/')) {                  /* M/D/YYYY... */
        size_t i = 0;
        int y, m, d;
        if (digits12(s, len, &i, &m) || i >= len || s[i++] != '/' || digits12(s, len, &i, &d) ||
            i >= len || s[i++] != '/' || digits(s, len, &i, 4, &y))
            return MTS_EPARSE;
        if (civil_to_unix(y, m, d, &t) || time_and_zone(s, len, i, &t)) return MTS_EPARSE;
        *out = t;
        return 0;
    }
    if (parse_epoch(s, len, &t)) return MTS_EPARSE;
    *out = t;
    return 0;
}
