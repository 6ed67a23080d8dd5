/* fuzz_csv_import.c — `make fuzz`: the OHLCV and macro CSV importers against
 * mutated copies of a real file (byte flips, separators, quotes, NULs,
 * truncation) into a scratch SQLite database. Built with ASan and UBSan: rows
 * may be rejected (reported as FILE:LINE), nothing may crash.
 * Each iteration also picks the import's options (store/csv.h): the file as
 * is; its commas turned into ';', tab or '|' with --delimiter; its header cut
 * off and named by --columns (--no-header); --format binance; a synthetic
 * file of integer times in s, ms, µs or ns at a random interval (unit and
 * interval detection; long digit runs are mutated in); and --interval given,
 * absent, or not a name.
 * Usage: fuzz_csv_import ITERATIONS FILE */
#include "store/csv.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_csv_import ITERATIONS FILE\n");
        return 2;
    }
    long iters = atol(argv[1]);
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 2;
    char *src = malloc(20001);
    long n = (long)fread(src, 1, 20000, f);   /* the first ~150 rows are plenty */
    fclose(f);
    char dir[] = "/tmp/mts-fuzz-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char db[64], csv[64];
    snprintf(db, sizeof db, "%s/f.db", dir);
    snprintf(csv, sizeof csv, "%s/f.csv", dir);
    mts_store_t *s = NULL;
    if (mts_store_open(db, &s)) return 1;
    FILE *devnull = fopen("/dev/null", "w");
    const size_t mcap = 32768;
    char *m = malloc(mcap);
    char header[512];                          /* the source's first line, as --columns */
    {
        long h = 0;
        while (h < n && h < (long)sizeof header - 1 && src[h] != '\n' && src[h] != '\r') h++;
        memcpy(header, src, (size_t)h);
        header[h] = 0;
    }
    static const char *const ivs[] = {NULL, NULL, "1m", "1h", "4h", "1d", "1w", "7m"};
    static const int64_t steps[] = {60, 300, 3600, 14400, 86400, 604800, 5400, 1};
    static const int64_t mults[] = {1, 1000, 1000000, 1000000000};
    long rows = 0, rejected = 0, macro_rows = 0;
    for (long it = 0; it < iters; it++) {
        long len = n;
        mts_csv_opts_t opts = {0};
        char cols[512];
        int mode = (int)(next() % 6);
        if (mode == 4) {                       /* integer times of one unit at one spacing */
            int64_t mult = mults[next() % 4], step = steps[next() % 8];
            int64_t t0 = 1704067200 + (int64_t)(next() % 1000) * (next() % 2 ? 60 : 1);
            len = snprintf(m, mcap, "%s\n", next() % 2 ? "ts,open,high,low,close,volume" : "time,value");
            for (int i = 0; i < 120 && len < (long)mcap - 80; i++)
                len += snprintf(m + len, mcap - (size_t)len, "%lld,%d,%d,%d,%d,%d\n",
                                (long long)((t0 + i * step) * mult), 10 + i % 3, 13, 9, 11, i);
        } else {
            memcpy(m, src, (size_t)n);
            if (mode == 1) {                   /* another delimiter */
                char d = ";\t|"[next() % 3];
                for (long i = 0; i < len; i++)
                    if (m[i] == ',') m[i] = d;
                opts.delimiter = d;
            } else if (mode == 2) {            /* no header: the names come from --columns */
                long h = 0;
                while (h < len && m[h] != '\n') h++;
                if (h < len) h++;
                memmove(m, m + h, (size_t)(len - h));
                len -= h;
                opts.no_header = 1;
                snprintf(cols, sizeof cols, "%s", next() % 4 ? header : "ts,open,_,low,close,volume,-");
                opts.columns = cols;
            } else if (mode == 3) {
                opts.format = "binance";
            }
        }
        opts.interval = ivs[next() % 8];
        for (int k = 0, muts = 1 + (int)(next() % 6); k < muts && len > 0; k++) {
            long pos = (long)(next() % (uint64_t)len);
            switch (next() % 6) {
            case 0: m[pos] = (char)(next() & 0xff); break;
            case 1: m[pos] = ",\n\r\"0.-e+ /:TZ;\t"[next() % 16]; break;
            case 2: len = pos + 1; break;
            case 3: m[pos] = 0; break;
            case 4: m[pos] = '"'; break;
            case 5:                            /* a run of digits: another unit, or too many */
                for (long e = pos + 1 + (long)(next() % 24); pos < e && pos < len; pos++)
                    m[pos] = (char)('0' + next() % 10);
                break;
            }
        }
        FILE *o = fopen(csv, "wb");
        fwrite(m, 1, (size_t)len, o);
        fclose(o);
        mts_import_report_t rep = {0};
        mts_csv_info_t info;
        mts_csv_import_ohlcv_ex(s, csv, "fuzz", &opts, devnull, &rep, &info);
        rows += rep.rows_ok;
        rejected += rep.rows_rejected;
        mts_import_report_t mrep = {0};
        opts.interval = NULL;
        mts_csv_import_macro_ex(s, csv, "FUZZ", &opts, devnull, &mrep, NULL);
        macro_rows += mrep.rows_ok;
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
    printf("fuzz csv_import: %ld mutated files, %ld OHLCV rows stored (%ld rejected), %ld macro rows, "
           "no crash\n", iters, rows, rejected, macro_rows);
    return 0;
}
