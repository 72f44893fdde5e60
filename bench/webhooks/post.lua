-- wrk script: POST pre-signed webhooks, one line of the request file per request.
-- usage: wrk ... -s post.lua URL -- <request-file> <path> <threads>
-- Each line: webhook-id <TAB> webhook-timestamp <TAB> webhook-signature <TAB> body.
-- Thread k of n takes lines k, k+n, k+2n …; each id is sent once unless the file runs out
-- (then it wraps around and "wrapped" counts it: duplicates are answered 200).
-- The database id of every 2xx answer ({"id": N}) is written, one per line, to the file
-- named by the environment variable BENCH_WRK_IDS_FILE, so run.py can look each one up.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, path, nthreads = args[1], args[2], tonumber(args[3])
  reqs, n, idx, wrapped = {}, 0, 0, 0
  c200, c202, c401, c4xx, c5xx, cother = 0, 0, 0, 0, 0, 0
  ids, unparsed = {}, 0
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == tid then
      local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      n = n + 1
      reqs[n] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
        ["X-Forwarded-Proto"] = "https",
      }, body)
    end
    line_no = line_no + 1
  end
end

function request()
  idx = idx + 1
  if idx > n then
    idx = 1
    wrapped = wrapped + 1
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status == 200 or status == 202 then
    local id = body and body:match('"id"%s*:%s*(%d+)')
    if id then ids[#ids + 1] = id else unparsed = unparsed + 1 end
  end
  if status == 202 then c202 = c202 + 1
  elseif status == 200 then c200 = c200 + 1
  elseif status == 401 then c401 = c401 + 1
  elseif status >= 400 and status < 500 then c4xx = c4xx + 1
  elseif status >= 500 then c5xx = c5xx + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local t = {c200 = 0, c202 = 0, c401 = 0, c4xx = 0, c5xx = 0, cother = 0, wrapped = 0, unparsed = 0}
  local out = io.open(os.getenv("BENCH_WRK_IDS_FILE"), "w")
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
    for _, id in ipairs(thread:get("ids") or {}) do
      out:write(id, "\n")
    end
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"s202":%d,"s200":%d,"s401":%d,"s4xx":%d,"s5xx":%d,"sother":%d,"wrapped":%d,"unparsed":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, t.c202, t.c200, t.c401, t.c4xx, t.c5xx, t.cother, t.wrapped, t.unparsed,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
