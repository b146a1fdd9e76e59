"""The request limits move from evaluation's ConnectionLimit rows onto the connection itself."""

from django.db import migrations


def to_connection(apps, schema_editor):
    ConnectionLimit = apps.get_model("evaluation", "ConnectionLimit")
    Connection = apps.get_model("providers", "Connection")
    for row in ConnectionLimit.objects.all():
        Connection.objects.filter(id=row.connection_id).update(
            max_concurrent=row.max_concurrent, per_minute=row.per_minute
        )


def to_rows(apps, schema_editor):
    ConnectionLimit = apps.get_model("evaluation", "ConnectionLimit")
    Connection = apps.get_model("providers", "Connection")
    for c in Connection.objects.exclude(max_concurrent=None, per_minute=None):
        ConnectionLimit.objects.update_or_create(
            connection_id=c.id,
            defaults={"max_concurrent": c.max_concurrent or 4, "per_minute": c.per_minute or 60},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0001_initial"),
        ("providers", "0004_connection_request_limits"),
    ]

    operations = [
        migrations.RunPython(to_connection, to_rows),
        migrations.DeleteModel(name="ConnectionLimit"),
    ]
