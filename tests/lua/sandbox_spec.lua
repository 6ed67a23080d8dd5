-- sandbox_spec.lua — what a strategy can and cannot reach.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local sandbox = require "sandbox"

local function run(src, opts)
    local dir = H.tree({ ["scripts/strategies/t.lua"] = src })
    local env = sandbox.new_env(opts or { modules = { mts = { marker = true } }, mts = { marker = true } })
    local fn, err = sandbox.compile(dir .. "/scripts/strategies/t.lua", "scripts/strategies/t.lua", env)
    H.rmtree(dir)
    if not fn then return false, err end
    return pcall(fn)
end

describe("sandbox", function()
    it("has no os, io, debug, package, load*, dofile, ffi, jit", function()
        for _, name in ipairs({ "os", "io", "debug", "package", "load", "loadstring", "loadfile",
                                "dofile", "ffi", "jit", "collectgarbage", "rawset", "setfenv",
                                "getfenv", "_G" }) do
            local ok, err = run("return " .. name)
            assert.is_false(ok, name)
            assert.matches("unknown global '" .. name .. "'", err, 1, true)
        end
    end)

    it("raises on unknown global reads and writes, with the file and line", function()
        local ok, err = run("local x = 1\nreturn undefined_thing")
        assert.is_false(ok)
        assert.are.equal("scripts/strategies/t.lua:2: unknown global 'undefined_thing'", err)
        ok, err = run("counter = 1")
        assert.is_false(ok)
        assert.matches("scripts/strategies/t.lua:1: assignment to undeclared global 'counter'", err, 1, true)
    end)

    it("require hands out only vetted modules", function()
        local ok, err = run("return require('ffi')")
        assert.is_false(ok)
        assert.matches("module 'ffi' is not available to strategies (available: mts)", err, 1, true)
        assert.is_false((run("return require('os')")))
        local ok2, m = run("return require('mts')")
        assert.is_true(ok2)
        assert.is_true(m.marker)
    end)

    it("offers the allowed base functions and copies of math, string, table", function()
        local ok, v = run([[
            local t = setmetatable({}, { __index = function() return 7 end })
            local s = string.format("%d-%s", math.floor(2.5), table.concat({ "a", "b" }))
            return s .. tostring(t.x) .. select("#", 1, 2) .. type(pcall) .. tostring(rawequal(t, t))
        ]])
        assert.is_true(ok, v)
        assert.are.equal("2-ab72functiontrue", v)
    end)

    it("cannot patch the runner's libraries", function()
        assert.is_true((run("string.rep = nil; math.floor = nil; table.insert = nil")))
        assert.is_function(string.rep)
        assert.is_function(math.floor)
        -- the shared string metatable is not handed out
        local ok, mt = run("return getmetatable('')")
        assert.is_true(ok)
        assert.is_nil(mt)
        local ok2, no_dump = run("return string.dump == nil")
        assert.is_true(ok2)
        assert.is_true(no_dump)
    end)

    it("refuses bytecode", function()
        local dir = H.tree({})
        local f = assert(io.open(dir .. "/b.lua", "wb"))
        f:write(string.dump(function() return 1 end))
        f:close()
        local fn, err = sandbox.compile(dir .. "/b.lua", "b.lua", sandbox.new_env({}))
        H.rmtree(dir)
        assert.is_nil(fn)
        assert.matches("bytecode is not accepted", err)
    end)

    describe("instrument", function()
        -- runs instrumented source with a counting tick; returns the count and results
        local function run(src, ...)
            local out = assert(sandbox.instrument(src, "t.lua"))
            local chunk = assert(loadstring(out, "=t.lua"))
            local n = 0
            local res = { chunk(function() n = n + 1 end, ...) }
            return n, res[1], out
        end

        it("ticks in loops, function bodies and before goto", function()
            -- f's body on each of its 4 calls (4) + the for body (4) + while (2: j = 0, 1)
            -- + repeat (3: j = 2, 1, 0) + the goto taken twice (g = 1, 2) = 15
            local n, v = run([[
local function f(k) return k end
local s = 0
for i = 1, 4 do s = s + f(i) end
local j = 0
while j < 2 do j = j + 1 end
repeat j = j - 1 until j < 0
local g = 0
::again:: g = g + 1
if g < 3 then goto again end
return s + g]])
            assert.are.equal(13, v)
            assert.are.equal(15, n)
        end)

        it("leaves strings, long strings and comments alone", function()
            local src = 'local a = "while true do end" .. \'repeat\' .. [[function() do]] -- do\n' ..
                        '--[==[ goto x\n do ]==]\nreturn a'
            local n, v = run(src)
            assert.are.equal(0, n)
            assert.are.equal("while true do endrepeatfunction() do", v)
        end)

        it("keeps line numbers", function()
            local out = assert(sandbox.instrument("local x = 1\nfor i = 1, 2 do\n  error('here')\nend\n", "t.lua"))
            local chunk = assert(loadstring(out, "@t.lua"))
            local ok, err = pcall(chunk, function() end)
            assert.is_false(ok)
            assert.matches("^t.lua:3: here", err)
        end)

        it("keeps `goto continue` before a local valid", function()
            local n, v = run([[
local s = 0
for i = 1, 5 do
    if i % 2 == 0 then goto continue end
    local odd = i
    s = s + odd
    ::continue::
end
return s]])
            assert.are.equal(9, v)
            assert.are.equal(5 + 2, n)
        end)

        it("does not turn `do (f)()` into a call of the tick's result", function()
            local n, v = run("local r = 0 local function f() r = r + 1 end do (f)() end return r")
            assert.are.equal(1, v)
            assert.are.equal(2, n)
        end)

        it("reads escapes in strings as Lua does (\\z, escaped line breaks)", function()
            -- if the tokenizer ended a string early or late, the `while` after it
            -- would go without a tick
            local src = 'local s = "a\\z\n   b\\\r\nc" local n = 0 while n < 3 do n = n + 1 end return s'
            local n, v = run(src)
            assert.are.equal(3, n)
            assert.are.equal("ab\nc", v)
            assert.is_nil((sandbox.instrument('local s = "open\n', "t.lua")))
            assert.is_truthy(sandbox.instrument('local s = "open\n', "t.lua", true))
        end)

        it("refuses the reserved name", function()
            local out, err = sandbox.instrument("local __mts_tick = function() end\nwhile true do end", "t.lua")
            assert.is_nil(out)
            assert.matches("t.lua:1: the name __mts_tick is reserved", err)
        end)

        it("stops a JIT-compiled loop through the budget", function()
            sandbox.set_budget(20)
            local out = assert(sandbox.instrument("local x = 0\nwhile true do x = x + 1 end", "spin.lua"))
            local chunk = assert(loadstring(out, "@spin.lua"))
            sandbox.arm()
            local ok, err = pcall(chunk, sandbox.tick)
            assert.is_false(ok)
            assert.matches("^spin.lua:2: time budget of 20 ms exceeded", err)
            assert.is_true(sandbox.tripped())
            sandbox.arm()
            assert.is_false(sandbox.tripped())
            sandbox.set_budget(1000)
        end)
    end)

    it("routes print to the given function", function()
        local got
        local ok = run("print('hello', 42)", { print = function(...) got = { ... } end })
        assert.is_true(ok)
        assert.are.same({ "hello", 42 }, got)
    end)
end)
