/* test_jwt.c — api/jwt: base64url (RFC 4648 section 10 vectors, strictness) and
 * HS256 tokens: the RFC 7515 appendix A.1 example verified as published, a token
 * computed independently with Python's hmac/hashlib reproduced byte for byte,
 * and every way a token must be refused (tampering, alg none/other, expiry,
 * nbf/iat in the future with the leeway, malformed segments, wrong secret).
 * Test tokens are built here with OpenSSL's HMAC directly, not with the signer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "api/jwt.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef";   /* 32 bytes */
#define KEY ((const uint8_t *)SECRET), (sizeof SECRET - 1)
#define NOW 1700000000LL

/* ---- base64url ---- */

static void b64url_rfc4648_vectors(void **st) {
    (void)st;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[32];
        assert_int_equal(mts_b64url_encode(plain[i], strlen(plain[i]), out, sizeof out), (int)strlen(enc[i]));
        assert_string_equal(out, enc[i]);
        uint8_t dec[32];
        size_t n = 99;
        assert_int_equal(mts_b64url_decode(enc[i], strlen(enc[i]), dec, sizeof dec, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
    }
    /* the two characters that differ from base64: 0xfb 0xff -> "-_8" ("+/8" in base64) */
    const uint8_t raw[] = {0xfb, 0xff};
    char out[8];
    assert_int_equal(mts_b64url_encode(raw, 2, out, sizeof out), 3);
    assert_string_equal(out, "-_8");
    uint8_t dec[4];
    size_t n;
    assert_int_equal(mts_b64url_decode("-_8", 3, dec, sizeof dec, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(dec, raw, 2);
}

static void b64url_rejects_what_is_not_canonical(void **st) {
    (void)st;
    uint8_t dec[16];
    size_t n;
    assert_int_equal(mts_b64url_decode("Zg==", 4, dec, sizeof dec, &n), MTS_EPARSE);  /* padding */
    assert_int_equal(mts_b64url_decode("Zm+v", 4, dec, sizeof dec, &n), MTS_EPARSE);  /* base64 '+' */
    assert_int_equal(mts_b64url_decode("Zm/v", 4, dec, sizeof dec, &n), MTS_EPARSE);  /* base64 '/' */
    assert_int_equal(mts_b64url_decode("Zm9 v", 5, dec, sizeof dec, &n), MTS_EPARSE); /* space */
    assert_int_equal(mts_b64url_decode("Zm9vY", 5, dec, sizeof dec, &n), MTS_EPARSE); /* 4k+1 chars */
    assert_int_equal(mts_b64url_decode("Zh", 2, dec, sizeof dec, &n), MTS_EPARSE);    /* trailing bits */
    assert_int_equal(mts_b64url_decode("Zm9", 3, dec, sizeof dec, &n), MTS_EPARSE);   /* trailing bits */
    assert_int_equal(mts_b64url_decode("Zm9vYmFy", 8, dec, 5, &n), MTS_ERANGE);       /* 6 > 5 */
    char small[4];
    assert_int_equal(mts_b64url_encode("foo", 3, small, sizeof small), -1);          /* 4 + NUL */
}

/* ---- tokens built by the test ---- */

static void b64(const char *s, char *out, size_t cap) {
    assert_true(mts_b64url_encode(s, strlen(s), out, cap) >= 0);
}

/* header.payload signed with key (OpenSSL HMAC here, independent of the signer). */
static void make_token(const char *header, const char *payload, const char *key, char *out, size_t cap) {
    char h[512], p[1024];
    b64(header, h, sizeof h);
    b64(payload, p, sizeof p);
    snprintf(out, cap, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out, strlen(out), mac, &maclen);
    assert_int_equal(maclen, 32);
    size_t l = strlen(out);
    out[l] = '.';
    assert_true(mts_b64url_encode(mac, 32, out + l + 1, cap - l - 1) > 0);
}

static int verify(const char *tok, int64_t now, mts_jwt_claims_t *c, char *err) {
    return mts_jwt_verify_hs256(tok, strlen(tok), KEY, now, 30, c, err, 256);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static void rfc7515_a1_vector(void **st) {
    (void)st;
    /* RFC 7515 appendix A.1: the JWK "k" value is the key, base64url-encoded. */
    const char *k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    uint8_t key[64];
    size_t keylen;
    assert_int_equal(mts_b64url_decode(k, strlen(k), key, sizeof key, &keylen), 0);
    assert_int_equal(keylen, 64);
    const char *tok =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    mts_jwt_claims_t c;
    char err[256];
    /* exp 1300819380 (2011-03-22T18:43:00Z): valid just before, refused after the leeway */
    assert_int_equal(mts_jwt_verify_hs256(tok, strlen(tok), key, keylen, 1300819380 - 60, 30, &c, err, sizeof err), 0);
    assert_int_equal(c.exp, 1300819380);
    assert_string_equal(c.sub, "");
    assert_int_equal(mts_jwt_verify_hs256(tok, strlen(tok), key, keylen, 1300819380 + 30, 30, &c, err, sizeof err), 0);
    assert_int_equal(mts_jwt_verify_hs256(tok, strlen(tok), key, keylen, 1300819380 + 31, 30, &c, err, sizeof err), MTS_EAUTH);
    assert_non_null(strstr(err, "expired"));
    /* one flipped bit in the last signature character is a different MAC */
    char bad[512];
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 1] = 'j';
    assert_int_equal(mts_jwt_verify_hs256(bad, strlen(bad), key, keylen, 1300819380 - 60, 30, &c, err, sizeof err), MTS_EAUTH);
    assert_non_null(strstr(err, "signature"));
}

static void signer_matches_python_hmac(void **st) {
    (void)st;
    /* python3: base64url(hmac.new(k, h + "." + p, hashlib.sha256).digest()) */
    const char *expect =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        ".eyJzdWIiOiJhbGljZSIsInNjb3BlIjoicmVhZCIsImV4cCI6MjAwMDAwMDAwMH0"
        ".hoB6gqr5WPfwb4WqPP1OuVd3y7UJhWt64yNL64Q4T6Q";
    char tok[512];
    assert_int_equal(mts_jwt_sign_hs256(KEY, "{\"sub\":\"alice\",\"scope\":\"read\",\"exp\":2000000000}", tok, sizeof tok), 0);
    assert_string_equal(tok, expect);
    mts_jwt_claims_t c;
    char err[256];
    assert_int_equal(verify(tok, NOW, &c, err), 0);
    assert_string_equal(c.sub, "alice");
    assert_string_equal(c.scope, "read");
    assert_int_equal(c.exp, 2000000000);
    char small[40];
    assert_int_equal(mts_jwt_sign_hs256(KEY, "{\"exp\":1}", small, sizeof small), MTS_ERANGE);
}

static void tampered_payload_and_wrong_secret(void **st) {
    (void)st;
    char tok[1024], err[256];
    make_token(HS256, "{\"sub\":\"bob\",\"scope\":\"read\",\"exp\":1700000100}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), 0);
    /* the payload swapped for one that asks for write, signature kept */
    char other[1024], forged[2048];
    make_token(HS256, "{\"sub\":\"bob\",\"scope\":\"write\",\"exp\":1700000100}", SECRET, other, sizeof other);
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    const char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(o2 - o1), o1, d2);
    assert_int_equal(verify(forged, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "signature"));
    /* signed with another secret of the same length */
    make_token(HS256, "{\"sub\":\"bob\",\"exp\":1700000100}", "0123456789abcdef0123456789abcdeX", tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "signature"));
}

static void alg_none_and_others_refused(void **st) {
    (void)st;
    char h[128], p[256], tok[1024], err[256];
    /* alg none, empty signature: refused as a malformed token or for the alg */
    b64("{\"alg\":\"none\",\"typ\":\"JWT\"}", h, sizeof h);
    b64("{\"sub\":\"eve\",\"scope\":\"write\",\"exp\":1700000100}", p, sizeof p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    /* alg none with a (valid HS256!) signature attached: refused for the alg */
    make_token("{\"alg\":\"none\"}", "{\"exp\":1700000100}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "alg \"none\""));
    const char *algs[] = {"{\"alg\":\"HS512\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"RS256\"}",
                          "{\"typ\":\"JWT\"}", "{\"alg\":256}", "{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
                          "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "[\"HS256\"]"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        make_token(algs[i], "{\"exp\":1700000100}", SECRET, tok, sizeof tok);
        assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    }
    /* the plain header without typ is fine */
    make_token("{\"alg\":\"HS256\"}", "{\"exp\":1700000100}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), 0);
}

static void time_claims_with_leeway(void **st) {
    (void)st;
    char tok[1024], err[256];
    mts_jwt_claims_t c;
    /* no exp: refused */
    make_token(HS256, "{\"sub\":\"a\"}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "exp"));
    /* exp not a number */
    make_token(HS256, "{\"exp\":\"1700000100\"}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    /* expired 31 s ago: refused; 30 s ago: inside the leeway */
    make_token(HS256, "{\"exp\":1699999969}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "expired 31 s ago"));
    make_token(HS256, "{\"exp\":1699999970}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), 0);
    /* nbf 31 s in the future: refused; 30 s: accepted */
    make_token(HS256, "{\"exp\":1700003600,\"nbf\":1700000031}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "nbf"));
    make_token(HS256, "{\"exp\":1700003600,\"nbf\":1700000030,\"iat\":1700000030}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, &c, err), 0);
    assert_int_equal(c.nbf, 1700000030);
    assert_int_equal(c.iat, 1700000030);
    /* issued 31 s in the future */
    make_token(HS256, "{\"exp\":1700003600,\"iat\":1700000031}", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "iat"));
}

static void malformed_tokens(void **st) {
    (void)st;
    char good[1024], err[256], tok[2048];
    make_token(HS256, "{\"exp\":1700000100}", SECRET, good, sizeof good);
    const char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
    const char *bad[] = {"", "abc", "a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "....",
                         "e30.e30.e30", "!!!!.e30.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify(bad[i], NOW, NULL, err), MTS_EAUTH);
    /* four segments: the good token with ".x" appended */
    snprintf(tok, sizeof tok, "%s.x", good);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    /* base64 padding on the signature */
    snprintf(tok, sizeof tok, "%s=", good);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    /* a truncated signature */
    snprintf(tok, sizeof tok, "%.*s", (int)strlen(good) - 2, good);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    /* payload that is not JSON, correctly signed */
    make_token(HS256, "not json", SECRET, tok, sizeof tok);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    assert_non_null(strstr(err, "payload"));
    /* header segment that is not base64url */
    snprintf(tok, sizeof tok, "eyJ*bGciOiJIUzI1NiJ9%.*s", (int)(strlen(good) - (size_t)(d1 - good)), d1);
    assert_int_equal(verify(tok, NOW, NULL, err), MTS_EAUTH);
    (void)d2;
    /* over the length limit */
    static char huge[MTS_JWT_MAX_TOKEN + 16];
    memset(huge, 'A', sizeof huge - 1);
    assert_int_equal(mts_jwt_verify_hs256(huge, sizeof huge - 1, KEY, NOW, 30, NULL, err, sizeof err), MTS_EAUTH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url_rfc4648_vectors),
        cmocka_unit_test(b64url_rejects_what_is_not_canonical),
        cmocka_unit_test(rfc7515_a1_vector),
        cmocka_unit_test(signer_matches_python_hmac),
        cmocka_unit_test(tampered_payload_and_wrong_secret),
        cmocka_unit_test(alg_none_and_others_refused),
        cmocka_unit_test(time_claims_with_leeway),
        cmocka_unit_test(malformed_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
