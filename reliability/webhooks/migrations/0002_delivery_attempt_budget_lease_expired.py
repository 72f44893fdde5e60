# Delivery.attempt_budget (the DLQ replay contract) and the lease_expired attempt result.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='attempt_budget',
            field=models.PositiveIntegerField(blank=True, help_text="total attempts allowed; empty = the source's retry_max_attempts (a DLQ replay sets attempts + 1)", null=True),
        ),
        migrations.AlterField(
            model_name='deliveryattempt',
            name='result',
            field=models.CharField(choices=[('success', 'Success'), ('http_error', 'Http Error'), ('timeout', 'Timeout'), ('network_error', 'Network Error'), ('gone', 'Gone'), ('lease_expired', 'Lease Expired')], max_length=20),
        ),
    ]
