/* colblob.c — the MTC1 time-series blob (see colblob.h). */
#include "store/colblob.h"

#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "colblob: the MTC1 format is little-endian");

static const uint8_t MAGIC[4] = {'M', 'T', 'C', '1'};

static size_t pad8(size_t off) { return (off + 7u) & ~(size_t)7u; }

size_t mts_colblob_bound(int64_t n, int k) {
    if (n < 0 || k < 0) return 0;
    /* a LEB128 delta of an int64 takes at most 10 bytes */
    return pad8(MTS_COLBLOB_HEADER + (size_t)(n > 1 ? n - 1 : 0) * 10u) + (size_t)n * (size_t)k * 8u;
}

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put_i64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }

size_t mts_colblob_head_bound(int64_t n) {
    return n < 0 ? 0 : mts_colblob_bound(n, 0);
}

int mts_colblob_encode_head(const int64_t *ts, int k, int64_t n, uint8_t *buf, size_t cap, size_t *head_len) {
    if (!buf || !head_len || k < 1 || k > MTS_COLBLOB_MAX_COLS || n < 0 || n > (int64_t)UINT32_MAX ||
        (n > 0 && !ts))
        return MTS_EINVAL;
    if (cap < mts_colblob_head_bound(n)) return MTS_EINVAL;
    int regular = 1;
    int64_t step = n >= 2 ? ts[1] - ts[0] : 0;
    for (int64_t i = 1; i < n; i++) {
        if (ts[i] <= ts[i - 1]) return MTS_EINVAL;
        if (ts[i] - ts[i - 1] != step) regular = 0;
    }
    size_t off = MTS_COLBLOB_HEADER;
    if (!regular) {
        for (int64_t i = 1; i < n; i++) {
            uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
            while (d >= 0x80) { buf[off++] = (uint8_t)(d | 0x80); d >>= 7; }
            buf[off++] = (uint8_t)d;
        }
    }
    size_t ts_bytes = off - MTS_COLBLOB_HEADER;
    size_t col_off = pad8(off);
    memset(buf + off, 0, col_off - off);
    memcpy(buf, MAGIC, 4);
    put_u32(buf + 4, (uint32_t)n);
    put_u16(buf + 8, (uint16_t)k);
    put_u16(buf + 10, regular ? MTS_COLBLOB_REGULAR : 0);
    put_u32(buf + 12, (uint32_t)ts_bytes);
    put_i64(buf + 16, n > 0 ? ts[0] : 0);
    put_i64(buf + 24, regular ? step : 0);
    *head_len = col_off;
    return 0;
}

int mts_colblob_encode(const int64_t *ts, const double *const *cols, int k, int64_t n, uint8_t *buf, size_t cap,
                       size_t *len) {
    if (!buf || !len || k < 1 || k > MTS_COLBLOB_MAX_COLS || n < 0 || n > (int64_t)UINT32_MAX ||
        (n > 0 && (!ts || !cols)))
        return MTS_EINVAL;
    for (int c = 0; c < k && n > 0; c++)
        if (!cols[c]) return MTS_EINVAL;
    if (cap < mts_colblob_bound(n, k)) return MTS_EINVAL;
    size_t col_off;
    int rc = mts_colblob_encode_head(ts, k, n, buf, cap, &col_off);
    if (rc) return rc;
    for (int c = 0; c < k; c++)
        if (n > 0) memcpy(buf + col_off + (size_t)c * (size_t)n * 8u, cols[c], (size_t)n * 8u);
    *len = col_off + (size_t)n * (size_t)k * 8u;
    return 0;
}

/* Next LEB128 value at *off (< end); MTS_EPARSE when it runs past end or is
 * longer than 10 bytes. */
static int get_varint(const uint8_t *p, size_t *off, size_t end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*off >= end) return MTS_EPARSE;
        uint8_t b = p[(*off)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return MTS_EPARSE;
}

int mts_colblob_info(const uint8_t *blob, size_t len, mts_colblob_info_t *info) {
    if (!blob || !info) return MTS_EINVAL;
    if (len < MTS_COLBLOB_HEADER || memcmp(blob, MAGIC, 4) != 0) return MTS_EPARSE;
    uint32_t n, ts_bytes;
    uint16_t k, flags;
    int64_t first, step;
    memcpy(&n, blob + 4, 4);
    memcpy(&k, blob + 8, 2);
    memcpy(&flags, blob + 10, 2);
    memcpy(&ts_bytes, blob + 12, 4);
    memcpy(&first, blob + 16, 8);
    memcpy(&step, blob + 24, 8);
    if (k < 1 || k > MTS_COLBLOB_MAX_COLS || (flags & ~MTS_COLBLOB_REGULAR)) return MTS_EPARSE;
    int regular = (flags & MTS_COLBLOB_REGULAR) != 0;
    if (regular && (ts_bytes != 0 || step < 0 || (n >= 2 && step == 0))) return MTS_EPARSE;
    if (!regular && (n < 2 || step != 0 || ts_bytes < (uint32_t)(n - 1) || ts_bytes > (uint64_t)(n - 1) * 10u))
        return MTS_EPARSE;
    size_t col_off = pad8(MTS_COLBLOB_HEADER + (size_t)ts_bytes);
    if (len != col_off + (size_t)n * k * 8u) return MTS_EPARSE;
    info->n = n;
    info->k = k;
    info->flags = flags;
    info->first_ts = first;
    info->step = step;
    info->ts_off = MTS_COLBLOB_HEADER;
    info->ts_bytes = ts_bytes;
    info->col_off = col_off;
    if (regular) {
        /* the last time must be an int64: a damaged step or first_ts could
         * make first + (n-1)*step overflow */
        int64_t span = 0, last = first;
        if (n >= 2 && (__builtin_mul_overflow((int64_t)(n - 1), step, &span) ||
                       __builtin_add_overflow(first, span, &last)))
            return MTS_EPARSE;
        info->last_ts = n ? last : 0;
    } else {
        size_t off = MTS_COLBLOB_HEADER, end = off + ts_bytes;
        int64_t t = first;
        for (uint32_t i = 1; i < n; i++) {
            uint64_t d;
            if (get_varint(blob, &off, end, &d) || d == 0 || d > (uint64_t)INT64_MAX ||
                t > INT64_MAX - (int64_t)d)
                return MTS_EPARSE;
            t += (int64_t)d;
        }
        if (off != end) return MTS_EPARSE;
        info->last_ts = t;
    }
    return 0;
}

int mts_colblob_decode(const uint8_t *blob, size_t len, int64_t lo, int64_t hi, int64_t *ts_out,
                       double *const *cols_out, int k_out) {
    mts_colblob_info_t in;
    int rc = mts_colblob_info(blob, len, &in);
    if (rc) return rc;
    if (lo < 0 || hi < lo || hi > in.n || k_out < 0) return MTS_EINVAL;
    int64_t m = hi - lo;
    if (ts_out && m > 0) {
        if (in.flags & MTS_COLBLOB_REGULAR) {
            for (int64_t i = 0; i < m; i++) ts_out[i] = in.first_ts + (lo + i) * in.step;
        } else {
            size_t off = in.ts_off, end = in.ts_off + in.ts_bytes;
            int64_t t = in.first_ts;
            for (int64_t i = 0; i < hi; i++) {
                if (i > 0) {
                    uint64_t d;
                    if (get_varint(blob, &off, end, &d)) return MTS_EPARSE;   /* checked by info */
                    t += (int64_t)d;
                }
                if (i >= lo) ts_out[i - lo] = t;
            }
        }
    }
    int kk = k_out < in.k ? k_out : in.k;
    for (int c = 0; c < kk && m > 0; c++)
        if (cols_out[c]) memcpy(cols_out[c], blob + in.col_off + ((size_t)c * (size_t)in.n + (size_t)lo) * 8u,
                                (size_t)m * 8u);
    return 0;
}

int mts_colblob_lower_bound(const uint8_t *blob, size_t len, int64_t t, int64_t *idx) {
    mts_colblob_info_t in;
    int rc = mts_colblob_info(blob, len, &in);
    if (rc) return rc;
    if (!idx) return MTS_EINVAL;
    if (in.n == 0 || t <= in.first_ts) { *idx = 0; return 0; }
    if (t > in.last_ts) { *idx = in.n; return 0; }
    if (in.flags & MTS_COLBLOB_REGULAR) {
        /* first_ts < t <= last_ts, so step > 0 */
        int64_t q = (t - in.first_ts - 1) / in.step + 1;   /* ceil, without overflow */
        *idx = q;
        return 0;
    }
    size_t off = in.ts_off, end = in.ts_off + in.ts_bytes;
    int64_t cur = in.first_ts;
    for (int64_t i = 1; i < in.n; i++) {
        uint64_t d;
        if (get_varint(blob, &off, end, &d)) return MTS_EPARSE;
        cur += (int64_t)d;
        if (cur >= t) { *idx = i; return 0; }
    }
    *idx = in.n;
    return 0;
}
