/* export.c — `mts export ohlcv|macro|table`: write stored bars, a macro
 * series or a whole table as CSV, to stdout or to --out FILE (written to a
 * temporary file beside it and renamed, so a failed export never leaves half
 * a file). The OHLCV and macro formats read back with `mts import`.
 * OHLCV bars come from market/series.h: the stored series of --interval, or
 * resampled from a finer stored one (stderr says which). Numbers are written
 * as the shortest text that reads back as the same double. */
#include "cmd/cmd.h"
#include "market/interval.h"
#include "market/series.h"
#include "store/imports.h"
#include "util/config.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLES mts_store_tables

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts export ohlcv --asset NAME [--interval 1h [--complete-only]] [--from DATE] [--to DATE] [--out FILE] [--db PATH]\n"
        "       mts export macro --indicator NAME [--from DATE] [--to DATE] [--out FILE] [--db PATH]\n"
        "       mts export table NAME [--out FILE] [--db PATH]\n\n"
        "Writes stored data as CSV (to stdout unless --out is given).\n"
        "  ohlcv   timestamp,date,open,high,low,close,volume — timestamp is ISO-8601 UTC (the\n"
        "          bar's open time); date is YYYY-MM-DD, or the full timestamp below 1d;\n"
        "          numbers keep every digit; reads back unchanged with mts import csv\n"
        "  macro   date,value,is_interpolated,is_forward_filled — reads back with mts import macro\n"
        "  table   every column of one table: macro_indicators, signal_history, backtest_results,\n"
        "          and what mts stream records: trades, order_book_snapshots, funding_rates;\n"
        "          crypto_ohlcv is the stored bars (kept in column blocks) as rows:\n"
        "          cryptocurrency,interval,timestamp,date_str,open,high,low,close,volume\n"
        "          ordered by asset, interval, time\n\n"
        "options:\n"
        "  --asset NAME       the asset (ohlcv), e.g. bitcoin\n"
        "  --interval I       bar interval (ohlcv; default 1d), one of\n"
        "                     " MTS_INTERVALS ":\n"
        "                     the stored series, else resampled from a finer stored one\n"
        "                     (stderr says which)\n"
        "  --complete-only    resampled bars only where every fine bar is stored (a bar\n"
        "                     built over a gap, e.g. an exchange outage, is left out and counted)\n"
        "  --indicator NAME   the indicator (macro), e.g. VIX\n"
        "  --from DATE        first time to include (YYYY-MM-DD, ISO-8601 or unix seconds)\n"
        "  --to DATE          last time to include; a bare date means the whole day\n"
        "  --out FILE         write here instead of stdout (replaced only when the export succeeds)\n"
        "  --db PATH          database (default $DATABASE_PATH or data/mts.db)\n\n"
        "examples:\n"
        "  mts export ohlcv --asset bitcoin --from 2024-01-01 --to 2024-12-31 --out btc_2024.csv\n"
        "  mts export ohlcv --asset bitcoin --interval 4h --out btc_4h.csv\n"
        "  mts export ohlcv --asset bitcoin --interval 1d --complete-only --out btc_1d_full.csv\n"
        "  mts export macro --indicator VIX > vix.csv\n"
        "  mts export table backtest_results --out runs.csv\n");
}

enum { O_ASSET, O_INDICATOR, O_FROM, O_TO, O_OUT, O_DB, O_HELP, O_INTERVAL, O_COMPLETE };
static const mts_cli_opt_t OPTS[] = {
    {"--asset", 1}, {"--indicator", 1}, {"--from", 1}, {"--to", 1}, {"--out", 1}, {"--db", 1},
    {"--help", 0}, {"--interval", 1}, {"--complete-only", 0}, {NULL, 0}};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mts export: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see mts export --help)\n");
    va_end(ap);
    return MTS_EXIT_USAGE;
}

/* A date without a time of day ("2024-01-31", "01/31/2024") as --to means
 * the end of that day. */
static int bare_date(const char *v) {
    size_t n = strlen(v);
    return (n == 10 && v[4] == '-' && v[7] == '-') || (strchr(v, '/') && !strchr(v, ':'));
}

enum { K_OHLCV, K_MACRO, K_TABLE };

/* Text that reads back as the same double ("" for NaN/inf): %.15g (which
 * drops trailing zeros, so 29470 stays "29470" and 0.1 "0.1"), else %.16g,
 * else %.17g — the shortest of them that round-trips. */
static void fmt_double(char buf[40], double v) {
    if (!isfinite(v)) { buf[0] = '\0'; return; }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) return;
    }
}

/* bars as CSV: the date column is the full timestamp below one day */
static int write_bars(const mts_bars_t *b, int64_t interval_s, FILE *out) {
    fputs("timestamp,date,open,high,low,close,volume\n", out);
    int date_len = interval_s < 86400 ? 32 : 10;
    for (int64_t i = 0; i < b->n; i++) {
        char iso[32], num[5][40];
        mts_time_format_iso(b->ts[i], iso);
        const double v[5] = {b->open[i], b->high[i], b->low[i], b->close[i], b->volume[i]};
        for (int k = 0; k < 5; k++) fmt_double(num[k], v[k]);
        fprintf(out, "%s,%.*s,%s,%s,%s,%s,%s\n", iso, date_len, iso, num[0], num[1], num[2], num[3], num[4]);
    }
    if (fflush(out) || ferror(out)) return MTS_EIO;
    return 0;
}

int mts_cmd_export(int argc, char **argv) {
    const char *kind_s = NULL, *table = NULL, *asset = NULL, *indicator = NULL, *out_path = NULL, *db = NULL;
    const char *from_s = NULL, *to_s = NULL, *interval = NULL;
    int complete_only = 0;
    int64_t from = INT64_MIN, to = INT64_MAX;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("export", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            if (!kind_s) kind_s = val;
            else if (!table && !strcmp(kind_s, "table")) table = val;
            else return usage_error("unexpected argument '%s'", val);
            continue;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_ASSET: asset = val; break;
        case O_INTERVAL: interval = val; break;
        case O_COMPLETE: complete_only = 1; break;
        case O_INDICATOR: indicator = val; break;
        case O_FROM:
            if (mts_cli_parse_time("--from", val, &from)) return MTS_EXIT_USAGE;
            from_s = val;
            break;
        case O_TO:
            if (mts_cli_parse_time("--to", val, &to)) return MTS_EXIT_USAGE;
            if (bare_date(val)) to += 86399;
            to_s = val;
            break;
        case O_OUT: out_path = val; break;
        case O_DB: db = val; break;
        }
    }

    if (!kind_s) return usage_error("say what to export: ohlcv, macro or table");
    int kind;
    if (!strcmp(kind_s, "ohlcv") || !strcmp(kind_s, "csv")) kind = K_OHLCV;
    else if (!strcmp(kind_s, "macro")) kind = K_MACRO;
    else if (!strcmp(kind_s, "table")) kind = K_TABLE;
    else {
        static const char *const kinds[] = {"ohlcv", "macro", "table", NULL};
        const char *near = mts_cli_suggest(kind_s, kinds);
        if (near) return usage_error("unknown kind '%s'; did you mean '%s'?", kind_s, near);
        return usage_error("unknown kind '%s' (expected ohlcv, macro or table)", kind_s);
    }
    if (kind == K_OHLCV && (!asset || !*asset)) return usage_error("ohlcv: --asset NAME is required, e.g. --asset bitcoin");
    if (kind == K_MACRO && (!indicator || !*indicator)) return usage_error("macro: --indicator NAME is required, e.g. --indicator VIX");
    if (kind != K_OHLCV && asset) return usage_error("--asset is for mts export ohlcv");
    if (kind != K_OHLCV && interval) return usage_error("--interval is for mts export ohlcv");
    if (kind != K_OHLCV && complete_only) return usage_error("--complete-only is for mts export ohlcv");
    if (!interval) interval = MTS_INTERVAL_DEFAULT;
    int64_t interval_s = mts_interval_seconds(interval);
    if (interval_s < 0) return usage_error("unknown --interval '%s' (one of %s)", interval, MTS_INTERVALS);
    if (kind != K_MACRO && indicator) return usage_error("--indicator is for mts export macro");
    if (kind == K_TABLE) {
        if (!table) return usage_error("table: which one? crypto_ohlcv, macro_indicators, signal_history or backtest_results");
        int known = 0;
        for (int t = 0; TABLES[t]; t++) known |= !strcmp(table, TABLES[t]);
        if (!known) {
            const char *near = mts_cli_suggest(table, TABLES);
            if (near) return usage_error("unknown table '%s'; did you mean '%s'?", table, near);
            return usage_error("unknown table '%s' (one of crypto_ohlcv, macro_indicators, signal_history, "
                               "backtest_results)", table);
        }
        if (from_s || to_s) return usage_error("--from/--to apply to ohlcv and macro, not to a whole table");
    }
    if (from > to) return usage_error("--from %s is after --to %s", from_s, to_s);

    const char *db_path = mts_cli_db_path(db);
    mts_store_t *s = mts_cli_open_store(db_path);
    if (!s) return MTS_EXIT_ERROR;

    /* Nothing stored yet: bundled data (config/mts.json) is imported on first use. */
    int rc = 0;
    if (kind != K_TABLE) {
        const char *name = kind == K_OHLCV ? asset : indicator;
        int64_t n = 0;
        rc = kind == K_OHLCV ? mts_store_count_ohlcv(s, name, interval, &n) : mts_store_count_macro(s, name, &n);
        if (rc == 0 && n == 0)
            rc = kind == K_OHLCV ? mts_series_ensure(s, mts_root(), name, interval) : mts_store_ensure_macro(s, mts_root(), name);
        if (rc == MTS_ENOTFOUND) {
            fprintf(stderr, "mts export: no %s for %s '%s' in %s (import it first: mts import %s FILE %s %s)\n",
                    kind == K_OHLCV ? "bars" : "values", kind == K_OHLCV ? "asset" : "indicator", name, db_path,
                    kind == K_OHLCV ? "csv" : "macro", kind == K_OHLCV ? "--asset" : "--indicator", name);
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
        if (rc) {
            fprintf(stderr, "mts export: %s\n", mts_store_errmsg(s));
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
        char *warn = NULL;           /* an import of this series that did not finish (store/imports.h) */
        if (mts_imports_warnings(s, kind == K_OHLCV ? "ohlcv" : "macro", name, kind == K_OHLCV ? interval : NULL, &warn) > 0)
            for (char *w = warn, *nl; w; w = nl ? nl + 1 : NULL) {
                if ((nl = strchr(w, '\n'))) *nl = '\0';
                fprintf(stderr, "warning: %s\n", w);
            }
        mts_free(warn);
    }

    /* the bars: stored, or resampled from a finer stored interval */
    mts_bars_t bars;
    memset(&bars, 0, sizeof bars);
    if (kind == K_OHLCV) {
        mts_series_info_t info;
        rc = mts_series_load_bars_ex(s, asset, interval, from, to, complete_only ? MTS_RESAMPLE_COMPLETE_ONLY : 0,
                                     &bars, &info);
        if (rc) {
            fprintf(stderr, "mts export: %s\n", info.error);
            mts_bars_free(&bars);
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
        char how[128];
        fprintf(stderr, "mts export: %s %s: %s, %lld bar%s%s\n", asset, interval,
                mts_series_describe(&info, how, sizeof how), (long long)bars.n, bars.n == 1 ? "" : "s",
                info.resampled && info.resample.forming
                    ? " (the last bar, still forming, left out)" : "");
        if (info.resampled && complete_only)
            fprintf(stderr, "mts export: %lld bar%s with fine bars missing left out (--complete-only)\n",
                    (long long)info.resample.skipped, info.resample.skipped == 1 ? "" : "s");
    }

    FILE *out = stdout;
    char *tmp = NULL;
    if (out_path && strcmp(out_path, "-") != 0) {
        size_t n = strlen(out_path) + 32;
        tmp = mts_malloc(n);
        if (!tmp) {
            fprintf(stderr, "mts export: out of memory\n");
            mts_bars_free(&bars);
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
        snprintf(tmp, n, "%s.tmp.%ld", out_path, (long)getpid());
        out = fopen(tmp, "w");
        if (!out) {
            fprintf(stderr, "mts export: cannot write %s: %s (check that the directory exists and is writable)\n",
                    out_path, strerror(errno));
            mts_free(tmp);
            mts_bars_free(&bars);
            mts_store_close(s);
            return MTS_EXIT_ERROR;
        }
    }

    switch (kind) {
    case K_OHLCV:
        rc = write_bars(&bars, interval_s, out);
        if (rc) fprintf(stderr, "mts export: write error: %s\n", strerror(errno));
        break;
    case K_MACRO: rc = mts_csv_export_macro(s, indicator, from, to, out); break;
    default: rc = mts_csv_export_table(s, table, out); break;
    }
    if (rc && kind != K_OHLCV) fprintf(stderr, "mts export: %s\n", mts_store_errmsg(s));
    mts_bars_free(&bars);
    if (tmp) {
        int close_rc = fclose(out);
        if (!rc && close_rc) {
            fprintf(stderr, "mts export: cannot write %s: %s\n", out_path, strerror(errno));
            rc = MTS_EIO;
        }
        if (!rc && rename(tmp, out_path) != 0) {
            fprintf(stderr, "mts export: cannot write %s: %s\n", out_path, strerror(errno));
            rc = MTS_EIO;
        }
        if (rc) unlink(tmp);
        else printf("wrote %s\n", out_path);
        mts_free(tmp);
    } else if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "mts export: cannot write to stdout: %s\n", strerror(errno));
        rc = MTS_EIO;
    }
    mts_store_close(s);
    return rc ? MTS_EXIT_ERROR : MTS_EXIT_OK;
}
