"""Markdown → safe HTML for runbooks, the required sections, and the Resolution checklist.

Markdown is rendered first (raw HTML passes through it), then everything is
cleaned by nh3 with an allow-list: no script/style/iframe/svg, no event
handlers, no ``style`` attributes, links only to http(s)/mailto or relative
URLs (so ``javascript:`` and ``data:`` in any case are dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import markdown
import nh3
from django.utils.text import slugify

REQUIRED_SECTIONS = ("Symptoms", "Diagnosis", "Resolution", "Rollback", "Communication")

_HEADINGS = [f"h{n}" for n in range(1, 7)]
ALLOWED_TAGS = {
    *_HEADINGS, "p", "br", "hr", "a", "img", "strong", "b", "em", "i", "del", "s", "code", "pre", "kbd",
    "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "sup", "sub",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    **{h: {"id"} for h in _HEADINGS},
}
URL_SCHEMES = {"http", "https", "mailto"}
ANCHOR_PREFIX = "rb-"  # heading ids never collide with the admin page's own ids (#content, #header)

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ORDERED_ITEM = re.compile(r"^\s{0,3}(\d{1,9})[.)]\s+(.*)$")
_TASK = re.compile(r"<li>\s*(?:<p>)?\s*\[([ xX])\]\s")


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict]  # [{"id", "name", "level", "children": [...]}]


def _slugify(value: str, separator: str) -> str:
    return ANCHOR_PREFIX + (slugify(value) or "section")


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _task_boxes(html: str) -> str:
    # After sanitising: the only markup added here is our own fixed checkbox.
    def box(match: re.Match) -> str:
        checked = " checked" if match.group(1) in "xX" else ""
        lead = match.group(0)[: match.group(0).index("[")]
        return lead.replace("<li>", '<li class="task-item">') + f'<input type="checkbox" disabled{checked}> '

    return _TASK.sub(box, html)


def _clean_toc(tokens: list[dict]) -> list[dict]:
    return [
        {"id": t["id"], "name": nh3.clean(t["name"], tags=set()), "level": t["level"], "children": _clean_toc(t["children"])}
        for t in tokens
    ]


def render_markdown(body: str) -> Rendered:
    """Safe HTML and a table of contents for a runbook body."""
    md = markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "toc"],
        extension_configs={"toc": {"slugify": _slugify, "toc_depth": "1-3"}},
        output_format="html",
    )
    html = md.convert(body or "")
    return Rendered(html=_task_boxes(sanitise(html)), toc=_clean_toc(md.toc_tokens))


def _headings(body: str):
    """(level, title, line index) of every ATX heading outside fenced code."""
    fenced = None
    for index, line in enumerate((body or "").splitlines()):
        fence = _FENCE.match(line)
        if fence:
            if fenced is None:
                fenced = fence.group(1)
            elif fence.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            heading = _ATX.match(line)
            if heading:
                yield len(heading.group(1)), heading.group(2).strip(), index


def missing_sections(body: str) -> list[str]:
    """The required section headings a body lacks (case-insensitive, any heading level)."""
    present = {title.casefold() for _, title, _ in _headings(body)}
    return [name for name in REQUIRED_SECTIONS if name.casefold() not in present]


def section_text(body: str, name: str) -> str:
    """The markdown under heading ``name`` up to the next heading of the same or a higher level."""
    lines = (body or "").splitlines()
    headings = list(_headings(body))
    for position, (level, title, index) in enumerate(headings):
        if title.casefold() == name.casefold():
            end = len(lines)
            for next_level, _, next_index in headings[position + 1:]:
                if next_level <= level:
                    end = next_index
                    break
            return "\n".join(lines[index + 1:end])
    return ""


def resolution_steps(body: str) -> list[str]:
    """The numbered steps of the Resolution section, as markdown strings: the incident checklist.

    Continuation lines (indented, or wrapped text) belong to the step above;
    nested lists and code blocks stay inside their step. Only the first
    numbered list's top-level items count as steps.
    """
    steps: list[str] = []
    in_fence = False
    after_blank = False
    for line in section_text(body, "Resolution").splitlines():
        indented = line.startswith((" ", "\t")) and not _ORDERED_ITEM.match(line)
        if in_fence or _FENCE.match(line):
            if _FENCE.match(line):
                in_fence = not in_fence
            if steps:
                steps[-1] += "\n" + line
            continue
        item = _ORDERED_ITEM.match(line)
        if item and not line.startswith("    "):
            steps.append(item.group(2).strip())
        elif not line.strip():
            after_blank = True
            continue
        elif steps and (indented or not after_blank):
            steps[-1] += "\n" + line.strip()  # a wrapped or indented continuation of the step
        elif steps:
            break  # a paragraph after the list ends the steps
        after_blank = False
    return [step.strip() for step in steps]
