/* alloc.c — mts_strerror, mts_errf and the allocation hook (see mts.h). */
#include "mts.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mts_strerror(int err) {
    switch (err) {
#define MTS_ERR_CASE(name, code, msg) case code: return msg;
        MTS_ERRNO_MAP(MTS_ERR_CASE)
#undef MTS_ERR_CASE
    }
    return "unknown error";
}

/* Atomic: worker threads (mts serve) allocate concurrently. Disabled (< 0),
 * the hook costs one relaxed load, as a plain read did. */
static _Atomic long fail_after = -1;

void mts_alloc_fail_after(long n) { atomic_store(&fail_after, n); }

static int should_fail(void) {
    long v = atomic_load_explicit(&fail_after, memory_order_relaxed);
    while (v >= 0) {   /* claim one step of the countdown */
        if (atomic_compare_exchange_weak_explicit(&fail_after, &v, v == 0 ? -1 : v - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return v == 0;
    }
    return 0;
}

void *mts_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *mts_calloc(size_t c, size_t s) { return should_fail() ? NULL : calloc(c ? c : 1, s ? s : 1); }
void *mts_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void  mts_free(void *p) { free(p); }

char *mts_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = mts_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int mts_errf(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
