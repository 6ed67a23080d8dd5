/* collect.c — `mts collect`: fetch OHLCV from CoinGecko and macro series from
 * FRED, validate, fill macro series to daily rows, and store them. One batch
 * = one asset or one series = one SQLite transaction, so an interrupted run
 * never leaves half a batch behind. `--schedule` repeats every --interval
 * seconds; SIGINT/SIGTERM let the batch in flight finish, then exit 0 (a
 * second signal also cuts short retry waits of that batch; it then stores
 * nothing).
 *
 * Settings: environment variables win over config/mts.json "feeds" keys, which
 * win over the built-in defaults (see usage()). */
#include "alerts/alerts.h"
#include "cache/bus.h"
#include "cache/cache.h"
#include "cmd/cmd.h"
#include "store/prune.h"
#include "market/interval.h"
#include "util/config.h"
#include "feeds/coingecko.h"
#include "feeds/fred.h"
#include "feeds/macro_fill.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timeutil.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 64

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts collect [--source coingecko|fred] [options]\n\n"
        "Fetches OHLC candles from CoinGecko (/coins/{id}/ohlc, spot from /simple/price) and\n"
        "macro series from FRED (series/observations), validates every row with the import\n"
        "rules, fills macro series to one row per day (flagged forward-filled or interpolated)\n"
        "and stores everything.\n"
        "CoinGecko picks the candle length from --days: 1-2 days give 30m candles, 3-30 days\n"
        "4h candles (stored under that interval, labelled by open time; never into the daily\n"
        "series); over 30 days it gives 4-day candles, which no interval holds: refused.\n"
        "FRED series are stored under the name strategies read (config/mts.json\n"
        "\"macro_aliases\", e.g. VIXCLS -> VIX); a day that already has an original value\n"
        "(e.g. the bundled CBOE VIX close) keeps it, and a different FRED value is logged.\n"
        "Re-running is safe: rows are upserted, and a filled row never replaces an original.\n\n"
        "options:\n"
        "  --source S            coingecko or fred (default: both; FRED only when FRED_API_KEY is set)\n"
        "  --asset LIST          CoinGecko ids (default feeds.coingecko_assets or\n"
        "                        bitcoin,ethereum,binancecoin)\n"
        "  --days N              OHLC history in days, 1..30 (default 30: 4h candles; 1-2: 30m)\n"
        "  --series LIST         FRED series ids (default feeds.fred_series or VIXCLS,DGS10)\n"
        "  --from DATE           FRED observation_start (default one year ago)\n"
        "  --fill MODE           forward (default), interpolate or none\n"
        "  --db PATH             database (default $DATABASE_PATH or data/mts.db)\n"
        "  --json                one JSON summary on stdout\n"
        "  --schedule            keep collecting every --interval seconds; Ctrl-C stops cleanly\n"
        "  --interval SECONDS    pause between cycles (default 60)\n"
        "  --iterations N        with --schedule: stop after N cycles (default: until a signal)\n\n"
        "environment (config/mts.json \"feeds\" key in brackets):\n"
        "  COINGECKO_BASE_URL [coingecko_base_url]  default " MTS_COINGECKO_DEFAULT_BASE "\n"
        "  FRED_BASE_URL [fred_base_url]            default " MTS_FRED_DEFAULT_BASE "\n"
        "  COINGECKO_API_KEY   demo key, sent as x-cg-demo-api-key (optional)\n"
        "  FRED_API_KEY        required for FRED (https://fred.stlouisfed.org/docs/api/api_key.html)\n"
        "  COINGECKO_RATE_PER_MIN [coingecko_rate_per_min] default 30; FRED_RATE_PER_MIN\n"
        "    [fred_rate_per_min] default 120 (the vendors' published limits)\n"
        "  MTS_BREAKER_THRESHOLD [breaker_threshold] default 5; MTS_BREAKER_TIMEOUT\n"
        "    [breaker_timeout] seconds, default 60\n"
        "  MTS_HTTP_ATTEMPTS [max_attempts] default 3; MTS_HTTP_BACKOFF_BASE [backoff_base] 0.5 s;\n"
        "    MTS_HTTP_BACKOFF_MAX [backoff_max] 30 s; MTS_HTTP_TIMEOUT [timeout] 30 s\n"
        "  Redirects are followed only to the same scheme, host and port: one to another host\n"
        "  fails the batch (naming the target) so the api keys never leave for it.\n\n"
        "examples:\n"
        "  COINGECKO_API_KEY=... mts collect --source coingecko --asset bitcoin,ethereum --days 2\n"
        "  FRED_API_KEY=... mts collect --source fred --series VIXCLS,DGS10 --from 2019-01-01\n"
        "  mts collect --schedule --interval 60\n");
}

/* ---- settings: env, then config feeds.<key>, then default ---- */
static const char *setting_str(const char *env, const char *key, const char *def) {
    const char *v = env ? getenv(env) : NULL;
    if (v && *v) return v;
    v = key ? mts_config_string("feeds", key) : NULL;
    return v && *v ? v : def;
}

/* 0 ok, -1 bad env value (printed) */
static int setting_num(const char *env, const char *key, double def, double *out) {
    *out = def;
    if (key) mts_config_number("feeds", key, out);
    const char *v = env ? getenv(env) : NULL;
    if (v && *v) return mts_cli_parse_double(env, v, out) ? -1 : 0;
    return 0;
}

typedef struct {
    int cg, fred, source_given;
    char *asset_buf, *series_buf;
    const char *assets[MAX_LIST], *series[MAX_LIST];
    int n_assets, n_series;
    int days;
    char from[16];
    int has_from;
    mts_fill_mode_t fill;
    const char *db;
    int json, schedule;
    double interval;
    long iterations;
} opts_t;

static int split_list(const char *opt, char *buf, const char **out, int *n) {
    return mts_cli_split_list("collect", opt, buf, out, MAX_LIST, n);
}

enum { O_SOURCE, O_ASSET, O_DAYS, O_SERIES, O_FROM, O_FILL, O_DB, O_JSON, O_SCHEDULE, O_INTERVAL,
       O_ITER, O_HELP };
static const mts_cli_opt_t OPTS[] = {
    {"--source", 1}, {"--asset", 1}, {"--days", 1}, {"--series", 1}, {"--from", 1}, {"--fill", 1},
    {"--db", 1}, {"--json", 0}, {"--schedule", 0}, {"--interval", 1}, {"--iterations", 1},
    {"--help", 0}, {NULL, 0}};

static int parse_int(const char *opt, const char *val, long lo, long hi, long *out) {
    double d;
    if (mts_cli_parse_double(opt, val, &d)) return -1;
    if (d != floor(d) || d < lo || d > hi) {
        fprintf(stderr, "error: %s expects a whole number in %ld..%ld, got '%s'\n", opt, lo, hi, val);
        return -1;
    }
    *out = (long)d;
    return 0;
}

/* 0 ok, 1 help, -1 usage error */
static int parse(int argc, char **argv, opts_t *o) {
    o->days = 30;
    o->fill = MTS_FILL_FORWARD;
    o->interval = 60;
    o->iterations = -1;
    int i = 1;
    const char *val;
    const char *asset_arg = NULL, *series_arg = NULL;
    for (;;) {
        int k = mts_cli_next("collect", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return -1;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts collect: unexpected argument '%s' (see mts collect --help)\n", val);
            return -1;
        }
        long n;
        switch (k) {
        case O_HELP: usage(stdout); return 1;
        case O_SOURCE:
            o->source_given = 1;
            if (!strcmp(val, "coingecko")) o->cg = 1;
            else if (!strcmp(val, "fred")) o->fred = 1;
            else if (!strcmp(val, "all") || !strcmp(val, "both")) o->cg = o->fred = 1;
            else {
                const char *c[] = {"coingecko", "fred", NULL};
                const char *near = mts_cli_suggest(val, c);
                fprintf(stderr, "mts collect: unknown source '%s'%s%s%s (coingecko or fred)\n", val,
                        near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
                return -1;
            }
            break;
        case O_ASSET: asset_arg = val; break;
        case O_SERIES: series_arg = val; break;
        case O_DAYS:
            if (parse_int("--days", val, 1, 100000, &n)) return -1;
            if (!mts_interval_name(mts_coingecko_candle_seconds((int)n))) {
                fprintf(stderr, "mts collect: --days %ld would give 4-day candles (CoinGecko /ohlc: 1-2 days "
                                "30 min, 3-30 days 4 h, over 30 days 4 days), and no interval (%s) holds "
                                "4-day bars; use --days 30 or less\n", n, MTS_INTERVALS);
                return -1;
            }
            o->days = (int)n;
            break;
        case O_FROM: {
            int64_t t;
            if (mts_cli_parse_time("--from", val, &t)) return -1;
            mts_time_format_date(t, o->from);
            o->has_from = 1;
            break;
        }
        case O_FILL:
            if (mts_macro_fill_parse(val, &o->fill)) {
                fprintf(stderr, "mts collect: --fill expects forward, interpolate or none, got '%s'\n", val);
                return -1;
            }
            break;
        case O_DB: o->db = val; break;
        case O_JSON: o->json = 1; break;
        case O_SCHEDULE: o->schedule = 1; break;
        case O_INTERVAL:
            if (mts_interval_seconds(val) > 0) {
                fprintf(stderr, "mts collect: --interval is the pause between --schedule cycles in seconds, "
                                "not a bar interval; CoinGecko's candle interval follows --days (1-2: 30m, "
                                "3-30: 4h)\n");
                return -1;
            }
            if (mts_cli_parse_double("--interval", val, &o->interval)) return -1;
            if (!(o->interval >= 0.1 && o->interval <= 86400 * 7)) {
                fprintf(stderr, "error: --interval must be between 0.1 and 604800 seconds, got %s\n", val);
                return -1;
            }
            break;
        case O_ITER:
            if (parse_int("--iterations", val, 1, 1000000000L, &n)) return -1;
            o->iterations = n;
            break;
        }
    }
    if (!o->source_given) {
        /* no --source: what the options ask for, else both */
        if (asset_arg || series_arg) { o->cg = asset_arg != NULL; o->fred = series_arg != NULL; }
        else o->cg = o->fred = 1;
    }
    if (asset_arg && !o->cg) { fprintf(stderr, "mts collect: --asset needs --source coingecko\n"); return -1; }
    if (series_arg && !o->fred) { fprintf(stderr, "mts collect: --series needs --source fred\n"); return -1; }
    const char *al = asset_arg ? asset_arg : setting_str(NULL, "coingecko_assets", "bitcoin,ethereum,binancecoin");
    const char *sl = series_arg ? series_arg : setting_str(NULL, "fred_series", "VIXCLS,DGS10");
    o->asset_buf = strdup(al);
    o->series_buf = strdup(sl);
    if (!o->asset_buf || !o->series_buf) return -1;
    if (o->cg) {
        if (split_list("--asset", o->asset_buf, o->assets, &o->n_assets)) return -1;
        for (int j = 0; j < o->n_assets; j++)
            if (!mts_coingecko_valid_id(o->assets[j])) {
                fprintf(stderr, "mts collect: '%s' is not a CoinGecko id (lower case, e.g. bitcoin, ethereum)\n",
                        o->assets[j]);
                return -1;
            }
    }
    if (o->fred) {
        if (split_list("--series", o->series_buf, o->series, &o->n_series)) return -1;
        for (int j = 0; j < o->n_series; j++)
            if (!mts_fred_valid_series(o->series[j])) {
                fprintf(stderr, "mts collect: '%s' is not a FRED series id (e.g. VIXCLS, DGS10)\n", o->series[j]);
                return -1;
            }
    }
    if (!o->has_from) mts_time_format_date(time(NULL) - 365 * 86400, o->from);
    if (o->iterations > 0 && !o->schedule) {
        fprintf(stderr, "mts collect: --iterations needs --schedule\n");
        return -1;
    }
    return 0;
}

/* ---- signals ---- */
static volatile sig_atomic_t stop_requested = 0;   /* finish the batch, then exit */
static volatile sig_atomic_t hard_stop = 0;        /* second signal: cut retry waits short */

static void on_signal(int sig) {
    (void)sig;
    if (stop_requested) hard_stop = 1;
    stop_requested = 1;
}

static void install_signals(void) { mts_cli_on_stop_signals(on_signal); }

/* ---- batches ---- */
typedef struct {
    const char *source, *name;
    int ok;
    int err;
    char errmsg[512];
    int64_t rows, rejected, no_volume, missing, filled, forming, kept;
    double price;
    char interval[8];      /* coingecko: the candles' interval */
    char stored_as[64];    /* fred: the indicator name the rows went to */
} batch_t;

typedef struct {
    opts_t *o;
    mts_store_t *store;
    mts_coingecko_t *cg;
    mts_fred_t *fred;
    int tty;
    long cycle;
    int64_t total_rows, total_rejected;
    int failures;
    /* collector_failing alerts (alerts/alerts.h): consecutive failed batches per source:name */
    mts_alerts_t *alerts;
    mts_bus_t *bus;
    char fail_name[2 * MAX_LIST][96];
    int fail_run[2 * MAX_LIST], n_fail;
} run_t;

/* The batch's consecutive-failure count (0 after a success) -> the rule. */
static void alert_batch(run_t *r, const batch_t *b) {
    if (!mts_alerts_has(r->alerts, MTS_ALERT_COLLECTOR_FAILING)) return;
    char subj[96];
    snprintf(subj, sizeof subj, "%s:%s", b->source, b->name);
    int i = 0;
    while (i < r->n_fail && strcmp(r->fail_name[i], subj)) i++;
    if (i == r->n_fail) {
        if (r->n_fail == 2 * MAX_LIST) return;
        snprintf(r->fail_name[r->n_fail++], sizeof r->fail_name[0], "%s", subj);
    }
    r->fail_run[i] = b->ok ? 0 : r->fail_run[i] + 1;
    mts_alerts_collector(r->alerts, subj, r->fail_run[i], b->errmsg);
}

static void status_line(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status_line(run_t *r, const char *fmt, ...) {
    if (!r->tty || !r->o->schedule) return;
    char t[32];
    mts_time_format_iso(time(NULL), t);
    fprintf(stderr, "\r\033[K[%.8s] cycle %ld: ", t + 11, r->cycle);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static void http_config(mts_http_config_t *c, double rate, int *bad) {
    mts_http_config_defaults(c);
    double v;
    c->rate_per_min = rate;
    *bad |= setting_num("MTS_BREAKER_THRESHOLD", "breaker_threshold", c->breaker_threshold, &v);
    c->breaker_threshold = (int)v;
    *bad |= setting_num("MTS_BREAKER_TIMEOUT", "breaker_timeout", c->breaker_timeout_s, &c->breaker_timeout_s);
    *bad |= setting_num("MTS_HTTP_ATTEMPTS", "max_attempts", c->max_attempts, &v);
    c->max_attempts = (int)v;
    *bad |= setting_num("MTS_HTTP_BACKOFF_BASE", "backoff_base", c->backoff_base_s, &c->backoff_base_s);
    *bad |= setting_num("MTS_HTTP_BACKOFF_MAX", "backoff_max", c->backoff_max_s, &c->backoff_max_s);
    *bad |= setting_num("MTS_HTTP_TIMEOUT", "timeout", c->timeout_s, &c->timeout_s);
    *bad |= setting_num("MTS_HTTP_RETRY_AFTER_MAX", "retry_after_max", c->retry_after_max_s, &c->retry_after_max_s);
}

static void batch_coingecko(run_t *r, const char *id, double price, batch_t *b) {
    memset(b, 0, sizeof *b);
    b->source = "coingecko";
    b->name = id;
    b->price = price;
    mts_bars_t bars = {0};
    mts_cg_report_t rep = {0};
    int rc = mts_coingecko_fetch_ohlcv(r->cg, id, r->o->days, &bars, stderr, &rep);
    b->rejected = rep.rejected;
    b->no_volume = rep.no_volume;
    b->forming = rep.forming;
    const char *iv = rep.interval_s > 0 ? mts_interval_name(rep.interval_s) : NULL;
    snprintf(b->interval, sizeof b->interval, "%s", iv ? iv : "");
    /* under the candles' own interval, never the daily series (one transaction) */
    if (!rc && bars.n > 0) rc = mts_store_upsert_ohlcv(r->store, id, iv, &bars);
    if (rc) {
        b->err = rc;
        snprintf(b->errmsg, sizeof b->errmsg, "%s",
                 rc == MTS_EDB ? mts_store_errmsg(r->store) : mts_coingecko_errmsg(r->cg));
    } else {
        b->ok = 1;
        b->rows = bars.n;
    }
    mts_bars_free(&bars);
}

static void batch_fred(run_t *r, const char *series, batch_t *b) {
    memset(b, 0, sizeof *b);
    b->source = "fred";
    b->name = series;
    b->price = NAN;
    /* the name strategies read (config "macro_aliases"), e.g. VIXCLS -> VIX */
    const char *name = mts_fred_alias(series);
    snprintf(b->stored_as, sizeof b->stored_as, "%s", name);
    mts_series_t orig = {0}, daily = {0}, stored = {0};
    uint8_t *flags = NULL;
    mts_fred_report_t rep = {0};
    int rc = 0;
    if (strlen(name) >= sizeof b->stored_as || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                           "0123456789_.-") != strlen(name)) {
        rc = MTS_ECONFIG;
        snprintf(b->errmsg, sizeof b->errmsg, "config/mts.json macro_aliases.%s: '%.100s' is not an indicator "
                 "name (up to 63 letters, digits, '_', '.', '-'); fix the alias", series, name);
        b->stored_as[0] = 0;
    }
    if (!rc) {
        rc = mts_fred_fetch(r->fred, series, r->o->from, &orig, stderr, &rep);
        if (rc) snprintf(b->errmsg, sizeof b->errmsg, "%s", mts_fred_errmsg(r->fred));
    }
    b->rejected = rep.rejected;
    b->missing = rep.missing;
    if (!rc) {
        rc = mts_macro_fill(&orig, r->o->fill, &daily, &flags, &b->filled);
        if (rc) snprintf(b->errmsg, sizeof b->errmsg, "fred %s: daily fill failed: %s", series, mts_strerror(rc));
    }
    if (!rc && daily.n > 0) {
        /* the bundled file of that indicator (the CBOE VIX history) goes in
         * first, as on first use by a backtest: it is the first source */
        int e = mts_store_ensure_macro(r->store, mts_root(), name);
        if (e && e != MTS_ENOTFOUND) {
            rc = e;
            snprintf(b->errmsg, sizeof b->errmsg, "fred %s: importing the bundled %s: %s", series, name,
                     mts_store_errmsg(r->store));
        }
    }
    if (!rc && daily.n > 0) {
        /* a day that already has an original keeps it; a different FRED value is logged */
        rc = mts_store_load_macro_originals(r->store, name, daily.ts[0], daily.ts[daily.n - 1], &stored);
        if (rc) snprintf(b->errmsg, sizeof b->errmsg, "%s", mts_store_errmsg(r->store));
        else {
            int64_t same = 0;
            mts_fred_keep_first(&stored, &daily, flags, series, stderr, &same, &b->kept);
            if (b->kept)
                mts_log(MTS_LOG_WARN, "collect.macro_conflict",
                        "\"series\":\"%s\",\"indicator\":\"%s\",\"days\":%lld,"
                        "\"rule\":\"the stored original is kept\"", series, name, (long long)b->kept);
        }
    }
    if (!rc) {
        /* originals and filled days in one call = one transaction; the store
         * keeps an existing original over a filled value */
        rc = mts_store_upsert_macro(r->store, name, daily.ts, daily.v, flags, daily.n);
        if (rc) snprintf(b->errmsg, sizeof b->errmsg, "%s", mts_store_errmsg(r->store));
    }
    if (rc) b->err = rc;
    else { b->ok = 1; b->rows = orig.n; }
    mts_series_free(&orig);
    mts_series_free(&daily);
    mts_series_free(&stored);
    mts_free(flags);
}

static void log_batch(run_t *r, const batch_t *b) {
    alert_batch(r, b);
    r->total_rows += b->rows;
    r->total_rejected += b->rejected;
    if (!b->ok) {
        r->failures++;
        const char *type = b->err == MTS_ERATELIMIT ? "rate_limit"
                         : b->err == MTS_EPARSE || b->err == MTS_EVALID ? "validation"
                         : b->err == MTS_EDB ? "database" : "api";
        mts_log(MTS_LOG_ERROR, "collect.batch_failed",
                "\"source\":\"%s\",\"name\":\"%s\",\"type\":\"%s\",\"code\":\"%s\",\"error\":\"%s\"",
                b->source, b->name, type, mts_strerror(b->err), b->errmsg);
        if (!r->o->json && !r->o->schedule) fprintf(stderr, "error: %s\n", b->errmsg);
        return;
    }
    mts_log(MTS_LOG_INFO, "collect.batch",
            "\"cycle\":%ld,\"source\":\"%s\",\"name\":\"%s\",\"rows\":%lld,\"rejected\":%lld,"
            "\"no_volume\":%lld,\"missing\":%lld,\"filled\":%lld",
            r->cycle, b->source, b->name, (long long)b->rows, (long long)b->rejected, (long long)b->no_volume,
            (long long)b->missing, (long long)b->filled);
}

static void print_batch_json(FILE *f, const batch_t *b, int first) {
    fprintf(f, "%s{\"source\":\"%s\",\"name\":\"", first ? "" : ",", b->source);
    mts_json_escape(f, b->name);
    fprintf(f, "\",\"status\":\"%s\",\"rows\":%lld,\"rejected\":%lld", b->ok ? "ok" : "error",
            (long long)b->rows, (long long)b->rejected);
    if (!strcmp(b->source, "coingecko")) {
        fprintf(f, ",\"interval\":\"%s\",\"forming\":%lld,\"no_volume\":%lld,\"price_usd\":", b->interval,
                (long long)b->forming, (long long)b->no_volume);
        mts_json_number(f, b->price);
    } else {
        fprintf(f, ",\"stored_as\":\"");
        mts_json_escape(f, b->stored_as);
        fprintf(f, "\",\"missing\":%lld,\"filled\":%lld,\"kept_differing\":%lld", (long long)b->missing,
                (long long)b->filled, (long long)b->kept);
    }
    if (!b->ok) {
        fprintf(f, ",\"error_type\":\"%s\",\"error\":\"", mts_strerror(b->err));
        mts_json_escape(f, b->errmsg);
        fputc('"', f);
    }
    fputc('}', f);
}

static void print_http_json(FILE *f, const char *name, mts_http_t *h, int first) {
    if (!h) return;
    const mts_http_stats_t *s = mts_http_stats(h);
    fprintf(f, "%s\"%s\":{\"requests\":%lld,\"attempts\":%lld,\"retries\":%lld,\"status_429\":%lld,"
               "\"status_5xx\":%lld,\"transport_errors\":%lld,\"breaker_opens\":%lld,\"breaker_closes\":%lld,"
               "\"breaker_rejects\":%lld,\"rate_waits\":%lld,\"connections\":%lld}",
            first ? "" : ",", name, (long long)s->requests, (long long)s->attempts, (long long)s->retries,
            (long long)s->status_429, (long long)s->status_5xx, (long long)s->transport_errors,
            (long long)s->breaker_opens, (long long)s->breaker_closes, (long long)s->breaker_rejects,
            (long long)s->rate_waits, (long long)s->connects);
}

/* One cycle: every asset, then every series; stops between batches on a signal.
 * Appends the batches to `all` (up to cap). */
static void run_cycle(run_t *r, batch_t *all, int cap, int *n_all) {
    opts_t *o = r->o;
    *n_all = 0;
    /* a one-shot collection (a backfill) shows a progress bar over its batches
     * on a terminal; scheduled runs keep their one-line status instead */
    mts_progress_t bar;
    int n_items = (r->cg ? o->n_assets : 0) + (r->fred ? o->n_series : 0);
    mts_progress_begin_on(&bar, stderr, !o->schedule && mts_progress_enabled(), NULL, "collect",
                          n_items, "batches");
    if (r->cg && o->n_assets > 0) {
        double prices[MAX_LIST];
        for (int i = 0; i < o->n_assets; i++) prices[i] = NAN;
        if (mts_coingecko_fetch_prices(r->cg, o->assets, o->n_assets, prices))
            mts_log(MTS_LOG_WARN, "collect.price_failed", "\"error\":\"%s\"", mts_coingecko_errmsg(r->cg));
        for (int i = 0; i < o->n_assets && !stop_requested && *n_all < cap; i++) {
            status_line(r, "coingecko %s ...", o->assets[i]);
            batch_t *b = &all[(*n_all)++];
            batch_coingecko(r, o->assets[i], prices[i], b);
            log_batch(r, b);
            mts_progress_update(&bar, *n_all);
        }
    }
    if (r->fred) {
        for (int i = 0; i < o->n_series && !stop_requested && *n_all < cap; i++) {
            status_line(r, "fred %s ...", o->series[i]);
            batch_t *b = &all[(*n_all)++];
            batch_fred(r, o->series[i], b);
            log_batch(r, b);
            mts_progress_update(&bar, *n_all);
        }
    }
    mts_progress_end(&bar);
}

int mts_cmd_collect(int argc, char **argv) {
    opts_t o;
    memset(&o, 0, sizeof o);
    int pr = parse(argc, argv, &o);
    if (pr) {
        free(o.asset_buf);
        free(o.series_buf);
        return pr > 0 ? MTS_EXIT_OK : MTS_EXIT_USAGE;
    }
    int exit_code = MTS_EXIT_OK;
    run_t r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.tty = isatty(2);
    if (o.schedule && !r.tty && !getenv("MTS_LOG_LEVEL")) mts_log_set_level(MTS_LOG_INFO);

    const char *fred_key = getenv("FRED_API_KEY");
    if (o.fred && !(fred_key && *fred_key)) {
        if (o.source_given || o.n_series > 0 || !o.cg) {
            fprintf(stderr, "error: FRED_API_KEY is not set (get one at https://fred.stlouisfed.org/docs/api/api_key.html)\n");
            exit_code = MTS_EXIT_USAGE;
            goto out;
        }
    }
    if (o.fred && !(fred_key && *fred_key)) {
        /* both sources by default: skip FRED, say so */
        mts_log(MTS_LOG_WARN, "collect.fred_skipped", "\"reason\":\"FRED_API_KEY is not set\"");
        if (!o.json) fprintf(stderr, "note: FRED skipped: FRED_API_KEY is not set\n");
        o.fred = 0;
        o.n_series = 0;
    }

    int bad = 0;
    double cg_rate, fred_rate;
    bad |= setting_num("COINGECKO_RATE_PER_MIN", "coingecko_rate_per_min", MTS_COINGECKO_RATE_PER_MIN, &cg_rate);
    bad |= setting_num("FRED_RATE_PER_MIN", "fred_rate_per_min", MTS_FRED_RATE_PER_MIN, &fred_rate);
    mts_http_config_t cg_cfg, fred_cfg;
    http_config(&cg_cfg, cg_rate, &bad);
    http_config(&fred_cfg, fred_rate, &bad);
    if (bad) { exit_code = MTS_EXIT_USAGE; goto out; }

    if (o.cg) {
        const char *base = setting_str("COINGECKO_BASE_URL", "coingecko_base_url", MTS_COINGECKO_DEFAULT_BASE);
        int rc = mts_coingecko_new(base, getenv("COINGECKO_API_KEY"), &cg_cfg, &r.cg);
        if (rc) { fprintf(stderr, "error: coingecko client: %s\n", mts_strerror(rc)); exit_code = MTS_EXIT_ERROR; goto out; }
        if (!getenv("COINGECKO_API_KEY"))
            mts_log(MTS_LOG_INFO, "collect.coingecko_public", "\"note\":\"no COINGECKO_API_KEY: public API limits\"");
    }
    if (o.fred) {
        const char *base = setting_str("FRED_BASE_URL", "fred_base_url", MTS_FRED_DEFAULT_BASE);
        int rc = mts_fred_new(base, fred_key, &fred_cfg, &r.fred);
        if (rc) { fprintf(stderr, "error: fred client: %s\n", mts_strerror(rc)); exit_code = MTS_EXIT_ERROR; goto out; }
        mts_http_set_cancel(mts_fred_http(r.fred), &hard_stop);
    }
    if (r.cg) mts_http_set_cancel(mts_coingecko_http(r.cg), &hard_stop);

    r.store = mts_cli_open_store(mts_cli_db_path(o.db));
    if (!r.store) { exit_code = MTS_EXIT_ERROR; goto out; }
    mts_alerts_breaker_db(mts_cli_db_path(o.db));   /* the vendors' breakers in mts serve's GET /health */
    {
        char aerr[256];
        mts_alerts_config_t ac = {.source = "collect"};
        if (mts_alerts_open(&ac, &r.alerts, aerr, sizeof aerr) != 0) {
            fprintf(stderr, "error: %s\n", aerr);
            exit_code = MTS_EXIT_USAGE;
            goto out;
        }
        if (mts_alerts_has(r.alerts, MTS_ALERT_COLLECTOR_FAILING)) {   /* alerts on the bus: Redis or the database */
            mts_bus_config_t bc = {.redis_url = mts_cache_url_from(NULL), .db_path = mts_cli_db_path(o.db)};
            if (mts_bus_open(&bc, &r.bus) != 0)
                mts_log(MTS_LOG_WARN, "collect.bus_unavailable", "\"error\":\"%s\"", mts_bus_errmsg(NULL));
            mts_alerts_set_bus(r.alerts, r.bus);
        }
    }

    /* retention (store/prune.h): prune on its own schedule while collecting */
    mts_prune_sched_t *prune = o.schedule ? mts_prune_schedule_start(mts_cli_db_path(o.db)) : NULL;
    install_signals();
    batch_t batches[2 * MAX_LIST];
    int n_batches = 0;
    for (r.cycle = 1;; r.cycle++) {
        int64_t rows_before = r.total_rows;
        int fail_before = r.failures;
        run_cycle(&r, batches, 2 * MAX_LIST, &n_batches);
        if (o.schedule) {
            mts_log(MTS_LOG_INFO, "collect.cycle",
                    "\"cycle\":%ld,\"batches\":%d,\"rows\":%lld,\"failed\":%d,\"interrupted\":%s",
                    r.cycle, n_batches, (long long)(r.total_rows - rows_before), r.failures - fail_before,
                    stop_requested ? "true" : "false");
        }
        if (!o.schedule || stop_requested || (o.iterations > 0 && r.cycle >= o.iterations)) break;
        /* pause until the next cycle, waking on a signal */
        double left = o.interval;
        while (left > 0 && !stop_requested) {
            status_line(&r, "%lld rows stored, %d failed batches; next in %.0fs", (long long)r.total_rows,
                        r.failures, ceil(left));
            double step = left > 0.2 ? 0.2 : left;
            struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
            nanosleep(&ts, NULL);
            left -= step;
        }
        if (stop_requested) break;
    }
    mts_prune_schedule_stop(prune);
    if (r.tty && o.schedule) fputc('\n', stderr);
    if (o.schedule && stop_requested)
        mts_log(MTS_LOG_INFO, "collect.stopped", "\"cycles\":%ld,\"reason\":\"signal\"", r.cycle);

    if (o.json) {
        /* the last cycle's batches, plus totals over the run */
        printf("{\"cycles\":%ld,\"interrupted\":%s,\"rows\":%lld,\"rejected\":%lld,\"failed_batches\":%d,\"batches\":[",
               r.cycle, stop_requested ? "true" : "false", (long long)r.total_rows, (long long)r.total_rejected,
               r.failures);
        for (int i = 0; i < n_batches; i++) print_batch_json(stdout, &batches[i], i == 0);
        printf("],\"http\":{");
        print_http_json(stdout, "coingecko", r.cg ? mts_coingecko_http(r.cg) : NULL, 1);
        print_http_json(stdout, "fred", r.fred ? mts_fred_http(r.fred) : NULL, r.cg == NULL);
        printf("}}\n");
    } else if (!o.schedule) {
        for (int i = 0; i < n_batches; i++) {
            const batch_t *b = &batches[i];
            if (!b->ok) continue;
            if (!strcmp(b->source, "coingecko"))
                printf("coingecko %s: %lld %s bars stored (labelled by open time), %lld rejected, %lld still "
                       "forming skipped, %lld without volume (stored as 0)\n",
                       b->name, (long long)b->rows, b->interval[0] ? b->interval : "-", (long long)b->rejected,
                       (long long)b->forming, (long long)b->no_volume);
            else
                printf("fred %s -> %s: %lld observations, %lld missing, %lld days filled, %lld rejected, "
                       "%lld days kept their stored differing value\n",
                       b->name, b->stored_as, (long long)b->rows, (long long)b->missing, (long long)b->filled,
                       (long long)b->rejected, (long long)b->kept);
        }
    }
    if (o.schedule && stop_requested) exit_code = MTS_EXIT_OK;   /* clean stop */
    else if (r.failures) exit_code = MTS_EXIT_ERROR;
    else if (r.total_rejected) exit_code = MTS_EXIT_PARTIAL;
out:
    mts_alerts_close(r.alerts);   /* drains the webhook queue */
    mts_bus_close(r.bus);
    mts_store_close(r.store);
    mts_coingecko_free(r.cg);
    mts_fred_free(r.fred);
    free(o.asset_buf);
    free(o.series_buf);
    return exit_code;
}
