"""Traffic at ingestion: duplicate-storm, corrupt-payloads, burst-load.

Signed synthetic webhooks (the ``simulate`` command's signing code) are posted to the portal's
own ingestion endpoint through Django's in-process client: the real URL, middleware, signature
checks, deduplication and dispatch, without a network hop. Targets are ``webhook-source:<slug>``.
"""

from __future__ import annotations

import json
import time

from chaos.scenarios.base import Invariant, RunContext, Scenario

INGEST_PATH = "/api/v1/webhooks/in/{slug}/"


def _sources(ctx: RunContext):
    from reliability.webhooks.models import WebhookSource

    slugs = [t.split(":", 1)[1] for t in ctx.targets if t.startswith("webhook-source:")]
    return list(WebhookSource.objects.filter(slug__in=slugs))


def _client():
    from django.conf import settings
    from django.test import Client

    hosts = [h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")]
    return Client(HTTP_HOST=hosts[0] if hosts else "localhost")


def _post(client, slug: str, body: bytes, headers: dict) -> int:
    from django.conf import settings

    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
    secure = bool(getattr(settings, "SECURE_SSL_REDIRECT", False))  # staging redirects plain HTTP: speak "HTTPS"
    response = client.post(INGEST_PATH.format(slug=slug), data=body, content_type="application/json", secure=secure, **extra)
    return response.status_code


class _Traffic(Scenario):
    """Sends ``rate_per_second`` requests each second of the drill (capped by ``max_requests``)."""

    schema = {
        "type": "object",
        "properties": {"rate_per_second": {"type": "integer", "minimum": 1, "maximum": 500},
                       "max_requests": {"type": "integer", "minimum": 1, "maximum": 100000},
                       "settle_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
                       "sink": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},  # a drill sink to check for duplicates
        "additionalProperties": False,
    }

    def apply(self, ctx: RunContext) -> None:
        ctx.scratch.update(sent=0, statuses={}, client=_client(), sources=_sources(ctx))
        ctx.set_fault("load", ",".join(ctx.targets), latency_ms=0, note=self.slug)

    def make_request(self, ctx: RunContext, source, n: int) -> tuple[bytes, dict]:
        raise NotImplementedError

    def tick(self, ctx: RunContext) -> None:
        if ctx.dry_run or not ctx.scratch.get("sources"):
            return
        now = time.monotonic()
        first = ctx.scratch.setdefault("first", now)
        rate = int(ctx.parameters.get("rate_per_second", 5))
        # one second's worth at once, then keep pace with the clock (a slow tick catches up)
        due = min(int(ctx.parameters.get("max_requests", 1000)), rate + int(rate * (now - first)))
        while ctx.scratch["sent"] < due:
            if ctx.stopping():
                return
            sources = ctx.scratch["sources"]
            source = sources[ctx.scratch["sent"] % len(sources)]
            body, headers = self.make_request(ctx, source, ctx.scratch["sent"])
            status = _post(ctx.scratch["client"], source.slug, body, headers)
            ctx.scratch["statuses"][str(status)] = ctx.scratch["statuses"].get(str(status), 0) + 1
            ctx.scratch["sent"] += 1

    def observe(self, ctx: RunContext) -> dict:
        return {"sent": ctx.scratch.get("sent", 0), "statuses": dict(ctx.scratch.get("statuses", {}))}

    def no_5xx(self, ctx: RunContext) -> Invariant:
        errors = {s: n for s, n in ctx.scratch.get("statuses", {}).items() if s.startswith("5")}
        return Invariant("ingestion answered no 5xx", not errors, 2, json.dumps(errors) if errors else "")

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        return [*super().invariants(ctx), self.no_5xx(ctx)]


def _factory(source):
    from reliability.webhooks.simulation import WebhookFactory

    return WebhookFactory(scheme=source.scheme, secret=(source.secrets or [""])[0], hmac_header=source.hmac_header or "X-Signature",
                          hmac_event_id_header=source.hmac_event_id_header)


class BurstLoad(_Traffic):
    slug = "burst-load"
    name = "Burst load"
    description = "Correctly signed synthetic webhooks at a rate: every one must be accepted and delivered (or dead-lettered)."

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        found = super().invariants(ctx)
        if not ctx.dry_run:
            statuses, sent = ctx.scratch.get("statuses", {}), ctx.scratch.get("sent", 0)
            accepted = statuses.get("202", 0)
            found.append(Invariant("every signed webhook accepted (202)", sent > 0 and accepted == sent, 3,
                                   f"{accepted} of {sent} accepted: {json.dumps(statuses)}"))
        return found

    def make_request(self, ctx, source, n):
        factories = ctx.scratch.setdefault("factories", {})
        factory = factories.get(source.slug) or factories.setdefault(source.slug, _factory(source))
        return factory.make().signed_request()


class DuplicateStorm(_Traffic):
    slug = "duplicate-storm"
    name = "Duplicate storm"
    description = "The same provider event many times: stored once, delivered once, the rest answered as duplicates."

    def make_request(self, ctx, source, n):
        events = ctx.scratch.setdefault("events", {})
        if source.slug not in events:
            events[source.slug] = _factory(source).make()
        return events[source.slug].signed_request()

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        from reliability.webhooks.models import WebhookEvent

        found = super().invariants(ctx)
        if ctx.dry_run:
            return found
        statuses = ctx.scratch.get("statuses", {})
        found.append(Invariant("first copy accepted, repeats answered as duplicates",
                               statuses.get("202", 0) == len(ctx.scratch.get("events", {})) >= 1, 2, json.dumps(statuses)))
        for slug, event in ctx.scratch.get("events", {}).items():
            stored = WebhookEvent.objects.filter(source__slug=slug, provider_event_id=event.event_id).count()
            found.append(Invariant(f"{slug}: the repeated event stored once", stored == 1, 2, f"{stored} rows"))
        return found


class CorruptPayloads(_Traffic):
    slug = "corrupt-payloads"
    name = "Corrupted payload burst"
    description = "Bad signatures, malformed and oversized bodies at ingestion: every one refused with a 4xx, none stored."

    def make_request(self, ctx, source, n):
        good = _factory(source).make()
        kind = n % 3
        if kind == 0:  # bad signature
            body, headers = good.signed_request()
            return body + b" ", headers
        if kind == 1:  # malformed body, correctly signed
            good.body = b'{"type": "broken", "data": '
            return good.signed_request()
        good.body = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'  # over the size limit
        return good.signed_request()

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        found = super().invariants(ctx)
        accepted = {s: n for s, n in ctx.scratch.get("statuses", {}).items() if s.startswith("2")}
        found.append(Invariant("no corrupt request accepted", not accepted, 3, json.dumps(accepted) if accepted else ""))
        return found
