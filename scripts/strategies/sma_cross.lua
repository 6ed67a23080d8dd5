-- sma_cross.lua — simple moving-average crossover, long only.
--
-- SMA = sum of the last n closes / n. With d = fast - slow and nzd the last
-- non-zero d, an up-cross on bar i is nzd[i-1] < 0 and fast[i] > slow[i]; a
-- down-cross is nzd[i-1] > 0 and fast[i] < slow[i]. Long only, never
-- pyramids: flat and up-cross -> buy `units` (or the risk script's size when
-- units is not given); long and down-cross -> sell all. Decided on bar i's
-- close, filled at bar i+1's open, before the strategy sees bar i+1.
--
-- Bars before the slow SMA exists have no d (NaN) and nzd stays undefined
-- (NaN), so no cross can be seen until d has been non-zero once. A bar where d
-- is exactly 0 keeps the previous nzd: touching without crossing is not a
-- cross, and a cross that passes through 0 over two bars is seen once.
--
-- The strategy emits LONG on an up-cross and CLOSE on a down-cross; risk.lua
-- turns LONG into a buy only when flat and CLOSE into selling the position,
-- which gives "flat -> buy, long -> sell all" without the strategy tracking
-- its position.
--
-- Parameters: fast (10), slow (30), units (0 = sized by risk.lua).

local M = {}

M.parameter_types = { fast = "integer", slow = "integer" }

function M.get_parameters()
    return { fast = 10, slow = 30, units = 0 }
end

-- The SMAs are streaming C rolling means (mts.rolling_mean), pushed one close
-- per bar: identical to mts.sma over the whole series, but with no per-series
-- arrays, and the same code works on a live feed. nzd is one number updated
-- bar by bar (on_bar sees every bar of its asset, in order).
function M.init(ctx)
    local p = ctx.params
    if p.fast < 1 or p.slow < 1 then error("fast and slow must be >= 1") end
    if p.fast >= p.slow then
        error(("fast (%d) must be shorter than slow (%d)"):format(p.fast, p.slow))
    end
    if p.units < 0 then error("units must be >= 0 (0 = sized by the risk rules)") end
    ctx.fast = mts.rolling_mean(p.fast)
    ctx.slow = mts.rolling_mean(p.slow)
    ctx.nzd = mts.nan          -- last non-zero fast - slow up to the previous bar
    ctx.units = p.units > 0 and p.units or nil
end

function M.on_bar(ctx, asset, i)
    local c = ctx.close
    local f, s = ctx.fast:push(c), ctx.slow:push(c)
    local prev = ctx.nzd
    local d = f - s
    if d == d and d ~= 0 then ctx.nzd = d end
    if prev < 0 and f > s then
        return { asset = asset, signal_type = "LONG", confidence = 1, units = ctx.units }
    elseif prev > 0 and f < s then
        return { asset = asset, signal_type = "CLOSE", confidence = 1 }
    end
    return nil
end

return M
