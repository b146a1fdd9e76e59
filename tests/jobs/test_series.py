"""The kept downsampled series (jobs/series.py, issue 13 point 8): pages read a finished job's
points once, a running job's new points only, a change to stored points rebuilds the series, and
the kept series is always the one a fresh reduction of every row gives."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import series
from jobs.metrics import metric_points_store
from jobs.models import Job, MetricPoint, MetricSeries
from jobs.selectors import curves_figure
from tests.factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(team, version, openai_connection):
    return make_job(team, version, openai_connection, status=Job.Status.RUNNING)


def store(job, steps, loss=lambda s: 1.0 / s):
    metric_points_store(job=job, points={s: {"train_loss": loss(s)} for s in steps})


def values_of(job, field="train_loss", max_points=50):
    x, y = series.job_series(job, max_points=max_points).series[field]
    return x.tolist(), y.tolist()


def fresh(job, max_points):
    """Every stored row of the job, reduced from scratch: what the kept series must equal."""
    rows = series.rows_after(job.id, None)
    steps = rows[MetricPoint.VALUE_FIELDS[0]][0]
    return series.downsample(rows, first_step=int(steps[0]), last_step=int(steps[-1]), max_points=max_points)


def assert_same_series(got, expected):
    for field in MetricPoint.VALUE_FIELDS:
        np.testing.assert_array_equal(got[field][0], expected[field][0], err_msg=field)
        np.testing.assert_array_equal(got[field][1], expected[field][1], err_msg=field)


def rows_read(job, max_points=50) -> list[str]:
    """The metric-row reads the call ran, as SQL."""
    with CaptureQueriesContext(connection) as queries:
        series.job_series(job, max_points=max_points)
    return [q["sql"] for q in queries if f"FROM {MetricPoint._meta.db_table}" in q["sql"]]


def test_a_short_series_is_kept_as_it_is_and_read_once(job):
    store(job, range(1, 11))
    assert values_of(job) == (list(map(float, range(1, 11))), [1.0 / s for s in range(1, 11)])
    kept = MetricSeries.objects.get(job=job)
    assert kept.last_step == 10
    # The job's highest stored step is 10, which the kept series reaches: no row is read again.
    assert rows_read(job) == []
    store(job, [11])
    reads = rows_read(job)  # then only the row after step 10
    assert len(reads) == 1 and "step >" in reads[0]
    assert values_of(job)[0][-1] == 11.0


def test_new_points_of_a_running_job_extend_the_kept_series(job):
    store(job, range(1, 41))
    values_of(job)
    store(job, range(41, 46))
    x, y = values_of(job)
    assert x[-5:] == [41.0, 42.0, 43.0, 44.0, 45.0] and y[-1] == pytest.approx(1 / 45)
    assert MetricSeries.objects.get(job=job).last_step == 45


def test_a_long_series_is_reduced_keeping_its_ends_and_its_spike(job):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 2001)
    store(job, range(1, 2001), loss=lambda s: 1.0 + noise[s] + (5.0 if s == 777 else 0.0))
    x, y = values_of(job, max_points=100)
    assert 50 <= len(x) <= 100
    assert x[0] == 1.0 and x[-1] == 2000.0
    assert max(y) == pytest.approx(6.0 + noise[777])
    store(job, range(2001, 2011), loss=lambda s: 1.0)
    x, _ = values_of(job, max_points=100)
    assert len(x) <= 100 and x[-1] == 2010.0


def test_the_kept_series_of_a_running_job_equals_a_fresh_downsample_as_points_arrive(job):
    rng = np.random.default_rng(1)
    step = 0
    for chunk in (5, 300, 1, 2500, 37, 4000, 3):
        steps = range(step + 1, step + chunk + 1)
        points = {}
        for s in steps:
            points[s] = {"train_loss": float(rng.normal(1, 0.3)), "train_accuracy": float(rng.random())}
            if s % 10 == 0:
                points[s]["valid_loss"] = float(rng.normal(1.2, 0.3))
        metric_points_store(job=job, points=points)
        step += chunk
        kept = series.job_series(job, max_points=200)
        assert kept.last_step == step
        assert_same_series(kept.series, fresh(job, 200))
        assert all(len(x) <= 200 for x, _ in kept.series.values())
    # The last page read only the 3 new rows, not the 6,846 before them.
    assert MetricSeries.objects.get(job=job).last_step == step


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunks=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=6),
    start=st.integers(min_value=0, max_value=5000),
    gap=st.integers(min_value=1, max_value=7),
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50),
    budget=st.integers(min_value=4, max_value=120),
)
def test_any_arrival_order_of_new_steps_gives_the_fresh_downsample(
    team, version, openai_connection, chunks, start, gap, values, budget
):
    job = make_job(team, version, openai_connection, status=Job.Status.RUNNING)
    step, i = start, 0
    for chunk in chunks:
        points = {}
        for _ in range(chunk):
            points[step] = {"train_loss": values[i % len(values)]}  # repeats: ties in min and max
            step += gap
            i += 1
        metric_points_store(job=job, points=points)
        assert_same_series(series.job_series(job, max_points=budget).series, fresh(job, budget))


def test_changed_values_and_late_steps_rebuild_the_series(job):
    store(job, [s for s in range(1, 21) if s != 7])
    values_of(job)
    metric_points_store(job=job, points={5: {"train_loss": 9.0}})  # a value replaced
    assert values_of(job)[1][4] == 9.0
    revision = Job.objects.get(id=job.id).metrics_revision
    assert revision == 1
    metric_points_store(job=job, points={5: {"train_loss": 9.0}})  # the same value again: kept
    assert Job.objects.get(id=job.id).metrics_revision == revision
    assert MetricSeries.objects.filter(job=job, revision=revision).exists()
    metric_points_store(job=job, points={7: {"train_loss": 3.0}})  # step 7 arrives late
    assert Job.objects.get(id=job.id).metrics_revision == revision + 1
    x, y = values_of(job)
    assert x[6] == 7.0 and y[6] == 3.0
    assert_same_series(series.job_series(job, max_points=50).series, fresh(job, 50))


def test_a_page_that_read_the_rows_before_a_change_never_serves_its_series(job):
    store(job, range(1, 21))
    page_job = Job.objects.get(id=job.id)  # a page loads the job and reads the rows...
    series.job_series(page_job, max_points=50)
    late_write = MetricSeries.objects.get(job=job)
    metric_points_store(job=job, points={3: {"train_loss": 7.0}})  # ...a sync changes a drawn step...
    late_write.save()  # ...and the page's write of what it read lands after that commit.
    next_page = Job.objects.get(id=job.id)
    assert values_of(next_page)[1][2] == 7.0
    assert MetricSeries.objects.get(job=job).revision == next_page.metrics_revision


def test_a_sync_folds_its_points_into_the_kept_series_so_no_page_reads_them_all(job):
    from jobs.reports import job_reports_store
    from providers.base import MetricPoint as ReportedPoint

    reported = [ReportedPoint(step=s, train_loss=1.0 / s) for s in range(1, 3001)]
    job_reports_store(job=job, events=[], points=reported, checkpoints=[])
    kept = MetricSeries.objects.get(job=job)
    assert kept.last_step == 3000 and kept.revision == job.metrics_revision
    assert_same_series(
        series.job_series(job, max_points=series.MAX_POINTS_PER_SERIES).series, fresh(job, 2000)
    )


def test_validation_values_added_later_show_on_the_curve(job):
    store(job, range(1, 11))
    curves_figure([job])
    metric_points_store(job=job, points={10: {"valid_loss": 0.7}})
    names = [t["name"] for t in curves_figure([job])["data"]]
    assert "validation loss" in names


def test_a_job_without_points_keeps_nothing(job):
    kept = series.job_series(job, max_points=50)
    assert not kept.has_points and all(len(x) == 0 for x, _ in kept.series.values())
    assert not MetricSeries.objects.filter(job=job).exists()


def test_every_point_figure_reads_all_rows_and_keeps_nothing(job):
    store(job, range(1, 31))
    figure = curves_figure([job], max_points=None)
    assert figure["data"][0]["meta"]["field"] == "train_loss"
    assert not MetricSeries.objects.filter(job=job).exists()
