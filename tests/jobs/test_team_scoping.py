from __future__ import annotations

import pytest

from jobs.models import Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_job(team, version, openai_connection):
    return make_job(
        team, version, openai_connection, status=Job.Status.RUNNING, provider_job_id="ftjob-alice"
    )


def test_charlie_gets_404_on_every_jobs_url_with_alices_ids(charlie_client, alices_job, version):
    for url in (
        f"/jobs/{alices_job.id}/",
        f"/jobs/curves/?ids={alices_job.id}",
        f"/jobs/new/?from={alices_job.id}",
        f"/jobs/new/?version={version.id}",
    ):
        assert charlie_client.get(url).status_code == 404, url
    assert charlie_client.get(f"/jobs/{alices_job.id}/", headers={"HX-Request": "true"}).status_code == 404
    assert charlie_client.post(f"/jobs/{alices_job.id}/cancel/").status_code == 404
    assert Job.objects.get(id=alices_job.id).status == Job.Status.RUNNING


def test_charlies_list_does_not_show_alices_jobs(charlie_client, alices_job):
    html = charlie_client.get("/jobs/").content.decode()
    assert f"/jobs/{alices_job.id}/" not in html


def test_charlie_cannot_launch_on_alices_version_or_connection(charlie_client, version, openai_connection):
    response = charlie_client.post(
        "/jobs/new/",
        {
            "version": version.id,
            "connection": openai_connection.id,
            "base_model": "gpt-4o-mini-2024-07-18",
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "launch_token": "b" * 32,
        },
    )
    assert response.status_code == 200
    assert Job.objects.count() == 0
