/* stream.c — `mts stream`: record live trades, top-N order book snapshots and
 * funding rates from Binance or Bybit into SQLite (feeds/ws.c does the
 * websockets, feeds/feed_store.c the batched writes). With a Redis URL the
 * book snapshots and funding updates are also written to Redis (keys
 * orderbook:/funding:, one pipeline per flush) and published on the bus
 * (feed_store's mirror). Bounded with --duration; SIGINT/SIGTERM flush and
 * exit 0.
 *
 * Write failures (full disk, I/O errors): rows stay buffered (--store-buffer)
 * and the flush is retried every second; a warning repeats every
 * --store-warn-interval with the counts; --on-store-error stop (default) ends
 * the stream after --store-error-grace of continuous failure. Rows that could
 * not be stored are counted (summary, --json "not_stored") and make the exit
 * status EXIT_NOT_STORED. */
#include "alerts/alerts.h"
#include "cache/bus.h"
#include "cache/cache.h"
#include "cmd/cmd.h"
#include "store/prune.h"
#include "feeds/feed_store.h"
#include "feeds/ws.h"
#include "live/live.h"
#include "util/log.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SYMBOLS 64
#define MAX_DEPTH 1000

static volatile sig_atomic_t g_stop, g_signalled;
static void on_signal(int sig) { (void)sig; g_signalled = 1; g_stop = 1; }

/* Exit status when rows were received but not stored (write failures). */
enum { EXIT_NOT_STORED = 4 };

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts stream --exchange binance|bybit --symbols LIST [options]\n\n"
        "Connects to the exchange's public websockets and records trades, top-N order book\n"
        "snapshots and funding rates into the database (tables trades, order_book_snapshots,\n"
        "funding_rates; export them with mts export table NAME). Books are kept from the\n"
        "snapshot plus diffs with the exchange's sequence numbers and resynced on any gap;\n"
        "dropped connections are reopened with exponential backoff and resubscribed.\n\n"
        "options:\n"
        "  --exchange NAME         binance (spot streams + USD-M futures markPrice) or bybit (v5 linear)\n"
        "  --symbols LIST          e.g. BTCUSDT,ETHUSDT\n"
        "  --channels LIST         trades,book,funding (default); also aggtrades, bookticker, kline\n"
        "  --interval I            kline interval (default 1m): " MTS_WS_KLINE_INTERVALS "\n"
        "                          (Binance also 8h 3d); every closed kline is stored as a bar of the\n"
        "                          series <exchange>:<SYMBOL> (e.g. binance:BTCUSDT) at that interval\n"
        "  --duration TIME         stop after e.g. 30s, 5m, 1h, 500ms (default: until Ctrl-C)\n"
        "  --depth N               levels per side in each stored book snapshot (default 20)\n"
        "  --snapshot-interval T   how often to store book snapshots (default 1s)\n"
        "  --db PATH               database (default $DATABASE_PATH or data/mts.db)\n"
        "  --redis URL             also write book snapshots and funding to Redis: keys\n"
        "                          orderbook:{exchange}:{symbol}:{ts_ms} (TTL 1h) and\n"
        "                          funding:{exchange}:{symbol}:{ts_ms} (TTL 24h), plus ...:latest;\n"
        "                          URL redis://[:password@]host[:port][/db], or none (default:\n"
        "                          $REDIS_URL, else config/mts.json redis_url). Redis being down\n"
        "                          never stops the stream: it reconnects with backoff.\n"
        "  --bus MODE              publish the same JSON on the event bus (topics orderbook,\n"
        "                          funding): auto (default: the Redis stream mts:bus when a Redis\n"
        "                          URL is set, else nothing), redis, sqlite (bus_events in --db), none\n"
        "  --ws-url URL            websocket base of the exchange (Binance spot streams or Bybit v5\n"
        "                          linear; default $BINANCE_WS_URL or $BYBIT_WS_URL, below); the\n"
        "                          Binance funding stream stays $BINANCE_FUTURES_WS_URL\n"
        "  --rest-url URL          REST base for Binance depth snapshots (default $BINANCE_REST_URL)\n"
        "  --json                  print a JSON summary on stdout at the end (without it: a table on\n"
        "                          stdout of what was received and stored per channel and symbol)\n"
        "  --on-store-error MODE   when database writes fail (full disk, I/O error): stop (default)\n"
        "                          ends the stream after --store-error-grace of continuous failure;\n"
        "                          continue keeps recording (rows past --store-buffer are dropped)\n"
        "  --store-error-grace T   how long writes may fail before stop applies (default 60s)\n"
        "  --store-buffer ROWS     rows kept in memory while writes fail, retried every second\n"
        "                          (default 100000, about 14 MB)\n"
        "  --store-warn-interval T repeat the stream.store_failing warning this often (default 10s)\n"
        "  Rows received but not stored are counted (summary, --json not_stored) and make the\n"
        "  exit status 4; a failure that clears before the end loses nothing and exits 0.\n\n"
        "%s"
        "examples:\n"
        "  mts stream --exchange binance --symbols BTCUSDT,ETHUSDT --channels trades,book,funding\n"
        "  mts stream --exchange bybit --symbols BTCUSDT --channels trades,book,funding\n"
        "  mts stream --exchange binance --symbols BTCUSDT --duration 30s --db data/live.db --json\n"
        "  mts stream --exchange binance --symbols BTCUSDT --redis redis://127.0.0.1:6379/0\n"
        "  mts stream --exchange bybit --symbols BTCUSDT --bus sqlite --duration 1m\n"
        "  mts stream --exchange binance --symbols BTCUSDT --ws-url ws://127.0.0.1:9000 --rest-url http://127.0.0.1:9000\n",
        mts_cli_feed_env_help);
}

typedef struct {
    mts_ws_t *ws;
    mts_feed_store_t *fs;
    int depth;
    int64_t snapshot_ms, last_snapshot, last_flush;
    int store_failed;            /* ever */
    int policy_continue;
    int64_t grace_ms, warn_ms;
    int64_t fail_since, last_warn;   /* fail_since 0: the last flush worked */
    int stopped_by_store;
    /* last funding fields per symbol (Bybit deltas carry only what changed) */
    char fsym[MAX_SYMBOLS][MTS_SYMBOL_MAX];
    double frate[MAX_SYMBOLS], fmark[MAX_SYMBOLS];
    int64_t fnext[MAX_SYMBOLS];
    int n_f;
    mts_level_t *bids, *asks;
    const char *kline_iv;        /* --interval: the klines' interval, their bars' series */
    const char *const *syms;     /* the --symbols entries */
    int n_syms;
    /* feed_silent alerts (alerts/alerts.h): the last message per --symbols entry */
    mts_alerts_t *alerts;
    int64_t last_msg[MAX_SYMBOLS], iv_ms;
    const char *exch;
    /* received per symbol (the summary): trades, book snapshots stored, funding, bars */
    int64_t (*per)[4];
} ctx_t;

enum { PER_TRADES, PER_SNAPSHOTS, PER_FUNDING, PER_BARS };
static void count(ctx_t *x, const char *sym, int what) {
    for (int i = 0; sym && i < x->n_syms; i++)
        if (!strcmp(x->syms[i], sym)) { x->per[i][what]++; return; }
}

static int64_t not_stored(const mts_feed_store_stats_t *f) {
    return f->not_stored_trades + f->not_stored_book_rows + f->not_stored_funding_rows + f->not_stored_bars;
}

static void store_err(ctx_t *x, int rc) {
    if (rc && !x->store_failed) {
        x->store_failed = 1;
        mts_log(MTS_LOG_ERROR, "stream.store_failed", "\"error\":\"%s\"", mts_feed_store_errmsg(x->fs));
        fprintf(stderr, "error: writing to the database: %s\n", mts_feed_store_errmsg(x->fs));
    }
}

/* In the tick, after the flush: the failure state, its repeated warning and the policy. */
static void store_watch(ctx_t *x, int64_t now) {
    mts_feed_store_stats_t f;
    mts_feed_store_stats(x->fs, &f);
    int failing = mts_feed_store_failing(x->fs);
    if (!failing && x->fail_since) {
        mts_log(MTS_LOG_WARN, "stream.store_recovered", "\"failed_for_ms\":%lld,\"not_stored\":{\"trades\":%lld,"
                "\"book_rows\":%lld,\"funding_rows\":%lld}", (long long)(now - x->fail_since),
                (long long)f.not_stored_trades, (long long)f.not_stored_book_rows, (long long)f.not_stored_funding_rows);
        fprintf(stderr, "stream: database writes work again after %.1f s; %lld rows not stored so far\n",
                (double)(now - x->fail_since) / 1000.0, (long long)not_stored(&f));
        x->fail_since = 0;
        return;
    }
    if (!failing) return;
    if (!x->fail_since) {
        x->fail_since = now;
        x->last_warn = 0;
    }
    int64_t failed_for = now - x->fail_since;
    int stop = !x->policy_continue && failed_for >= x->grace_ms;
    if (!x->last_warn || now - x->last_warn >= x->warn_ms || stop) {
        x->last_warn = now;
        mts_log(MTS_LOG_ERROR, "stream.store_failing", "\"error\":\"%s\",\"failing_for_ms\":%lld,\"pending_rows\":%d,"
                "\"not_stored\":{\"trades\":%lld,\"book_rows\":%lld,\"funding_rows\":%lld},\"failed_flushes\":%lld,"
                "\"policy\":\"%s\",\"grace_ms\":%lld", mts_feed_store_errmsg(x->fs), (long long)failed_for,
                mts_feed_store_pending(x->fs), (long long)f.not_stored_trades, (long long)f.not_stored_book_rows,
                (long long)f.not_stored_funding_rows, (long long)f.flush_errors,
                x->policy_continue ? "continue" : "stop", (long long)x->grace_ms);
        fprintf(stderr, "stream: database writes failing for %.0f s (%s): %d rows waiting, %lld not stored%s\n",
                (double)failed_for / 1000.0, mts_feed_store_errmsg(x->fs), mts_feed_store_pending(x->fs),
                (long long)not_stored(&f), stop ? "; stopping (--on-store-error stop)" : "");
    }
    if (stop) {
        x->stopped_by_store = 1;
        g_stop = 1;
    }
}

static void on_event(void *ud, const mts_feed_event_t *ev, const mts_book_t *book) {
    ctx_t *x = ud;
    (void)book;
    for (int i = 0; i < x->n_syms; i++)
        if (strcasecmp(x->syms[i], ev->symbol) == 0) x->last_msg[i] = mts_ws_now_ms();
    if (ev->kind == MTS_FEV_TRADE) {
        count(x, ev->symbol, PER_TRADES);
        store_err(x, mts_feed_store_trade(x->fs, ev));
    } else if (ev->kind == MTS_FEV_BAR) {
        count(x, ev->symbol, PER_BARS);
        store_err(x, mts_feed_store_bar(x->fs, ev, x->kline_iv));
    } else if (ev->kind == MTS_FEV_FUNDING) {
        count(x, ev->symbol, PER_FUNDING);
        int i = 0;
        while (i < x->n_f && strcmp(x->fsym[i], ev->symbol)) i++;
        if (i == x->n_f) {
            if (x->n_f == MAX_SYMBOLS) return;
            strcpy(x->fsym[i], ev->symbol);
            x->frate[i] = x->fmark[i] = NAN;
            x->fnext[i] = -1;
            x->n_f++;
        }
        mts_feed_event_t e = *ev;
        if (!isnan(e.rate)) x->frate[i] = e.rate; else e.rate = x->frate[i];
        if (!isnan(e.mark_price)) x->fmark[i] = e.mark_price; else e.mark_price = x->fmark[i];
        if (e.next_funding_ms >= 0) x->fnext[i] = e.next_funding_ms; else e.next_funding_ms = x->fnext[i];
        if (e.ts_ms < 0) e.ts_ms = mts_ws_now_ms();
        store_err(x, mts_feed_store_funding(x->fs, &e));
    }
}

static void snapshot_books(ctx_t *x, int64_t now) {
    for (int i = 0; i < mts_ws_n_books(x->ws); i++) {
        const mts_book_t *b = mts_ws_book(x->ws, i);
        if (!mts_book_synced(b)) continue;
        int nb = mts_book_top(b, MTS_BOOK_BID, x->depth, x->bids);
        int na = mts_book_top(b, MTS_BOOK_ASK, x->depth, x->asks);
        count(x, mts_book_symbol(b), PER_SNAPSHOTS);
        store_err(x, mts_feed_store_book(x->fs, mts_book_exchange(b), mts_book_symbol(b), now,
                                         mts_book_update_id(b), x->bids, nb, x->asks, na));
    }
}

static void on_tick(void *ud, int64_t now) {
    ctx_t *x = ud;
    if (now - x->last_snapshot >= x->snapshot_ms) {
        x->last_snapshot = now;
        snapshot_books(x, now);
    }
    if (now - x->last_flush >= 1000 && mts_feed_store_pending(x->fs) > 0) {
        x->last_flush = now;
        store_err(x, mts_feed_store_flush(x->fs));
    }
    store_watch(x, now);
    for (int i = 0; x->alerts && i < x->n_syms; i++) {
        char subj[96];
        snprintf(subj, sizeof subj, "%s:%s", x->exch, x->syms[i]);
        mts_alerts_feed_silent(x->alerts, subj, now - x->last_msg[i], x->iv_ms);
    }
}

enum { O_EXCHANGE, O_SYMBOLS, O_CHANNELS, O_DURATION, O_DEPTH, O_SNAPINT, O_DB, O_JSON, O_HELP, O_REDIS,
       O_BUS, O_ON_STORE_ERROR, O_GRACE, O_BUFFER, O_WARN, O_INTERVAL, O_WSURL, O_RESTURL };
static const mts_cli_opt_t OPTS[] = {
    {"--exchange", 1}, {"--symbols", 1}, {"--channels", 1}, {"--duration", 1}, {"--depth", 1},
    {"--snapshot-interval", 1}, {"--db", 1}, {"--json", 0}, {"--help", 0}, {"--redis", 1}, {"--bus", 1},
    {"--on-store-error", 1}, {"--store-error-grace", 1}, {"--store-buffer", 1}, {"--store-warn-interval", 1},
    {"--interval", 1}, {"--ws-url", 1}, {"--rest-url", 1},
    {NULL, 0}};

/* The human summary (no --json), on stdout: per channel what was received,
 * stored, not stored (write failures) and rejected; per symbol what was
 * received; the connection's reconnects, resyncs and malformed messages. */
static void print_summary(const char *exchange, const ctx_t *x, const mts_ws_stats_t *st,
                          const mts_feed_store_stats_t *f, double seconds, const char *stopped, const char *db) {
    printf("stream %s: %.1f s (stopped by %s), %lld messages, %lld reconnects, %lld book resyncs, "
           "%lld malformed\n", exchange, seconds, stopped, (long long)st->messages, (long long)st->reconnects,
           (long long)st->resyncs, (long long)st->malformed);
    printf("  %-16s %10s %10s %10s  %s\n", "channel", "received", "stored", "not stored", "rejected");
    printf("  %-16s %10lld %10lld %10lld  %lld duplicates\n", "trades", (long long)st->trades,
           (long long)f->trades, (long long)f->not_stored_trades, (long long)f->trade_duplicates);
    printf("  %-16s %10lld %10s %10s\n", "book updates", (long long)st->book_updates, "-", "-");
    int64_t snaps = 0;
    for (int i = 0; i < x->n_syms; i++) snaps += x->per[i][PER_SNAPSHOTS];
    printf("  %-16s %10lld %10lld %10lld  (stored, not stored: rows, one per level and side)\n", "book snapshots", (long long)snaps,
           (long long)f->book_rows, (long long)f->not_stored_book_rows);
    printf("  %-16s %10lld %10lld %10lld\n", "funding", (long long)st->funding, (long long)f->funding_rows,
           (long long)f->not_stored_funding_rows);
    printf("  %-16s %10lld %10lld %10lld  %lld refused, %lld duplicates\n", "bars", (long long)st->bars,
           (long long)f->bars, (long long)f->not_stored_bars, (long long)f->bars_refused,
           (long long)f->bar_duplicates);
    printf("  %-16s %10s %10s %10s %10s\n", "symbol", "trades", "snapshots", "funding", "bars");
    for (int i = 0; i < x->n_syms; i++)
        printf("  %-16s %10lld %10lld %10lld %10lld\n", x->syms[i], (long long)x->per[i][PER_TRADES],
               (long long)x->per[i][PER_SNAPSHOTS], (long long)x->per[i][PER_FUNDING], (long long)x->per[i][PER_BARS]);
    printf("  database %s\n", db);
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "mts stream: %s%s%s%s (see mts stream --help)\n", msg, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    return MTS_EXIT_USAGE;
}

int mts_cmd_stream(int argc, char **argv) {
    const char *exchange_s = NULL, *symbols_s = NULL, *channels_s = "trades,book,funding", *db = NULL;
    const char *kline_iv = "1m";
    const char *redis_opt = NULL, *bus_mode = "auto", *ws_url = NULL, *rest_url = NULL;
    int64_t duration = 0, snapshot_ms = 1000;
    int depth = 20, json = 0, policy_continue = 0;
    int64_t grace_ms = 60000, warn_ms = 10000;
    long store_buffer = 100000;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("stream", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) return usage_error("unexpected argument", val);
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_EXCHANGE: exchange_s = val; break;
        case O_SYMBOLS: symbols_s = val; break;
        case O_CHANNELS: channels_s = val; break;
        case O_INTERVAL: kline_iv = val; break;
        case O_DB: db = val; break;
        case O_JSON: json = 1; break;
        case O_REDIS: redis_opt = val; break;
        case O_WSURL:
            if (strncmp(val, "ws://", 5) && strncmp(val, "wss://", 6))
                return usage_error("--ws-url expects a ws:// or wss:// URL, got", val);
            ws_url = val;
            break;
        case O_RESTURL:
            if (strncmp(val, "http://", 7) && strncmp(val, "https://", 8))
                return usage_error("--rest-url expects an http:// or https:// URL, got", val);
            rest_url = val;
            break;
        case O_BUS:
            if (strcmp(val, "auto") && strcmp(val, "redis") && strcmp(val, "sqlite") && strcmp(val, "none"))
                return usage_error("--bus expects auto, redis, sqlite or none; got", val);
            bus_mode = val;
            break;
        case O_DURATION:
            if ((duration = mts_cli_parse_duration(val)) <= 0) return usage_error("--duration expects e.g. 30s, 5m, 1h; got", val);
            break;
        case O_SNAPINT:
            if ((snapshot_ms = mts_cli_parse_duration(val)) <= 0) return usage_error("--snapshot-interval expects e.g. 1s, 500ms; got", val);
            break;
        case O_ON_STORE_ERROR:
            if (strcmp(val, "stop") && strcmp(val, "continue"))
                return usage_error("--on-store-error expects stop or continue, got", val);
            policy_continue = !strcmp(val, "continue");
            break;
        case O_GRACE:
            if ((grace_ms = mts_cli_parse_duration(val)) <= 0)
                return usage_error("--store-error-grace expects e.g. 60s, 5m; got", val);
            break;
        case O_WARN:
            if ((warn_ms = mts_cli_parse_duration(val)) <= 0)
                return usage_error("--store-warn-interval expects e.g. 10s, 1m; got", val);
            break;
        case O_BUFFER: {
            char *end;
            store_buffer = strtol(val, &end, 10);
            if (*end || store_buffer < 1 || store_buffer > 10000000)
                return usage_error("--store-buffer expects rows 1..10000000, got", val);
            break;
        }
        case O_DEPTH: {
            char *end;
            long d = strtol(val, &end, 10);
            if (*end || d < 1 || d > MAX_DEPTH) return usage_error("--depth expects 1..1000, got", val);
            depth = (int)d;
            break;
        }
        default: break;
        }
    }
    if (!exchange_s) return usage_error("--exchange is required (binance or bybit)", NULL);
    int exchange = mts_cli_parse_exchange("stream", exchange_s);
    if (exchange < 0) return MTS_EXIT_USAGE;
    mts_cli_feed_env_t fe;
    if (mts_cli_feed_env("stream", &fe) != 0) return MTS_EXIT_USAGE;
    /* the command line over the environment, as mts run */
    if (ws_url) {
        if (exchange == MTS_EXCH_BYBIT) fe.bybit_ws_url = ws_url;
        else fe.binance_ws_url = ws_url;
    }
    if (rest_url) {
        if (exchange == MTS_EXCH_BYBIT) fe.bybit_rest_url = rest_url;
        else fe.binance_rest_url = rest_url;
    }
    if (!symbols_s) return usage_error("--symbols is required, e.g. --symbols BTCUSDT,ETHUSDT", NULL);
    if (mts_ws_kline_interval(exchange, kline_iv, NULL, 0) <= 0)
        return usage_error("unknown --interval for this exchange (" MTS_WS_KLINE_INTERVALS "; Binance also 8h 3d):",
                           kline_iv);

    char symbuf[4096], chbuf[256];
    snprintf(symbuf, sizeof symbuf, "%s", symbols_s);
    snprintf(chbuf, sizeof chbuf, "%s", channels_s);
    const char *symbols[MAX_SYMBOLS];
    int n_symbols = 0;
    for (char *save, *t = strtok_r(symbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        if (!*t) continue;
        if (n_symbols == MAX_SYMBOLS) return usage_error("too many symbols (at most 64)", NULL);
        if (strlen(t) >= MTS_SYMBOL_MAX) return usage_error("symbol too long:", t);
        for (char *p = t; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                return usage_error("symbols are letters and digits, got", t);
        symbols[n_symbols++] = t;
    }
    if (n_symbols == 0) return usage_error("--symbols is empty", NULL);
    unsigned channels = 0;
    for (char *save, *t = strtok_r(chbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        static const struct { const char *name; unsigned bit; } C[] = {
            {"trades", MTS_CH_TRADES}, {"aggtrades", MTS_CH_AGGTRADES}, {"book", MTS_CH_BOOK},
            {"bookticker", MTS_CH_BOOKTICKER}, {"kline", MTS_CH_KLINE}, {"funding", MTS_CH_FUNDING}};
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof C / sizeof *C; k++)
            if (!strcmp(t, C[k].name)) bit = C[k].bit;
        if (!bit) return usage_error("unknown channel (trades, book, funding, aggtrades, bookticker, kline):", t);
        channels |= bit;
    }
    if (!channels) return usage_error("--channels is empty", NULL);
    const char *redis_url = mts_cache_url_from(redis_opt);
    if (!strcmp(bus_mode, "redis") && !redis_url)
        return usage_error("--bus redis needs a Redis URL (--redis URL, $REDIS_URL or config redis_url)", NULL);
    mts_cache_t *cache = NULL;
    mts_bus_t *bus = NULL;
    if (redis_url) {
        /* a small L1: this process only writes */
        mts_cache_config_t cc = {.redis_url = redis_url, .l1_capacity = 256};
        int rc = mts_cache_open(&cc, &cache);
        if (rc) {
            fprintf(stderr, "mts stream: %s (--redis, $REDIS_URL or config/mts.json redis_url)\n",
                    mts_cache_errmsg(NULL));
            return rc == MTS_ECONFIG ? MTS_EXIT_USAGE : MTS_EXIT_ERROR;
        }
        int conf, up;
        mts_cache_status(cache, &conf, &up, NULL);
        if (!up)
            fprintf(stderr, "warning: Redis is not reachable now (%s); streaming on, reconnecting with backoff\n",
                    mts_cache_errmsg(cache));
    }

    const char *db_path = mts_cli_db_path(db);
    mts_store_t *store = mts_cli_open_store(db_path);
    if (!store) {
        mts_cache_close(cache);
        return MTS_EXIT_ERROR;
    }
    int exit_code = MTS_EXIT_ERROR;

    ctx_t *x = mts_calloc(1, sizeof *x);
    mts_level_t *lv = mts_calloc(2 * (size_t)depth, sizeof *lv);
    if (!x || !lv) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    x->depth = depth;
    x->kline_iv = kline_iv;
    x->syms = symbols;
    x->n_syms = n_symbols;
    x->per = mts_calloc((size_t)n_symbols, sizeof *x->per);
    if (!x->per) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    x->bids = lv;
    x->asks = lv + depth;
    x->snapshot_ms = snapshot_ms;
    x->policy_continue = policy_continue;
    x->grace_ms = grace_ms;
    x->warn_ms = warn_ms;
    if (mts_feed_store_open(store, store_buffer < 2000 ? (int)store_buffer : 2000, &x->fs) != 0) {
        fprintf(stderr, "error: %s: %s\n", db_path, mts_store_errmsg(store));
        goto done;
    }
    if (mts_feed_store_reserve(x->fs, (int)store_buffer) != 0) {
        fprintf(stderr, "error: out of memory for --store-buffer %ld\n", store_buffer);
        goto done;
    }
    if ((!strcmp(bus_mode, "auto") && redis_url) || !strcmp(bus_mode, "redis") || !strcmp(bus_mode, "sqlite")) {
        mts_bus_config_t bc = {.redis_url = strcmp(bus_mode, "sqlite") ? redis_url : NULL, .db_path = db_path};
        if (mts_bus_open(&bc, &bus) != 0) {
            fprintf(stderr, "error: the event bus: %s\n", mts_bus_errmsg(NULL));
            goto done;
        }
    }
    mts_feed_store_mirror(x->fs, cache, bus);
    {
        mts_alerts_config_t ac = {.source = "stream", .bus = bus};
        char aerr[256];
        if (mts_alerts_open(&ac, &x->alerts, aerr, sizeof aerr) != 0) {
            fprintf(stderr, "error: %s\n", aerr);
            goto done;
        }
        x->syms = symbols;
        x->n_syms = n_symbols;
        x->exch = exchange_s;
        x->iv_ms = mts_live_interval_ms(kline_iv);
        for (int i = 0; i < n_symbols; i++) x->last_msg[i] = mts_ws_now_ms();
    }
    mts_ws_config_t cfg = {
        .exchange = exchange, .symbols = symbols, .n_symbols = n_symbols, .channels = channels,
        .binance_ws_url = fe.binance_ws_url, .binance_futures_ws_url = fe.binance_futures_ws_url,
        .binance_rest_url = fe.binance_rest_url, .bybit_ws_url = fe.bybit_ws_url,
        .ping_interval_ms = fe.ping_interval_ms, .backoff_min_ms = fe.backoff_ms,
        .idle_timeout_ms = fe.idle_timeout_ms, .handshake_timeout_ms = fe.handshake_timeout_ms,
        .max_message_bytes = (size_t)fe.max_message_bytes,
        .kline_interval = x->kline_iv,
        .on_event = on_event, .on_tick = on_tick, .ud = x};
    if (mts_ws_create(&cfg, &x->ws) != 0) {
        fprintf(stderr, "error: cannot start the %s feed: %s (check the *_WS_URL settings)\n", exchange_s,
                mts_ws_errmsg(NULL));
        goto done;
    }
    mts_cli_on_stop_signals(on_signal);
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = mts_ws_now_ms();
    x->last_snapshot = x->last_flush = t0;
    mts_prune_sched_t *prune = mts_prune_schedule_start(db_path);   /* retention (store/prune.h) */
    int ws_rc = mts_ws_run(x->ws, duration, &g_stop);
    mts_prune_schedule_stop(prune);
    if (ws_rc != 0) {
        fprintf(stderr, "error: %s\n", mts_ws_errmsg(x->ws));
        goto done;
    }
    int64_t t1 = mts_ws_now_ms();
    snapshot_books(x, t1);   /* the final book of every synced symbol */
    int frc = mts_feed_store_flush(x->fs);
    store_err(x, frc);
    if (frc) {   /* the last try failed: what is still pending is lost, and counted */
        int lost = mts_feed_store_discard(x->fs);
        mts_log(MTS_LOG_ERROR, "stream.store_discarded", "\"rows\":%d,\"error\":\"%s\"", lost,
                mts_feed_store_errmsg(x->fs));
    }
    const char *stopped = x->stopped_by_store ? "store_error" : g_signalled ? "signal" : "duration";

    mts_ws_stats_t st;
    mts_feed_store_stats_t fst;
    mts_ws_stats(x->ws, &st);
    mts_feed_store_stats(x->fs, &fst);
    if (json) {
        printf("{\"exchange\":\"%s\",\"symbols\":[", exchange_s);
        for (int k = 0; k < n_symbols; k++) {
            printf("%s\"", k ? "," : "");
            mts_json_escape(stdout, symbols[k]);
            printf("\"");
        }
        printf("],\"seconds\":%.3f,\"messages\":%lld,\"trades\":%lld,\"book_updates\":%lld,"
               "\"funding\":%lld,\"bars\":%lld,\"resyncs\":%lld,\"reconnects\":%lld,\"malformed\":%lld,"
               "\"snapshots_fetched\":%lld,\"pings_sent\":%lld,\"pongs\":%lld,\"handshake_timeouts\":%lld,"
               "\"oversized\":%lld,"
               "\"stored\":{\"trades\":%lld,\"trade_duplicates\":%lld,\"book_rows\":%lld,\"funding_rows\":%lld,"
               "\"batches\":%lld},\"not_stored\":{\"trades\":%lld,\"book_rows\":%lld,\"funding_rows\":%lld},"
               "\"bars_stored\":%lld,\"bars_refused\":%lld,\"not_stored_bars\":%lld,"
               "\"store_errors\":%lld,\"stopped\":\"%s\",\"redis\":{\"configured\":%s,\"keys\":%lld,\"batches\":%lld,\"errors\":%lld},"
               "\"bus\":{\"backend\":\"%s\",\"published\":%lld,\"errors\":%lld},\"db\":\"",
               (double)(t1 - t0) / 1000.0, (long long)st.messages, (long long)st.trades,
               (long long)st.book_updates, (long long)st.funding, (long long)st.bars,
               (long long)st.resyncs, (long long)st.reconnects, (long long)st.malformed,
               (long long)st.snapshots_fetched, (long long)st.pings_sent, (long long)st.pongs,
               (long long)st.handshake_timeouts, (long long)st.oversized,
               (long long)fst.trades, (long long)fst.trade_duplicates, (long long)fst.book_rows,
               (long long)fst.funding_rows, (long long)fst.batches, (long long)fst.not_stored_trades,
               (long long)fst.not_stored_book_rows, (long long)fst.not_stored_funding_rows,
               (long long)fst.bars, (long long)fst.bars_refused, (long long)fst.not_stored_bars,
               (long long)fst.flush_errors, stopped, cache ? "true" : "false",
               (long long)fst.redis_keys, (long long)fst.redis_batches, (long long)fst.redis_errors,
               bus ? mts_bus_backend(bus) : "none", (long long)fst.bus_published, (long long)fst.bus_errors);
        mts_json_escape(stdout, db_path);
        printf("\"}\n");
    } else {
        print_summary(exchange_s, x, &st, &fst, (double)(t1 - t0) / 1000.0, stopped, db_path);
        if (not_stored(&fst) > 0)
            fprintf(stderr, "stream %s: %lld rows NOT STORED (database writes failed): %lld trades, %lld book rows, "
                            "%lld funding rows\n", exchange_s, (long long)not_stored(&fst),
                    (long long)fst.not_stored_trades, (long long)fst.not_stored_book_rows,
                    (long long)fst.not_stored_funding_rows);
        if (cache || bus)
            fprintf(stderr, "stream %s: redis %lld keys in %lld pipelines (%lld errors), bus %s %lld published (%lld errors)\n",
                    exchange_s, (long long)fst.redis_keys, (long long)fst.redis_batches, (long long)fst.redis_errors,
                    bus ? mts_bus_backend(bus) : "none", (long long)fst.bus_published, (long long)fst.bus_errors);
    }
    if (not_stored(&fst) > 0) {
        if (json)
            fprintf(stderr, "stream %s: %lld rows not stored (database writes failed)%s\n", exchange_s,
                    (long long)not_stored(&fst), x->stopped_by_store ? "; stopped by --on-store-error stop" : "");
        exit_code = EXIT_NOT_STORED;
    } else {
        exit_code = MTS_EXIT_OK;   /* a write failure that cleared lost nothing */
    }
done:
    if (x) {
        mts_free(x->per);
        mts_ws_free(x->ws);
        mts_feed_store_close(x->fs);
        mts_alerts_close(x->alerts);   /* drains the webhook queue */
    }
    mts_free(x);
    mts_free(lv);
    mts_bus_close(bus);
    mts_cache_close(cache);
    mts_store_close(store);
    return exit_code;
}
