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
 *  sortino       mean(r - rf/N) / DD * sqrt(N), DD = sqrt(sum_k min(r_k - rf/N, 0)^2 / (n - 1))
 *                over the same n period returns as sharpe (n - 1, as sharpe's sample std);
 *                NaN if < 2 returns or DD == 0 (no period below rf/N).
 *  avg_trade     mean net pnl of the closed trades (currency); NaN with no trades.
 *  expectancy    avg_trade / |avg_loss|, avg_loss = mean pnl of the closed trades with
 *                pnl < 0: the average trade in units of the average losing trade (an
 *                "R multiple"; 0.5 = a trade earns half an average loss). Not currency:
 *                win_rate*avg_win + (1-win_rate)*avg_loss in currency is avg_trade itself.
 *                NaN with no losing trade.
 *  longest_losing_streak  the most consecutive closed trades with pnl < 0 (strictly:
 *                a break-even trade ends a streak), in exit-time order (ties keep the
 *                order given); 0 with no losing trade.
 *  exposure_time fraction of the equity curve's points at which a position was open
 *                (after that step's fills): point t counts when a closed trade has
 *                entry_ts <= t < exit_ts, or a still-open record (END_OF_DATA) has
 *                entry_ts <= t. Overlapping trades count a point once. NaN with no points.
 *                mts_metrics_compute_at sees only closed trades; pass the open records
 *                through mts_metrics_trade_stats.
 *  alpha, beta   OLS of the strategy's excess period returns y = r - rf/N on the
 *                benchmark's x = b - rf/N over the same period grid:
 *                beta = sum (x-mx)(y-my) / sum (x-mx)^2, alpha = (my - beta*mx) * N
 *                (annualised). NaN if < 2 periods or the benchmark's returns are
 *                constant (zero variance). mts_metrics_compute_at sets both NaN;
 *                mts_metrics_relative computes them.
 *  benchmark     equal-weight buy-and-hold of the run's assets (mts_benchmark_buy_hold).
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
    double  sortino_ratio, exposure_time, avg_trade, expectancy;
    int64_t longest_losing_streak;
    double  alpha, beta;   /* against a benchmark; NaN from mts_metrics_compute_at */
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

/* The trade metrics of closed trades (pnl, entry_ts, exit_ts read) and the
 * records of positions still open at the end (open, may be NULL with
 * n_open 0; only entry_ts read) over the curve's points: sets m's avg_trade,
 * expectancy, longest_losing_streak and exposure_time as defined above, and
 * nothing else. curve: ascending ts. 0, MTS_EINVAL, MTS_ENOMEM. */
int mts_metrics_trade_stats(const mts_trade_t *closed, int64_t n_closed, const mts_trade_t *open,
                            int64_t n_open, const mts_series_t *curve, mts_metrics_t *m);

/* Equal-weight buy-and-hold benchmark over the points of grid (ascending ts,
 * e.g. the strategy's equity curve). Asset a (of n_assets >= 1) gets capital /
 * n_assets, bought without fees at its first usable close at or after
 * grid->ts[0] (usable: finite and > 0; bars' ts is the bar's open time);
 * before that bar its share stays cash. The value at point t is the sum over
 * the assets of units_a * the last usable close with bar ts <= t (cash for an
 * asset not bought yet, or with no usable close at all). out (caller-owned,
 * arrays (re)allocated with mts_realloc, like mts_metrics_periods) gets grid's
 * ts and these values. bars[a] NULL or empty: that asset stays cash.
 * 0, MTS_EINVAL (n_assets < 1, capital not finite > 0, grid not ascending), MTS_ENOMEM. */
int mts_benchmark_buy_hold(const mts_bars_t *const *bars, int n_assets, const mts_series_t *grid,
                           double capital, mts_series_t *out);

/* alpha and beta (defined above) of equity against bench over the periods of
 * period_s (mts_metrics_periods; both start from capital: the first return
 * of each is against it). The two must span the same periods (bench built on
 * equity's points does), else MTS_EINVAL. *alpha, *beta NaN when undefined. */
int mts_metrics_relative(const mts_series_t *equity, const mts_series_t *bench, int64_t period_s,
                         double capital, double rf_annual, double *alpha, double *beta);

/* All of it in one call, for a backtest: builds the benchmark on equity's
 * points into bench (caller-owned, as mts_benchmark_buy_hold), its metrics
 * (mts_metrics_compute_at, no trades) into bench_m, and sets m->alpha/beta
 * (mts_metrics_relative). m: the strategy's metrics, already computed. */
int mts_metrics_benchmark(const mts_bars_t *const *bars, int n_assets, const mts_series_t *equity,
                          int64_t period_s, double capital, double rf_annual, mts_series_t *bench,
                          mts_metrics_t *bench_m, mts_metrics_t *m);

#endif
