"""The busy pages run a fixed, small number of queries, however many rows they show.

A page whose query count grows with its rows (one query per dataset, job or event) is what turns
20 users into seconds of latency; these tests fail on any N+1 that creeps in.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobEvent, MetricPoint
from tests.factories import make_connection, make_job, make_version

pytestmark = pytest.mark.django_db


def _count(client, path: str) -> int:
    client.get(path)  # warm the session and any per-process caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(queries.captured_queries)


def _fill(team, n: int):
    conn = make_connection(team, name=f"OpenAI {n}")
    versions = [make_version(team, name=f"set-{n}-{i}") for i in range(n)]
    jobs = [
        make_job(team, v, conn, status=Job.Status.SUCCEEDED, fine_tuned_model=f"ft:m:{i}")
        for i, v in enumerate(versions)
    ]
    job = jobs[0]
    JobEvent.objects.bulk_create(
        [
            JobEvent(job=job, provider_event_id=f"e{n}-{i}", created_at=timezone.now(), message=f"step {i}")
            for i in range(n * 60)
        ]
    )
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, step=s, train_loss=1.0 / s) for s in range(1, n * 20 + 1)]
    )
    return versions[0], job


# The most queries each page may run: the session, the user and the team's membership, then its own.
MOST = {
    "datasets list": 5,
    "version page": 5,
    "examples page": 4,
    "jobs list": 6,
    "job page": 8,  # its events and checkpoints: one query of their counts while kept rendered
    "job page fragment": 7,
    "home": 4,
}


@pytest.mark.parametrize("page", list(MOST))
def test_a_page_runs_the_same_few_queries_for_one_row_or_many(
    alice_client, team, page, django_assert_max_num_queries
):
    counts = []
    for n in (1, 8):
        version, job = _fill(team, n)
        path = {
            "datasets list": "/datasets/",
            "version page": f"/datasets/{version.dataset_id}/v/{version.number}/",
            "examples page": f"/datasets/{version.dataset_id}/v/{version.number}/examples/",
            "jobs list": "/jobs/",
            "job page": f"/jobs/{job.id}/",
            "job page fragment": f"/jobs/{job.id}/",
            "home": "/",
        }[page]
        if page == "job page fragment":
            alice_client.defaults["HTTP_HX_REQUEST"] = "true"
        counts.append(_count(alice_client, path))
    assert counts[0] == counts[1], f"{page}: {counts[0]} queries with 1 row, {counts[1]} with 8"
    with django_assert_max_num_queries(MOST[page]):
        alice_client.get(path)
