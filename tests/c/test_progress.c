/* test_progress.c — util/progress.c: the line format (bar, percent, rate, ETA),
 * the redraw throttle with a fake clock, and silence when disabled. Expected
 * strings are worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/progress.h"

static void format_with_total(void **state) {
    (void)state;
    char buf[256];
    /* 50 of 200 in 10 s: 50/200 = 25 %; bar 10 cells * 0.25 = 2.5 -> 2 '#';
     * rate 50/10 = 5.0 runs/s; ETA (200-50)/5 = 30 s -> 0:30 */
    mts_progress_format(buf, sizeof buf, "x", 50, 200, 10.0, "runs", 10);
    assert_string_equal(buf, "x [##........]  25%  50/200 runs  5.0 runs/s  ETA 0:30");
    /* finished: 200/200 in 10 s: rate 20.0, "done in 0:10" */
    mts_progress_format(buf, sizeof buf, "x", 200, 200, 10.0, "runs", 10);
    assert_string_equal(buf, "x [##########] 100%  200/200 runs  20.0 runs/s  done in 0:10");
    /* nothing done yet: no rate, no ETA */
    mts_progress_format(buf, sizeof buf, "x", 0, 200, 0.0, "runs", 4);
    assert_string_equal(buf, "x [....]   0%  0/200 runs  ? runs/s  ETA ?");
}

static void format_units_and_clock(void **state) {
    (void)state;
    char buf[256];
    /* 25000 rows in 1 s: 25000 >= 1e4 -> "25.0k" */
    mts_progress_format(buf, sizeof buf, "imp", 25000, 100000, 1.0, "rows", 4);
    /* ETA (100000-25000)/25000 = 3 s -> 0:03; 25 % of 4 cells = 1 '#' */
    assert_string_equal(buf, "imp [#...]  25%  25000/100000 rows  25.0k rows/s  ETA 0:03");
    /* rate 1/s, 7200 left -> 2 h -> "2:00:00" */
    mts_progress_format(buf, sizeof buf, "h", 1, 7201, 1.0, "u", 2);
    assert_string_equal(buf, "h [..]   0%  1/7201 u  1.0 u/s  ETA 2:00:00");
    /* unknown total: count, rate 1500/10 = 150.0, elapsed 0:10 */
    mts_progress_format(buf, sizeof buf, "s", 1500, 0, 10.0, "rows", 10);
    assert_string_equal(buf, "s 1500 rows  150.0 rows/s  0:10 elapsed");
}

static double fake_now;
static double fake_clock(void) { return fake_now; }

static int count_char(const char *s, size_t n, char c) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == c;
    return k;
}

static void throttled_redraws(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    mts_progress_t p;
    /* times exact in binary, so the 100 ms comparisons are exact too */
    fake_now = 100.0;
    mts_progress_begin_on(&p, f, 1, fake_clock, "t", 10, "runs");   /* draw 1 at t=0 */
    fake_now = 100.0625;
    mts_progress_update(&p, 1);     /* 0.0625 s since the last draw: none */
    fake_now = 100.125;
    mts_progress_update(&p, 2);     /* 0.125 s: draw 2 */
    fake_now = 100.1875;
    mts_progress_update(&p, 3);     /* 0.0625 s: none */
    fake_now = 101.0;
    mts_progress_update(&p, 10);    /* draw 3 */
    mts_progress_end(&p);           /* draw 4 + newline */
    mts_progress_end(&p);           /* a second end does nothing */
    fflush(f);
    assert_int_equal(count_char(buf, len, '\r'), 4);
    assert_int_equal(count_char(buf, len, '\n'), 1);
    assert_non_null(strstr(buf, "\033[K"));
    /* the last line: 10/10 in 1 s -> rate 10.0, done in 0:01 */
    assert_non_null(strstr(buf, "t [########################] 100%  10/10 runs  10.0 runs/s  done in 0:01"));
    /* the draw at t=0.125 showed 2 of 10: 20 % */
    assert_non_null(strstr(buf, " 20%  2/10 runs"));
    assert_null(strstr(buf, " 30%"));   /* the throttled update never drew */
    fclose(f);
    free(buf);
}

static void disabled_is_silent(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mts_progress_t p;
    mts_progress_begin_on(&p, f, 0, fake_clock, "t", 10, "runs");
    mts_progress_update(&p, 5);
    mts_progress_end(&p);
    fflush(f);
    assert_int_equal(len, 0);
    fclose(f);
    free(buf);
    mts_progress_update(NULL, 1);
    mts_progress_end(NULL);
}

static void not_a_terminal_disables(void **state) {
    (void)state;
    /* under the test runner stderr is a pipe or a file, or MTS_NO_PROGRESS forces it off */
    setenv("MTS_NO_PROGRESS", "1", 1);
    assert_int_equal(mts_progress_enabled(), 0);
    unsetenv("MTS_NO_PROGRESS");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_with_total),
        cmocka_unit_test(format_units_and_clock),
        cmocka_unit_test(throttled_redraws),
        cmocka_unit_test(disabled_is_silent),
        cmocka_unit_test(not_a_terminal_disables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
