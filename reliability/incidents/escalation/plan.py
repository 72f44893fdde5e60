"""Where an escalation goes next: step index, loop, and the next deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Position:
    step: int  # index of the next step to fire; == number of steps when exhausted
    loop: int
    next_at: datetime | None  # None: nothing more to fire

    @property
    def exhausted(self) -> bool:
        return self.next_at is None


def after_firing(*, step: int, loop: int, waits: list[int], loops: int, now: datetime) -> Position:
    """The position after step ``step`` of loop ``loop`` fired at ``now``.

    ``waits[i]`` is step i's wait in minutes (before the next step). After the
    last step the policy starts over (step 0) while ``loop < loops``; the wait
    of the last step separates the passes.
    """
    wait = timedelta(minutes=waits[step])
    if step + 1 < len(waits):
        return Position(step + 1, loop, now + wait)
    if loop < loops:
        return Position(0, loop + 1, now + wait)
    return Position(len(waits), loop, None)
