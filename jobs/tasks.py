"""Celery tasks of jobs: each takes an id, loads nothing itself and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import services
from jobs.imports import connection_import_jobs
from providers.errors import ProviderError
from providers.models import Connection

logger = logging.getLogger(__name__)


def _submit_failed(task, exc, task_id, args, kwargs, einfo):
    """Out of retries (or an unexpected error): the job page says what happened."""
    message = (
        getattr(exc, "user_message", None) or "fineweb could not submit this job. Try launching it again."
    )
    services.job_submit_give_up(job_id=args[0], message=message)


@shared_task(
    name="jobs.submit_job",
    bind=True,
    autoretry_for=(ProviderError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
    on_failure=_submit_failed,
)
def job_submit_task(self, job_id: int) -> None:
    services.job_submit(job_id=job_id)


@shared_task(name="jobs.sync_job", soft_time_limit=120, time_limit=180)
def job_sync_task(job_id: int) -> None:
    services.job_sync(job_id=job_id)


@shared_task(name="jobs.sync_due_jobs", soft_time_limit=30, time_limit=60)
def jobs_sync_due() -> int:
    """Beat, every few seconds: sync the jobs that are due, and resume submits cut off by a crash."""
    due = services.jobs_due_for_sync()
    for job_id in due:
        job_sync_task.delay(job_id)
    for job_id in services.jobs_stalled_submits():
        job_submit_task.delay(job_id)
    return len(due)


# The name predates the import's move to jobs/ (the button is on a connection); kept for routing
# and for messages already queued.
@shared_task(
    name="providers.import_jobs", ignore_result=True, acks_late=True, soft_time_limit=3000, time_limit=3600
)
def connection_import_task(connection_id: int) -> None:
    """Run an import claimed by connection_import_start; a provider error ends it with its sentence."""
    connection = Connection.objects.filter(
        id=connection_id, import_state=Connection.ImportState.RUNNING
    ).first()
    if connection is None:
        return
    try:
        counts = connection_import_jobs(connection=connection)
    except (ProviderError, ValidationError) as exc:
        message = exc.user_message if isinstance(exc, ProviderError) else " ".join(exc.messages)
        Connection.objects.filter(id=connection_id).update(
            import_state=Connection.ImportState.FAILED, import_message=f"The import stopped: {message}"
        )
        return
    except Exception:
        logger.exception("import for connection %s failed", connection_id)
        Connection.objects.filter(id=connection_id).update(
            import_state=Connection.ImportState.FAILED,
            import_message="The import stopped on an unexpected error; the server log has the details.",
        )
        raise
    Connection.objects.filter(id=connection_id).update(
        import_state=Connection.ImportState.DONE,
        imported_at=timezone.now(),
        import_message=(
            f"Imported {counts['created']} new job{'s' if counts['created'] != 1 else ''} "
            f"({counts['seen']} on the account) on {timezone.now():%Y-%m-%d %H:%M} UTC."
        ),
    )
