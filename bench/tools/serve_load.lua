-- wrk script for bench/serve.sh: lookups of known customers (ids from $IDS, one per line), a share of them
-- replaced by recorded responses ($RECORD_SHARE, 0..1), at about $RATE requests per second over all
-- connections when $RATE > 0 (each connection waits a random 0 to 2 x connections/RATE seconds between
-- requests, connections/RATE on average; wrk measures latency from send to answer, so the wait is not counted). Prints one JSON line at the end.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local share = tonumber(os.getenv("RECORD_SHARE") or "0")
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "1")
local counter = 0
local tag = tostring(math.random(1, 1e9))

function setup(thread) thread:set("tag", tostring(math.random(1, 1e9))) end

function init(args)
  math.randomseed(os.time() + math.random(1, 1e6))
end

function delay()
  -- Uniform in [0, 2 * connections / rate): the same mean wait, but the connections do not move in step
  -- (a fixed wait keeps them in lockstep, so every 10 ms all of them send at once: bursts no real channel makes).
  if rate > 0 then return math.random(0, math.floor(2000 * connections / rate) - 1) end
  return 0
end

function request()
  local id = ids[math.random(1, #ids)]
  if share > 0 and math.random() < share then
    counter = counter + 1
    local body = string.format('{"offer_id":"O01","channel":"email","outcome":"ignored","date":"2026-12-01","event_id":"bench-%s-%d"}', tag, counter)
    return wrk.format("POST", "/v1/customers/" .. id .. "/responses", {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/v1/customers/" .. id .. "/nba")
end

function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "p999_ms": %.3f, "max_ms": %.3f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
