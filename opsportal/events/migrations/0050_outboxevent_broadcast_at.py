"""Subscribers and the channel layer get their own marks (issue 11: a Redis outage must not stall outbound deliveries)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="broadcast_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # what was published before this migration went to the channel layer too
        migrations.RunSQL("UPDATE events_outboxevent SET broadcast_at = published_at WHERE published_at IS NOT NULL",
                          migrations.RunSQL.noop, elidable=True),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(condition=models.Q(("broadcast_at__isnull", True)), fields=["created_at"],
                               name="outbox_unbroadcast_idx"),
        ),
    ]
