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
        assert.matches("mode", err)
    end)

    it("routes print to the given function", function()
        local got
        local ok = run("print('hello', 42)", { print = function(...) got = { ... } end })
        assert.is_true(ok)
        assert.are.same({ "hello", 42 }, got)
    end)
end)
