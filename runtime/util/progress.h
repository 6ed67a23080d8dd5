/* progress.h — a one-line progress bar on stderr for long work (imports,
 * backtests over many runs, optimization grids):
 *
 *   label [##########..........]  52%  1040/2000 runs  38.2 runs/s  ETA 0:25
 *
 * Shown only when stderr is a terminal (isatty(2)), TERM is not "dumb" and
 * MTS_NO_PROGRESS is unset; otherwise every call is a no-op, so piped or
 * logged output gets nothing extra. Redraws are throttled (at most one per
 * 100 ms, plus the first and the final one); the line is redrawn in place with
 * "\r" and cleared to the end with "\033[K"; mts_progress_end leaves the final
 * line (with the elapsed time) and a newline. total <= 0 means unknown: the
 * bar is replaced by the count, the rate and the elapsed time.
 *
 * Needs only libc (a monotonic clock). Not thread safe: one thread updates. */
#ifndef MTS_PROGRESS_H
#define MTS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct mts_progress {
    FILE   *out;
    int     enabled, drawn;
    char    label[48], unit[16];
    int64_t total, done;
    double  t0, last_draw;          /* seconds, from clock() */
    double (*clock)(void);          /* NULL = CLOCK_MONOTONIC */
} mts_progress_t;

/* Starts on stderr when it is a terminal (see above); draws the 0% line. */
void mts_progress_begin(mts_progress_t *p, const char *label, int64_t total, const char *unit);
/* The same on any stream, enabled or not, with an optional clock (tests). */
void mts_progress_begin_on(mts_progress_t *p, FILE *out, int enabled, double (*clock)(void),
                           const char *label, int64_t total, const char *unit);
/* Sets the amount done so far; redraws when 100 ms have passed since the last draw. */
void mts_progress_update(mts_progress_t *p, int64_t done);
/* Final draw and newline. Accepts NULL and a disabled bar. */
void mts_progress_end(mts_progress_t *p);
/* 1 when the bar would be shown on stderr. */
int  mts_progress_enabled(void);

/* The line itself (no "\r"), for tests: elapsed seconds, bar width in cells.
 * Rate = done / elapsed; ETA = (total - done) / rate, "?" before any rate. */
void mts_progress_format(char *buf, size_t n, const char *label, int64_t done, int64_t total,
                         double elapsed, const char *unit, int width);

#endif
