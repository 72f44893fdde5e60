"""A small PromQL tokenizer: which metric names a query reads.

Enough of the grammar for dashboard queries: string literals, label matchers
in ``{…}``, range and subquery durations in ``[…]``, numbers and durations,
Grafana variables (``$slo``, ``${slo}``, ``$__rate_interval``), function calls
(an identifier followed by ``(``), aggregation modifiers whose parenthesised
label lists are not metrics (``by``, ``without``, ``on``, ``ignoring``,
``group_left``, ``group_right``), keywords (``bool``, ``offset``, set
operators), aggregation operators and Grafana's ``label_values(selector, label)`` template query.
Everything else that is an identifier is a metric name (``foo``, ``slo:burn:rate5m``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}
# aggregation operators are keywords (``sum by (le) (…)``: the name is not followed by ``(``)
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                "quantile", "limitk", "limit_ratio"}
LABEL_LIST_MODIFIERS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9][0-9a-zA-Z_.]*([eE][+-]?[0-9]+)?)")
_VAR = re.compile(r"\$(\{[^}]*\}|[A-Za-z0-9_]+)")


class PromQLSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # ident, number, string, var, punct
    text: str
    pos: int


def tokenize(expr: str) -> list[Token]:
    tokens, i, n = [], 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch == "#":  # a comment runs to the end of the line
            while i < n and expr[i] != "\n":
                i += 1
        elif ch in "\"'`":
            j = i + 1
            while j < n and expr[j] != ch:
                j += 2 if expr[j] == "\\" and ch != "`" else 1
            if j >= n:
                raise PromQLSyntaxError(f"unterminated string at {i}")
            tokens.append(Token("string", expr[i:j + 1], i))
            i = j + 1
        elif ch == "$":
            m = _VAR.match(expr, i)
            if not m:
                raise PromQLSyntaxError(f"bad variable at {i}")
            tokens.append(Token("var", m.group(0), i))
            i = m.end()
        elif ch.isdigit() or (ch == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = _NUMBER.match(expr, i if ch != "." else i + 1)
            end = m.end() if m else i + 1
            tokens.append(Token("number", expr[i:end], i))
            i = end
        elif _IDENT.match(expr, i):
            m = _IDENT.match(expr, i)
            tokens.append(Token("ident", m.group(0), i))
            i = m.end()
        elif expr.startswith(("==", "!=", "=~", "!~", ">=", "<="), i):
            tokens.append(Token("punct", expr[i:i + 2], i))
            i += 2
        elif ch in "(){}[],+-*/%^=<>@:":
            tokens.append(Token("punct", ch, i))
            i += 1
        else:
            raise PromQLSyntaxError(f"unexpected {ch!r} at {i}")
    return tokens


def _skip_group(tokens: list[Token], i: int, open_: str, close: str) -> int:
    """Index just past the group that opens at ``tokens[i]`` (which is ``open_``)."""
    depth = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "punct" and t.text == open_:
            depth += 1
        elif t.kind == "punct" and t.text == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise PromQLSyntaxError(f"unbalanced {open_!r}")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects (raises ``PromQLSyntaxError`` on what it cannot read)."""
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", expr, re.S)
    if label_values:  # Grafana's template query: the selector, not the label name
        expr = label_values.group(1)
    tokens = tokenize(expr)
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.kind == "punct" and t.text == "{":
            i = _skip_group(tokens, i, "{", "}")  # label matchers: names and values, not metrics
            continue
        if t.kind == "punct" and t.text == "[":
            i = _skip_group(tokens, i, "[", "]")  # a range or subquery step
            continue
        if t.kind == "ident":
            word = t.text
            if word in LABEL_LIST_MODIFIERS:
                i += 1
                if i < len(tokens) and tokens[i].text == "(":
                    i = _skip_group(tokens, i, "(", ")")
                continue
            if word.lower() in KEYWORDS or word in AGGREGATIONS:
                i += 1
                continue
            if nxt is not None and nxt.kind == "punct" and nxt.text == "(":
                i += 1  # a function or an aggregation: its arguments are read next
                continue
            names.add(word)
        i += 1
    _check_balanced(tokens)
    return names


def _check_balanced(tokens: list[Token]) -> None:
    pairs, stack = {")": "(", "}": "{", "]": "["}, []
    for t in tokens:
        if t.kind != "punct":
            continue
        if t.text in "({[":
            stack.append(t.text)
        elif t.text in pairs:
            if not stack or stack.pop() != pairs[t.text]:
                raise PromQLSyntaxError(f"unbalanced {t.text!r} at {t.pos}")
    if stack:
        raise PromQLSyntaxError(f"unclosed {stack[-1]!r}")
