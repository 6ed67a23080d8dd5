/* fuzz_jwt.c — `make fuzz`: mts_jwt_verify_hs256 (api/jwt.h) against
 * mutations of valid tokens: byte flips, base64url edge characters (+ / = and
 * whitespace), segment swaps and drops, truncation and extension, and
 * re-signed tokens whose header or payload is hostile JSON (huge claims,
 * deep nesting, wrong types, duplicate keys, exp at the limits of a double).
 * Built with ASan and UBSan: a crash or undefined behaviour aborts the run.
 * Oracles: the untouched token verifies; a token changed in any byte and not
 * re-signed never verifies (the signature covers it and base64url is strict);
 * on failure the reason is a non-empty line; claims read back are
 * NUL-terminated within their buffers. Usage: fuzz_jwt ITERATIONS */
#include "api/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static const uint8_t KEY[] = "fuzz-secret-0123456789-abcdefghijklmnop";
#define KEYLEN (sizeof KEY - 1)
#define NOW 1700000000LL

static void die(const char *what, const char *tok, size_t len) {
    fprintf(stderr, "fuzz_jwt: %s: %.*s\n", what, (int)(len > 300 ? 300 : len), tok);
    abort();
}

static int verify(const char *tok, size_t len, mts_jwt_claims_t *c, char *why, size_t cap) {
    memset(c, 0x5a, sizeof *c);
    why[0] = 0;
    int rc = mts_jwt_verify_hs256(tok, len, KEY, KEYLEN, NOW, 30, c, why, cap);
    if (rc == 0) {
        if (!memchr(c->sub, 0, sizeof c->sub) || !memchr(c->scope, 0, sizeof c->scope))
            die("claims not NUL-terminated", tok, len);
    } else if (rc == MTS_EAUTH && !why[0]) die("refused without a reason", tok, len);
    return rc;
}

/* A hostile payload or header, signed with the right key. */
static int hostile(char *out, size_t cap, int part) {
    static char json[200000];
    size_t o = 0;
    switch (next() % 8) {
    case 0: {   /* a huge claim */
        size_t n = 1000 + next() % 60000;
        o = (size_t)snprintf(json, sizeof json, "{\"sub\":\"");
        for (size_t i = 0; i < n && o < sizeof json - 64; i++) json[o++] = "ab\\\"u0"[next() % 6];
        o += (size_t)snprintf(json + o, sizeof json - o, "\",\"scope\":\"read\",\"exp\":%lld}", NOW + 60);
        break;
    }
    case 1: {   /* deep nesting */
        size_t d = 1 + next() % 5000;
        o = (size_t)snprintf(json, sizeof json, "{\"exp\":%lld,\"x\":", NOW + 60);
        for (size_t i = 0; i < d; i++) json[o++] = next() % 2 ? '[' : '{';
        json[o] = 0;
        break;
    }
    case 2: o = (size_t)snprintf(json, sizeof json, "{\"exp\":\"%lld\",\"sub\":[1],\"scope\":{}}", NOW + 60); break;
    case 3: o = (size_t)snprintf(json, sizeof json, "{\"exp\":1e308,\"nbf\":-1e308,\"iat\":NaN}"); break;
    case 4: o = (size_t)snprintf(json, sizeof json, "{\"exp\":%lld,\"exp\":0,\"sub\":\"a\\u0000b\"}", NOW + 60); break;
    case 5: o = (size_t)snprintf(json, sizeof json, "[\"alg\",\"HS256\"]"); break;
    case 6: o = (size_t)snprintf(json, sizeof json, "{\"exp\":9.3e18,\"nbf\":-9.3e18,\"iat\":1e19}"); break;
    default: o = (size_t)snprintf(json, sizeof json, "{\"exp\":%lld,\"scope\":\"%0*d\"}", NOW + 60, 200, 7); break;
    }
    if (part == 0) return mts_jwt_sign_hs256(KEY, KEYLEN, json, out, cap);
    /* a hostile header: sign by hand (header . payload . HMAC) */
    char h[4096], p[256], input[8192];
    if (mts_b64url_encode(json, o < 2000 ? o : 2000, h, sizeof h) < 0) return -1;
    static const char pl[] = "{\"sub\":\"x\",\"scope\":\"read\",\"exp\":1800000000}";
    mts_b64url_encode(pl, sizeof pl - 1, p, sizeof p);
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)input, strlen(input), mac, &maclen);
    char sig[64];
    mts_b64url_encode(mac, maclen, sig, sizeof sig);
    snprintf(out, cap, "%s.%s", input, sig);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_jwt ITERATIONS\n");
        return 2;
    }
    long iters = atol(argv[1]), accepted = 0, refused = 0;
    static char base[MTS_JWT_MAX_TOKEN * 2], m[MTS_JWT_MAX_TOKEN * 4], big[300000];
    mts_jwt_claims_t c;
    char why[256];
    const char *payloads[] = {
        "{\"sub\":\"alice\",\"scope\":\"read\",\"exp\":1700003600,\"iat\":1700000000}",
        "{\"sub\":\"bob\",\"scope\":\"read write\",\"exp\":1700000010,\"nbf\":1699999990}",
        "{\"exp\":1700000000}",
    };
    for (long it = 0; it < iters; it++) {
        const char *pl = payloads[next() % 3];
        if (mts_jwt_sign_hs256(KEY, KEYLEN, pl, base, sizeof base) < 0) die("cannot sign", pl, strlen(pl));
        size_t n = strlen(base);
        if (verify(base, n, &c, why, sizeof why) != 0) die("a valid token was refused", base, n);
        int kind = (int)(next() % 7);
        if (kind == 6) {   /* hostile JSON, signed */
            if (hostile(big, sizeof big, (int)(next() % 2)) >= 0) {
                int rc = verify(big, strlen(big), &c, why, sizeof why);
                rc == 0 ? accepted++ : refused++;
            }
            continue;
        }
        memcpy(m, base, n + 1);
        size_t len = n;
        for (int k = 0, muts = 1 + (int)(next() % 3); k < muts && len; k++) {
            size_t pos = next() % len;
            switch (kind) {
            case 0: m[pos] ^= (char)(1u << (next() % 8)); break;                  /* bit flip */
            case 1: m[pos] = "+/=  \t.\n\0-_AZaz09"[next() % 18]; break;         /* alphabet edges */
            case 2: len = pos; break;                                             /* truncation */
            case 3: {                                                             /* segment swap / drop */
                char *d1 = memchr(m, '.', len), *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - m)) : NULL;
                if (!d1 || !d2) break;
                size_t a = (size_t)(d1 - m), b = (size_t)(d2 - d1 - 1), cc = len - (size_t)(d2 + 1 - m);
                char tmp[MTS_JWT_MAX_TOKEN * 2];
                int which = (int)(next() % 3);
                if (which == 0) n = (size_t)snprintf(tmp, sizeof tmp, "%.*s.%.*s.%.*s", (int)b, d1 + 1, (int)a, m, (int)cc, d2 + 1);
                else if (which == 1) n = (size_t)snprintf(tmp, sizeof tmp, "%.*s.%.*s", (int)a, m, (int)b, d1 + 1);
                else n = (size_t)snprintf(tmp, sizeof tmp, "%.*s.%.*s.%.*s.%.*s", (int)a, m, (int)b, d1 + 1, (int)cc, d2 + 1, (int)cc, d2 + 1);
                memcpy(m, tmp, n + 1);
                len = n;
                break;
            }
            case 4:                                                               /* extension */
                while (len < sizeof m - 8 && next() % 64) m[len++] = "A-_=."[next() % 5];
                break;
            default:                                                              /* repeat a segment's tail */
                if (len * 2 < sizeof m) { memcpy(m + len, m + pos, len - pos); len += len - pos; }
                break;
            }
        }
        int rc = verify(m, len, &c, why, sizeof why);
        if (rc == 0) {
            if (len != strlen(base) || memcmp(m, base, len) != 0) die("a changed token verified", m, len);
            accepted++;
        } else refused++;
    }
    printf("fuzz jwt: %ld tokens, %ld accepted (unchanged or validly signed), %ld refused, no crash\n",
           iters, accepted, refused);
    return 0;
}
