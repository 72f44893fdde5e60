"""Text sanitising: what an operator, a provider or an exception wrote, made storable.

PostgreSQL refuses NUL (U+0000) in ``text`` and ``jsonb``; a write that must never
fail on input (an audit entry, an error excerpt, a reason) replaces it with U+FFFD,
the Unicode replacement character, so the rest of the text survives.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"


def clean_text(value: Any, limit: int | None = None) -> str:
    """``value`` as text without NUL characters, cut to ``limit`` characters (None keeps it whole).

    ``None`` becomes ``""``; anything else is ``str()``-ed first.
    """
    text = "" if value is None else str(value)
    if NUL in text:
        text = text.replace(NUL, REPLACEMENT)
    return text[:limit] if limit is not None else text


def has_nul(value: Any) -> bool:
    """For validation that refuses (rather than repairs) a NUL: names, filters, lookups."""
    return isinstance(value, str) and NUL in value
