/* secret.h — where `mts serve` and `mts token` get the HS256 signing secret:
 * --jwt-secret-file FILE (its bytes, one trailing newline removed), else the
 * environment variable MTS_JWT_SECRET. At least MTS_JWT_MIN_SECRET (32) bytes;
 * anything shorter is refused with a message that says how to make one.
 * Needs api/jwt.h. */
#ifndef MTS_API_SECRET_H
#define MTS_API_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define MTS_SECRET_MAX 4096

/* 0, or MTS_ECONFIG / MTS_EIO with a one-line message in err. */
int mts_api_load_secret(const char *file, uint8_t *buf, size_t cap, size_t *len, char *err, size_t errlen);

#endif
