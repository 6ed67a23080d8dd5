/* test_csv.c — store/csv.c: importing the real files in ../shared/data
 * unchanged (crypto daily and intraday, CBOE VIX, FRED VIXCLS and DGS10),
 * the hand-made fixtures in tests/fixtures/csv (every bad row reported as
 * FILE:LINE: reason, good rows kept), re-import idempotence, export -> import
 * round trips, table export, and records crossing the reader's 1 MiB buffer.
 *
 * Expected values come from the file text itself, read here with a naive
 * line splitter (not the importer), or from the data set's README. The shared
 * data is found at $MTS_SHARED/data (default ../shared, relative to the repo
 * root, where the tests run); if it is missing those tests are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tmpdb.h"
#include "mts.h"
#include "market/interval.h"
#include "store/csv.h"
#include "store/imports.h"
#include "store/store.h"
#include "util/timeutil.h"

#define FIX "tests/fixtures/csv/"

typedef struct fx {
    char dir[64];
    char db[128];
    mts_store_t *s;
} fx_t;

static char shared_data[512];

static int have_shared(void) {
    struct stat st;
    return stat(shared_data, &st) == 0 && S_ISDIR(st.st_mode);
}

#define NEED_SHARED()                                                                  \
    do {                                                                               \
        if (!have_shared()) {                                                          \
            print_message("skipped: %s not found (set MTS_SHARED)\n", shared_data);    \
            skip();                                                                    \
        }                                                                              \
    } while (0)

static const char *data_file(const char *rel) {
    static char p[4][640];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", shared_data, rel);
    return p[k];
}

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (tmpdb_open("csv", f->dir, sizeof f->dir, f->db, sizeof f->db, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    int rc = tmpdb_close(f->dir, f->s);
    free(f);
    return rc;
}

/* ---- naive reading of the file text, independent of the importer ---- */

typedef struct textrow {
    char line[512];
    char *f[16];
    int nf;
} textrow_t;

static void split_naive(textrow_t *r) {
    r->line[strcspn(r->line, "\r\n")] = '\0';
    r->nf = 0;
    char *p = r->line;
    for (;;) {
        r->f[r->nf++] = p;
        char *c = strchr(p, ',');
        if (!c || r->nf == 16) break;
        *c = '\0';
        p = c + 1;
    }
}

/* Data line `which` (0 = first data row, -1 = last) of a file. */
static void text_row(const char *path, int which, textrow_t *out) {
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    int i = -1;
    int got = 0;
    while (fgets(line, sizeof line, fp)) {
        if (i >= 0 && (which < 0 || i == which)) {
            memcpy(out->line, line, sizeof line);
            got = 1;
        }
        i++;
    }
    fclose(fp);
    assert_true(got);
    split_naive(out);
}

/* Lines after the header, and how many have an empty or "." last field. */
static void count_lines(const char *path, int64_t *rows, int64_t *blank_last) {
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    *rows = -1;
    *blank_last = 0;
    while (fgets(line, sizeof line, fp)) {
        (*rows)++;
        if (*rows == 0) continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *c = strrchr(line, ',');
        if (c && (!strcmp(c + 1, "") || !strcmp(c + 1, "."))) (*blank_last)++;
    }
    fclose(fp);
}

static int64_t text_time(const char *s) {
    int64_t t;
    assert_int_equal(mts_time_parse(s, strlen(s), &t), 0);
    return t;
}

/* Collects what the importer writes to `err`. */
typedef struct cap {
    char *buf;
    size_t len;
    FILE *f;
} cap_t;

static void cap_open(cap_t *c) {
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

static const char *cap_text(cap_t *c) {
    fflush(c->f);
    return c->buf ? c->buf : "";
}

static void cap_close(cap_t *c) {
    fclose(c->f);
    free(c->buf);
}

/* ---- real files ---- */

static void check_daily(fx_t *f, const char *rel, const char *asset) {
    const char *path = data_file(rel);
    mts_import_report_t rep;
    cap_t err;
    cap_open(&err);
    assert_int_equal(mts_csv_import_ohlcv(f->s, path, asset, err.f, &rep), 0);
    assert_string_equal(cap_text(&err), "");
    cap_close(&err);
    /* README: 2,920 rows, 2018-03-17 .. 2026-03-14, no gaps */
    assert_int_equal(rep.rows_read, 2920);
    assert_int_equal(rep.rows_ok, 2920);
    assert_int_equal(rep.rows_rejected, 0);
    assert_int_equal(rep.rows_blank, 0);
    int64_t n;
    assert_int_equal(mts_store_count_ohlcv(f->s, asset, "1d", &n), 0);
    assert_int_equal(n, 2920);

    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, asset, "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 2920);
    /* 2018-03-17 = 17607 days; 2026-03-14 = 17607 + 2919 = 20526 days
     * (2026-01-01 = 56*365 + 14 leap days = 20454, + 31 + 28 + 13 = 20526) */
    assert_int_equal(b.ts[0], 17607LL * 86400);
    assert_int_equal(b.ts[2919], 20526LL * 86400);
    for (int k = 0; k < 2; k++) {
        textrow_t r;
        text_row(path, k ? -1 : 0, &r);
        int64_t i = k ? b.n - 1 : 0;
        assert_int_equal(b.ts[i], text_time(r.f[0]));
        assert_true(b.open[i] == strtod(r.f[1], NULL));
        assert_true(b.high[i] == strtod(r.f[2], NULL));
        assert_true(b.low[i] == strtod(r.f[3], NULL));
        assert_true(b.close[i] == strtod(r.f[4], NULL));
        assert_true(b.volume[i] == strtod(r.f[5], NULL));
    }
    mts_bars_free(&b);
}

static void test_import_daily_real(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    check_daily(f, "crypto/daily/BTCUSDT_1d_binance_spot.csv", "bitcoin");
    check_daily(f, "crypto/daily/ETHUSDT_1d_binance_spot.csv", "ethereum");
    check_daily(f, "crypto/daily/BNBUSDT_1d_binance_spot.csv", "binancecoin");
    /* values copied from the file text (first and last line of BTCUSDT_1d) */
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_true(b.open[0] == 8260.0 && b.high[0] == 8348.62 && b.low[0] == 7721.99 &&
                b.close[0] == 7824.8 && b.volume[0] == 33110.206329);
    assert_true(b.open[2919] == 70930.01 && b.high[2919] == 71307.92 && b.low[2919] == 70317.0 &&
                b.close[2919] == 70655.3 && b.volume[2919] == 6620.87102);
    mts_bars_free(&b);
    /* re-import: same rows, nothing added */
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv(f->s, data_file("crypto/daily/BTCUSDT_1d_binance_spot.csv"),
                                          "bitcoin", NULL, &rep), 0);
    assert_int_equal(rep.rows_ok, 2920);
    int64_t n;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 2920);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT SUM(n), date(MIN(first_ts), 'unixepoch'), date(MAX(last_ts), 'unixepoch') "
                                            "FROM ohlcv_blocks", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 3 * 2920);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "2018-03-17");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "2026-03-14");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The interval is told from the spacing: iv is what the data README says. */
static void check_intraday(fx_t *f, const char *rel, const char *asset, const char *iv, int64_t rows) {
    const char *path = data_file(rel);
    mts_import_report_t rep;
    mts_csv_info_t info;
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, path, asset, NULL, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_read, rows);
    assert_int_equal(rep.rows_ok, rows);
    assert_string_equal(info.interval, iv);
    assert_int_equal(info.interval_detected, 1);
    assert_null(info.unit);                 /* text times */
    int64_t other;                          /* nothing under another interval */
    assert_int_equal(mts_store_count_ohlcv(f->s, asset, "1d", &other), 0);
    assert_int_equal(other, 0);
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, asset, iv, INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, rows);
    textrow_t r;
    text_row(path, 0, &r);
    assert_int_equal(b.ts[0], text_time(r.f[0]));
    assert_true(b.close[0] == strtod(r.f[4], NULL));
    text_row(path, -1, &r);
    assert_int_equal(b.ts[rows - 1], text_time(r.f[0]));
    assert_true(b.volume[rows - 1] == strtod(r.f[5], NULL));
    mts_bars_free(&b);
}

static void test_import_intraday_real(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    /* row counts from the data README */
    check_intraday(f, "crypto/intraday/BTCUSDT_4h_binance_spot.csv", "btc4h", "4h", 17511);
    check_intraday(f, "crypto/intraday/BTCUSDT_1h_binance_spot.csv", "btc1h", "1h", 41577);    /* naive times */
    check_intraday(f, "crypto/intraday/BTCUSDT_1m_bybit_linear.csv", "btc1m", "1m", 43200);
    /* 2021-01-01 00:00:00 (naive, UTC) = 18628 days */
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "btc1h", "1h", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.ts[0], 18628LL * 86400);
    mts_bars_free(&b);
    /* the close-only file cannot be OHLCV: a clear error, nothing stored */
    cap_t err;
    cap_open(&err);
    const char *p = data_file("crypto/intraday/BTCUSDT_1m_close_binance_spot.csv");
    assert_int_equal(mts_csv_import_ohlcv(f->s, p, "closeonly", err.f, NULL), MTS_EPARSE);
    char want[800];
    snprintf(want, sizeof want, "%s: missing column 'open' (header: ts,close)\n", p);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
}

static void test_import_vix_cboe(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    const char *path = data_file("macro/VIX_History_cboe.csv");
    mts_import_report_t rep;
    /* no "value" or "VIX" column: CLOSE is used. The 47 rows whose OPEN lies
     * outside [LOW, HIGH] do not matter, only CLOSE is read. */
    assert_int_equal(mts_csv_import_macro(f->s, path, "VIX", NULL, stderr, &rep), 0);
    assert_int_equal(rep.rows_read, 9152);
    assert_int_equal(rep.rows_ok, 9152);
    assert_int_equal(rep.rows_blank, 0);
    mts_series_t sr = {0};
    assert_int_equal(mts_store_load_macro(f->s, "VIX", INT64_MIN, INT64_MAX, &sr), 0);
    assert_int_equal(sr.n, 9152);
    /* 01/02/1990 = 7306 days, CLOSE 17.24; 03/27/2026 = 20539 days, CLOSE 31.05 */
    assert_int_equal(sr.ts[0], 7306LL * 86400);
    assert_true(sr.v[0] == 17.24);
    assert_int_equal(sr.ts[sr.n - 1], 20539LL * 86400);
    assert_true(sr.v[sr.n - 1] == 31.05);
    textrow_t r;
    text_row(path, -1, &r);
    assert_true(sr.v[sr.n - 1] == strtod(r.f[4], NULL));
    /* 02/08/2006 is one of the rows with OPEN 41.6 > HIGH 13.61; its CLOSE is kept */
    int64_t t = text_time("02/08/2006");
    assert_int_equal(mts_store_load_macro(f->s, "VIX", t, t, &sr), 0);
    assert_int_equal(sr.n, 1);
    mts_series_free(&sr);
}

static void test_import_vixcls_fred(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    const char *path = data_file("macro/VIXCLS_fred.csv");
    int64_t rows, blank;
    count_lines(path, &rows, &blank);
    assert_int_equal(rows, 9199);           /* README: 9,199 rows */
    assert_int_equal(blank, 298);           /* README: 298 holidays with an empty value */
    mts_import_report_t rep;
    /* header observation_date,VIXCLS: the value column is named after the series */
    assert_int_equal(mts_csv_import_macro(f->s, path, "VIXCLS", NULL, stderr, &rep), 0);
    assert_int_equal(rep.rows_read, rows);
    assert_int_equal(rep.rows_blank, blank);
    assert_int_equal(rep.rows_ok, rows - blank);   /* 8901 */
    assert_int_equal(rep.rows_rejected, 0);
    int64_t n;
    assert_int_equal(mts_store_count_macro(f->s, "VIXCLS", &n), 0);
    assert_int_equal(n, rows - blank);
    /* 1990-02-19 (Presidents' Day) is blank in the file: no observation, not 0 */
    mts_series_t sr = {0};
    int64_t t = text_time("1990-02-19");
    assert_int_equal(mts_store_load_macro(f->s, "VIXCLS", t, t, &sr), 0);
    assert_int_equal(sr.n, 0);
    assert_int_equal(mts_store_load_macro(f->s, "VIXCLS", INT64_MIN, INT64_MAX, &sr), 0);
    assert_int_equal(sr.n, rows - blank);
    for (int64_t i = 0; i < sr.n; i++) assert_true(sr.v[i] > 0);
    assert_true(sr.v[sr.n - 1] == 45.31);   /* last line: 2025-04-04,45.31 */
    mts_series_free(&sr);
}

static void test_import_dgs10_fred(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    const char *path = data_file("macro/DGS10_fred.csv");
    int64_t rows, blank;
    count_lines(path, &rows, &blank);
    assert_int_equal(rows, 12001);
    assert_int_equal(blank, 502);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_macro(f->s, path, "DGS10", NULL, stderr, &rep), 0);
    assert_int_equal(rep.rows_read, rows);
    assert_int_equal(rep.rows_blank, blank);
    assert_int_equal(rep.rows_ok, rows - blank);
    mts_series_t sr = {0};
    assert_int_equal(mts_store_load_macro(f->s, "DGS10", INT64_MIN, INT64_MAX, &sr), 0);
    /* 1980-01-01 is blank, so the first value is 1980-01-02,10.5:
     * 1980-01-01 = 10*365 + 2 leap days (1972, 1976) = 3652 days, +1 */
    assert_int_equal(sr.ts[0], 3653LL * 86400);
    assert_true(sr.v[0] == 10.5);
    assert_true(sr.v[sr.n - 1] == 4.14);    /* 2025-12-30,4.14 */
    mts_series_free(&sr);
}

/* ---- hand-made fixtures ---- */

static void test_bad_rows_reported(void **state) {
    fx_t *f = *state;
    cap_t err;
    cap_open(&err);
    mts_import_report_t rep;
    /* the good rows are 1, 11 and 2 days apart: too few to tell the interval */
    const mts_csv_opts_t daily = {.interval = "1d"};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, FIX "bad_ohlcv.csv", "x", &daily, err.f, &rep, NULL), MTS_EPARTIAL);
    const char *want =
        FIX "bad_ohlcv.csv:4: bad time 'yesterday' in column open_time\n"
        FIX "bad_ohlcv.csv:5: high 9.5 < max(open, close) 10.2\n"
        FIX "bad_ohlcv.csv:6: low 10.5 > min(open, close) 10\n"
        FIX "bad_ohlcv.csv:7: close is not a number: 'abc'\n"
        FIX "bad_ohlcv.csv:8: open is not a number: '12abc'\n"
        FIX "bad_ohlcv.csv:9: volume must be >= 0, got -1\n"
        FIX "bad_ohlcv.csv:10: open must be > 0, got 0\n"
        FIX "bad_ohlcv.csv:11: high is not finite: 'NaN'\n"
        FIX "bad_ohlcv.csv:12: high is not finite: 'inf'\n"
        FIX "bad_ohlcv.csv:13: expected 7 fields, got 6\n"
        FIX "bad_ohlcv.csv:15: duplicate time 2024-01-02T00:00:00Z (first at line 3)\n"
        FIX "bad_ohlcv.csv:16: close is empty\n"
        FIX "bad_ohlcv.csv:17: bad time '2024-02-30 00:00:00+00:00' in column open_time\n"
        FIX "bad_ohlcv.csv:19: open must be > 0, got -5\n"
        FIX "bad_ohlcv.csv:20: duplicate time 2024-01-01T00:00:00Z (first at line 2)\n";
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    /* lines 2..21: 4 good (2, 3, 18, 21), 15 rejected, 1 blank (14) */
    assert_int_equal(rep.rows_read, 20);
    assert_int_equal(rep.rows_ok, 4);
    assert_int_equal(rep.rows_rejected, 15);
    assert_int_equal(rep.rows_blank, 1);
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "x", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 4);
    /* 2024-01-01 = 19723 days -> 1704067200 */
    assert_int_equal(b.ts[0], 1704067200LL);
    assert_true(b.close[0] == 105 && b.volume[0] == 1000);   /* line 2 kept, not line 20 */
    assert_int_equal(b.ts[1], 1704067200LL + 86400);
    /* line 18: 2024-01-13 02:00+02:00 = 2024-01-13 00:00Z; 2024-01-13 = 19723 + 12 = 19735 days */
    assert_int_equal(b.ts[2], 19735LL * 86400);
    /* line 21: 1705276800 s = 2024-01-15 (19737 days) */
    assert_int_equal(b.ts[3], 19737LL * 86400);
    assert_true(b.open[3] == 20 && b.close[3] == 20.5);
    mts_bars_free(&b);
}

static void test_quirks(void **state) {
    fx_t *f = *state;
    cap_t err;
    cap_open(&err);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv(f->s, FIX "quirks_bom_crlf_quoted.csv", "q", err.f, &rep), MTS_EPARTIAL);
    assert_string_equal(cap_text(&err), FIX "quirks_bom_crlf_quoted.csv:7: close is not a number: 'abc'\n");
    cap_close(&err);
    assert_int_equal(rep.rows_read, 6);     /* lines 2, 3, 4 (blank), 5-6, 7, 8 */
    assert_int_equal(rep.rows_ok, 4);
    assert_int_equal(rep.rows_blank, 1);
    assert_int_equal(rep.rows_rejected, 1);
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "q", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 4);
    /* 2024-03-01 = 19723 + 31 + 29 = 19783 days */
    assert_int_equal(b.ts[0], 19783LL * 86400);
    assert_true(b.open[0] == 61000.5 && b.close[0] == 61500.25 && b.volume[0] == 12.5);
    assert_true(b.open[1] == 61500.25);      /* " 61500.25 " */
    assert_true(b.volume[2] == 0 && b.close[2] == 61200);   /* the multi-line record */
    assert_int_equal(b.ts[3], (19783LL + 4) * 86400);        /* last line, no newline */
    assert_true(b.close[3] == 61000);
    mts_bars_free(&b);
}

static void test_file_errors(void **state) {
    fx_t *f = *state;
    cap_t err;
    mts_import_report_t rep;
    struct { const char *file; int rc; const char *msg; } cases[] = {
        {FIX "missing_volume.csv", MTS_EPARSE,
         FIX "missing_volume.csv: missing column 'volume' (header: open_time,open,high,low,close)\n"},
        {FIX "no_time_column.csv", MTS_EPARSE,
         FIX "no_time_column.csv: no time column (expected one of timestamp, open_time, date, observation_date, "
             "ts, time; header: day,open,high,low,close,volume)\n"},
        {FIX "empty.csv", MTS_EPARSE, FIX "empty.csv: empty file (expected a header row naming the columns)\n"},
        {FIX "does_not_exist.csv", MTS_EIO, FIX "does_not_exist.csv: cannot open: No such file or directory\n"},
        {FIX "header_only.csv", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cap_open(&err);
        assert_int_equal(mts_csv_import_ohlcv(f->s, cases[i].file, "e", err.f, &rep), cases[i].rc);
        assert_string_equal(cap_text(&err), cases[i].msg);
        cap_close(&err);
        assert_int_equal(rep.rows_ok, 0);
        if (cases[i].rc) {
            /* the store keeps the message too, without the newline */
            assert_int_equal(strncmp(mts_store_errmsg(f->s), cases[i].msg, strlen(cases[i].msg) - 1), 0);
        }
    }
    int64_t n;
    assert_int_equal(mts_store_count_ohlcv(f->s, "e", "1d", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(mts_csv_import_ohlcv(f->s, FIX "bad_ohlcv.csv", "", NULL, NULL), MTS_EINVAL);
    /* macro: a named column that is not there */
    cap_open(&err);
    assert_int_equal(mts_csv_import_macro(f->s, FIX "macro_mixed.csv", "VIX", "ADJ", err.f, &rep), MTS_EPARSE);
    assert_string_equal(cap_text(&err), FIX "macro_mixed.csv: no column 'ADJ' (header: DATE,OPEN,HIGH,LOW,CLOSE)\n");
    cap_close(&err);
    /* macro: none of value / the series name / close */
    char p[160], want[320];
    snprintf(p, sizeof p, "%s/novalue.csv", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("date,foo,bar\n2024-01-01,1,2\n", fp);
    fclose(fp);
    snprintf(want, sizeof want, "%s: no value column (looked for value, VIX, close; name one with --column; "
             "header: date,foo,bar)\n", p);
    cap_open(&err);
    assert_int_equal(mts_csv_import_macro(f->s, p, "VIX", NULL, err.f, &rep), MTS_EPARSE);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(mts_csv_import_macro(f->s, p, "VIX", "bar", NULL, &rep), 0);
    assert_int_equal(rep.rows_ok, 1);
}

static void test_macro_fixture(void **state) {
    fx_t *f = *state;
    cap_t err;
    cap_open(&err);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_macro(f->s, FIX "macro_mixed.csv", "VIX", NULL, err.f, &rep), MTS_EPARTIAL);
    assert_string_equal(cap_text(&err),
                        FIX "macro_mixed.csv:5: CLOSE is not a number: 'x1'\n"
                        FIX "macro_mixed.csv:6: duplicate date 2024-01-02 (first at line 2)\n"
                        FIX "macro_mixed.csv:8: bad time '13/01/2024' in column DATE\n");
    cap_close(&err);
    assert_int_equal(rep.rows_read, 8);
    assert_int_equal(rep.rows_ok, 3);
    assert_int_equal(rep.rows_blank, 2);
    assert_int_equal(rep.rows_rejected, 3);
    mts_series_t sr = {0};
    assert_int_equal(mts_store_load_macro(f->s, "VIX", INT64_MIN, INT64_MAX, &sr), 0);
    assert_int_equal(sr.n, 3);
    /* 2024-01-02 = 19724 days; 2024-01-08T15:30-05:00 = 20:30Z on 19730 -> its date; 2024-01-09 = 19731 */
    assert_int_equal(sr.ts[0], 19724LL * 86400);
    assert_true(sr.v[0] == 13.2);
    assert_int_equal(sr.ts[1], 19730LL * 86400);
    assert_true(sr.v[1] == 14.5);
    assert_int_equal(sr.ts[2], 19731LL * 86400);
    assert_true(sr.v[2] == -0.25);
    /* --column OPEN: the same rows, values from OPEN; line 5 (OPEN 13) is now fine */
    assert_int_equal(mts_csv_import_macro(f->s, FIX "macro_mixed.csv", "VIXO", "open", NULL, &rep), MTS_EPARTIAL);
    assert_int_equal(rep.rows_ok, 6);        /* 2, 3, 4, 5, 7, 9 */
    assert_int_equal(rep.rows_rejected, 2);  /* 6 duplicate, 8 bad date */
    assert_int_equal(mts_store_load_macro(f->s, "VIXO", INT64_MIN, INT64_MAX, &sr), 0);
    assert_int_equal(sr.n, 6);
    assert_true(sr.v[0] == 13 && sr.v[4] == 11 && sr.v[5] == 12);
    mts_series_free(&sr);
}

/* Out-of-order times: the duplicate check keeps working after the file
 * stops being sorted (days as unix seconds, day d = d * 86400). */
static void test_unsorted_duplicates(void **state) {
    fx_t *f = *state;
    char p[160];
    snprintf(p, sizeof p, "%s/unsorted.csv", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("ts,open,high,low,close,volume\n", fp);
    const int days[] = {1000, 999, 1001, 998, 999, 1001, 1002, 1000};   /* lines 2..9 */
    for (int i = 0; i < 8; i++) fprintf(fp, "%d,1,2,0.5,1.5,%d\n", days[i] * 86400, i + 2);
    fclose(fp);
    cap_t err;
    cap_open(&err);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv(f->s, p, "u", err.f, &rep), MTS_EPARTIAL);
    /* day 999: 1972-01-01 = 730 days; 999 - 730 = 269 days after Jan 1 of a leap
     * year; Jan..Aug = 31+29+31+30+31+30+31+31 = 244 -> Sep 1 + 25 = Sep 26 */
    char want[800];
    snprintf(want, sizeof want,
             "%s:6: duplicate time 1972-09-26T00:00:00Z (first at line 3)\n"
             "%s:7: duplicate time 1972-09-28T00:00:00Z (first at line 4)\n"
             "%s:9: duplicate time 1972-09-27T00:00:00Z (first at line 2)\n", p, p, p);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(rep.rows_ok, 5);
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "u", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 5);
    /* ascending: 998 (line 5), 999 (3), 1000 (2), 1001 (4), 1002 (8); volume = line */
    const int want_line[5] = {5, 3, 2, 4, 8};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(b.ts[i], (998LL + i) * 86400);
        assert_true(b.volume[i] == want_line[i]);
    }
    mts_bars_free(&b);
}

/* Every allocation the importer makes can fail: it reports out of memory
 * (or succeeds when the failure lands after it finished) and never crashes
 * or leaks (ASan checks the latter). */
static void test_import_alloc_failures(void **state) {
    fx_t *f = *state;
    int saw_enomem = 0, saw_ok = 0;
    for (long n = 0; n < 40; n++) {
        mts_import_report_t rep;
        mts_alloc_fail_after(n);
        int rc = mts_csv_import_ohlcv(f->s, FIX "quirks_bom_crlf_quoted.csv", "oom", NULL, &rep);
        mts_alloc_fail_after(-1);
        if (rc == MTS_ENOMEM) {
            saw_enomem = 1;
            assert_non_null(strstr(mts_store_errmsg(f->s), "out of memory"));
        } else {
            assert_int_equal(rc, MTS_EPARTIAL);
            assert_int_equal(rep.rows_ok, 4);
            saw_ok = 1;
        }
        mts_alloc_fail_after(n);
        rc = mts_csv_import_macro(f->s, FIX "macro_mixed.csv", "oom", NULL, NULL, &rep);
        mts_alloc_fail_after(-1);
        assert_true(rc == MTS_ENOMEM || rc == MTS_EPARTIAL);
    }
    assert_true(saw_enomem && saw_ok);
}

/* ---- round trips ---- */

static void test_roundtrip_ohlcv(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    assert_int_equal(mts_csv_import_ohlcv(f->s, data_file("crypto/daily/BTCUSDT_1d_binance_spot.csv"),
                                          "bitcoin", stderr, NULL), 0);
    char out[160];
    snprintf(out, sizeof out, "%s/btc.csv", f->dir);
    FILE *fp = fopen(out, "w");
    assert_non_null(fp);
    assert_int_equal(mts_csv_export_ohlcv(f->s, "bitcoin", INT64_MIN, INT64_MAX, fp), 0);
    fclose(fp);
    textrow_t r;
    text_row(out, 0, &r);
    fp = fopen(out, "r");
    char head[128];
    assert_non_null(fgets(head, sizeof head, fp));
    assert_string_equal(head, "timestamp,date,open,high,low,close,volume\n");
    assert_non_null(fgets(head, sizeof head, fp));
    assert_string_equal(head, "2018-03-17T00:00:00Z,2018-03-17,8260,8348.62,7721.99,7824.8,33110.206329\n");
    fclose(fp);

    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv(f->s, out, "bitcoin2", stderr, &rep), 0);
    assert_int_equal(rep.rows_ok, 2920);
    mts_bars_t a = {0}, b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin", "1d", INT64_MIN, INT64_MAX, &a), 0);
    assert_int_equal(mts_store_load_ohlcv(f->s, "bitcoin2", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(a.n, b.n);
    for (int64_t i = 0; i < a.n; i++) {
        assert_int_equal(a.ts[i], b.ts[i]);
        assert_true(a.open[i] == b.open[i] && a.high[i] == b.high[i] && a.low[i] == b.low[i] &&
                    a.close[i] == b.close[i] && a.volume[i] == b.volume[i]);
    }
    /* a range: 2018-03-18 .. 2018-03-20 inclusive is three bars */
    int64_t d = 17607LL * 86400;
    fp = fopen(out, "w");
    assert_int_equal(mts_csv_export_ohlcv(f->s, "bitcoin", d + 86400, d + 3 * 86400, fp), 0);
    fclose(fp);
    int64_t rows, blank;
    count_lines(out, &rows, &blank);
    assert_int_equal(rows, 3);
    mts_bars_free(&a);
    mts_bars_free(&b);
}

static void test_roundtrip_awkward_doubles(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    assert_int_equal(mts_bars_reserve(&b, 4), 0);
    /* within the bar rule (market/bar_check.h): prices <= 1e12, times from 1970 */
    double vals[4] = {0.1 + 0.2, 1e-7 * 3, 123456789.123456789, 1e12 / 3};
    for (int i = 0; i < 4; i++) {
        b.ts[i] = i * 86400;             /* the first second of 1970 too; daily, as stored */
        b.open[i] = b.high[i] = b.low[i] = b.close[i] = vals[i];
        b.volume[i] = vals[3 - i];
    }
    b.n = 4;
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "odd", "1d", &b), 0);
    char out[160];
    snprintf(out, sizeof out, "%s/odd.csv", f->dir);
    FILE *fp = fopen(out, "w");
    assert_int_equal(mts_csv_export_ohlcv(f->s, "odd", INT64_MIN, INT64_MAX, fp), 0);
    fclose(fp);
    assert_int_equal(mts_csv_import_ohlcv(f->s, out, "odd2", stderr, NULL), 0);
    mts_bars_t c = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "odd2", "1d", INT64_MIN, INT64_MAX, &c), 0);
    assert_int_equal(c.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c.ts[i], b.ts[i]);
        assert_true(c.close[i] == vals[i]);
        assert_true(c.volume[i] == vals[3 - i]);
    }
    mts_bars_free(&b);
    mts_bars_free(&c);
}

static void test_roundtrip_macro(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    assert_int_equal(mts_csv_import_macro(f->s, data_file("macro/VIXCLS_fred.csv"), "VIXCLS", NULL, stderr, NULL), 0);
    char out[160];
    snprintf(out, sizeof out, "%s/vix.csv", f->dir);
    FILE *fp = fopen(out, "w");
    assert_int_equal(mts_csv_export_macro(f->s, "VIXCLS", INT64_MIN, INT64_MAX, fp), 0);
    fclose(fp);
    fp = fopen(out, "r");
    char line[128];
    assert_non_null(fgets(line, sizeof line, fp));
    assert_string_equal(line, "date,value,is_interpolated,is_forward_filled\n");
    assert_non_null(fgets(line, sizeof line, fp));
    assert_string_equal(line, "1990-01-02,17.24,0,0\n");
    fclose(fp);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_macro(f->s, out, "VIXCLS2", NULL, stderr, &rep), 0);
    assert_int_equal(rep.rows_ok, 9199 - 298);
    mts_series_t a = {0}, b = {0};
    assert_int_equal(mts_store_load_macro(f->s, "VIXCLS", INT64_MIN, INT64_MAX, &a), 0);
    assert_int_equal(mts_store_load_macro(f->s, "VIXCLS2", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(a.n, b.n);
    for (int64_t i = 0; i < a.n; i++) {
        assert_int_equal(a.ts[i], b.ts[i]);
        assert_true(a.v[i] == b.v[i]);
    }
    mts_series_free(&a);
    mts_series_free(&b);
}


/* `mts export table crypto_ohlcv` after v7: the bars decoded from their
 * blocks, ordered by asset, interval, time (not by the order they were
 * stored), a series crossing blocks in one piece, the numbers as the
 * shortest text that reads back the same. */
static void test_export_table_bars(void **state) {
    fx_t *f = *state;
    mts_bars_t b = {0};
    assert_int_equal(mts_bars_reserve(&b, 1100), 0);
    /* zcoin 1h first, then acoin 1d (stored in that order) */
    b.n = 2;
    for (int i = 0; i < 2; i++) {
        b.ts[i] = 1704067200 + i * 3600;        /* 2024-01-01 00:00, 01:00 */
        b.open[i] = 0.1 + 0.2; b.high[i] = 2; b.low[i] = -0.0; b.close[i] = 1e-8; b.volume[i] = i;
    }
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "zcoin", "1h", &b), 0);
    b.n = 1100;                                 /* 1100 days cross a block of 1024 days */
    for (int i = 0; i < 1100; i++) {
        b.ts[i] = (int64_t)i * 86400;
        b.open[i] = b.high[i] = b.low[i] = b.close[i] = 100 + i;
        b.volume[i] = 0.5;
    }
    assert_int_equal(mts_store_upsert_ohlcv(f->s, "acoin", "1d", &b), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_int_equal(mts_csv_export_table(f->s, "crypto_ohlcv", m), 0);
    fclose(m);
    const char *head = "cryptocurrency,interval,timestamp,date_str,open,high,low,close,volume\n";
    assert_int_equal(strncmp(buf, head, strlen(head)), 0);
    const char *p = buf + strlen(head);
    assert_int_equal(strncmp(p, "acoin,1d,0,1970-01-01,100,100,100,100,0.5\nacoin,1d,86400,1970-01-02,101,", 72), 0);
    /* day 1023 (the last of the first block) and 1024 (the first of the next), in order */
    assert_non_null(strstr(p, "acoin,1d,88387200,1972-10-20,1123,1123,1123,1123,0.5\n"
                              "acoin,1d,88473600,1972-10-21,1124,1124,1124,1124,0.5\n"));
    const char *z = strstr(p, "zcoin");
    assert_non_null(z);
    assert_string_equal(z, "zcoin,1h,1704067200,2024-01-01,0.30000000000000004,2,-0,1e-08,0\n"
                           "zcoin,1h,1704070800,2024-01-01,0.30000000000000004,2,-0,1e-08,1\n");
    int lines = 0;
    for (const char *c = buf; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 1 + 1100 + 2);
    free(buf);
    mts_bars_free(&b);
}

static void test_export_table(void **state) {
    fx_t *f = *state;
    mts_signal_row_t rows[1] = {{.asset = "bitcoin", .strategy_name = "a,\"b\"", .signal_type = "LONG",
                                 .ts = 1521244800, .price = 8260.5, .confidence = 0.1 + 0.2,
                                 .position_size = NAN, .stop_loss = 7000, .take_profit = NAN}};
    assert_int_equal(mts_store_insert_signals(f->s, rows, 1), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_int_equal(mts_csv_export_table(f->s, "signal_history", m), 0);
    fclose(m);
    /* header = the table's columns; the strategy name is quoted, "" inside;
     * NaN was stored as NULL and comes out empty; 0.1 + 0.2 keeps all 17 digits */
    const char *want_head = "id,asset,signal_type,timestamp,price,strategy_name,confidence,position_size,"
                            "stop_loss,take_profit,created_at,session_id\n";
    assert_int_equal(strncmp(buf, want_head, strlen(want_head)), 0);
    const char *row = buf + strlen(want_head);
    const char *want_row = "1,bitcoin,LONG,1521244800,8260.5,\"a,\"\"b\"\"\",0.30000000000000004,,7000,,";
    assert_int_equal(strncmp(row, want_row, strlen(want_row)), 0);
    free(buf);
    /* only the four tables */
    m = open_memstream(&buf, &len);
    assert_int_equal(mts_csv_export_table(f->s, "sqlite_master", m), MTS_EINVAL);
    assert_int_equal(mts_csv_export_table(f->s, "crypto_ohlcv; DROP TABLE signal_history", m), MTS_EINVAL);
    fclose(m);
    assert_int_equal(len, 0);
    free(buf);
    for (int i = 0; i < 3; i++) {
        const char *t[] = {"crypto_ohlcv", "macro_indicators", "backtest_results"};
        /* crypto_ohlcv: the bars decoded from their blocks, the row table's
         * columns but id and created_at */
        const char *head[] = {"cryptocurrency,interval,timestamp,date_str,open,high,low,close,volume\n", "id,", "id,"};
        m = open_memstream(&buf, &len);
        assert_int_equal(mts_csv_export_table(f->s, t[i], m), 0);
        fclose(m);
        assert_int_equal(strncmp(buf, head[i], strlen(head[i])), 0);
        free(buf);
    }
}

/* Records that straddle the reader's 1 MiB buffer, quoted fields with
 * newlines among them, and one record larger than the buffer. */
static void test_big_file_buffer_edges(void **state) {
    fx_t *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/big.csv", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("timestamp,open,high,low,close,volume,note\n", fp);
    const int n = 40000;                     /* ~60 bytes a row: about 2.4 MB */
    for (int i = 0; i < n; i++) {
        if (i == 20000) {                    /* a 1.5 MB quoted note with newlines */
            fprintf(fp, "%d,10,11,9,10,1,\"", 1599999960 + i * 60);
            for (int k = 0; k < 1500000; k++) fputc(k % 1000 == 999 ? '\n' : (k % 7 == 0 ? ',' : 'a'), fp);
            fputs("\"\n", fp);
        } else if (i % 3 == 0) {
            fprintf(fp, "%d,10,11,9,10,%d,\"line one\nline \"\"two\"\"\"\n", 1599999960 + i * 60, i);
        } else {
            fprintf(fp, "%d,10,11,9,10,%d,plain\n", 1599999960 + i * 60, i);
        }
    }
    fprintf(fp, "bad,10,11,9,10,1,x\n");
    fclose(fp);
    /* the bad row's line: 1 header + n rows + one extra line per i % 3 == 0
     * row (13334 of them, i = 0, 3, ..., 39999 -> but 20000 is not one of them:
     * 20000 % 3 = 2) + 1500 newlines in the long note (k = 999, 1999, ...) */
    int64_t extra = (n + 2) / 3 + 1500;
    char want[256];
    snprintf(want, sizeof want, "%s:%lld: bad time 'bad' in column timestamp\n", path, (long long)(2 + n + extra));
    cap_t err;
    cap_open(&err);
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv(f->s, path, "big", err.f, &rep), MTS_EPARTIAL);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(rep.rows_ok, n);
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "big", "1m", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, n);
    for (int i = 0; i < n; i++) {
        if (b.ts[i] != 1599999960 + i * 60 || b.volume[i] != (i == 20000 ? 1 : i))
            fail_msg("row %d: ts %lld volume %g", i, (long long)b.ts[i], b.volume[i]);
    }
    mts_bars_free(&b);
}

/* ---- the import_runs record (store/imports.h) ---- */

typedef struct runrow { char kind[16], target[64], source[600], status[600]; long long rows; int finished; } runrow_t;

/* The import_runs rows, oldest first, read through a second connection. */
static int read_runs(const char *db, runrow_t *out, int max) {
    sqlite3 *c;
    if (sqlite3_open(db, &c) != SQLITE_OK) return -1;
    sqlite3_busy_timeout(c, 5000);
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(c, "SELECT kind, target, source, status, rows, finished_at IS NOT NULL"
                              " FROM import_runs ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(c);
        return -1;
    }
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out[n].kind, sizeof out[n].kind, "%s", sqlite3_column_text(st, 0));
        snprintf(out[n].target, sizeof out[n].target, "%s", sqlite3_column_text(st, 1));
        snprintf(out[n].source, sizeof out[n].source, "%s", sqlite3_column_text(st, 2));
        snprintf(out[n].status, sizeof out[n].status, "%s", sqlite3_column_text(st, 3));
        out[n].rows = sqlite3_column_int64(st, 4);
        out[n].finished = sqlite3_column_int(st, 5);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(c);
    return n;
}

static long long count_rows(const char *db, const char *asset) {
    sqlite3 *c;
    if (sqlite3_open(db, &c) != SQLITE_OK) return -1;
    sqlite3_busy_timeout(c, 5000);
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(c, "SELECT COALESCE(SUM(n), 0) FROM ohlcv_blocks WHERE cryptocurrency = ?1", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    return n;
}

static void test_import_records_runs(void **state) {
    fx_t *f = *state;
    char cwd[1024], want[1200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    mts_import_report_t rep;
    /* a file read to the end, some rows rejected: complete, rows = rows stored */
    const mts_csv_opts_t daily = {.interval = "1d"};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, FIX "bad_ohlcv.csv", "b", &daily, NULL, &rep, NULL), MTS_EPARTIAL);
    /* nothing stored (missing column): failed, with the reason */
    assert_int_equal(mts_csv_import_ohlcv(f->s, FIX "missing_volume.csv", "m", NULL, NULL), MTS_EPARSE);
    /* macro */
    assert_int_equal(mts_csv_import_macro(f->s, FIX "macro_mixed.csv", "VIX", NULL, NULL, NULL), MTS_EPARTIAL);
    runrow_t r[4];
    assert_int_equal(read_runs(f->db, r, 4), 3);
    snprintf(want, sizeof want, "%s/" FIX "bad_ohlcv.csv", cwd);
    assert_string_equal(r[0].kind, "ohlcv");
    assert_string_equal(r[0].target, "b");
    assert_string_equal(r[0].source, want);
    assert_string_equal(r[0].status, "complete");
    assert_int_equal(r[0].rows, rep.rows_ok);
    assert_true(r[0].finished);
    assert_string_equal(r[1].target, "m");
    assert_int_equal(r[1].rows, 0);
    snprintf(want, sizeof want, "failed: %s/" FIX "missing_volume.csv: missing column 'volume' "
             "(header: open_time,open,high,low,close)", cwd);
    /* the reason is the store's message, which names the file as given */
    assert_non_null(strstr(r[1].status, "failed: "));
    assert_non_null(strstr(r[1].status, "missing column 'volume'"));
    assert_string_equal(r[2].kind, "macro");
    assert_string_equal(r[2].target, "VIX");
    assert_string_equal(r[2].status, "complete");
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "b", NULL, NULL), 0);
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "m", NULL, NULL), 0);
}

/* An import killed (SIGKILL) after its first batch of 10,000 rows: the rows
 * committed so far stay, and its run stays 'running', so the series is known
 * to be incomplete. The file is a FIFO the test writes, so the kill lands
 * mid-file every time. */
static void test_killed_import_is_recorded(void **state) {
    fx_t *f = *state;
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/feed.csv", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);                              /* never outlive the test */
        mts_store_t *s = NULL;
        if (mts_store_open(f->db, &s)) _exit(2);
        mts_csv_import_ohlcv(s, fifo, "half", NULL, NULL);
        _exit(0);
    }
    FILE *w = fopen(fifo, "w");
    assert_non_null(w);
    fputs("timestamp,open,high,low,close,volume\n", w);
    /* 60,000 rows (about 1.5 MB): more than the reader's 1 MiB buffer, whose
     * fread waits for a full buffer; the FIFO is left open, so the import
     * waits for more after storing the whole batches it has read */
    for (int i = 0; i < 60000; i++) fprintf(w, "%d,10,11,9,10,1\n", 1599999960 + i * 60);
    fflush(w);
    long long n = 0;
    for (int k = 0; k < 6000 && n <= 0; k++) {   /* up to 60 s for the first commit */
        usleep(10000);
        n = count_rows(f->db, "half");
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    fclose(w);
    assert_true(WIFSIGNALED(status));
    n = count_rows(f->db, "half");
    assert_true(n >= 10000 && n < 60000 && n % 10000 == 0);   /* whole batches, not the file */
    runrow_t r[2];
    assert_int_equal(read_runs(f->db, r, 2), 1);
    assert_string_equal(r[0].target, "half");
    assert_string_equal(r[0].source, fifo);
    assert_string_equal(r[0].status, "running");
    assert_false(r[0].finished);
    assert_true(r[0].rows <= n && r[0].rows >= n - 10000);   /* written after each batch commits */
    assert_int_equal(mts_imports_outstanding(f->s, "ohlcv", "half", NULL, NULL), 1);
    char *warn = NULL;                           /* the lock died with the process: "killed" */
    assert_int_equal(mts_imports_warnings(f->s, "ohlcv", "half", NULL, &warn), 1);
    assert_non_null(strstr(warn, "did not finish (killed; "));
    mts_free(warn);
}

/* ---- issue 10: units, delimiters, headerless files, intervals ---- */

/* Writes text to DIR/name; returns the path (static, 4 in turn). */
static const char *put_file(fx_t *f, const char *name, const char *text) {
    static char p[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", f->dir, name);
    FILE *fp = fopen(p[k], "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return p[k];
}

static int64_t rows_of(fx_t *f, const char *asset) {   /* every interval, straight from SQLite */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COALESCE(SUM(n), 0) FROM ohlcv_blocks WHERE cryptocurrency = ?1",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* 2024-01-01T00:00:00Z: 54 years of 365 days + 13 leap days (1972..2020)
 * = 19723 days = 1704067200 s. The same three hourly bars in each unit. */
#define T2024 1704067200LL
static void test_time_units(void **state) {
    fx_t *f = *state;
    static const struct { const char *unit, *t[3]; } cases[] = {
        {"s", {"1704067200", "1704070800", "1704074400"}},
        {"ms", {"1704067200000", "1704070800000", "1704074400000"}},
        {"us", {"1704067200000000", "1704070800000000", "1704074400000000"}},   /* Binance spot since 2025 */
        {"ns", {"1704067200000000000", "1704070800000000000", "1704074400000000000"}},
    };
    for (size_t c = 0; c < 4; c++) {
        char text[512], asset[16];
        snprintf(text, sizeof text, "timestamp,open,high,low,close,volume\n%s,10,11,9,10.5,1\n%s,10.5,12,10,11,2\n"
                                    "%s,11,11.5,10.5,11,3\n", cases[c].t[0], cases[c].t[1], cases[c].t[2]);
        snprintf(asset, sizeof asset, "u_%s", cases[c].unit);
        mts_csv_info_t info;
        mts_import_report_t rep;
        assert_int_equal(mts_csv_import_ohlcv_ex(f->s, put_file(f, "u.csv", text), asset, NULL, stderr, &rep, &info), 0);
        assert_int_equal(rep.rows_ok, 3);
        assert_string_equal(info.unit, cases[c].unit);
        assert_string_equal(info.interval, "1h");
        assert_int_equal(info.interval_detected, 1);
        mts_bars_t b = {0};
        assert_int_equal(mts_store_load_ohlcv(f->s, asset, "1h", INT64_MIN, INT64_MAX, &b), 0);
        assert_int_equal(b.n, 3);
        for (int i = 0; i < 3; i++) assert_int_equal(b.ts[i], T2024 + 3600 * i);
        assert_true(b.volume[2] == 3);
        mts_bars_free(&b);
    }
}

/* A time that is not what the first row says refuses the file, with its line,
 * and nothing of it is stored. */
static void test_garbage_times_refuse_the_file(void **state) {
    fx_t *f = *state;
    static const struct { const char *name, *text, *want; } cases[] = {
        /* a µs time in a ms file: read as ms it would be the year 52971 */
        {"mixed_units", "ts,open,high,low,close,volume\n1704067200000,10,11,9,10,1\n1704070800000,10,11,9,10,1\n"
                        "1704074400000000,10,11,9,10,1\n",
         ":4: time 1704074400000000 in column ts looks like unix microseconds, but the file's first time (line 2) "
         "is in milliseconds; a column of mixed units is refused, nothing of it stored\n"},
        /* seconds, but in the year 3553 */
        {"far_future", "ts,open,high,low,close,volume\n1704067200,10,11,9,10,1\n1704070800,10,11,9,10,1\n"
                       "99999999999,10,11,9,10,1\n",
         ":4: time 99999999999 in column ts, read as unix seconds, is outside 1970-01-01..2100-01-01; the file is "
         "refused, nothing of it stored (is the column really a time?)\n"},
        {"too_long", "ts,open,high,low,close,volume\n1704067200,10,11,9,10,1\n17040672000000000000000,10,11,9,10,1\n",
         ":3: time '17040672000000000000000' in column ts has too many digits for unix time in any unit (s, ms, us, "
         "ns); the file is refused, nothing of it stored\n"},
        {"negative", "ts,open,high,low,close,volume\n-1704067200,10,11,9,10,1\n",
         ":2: time -1704067200 in column ts, read as unix seconds, is outside 1970-01-01..2100-01-01; the file is "
         "refused, nothing of it stored (is the column really a time?)\n"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *p = put_file(f, "g.csv", cases[c].text);
        cap_t err;
        cap_open(&err);
        assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "garbage", NULL, err.f, NULL, NULL), MTS_EPARSE);
        char want[640];
        snprintf(want, sizeof want, "%s%s", p, cases[c].want);
        assert_string_equal(cap_text(&err), want);
        cap_close(&err);
        assert_int_equal(rows_of(f, "garbage"), 0);
    }
    /* the unit is per column and per file: a macro file too */
    const char *p = put_file(f, "m.csv", "date,value\n1704067200000,1\n1704153600000000,2\n");
    assert_int_equal(mts_csv_import_macro_ex(f->s, p, "G", NULL, NULL, NULL, NULL), MTS_EPARSE);
    int64_t n;
    assert_int_equal(mts_store_count_macro(f->s, "G", &n), 0);
    assert_int_equal(n, 0);
}

static void test_delimiters(void **state) {
    fx_t *f = *state;
    /* European CSV: ';' between fields */
    const char *p = put_file(f, "semi.csv", "timestamp;open;high;low;close;volume\n"
                                            "2024-01-01;10;11;9;10.5;100\n2024-01-02;10.5;12;10;11;200\n"
                                            "2024-01-03;11;11.5;10.5;11;300\n");
    mts_csv_opts_t o = {.delimiter = ';'};
    mts_csv_info_t info;
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "semi", &o, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_ok, 3);
    assert_string_equal(info.interval, "1d");
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "semi", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ts[1], T2024 + 86400);
    assert_true(b.high[1] == 12 && b.volume[2] == 300);
    /* without --delimiter the same file has no time column (one field "timestamp;open;...") */
    assert_int_equal(mts_csv_import_ohlcv(f->s, p, "semi2", NULL, NULL), MTS_EPARSE);
    /* tabs, with a quoted field and spaces around fields */
    p = put_file(f, "tab.csv", "timestamp\topen\thigh\tlow\tclose\tvolume\tnote\n"
                               "2024-01-01\t10\t11\t9\t10.5\t100\t\"a\tb\"\n 2024-01-02 \t10.5\t12\t10\t11\t200\tx\n");
    o.delimiter = '\t';
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "tab", &o, stderr, &rep, NULL), 0);
    assert_int_equal(rep.rows_ok, 2);
    assert_int_equal(mts_store_load_ohlcv(f->s, "tab", "1d", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 2);
    assert_true(b.close[1] == 11);
    mts_bars_free(&b);
    /* a space or quote cannot be a delimiter: refused before anything is recorded */
    o.delimiter = ' ';
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "tab", &o, NULL, NULL, NULL), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "delimiter"));
}

static void test_headerless_columns(void **state) {
    fx_t *f = *state;
    /* Binance-style one-minute rows without a header; the 7th column skipped by '_' */
    const char *p = put_file(f, "nh.csv", "1704067200000,10,11,9,10.5,1,x\n1704067260000,10.5,12,10,11,2,x\n"
                                          "1704067320000,11,11.5,10.5,11,3,x\n");
    mts_csv_opts_t o = {.no_header = 1, .columns = "ts,open,high,low,close,volume,_"};
    mts_csv_info_t info;
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "nh", &o, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_read, 3);       /* the first row is data */
    assert_int_equal(rep.rows_ok, 3);
    assert_string_equal(info.interval, "1m");
    assert_string_equal(info.unit, "ms");
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "nh", "1m", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ts[0], T2024);
    assert_true(b.open[0] == 10 && b.volume[2] == 3);
    mts_bars_free(&b);
    /* --columns without --no-header: the file's own header row is replaced */
    p = put_file(f, "rn.csv", "Zeit,Eroeffnung,Hoch,Tief,Schluss,Umsatz\n2024-01-01,10,11,9,10.5,1\n2024-01-02,10.5,12,10,11,2\n");
    mts_csv_opts_t rn = {.columns = "date,open,high,low,close,volume"};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "rn", &rn, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_read, 2);
    assert_int_equal(rep.rows_ok, 2);
    assert_string_equal(info.interval, "1d");
    assert_int_equal(rows_of(f, "rn"), 2);
    /* --no-header without names: refused, saying what to add */
    mts_csv_opts_t bad = {.no_header = 1};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "nh2", &bad, NULL, NULL, NULL), MTS_EINVAL);
    assert_non_null(strstr(mts_store_errmsg(f->s), "--columns"));
    /* names without a time column */
    mts_csv_opts_t nots = {.no_header = 1, .columns = "when,open,high,low,close,volume,_"};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "nh3", &nots, NULL, NULL, NULL), MTS_EPARSE);
    assert_non_null(strstr(mts_store_errmsg(f->s), "no time column"));
    assert_int_equal(rows_of(f, "nh3"), 0);
}

/* Binance kline dumps (data.binance.vision): 12 columns, no header. The
 * first row is the documented REST example (../shared/data/samples/
 * binance_spot/rest_klines.json: one weekly kline, BNBBTC, ms); the three
 * rows after it are written by the same layout with µs times, as spot dumps
 * have since 2025 (2025-01-01 = 20089 days = 1735689600 s). */
static void test_binance_preset(void **state) {
    fx_t *f = *state;
    const char *p = put_file(f, "kl.csv",
        "1499040000000,0.01634790,0.80000000,0.01575800,0.01577100,148976.11427815,1499644799999,"
        "2434.19055334,308,1756.87402397,28.46694368,0\n");
    mts_csv_opts_t o = {.format = "binance", .interval = "1w"};   /* one bar: the interval must be given */
    mts_csv_info_t info;
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "bnbbtc", &o, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_ok, 1);
    assert_string_equal(info.interval, "1w");
    mts_bars_t b = {0};
    assert_int_equal(mts_store_load_ohlcv(f->s, "bnbbtc", "1w", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.ts[0], 1499040000LL);         /* a Monday: 17350 days, 17350 % 7 = 4 after a Thursday */
    assert_true(b.open[0] == 0.0163479 && b.high[0] == 0.8 && b.low[0] == 0.015758 && b.close[0] == 0.015771 &&
                b.volume[0] == 148976.11427815);
    /* without the interval one bar cannot tell it: refused, naming the fix */
    cap_t err;
    cap_open(&err);
    mts_csv_opts_t o2 = {.format = "binance"};
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "bnbbtc2", &o2, err.f, NULL, NULL), MTS_EPARSE);
    assert_non_null(strstr(cap_text(&err), "cannot tell the interval of the bars: fewer than 2 bars"));
    assert_non_null(strstr(cap_text(&err), "use --interval"));
    cap_close(&err);

    p = put_file(f, "kl2.csv",
        "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999999,768978.59,2164,"
        "6.20000000,580131.30,0\n"
        "1735689660000000,93610.93,93652.00,93606.00,93631.08,14.81350000,1735689719999999,1387182.95,3281,"
        "8.01000000,750062.79,0\n"
        "1735689720000000,93631.08,93644.56,93600.00,93600.00,9.90000000,1735689779999999,926815.62,2212,"
        "3.79000000,354860.23,0\n");
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "btc", &o2, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_ok, 3);
    assert_string_equal(info.interval, "1m");
    assert_string_equal(info.unit, "us");
    assert_int_equal(mts_store_load_ohlcv(f->s, "btc", "1m", INT64_MIN, INT64_MAX, &b), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ts[0], 1735689600LL);
    assert_int_equal(b.ts[2], 1735689600LL + 120);
    assert_true(b.close[1] == 93631.08 && b.volume[1] == 14.8135);
    /* a dump with a header row after all: skipped */
    p = put_file(f, "kl3.csv",
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore\n"
        "1735689600000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999,768978.59,2164,6.2,580131.3,0\n"
        "1735689660000,93610.93,93652.00,93606.00,93631.08,14.81350000,1735689719999,1387182.95,3281,8.01,750062.79,0\n");
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "btc2", &o2, stderr, &rep, &info), 0);
    assert_int_equal(rep.rows_ok, 2);
    assert_int_equal(rep.rows_read, 2);
    mts_bars_free(&b);
}

static void test_interval_detection(void **state) {
    fx_t *f = *state;
    static const struct { const char *text, *iv; } ok[] = {
        {"timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 01:00:00,1,1,1,1,1\n"
         "2024-01-01 03:00:00,1,1,1,1,1\n2024-01-01 04:00:00,1,1,1,1,1\n", "1h"},        /* a gap is fine */
        {"timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 04:00:00,1,1,1,1,1\n"
         "2024-01-01 08:00:00,1,1,1,1,1\n", "4h"},
        {"timestamp,open,high,low,close,volume\n2024-01-03,1,1,1,1,1\n2024-01-01,1,1,1,1,1\n"
         "2024-01-02,1,1,1,1,1\n", "1d"},                                                   /* any order */
    };
    for (size_t c = 0; c < 3; c++) {
        mts_csv_info_t info;
        char asset[8];
        snprintf(asset, sizeof asset, "d%zu", c);
        assert_int_equal(mts_csv_import_ohlcv_ex(f->s, put_file(f, "d.csv", ok[c].text), asset, NULL, stderr,
                                                 NULL, &info), 0);
        assert_string_equal(info.interval, ok[c].iv);
        assert_int_equal(info.interval_detected, 1);
        int64_t n;
        assert_int_equal(mts_store_count_ohlcv(f->s, asset, ok[c].iv, &n), 0);
        assert_int_equal(n, c == 1 ? 3 : c == 0 ? 4 : 3);
    }
    /* mixed: hourly, 2-hourly and 4-hourly spacings, two each, none covers half: refused, naming the spacing */
    const char *mixed = "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n"
                        "2024-01-01 01:00:00,1,1,1,1,1\n2024-01-01 05:00:00,1,1,1,1,1\n2024-01-01 06:00:00,1,1,1,1,1\n"
                        "2024-01-01 10:00:00,1,1,1,1,1\n2024-01-01 12:00:00,1,1,1,1,1\n2024-01-01 14:00:00,1,1,1,1,1\n";
    const char *p = put_file(f, "mixed.csv", mixed);
    cap_t err;
    cap_open(&err);
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "mixed", NULL, err.f, NULL, NULL), MTS_EPARSE);
    char want[800];
    snprintf(want, sizeof want, "%s: cannot tell the interval of the bars: spacings are mixed: no single interval "
             "covers half of them (the most common spacing is 3600 s (1h), between 2 of 6 pairs of consecutive "
             "bars); use --interval (one of %s)\n", p, MTS_INTERVALS);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(rows_of(f, "mixed"), 0);
    /* --interval disagreeing with the spacing: refused, naming two lines */
    p = put_file(f, "daily.csv", ok[2].text);
    mts_csv_opts_t o = {.interval = "1h"};
    cap_open(&err);
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "dis", &o, err.f, NULL, NULL), MTS_EPARSE);
    snprintf(want, sizeof want, "%s:4: the bars are 86400 s (1d) apart (e.g. lines 3 and 4) but --interval is 1h; "
             "leave --interval out to store them as 1d, or import the 1h file\n", p);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(rows_of(f, "dis"), 0);
    /* a bar off the grid: refused with its line */
    p = put_file(f, "off.csv", "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n"
                               "2024-01-01 01:00:00,1,1,1,1,1\n2024-01-01 02:00:00,1,1,1,1,1\n"
                               "2024-01-01 02:30:00,1,1,1,1,1\n2024-01-01 03:00:00,1,1,1,1,1\n"
                               "2024-01-01 04:00:00,1,1,1,1,1\n2024-01-01 05:00:00,1,1,1,1,1\n");
    cap_open(&err);
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, p, "off", NULL, err.f, NULL, NULL), MTS_EPARSE);
    snprintf(want, sizeof want, "%s:5: bar time 2024-01-01T02:30:00Z is not on the 1h grid (the 1h bar would open "
             "at 2024-01-01T02:00:00Z); a file of 1h bars must not mix in other times (split the file, or use the "
             "right --interval)\n", p);
    assert_string_equal(cap_text(&err), want);
    cap_close(&err);
    assert_int_equal(rows_of(f, "off"), 0);
    /* the run says which interval it stored (import_runs.interval) */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT target, interval FROM import_runs WHERE target IN "
                                            "('d0','d1','d2','dis') ORDER BY id", -1, &st, NULL), SQLITE_OK);
    static const char *const want_iv[4][2] = {{"d0", "1h"}, {"d1", "4h"}, {"d2", "1d"}, {"dis", "1h"}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), want_iv[i][0]);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), want_iv[i][1]);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Every stored column of the asset's blocks at one interval (the bars' blob
 * as hex), as text. */
static char *dump_rows(fx_t *f, const char *asset, const char *iv) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(id || '|' || interval || '|' || block_start || '|' || "
                                            "n || '|' || first_ts || '|' || last_ts || '|' || hex(bars) || '|' || "
                                            "updated_at, ';') FROM (SELECT * FROM ohlcv_blocks WHERE cryptocurrency = ?1 "
                                            "AND interval = ?2 ORDER BY id)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, iv, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *out = strdup(t ? t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Hourly bars imported under an asset that has daily bars: the daily rows
 * stay as they were, byte for byte (the 00:00 hourly bar does not overwrite
 * the daily bar of that day). */
static void test_hourly_beside_daily(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    assert_int_equal(mts_csv_import_ohlcv(f->s, data_file("crypto/daily/BTCUSDT_1d_binance_spot.csv"), "bitcoin",
                                          NULL, NULL), 0);
    char *before = dump_rows(f, "bitcoin", "1d");
    assert_true(strlen(before) > 100000);
    mts_csv_info_t info;
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_ohlcv_ex(f->s, data_file("crypto/intraday/BTCUSDT_1h_binance_spot.csv"),
                                             "bitcoin", NULL, NULL, &rep, &info), 0);
    assert_string_equal(info.interval, "1h");
    char *after = dump_rows(f, "bitcoin", "1d");
    assert_string_equal(before, after);
    int64_t n;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 2920);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1h", &n), 0);
    assert_int_equal(n, 41577);
    assert_int_equal(rows_of(f, "bitcoin"), 2920 + 41577);
    /* and the other way round: the daily file again leaves the hourly rows alone */
    char *h1 = dump_rows(f, "bitcoin", "1h");
    assert_int_equal(mts_csv_import_ohlcv(f->s, data_file("crypto/daily/BTCUSDT_1d_binance_spot.csv"), "bitcoin",
                                          NULL, NULL), 0);
    char *h2 = dump_rows(f, "bitcoin", "1h");
    assert_string_equal(h1, h2);
    free(before);
    free(after);
    free(h1);
    free(h2);
}

/* FRED's own download has one value column named after the series: it is
 * taken without --column, whatever the indicator is called. */
static void test_two_column_macro(void **state) {
    NEED_SHARED();
    fx_t *f = *state;
    const char *p = data_file("macro/VIXCLS_fred.csv");
    mts_import_report_t rep;
    assert_int_equal(mts_csv_import_macro(f->s, p, "VIX", NULL, stderr, &rep), 0);
    int64_t rows, blank;
    count_lines(p, &rows, &blank);
    assert_int_equal(rep.rows_ok, rows - blank);
    mts_series_t v = {0};
    int64_t t = text_time("1990-01-02");
    assert_int_equal(mts_store_load_macro(f->s, "VIX", t, t, &v), 0);
    assert_int_equal(v.n, 1);
    assert_true(v.v[0] == 17.24);           /* line 2 of the file */
    mts_series_free(&v);
    /* three columns: still needs --column */
    const char *q = put_file(f, "three.csv", "date,a,b\n2024-01-01,1,2\n");
    assert_int_equal(mts_csv_import_macro(f->s, q, "X", NULL, NULL, NULL), MTS_EPARSE);
}

/* Bundled intraday data: bitcoin at 1h and 4h is imported on first use, each
 * under its interval (config/mts.json datasets.assets.bitcoin.intervals). */
static void test_bundled_intervals_first_use(void **state) {
    fx_t *f = *state;
    /* rows counted from the bundled files by line (header excluded) */
    int64_t rows1h, rows4h, blank;
    count_lines("data/crypto/BTCUSDT_1h_binance_spot.csv", &rows1h, &blank);
    count_lines("data/crypto/BTCUSDT_4h_binance_spot.csv", &rows4h, &blank);
    assert_int_equal(rows1h, 41577);       /* and the data README says so */
    assert_int_equal(rows4h, 17511);
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "bitcoin", "1h"), 0);
    int64_t n;
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1h", &n), 0);
    assert_int_equal(n, rows1h);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 0);                /* only what was asked for */
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "bitcoin", "4h"), 0);
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "4h", &n), 0);
    assert_int_equal(n, rows4h);
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "bitcoin", NULL), 0);   /* NULL = 1d, as before */
    assert_int_equal(mts_store_count_ohlcv(f->s, "bitcoin", "1d", &n), 0);
    assert_int_equal(n, 2920);
    /* no bundled 1h ethereum, and a name that is no interval */
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "ethereum", "1h"), MTS_ENOTFOUND);
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "bitcoin", "2d"), MTS_EINVAL);
    /* a second use imports nothing: one run per series */
    assert_int_equal(mts_store_ensure_asset(f->s, ".", "bitcoin", "1h"), 0);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(interval || ':' || status || ':' || rows, ' ') FROM "
                                            "(SELECT * FROM import_runs WHERE target = 'bitcoin' ORDER BY id)",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char want[128];
    snprintf(want, sizeof want, "1h:complete:%lld 4h:complete:%lld 1d:complete:2920", (long long)rows1h,
             (long long)rows4h);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void) {
    const char *sh = getenv("MTS_SHARED");
    snprintf(shared_data, sizeof shared_data, "%s/data", sh && *sh ? sh : "../shared");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_daily_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_intraday_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_vix_cboe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_vixcls_fred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_dgs10_fred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quirks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_macro_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsorted_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_ohlcv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_awkward_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_macro, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_table_bars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_file_buffer_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_records_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_import_is_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_units, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_times_refuse_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delimiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headerless_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binance_preset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_detection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hourly_beside_daily, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_column_macro, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundled_intervals_first_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
