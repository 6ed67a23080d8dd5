/* fuzz_ws_parse.c — `make fuzz`: the websocket message parsers against
 * mutated copies of the recorded samples (tests/fixtures/exchanges): byte
 * flips, JSON punctuation, truncation and inserted quotes. Built with ASan and
 * UBSan; any memory error or undefined behaviour aborts the run. A parser may
 * reject a message; it may not crash. Usage: fuzz_ws_parse ITERATIONS FILE... */
#include "feeds/event.h"
#include "feeds/parse_binance.h"
#include "feeds/parse_bybit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: fuzz_ws_parse ITERATIONS FILE...\n");
        return 2;
    }
    static mts_feed_event_t ev[64];
    static mts_level_t lv[8192];
    mts_parse_buf_t buf;
    memset(&buf, 0, sizeof buf);
    buf.ev = ev;
    buf.ev_cap = 64;
    buf.lv = lv;
    buf.lv_cap = 8192;
    long iters = atol(argv[1]), total = 0, accepted = 0;
    for (int a = 2; a < argc; a++) {
        size_t n;
        char *src = slurp(argv[a], &n);
        if (!src) continue;
        char *m = malloc(n + 64);
        for (long it = 0; it < iters; it++, total++) {
            size_t len = n;
            memcpy(m, src, n);
            for (int k = 0, muts = 1 + (int)(next() % 4); k < muts && len > 0; k++) {
                size_t pos = next() % len;
                switch (next() % 4) {
                case 0: m[pos] = (char)(next() & 0xff); break;
                case 1: m[pos] = "{}[]\",:0123456789.eE-"[next() % 22]; break;
                case 2: len = pos; break;
                case 3:
                    if (len + 1 < n + 64) {
                        memmove(m + pos + 1, m + pos, len - pos);
                        m[pos] = '"';
                        len++;
                    }
                    break;
                }
            }
            accepted += mts_parse_binance(m, len, &buf) == 0;
            accepted += mts_parse_bybit(m, len, &buf) == 0;
        }
        free(m);
        free(src);
    }
    printf("fuzz ws_parse: %ld mutated messages, %ld parses accepted, no crash\n", total, accepted);
    return 0;
}
