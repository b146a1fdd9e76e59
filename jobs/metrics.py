"""Metric points from what providers report, merged per step and stored once.

Providers report the same step several times: OpenAI in a `metrics` event and again in the
result file CSV (with validation numbers the event may lack; providers/ parses it), Together
through its metrics endpoint. Every source becomes `{step: {field: value}}`; storing merges into the existing row, a
value only ever filling in or replacing another value, never erasing one with "missing".
"""

from __future__ import annotations

import math

from django.db import transaction

from jobs.models import Job, MetricPoint

# Names providers use for our four values (OpenAI events and CSV, OpenAI checkpoints, Together).
_ALIASES = {
    "train_loss": ("train_loss", "train/loss", "loss"),
    "train_accuracy": (
        "train_accuracy",
        "train_mean_token_accuracy",
        "train/accuracy",
        "train/token_accuracy",
    ),
    "valid_loss": ("valid_loss", "full_valid_loss", "eval/loss", "validation_loss", "val_loss"),
    "valid_accuracy": (
        "valid_accuracy",
        "valid_mean_token_accuracy",
        "full_valid_mean_token_accuracy",
        "eval/accuracy",
        "eval/token_accuracy",
    ),
}
_STEP_KEYS = ("step", "train/global_step", "eval/global_step", "global_step", "step_number")

Points = dict[int, dict[str, float]]


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def metric_values_from(data) -> tuple[int | None, dict[str, float]]:
    """(step, values) from a mapping (or an object with attributes) using any known key names."""
    if data is None:
        return None, {}
    get = data.get if isinstance(data, dict) else (lambda key, default=None: getattr(data, key, default))
    step = None
    for key in _STEP_KEYS:
        number = _number(get(key, None))
        if number is not None:
            step = int(number)
            break
    values: dict[str, float] = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            number = _number(get(alias, None))
            if number is not None:
                values[field] = number
                break
    return step, values


def points_add(points: Points, data) -> None:
    step, values = metric_values_from(data)
    if step is not None and values:
        points.setdefault(step, {}).update(values)


@transaction.atomic
def metric_points_store(*, job: Job, points: Points) -> int:
    """Upsert points by step, merging values into existing rows. Returns how many steps were new."""
    steps = sorted(points)
    created = 0
    for start in range(0, len(steps), 2000):
        chunk = steps[start : start + 2000]
        existing = {
            p.step: p for p in MetricPoint.objects.select_for_update().filter(job=job, step__in=chunk)
        }
        rows = []
        for step in chunk:
            row = existing.get(step) or MetricPoint(job=job, step=step)
            for field, value in points[step].items():
                setattr(row, field, value)
            rows.append(row)
        MetricPoint.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["job", "step"],
            update_fields=list(MetricPoint.VALUE_FIELDS),
        )
        created += len(chunk) - len(existing)
    return created
