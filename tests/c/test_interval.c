/* test_interval.c — market/interval.c: names and lengths, grids (1w on
 * Mondays), detection from spacings with gaps, refusal of mixed series, and
 * which intervals resample into which. Times are checked against dates worked
 * out by hand (2024-01-01 was a Monday). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "market/interval.h"

#define T2024 1704067200LL            /* 2024-01-01T00:00:00Z, a Monday */

static void test_names(void **state) {
    (void)state;
    assert_int_equal(mts_interval_seconds("1m"), 60);
    assert_int_equal(mts_interval_seconds("15m"), 900);
    assert_int_equal(mts_interval_seconds("4h"), 4 * 3600);
    assert_int_equal(mts_interval_seconds("1d"), 86400);
    assert_int_equal(mts_interval_seconds("1w"), 7 * 86400);
    assert_int_equal(mts_interval_seconds("2d"), -1);
    assert_int_equal(mts_interval_seconds("1M"), -1);
    assert_int_equal(mts_interval_seconds(""), -1);
    assert_int_equal(mts_interval_seconds(NULL), -1);
    assert_string_equal(mts_interval_name(3600), "1h");
    assert_string_equal(mts_interval_name(259200), "3d");
    assert_null(mts_interval_name(7));
    assert_string_equal(mts_interval_name(mts_interval_seconds(MTS_INTERVAL_DEFAULT)), "1d");
}

static void test_grid(void **state) {
    (void)state;
    /* 2024-01-03T13:45:10Z */
    int64_t t = T2024 + 2 * 86400 + 13 * 3600 + 45 * 60 + 10;
    assert_int_equal(mts_interval_floor(t, 60), t - 10);
    assert_int_equal(mts_interval_floor(t, 3600), t - 45 * 60 - 10);
    assert_int_equal(mts_interval_floor(t, 4 * 3600), T2024 + 2 * 86400 + 12 * 3600);
    assert_int_equal(mts_interval_floor(t, 86400), T2024 + 2 * 86400);
    assert_int_equal(mts_interval_floor(t, 7 * 86400), T2024);                /* Monday 2024-01-01 */
    assert_int_equal(mts_interval_floor(T2024 - 1, 7 * 86400), T2024 - 7 * 86400);
    assert_int_equal(mts_interval_floor(0, 7 * 86400), -3 * 86400);           /* Monday 1969-12-29 */
    assert_true(mts_interval_aligned(T2024, 604800));
    assert_false(mts_interval_aligned(T2024 + 86400, 604800));
    assert_true(mts_interval_aligned(T2024 + 3600, 3600));
    assert_false(mts_interval_aligned(T2024 + 1800, 3600));
}

static void test_detect(void **state) {
    (void)state;
    int64_t ts[100];
    const char *why = NULL;
    for (int i = 0; i < 100; i++) ts[i] = T2024 + i * 3600;
    assert_int_equal(mts_interval_detect(ts, 100, &why), 3600);
    /* gaps: a third of the hours missing is still hourly */
    int n = 0;
    for (int i = 0; i < 150; i++) if (i % 3 != 2) ts[n++] = T2024 + i * 3600;
    assert_int_equal(mts_interval_detect(ts, n, &why), 3600);
    /* daily */
    for (int i = 0; i < 10; i++) ts[i] = T2024 + i * 86400;
    assert_int_equal(mts_interval_detect(ts, 10, &why), 86400);
    /* mixed: 1h and 1d interleaved (the bug of one table for both) */
    n = 0;
    for (int d = 0; d < 4; d++) {
        ts[n++] = T2024 + d * 86400;
        for (int h = 1; h < 3; h++) ts[n++] = T2024 + d * 86400 + h * 3600 * 5;
    }
    assert_int_equal(mts_interval_detect(ts, n, &why), -1);
    assert_non_null(why);
    /* a spacing that is no interval */
    for (int i = 0; i < 10; i++) ts[i] = T2024 + i * 7;
    assert_int_equal(mts_interval_detect(ts, 10, &why), -1);
    assert_non_null(strstr(why, "interval"));
    assert_int_equal(mts_interval_detect(ts, 1, &why), -1);
    assert_int_equal(mts_interval_detect(NULL, 0, NULL), -1);
}

static void test_divides(void **state) {
    (void)state;
    assert_true(mts_interval_divides(60, 3600));
    assert_true(mts_interval_divides(3600, 4 * 3600));
    assert_true(mts_interval_divides(3600, 86400));
    assert_true(mts_interval_divides(4 * 3600, 86400));
    assert_true(mts_interval_divides(86400, 604800));
    assert_false(mts_interval_divides(4 * 3600, 3600));     /* not finer */
    assert_false(mts_interval_divides(3 * 60, 3600 * 2 + 60));
    assert_false(mts_interval_divides(259200, 604800));     /* 3d into 1w */
    assert_false(mts_interval_divides(0, 60));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_divides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
