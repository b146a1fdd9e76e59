from django.db import migrations


def create_local_connections(apps, schema_editor):
    """Teams made before this app existed get the built-in local provider too."""
    Team = apps.get_model("accounts", "Team")
    Connection = apps.get_model("providers", "Connection")
    for team in Team.objects.exclude(connections__kind="local"):
        Connection.objects.create(team=team, kind="local", name="Built-in local provider")


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_local_connections, migrations.RunPython.noop)]
