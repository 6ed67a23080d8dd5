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

-- Precomputes fast, slow and nzd over the whole series (causal: index i uses
-- closes 0..i only).
function M.init(ctx)
    local p = ctx.params
    if p.fast < 1 or p.slow < 1 then error("fast and slow must be >= 1") end
    if p.fast >= p.slow then
        error(("fast (%d) must be shorter than slow (%d)"):format(p.fast, p.slow))
    end
    if p.units < 0 then error("units must be >= 0 (0 = sized by the risk rules)") end
    local close = ctx.series.close
    local fast = mts.sma(close, p.fast)
    local slow = mts.sma(close, p.slow)
    local n = ctx.n
    local nzd = mts.series(n)          -- NaN-filled
    local last = mts.nan
    for i = 0, n - 1 do
        local d = fast[i] - slow[i]
        if d == d and d ~= 0 then last = d end
        nzd[i] = last
    end
    ctx.fast, ctx.slow, ctx.nzd = fast, slow, nzd
    ctx.units = p.units > 0 and p.units or nil
end

function M.on_bar(ctx, asset, i)
    if i < 1 then return nil end
    local prev = ctx.nzd[i - 1]
    local f, s = ctx.fast[i], ctx.slow[i]
    if prev < 0 and f > s then
        return { asset = asset, signal_type = "LONG", confidence = 1, units = ctx.units }
    elseif prev > 0 and f < s then
        return { asset = asset, signal_type = "CLOSE", confidence = 1 }
    end
    return nil
end

return M
