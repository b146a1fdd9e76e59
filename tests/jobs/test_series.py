"""The kept downsampled series (jobs/series.py, issue 13 point 8): pages read a finished job's
points once, a running job's new points only, and a change to stored points rebuilds the series."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    x, y = series.job_series(job.id, max_points=max_points)[field]
    return x.tolist(), y.tolist()


def rows_read(job, max_points=50) -> int:
    """How many metric rows the call read from the database."""
    with CaptureQueriesContext(connection) as queries:
        series.job_series(job.id, max_points=max_points)
    reads = [q["sql"] for q in queries if MetricPoint._meta.db_table in q["sql"] and "step >" in q["sql"]]
    return len(reads)


def test_a_short_series_is_kept_as_it_is_and_read_once(job):
    store(job, range(1, 11))
    assert values_of(job) == (list(map(float, range(1, 11))), [1.0 / s for s in range(1, 11)])
    kept = MetricSeries.objects.get(job=job)
    assert kept.last_step == 10
    # The next page asks only for rows after step 10, and there are none.
    assert rows_read(job) == 1
    assert values_of(job)[0][-1] == 10.0


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
    assert len(x) <= 100 * series.SLACK
    assert x[0] == 1.0 and x[-1] == 2000.0
    assert max(y) == pytest.approx(6.0 + noise[777])
    # Growing a little past the budget is allowed; past the slack it is reduced again.
    store(job, range(2001, 2011), loss=lambda s: 1.0)
    assert len(values_of(job, max_points=100)[0]) <= 100 * series.SLACK
    assert values_of(job, max_points=100)[0][-1] == 2010.0


def test_changed_values_and_late_steps_rebuild_the_series(job):
    store(job, range(1, 21))
    values_of(job)
    metric_points_store(job=job, points={5: {"train_loss": 9.0}})  # a value replaced
    assert not MetricSeries.objects.filter(job=job).exists()
    assert values_of(job)[1][4] == 9.0
    metric_points_store(job=job, points={5: {"train_loss": 9.0}})  # the same value again: kept
    assert MetricSeries.objects.filter(job=job).exists()
    MetricPoint.objects.filter(job=job, step=7).delete()
    values_of(job)  # kept up to step 20; now step 7 arrives late
    metric_points_store(job=job, points={7: {"train_loss": 3.0}})
    assert not MetricSeries.objects.filter(job=job).exists()
    assert values_of(job)[1][6] == 3.0


def test_validation_values_added_later_show_on_the_curve(job):
    store(job, range(1, 11))
    curves_figure([job])
    metric_points_store(job=job, points={10: {"valid_loss": 0.7}})
    names = [t["name"] for t in curves_figure([job])["data"]]
    assert "validation loss" in names


def test_every_point_figure_reads_all_rows_and_keeps_nothing(job):
    store(job, range(1, 31))
    figure = curves_figure([job], max_points=None)
    assert figure["data"][0]["meta"]["field"] == "train_loss"
    assert not MetricSeries.objects.filter(job=job).exists()
