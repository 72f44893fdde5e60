"""The scenario catalog rows, one per class in chaos/scenarios (a later migration adds new ones)."""

from django.db import migrations

CATALOG = [
    ("dependency-failure", "Dependency failure rate"),
    ("dependency-latency", "Dependency timeout / latency"),
    ("db-latency", "Database latency"),
    ("redis-hang", "Redis hang / reset"),
    ("corrupt-payloads", "Corrupted payload burst"),
    ("duplicate-storm", "Duplicate storm"),
    ("burst-load", "Burst load"),
    ("worker-crash", "Worker crash"),
    ("restore-drill", "Restore drill"),
]


def seed(apps, schema_editor):
    from chaos.scenarios import SCENARIOS

    Scenario = apps.get_model("chaos", "ChaosScenario")
    for slug, name in CATALOG:
        cls = SCENARIOS.get(slug)
        Scenario.objects.update_or_create(slug=slug, defaults={
            "name": name, "description": cls.description if cls else "", "parameters_schema": cls.schema if cls else {},
        })


def unseed(apps, schema_editor):
    apps.get_model("chaos", "ChaosScenario").objects.filter(slug__in=[s for s, _ in CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("chaos", "0001_chaos")]
    operations = [migrations.RunPython(seed, unseed)]
