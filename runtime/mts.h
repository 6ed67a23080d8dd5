/* mts.h — version, error codes and the allocation hook shared by every module.
 *
 * Errors: every fallible function returns 0 (MTS_OK) or a negative MTS_E* code
 * from the one table below; mts_strerror() decodes it. Stateful handles (store,
 * engine) additionally keep the last error message for the user.
 *
 * Allocation goes through mts_malloc/mts_calloc/mts_realloc/mts_free so tests can
 * make the Nth allocation fail (mts_alloc_fail_after). mts_free(NULL) is a no-op. */
#ifndef MTS_H
#define MTS_H

#include <stddef.h>
#include <stdint.h>

#define MTS_VERSION "0.1.0"

/* X(name, code, message) */
#define MTS_ERRNO_MAP(X)                                         \
    X(OK,         0,  "success")                                \
    X(ENOMEM,    -1,  "out of memory")                          \
    X(EINVAL,    -2,  "invalid argument")                       \
    X(EIO,       -3,  "i/o error")                              \
    X(EPARSE,    -4,  "parse error")                            \
    X(EDB,       -5,  "database error")                         \
    X(ENOTFOUND, -6,  "not found")                              \
    X(ELUA,      -7,  "script error")                           \
    X(EVALID,    -8,  "validation error")                       \
    X(ERANGE,    -9,  "value out of range")                     \
    X(ECONFIG,   -10, "configuration error")                    \
    X(EPARTIAL,  -11, "completed with rejected rows")           \
    X(EAPI,      -12, "remote API error")                       \
    X(ERATELIMIT,-13, "rate limited")                           \
    X(EBACKTEST, -14, "backtest error")                         \
    X(ECACHE,    -15, "cache error")                            \
    X(EAUTH,     -16, "authentication failed")                  \
    X(EBUSY,     -17, "busy, try again")                        \
    X(ECANCELED, -18, "cancelled")                              \
    X(EDBLOCKED, -19, "database is locked (another process is writing to it)")

typedef enum {
#define MTS_ERR_ENUM(name, code, msg) MTS_##name = code,
    MTS_ERRNO_MAP(MTS_ERR_ENUM)
#undef MTS_ERR_ENUM
} mts_err_t;

const char *mts_strerror(int err);
/* Writes the message (printf format) into err (errlen bytes; err may be NULL
 * or errlen 0: nothing written) and returns rc: `return mts_errf(err, errlen,
 * MTS_EINVAL, "...", ...)` for the library calls that report through an
 * err/errlen pair. */
int mts_errf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void *mts_malloc(size_t n);
void *mts_calloc(size_t count, size_t size);
void *mts_realloc(void *p, size_t n);
void  mts_free(void *p);
char *mts_strdup(const char *s);
/* Advise transparent huge pages for a large buffer (no-op when small or not Linux). */
void  mts_advise_huge(void *p, size_t bytes);
/* Test hook: the (n+1)th allocation from now fails; n < 0 disables. */
void  mts_alloc_fail_after(long n);

#endif
