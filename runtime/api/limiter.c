/* limiter.c — per-client token buckets in a fixed table (see limiter.h). */
#include "api/limiter.h"
#include "feeds/ratelimit.h"
#include "mts.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct slot {
    char key[136];            /* "<cls>|<client>", "" = free */
    double used;              /* last take, for recycling */
    mts_ratelimit_t rl;
} slot_t;

struct mts_limiter {
    slot_t *s;
    size_t n;                 /* power of two */
};

mts_limiter_t *mts_limiter_new(size_t slots) {
    size_t n = 16;
    while (n < slots) n <<= 1;
    mts_limiter_t *l = mts_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->s = mts_calloc(n, sizeof *l->s);
    if (!l->s) { mts_free(l); return NULL; }
    l->n = n;
    return l;
}

void mts_limiter_free(mts_limiter_t *l) {
    if (!l) return;
    mts_free(l->s);
    mts_free(l);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Linear probing over at most PROBE slots; when none matches or is free, the
 * least recently used of them is recycled. */
#define PROBE 16

double mts_limiter_take(mts_limiter_t *l, const char *client, int cls, double per_minute, double now) {
    if (!l || per_minute <= 0) return 0;
    char key[sizeof l->s[0].key];
    snprintf(key, sizeof key, "%d|%s", cls, client ? client : "");
    size_t h = (size_t)fnv1a(key), mask = l->n - 1;
    slot_t *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &l->s[(h + i) & mask];
        if (s->key[0] && strcmp(s->key, key) == 0) {
            s->used = now;
            if (s->rl.rate != per_minute / 60.0)   /* limit changed: keep the tokens, new rate */
                s->rl.rate = per_minute / 60.0, s->rl.burst = per_minute;
            return mts_ratelimit_acquire(&s->rl, now);
        }
        if (!s->key[0]) { if (!victim || victim->key[0]) victim = s; continue; }
        if (!victim || (victim->key[0] && s->used < victim->used)) victim = s;
    }
    memcpy(victim->key, key, sizeof key);
    victim->used = now;
    mts_ratelimit_init(&victim->rl, per_minute, per_minute, now);
    return mts_ratelimit_acquire(&victim->rl, now);
}
