"""``manage.py simulate``: synthetic traffic over real HTTP to a running portal.

``--webhooks N --rate R --source SLUG``: signed provider webhooks.
``--alerts N [--rate R] [--batch B]``: Alertmanager v4 notifications to ``/api/v1/alerts/alertmanager/``
with a bearer token (``--token``, else ``$OPSPORTAL_ALERTS_TOKEN``, else one issued through the
accounts service for this run, with the ``alerts:write`` scope).
``--slis SLUG [--error-rate PCT] [--minutes N] [--per-minute R]``: good/total minute buckets to
``/api/v1/slos/<slug>/events/`` (token ``slo:write``), the last N minutes up to now, so the SLO burns.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from reliability.webhooks.selectors.config import source_get


class Command(BaseCommand):
    help = (
        "Send realistic, correctly signed provider webhooks to a running portal and print a summary of the "
        "status codes. The source's first secret signs them. --alerts N posts Alertmanager v4 batches instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--webhooks", type=int, metavar="N", help="how many webhooks to send")
        parser.add_argument("--rate", type=float, default=None, metavar="R",
                            help="webhooks per second (default 10); with --alerts, alerts per second (default 100)")
        parser.add_argument("--source", metavar="SLUG", help="the webhook source to send to (its scheme and first secret are used)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the portal's base URL (default http://127.0.0.1:8000)")
        parser.add_argument("--duplicates", type=float, default=0.0, metavar="PCT",
                            help="percentage of sends that re-send an earlier event (a provider retry); expect 200s")
        parser.add_argument("--concurrency", type=int, default=8, help="parallel connections (default 8)")
        parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
        parser.add_argument("--seed", type=int, default=None, help="seed for reproducible payloads")
        parser.add_argument("--alerts", type=int, metavar="N", help="how many alerts to post, in Alertmanager v4 batches")
        parser.add_argument("--batch", type=int, default=10, metavar="B", help="alerts per notification (default 10)")
        parser.add_argument("--groups", type=int, default=5, help="alert groups (alertname+service) to cycle through (1-5)")
        parser.add_argument("--instances", type=int, default=10,
                            help="distinct instances per group; more alerts than groups×instances repeat (and dedupe)")
        parser.add_argument("--slis", metavar="SLUG", help="push SLI good/total buckets to this SLO (slos #12)")
        parser.add_argument("--error-rate", type=float, default=2.0, metavar="PCT",
                            help="with --slis: percent of bad events (default 2: a 99.9%% SLO burns ×20)")
        parser.add_argument("--minutes", type=int, default=60, help="with --slis: minutes of traffic up to now (default 60)")
        parser.add_argument("--per-minute", type=int, default=600, help="with --slis: events a minute at peak (default 600)")
        parser.add_argument("--token", default="", help="bearer token with alerts:write (default: $OPSPORTAL_ALERTS_TOKEN "
                                                        "or one issued for this run)")

    def handle(self, *args, **options):
        if options["slis"]:
            return self.slis(options)
        if options["alerts"] is not None:
            return self.alerts(options)
        count, rate, slug = options["webhooks"], options["rate"] or 10.0, options["source"]
        if count is None or slug is None:
            raise CommandError("give --webhooks N and --source SLUG (e.g. simulate --webhooks 100 --rate 20 --source demo)")
        if count < 1 or rate <= 0 or not 0 <= options["duplicates"] <= 100 or options["concurrency"] < 1:
            raise CommandError("--webhooks must be ≥ 1, --rate > 0, --duplicates within 0–100 and --concurrency ≥ 1")
        source = source_get(slug=slug)
        if source is None:
            raise CommandError(f"no webhook source {slug!r}; create one in the admin or via /api/v1/webhooks/sources/")
        if not source.secrets:
            raise CommandError(f"source {slug!r} has no secret to sign with")
        if not source.enabled:
            self.stderr.write(f"warning: source {slug!r} is disabled; expect 404s")
        try:
            from reliability.webhooks.simulation import WebhookFactory

            factory = WebhookFactory(
                scheme=source.scheme, secret=source.secrets[0], hmac_header=source.hmac_header,
                hmac_event_id_header=source.hmac_event_id_header, seed=options["seed"],
            )
        except ImportError as exc:  # faker is a runtime dependency; a trimmed install may lack it
            raise CommandError(f"simulate needs the 'faker' package: {exc}") from exc

        import httpx

        url = options["url"].rstrip("/") + source.ingest_path
        picker = random.Random(options["seed"])
        sent_events = []
        plan = []
        for _ in range(count):
            if sent_events and picker.random() * 100 < options["duplicates"]:
                plan.append(picker.choice(sent_events))
            else:
                event = factory.make()
                sent_events.append(event)
                plan.append(event)

        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        lock = threading.Lock()
        local = threading.local()
        clients: list[httpx.Client] = []

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=options["timeout"])
                with lock:
                    clients.append(local.client)
            return local.client

        def send(event) -> None:
            body, headers = event.signed_request()
            started = time.perf_counter()
            try:
                label = str(client().post(url, content=body, headers=headers).status_code)
            except httpx.HTTPError as exc:
                label = f"error:{type(exc).__name__}"
            with lock:
                statuses[label] += 1
                latencies.append(time.perf_counter() - started)

        self.stdout.write(f"simulate: {count} {source.scheme} webhooks to {url} at {rate:g}/s …")
        t0 = time.monotonic()
        with ThreadPoolExecutor(options["concurrency"]) as pool:
            for i, event in enumerate(plan):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, event)
        elapsed = time.monotonic() - t0
        for c in clients:
            c.close()

        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

        self.stdout.write(
            f"sent {count} in {elapsed:.1f} s ({count / elapsed if elapsed else 0:.1f}/s); "
            f"{len(sent_events)} distinct events, {count - len(sent_events)} re-sent; "
            f"latency p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms"
        )
        for label in sorted(statuses):
            self.stdout.write(f"  {label}: {statuses[label]}")

    def _token(self, given: str, scope: str = "alerts:write", env: str = "OPSPORTAL_ALERTS_TOKEN") -> str:
        token = given or os.environ.get(env, "")
        if token:
            return token
        from audit.actors import Actor
        from opsportal.accounts.services import token_issue

        name = {"alerts:write": "simulate --alerts", "slo:write": "simulate --slis"}.get(scope, f"simulate ({scope})")
        row, raw = token_issue(service_name="simulate", scopes=[scope], name=name,
                               actor=Actor.for_system("cli:simulate"), source="cli")
        self.stdout.write(f"issued token {row.prefix}… ({scope}) for this run; revoke it in the admin when done")
        return raw

    def slis(self, options) -> None:
        import httpx
        from django.utils import timezone

        from reliability.slos.simulation import event_batches

        if not 0 <= options["error_rate"] <= 100 or options["minutes"] < 1 or options["per_minute"] < 1:
            raise CommandError("--error-rate within 0–100, --minutes ≥ 1 and --per-minute ≥ 1")
        slug = options["slis"]
        now = timezone.now().replace(second=0, microsecond=0)
        bodies = event_batches(start=now - timedelta(minutes=options["minutes"] - 1), minutes=options["minutes"],
                               per_minute=options["per_minute"], error_rate=options["error_rate"] / 100,
                               batch=max(1, min(options["batch"] * 10, 1000)), seed=options["seed"])
        headers = {"Authorization": f"Bearer {self._token(options['token'], 'slo:write', 'OPSPORTAL_SLO_TOKEN')}"}
        url = options["url"].rstrip("/") + f"/api/v1/slos/{slug}/events/"
        statuses: Counter = Counter()
        good = total = 0
        with httpx.Client(timeout=options["timeout"], headers=headers) as client:
            for body in bodies:
                try:
                    resp = client.post(url, json=body)
                    statuses[str(resp.status_code)] += 1
                    if resp.status_code != 200:
                        self.stderr.write(f"{resp.status_code}: {resp.text[:300]}")
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                good += sum(e["good"] for e in body["events"])
                total += sum(e["total"] for e in body["events"])
        self.stdout.write(f"pushed {options['minutes']} minute(s) to {slug} in {len(bodies)} request(s): "
                          f"{total - good} bad of {total} ({(total - good) / max(total, 1):.2%})")
        for label in sorted(statuses):
            self.stdout.write(f"  {label}: {statuses[label]}")

    def alerts(self, options) -> None:
        from reliability.incidents.simulation import AlertBatches

        count, rate = options["alerts"], options["rate"] or 100.0
        if count < 1 or rate <= 0 or options["batch"] < 1 or options["instances"] < 1 or options["concurrency"] < 1:
            raise CommandError("--alerts, --batch, --instances and --concurrency must be ≥ 1 and --rate > 0")
        if not 1 <= options["groups"] <= 5:
            raise CommandError("--groups must be within 1–5")
        import httpx

        url = options["url"].rstrip("/") + "/api/v1/alerts/alertmanager/"
        headers = {"Authorization": f"Bearer {self._token(options['token'])}", "Content-Type": "application/json"}
        plan = list(AlertBatches(groups=options["groups"], instances=options["instances"],
                                 batch_size=options["batch"]).batches(count))
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        lock = threading.Lock()

        def send(client: httpx.Client, batch: dict) -> None:
            started = time.perf_counter()
            try:
                label = str(client.post(url, json=batch, headers=headers).status_code)
            except httpx.HTTPError as exc:
                label = f"error:{type(exc).__name__}"
            with lock:
                statuses[label] += 1
                latencies.append(time.perf_counter() - started)

        self.stdout.write(f"simulate: {count} alerts in {len(plan)} Alertmanager v4 notifications to {url} "
                          f"at {rate:g} alerts/s …")
        t0, sent = time.monotonic(), 0
        with httpx.Client(timeout=options["timeout"]) as client, ThreadPoolExecutor(options["concurrency"]) as pool:
            for batch in plan:
                delay = t0 + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, client, batch)
                sent += len(batch["alerts"])
        elapsed = time.monotonic() - t0
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else 0.0
        distinct = len({a["fingerprint"] for b in plan for a in b["alerts"]})
        self.stdout.write(f"sent {count} alerts ({distinct} distinct fingerprints, {len({b['groupKey'] for b in plan})} "
                          f"groups) in {elapsed:.1f} s ({count / elapsed if elapsed else 0:.1f} alerts/s); "
                          f"notification p99 {p99:.1f} ms")
        for label in sorted(statuses):
            self.stdout.write(f"  {label}: {statuses[label]}")
