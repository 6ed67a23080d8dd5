/* array.c — large flat arrays for series (indicator outputs made from Lua,
 * equity curves, bars): mts_malloc'd, not zero-filled, and advised to use
 * transparent huge pages, so first touch costs one fault per 2 MB instead of
 * one per 4 KB (about a third of a 10M-bar run's time went to page faults). */
#include "mts.h"
#include "lua/mts_ffi.h"

#include <stdint.h>
#include <sys/mman.h>

void mts_advise_huge(void *ptr, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!ptr || bytes < 4 * huge) return;
    /* only the 2 MB-aligned interior can be advised */
    uintptr_t lo = ((uintptr_t)ptr + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)ptr + bytes) & ~(huge - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)ptr; (void)bytes;
#endif
}

void *mts_array_alloc(int64_t bytes) {
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX / 2) return NULL;
    void *p = mts_malloc((size_t)bytes);
    mts_advise_huge(p, (size_t)bytes);
    return p;
}

void mts_array_free(void *p) { mts_free(p); }
