"""Shared breaker state in Redis: every decision is one Lua script, atomic for the fleet.

One hash per breaker (``opsportal:breaker:{name}``) holds the state, a version
that bumps on every transition, the open deadline, the aggregated window
totals and the half-open probe counters; a list (``…:w``) holds the flushed
batches that make up the sliding window. Times are Redis' own clock
(``TIME``), so process clocks never have to agree.

Scripts return ``[state, version, remaining_ms, calls, failures, slow,
decided, cause, failure_rate, slow_rate, last_error, outcome]``; ``decided``
is non-empty only for the one caller whose script made a transition, and that
caller alone records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

KEY_PREFIX = "opsportal:breaker:"

_HEAD = """
local key, wkey = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', key, 'state', 'version', 'open_until', 'wc', 'wf', 'ws', 'ho_issued', 'ho_succ', 'ho_lease')
local state = h[1] or 'closed'
local version = tonumber(h[2] or '0')
local open_until = tonumber(h[3] or '0')
local wc, wf, ws = tonumber(h[4] or '0'), tonumber(h[5] or '0'), tonumber(h[6] or '0')
local ho_issued, ho_succ, ho_lease = tonumber(h[7] or '0'), tonumber(h[8] or '0'), tonumber(h[9] or '0')
local decided, cause, fr, sr, outcome = '', '', '', '', ''
local function remaining()
  if state == 'open' then return math.max(0, open_until - now) end
  if state == 'half_open' then return math.max(0, ho_lease - now) end
  return 0
end
local function reply()
  local err = ''
  if decided ~= '' then err = redis.call('HGET', key, 'last_error') or '' end
  return {state, version, remaining(), wc, wf, ws, decided, cause, fr, sr, err, outcome}
end
local function go(to, why, open_ms)
  state = to
  version = version + 1
  decided = to
  cause = why
  if to == 'open' then open_until = now + open_ms end
  redis.call('DEL', wkey)
  redis.call('HSET', key, 'state', state, 'version', version, 'open_until', open_until,
    'wc', 0, 'wf', 0, 'ws', 0, 'ho_issued', 0, 'ho_succ', 0, 'ho_lease', 0, 'changed_at', now)
end
"""

# ARGV: calls failures slow threshold min_calls window_type window_size slow_threshold open_ms last_error
FLUSH = _HEAD + """
local calls, fails, slow = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local thr, minc, wtype, wsize = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local sthr, open_ms, err = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
if state ~= 'closed' or calls == 0 then return reply() end
redis.call('LPUSH', wkey, now .. ':' .. calls .. ':' .. fails .. ':' .. slow)
wc, wf, ws = wc + calls, wf + fails, ws + slow
while true do
  local oldest = redis.call('LINDEX', wkey, -1)
  if not oldest then break end
  local ts, c, f, s = string.match(oldest, '^(%d+):(%d+):(%d+):(%d+)$')
  ts, c, f, s = tonumber(ts), tonumber(c), tonumber(f), tonumber(s)
  local evict
  if wtype == 'time' then evict = ts <= now - wsize * 1000 else evict = (wc - c) >= wsize end
  if not evict then break end
  redis.call('RPOP', wkey)
  wc, wf, ws = wc - c, wf - f, ws - s
end
if wtype == 'time' then redis.call('PEXPIRE', wkey, wsize * 1000 + 60000) else redis.call('PEXPIRE', wkey, 86400000) end
if err ~= '' then redis.call('HSET', key, 'last_error', err) end
if wc >= minc then
  local frate, srate = wf * 100 / wc, ws * 100 / wc
  fr, sr = string.format('%.2f', frate), string.format('%.2f', srate)
  if frate >= thr then
    go('open', 'failure_rate', open_ms)
    return reply()
  elseif srate >= sthr then
    go('open', 'slow_call_rate', open_ms)
    return reply()
  end
end
redis.call('HSET', key, 'wc', wc, 'wf', wf, 'ws', ws)
return reply()
"""

READ = _HEAD + """
return reply()
"""

# ARGV: permitted lease_ms   -> outcome normal | granted | denied
ACQUIRE = _HEAD + """
local permitted, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
if state == 'closed' or state == 'disabled' then outcome = 'normal'; return reply() end
if state == 'forced_open' then outcome = 'denied'; return reply() end
if state == 'open' then
  if now < open_until then outcome = 'denied'; return reply() end
  go('half_open', 'open_duration_elapsed', 0)
  ho_issued, ho_succ, ho_lease = 0, 0, now + lease_ms
  redis.call('HSET', key, 'ho_lease', ho_lease)
end
if now > ho_lease then
  -- probes that never reported (their process died): hand the permits out again
  ho_issued, ho_lease = 0, now + lease_ms
  redis.call('HSET', key, 'ho_issued', 0, 'ho_lease', ho_lease)
end
if ho_issued < permitted then
  ho_issued = ho_issued + 1
  redis.call('HSET', key, 'ho_issued', ho_issued)
  outcome = 'granted'
else
  outcome = 'denied'
end
return reply()
"""

# ARGV: probe_version result(success|failure|ignored) success_threshold open_ms last_error
PROBE_RESULT = _HEAD + """
local pv, result, sthr, open_ms, err = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if state ~= 'half_open' or version ~= pv then outcome = 'stale'; return reply() end
if err ~= '' then redis.call('HSET', key, 'last_error', err) end
if result == 'ignored' then
  ho_issued = math.max(0, ho_issued - 1)
  redis.call('HSET', key, 'ho_issued', ho_issued)
elseif result == 'success' then
  ho_succ = ho_succ + 1
  if ho_succ >= sthr then
    go('closed', 'probe_success', 0)
  else
    redis.call('HSET', key, 'ho_succ', ho_succ)
  end
else
  go('open', 'probe_failure', open_ms)
end
return reply()
"""

# ARGV: state open_ms  (manual changes: forced_open, disabled, closed)
SET_STATE = _HEAD + """
local to = ARGV[1]
local was = state
go(to, 'manual', tonumber(ARGV[2]))
outcome = was
return reply()
"""


@dataclass(frozen=True, slots=True)
class RemoteState:
    state: str
    version: int
    remaining: float  # seconds until open ends / the probe lease ends
    calls: int
    failures: int
    slow: int
    decided: str
    cause: str
    failure_rate: float | None
    slow_rate: float | None
    last_error: str
    outcome: str


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse(reply: list) -> RemoteState:
    fr, sr = _s(reply[8]), _s(reply[9])
    return RemoteState(
        state=_s(reply[0]),
        version=int(reply[1]),
        remaining=int(reply[2]) / 1000.0,
        calls=int(reply[3]),
        failures=int(reply[4]),
        slow=int(reply[5]),
        decided=_s(reply[6]),
        cause=_s(reply[7]),
        failure_rate=float(fr) if fr else None,
        slow_rate=float(sr) if sr else None,
        last_error=_s(reply[10]),
        outcome=_s(reply[11]),
    )


class RedisStore:
    """Thin wrapper: one client with short timeouts and no client-side retries.

    redis-py 8 retries failed commands by default with backoff; a breaker must
    notice an unreachable Redis at once and fall back to local state, so
    retries are off and timeouts are a quarter of a second.
    """

    def __init__(self, url: str, *, timeout: float = 0.25) -> None:
        self.url = url
        self.timeout = timeout
        self._connect()

    def _connect(self) -> None:
        self.client = redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self.flush_script = self.client.register_script(FLUSH)
        self.read_script = self.client.register_script(READ)
        self.acquire_script = self.client.register_script(ACQUIRE)
        self.probe_script = self.client.register_script(PROBE_RESULT)
        self.set_script = self.client.register_script(SET_STATE)

    def reconnect(self) -> None:
        """After fork: a fresh pool (sockets are never shared between processes)."""
        try:
            self.client.close()
        except Exception:  # noqa: S110 - best effort on a pool we are dropping
            pass
        self._connect()

    @staticmethod
    def keys(name: str) -> list[str]:
        base = f"{KEY_PREFIX}{{{name}}}"
        return [base, base + ":w"]

    def ping(self) -> None:
        self.client.ping()

    def acquire(self, name: str, *, permitted: int, lease_ms: int) -> RemoteState:
        return parse(self.acquire_script(keys=self.keys(name), args=[permitted, lease_ms]))

    def probe_result(self, name: str, *, version: int, result: str, success_threshold: int, open_ms: int,
                     last_error: str) -> RemoteState:
        args = [version, result, success_threshold, open_ms, last_error]
        return parse(self.probe_script(keys=self.keys(name), args=args))

    def set_state(self, name: str, *, state: str, open_ms: int) -> RemoteState:
        return parse(self.set_script(keys=self.keys(name), args=[state, open_ms]))

    def read_many(self, names: list[str]) -> list[RemoteState]:
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            self.read_script(keys=self.keys(name), args=[], client=pipe)
        return [parse(r) for r in pipe.execute()]

    def sync(self, items: list[tuple[str, tuple | None]]) -> list[RemoteState]:
        """One round trip for every breaker: flush the batches, read the rest."""
        pipe = self.client.pipeline(transaction=False)
        for name, flush_args in items:
            if flush_args is None:
                self.read_script(keys=self.keys(name), args=[], client=pipe)
            else:
                self.flush_script(keys=self.keys(name), args=list(flush_args), client=pipe)
        return [parse(r) for r in pipe.execute()]

    def delete(self, name: str) -> None:
        self.client.delete(*self.keys(name))
