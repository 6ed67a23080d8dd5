-- runner_live_spec.lua — the runner's live mode (spec.live): warm-up bars
-- replayed with orders off, bars appended while running (views grow), the
-- wait for bars through C.mts_live_wait, and hot reload (on_reload gets the
-- old state; a broken version is reported and the old one keeps running).
-- The Lua fake engine (helpers/fake_engine.lua) plays the engine; the live
-- functions are scripted here.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local runner = require "runner"
local fake = require "fake_engine"

local DAY = 86400
local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

-- A live fake: all bars are allocated, the first `warm` are visible; each
-- wait makes one more visible (returns 1), then `script[k]` (a function
-- returning a wait code and mask) runs on the k-th wait when present; after
-- the last bar the wait returns 0 (stop).
local function live(closes, warm, script, macros)
    local E = fake.new({ { name = "bitcoin", close = closes } }, macros)
    local b = E.assets[0].bars
    b.n = warm
    E.times = {}
    for i = 0, warm - 1 do E.times[#E.times + 1] = tonumber(b.ts[i]) end
    E.waits, E.watched = 0, {}
    function E.C.mts_live_watch(_, path)
        E.watched[#E.watched + 1] = path
        return #E.watched - 1
    end
    -- the reload mask bit of the watched file whose path matches pat
    function E.bit(pat)
        for k, p in ipairs(E.watched) do
            if p:match(pat) then return bit.lshift(1, k - 1) end
        end
        error("not watched: " .. pat)
    end
    function E.C.mts_live_wait(_, out)
        E.waits = E.waits + 1
        local s = script and script[E.waits]
        if s then
            local code, mask = s(E)
            if code then out[0] = mask or 0 return code end
        end
        local n = tonumber(b.n)
        if n >= #closes then return 0 end
        b.n = n + 1
        E.times[#E.times + 1] = tonumber(b.ts[n])
        E.step = #E.times - 1     -- the fake's next() steps to the new time
        return 1
    end
    return E
end

local function run_live(dir, E, strategies)
    local logs = {}
    local res, msg = runner.run({ root = dir, strategies = strategies, live = true }, {
        C = E.C, limits = LIMITS,
        log = function(level, event, fields) logs[#logs + 1] = { level = level, event = event, fields = fields } end,
        print = function() end,
    })
    return res, msg, logs
end

-- Signals LONG on every bar from bar 2 on; records what it saw per bar.
local SEEN = [[
local M = {}
function M.get_parameters() return { size = 0.05 } end
function M.init(ctx) ctx.state.seen = {} end
function M.on_bar(ctx, asset, i)
    local c = ctx.series.close
    ctx.state.seen[#ctx.state.seen + 1] = { i = i, n = ctx.n, len = #c, close = c[i] }
    print(i, ctx.n, #c, c[i])
    if i >= 2 then return { signal_type = "LONG", confidence = 1, position_size = ctx.params.size } end
end
return M
]]

describe("runner, live mode", function()
    it("replays warm-up bars without orders, then trades appended bars with grown views", function()
        local dir = H.tree({ ["scripts/strategies/s.lua"] = SEEN })
        local E = live({ 1, 2, 3, 4, 5, 6 }, 4, nil)
        local prints = {}
        local res = runner.run({ root = dir, strategies = { "s" }, live = true }, {
            C = E.C, limits = LIMITS, log = function() end,
            print = function(_, text) prints[#prints + 1] = text end,
        })
        H.rmtree(dir)
        assert.is_table(res)
        -- bars 0..3 were warm-up: their LONGs (bars 2, 3) were dropped; bars 4, 5 were live
        assert.are.equal(2, #E.signals)
        assert.are.equal(1, #E.orders)          -- LONG while long adds nothing: risk sizes once
        assert.are.equal(4 * DAY, E.orders[1].ts)
        -- the views grew with the bars: on bar i the strategy saw n = i + 1 and close[i],
        -- in the warm-up replay too (issue 10: as in a backtest, never a later bar)
        assert.are.same({ "0\t1\t1\t1", "1\t2\t2\t2", "2\t3\t3\t3", "3\t4\t4\t4", "4\t5\t5\t5", "5\t6\t6\t6" },
                        prints)
        assert.are.equal(3, E.waits)            -- after bars 3, 4, 5 (the third returned stop)
        assert.is_number(E.bit("scripts/strategies/s%.lua$"))
    end)

    it("reloads a changed strategy: replay, on_reload(old_state), takes over at the next bar", function()
        local V1 = [[
local M = {}
function M.get_parameters() return {} end
function M.init(ctx) ctx.state.count = 0 end
function M.on_bar(ctx) ctx.state.count = ctx.state.count + 1 end
return M
]]
        local V2 = [[
local M = {}
function M.get_parameters() return {} end
function M.init(ctx) ctx.state.count = 0 end
function M.on_reload(ctx, old) ctx.state.old = old.count end
function M.on_bar(ctx, asset, i)
    ctx.state.count = ctx.state.count + 1
    if ctx.state.old then return { signal_type = "LONG", confidence = ctx.state.old / 10 } end
end
return M
]]
        local dir = H.tree({ ["scripts/strategies/p.lua"] = V1 })
        local path = dir .. "/scripts/strategies/p.lua"
        local function write(text) local f = assert(io.open(path, "w")) f:write(text) f:close() end
        local E = live({ 1, 2, 3, 4, 5, 6 }, 3, {
            [2] = function(E) write("local M = {}\nreturn M +\n") return 2, E.bit("strategies/p%.lua$") end,   -- broken: kept v1
            [3] = function(E) write(V2) return 2, E.bit("strategies/p%.lua$") end,
        })
        local res, _, logs = run_live(dir, E, { "p" })
        H.rmtree(dir)
        assert.is_table(res)
        local failed, reloaded
        for _, l in ipairs(logs) do
            if l.event == "strategy.reload_failed" then failed = l.fields.message end
            if l.event == "strategy.reloaded" then reloaded = true end
        end
        assert.matches("^scripts/strategies/p%.lua:3:", failed)
        assert.is_true(reloaded)
        -- reload after bar 3 (4 bars seen by v1): v2 signals on bars 4 and 5 with the old count 4
        assert.are.equal(2, #E.signals)
        assert.are.equal(0.4, E.signals[1].confidence)
        assert.are.equal(0.4, E.signals[2].confidence)
    end)

    it("keeps the old version when the new one fails in init, naming the phase", function()
        local V1 = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                   "function M.on_bar(ctx, a, i) if i >= 3 then return { signal_type = 'LONG' } end end\nreturn M\n"
        local BAD = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                    "function M.init(ctx) error('no init') end\nfunction M.on_bar() end\nreturn M\n"
        local dir = H.tree({ ["scripts/strategies/p.lua"] = V1 })
        local path = dir .. "/scripts/strategies/p.lua"
        local E = live({ 1, 2, 3, 4, 5 }, 3, {
            [1] = function()
                local f = assert(io.open(path, "w")) f:write(BAD) f:close()
                return 2, -1
            end,
        })
        local res, _, logs = run_live(dir, E, { "p" })
        H.rmtree(dir)
        assert.is_table(res)
        local msg
        for _, l in ipairs(logs) do if l.event == "strategy.reload_failed" then msg = l.fields.message end end
        assert.matches("p%.lua:3: no init %(in init, bitcoin%)", msg)
        assert.are.equal(2, #E.signals)        -- v1 still signalling on bars 3 and 4
    end)

    it("replays history for a reload with the views as of each bar: a peek fails the reload (issue 10)", function()
        local V1 = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                   "function M.on_bar(ctx, a, i) if i >= 3 then return { signal_type = 'LONG' } end end\nreturn M\n"
        local PEEK = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                     "function M.on_bar(ctx, a, i) return ctx.series.close[i + 1] end\nreturn M\n"
        local dir = H.tree({ ["scripts/strategies/p.lua"] = V1 })
        local path = dir .. "/scripts/strategies/p.lua"
        local E = live({ 1, 2, 3, 4, 5 }, 3, {
            [1] = function()
                local f = assert(io.open(path, "w")) f:write(PEEK) f:close()
                return 2, -1
            end,
        })
        local res, _, logs = run_live(dir, E, { "p" })
        H.rmtree(dir)
        assert.is_table(res)
        local msg
        for _, l in ipairs(logs) do if l.event == "strategy.reload_failed" then msg = l.fields.message end end
        assert.matches("p%.lua:3: look%-ahead: index 1 is in the future %(this series has 1 value", msg)
        assert.matches("(in on_bar replay, bitcoin)", msg, 1, true)
        assert.are.equal(2, #E.signals)        -- v1 still signalling on bars 3 and 4
    end)

    -- issue 9: resize_series used to write the length into whatever sat in
    -- the shared ctx.series table (a number: a write to that address; a
    -- strategy's own 4-element series: "checked" reads far past it)
    it("keeps ctx.series read-only: the attacker is disabled, the others trade on", function()
        for _, body in ipairs({ "ctx.series.mine = mts.series(4)", "ctx.series.pwn = 0xdeadbeef" }) do
            local EVIL = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                         "function M.init(ctx) " .. body .. " end\n" ..
                         "function M.on_bar(ctx, asset, i) print('evil', #ctx.series.mine) end\nreturn M\n"
            local dir = H.tree({ ["scripts/strategies/evil.lua"] = EVIL, ["scripts/strategies/s.lua"] = SEEN })
            local E = live({ 1, 2, 3, 4, 5, 6 }, 4, nil)
            local prints = {}
            local res = runner.run({ root = dir, strategies = { "evil", "s" }, live = true }, {
                C = E.C, limits = LIMITS, log = function() end,
                print = function(name, text) prints[#prints + 1] = name .. ": " .. text end,
            })
            H.rmtree(dir)
            assert.is_table(res)
            assert.are.equal(1, #res.disabled)
            assert.matches("^evil: scripts/strategies/evil%.lua:3: ctx%.series is read%-only %(assignment to %w+%) " ..
                           "%(in init, bitcoin%)$", res.disabled[1])
            -- s as alone (first test): bars 4 and 5 signalled, one order, the views grew
            assert.are.equal(2, #E.signals)
            assert.are.equal(1, #E.orders)
            assert.are.same({ "s: 0\t1\t1\t1", "s: 1\t2\t2\t2", "s: 2\t3\t3\t3", "s: 3\t4\t4\t4",
                              "s: 4\t5\t5\t5", "s: 5\t6\t6\t6" }, prints)
        end
    end)

    it("shows a strategy the same as-of values live as in a backtest (issue 10)", function()
        -- VIX dated days 0, 2, 3, 7: a value dated D is visible from the bar opening at D
        local SEE = [[
local M = {}
function M.get_parameters() return {} end
function M.init(ctx) ctx.a = mts.asof_stream(ctx.macro("VIX")) end
function M.on_bar(ctx, asset, i)
    local m, s = ctx:macro("VIX"), ctx.series
    print(i, ctx.n, #s.close, s.close[#s.close - 1], m.n, m.n > 0 and m.v[m.n - 1] or "none", ctx.a:at(ctx.time))
    local ok, err = pcall(function() return s.close[i + 1] end)
    print(i, ok, (tostring(err):gsub("^.-look%-ahead", "look-ahead")))
end
return M
]]
        local macros = { VIX = { ts = { 0, 2 * DAY, 3 * DAY, 7 * DAY }, v = { 10, 30, 40, 80 } } }
        local closes = { 1, 2, 3, 4, 5, 6 }
        local function collect(is_live)
            local dir = H.tree({ ["scripts/strategies/s.lua"] = SEE })
            local E = is_live and live(closes, 3, nil, macros) or fake.new({ { name = "bitcoin", close = closes } }, macros)
            local prints = {}
            local res = runner.run({ root = dir, strategies = { "s" }, live = is_live or nil }, {
                C = E.C, limits = LIMITS, log = function() end,
                print = function(_, text) prints[#prints + 1] = text end,
            })
            H.rmtree(dir)
            assert.is_table(res)
            return prints
        end
        local bt, lv = collect(false), collect(true)
        assert.are.same(bt, lv)
        -- and they are the as-of values, computed by hand
        assert.are.same({
            "0\t1\t1\t1\t1\t10\t10", "0\tfalse\tlook-ahead: index 1 is in the future (this series has 1 value up to the current bar, 0 .. 0)",
            "1\t2\t2\t2\t1\t10\t10", "1\tfalse\tlook-ahead: index 2 is in the future (this series has 2 values up to the current bar, 0 .. 1)",
            "2\t3\t3\t3\t2\t30\t30", "2\tfalse\tlook-ahead: index 3 is in the future (this series has 3 values up to the current bar, 0 .. 2)",
            "3\t4\t4\t4\t3\t40\t40", "3\tfalse\tlook-ahead: index 4 is in the future (this series has 4 values up to the current bar, 0 .. 3)",
            "4\t5\t5\t5\t3\t40\t40", "4\tfalse\tlook-ahead: index 5 is in the future (this series has 5 values up to the current bar, 0 .. 4)",
            "5\t6\t6\t6\t3\t40\t40", "5\tfalse\tlook-ahead: index 6 is in the future (this series has 6 values up to the current bar, 0 .. 5)",
        }, bt)
    end)

    -- issue 10: a 1h feed drives a 4h strategy. ctx:bars(own asset, "4h") is
    -- built from the run's own 1h bars as they are stepped (no provider in
    -- this run): each 4h bar appears when its 4th hour closes, in a live
    -- session (bars appended) exactly as in a backtest over the same hours.
    it("ctx:bars(own, '4h') at 1h: each 4h bar appears when its 4th hour closes, live as in a backtest", function()
        local H1, T0 = 3600, 1704067200          -- 2024-01-01 00:00 UTC, on the 4h grid
        local N = 14                             -- 3 whole 4h bars and 2 hours of a 4th
        local o, h, l, c, v, ts = {}, {}, {}, {}, {}, {}
        for k = 1, N do
            ts[k] = T0 + (k - 1) * H1
            o[k] = 100 + ((k * 37) % 11) + 0.25
            c[k] = 100 + ((k * 53) % 13) + 0.5
            h[k] = math.max(o[k], c[k]) + (k % 3) + 0.125
            l[k] = math.min(o[k], c[k]) - (k % 4) - 0.375
            v[k] = 10 + (k * 7) % 5 + 0.0625 * k
        end
        local SEE4 = [[
local M = {}
function M.get_parameters() return {} end
function M.init(ctx) ctx.state.b4 = ctx:bars("bitcoin", "4h") end
function M.on_bar(ctx, asset, i)
    local b = ctx.state.b4
    local n = #b.close
    if n == 0 then print(i, 0) return end
    local j = n - 1
    print(i, n, b.ts[j], b.open[j], b.high[j], b.low[j], b.close[j], b.volume[j], pcall(function() return b.close[n] end))
end
return M
]]
        local function fakeE(warm)
            local E = fake.new({ { name = "bitcoin", ts = ts, open = o, high = h, low = l, close = c, volume = v } })
            if not warm then return E end
            local b = E.assets[0].bars
            b.n = warm
            E.times = {}
            for i = 0, warm - 1 do E.times[#E.times + 1] = tonumber(b.ts[i]) end
            function E.C.mts_live_watch() return 0 end
            function E.C.mts_live_wait()
                local n = tonumber(b.n)
                if n >= N then return 0 end
                b.n = n + 1
                E.times[#E.times + 1] = tonumber(b.ts[n])
                E.step = #E.times - 1
                return 1
            end
            return E
        end
        local function collect(warm)
            local dir = H.tree({ ["scripts/strategies/s4.lua"] = SEE4 })
            local E = fakeE(warm)
            local prints = {}
            local res, msg = runner.run({ root = dir, strategies = { "s4" }, live = warm and true or nil, interval = "1h" }, {
                C = E.C, limits = LIMITS, log = function() end,
                print = function(_, text) prints[#prints + 1] = text end,
            })
            H.rmtree(dir)
            assert.is_table(res, msg)
            assert.are.same({}, res.disabled)
            return prints
        end
        -- the expected lines, aggregated here: after hour i (0-based) the closed
        -- 4h bars are floor((i + 1) / 4); the last one covers hours 4j .. 4j+3
        local want = {}
        for i = 0, N - 1 do
            local n = math.floor((i + 1) / 4)
            if n == 0 then
                want[#want + 1] = ("%d\t0"):format(i)
            else
                local a = 4 * (n - 1) + 1
                local hi, lo, vol = h[a], l[a], 0
                for k = a, a + 3 do
                    hi = math.max(hi, h[k]); lo = math.min(lo, l[k]); vol = vol + v[k]
                end
                want[#want + 1] = table.concat({ i, n, ts[a], tostring(o[a]), tostring(hi), tostring(lo),
                    tostring(c[a + 3]), tostring(vol), "false",
                    ("scripts/strategies/s4.lua:9: look-ahead: index %d is in the future (this series has %d value%s up to the current bar, 0 .. %d)"):format(
                        n, n, n == 1 and "" or "s", n - 1) }, "\t")
            end
        end
        local bt = collect(nil)
        assert.are.same(want, bt)
        local lv = collect(5)                    -- 5 warm-up hours, then 9 appended one by one
        assert.are.same(bt, lv)
    end)

    it("ctx:bars(own, '4h') over run bars off the 1h grid stops the run naming the bar", function()
        -- 00:30, 01:30, ...: not on the hour grid (the bars before the first 4h open,
        -- 04:00, are the history's; 04:30 is the first pushed)
        local T0 = 1704067200 + 1800
        local dir = H.tree({ ["scripts/strategies/g.lua"] = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
            "function M.init(ctx) ctx.state.b = ctx:bars('bitcoin', '4h') end\nfunction M.on_bar() end\nreturn M\n" })
        local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3, 4, 5, 6 },
                                   ts = { T0, T0 + 3600, T0 + 7200, T0 + 10800, T0 + 14400, T0 + 18000 } } })
        local ok, err = pcall(runner.run, { root = dir, strategies = { "g" }, interval = "1h" },
            { C = E.C, limits = LIMITS, log = function() end, print = function() end })
        H.rmtree(dir)
        assert.is_false(ok)
        local want = 'ctx:bars("bitcoin", "4h"): the run\'s bar 4 (2024-01-01T04:30:00Z) is out of order or not ' ..
            "on the 1h grid: resampling needs the run's bars on their interval's grid\n"
        assert.are.equal(want, tostring(err):sub(1, #want))
    end)

    it("ctx:bars(own, '1w') in a 3d run is refused at the strategy's line (a week is no whole number of 3d bars)", function()
        local dir = H.tree({ ["scripts/strategies/w.lua"] = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
            "function M.init(ctx) ctx.state.b = ctx:bars('bitcoin', '1w') end\nfunction M.on_bar() end\nreturn M\n" })
        local D3 = 3 * DAY
        local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3 }, ts = { 0, D3, 2 * D3 } } })
        local res = runner.run({ root = dir, strategies = { "w" }, interval = "3d" },
            { C = E.C, limits = LIMITS, log = function() end, print = function() end })
        H.rmtree(dir)
        assert.are.equal('w: scripts/strategies/w.lua:3: ctx:bars("bitcoin", "1w"): 1w bars are not made of whole 3d ' ..
            "bars (the run's interval); ask for one that is (in init, bitcoin)", res.disabled[1])
    end)
    -- LuaJIT's trace thresholds for a session (runner.lua LIVE_JIT, docs/live.md
    -- "Kline -> order latency"): handed to jit.opt.start by a live run only;
    -- MTS_JIT_LIVE replaces them, "default" leaves LuaJIT's own, a malformed
    -- value stops the run naming the variable.
    it("sets the session's JIT thresholds (MTS_JIT_LIVE), a backtest none", function()
        local V = "local M = {}\nfunction M.get_parameters() return {} end\n" ..
                  "function M.on_bar(ctx, a, i) if i >= 3 then return { signal_type = 'LONG' } end end\nreturn M\n"
        local dir = H.tree({ ["scripts/strategies/j.lua"] = V })
        local real_start, real_getenv = jit.opt.start, os.getenv
        local env, calls = {}, {}
        os.getenv = function(k) if env[k] ~= nil then return env[k] or nil end return real_getenv(k) end
        jit.opt.start = function(...) calls[#calls + 1] = { ... } return real_start(...) end
        local function session(value)
            env.MTS_JIT_LIVE = value
            calls = {}
            local res, msg = run_live(dir, live({ 1, 2, 3, 4, 5 }, 3, nil), { "j" })
            return res, msg, calls
        end
        local ok, err = pcall(function()
            local res, _, c = session(false)        -- unset: the runner's own
            assert.is_table(res)
            assert.are.same({ { "hotexit=2", "hotloop=8" } }, c)
            res, _, c = session("hotexit=3  hotloop=20")
            assert.is_table(res)
            assert.are.same({ { "hotexit=3", "hotloop=20" } }, c)
            res, _, c = session("default")
            assert.is_table(res)
            assert.are.same({}, c)
            local msg
            res, msg = session("hotexit=x")
            assert.is_nil(res)
            assert.matches("MTS_JIT_LIVE='hotexit=x'", msg, 1, true)
            -- a backtest: none
            env.MTS_JIT_LIVE = false
            calls = {}
            local E = fake.new({ { name = "bitcoin", close = { 1, 2, 3, 4, 5 } } })
            res = runner.run({ root = dir, strategies = { "j" } }, { C = E.C, limits = LIMITS, log = function() end,
                                                                     print = function() end })
            assert.is_table(res)
            assert.are.same({}, calls)
        end)
        jit.opt.start, os.getenv = real_start, real_getenv
        real_start("hotexit=10", "hotloop=56")        -- LuaJIT's defaults again for the other specs
        H.rmtree(dir)
        assert(ok, err)
    end)
end)
