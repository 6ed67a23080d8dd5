-- aggregator.lua — turns the raw signals of one step into at most one
-- signal per asset. Pure Lua, no C. In `vote` mode the runner gives it every
-- strategy's signals of the step (one shared book); in `independent` mode it
-- is called once per strategy with that strategy's own signals only (each
-- strategy trades its own book), so strategies never outvote each other.
--
-- Rules, per asset:
--   * Each signal votes for its direction (LONG, SHORT or CLOSE — CLOSE is a
--     direction of its own) with score = confidence * weight, where weight is
--     the strategy's weight (signal.weight, from the config key "weight",
--     default 1).
--   * The direction with the highest total score wins. If the two highest
--     totals are exactly equal, there is no trade for that asset. A lone
--     signal wins on its own (even with confidence 0).
--   * The result carries, from the winning side only:
--       confidence     weighted average: sum(conf * w) / sum(w) (plain mean if
--                      every weight is 0)
--       position_size  the largest given; units the largest given
--       stop_loss      the tightest: for LONG the highest, for SHORT the lowest
--       take_profit    the tightest: for LONG the lowest, for SHORT the highest
--       stop_loss_pct / take_profit_pct  the smallest given
--       max_position_size, max_portfolio_risk   the smallest given
--       price          of the first winning signal (all are the same bar close)
--       strategy       id of the winner with the highest score (first on ties),
--                      used to attribute the order; strategies: all winner ids
--     CLOSE carries no stop-loss or take-profit.
--   * Assets come out in the order of their first signal in the input.
local M = {}


local function weight_of(s)
    local w = s.weight
    if w == nil then return 1 end
    return w
end

local function min_opt(a, b)
    if a == nil then return b end
    if b == nil then return a end
    return b < a and b or a
end

local function max_opt(a, b)
    if a == nil then return b end
    if b == nil then return a end
    return b > a and b or a
end

-- Folds direction d (if present, with score v) into (best, best score, runner-up score).
local function rank(best, best_score, second_score, d, present, v)
    if not present then return best, best_score, second_score end
    if best == nil or v > best_score then return d, v, best_score end
    if second_score == nil or v > second_score then return best, best_score, v end
    return best, best_score, second_score
end

-- Runs once per asset per step with signals: scores are kept in locals, not
-- tables, so a step with one signal allocates only the result.
local function resolve(asset, list)
    local sl, ss, sc = 0, 0, 0              -- LONG, SHORT, CLOSE scores
    local hl, hs, hc = false, false, false  -- which directions have signals
    for k = 1, #list do
        local s = list[k]
        local d = s.signal_type
        local v = (s.confidence or 1) * weight_of(s)
        if d == "LONG" then sl, hl = sl + v, true
        elseif d == "SHORT" then ss, hs = ss + v, true
        elseif d == "CLOSE" then sc, hc = sc + v, true
        else
            error("aggregator: signal for " .. tostring(asset) .. " has signal_type " .. tostring(d), 2)
        end
    end
    -- best and runner-up among the directions that have signals, in the order
    -- LONG, SHORT, CLOSE (ties between best and runner-up mean no trade)
    local best, best_score, second_score = rank(nil, nil, nil, "LONG", hl, sl)
    best, best_score, second_score = rank(best, best_score, second_score, "SHORT", hs, ss)
    best, best_score, second_score = rank(best, best_score, second_score, "CLOSE", hc, sc)
    if second_score ~= nil and second_score == best_score then return nil end

    local out = { asset = asset, signal_type = best, strategies = {} }
    local wsum, csum, n, cplain = 0, 0, 0, 0
    local top_score
    for k = 1, #list do
        local s = list[k]
        if s.signal_type == best then
            local w, c = weight_of(s), s.confidence or 1
            wsum = wsum + w
            csum = csum + c * w
            n = n + 1
            cplain = cplain + c
            if out.price == nil then out.price = s.price end
            if out.asset_id == nil then out.asset_id = s.asset_id end
            if top_score == nil or c * w > top_score then
                top_score = c * w
                out.strategy = s.strategy
                -- how to enter: the strongest signal's order type and price
                out.order_type, out.order_price = s.order_type, s.order_price
            end
            out.strategies[#out.strategies + 1] = s.strategy
            out.position_size = max_opt(out.position_size, s.position_size)
            out.units = max_opt(out.units, s.units)
            out.stop_loss_pct = min_opt(out.stop_loss_pct, s.stop_loss_pct)
            out.take_profit_pct = min_opt(out.take_profit_pct, s.take_profit_pct)
            out.max_position_size = min_opt(out.max_position_size, s.max_position_size)
            out.max_portfolio_risk = min_opt(out.max_portfolio_risk, s.max_portfolio_risk)
            if best == "LONG" then
                out.stop_loss = max_opt(out.stop_loss, s.stop_loss)
                out.take_profit = min_opt(out.take_profit, s.take_profit)
            elseif best == "SHORT" then
                out.stop_loss = min_opt(out.stop_loss, s.stop_loss)
                out.take_profit = max_opt(out.take_profit, s.take_profit)
            end
        end
    end
    out.confidence = wsum > 0 and csum / wsum or cplain / n
    if best == "CLOSE" then
        out.stop_loss, out.take_profit, out.stop_loss_pct, out.take_profit_pct = nil, nil, nil, nil
    end
    return out
end

-- signals: array of signal tables (see the header). Returns an array.
function M.aggregate(signals)
    if #signals == 1 then               -- the common case: one signal in the step
        local s = signals[1]
        if s.asset == nil then error("aggregator: signal without asset", 2) end
        local r = resolve(s.asset, signals)
        return { r }                    -- {} when resolve returned nil
    end
    local order, groups = {}, {}
    for _, s in ipairs(signals) do
        local a = s.asset
        if a == nil then error("aggregator: signal without asset", 2) end
        local g = groups[a]
        if not g then
            g = {}
            groups[a] = g
            order[#order + 1] = a
        end
        g[#g + 1] = s
    end
    local out = {}
    for _, a in ipairs(order) do
        local r = resolve(a, groups[a])
        if r then out[#out + 1] = r end
    end
    return out
end

return M
