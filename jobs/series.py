"""The downsampled metric series the job page and the curves page draw, kept per job.

Reading a 100,000-step job's rows costs far more than drawing its curve, so the pages read them
once: the series are reduced with LTTB (fineweb/lib/downsample.py) and stored in `MetricSeries`
with the highest step folded in. The next page reads only the rows after that step (none, for a
finished job: an index lookup) and folds them in, reducing again when a series grows past the
slack allowed above the page's budget, so a running job is not reduced on every poll.

Storing points that change already stored steps (OpenAI's result file adds validation numbers to
steps its events reported) drops the kept series: the next page reads all rows once.
"""

from __future__ import annotations

import numpy as np
from django.db import connection

from fineweb.lib.downsample import lttb
from jobs.models import MetricPoint, MetricSeries

Series = dict[str, tuple[np.ndarray, np.ndarray]]

# A kept series may grow this much past the budget before it is reduced again.
SLACK = 1.2


def rows_after(job_id: int, after_step: int | None) -> Series:
    """The stored points of a job after `after_step` (all when None), one (steps, values) pair per
    field, NaN where a step lacks the value. A plain cursor: 100k ORM rows cost more than the plot."""
    columns = ", ".join(("step", *MetricPoint.VALUE_FIELDS))
    sql = f"SELECT {columns} FROM {MetricPoint._meta.db_table} WHERE job_id = %s"
    params: list = [job_id]
    if after_step is not None:
        sql += " AND step > %s"
        params.append(after_step)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY step", params)
        rows = cursor.fetchall()
    arr = np.array(rows, dtype=float).reshape(-1, 1 + len(MetricPoint.VALUE_FIELDS))  # NULL -> NaN
    return {field: (arr[:, 0], arr[:, i + 1]) for i, field in enumerate(MetricPoint.VALUE_FIELDS)}


def _load(data: bytes | memoryview) -> Series:
    """The kept bytes back as arrays: float64, the series' lengths first, then x and y of each."""
    flat = np.frombuffer(bytes(data), dtype="<f8")
    n_fields = len(MetricPoint.VALUE_FIELDS)
    lengths = flat[:n_fields].astype(np.int64).tolist()
    out: Series = {}
    offset = n_fields
    for field, length in zip(MetricPoint.VALUE_FIELDS, lengths, strict=True):
        out[field] = (flat[offset : offset + length], flat[offset + length : offset + 2 * length])
        offset += 2 * length
    return out


def _dump(series: Series) -> bytes:
    fields = MetricPoint.VALUE_FIELDS
    parts = [np.array([len(series[f][0]) for f in fields], dtype="<f8")]
    for field in fields:
        parts += [series[field][0], series[field][1]]
    return np.concatenate(parts).astype("<f8").tobytes()


def job_series(job_id: int, *, max_points: int) -> Series:
    """Each metric of the job, NaN-free and at most `max_points * SLACK` points long (LTTB), from
    the kept series extended with the rows stored since."""
    kept = MetricSeries.objects.filter(job_id=job_id).values_list("last_step", "data").first()
    after, series = (kept[0], _load(kept[1])) if kept else (None, None)
    new = rows_after(job_id, after)
    steps = new[MetricPoint.VALUE_FIELDS[0]][0]
    if series is not None and not len(steps):
        return series
    out: Series = {}
    for field in MetricPoint.VALUE_FIELDS:
        x, y = new[field]
        keep = ~np.isnan(y)
        x, y = x[keep], y[keep]
        if series is not None:
            x = np.concatenate([series[field][0], x])
            y = np.concatenate([series[field][1], y])
        if len(x) > max_points * SLACK:
            x, y = lttb(x, y, max_points)
        out[field] = (x, y)
    last = int(steps[-1]) if len(steps) else (after if after is not None else 0)
    MetricSeries.objects.update_or_create(job_id=job_id, defaults={"last_step": last, "data": _dump(out)})
    return out


def job_series_forget(job_id: int) -> None:
    """Stored points changed under the kept series: the next page builds it again from all rows."""
    MetricSeries.objects.filter(job_id=job_id).delete()
