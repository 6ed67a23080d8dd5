-- config_spec.lua — JSON reading/writing and parameter type checks.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local json = require "json"
local config = require "config"

local function cfg_err(fn, ...)
    local ok, e = pcall(fn, ...)
    assert.is_false(ok)
    assert.is_true(config.is_error(e), tostring(e))
    return e.config_error
end

describe("json", function()
    it("decodes objects, arrays, numbers, strings, literals", function()
        local v = assert(json.decode('{"a": [1, 2.5, -3e2], "b": "x\\u00e9\\n", "c": true, "d": null}'))
        assert.are.same({ 1, 2.5, -300 }, { v.a[1], v.a[2], v.a[3] })
        assert.is_true(json.is_array(v.a))
        assert.are.equal("x\195\169\n", v.b)
        assert.are.equal(true, v.c)
        assert.are.equal(json.null, v.d)
    end)

    it("says where the error is", function()
        local v, err = json.decode('{\n  "a": 1,\n  "b" 2\n}')
        assert.is_nil(v)
        assert.are.equal("line 3, column 7: expected ':'", err)
        assert.matches("trailing", select(2, json.decode("{} x")))
        assert.matches("invalid number", select(2, json.decode("[01]")))
        assert.matches("duplicate key", select(2, json.decode('{"a":1,"a":2}')))
    end)

    it("encodes with sorted keys and round-tripping numbers", function()
        assert.are.equal('{"a":[1,2],"b":{"x":0.1,"y":"q\\""}}',
                         json.encode({ b = { y = 'q"', x = 0.1 }, a = { 1, 2 } }))
        assert.are.equal("[]", json.encode(json.array()))
        assert.are.equal("null", json.encode(0 / 0))
        assert.are.equal("0.30000000000000004", json.encode(0.1 + 0.2))
    end)
end)

describe("config", function()
    local defaults = { lookback_days = 30, position_size = 0.02, name_hint = "x", flag = true,
                       thresholds = { lo = -0.6, hi = 0.6 }, windows = { 7, 14 } }
    local schema = config.strategy_schema(defaults, { lookback_days = "integer" })

    local function load(text)
        local dir = H.tree({ ["config/strategies/v.json"] = text })
        local ok, v = pcall(config.load_file, dir .. "/config/strategies/v.json", "config/strategies/v.json", schema)
        H.rmtree(dir)
        if not ok then error(v, 0) end
        return v
    end

    it("accepts a well-typed file, including the common keys", function()
        local v = load('{"name":"V","lookback_days":20,"thresholds":{"lo":-0.5},"windows":[3],' ..
                       '"assets":["bitcoin"],"weight":2,"risk_management":{"stop_loss_pct":0.05}}')
        assert.are.equal(20, v.lookback_days)
        assert.are.equal(-0.5, v.thresholds.lo)
    end)

    it("names the file and field of a wrong type", function()
        assert.are.equal("config/strategies/v.json: lookback_days must be a number, got string",
                         cfg_err(load, '{"lookback_days": "30"}'))
        assert.are.equal("config/strategies/v.json: lookback_days must be an integer, got 30.5",
                         cfg_err(load, '{"lookback_days": 30.5}'))
        assert.are.equal("config/strategies/v.json: thresholds.hi must be a number, got boolean",
                         cfg_err(load, '{"thresholds": {"hi": true}}'))
        assert.are.equal("config/strategies/v.json: windows[2] must be a number, got string",
                         cfg_err(load, '{"windows": [1, "2"]}'))
        assert.are.equal("config/strategies/v.json: risk_management.stop_loss_pct must be a number, got null",
                         cfg_err(load, '{"risk_management": {"stop_loss_pct": null}}'))
        assert.matches("unknown key 'lookbak_days'", cfg_err(load, '{"lookbak_days": 3}'), 1, true)
    end)

    it("reports invalid JSON with the position", function()
        assert.are.equal("config/strategies/v.json: invalid JSON: line 1, column 22: expected ',' or '}'",
                         cfg_err(load, '{"lookback_days": 30 "x": 1}'))
    end)

    it("a missing file is an empty config", function()
        local v, found = config.load_file("/nonexistent/x.json", "x.json", schema)
        assert.are.same({}, v)
        assert.is_false(found)
    end)

    describe("--param", function()
        local function strategies()
            local a = { name = "a", declared = { fast = 1, slow = 2 },
                        schema = config.strategy_schema({ fast = 10, slow = 30 }, { fast = "integer" }),
                        params = { fast = 10, slow = 30 } }
            local b = { name = "b", declared = { fast = 1, mode = 1 },
                        schema = config.strategy_schema({ fast = 5, mode = "x", on = true }),
                        params = { fast = 5, mode = "x", on = true } }
            return { a, b }, a, b
        end

        it("applies a plain key to every strategy declaring it, typed", function()
            local list, a, b = strategies()
            config.apply_overrides(list, { { key = "fast", value = "7" } })
            assert.are.equal(7, a.params.fast)
            assert.are.equal(7, b.params.fast)
            config.apply_overrides(list, { { key = "on", value = "false" }, { key = "mode", value = "y" } })
            assert.are.equal(false, b.params.on)
            assert.are.equal("y", b.params.mode)
        end)

        it("targets one strategy with a prefix and reaches nested keys", function()
            local list, a, b = strategies()
            config.apply_overrides(list, { { key = "b.fast", value = "3" },
                                           { key = "a.risk_management.stop_loss_pct", value = "0.04" },
                                           { key = "assets", value = "bitcoin, ethereum" } })
            assert.are.equal(10, a.params.fast)
            assert.are.equal(3, b.params.fast)
            assert.are.equal(0.04, a.params.risk_management.stop_loss_pct)
            assert.are.same({ "bitcoin", "ethereum" }, { a.params.assets[1], a.params.assets[2] })
        end)

        it("rejects undeclared keys and values of the wrong type", function()
            local list = strategies()
            assert.matches("--param nope=1: no selected strategy declares 'nope'",
                           cfg_err(config.apply_overrides, list, { { key = "nope", value = "1" } }), 1, true)
            assert.are.equal("--param slow=abc: a.slow must be a number, got 'abc'",
                             cfg_err(config.apply_overrides, list, { { key = "slow", value = "abc" } }))
            assert.are.equal("--param a.fast=2.5: a.fast must be an integer, got 2.5",
                             cfg_err(config.apply_overrides, list, { { key = "a.fast", value = "2.5" } }))
            assert.matches("must be a boolean",
                           cfg_err(config.apply_overrides, list, { { key = "on", value = "maybe" } }))
            assert.matches("strategy b declares no parameter 'slow'",
                           cfg_err(config.apply_overrides, list, { { key = "b.slow", value = "1" } }), 1, true)
        end)
    end)
end)
