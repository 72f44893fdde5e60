"""The timeline kind for a root-cause hint (a chaos drill naming the fault it injected)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("incidents", "0120_user_contact_notification_retry")]

    operations = [
        migrations.AlterField(
            model_name="incidentevent",
            name="kind",
            field=models.CharField(choices=[
                ("opened", "opened"), ("reopened", "reopened"), ("alert_firing", "alert firing"),
                ("alert_resolved", "alert resolved"), ("acknowledged", "acknowledged"),
                ("unacknowledged", "acknowledgement withdrawn"), ("resolved", "resolved"), ("assigned", "assigned"),
                ("comment", "comment"), ("merged", "merged"), ("silence_requested", "silence requested"),
                ("silence_created", "silence created"), ("silence_failed", "silence failed"),
                ("silence_expired", "silence expired"), ("escalation_step", "escalation step"),
                ("ack_expired", "acknowledgement expired"), ("notification_sent", "notification sent"),
                ("notification_failed", "notification failed"), ("notification_fell_back", "notification fell back"),
                ("notification_retry", "notification rescheduled"), ("maintenance", "maintenance window"),
                ("checklist", "runbook checklist"), ("root_cause_hint", "root-cause hint"),
            ], max_length=30),
        ),
    ]
