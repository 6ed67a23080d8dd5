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
    local res, msg, kind = runner.run({ root = dir, strategies = strategies, params = params or {},
                                        mode = opts.mode }, {
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

        it("for parameters that are not plain data (the config code reads them unguarded)", function()
            local src = "local M = {}\nfunction M.get_parameters() return { fast = 3, risk_management = " ..
                        "setmetatable({}, { __index = function() error('gotcha') end }) } end\n" ..
                        "function M.on_bar() end\nreturn M"
            local res, msg, kind = run({ ["scripts/strategies/x.lua"] = src }, { "x" })
            assert.is_nil(res)
            assert.are.equal("script", kind)
            assert.are.equal("scripts/strategies/x.lua: get_parameters().risk_management has a metatable " ..
                             "(plain tables only)", msg)
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

        it("aggregates conflicting strategies per asset in vote mode", function()
            -- bar 1: a CLOSE conf 0.8, b LONG conf 0.8 weight 2 -> LONG wins (b)
            local files = { ["scripts/strategies/a.lua"] = scripted({ [1] = "CLOSE", [2] = "LONG" }),
                            ["scripts/strategies/b.lua"] = scripted({ [1] = "LONG", [2] = "CLOSE" }),
                            ["config/strategies/b.json"] = '{"weight": 2}' }
            local _, _, _, E = run(files, { "a", "b" }, nil, nil, nil, { mode = "vote" })
            assert.are.equal(4, #E.signals)
            -- bar 1: LONG (b, 1.6 vs 0.8) buys; bar 2: CLOSE (b, 1.6 vs 0.8) sells it all
            assert.are.equal(2, #E.orders)
            assert.is_true(E.orders[1].qty > 0)
            assert.are.equal(1, E.orders[1].strategy)
            assert.are.equal(-E.orders[1].qty, E.orders[2].qty)
            assert.are.equal(1, E.orders[2].strategy)
            -- equal weights: ties, no order
            files["config/strategies/b.json"] = nil
            _, _, _, E = run(files, { "a", "b" }, nil, nil, nil, { mode = "vote" })
            assert.are.equal(0, #E.orders)
        end)

        it("in independent mode never lets one strategy outvote another", function()
            -- bar 1: a LONG conf 0.8; b CLOSE conf 0.8 with weight 2. vote: CLOSE wins
            -- (flat: nothing); independent: a's LONG is a's own aggregate and trades
            local files = { ["scripts/strategies/a.lua"] = scripted({ [1] = "LONG" }),
                            ["scripts/strategies/b.lua"] = scripted({ [1] = "CLOSE" }),
                            ["config/strategies/b.json"] = '{"weight": 2}' }
            local _, _, _, E = run(files, { "a", "b" }, nil, nil, nil, { mode = "vote" })
            assert.are.equal(0, #E.orders)
            local res
            res, _, _, E = run(files, { "a", "b" }, nil, nil, nil, { mode = "independent" })
            assert.is_table(res)
            assert.are.equal(1, #E.orders)
            assert.are.equal(0, E.orders[1].strategy)
            assert.is_true(E.orders[1].qty > 0)
            -- no mode asked for and one book (a host without books): vote, as before books
            _, _, _, E = run(files, { "a", "b" })
            assert.are.equal(0, #E.orders)
        end)

        it("refuses a SHORT on a spot asset and counts it for the strategy", function()
            local files = { ["scripts/strategies/a.lua"] = scripted({ [1] = "SHORT", [2] = "LONG", [3] = "SHORT" }) }
            local res, _, _, E = run(files, { "a" })
            -- bar 1: flat, refused; bar 2: buys; bar 3: closes the long only
            assert.are.equal(2, #E.orders)
            assert.is_true(E.orders[1].qty > 0)
            assert.are.equal(-E.orders[1].qty, E.orders[2].qty)
            assert.are.same({ trimmed = 0, refused = 0, short_refused = 2 }, res.risk[1])
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

    -- issue 9: a strategy must not reach the runner's or another strategy's
    -- data, run code outside its guarded call, or push absurd orders.
    describe("hostile strategies", function()
        -- reads the shared bars every bar: LONG on the bar whose close is 2
        -- (bar 1): alone, one order of 0.05 * 100000 / 2 = 2500 units
        local VICTIM = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if ctx.series.close[i] == 2 then return { signal_type = "LONG", confidence = 1, position_size = 0.05 } end
end
return M]]
        local function attacker(init_body, bar_body)
            return "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                   "function M.init(ctx)\n" .. (init_body or "") .. "\nend\n" ..
                   "function M.on_bar(ctx, asset, i)\n" .. (bar_body or "") .. "\nend\nreturn M"
        end
        -- attacker (id 0, so its init runs first) next to the victim
        local function against_victim(src)
            local res, msg, _, E = run({ ["scripts/strategies/evil.lua"] = src,
                                         ["scripts/strategies/victim.lua"] = VICTIM }, { "evil", "victim" })
            assert.is_table(res, msg)
            assert.are.equal(1, #E.orders, "the victim's trade")
            assert.are.equal(2500, E.orders[1].qty)
            assert.are.equal(1, E.orders[1].strategy)
            assert.are.equal(1, #res.disabled)
            return res.disabled[1]
        end

        it("cannot replace the shared bars (ctx.series is read-only)", function()
            local d = against_victim(attacker("ctx.series.close = mts.series(ctx.n, 1)"))
            assert.matches("^evil: scripts/strategies/evil%.lua:4: ctx%.series is read%-only %(assignment to close%) %(in init, bitcoin%)$", d)
        end)

        it("cannot store its own values in ctx.series", function()
            local d = against_victim(attacker("ctx.series.pwn = 0xdeadbeef"))
            assert.matches("ctx%.series is read%-only %(assignment to pwn%)", d)
            d = against_victim(attacker("ctx.series.mine = mts.series(4)"))
            assert.matches("ctx%.series is read%-only %(assignment to mine%)", d)
        end)

        it("cannot reach or change ctx.series' metatable", function()
            local d = against_victim(attacker("getmetatable(ctx.series).__index = function() return mts.series(ctx.n, 1) end"))
            assert.matches("evil%.lua:4: attempt to index a boolean value", d)
            d = against_victim(attacker("setmetatable(ctx.series, nil)"))
            assert.matches("cannot change a protected metatable", d)
            d = against_victim(attacker("assert(rawget(ctx.series, 'close') == nil) error('stop')"))
            assert.matches("evil%.lua:4: stop", d)
        end)

        it("cannot change the shared mts API", function()
            local d = against_victim(attacker("mts.sma = function() error('evil') end"))
            assert.matches("mts is read%-only %(assignment to sma%)", d)
            d = against_victim(attacker("setmetatable(mts, nil)"))
            assert.matches("cannot change a protected metatable", d)
        end)

        it("cannot change a macro series another strategy reads", function()
            -- VIX 10, 20, 30 on days 0..2; the reader prints v[1] on bar 2 (the
            -- attacker, loaded first, tried to swap the series in init)
            local reader = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                "function M.on_bar(ctx, a, i) if i == 2 then local m = ctx.macro('VIX') print(m.n, m.v[1]) end end\nreturn M"
            for _, body in ipairs({ "ctx.macro('VIX').v = mts.series(3, 0)", "setmetatable(ctx.macro('VIX'), nil)",
                                    "getmetatable(ctx.macro('VIX')).__index = {}" }) do
                local res, msg, _, _, _, prints = run({ ["scripts/strategies/evil.lua"] = attacker(body),
                                                         ["scripts/strategies/r.lua"] = reader }, { "evil", "r" }, nil,
                    { { name = "bitcoin", close = { 1, 2, 3 } } }, { VIX = { ts = { 0, DAY, 2 * DAY }, v = { 10, 20, 30 } } })
                assert.is_table(res, msg)
                assert.are.equal(1, #res.disabled)
                assert.matches("^evil: scripts/strategies/evil%.lua:4: ", res.disabled[1])
                assert.are.same({ "r: 3\t20" }, prints)
            end
        end)

        it("cannot make the runner run its code by giving ctx a metatable", function()
            -- the runner writes ctx.i before every call: with ctx.i removed and a
            -- __newindex in place, that write would run the strategy's code unguarded
            local d = against_victim(attacker(nil,
                "ctx.i = nil setmetatable(ctx, { __newindex = function() error('gotcha') end })"))
            assert.matches("evil%.lua:7: cannot change a protected metatable %(in on_bar, bitcoin bar 1970%-01%-01T00:00:00Z%)$", d)
        end)

        it("sizes from the bar's close, not from a ctx.close the strategy overwrote", function()
            -- LONG on bar 1 (close 2) without price or size: the cap 0.10 * 100000 / 2 = 5000
            -- units (not 0.10 * 100000 / 1e-6 = 1e10)
            local res, _, _, E = run({ ["scripts/strategies/s.lua"] = attacker(nil,
                "ctx.close = 1e-6 if i == 1 then return { signal_type = 'LONG' } end") }, { "s" })
            assert.are.same({}, res.disabled)
            assert.are.equal(1, #E.orders)
            assert.are.equal(5000, E.orders[1].qty)
            assert.are.equal(2, E.signals[1].price)
        end)

        it("reports its parameters from the runner's copy, whatever it did to ctx.params", function()
            local src = scripted({ [1] = "LONG" }, "function M.init(ctx) ctx.params.size = ctx.params end")
            local res, msg = run({ ["scripts/strategies/s.lua"] = src }, { "s" })
            assert.is_table(res, msg)
            assert.are.equal('{"s":{"size":0.05}}', res.parameters_json)
        end)

        -- item 3: nothing of the strategy runs outside its guarded call
        it("refuses a signal with a metatable without running it", function()
            -- answers confidence 0.5 on the first read, 1e300 after
            local res, _, _, E = run({ ["scripts/strategies/s.lua"] = attacker(
                "ctx.state.reads = 0",
                "if i == 1 then return setmetatable({ signal_type = 'LONG' }, { __index = function(t, k)\n" ..
                "  if k == 'confidence' then ctx.state.reads = ctx.state.reads + 1 return ctx.state.reads == 1 and 0.5 or 1e300 end\n" ..
                "end }) end") }, { "s" })
            assert.are.equal(0, #E.signals)
            assert.are.equal(0, #E.orders)
            assert.are.same({ "s: scripts/strategies/s.lua: bad signal: a signal must be a plain table " ..
                              "(it has a metatable) (in on_bar, bitcoin bar 1970-01-02T00:00:00Z)" }, res.disabled)
            -- in a list too
            res, _, _, E = run({ ["scripts/strategies/s.lua"] = attacker(nil,
                "if i == 1 then return { { signal_type = 'LONG' }, setmetatable({}, { __index = function() return 'LONG' end }) } end") },
                { "s" })
            assert.are.equal(0, #E.signals)
            assert.matches("bad signal: signal 2 of the list: a signal must be a plain table %(it has a metatable%)", res.disabled[1])
        end)

        it("reads no field of a signal through a metamethod", function()
            -- a signal_type whose __tostring raises must not run while the message is built
            local res, msg = run({ ["scripts/strategies/s.lua"] = attacker(nil,
                "if i == 1 then return { signal_type = setmetatable({}, { __tostring = function() error('gotcha') end }) } end") },
                { "s" })
            assert.is_table(res, msg)
            assert.matches('signal_type must be "LONG", "SHORT" or "CLOSE", got a table', res.disabled[1], 1, true)
        end)

        it("turns an error object into text inside the guard", function()
            local res, msg = run({ ["scripts/strategies/evil.lua"] = attacker(nil,
                "if i == 0 then error(setmetatable({}, { __tostring = function() error('gotcha') end })) end"),
                                   ["scripts/strategies/victim.lua"] = VICTIM }, { "evil", "victim" })
            assert.is_table(res, msg)
            assert.are.same({ "evil: an error object (table) whose __tostring failed: " ..
                              "scripts/strategies/evil.lua:7: gotcha (in on_bar, bitcoin bar 1970-01-01T00:00:00Z)" },
                            res.disabled)
            -- a __tostring that works gives the message
            res = run({ ["scripts/strategies/s.lua"] = attacker(nil,
                "error(setmetatable({}, { __tostring = function() return 'custom' end }))") }, { "s" })
            assert.are.same({ "s: custom (in on_bar, bitcoin bar 1970-01-01T00:00:00Z)" }, res.disabled)
            -- other values are described, not called
            res = run({ ["scripts/strategies/s.lua"] = attacker(nil, "error(function() end)") }, { "s" })
            assert.are.same({ "s: an error object (function) (in on_bar, bitcoin bar 1970-01-01T00:00:00Z)" }, res.disabled)
        end)

        -- item 4: bounds
        local function one_signal(fields, closes)
            local res, msg, _, E = run({ ["scripts/strategies/s.lua"] = attacker(nil,
                "if i == 1 then return { " .. fields .. " } end") }, { "s" }, nil,
                { { name = "bitcoin", close = closes or { 1, 2, 3, 4, 5 } } })
            assert.is_table(res, msg)
            return res.disabled[1], E
        end

        it("caps the signals of one call at 100", function()
            local list = "local out = {} for k = 1, %d do out[k] = { signal_type = 'LONG' } end return out"
            local res, _, _, E = run({ ["scripts/strategies/s.lua"] = attacker(nil, "if i == 1 then " .. list:format(100) .. " end") },
                                     { "s" })
            assert.are.same({}, res.disabled)
            assert.are.equal(100, #E.signals)
            res, _, _, E = run({ ["scripts/strategies/s.lua"] = attacker(nil, "if i == 1 then " .. list:format(101) .. " end") },
                               { "s" })
            assert.are.equal(0, #E.signals)
            assert.are.same({ "s: scripts/strategies/s.lua: bad signal: 101 signals in one call " ..
                              "(at most 100) (in on_bar, bitcoin bar 1970-01-02T00:00:00Z)" }, res.disabled)
        end)

        it("refuses non-finite numbers, naming the field and value", function()
            local d, E = one_signal("signal_type = 'LONG', units = 1/0")
            assert.are.equal("s: scripts/strategies/s.lua: bad signal: units must be a finite number, got inf " ..
                             "(in on_bar, bitcoin bar 1970-01-02T00:00:00Z)", d)
            assert.are.equal(0, #E.signals)
            d = one_signal("signal_type = 'LONG', position_size = 1/0")
            assert.matches("bad signal: position_size must be a finite number, got inf", d, 1, true)
            d = one_signal("signal_type = 'LONG', stop_loss = 0/0")
            assert.matches("bad signal: stop_loss must be a finite number, got nan", d, 1, true)
        end)

        it("refuses units worth more than 100 x the equity", function()
            -- bar 1: close 2, equity 100000: at most 100 * 100000 / 2 = 5e6 units
            local d, E = one_signal("signal_type = 'LONG', units = 1e308")
            assert.are.equal("s: scripts/strategies/s.lua: bad signal: units = 1e+308 at 2 is a notional of inf, " ..
                             "more than 100 x the equity (100000) (in on_bar, bitcoin bar 1970-01-02T00:00:00Z)", d)
            assert.are.equal(0, #E.orders)
            d = one_signal("signal_type = 'SHORT', units = 5000001")
            assert.matches("bad signal: units = 5000001 at 2 is a notional of 10000002, more than 100 x the equity (100000)",
                           d, 1, true)
            -- within the bound, but not the position cap: 0.10 * 100000 / 2 = 5000 units
            d, E = one_signal("signal_type = 'LONG', units = 5000000")
            assert.is_nil(d)
            assert.are.equal(5000, E.orders[1].qty)
        end)

        it("refuses prices more than 100 x away from the bar's close", function()
            -- bar 1: close 2: prices from 0.02 to 200
            local d, E = one_signal("signal_type = 'LONG', order_type = 'STOP', limit_price = 1e300, units = 1")
            assert.are.equal("s: scripts/strategies/s.lua: bad signal: limit_price = 1e+300 is more than 100 x away " ..
                             "from the bar's close (2) (in on_bar, bitcoin bar 1970-01-02T00:00:00Z)", d)
            assert.are.equal(0, #E.orders)
            for _, f in ipairs({ "stop_loss = 1e300", "take_profit = 201", "price = 1e-300", "stop_loss = 0.0199" }) do
                d = one_signal("signal_type = 'LONG', " .. f)
                assert.matches("bad signal: " .. f:match("^[%w_]+") .. " = .* is more than 100 x away from the bar's close %(2%)", d)
            end
            d, E = one_signal("signal_type = 'LONG', order_type = 'LIMIT', limit_price = 200, units = 1, " ..
                              "stop_loss = 0.02, take_profit = 150")
            assert.is_nil(d)
            assert.are.equal(200, E.orders[1].price)
            assert.are.equal(0.02, E.orders[1].stop_loss)
        end)

        it("reports an order the engine refuses and carries on", function()
            local files = { ["scripts/strategies/a.lua"] = scripted({ [1] = "CLOSE" }),
                            ["scripts/strategies/b.lua"] = scripted({ [1] = "LONG", [3] = "LONG" }),
                            ["config/strategies/b.json"] = '{"weight": 2}' }
            local dir = H.tree(files)
            local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3, 4, 5 } } })
            local submit = E.C.mts_engine_submit
            E.C.mts_engine_submit = function(e, o)      -- refuses the first order (b's LONG of bar 1)
                E.C.mts_engine_submit = submit
                return -9
            end
            local logs = {}
            local res = runner.run({ root = dir, strategies = { "a", "b" }, mode = "vote" }, { C = E.C, limits = LIMITS,
                log = function(level, event, fields) logs[#logs + 1] = { event = event, fields = fields } end })
            H.rmtree(dir)
            assert.is_table(res)
            assert.are.same({ "b: order refused by the engine: fake engine error (bitcoin, step 1970-01-02T00:00:00Z)" },
                            res.disabled)
            assert.are.equal(0, #E.orders)      -- b disabled: its LONG of bar 3 is not traded
        end)
    end)

    it("propagates engine failures", function()
        local dir = H.tree({ ["scripts/strategies/s.lua"] = scripted({ [1] = "LONG" }) })
        local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3 } } })
        E.submit_rc = -1          -- out of memory (a refused order is not a failure: below)
        assert.has_error(function()
            runner.run({ root = dir, strategies = { "s" } }, { C = E.C, limits = LIMITS, log = function() end })
        end)
        H.rmtree(dir)
    end)
end)

-- ---- issue 10: no look-ahead, and what a strategy can see ------------------------------------
describe("runner views (issue 10)", function()
    local function src(body, init)
        return "local M = {}\nfunction M.get_parameters() return {} end\n" ..
               "function M.init(ctx)\n" .. (init or "") .. "\nend\n" ..
               "function M.on_bar(ctx, asset, i)\n" .. body .. "\nend\nreturn M"
    end

    it("disables the peek strategy reading close[i+1], naming file and line, before any order", function()
        local peek = src("if ctx.series.close[i + 1] > ctx.close then return { signal_type = 'LONG' } end\n" ..
                         "return { signal_type = 'CLOSE' }")
        local res, msg, _, E = run({ ["scripts/strategies/peek.lua"] = peek }, { "peek" }, nil,
            { { name = "bitcoin", close = { 1, 2, 3, 4, 5 } } })
        assert.is_table(res, msg)
        assert.are.equal(1, #res.disabled)
        assert.matches("^peek: scripts/strategies/peek%.lua:7: look%-ahead: index 1 is in the future " ..
                       "%(this series has 1 value", res.disabled[1])
        assert.matches("(in on_bar, bitcoin bar 1970-01-01T00:00:00Z)", res.disabled[1], 1, true)
        assert.are.equal(0, #E.orders)
    end)

    it("shows the own series up to the current bar only; #series and ctx.n grow with i", function()
        local body = "local s = ctx.series\nprint(i, #s.close, #s.ts, ctx.n, s.close[i], s.ts[i])"
        local res, msg, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body, "print('init', #ctx.series.close)") },
            { "v" }, nil, { { name = "bitcoin", close = { 10, 20, 30 } } })
        assert.is_table(res, msg)
        assert.are.same({ "v: init\t0", "v: 0\t1\t1\t1\t10\t0", "v: 1\t2\t2\t2\t20\t86400",
                          "v: 2\t3\t3\t3\t30\t172800" }, prints)
    end)

    it("a whole-series helper over a view sees only the past", function()
        local body = "local m = mts.sma(ctx.series.close, 2)\nprint(i, #m, m[#m - 1])"
        local _, _, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body) }, { "v" }, nil,
            { { name = "bitcoin", close = { 10, 20, 40 } } })
        -- sma over 0..i: the last value is (close[i-1] + close[i]) / 2
        assert.are.same({ "v: 0\t1\tnan", "v: 1\t2\t15", "v: 2\t3\t30" }, prints)
    end)

    it("another asset's bars through ctx:bars(asset): as-of the step, a peek is disabled", function()
        local body = "local e = ctx:bars('eth')\nprint(i, #e.close, e.close[#e.close - 1])"
        local assets = { { name = "bitcoin", close = { 1, 2, 3 } },
                         { name = "eth", close = { 10, 20, 30, 40 }, ts = { 0, DAY, 2 * DAY, 3 * DAY } } }
        local res, msg, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body) }, { "v" },
            { { key = "v.assets", value = "bitcoin" } }, assets)
        assert.is_table(res, msg)
        assert.are.same({ "v: 0\t1\t10", "v: 1\t2\t20", "v: 2\t3\t30" }, prints)
        local peek = src("local e = ctx:bars('eth')\nif e.close[i + 1] > e.close[i] then return { signal_type = 'LONG' } end")
        local res2, _, _, E = run({ ["scripts/strategies/p.lua"] = peek }, { "p" }, nil, assets)
        assert.matches("^p: scripts/strategies/p%.lua:8: look%-ahead: index 1 is in the future", res2.disabled[1])
        assert.are.equal(0, #E.orders)
    end)

    it("another asset lagging: its view ends at its own last bar at or before the step", function()
        -- eth has no bar on day 1: at bitcoin's bar 1 the eth view still ends at day 0
        local body = "local e = ctx:bars('eth')\nprint(i, #e.close, e.close[#e.close - 1])"
        local assets = { { name = "bitcoin", close = { 1, 2, 3 } },
                         { name = "eth", close = { 10, 30 }, ts = { 0, 2 * DAY } } }
        local _, _, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body) }, { "v" },
            { { key = "v.assets", value = "bitcoin" } }, assets)
        assert.are.same({ "v: 0\t1\t10", "v: 1\t1\t10", "v: 2\t2\t30" }, prints)
    end)

    it("a macro value dated D is visible from the bar that ends at D's end (daily bars: the bar opening at D)", function()
        local body = "local m = ctx:macro('VIX')\nprint(i, m.n, m.v[m.n - 1], #ctx.macro('VIX').v)"
        local res, msg, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body) }, { "v" }, nil,
            { { name = "bitcoin", close = { 1, 2, 3 } } }, { VIX = { ts = { 0, DAY, 2 * DAY, 3 * DAY }, v = { 10, 20, 30, 40 } } })
        assert.is_table(res, msg)
        assert.are.same({ "v: 0\t1\t10\t1", "v: 1\t2\t20\t2", "v: 2\t3\t30\t3" }, prints)
        local peek = src("local m = ctx.macro('VIX')\nif m.v[m.n] > 0 then return { signal_type = 'LONG' } end")
        local res2 = run({ ["scripts/strategies/p.lua"] = peek }, { "p" }, nil,
            { { name = "bitcoin", close = { 1, 2, 3 } } }, { VIX = { ts = { 0, DAY, 2 * DAY, 3 * DAY }, v = { 10, 20, 30, 40 } } })
        assert.matches("^p: scripts/strategies/p%.lua:8: look%-ahead: index 1 is in the future", res2.disabled[1])
    end)

    it("mts.asof_stream over ctx.macro made in init follows the view as it grows", function()
        local init = "ctx.a = mts.asof_stream(ctx.macro('VIX'))"
        local body = "print(i, ctx.a:at(ctx.time))"
        local _, _, _, _, _, prints = run({ ["scripts/strategies/v.lua"] = src(body, init) }, { "v" }, nil,
            { { name = "bitcoin", close = { 1, 2, 3 } } }, { VIX = { ts = { 0, 2 * DAY, 3 * DAY }, v = { 10, 30, 40 } } })
        assert.are.same({ "v: 0\t10", "v: 1\t10", "v: 2\t30" }, prints)
    end)

    it("views are read-only with protected metatables", function()
        for _, body in ipairs({ "ctx:bars('bitcoin').close = 1", "setmetatable(ctx:macro('VIX'), nil)",
                                "ctx:macro('VIX').v[0] = 1" }) do
            local res = run({ ["scripts/strategies/e.lua"] = src(body) }, { "e" }, nil,
                { { name = "bitcoin", close = { 1, 2 } } }, { VIX = { ts = { 0 }, v = { 10 } } })
            assert.are.equal(1, #res.disabled, body)
            assert.matches("e%.lua:7: ", res.disabled[1])
        end
    end)
end)
