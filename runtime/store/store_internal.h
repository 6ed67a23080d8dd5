/* store_internal.h — what store.c shares with the other files of runtime/store
 * (csv.c): the raw connection and the sticky error message. Not for use
 * outside runtime/store. Needs sqlite3 and store.h. */
#ifndef MTS_STORE_INTERNAL_H
#define MTS_STORE_INTERNAL_H

#include <sqlite3.h>
#include "store/store.h"

/* The connection (borrowed; owned by the store). */
sqlite3 *mts_store_db(mts_store_t *s);
/* Sets the message mts_store_errmsg() returns. */
void mts_store_set_error(mts_store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets it from the connection: "<what>: <sqlite3_errmsg>"; returns MTS_EDB. */
int mts_store_db_error(mts_store_t *s, const char *what);

/* The 'YYYY-MM-DD' bounds of macro_indicators.date for the time range
 * [from, to]: lo is the first midnight >= from, hi the last midnight <= to
 * (years clamped to 0000..9999; an empty range gives lo > hi). */
void mts_store_macro_range(int64_t from, int64_t to, char lo[16], char hi[16]);

#endif
