/* bench_ta.c — cost of one push of each streaming indicator (the per-bar
 * work of a strategy in a live session or a bar-by-bar backtest), on 2^20
 * synthetic bars (a random walk with volume), best of 5 runs, one core.
 * Prints: bench ta_push_<name> N ns/push */
#include "indicators/ta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N (1 << 20)
#define RUNS 5

static double h[N], l[N], c[N], v[N];
static volatile double sink;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

enum { SMA, RSI, STD, EMA, ATR, MACD, BB, VWAP, VWAPW, MAX, NKIND };
static const char *names[NKIND] = {"rolling_mean20", "rsi14", "rolling_std20", "ema20", "atr14",
                                   "macd12_26_9", "bbands20", "vwap_cum", "vwap20", "rolling_max20"};

static double run(int kind) {
    void *o = NULL;
    switch (kind) {
    case SMA: o = mts_rolling_new(20); break;
    case RSI: o = mts_rsi_new(14); break;
    case STD: o = mts_rollstd_new(20); break;
    case EMA: o = mts_ema_new(20); break;
    case ATR: o = mts_atr_new(14); break;
    case MACD: o = mts_macd_new(12, 26, 9); break;
    case BB: o = mts_bbands_new(20, 2.0); break;
    case VWAP: o = mts_vwap_new(0); break;
    case VWAPW: o = mts_vwap_new(20); break;
    case MAX: o = mts_rollext_new(20, 1); break;
    }
    if (!o) { fprintf(stderr, "bench_ta: cannot create %s\n", names[kind]); exit(1); }
    double acc = 0, t0 = now_s();
    for (int i = 0; i < N; i++) {
        switch (kind) {
        case SMA: acc += mts_rolling_mean_push(o, c[i]); break;
        case RSI: acc += mts_rsi_push(o, c[i]); break;
        case STD: acc += mts_rollstd_push(o, c[i]); break;
        case EMA: acc += mts_ema_push(o, c[i]); break;
        case ATR: acc += mts_atr_push(o, h[i], l[i], c[i]); break;
        case MACD: acc += mts_macd_push(o, c[i]) + mts_macd_signal(o) + mts_macd_hist(o); break;
        case BB: acc += mts_bbands_push(o, c[i]) + mts_bbands_upper(o) + mts_bbands_lower(o); break;
        case VWAP: case VWAPW: acc += mts_vwap_push(o, h[i], l[i], c[i], v[i]); break;
        case MAX: acc += mts_rollext_push(o, c[i]); break;
        }
    }
    double dt = now_s() - t0;
    sink = acc;
    switch (kind) {
    case SMA: mts_rolling_free(o); break;
    case RSI: mts_rsi_free(o); break;
    case STD: mts_rollstd_free(o); break;
    case EMA: mts_ema_free(o); break;
    case ATR: mts_atr_free(o); break;
    case MACD: mts_macd_free(o); break;
    case BB: mts_bbands_free(o); break;
    case VWAP: case VWAPW: mts_vwap_free(o); break;
    case MAX: mts_rollext_free(o); break;
    }
    return dt;
}

int main(void) {
    uint64_t r = 88172645463325252ull;
    double p = 30000;
    for (int i = 0; i < N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        double u = (double)(r >> 11) / 9007199254740992.0;
        p *= 1 + (u - 0.5) * 0.02;
        c[i] = p;
        h[i] = p * (1 + u * 0.01);
        l[i] = p * (1 - (1 - u) * 0.01);
        v[i] = 1 + u * 100;
    }
    for (int k = 0; k < NKIND; k++) {
        double best = INFINITY;
        for (int j = 0; j < RUNS; j++) {
            double t = run(k);
            if (t < best) best = t;
        }
        printf("bench ta_push_%s %.1f ns/push\n", names[k], best / N * 1e9);
    }
    return 0;
}
