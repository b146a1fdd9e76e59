"""Each team's built-in local provider connection gets a key of its own.

Until now every local connection used the server-wide FINEWEB_LOCAL_API_KEY, so all teams shared
one namespace of local files, jobs and fine-tuned models. From here on the local API is scoped by
key (localtuner/keys.py). This migration:

- issues a random key to every local connection that has none, stores it encrypted in
  `api_key_encrypted` (as any provider key) and registers its sha256 as the team's LocalApiKey;
- moves into a team's scope the local jobs and files that team's own dashboard jobs point at
  (provider job id, uploaded training/validation files, the job's result files), so jobs in
  flight keep syncing and the team keeps chatting with its fine-tuned models. A row claimed by
  the dashboard jobs of two different teams is left where it is.

Every other local job and file made with the server key stays in the server scope: it remains
reachable with FINEWEB_LOCAL_API_KEY (SDK clients, scripts), and with no team's key.
"""

import hashlib
import secrets
from collections import defaultdict

from django.db import migrations

from providers import crypto


def issue_local_keys(apps, schema_editor):
    Connection = apps.get_model("providers", "Connection")
    LocalApiKey = apps.get_model("localtuner", "LocalApiKey")
    for connection in Connection.objects.filter(kind="local", api_key_encrypted=""):
        key = "fw-local-" + secrets.token_urlsafe(24)
        label = f"connection {connection.id}"
        LocalApiKey.objects.filter(team_id=connection.team_id, label=label).delete()
        LocalApiKey.objects.create(
            team_id=connection.team_id, label=label, key_hash=hashlib.sha256(key.encode()).hexdigest()
        )
        connection.api_key_encrypted = crypto.encrypt(key)
        connection.key_last4 = ""
        connection.save(update_fields=["api_key_encrypted", "key_last4"])


def adopt_local_rows(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    LocalJob = apps.get_model("localtuner", "LocalJob")
    LocalFile = apps.get_model("localtuner", "LocalFile")
    job_teams: dict[str, set[int]] = defaultdict(set)
    file_teams: dict[str, set[int]] = defaultdict(set)
    rows = Job.objects.filter(connection__kind="local").values_list(
        "team_id", "provider_job_id", "provider_training_file_id", "provider_validation_file_id"
    )
    for team_id, job_id, training_id, validation_id in rows:
        if job_id:
            job_teams[job_id].add(team_id)
        for file_id in (training_id, validation_id):
            if file_id:
                file_teams[file_id].add(team_id)
    for local in LocalJob.objects.filter(public_id__in=list(job_teams), team__isnull=True):
        teams = job_teams[local.public_id]
        for file_id in [local.training_file, local.validation_file, *local.result_files]:
            if file_id:
                file_teams[file_id] |= teams
    for public_id, teams in job_teams.items():
        if len(teams) == 1:
            LocalJob.objects.filter(public_id=public_id, team__isnull=True).update(team_id=next(iter(teams)))
    for public_id, teams in file_teams.items():
        if len(teams) == 1:
            LocalFile.objects.filter(public_id=public_id, team__isnull=True).update(team_id=next(iter(teams)))


def forget_local_keys(apps, schema_editor):
    """Going back: local connections return to the server-wide key (their rows to the server scope
    when localtuner's team columns are removed)."""
    Connection = apps.get_model("providers", "Connection")
    Connection.objects.filter(kind="local").update(api_key_encrypted="", key_last4="")


def forward(apps, schema_editor):
    issue_local_keys(apps, schema_editor)
    adopt_local_rows(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0002_local_connection_for_every_team"),
        ("localtuner", "0002_scope_by_api_key"),
        ("jobs", "0002_imported_jobs"),
    ]

    operations = [migrations.RunPython(forward, forget_local_keys)]
