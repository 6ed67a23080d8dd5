/* ws_json.h — a small pull scanner over JSON text for the exchange parsers
 * (parse_binance.c, parse_bybit.c). Header-only, static inline, no allocation.
 * Needs nothing but libc.
 *
 * Why not cJSON on the hot path: cJSON builds a tree (one malloc per value,
 * ~20 per trade message) and then we look keys up in it; the scanner walks the
 * text once and keeps spans. tests/bench/bench_parse.c measures both on the
 * same recorded stream (see its output: scanner vs cJSON msgs/s).
 *
 * The scanner validates structure strictly (balanced braces/brackets, commas,
 * colons, string termination, literals, nothing but whitespace after the top
 * value), so truncated or garbage messages are rejected, never half-used.
 * String spans are raw (escapes are not decoded); the fields the parsers read
 * (symbols, decimal strings, ids) never contain escapes on these feeds.
 *
 * Numbers: js_decimal parses "30247.20" style decimals with the exact fast path
 * (mantissa < 2^53 and at most 22 fractional digits: one correctly rounded
 * division, so the result equals strtod's); anything else falls back to strtod. */
#ifndef MTS_WS_JSON_H
#define MTS_WS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "feeds/event.h"

typedef struct js { const char *p, *end; } js_t;

/* A value seen by the scanner: type is one of '"' '{' '[' 'n'(number) 't' 'f' 'z'(null). */
typedef struct js_span { const char *s; size_t n; char type; } js_span_t;

#define JS_MAX_DEPTH 32

static inline void js_ws(js_t *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static inline int js_peek(js_t *j) {
    js_ws(j);
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

static inline int js_eat(js_t *j, char c) {
    if (js_peek(j) != (unsigned char)c) return 0;
    j->p++;
    return 1;
}

/* String at j->p (after ws): span without quotes. 0 ok, -1 error. */
static inline int js_string(js_t *j, const char **s, size_t *n) {
    if (js_peek(j) != '"') return -1;
    const char *q = ++j->p;
    for (;;) {
        const char *hit = memchr(q, '"', (size_t)(j->end - q));
        if (!hit) return -1;
        /* count preceding backslashes */
        const char *b = hit;
        while (b > j->p && b[-1] == '\\') b--;
        if (((hit - b) & 1) == 0) {
            for (const char *c = j->p; c < hit; c++)
                if ((unsigned char)*c < 0x20) return -1;
            *s = j->p;
            *n = (size_t)(hit - j->p);
            j->p = hit + 1;
            return 0;
        }
        q = hit + 1;
    }
}

static inline int js_number(js_t *j, const char **s, size_t *n) {
    js_ws(j);
    const char *p = j->p, *st = p;
    if (p < j->end && *p == '-') p++;
    const char *d0 = p;
    while (p < j->end && *p >= '0' && *p <= '9') p++;
    if (p == d0) return -1;
    if (p < j->end && *p == '.') {
        const char *f0 = ++p;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
        if (p == f0) return -1;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) p++;
        const char *e0 = p;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
        if (p == e0) return -1;
    }
    *s = st;
    *n = (size_t)(p - st);
    j->p = p;
    return 0;
}

static inline int js_skip_depth(js_t *j, int depth);

/* Any value: fills sp (span of the whole value incl. brackets for {} [] ). */
static inline int js_value(js_t *j, js_span_t *sp, int depth) {
    int c = js_peek(j);
    const char *st = j->p;
    switch (c) {
    case '"':
        if (js_string(j, &sp->s, &sp->n)) return -1;
        sp->type = '"';
        return 0;
    case '{': case '[':
        if (js_skip_depth(j, depth)) return -1;
        sp->s = st; sp->n = (size_t)(j->p - st); sp->type = (char)c;
        return 0;
    case 't': case 'f': case 'n': {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t l = strlen(lit);
        if ((size_t)(j->end - j->p) < l || memcmp(j->p, lit, l)) return -1;
        j->p += l;
        sp->s = st; sp->n = l; sp->type = c == 'n' ? 'z' : (char)c;
        return 0;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (js_number(j, &sp->s, &sp->n)) return -1;
            sp->type = 'n';
            return 0;
        }
        return -1;
    }
}

static inline int js_skip_depth(js_t *j, int depth) {
    if (depth > JS_MAX_DEPTH) return -1;
    int open = js_peek(j);
    char close = open == '{' ? '}' : ']';
    j->p++;
    if (js_eat(j, close)) return 0;
    for (;;) {
        js_span_t v;
        if (open == '{') {
            const char *k; size_t kn;
            if (js_string(j, &k, &kn) || !js_eat(j, ':')) return -1;
        }
        if (js_value(j, &v, depth + 1)) return -1;
        if (js_eat(j, ',')) continue;
        if (js_eat(j, close)) return 0;
        return -1;
    }
}

/* Object iteration: js_obj_begin, then js_obj_next until it returns 0.
 * js_obj_next: 1 = a key (*k,*kn) and the scanner sits at its value; 0 = end; -1 error.
 * `first` is state the caller keeps (init 1). */
static inline int js_obj_begin(js_t *j) { return js_eat(j, '{') ? 0 : -1; }
static inline int js_obj_next(js_t *j, int *first, const char **k, size_t *kn) {
    if (*first) {
        *first = 0;
        if (js_eat(j, '}')) return 0;
    } else {
        if (js_eat(j, '}')) return 0;
        if (!js_eat(j, ',')) return -1;
    }
    if (js_string(j, k, kn) || !js_eat(j, ':')) return -1;
    return 1;
}
static inline int js_arr_begin(js_t *j) { return js_eat(j, '[') ? 0 : -1; }
static inline int js_arr_next(js_t *j, int *first) {
    if (*first) {
        *first = 0;
        if (js_eat(j, ']')) return 0;
        return js_peek(j) < 0 ? -1 : 1;
    }
    if (js_eat(j, ']')) return 0;
    return js_eat(j, ',') ? 1 : -1;
}

/* After the top value: only whitespace may remain. */
static inline int js_done(js_t *j) { return js_peek(j) == -1 ? 0 : -1; }

static inline int js_key_is(const char *k, size_t kn, const char *lit) {
    size_t l = strlen(lit);
    return kn == l && memcmp(k, lit, l) == 0;
}

/* Decimal text (no quotes) to double. 0 ok, -1 not a number. */
static inline int js_decimal(const char *s, size_t n, double *out) {
    static const double p10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s, *e = s + n;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    uint64_t m = 0;
    int sig = 0, frac = 0, dot = 0, any = 0;
    for (; p < e; p++) {
        char c = *p;
        if (c >= '0' && c <= '9') {
            any = 1;
            if (dot) frac++;
            if (m == 0 && c == '0') continue;           /* leading zeros are not significant */
            if (++sig > 19) goto slow;
            m = m * 10 + (uint64_t)(c - '0');
        } else if (c == '.') {
            if (dot) return -1;
            dot = 1;
        } else {
            goto slow;
        }
    }
    if (!any) return -1;
    if (m >= (1ULL << 53) || frac > 22) goto slow;
    {
        double v = (double)m / p10[frac];
        *out = neg ? -v : v;
        return 0;
    }
slow: {
        char buf[64];
        if (n == 0 || n >= sizeof buf) return -1;
        memcpy(buf, s, n);
        buf[n] = 0;
        char *endp;
        double v = strtod(buf, &endp);
        if (endp != buf + n || !isfinite(v)) return -1;
        *out = v;
        return 0;
    }
}

/* Integer number text to int64. 0 ok, -1 error. */
static inline int js_int64(const char *s, size_t n, int64_t *out) {
    const char *p = s, *e = s + n;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    if (p == e || e - p > 18) return -1;
    int64_t v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* A span holding a number, either bare (1672515782136) or quoted ("1760342400000"). */
static inline int js_span_int64(const js_span_t *sp, int64_t *out) {
    if (sp->type != 'n' && sp->type != '"') return -1;
    return js_int64(sp->s, sp->n, out);
}
static inline int js_span_double(const js_span_t *sp, double *out) {
    if (sp->type != 'n' && sp->type != '"') return -1;
    return js_decimal(sp->s, sp->n, out);
}

/* ---- helpers shared by the exchange parsers ---- */

/* [["price","qty"], ...] at j (the array at nesting depth `depth`) into
 * buf->lv; *first = index of the first level, *count. 0 ok, -1 malformed or a
 * bad level, -2 buf->lv full. */
static inline int js_levels_at(js_t *j, mts_parse_buf_t *buf, int *first, int *count, int depth) {
    int f = 1, rc;
    *first = buf->n_lv;
    *count = 0;
    if (js_arr_begin(j)) return -1;
    while ((rc = js_arr_next(j, &f)) == 1) {
        int g = 1;
        js_span_t a, b;
        if (js_arr_begin(j) || js_arr_next(j, &g) != 1 || js_value(j, &a, depth + 2) ||
            js_arr_next(j, &g) != 1 || js_value(j, &b, depth + 2) || js_arr_next(j, &g) != 0)
            return -1;
        if (buf->n_lv >= buf->lv_cap) return -2;
        mts_level_t *l = &buf->lv[buf->n_lv];
        if (js_span_double(&a, &l->price) || js_span_double(&b, &l->qty)) return -1;
        if (!(l->price > 0) || l->qty < 0) return -1;
        buf->n_lv++;
        (*count)++;
    }
    return rc;
}

/* The same over a span already scanned (js_value). */
static inline int js_levels(const js_span_t *sp, mts_parse_buf_t *buf, int *first, int *count) {
    if (sp->type != '[') return -1;
    js_t j = {sp->s, sp->s + sp->n};
    return js_levels_at(&j, buf, first, count, 0);
}

/* Copies a symbol, upper-cased; -1 if empty or too long. */
static inline int js_symbol(char dst[MTS_SYMBOL_MAX], const char *s, size_t n) {
    if (n == 0 || n >= MTS_SYMBOL_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        dst[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    dst[n] = 0;
    return 0;
}

static inline void js_event_init(mts_feed_event_t *e, int kind, int exchange) {
    memset(e, 0, offsetof(mts_feed_event_t, rate));
    e->kind = (uint8_t)kind;
    e->exchange = (uint8_t)exchange;
    e->ts_ms = -1;
    e->price = e->qty = NAN;
    e->rate = e->mark_price = NAN;
    e->next_funding_ms = -1;
    e->first_update_id = e->update_id = e->prev_update_id = e->seq = -1;
    e->bids = e->asks = NULL;
    e->n_bids = e->n_asks = 0;
    e->ask_price = e->ask_qty = NAN;
    e->open = e->high = e->low = NAN;
    e->bar_open_ms = e->bar_close_ms = -1;
    e->bar_closed = 0;
}

#endif
