"""Run by tests/sqlite/test_slos_sqlite.py inside ``manage.py shell`` on a fresh SQLite database.

Real rows through the owning services (webhook ingestion, alert intake, SLI pushes) at fixed
instants, then the internal SLIs and one evaluation at a fixed ``now``; prints what was written.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import time_machine
from django.db import connection

from audit.actors import Actor
from opsportal.catalog.models import Service
from reliability.incidents.models import AlertSource
from reliability.incidents.services.config import routing_rule_create
from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest
from reliability.slos.models import SLIBucket, SLOStatus
from reliability.slos.services import correction_create, sli_buckets_upsert, slo_create, slos_evaluate
from reliability.slos.services.internal import internal_slis_compute
from reliability.webhooks.models import Delivery, DeliveryAttempt
from reliability.webhooks.selectors.config import source_config_load
from reliability.webhooks.services.config import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.services.ingest import webhook_event_ingest, webhook_rejection_record
from reliability.webhooks.signatures import VerifiedWebhook

assert connection.vendor == "sqlite", connection.vendor
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SYSTEM = Actor.for_system("sqlite-scenario")


def at(hh, mm, ss=0):
    return NOW.replace(hour=hh, minute=mm, second=ss)


service = Service.objects.create(name="portal", team="sre")


def slo(slug, **kw):
    return slo_create(slug=slug, name=slug, service=service, objective=kw.pop("objective", "50"), window="7d",
                      actor=SYSTEM, source="test", min_events=1, **kw)


orders = slo("orders", sli_source="internal", internal_sli="webhook-delivery:orders")
ingestion = slo("ingestion", sli_source="internal", internal_sli="ingestion")
alerts = slo("alerts", sli="latency", latency_threshold_ms=60_000, sli_source="internal",
             internal_sli="alert-to-incident")
sliced = slo("sliced", objective="60", budgeting="timeslices", timeslice_minutes=5, timeslice_target="95")

dests = [webhook_destination_create(name=n, url=f"http://127.0.0.1:9/{n}", actor=SYSTEM, source="test")
         for n in ("orders", "billing")]
source = webhook_source_create(slug="shop", scheme="standard", secrets=["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"],
                               actor=SYSTEM, source="test", routes=[RouteSpec(destination_id=d.pk) for d in dests])


def ingest(when):
    pid = f"evt_{uuid.uuid4().hex[:12]}"
    with time_machine.travel(when, tick=False):
        return webhook_event_ingest(config=source_config_load("shop"), headers={},
                                    verified=VerifiedWebhook(provider_event_id=pid, event_type="order.paid"),
                                    body=json.dumps({"id": pid}).encode(), portable=True).event_id


for when, dest, result in [(at(11, 55, 5), dests[0], "success"), (at(11, 55, 50), dests[0], "http_error"),
                           (at(11, 58), dests[0], "success"), (at(11, 55, 7), dests[1], "success")]:
    delivery = Delivery.objects.get(event_id=ingest(when), destination=dest)
    DeliveryAttempt.objects.create(delivery=delivery, at=when, result=result)
with time_machine.travel(at(11, 58, 20), tick=False):
    webhook_rejection_record(source_id=source.pk, reason="bad_signature", detail="x", remote_ip=None, user_agent="",
                             header_names=[], body_bytes=0)

routing_rule_create(name="flap", order=1, matchers=[{"label": "alertname", "op": "=", "value": "Flap"}],
                    threshold_count=2, threshold_window_seconds=3600, actor=SYSTEM, source="test")


def fire(name, fps, when, starts):
    labels = {"alertname": name, "severity": "warning"}
    with time_machine.travel(when, tick=False):
        alerts_ingest(group=GroupIn(source=AlertSource.ALERTMANAGER, group_key=f"am:{name}", title=name,
                                    alerts=[AlertIn(fingerprint=fp, status="firing", labels={**labels, "fp": fp},
                                                    starts_at=starts) for fp in fps],
                                    group_labels={"alertname": name}, common_labels=labels),
                      actor=SYSTEM, source="test")


fire("Flap", ["flap-1"], at(11, 54), at(11, 54))  # held by the rule …
fire("Flap", ["flap-1", "flap-2"], at(11, 55, 30), at(11, 54))  # … 90 s: flap-1 is late
fire("Fast", ["fast-1"], at(11, 56), at(11, 56))

# timeslices: 11:00–12:00 at 100 a minute; slice 11:05 bad (11:09), slice 11:50 bad (11:52);
# a correction 11:09:30–11:15 removes 11:09 … 11:14
items = [(at(11, 0) + i * M, 100, 100) for i in range(61)]
sli_buckets_upsert(slo_id=sliced.pk, items=items + [(at(11, 9), 0, 100), (at(11, 52), 0, 100)])
before = {}
slos_evaluate(now=NOW)
before["sliced"] = SLOStatus.objects.get(slo=sliced).budget_remaining
correction_create(slo=sliced, starts_at=at(11, 9, 30), ends_at=at(11, 15), reason="probe", actor=SYSTEM, source="test")

written = internal_slis_compute(now=NOW)
again = internal_slis_compute(now=NOW)
slos_evaluate(now=NOW)
out = {"written": [written, again], "before": before}
for s in (orders, ingestion, alerts):
    out[s.slug] = {b.minute.strftime("%H:%M"): [b.good, b.total]
                   for b in SLIBucket.objects.filter(slo=s).order_by("minute") if b.total}
    out[s.slug + "_count"] = SLIBucket.objects.filter(slo=s).count()
for s in (orders, ingestion, alerts, sliced):
    st = SLOStatus.objects.get(slo=s)
    out[s.slug + "_status"] = [st.good, st.total, st.budget_remaining, st.state]
print("RESULT " + json.dumps(out))
