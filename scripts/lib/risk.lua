-- risk.lua — from an aggregated signal and a view of ONE book (the
-- strategy's own in `independent` mode, the shared one in `vote` mode) to an
-- order (or none). Pure functions: the runner builds the view from the engine,
-- tests build it by hand.
--
-- Limits (M.limits: the command line > the environment > config/mts.json
-- "risk" > M.DEFAULTS). Every limit applies to every order, `units` included:
--   max_position_size   the margin one position may take, as a fraction of
--                       the book's equity (default 0.10, --max-position,
--                       env MAX_POSITION_SIZE, config risk.max_position); a
--                       strategy's config risk_management.max_position_size
--                       lowers it further (signal.max_position_size).
--   max_portfolio_risk  the book's exposure / equity after the trade (default
--                       0.25, --max-portfolio-risk, env MAX_PORTFOLIO_RISK,
--                       config risk.max_portfolio_risk); a strategy's config
--                       risk_management.max_portfolio_risk lowers it for its
--                       book (signal.max_portfolio_risk). A trade that would
--                       exceed it is scaled down to fit; if nothing fits it is
--                       refused (or, for a flip, reduced to closing the
--                       current position).
--
-- Exposure and margin. A position's exposure is its notional / leverage:
-- |qty| * contract_size * price / leverage, leverage 1 on spot. For a perp,
-- position_size * equity is the margin: notional = margin * leverage and
-- qty = notional / (price * contract_size). view.exposure is the book's
-- exposure over all its positions, this asset's included.
--
-- Target position: LONG -> +size, SHORT -> -size, CLOSE -> 0. If the
-- position is already on the signal's side (long for LONG, short for SHORT)
-- there is no order: never pyramid. Otherwise qty = target - current, so a
-- SHORT while long sells the long and opens the short in one order (perps).
-- A SHORT on a spot asset targets 0: it closes a long if there is one, and is
-- counted as a refused spot short either way.
--   size = signal.units when given, capped: units * cs * price / leverage
--          <= cap * equity (else trimmed to the cap), else
--          min(signal.position_size or cap, cap) * equity * leverage / (price * cs)
--          with cap = min(max_position_size, signal.max_position_size);
--   then the portfolio limit (above).
--
-- Counting (the run reports them per strategy): an order is "trimmed" when a
-- limit made it smaller than asked (units or position_size above the cap,
-- or scaled down to the portfolio limit); "refused" when a limit planned its
-- new position to 0 (nothing fits; a flip then only closes);
-- "short_refused" for a SHORT on a spot asset.
--
-- Stops: an absolute signal.stop_loss / take_profit goes to the order as is;
-- otherwise stop_loss_pct / take_profit_pct (from the strategy config's
-- risk_management, carried on the signal) become the order's *_pct fields,
-- which the engine turns into prices at the fill. A CLOSE carries none.
local M = {}

M.DEFAULTS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

local function positive(v) return type(v) == "number" and v > 0 and v < math.huge end

local ENV = { max_position_size = "MAX_POSITION_SIZE", max_portfolio_risk = "MAX_PORTFOLIO_RISK" }
local CLI = { max_position_size = "--max-position", max_portfolio_risk = "--max-portfolio-risk" }
local CFG = { max_position_size = "max_position", max_portfolio_risk = "max_portfolio_risk" }

-- The limits of a run: for each, the command line's value (cli.max_position_size /
-- cli.max_portfolio_risk; nil or 0: not given), else the environment (getenv,
-- default os.getenv), else config/mts.json "risk" (cfg: that section as a
-- table, may be nil), else M.DEFAULTS. Returns the table, or nil and a message
-- for a value that is not a positive number (naming where it came from).
function M.limits(getenv, cfg, cli)
    getenv = getenv or os.getenv
    local out = {}
    for _, key in ipairs({ "max_position_size", "max_portfolio_risk" }) do
        local c = cli and cli[key]
        if c ~= nil and c ~= 0 then
            if not positive(c) then
                return nil, ("%s must be a positive number, got %s"):format(CLI[key], tostring(c))
            end
            out[key] = c
        else
            local text = getenv(ENV[key])
            if text ~= nil and text ~= "" then
                local v = tonumber(text)
                if not positive(v) then
                    return nil, ("%s must be a positive number, got '%s'"):format(ENV[key], text)
                end
                out[key] = v
            elseif type(cfg) == "table" and cfg[CFG[key]] ~= nil then
                local v = cfg[CFG[key]]
                if not positive(v) then
                    return nil, ("config/mts.json: risk.%s must be a positive number, got %s"):format(
                        CFG[key], tostring(v))
                end
                out[key] = v
            else
                out[key] = M.DEFAULTS[key]
            end
        end
    end
    return out
end

local DIR = { LONG = 1, SHORT = -1, CLOSE = 0 }

-- sig:    aggregated signal {signal_type, price, units?, position_size?,
--         max_position_size?, max_portfolio_risk?, stop_loss?, take_profit?,
--         stop_loss_pct?, take_profit_pct?}
-- view:   the book: {equity, position = its signed qty of the asset,
--         exposure = sum over its positions of |qty| * cs * mark / leverage
--         (this asset included; `gross` is read when exposure is absent),
--         market = "spot" | "perp" (nil: spot), leverage (perp; default 1),
--         contract_size (default 1)}
-- limits: {max_position_size, max_portfolio_risk}
-- Returns order {qty, target, stop_loss, take_profit, stop_loss_pct,
-- take_profit_pct, exposure_after, gross_after (the same), count = nil |
-- "trimmed" | "refused" | "short_refused"} or nil, the reason and the count
-- (nil when nothing was limited: e.g. already positioned).
function M.plan(sig, view, limits)
    local dir = DIR[sig.signal_type]
    if dir == nil then error("risk.plan: bad signal_type " .. tostring(sig.signal_type), 2) end
    local price = sig.price
    if not positive(price) then return nil, "no valid price" end
    local perp = view.market == "perp"
    local lev = perp and (view.leverage or 1) or 1
    if not positive(lev) then lev = 1 end
    local cs = view.contract_size or 1
    if not positive(cs) then cs = 1 end
    local cur = view.position or 0
    if cur ~= cur then cur = 0 end
    local exposure = view.exposure or view.gross or 0
    local other = exposure - math.abs(cur) * cs * price / lev
    if other < 0 then other = 0 end

    local target
    local count = nil
    if dir == 0 then
        if cur == 0 then return nil, "already flat" end
        target = 0
    elseif dir < 0 and not perp then
        -- no shorts on spot: close the long, if any
        if cur <= 0 then return nil, "short on a spot asset refused", "short_refused" end
        target = 0
        count = "short_refused"
    else
        if cur * dir > 0 then return nil, "already positioned (no pyramiding)" end
        local equity = view.equity or 0
        if not positive(equity) then return nil, "no equity" end
        local cap = limits.max_position_size
        if sig.max_position_size ~= nil and sig.max_position_size < cap then cap = sig.max_position_size end
        local pcap = limits.max_portfolio_risk
        if sig.max_portfolio_risk ~= nil and sig.max_portfolio_risk < pcap then pcap = sig.max_portfolio_risk end
        local qty_abs
        if sig.units ~= nil then
            if not positive(sig.units) then return nil, "units must be > 0" end
            qty_abs = sig.units
            -- the position cap: margin <= cap * equity
            if qty_abs * cs * price / lev > cap * equity then
                qty_abs = cap * equity * lev / (cs * price)
                count = "trimmed"
            end
        else
            local frac = sig.position_size
            if frac == nil then
                frac = cap
            elseif frac > cap then
                frac = cap
                count = "trimmed"
            end
            if not positive(frac) then return nil, "position size is 0" end
            qty_abs = frac * equity * lev / (price * cs)
        end
        -- the portfolio cap: other exposure + this position's <= pcap * equity
        local allowed = pcap * equity - other
        if qty_abs * cs * price / lev > allowed then
            qty_abs = allowed > 0 and allowed * lev / (cs * price) or 0
            count = "trimmed"
        end
        if not (qty_abs > 0) then
            if cur == 0 then return nil, "portfolio risk limit reached", "refused" end
            target = 0   -- a flip that cannot open: at least close
            count = "refused"
        else
            target = dir * qty_abs
        end
    end

    local qty = target - cur
    if qty == 0 then return nil, "no change", count end
    local after = other + math.abs(target) * cs * price / lev
    local order = { qty = qty, target = target, stop_loss = 0, take_profit = 0,
                    stop_loss_pct = 0, take_profit_pct = 0,
                    exposure_after = after, gross_after = after, count = count }
    if target ~= 0 then
        if positive(sig.stop_loss) then order.stop_loss = sig.stop_loss
        elseif positive(sig.stop_loss_pct) then order.stop_loss_pct = sig.stop_loss_pct end
        if positive(sig.take_profit) then order.take_profit = sig.take_profit
        elseif positive(sig.take_profit_pct) then order.take_profit_pct = sig.take_profit_pct end
    end
    return order
end

return M
