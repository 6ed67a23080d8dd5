/* csv.h — CSV import with options (store/csv.c): the interval of an OHLCV
 * file, its delimiter, files without a header row, Binance's kline dumps.
 * store.h's mts_csv_import_ohlcv / mts_csv_import_macro are these with all
 * options at their defaults. Needs store.h.
 *
 * Times (the time column, per file):
 *   - a plain integer is unix time whose unit is told by its magnitude:
 *     below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds
 *     (Binance spot dumps since 2025), else nanoseconds. The FIRST data row
 *     decides the unit of the file; a later row of another magnitude refuses
 *     the file ("FILE:LINE: ... the file's first row (line L) is in ms").
 *     Seconds may have a fraction (floored); the other units may not.
 *   - text: "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS[.fff][Z|+00:00]" (or 'T'),
 *     "MM/DD/YYYY" (util/timeutil.h). A text that does not parse rejects its
 *     row (FILE:LINE: bad time ...).
 *   - a unix time outside 1970-01-01 .. 2100-01-01 refuses the file with its
 *     line: it means the column is not what it seems (a µs time read as ms
 *     would be the year 52971), so nothing of it may be stored.
 *
 * Interval (OHLCV): opts->interval, else told from the spacing of the times
 * of the file's first 10,000 rows whose time could be read (also rows then
 * rejected for their values) (market/interval.h mts_interval_detect); when it
 * cannot be told the file is refused naming the spacing ("use --interval").
 * Given and told differently: refused, naming two lines that are that far
 * apart. Every bar must open on the interval's grid: one that does not
 * refuses the file with its line. Nothing is stored before the interval is
 * known; a refusal after the first 10,000 rows leaves those rows and a
 * 'failed' import_runs record, so backtests warn (store/imports.h).
 * Bars are stored under (asset, interval); no other interval is touched.
 *
 * Columns: the header row names them, or opts->columns does
 * ("ts,open,high,low,close,volume"; "_" or "-" skips a column). With
 * opts->no_header the first row is data. opts->format "binance" is Binance's
 * 12-column kline layout (open_time, open, high, low, close, volume,
 * close_time, quote_volume, trades, taker_buy_base, taker_buy_quote, ignore)
 * without a header; a header row, if the file has one, is skipped.
 * opts->delimiter: one byte (0 = ','), e.g. ';' or '\t'; not a space, quote,
 * CR or LF.
 *
 * Macro: the value column is opts->column, else "value", else the
 * indicator's name, else CLOSE, else — in a file of two columns — the one
 * that is not the time (FRED's observation_date,VIXCLS). */
#ifndef MTS_STORE_CSV_H
#define MTS_STORE_CSV_H

#include "store/store.h"

typedef struct mts_csv_opts {
    const char *interval;   /* OHLCV: a name of market/interval.h; NULL = tell from the spacing */
    char delimiter;         /* 0 = ',' */
    int no_header;          /* the first row is data (needs columns or format) */
    const char *columns;    /* names of the columns, comma separated; NULL = the header's */
    const char *format;     /* NULL, or "binance" */
    const char *column;     /* macro: the value column; NULL = see above */
} mts_csv_opts_t;

/* What an import found out (may be NULL). */
typedef struct mts_csv_info {
    char interval[8];       /* OHLCV: the interval stored under ("" when refused before it was known) */
    int interval_detected;  /* 1 when told from the spacing, 0 when given */
    const char *unit;       /* unit of integer times: "s", "ms", "us", "ns"; NULL when the times are text */
} mts_csv_info_t;

/* The formats opts->format accepts, NULL-terminated. */
extern const char *const mts_csv_formats[];

/* 0, MTS_EPARTIAL (rows rejected; the good ones stored), MTS_EINVAL (bad
 * options: message in mts_store_errmsg), or an error refusing the file
 * (MTS_EPARSE, MTS_EIO, ...; message on err and in mts_store_errmsg). */
int mts_csv_import_ohlcv_ex(mts_store_t *s, const char *path, const char *asset, const mts_csv_opts_t *opts,
                            FILE *err, mts_import_report_t *rep, mts_csv_info_t *info);
int mts_csv_import_macro_ex(mts_store_t *s, const char *path, const char *indicator, const mts_csv_opts_t *opts,
                            FILE *err, mts_import_report_t *rep, mts_csv_info_t *info);

/* ---- funding (issue 12): `mts import funding FILE --symbol S --exchange E` ----
 * A funding history (an exchange's settlements) into funding_rates under
 * (exchange, symbol) as settlement rows (next_funding_ms NULL; market/funding.h
 * says what they become). Columns (header names, any case, or opts->columns
 * with opts->no_header): a time column (ts, timestamp, time, fundingTime,
 * funding_time, fundingRateTimestamp, calc_time), a rate (rate, fundingRate,
 * funding_rate, last_funding_rate), optionally a mark price (mark_price,
 * markPrice, mark) and a symbol column (symbol): a row of another symbol is
 * rejected. opts->delimiter as for OHLCV; opts->format/interval/column are
 * refused (MTS_EINVAL).
 * Times: as for OHLCV (unit by magnitude, decided by the first row; a time
 * of another unit or outside 1970..2100 refuses the file, nothing stored),
 * kept to the millisecond (us/ns floored to ms; text times to the second).
 * A row is rejected (FILE:LINE: reason on err; the rest is stored) when: a
 * field is not a number, the rate is not finite or |rate| > 1, a mark price is
 * given and not > 0, its symbol is not `symbol`, or its time is on another row
 * of the file with a different rate or mark price (every row of that time is
 * rejected: the file does not say which is right). The same time twice with
 * the same values is stored once (dup).
 * Nothing is written before the whole file has been read and checked; then one
 * transaction stores the good rows with INSERT OR IGNORE: a row already stored
 * for the same (exchange, symbol, ts_ms) is kept as it is. When its rate or
 * mark price differ from the file's, the file's row is reported on err
 * ("FILE:LINE: ... already stored with rate X; kept, this file's rate Y not
 * stored") and counted in `differ` (rc MTS_EPARTIAL); equal ones count in
 * `same`. Other symbols and exchanges are never touched. Recorded in
 * import_runs (kind "funding", target "SYMBOL@exchange", store/imports.h).
 * Returns 0, MTS_EPARTIAL (rows rejected or differing), MTS_EINVAL (bad
 * arguments or options), or an error refusing the file (MTS_EPARSE, MTS_EIO,
 * MTS_EDB, ...; message on err and in mts_store_errmsg). */
typedef struct mts_funding_import {
    int64_t rows_read;      /* lines after the header (= ok + dup + rejected + blank) */
    int64_t rows_ok;        /* rows that passed the checks (dup not counted) */
    int64_t rows_rejected, rows_blank;
    int64_t dup;            /* the same time again in the file with the same values */
    int64_t stored;         /* new rows written */
    int64_t same;           /* already stored with the same values */
    int64_t differ;         /* already stored with another rate or mark (kept) */
    int64_t first_ms, last_ms;   /* of the ok rows (0 when none) */
    const char *unit;       /* unit of integer times: "s", "ms", "us", "ns"; NULL when text */
} mts_funding_import_t;

int mts_csv_import_funding(mts_store_t *s, const char *path, const char *symbol, const char *exchange,
                           const mts_csv_opts_t *opts, FILE *err, mts_funding_import_t *rep);

/* First use (store/datasets.c): when funding_rates has no row of (symbol,
 * exchange) — or the last import of the bundled file did not finish — and
 * config/mts.json datasets.funding."SYMBOL@exchange".file names a file under
 * root, it is imported (a line on stderr says so). exchange NULL: the one
 * bundled exchange of symbol (several: nothing is imported). 0 (also when
 * there is nothing to import), or the import's error. */
int mts_store_ensure_funding(mts_store_t *s, const char *root, const char *symbol, const char *exchange);

#endif
