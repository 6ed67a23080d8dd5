-- vix_correlation.lua — trade an asset on its correlation with VIX changes.
--
-- Values, computed bar by bar as the bars come (streaming indicators, all
-- causal; each is bit for bit the whole-series function's value at bar i, so
-- a backtest and a paper session over the same bars give the same signals):
--   r[i]      = close[i] / close[i-1] - 1                 (bar return)
--   vix[i]    = last VIX close at or before the bar's time (as-of alignment;
--               weekends repeat Friday's close, so the change there is 0; in a
--               live session the VIX series is the one stored when the session
--               started: bars after its newest value use that value, dvix 0)
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

    local windows, seen = {}, {}
    for _, w in ipairs(p.correlation_windows) do
        if w ~= math.floor(w) or w < 2 then error("correlation_windows must hold integers >= 2") end
        windows[#windows + 1] = w
        seen[w] = true
    end
    if not seen[p.lookback_days] then windows[#windows + 1] = p.lookback_days end
    local corr = {}
    for k, w in ipairs(windows) do corr[k] = mts.rolling_corr_stream(w) end

    ctx.ret = mts.pct_change_stream()
    ctx.vix_asof = mts.asof_stream(vix)
    ctx.dvix = mts.diff_stream()
    ctx.corr, ctx.windows, ctx.nwin = corr, windows, #windows
    ctx.last_i = -1            -- the last bar pushed into the indicators
    ctx.state.regime = 0
    ctx.state.analysis = { correlations_by_window = {}, params = p, state = ctx.state,
                           asset = ctx.asset }
end

-- market_data is the (strategy, asset) context: i, time, close plus what
-- init stored. analyze pushes bar i into the indicators; it must see every
-- bar once, in order (the runner and the live session do). A second call for
-- the same bar returns the same analysis. The analysis table is reused bar
-- after bar.
function M.analyze(md)
    local i, a = md.i, md.state.analysis
    if i == md.last_i then return a end
    if i ~= md.last_i + 1 then
        error(("analyze must see every bar in order: bar %d after bar %d"):format(i, md.last_i))
    end
    md.last_i = i
    local r = md.ret:push(md.close)
    local vix = md.vix_asof:at(md.time)
    local dv = md.dvix:push(vix)
    local byw, windows, corr = a.correlations_by_window, md.windows, md.corr
    for k = 1, md.nwin do byw[windows[k]] = corr[k]:push(r, dv) end
    a.current_correlation = byw[md.params.lookback_days]
    a.vix = vix
    a.price = md.close
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
