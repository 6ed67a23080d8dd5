/* colblob.h — time series as one BLOB: a time column and k float64 columns,
 * encoded for bulk reading (decode = a few memcpy), used for bar blocks
 * (ohlcv_blocks.bars: open, high, low, close, volume) and a run's equity curve
 * (backtest_curves.data). Needs mts.h. No SQLite here: the store binds and
 * reads the bytes.
 *
 * Format "MTC1", every integer and double little-endian (the host's order is
 * checked at build time: big-endian hosts are refused by a static assert):
 *
 *   off  size  field
 *     0     4  magic "MTC1"
 *     4     4  u32 n        rows (0 allowed)
 *     8     2  u16 k        float64 columns (1..16)
 *    10     2  u16 flags    bit0 REGULAR: ts[i] = first_ts + i * step; no ts section
 *    12     4  u32 ts_bytes length of the ts section (0 when REGULAR)
 *    16     8  i64 first_ts ts[0] (0 when n == 0)
 *    24     8  i64 step     REGULAR: the spacing (> 0; 0 when n <= 1); else 0
 *    32         ts section  (not REGULAR) ts[i] - ts[i-1] for i = 1..n-1 as
 *                           unsigned LEB128 (times strictly ascending)
 *     .         zero padding to the next multiple of 8 from the blob's start
 *     .   8*n*k columns     column 0 rows 0..n-1, then column 1, ...
 *
 * Encoded size: 32 + ts_bytes + pad + 8*n*k. Doubles are copied bit for bit
 * (NaN payloads, -0.0 kept): what is decoded is what was encoded.
 *
 * Errors: MTS_EINVAL (times not strictly ascending, k out of range, bad
 * argument), MTS_ENOMEM, MTS_EPARSE (a blob that is not MTC1 or whose sizes do
 * not add up: never read past `len`). */
#ifndef MTS_COLBLOB_H
#define MTS_COLBLOB_H

#include <stddef.h>
#include <stdint.h>
#include "mts.h"

#define MTS_COLBLOB_MAX_COLS 16
#define MTS_COLBLOB_HEADER 32
#define MTS_COLBLOB_REGULAR 1u

/* The header of a blob, read without decoding the columns. */
typedef struct mts_colblob_info {
    int64_t n;            /* rows */
    int     k;            /* columns */
    uint32_t flags;
    int64_t first_ts, step;
    int64_t last_ts;      /* ts[n-1]; REGULAR: first_ts + (n-1)*step; else read from the ts section */
    size_t  ts_off, ts_bytes;   /* where the ts section is */
    size_t  col_off;            /* where column 0 starts; column c at col_off + 8*n*c */
} mts_colblob_info_t;

/* Bytes mts_colblob_encode needs at most for n rows of k columns. */
size_t mts_colblob_bound(int64_t n, int k);

/* Encodes ts[0..n) and cols[0..k)[0..n) into buf (cap bytes, at least
 * mts_colblob_bound(n, k)); *len = bytes written. REGULAR is chosen when n <= 1
 * or every spacing is the same. */
int mts_colblob_encode(const int64_t *ts, const double *const *cols, int k, int64_t n,
                       uint8_t *buf, size_t cap, size_t *len);

/* The blob without its columns, for a caller that writes them itself (e.g.
 * straight into SQLite's pages with sqlite3_blob_write, with no copy of the
 * columns in memory): the header, the ts section and the padding, into buf
 * (cap bytes, at least mts_colblob_head_bound(n)); *head_len = bytes written
 * = where column 0 starts; the whole blob is *head_len + 8*n*k bytes, column c
 * at *head_len + 8*n*c. mts_colblob_encode is this plus the columns. */
size_t mts_colblob_head_bound(int64_t n);
int mts_colblob_encode_head(const int64_t *ts, int k, int64_t n, uint8_t *buf, size_t cap, size_t *head_len);

/* Reads and checks the header and the sizes (not the ts section's values). */
int mts_colblob_info(const uint8_t *blob, size_t len, mts_colblob_info_t *info);

/* Decodes rows [lo, hi) (0 <= lo <= hi <= n) of every column: ts into ts_out
 * (may be NULL), column c into cols_out[c] (an entry may be NULL: skipped);
 * each output has room for hi - lo values. k_out is how many entries cols_out
 * has (columns beyond the blob's k are left alone; the blob's columns beyond
 * k_out are skipped). */
int mts_colblob_decode(const uint8_t *blob, size_t len, int64_t lo, int64_t hi,
                       int64_t *ts_out, double *const *cols_out, int k_out);

/* The index of the first row with ts >= t (n when none), by the ts section
 * (REGULAR: arithmetic; else one pass). MTS_EPARSE on a damaged blob. */
int mts_colblob_lower_bound(const uint8_t *blob, size_t len, int64_t t, int64_t *idx);

#endif
