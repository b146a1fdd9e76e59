"""Shutdown dates a provider's model list reports are kept in the database (fineweb/lifecycle),
with the day they were seen and where, and read by the catalogue together with its built-in table:
every process and a restart see them (issue 13, point 4)."""

from __future__ import annotations

import os
from datetime import date

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fineweb.lib import catalogue
from fineweb.lifecycle import reported
from fineweb.lifecycle.models import ReportedShutdown
from providers.http import RetryPolicy
from providers.openai import OpenAIProvider
from providers.together import TogetherProvider
from tests import processes
from tests.factories import make_connection, make_job, make_version
from tests.fakes.openai import OPENAI_KEY, FakeOpenAI
from tests.fakes.together import TOGETHER_KEY, FakeTogether

pytestmark = pytest.mark.django_db

MINI = "gpt-4o-mini-2024-07-18"
TABLE_DAY = date(2027, 1, 14)  # the built-in table's shutdown of MINI
REPORTED_DAY = date(2026, 12, 20)


def openai_listing(shutdown_date) -> FakeOpenAI:
    """OpenAI's `GET /v1/models` with MINI's model object carrying `shutdown_date` (the spec's
    Model: a "YYYY-MM-DD" date, or null when none is announced)."""
    fake = FakeOpenAI()
    next(m for m in fake.models if m["id"] == MINI)["shutdown_date"] = shutdown_date
    return fake


def list_openai(fake: FakeOpenAI) -> list[str]:
    provider = OpenAIProvider(
        client=fake.client(), api_key=OPENAI_KEY, retry=RetryPolicy(sleep=lambda s: None)
    )
    return [m.id for m in provider.list_models(include_all=True)]


def test_a_date_in_openais_model_list_is_kept_with_when_and_where_it_was_seen():
    assert catalogue.retirement("openai", MINI) == TABLE_DAY
    list_openai(openai_listing(REPORTED_DAY.isoformat()))
    row = ReportedShutdown.objects.get(provider_kind="openai", model=MINI)
    assert row.shutdown_on == REPORTED_DAY and "GET /v1/models" in row.source and row.seen_at
    # The provider's figure, seen after the table was written, wins; fine-tunes of it go with it.
    assert catalogue.retirement("openai", MINI) == REPORTED_DAY
    assert catalogue.retirement("openai", f"ft:{MINI}:acme::AbC123") == REPORTED_DAY
    assert "20 December 2026" in catalogue.retirement_sentence("openai", MINI, today=date(2026, 12, 1))
    assert not catalogue.can_fine_tune("openai", MINI, today=date(2026, 12, 20))
    # Another model keeps the table's date.
    assert catalogue.retirement("openai", "gpt-4o-2024-08-06") == TABLE_DAY


def test_a_process_that_starts_later_reads_the_date_from_the_database():
    list_openai(openai_listing(REPORTED_DAY.isoformat()))
    reported.forget()  # what a restarted process holds: nothing read yet
    assert catalogue.retirement("openai", MINI) == REPORTED_DAY


def test_listing_again_writes_nothing_and_a_changed_date_replaces_the_old_one():
    fake = openai_listing(REPORTED_DAY.isoformat())
    list_openai(fake)
    first_seen = ReportedShutdown.objects.get(model=MINI).seen_at
    list_openai(fake)
    assert ReportedShutdown.objects.get(model=MINI).seen_at == first_seen
    list_openai(openai_listing("2027-02-01"))  # the provider moved the date
    row = ReportedShutdown.objects.get(model=MINI)
    assert row.shutdown_on == date(2027, 2, 1) and row.seen_at > first_seen
    assert ReportedShutdown.objects.count() == 1
    # null, "none announced", keeps the date reported before.
    list_openai(openai_listing(None))
    assert catalogue.retirement("openai", MINI) == date(2027, 2, 1)


def test_a_date_another_process_recorded_is_seen_by_the_next_request(alice_client, team):
    job = make_job(
        team, make_version(team), make_connection(team), fine_tuned_model=f"ft:{MINI}:acme::AbC123"
    )
    assert "14 January 2027" in alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert catalogue.retirement("openai", MINI) == TABLE_DAY  # this process has read the table
    ReportedShutdown.objects.create(  # a worker's sync listed the models meanwhile
        provider_kind="openai",
        model=MINI,
        shutdown_on=REPORTED_DAY,
        source="a worker",
        seen_at=timezone.now(),
    )
    assert catalogue.retirement("openai", MINI) == TABLE_DAY  # read once per request or task...
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()  # ...and afresh by the next one
    assert "retired on 20 December 2026" in html and "retired on 14 January 2027" not in html


def test_each_task_a_worker_runs_reads_the_table_afresh():
    from celery.signals import task_prerun

    assert catalogue.retirement("openai", MINI) == TABLE_DAY
    ReportedShutdown.objects.create(
        provider_kind="openai", model=MINI, shutdown_on=REPORTED_DAY, source="a page", seen_at=timezone.now()
    )
    task_prerun.send(sender=None, task_id="t", task=None, args=(), kwargs={})
    assert catalogue.retirement("openai", MINI) == REPORTED_DAY


@pytest.mark.django_db(transaction=True)
def test_a_separate_process_sees_a_date_this_one_recorded():
    list_openai(openai_listing(REPORTED_DAY.isoformat()))
    env = {**os.environ, "DATABASE_URL": processes.database_url_for_children()}
    out = processes.manage(
        env,
        "shell",
        "-c",
        f"from fineweb.lib import catalogue; print(catalogue.retirement('openai', '{MINI}'))",
    )
    assert out.strip().splitlines()[-1] == REPORTED_DAY.isoformat()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        st.text(max_size=30),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.lists(st.integers()),
    )
)
def test_a_shutdown_date_that_is_no_date_is_ignored_and_the_list_still_reads(value):
    ReportedShutdown.objects.all().delete()
    reported.forget()
    ids = list_openai(openai_listing(value))
    assert MINI in ids
    row = ReportedShutdown.objects.filter(model=MINI).first()
    assert row is None or isinstance(row.shutdown_on, date)
    assert catalogue.retirement("openai", MINI) in (TABLE_DAY, row.shutdown_on if row else None)


def test_togethers_model_lists_carry_no_date_and_record_none():
    # Together's /fine-tunes/models/supported is a list of names and its /models objects have no
    # shutdown field (shared/api/together-finetuning.md 4.9): nothing is recorded, nothing erased.
    list_openai(openai_listing(REPORTED_DAY.isoformat()))
    fake = FakeTogether()
    fake.supported.append(MINI)  # even a name OpenAI dated
    provider = TogetherProvider(
        client=fake.client(), api_key=TOGETHER_KEY, retry=RetryPolicy(sleep=lambda s: None)
    )
    assert MINI in [m.id for m in provider.list_models(include_all=True)]
    assert list(ReportedShutdown.objects.values_list("provider_kind", "model")) == [("openai", MINI)]
    # OpenAI's date is OpenAI's: a Together connection serving that name is not shut down by it.
    assert catalogue.retirement("together", MINI) is None
    assert catalogue.retirement("openai", MINI) == REPORTED_DAY
