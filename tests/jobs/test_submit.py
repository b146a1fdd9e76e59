from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from tests.factories import make_job, make_version

pytestmark = pytest.mark.django_db


def created_jobs(fake) -> list:
    return fake.sent("POST", "/fine_tuning/jobs")


def test_submit_uploads_the_split_files_and_creates_the_job_with_the_stored_key(
    team, openai_connection, openai_fake
):
    version = make_version(team, split=True)
    job = make_job(team, version, openai_connection, suffix="support", seed=7)
    key = job.idempotency_key
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.VALIDATING_FILES
    assert job.provider_job_id in openai_fake.jobs
    assert job.provider_training_file_id and job.provider_validation_file_id
    uploads = openai_fake.sent("POST", "/files")
    assert len(uploads) == 2
    train = openai_fake.file_contents[job.provider_training_file_id]
    assert train == version.train_blob.path.read_bytes()
    (create,) = created_jobs(openai_fake)
    assert create.headers["idempotency-key"] == key
    body = json.loads(create.content)
    assert body["training_file"] == job.provider_training_file_id
    assert body["validation_file"] == job.provider_validation_file_id
    assert body["suffix"] == "support"
    assert job.next_sync_at is not None


def test_an_unsplit_version_uploads_its_whole_file(team, version, openai_connection, openai_fake):
    job = make_job(team, version, openai_connection)
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert openai_fake.file_contents[job.provider_training_file_id] == version.blob.path.read_bytes()
    assert job.provider_validation_file_id == ""


def test_submitting_twice_creates_one_provider_job(team, version, openai_connection, openai_fake):
    job = make_job(team, version, openai_connection)
    services.job_submit(job_id=job.id, client=openai_fake.client())
    assert services.job_submit(job_id=job.id, client=openai_fake.client()) is None
    assert len(openai_fake.jobs) == 1
    assert len(openai_fake.sent("POST", "/files")) == 1


def test_a_retry_after_a_crash_finds_the_job_instead_of_creating_another(
    team, version, openai_connection, openai_fake
):
    job = make_job(team, version, openai_connection)
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    first = job.provider_job_id
    # The worker died after the provider created the job but before we stored its id.
    Job.objects.filter(id=job.id).update(
        status=Job.Status.SUBMITTING,
        provider_job_id=None,
        submit_claimed_at=timezone.now() - services.SUBMIT_LEASE - timedelta(seconds=1),
    )
    openai_fake.idempotency.clear()  # even a server that ignores Idempotency-Key must not get two jobs
    assert services.jobs_stalled_submits() == [job.id]
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.provider_job_id == first
    assert len(openai_fake.jobs) == 1
    assert len(openai_fake.sent("POST", "/files")) == 1  # the stored file id was reused


def test_a_submit_still_within_its_lease_is_not_taken_over(team, version, openai_connection, openai_fake):
    job = make_job(
        team, version, openai_connection, status=Job.Status.SUBMITTING, submit_claimed_at=timezone.now()
    )
    assert services.job_submit(job_id=job.id, client=openai_fake.client()) is None
    assert services.jobs_stalled_submits() == []
    assert openai_fake.requests == []


def test_a_rejected_file_fails_the_job_with_the_providers_explanation(team, openai_connection, openai_fake):
    version = make_version(team, lines=[{"not json": True}])
    version.blob.path.write_bytes(b"not json at all\n")
    job = make_job(team, version, openai_connection)
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "Line 17" in job.error_message
    assert created_jobs(openai_fake) == []


def test_a_retryable_error_gives_the_job_back_for_the_next_try(
    team, version, openai_connection, openai_fake, fast_retries
):
    from providers.errors import ProviderError

    job = make_job(team, version, openai_connection)
    openai_fake.fail_next(
        times=10,
        status=503,
        body={"error": {"message": "overloaded", "type": "server_error"}},
        path_contains="/fine_tuning/jobs",
    )
    with pytest.raises(ProviderError):
        services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.DRAFT
    assert job.provider_training_file_id  # kept: the retry won't upload again
    openai_fake.failures.clear()
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.provider_job_id
    assert len(openai_fake.jobs) == 1
    assert len(openai_fake.sent("POST", "/files")) == 1


def test_the_idempotency_key_is_stored_before_any_provider_call(team, version, openai_connection):
    job = make_job(team, version, openai_connection)
    assert Job.objects.get(id=job.id).idempotency_key.startswith("fineweb-")
    other = make_job(team, version, openai_connection)
    assert other.idempotency_key != job.idempotency_key


def test_a_version_that_is_not_frozen_fails_the_job_without_uploading(team, openai_connection, openai_fake):
    version = make_version(team, frozen=False, split=True)
    job = make_job(team, version, openai_connection)
    services.job_submit(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_message.startswith("Only a frozen version can be trained on")
    assert openai_fake.sent("POST", "/files") == []
