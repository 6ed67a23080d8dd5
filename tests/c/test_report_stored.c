/* test_report_stored.c — report/stored.c: a stored JSON object written back
 * member by member (exact numbers, taken keys left out), a stored book as
 * JSON, and the report's extras of a stored run: the further metrics, the
 * books and the trade stories from the stored numbers, and the benchmark line
 * rebuilt from bars in a real store, worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "report/stored.h"
#include "store/store.h"

#define D0 1704067200LL   /* 2024-01-01 */
#define DAY 86400LL

static char *capture_begin(FILE **f, size_t *len, char **buf) {
    *buf = NULL;
    *f = open_memstream(buf, len);
    assert_non_null(*f);
    return NULL;
}

static void merge_writes_members_back(void **state) {
    (void)state;
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    static const char *const taken[] = {"final_value", "books", NULL};
    mts_stored_json_merge(f, "{\"mode\":\"independent\",\"final_value\":-1,\"x\":0.30000000000000004,"
                             "\"s\":\"a\\\"b\",\"n\":null,\"arr\":[1,true,false],\"o\":{\"k\":2.5},\"books\":[]}",
                          taken);
    mts_stored_json_merge(f, NULL, taken);          /* nothing */
    mts_stored_json_merge(f, "[1,2]", taken);       /* not an object: nothing */
    mts_stored_json_merge(f, "{broken", taken);     /* not JSON: nothing */
    fclose(f);
    /* 0.30000000000000004 keeps its 17 digits (cJSON's printer would give 0.3) */
    assert_string_equal(buf, ",\"mode\":\"independent\",\"x\":0.30000000000000004,\"s\":\"a\\\"b\",\"n\":null,"
                             "\"arr\":[1,true,false],\"o\":{\"k\":2.5}");
    free(buf);
    assert_int_equal(mts_stored_json_has("{\"books\":[]}", "books"), 1);
    assert_int_equal(mts_stored_json_has("{\"books\":[]}", "mode"), 0);
    assert_int_equal(mts_stored_json_has(NULL, "books"), 0);
    assert_int_equal(mts_stored_json_has("[\"books\"]", "books"), 0);
}

static void book_as_json(void **state) {
    (void)state;
    mts_stored_book_t b;
    memset(&b, 0, sizeof b);
    b.book = 1;
    strcpy(b.strategy, "rsi");
    b.allocation = 0.4;
    b.initial = 400;
    b.final = 412.5;
    b.pnl = 12.5;
    b.fees = 0.75;
    b.funding = -0.25;
    b.trades = 3;
    b.metrics_json = "{\"return\":0.03125,\"sharpe\":1.5,\"pnl\":99}";   /* "pnl" is the row's own: left out */
    int64_t ts[] = {D0, D0 + DAY};
    double v[] = {400, 412.5};
    b.curve.ts = ts;
    b.curve.v = v;
    b.curve.n = 2;
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    mts_stored_book_json(f, &b, 0);
    fputc('|', f);
    mts_stored_book_json(f, &b, 1);
    fclose(f);
    const char *row = "{\"book\":1,\"strategy\":\"rsi\",\"allocation\":0.4,\"initial\":400,\"final\":412.5,"
                      "\"pnl\":12.5,\"fees\":0.75,\"funding\":-0.25,\"trades\":3,\"return\":0.03125,\"sharpe\":1.5";
    char want[1024];
    snprintf(want, sizeof want, "%s}|%s,\"curve\":[[1704067200,400],[1704153600,412.5]]}", row, row);
    assert_string_equal(buf, want);
    free(buf);
}

/* A stored run as mts_store_load_run gives it, built by hand. */
typedef struct {
    mts_stored_run_t   run;
    mts_stored_trade_t trades[2];
    mts_stored_book_t  books[2];
    int64_t            ts[3];
    double             eq[3];
} fixture_t;

static void fixture(fixture_t *x, const char *extra) {
    memset(x, 0, sizeof *x);
    mts_stored_run_t *r = &x->run;
    r->id = 7;
    r->strategy_name = "sma_cross,rsi";
    r->assets = "aaa,bbb";
    r->start_date = "2024-01-01T00:00:00Z";
    r->end_date = "2024-01-03T00:00:00Z";
    strcpy(r->interval, "1d");
    r->initial_capital = 1000;
    r->final_value = 1020;
    r->total_return = 0.02;
    r->trade_count = 1;
    r->extra_json = (char *)extra;
    for (int i = 0; i < 3; i++) {
        x->ts[i] = D0 + i * DAY;
        x->eq[i] = 1000 + 10 * i;
    }
    r->equity.ts = x->ts;
    r->equity.v = x->eq;
    r->equity.n = 3;
    r->has_details = 1;
    mts_stored_trade_t *t = &x->trades[0];
    strcpy(t->asset, "aaa");
    t->side = 1;
    t->qty = 2;
    t->entry_ts = D0;
    t->exit_ts = D0 + DAY;
    t->pnl = 4;
    strcpy(t->strategy, "sma_cross");
    t->entry_reason = "signal";
    t->exit_reason = "stop_loss";
    t->funding = -1.5;
    t->mae = -3;
    t->mfe = 5;
    x->trades[1] = *t;
    strcpy(x->trades[1].strategy, "rsi");
    x->trades[1].exit_reason = "end_of_data";
    x->trades[1].open = 1;
    x->trades[1].mae = NAN;
    r->trades = x->trades;
    r->n_trades = 2;
    mts_stored_book_t *b = &x->books[0];
    strcpy(b->strategy, "sma_cross");
    b->allocation = 0.6;
    b->initial = 600;
    b->final = 630;
    b->pnl = 30;
    b->fees = 1.25;
    b->funding = -1.5;
    b->trades = 1;
    b->metrics_json = "{\"return\":0.05,\"sharpe\":1.25,\"max_drawdown\":0.125,\"risk_trimmed\":2}";
    b = &x->books[1];
    b->book = 1;
    strcpy(b->strategy, "rsi");
    b->allocation = 0.4;
    b->initial = 400;
    b->final = 390;
    b->pnl = -10;
    b->trades = 0;                    /* no metrics stored: return = pnl / initial, the rest NaN */
    r->books = x->books;
    r->n_books = 2;
}

static const char EXTRA[] =
    "{\"mode\":\"independent\",\"sortino_ratio\":1.75,\"exposure_time\":0.5,\"avg_trade\":4,"
    "\"expectancy\":0.25,\"longest_losing_streak\":3,\"alpha\":0.125,\"beta\":0.5,"
    "\"benchmark\":{\"final_value\":1150,\"total_return\":0.15,\"volatility\":0.3,\"sharpe_ratio\":2,"
    "\"max_drawdown\":0}}";

static void extras_from_the_stored_numbers(void **state) {
    (void)state;
    fixture_t fx;
    fixture(&fx, EXTRA);
    mts_report_stored_t x;
    assert_int_equal(mts_report_stored_load(NULL, &fx.run, &x), 0);
    const mts_report_extra_t *e = &x.extra;
    /* the further metrics */
    assert_non_null(e->metrics);
    assert_true(e->metrics->sortino_ratio == 1.75 && e->metrics->exposure_time == 0.5);
    assert_true(e->metrics->avg_trade == 4 && e->metrics->expectancy == 0.25);
    assert_int_equal(e->metrics->longest_losing_streak, 3);
    assert_true(e->metrics->alpha == 0.125 && e->metrics->beta == 0.5);
    assert_non_null(e->benchmark_metrics);
    assert_true(e->benchmark_metrics->final_value == 1150 && e->benchmark_metrics->total_return == 0.15);
    assert_true(e->benchmark_metrics->sharpe_ratio == 2 && e->benchmark_metrics->max_drawdown == 0);
    assert_true(isnan(e->benchmark_metrics->annualized_return));   /* not stored */
    /* the books */
    assert_int_equal(e->n_books, 2);
    assert_string_equal(e->books[0].strategy, "sma_cross");
    assert_true(e->books[0].allocation == 0.6 && e->books[0].pnl == 30 && e->books[0].ret == 0.05);
    assert_true(e->books[0].sharpe == 1.25 && e->books[0].max_dd == 0.125);
    assert_true(e->books[0].fees == 1.25 && e->books[0].funding == -1.5 && e->books[0].trades == 1);
    assert_true(e->books[1].ret == -10.0 / 400.0);   /* -0.025 */
    assert_true(isnan(e->books[1].sharpe) && isnan(e->books[1].max_dd));
    /* the stories, one per trade */
    assert_int_equal(e->n_stories, 2);
    assert_string_equal(e->stories[0].strategy, "sma_cross");
    assert_string_equal(e->stories[0].exit_reason, "stop_loss");
    assert_true(e->stories[0].funding == -1.5 && e->stories[0].mae == -3 && e->stories[0].mfe == 5);
    assert_int_equal(e->stories[0].open, 0);
    assert_string_equal(e->stories[1].exit_reason, "end_of_data");
    assert_int_equal(e->stories[1].open, 1);
    assert_true(isnan(e->stories[1].mae));
    /* no store: no line, and the page says why */
    assert_null(e->benchmark);
    assert_non_null(e->benchmark_note);
    assert_non_null(strstr(e->benchmark_note, "No benchmark line"));
    mts_report_stored_free(&x);
    assert_null(x.books);

    /* a run stored before schema v8: no extra, no books, no further metrics */
    fixture(&fx, NULL);
    fx.run.n_books = 0;
    assert_int_equal(mts_report_stored_load(NULL, &fx.run, &x), 0);
    assert_null(x.extra.metrics);
    assert_null(x.extra.benchmark_metrics);
    assert_int_equal(x.extra.n_books, 0);
    mts_report_stored_free(&x);
    assert_int_equal(mts_report_stored_load(NULL, NULL, &x), MTS_EINVAL);
}

static void put_bars(mts_store_t *s, const char *asset, const int64_t *ts, const double *close, int n) {
    mts_bars_t b;
    memset(&b, 0, sizeof b);
    assert_int_equal(mts_bars_reserve(&b, n), 0);
    for (int i = 0; i < n; i++) {
        b.ts[i] = ts[i];
        b.open[i] = b.high[i] = b.low[i] = close[i];
        b.close[i] = close[i];
        b.volume[i] = 1;
    }
    b.n = n;
    assert_int_equal(mts_store_upsert_ohlcv(s, asset, "1d", &b), 0);
    mts_bars_free(&b);
}

static void benchmark_rebuilt_from_stored_bars(void **state) {
    (void)state;
    char path[] = "/tmp/mts-test-report-stored-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    /* aaa closes 10, 12, 15 on days 0..2 (and a bar the day before the run,
     * 99, outside it); bbb starts a day late: 50, 40 on days 1..2 */
    int64_t ta[] = {D0 - DAY, D0, D0 + DAY, D0 + 2 * DAY};
    double ca[] = {99, 10, 12, 15};
    put_bars(s, "aaa", ta, ca, 4);
    int64_t tb[] = {D0 + DAY, D0 + 2 * DAY};
    double cb[] = {50, 40};
    put_bars(s, "bbb", tb, cb, 2);

    /* 500 each: aaa buys 500/10 = 50 units on day 0; bbb stays cash until its
     * first close, day 1: 500/50 = 10 units.
     * day 0: 50*10 + 500 = 1000; day 1: 50*12 + 10*50 = 1100; day 2: 50*15 + 10*40 = 1150 */
    fixture_t fx;
    fixture(&fx, EXTRA);
    mts_report_stored_t x;
    assert_int_equal(mts_report_stored_load(s, &fx.run, &x), 0);
    assert_non_null(x.extra.benchmark);
    assert_int_equal(x.extra.benchmark->n, 3);
    assert_true(x.extra.benchmark->ts[0] == D0 && x.extra.benchmark->ts[2] == D0 + 2 * DAY);
    assert_true(fabs(x.extra.benchmark->v[0] - 1000) < 1e-9);
    assert_true(fabs(x.extra.benchmark->v[1] - 1100) < 1e-9);
    assert_true(fabs(x.extra.benchmark->v[2] - 1150) < 1e-9);
    assert_null(x.extra.benchmark_note);          /* it ends where the stored benchmark did */
    mts_report_stored_free(&x);

    /* the stored benchmark ended elsewhere: the bars changed since the run */
    static const char other[] = "{\"benchmark\":{\"final_value\":1200}}";
    fixture(&fx, other);
    assert_int_equal(mts_report_stored_load(s, &fx.run, &x), 0);
    assert_non_null(x.extra.benchmark);
    assert_non_null(x.extra.benchmark_note);
    assert_non_null(strstr(x.extra.benchmark_note, "1150.00"));
    assert_non_null(strstr(x.extra.benchmark_note, "1200.00"));
    mts_report_stored_free(&x);

    /* an asset whose bars are gone: no line, the note names it */
    fixture(&fx, EXTRA);
    fx.run.assets = "aaa,ccc";
    assert_int_equal(mts_report_stored_load(s, &fx.run, &x), 0);
    assert_null(x.extra.benchmark);
    assert_non_null(x.extra.benchmark_note);
    assert_non_null(strstr(x.extra.benchmark_note, "ccc"));
    assert_non_null(strstr(x.extra.benchmark_note, "gone"));
    /* the page: the note under the equity chart, no line */
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    assert_int_equal(mts_report_backtest_html_ex(f, &fx.run, &x.extra), 0);
    fclose(f);
    assert_null(strstr(buf, "id=\"benchmark-line\""));
    assert_non_null(strstr(buf, "<p class=\"note\" id=\"benchmark-note\">No benchmark line: the stored 1d bars of ccc"));
    free(buf);
    mts_report_stored_free(&x);

    mts_store_close(s);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge_writes_members_back),
        cmocka_unit_test(book_as_json),
        cmocka_unit_test(extras_from_the_stored_numbers),
        cmocka_unit_test(benchmark_rebuilt_from_stored_bars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
