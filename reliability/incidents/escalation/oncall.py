"""Who is on call: anchor + shift length + members in order, overridden by explicit overrides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Override(Generic[T]):
    starts_at: datetime
    ends_at: datetime
    who: T


@dataclass(frozen=True)
class Shift(Generic[T]):
    who: T
    starts_at: datetime
    ends_at: datetime
    overridden: bool = False


def shift_at(*, anchor: datetime, shift_hours: int, members: Sequence[T], overrides: Sequence[Override[T]] = (),
             at: datetime) -> Shift[T] | None:
    """The shift covering ``at``, or None (no members, or before the anchor and no override).

    Shift k runs [anchor + k·shift, anchor + (k+1)·shift) and belongs to
    ``members[k % len(members)]``. An override covering ``at`` wins; when
    several do, the one that started last (the most specific) wins.
    """
    active = [o for o in overrides if o.starts_at <= at < o.ends_at]
    if active:
        o = max(active, key=lambda o: o.starts_at)
        return Shift(o.who, o.starts_at, o.ends_at, overridden=True)
    if not members or at < anchor:
        return None
    length = timedelta(hours=max(1, shift_hours))
    k = (at - anchor) // length
    start = anchor + k * length
    return Shift(members[k % len(members)], start, start + length)
