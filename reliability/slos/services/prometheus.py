"""Prometheus SLIs: good and total read over the same ``query_range`` instants, into minute buckets.

Both queries go out with the same ``start``, ``end`` and ``step`` (60 s), so every minute's good
and total are values at the same instant (slo-generator's flaw was reading them apart: SLIs
above 100 %). The queries are the rule export's templates (per-second rates with a
``{{.window}}`` placeholder, e.g. ``sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))``):
read with the window ``1m``, a value × 60 is the minute's events. Calls go through ``reliability.http``
(breaker ``prometheus``). A minute with good > total (scrape jitter) is clamped to good = total.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from reliability import http
from reliability.slos.models import SLO, SLOStatus
from reliability.slos.rules import PLACEHOLDER
from reliability.slos.services.ingest import sli_buckets_upsert
from reliability.slos.windows import MINUTE, floor_minute

log = logging.getLogger(__name__)
BACKFILL = timedelta(hours=6)  # at most this much history on a first pull (or after an outage)
TARGET = "prometheus"


class PrometheusError(Exception):
    pass


def _base() -> str:
    return (getattr(settings, "PROMETHEUS_URL", "") or "").rstrip("/")


def query_range(query: str, *, start: datetime, end: datetime, step: int = 60, base: str | None = None) -> dict[datetime, float]:
    """Instant → summed value of a PromQL range query (series summed per instant)."""
    url = f"{base or _base()}/api/v1/query_range"
    resp = http.request("GET", url, target=TARGET, policy="none", timeout=10.0,
                        params={"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": step})
    if resp.status_code != 200:
        raise PrometheusError(f"Prometheus answered {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus error: {body.get('error', 'unknown')}")
    out: dict[datetime, float] = {}
    for series in body.get("data", {}).get("result", []):
        for ts, value in series.get("values", []):
            v = float(value)
            if math.isfinite(v):
                at = datetime.fromtimestamp(float(ts), tz=UTC)
                out[at] = out.get(at, 0.0) + v
    return out


def retention(base: str | None = None) -> str | None:
    """Prometheus' storage retention ('15d'), for the retention-shorter-than-window warning."""
    resp = http.request("GET", f"{base or _base()}/api/v1/status/runtimeinfo", target=TARGET, timeout=5.0)
    if resp.status_code != 200:
        return None
    return (resp.json().get("data") or {}).get("storageRetention")


def prometheus_sli_pull(slo: SLO, *, now: datetime, base: str | None = None) -> int:
    """Read the minutes since the last bucket (at most BACKFILL) and upsert them."""
    last = SLOStatus.objects.filter(slo=slo).values_list("last_bucket_at", flat=True).first()
    end = floor_minute(now)
    start = max(end - BACKFILL, (last or end - BACKFILL) - 5 * MINUTE)  # re-read a few minutes: late scrapes
    good = query_range(PLACEHOLDER.sub("1m", slo.prometheus_good_query), start=start, end=end, base=base)
    total = query_range(PLACEHOLDER.sub("1m", slo.prometheus_total_query), start=start, end=end, base=base)
    items = []
    for at, t in total.items():
        g = good.get(at, 0.0) * 60
        t_int = max(0, round(t * 60))
        items.append((at - MINUTE, min(max(0, round(g)), t_int), t_int))  # the value at T counts the minute before T
    return sli_buckets_upsert(slo_id=slo.pk, items=items)


def prometheus_slis_pull(*, now: datetime | None = None) -> dict:
    if not _base():
        return {"skipped": "PROMETHEUS_URL is not set"}
    now = now or timezone.now()
    written, failed = 0, 0
    for slo in SLO.objects.filter(sli_source=SLO.Source.PROMETHEUS):
        try:
            written += prometheus_sli_pull(slo, now=now)
        except (PrometheusError, http.OutboundError, ValueError) as exc:
            failed += 1
            log.warning("prometheus SLI %s: %s", slo.slug, exc)
        except Exception:  # the breaker is open, a body is not JSON: the next minute tries again
            failed += 1
            log.exception("prometheus SLI %s failed", slo.slug)
    return {"buckets": written, "failed": failed}
