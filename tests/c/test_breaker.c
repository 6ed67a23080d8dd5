/* test_breaker.c — feeds/breaker: closed -> open after N consecutive
 * failures, refused while open, half-open after the reset timeout, closed
 * again by a successful probe or re-opened by a failed one. A fake clock
 * (plain numbers) drives every transition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "feeds/breaker.h"

static void closed_until_threshold(void **st) {
    (void)st;
    mts_breaker_t b;
    mts_breaker_init(&b, 3, 10.0);
    assert_int_equal(b.state, MTS_BREAKER_CLOSED);
    mts_breaker_failure(&b, 1.0);
    mts_breaker_failure(&b, 2.0);
    assert_int_equal(b.state, MTS_BREAKER_CLOSED);   /* 2 < 3 */
    assert_true(mts_breaker_allow(&b, 2.5));
    mts_breaker_failure(&b, 3.0);                    /* third in a row */
    assert_int_equal(b.state, MTS_BREAKER_OPEN);
    assert_int_equal(b.opens, 1);
}

static void success_resets_the_count(void **st) {
    (void)st;
    mts_breaker_t b;
    mts_breaker_init(&b, 3, 10.0);
    mts_breaker_failure(&b, 1.0);
    mts_breaker_failure(&b, 2.0);
    mts_breaker_success(&b, 3.0);                    /* not "in a row" any more */
    mts_breaker_failure(&b, 4.0);
    mts_breaker_failure(&b, 5.0);
    assert_int_equal(b.state, MTS_BREAKER_CLOSED);
    assert_int_equal(b.closes, 0);                   /* it never left closed */
}

static void open_refuses_until_timeout_then_probe_closes(void **st) {
    (void)st;
    mts_breaker_t b;
    mts_breaker_init(&b, 1, 10.0);
    mts_breaker_failure(&b, 100.0);                  /* opened at t=100 */
    assert_false(mts_breaker_allow(&b, 100.0));
    assert_false(mts_breaker_allow(&b, 109.9));      /* 9.9 s < 10 s */
    /* retry_in at t=104: 100 + 10 - 104 = 6 */
    assert_true(mts_breaker_retry_in(&b, 104.0) > 5.999 && mts_breaker_retry_in(&b, 104.0) < 6.001);
    assert_true(mts_breaker_allow(&b, 110.0));       /* exactly the timeout */
    assert_int_equal(b.state, MTS_BREAKER_HALF_OPEN);
    mts_breaker_success(&b, 110.5);
    assert_int_equal(b.state, MTS_BREAKER_CLOSED);
    assert_int_equal(b.opens, 1);
    assert_int_equal(b.closes, 1);
}

static void failed_probe_reopens_for_another_timeout(void **st) {
    (void)st;
    mts_breaker_t b;
    mts_breaker_init(&b, 2, 5.0);
    mts_breaker_failure(&b, 0.0);
    mts_breaker_failure(&b, 1.0);                    /* open at 1 */
    assert_true(mts_breaker_allow(&b, 6.0));         /* 1 + 5 */
    mts_breaker_failure(&b, 6.0);                    /* probe fails: open at 6 */
    assert_int_equal(b.state, MTS_BREAKER_OPEN);
    assert_int_equal(b.opens, 2);
    assert_false(mts_breaker_allow(&b, 10.9));       /* 6 + 5 = 11 */
    assert_true(mts_breaker_allow(&b, 11.0));
    assert_string_equal(mts_breaker_state_name(b.state), "half_open");
}

static void threshold_below_one_is_one(void **st) {
    (void)st;
    mts_breaker_t b;
    mts_breaker_init(&b, 0, -3);
    mts_breaker_failure(&b, 0.0);
    assert_int_equal(b.state, MTS_BREAKER_OPEN);
    assert_true(mts_breaker_allow(&b, 0.0));         /* timeout clamped to 0 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(closed_until_threshold),
        cmocka_unit_test(success_resets_the_count),
        cmocka_unit_test(open_refuses_until_timeout_then_probe_closes),
        cmocka_unit_test(failed_probe_reopens_for_another_timeout),
        cmocka_unit_test(threshold_below_one_is_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
