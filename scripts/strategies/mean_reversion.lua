-- mean_reversion.lua — buy fear: a VIX spike together with a crypto drawdown
-- and an oversold RSI.
--
-- Values, computed bar by bar as the bars come (streaming indicators, all
-- causal; each is bit for bit the whole-series function's value at bar i, so
-- a backtest and a paper session over the same bars give the same signals):
--   vix[i]  = last VIX close at or before the bar's time (as-of alignment;
--             in a live session the VIX series is the one stored when the
--             session started: bars after its newest value use that value)
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
    ctx.vix_asof = mts.asof_stream(vix)
    ctx.dd = mts.drawdown_stream()
    ctx.rsi = mts.rsi_stream(p.rsi_period)
    ctx.vix_pct = mts.pct_rank_stream(p.vix_percentile_lookback)
    ctx.last_i = -1            -- the last bar pushed into the indicators
    ctx.state.in_trade = false
    ctx.state.analysis = { params = p, state = ctx.state, asset = ctx.asset }
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
    local close = md.close
    local vix = md.vix_asof:at(md.time)
    a.vix = vix
    a.vix_spike_detected = vix > md.params.vix_spike_threshold
    a.drawdown_from_high = md.dd:push(close)
    a.rsi = md.rsi:push(close)
    a.vix_percentile = md.vix_pct:push(vix)
    a.price = close
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
