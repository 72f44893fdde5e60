"""Differences between two runbook versions: unified and side by side (difflib)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "ctx" | "hunk" | "file"
    text: str


@dataclass(frozen=True)
class DiffRow:
    left_no: int | None
    left: str
    right_no: int | None
    right: str
    kind: str  # "equal" | "replace" | "delete" | "insert"


def unified(old: str, new: str, *, old_name: str = "old", new_name: str = "new", context: int = 3) -> list[DiffLine]:
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append(DiffLine(kind, line))
    return lines


def side_by_side(old: str, new: str) -> list[DiffRow]:
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [DiffRow(i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k], "equal") for k in range(i2 - i1)]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            left = i1 + k < i2
            right = j1 + k < j2
            rows.append(DiffRow(
                i1 + k + 1 if left else None, a[i1 + k] if left else "",
                j1 + k + 1 if right else None, b[j1 + k] if right else "",
                "replace" if left and right else ("delete" if left else "insert"),
            ))
    return rows
