/* bars.c — OHLCV bars in column blocks (ohlcv_blocks; see store.h, docs/store.md).
 * PLACEHOLDER of the v7 skeleton commit: the bars helper replaces this file. */
#include "store/store_internal.h"

int mts_store_migrate_v7_bars(mts_store_t *s) { (void)s; return 0; }
