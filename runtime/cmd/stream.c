/* stream.c — `mts stream`: record live trades, top-N order book snapshots and
 * funding rates from Binance or Bybit into SQLite (feeds/ws.c does the
 * websockets, feeds/feed_store.c the batched writes). With a Redis URL the
 * book snapshots and funding updates are also written to Redis (keys
 * orderbook:/funding:, one pipeline per flush) and published on the bus
 * (feed_store's mirror). Bounded with --duration; SIGINT/SIGTERM flush and
 * exit 0. */
#include "cache/bus.h"
#include "cache/cache.h"
#include "cmd/cmd.h"
#include "feeds/feed_store.h"
#include "feeds/ws.h"
#include "util/log.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMBOLS 64
#define MAX_DEPTH 1000

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

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
        "  --json                  print a JSON summary on stdout at the end\n\n"
        "%s"
        "examples:\n"
        "  mts stream --exchange binance --symbols BTCUSDT,ETHUSDT --channels trades,book,funding\n"
        "  mts stream --exchange bybit --symbols BTCUSDT --channels trades,book,funding\n"
        "  mts stream --exchange binance --symbols BTCUSDT --duration 30s --db data/live.db --json\n"
        "  mts stream --exchange binance --symbols BTCUSDT --redis redis://127.0.0.1:6379/0\n"
        "  mts stream --exchange bybit --symbols BTCUSDT --bus sqlite --duration 1m\n",
        mts_cli_feed_env_help);
}

typedef struct {
    mts_ws_t *ws;
    mts_feed_store_t *fs;
    int depth;
    int64_t snapshot_ms, last_snapshot, last_flush;
    int store_failed;
    /* last funding fields per symbol (Bybit deltas carry only what changed) */
    char fsym[MAX_SYMBOLS][MTS_SYMBOL_MAX];
    double frate[MAX_SYMBOLS], fmark[MAX_SYMBOLS];
    int64_t fnext[MAX_SYMBOLS];
    int n_f;
    mts_level_t *bids, *asks;
} ctx_t;

static void store_err(ctx_t *x, int rc) {
    if (rc && !x->store_failed) {
        x->store_failed = 1;
        mts_log(MTS_LOG_ERROR, "stream.store_failed", "\"error\":\"%s\"", mts_feed_store_errmsg(x->fs));
        fprintf(stderr, "error: writing to the database: %s\n", mts_feed_store_errmsg(x->fs));
    }
}

static void on_event(void *ud, const mts_feed_event_t *ev, const mts_book_t *book) {
    ctx_t *x = ud;
    (void)book;
    if (ev->kind == MTS_FEV_TRADE) {
        store_err(x, mts_feed_store_trade(x->fs, ev));
    } else if (ev->kind == MTS_FEV_FUNDING) {
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
}

enum { O_EXCHANGE, O_SYMBOLS, O_CHANNELS, O_DURATION, O_DEPTH, O_SNAPINT, O_DB, O_JSON, O_HELP, O_REDIS,
       O_BUS };
static const mts_cli_opt_t OPTS[] = {
    {"--exchange", 1}, {"--symbols", 1}, {"--channels", 1}, {"--duration", 1}, {"--depth", 1},
    {"--snapshot-interval", 1}, {"--db", 1}, {"--json", 0}, {"--help", 0}, {"--redis", 1}, {"--bus", 1},
    {NULL, 0}};

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "mts stream: %s%s%s%s (see mts stream --help)\n", msg, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    return MTS_EXIT_USAGE;
}

int mts_cmd_stream(int argc, char **argv) {
    const char *exchange_s = NULL, *symbols_s = NULL, *channels_s = "trades,book,funding", *db = NULL;
    const char *redis_opt = NULL, *bus_mode = "auto";
    int64_t duration = 0, snapshot_ms = 1000;
    int depth = 20, json = 0;
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
        case O_DB: db = val; break;
        case O_JSON: json = 1; break;
        case O_REDIS: redis_opt = val; break;
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
    if (!symbols_s) return usage_error("--symbols is required, e.g. --symbols BTCUSDT,ETHUSDT", NULL);

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
    x->bids = lv;
    x->asks = lv + depth;
    x->snapshot_ms = snapshot_ms;
    if (mts_feed_store_open(store, 2000, &x->fs) != 0) {
        fprintf(stderr, "error: %s: %s\n", db_path, mts_store_errmsg(store));
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
    mts_ws_config_t cfg = {
        .exchange = exchange, .symbols = symbols, .n_symbols = n_symbols, .channels = channels,
        .binance_ws_url = fe.binance_ws_url, .binance_futures_ws_url = fe.binance_futures_ws_url,
        .binance_rest_url = fe.binance_rest_url, .bybit_ws_url = fe.bybit_ws_url,
        .ping_interval_ms = fe.ping_interval_ms, .backoff_min_ms = fe.backoff_ms,
        .idle_timeout_ms = fe.idle_timeout_ms, .handshake_timeout_ms = fe.handshake_timeout_ms,
        .max_message_bytes = (size_t)fe.max_message_bytes,
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
    if (mts_ws_run(x->ws, duration, &g_stop) != 0) {
        fprintf(stderr, "error: %s\n", mts_ws_errmsg(x->ws));
        goto done;
    }
    int64_t t1 = mts_ws_now_ms();
    snapshot_books(x, t1);   /* the final book of every synced symbol */
    int frc = mts_feed_store_flush(x->fs);
    store_err(x, frc);

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
               "\"batches\":%lld},\"redis\":{\"configured\":%s,\"keys\":%lld,\"batches\":%lld,\"errors\":%lld},"
               "\"bus\":{\"backend\":\"%s\",\"published\":%lld,\"errors\":%lld},\"db\":\"",
               (double)(t1 - t0) / 1000.0, (long long)st.messages, (long long)st.trades,
               (long long)st.book_updates, (long long)st.funding, (long long)st.bars,
               (long long)st.resyncs, (long long)st.reconnects, (long long)st.malformed,
               (long long)st.snapshots_fetched, (long long)st.pings_sent, (long long)st.pongs,
               (long long)st.handshake_timeouts, (long long)st.oversized,
               (long long)fst.trades, (long long)fst.trade_duplicates, (long long)fst.book_rows,
               (long long)fst.funding_rows, (long long)fst.batches, cache ? "true" : "false",
               (long long)fst.redis_keys, (long long)fst.redis_batches, (long long)fst.redis_errors,
               bus ? mts_bus_backend(bus) : "none", (long long)fst.bus_published, (long long)fst.bus_errors);
        mts_json_escape(stdout, db_path);
        printf("\"}\n");
    } else {
        fprintf(stderr, "stream %s: %lld messages, %lld trades (%lld stored), %lld book updates, %lld funding, "
                        "%lld resyncs, %lld reconnects, %lld malformed -> %s\n",
                exchange_s, (long long)st.messages, (long long)st.trades, (long long)fst.trades,
                (long long)st.book_updates, (long long)st.funding, (long long)st.resyncs,
                (long long)st.reconnects, (long long)st.malformed, db_path);
        if (cache || bus)
            fprintf(stderr, "stream %s: redis %lld keys in %lld pipelines (%lld errors), bus %s %lld published (%lld errors)\n",
                    exchange_s, (long long)fst.redis_keys, (long long)fst.redis_batches, (long long)fst.redis_errors,
                    bus ? mts_bus_backend(bus) : "none", (long long)fst.bus_published, (long long)fst.bus_errors);
    }
    exit_code = x->store_failed ? MTS_EXIT_ERROR : MTS_EXIT_OK;
done:
    if (x) {
        mts_ws_free(x->ws);
        mts_feed_store_close(x->fs);
    }
    mts_free(x);
    mts_free(lv);
    mts_bus_close(bus);
    mts_cache_close(cache);
    mts_store_close(store);
    return exit_code;
}
