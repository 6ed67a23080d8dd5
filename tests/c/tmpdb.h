/* tmpdb.h — a fresh SQLite store in a directory of its own for one cmocka
 * test, and its removal with everything in it (the -wal/-shm files, files the
 * test wrote). Header-only: each test binary is a single .c file. */
#ifndef MTS_TEST_TMPDB_H
#define MTS_TEST_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"

/* dir becomes /tmp/mts_test_<tag>_XXXXXX (made), path dir/t.db (opened into
 * *s, migrated). 0, or -1 when either fails. */
static inline int tmpdb_open(const char *tag, char *dir, size_t dirlen, char *path, size_t pathlen,
                             mts_store_t **s) {
    snprintf(dir, dirlen, "/tmp/mts_test_%s_XXXXXX", tag);
    if (!mkdtemp(dir)) return -1;
    snprintf(path, pathlen, "%s/t.db", dir);
    /* the bar cache (store.h) of this test's database lives with it, not in
     * the machine's /dev/shm */
    char cache[256];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("MTS_CACHE_DIR", cache, 1);
    return mts_store_open(path, s) ? -1 : 0;
}

/* Closes s (NULL is fine) and removes dir. 0 or -1. */
static inline int tmpdb_close(const char *dir, mts_store_t *s) {
    mts_store_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
