"""A real Celery worker is SIGKILLed in the middle of a submit; a new worker must not create a
second provider job. The provider is the spec-shaped OpenAI fake served over loopback HTTP, holding
the create request open after creating the job: the worst moment to die (the job exists at the
provider, its id never reached our database). It ignores Idempotency-Key, like some
OpenAI-compatible servers, so what saves us is our own lookup before creating."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.tasks import job_submit_task, jobs_sync_due
from tests.factories import make_connection, make_job, make_version
from tests.fakes.http_server import FakeHTTPServer
from tests.fakes.openai import FakeOpenAI
from tests.processes import wait_for

pytestmark = [pytest.mark.worker]


class CreateThenHang(FakeOpenAI):
    def __init__(self):
        super().__init__()
        self.create_calls = 0
        self.create_started = threading.Event()
        self.release = threading.Event()

    def _create_job(self, request):
        self.idempotency.clear()  # a server that does not honour Idempotency-Key
        response = super()._create_job(request)
        self.create_calls += 1
        if self.create_calls == 1:
            self.create_started.set()
            self.release.wait(60)
        return response


def test_a_worker_killed_mid_submit_leaves_exactly_one_provider_job(start_worker, team):
    fake = CreateThenHang()
    with FakeHTTPServer(fake) as server:
        connection = make_connection(
            team, kind="openai_compatible", name="Fake OpenAI", base_url=server.base_url
        )
        version = make_version(team, split=True)
        job = make_job(team, version, connection)
        worker = start_worker(queues="default")
        job_submit_task.delay(job.id)
        assert fake.create_started.wait(60), worker.log()

        worker.kill()  # SIGKILL, parent and pool child, while the create call is open
        fake.release.set()
        job.refresh_from_db()
        assert job.status == Job.Status.SUBMITTING
        assert job.provider_job_id is None
        assert job.provider_training_file_id and job.provider_validation_file_id
        assert len(fake.jobs) == 1

        # Time passes: the submit's lease runs out, and the next beat tick hands it to a new worker.
        Job.objects.filter(id=job.id).update(
            submit_claimed_at=timezone.now() - services.SUBMIT_LEASE - timedelta(seconds=1)
        )
        second = start_worker(queues="default")
        jobs_sync_due.delay()
        wait_for(
            lambda: Job.objects.get(id=job.id).provider_job_id,
            timeout=60,
            message=f"the retry\n{second.log()}",
        )

    job.refresh_from_db()
    assert len(fake.jobs) == 1
    assert fake.create_calls == 1
    assert job.provider_job_id == next(iter(fake.jobs))
    assert job.status == Job.Status.VALIDATING_FILES
    assert len(fake.sent("POST", "/files")) == 2  # train + validation, uploaded once each
