"""Metric points merged per step and stored once.

Providers report the same step several times: OpenAI in a `metrics` event and again in the
result file CSV (with validation numbers the event may lack), Together through its metrics
endpoint. The adapters turn every source into `providers.base.MetricPoint`s; here they become
`{step: {field: value}}`, and storing merges into the existing row, a value only ever filling in
or replacing another value, never erasing one with "missing".
"""

from __future__ import annotations

import math

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest

from jobs.models import Job, MetricPoint, MetricSeries
from providers import base

Points = dict[int, dict[str, float]]


def _values(point: base.MetricPoint) -> dict[str, float]:
    values = {
        "train_loss": point.train_loss,
        "train_accuracy": point.train_accuracy,
        "valid_loss": point.valid_loss,
        "valid_accuracy": point.valid_accuracy,
    }
    return {name: value for name, value in values.items() if value is not None and math.isfinite(value)}


def points_add(points: Points, point: base.MetricPoint) -> None:
    values = _values(point)
    if values:
        points.setdefault(point.step, {}).update(values)


@transaction.atomic
def metric_points_store(*, job: Job, points: Points) -> int:
    """Upsert points by step, merging values into existing rows. Returns how many steps were new."""
    steps = sorted(points)
    created = 0
    changed = False  # a value of a step the kept downsampled series holds (jobs/series.py)
    kept_last = MetricSeries.objects.filter(job=job).values_list("last_step", flat=True).first()
    for start in range(0, len(steps), 2000):
        chunk = steps[start : start + 2000]
        existing = {
            p.step: p for p in MetricPoint.objects.select_for_update().filter(job=job, step__in=chunk)
        }
        rows = []
        for step in chunk:
            old = existing.get(step)
            if old is None and kept_last is not None and step <= kept_last:
                changed = True  # a step arriving late, before the kept series' end
            row = old or MetricPoint(job=job, step=step)
            for field, value in points[step].items():
                if old is not None and getattr(old, field) != value:
                    changed = True
                setattr(row, field, value)
            rows.append(row)
        MetricPoint.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["job", "step"],
            update_fields=list(MetricPoint.VALUE_FIELDS),
        )
        created += len(chunk) - len(existing)
    if not steps:
        return 0
    update: dict = {
        "metrics_last_step": Greatest(Coalesce(F("metrics_last_step"), Value(steps[-1])), Value(steps[-1]))
    }
    if changed:
        # Steps already drawn changed: the kept downsampled series is out of date, and so is one
        # a page that read the rows before this commit writes after it (jobs/series.py).
        update["metrics_revision"] = F("metrics_revision") + 1
        MetricSeries.objects.filter(job=job).delete()
    Job.objects.filter(id=job.id).update(**update)
    job.refresh_from_db(fields=["metrics_revision", "metrics_last_step"])
    return created
