"""Sliding windows of call outcomes, kept with running totals so a record is O(1).

Both windows expose ``calls``, ``failures`` and ``slow`` after ``record``;
call ``advance(now)`` before reading a time window's totals.
"""

from __future__ import annotations

_OK = 1
_FAILED = 2
_SLOW = 4


class CountWindow:
    """The last ``size`` outcomes (a ring of flag bytes)."""

    __slots__ = ("size", "_ring", "_i", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring = bytearray(size)
        self._i = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        code = _OK | (_FAILED if failed else 0) | (_SLOW if slow else 0)
        i = self._i
        old = self._ring[i]
        self._ring[i] = code
        i += 1
        self._i = 0 if i == self.size else i
        if old == code:  # the common case: a success replaces a success
            return
        if old == 0:
            self.calls += 1
        changed = old ^ code
        if changed & _FAILED:
            self.failures += 1 if code & _FAILED else -1
        if changed & _SLOW:
            self.slow += 1 if code & _SLOW else -1

    def advance(self, now: float) -> None:
        return None

    def reset(self) -> None:
        self._ring = bytearray(self.size)
        self._i = 0
        self.calls = self.failures = self.slow = 0


class TimeWindow:
    """Outcomes of the last ``size`` seconds, in one bucket per second."""

    __slots__ = ("size", "_c", "_f", "_s", "_cur", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self._c = [0] * size
        self._f = [0] * size
        self._s = [0] * size
        self._cur: int | None = None
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def advance(self, now: float) -> None:
        sec = int(now // 1)
        cur = self._cur
        if cur == sec:
            return
        size = self.size
        if cur is None or sec - cur >= size or sec < cur:
            self.reset()
        else:
            for s in range(cur + 1, sec + 1):  # evict the buckets that fell out
                j = s % size
                self.calls -= self._c[j]
                self.failures -= self._f[j]
                self.slow -= self._s[j]
                self._c[j] = self._f[j] = self._s[j] = 0
        self._cur = sec

    def record(self, failed: bool, slow: bool, now: float) -> None:
        if int(now // 1) != self._cur:
            self.advance(now)
        j = self._cur % self.size
        self._c[j] += 1
        self.calls += 1
        if failed:
            self._f[j] += 1
            self.failures += 1
        if slow:
            self._s[j] += 1
            self.slow += 1

    def reset(self) -> None:
        size = self.size
        self._c = [0] * size
        self._f = [0] * size
        self._s = [0] * size
        self._cur = None
        self.calls = self.failures = self.slow = 0


def make_window(window_type: str, size: int) -> CountWindow | TimeWindow:
    return TimeWindow(size) if window_type == "time" else CountWindow(size)
