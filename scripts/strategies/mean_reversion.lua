-- mean_reversion.lua — buy fear: a VIX spike together with a crypto drawdown
-- and an oversold RSI.
--
-- Series (computed once in init, all causal):
--   vix[i]  = last VIX close at or before the bar's time (as-of alignment)
--   dd[i]   = (running high of close - close[i]) / running high, a fraction
--   rsi[i]  = Wilder RSI(rsi_period) of close
--   pct[i]  = share of the last vix_percentile_lookback aligned VIX values
--             that are <= vix[i] (0..1; NaN until the window is full)
--
-- Entry (all three needed), when not already in a trade:
--   vix[i] > vix_spike_threshold (25)  and  dd[i] > drawdown_threshold (0.10)
--   and  rsi[i] < rsi_oversold (30)                               -> LONG
--   position_size = position_size * (0.5 + pct[i])   (0.5x .. 1.5x; 1x while pct is NaN)
--   confidence    = 0.5 + 0.5 * clamp((rsi_oversold - rsi) / rsi_oversold, 0, 1)
-- Exit, when in a trade:
--   rsi[i] > rsi_exit (50)                                        -> CLOSE
--   and the stop-loss / take-profit of the config's risk_management
--   (stop_loss_pct, take_profit_pct), which the engine applies to the
--   position from the fill price.
-- "In a trade" is the strategy's own state: set by its LONG, cleared by its
-- CLOSE. If a stop closes the position first, the strategy still waits for
-- the RSI exit (its CLOSE then finds no position and does nothing) before it
-- can enter again — one entry per oversold episode.
--
-- Uses the reference interface analyze(market_data) / generate_signals(analysis).

local M = {}

M.parameter_types = { rsi_period = "integer", vix_percentile_lookback = "integer" }

function M.get_parameters()
    return {
        vix_spike_threshold = 25,
        drawdown_threshold = 0.10,
        rsi_period = 14,
        rsi_oversold = 30,
        rsi_exit = 50,
        vix_percentile_lookback = 252,
        position_size = 0.05,
    }
end

function M.init(ctx)
    local p = ctx.params
    if p.rsi_period < 1 then error("rsi_period must be >= 1") end
    if p.vix_percentile_lookback < 1 then error("vix_percentile_lookback must be >= 1") end
    if not (p.rsi_oversold < p.rsi_exit) then error("rsi_oversold must be below rsi_exit") end
    local vix = ctx.macro("VIX")
    if not vix then error("needs the macro series VIX, which the run does not have") end
    local close = ctx.series.close
    local vix_al = mts.align_asof(vix, ctx.series.ts)
    ctx.vix = vix_al
    ctx.dd = mts.drawdown(close)
    ctx.rsi = mts.rsi(close, p.rsi_period)
    ctx.vix_pct = mts.pct_rank(vix_al, p.vix_percentile_lookback)
    ctx.state.in_trade = false
    ctx.state.analysis = {}
end

function M.analyze(md)
    local i, p = md.i, md.params
    local a = md.state.analysis
    a.vix = md.vix[i]
    a.vix_spike_detected = a.vix > p.vix_spike_threshold
    a.drawdown_from_high = md.dd[i]
    a.rsi = md.rsi[i]
    a.vix_percentile = md.vix_pct[i]
    a.price = md.close
    a.asset = md.asset
    a.params = p
    a.state = md.state
    return a
end

function M.generate_signals(a)
    local p, state, rsi = a.params, a.state, a.rsi
    if rsi ~= rsi then return nil end
    if not state.in_trade then
        if a.vix_spike_detected and a.drawdown_from_high > p.drawdown_threshold
            and rsi < p.rsi_oversold then
            state.in_trade = true
            local pct = a.vix_percentile
            local scale = pct == pct and (0.5 + pct) or 1
            return {
                asset = a.asset,
                signal_type = "LONG",
                confidence = 0.5 + 0.5 * mts.clamp((p.rsi_oversold - rsi) / p.rsi_oversold, 0, 1),
                position_size = p.position_size * scale,
                price = a.price,
            }
        end
    elseif rsi > p.rsi_exit then
        state.in_trade = false
        return { asset = a.asset, signal_type = "CLOSE", confidence = 1, price = a.price }
    end
    return nil
end

return M
