"""Each status change of a job is one line on the `fineweb.console` logger (make run's console)."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def console_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fineweb.console"]


def test_a_sync_that_changes_the_status_says_so_once(caplog, team, version, openai_connection, openai_fake):
    remote = openai_fake.add_job(status="succeeded")
    job = make_job(
        team,
        version,
        openai_connection,
        provider_job_id=remote["id"],
        status=Job.Status.RUNNING,
        next_sync_at=timezone.now(),
    )
    with caplog.at_level(logging.INFO, logger="fineweb.console"):
        services.job_sync(job_id=job.id, client=openai_fake.client())
        services.job_sync(job_id=job.id, client=openai_fake.client())
    assert console_lines(caplog) == [f"Job #{job.id}: Running -> Succeeded"]


def test_cancelling_a_draft_says_so(caplog, team, version, openai_connection):
    job = make_job(team, version, openai_connection)
    with caplog.at_level(logging.INFO, logger="fineweb.console"):
        services.job_cancel(job=job)
    assert console_lines(caplog) == [f"Job #{job.id}: Draft -> Cancelled"]
