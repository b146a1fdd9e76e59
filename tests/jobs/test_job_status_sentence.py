"""The sentence the job page shows next to the status badge comes from the model."""

from __future__ import annotations

import pytest

from jobs.models import Job


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        ("draft", "fineweb is uploading the data and creating the job at the provider."),
        ("submitting", "fineweb is uploading the data and creating the job at the provider."),
        ("validating_files", "The provider is checking the uploaded files."),
        ("queued", "The provider has accepted the job and will start it soon."),
        ("running", "Training."),
        ("cancelling", "Cancel requested; waiting for the provider to stop the job."),
        ("succeeded", "Training finished."),
        ("failed", "The job failed."),
        ("cancelled", "The job was cancelled."),
    ],
)
def test_every_status_has_its_sentence(status, sentence):
    assert Job(status=status).status_sentence == sentence


def test_no_status_is_left_without_a_sentence():
    assert all(Job(status=value).status_sentence for value in Job.Status.values)


@pytest.mark.django_db
def test_the_job_page_shows_the_sentence(alice_client, team, version, openai_connection):
    from tests.factories import make_job

    job = make_job(team, version, openai_connection, status=Job.Status.QUEUED)
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert "The provider has accepted the job and will start it soon." in html
