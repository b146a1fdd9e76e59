"""Leaving OpenAI: read every job of an account with its events, checkpoints and metric points."""

from __future__ import annotations

import pytest

from jobs.imports import connection_import_fetch, connection_import_jobs, connection_import_start
from jobs.tasks import connection_import_task
from providers.errors import ProviderError
from providers.http import RetryPolicy
from providers.models import Connection
from providers.openai import OpenAIProvider
from providers.services import connection_create
from tests.fakes.openai import OPENAI_KEY, FakeOpenAI


@pytest.fixture
def fake():
    fake = FakeOpenAI()
    fake.add_job(status="succeeded", n_events=130, n_metrics=4, checkpoints=2)
    fake.add_job(status="failed", n_events=3)
    fake.add_job(status="running", n_events=2, n_metrics=5)
    training = fake._store_file("support-v3.jsonl", b'{"messages": []}\n')
    for job in fake.jobs.values():
        job["training_file"] = training
    return fake


@pytest.fixture
def connection(team, alice):
    return connection_create(team=team, user=alice, kind="openai", name="OpenAI", api_key=OPENAI_KEY)


def test_fetch_reads_every_job_with_all_its_events_checkpoints_and_metrics(connection, fake):
    histories = list(connection_import_fetch(connection=connection, client=fake.client()))
    assert len(histories) == 3
    by_status = {h.job.status: h for h in histories}
    done = by_status["succeeded"]
    assert len(done.events) == 134  # 130 messages + 4 metrics events, across two pages
    assert [c.step for c in done.checkpoints] == [10, 20]
    assert [p.step for p in done.metrics] == [1, 2, 3, 4]  # from the result CSV
    assert done.metrics[1].valid_loss == 2.3
    assert done.training_file is not None and done.training_file.filename == "support-v3.jsonl"
    assert [p.step for p in by_status["running"].metrics] == [1, 2, 3, 4, 5]  # from metrics events
    assert by_status["failed"].job.error_message


def test_a_job_whose_training_file_was_deleted_is_still_imported(connection, fake):
    for job in fake.jobs.values():
        job["training_file"] = "file-deleted"
    histories = list(connection_import_fetch(connection=connection, client=fake.client()))
    assert len(histories) == 3 and all(h.training_file is None for h in histories)


def test_import_hands_each_history_to_the_store_and_counts_what_was_new(connection, fake):
    stored = {}

    def store(*, team, connection, history):
        new = history.job.id not in stored
        stored[history.job.id] = history
        return new

    assert connection_import_jobs(connection=connection, client=fake.client(), store=store) == {
        "seen": 3,
        "created": 3,
    }
    assert connection_import_jobs(connection=connection, client=fake.client(), store=store) == {
        "seen": 3,
        "created": 0,
    }
    assert "Read 3 jobs so far" in Connection.objects.get(id=connection.id).import_message


def test_a_provider_error_mid_import_propagates_for_the_task_to_report(connection, fake):
    fake.fail_next(times=10, status=500, body={"error": {"message": "down"}}, path_contains="/events")
    provider_retry = RetryPolicy(sleep=lambda s: None, max_attempts=2)
    provider = OpenAIProvider(client=fake.client(), api_key=OPENAI_KEY, retry=provider_retry)
    with pytest.raises(ProviderError) as caught:
        provider.job_history(next(provider.iter_jobs()))
    assert "HTTP 500" in caught.value.user_message


def test_starting_twice_claims_once(connection, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert connection_import_start(connection=connection)
        assert not connection_import_start(connection=connection)
    assert len(callbacks) == 1
    assert Connection.objects.get(id=connection.id).import_state == "running"


def test_the_task_ends_a_failed_import_with_a_sentence(team, alice):
    # Nothing listens on port 9: the import stops on the connection error.
    connection = connection_create(
        team=team,
        user=alice,
        kind="openai_compatible",
        name="Down",
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
    )
    Connection.objects.filter(id=connection.id).update(import_state="running")
    connection_import_task(connection.id)
    fresh = Connection.objects.get(id=connection.id)
    assert fresh.import_state == "failed"
    assert fresh.import_message.startswith("The import stopped: ")


def test_the_task_does_nothing_for_an_import_nobody_claimed(connection):
    connection_import_task(connection.id)
    assert Connection.objects.get(id=connection.id).import_state == ""
