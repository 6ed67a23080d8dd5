/* secret.c — the JWT signing secret from a file or MTS_JWT_SECRET (see secret.h). */
#include "api/secret.h"
#include "api/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOWTO "make one with: head -c 48 /dev/urandom | base64 > FILE; chmod 600 FILE"

int mts_api_load_secret(const char *file, uint8_t *buf, size_t cap, size_t *len, char *err, size_t errlen) {
    *len = 0;
    if (file && *file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            snprintf(err, errlen, "cannot read --jwt-secret-file %s: %s", file, strerror(errno));
            return MTS_EIO;
        }
        size_t n = fread(buf, 1, cap, f);
        int more = fgetc(f) != EOF;
        fclose(f);
        if (more) {
            snprintf(err, errlen, "--jwt-secret-file %s is longer than %zu bytes", file, cap);
            return MTS_ECONFIG;
        }
        if (n && buf[n - 1] == '\n') n--;
        if (n && buf[n - 1] == '\r') n--;
        if (n < MTS_JWT_MIN_SECRET) {
            snprintf(err, errlen, "the JWT secret in %s is %zu bytes; at least %d are needed (" HOWTO ")",
                     file, n, MTS_JWT_MIN_SECRET);
            return MTS_ECONFIG;
        }
        *len = n;
        return 0;
    }
    const char *env = getenv("MTS_JWT_SECRET");
    if (!env || !*env) {
        snprintf(err, errlen, "no JWT secret: set MTS_JWT_SECRET or pass --jwt-secret-file FILE "
                              "(at least %d bytes; " HOWTO ")", MTS_JWT_MIN_SECRET);
        return MTS_ECONFIG;
    }
    size_t n = strlen(env);
    if (n < MTS_JWT_MIN_SECRET || n > cap) {
        snprintf(err, errlen, "MTS_JWT_SECRET is %zu bytes; at least %d are needed, at most %zu (" HOWTO ")", n,
                 MTS_JWT_MIN_SECRET, cap);
        return MTS_ECONFIG;
    }
    memcpy(buf, env, n);
    *len = n;
    return 0;
}
