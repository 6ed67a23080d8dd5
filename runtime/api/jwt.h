/* jwt.h — JSON Web Tokens signed with HMAC-SHA256 (RFC 7519 / RFC 7515, "HS256"
 * only) and the base64url coding they use (RFC 4648 section 5, no padding).
 * What `mts serve` checks on every request and what `mts token` mints.
 * Needs OpenSSL's libcrypto (HMAC, CRYPTO_memcmp) and cJSON.
 *
 * Verification rules: exactly three non-empty segments "header.payload.sig";
 * each strict base64url (alphabet A-Z a-z 0-9 - _, no padding, no whitespace,
 * unused trailing bits zero); the header a JSON object whose "alg" is exactly
 * "HS256" ("none", "HS512", "RS256"... are refused), "typ" absent or "JWT",
 * no "crit"; the signature 32 bytes equal (constant-time compare) to
 * HMAC-SHA256(key, "header.payload"); the payload a JSON object with a numeric
 * "exp" (required): now <= exp + leeway; "nbf" if present: nbf <= now + leeway;
 * "iat" if present: iat <= now + leeway. Claims read back: sub, scope.
 *
 * No allocation escapes: the caller gives every buffer. Errors: 0, MTS_EAUTH
 * (the token is not acceptable; err says why, for a 401 body), MTS_ERANGE (an
 * output buffer is too small) or MTS_EINVAL. Thread safe (no global state). */
#ifndef MTS_API_JWT_H
#define MTS_API_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "mts.h"

#define MTS_JWT_MIN_SECRET 32     /* bytes: the HMAC-SHA256 key must be at least this long */
#define MTS_JWT_MAX_TOKEN  4096   /* longer tokens are refused */

/* base64url of n bytes into out (NUL-terminated, no padding). Returns the
 * length written, or -1 when out (cap bytes) is too small. */
int mts_b64url_encode(const void *in, size_t n, char *out, size_t cap);
/* Strict decode of n characters; *outlen = bytes written. 0, MTS_EPARSE (bad
 * character, impossible length, non-zero trailing bits) or MTS_ERANGE. */
int mts_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

typedef struct mts_jwt_claims {
    char    sub[128];        /* "" when absent */
    char    scope[64];       /* "" when absent */
    int64_t exp, nbf, iat;   /* nbf / iat 0 when absent */
} mts_jwt_claims_t;

/* Token = b64url({"alg":"HS256","typ":"JWT"}) . b64url(payload_json) . sig.
 * payload_json is used as given (a JSON object). */
int mts_jwt_sign_hs256(const uint8_t *key, size_t keylen, const char *payload_json,
                       char *out, size_t cap);
/* Verifies token (len bytes) at unix time now with leeway seconds for exp, nbf,
 * iat. claims may be NULL. On MTS_EAUTH err holds a one-line reason. */
int mts_jwt_verify_hs256(const char *token, size_t len, const uint8_t *key, size_t keylen,
                         int64_t now, int leeway, mts_jwt_claims_t *claims,
                         char *err, size_t errlen);

#endif
