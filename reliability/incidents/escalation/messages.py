"""What a page says, per channel kind: title, severity, service, links (absolute), runbook.

Pure: ``Page`` is built by the notification service from the incident; these
functions only format it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    incident_id: int
    number: int | None
    title: str
    severity: str
    status: str
    service: str | None
    incident_url: str
    ack_url: str
    resolve_url: str
    runbook_url: str | None
    step: int | None = None
    loop: int | None = None

    @property
    def headline(self) -> str:
        return f"[{self.severity}] #{self.number or self.incident_id} {self.title}"


def _lines(page: Page) -> list[str]:
    lines = [page.headline, f"Service: {page.service or '(none)'}", f"Status: {page.status}",
             f"Acknowledge: {page.ack_url}", f"Resolve: {page.resolve_url}"]
    if page.runbook_url:
        lines.append(f"Runbook: {page.runbook_url}")
    return lines


def text(page: Page) -> str:
    return "\n".join(_lines(page))


def slack(page: Page) -> dict:
    """A Slack-compatible incoming-webhook body: ``text`` (fallback) plus Block Kit ``blocks``."""
    fields = [{"type": "mrkdwn", "text": f"*Severity*\n{page.severity}"},
              {"type": "mrkdwn", "text": f"*Service*\n{page.service or '(none)'}"}]
    links = [f"<{page.ack_url}|Acknowledge>", f"<{page.resolve_url}|Resolve>", f"<{page.incident_url}|Open>"]
    if page.runbook_url:
        links.append(f"<{page.runbook_url}|Runbook>")
    return {
        "text": page.headline,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": page.headline[:150]}},
            {"type": "section", "fields": fields},
            {"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(links)}},
        ],
    }


def email(page: Page) -> tuple[str, str]:
    return page.headline[:200], text(page) + "\n"


def sms(page: Page) -> str:
    """Short: one SMS segment where possible (headline + ack link)."""
    return f"{page.headline[:100]} ack: {page.ack_url}"


def webhook(page: Page, *, idempotency_key: str) -> dict:
    return {
        "type": "incident.page",
        "idempotency_key": idempotency_key,
        "incident": {"id": page.incident_id, "number": page.number, "title": page.title,
                     "severity": page.severity, "status": page.status, "service": page.service},
        "links": {"incident": page.incident_url, "acknowledge": page.ack_url, "resolve": page.resolve_url,
                  "runbook": page.runbook_url},
        "escalation": {"step": page.step, "loop": page.loop},
    }
