/* import.c — `mts import csv FILE --asset NAME [--interval I]`,
 * `mts import macro FILE --indicator NAME [--column COL]` and
 * `mts import funding FILE --symbol S --exchange E` (store/csv.h: funding
 * histories into funding_rates as settlement rows): load a CSV file as
 * it comes into the database (store/csv.c does the reading and checking;
 * store/csv.h: --delimiter, --no-header --columns, --format binance, time
 * units, the interval told from the spacing). Rejected rows go to stderr as
 * FILE:LINE: reason; the summary goes to stdout and names the interval and
 * whether it was detected. Exit: 0 all rows stored, 3 some rows rejected (the
 * good ones are stored), 1 the file was refused or the file or the database
 * could not be used, 2 usage error.
 * Each run is recorded in import_runs by store/csv.c (store/imports.h). */
#include "cmd/cmd.h"
#include "market/interval.h"
#include "store/csv.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Progress for large files (store/csv.c reads the file itself): a watcher
 * thread finds the descriptor csv.c opened on the file (same device and inode
 * under /proc/self/fd) and shows how far into the file it has read. Only when
 * stderr is a terminal and the file is at least PROGRESS_MIN_BYTES. */
#define PROGRESS_MIN_BYTES (4 << 20)

typedef struct {
    dev_t dev;
    ino_t ino;
    int64_t kib;
    atomic_int stop;
    mts_progress_t bar;
    pthread_t th;
    int running;
} watch_t;

static int find_fd(const watch_t *w) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    for (struct dirent *e; found < 0 && (e = readdir(d)) != NULL;) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct stat st;
        if (*end || fd == dirfd(d) || fstat((int)fd, &st) != 0) continue;
        if (st.st_dev == w->dev && st.st_ino == w->ino) found = (int)fd;
    }
    closedir(d);
    return found;
}

static void *watch_main(void *arg) {
    watch_t *w = arg;
    int fd = -1;
    while (!atomic_load(&w->stop)) {
        if (fd < 0) fd = find_fd(w);
        if (fd >= 0) {
            off_t pos = lseek(fd, 0, SEEK_CUR);
            if (pos >= 0) mts_progress_update(&w->bar, (int64_t)(pos / 1024));
            else fd = -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void watch_start(watch_t *w, const char *file) {
    memset(w, 0, sizeof *w);
    struct stat st;
    if (strcmp(file, "-") == 0 || !mts_progress_enabled() || stat(file, &st) != 0 ||
        st.st_size < PROGRESS_MIN_BYTES)
        return;
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    w->kib = (int64_t)(st.st_size / 1024);
    const char *base = strrchr(file, '/');
    char label[48];
    snprintf(label, sizeof label, "import %.38s", base ? base + 1 : file);
    mts_progress_begin(&w->bar, label, w->kib, "KiB");
    atomic_init(&w->stop, 0);
    w->running = pthread_create(&w->th, NULL, watch_main, w) == 0;
    if (!w->running) mts_progress_end(&w->bar);
}

static void watch_stop(watch_t *w, int ok) {
    if (!w->running) return;
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    if (ok) mts_progress_update(&w->bar, w->kib);
    mts_progress_end(&w->bar);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts import csv FILE --asset NAME [--interval I] [FILE OPTIONS] [--db PATH] [--json]\n"
        "       mts import macro FILE --indicator NAME [--column COL] [FILE OPTIONS] [--db PATH] [--json]\n"
        "       mts import funding FILE --symbol SYMBOL --exchange NAME [--delimiter C] [--db PATH] [--json]\n\n"
        "Loads a CSV file into the database. The first row names the columns (or\n"
        "--columns does); the time column is the first of timestamp, open_time, date,\n"
        "observation_date, ts, time (any case); other extra columns are ignored. Times\n"
        "may be unix time in seconds, milliseconds, microseconds or nanoseconds (told by\n"
        "the magnitude of the first row's time; every row must be in the same unit),\n"
        "ISO-8601 dates or date-times (with or without an offset), or MM/DD/YYYY. A time\n"
        "outside 1970..2100, or of another unit than the first, refuses the whole file\n"
        "(FILE:LINE: reason; nothing is stored).\n\n"
        "  csv     OHLCV bars: needs open, high, low, close, volume. Each row is checked\n"
        "          (prices > 0, low <= open/close <= high, volume >= 0, no repeated time);\n"
        "          a bad row is reported as FILE:LINE: reason and skipped. The bars are\n"
        "          stored under (asset, interval): the interval is --interval, or told\n"
        "          from the spacing of the bars (the output says which). A file whose\n"
        "          spacing cannot be told, disagrees with --interval, or has a bar off\n"
        "          the interval's grid is refused. Other intervals' bars are untouched.\n"
        "  macro   one daily series: the value column is --column, else `value`, else the\n"
        "          column named like the indicator (e.g. VIXCLS), else CLOSE, else the one\n"
        "          value column of a two-column file (observation_date,VIXCLS). A blank\n"
        "          or '.' value is no observation (never a 0).\n"
        "  funding a perpetual's funding history (settlements): columns ts,rate[,mark_price]\n"
        "          (or Binance's fundingTime,fundingRate,markPrice; Bybit's\n"
        "          fundingRateTimestamp,fundingRate), stored in funding_rates under\n"
        "          (--exchange, --symbol) only. Times keep their milliseconds. A row is\n"
        "          rejected (FILE:LINE: reason) when a value is not a number, |rate| > 1,\n"
        "          a mark price is not > 0, a symbol column names another symbol, or its\n"
        "          time is on another line with a different rate (all lines of that time).\n"
        "          Nothing is written before the whole file is checked. Rows already\n"
        "          stored at the same time are KEPT (not updated); one whose rate\n"
        "          differs is listed as FILE:LINE: ... kept, and exits 3. The summary\n"
        "          gives rows stored, rejected, already stored and first..last time.\n"
        "          A backtest on a perp turns these rows into settlement events\n"
        "          (docs/market.md, \"Funding\").\n\n"
        "Importing the same file again updates the rows in place (no duplicates; funding\n"
        "keeps the stored rows). Files of 4 MiB and more show a progress bar on stderr\n"
        "when it is a terminal.\n\n"
        "Every import is recorded in the table import_runs (running, then complete or\n"
        "failed). One that did not finish (killed, or failed after storing rows) makes\n"
        "mts backtest and mts export warn about that series until the same file is\n"
        "imported again to the end.\n\n"
        "options:\n"
        "  --asset NAME       asset to store bars under (csv), e.g. bitcoin\n"
        "  --indicator NAME   indicator to store values under (macro), e.g. VIX\n"
        "  --column COL       the value column of a macro file\n"
        "  --symbol SYMBOL    funding: the exchange's symbol, e.g. BTCUSDT\n"
        "  --exchange NAME    funding: the exchange, e.g. binance or bybit\n"
        "  --interval I       the bars' interval (" MTS_INTERVALS "); default: told\n"
        "                     from the spacing\n"
        "file options:\n"
        "  --delimiter C      the field separator: one character, e.g. ';', or tab (\\t)\n"
        "  --no-header        the first row is data; name the columns with --columns\n"
        "  --columns LIST     names of the columns, e.g. ts,open,high,low,close,volume\n"
        "                     (_ or - skips a column)\n"
        "  --format binance   Binance's 12-column kline dumps (data.binance.vision):\n"
        "                     open_time,open,high,low,close,volume,close_time,... no header\n"
        "  --db PATH          database (default $DATABASE_PATH or data/mts.db)\n"
        "  --json             print {\"rows_read\":..,\"rows_ok\":..,\"rows_rejected\":..} instead\n\n"
        "exit status: 0 all rows imported, 3 some rows rejected, 1 error, 2 usage error\n\n"
        "examples:\n"
        "  mts import csv data/crypto/BTCUSDT_1d_binance_spot.csv --asset bitcoin\n"
        "  mts import csv data/crypto/BTCUSDT_1h_binance_spot.csv --asset bitcoin --interval 1h\n"
        "  mts import csv BTCUSDT-1m-2025-01.csv --asset bitcoin --format binance\n"
        "  mts import csv bars.csv --asset bitcoin --delimiter ';'\n"
        "  mts import csv raw.csv --asset bitcoin --no-header --columns ts,open,high,low,close,volume\n"
        "  mts import macro data/macro/VIX_History_cboe.csv --indicator VIX\n"
        "  mts import macro VIXCLS_fred.csv --indicator VIXCLS --db /tmp/test.db\n"
        "  mts import funding data/crypto/funding/BTCUSDT_funding_binance_usdm.csv --symbol BTCUSDT --exchange binance\n"
        "  mts import funding data/crypto/funding/BTCUSDT_funding_bybit_linear.csv --symbol BTCUSDT --exchange bybit\n"
        "  mts import funding fundingRate.csv --symbol ETHUSDT --exchange binance --json\n");
}

enum { O_ASSET, O_INDICATOR, O_COLUMN, O_DB, O_JSON, O_HELP, O_INTERVAL, O_DELIM, O_NOHEADER, O_COLUMNS,
       O_FORMAT, O_SYMBOL, O_EXCHANGE };
static const mts_cli_opt_t OPTS[] = {
    {"--asset", 1}, {"--indicator", 1}, {"--column", 1}, {"--db", 1}, {"--json", 0},
    {"--help", 0}, {"--interval", 1}, {"--delimiter", 1}, {"--no-header", 0}, {"--columns", 1},
    {"--format", 1}, {"--symbol", 1}, {"--exchange", 1}, {NULL, 0}};

/* The byte of --delimiter: one character, or \t / tab; 0 when it is not one. */
static char parse_delimiter(const char *v) {
    if (!strcmp(v, "\\t") || !strcasecmp(v, "tab")) return '\t';
    if (strlen(v) != 1) return 0;
    return v[0];
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mts import: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see mts import --help)\n");
    va_end(ap);
    return MTS_EXIT_USAGE;
}

/* "2025-12-12 16:00:00.002" (UTC) of unix ms. */
static void fmt_ms(int64_t ms, char out[40]) {
    char iso[32];
    int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - sec * 1000);
    mts_time_format_iso(sec, iso);   /* YYYY-MM-DDTHH:MM:SSZ */
    snprintf(out, 40, "%.10s %.8s%s", iso, iso + 11, "");
    if (frac) snprintf(out + strlen(out), 40 - strlen(out), ".%03d", frac);
}

static int import_funding(const char *file, const char *symbol, const char *exchange, const mts_csv_opts_t *copts,
                          const char *db, int json) {
    if (!symbol || !*symbol) return usage_error("funding: --symbol SYMBOL is required, e.g. --symbol BTCUSDT");
    if (!exchange || !*exchange)
        return usage_error("funding: --exchange NAME is required, e.g. --exchange binance");
    if (strcmp(file, "-") != 0) {
        struct stat st;
        FILE *f = NULL;
        if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
        else f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "mts import: cannot read %s: %s (check the path; a relative path is taken "
                            "from the current directory)\n", file, strerror(errno));
            return MTS_EXIT_ERROR;
        }
        fclose(f);
    }
    mts_store_t *s = mts_cli_open_store(mts_cli_db_path(db));
    if (!s) return MTS_EXIT_ERROR;
    mts_funding_import_t rep;
    int rc = mts_csv_import_funding(s, file, symbol, exchange, copts, stderr, &rep);
    int exit_code;
    if (rc == 0 || rc == MTS_EPARTIAL) {
        char a[40] = "", b[40] = "";
        if (rep.rows_ok) {
            fmt_ms(rep.first_ms, a);
            fmt_ms(rep.last_ms, b);
        }
        mts_log(MTS_LOG_INFO, "import.done",
                "\"kind\":\"funding\",\"symbol\":\"%s\",\"exchange\":\"%s\",\"rows_read\":%lld,\"stored\":%lld,"
                "\"rows_rejected\":%lld", symbol, exchange, (long long)rep.rows_read, (long long)rep.stored,
                (long long)rep.rows_rejected);
        if (json) {
            printf("{\"symbol\":\"");
            mts_json_escape(stdout, symbol);
            printf("\",\"exchange\":\"");
            mts_json_escape(stdout, exchange);
            printf("\",\"file\":\"");
            mts_json_escape(stdout, file);
            printf("\",\"rows_read\":%lld,\"rows_ok\":%lld,\"rows_rejected\":%lld,\"rows_blank\":%lld,"
                   "\"duplicates\":%lld,\"stored\":%lld,\"already_stored\":%lld,\"differing_kept\":%lld",
                   (long long)rep.rows_read, (long long)rep.rows_ok, (long long)rep.rows_rejected,
                   (long long)rep.rows_blank, (long long)rep.dup, (long long)rep.stored, (long long)rep.same,
                   (long long)rep.differ);
            if (rep.rows_ok)
                printf(",\"first_ms\":%lld,\"last_ms\":%lld,\"first\":\"%s\",\"last\":\"%s\"",
                       (long long)rep.first_ms, (long long)rep.last_ms, a, b);
            if (rep.unit) printf(",\"time_unit\":\"%s\"", rep.unit);
            printf("}\n");
        } else {
            printf("imported %lld funding rows of %s from %s (%lld new, %lld already stored", (long long)rep.rows_ok,
                   symbol, exchange, (long long)rep.stored, (long long)(rep.same + rep.differ));
            if (rep.differ) printf(", %lld of them with another rate: kept", (long long)rep.differ);
            printf("; %lld rejected", (long long)rep.rows_rejected);
            if (rep.dup) printf(", %lld repeated", (long long)rep.dup);
            printf(") from %s", file);
            if (rep.rows_ok) printf("; %s .. %s UTC", a, b);
            if (rep.unit) printf("; times in unix %s", rep.unit);
            putchar('\n');
        }
        if (rc == MTS_EPARTIAL) {
            if (rep.rows_rejected)
                fprintf(stderr, "mts import: %lld rows rejected (listed above as FILE:LINE: reason); the other rows "
                                "were stored\n", (long long)rep.rows_rejected);
            if (rep.differ)
                fprintf(stderr, "mts import: %lld rows are stored already with another rate (listed above); the "
                                "stored ones were kept\n", (long long)rep.differ);
            exit_code = MTS_EXIT_PARTIAL;
        } else {
            exit_code = MTS_EXIT_OK;
        }
    } else {
        if (rc == MTS_EINVAL) fprintf(stderr, "mts import: %s\n", mts_store_errmsg(s));
        else fprintf(stderr, "mts import: nothing imported from %s (see the line above)\n", file);
        exit_code = MTS_EXIT_ERROR;
    }
    mts_store_close(s);
    return exit_code;
}

int mts_cmd_import(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "archive")) return mts_cmd_import_archive(argc - 1, argv + 1);
    const char *kind = NULL, *file = NULL, *asset = NULL, *indicator = NULL, *column = NULL, *db = NULL;
    const char *delim_arg = NULL, *symbol = NULL, *exchange = NULL;
    mts_csv_opts_t copts = {0};
    int json = 0;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("import", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            if (!kind) kind = val;
            else if (!file) file = val;
            else return usage_error("unexpected argument '%s'", val);
            continue;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_ASSET: asset = val; break;
        case O_INDICATOR: indicator = val; break;
        case O_COLUMN: column = val; break;
        case O_DB: db = val; break;
        case O_JSON: json = 1; break;
        case O_INTERVAL: copts.interval = val; break;
        case O_DELIM: delim_arg = val; break;
        case O_NOHEADER: copts.no_header = 1; break;
        case O_COLUMNS: copts.columns = val; break;
        case O_FORMAT: copts.format = val; break;
        case O_SYMBOL: symbol = val; break;
        case O_EXCHANGE: exchange = val; break;
        }
    }

    if (!kind) return usage_error("say what to import: csv, macro or funding");
    int macro;
    if (!strcmp(kind, "csv") || !strcmp(kind, "ohlcv")) macro = 0;
    else if (!strcmp(kind, "macro")) macro = 1;
    else if (!strcmp(kind, "funding")) {
        if (!file) return usage_error("funding: missing FILE");
        if (asset || indicator || column || copts.interval || copts.format)
            return usage_error("funding: %s is not for funding files (give --symbol and --exchange)",
                               asset ? "--asset" : indicator ? "--indicator" : column ? "--column"
                               : copts.interval ? "--interval" : "--format");
        if (delim_arg) {
            copts.delimiter = parse_delimiter(delim_arg);
            if (!copts.delimiter || strchr(" \"\r\n", copts.delimiter))
                return usage_error("--delimiter '%s': give one character other than a space, quote or line end",
                                   delim_arg);
        }
        if (copts.no_header && !copts.columns)
            return usage_error("--no-header needs --columns naming the columns, e.g. --columns ts,rate");
        return import_funding(file, symbol, exchange, &copts, db, json);
    } else {
        static const char *const kinds[] = {"csv", "macro", "funding", NULL};
        const char *near = mts_cli_suggest(kind, kinds);
        if (near) return usage_error("unknown kind '%s'; did you mean '%s'?", kind, near);
        return usage_error("unknown kind '%s' (expected csv, macro or funding)", kind);
    }
    if (symbol || exchange) return usage_error("%s is for mts import funding", symbol ? "--symbol" : "--exchange");
    if (!file) return usage_error("%s: missing FILE", macro ? "macro" : "csv");
    if (!macro) {
        if (!asset || !*asset) return usage_error("csv: --asset NAME is required, e.g. --asset bitcoin");
        if (indicator || column)
            return usage_error("csv: %s is for mts import macro", indicator ? "--indicator" : "--column");
    } else {
        if (!indicator || !*indicator)
            return usage_error("macro: --indicator NAME is required, e.g. --indicator VIX");
        if (asset) return usage_error("macro: --asset is for mts import csv; use --indicator");
    }

    if (copts.interval) {
        if (macro) return usage_error("macro: --interval is for mts import csv (macro series are daily)");
        if (mts_interval_seconds(copts.interval) < 0)
            return usage_error("unknown interval '%s' (one of %s)", copts.interval, MTS_INTERVALS);
    }
    if (delim_arg) {
        copts.delimiter = parse_delimiter(delim_arg);
        if (!copts.delimiter || strchr(" \"\r\n", copts.delimiter))
            return usage_error("--delimiter '%s': give one character other than a space, quote or line end, "
                               "e.g. --delimiter ';' or --delimiter '\\t'", delim_arg);
    }
    if (copts.format && strcmp(copts.format, "binance") != 0)
        return usage_error("unknown --format '%s' (known: binance)", copts.format);
    if (copts.format && copts.columns)
        return usage_error("--format %s names the columns itself; leave out --columns", copts.format);
    if (copts.no_header && !copts.columns && !copts.format)
        return usage_error("--no-header needs --columns naming the columns, e.g. "
                           "--columns ts,open,high,low,close,volume (_ skips a column)");
    copts.column = column;

    /* The file first: no database is created for a path that cannot be read. */
    if (strcmp(file, "-") != 0) {
        struct stat st;
        FILE *f = NULL;
        if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
        else f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "mts import: cannot read %s: %s (check the path; a relative path is taken "
                            "from the current directory)\n", file, strerror(errno));
            return MTS_EXIT_ERROR;
        }
        fclose(f);
    }

    const char *db_path = mts_cli_db_path(db);
    mts_store_t *s = mts_cli_open_store(db_path);
    if (!s) return MTS_EXIT_ERROR;

    const char *name = macro ? indicator : asset;
    mts_import_report_t rep = {0};
    mts_csv_info_t info = {0};
    watch_t watch;
    watch_start(&watch, file);
    int rc = macro ? mts_csv_import_macro_ex(s, file, indicator, &copts, stderr, &rep, &info)
                   : mts_csv_import_ohlcv_ex(s, file, asset, &copts, stderr, &rep, &info);
    watch_stop(&watch, rc == 0 || rc == MTS_EPARTIAL);
    int exit_code;
    if (rc == 0 || rc == MTS_EPARTIAL) {
        mts_log(MTS_LOG_INFO, "import.done",
                "\"name\":\"%s\",\"rows_read\":%lld,\"rows_ok\":%lld,\"rows_rejected\":%lld,\"rows_blank\":%lld",
                name, (long long)rep.rows_read, (long long)rep.rows_ok, (long long)rep.rows_rejected,
                (long long)rep.rows_blank);
        if (json) {
            printf("{\"rows_read\":%lld,\"rows_ok\":%lld,\"rows_rejected\":%lld,\"rows_blank\":%lld,\"%s\":\"",
                   (long long)rep.rows_read, (long long)rep.rows_ok, (long long)rep.rows_rejected,
                   (long long)rep.rows_blank, macro ? "indicator" : "asset");
            mts_json_escape(stdout, name);
            printf("\",\"file\":\"");
            mts_json_escape(stdout, file);
            printf("\"");
            if (!macro)
                printf(",\"interval\":\"%s\",\"interval_detected\":%s", info.interval,
                       info.interval_detected ? "true" : "false");
            if (info.unit) printf(",\"time_unit\":\"%s\"", info.unit);
            printf("}\n");
        } else {
            printf("imported %lld rows into %s (%lld rejected", (long long)rep.rows_ok, name,
                   (long long)rep.rows_rejected);
            if (rep.rows_blank) printf(", %lld blank", (long long)rep.rows_blank);
            printf(") from %s", file);
            if (!macro && info.interval[0])
                printf("; interval %s (%s)", info.interval,
                       info.interval_detected ? "detected from the spacing of the bars" : "--interval");
            if (info.unit) printf("; times in unix %s", info.unit);
            putchar('\n');
        }
        if (rc == MTS_EPARTIAL) {
            fprintf(stderr, "mts import: %lld of %lld rows rejected (listed above as FILE:LINE: reason); "
                            "the other rows were stored\n", (long long)rep.rows_rejected, (long long)rep.rows_read);
            exit_code = MTS_EXIT_PARTIAL;
        } else {
            exit_code = MTS_EXIT_OK;
        }
    } else {
        /* store/csv.c has printed "FILE: what is wrong" */
        if (rc == MTS_EINVAL)
            fprintf(stderr, "mts import: %s\n", mts_store_errmsg(s));
        else if (rc == MTS_EPARSE && (strstr(mts_store_errmsg(s), "refused") ||
                                      (!macro && strstr(mts_store_errmsg(s), "interval"))))
            fprintf(stderr, "mts import: %s refused (see the line above)%s\n", file,
                    rep.rows_ok > 10000 ? "; the rows stored before it are reported as an unfinished import" : "");
        else if (rc == MTS_EPARSE && !macro)
            fprintf(stderr, "mts import: nothing imported. The first row of %s must name the columns (or "
                            "--no-header --columns names them): a time column (timestamp, open_time, date, ...) "
                            "and open, high, low, close, volume\n", file);
        else if (rc == MTS_EPARSE)
            fprintf(stderr, "mts import: nothing imported. The first row of %s must name the columns: a time "
                            "column (timestamp, date, observation_date, DATE, ...) and a value column "
                            "(value, %s, CLOSE, or name it with --column)\n", file, indicator);
        else if (rep.rows_ok > 0)
            fprintf(stderr, "mts import: stopped after %lld good rows of %s: %s (the rows stored so far are "
                            "kept; importing the file again is safe)\n", (long long)rep.rows_ok, file,
                    mts_store_errmsg(s));
        else
            fprintf(stderr, "mts import: nothing imported from %s: %s\n", file, mts_store_errmsg(s));
        exit_code = MTS_EXIT_ERROR;
    }
    mts_store_close(s);
    return exit_code;
}
