/* test_feed_store.c — feeds/feed_store under write failures: a failed flush
 * keeps every row, a later flush stores them, rows past the buffer are dropped
 * and counted, and discard counts what is left. The failure is real SQLite
 * SQLITE_FULL: PRAGMA max_page_count on the store's own connection caps the
 * database at its current size (a "full disk" for this connection only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mts.h"
#include "feeds/feed_store.h"
#include "store/store.h"
#include "store/store_internal.h"

typedef struct {
    char path[64];
    mts_store_t *s;
    mts_feed_store_t *fs;
} fx_t;

static int setup(void **st) {
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/mts-test-feedstore-XXXXXX");
    int fd = mkstemp(f->path);
    close(fd);
    unlink(f->path);
    if (mts_store_open(f->path, &f->s) != 0) return -1;
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fx_t *f = *st;
    mts_feed_store_close(f->fs);
    mts_store_close(f->s);
    char aux[96];
    unlink(f->path);
    snprintf(aux, sizeof aux, "%s-wal", f->path); unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", f->path); unlink(aux);
    free(f);
    return 0;
}

static mts_feed_event_t trade(int id) {
    mts_feed_event_t e;
    memset(&e, 0, sizeof e);
    e.kind = MTS_FEV_TRADE;
    e.exchange = MTS_EXCH_BINANCE;
    e.side = MTS_SIDE_BUY;
    strcpy(e.symbol, "BTCUSDT");
    snprintf(e.trade_id, sizeof e.trade_id, "%d", id);
    e.ts_ms = 1700000000000LL + id;
    e.price = 100.0 + id;
    e.qty = 0.5;
    return e;
}

static int64_t count_trades(mts_store_t *s) {
    sqlite3_stmt *q;
    sqlite3_prepare_v2(mts_store_db(s), "SELECT COUNT(*) FROM trades", -1, &q, NULL);
    sqlite3_step(q);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* Caps the database at its current page count: the next write that needs a page fails.
 * Free pages first go back to the file system (VACUUM): a migration that rebuilt a
 * table leaves some, and writes would fill them without growing the file. */
static void disk_full(mts_store_t *s, int full) {
    sqlite3 *db = mts_store_db(s);
    if (full) {
        assert_int_equal(sqlite3_exec(db, "VACUUM", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_stmt *q;
        sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &q, NULL);
        sqlite3_step(q);
        int pages = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%d", pages);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    } else {
        sqlite3_exec(db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL);
    }
}

static void failed_flush_keeps_rows_and_retries(void **st) {
    fx_t *f = *st;
    assert_int_equal(mts_feed_store_open(f->s, 100, &f->fs), 0);
    assert_int_equal(mts_feed_store_reserve(f->fs, 5000), 0);
    disk_full(f->s, 1);
    /* 3000 trades (several pages of rows) while the disk is full: the batch of
     * 100 flushes once, fails, then rows are only kept */
    for (int i = 0; i < 3000; i++) {
        mts_feed_event_t e = trade(i);
        mts_feed_store_trade(f->fs, &e);
    }
    assert_true(mts_feed_store_failing(f->fs));
    assert_int_equal(mts_feed_store_pending(f->fs), 3000);
    assert_int_not_equal(mts_feed_store_flush(f->fs), 0);
    assert_int_equal(count_trades(f->s), 0);
    mts_feed_store_stats_t s;
    mts_feed_store_stats(f->fs, &s);
    assert_int_equal(s.not_stored_trades, 0);
    assert_true(s.flush_errors >= 2);
    assert_non_null(strstr(mts_feed_store_errmsg(f->fs), "full"));
    disk_full(f->s, 0);   /* space again */
    assert_int_equal(mts_feed_store_flush(f->fs), 0);
    assert_false(mts_feed_store_failing(f->fs));
    assert_int_equal(count_trades(f->s), 3000);
    mts_feed_store_stats(f->fs, &s);
    assert_int_equal(s.trades, 3000);
    assert_int_equal(s.not_stored_trades, 0);
}

static void rows_past_the_buffer_are_counted(void **st) {
    fx_t *f = *st;
    assert_int_equal(mts_feed_store_open(f->s, 100, &f->fs), 0);
    assert_int_equal(mts_feed_store_reserve(f->fs, 1000), 0);
    disk_full(f->s, 1);
    for (int i = 0; i < 2500; i++) {
        mts_feed_event_t e = trade(i);
        mts_feed_store_trade(f->fs, &e);
    }
    mts_level_t lv[3] = {{1, 1}, {2, 2}, {3, 3}};
    assert_int_not_equal(mts_feed_store_book(f->fs, MTS_EXCH_BINANCE, "BTCUSDT", 1, 7, lv, 3, lv, 2), 0);
    mts_feed_store_stats_t s;
    mts_feed_store_stats(f->fs, &s);
    assert_int_equal(mts_feed_store_pending(f->fs), 1000);
    assert_int_equal(s.not_stored_trades, 1500);        /* 2500 - the 1000 kept */
    assert_int_equal(s.not_stored_book_rows, 5);        /* 3 bids + 2 asks */
    assert_int_equal(mts_feed_store_discard(f->fs), 1000);
    mts_feed_store_stats(f->fs, &s);
    assert_int_equal(s.not_stored_trades, 2500);
    assert_int_equal(mts_feed_store_pending(f->fs), 0);
    assert_int_equal(count_trades(f->s), 0);
}

int main(void) {
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(failed_flush_keeps_rows_and_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(rows_past_the_buffer_are_counted, setup, teardown),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
