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

    it("accepts risk_management.max_portfolio_risk (a strategy's own book limit)", function()
        local v = load('{"risk_management":{"max_portfolio_risk":0.15,"max_position_size":0.05}}')
        assert.are.equal(0.15, v.risk_management.max_portfolio_risk)
        assert.are.equal("config/strategies/v.json: risk_management.max_portfolio_risk must be a number, got string",
                         cfg_err(load, '{"risk_management": {"max_portfolio_risk": "lots"}}'))
    end)

    it("reads config/mts.json's risk section, refusing unknown keys and non-numbers", function()
        local dir = H.tree({ ["config/mts.json"] = '{"risk": {"max_position": 0.2, "max_portfolio_risk": 0.5}}' })
        local r = config.site_risk(dir)
        H.rmtree(dir)
        assert.are.equal(0.2, r.max_position)
        assert.are.equal(0.5, r.max_portfolio_risk)
        dir = H.tree({ ["config/mts.json"] = '{"risk": {"max_positon": 0.2}}' })
        local msg = cfg_err(config.site_risk, dir)
        H.rmtree(dir)
        assert.are.equal("config/mts.json: unknown key risk.max_positon (known: max_position, max_portfolio_risk)", msg)
        dir = H.tree({ ["config/mts.json"] = '{"risk": {"max_position": "0.2"}}' })
        msg = cfg_err(config.site_risk, dir)
        H.rmtree(dir)
        assert.are.equal("config/mts.json: risk.max_position must be a number, got string", msg)
        dir = H.tree({})
        assert.is_nil(config.site_risk(dir))
        H.rmtree(dir)
    end)

    it("reports invalid JSON with the position", function()
        assert.are.equal("config/strategies/v.json: invalid JSON: line 1, column 22: expected ',' or '}'",
                         cfg_err(load, '{"lookback_days": 30 "x": 1}'))
    end)

    -- hostile files (issue 9): never a traceback, never a hang, never unbounded memory
    local function load_path(path, display)
        return config.load_file(path, display or "config/strategies/v.json", schema)
    end

    it("refuses a directory, naming the path", function()
        local dir = H.tree({})
        os.execute("mkdir '" .. dir .. "/config/strategies/v.json'")
        local ok, e = pcall(load_path, dir .. "/config/strategies/v.json")
        H.rmtree(dir)
        assert.is_false(ok)
        assert.is_true(config.is_error(e), tostring(e))
        assert.are.equal("config/strategies/v.json: not a regular file (a directory); "
                         .. "a strategy config is a JSON file", e.config_error)
    end)

    it("refuses a FIFO without blocking on it", function()
        local dir = H.tree({})
        local p = dir .. "/config/strategies/v.json"
        assert(os.execute("mkfifo '" .. p .. "'") == 0)
        -- today io.open() waits for a writer forever; run it in a child with a time limit
        local cmd = ("timeout 20 luajit -e 'package.path=%q; local c=require [[config]]; "
                     .. "local ok,e=pcall(c.load_file,%q,[[v.json]],{}); "
                     .. "io.write(ok and [[ok]] or (type(e)==[[table]] and e.config_error or tostring(e)))' 2>&1")
                    :format(package.path, p)
        local h = io.popen(cmd)
        local out = h:read("*a")
        h:close()
        H.rmtree(dir)
        assert.are.equal("v.json: not a regular file (a FIFO); a strategy config is a JSON file", out)
    end)

    it("refuses /dev/zero and files over the size limit", function()
        local ok, e = pcall(load_path, "/dev/zero", "/dev/zero")
        assert.is_false(ok)
        assert.is_true(config.is_error(e), tostring(e))
        assert.are.equal("/dev/zero: not a regular file (a device); a strategy config is a JSON file",
                         e.config_error)
        -- 1 MiB + 1 byte of valid JSON: refused before it is read
        local big = '{"name":"' .. ("x"):rep(1048576 - 11) .. '"}' .. " "
        assert.are.equal(1048577, #big)
        assert.are.equal("config/strategies/v.json: too large (1048577 bytes; the limit is 1048576)",
                         cfg_err(load, big))
        -- exactly at the limit is fine
        assert.are.equal(("x"):rep(1048576 - 11), load(big:sub(1, -2)).name)
    end)

    it("skips a UTF-8 byte order mark", function()
        local v = load("\239\187\191" .. '{"lookback_days": 12}')
        assert.are.equal(12, v.lookback_days)
    end)

    it("integers must be exact and within +-2^53", function()
        assert.are.equal("config/strategies/v.json: lookback_days must be an integer between "
                         .. "-2^53 and 2^53, got 1e+308", cfg_err(load, '{"lookback_days": 1e308}'))
        assert.matches("lookback_days must be an integer between",
                       cfg_err(load, '{"lookback_days": -1e16}'), 1, true)
        assert.are.equal(9007199254740992, load('{"lookback_days": 9007199254740992}').lookback_days)
        assert.are.equal(-9007199254740992, load('{"lookback_days": -9007199254740992}').lookback_days)
        -- a plain number may be large
        assert.are.equal(1e308, load('{"position_size": 1e308}').position_size)
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
            assert.are.equal("--param a.fast=1e308: a.fast must be an integer between -2^53 and 2^53, got 1e+308",
                             cfg_err(config.apply_overrides, list, { { key = "a.fast", value = "1e308" } }))
            assert.matches("must be a boolean",
                           cfg_err(config.apply_overrides, list, { { key = "on", value = "maybe" } }))
            assert.matches("strategy b declares no parameter 'slow'",
                           cfg_err(config.apply_overrides, list, { { key = "b.slow", value = "1" } }), 1, true)
        end)
    end)
end)
