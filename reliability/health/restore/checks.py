"""What the drill checks inside the restored scratch database (run by ``inside``, never on the source).

Reconciliation rules (docs/operations.md, "Restore drills"):
- every accepted webhook is delivered or in the DLQ: a delivery that is not
  ``delivered`` and has no ``WebhookFailure`` is a failure once it is overdue,
  i.e. its next attempt (or its creation) lies more than ``grace`` seconds
  before the newest activity in the dump (in-flight retries are not failures);
- every accepted alert is in an incident: a firing, unsuppressed alert with no
  incident is a failure (reported as held, not failed, while a routing rule
  with a threshold exists: such rules hold alerts back by design);
- the audit chain verifies (``audit.selectors.audit_chain_verify``, the code of
  ``manage.py audit_verify``);
- row counts per table, and smoke checks: every model answers a query (the
  schema matches the code after migrating) and the sanitised columns hold no
  personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.apps import apps
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce

from reliability.health.restore.sanitise import SANDBOX_DOMAIN


def audit_chain() -> dict:
    from audit.selectors import audit_chain_verify

    report = audit_chain_verify()
    out = {"entries": report.checked, "head": report.head_hash, "ok": report.broken is None}
    if report.broken is not None:
        where = f"entry #{report.broken.entry_id}" if report.broken.entry_id is not None else "its end"
        out["problem"] = f"audit chain broken at {where}: {report.broken.problem}"
    return out


def reference_time() -> datetime | None:
    """The newest activity in the dump: what "overdue" is measured against (a dump may be days old)."""
    from audit.models import AuditEntry
    from reliability.webhooks.models import WebhookEvent

    stamps = [AuditEntry.objects.aggregate(m=Max("created_at"))["m"],
              WebhookEvent.objects.aggregate(m=Max("received_at"))["m"]]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


def webhooks_reconcile(*, grace: float) -> dict:
    from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure

    in_dlq = Exists(WebhookFailure.objects.filter(delivery=OuterRef("pk")))
    open_ = (Delivery.objects.filter(event__direction=WebhookEvent.Direction.INBOUND)
             .exclude(status=Delivery.Status.DELIVERED).annotate(in_dlq=in_dlq).filter(in_dlq=False))
    ref = reference_time()
    cutoff = (ref - timedelta(seconds=grace)) if ref else None
    overdue = open_.annotate(due=Coalesce("next_attempt_at", "created_at"))
    if cutoff is not None:
        overdue = overdue.filter(Q(status=Delivery.Status.DEAD) | Q(due__lt=cutoff))
    lost = list(overdue.order_by("id").values_list("id", "event_id", "status")[:20])
    return {
        "accepted": WebhookEvent.objects.filter(direction=WebhookEvent.Direction.INBOUND).count(),
        "deliveries": Delivery.objects.filter(event__direction=WebhookEvent.Direction.INBOUND).count(),
        "delivered": Delivery.objects.filter(event__direction=WebhookEvent.Direction.INBOUND,
                                             status=Delivery.Status.DELIVERED).count(),
        "in_dlq": Delivery.objects.filter(event__direction=WebhookEvent.Direction.INBOUND).annotate(in_dlq=in_dlq)
        .filter(in_dlq=True).count(),
        "in_progress": open_.count() - overdue.count(),
        "lost": overdue.count(),
        "lost_examples": [{"delivery": d, "event": e, "status": s} for d, e, s in lost],
        "ok": not lost,
    }


def alerts_reconcile() -> dict:
    from reliability.incidents.models import Alert, RoutingRule

    unlinked = Alert.objects.filter(status=Alert.Status.FIRING, suppressed=False, incident__isnull=True)
    thresholds = RoutingRule.objects.filter(threshold_count__gt=0).exists()
    count = unlinked.count()
    return {
        "alerts": Alert.objects.count(),
        "in_incident": Alert.objects.filter(incident__isnull=False).count(),
        "unlinked": count,
        "unlinked_examples": list(unlinked.order_by("id").values_list("id", flat=True)[:20]),
        "held_by_threshold_rules": thresholds,
        "ok": count == 0 or thresholds,
    }


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if table in counts or model._meta.proxy or not model._meta.managed:
                continue
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from the app registry
            counts[table] = cursor.fetchone()[0]
    return dict(sorted(counts.items()))


def smoke() -> dict:
    """Every model answers a query through the ORM; the sanitised columns hold nothing personal."""
    problems = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        try:
            model._base_manager.order_by().first()
        except Exception as exc:  # the schema does not match the code
            problems.append(f"{model._meta.label}: {type(exc).__name__}: {str(exc)[:200]}")
    from django.contrib.auth import get_user_model

    from audit.models import AuditEntry

    leaked = get_user_model().objects.exclude(email="").exclude(email__endswith=f"@{SANDBOX_DOMAIN}").count()
    if leaked:
        problems.append(f"{leaked} user emails not sanitised")
    if AuditEntry.objects.filter(ip__isnull=False).exists():
        problems.append("audit entries still carry IP addresses")
    return {"models": len(apps.get_models()), "problems": problems, "ok": not problems}
