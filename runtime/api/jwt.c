/* jwt.c — HS256 JSON Web Tokens and base64url (see jwt.h). */
#include "api/jwt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int mts_b64url_encode(const void *in, size_t n, char *out, size_t cap) {
    const uint8_t *p = in;
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (!out || need + 1 > cap) return -1;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = 0;
    return (int)o;
}

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int mts_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen) {
    if (outlen) *outlen = 0;
    if (!in && n) return MTS_EINVAL;
    if (n % 4 == 1) return MTS_EPARSE;            /* 6 bits cannot make a byte */
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap) return MTS_ERANGE;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]);
        int c = b64val((unsigned char)in[i + 2]), d = b64val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return MTS_EPARSE;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = n - i;
    if (rest >= 2) {
        int a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]);
        int c = rest == 3 ? b64val((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0) return MTS_EPARSE;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        /* canonical form: the bits past the last whole byte are zero */
        if (rest == 2 && (v & 0xffff)) return MTS_EPARSE;
        if (rest == 3 && (v & 0xff)) return MTS_EPARSE;
        out[o++] = (uint8_t)(v >> 16);
        if (rest == 3) out[o++] = (uint8_t)(v >> 8);
    }
    if (outlen) *outlen = o;
    return 0;
}

static int hmac256(const uint8_t *key, size_t keylen, const char *msg, size_t n, uint8_t mac[32]) {
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, n, mac, &maclen) ||
        maclen != 32)
        return MTS_EINVAL;
    return 0;
}

int mts_jwt_sign_hs256(const uint8_t *key, size_t keylen, const char *payload_json, char *out,
                       size_t cap) {
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    if (!key || !payload_json || !out) return MTS_EINVAL;
    int h = mts_b64url_encode(header, sizeof header - 1, out, cap);
    if (h < 0 || (size_t)h + 2 > cap) return MTS_ERANGE;
    out[h] = '.';
    int p = mts_b64url_encode(payload_json, strlen(payload_json), out + h + 1, cap - (size_t)h - 1);
    if (p < 0) return MTS_ERANGE;
    size_t signed_len = (size_t)h + 1 + (size_t)p;
    uint8_t mac[32];
    if (hmac256(key, keylen, out, signed_len, mac) != 0) return MTS_EINVAL;
    if (signed_len + 2 > cap) return MTS_ERANGE;
    out[signed_len] = '.';
    if (mts_b64url_encode(mac, sizeof mac, out + signed_len + 1, cap - signed_len - 1) < 0)
        return MTS_ERANGE;
    return 0;
}

static int deny(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int deny(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return MTS_EAUTH;
}

/* A decoded segment parsed as a JSON object; NULL on failure (err set). */
static cJSON *segment_json(const char *seg, size_t n, const char *what, char *err, size_t errlen) {
    uint8_t buf[MTS_JWT_MAX_TOKEN];
    size_t len = 0;
    if (mts_b64url_decode(seg, n, buf, sizeof buf - 1, &len) != 0) {
        deny(err, errlen, "the %s is not valid base64url", what);
        return NULL;
    }
    buf[len] = 0;
    if (memchr(buf, 0, len)) {
        deny(err, errlen, "the %s holds a NUL byte", what);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        deny(err, errlen, "the %s is not a JSON object", what);
        return NULL;
    }
    return j;
}

/* A NumericDate claim: absent (0, *has 0), a finite number, or an error. */
static int num_claim(const cJSON *payload, const char *name, int64_t *out, int *has, char *err,
                     size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
    *out = 0;
    *has = 0;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 9e15)
        return deny(err, errlen, "claim \"%s\" must be a number of seconds since 1970", name);
    *out = (int64_t)floor(v->valuedouble);
    *has = 1;
    return 0;
}

int mts_jwt_verify_hs256(const char *token, size_t len, const uint8_t *key, size_t keylen,
                         int64_t now, int leeway, mts_jwt_claims_t *claims, char *err,
                         size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (claims) memset(claims, 0, sizeof *claims);
    if (!token || !key) return MTS_EINVAL;
    if (len == 0) return deny(err, errlen, "the token is empty");
    if (len > MTS_JWT_MAX_TOKEN) return deny(err, errlen, "the token is longer than %d bytes", MTS_JWT_MAX_TOKEN);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return deny(err, errlen, "a JWT has three dot-separated segments (header.payload.signature)");
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - token);
    if (!hl || !pl || !sl) return deny(err, errlen, "a segment of the token is empty");

    char why[160] = "";
    cJSON *hdr = segment_json(token, hl, "header", why, sizeof why);
    if (!hdr) return deny(err, errlen, "%s", why);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(hdr, "typ");
    int bad_alg = !cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0;
    char alg_name[32];
    snprintf(alg_name, sizeof alg_name, "%s", cJSON_IsString(alg) ? alg->valuestring : "(missing)");
    int bad_typ = typ && !(cJSON_IsString(typ) && strcasecmp(typ->valuestring, "JWT") == 0);
    int has_crit = cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL;
    cJSON_Delete(hdr);
    if (bad_alg) return deny(err, errlen, "alg \"%s\" is not accepted: only HS256", alg_name);
    if (bad_typ) return deny(err, errlen, "typ must be \"JWT\"");
    if (has_crit) return deny(err, errlen, "critical header extensions (crit) are not supported");

    uint8_t sig[64];
    size_t siglen = 0;
    if (mts_b64url_decode(d2 + 1, sl, sig, sizeof sig, &siglen) != 0 || siglen != 32)
        return deny(err, errlen, "the signature is not 32 bytes of base64url");
    uint8_t mac[32];
    if (hmac256(key, keylen, token, (size_t)(d2 - token), mac) != 0) return MTS_EINVAL;
    if (CRYPTO_memcmp(mac, sig, 32) != 0)
        return deny(err, errlen, "bad signature (token not signed with this server's secret, or altered)");

    cJSON *pay = segment_json(d1 + 1, pl, "payload", why, sizeof why);
    if (!pay) return deny(err, errlen, "%s", why);
    int64_t exp, nbf, iat;
    int has_exp, has_nbf, has_iat, rc = 0;
    if ((rc = num_claim(pay, "exp", &exp, &has_exp, err, errlen)) ||
        (rc = num_claim(pay, "nbf", &nbf, &has_nbf, err, errlen)) ||
        (rc = num_claim(pay, "iat", &iat, &has_iat, err, errlen)))
        goto done;
    if (!has_exp) { rc = deny(err, errlen, "the token has no \"exp\" claim (expiry is required)"); goto done; }
    if (now > exp + leeway) {
        rc = deny(err, errlen, "the token expired %lld s ago; mint a new one (mts token)",
                  (long long)(now - exp));
        goto done;
    }
    if (has_nbf && nbf > now + leeway) {
        rc = deny(err, errlen, "the token is not valid before %lld (nbf), %lld s from now",
                  (long long)nbf, (long long)(nbf - now));
        goto done;
    }
    if (has_iat && iat > now + leeway) {
        rc = deny(err, errlen, "the token was issued in the future (iat %lld)", (long long)iat);
        goto done;
    }
    if (claims) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(pay, "sub");
        const cJSON *scope = cJSON_GetObjectItemCaseSensitive(pay, "scope");
        if (cJSON_IsString(sub)) snprintf(claims->sub, sizeof claims->sub, "%s", sub->valuestring);
        if (cJSON_IsString(scope))
            snprintf(claims->scope, sizeof claims->scope, "%s", scope->valuestring);
        claims->exp = exp;
        claims->nbf = has_nbf ? nbf : 0;
        claims->iat = has_iat ? iat : 0;
    }
done:
    cJSON_Delete(pay);
    return rc;
}
