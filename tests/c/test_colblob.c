/* test_colblob.c — store/colblob.h, the MTC1 time-series blob: round trips
 * (regular, irregular, empty, one row, partial ranges, skipped columns), the
 * layout checked byte for byte against the format table of colblob.h (an
 * independent encoding written out by hand here), doubles kept bit for bit
 * (NaN payloads, -0.0, infinities, subnormals), damaged blobs refused with
 * MTS_EPARSE without reading past len (every blob is copied into a buffer of
 * exactly its length: ASan sees any overread), lower_bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mts.h"
#include "store/colblob.h"

static uint64_t bits(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }
static double from_bits(uint64_t u) { double v; memcpy(&v, &u, 8); return v; }

/* Encodes into a buffer of exactly the encoded length (heap: ASan-checked). */
static uint8_t *encode(const int64_t *ts, const double *const *cols, int k, int64_t n, size_t *len) {
    size_t cap = mts_colblob_bound(n, k);
    uint8_t *tmp = malloc(cap ? cap : 1);
    assert_non_null(tmp);
    assert_int_equal(mts_colblob_encode(ts, cols, k, n, tmp, cap, len), 0);
    assert_true(*len <= cap);
    uint8_t *out = malloc(*len);
    assert_non_null(out);
    memcpy(out, tmp, *len);
    free(tmp);
    return out;
}

static void check_roundtrip(const int64_t *ts, const double *const *cols, int k, int64_t n) {
    size_t len;
    uint8_t *b = encode(ts, cols, k, n, &len);
    mts_colblob_info_t in;
    assert_int_equal(mts_colblob_info(b, len, &in), 0);
    assert_int_equal(in.n, n);
    assert_int_equal(in.k, k);
    if (n > 0) {
        assert_int_equal(in.first_ts, ts[0]);
        assert_int_equal(in.last_ts, ts[n - 1]);
    }
    int64_t *t = malloc(sizeof *t * (size_t)(n + 1));
    double *c[MTS_COLBLOB_MAX_COLS];
    for (int j = 0; j < k; j++) c[j] = malloc(sizeof(double) * (size_t)(n + 1));
    assert_int_equal(mts_colblob_decode(b, len, 0, n, t, c, k), 0);
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(t[i], ts[i]);
        for (int j = 0; j < k; j++) assert_true(bits(c[j][i]) == bits(cols[j][i]));
    }
    /* every sub-range [lo, hi) of a small blob, or a few of a big one */
    for (int64_t lo = 0; lo <= n; lo += n > 40 ? n / 7 + 1 : 1)
        for (int64_t hi = lo; hi <= n; hi += n > 40 ? n / 5 + 1 : 1) {
            assert_int_equal(mts_colblob_decode(b, len, lo, hi, t, c, k), 0);
            for (int64_t i = lo; i < hi; i++) {
                assert_int_equal(t[i - lo], ts[i]);
                for (int j = 0; j < k; j++) assert_true(bits(c[j][i - lo]) == bits(cols[j][i]));
            }
        }
    /* lower_bound against a linear scan, at each time, one before and after */
    for (int64_t i = 0; i < n; i += n > 100 ? 13 : 1) {
        for (int64_t d = -1; d <= 1; d++) {
            if ((d > 0 && ts[i] == INT64_MAX) || (d < 0 && ts[i] == INT64_MIN)) continue;
            int64_t q = ts[i] + d, want = 0, got = -1;
            while (want < n && ts[want] < q) want++;
            assert_int_equal(mts_colblob_lower_bound(b, len, q, &got), 0);
            assert_int_equal(got, want);
        }
    }
    int64_t got = -1;
    assert_int_equal(mts_colblob_lower_bound(b, len, INT64_MIN, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(mts_colblob_lower_bound(b, len, INT64_MAX, &got), 0);
    assert_int_equal(got, n > 0 && ts[n - 1] == INT64_MAX ? n - 1 : n);
    free(t);
    for (int j = 0; j < k; j++) free(c[j]);
    free(b);
}

static void test_regular_roundtrip(void **state) {
    (void)state;
    enum { N = 1024 };
    static int64_t ts[N];
    static double o[N], h[N], l[N], c[N], v[N];
    for (int i = 0; i < N; i++) {
        ts[i] = 1704067200 + (int64_t)i * 60;
        o[i] = 100 + i * 0.01; h[i] = o[i] + 1; l[i] = o[i] - 1; c[i] = o[i] + 0.5; v[i] = i;
    }
    const double *cols[5] = {o, h, l, c, v};
    check_roundtrip(ts, cols, 5, N);
    size_t len;
    uint8_t *b = encode(ts, cols, 5, N, &len);
    assert_int_equal(len, 32 + 8 * N * 5);            /* no ts section */
    mts_colblob_info_t in;
    assert_int_equal(mts_colblob_info(b, len, &in), 0);
    assert_int_equal(in.flags, MTS_COLBLOB_REGULAR);
    assert_int_equal(in.step, 60);
    free(b);
}

static void test_irregular_roundtrip(void **state) {
    (void)state;
    /* gaps of 1 s .. 2^40 s (LEB128 of 1 .. 6 bytes), negative times */
    int64_t ts[9] = {-5000000000LL, -60, 0, 1, 129, 16513, 2113665, 1099511627776LL + 2113665, INT64_MAX};
    double a[9], z[9];
    for (int i = 0; i < 9; i++) { a[i] = i * 1.5; z[i] = -i; }
    const double *cols[2] = {a, z};
    check_roundtrip(ts, cols, 2, 9);
    mts_colblob_info_t in;
    size_t len;
    uint8_t *b = encode(ts, cols, 2, 9, &len);
    assert_int_equal(mts_colblob_info(b, len, &in), 0);
    assert_int_equal(in.flags, 0);
    free(b);
    /* regular with a step so large that the old ceil (t - first + step - 1)
     * overflowed in lower_bound */
    int64_t t3[3] = {INT64_MAX - 8000000000000000000LL, INT64_MAX - 4000000000000000000LL, INT64_MAX};
    check_roundtrip(t3, cols, 2, 3);
    /* one gap in an otherwise regular minute series */
    int64_t t2[5] = {0, 60, 120, 3600, 3660};
    const double *c2[1] = {a};
    check_roundtrip(t2, c2, 1, 5);
}

static void test_empty_and_one_row(void **state) {
    (void)state;
    size_t len;
    uint8_t buf[64];
    assert_int_equal(mts_colblob_encode(NULL, NULL, 5, 0, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 32);
    mts_colblob_info_t in;
    assert_int_equal(mts_colblob_info(buf, len, &in), 0);
    assert_int_equal(in.n, 0);
    int64_t idx = -1;
    assert_int_equal(mts_colblob_lower_bound(buf, len, 0, &idx), 0);
    assert_int_equal(idx, 0);
    assert_int_equal(mts_colblob_decode(buf, len, 0, 0, NULL, NULL, 0), 0);
    assert_int_equal(mts_colblob_decode(buf, len, 0, 1, NULL, NULL, 0), MTS_EINVAL);
    int64_t t = 42;
    double v = -0.0;
    const double *cols[1] = {&v};
    check_roundtrip(&t, cols, 1, 1);
    uint8_t *b = encode(&t, cols, 1, 1, &len);
    assert_int_equal(len, 40);
    assert_int_equal(mts_colblob_info(b, len, &in), 0);
    assert_int_equal(in.step, 0);
    assert_int_equal(in.flags, MTS_COLBLOB_REGULAR);
    free(b);
}

/* NaN with payloads and both signs, -0.0, infinities, subnormals, the
 * largest finite double: every bit kept. */
static void test_doubles_bit_exact(void **state) {
    (void)state;
    const uint64_t pat[] = {0x7ff8000000000000ULL, 0xfff8000000000001ULL, 0x7ff0000000000001ULL,
                            0x7ff4000000abcdefULL, 0x8000000000000000ULL, 0x7ff0000000000000ULL,
                            0xfff0000000000000ULL, 0x0000000000000001ULL, 0x800fffffffffffffULL,
                            0x7fefffffffffffffULL, 0x3fb999999999999aULL};
    enum { N = sizeof pat / sizeof pat[0] };
    int64_t ts[N];
    double c0[N], c1[N];
    for (int i = 0; i < N; i++) {
        ts[i] = i ? ts[i - 1] + (i % 2 ? 7 : 3) : 1000;   /* irregular */
        c0[i] = from_bits(pat[i]);
        c1[i] = from_bits(pat[N - 1 - i]);
    }
    const double *cols[2] = {c0, c1};
    check_roundtrip(ts, cols, 2, N);
    /* the bytes themselves, at the offsets of the format table */
    size_t len;
    uint8_t *b = encode(ts, cols, 2, N, &len);
    mts_colblob_info_t in;
    assert_int_equal(mts_colblob_info(b, len, &in), 0);
    for (int i = 0; i < N; i++) {
        uint64_t u;
        memcpy(&u, b + in.col_off + 8 * (size_t)i, 8);
        assert_true(u == pat[i]);
        memcpy(&u, b + in.col_off + 8 * (size_t)(N + i), 8);
        assert_true(u == pat[N - 1 - i]);
    }
    free(b);
}

/* The layout, written out by hand from the table in colblob.h: a 3-row
 * irregular blob of one column. ts 10, 11, 300: deltas 1 and 289 = LEB128
 * 0x01, 0xa1 0x02 (3 bytes), padded to 40. */
static void test_layout_by_hand(void **state) {
    (void)state;
    int64_t ts[3] = {10, 11, 300};
    double v[3] = {1.0, 2.0, 0.5};
    const double *cols[1] = {v};
    size_t len;
    uint8_t *b = encode(ts, cols, 1, 3, &len);
    uint8_t want[64] = {'M', 'T', 'C', '1', 3, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
                        10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0x01, 0xa1, 0x02, 0, 0, 0, 0, 0,
                        0, 0, 0, 0, 0, 0, 0xf0, 0x3f,          /* 1.0 */
                        0, 0, 0, 0, 0, 0, 0x00, 0x40,          /* 2.0 */
                        0, 0, 0, 0, 0, 0, 0xe0, 0x3f};         /* 0.5 */
    assert_int_equal(len, 64);
    assert_memory_equal(b, want, 64);
    free(b);
    /* regular: step at 24, flags 1, no ts section */
    int64_t r[2] = {-120, -60};
    b = encode(r, cols, 1, 2, &len);
    assert_int_equal(len, 48);
    int64_t step, first;
    memcpy(&first, b + 16, 8);
    memcpy(&step, b + 24, 8);
    assert_int_equal(first, -120);
    assert_int_equal(step, 60);
    assert_int_equal(b[10], 1);
    free(b);
}

static void test_encode_refuses(void **state) {
    (void)state;
    uint8_t buf[256];
    size_t len;
    int64_t ts[3] = {1, 2, 2};
    double v[3] = {0, 0, 0};
    const double *cols[1] = {v};
    assert_int_equal(mts_colblob_encode(ts, cols, 1, 3, buf, sizeof buf, &len), MTS_EINVAL);   /* repeated time */
    int64_t back[2] = {5, 4};
    assert_int_equal(mts_colblob_encode(back, cols, 1, 2, buf, sizeof buf, &len), MTS_EINVAL);
    assert_int_equal(mts_colblob_encode(ts, cols, 0, 2, buf, sizeof buf, &len), MTS_EINVAL);
    assert_int_equal(mts_colblob_encode(ts, cols, MTS_COLBLOB_MAX_COLS + 1, 2, buf, sizeof buf, &len), MTS_EINVAL);
    assert_int_equal(mts_colblob_encode(ts, cols, 1, 2, buf, 8, &len), MTS_EINVAL);            /* too small */
    const double *none[1] = {NULL};
    assert_int_equal(mts_colblob_encode(ts, none, 1, 2, buf, sizeof buf, &len), MTS_EINVAL);
}

/* Copies p[0..n) into a fresh heap buffer of exactly n bytes. */
static uint8_t *exact(const uint8_t *p, size_t n) {
    uint8_t *q = malloc(n ? n : 1);
    assert_non_null(q);
    memcpy(q, p, n);
    return q;
}

static void expect_parse_error(const uint8_t *p, size_t n) {
    uint8_t *q = exact(p, n);
    mts_colblob_info_t in;
    int64_t idx, t[8];
    double c[8], *cols[1] = {c};
    assert_int_equal(mts_colblob_info(q, n, &in), MTS_EPARSE);
    assert_int_equal(mts_colblob_decode(q, n, 0, 0, t, cols, 1), MTS_EPARSE);
    assert_int_equal(mts_colblob_lower_bound(q, n, 5, &idx), MTS_EPARSE);
    free(q);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }

static void test_damaged_refused(void **state) {
    (void)state;
    int64_t ts[4] = {10, 11, 300, 100000};
    double v[4] = {1, 2, 3, 4};
    const double *cols[1] = {v};
    size_t len;
    uint8_t *good = encode(ts, cols, 1, 4, &len);
    uint8_t b[256];
    /* every truncation, and one byte more */
    for (size_t n = 0; n < len; n++) expect_parse_error(good, n);
    memcpy(b, good, len);
    b[len] = 0;
    expect_parse_error(b, len + 1);
    /* magic */
    memcpy(b, good, len); b[3] = '2'; expect_parse_error(b, len);
    /* n larger or smaller than the bytes */
    memcpy(b, good, len); put32(b + 4, 5); expect_parse_error(b, len);
    memcpy(b, good, len); put32(b + 4, 3); expect_parse_error(b, len);
    memcpy(b, good, len); put32(b + 4, 0xffffffffu); expect_parse_error(b, len);
    /* k out of range */
    memcpy(b, good, len); b[8] = 0; expect_parse_error(b, len);
    memcpy(b, good, len); b[8] = 17; expect_parse_error(b, len);
    /* unknown flag bits */
    memcpy(b, good, len); b[10] = 2; expect_parse_error(b, len);
    /* regular with a ts section / irregular with a step */
    memcpy(b, good, len); b[10] = 1; expect_parse_error(b, len);
    memcpy(b, good, len); put64(b + 24, 1); expect_parse_error(b, len);
    /* ts_bytes pointing past the end */
    memcpy(b, good, len); put32(b + 12, 0xfffffff0u); expect_parse_error(b, len);
    /* a delta of 0 (times not ascending) */
    memcpy(b, good, len); b[32] = 0; expect_parse_error(b, len);
    /* a varint that does not end inside the ts section */
    memcpy(b, good, len); b[32] = 0x81; b[33] = 0xa1; b[34] = 0x82; b[35] = 0x80; expect_parse_error(b, len);
    {   /* irregular with a delta that overflows */
        int64_t t3[3] = {INT64_MAX - 100, INT64_MAX - 99, INT64_MAX};
        uint8_t *g = encode(t3, cols, 1, 3, &len);
        memcpy(b, g, len);
        free(g);
        mts_colblob_info_t in;
        assert_int_equal(mts_colblob_info(b, len, &in), 0);
        put64(b + 16, INT64_MAX - 50);           /* now 50 + 1 + 99 overflows */
        expect_parse_error(b, len);
    }
    /* regular n >= 2 with step 0, or a negative step; a step or first_ts
     * whose last time would not be an int64 (found by fuzz_colblob: it was
     * signed overflow in info) */
    {
        int64_t r[3] = {0, 60, 120};
        uint8_t *g = encode(r, cols, 1, 3, &len);
        memcpy(b, g, len); put64(b + 24, 0); expect_parse_error(b, len);
        memcpy(b, g, len); put64(b + 24, -60); expect_parse_error(b, len);
        memcpy(b, g, len); put64(b + 24, INT64_MAX / 2 + 1); expect_parse_error(b, len);
        memcpy(b, g, len); put64(b + 16, INT64_MAX - 100); expect_parse_error(b, len);
        free(g);
    }
    free(good);
    /* decode: a range outside the rows */
    good = encode(ts, cols, 1, 4, &len);
    int64_t t[8];
    double c[8], *co[1] = {c};
    assert_int_equal(mts_colblob_decode(good, len, 2, 1, t, co, 1), MTS_EINVAL);
    assert_int_equal(mts_colblob_decode(good, len, 0, 5, t, co, 1), MTS_EINVAL);
    assert_int_equal(mts_colblob_decode(good, len, -1, 2, t, co, 1), MTS_EINVAL);
    free(good);
}

/* lower_bound on a regular blob by arithmetic, at and between the rows. */
static void test_lower_bound_regular(void **state) {
    (void)state;
    int64_t ts[4] = {100, 160, 220, 280};
    double v[4] = {0};
    const double *cols[1] = {v};
    size_t len;
    uint8_t *b = encode(ts, cols, 1, 4, &len);
    const int64_t q[] = {INT64_MIN, 99, 100, 101, 159, 160, 161, 279, 280, 281, INT64_MAX};
    const int64_t want[] = {0, 0, 0, 1, 1, 1, 2, 3, 3, 4, 4};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int64_t idx = -1;
        assert_int_equal(mts_colblob_lower_bound(b, len, q[i], &idx), 0);
        assert_int_equal(idx, want[i]);
    }
    assert_int_equal(mts_colblob_lower_bound(b, len, 0, NULL), MTS_EINVAL);
    free(b);
}

/* Columns beyond k_out are skipped, NULL outputs skipped, k_out > k leaves
 * the extra outputs alone. */
static void test_decode_some_columns(void **state) {
    (void)state;
    int64_t ts[3] = {1, 2, 3};
    double a[3] = {1, 2, 3}, z[3] = {7, 8, 9};
    const double *cols[2] = {a, z};
    size_t len;
    uint8_t *b = encode(ts, cols, 2, 3, &len);
    double oa[3] = {0}, oz[3] = {0}, extra[3] = {-1, -1, -1};
    double *out[3] = {NULL, oz, extra};
    assert_int_equal(mts_colblob_decode(b, len, 1, 3, NULL, out, 3), 0);
    assert_true(oz[0] == 8 && oz[1] == 9 && oa[0] == 0 && extra[0] == -1);
    double *one[1] = {oa};
    assert_int_equal(mts_colblob_decode(b, len, 0, 3, NULL, one, 1), 0);
    assert_true(oa[2] == 3);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_roundtrip),
        cmocka_unit_test(test_irregular_roundtrip),
        cmocka_unit_test(test_empty_and_one_row),
        cmocka_unit_test(test_doubles_bit_exact),
        cmocka_unit_test(test_layout_by_hand),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_damaged_refused),
        cmocka_unit_test(test_lower_bound_regular),
        cmocka_unit_test(test_decode_some_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
