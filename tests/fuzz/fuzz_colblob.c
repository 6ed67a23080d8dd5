/* fuzz_colblob.c — `make fuzz`: the MTC1 blob reader (store/colblob.h)
 * against mutations of valid blobs: byte flips, header fields set to edge
 * values (n, k, flags, ts_bytes, first_ts, step), LEB128 bytes with the
 * continuation bit set, truncation and extension. Each mutant is copied into
 * a heap buffer of exactly its length, so ASan aborts on any read past len.
 * Oracles: a valid blob decodes to what was encoded; for any blob info,
 * decode and lower_bound agree (all refuse with MTS_EPARSE, or all succeed);
 * an accepted blob's size is 32 + ts_bytes + pad + 8*n*k; its decoded times
 * are strictly ascending, start at first_ts and end at last_ts; lower_bound
 * matches a linear scan of the decoded times. Usage: fuzz_colblob ITERATIONS */
#include "store/colblob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static void die(const char *what, long it) {
    fprintf(stderr, "fuzz_colblob: iteration %ld: %s\n", it, what);
    abort();
}

#define MAXN 300
static int64_t ts[MAXN], tout[MAXN + 1];
static double col[MTS_COLBLOB_MAX_COLS][MAXN], out[MTS_COLBLOB_MAX_COLS][MAXN + 1];

/* A valid series: regular, or irregular with gaps of 1 s .. 2^50 s. */
static int64_t make_series(int *k) {
    int64_t n = (int64_t)(next() % MAXN);
    *k = 1 + (int)(next() % MTS_COLBLOB_MAX_COLS);
    int regular = next() % 2;
    int64_t t = (int64_t)(next() % 4000000000ULL) - 2000000000LL, step = 1 + (int64_t)(next() % 86400);
    for (int64_t i = 0; i < n; i++) {
        ts[i] = t;
        t += regular ? step : 1 + (int64_t)(next() >> (14 + next() % 50));
    }
    for (int c = 0; c < *k; c++)
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = next();
            memcpy(&col[c][i], &u, 8);              /* any bits: NaNs too */
        }
    return n;
}

static void check(const uint8_t *blob, size_t len, long it) {
    uint8_t *b = malloc(len ? len : 1);
    if (!b) die("out of memory", it);
    memcpy(b, blob, len);
    mts_colblob_info_t in;
    int rc = mts_colblob_info(b, len, &in);
    double *cols[MTS_COLBLOB_MAX_COLS];
    for (int c = 0; c < MTS_COLBLOB_MAX_COLS; c++) cols[c] = out[c];
    int64_t idx;
    int drc = mts_colblob_decode(b, len, 0, 0, NULL, cols, MTS_COLBLOB_MAX_COLS);
    int lrc = mts_colblob_lower_bound(b, len, (int64_t)next(), &idx);
    if (rc) {
        if (rc != MTS_EPARSE || drc != MTS_EPARSE || lrc != MTS_EPARSE) die("refused, but not alike", it);
        free(b);
        return;
    }
    if (drc || lrc) die("info accepts what decode or lower_bound refuses", it);
    if (in.n < 0 || in.n > MAXN + 1 || in.k < 1 || in.k > MTS_COLBLOB_MAX_COLS) {
        /* a mutated n may be larger than the buffers here: only check the size */
        size_t want = ((MTS_COLBLOB_HEADER + in.ts_bytes + 7) & ~(size_t)7) + (size_t)in.n * (size_t)in.k * 8;
        if (want != len) die("accepted a blob whose size does not add up", it);
        free(b);
        return;
    }
    size_t want = ((MTS_COLBLOB_HEADER + in.ts_bytes + 7) & ~(size_t)7) + (size_t)in.n * (size_t)in.k * 8;
    if (want != len || in.col_off + (size_t)in.n * (size_t)in.k * 8 != len) die("size does not add up", it);
    if (mts_colblob_decode(b, len, 0, in.n, tout, cols, MTS_COLBLOB_MAX_COLS)) die("decode of all rows failed", it);
    for (int64_t i = 1; i < in.n; i++)
        if (tout[i] <= tout[i - 1]) die("decoded times not ascending", it);
    if (in.n > 0 && (tout[0] != in.first_ts || tout[in.n - 1] != in.last_ts)) die("first/last_ts disagree", it);
    for (int q = 0; q < 4 && in.n > 0; q++) {
        /* any time, or one of the rows' times, one before or after (wrapping at the int64 ends) */
        int64_t t = q == 0 ? (int64_t)next() : (int64_t)((uint64_t)tout[next() % (uint64_t)in.n] + next() % 3 - 1);
        int64_t want_i = 0;
        while (want_i < in.n && tout[want_i] < t) want_i++;
        if (mts_colblob_lower_bound(b, len, t, &idx) || idx != want_i) die("lower_bound disagrees with a scan", it);
    }
    int64_t lo = in.n ? (int64_t)(next() % (uint64_t)(in.n + 1)) : 0, hi = lo + (int64_t)(next() % (uint64_t)(in.n - lo + 1));
    if (mts_colblob_decode(b, len, lo, hi, tout, cols, in.k)) die("decode of a sub-range failed", it);
    free(b);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 10000;
    static uint8_t buf[64 + MAXN * 10 + MAXN * MTS_COLBLOB_MAX_COLS * 8 + 64];
    for (long it = 0; it < iters; it++) {
        int k;
        int64_t n = make_series(&k);
        const double *cols[MTS_COLBLOB_MAX_COLS];
        for (int c = 0; c < k; c++) cols[c] = col[c];
        size_t len;
        if (mts_colblob_encode(ts, cols, k, n, buf, sizeof buf - 64, &len)) die("encode of a valid series failed", it);
        if (it % 8 == 0) {        /* the untouched blob reads back what was encoded */
            double *o[MTS_COLBLOB_MAX_COLS];
            for (int c = 0; c < k; c++) o[c] = out[c];
            if (mts_colblob_decode(buf, len, 0, n, tout, o, k)) die("valid blob refused", it);
            if (n && memcmp(tout, ts, (size_t)n * 8)) die("times differ", it);
            for (int c = 0; c < k; c++)
                if (n && memcmp(out[c], col[c], (size_t)n * 8)) die("values differ", it);
        }
        int muts = 1 + (int)(next() % 4);
        for (int m = 0; m < muts; m++) {
            switch (next() % 7) {
            case 0: if (len) buf[next() % len] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: {     /* a header field to an edge value */
                static const uint64_t edge[] = {0, 1, 2, 0x7f, 0x80, 0xffff, 0x10000, 0x7fffffff, 0xffffffff,
                                                0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL};
                static const int off[] = {4, 8, 10, 12, 16, 24};
                static const int size[] = {4, 2, 2, 4, 8, 8};
                int f = (int)(next() % 6);
                uint64_t v = edge[next() % (sizeof edge / sizeof edge[0])];
                memcpy(buf + off[f], &v, (size_t)size[f]);
                break;
            }
            case 2: if (len > MTS_COLBLOB_HEADER) buf[MTS_COLBLOB_HEADER + next() % (len - MTS_COLBLOB_HEADER)] |= 0x80; break;
            case 3: len = next() % (len + 1); break;                       /* truncate */
            case 4: { size_t add = next() % 17; memset(buf + len, (int)(next() & 0xff), add); len += add; break; }
            case 5: if (len > 40) buf[32 + next() % 8] = (uint8_t)next(); break;   /* the ts section */
            default: break;
            }
            if (len > sizeof buf - 64) len = sizeof buf - 64;
        }
        check(buf, len, it);
    }
    printf("fuzz_colblob: %ld iterations ok\n", iters);
    return 0;
}
