/* test_ratelimit.c — feeds/ratelimit token bucket with a fake clock.
 * Rates: 30/min = 0.5 token/s (CoinGecko demo), 120/min = 2 tokens/s (FRED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include "feeds/ratelimit.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void burst_then_wait(void **st) {
    (void)st;
    mts_ratelimit_t rl;
    mts_ratelimit_init(&rl, 30, 2, 0.0);             /* 0.5/s, bucket of 2 */
    NEAR(mts_ratelimit_acquire(&rl, 0.0), 0);
    NEAR(mts_ratelimit_acquire(&rl, 0.0), 0);
    /* empty: one token takes 1 / 0.5 = 2 s */
    NEAR(mts_ratelimit_acquire(&rl, 0.0), 2.0);
    /* 0.5 s later 0.25 token is there: (1 - 0.25) / 0.5 = 1.5 s left */
    NEAR(mts_ratelimit_acquire(&rl, 0.5), 1.5);
    NEAR(mts_ratelimit_acquire(&rl, 2.0), 0);        /* 2 s * 0.5 = 1 token */
}

static void steady_rate_over_a_minute(void **st) {
    (void)st;
    /* FRED 120/min, burst 1: a client that always waits what it is told makes
     * 1 call at t=0 then one every 0.5 s: 120 calls end at t = 119 * 0.5 = 59.5 s. */
    mts_ratelimit_t rl;
    mts_ratelimit_init(&rl, 120, 1, 0.0);
    double t = 0;
    int calls = 0;
    while (calls < 120) {
        double w = mts_ratelimit_acquire(&rl, t);
        if (w > 0) t += w;
        else calls++;
    }
    assert_true(fabs(t - 59.5) < 1e-6);
}

static void bucket_never_exceeds_burst(void **st) {
    (void)st;
    mts_ratelimit_t rl;
    mts_ratelimit_init(&rl, 60, 3, 0.0);             /* 1/s, bucket 3 */
    /* an hour idle still gives only 3 free calls */
    for (int i = 0; i < 3; i++) NEAR(mts_ratelimit_acquire(&rl, 3600.0), 0);
    NEAR(mts_ratelimit_acquire(&rl, 3600.0), 1.0);
}

static void clock_going_back_adds_nothing(void **st) {
    (void)st;
    mts_ratelimit_t rl;
    mts_ratelimit_init(&rl, 60, 1, 10.0);
    NEAR(mts_ratelimit_acquire(&rl, 10.0), 0);
    NEAR(mts_ratelimit_acquire(&rl, 5.0), 1.0);      /* no refill from the past */
}

static void zero_rate_is_unlimited(void **st) {
    (void)st;
    mts_ratelimit_t rl;
    mts_ratelimit_init(&rl, 0, 1, 0.0);
    for (int i = 0; i < 1000; i++) NEAR(mts_ratelimit_acquire(&rl, 0.0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_wait),
        cmocka_unit_test(steady_rate_over_a_minute),
        cmocka_unit_test(bucket_never_exceeds_burst),
        cmocka_unit_test(clock_going_back_adds_nothing),
        cmocka_unit_test(zero_rate_is_unlimited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
