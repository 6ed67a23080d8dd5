/* test_coingecko.c — feeds/coingecko parsers on the recorded samples in
 * tests/fixtures/vendors/coingecko (copies of ../shared/data/samples) and on
 * hand-made bodies: ms -> s, row validation with "coingecko:ID:ROW: reason",
 * volume merge by time, simple/price. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mts.h"
#include "feeds/coingecko.h"
#include "store/store.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) fail_msg("short read %s", path);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void fixture_ohlc(void **st) {
    (void)st;
    size_t n;
    char *j = slurp("tests/fixtures/vendors/coingecko/coins_id_ohlc.json", &n);
    mts_bars_t b = {0};
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_parse_ohlc(j, n, "bitcoin", &b, stderr, &rep), 0);
    assert_int_equal(b.n, 2);
    /* [1779199200000, 76769.0, 76889.0, 76744.0, 76818.0] -> seconds 1779199200 */
    assert_int_equal(b.ts[0], 1779199200LL);
    assert_true(b.open[0] == 76769.0 && b.high[0] == 76889.0 && b.low[0] == 76744.0 && b.close[0] == 76818.0);
    assert_int_equal(b.ts[1], 1779201000LL);              /* 30 minutes later */
    assert_int_equal(rep.rejected, 0);
    free(j);
    mts_bars_free(&b);
}

static void fixture_volumes_do_not_match_ohlc_times(void **st) {
    (void)st;
    size_t n1, n2;
    char *o = slurp("tests/fixtures/vendors/coingecko/coins_id_ohlc.json", &n1);
    char *m = slurp("tests/fixtures/vendors/coingecko/coins_id_market_chart_range.json", &n2);
    mts_bars_t b = {0};
    mts_series_t v = {0};
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_parse_ohlc(o, n1, "bitcoin", &b, NULL, &rep), 0);
    assert_int_equal(mts_coingecko_parse_volumes(m, n2, &v), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.ts[0], 1779027899LL);              /* 1779027899041 ms, floored */
    assert_true(v.v[0] == 18688431751.857048);
    mts_coingecko_merge_volumes(&b, &v, "bitcoin", NULL, &rep);
    assert_int_equal(rep.no_volume, 2);                   /* the sample's times differ */
    assert_true(b.volume[0] == 0 && b.volume[1] == 0);
    free(o); free(m);
    mts_bars_free(&b);
    mts_series_free(&v);
}

static void rows_validated_and_reported(void **st) {
    (void)st;
    const char *j =
        "[[86400000, 10, 12, 9, 11],"          /* 1 ok */
        " [172800000, 10, 9, 8, 9.5],"         /* 2 high 9 < max(10, 9.5) */
        " [259200000, 10, 12, 10.5, 11],"      /* 3 low 10.5 > min(10, 11) */
        " [345600000, 0, 12, 9, 11],"          /* 4 open 0 */
        " [432000000, 10, 12, 9],"             /* 5 four fields */
        " [518400000, \"10\", 12, 9, 11],"     /* 6 string */
        " [86400000, 10, 12, 9, 11],"          /* 7 duplicate of row 1 */
        " [0, 5, 6, 4, 5]]";                   /* 8 ok, out of order: sorted first */
    char buf[2048] = {0};
    FILE *err = fmemopen(buf, sizeof buf, "w");
    mts_bars_t b = {0};
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_parse_ohlc(j, strlen(j), "testcoin", &b, err, &rep), 0);
    fclose(err);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ts[0], 0);
    assert_int_equal(b.ts[1], 86400);
    assert_int_equal(rep.rejected, 6);
    for (int row = 2; row <= 7; row++) {
        char pat[64];
        snprintf(pat, sizeof pat, "coingecko:testcoin:%d: ", row);
        if (!strstr(buf, pat)) fail_msg("missing '%s' in:\n%s", pat, buf);
    }
    assert_null(strstr(buf, "coingecko:testcoin:1:"));
    assert_non_null(strstr(buf, "duplicate time"));
    mts_bars_free(&b);
}

static void merge_matches_times_and_rejects_bad_volume(void **st) {
    (void)st;
    const char *o = "[[0,1,2,0.5,1.5],[86400000,1,2,0.5,1.5],[172800000,1,2,0.5,1.5]]";
    const char *m = "{\"prices\":[],\"market_caps\":[],\"total_volumes\":[[0,100.5],[86400000,-1],[172800000,300]]}";
    mts_bars_t b = {0};
    mts_series_t v = {0};
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_parse_ohlc(o, strlen(o), "x", &b, NULL, &rep), 0);
    assert_int_equal(mts_coingecko_parse_volumes(m, strlen(m), &v), 0);
    mts_coingecko_merge_volumes(&b, &v, "x", NULL, &rep);
    assert_int_equal(b.n, 2);                             /* the -1 volume bar is rejected */
    assert_true(b.volume[0] == 100.5 && b.volume[1] == 300);
    assert_int_equal(b.ts[1], 172800);
    assert_int_equal(rep.rejected, 1);
    assert_int_equal(rep.no_volume, 0);
    mts_bars_free(&b);
    mts_series_free(&v);
}

static void garbage_is_a_parse_error(void **st) {
    (void)st;
    mts_bars_t b = {0};
    mts_series_t v = {0};
    const char *bad[] = {"{\"prices\": [[1, 2], [oops", "", "{\"a\":1}", "[1,2"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mts_coingecko_parse_ohlc(bad[i], strlen(bad[i]), "x", &b, NULL, NULL),
                         i == 2 ? MTS_EPARSE : MTS_EPARSE);
        assert_int_equal(b.n, 0);
    }
    assert_int_equal(mts_coingecko_parse_volumes("[]", 2, &v), MTS_EPARSE);
    mts_bars_free(&b);
}

static void simple_price_fixture(void **st) {
    (void)st;
    size_t n;
    char *j = slurp("tests/fixtures/vendors/coingecko/simple_price.json", &n);
    double p = 0;
    assert_int_equal(mts_coingecko_parse_price(j, n, "bitcoin", &p), 0);
    assert_true(p == 76975);
    assert_int_equal(mts_coingecko_parse_price(j, n, "ethereum", &p), MTS_ENOTFOUND);
    free(j);
    assert_true(mts_coingecko_valid_id("binancecoin"));
    assert_false(mts_coingecko_valid_id("bit coin"));
    assert_false(mts_coingecko_valid_id("a/../b?x=1"));
    assert_false(mts_coingecko_valid_id("Bitcoin"));
}

/* Candle length by days, per CoinGecko's docs (1-2: 30 min, 3-30: 4 h, 31+: 4 days). */
static void candle_seconds_by_days(void **st) {
    (void)st;
    assert_int_equal(mts_coingecko_candle_seconds(0), -1);
    assert_int_equal(mts_coingecko_candle_seconds(1), 30 * 60);
    assert_int_equal(mts_coingecko_candle_seconds(2), 30 * 60);
    assert_int_equal(mts_coingecko_candle_seconds(3), 4 * 60 * 60);
    assert_int_equal(mts_coingecko_candle_seconds(30), 4 * 60 * 60);
    assert_int_equal(mts_coingecko_candle_seconds(31), 4 * 24 * 60 * 60);
    assert_int_equal(mts_coingecko_candle_seconds(365), 4 * 24 * 60 * 60);
}

static void fill(mts_bars_t *b, const int64_t *ts, int n) {
    assert_int_equal(mts_bars_reserve(b, n), 0);
    for (int i = 0; i < n; i++) {
        b->ts[i] = ts[i];
        b->open[i] = 10 + i;
        b->high[i] = 12 + i;
        b->low[i] = 9 + i;
        b->close[i] = 11 + i;
        b->volume[i] = 0;
    }
    b->n = n;
}

/* The fixture: close times 2026-05-19 14:00 and 14:30 UTC (1779199200, 1779201000)
 * are 30 min candles opening 13:30 and 14:00. */
static void fixture_is_30m_labelled_by_open(void **st) {
    (void)st;
    size_t n;
    char *j = slurp("tests/fixtures/vendors/coingecko/coins_id_ohlc.json", &n);
    mts_bars_t b = {0};
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_parse_ohlc(j, n, "bitcoin", &b, stderr, &rep), 0);
    const char *why = NULL;
    /* days 1-2: 30 min candles, as the answer's spacing agrees */
    assert_int_equal(mts_coingecko_candle_interval(&b, 1, &why), 1800);
    assert_int_equal(mts_coingecko_candle_interval(&b, 2, &why), 1800);
    /* days 30 promises 4 h candles: 30 min ones disagree */
    assert_int_equal(mts_coingecko_candle_interval(&b, 30, &why), -1);
    assert_non_null(why);
    mts_coingecko_label_open(&b, 1800, 1779201000, "bitcoin", stderr, &rep);   /* now = the last close */
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ts[0], 1779199200 - 1800);
    assert_int_equal(b.ts[1], 1779201000 - 1800);
    assert_true(b.open[1] == 76712.0 && b.close[1] == 76422.0);
    assert_int_equal(rep.interval_s, 1800);
    assert_int_equal(rep.forming, 0);
    mts_bars_free(&b);
    free(j);
}

static void forming_misaligned_and_4day_candles(void **st) {
    (void)st;
    const int64_t H4 = 4 * 3600, D = 86400;
    int64_t t0 = 1767225600;   /* 2026-01-01 00:00 UTC */
    /* 4 h candles closing t0+4h .. t0+16h, one closing 1 s off the grid, one after now */
    int64_t ts[] = {t0 + H4, t0 + 2 * H4 + 1, t0 + 3 * H4, t0 + 4 * H4, t0 + 5 * H4};
    mts_bars_t b = {0};
    fill(&b, ts, 5);
    mts_cg_report_t rep = {0};
    assert_int_equal(mts_coingecko_candle_interval(&b, 7, NULL), -1);   /* 1 s off: not a multiple of 4 h */
    mts_coingecko_label_open(&b, H4, t0 + 4 * H4, "x", NULL, &rep);   /* now: the 4th close */
    assert_int_equal(rep.forming, 1);
    assert_int_equal(rep.rejected, 1);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ts[0], t0);
    assert_int_equal(b.ts[1], t0 + 2 * H4);
    assert_int_equal(b.ts[2], t0 + 3 * H4);
    assert_true(b.close[1] == 13.0);   /* the 3rd candle's values moved with it */
    /* 4 h candles with a gap: accepted (spacings 4h, 8h, 4h) */
    int64_t tg[] = {t0 + H4, t0 + 2 * H4, t0 + 4 * H4, t0 + 5 * H4};
    fill(&b, tg, 4);
    assert_int_equal(mts_coingecko_candle_interval(&b, 30, NULL), H4);
    /* 4-day candles: refused for days > 30, and for days 3..30 (4 days is a
     * multiple of 4 h, but no spacing is 4 h) */
    int64_t ts4[] = {t0, t0 + 4 * D, t0 + 8 * D};
    fill(&b, ts4, 3);
    const char *why = NULL;
    assert_int_equal(mts_coingecko_candle_interval(&b, 90, &why), -1);
    assert_non_null(why);
    assert_int_equal(mts_coingecko_candle_interval(&b, 30, &why), -1);
    /* daily spacing with days=30 (4 h promised): refused too */
    int64_t td[] = {t0, t0 + D, t0 + 2 * D};
    fill(&b, td, 3);
    assert_int_equal(mts_coingecko_candle_interval(&b, 30, NULL), -1);
    /* one candle: the days rule */
    b.n = 1;
    assert_int_equal(mts_coingecko_candle_interval(&b, 2, NULL), 1800);
    assert_int_equal(mts_coingecko_candle_interval(&b, 10, NULL), H4);
    assert_int_equal(mts_coingecko_candle_interval(&b, 31, &why), -1);
    mts_bars_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_ohlc),
        cmocka_unit_test(fixture_volumes_do_not_match_ohlc_times),
        cmocka_unit_test(rows_validated_and_reported),
        cmocka_unit_test(merge_matches_times_and_rejects_bad_volume),
        cmocka_unit_test(garbage_is_a_parse_error),
        cmocka_unit_test(simple_price_fixture),
        cmocka_unit_test(candle_seconds_by_days),
        cmocka_unit_test(fixture_is_30m_labelled_by_open),
        cmocka_unit_test(forming_misaligned_and_4day_candles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
