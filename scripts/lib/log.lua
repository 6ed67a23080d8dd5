-- log.lua — structured logs from trusted Lua, in the same shape as the C
-- side (runtime/util/log.h): one JSON object per line on stderr,
-- {"ts":"...","level":"warn","event":"strategy.disabled", ...fields}.
-- MTS_LOG_LEVEL (debug|info|warn|error, default warn) filters;
-- MTS_LOG_FORMAT=text prints "level event k=v ..." instead.
local json = require "json"

local M = {}

local LEVELS = { debug = 0, info = 1, warn = 2, error = 3 }

local function threshold()
    return LEVELS[(os.getenv("MTS_LOG_LEVEL") or "warn"):lower()] or LEVELS.warn
end

-- Logger writing to `sink` (a function(line), default io.stderr).
function M.new(sink)
    local min = threshold()
    local text = (os.getenv("MTS_LOG_FORMAT") or "") == "text"
    sink = sink or function(line) io.stderr:write(line, "\n") end
    return function(level, event, fields)
        if (LEVELS[level] or 3) < min then return end
        if text then
            local parts = { level, event }
            local keys = {}
            for k in pairs(fields or {}) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(fields[k]) end
            sink(table.concat(parts, " "))
        else
            local out = { '{"ts":', json.encode(os.date("!%Y-%m-%dT%H:%M:%SZ")),
                          ',"level":', json.encode(level), ',"event":', json.encode(event) }
            local keys = {}
            for k in pairs(fields or {}) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                out[#out + 1] = "," .. json.encode(k) .. ":" .. json.encode(fields[k])
            end
            out[#out + 1] = "}"
            sink(table.concat(out))
        end
    end
end

return M
