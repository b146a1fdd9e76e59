"""Celery tasks of jobs: each takes an id, loads nothing itself and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from jobs import services
from providers.errors import ProviderError

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
