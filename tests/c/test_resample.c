/* test_resample.c — market/resample.c: hand-computed cases (gaps, a single
 * fine bar, the forming bar, weekly buckets opening on Mondays, 1m -> 1h,
 * bad input), the streaming form against the batch form, and the key check
 * against data nobody here produced: Binance's BTCUSDT 1h bars resampled to 4h
 * and to 1d equal Binance's own 4h and daily bars on every window that has all
 * its hours. The CSVs are read by a small reader in this file (its own date
 * arithmetic); the loader (market/series.h) is checked through a store too.
 *
 * Data: ../shared/data/crypto/{intraday,daily}/ (or data/crypto/..., or
 * $MTS_SHARED_DATA/crypto/...). Missing files fail the test, naming the paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdb.h"
#include "backtest/backtest.h"
#include "market/interval.h"
#include "market/resample.h"
#include "market/series.h"
#include "mts.h"
#include "store/store.h"

#define H 3600LL
#define D 86400LL
#define T2024 1704067200LL            /* 2024-01-01T00:00:00Z, a Monday */

static void push_bar(mts_bars_t *b, int64_t ts, double o, double h, double l, double c, double v) {
    if (b->n == b->cap) assert_int_equal(mts_bars_reserve(b, b->cap ? b->cap * 2 : 64), 0);
    int64_t i = b->n++;
    b->ts[i] = ts;
    b->open[i] = o;
    b->high[i] = h;
    b->low[i] = l;
    b->close[i] = c;
    b->volume[i] = v;
}

static void expect_bar(const mts_bars_t *b, int64_t i, int64_t ts, double o, double h, double l, double c, double v) {
    assert_true(i < b->n);
    assert_int_equal(b->ts[i], ts);
    assert_true(b->open[i] == o);
    assert_true(b->high[i] == h);
    assert_true(b->low[i] == l);
    assert_true(b->close[i] == c);
    assert_true(fabs(b->volume[i] - v) <= 1e-12 * fabs(v));
}

/* Hours 00..07 of 2024-01-01 into two 4h bars, values worked out by hand. */
static void test_hours_into_4h(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    /*               open   high  low   close  vol */
    push_bar(&f, T2024 + 0 * H, 10, 12, 9, 11, 1);
    push_bar(&f, T2024 + 1 * H, 11, 15, 10, 14, 2);
    push_bar(&f, T2024 + 2 * H, 14, 14.5, 8, 9, 3);
    push_bar(&f, T2024 + 3 * H, 9, 10, 8.5, 9.5, 4);
    push_bar(&f, T2024 + 4 * H, 9.5, 9.75, 7, 7.5, 0.5);
    push_bar(&f, T2024 + 5 * H, 7.5, 8, 7.25, 8, 0.25);
    push_bar(&f, T2024 + 6 * H, 8, 20, 8, 19, 10);
    push_bar(&f, T2024 + 7 * H, 19, 19, 18, 18.5, 0);
    mts_resample_info_t in;
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 2);
    expect_bar(&o, 0, T2024, 10, 15, 8, 9.5, 10);
    expect_bar(&o, 1, T2024 + 4 * H, 9.5, 20, 7, 18.5, 10.75);
    assert_int_equal(in.bars, 2);
    assert_int_equal(in.partial, 0);
    assert_int_equal(in.forming, 0);
    assert_int_equal(in.fine_used, 8);
    /* the same 8 hours into 1d: the day is not over (16 hours missing, no clock) */
    assert_int_equal(mts_resample_bars(&f, H, D, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 0);
    assert_int_equal(in.forming, 1);
    /* in place gives the same bars */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &f, NULL), 0);
    assert_int_equal(f.n, 2);
    expect_bar(&f, 0, T2024, 10, 15, 8, 9.5, 10);
    expect_bar(&f, 1, T2024 + 4 * H, 9.5, 20, 7, 18.5, 10.75);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* Gaps: a missing hour inside a bucket, missing last hours (closed by a later
 * bar), an empty bucket (no bar), and MTS_RESAMPLE_COMPLETE_ONLY. */
static void test_gaps(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    push_bar(&f, T2024 + 0 * H, 10, 11, 9, 10.5, 1);
    push_bar(&f, T2024 + 1 * H, 10.5, 12, 10, 11, 1);
    /* 02:00 missing */
    push_bar(&f, T2024 + 3 * H, 11, 11.5, 6, 7, 1);
    push_bar(&f, T2024 + 4 * H, 7, 8, 6.5, 7.5, 2);
    push_bar(&f, T2024 + 5 * H, 7.5, 9, 7, 8.5, 2);
    /* 06:00, 07:00 missing; 08:00..11:00 missing (an empty bucket) */
    push_bar(&f, T2024 + 12 * H, 20, 21, 19, 20.5, 3);
    push_bar(&f, T2024 + 13 * H, 20.5, 22, 20, 21, 3);
    push_bar(&f, T2024 + 14 * H, 21, 21, 18, 19, 3);
    push_bar(&f, T2024 + 15 * H, 19, 19.5, 18.5, 19.25, 3);
    mts_resample_info_t in;
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 3);
    expect_bar(&o, 0, T2024, 10, 12, 6, 7, 3);                    /* 3 of 4 hours */
    expect_bar(&o, 1, T2024 + 4 * H, 7, 9, 6.5, 8.5, 4);          /* 2 of 4, closed by 12:00 */
    expect_bar(&o, 2, T2024 + 12 * H, 20, 22, 18, 19.25, 12);     /* complete */
    assert_int_equal(in.partial, 2);
    assert_int_equal(in.skipped, 0);
    assert_int_equal(in.fine_used, 9);
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, MTS_RESAMPLE_COMPLETE_ONLY, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024 + 12 * H, 20, 22, 18, 19.25, 12);
    assert_int_equal(in.partial, 0);
    assert_int_equal(in.skipped, 2);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* One fine bar: in the middle of its bucket it is a forming bar (no clock) or
 * a partial closed bar (clock past the end); as the bucket's last hour it
 * closes it. */
static void test_single_bar(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    mts_resample_info_t in;
    push_bar(&f, T2024 + 5 * H, 7, 8, 6, 7.5, 42);
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 0);
    assert_int_equal(in.forming, 1);
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, T2024 + 8 * H, 0, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024 + 4 * H, 7, 8, 6, 7.5, 42);
    assert_int_equal(in.partial, 1);
    assert_int_equal(in.forming, 0);
    f.ts[0] = T2024 + 7 * H;                                     /* the last hour of 04:00-08:00 */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024 + 4 * H, 7, 8, 6, 7.5, 42);
    assert_int_equal(in.partial, 1);
    /* empty input: nothing, no error */
    f.n = 0;
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 0);
    assert_int_equal(in.forming, 0);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* The bar still forming is never emitted as closed, by the data or the clock. */
static void test_forming(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    mts_resample_info_t in;
    for (int i = 0; i < 6; i++) push_bar(&f, T2024 + i * H, 100 + i, 101 + i, 99 + i, 100.5 + i, 1);
    /* no clock: 00:00-04:00 closed, 04:00-08:00 has 2 of 4 hours: forming */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024, 100, 104, 99, 103.5, 4);
    assert_int_equal(in.forming, 1);
    /* clock at 07:59:59: still forming */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, T2024 + 8 * H - 1, 0, &o, &in), 0);
    assert_int_equal(o.n, 1);
    assert_int_equal(in.forming, 1);
    /* clock at 08:00: the bucket is over; its 2 hours make a partial bar */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, T2024 + 8 * H, 0, &o, &in), 0);
    assert_int_equal(o.n, 2);
    expect_bar(&o, 1, T2024 + 4 * H, 104, 106, 103, 105.5, 2);
    assert_int_equal(in.partial, 1);
    assert_int_equal(in.forming, 0);
    /* clock at 03:30: the 03:00 hour has not closed, so neither has 00:00-04:00 */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, T2024 + 3 * H + 1800, 0, &o, &in), 0);
    assert_int_equal(o.n, 0);
    assert_int_equal(in.forming, 1);
    /* the streaming form: the forming bar is visible, marked as such, never pushed out */
    mts_resampler_t r;
    mts_coarse_bar_t c[2], fb;
    assert_int_equal(mts_resampler_init(&r, H, 4 * H), 0);
    assert_int_equal(mts_resampler_forming(&r, &fb), 0);
    int closed = 0;
    for (int i = 0; i < 6; i++) closed += mts_resampler_push(&r, f.ts[i], f.open[i], f.high[i], f.low[i], f.close[i], f.volume[i], c);
    assert_int_equal(closed, 1);
    assert_int_equal(mts_resampler_forming(&r, &fb), 1);
    assert_int_equal(fb.ts, T2024 + 4 * H);
    assert_int_equal(fb.fine, 2);
    assert_int_equal(fb.expected, 4);
    assert_int_equal(mts_resampler_tick(&r, T2024 + 8 * H - 1, &fb), 0);
    assert_int_equal(mts_resampler_tick(&r, T2024 + 8 * H, &fb), 1);
    assert_true(fb.close == 105.5);
    assert_int_equal(mts_resampler_forming(&r, &fb), 0);
    /* the 07:00 hour arriving after the clock closed 04:00-08:00: refused, not a second 04:00 bar */
    assert_int_equal(mts_resampler_push(&r, T2024 + 7 * H, 1, 1, 1, 1, 1, c), MTS_ERANGE);
    assert_int_equal(mts_resampler_forming(&r, &fb), 0);
    assert_int_equal(mts_resampler_push(&r, T2024 + 8 * H, 1, 2, 0.5, 1.5, 1, c), 0);   /* the next bucket is fine */
    assert_int_equal(mts_resampler_forming(&r, &fb), 1);
    assert_int_equal(fb.ts, T2024 + 8 * H);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* Weekly bars open on Mondays: daily bars from Thursday 2023-12-28 to Sunday
 * 2024-01-14 make the week of Monday 2023-12-25 (4 of 7 days, closed by the
 * next Monday's bar) and the full weeks of 2024-01-01 and 2024-01-08. */
static void test_weeks_on_mondays(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    mts_resample_info_t in;
    int64_t first = T2024 - 4 * D;                               /* Thursday 2023-12-28 */
    for (int i = 0; i < 18; i++) {                               /* to Sunday 2024-01-14 */
        double p = 100 + i;                                      /* day i: open p, high p+2, low p-1, close p+1, vol i+1 */
        push_bar(&f, first + i * D, p, p + 2, p - 1, p + 1, i + 1);
    }
    assert_int_equal(mts_resample_bars(&f, D, 7 * D, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 3);
    /* days 0..3: open 100, high 103+2=105, low 99, close 104, vol 1+2+3+4 = 10 */
    expect_bar(&o, 0, T2024 - 7 * D, 100, 105, 99, 104, 10);
    /* days 4..10: open 104, high 112, low 103, close 111, vol 5+..+11 = 56 */
    expect_bar(&o, 1, T2024, 104, 112, 103, 111, 56);
    /* days 11..17: open 111, high 119, low 110, close 118, vol 12+..+18 = 105 */
    expect_bar(&o, 2, T2024 + 7 * D, 111, 119, 110, 118, 105);
    assert_int_equal(in.partial, 1);
    /* 1h into 1w too: the week of Monday 2024-01-08 from its 168 hours */
    mts_bars_t h = {0};
    for (int i = 0; i < 168; i++) push_bar(&h, T2024 + 7 * D + i * H, 50, 50 + (i == 100), 50 - (i == 3), 50, 0.5);
    assert_int_equal(mts_resample_bars(&h, H, 7 * D, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024 + 7 * D, 50, 51, 49, 50, 84);
    assert_int_equal(in.partial, 0);
    mts_bars_free(&h);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* 1m -> 1h: two hours of minutes, minute i: open 1000+i, high +0.5, low -0.25,
 * close +0.25, volume 1. Hour 0: open 1000, high 1059.5, low 999.75, close
 * 1059.25, vol 60. Hour 1: open 1060, high 1119.5, low 1059.75, close 1119.25. */
static void test_minutes_into_hours(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    mts_resample_info_t in;
    for (int i = 0; i < 120; i++) {
        double p = 1000 + i;
        push_bar(&f, T2024 + 60LL * i, p, p + 0.5, p - 0.25, p + 0.25, 1);
    }
    assert_int_equal(mts_resample_bars(&f, 60, H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    assert_int_equal(o.n, 2);
    expect_bar(&o, 0, T2024, 1000, 1059.5, 999.75, 1059.25, 60);
    expect_bar(&o, 1, T2024 + H, 1060, 1119.5, 1059.75, 1119.25, 60);
    assert_int_equal(in.fine_used, 120);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

static void test_bad_input(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    mts_resample_info_t in;
    push_bar(&f, T2024, 1, 1, 1, 1, 1);
    push_bar(&f, T2024 + 2 * H, 1, 1, 1, 1, 1);
    push_bar(&f, T2024 + H, 1, 1, 1, 1, 1);                     /* out of order */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(in.bad_index, 2);
    assert_int_equal(o.n, 0);
    f.ts[2] = T2024 + 2 * H;                                     /* duplicate */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(in.bad_index, 2);
    f.ts[2] = T2024 + 3 * H + 1800;                              /* off the hour grid */
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(in.bad_index, 2);
    f.ts[2] = T2024 + 3 * H;
    /* intervals that do not resample */
    assert_int_equal(mts_resample_bars(&f, H, H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(mts_resample_bars(&f, 4 * H, 6 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(mts_resample_bars(&f, D, H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), MTS_EINVAL);
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &o, &in), 0);
    /* streaming: a bar not after the last is refused and changes nothing */
    mts_resampler_t r;
    mts_coarse_bar_t c[2];
    assert_int_equal(mts_resampler_init(&r, H, 5 * H), MTS_EINVAL);
    assert_int_equal(mts_resampler_init(&r, H, 4 * H), 0);
    assert_int_equal(mts_resampler_push(&r, T2024 + H, 1, 2, 0.5, 1.5, 1, c), 0);
    assert_int_equal(mts_resampler_push(&r, T2024 + H, 9, 9, 9, 9, 9, c), MTS_EINVAL);
    assert_int_equal(mts_resampler_push(&r, T2024, 9, 9, 9, 9, 9, c), MTS_EINVAL);
    assert_int_equal(mts_resampler_push(&r, T2024 + 2 * H + 1, 9, 9, 9, 9, 9, c), MTS_EINVAL);
    assert_int_equal(mts_resampler_push(&r, T2024 + 3 * H, 1.5, 3, 1, 2, 1, c), 1);
    assert_int_equal(c[0].ts, T2024);
    assert_true(c[0].open == 1 && c[0].high == 3 && c[0].low == 0.5 && c[0].close == 2 && c[0].volume == 2);
    assert_int_equal(c[0].fine, 2);
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* mts_resampler_feed (the runner's coarse views of its own bars): fine bars
 * fed in chunks of any size into caller-reserved arrays give the batch form's
 * bars; a full out and a bad bar are refused naming the fine bar. */
static void test_feed(void **state) {
    (void)state;
    mts_bars_t f = {0}, batch = {0}, out = {0};
    for (int64_t k = 0; k < 75; k++) {
        if (k == 9 || k == 10 || k == 30) continue;             /* gaps: a partial 4h bar and a closing one */
        double x = 100 + (double)((k * 37) % 11);
        push_bar(&f, T2024 + k * H, x, x + 2, x - 1.5, x + 0.25, 1 + 0.5 * (double)k);
    }
    assert_int_equal(mts_resample_bars(&f, H, 4 * H, MTS_RESAMPLE_NO_CLOCK, 0, &batch, NULL), 0);
    assert_int_equal(batch.n, 18);                             /* 75 hours: 18 whole buckets, the 19th forming */
    assert_int_equal(mts_bars_reserve(&out, mts_resample_bound(&f, H, 4 * H) + 2), 0);
    mts_resampler_t r;
    assert_int_equal(mts_resampler_init(&r, H, 4 * H), 0);
    int64_t bad = 0, i = 0, step = 1;
    while (i < f.n) {
        int64_t to = i + step < f.n ? i + step : f.n;
        assert_int_equal(mts_resampler_feed(&r, &f, i, to, &out, &bad), 0);
        assert_int_equal(bad, -1);
        i = to;
        step = step % 5 + 1;
    }
    assert_int_equal(out.n, batch.n);
    for (int64_t k = 0; k < batch.n; k++)
        expect_bar(&out, k, batch.ts[k], batch.open[k], batch.high[k], batch.low[k], batch.close[k], batch.volume[k]);
    /* out full (fewer than 2 free places, what one push can close): refused at
     * that fine bar: buckets 0 (hours 0-3) and 1 (4-7) out, then hour 8 (index 8)
     * pushed with 1 free place: refused */
    mts_bars_t small = {0};
    assert_int_equal(mts_bars_reserve(&small, 3), 0);
    assert_int_equal(mts_resampler_init(&r, H, 4 * H), 0);
    assert_int_equal(mts_resampler_feed(&r, &f, 0, f.n, &small, &bad), MTS_ERANGE);
    assert_int_equal(small.n, 2);
    assert_int_equal(bad, 8);
    /* a bar out of order: the bars before it pushed, the bad one named */
    f.ts[6] = f.ts[5];
    out.n = 0;
    assert_int_equal(mts_resampler_init(&r, H, 4 * H), 0);
    assert_int_equal(mts_resampler_feed(&r, &f, 0, f.n, &out, &bad), MTS_EINVAL);
    assert_int_equal(bad, 6);
    assert_int_equal(out.n, 1);
    assert_int_equal(mts_resampler_feed(&r, &f, 5, f.n + 1, &out, &bad), MTS_EINVAL);   /* past fine->n */
    mts_bars_free(&small);
    mts_bars_free(&f);
    mts_bars_free(&batch);
    mts_bars_free(&out);
}

/* The streaming form gives the batch form's bars: a long 1h series with
 * random gaps (a fixed LCG) into 4h, 1d and 1w, with and without a clock. */
static void test_stream_equals_batch(void **state) {
    (void)state;
    mts_bars_t f = {0}, o = {0};
    uint64_t x = 12345;
    double p = 100;
    for (int64_t i = 0; i < 24 * 200; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned u = (unsigned)(x >> 33);
        if (u % 10 == 0) continue;                               /* ~10 % of the hours missing */
        if (u % 97 == 1) { i += 30; continue; }                  /* and a few long gaps */
        double o1 = p, c1 = p * (1 + ((int)(u % 201) - 100) / 10000.0);
        push_bar(&f, T2024 + i * H, o1, fmax(o1, c1) * 1.001, fmin(o1, c1) * 0.999, c1, (u % 1000) / 7.0);
        p = c1;
    }
    const int64_t coarse[3] = {4 * H, D, 7 * D};
    const int64_t nows[3] = {MTS_RESAMPLE_NO_CLOCK, f.ts[f.n - 1] + 3 * D, f.ts[f.n / 2] + 1};
    for (int ci = 0; ci < 3; ci++)
        for (int ni = 0; ni < 3; ni++) {
            int64_t now = nows[ni];
            mts_resample_info_t in;
            assert_int_equal(mts_resample_bars(&f, H, coarse[ci], now, 0, &o, &in), 0);
            mts_resampler_t r;
            mts_coarse_bar_t c[2];
            assert_int_equal(mts_resampler_init(&r, H, coarse[ci]), 0);
            int64_t k = 0, partial = 0;
            for (int64_t i = 0; i < f.n; i++) {
                if (now != MTS_RESAMPLE_NO_CLOCK && f.ts[i] + H > now) break;
                int m = mts_resampler_push(&r, f.ts[i], f.open[i], f.high[i], f.low[i], f.close[i], f.volume[i], c);
                assert_true(m >= 0);
                for (int j = 0; j < m; j++, k++) {
                    assert_true(k < o.n);
                    assert_int_equal(c[j].ts, o.ts[k]);
                    assert_true(c[j].open == o.open[k] && c[j].high == o.high[k] && c[j].low == o.low[k]);
                    assert_true(c[j].close == o.close[k] && c[j].volume == o.volume[k]);
                    partial += c[j].fine < c[j].expected;
                }
            }
            if (mts_resampler_tick(&r, now, &c[0])) {
                assert_true(k < o.n);
                assert_int_equal(c[0].ts, o.ts[k]);
                assert_true(c[0].close == o.close[k]);
                partial += c[0].fine < c[0].expected;
                k++;
            }
            assert_int_equal(k, o.n);
            assert_int_equal(partial, in.partial);
            assert_true(in.partial > 0);                         /* the gaps were exercised */
        }
    mts_bars_free(&f);
    mts_bars_free(&o);
}

/* ---- Binance ---- */

/* days since 1970-01-01 of a civil date (H. Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS[+00:00]" -> unix s */
static int64_t parse_time(const char *s) {
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &se) != 6) return INT64_MIN;
    return days_from_civil(y, mo, d) * D + h * 3600 + mi * 60 + se;
}

static FILE *open_data(const char *sub, const char *name, char *used, size_t n) {
    const char *env = getenv("MTS_SHARED_DATA");
    const char *dirs[] = {env, "../shared/data", "data"};
    const char *subs[] = {sub, ""};
    for (size_t i = 0; i < 3; i++) {
        if (!dirs[i]) continue;
        for (size_t j = 0; j < 2; j++) {
            snprintf(used, n, "%s/crypto/%s%s%s", dirs[i], subs[j], *subs[j] ? "/" : "", name);
            FILE *fp = fopen(used, "r");
            if (fp) return fp;
        }
    }
    snprintf(used, n, "%s (looked in $MTS_SHARED_DATA, ../shared/data, data under crypto/%s/ and crypto/)", name, sub);
    return NULL;
}

/* Columns: time, open, high, low, close, volume, (extra ignored). */
static void read_csv(const char *sub, const char *name, mts_bars_t *b) {
    char path[512], line[512];
    FILE *fp = open_data(sub, name, path, sizeof path);
    if (!fp) fail_msg("missing Binance data file %s", path);
    assert_non_null(fgets(line, sizeof line, fp));               /* header */
    while (fgets(line, sizeof line, fp)) {
        char *f[6];
        char *p = line;
        for (int k = 0; k < 6; k++) {
            f[k] = p;
            p = strchr(p, ',');
            if (!p && k < 5) fail_msg("%s: short line %s", path, line);
            if (p) *p++ = '\0';
        }
        int64_t ts = parse_time(f[0]);
        assert_true(ts != INT64_MIN);
        push_bar(b, ts, strtod(f[1], NULL), strtod(f[2], NULL), strtod(f[3], NULL), strtod(f[4], NULL),
                 strtod(f[5], NULL));
    }
    fclose(fp);
    assert_true(b->n > 1000);
}

/* fine bars (hourly) in [t, t + len), by binary search */
static int64_t count_in(const mts_bars_t *b, int64_t t, int64_t len) {
    int64_t lo = 0, hi = b->n;
    while (lo < hi) {
        int64_t m = (lo + hi) / 2;
        if (b->ts[m] < t) lo = m + 1; else hi = m;
    }
    int64_t c = 0;
    while (lo + c < b->n && b->ts[lo + c] < t + len) c++;
    return c;
}

static int64_t find(const mts_bars_t *b, int64_t t) {
    int64_t lo = 0, hi = b->n;
    while (lo < hi) {
        int64_t m = (lo + hi) / 2;
        if (b->ts[m] < t) lo = m + 1; else hi = m;
    }
    return lo < b->n && b->ts[lo] == t ? lo : -1;
}

static void check_against(const mts_bars_t *hours, const char *sub, const char *name, int64_t len) {
    mts_bars_t theirs = {0}, ours = {0};
    read_csv(sub, name, &theirs);
    mts_resample_info_t in;
    assert_int_equal(mts_resample_bars(hours, H, len, MTS_RESAMPLE_NO_CLOCK, 0, &ours, &in), 0);
    int64_t first = hours->ts[0], last_end = hours->ts[hours->n - 1] + H;
    int64_t compared = 0, incomplete = 0, partial_equal = 0, empty = 0;
    for (int64_t i = 0; i < theirs.n; i++) {
        int64_t t = theirs.ts[i];
        if (t < first || t + len > last_end) continue;           /* outside the hourly file */
        int64_t have = count_in(hours, t, len);
        int64_t k = find(&ours, t);
        if (have != len / H) {                                   /* a window without all its hours */
            incomplete++;
            if (have == 0) { empty++; assert_int_equal(k, -1); continue; }
            assert_true(k >= 0);                                 /* emitted, counted as partial */
            partial_equal += ours.open[k] == theirs.open[i] && ours.high[k] == theirs.high[i] &&
                             ours.low[k] == theirs.low[i] && ours.close[k] == theirs.close[i];
            continue;
        }
        if (k < 0) fail_msg("%s: no resampled bar for %lld", name, (long long)t);
        if (ours.open[k] != theirs.open[i] || ours.high[k] != theirs.high[i] || ours.low[k] != theirs.low[i] ||
            ours.close[k] != theirs.close[i] ||
            fabs(ours.volume[k] - theirs.volume[i]) > 1e-9 * fabs(theirs.volume[i]))
            fail_msg("%s at %lld: ours %.17g %.17g %.17g %.17g %.17g, Binance %.17g %.17g %.17g %.17g %.17g", name,
                     (long long)t, ours.open[k], ours.high[k], ours.low[k], ours.close[k], ours.volume[k],
                     theirs.open[i], theirs.high[i], theirs.low[i], theirs.close[i], theirs.volume[i]);
        compared++;
    }
    print_message("resample 1h -> %s vs Binance %s: %lld windows equal (OHLC exact, volume 1e-9), %lld skipped "
                  "without all their hours (%lld with none; of the others %lld still equal in OHLC); "
                  "resampler: %lld bars, %lld partial, forming %lld\n",
                  len == D ? "1d" : "4h", name, (long long)compared, (long long)incomplete, (long long)empty,
                  (long long)partial_equal, (long long)in.bars, (long long)in.partial, (long long)in.forming);
    assert_true(compared > (len == D ? 1500 : 9000));
    assert_int_equal(in.partial, incomplete - empty);
    mts_bars_free(&theirs);
    mts_bars_free(&ours);
}

static void test_binance_1h_to_4h_and_1d(void **state) {
    (void)state;
    mts_bars_t hours = {0};
    read_csv("intraday", "BTCUSDT_1h_binance_spot.csv", &hours);
    check_against(&hours, "intraday", "BTCUSDT_4h_binance_spot.csv", 4 * H);
    check_against(&hours, "daily", "BTCUSDT_1d_binance_spot.csv", D);
    mts_bars_free(&hours);
}

/* ---- the loader: stored or resampled, through a store ---- */

typedef struct fx {
    char dir[64], path[128];
    mts_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("resample", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* 1h stored: 4h is resampled from it, 1h is as stored, 30m is refused with a
 * message naming what is stored; once 4h is stored too, it wins. A --from in
 * the middle of a bucket leaves that bucket out. */
static void test_series_loader(void **state) {
    fx_t *f = *state;
    mts_bars_t h = {0}, o = {0};
    /* 2024-01-01 00:00 .. 11:00: hour i: open 100+i, high 101+i, low 99+i, close 100.5+i, vol 1 */
    for (int i = 0; i < 12; i++) push_bar(&h, T2024 + i * H, 100 + i, 101 + i, 99 + i, 100.5 + i, 1);
    h.n = 10;                                                    /* 00:00..09:00: 08:00-12:00 is forming */
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1h", &h), 0);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1d", &h), 0);   /* another series: not used for 4h */
    mts_series_info_t in;
    char how[128];
    assert_int_equal(mts_series_load_bars(f->s, "coin", "4h", INT64_MIN, INT64_MAX, &o, &in), 0);
    assert_int_equal(o.n, 2);
    expect_bar(&o, 0, T2024, 100, 104, 99, 103.5, 4);
    expect_bar(&o, 1, T2024 + 4 * H, 104, 108, 103, 107.5, 4);
    assert_int_equal(in.resampled, 1);
    assert_string_equal(in.source, "1h");
    assert_string_equal(in.interval, "4h");
    assert_int_equal(in.resample.forming, 1);
    assert_string_equal(mts_series_describe(&in, how, sizeof how), "resampled from 1h");
    /* [from, to] by open time: from 01:00 leaves out the 00:00 bar; to 04:00 keeps the 04:00 bar whole */
    assert_int_equal(mts_series_load_bars(f->s, "coin", "4h", T2024 + H, T2024 + 4 * H, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024 + 4 * H, 104, 108, 103, 107.5, 4);
    assert_int_equal(in.resample.partial, 0);
    assert_int_equal(mts_series_load_bars(f->s, "coin", "4h", INT64_MIN, T2024 + 3 * H, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024, 100, 104, 99, 103.5, 4);
    /* as stored */
    assert_int_equal(mts_series_load_bars(f->s, "coin", "1h", INT64_MIN, INT64_MAX, &o, &in), 0);
    assert_int_equal(o.n, 10);
    assert_int_equal(in.resampled, 0);
    assert_string_equal(mts_series_describe(&in, how, sizeof how), "stored 1h");
    /* nothing finer than 1h */
    assert_int_equal(mts_series_load_bars(f->s, "coin", "30m", INT64_MIN, INT64_MAX, &o, &in), MTS_ENOTFOUND);
    assert_int_equal(o.n, 0);
    assert_non_null(strstr(in.error, "no 30m bars for coin: stored are 1h, 1d"));
    assert_int_equal(mts_series_load_bars(f->s, "coin", "2d", INT64_MIN, INT64_MAX, &o, &in), MTS_EINVAL);
    assert_non_null(strstr(in.error, "unknown interval '2d'"));
    assert_int_equal(mts_series_load_bars(f->s, "nothing", "4h", INT64_MIN, INT64_MAX, &o, &in), MTS_ENOTFOUND);
    assert_non_null(strstr(in.error, "no bars stored for asset 'nothing'"));
    /* a stored 4h series wins over resampling */
    mts_bars_t four = {0};
    push_bar(&four, T2024, 1, 2, 0.5, 1.5, 7);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "4h", &four), 0);
    assert_int_equal(mts_series_load_bars(f->s, "coin", "4h", INT64_MIN, INT64_MAX, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024, 1, 2, 0.5, 1.5, 7);
    assert_string_equal(mts_series_describe(&in, how, sizeof how), "stored 4h");
    /* 12h: from the coarsest divisor (4h: fewest rows, longest history), not from 1h */
    h.n = 12;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "1h", &h), 0);
    push_bar(&four, T2024 + 4 * 3600, 1.5, 3, 1, 2.5, 8);
    push_bar(&four, T2024 + 8 * 3600, 2.5, 2.75, 0.25, 2, 9);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "coin", "4h", &four), 0);
    assert_int_equal(mts_series_load_bars(f->s, "coin", "12h", INT64_MIN, INT64_MAX, &o, &in), 0);
    assert_int_equal(o.n, 1);
    expect_bar(&o, 0, T2024, 1, 3, 0.25, 2, 24);      /* first open, max high, min low, last close, sum */
    assert_string_equal(in.source, "4h");
    mts_bars_free(&four);
    mts_bars_free(&h);
    mts_bars_free(&o);
}

/* The Binance check again, through the store and the loader: the 1h file
 * stored as 1h, loaded as 1d, equals Binance's daily bars on every full day. */
static void test_binance_through_store(void **state) {
    fx_t *f = *state;
    mts_bars_t hours = {0}, days = {0}, ours = {0};
    read_csv("intraday", "BTCUSDT_1h_binance_spot.csv", &hours);
    read_csv("daily", "BTCUSDT_1d_binance_spot.csv", &days);
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "btc", "1h", &hours), 0);
    mts_series_info_t in;
    assert_int_equal(mts_series_load_bars(f->s, "btc", "1d", INT64_MIN, INT64_MAX, &ours, &in), 0);
    assert_int_equal(in.resampled, 1);
    int64_t compared = 0, skipped = 0;
    for (int64_t i = 0; i < days.n; i++) {
        int64_t t = days.ts[i];
        if (t < hours.ts[0] || t + D > hours.ts[hours.n - 1] + H) continue;
        if (count_in(&hours, t, D) != 24) { skipped++; continue; }
        int64_t k = find(&ours, t);
        assert_true(k >= 0);
        assert_true(ours.open[k] == days.open[i] && ours.high[k] == days.high[i]);
        assert_true(ours.low[k] == days.low[i] && ours.close[k] == days.close[i]);
        assert_true(fabs(ours.volume[k] - days.volume[i]) <= 1e-9 * days.volume[i]);
        compared++;
    }
    print_message("through the store: 1h -> 1d: %lld days equal, %lld skipped without all their hours\n",
                  (long long)compared, (long long)skipped);
    assert_true(compared > 1500);
    mts_bars_free(&hours);
    mts_bars_free(&days);
    mts_bars_free(&ours);
}

/* A backtest at 4h when only 1h bars are stored (backtest.c load_asset uses
 * the loader): 60 days of hours give 360 4h bars, the first worked out by hand. */
static void test_backtest_at_4h_from_1h(void **state) {
    fx_t *f = *state;
    mts_bars_t h = {0};
    for (int i = 0; i < 24 * 60; i++) {
        double p = 100 + (i % 50) - (i % 7);                     /* wanders, so sma_cross has crossings */
        push_bar(&h, T2024 + i * H, p, p + 1, p - 1, p + 0.5, 2);
    }
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "hourcoin", "1h", &h), 0);
    const char *strategies[] = {"sma_cross"}, *assets[] = {"hourcoin"};
    const char *r = getenv("MTS_ROOT");
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = 1, .assets = assets, .n_assets = 1,
        .from = INT64_MIN, .to = INT64_MAX, .interval = "4h", .capital = 100000, .commission_bps = 10,
        .root = r && *r ? r : ".", .db_label = f->path, .trusted = 1};
    mts_backtest_t *b = NULL;
    char err[512] = "";
    int rc = mts_backtest_run(f->s, &o, &b, err, sizeof err);
    if (rc) fail_msg("backtest at 4h: %s", err);
    assert_int_equal(b->bars[0].n, 360);
    assert_int_equal(b->bars[0].ts[1] - b->bars[0].ts[0], 4 * H);
    /* hours 0..3: p = 100, 101-1=100, 102-2=100, 103-3=100 -> open 100, high 101, low 99, close 100.5, vol 8 */
    expect_bar(&b->bars[0], 0, T2024, 100, 101, 99, 100.5, 8);
    mts_backtest_free(b);
    /* 1m is finer than anything stored: a clear error, no crash */
    o.interval = "1m";
    rc = mts_backtest_run(f->s, &o, &b, err, sizeof err);
    assert_int_equal(rc, MTS_ENOTFOUND);
    assert_non_null(strstr(err, "no 1m bars for hourcoin: stored are 1h"));
    mts_bars_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hours_into_4h),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_single_bar),
        cmocka_unit_test(test_forming),
        cmocka_unit_test(test_weeks_on_mondays),
        cmocka_unit_test(test_minutes_into_hours),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_stream_equals_batch),
        cmocka_unit_test(test_feed),
        cmocka_unit_test(test_binance_1h_to_4h_and_1d),
        cmocka_unit_test_setup_teardown(test_series_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binance_through_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backtest_at_4h_from_1h, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
