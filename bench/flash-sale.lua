-- SPDX-License-Identifier: Apache-2.0
-- wrk script of bench/flash-sale.sh: keep-alive POST /api/holds with a random customer's token
-- and a random quantity 1..BX_FS_QTY_MAX, counting answers by status, because wrk counts a 409
-- or a 503 as a completed request and holds/s must count 201s only. The same script loads nginx
-- (the anchor), so both sides pay the same client cost.
-- Environment:
--   BX_FS_EVENT, BX_FS_TIER  ids of the event and its tier
--   BX_FS_TOKENS             file of bearer tokens, one a line
--   BX_FS_QTY_MAX            largest quantity (4; 1 for the oversell race)
--   BX_FS_PORTS              ports on 127.0.0.1 (default: the URL's); thread i connects to port
--                            i mod n, so one wrk spreads its threads over replicas and still
--                            reports one latency distribution
--   BX_FS_QUOTA              0: run for wrk's -d; N > 0: each thread stops after N answers and
--                            appends a line to BX_FS_DONE (bench/flash-sale.sh then ends wrk)
-- done() prints one line: "bx-flash-sale requests=N s201=N s409=N s503=N sother=N connect=N
-- read=N write=N timeout=N duration_us=N p50_us=N p99_us=N".

local threads = {}

function setup(thread)
  local ports = {}
  for p in string.gmatch(os.getenv("BX_FS_PORTS") or "", "%d+") do
    table.insert(ports, p)
  end
  if #ports > 0 then
    local addrs = wrk.lookup("127.0.0.1", ports[#threads % #ports + 1])
    assert(addrs and #addrs > 0, "cannot resolve 127.0.0.1")
    thread.addr = addrs[1]
  end
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local reqs = {}
local quota, done_file, stopped = 0, nil, false
s201, s409, s503, sother = 0, 0, 0, 0

function init(args)
  local event = assert(os.getenv("BX_FS_EVENT"), "BX_FS_EVENT")
  local tier = assert(os.getenv("BX_FS_TIER"), "BX_FS_TIER")
  local qty_max = tonumber(os.getenv("BX_FS_QTY_MAX") or "4")
  quota = tonumber(os.getenv("BX_FS_QUOTA") or "0")
  done_file = os.getenv("BX_FS_DONE")
  local f = assert(io.open(assert(os.getenv("BX_FS_TOKENS"), "BX_FS_TOKENS"), "r"))
  for token in f:lines() do
    if token ~= "" then
      for q = 1, qty_max do
        local body = string.format('{"event_id":"%s","tier_id":"%s","quantity":%d}', event, tier, q)
        table.insert(reqs, wrk.format("POST", "/api/holds", {
          ["Authorization"] = "Bearer " .. token,
          ["Content-Type"] = "application/json",
        }, body))
      end
    end
  end
  f:close()
  assert(#reqs > 0, "no tokens")
  math.randomseed(os.time() * 100 + (thread_id or 0))
end

function request()
  return reqs[math.random(#reqs)]
end

function response(status, headers, body)
  if status == 201 then
    s201 = s201 + 1
  elseif status == 409 then
    s409 = s409 + 1
  elseif status == 503 then
    s503 = s503 + 1
  else
    sother = sother + 1
  end
  if quota > 0 and not stopped and s201 + s409 + s503 + sother >= quota then
    stopped = true
    local f = assert(io.open(done_file, "a"))
    f:write("done\n")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = { s201 = 0, s409 = 0, s503 = 0, sother = 0 }
  for _, thread in ipairs(threads) do
    for k in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    "bx-flash-sale requests=%d s201=%d s409=%d s503=%d sother=%d connect=%d read=%d write=%d"
      .. " timeout=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, t.s201, t.s409, t.s503, t.sother, e.connect, e.read, e.write, e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
