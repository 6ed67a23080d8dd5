/* breaker.h — a circuit breaker for one remote host. Closed: requests pass and
 * consecutive failures are counted; at `threshold` failures it opens. Open:
 * requests are refused until `reset_timeout` seconds have passed, then it is
 * half-open: one probe passes; success closes it, failure opens it again for
 * another timeout. The clock is an argument (seconds, monotonic), so tests
 * drive it with a fake clock. Needs nothing. */
#ifndef MTS_BREAKER_H
#define MTS_BREAKER_H

typedef enum { MTS_BREAKER_CLOSED = 0, MTS_BREAKER_OPEN = 1, MTS_BREAKER_HALF_OPEN = 2 } mts_breaker_state_t;

typedef struct mts_breaker {
    int threshold;          /* failures in a row that open it (>= 1) */
    double reset_timeout;   /* seconds open before a probe is allowed */
    mts_breaker_state_t state;
    int failures;           /* consecutive failures while closed */
    double opened_at;
    long opens, closes;     /* transitions, for stats and tests */
} mts_breaker_t;

/* Defaults used by the feeds: 5 failures, 60 s (overridable by config). */
#define MTS_BREAKER_DEFAULT_THRESHOLD 5
#define MTS_BREAKER_DEFAULT_TIMEOUT 60.0

void mts_breaker_init(mts_breaker_t *b, int threshold, double reset_timeout);
/* 1 if a request may go out at `now` (moves open -> half-open once the timeout
 * has passed), 0 if refused. */
int  mts_breaker_allow(mts_breaker_t *b, double now);
void mts_breaker_success(mts_breaker_t *b, double now);
void mts_breaker_failure(mts_breaker_t *b, double now);
/* Seconds until an open breaker lets a probe through (0 if not open). */
double mts_breaker_retry_in(const mts_breaker_t *b, double now);
const char *mts_breaker_state_name(mts_breaker_state_t s);

#endif
