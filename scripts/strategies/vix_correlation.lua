-- vix_correlation.lua — trade an asset on its correlation with VIX changes.
--
-- Series (computed once in init, all causal):
--   r[i]      = close[i] / close[i-1] - 1                 (daily return)
--   vix[i]    = last VIX close at or before the bar's time (as-of alignment;
--               weekends repeat Friday's close, so the change there is 0)
--   dvix[i]   = vix[i] - vix[i-1]
--   corr_w[i] = Pearson correlation of r and dvix over the last w bars, for
--               every w in correlation_windows (7, 14, 21, 30) and lookback_days.
-- The VIX close of a date is stamped at that date's UTC midnight and known by
-- 21:00 UTC, before the crypto bar that opened at that midnight closes, so
-- deciding at the bar's close uses no future data.
--
-- Signals, on the lookback_days window (30):
--   corr < strong_negative (-0.6)  -> regime +1: LONG
--   corr > strong_positive (+0.6)  -> regime -1: SHORT
--   otherwise                      -> regime 0
-- A signal is emitted when the regime changes: LONG/SHORT on entering a
-- regime (a direct +1 -> -1 change flips the position), CLOSE on returning
-- to 0 when exit_on_neutral is true. No signal while corr or VIX is NaN.
--
-- Size and confidence (LONG/SHORT):
--   confidence    = min(1, |corr|)
--   position_size = position_size * min(1, |corr|) * clamp(vix / vix_reference, 0.5, 1.5)
-- i.e. stronger correlation and higher VIX -> larger, between 0.3x and 1.5x
-- of position_size at the thresholds; risk.lua then caps it
-- (risk_management.max_position_size, MAX_POSITION_SIZE, MAX_PORTFOLIO_RISK).
-- CLOSE carries confidence = 1 - |corr|.
--
-- This strategy uses the reference interface analyze(market_data) ->
-- analysis, generate_signals(analysis) -> signals.

local M = {}

M.parameter_types = { lookback_days = "integer" }

function M.get_parameters()
    return {
        correlation_thresholds = { strong_negative = -0.6, strong_positive = 0.6 },
        lookback_days = 30,
        correlation_windows = { 7, 14, 21, 30 },
        position_size = 0.02,
        vix_reference = 20,
        exit_on_neutral = true,
    }
end

function M.init(ctx)
    local p = ctx.params
    local th = p.correlation_thresholds
    if not (th.strong_negative < 0 and th.strong_positive > 0) then
        error("correlation_thresholds: strong_negative must be < 0 and strong_positive > 0")
    end
    if p.lookback_days < 2 then error("lookback_days must be >= 2") end
    if p.vix_reference <= 0 then error("vix_reference must be > 0") end
    local vix = ctx.macro("VIX")
    if not vix then error("needs the macro series VIX, which the run does not have") end

    local ret = mts.pct_change(ctx.series.close)
    local vix_al = mts.align_asof(vix, ctx.series.ts)
    local dvix = mts.diff(vix_al)
    local corr, windows = {}, {}
    for _, w in ipairs(p.correlation_windows) do
        if w ~= math.floor(w) or w < 2 then error("correlation_windows must hold integers >= 2") end
        windows[#windows + 1] = w
    end
    local seen = {}
    for _, w in ipairs(windows) do seen[w] = true end
    if not seen[p.lookback_days] then windows[#windows + 1] = p.lookback_days end
    for _, w in ipairs(windows) do corr[w] = mts.rolling_corr(ret, dvix, w) end

    ctx.vix, ctx.corr, ctx.windows = vix_al, corr, windows
    ctx.state.regime = 0
    ctx.state.analysis = { correlations_by_window = {} }
end

-- market_data is the (strategy, asset) context: i, time, close, asset, params,
-- state plus what init stored. The analysis table is reused bar after bar.
function M.analyze(md)
    local i = md.i
    local a = md.state.analysis
    local byw = a.correlations_by_window
    for _, w in ipairs(md.windows) do byw[w] = md.corr[w][i] end
    a.current_correlation = md.corr[md.params.lookback_days][i]
    a.vix = md.vix[i]
    a.price = md.close
    a.asset = md.asset
    a.params = md.params
    a.state = md.state
    return a
end

function M.generate_signals(a)
    local c, vix = a.current_correlation, a.vix
    if c ~= c or vix ~= vix then return nil end
    local p, state = a.params, a.state
    local th = p.correlation_thresholds
    local regime = 0
    if c < th.strong_negative then regime = 1
    elseif c > th.strong_positive then regime = -1 end
    local prev = state.regime
    state.regime = regime
    if regime == prev then return nil end
    local strength = math.min(1, math.abs(c))
    if regime == 0 then
        if p.exit_on_neutral then
            return { asset = a.asset, signal_type = "CLOSE", confidence = 1 - strength, price = a.price }
        end
        return nil
    end
    local size = p.position_size * strength * mts.clamp(vix / p.vix_reference, 0.5, 1.5)
    return {
        asset = a.asset,
        signal_type = regime == 1 and "LONG" or "SHORT",
        confidence = strength,
        position_size = size,
        price = a.price,
    }
end

return M
