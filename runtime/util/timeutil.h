/* timeutil.h — parsing and formatting of times; everything is int64 unix
 * seconds in UTC.
 *
 * mts_time_parse accepts: unix seconds or milliseconds (an integer > 1e11 is
 * taken as ms; fractional ms are an error), "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.fff]]"
 * or with 'T', optionally followed by "Z" or "+HH:MM"/"-HH:MM"/"+HHMM", and
 * "MM/DD/YYYY". Sub-second parts are truncated toward the second. Calendar
 * validity is checked (2023-02-29 fails). Returns 0 or MTS_EPARSE. */
#ifndef MTS_TIMEUTIL_H
#define MTS_TIMEUTIL_H
#include <stddef.h>
#include <stdint.h>

int     mts_time_parse(const char *s, size_t len, int64_t *out);
int64_t mts_days_from_civil(int64_t y, unsigned m, unsigned d);
/* "2024-01-02T03:04:05Z" (21 bytes incl NUL) */
void    mts_time_format_iso(int64_t t, char buf[32]);
/* "2024-01-02" */
void    mts_time_format_date(int64_t t, char buf[16]);
/* floor to UTC midnight */
int64_t mts_time_day(int64_t t);

#endif
