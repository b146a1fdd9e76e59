"""Celery tasks of the local provider. `localtuner.*` is routed to the `training` queue
(CELERY_TASK_ROUTES in fineweb/settings.py); beat sends the sweep to `default` explicitly so a long
training run on a concurrency-1 training worker never delays it."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from localtuner.training import job_train, jobs_sweep_stale


@shared_task(
    name="localtuner.train_job",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.FINEWEB_LOCAL_TRAIN_TIME_LIMIT,
    time_limit=settings.FINEWEB_LOCAL_TRAIN_TIME_LIMIT + 120,
)
def train_job(job_id: int) -> None:
    job_train(job_id=job_id)


@shared_task(name="localtuner.sweep_stale_jobs", ignore_result=True)
def sweep_stale_jobs(include_unclaimed: bool = False) -> None:
    jobs_sweep_stale(include_unclaimed=include_unclaimed)


@worker_ready.connect
def sweep_when_a_training_worker_starts(sender=None, **kwargs) -> None:
    """A training worker that starts (after a crash, say) picks up jobs whose worker is gone."""
    queues = set(sender.app.amqp.queues.consume_from or {}) if sender is not None else set()
    if "training" in queues:
        sweep_stale_jobs.apply_async(kwargs={"include_unclaimed": True}, queue="training")
