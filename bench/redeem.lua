-- wrk: each request redeems the next fresh token of TOKENS with a new Idempotency-Key.
-- Used only when the shared yardstick's own script is absent.
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  i, step = id, tonumber(os.getenv("WRK_THREADS") or "2")
  auth, prefix = "Bearer " .. os.getenv("API_KEY"), os.getenv("KEY_PREFIX") or "k"
end
function request()
  local t = tokens[(i % #tokens) + 1]
  i = i + step
  return wrk.format("POST", "/v1/redemptions", {["Content-Type"] = "application/json",
    ["Authorization"] = auth, ["Idempotency-Key"] = prefix .. "-" .. id .. "-" .. i},
    '{"token":"' .. t .. '"}')
end
function done(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
