/* metrics.h — performance metrics over an equity curve and closed trades.
 *
 * Definitions (also in README, "Metrics"), for a run on bars of
 * interval P seconds (market/interval.h; 1d = 86400 unless said otherwise):
 *  period series equity at the last point of each period of the interval's grid
 *                (1d: each UTC day; 1h: each UTC hour; 1w: Monday-to-Monday);
 *                periods without a point between the first and last carry the
 *                previous value. For 1d this is the daily series.
 *  returns       r_k = E_k / E_{k-1} - 1; the first against initial_capital.
 *  N             periods per year = 365 * 86400 / P (crypto trades every day:
 *                1d 365, 4h 2190, 1h 8760, 1m 525600, 1w 365/7).
 *  total_return  E_end / E_start - 1, E_start = initial_capital, E_end = last point.
 *  annualized    (E_end/E_start)^(1/years) - 1, years = (last ts - first ts) / (365*86400);
 *                NaN when years <= 0.
 *  sharpe        mean(r - rf/N) / sample_std(r) * sqrt(N); NaN if < 2 returns or std == 0.
 *  volatility    sample_std(r) * sqrt(N).
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
    int64_t n_periods;     /* length of the period series (1d: days) */
    int64_t period_s;      /* P: the interval the returns were taken over */
} mts_metrics_t;

/* Period series as defined above for interval `period_s` (an interval's length,
 * market/interval.h; else MTS_EINVAL), written into out (ts = the period's open
 * on the grid). out is caller-owned; its arrays are (re)allocated with mts_realloc.
 * mts_metrics_daily is mts_metrics_periods(equity, 86400, out). */
int mts_metrics_periods(const mts_series_t *equity, int64_t period_s, mts_series_t *out);
int mts_metrics_daily(const mts_series_t *equity, mts_series_t *out);
/* The metrics of a run on bars of interval period_s seconds (an interval's
 * length, else MTS_EINVAL); mts_metrics_compute is the 1d case (86400). */
int mts_metrics_compute_at(const mts_series_t *equity, int64_t period_s, double initial_capital,
                           double rf_annual, const mts_trade_t *trades, int64_t n_trades,
                           mts_metrics_t *out);
int mts_metrics_compute(const mts_series_t *equity, double initial_capital, double rf_annual,
                        const mts_trade_t *trades, int64_t n_trades, mts_metrics_t *out);

#endif
