-- risk.lua — from an aggregated signal and a view of the portfolio to an
-- order (or none). Pure functions: the runner builds the view from the engine,
-- tests build it by hand.
--
-- Limits (M.limits reads them from the environment):
--   max_position_size   fraction of equity one position may take when the
--                       size comes from position_size (default 0.10,
--                       env MAX_POSITION_SIZE); a strategy's config
--                       risk_management.max_position_size lowers it further
--                       (signal.max_position_size).
--   max_portfolio_risk  total gross exposure / equity after the trade
--                       (default 0.25, env MAX_PORTFOLIO_RISK). A trade that
--                       would exceed it is scaled down to fit; if nothing
--                       fits it is dropped (or, for a flip, reduced to
--                       closing the current position).
--
-- Target position: LONG -> +size, SHORT -> -size, CLOSE -> 0. If the
-- position is already on the signal's side (long for LONG, short for SHORT)
-- there is no order: never pyramid. Otherwise qty = target - current, so a
-- SHORT while long sells the long and opens the short in one order.
--   size = signal.units when given (exact: neither limit applies — the quant
--          asked for that quantity), else
--          min(signal.position_size or cap, cap) * equity / price with
--          cap = min(max_position_size, signal.max_position_size).
--
-- Stops: an absolute signal.stop_loss / take_profit goes to the order as is;
-- otherwise stop_loss_pct / take_profit_pct (from the strategy config's
-- risk_management, carried on the signal) become the order's *_pct fields,
-- which the engine turns into prices at the fill. A CLOSE carries none.
local M = {}

M.DEFAULTS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

local function positive(v) return type(v) == "number" and v > 0 and v < math.huge end

-- Limits from the environment; getenv defaults to os.getenv. Returns the
-- table, or nil and a message for a value that is not a positive number.
function M.limits(getenv)
    getenv = getenv or os.getenv
    local out = {}
    for key, env in pairs({ max_position_size = "MAX_POSITION_SIZE", max_portfolio_risk = "MAX_PORTFOLIO_RISK" }) do
        local text = getenv(env)
        if text == nil or text == "" then
            out[key] = M.DEFAULTS[key]
        else
            local v = tonumber(text)
            if not positive(v) then
                return nil, ("%s must be a positive number, got '%s'"):format(env, text)
            end
            out[key] = v
        end
    end
    return out
end

local DIR = { LONG = 1, SHORT = -1, CLOSE = 0 }

-- sig:    aggregated signal {signal_type, price, units?, position_size?,
--         max_position_size?, stop_loss?, take_profit?, stop_loss_pct?, take_profit_pct?}
-- view:   {equity = account equity, position = current signed qty of the
--         asset, gross = sum over all assets of |qty * mark| (this asset included)}
-- limits: {max_position_size, max_portfolio_risk}
-- Returns order {qty, target, stop_loss, take_profit, stop_loss_pct,
-- take_profit_pct, gross_after} or nil and the reason.
function M.plan(sig, view, limits)
    local dir = DIR[sig.signal_type]
    if dir == nil then error("risk.plan: bad signal_type " .. tostring(sig.signal_type), 2) end
    local price = sig.price
    if not positive(price) then return nil, "no valid price" end
    local cur = view.position or 0
    if cur ~= cur then cur = 0 end
    local gross = view.gross or 0
    local other = gross - math.abs(cur) * price
    if other < 0 then other = 0 end

    local target
    if dir == 0 then
        if cur == 0 then return nil, "already flat" end
        target = 0
    else
        if cur * dir > 0 then return nil, "already positioned (no pyramiding)" end
        local qty_abs
        if sig.units ~= nil then
            if not positive(sig.units) then return nil, "units must be > 0" end
            qty_abs = sig.units
        else
            local equity = view.equity or 0
            if not positive(equity) then return nil, "no equity" end
            local cap = limits.max_position_size
            if sig.max_position_size ~= nil and sig.max_position_size < cap then cap = sig.max_position_size end
            local frac = sig.position_size
            if frac == nil or frac > cap then frac = cap end
            if not positive(frac) then return nil, "position size is 0" end
            qty_abs = frac * equity / price
            -- portfolio cap: other exposure + this position <= max * equity
            local allowed = limits.max_portfolio_risk * equity - other
            if qty_abs * price > allowed then
                qty_abs = allowed > 0 and allowed / price or 0
            end
        end
        if qty_abs <= 0 then
            if cur == 0 then return nil, "portfolio risk limit reached" end
            target = 0   -- a flip that cannot open: at least close
        else
            target = dir * qty_abs
        end
    end

    local qty = target - cur
    if qty == 0 then return nil, "no change" end
    local order = { qty = qty, target = target, stop_loss = 0, take_profit = 0,
                    stop_loss_pct = 0, take_profit_pct = 0,
                    gross_after = other + math.abs(target) * price }
    if target ~= 0 then
        if positive(sig.stop_loss) then order.stop_loss = sig.stop_loss
        elseif positive(sig.stop_loss_pct) then order.stop_loss_pct = sig.stop_loss_pct end
        if positive(sig.take_profit) then order.take_profit = sig.take_profit
        elseif positive(sig.take_profit_pct) then order.take_profit_pct = sig.take_profit_pct end
    end
    return order
end

return M
