/* test_macro_fill.c — feeds/macro_fill: daily forward-fill and interpolation
 * with flags, and the store rule that a filled row never replaces an original.
 * Days: 2024-01-05 (Fri) = 19727 days since 1970-01-01
 * (54 years * 365 + 13 leap days 1972..2020 = 19723 to 2024-01-01, + 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mts.h"
#include "feeds/macro_fill.h"
#include "store/store.h"

#define D 86400LL
#define FRI (19727LL * D)

static void forward_fill_weekend(void **st) {
    (void)st;
    int64_t ts[] = {FRI, FRI + 3 * D, FRI + 5 * D};       /* Fri, Mon, Wed (Tue missing) */
    double v[] = {13.35, 13.08, 12.69};
    mts_series_t in = {ts, v, 3, 3}, out = {0};
    uint8_t *fl = NULL;
    int64_t added = -1;
    assert_int_equal(mts_macro_fill(&in, MTS_FILL_FORWARD, &out, &fl, &added), 0);
    assert_int_equal(out.n, 6);                            /* Fri..Wed */
    assert_int_equal(added, 3);                            /* Sat, Sun, Tue */
    double want[] = {13.35, 13.35, 13.35, 13.08, 13.08, 12.69};
    uint8_t wf[] = {0, 2, 2, 0, 2, 0};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(out.ts[i], FRI + i * D);
        assert_true(out.v[i] == want[i]);
        assert_int_equal(fl[i], wf[i]);
    }
    mts_series_free(&out);
    mts_free(fl);
}

static void interpolate_by_day_count(void **st) {
    (void)st;
    int64_t ts[] = {FRI, FRI + 3 * D};
    double v[] = {10.0, 16.0};                             /* +6 over 3 days = +2 a day */
    mts_series_t in = {ts, v, 2, 2}, out = {0};
    uint8_t *fl = NULL;
    assert_int_equal(mts_macro_fill(&in, MTS_FILL_INTERPOLATE, &out, &fl, NULL), 0);
    assert_int_equal(out.n, 4);
    assert_true(fabs(out.v[1] - 12.0) < 1e-12 && fabs(out.v[2] - 14.0) < 1e-12);
    assert_int_equal(fl[1], 1);
    assert_int_equal(fl[2], 1);
    assert_int_equal(fl[3], 0);
    mts_series_free(&out);
    mts_free(fl);
}

static void none_and_bad_input(void **st) {
    (void)st;
    int64_t ts[] = {FRI + 3600, FRI + 3 * D};              /* intraday time floors to midnight */
    double v[] = {1, 2};
    mts_series_t in = {ts, v, 2, 2}, out = {0};
    uint8_t *fl = NULL;
    assert_int_equal(mts_macro_fill(&in, MTS_FILL_NONE, &out, &fl, NULL), 0);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.ts[0], FRI);
    int64_t back[] = {FRI, FRI};                           /* same day twice */
    mts_series_t dup = {back, v, 2, 2};
    assert_int_equal(mts_macro_fill(&dup, MTS_FILL_FORWARD, &out, &fl, NULL), MTS_EINVAL);
    int64_t far[] = {0, 300000LL * D};
    mts_series_t huge = {far, v, 2, 2};
    assert_int_equal(mts_macro_fill(&huge, MTS_FILL_FORWARD, &out, &fl, NULL), MTS_ERANGE);
    mts_fill_mode_t m;
    assert_int_equal(mts_macro_fill_parse("interpolate", &m), 0);
    assert_int_equal(m, MTS_FILL_INTERPOLATE);
    assert_int_equal(mts_macro_fill_parse("cubic", &m), MTS_EINVAL);
    mts_series_free(&out);
    mts_free(fl);
}

static void store_keeps_originals(void **st) {
    (void)st;
    char path[] = "/tmp/mts-test-fill-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    /* collect 1: Fri 13.35, Mon 13.08 originals, weekend filled */
    int64_t ts[] = {FRI, FRI + 3 * D};
    double v1[] = {13.35, 13.08};
    mts_series_t in = {ts, v1, 2, 2}, out = {0};
    uint8_t *fl = NULL;
    assert_int_equal(mts_macro_fill(&in, MTS_FILL_FORWARD, &out, &fl, NULL), 0);
    assert_int_equal(mts_store_upsert_macro(s, "VIXCLS", out.ts, out.v, fl, out.n), 0);
    /* collect 2: Mon came back as "." -> Fri..Tue with Mon forward-filled at 13.35 */
    int64_t ts2[] = {FRI, FRI + 4 * D};
    double v2[] = {13.35, 12.9};
    mts_series_t in2 = {ts2, v2, 2, 2};
    assert_int_equal(mts_macro_fill(&in2, MTS_FILL_FORWARD, &out, &fl, NULL), 0);
    assert_int_equal(fl[3], 2);                            /* Mon is a fill this time */
    assert_int_equal(mts_store_upsert_macro(s, "VIXCLS", out.ts, out.v, fl, out.n), 0);
    mts_series_t got = {0};
    assert_int_equal(mts_store_load_macro(s, "VIXCLS", INT64_MIN, INT64_MAX, &got), 0);
    assert_int_equal(got.n, 5);                            /* Fri..Tue, no duplicates */
    assert_true(got.v[3] == 13.08);                        /* original Monday kept */
    assert_true(got.v[4] == 12.9);
    mts_series_free(&got);
    mts_series_free(&out);
    mts_free(fl);
    mts_store_close(s);
    unlink(path);
    char aux[64];
    snprintf(aux, sizeof aux, "%s-wal", path); unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path); unlink(aux);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_fill_weekend),
        cmocka_unit_test(interpolate_by_day_count),
        cmocka_unit_test(none_and_bad_input),
        cmocka_unit_test(store_keeps_originals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
