/* test_queue.c — the engine's event queue: (ts, kind, FIFO) ordering and growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/queue.h"

static void test_empty(void **state) {
    (void)state;
    mts_queue_t q;
    assert_int_equal(mts_queue_init(&q, 0), MTS_OK);
    mts_qev_t ev;
    assert_null(mts_queue_peek(&q));
    assert_int_equal(mts_queue_pop(&q, &ev), 0);
    assert_int_equal(mts_queue_replace_top(&q, 1, MTS_QEV_MARKET, 0, 0), MTS_EINVAL);
    assert_int_equal(mts_queue_push(&q, 1, 7, 0, 0), MTS_EINVAL);   /* unknown kind */
    assert_int_equal(mts_queue_size(&q), 0);
    mts_queue_free(&q);
    mts_queue_free(NULL);
}

/* Pushed out of order; expected pop order worked out by hand:
 *   ts 10: ORDER(a=5) before the MARKETs; MARKETs FIFO a=1 then a=3
 *   ts 20: MARKET a=2 (pushed first) then a=0
 *   ts 30: ORDER a=9, ORDER a=8 (FIFO), then MARKET a=4 */
static void test_ordering_ties_fifo(void **state) {
    (void)state;
    mts_queue_t q;
    assert_int_equal(mts_queue_init(&q, 4), MTS_OK);
    assert_int_equal(mts_queue_push(&q, 30, MTS_QEV_MARKET, 4, 0), 0);
    assert_int_equal(mts_queue_push(&q, 20, MTS_QEV_MARKET, 2, 0), 0);
    assert_int_equal(mts_queue_push(&q, 10, MTS_QEV_MARKET, 1, 0), 0);
    assert_int_equal(mts_queue_push(&q, 30, MTS_QEV_ORDER, 9, 0), 0);
    assert_int_equal(mts_queue_push(&q, 10, MTS_QEV_MARKET, 3, 0), 0);
    assert_int_equal(mts_queue_push(&q, 20, MTS_QEV_MARKET, 0, 0), 0);
    assert_int_equal(mts_queue_push(&q, 10, MTS_QEV_ORDER, 5, 0), 0);
    assert_int_equal(mts_queue_push(&q, 30, MTS_QEV_ORDER, 8, 0), 0);
    const int64_t ets[] = {10, 10, 10, 20, 20, 30, 30, 30};
    const int32_t ekind[] = {MTS_QEV_ORDER, MTS_QEV_MARKET, MTS_QEV_MARKET, MTS_QEV_MARKET,
                             MTS_QEV_MARKET, MTS_QEV_ORDER, MTS_QEV_ORDER, MTS_QEV_MARKET};
    const int32_t easset[] = {5, 1, 3, 2, 0, 9, 8, 4};
    assert_int_equal(mts_queue_size(&q), 8);
    for (int i = 0; i < 8; i++) {
        mts_qev_t ev;
        assert_int_equal(mts_queue_pop(&q, &ev), 1);
        assert_int_equal(ev.ts, ets[i]);
        assert_int_equal(ev.kind, ekind[i]);
        assert_int_equal(ev.asset, easset[i]);
    }
    assert_int_equal(mts_queue_pop(&q, NULL), 0);
    mts_queue_free(&q);
}

/* replace_top: the new event gets a fresh sequence number, so at an equal ts
 * it goes behind events already queued. */
static void test_replace_top(void **state) {
    (void)state;
    mts_queue_t q;
    assert_int_equal(mts_queue_init(&q, 2), MTS_OK);
    mts_queue_push(&q, 1, MTS_QEV_MARKET, 0, 0);
    mts_queue_push(&q, 2, MTS_QEV_MARKET, 1, 0);
    /* top (ts1,a0) -> (ts2,a0,idx1): behind (ts2,a1) which was pushed earlier */
    assert_int_equal(mts_queue_replace_top(&q, 2, MTS_QEV_MARKET, 0, 1), 0);
    const mts_qev_t *t = mts_queue_peek(&q);
    assert_int_equal(t->ts, 2);
    assert_int_equal(t->asset, 1);
    mts_qev_t ev;
    mts_queue_pop(&q, &ev);
    mts_queue_pop(&q, &ev);
    assert_int_equal(ev.asset, 0);
    assert_int_equal(ev.index, 1);
    /* replace with an earlier ts than the rest: stays on top */
    mts_queue_push(&q, 50, MTS_QEV_MARKET, 7, 0);
    mts_queue_push(&q, 60, MTS_QEV_MARKET, 8, 0);
    assert_int_equal(mts_queue_replace_top(&q, 40, MTS_QEV_ORDER, 6, 3), 0);
    assert_int_equal(mts_queue_peek(&q)->asset, 6);
    assert_int_equal(mts_queue_peek(&q)->kind, MTS_QEV_ORDER);
    mts_queue_free(&q);
}

/* Growth from capacity 1 by doubling, 10000 events with a scrambled ts
 * (i*7919 mod 10007 is a permutation of 0..10006 restricted to 10000 values,
 * all distinct since 7919 and 10007 are coprime) plus duplicates of ts 5000
 * pushed in asset order 0..9 which must come out in that order. */
static void test_growth_heap_property(void **state) {
    (void)state;
    mts_queue_t q;
    assert_int_equal(mts_queue_init(&q, 1), MTS_OK);
    for (int64_t i = 0; i < 10000; i++)
        assert_int_equal(mts_queue_push(&q, (i * 7919) % 10007, MTS_QEV_MARKET, -1, i), 0);
    for (int32_t a = 0; a < 10; a++)
        assert_int_equal(mts_queue_push(&q, 5000, MTS_QEV_MARKET, a, 0), 0);
    assert_int_equal(mts_queue_size(&q), 10010);
    assert_true(q.cap >= 10010);
    assert_true(q.cap <= 16384);   /* 1,2,4,...,16384: doubling, not per push */
    int64_t prev = INT64_MIN;
    int32_t next_dup = 0;
    int dup_ts_seen = 0;
    mts_qev_t ev;
    int64_t n = 0;
    while (mts_queue_pop(&q, &ev)) {
        assert_true(ev.ts >= prev);
        prev = ev.ts;
        if (ev.ts == 5000) {
            /* 5000 may also be one of the scrambled values (asset -1, pushed first) */
            if (ev.asset == -1) { assert_int_equal(next_dup, 0); dup_ts_seen++; }
            else assert_int_equal(ev.asset, next_dup++);
        }
        n++;
    }
    assert_int_equal(n, 10010);
    assert_int_equal(next_dup, 10);
    assert_true(dup_ts_seen <= 1);
    mts_queue_free(&q);
}

/* Allocation failure while growing leaves the queue intact. */
static void test_growth_enomem(void **state) {
    (void)state;
    mts_queue_t q;
    assert_int_equal(mts_queue_init(&q, 2), MTS_OK);
    mts_queue_push(&q, 2, MTS_QEV_MARKET, 0, 0);
    mts_queue_push(&q, 1, MTS_QEV_MARKET, 1, 0);
    mts_alloc_fail_after(0);
    assert_int_equal(mts_queue_push(&q, 0, MTS_QEV_MARKET, 2, 0), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    assert_int_equal(mts_queue_size(&q), 2);
    assert_int_equal(mts_queue_peek(&q)->asset, 1);
    assert_int_equal(mts_queue_push(&q, 0, MTS_QEV_MARKET, 2, 0), 0);
    assert_int_equal(mts_queue_peek(&q)->asset, 2);
    mts_queue_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_ordering_ties_fifo),
        cmocka_unit_test(test_replace_top),
        cmocka_unit_test(test_growth_heap_property),
        cmocka_unit_test(test_growth_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
