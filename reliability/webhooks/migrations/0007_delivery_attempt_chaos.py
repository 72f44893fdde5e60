"""Flag delivery attempts whose outcome a chaos drill's injected fault produced (issue #14)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0006_dlq_backfill_classes")]

    operations = [
        migrations.AddField(
            model_name="deliveryattempt",
            name="chaos",
            # db_default too: raw INSERTs that predate the column (bench, old workers mid-deploy) still work
            field=models.BooleanField(db_default=False, default=False, help_text=(
                "the outcome came from a chaos drill's injected fault, not the destination; SLIs leave these out")),
        ),
    ]
