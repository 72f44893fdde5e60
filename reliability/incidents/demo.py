"""seed_demo step: channels, a policy, a rotation, routing, and incidents in every state (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsportal.catalog.models import Service
from opsportal.demo import SeedContext, seed_step
from reliability.incidents.models import (
    AlertSource,
    EscalationPolicy,
    EscalationStep,
    Incident,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    RoutingRule,
)
from reliability.incidents.names import Source
from reliability.incidents.services import (
    AlertIn,
    GroupIn,
    alerts_ingest,
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_resolve,
)

DEMO_GROUPS = {
    # group key → (labels, summary, then: None = stays triggered, "ack", "resolved")
    "demo:payments-5xx": ({"alertname": "HighErrorRate", "service": "payments-api", "severity": "critical"},
                          "payments-api 5xx above 5% for 5 minutes", None),
    "demo:checkout-latency": ({"alertname": "HighLatency", "service": "checkout-web", "severity": "warning"},
                              "checkout p99 above 1.5 s", "ack"),
    "demo:search-disk": ({"alertname": "DiskFillingUp", "service": "search", "severity": "info"},
                         "search-1 disk 80% full", "resolved"),
    "demo:notifications-queue": ({"alertname": "QueueBacklog", "service": "notifications", "severity": "page"},
                                 "notifications queue backlog over 10k", None),
}


def _config(ctx: SeedContext) -> EscalationPolicy:
    email, _ = NotificationChannel.objects.get_or_create(
        name="demo-email", defaults={"kind": NotificationChannel.Kind.EMAIL, "config": {"to": ["oncall@example.com"]}})
    slack, made = NotificationChannel.objects.get_or_create(
        name="demo-slack", defaults={"kind": NotificationChannel.Kind.SLACK, "enabled": False, "fallback": email,
                                     "config": {"url": "http://127.0.0.1:9000/demo-slack/"}})
    if made:
        ctx.created("notification channels demo-slack (falls back to demo-email) and demo-email")
    rotation, made = OnCallRotation.objects.get_or_create(
        name="demo-primary", defaults={"starts_at": timezone.now().replace(hour=9, minute=0, second=0, microsecond=0),
                                       "shift_hours": 168})
    if made:
        for i, user in enumerate(get_user_model().objects.filter(username__in=["operator", "admin"]).order_by("pk")):
            RotationMember.objects.create(rotation=rotation, user=user, position=i)
        ctx.created("on-call rotation demo-primary (weekly)")
    policy, made = EscalationPolicy.objects.get_or_create(
        name="demo-default", defaults={"ack_timeout_minutes": 30, "loops": 1, "severities": ["P0", "P1", "P2"]})
    if made:
        first = EscalationStep.objects.create(policy=policy, order=0, wait_minutes=5, rotation=rotation)
        first.channels.add(slack)
        second = EscalationStep.objects.create(policy=policy, order=1, wait_minutes=15)
        second.channels.add(email)
        ctx.created("escalation policy demo-default (on-call, then email; one repeat)")
    if not RoutingRule.objects.filter(name="demo: payments team").exists():
        RoutingRule.objects.create(name="demo: payments team", order=10,
                                   matchers=[{"label": "service", "op": "=~", "value": "payments.*"}],
                                   service=Service.objects.filter(name="payments-api").first(), escalation_policy=policy)
        ctx.created("routing rule 'demo: payments team'")
    return policy


@seed_step("incidents: channels, policy, rotation and incidents in every state", order=450)
def seed_incidents(ctx: SeedContext) -> None:
    _config(ctx)
    operator = get_user_model().objects.filter(username="operator").first()
    now = timezone.now()
    for key, (labels, summary, then) in DEMO_GROUPS.items():
        if Incident.objects.filter(group_key=key).exists():
            continue
        alert = AlertIn(fingerprint=key, status="firing", labels=labels, annotations={"summary": summary},
                        starts_at=now - timedelta(minutes=20))
        result = alerts_ingest(group=GroupIn(source=AlertSource.ALERTMANAGER, group_key=key, alerts=[alert],
                                             group_labels={k: labels[k] for k in ("alertname", "service")},
                                             common_labels=labels, title=summary), actor=ctx.actor, source=Source.SEED)
        pk = result.incident_id
        if then in ("ack", "resolved") and pk:
            incident_acknowledge(incident_id=pk, actor=ctx.actor, source=Source.SEED)
            if operator is not None:
                incident_assign(incident_id=pk, actor=ctx.actor, source=Source.SEED, assignee_id=operator.pk)
            incident_comment(incident_id=pk, actor=ctx.actor, source=Source.SEED, body="Looking at the dashboards.")
        if then == "resolved" and pk:
            incident_resolve(incident_id=pk, actor=ctx.actor, source=Source.SEED, note="Old indices deleted.")
        ctx.created(f"incident '{summary}' ({then or 'triggered'})")
    ctx.note("Incidents: POST Alertmanager v4 notifications to /api/v1/alerts/alertmanager/ with the demo "
             "alertmanager token (deploy/alertmanager.yml shows the receiver)")
