"""incidents (c): `/ops/incidents/` and acknowledge latency with 10,000 open alerts in the database.

Run by bench/incidents/run.py against the same gunicorn and database as (a)/(b):
``seed`` adds OPEN_ALERTS open incidents of one firing alert each (the worst case for the
list: every alert is its own open incident) in bulk through the ORM of a ``manage.py
shell`` (only the bench's scratch database; no audit entries, so the audit chain stays
intact), then ``measure`` times, with one keep-alive client at a time:

- ``GET /ops/incidents/`` (the live list, signed in as an operator: session cookie),
- ``GET /ops/incidents/fragment/`` (what the page re-fetches on every incident event),
- ``GET /ops/`` (the overview with the open-incidents panel),
- ``POST /api/v1/incidents/<id>/acknowledge/`` (bearer token with incidents:write), each on
  a different triggered incident, without and with ``silence_minutes`` (the silence is
  stored pending and pushed after the commit).
"""

from __future__ import annotations

import json
import os
import time

from bench.common import BenchError, manage, md_table, percentile

OPEN_ALERTS = int(os.environ.get("BENCH_INCIDENTS_OPEN_ALERTS", "10000"))
PAGE_REQUESTS = int(os.environ.get("BENCH_INCIDENTS_PAGE_REQUESTS", "30"))
ACKS = int(os.environ.get("BENCH_INCIDENTS_ACKS", "50"))
ACK_TARGET_MS = 500.0

SEED = r"""
import json, uuid
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from importlib import import_module
from django.conf import settings
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.utils import timezone
from opsportal.accounts.roles import OPERATOR
from reliability.incidents.models import Alert, Incident, IncidentEvent
n, run = {n}, uuid.uuid4().hex[:8]
now = timezone.now()
incidents = Incident.objects.bulk_create([Incident(
    title=f"OpenLoad{{run}} node-{{i}} down", severity=["P1", "P2", "P3"][i % 3], group_key=f"openload:{{run}}:{{i}}",
    group_labels={{"alertname": f"OpenLoad{{run}}", "instance": f"node-{{i}}"}}, started_at=now, last_alert_at=now,
) for i in range(n)], batch_size=2000)
for inc in incidents:
    inc.number = inc.pk
Incident.objects.bulk_update(incidents, ["number"], batch_size=2000)
Alert.objects.bulk_create([Alert(
    fingerprint=f"openload-{{run}}-{{i}}", incident=inc, group_key=inc.group_key, status="firing",
    labels=inc.group_labels, annotations={{"summary": inc.title}}, starts_at=now, last_payload={{}},
    first_received_at=now, last_received_at=now,
) for i, inc in enumerate(incidents)], batch_size=2000)
IncidentEvent.objects.bulk_create([IncidentEvent(incident=inc, kind="opened", actor_label="bench", source="bench",
                                                 data={{"alerts": 1}}, at=now) for inc in incidents], batch_size=2000)
user, _ = get_user_model().objects.get_or_create(username=f"bench-op-{{run}}")
user.groups.add(Group.objects.get_or_create(name=OPERATOR)[0])
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({{"ids": [i.pk for i in incidents], "session": session.session_key,
                  "cookie": settings.SESSION_COOKIE_NAME}}))
"""

COUNTS = r"""
import json
from reliability.incidents.models import Alert, Incident
print(json.dumps({"open_alerts": Alert.objects.filter(status="firing", incident__isnull=False).count(),
                  "open_incidents": Incident.objects.exclude(status="resolved").count()}))
"""


def seed(env: dict) -> dict:
    out = manage(["shell", "-c", SEED.format(n=OPEN_ALERTS)], env, timeout=900).strip().splitlines()[-1]
    return json.loads(out)


def counts(env: dict) -> dict:
    return json.loads(manage(["shell", "-c", COUNTS], env).strip().splitlines()[-1])


def _time(client, method: str, url: str, n: int, expect: int, bodies=None) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        if method == "GET":
            resp = client.get(url)
        else:
            resp = client.post(url.format(id=bodies[i][0]), json=bodies[i][1])
        elapsed = (time.perf_counter() - start) * 1000
        if resp.status_code != expect:
            raise BenchError(f"{method} {url}: {resp.status_code} {resp.text[:300]}")
        out.append(elapsed)
    return out


def measure(base: str, env: dict, token: str) -> list[str]:
    import httpx

    seeded = seed(env)
    present = counts(env)
    ids = seeded["ids"]
    cookies = {seeded["cookie"]: seeded["session"]}
    headers = {"X-Forwarded-Proto": "https"}
    rows = []
    with httpx.Client(base_url=base, headers=headers, cookies=cookies, timeout=60) as web:
        for name, url in (("`GET /ops/incidents/`", "/ops/incidents/"),
                          ("`GET /ops/incidents/fragment/`", "/ops/incidents/fragment/"),
                          ("`GET /ops/`", "/ops/")):
            _time(web, "GET", url, 3, 200)  # warm-up
            lat = _time(web, "GET", url, PAGE_REQUESTS, 200)
            rows.append([name, len(lat), f"{percentile(lat, 50):.1f}", f"{percentile(lat, 99):.1f}",
                         f"{max(lat):.1f}"])
    api_headers = {**headers, "Authorization": f"Bearer {token}"}
    plain = [(i, {}) for i in ids[: ACKS + 3]]
    silenced = [(i, {"silence_minutes": 30}) for i in ids[ACKS + 3: 2 * ACKS + 6]]
    acks = {}
    with httpx.Client(base_url=base, headers=api_headers, timeout=60) as api:
        url = "/api/v1/incidents/{id}/acknowledge/"
        for name, bodies in (("`POST …/acknowledge/`", plain),
                             ("`POST …/acknowledge/` with `silence_minutes: 30`", silenced)):
            _time(api, "POST", url, 3, 200, bodies[:3])
            lat = _time(api, "POST", url, ACKS, 200, bodies[3:])
            acks[name] = lat
            rows.append([name, len(lat), f"{percentile(lat, 50):.1f}", f"{percentile(lat, 99):.1f}",
                         f"{max(lat):.1f}"])
    worst = max(percentile(v, 99) for v in acks.values())
    return [
        f"(c) With {present['open_alerts']:,} open (firing) alerts in {present['open_incidents']:,} open incidents "
        f"in the database ({OPEN_ALERTS:,} seeded as one-alert incidents, the worst case for the list, on top "
        "of (a)'s), one keep-alive client at a time, same gunicorn; the pages signed in as an operator (session), "
        "the acknowledgements with a bearer token, each on a different triggered incident.",
        "",
        md_table(["request", "requests", "p50 ms", "p99 ms", "max ms"], rows),
        "",
        f"**Target acknowledge < {ACK_TARGET_MS:.0f} ms with 10,000 open alerts: p99 {worst:.1f} ms — "
        f"{'MET' if worst < ACK_TARGET_MS and present['open_alerts'] >= 10000 else 'NOT MET'}.**",
        "",
    ]
