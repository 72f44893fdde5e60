-- wrk script: GET one path (headers given with -H), counting answers by status class.
-- usage: wrk ... -s get.lua URL
-- Prints one JSON line with the same keys as post.lua (no ids: a GET stores nothing).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  c200, c202, c401, c4xx, c5xx, cother = 0, 0, 0, 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then c200 = c200 + 1
  elseif status == 202 then c202 = c202 + 1
  elseif status == 401 then c401 = c401 + 1
  elseif status >= 400 and status < 500 then c4xx = c4xx + 1
  elseif status >= 500 then c5xx = c5xx + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local t = {c200 = 0, c202 = 0, c401 = 0, c4xx = 0, c5xx = 0, cother = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"s202":%d,"s200":%d,"s401":%d,"s4xx":%d,"s5xx":%d,"sother":%d,"wrapped":0,"unparsed":0,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, t.c202, t.c200, t.c401, t.c4xx, t.c5xx, t.cother,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
