/* breaker.c — per-host circuit breaker state machine (see breaker.h). */
#include "feeds/breaker.h"

void mts_breaker_init(mts_breaker_t *b, int threshold, double reset_timeout) {
    b->threshold = threshold < 1 ? 1 : threshold;
    b->reset_timeout = reset_timeout < 0 ? 0 : reset_timeout;
    b->state = MTS_BREAKER_CLOSED;
    b->failures = 0;
    b->opened_at = 0;
    b->opens = b->closes = 0;
}

int mts_breaker_allow(mts_breaker_t *b, double now) {
    switch (b->state) {
    case MTS_BREAKER_CLOSED: return 1;
    case MTS_BREAKER_HALF_OPEN: return 1;   /* the caller is synchronous: one probe at a time */
    case MTS_BREAKER_OPEN:
        if (now - b->opened_at >= b->reset_timeout) {
            b->state = MTS_BREAKER_HALF_OPEN;
            return 1;
        }
        return 0;
    }
    return 0;
}

void mts_breaker_success(mts_breaker_t *b, double now) {
    (void)now;
    if (b->state != MTS_BREAKER_CLOSED) b->closes++;
    b->state = MTS_BREAKER_CLOSED;
    b->failures = 0;
}

static void trip(mts_breaker_t *b, double now) {
    b->state = MTS_BREAKER_OPEN;
    b->opened_at = now;
    b->opens++;
    b->failures = 0;
}

void mts_breaker_failure(mts_breaker_t *b, double now) {
    switch (b->state) {
    case MTS_BREAKER_CLOSED:
        if (++b->failures >= b->threshold) trip(b, now);
        break;
    case MTS_BREAKER_HALF_OPEN: trip(b, now); break;
    case MTS_BREAKER_OPEN: b->opened_at = now; break;
    }
}

double mts_breaker_retry_in(const mts_breaker_t *b, double now) {
    if (b->state != MTS_BREAKER_OPEN) return 0;
    double left = b->opened_at + b->reset_timeout - now;
    return left > 0 ? left : 0;
}

const char *mts_breaker_state_name(mts_breaker_state_t s) {
    switch (s) {
    case MTS_BREAKER_CLOSED: return "closed";
    case MTS_BREAKER_OPEN: return "open";
    case MTS_BREAKER_HALF_OPEN: return "half_open";
    }
    return "?";
}
