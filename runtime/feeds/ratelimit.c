/* ratelimit.c — token bucket (see ratelimit.h). */
#include "feeds/ratelimit.h"

void mts_ratelimit_init(mts_ratelimit_t *rl, double per_minute, double burst, double now) {
    rl->rate = per_minute > 0 ? per_minute / 60.0 : 0;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last = now;
}

double mts_ratelimit_acquire(mts_ratelimit_t *rl, double now) {
    if (rl->rate <= 0) return 0;
    if (now > rl->last) {
        rl->tokens += (now - rl->last) * rl->rate;
        if (rl->tokens > rl->burst) rl->tokens = rl->burst;
        rl->last = now;
    }
    if (rl->tokens >= 1.0) {
        rl->tokens -= 1.0;
        return 0;
    }
    double wait = (1.0 - rl->tokens) / rl->rate;
    return wait > 1e-6 ? wait : 1e-6;
}
