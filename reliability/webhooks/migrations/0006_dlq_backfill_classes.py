"""Class and group the DLQ items that existed before failure classes (from their delivery's last answer)."""

from django.db import migrations


def backfill(apps, schema_editor):
    from reliability.webhooks.classes import classify, group_signature

    Failure = apps.get_model("webhooks", "WebhookFailure")
    rows = Failure.objects.filter(failure_class="").select_related("delivery").only(
        "id", "destination_id", "error_message", "delivery__last_status_code")
    batch = []
    for row in rows.iterator(chunk_size=1000):
        status = row.delivery.last_status_code
        text = (row.error_message or "").lower()
        if "outboundrefused" in text or "purged" in text or "is disabled" in text:
            kind = "refused"
        elif "410" in text and status in (None, 410):
            kind = "gone"
        elif status is None:
            kind = "network_error"
        else:
            kind = "http_error"
        row.failure_class = classify(kind=kind, status_code=status)
        row.status_code = status
        row.group_signature, row.signature_text = group_signature(
            destination_id=row.destination_id, failure_class=row.failure_class, status_code=status, error=row.error_message)
        batch.append(row)
        if len(batch) >= 1000:
            Failure.objects.bulk_update(batch, ["failure_class", "status_code", "group_signature", "signature_text"])
            batch = []
    if batch:
        Failure.objects.bulk_update(batch, ["failure_class", "status_code", "group_signature", "signature_text"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0005_dlq_classes_strategies_pacing")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
