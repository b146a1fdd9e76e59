"""The downsampled metric series the job page and the curves page draw, kept per job.

Reading a 100,000-step job's rows costs far more than drawing its curve, so the pages read them
once. Each series is reduced with M4 over buckets of `width` steps (fineweb/lib/downsample.py),
the width the smallest power of two that keeps it within the page's budget, and stored in
`MetricSeries` with the highest step folded in. The next page reads only the rows after that
step, up to the job's highest stored step (`Job.metrics_last_step`, which jobs.metrics keeps):
none at all for a finished job, whose kept series reaches it. It reduces the kept points with them; when the
job grows past the budget the width doubles, which merges pairs of buckets. M4 of kept points is
M4 of all points, so the kept series of a running job is always the series a fresh reduction of
every row would give: pages are quick and their curve is the right one.

The kept series is valid for one `Job.metrics_revision`: storing points that change steps already
folded in (OpenAI's result file adds validation numbers to steps its events reported, a step
arrives late) raises the revision, and the next page reads all rows once. A page that read the
rows before such a change writes its series under the older revision, so it is never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection

from fineweb.lib.downsample import m4
from jobs.models import Job, MetricPoint, MetricSeries

Series = dict[str, tuple[np.ndarray, np.ndarray]]

# Per series: a chart is about 1,000 pixels wide, so the 2,000 points M4 keeps (4 per bucket of
# steps) show every bend and spike; more only cost server time, bytes and drawing time
# (benchmarks/bench_loss_curve.py).
MAX_POINTS_PER_SERIES = 2000


@dataclass(frozen=True)
class KeptSeries:
    series: Series  # per field, (steps, values) without NaN
    last_step: int | None  # the job's highest stored step; None when it has no points yet

    @property
    def has_points(self) -> bool:
        return self.last_step is not None


def rows_after(job_id: int, after_step: int | None, upto_step: int | None = None) -> Series:
    """The stored points of a job after `after_step` (all when None) and up to `upto_step` (the
    job's highest step, when known), one (steps, values) pair per field, NaN where a step lacks the
    value. A plain cursor: 100k ORM rows cost more than the plot. Both bounds keep PostgreSQL's
    planner on the (job, step) index: with `step >` alone it guessed a 100,000-step job next to a
    1,000,000-step one had many rows past its end and scanned them all."""
    columns = ", ".join(("step", *MetricPoint.VALUE_FIELDS))
    sql = f"SELECT {columns} FROM {MetricPoint._meta.db_table} WHERE job_id = %s"
    params: list = [job_id]
    if after_step is not None:
        sql += " AND step > %s"
        params.append(after_step)
    if upto_step is not None:
        sql += " AND step <= %s"
        params.append(upto_step)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY step", params)
        rows = cursor.fetchall()
    arr = np.array(rows, dtype=float).reshape(-1, 1 + len(MetricPoint.VALUE_FIELDS))  # NULL -> NaN
    return {field: (arr[:, 0], arr[:, i + 1]) for i, field in enumerate(MetricPoint.VALUE_FIELDS)}


def bucket_width(first_step: int, last_step: int, max_points: int) -> int:
    """The smallest power of two such that M4 over buckets of that many steps keeps at most
    `max_points` points from steps `first_step`..`last_step`: a bucket keeps at most 4 points
    (and never more than it has steps). It only grows as `last_step` does."""
    width = 1
    while (last_step // width - first_step // width + 1) * min(width, 4) > max_points:
        width *= 2
    return width


def downsample(series: Series, *, first_step: int, last_step: int, max_points: int) -> Series:
    """Each field of `series` reduced for a job whose steps run from `first_step` to `last_step`."""
    width = bucket_width(first_step, last_step, max_points)
    return {field: m4(x, y, width) for field, (x, y) in series.items()}


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


def _store(job: Job, *, first_step: int, last_step: int, max_points: int, series: Series) -> None:
    values = {
        "first_step": first_step,
        "last_step": last_step,
        "max_points": max_points,
        "revision": job.metrics_revision,
        "data": _dump(series),
    }
    # One UPDATE for a running job's poll; the INSERT once per job (or after a change).
    if not MetricSeries.objects.filter(job_id=job.id).update(**values):
        MetricSeries.objects.update_or_create(job_id=job.id, defaults=values)


def job_series(job: Job, *, max_points: int) -> KeptSeries:
    """Each metric of the job, NaN-free and at most `max_points` points long (M4), from the kept
    series extended with the rows stored since: the same points as `downsample` of every row."""
    kept = (
        MetricSeries.objects.filter(job_id=job.id, revision=job.metrics_revision, max_points=max_points)
        .values_list("first_step", "last_step", "data")
        .first()
    )
    highest = job.metrics_last_step  # None: points written around jobs.metrics (tests); ask the rows
    if kept is not None and highest is not None and kept[1] >= highest:
        return KeptSeries(_load(kept[2]), kept[1])  # nothing new: no metric row is read
    new = rows_after(job.id, kept[1] if kept else None, highest)
    steps = new[MetricPoint.VALUE_FIELDS[0]][0]
    if kept is not None and not len(steps):
        return KeptSeries(_load(kept[2]), kept[1])
    if kept is None and not len(steps):
        return KeptSeries({field: (np.empty(0), np.empty(0)) for field in MetricPoint.VALUE_FIELDS}, None)
    first = kept[0] if kept else int(steps[0])
    last = int(steps[-1])
    merged: Series = {}
    old = _load(kept[2]) if kept else None
    for field, (x, y) in new.items():
        present = ~np.isnan(y)
        x, y = x[present], y[present]
        if old is not None:
            x, y = np.concatenate([old[field][0], x]), np.concatenate([old[field][1], y])
        merged[field] = (x, y)
    out = downsample(merged, first_step=first, last_step=last, max_points=max_points)
    _store(job, first_step=first, last_step=last, max_points=max_points, series=out)
    return KeptSeries(out, last)
