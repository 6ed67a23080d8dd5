-- runner_spec.lua — loading, configs, --param, the event loop, error
-- isolation, aggregation and orders, against the Lua fake engine
-- (helpers/fake_engine.lua). Needs the C indicators (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local runner = require "runner"
local fake = require "fake_engine"

local DAY = 86400
local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

-- A run over a temporary tree. files: extra files; assets: fake assets.
local function run(files, strategies, params, assets, macros, opts)
    local dir = H.tree(files or {})
    local E = fake.new(assets or { { name = "bitcoin", close = { 1, 2, 3, 4, 5 } } }, macros)
    local logs, prints = {}, {}
    opts = opts or {}
    local res, msg, kind = runner.run({ root = dir, strategies = strategies, params = params or {} }, {
        C = E.C, limits = opts.limits or LIMITS,
        log = function(level, event, fields) logs[#logs + 1] = { level = level, event = event, fields = fields } end,
        print = function(name, text) prints[#prints + 1] = name .. ": " .. text end,
    })
    H.rmtree(dir)
    return res, msg, kind, E, logs, prints
end

-- A strategy that signals on given bars: sig_at = {[i] = "LONG", ...}.
local function scripted(sig_at, extra)
    local lines = { "local M = {}",
                    "function M.get_parameters() return { size = 0.05 } end",
                    "local AT = {" }
    for i, t in pairs(sig_at) do lines[#lines + 1] = ("[%d] = %q,"):format(i, t) end
    lines[#lines + 1] = "}"
    lines[#lines + 1] = extra or ""
    lines[#lines + 1] = [[
function M.on_bar(ctx, asset, i)
    local t = AT[i]
    if t then return { signal_type = t, confidence = 0.8, position_size = ctx.params.size } end
end
return M]]
    return table.concat(lines, "\n")
end

describe("runner", function()
    describe("stops the run", function()
        it("for an unknown strategy, naming the file and listing the others", function()
            local res, msg, kind = run({ ["scripts/strategies/alpha.lua"] = scripted({}),
                                         ["scripts/strategies/beta.lua"] = scripted({}) }, { "nope" })
            assert.is_nil(res)
            assert.are.equal("script", kind)
            assert.are.equal("unknown strategy 'nope': scripts/strategies/nope.lua does not exist " ..
                             "(available: alpha, beta)", msg)
        end)

        it("for a syntax error, with file and line", function()
            local _, msg, kind = run({ ["scripts/strategies/bad.lua"] = "local M = {}\n\nfunction M.x(\nreturn M" },
                                     { "bad" })
            assert.are.equal("script", kind)
            assert.matches("^scripts/strategies/bad%.lua:4: ", msg)
        end)

        it("for a strategy without the interface", function()
            local _, msg = run({ ["scripts/strategies/x.lua"] = "return { get_parameters = function() return {} end }" },
                               { "x" })
            assert.matches("needs on_bar", msg)
            _, msg = run({ ["scripts/strategies/x.lua"] = "return 42" }, { "x" })
            assert.matches("must return a table of functions, got number", msg)
        end)

        it("for a global access while loading", function()
            local _, msg = run({ ["scripts/strategies/x.lua"] = "local t = os.time()\nreturn {}" }, { "x" })
            assert.matches("^scripts/strategies/x%.lua:1: unknown global 'os'", msg)
        end)

        it("for invalid JSON or a wrongly typed value in the config", function()
            local files = { ["scripts/strategies/s.lua"] = scripted({}),
                            ["config/strategies/s.json"] = '{"size": 0.1,}' }
            local _, msg, kind = run(files, { "s" })
            assert.are.equal("config", kind)
            assert.are.equal("config/strategies/s.json: invalid JSON: line 1, column 14: expected a string key", msg)
            files["config/strategies/s.json"] = '{"size": "big"}'
            _, msg = run(files, { "s" })
            assert.are.equal("config/strategies/s.json: size must be a number, got string", msg)
        end)

        it("for the shipped vix_correlation config with a string lookback_days", function()
            local dir_files = { ["config/strategies/vix_correlation.json"] = '{"lookback_days": "30"}' }
            local dir = H.tree(dir_files)
            H.copy_into(dir, "scripts/strategies/vix_correlation.lua")
            local E = fake.new({ { name = "bitcoin", close = { 1, 2 } } })
            local res, msg = runner.run({ root = dir, strategies = { "vix_correlation" } },
                                        { C = E.C, limits = LIMITS, log = function() end })
            H.rmtree(dir)
            assert.is_nil(res)
            assert.are.equal("config/strategies/vix_correlation.json: lookback_days must be a number, got string", msg)
        end)

        it("for a --param no strategy declares, or of the wrong type", function()
            local files = { ["scripts/strategies/s.lua"] = scripted({}) }
            local _, msg, kind = run(files, { "s" }, { { key = "slow", value = "3" } })
            assert.are.equal("config", kind)
            assert.matches("--param slow=3: no selected strategy declares 'slow' (s: size)", msg, 1, true)
            _, msg = run(files, { "s" }, { { key = "size", value = "lots" } })
            assert.are.equal("--param size=lots: s.size must be a number, got 'lots'", msg)
        end)

        it("when none of a strategy's configured assets is loaded", function()
            local files = { ["scripts/strategies/s.lua"] = scripted({}),
                            ["config/strategies/s.json"] = '{"assets": ["dogecoin"]}' }
            local _, msg, kind = run(files, { "s" })
            assert.are.equal("config", kind)
            assert.matches("s: none of its assets (dogecoin) is loaded (loaded: bitcoin)", msg, 1, true)
        end)
    end)

    describe("runs", function()
        it("submits an order at the step end; it fills at the next bar's open", function()
            -- LONG on bar 1 (close 2): size 0.05 * 100000 / 2 = 2500 units,
            -- filled at bar 2's open (bars are 0-based: open[2] = 30)
            local res, _, _, E = run({ ["scripts/strategies/s.lua"] = scripted({ [1] = "LONG" }) }, { "s" }, nil,
                                     { { name = "bitcoin", close = { 1, 2, 3, 4 }, open = { 10, 20, 30, 40 } } })
            assert.is_table(res)
            assert.are.equal(1, #E.orders)
            assert.is_true(math.abs(E.orders[1].qty - 2500) < 1e-9)
            assert.are.equal(1 * DAY, E.orders[1].ts)
            assert.are.equal(0, E.orders[1].strategy)
            assert.are.same({ asset = "bitcoin", qty = E.orders[1].qty, price = 30, bar = 2, strategy = 0 }, E.fills[1])
            -- the raw signal was logged with its code and confidence
            assert.are.equal(1, #E.signals)
            assert.are.equal(1, E.signals[1].signal_type)
            assert.are.equal(0.8, E.signals[1].confidence)
            assert.are.equal('{"s":{"size":0.05}}', res.parameters_json)
        end)

        it("shows the strategy its position filled before the next bar", function()
            local extra = [[
local seen = {}
M.seen = seen
function M.init(ctx) ctx.state.seen = {} end
local base = nil
]]
            local src = scripted({ [1] = "LONG" }, extra):gsub("function M.on_bar%(ctx, asset, i%)",
                "function M.on_bar(ctx, asset, i)\n    if i == 2 then print('pos', ctx.position()) end")
            local _, _, _, _, _, prints = run({ ["scripts/strategies/s.lua"] = src }, { "s" })
            assert.are.same({ "s: pos\t2500" }, prints)
        end)

        it("applies config and --param values with the right precedence", function()
            local files = { ["scripts/strategies/s.lua"] = scripted({ [1] = "LONG" }),
                            ["config/strategies/s.json"] = '{"size": 0.02, "risk_management": {"stop_loss_pct": 0.05}}' }
            local res, _, _, E = run(files, { "s" }, { { key = "size", value = "0.04" } })
            -- 0.04 * 100000 / 2 = 2000
            assert.is_true(math.abs(E.orders[1].qty - 2000) < 1e-9)
            assert.are.equal(0.05, E.orders[1].stop_loss_pct)
            assert.are.equal('{"s":{"risk_management":{"stop_loss_pct":0.05},"size":0.04}}', res.parameters_json)
        end)

        it("aggregates conflicting strategies per asset", function()
            -- a: LONG conf 0.8 on bar 1; b: SHORT conf 0.8 on bar 1, weight 2 -> SHORT
            local files = { ["scripts/strategies/a.lua"] = scripted({ [1] = "LONG" }),
                            ["scripts/strategies/b.lua"] = scripted({ [1] = "SHORT" }),
                            ["config/strategies/b.json"] = '{"weight": 2}' }
            local _, _, _, E = run(files, { "a", "b" })
            assert.are.equal(2, #E.signals)
            assert.are.equal(1, #E.orders)
            assert.is_true(E.orders[1].qty < 0)
            assert.are.equal(1, E.orders[1].strategy)
            -- equal weights: a tie, no order
            files["config/strategies/b.json"] = nil
            _, _, _, E = run(files, { "a", "b" })
            assert.are.equal(0, #E.orders)
        end)

        it("does not pyramid and closes on CLOSE", function()
            local src = scripted({ [1] = "LONG", [2] = "LONG", [3] = "CLOSE" })
            local _, _, _, E = run({ ["scripts/strategies/s.lua"] = src }, { "s" }, nil,
                                   { { name = "bitcoin", close = { 1, 2, 2, 2, 2 } } })
            assert.are.equal(2, #E.orders)
            assert.is_true(E.orders[1].qty > 0)
            assert.are.equal(-E.orders[1].qty, E.orders[2].qty)
        end)

        it("passes LIMIT/STOP entries through and withdraws them on CLOSE", function()
            local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if i == 1 then return { signal_type = "LONG", units = 1, order_type = "LIMIT", limit_price = 1.5 } end
    if i == 2 then return { signal_type = "CLOSE" } end
end
return M]]
            -- (the fake engine fills every order at the next open; the real limit
            -- fill rules are checked end to end in tests/e2e/test_backtest.py)
            local _, _, _, E = run({ ["scripts/strategies/s.lua"] = src }, { "s" })
            assert.are.equal(1, E.orders[1].type)          -- MTS_ORDER_LIMIT
            assert.are.equal(1.5, E.orders[1].price)
            assert.are.equal(1, E.orders[1].qty)
            assert.are.equal(0, E.orders[2].type)          -- the CLOSE is a market order
            assert.are.equal(2, E.cancels)                 -- before the LIMIT, and on CLOSE
        end)

        it("disables a strategy whose LIMIT signal has no price", function()
            local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if i == 1 then return { signal_type = "LONG", order_type = "LIMIT" } end
end
return M]]
            local res, _, _, E = run({ ["scripts/strategies/s.lua"] = src }, { "s" })
            assert.are.equal(0, #E.orders)
            assert.are.equal(1, #res.disabled)
            assert.truthy(res.disabled[1]:find("LIMIT orders need limit_price > 0", 1, true))
        end)

        it("runs the shipped sma_cross end to end", function()
            local dir = H.tree({})
            H.copy_into(dir, "scripts/strategies/sma_cross.lua")
            H.copy_into(dir, "config/strategies/sma_cross.json")
            -- the crafted closes of sma_cross_spec (fast 2, slow 3): CLOSE@5, LONG@7;
            -- units 3 -> one buy of exactly 3 at bar 8's open
            local close = { 10, 10, 10, 13, 13, 7, 7, 10, 10, 10 }
            local open = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }
            local E = fake.new({ { name = "bitcoin", close = close, open = open } })
            local res = runner.run({ root = dir, strategies = { "sma_cross" },
                                     params = { { key = "fast", value = "2" }, { key = "slow", value = "3" },
                                                { key = "units", value = "3" } } },
                                   { C = E.C, limits = LIMITS, log = function() end })
            H.rmtree(dir)
            assert.are.equal('{"sma_cross":{"fast":2,"risk_management":{"max_position_size":0.1},' ..
                             '"slow":3,"units":3}}', res.parameters_json)
            assert.are.equal(2, #E.signals)                  -- CLOSE@5 (flat: no order), LONG@7
            assert.are.equal(1, #E.orders)
            assert.are.equal(3, E.orders[1].qty)
            assert.are.equal(9, E.fills[1].price)            -- open of bar 8
        end)
    end)

    describe("isolates strategy errors", function()
        local boom = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if i == 2 then error("boom") end
end
return M]]

        it("disables the failing strategy with file, line, hook, asset and bar; others go on", function()
            local files = { ["scripts/strategies/boom.lua"] = boom,
                            ["scripts/strategies/s.lua"] = scripted({ [3] = "LONG" }) }
            local res, _, _, E, logs = run(files, { "boom", "s" })
            assert.is_table(res)
            assert.are.same({ "boom: scripts/strategies/boom.lua:4: boom (in on_bar, bitcoin bar 1970-01-03T00:00:00Z)" },
                            res.disabled)
            assert.are.equal("strategy.disabled", logs[1].event)
            assert.are.equal(1, #E.orders)                    -- s still traded on bar 3
        end)

        it("names analyze, generate_signals and init", function()
            local src = [[
local M = {}
function M.get_parameters() return {} end
function M.init(ctx) if ctx.asset == "eth" then error("no eth") end end
function M.analyze(md) if md.i == 1 then local x = nil; return x.field end return md end
function M.generate_signals(a) return nil end
return M]]
            local res = run({ ["scripts/strategies/x.lua"] = src }, { "x" }, nil,
                            { { name = "bitcoin", close = { 1, 2, 3 } } })
            assert.matches("^x: scripts/strategies/x%.lua:4: attempt to index .* %(in analyze, bitcoin bar 1970%-01%-02T00:00:00Z%)$",
                           res.disabled[1])
            res = run({ ["scripts/strategies/x.lua"] = src }, { "x" }, nil,
                      { { name = "bitcoin", close = { 1, 2 } }, { name = "eth", close = { 1, 2 } } })
            assert.are.equal("x: scripts/strategies/x.lua:3: no eth (in init, eth)", res.disabled[1])
            local src2 = src:gsub("return nil end", "if a.i == 2 then error('late') end end")
            res = run({ ["scripts/strategies/x.lua"] = src2:gsub("if md.i == 1 then", "if false then") }, { "x" })
            assert.are.equal("x: scripts/strategies/x.lua:5: late (in generate_signals, bitcoin bar 1970-01-03T00:00:00Z)",
                             res.disabled[1])
        end)

        it("disables a strategy returning a malformed signal, dropping its step's signals", function()
            local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if i == 1 then return { signal_type = "BUY" } end
end
return M]]
            local res, _, _, E = run({ ["scripts/strategies/x.lua"] = src }, { "x" })
            assert.matches('x: scripts/strategies/x.lua: bad signal: signal_type must be "LONG", "SHORT" or "CLOSE", got BUY',
                           res.disabled[1], 1, true)
            assert.are.equal(0, #E.signals)
        end)

        it("disables a strategy that touches an unknown global at run time", function()
            local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i) return io.write("x") end
return M]]
            local res = run({ ["scripts/strategies/x.lua"] = src }, { "x" })
            assert.are.equal("x: scripts/strategies/x.lua:3: unknown global 'io' (in on_bar, bitcoin bar 1970-01-01T00:00:00Z)",
                             res.disabled[1])
        end)
    end)

    it("propagates engine failures", function()
        local dir = H.tree({ ["scripts/strategies/s.lua"] = scripted({ [1] = "LONG" }) })
        local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3 } } })
        E.submit_rc = -2
        assert.has_error(function()
            runner.run({ root = dir, strategies = { "s" } }, { C = E.C, limits = LIMITS, log = function() end })
        end)
        H.rmtree(dir)
    end)
end)
