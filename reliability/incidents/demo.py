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
    Incident,
    NotificationChannel,
    OnCallRotation,
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
from reliability.incidents.services.config import (
    escalation_policy_create,
    notification_channel_create,
    rotation_create,
    routing_rule_create,
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
    """Through the configuration services; each piece is looked up by name first, so a re-run adds nothing."""
    actor, src = ctx.actor, Source.SEED
    email = NotificationChannel.objects.filter(name="demo-email").first()
    if email is None:
        email = notification_channel_create(actor=actor, source=src, name="demo-email",
                                            kind=NotificationChannel.Kind.EMAIL,
                                            config={"to": ["oncall@example.com"]})
    slack = NotificationChannel.objects.filter(name="demo-slack").first()
    if slack is None:
        slack = notification_channel_create(actor=actor, source=src, name="demo-slack",
                                            kind=NotificationChannel.Kind.SLACK, enabled=False, fallback=email,
                                            config={"url": "http://127.0.0.1:9000/demo-slack/"})
        ctx.created("notification channels demo-slack (falls back to demo-email) and demo-email")
    rotation = OnCallRotation.objects.filter(name="demo-primary").first()
    if rotation is None:
        members = list(get_user_model().objects.filter(username__in=["operator", "admin"])
                       .order_by("pk").values_list("pk", flat=True))
        rotation = rotation_create(actor=actor, source=src, name="demo-primary", shift_hours=168, member_ids=members,
                                   starts_at=timezone.now().replace(hour=9, minute=0, second=0, microsecond=0))
        ctx.created("on-call rotation demo-primary (weekly)")
    policy = EscalationPolicy.objects.filter(name="demo-default").first()
    if policy is None:
        policy = escalation_policy_create(
            actor=actor, source=src, name="demo-default", ack_timeout_minutes=30, loops=1,
            severities=["P0", "P1", "P2"],
            steps=[{"wait_minutes": 5, "rotation_id": rotation.pk, "channel_ids": [slack.pk]},
                   {"wait_minutes": 15, "channel_ids": [email.pk]}])
        ctx.created("escalation policy demo-default (on-call, then email; one repeat)")
    if not RoutingRule.objects.filter(name="demo: payments team").exists():
        routing_rule_create(actor=actor, source=src, name="demo: payments team", order=10,
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
