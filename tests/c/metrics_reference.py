#!/usr/bin/env python3
"""metrics_reference.py — the independent calculation behind the expected
numbers of test_metrics.c for the metrics of issue 12 (sortino, trade stats,
exposure, the buy-and-hold benchmark, alpha/beta). Written from the
definitions in metrics.h / README, not from metrics.c: plain Python floats,
the statistics module for means, sample std and the OLS fit.
Run: python3 tests/c/metrics_reference.py   (its output is pasted into the test)."""
import math
import statistics as st

D = 86400
N = 365.0


def returns(curve, capital):
    out, prev = [], capital
    for v in curve:
        out.append(v / prev - 1.0)
        prev = v
    return out


def sortino(r, rf_annual):
    rp = rf_annual / N
    down = sum(min(x - rp, 0.0) ** 2 for x in r) / (len(r) - 1)
    return st.mean([x - rp for x in r]) / math.sqrt(down) * math.sqrt(N)


def show(name, v):
    print(f"{name} = {v!r}")


# 1. sortino on test_metrics.c's daily curve (110, 99, 99 carried, 118.8, 100.98; capital 100)
r = returns([110, 99, 99, 118.8, 100.98], 100)
show("sortino_rf0", sortino(r, 0.0))
show("sortino_rf0365", sortino(r, 0.0365))

# 2. trade stats: pnl in exit-time order
pnl = [10, -5, -3, 0, -2, -4, -1, 20]
avg = sum(pnl) / len(pnl)
losses = [p for p in pnl if p < 0]
show("avg_trade", avg)
show("expectancy", avg / abs(sum(losses) / len(losses)))
best = cur = 0
for p in pnl:
    cur = cur + 1 if p < 0 else 0
    best = max(best, cur)
show("longest_losing_streak", best)

# exposure: 10 daily points day 0..9; a point t counts when entry <= t < exit
# (closed) or entry <= t (open at the end)
points = [k * D for k in range(10)]
closed = [(1 * D, 3 * D), (2 * D, 4 * D), (5 * D + D // 2, 6 * D), (6 * D, 6 * D)]
opened = [8 * D]
inside = [t for t in points if any(a <= t < b for a, b in closed) or any(a <= t for a in opened)]
show("exposure_with_open", len(inside) / len(points))
inside = [t for t in points if any(a <= t < b for a, b in closed)]
show("exposure_closed_only", len(inside) / len(points))

# 3. benchmark: capital 1000, two assets, grid = days 0..4 (bar times)
# A: closes day0..4 = 100, 110, nan, 121, 99
# B: a bar on day -1 (before the grid: ignored) at 10, then day2..4 = 50, 40, 60
A = {0: 100.0, 1: 110.0, 2: float("nan"), 3: 121.0, 4: 99.0}
B = {-1: 10.0, 2: 50.0, 3: 40.0, 4: 60.0}
capital, share = 1000.0, 500.0
bench = []
for day in range(5):
    total = 0.0
    for closes in (A, B):
        ok = [(d, c) for d, c in sorted(closes.items()) if 0 <= d <= day and math.isfinite(c) and c > 0]
        total += share / ok[0][1] * ok[-1][1] if ok else share
    bench.append(total)
show("bench", bench)
rb = returns(bench, capital)
show("bench_total_return", bench[-1] / capital - 1)
show("bench_volatility", st.stdev(rb) * math.sqrt(N))
show("bench_sharpe", st.mean(rb) / st.stdev(rb) * math.sqrt(N))
peak, mdd = capital, 0.0
for v in bench:
    peak = max(peak, v)
    mdd = max(mdd, (peak - v) / peak)
show("bench_max_drawdown", mdd)

# 4. alpha / beta against that benchmark: a strategy curve on the same days
strat = [1010.0, 1030.0, 1020.0, 1000.0, 1080.0]
rs = returns(strat, capital)
for rf in (0.0, 0.0365):
    rp = rf / N
    fit = st.linear_regression([x - rp for x in rb], [y - rp for y in rs])
    show(f"beta_rf{rf}", fit.slope)
    show(f"alpha_rf{rf}", fit.intercept * N)
