/* ta.h — technical-analysis primitives over flat double arrays (declared in
 * lua/mts_ffi.h so Lua calls them through the FFI). All are causal: out[i]
 * depends on x[0..i] only. out must have n elements and may not alias x.
 *
 *  sma          mean of the last w values; NaN for i < w-1.
 *  rolling_std  sample standard deviation (n-1) of the last w values.
 *  rolling_corr Pearson correlation of x and y over the last w pairs; NaN if
 *               either side has zero variance.
 *  rsi          Wilder's RSI: the first average gain/loss is the plain mean of
 *               the first `period` changes (out[period] is the first value),
 *               then avg = (avg*(period-1) + cur)/period. 100 when avg loss is 0.
 *  drawdown     (running_max - x) / running_max, a fraction >= 0.
 *  pct_rank     share (0..1) of the values in the window (the last w, or all
 *               so far if w <= 0) that are <= x[i].
 *  pct_change   x[i]/x[i-1] - 1 (out[0] NaN);  diff  x[i] - x[i-1].
 *  align_asof   for each dst_ts, the last src value with src_ts <= dst_ts
 *               (NaN before the first); src ascending, NaN values skipped.
 *  ema          TA-Lib: k = 2/(n+1), first value (out[n-1]) = mean of the
 *               first n inputs, then e = (x - e)*k + e; a NaN restarts it.
 *  atr          Wilder: TR = max(h-l, |h-c[i-1]|, |l-c[i-1]|); first value
 *               (out[n]) = mean of the first n TRs, then (atr*(n-1)+TR)/n.
 *  macd         line = ema(fast) - ema(slow), each SMA-seeded; signal = ema of
 *               the line (seeded by its first `signal` values); hist = line - signal.
 *  bbands       sma(w) +- k * POPULATION sd (ddof 0); w >= 2, k >= 0 finite.
 *  vwap         sum(tp*v)/sum(v), tp = (h+l+c)/3; w <= 0 cumulative (NaN bars
 *               skipped), w >= 1 over the last w bars; NaN when sum(v) = 0.
 *  rolling_min/max  over the last w values, monotonic deque.
 * Return 0, or MTS_EINVAL for NULL pointers, n < 0 or a window < 1 (bbands,
 * vwap with w >= 1 and rolling_min/max allocate a window: MTS_ENOMEM).
 *
 * Streaming forms, for bar-by-bar code (strategies in live sessions and in
 * backtests alike): mts_rolling_t (sma), mts_rollstd_t, mts_rollcorr_t,
 * mts_rsi_t, mts_drawdown_t, mts_pctrank_t (w >= 1), mts_change_t (pct_change
 * or diff), mts_asof_t (align_asof), mts_ema_t, mts_atr_t, mts_macd_t,
 * mts_bbands_t, mts_vwap_t, mts_rollext_t (rolling min or max). push(x[i]) returns bit for bit what the
 * batch function puts in out[i]; O(1) per push (pctrank O(w)), no allocation
 * after _new. Ownership: the caller frees with _free; mts_asof_new copies its
 * source series. */
#ifndef MTS_TA_H
#define MTS_TA_H
#include "mts.h"
#include "lua/mts_ffi.h"
#endif
