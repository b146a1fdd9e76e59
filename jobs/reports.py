"""Storing what a provider reports about a job (events, metric points, checkpoints), each once.

The sync and the import of a provider's history both store through `job_reports_store`: the
unique constraints on the provider's ids and steps make storing the same report twice a no-op.
"""

from __future__ import annotations

from django.utils import timezone

from jobs.metrics import Points, metric_points_store, points_add
from jobs.models import Checkpoint, Job, JobEvent


def _event_rows(job: Job, events) -> list[JobEvent]:
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


def job_reports_store(*, job: Job, events, extra_points, checkpoints) -> int | None:
    """Store events, metric points (from metrics events and `extra_points`) and checkpoints, each
    once (unique constraints); returns the total number of steps the reports mention, if any."""
    JobEvent.objects.bulk_create(_event_rows(job, events), ignore_conflicts=True)
    points: Points = {}
    total_steps = None
    for event in events:
        data = event.data if isinstance(event.data, dict) else None
        if data and (event.type == "metrics" or "train_loss" in data):
            points_add(points, data)
            total_steps = data.get("total_steps") or total_steps
    for point in extra_points:
        points_add(points, point)
        total_steps = getattr(point, "total_steps", None) or total_steps
    metric_points_store(job=job, points=points)
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
    return int(total_steps) if isinstance(total_steps, int | float) and total_steps > 0 else None
