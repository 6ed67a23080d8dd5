/* progress.c — the terminal progress bar (see progress.h). */
#include "util/progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_S 0.1
#define BAR_CELLS 24

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mts_progress_enabled(void) {
    const char *off = getenv("MTS_NO_PROGRESS");
    if (off && *off) return 0;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) return 0;
    return isatty(STDERR_FILENO);
}

/* "1.5k", "12.0", "3.2M" */
static void human(char *buf, size_t n, double v) {
    if (v >= 1e6) snprintf(buf, n, "%.1fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, n, "%.1fk", v / 1e3);
    else snprintf(buf, n, "%.1f", v);
}

/* h:mm:ss or m:ss */
static void clock_text(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 359999) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void mts_progress_format(char *buf, size_t n, const char *label, int64_t done, int64_t total,
                         double elapsed, const char *unit, int width) {
    char rate_s[32] = "?", tail[32];
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    if (elapsed > 0 && done > 0) human(rate_s, sizeof rate_s, rate);
    unit = unit ? unit : "";
    if (total > 0) {
        if (done > total) done = total;
        char bar[128];
        if (width > (int)sizeof bar - 1) width = (int)sizeof bar - 1;
        int full = (int)((double)done / (double)total * width);
        for (int i = 0; i < width; i++) bar[i] = i < full ? '#' : '.';
        bar[width < 0 ? 0 : width] = 0;
        if (done >= total) {
            clock_text(tail, sizeof tail, elapsed);
            snprintf(buf, n, "%s [%s] %3d%%  %lld/%lld %s  %s %s/s  done in %s", label, bar, 100,
                     (long long)done, (long long)total, unit, rate_s, unit, tail);
        } else {
            if (rate > 0) clock_text(tail, sizeof tail, (double)(total - done) / rate);
            else snprintf(tail, sizeof tail, "?");
            snprintf(buf, n, "%s [%s] %3d%%  %lld/%lld %s  %s %s/s  ETA %s", label, bar,
                     (int)((double)done * 100.0 / (double)total), (long long)done, (long long)total,
                     unit, rate_s, unit, tail);
        }
    } else {
        clock_text(tail, sizeof tail, elapsed);
        snprintf(buf, n, "%s %lld %s  %s %s/s  %s elapsed", label, (long long)done, unit, rate_s, unit, tail);
    }
}

static void draw(mts_progress_t *p, double now) {
    char line[256];
    mts_progress_format(line, sizeof line, p->label, p->done, p->total, now - p->t0, p->unit, BAR_CELLS);
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->last_draw = now;
    p->drawn = 1;
}

void mts_progress_begin_on(mts_progress_t *p, FILE *out, int enabled, double (*clock)(void),
                           const char *label, int64_t total, const char *unit) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->out = out;
    p->enabled = enabled && out;
    p->clock = clock ? clock : mono;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    if (!p->enabled) return;
    p->t0 = p->clock();
    draw(p, p->t0);
}

void mts_progress_begin(mts_progress_t *p, const char *label, int64_t total, const char *unit) {
    mts_progress_begin_on(p, stderr, mts_progress_enabled(), NULL, label, total, unit);
}

void mts_progress_update(mts_progress_t *p, int64_t done) {
    if (!p || !p->enabled) return;
    p->done = done;
    double now = p->clock();
    if (now - p->last_draw >= REDRAW_S) draw(p, now);
}

void mts_progress_end(mts_progress_t *p) {
    if (!p || !p->enabled) return;
    draw(p, p->clock());
    fputc('\n', p->out);
    fflush(p->out);
    p->enabled = 0;
}
