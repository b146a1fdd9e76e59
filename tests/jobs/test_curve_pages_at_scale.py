"""The job page and the curves page cost the same queries for a 10-step job as for a 5,000-step
one (issue 13 point 8): they read the kept series and the rows after it, never all rows, and the
page's other parts (progress, events, checkpoints) do not grow with the points either."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.metrics import metric_points_store
from jobs.models import Job, MetricPoint
from tests.factories import make_job

pytestmark = pytest.mark.django_db

PAGES = {
    "job page": ("/jobs/{id}/", {}),
    "job page poll": ("/jobs/{id}/", {"HX-Request": "true"}),
    "job page activity poll": ("/jobs/{id}/?part=activity", {"HX-Request": "true"}),
    "curves page": ("/jobs/curves/?ids={id}", {}),
}


def _job_with(team, version, connection_, n: int, status=Job.Status.SUCCEEDED) -> Job:
    job = make_job(team, version, connection_, status=status, total_steps=n)
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(job=job, step=s, train_loss=1.0 / s, valid_loss=2.0 / s if s % 10 == 0 else None)
            for s in range(1, n + 1)
        ]
    )
    return job


def _queries(client, path: str, headers: dict) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return len(queries.captured_queries), response.content


@pytest.mark.parametrize("page", list(PAGES))
def test_a_curve_page_runs_as_many_queries_at_5000_points_as_at_10(
    alice_client, team, version, openai_connection, page, django_assert_max_num_queries
):
    template, headers = PAGES[page]
    alice_client.get("/jobs/")  # the session and per-process caches, warm
    small = _job_with(team, version, openai_connection, 10)
    large = _job_with(team, version, openai_connection, 5000)
    first_small, _ = _queries(alice_client, template.format(id=small.id), headers)
    again_small, _ = _queries(alice_client, template.format(id=small.id), headers)
    with django_assert_max_num_queries(first_small):
        alice_client.get(template.format(id=large.id), headers=headers)  # builds the kept series
    with django_assert_max_num_queries(again_small):
        response = alice_client.get(template.format(id=large.id), headers=headers)
    if page in ("job page", "job page poll"):
        assert b"Step 5,000 of 5,000" in response.content and b'id="curve-data"' in response.content
    elif page == "curves page":
        assert b'id="curve-data"' in response.content


def test_a_running_jobs_poll_reads_only_its_new_points(
    alice_client, team, version, openai_connection, django_assert_max_num_queries
):
    small = _job_with(team, version, openai_connection, 10, status=Job.Status.RUNNING)
    large = _job_with(team, version, openai_connection, 5000, status=Job.Status.RUNNING)
    counts = []
    for job in (small, large):
        path = f"/jobs/{job.id}/"
        alice_client.get(path, headers={"HX-Request": "true"})
        last = job.total_steps or 0
        metric_points_store(job=job, points={s: {"train_loss": 0.5} for s in range(last + 1, last + 4)})
        with CaptureQueriesContext(connection) as queries:
            response = alice_client.get(path, headers={"HX-Request": "true"})
        counts.append(len(queries.captured_queries))
        reads = [q["sql"] for q in queries if f"FROM {MetricPoint._meta.db_table}" in q["sql"]]
        # One read of the metric rows, of the ones after the kept series' last step only.
        assert len(reads) == 1 and "step >" in reads[0], reads
        assert f"Step {last + 3:,}".encode() in response.content
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[0]):
        alice_client.get(f"/jobs/{large.id}/", headers={"HX-Request": "true"})


def test_a_synced_finished_jobs_pages_read_no_metric_row(alice_client, team, version, openai_connection):
    job = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    metric_points_store(job=job, points={s: {"train_loss": 1.0 / s} for s in range(1, 3001)})
    assert Job.objects.get(id=job.id).metrics_last_step == 3000
    alice_client.get(f"/jobs/curves/?ids={job.id}")  # the kept series, built once
    for path in (f"/jobs/{job.id}/", f"/jobs/curves/?ids={job.id}"):
        with CaptureQueriesContext(connection) as queries:
            html = alice_client.get(path).content
        assert b'id="curve-data"' in html
        assert not [q for q in queries if f"FROM {MetricPoint._meta.db_table}" in q["sql"]], path
