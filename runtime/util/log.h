/* log.h — structured logs: one JSON object per line on stderr
 * {"ts":"...","level":"info","event":"import.done", ...fields}.
 * MTS_LOG_LEVEL (debug|info|warn|error, default warn) filters; MTS_LOG_FORMAT=text
 * prints "level event k=v" for people. fields_fmt is a printf format that
 * produces the JSON members after event, e.g. "\"rows\":%d,\"file\":\"%s\"" —
 * use mts_json_escape for strings that may hold quotes. */
#ifndef MTS_LOG_H
#define MTS_LOG_H
#include <stdio.h>
#include <stddef.h>

typedef enum { MTS_LOG_DEBUG = 0, MTS_LOG_INFO, MTS_LOG_WARN, MTS_LOG_ERROR } mts_log_level_t;

void mts_log_set_level(mts_log_level_t lvl);
int  mts_log_enabled(mts_log_level_t lvl);
void mts_log(mts_log_level_t lvl, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes s JSON-escaped (without quotes) to f. */
void mts_json_escape(FILE *f, const char *s);
/* Writes a double as JSON: null for NaN/inf, else the shortest of %.15g..%.17g that
 * reads back as the same double (machines get every bit). */
void mts_json_number(FILE *f, double v);
/* Writes the items of joined (separated by sep, e.g. "a,b" or "line\nline")
 * as a JSON array of strings: ["a","b"]; NULL or "" gives []. */
void mts_json_string_array(FILE *f, const char *joined, char sep);

#endif
