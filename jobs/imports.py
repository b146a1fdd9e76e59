"""Leaving OpenAI: storing the jobs a provider account ran before (or besides) fineweb.

`providers.services.connection_import_jobs` reads each job of the account with its events,
checkpoints, metric points and training file (a ProviderJobHistory) and hands it to
`job_import_history`, which stores it once:
- the job row is found again by (connection, provider job id), the same unique pair a launched
  job has, so importing twice creates nothing, and a job fineweb launched itself is not copied;
- events, metric points and checkpoints go through `job_reports_store`, as a sync does;
- a finished job is never polled; one still running at the provider is synced by beat.

The training data usually isn't in fineweb: the job then has no dataset version, and relaunching
it asks for one. When the team uploaded the same file (same name and size), the job links to it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job
from jobs.reports import job_reports_store


def _status_for(remote_status: str) -> str:
    """Our status for the provider's: an unknown one keeps the job polled as queued."""
    known = {s.value for s in Job.Status}
    if remote_status in known and remote_status not in (Job.Status.DRAFT, Job.Status.SUBMITTING):
        return remote_status
    return Job.Status.QUEUED


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
    candidates = list(candidates)
    frozen = [v for v in candidates if v.is_frozen]
    return (frozen or candidates or [None])[0]


def _launched_here(*, team, remote) -> bool:
    """A job fineweb itself created (its idempotency key is in the job's metadata)."""
    metadata = (remote.raw or {}).get("metadata") or {}
    key = metadata.get("fineweb_idempotency_key") if isinstance(metadata, dict) else None
    return bool(key) and Job.objects.filter(team=team, idempotency_key=key).exists()


def _imported_job(*, team, connection, remote, training_file) -> Job:
    status = _status_for(remote.status)
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
        seed=(remote.raw or {}).get("seed") if isinstance((remote.raw or {}).get("seed"), int) else None,
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


def job_import_history(*, team, connection, history) -> bool:
    """Store one job of the provider's history; True when it was new to fineweb. Idempotent."""
    if connection.team_id != team.id:
        raise ValueError("a connection only imports into its own team")
    remote = history.job
    if not remote.id or _launched_here(team=team, remote=remote):
        return False
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(connection=connection, provider_job_id=remote.id).first()
        created = job is None
        if created:
            job = _imported_job(
                team=team, connection=connection, remote=remote, training_file=history.training_file
            )
        elif job.imported and job.dataset_version_id is None:
            # The team may have uploaded the training file since the last import: link it now.
            version = version_for_training_file(team=team, training_file=history.training_file)
            if version is not None:
                Job.objects.filter(id=job.id, dataset_version__isnull=True).update(dataset_version=version)
        total_steps = job_reports_store(
            job=job, events=history.events, extra_points=history.metrics, checkpoints=history.checkpoints
        )
        if total_steps and not job.total_steps:
            Job.objects.filter(id=job.id).update(total_steps=total_steps)
    return created
