-- mean_reversion_spec.lua — VIX spike AND drawdown AND oversold RSI -> LONG;
-- RSI back above the exit level -> CLOSE. Needs the C indicators (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local SH = require "strategy_harness"

-- The strategy with its analyze wrapped: seen[i] = analysis[field] of bar i.
local function recording(strat, seen, field)
    return {
        init = strat.init, generate_signals = strat.generate_signals,
        analyze = function(md)
            local a = strat.analyze(md)
            seen[md.i] = a[field]
            return a
        end,
    }
end

-- close:   100 110 120 110 100 95 90 100 110 120
-- changes:     +10 +10 -10 -10 -5 -5 +10 +10 +10
-- RSI(3), Wilder:
--   i=3 seed: gain (10+10+0)/3 = 20/3, loss (0+0+10)/3 = 10/3 -> RS 2 -> 66.67
--   i=4 (-10): gain 40/9, loss (20/3+10)/3 = 50/9, RS 0.8 -> 44.44
--   i=5 (-5):  gain 80/27, loss (100/9+5)/3 = 145/27, RS 0.5517 -> 35.56
--   i=6 (-5):  gain 160/81, loss (290/27+5)/3 = 425/81, RS 0.3765 -> 27.35  (< 30)
--   i=7 (+10): gain (320/81+10)/3 = 1130/243, loss 850/243, RS 1.329 -> 57.07 (> 50)
-- drawdown at 6: running high 120 -> (120-90)/120 = 0.25 (> 0.10)
-- VIX 30 on bars 6 and 7 (> 25), 20 elsewhere; pct_rank over 5 bars at 6:
--   {20,20,20,20,30} all <= 30 -> 1.0 -> size 0.05 * (0.5 + 1) = 0.075
-- confidence = 0.5 + 0.5 * (30 - 27.3504) / 30 = 0.544160
local CLOSE = { 100, 110, 120, 110, 100, 95, 90, 100, 110, 120 }

local function data(vix_spike)
    local ts, v = {}, {}
    for i = 1, #CLOSE do
        ts[i] = (i - 1) * 86400
        v[i] = (i == 7 or i == 8) and vix_spike or 20
    end
    return { close = CLOSE, ts = ts, macros = { VIX = { ts = ts, v = v } } }
end

local P = { rsi_period = 3, vix_percentile_lookback = 5 }

local function with(extra)
    local t = {}
    for k, v in pairs(P) do t[k] = v end
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
end

describe("mean_reversion", function()
    local strat = SH.load("mean_reversion")

    it("enters when all three conditions hold and exits on the RSI", function()
        local ctx = SH.ctx(strat, data(30), P)
        local seen = {}
        local sigs = SH.run(recording(strat, seen, "rsi"), ctx)
        assert.are.equal("LONG@6 CLOSE@7", SH.summary(sigs))
        assert.is_true(math.abs(seen[6] - 27.3504) < 1e-3)
        local s = sigs[1].sig
        assert.is_true(math.abs(s.position_size - 0.075) < 1e-12)
        assert.is_true(math.abs(s.confidence - 0.544160) < 1e-5)
    end)

    it("needs the VIX spike", function()
        assert.are.equal("", SH.summary(SH.run(strat, SH.ctx(strat, data(24), P))))
    end)

    it("needs the drawdown", function()
        -- 0.25 is not beyond 0.30
        local ctx = SH.ctx(strat, data(30), with { drawdown_threshold = 0.30 })
        assert.are.equal("", SH.summary(SH.run(strat, ctx)))
    end)

    it("needs the oversold RSI", function()
        -- 27.35 is not below 25
        local ctx = SH.ctx(strat, data(30), with { rsi_oversold = 25 })
        assert.are.equal("", SH.summary(SH.run(strat, ctx)))
    end)
end)
