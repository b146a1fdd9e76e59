"""Leaving OpenAI: storing the jobs a provider account ran before (or besides) fineweb.

The "Import history" button claims the import (`connection_import_start`), and the Celery task
`providers.import_jobs` (jobs/tasks.py) runs `connection_import_jobs`: the adapter lists every
job of the account with its events, checkpoints, metric points and training file (a
ProviderJobHistory, `Provider.job_history`), and `job_import_history` stores each once:
- the job row is found again by (connection, provider job id), the same unique pair a launched
  job has, so importing twice creates nothing, and a job fineweb launched itself is not copied;
- events, metric points and checkpoints go through `job_reports_store`, as a sync does;
- a finished job is never polled; one still running at the provider is synced by beat.

The training data usually isn't in fineweb: the job then has no dataset version, and relaunching
it asks for one. When the team uploaded the same file (same name and size), the job links to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job
from jobs.reports import job_reports_store
from jobs.statuses import job_status_from_provider
from providers.base import ProviderJob, ProviderJobHistory
from providers.models import Connection
from providers.services import connection_get_provider

# The connections whose provider keeps a job history worth importing.
IMPORTABLE_KINDS = (Connection.Kind.OPENAI, Connection.Kind.OPENAI_COMPATIBLE)


# --- reading the provider's history ----------------------------------------------------------
def connection_import_start(*, connection: Connection) -> bool:
    """Claim the import (one at a time per connection) and start the task after commit."""
    from jobs.tasks import connection_import_task

    if connection.kind not in IMPORTABLE_KINDS:
        raise ValidationError("Only OpenAI connections have a job history to import.")
    claimed = (
        Connection.objects.filter(id=connection.id)
        .exclude(import_state=Connection.ImportState.RUNNING)
        .update(import_state=Connection.ImportState.RUNNING, import_message="Starting the import…")
    )
    if claimed:
        transaction.on_commit(lambda: connection_import_task.delay(connection.id))
    return bool(claimed)


def connection_import_fetch(
    *, connection: Connection, client: httpx.Client | None = None
) -> Iterator[ProviderJobHistory]:
    """Yield a ProviderJobHistory for every fine-tuning job on the connection's account, newest first."""
    provider = connection_get_provider(connection=connection, client=client)
    if not provider.has_job_history:
        raise ValidationError(f"{provider.display_name} has no job history fineweb can import.")
    for job in provider.iter_jobs(page_size=50):
        yield provider.job_history(job)


Store = Callable[..., bool]


def connection_import_jobs(
    *, connection: Connection, client: httpx.Client | None = None, store: Store | None = None
) -> dict:
    """Copy every job of an OpenAI account (events, checkpoints, metric points) into fineweb.

    `store(team=, connection=, history=)` saves one ProviderJobHistory and returns True when it
    created something new (default: `job_import_history`); it must be idempotent (running the
    import twice stores nothing twice). Returns counts; provider errors propagate (the task marks
    the import failed with their sentence).
    """
    store = store or job_import_history
    seen = created = 0
    for history in connection_import_fetch(connection=connection, client=client):
        seen += 1
        if store(team=connection.team, connection=connection, history=history):
            created += 1
        Connection.objects.filter(id=connection.id).update(
            import_message=f"Read {seen} job{'s' if seen != 1 else ''} so far ({created} new)…"
        )
    return {"seen": seen, "created": created}


# --- storing it ------------------------------------------------------------------------------


def version_for_training_file(*, team, training_file):
    """The team's dataset version holding the provider's training file (same name and size), or None.

    A frozen version wins over one still in review, then the newest. A file uploaded without its
    original name, or one whose size differs by a byte, matches nothing: a wrong link would be
    worse than none (it would also keep that dataset from being deleted).
    """
    from datasets_app.models import DatasetVersion

    if training_file is None or not training_file.bytes or not training_file.filename:
        return None
    name = PurePosixPath(training_file.filename.replace("\\", "/")).name
    candidates = (
        DatasetVersion.objects.filter(dataset__team=team, original_filename=name)
        .filter(Q(blob__size=training_file.bytes) | Q(train_blob__size=training_file.bytes))
        .select_related("dataset")
        .order_by("-created")
    )
    rows = list(candidates)
    frozen = [v for v in rows if v.is_frozen]
    return (frozen or rows)[0] if rows else None


def _launched_here(*, team, remote: ProviderJob) -> bool:
    """A job fineweb itself created (the provider hands back our idempotency key)."""
    key = remote.idempotency_key
    return bool(key) and Job.objects.filter(team=team, idempotency_key=key).exists()


def _imported_job(*, team, connection, remote: ProviderJob, training_file) -> Job:
    # An unknown status keeps the job polled as queued.
    status = job_status_from_provider(remote.status) or Job.Status.QUEUED
    method = (
        remote.method if remote.method in Job.Method.values else (remote.method or Job.Method.SUPERVISED)[:16]
    )
    now = timezone.now()
    job = Job.objects.create(
        team=team,
        connection=connection,
        source=Job.Source.IMPORTED,
        imported_at=now,
        dataset_version=version_for_training_file(team=team, training_file=training_file),
        provider_job_id=remote.id,
        status=status,
        provider_status=(remote.raw_status or remote.status or "")[:50],
        base_model=(remote.model or "unknown")[:200],
        method=method,
        hyperparameters=dict(remote.hyperparameters or {}),
        suffix=(remote.suffix or "")[:40],
        seed=remote.seed,
        provider_training_file_id=(remote.training_file_id or "")[:200],
        provider_validation_file_id=(remote.validation_file_id or "")[:200],
        provider_training_filename=(training_file.filename if training_file else "")[:255],
        provider_training_bytes=training_file.bytes if training_file else None,
        fine_tuned_model=(remote.fine_tuned_model or "")[:300],
        trained_tokens=remote.trained_tokens,
        total_steps=remote.total_steps,
        error_message=remote.error_message or "",
        finished_at=(remote.finished_at or now) if status in Job.FINISHED else None,
        # Still running at the provider: beat picks it up like any other job.
        next_sync_at=None if status in Job.FINISHED else now,
        last_synced_at=now,
    )
    # The list sorts by launch date: an imported job keeps the date it was created at the provider.
    if remote.created_at is not None:
        Job.objects.filter(id=job.id).update(created=remote.created_at)
        job.created = remote.created_at
    return job


def job_import_history(*, team, connection, history: ProviderJobHistory) -> bool:
    """Store one job of the provider's history; True when it was new to fineweb. Idempotent."""
    if connection.team_id != team.id:
        raise ValueError("a connection only imports into its own team")
    remote = history.job
    if not remote.id or _launched_here(team=team, remote=remote):
        return False
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(connection=connection, provider_job_id=remote.id).first()
        created = job is None
        if job is None:
            job = _imported_job(
                team=team, connection=connection, remote=remote, training_file=history.training_file
            )
        elif job.imported and job.dataset_version_id is None:
            # The team may have uploaded the training file since the last import: link it now.
            version = version_for_training_file(team=team, training_file=history.training_file)
            if version is not None:
                Job.objects.filter(id=job.id, dataset_version__isnull=True).update(dataset_version=version)
        total_steps = job_reports_store(
            job=job, events=history.events, points=history.metrics, checkpoints=history.checkpoints
        )
        if total_steps and not job.total_steps:
            Job.objects.filter(id=job.id).update(total_steps=total_steps)
    return created
