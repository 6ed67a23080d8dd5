/* fuzz_funding_csv.c — `make fuzz`: the funding importer (store/csv.c
 * mts_csv_import_funding) against mutated copies of a real funding file (byte
 * flips, separators, quotes, NULs, truncation, digit runs: other time units or
 * too many digits), with the Binance REST header (symbol,fundingTime,
 * fundingRate,markPrice) or a synthetic file in s/ms/us/ns, then the
 * settlement events (market/funding.c) of everything stored, checked to be
 * strictly ascending. Built with ASan and UBSan: rows may be rejected, files
 * refused; nothing may crash, and the events' invariant must hold.
 * Usage: fuzz_funding_csv ITERATIONS FILE */
#include "market/funding.h"
#include "store/csv.h"
#include "store/store.h"
#include "store/store_internal.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* Every stored row of (symbol, exchange) -> events; 1 when they are not ascending. */
static int check_events(mts_store_t *s, const char *sym, const char *ex, long *events) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(s), "SELECT ts_ms, rate, mark_price, next_funding_ms FROM funding_rates"
                           " WHERE symbol = ?1 AND exchange = ?2", -1, &st, NULL) != SQLITE_OK) return 1;
    sqlite3_bind_text(st, 1, sym, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ex, -1, SQLITE_STATIC);
    int64_t ms[4096], nx[4096];
    double rate[4096], mark[4096];
    int64_t n = 0;
    while (n < 4096 && sqlite3_step(st) == SQLITE_ROW) {
        ms[n] = sqlite3_column_int64(st, 0);
        rate[n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        mark[n] = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        nx[n] = (int64_t)(next() % 4) == 0 ? ms[n] + (int64_t)(next() % 57600000) : 0;   /* some as predictions */
        n++;
    }
    sqlite3_finalize(st);
    mts_funding_events_t ev;
    if (mts_funding_events_build_ms(ms, rate, mark, nx, n, &ev)) return 1;
    int bad = 0;
    for (int64_t i = 0; i < ev.n; i++) {
        if (i && ev.ts[i] <= ev.ts[i - 1]) bad = 1;
        if (!isfinite(ev.rate[i]) || fabs(ev.rate[i]) > 1) bad = 1;
        if (!isnan(ev.mark[i]) && !(ev.mark[i] > 0)) bad = 1;
    }
    *events += ev.n;
    mts_funding_events_free(&ev);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_funding_csv ITERATIONS FILE\n");
        return 2;
    }
    long iters = atol(argv[1]);
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 2;
    char *src = malloc(8001);
    long n = (long)fread(src, 1, 8000, f);
    fclose(f);
    char dir[] = "/tmp/mts-fuzz-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char db[64], csv[64];
    snprintf(db, sizeof db, "%s/f.db", dir);
    snprintf(csv, sizeof csv, "%s/f.csv", dir);
    mts_store_t *s = NULL;
    if (mts_store_open(db, &s)) return 1;
    FILE *devnull = fopen("/dev/null", "w");
    const size_t mcap = 16384;
    char *m = malloc(mcap);
    static const char *const syms[] = {"BTCUSDT", "ETHUSDT"};
    static const char *const exs[] = {"binance", "bybit"};
    static const int64_t mults[] = {1, 1000, 1000000, 1000000000};
    long stored = 0, rejected = 0, events = 0, refused = 0;
    for (long it = 0; it < iters; it++) {
        long len = n;
        mts_csv_opts_t opts = {0};
        int mode = (int)(next() % 4);
        if (mode == 0) {                       /* synthetic: one unit, REST header, marks */
            int64_t mult = mults[next() % 4];
            int64_t t0 = 1765555200 + (int64_t)(next() % 100) * 28800;
            len = snprintf(m, mcap, "%s\n", next() % 2 ? "symbol,fundingTime,fundingRate,markPrice" : "sym,ts,rate,mark");
            for (int i = 0; i < 60 && len < (long)mcap - 100; i++)
                len += snprintf(m + len, mcap - (size_t)len, "%s,%lld,%.6g,%s\n", syms[next() % 2],
                                (long long)((t0 + i * 28800) * mult + (int64_t)(next() % 3)),
                                ((double)(int64_t)(next() % 2001) - 1000) * 1e-6, next() % 3 ? "90000.5" : "");
        } else {
            memcpy(m, src, (size_t)n);
            if (mode == 1) {
                char d = ";\t|"[next() % 3];
                for (long i = 0; i < len; i++)
                    if (m[i] == ',') m[i] = d;
                opts.delimiter = d;
            }
        }
        for (int k = 0, muts = (int)(next() % 6); k < muts && len > 0; k++) {
            long pos = (long)(next() % (uint64_t)len);
            switch (next() % 6) {
            case 0: m[pos] = (char)(next() & 0xff); break;
            case 1: m[pos] = ",\n\r\"0.-e+ /:TZ;\t"[next() % 16]; break;
            case 2: len = pos + 1; break;
            case 3: m[pos] = 0; break;
            case 4: m[pos] = '"'; break;
            case 5:
                for (long e = pos + 1 + (long)(next() % 24); pos < e && pos < len; pos++)
                    m[pos] = (char)('0' + next() % 10);
                break;
            }
        }
        FILE *o = fopen(csv, "wb");
        fwrite(m, 1, (size_t)len, o);
        fclose(o);
        const char *sym = syms[next() % 2], *ex = exs[next() % 2];
        mts_funding_import_t rep;
        int rc = mts_csv_import_funding(s, csv, sym, ex, &opts, devnull, &rep);
        if (rc != 0 && rc != MTS_EPARTIAL) refused++;
        stored += rep.stored;
        rejected += rep.rows_rejected;
        if (rep.rows_read != rep.rows_ok + rep.dup + rep.rows_rejected + rep.rows_blank && rc == 0) {
            fprintf(stderr, "fuzz funding: row counts do not add up (iteration %ld)\n", it);
            return 1;
        }
        if (it % 50 == 0 && check_events(s, sym, ex, &events)) {
            fprintf(stderr, "fuzz funding: events not strictly ascending or out of range (iteration %ld)\n", it);
            return 1;
        }
    }
    mts_store_close(s);
    fclose(devnull);
    free(m);
    free(src);
    unlink(csv);
    unlink(db);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    rmdir(dir);
    printf("fuzz funding_csv: %ld mutated files, %ld rows stored (%ld rejected, %ld files refused), %ld events, "
           "no crash\n", iters, stored, rejected, refused, events);
    return 0;
}
