/* metrics.h — performance metrics over an equity curve and closed trades.
 *
 * Definitions (also in README):
 *  daily series  equity at the last bar of each UTC day; calendar days without
 *                bars between the first and last day carry the previous value.
 *  daily returns r_d = E_d / E_{d-1} - 1; the first against initial_capital.
 *  total_return  E_end / E_start - 1, E_start = initial_capital, E_end = last point.
 *  annualized    (E_end/E_start)^(1/years) - 1, years = (last ts - first ts) / (365*86400);
 *                NaN when years <= 0.
 *  sharpe        mean(r - rf/365) / sample_std(r) * sqrt(365); NaN if < 2 returns or std == 0.
 *  volatility    sample_std(r) * sqrt(365).
 *  max_drawdown  max over every point of (peak - E) / peak, peak = running max
 *                including initial_capital; a positive fraction.
 *  calmar        annualized / max_drawdown; NaN if max_drawdown == 0.
 *  win_rate      closed trades with pnl > 0 / closed trades; NaN with no trades.
 *  profit_factor sum(pnl > 0) / -sum(pnl < 0); +inf with wins and no losses, NaN with neither.
 */
#ifndef MTS_METRICS_H
#define MTS_METRICS_H

#include "portfolio/portfolio.h"

typedef struct mts_metrics {
    double  initial_capital, final_value;
    double  total_return, annualized_return, sharpe_ratio, max_drawdown;
    double  volatility, calmar_ratio, win_rate, profit_factor;
    int64_t trade_count;
    int64_t n_days;        /* length of the daily series */
} mts_metrics_t;

/* Daily series as defined above, written into out (ts = UTC midnight of each day).
 * out is caller-owned; its arrays are (re)allocated with mts_realloc. */
int mts_metrics_daily(const mts_series_t *equity, mts_series_t *out);
int mts_metrics_compute(const mts_series_t *equity, double initial_capital, double rf_annual,
                        const mts_trade_t *trades, int64_t n_trades, mts_metrics_t *out);

#endif
