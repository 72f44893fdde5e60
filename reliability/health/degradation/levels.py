"""The five degradation levels (DESIGN §7.5). Public contract: values never change."""

from __future__ import annotations

import enum


class Level(enum.IntEnum):
    """How degraded the portal is; higher sheds more. Compare with ``>=``."""

    NORMAL = 0
    MINOR = 1
    MODERATE = 2
    SEVERE = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: object) -> Level:
        """``3``, ``"3"``, ``"SEVERE"`` or ``"severe"`` → Level; ValueError otherwise."""
        if isinstance(value, bool):
            raise ValueError("a level is a name (NORMAL…CRITICAL) or 0–4")
        if isinstance(value, int):
            return cls(value)
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return cls(int(text))
            try:
                return cls[text.upper()]
            except KeyError:
                pass
        raise ValueError(f"unknown level {value!r}: one of {', '.join(m.name for m in cls)} or 0–4")


LEVEL_CHOICES = [(level.value, level.name) for level in Level]
