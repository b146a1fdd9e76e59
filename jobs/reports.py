"""Storing what a provider reports about a job (events, metric points, checkpoints), each once.

The sync and the import of a provider's history both store through `job_reports_store`: the
unique constraints on the provider's ids and steps make storing the same report twice a no-op.
"""

from __future__ import annotations

from django.utils import timezone

from jobs.metrics import Points, metric_points_store, points_add
from jobs.models import Checkpoint, Job, JobEvent
from jobs.series import MAX_POINTS_PER_SERIES, job_series
from providers.base import MetricPoint, ProviderCheckpoint, ProviderEvent


def _event_rows(job: Job, events: list[ProviderEvent]) -> list[JobEvent]:
    rows = []
    for event in events:
        created = event.created_at or timezone.now()
        rows.append(
            JobEvent(
                job=job,
                provider_event_id=str(event.id),
                created_at=created,
                level=(event.level or "info")[:20],
                message=event.message or "",
                type=(event.type or "")[:50],
                data=event.data or None,
            )
        )
    return rows


def job_reports_store(
    *,
    job: Job,
    events: list[ProviderEvent],
    points: list[MetricPoint],
    checkpoints: list[ProviderCheckpoint],
) -> int | None:
    """Store events, metric points and checkpoints, each once (unique constraints); returns the
    total number of steps the points mention, if any.

    `points` are every metric point the adapter read, its events' included (`metrics_from_events`).
    """
    JobEvent.objects.bulk_create(_event_rows(job, events), ignore_conflicts=True)
    by_step: Points = {}
    total_steps = None
    for point in points:
        points_add(by_step, point)
        total_steps = point.total_steps or total_steps
    metric_points_store(job=job, points=by_step)
    if by_step:
        # Fold the new points into the kept series here, in the worker: no page, not even the
        # first one after an import of a long job's history, reads more than the kept series.
        job_series(job, max_points=MAX_POINTS_PER_SERIES)
    Checkpoint.objects.bulk_create(
        [
            Checkpoint(
                job=job,
                provider_checkpoint_id=str(c.id),
                step=c.step,
                model_name=c.model_name or "",
                metrics=c.metrics or {},
                created_at=c.created_at,
            )
            for c in checkpoints
        ],
        ignore_conflicts=True,
    )
    return total_steps if total_steps is not None and total_steps > 0 else None
