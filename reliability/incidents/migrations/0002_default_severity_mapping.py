from django.db import migrations

DEFAULTS = {
    "page": "P0", "p0": "P0",
    "critical": "P1", "p1": "P1",
    "error": "P2", "warning": "P2", "p2": "P2",
    "info": "P3", "p3": "P3",
}


def forwards(apps, schema_editor):
    SeverityMapping = apps.get_model("incidents", "SeverityMapping")
    for value, severity in DEFAULTS.items():
        SeverityMapping.objects.get_or_create(value=value, defaults={"severity": severity})


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
