"""The OpenAI-compatible adapter against the REAL built-in local provider (never faked).

The connection every team gets reaches /local/v1 in-process through WSGI; training runs for real
on fineweb-tiny through `job_train`, the function the training Celery task calls.
"""

from __future__ import annotations

import pytest

from jobs.imports import connection_import_fetch
from localtuner.models import LocalApiKey, LocalJob
from localtuner.training import job_train
from providers.base import ChatReply
from providers.errors import AuthError, NotFound, ProviderError
from providers.models import Connection
from providers.services import connection_get_provider, connection_test
from tests.factories import food_lines

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local(team):
    connection = Connection.objects.get(team=team, kind="local")
    return connection, connection_get_provider(connection=connection)


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(food_lines(10))
    valid = tmp_path / "valid.jsonl"
    valid.write_text(food_lines(5))
    return train, valid


def test_the_test_button_works_against_the_local_provider(local):
    connection, _ = local
    ok, message = connection_test(connection=connection)
    assert ok, message
    assert "built-in local provider" in message and "can be fine-tuned" in message


def test_the_local_provider_lists_fineweb_tiny_as_fine_tunable(local):
    _, provider = local
    assert "fineweb-tiny" in [m.id for m in provider.list_models()]
    assert provider.price_per_million_training_tokens("fineweb-tiny") == 0


def test_a_local_key_the_provider_no_longer_knows_is_an_auth_error(local):
    connection, provider = local
    key = connection.api_key()
    LocalApiKey.objects.filter(team=connection.team).delete()
    with pytest.raises(AuthError) as caught:
        provider.list_models()
    assert key not in caught.value.user_message


def test_an_unknown_base_model_is_refused_with_the_local_providers_sentence(local, files):
    _, provider = local
    fid = provider.upload_file(path=files[0]).id
    with pytest.raises(NotFound) as caught:
        provider.create_job(
            model="no-such-model", training_file_id=fid, hyperparameters={}, idempotency_key="k-bad"
        )
    assert caught.value.user_message.startswith(
        "The built-in local provider answered “not found” for the job"
    )
    assert "fineweb-tiny" in caught.value.user_message


def test_a_file_that_is_not_jsonl_is_refused_at_upload_with_a_message_naming_the_line(local, tmp_path):
    """As at OpenAI, the format is checked at upload (a malformed line stored by other means still
    fails its job at validating_files: tests/localtuner/test_train_task.py)."""
    _, provider = local
    path = tmp_path / "bad.jsonl"
    path.write_text(food_lines(3) + "not json\n")
    with pytest.raises(ProviderError) as caught:
        provider.upload_file(path=path)
    assert "line 4" in caught.value.user_message, caught.value.user_message


def test_an_unknown_local_job_is_not_found(local):
    _, provider = local
    with pytest.raises(NotFound):
        provider.get_job("ftjob-doesnotexist")


def test_upload_create_train_then_read_everything_back_through_the_adapter(local, files):
    connection, provider = local
    train, valid = files
    train_file = provider.upload_file(path=train)
    valid_file = provider.upload_file(path=valid)
    assert train_file.bytes == train.stat().st_size
    assert provider.download_file(train_file.id) == train.read_bytes()

    created = provider.create_job(
        model="fineweb-tiny",
        training_file_id=train_file.id,
        validation_file_id=valid_file.id,
        hyperparameters={"n_epochs": 2, "batch_size": 2},
        suffix="colors",
        seed=3,
        idempotency_key="fineweb-k-1",
    )
    assert created.status == "validating_files"
    assert provider.find_job_by_idempotency_key("fineweb-k-1").id == created.id

    job_train(job_id=LocalJob.objects.get(public_id=created.id).pk)  # what the training worker runs

    job = provider.get_job(created.id)
    assert job.status == "succeeded", job.error_message
    assert job.fine_tuned_model and job.trained_tokens > 0 and job.result_file_ids
    assert job.hyperparameters["n_epochs"] == 2

    events = provider.list_events(created.id, limit=3)  # small pages: the adapter walks them all
    assert events[0].created_at <= events[-1].created_at
    assert any(e.type == "metrics" for e in events)
    assert len({e.id for e in events}) == len(events)
    assert provider.list_events(created.id, after=events[-1].id) == []
    middle = events[len(events) // 2]
    assert [e.id for e in provider.list_events(created.id, after=middle.id)] == [
        e.id for e in events[len(events) // 2 + 1 :]
    ]

    from_events = provider.metrics_from_events(events)
    from_csv = provider.metrics(created.id)
    assert from_csv and [p.step for p in from_csv] == sorted({p.step for p in from_csv})
    assert {p.step for p in from_events} <= {p.step for p in from_csv}
    assert all(p.train_loss is not None for p in from_csv)
    assert any(p.valid_loss is not None for p in from_csv)

    checkpoints = provider.list_checkpoints(created.id)
    assert checkpoints and all(c.model_name for c in checkpoints)

    reply = provider.chat(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "red"}], max_tokens=5
    )
    assert isinstance(reply, ChatReply) and reply.completion_tokens and reply.completion_tokens <= 5
    streamed = list(
        provider.chat(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": "red"}],
            max_tokens=5,
            temperature=0,
            stream=True,
        )
    )
    assert isinstance(streamed[-1], ChatReply)
    assert "".join(p for p in streamed[:-1] if isinstance(p, str)) == streamed[-1].text

    (history,) = [h for h in connection_import_fetch(connection=connection) if h.job.id == created.id]
    assert history.training_file is not None and history.training_file.filename == "train.jsonl"
    assert [p.step for p in history.metrics] == [p.step for p in from_csv]
    assert len(history.events) == len(events) and len(history.checkpoints) == len(checkpoints)


def test_cancelling_a_local_job_through_the_adapter(local, files):
    _, provider = local
    fid = provider.upload_file(path=files[0]).id
    created = provider.create_job(
        model="fineweb-tiny", training_file_id=fid, hyperparameters={}, idempotency_key="fineweb-k-2"
    )
    assert provider.cancel_job(created.id).status in ("cancelled", "running", "validating_files", "queued")
    job_train(job_id=LocalJob.objects.get(public_id=created.id).pk)
    assert provider.get_job(created.id).status == "cancelled"
