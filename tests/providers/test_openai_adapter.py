from __future__ import annotations

import base64
import json

import pytest

from providers.base import ChatReply
from providers.errors import BadRequest, MalformedResponse, NotFound, ProviderError
from providers.http import RetryPolicy
from providers.openai import OpenAIProvider
from providers.openai_parsing import parse_job, parse_result_csv
from tests.fakes.openai import OPENAI_KEY, RESULT_CSV, FakeOpenAI


@pytest.fixture
def fake():
    return FakeOpenAI()


@pytest.fixture
def waits():
    return []


@pytest.fixture
def provider(fake, waits):
    return OpenAIProvider(client=fake.client(), api_key=OPENAI_KEY, retry=RetryPolicy(sleep=waits.append))


def test_it_uploads_a_file_as_multipart_with_the_fine_tune_purpose(provider, fake, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": []}\n')
    uploaded = provider.upload_file(path=path)
    assert uploaded.id.startswith("file-")
    assert uploaded.bytes == path.stat().st_size
    assert uploaded.filename == "train.jsonl"
    assert fake.file_contents[uploaded.id] == path.read_bytes()
    assert b'name="purpose"\r\n\r\nfine-tune' in fake.sent("POST", "/files")[0].content


def test_a_rejected_file_is_a_bad_request_carrying_the_providers_line_number(provider, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json at all\n")
    with pytest.raises(BadRequest) as caught:
        provider.upload_file(path=path)
    assert "rejected the file" in caught.value.user_message
    assert "Line 17" in caught.value.user_message
    assert caught.value.status_code == 400


def test_it_creates_a_job_with_method_hyperparameters_and_the_idempotency_key_header(
    provider, fake, tmp_path
):
    path = tmp_path / "train.jsonl"
    path.write_text("{}\n")
    fid = provider.upload_file(path=path).id
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18",
        training_file_id=fid,
        hyperparameters={"n_epochs": 2, "batch_size": None},
        suffix="support",
        seed=7,
        idempotency_key="fineweb-job-42",
    )
    request = fake.sent("POST", "/fine_tuning/jobs")[0]
    body = json.loads(request.content)
    assert request.headers["Idempotency-Key"] == "fineweb-job-42"
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert body["suffix"] == "support" and body["seed"] == 7
    assert job.status == "validating_files" and job.raw_status == "validating_files"
    assert job.hyperparameters["n_epochs"] == 2
    assert job.training_file_id == fid


def test_creating_twice_with_one_key_returns_the_same_job_and_it_can_be_found_by_key(
    provider, fake, tmp_path
):
    path = tmp_path / "train.jsonl"
    path.write_text("{}\n")
    fid = provider.upload_file(path=path).id
    first = provider.create_job(
        model="gpt-4o-mini", training_file_id=fid, hyperparameters={}, idempotency_key="k1"
    )
    second = provider.create_job(
        model="gpt-4o-mini", training_file_id=fid, hyperparameters={}, idempotency_key="k1"
    )
    assert first.id == second.id
    assert len(fake.jobs) == 1
    assert provider.find_job_by_idempotency_key("k1").id == first.id
    assert provider.find_job_by_idempotency_key("other") is None


def test_a_job_with_unknown_status_and_extra_fields_parses_as_unknown_keeping_the_raw_status(provider, fake):
    job = fake.add_job(status="paused", brand_new_field={"x": 1}, trained_tokens="oops", created_at="garbage")
    parsed = provider.get_job(job["id"])
    assert parsed.status == "unknown"
    assert parsed.raw_status == "paused"
    assert parsed.trained_tokens is None
    assert parsed.created_at is None
    assert parsed.raw["brand_new_field"] == {"x": 1}


def test_a_job_missing_optional_fields_still_parses():
    parsed = parse_job({"id": "ftjob-1", "status": "running"})
    assert parsed.status == "running"
    assert parsed.fine_tuned_model is None
    assert parsed.hyperparameters == {}
    assert parsed.result_file_ids == []


def test_a_job_without_an_id_is_a_malformed_response():
    with pytest.raises(MalformedResponse):
        parse_job({"status": "running"})


def test_a_failed_job_carries_the_providers_error_message(provider, fake):
    job = fake.add_job(status="failed")
    parsed = provider.get_job(job["id"])
    assert parsed.status == "failed"
    assert parsed.error_message == "The job failed due to an invalid training file."


def test_an_unknown_job_is_not_found(provider):
    with pytest.raises(NotFound) as caught:
        provider.get_job("ftjob-nope")
    assert "Could not find fine-tune job" in caught.value.user_message


def test_list_events_pages_through_everything_and_returns_it_oldest_first(provider, fake):
    job = fake.add_job(n_events=250)
    events = provider.list_events(job["id"], limit=100)
    assert [e.message for e in events] == [f"Step {i} message" for i in range(250)]
    assert len(fake.sent("GET", "/events")) == 3


def test_list_events_after_an_id_returns_only_the_newer_ones_without_reading_older_pages(provider, fake):
    job = fake.add_job(n_events=250)
    all_events = fake.events[job["id"]]
    fake.requests.clear()
    events = provider.list_events(job["id"], after=all_events[239]["id"], limit=100)
    assert [e.message for e in events] == [f"Step {i} message" for i in range(240, 250)]
    assert len(fake.sent("GET", "/events")) == 1


def test_list_events_after_the_newest_event_is_empty(provider, fake):
    job = fake.add_job(n_events=5)
    assert provider.list_events(job["id"], after=fake.events[job["id"]][-1]["id"]) == []


def test_event_levels_and_types_are_normalised_and_unknown_ones_kept(provider, fake):
    job = fake.add_job()
    fake.events[job["id"]] = [
        fake._event(job["id"], "careful", level="warn", created_at=1),
        fake._event(job["id"], "new kind", type_="hyperparameter_sweep", level="debug", created_at=2),
        {"object": "fine_tuning.job.event", "created_at": 3, "message": "no id: skipped"},
    ]
    events = provider.list_events(job["id"])
    assert [(e.level, e.type) for e in events] == [("warning", "message"), ("debug", "hyperparameter_sweep")]


def test_metrics_come_from_metrics_events_while_a_job_runs(provider, fake):
    job = fake.add_job(status="running", n_events=3, n_metrics=6)
    points = provider.metrics(job["id"])
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    assert points[0].train_loss == pytest.approx(2.9)
    assert points[1].valid_loss == pytest.approx(2.7)
    assert points[0].valid_loss is None
    assert points[0].train_accuracy == pytest.approx(0.41)
    assert points[-1].total_steps == 6
    assert [p.step for p in provider.metrics(job["id"], after_step=4)] == [5, 6]


def test_metrics_come_from_the_result_csv_once_the_job_has_one(provider, fake):
    job = fake.add_job(status="succeeded", n_metrics=2)
    points = provider.metrics(job["id"])
    assert [p.step for p in points] == [1, 2, 3, 4]
    assert points[1].valid_loss == 2.3 and points[1].valid_accuracy == 0.45
    assert points[0].valid_loss is None
    assert points[3].total_steps == 4


def test_a_base64_encoded_result_csv_reads_the_same_as_a_plain_one():
    plain = parse_result_csv(RESULT_CSV.encode())
    encoded = parse_result_csv(base64.b64encode(RESULT_CSV.encode()))
    wrapped = parse_result_csv(base64.encodebytes(RESULT_CSV.encode()))  # with newlines every 76 chars
    assert plain == encoded == wrapped
    assert [p.train_loss for p in plain] == [2.5, 2.1, 1.7, 1.2]


def test_the_result_csv_tolerates_extra_columns_and_blank_values():
    text = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,new_col\n1,1.5,,,,1.4,x\n"
    (point,) = parse_result_csv(text.encode())
    assert point.train_loss == 1.5 and point.train_accuracy is None and point.valid_loss == 1.4


def test_a_result_file_that_is_neither_csv_nor_base64_is_malformed():
    with pytest.raises(MalformedResponse):
        parse_result_csv(b"<html>nope</html>")


def test_checkpoints_page_and_come_in_step_order(provider, fake):
    job = fake.add_job(checkpoints=3)
    checkpoints = provider.list_checkpoints(job["id"])
    assert [c.step for c in checkpoints] == [10, 20, 30]
    assert checkpoints[0].model_name.endswith(":ckpt-step-10")
    # In our names (OpenAI's own: full_valid_loss, full_valid_mean_token_accuracy).
    assert checkpoints[0].metrics["valid_loss"] == pytest.approx(1.1)
    assert checkpoints[0].metrics == {"train_loss": 1.0, "valid_loss": 1.1, "valid_accuracy": 0.8}


def test_cancel_returns_the_cancelled_job(provider, fake):
    job = fake.add_job(status="running")
    assert provider.cancel_job(job["id"]).status == "cancelled"


@pytest.mark.django_db  # which models fine-tune reads the catalogue's dates, kept in the database
def test_list_models_keeps_fine_tunable_base_models_unless_all_are_asked_for(provider):
    ids = [m.id for m in provider.list_models()]
    # gpt-4.1-nano is in the fake's list but was retired for fine-tuning on 2026-10-23.
    assert ids == ["gpt-4o-mini-2024-07-18"]
    every = provider.list_models(include_all=True)
    assert len(every) == 4
    assert not next(m for m in every if m.id.startswith("ft:")).fine_tunable


def test_a_compatible_server_decides_fine_tunability_by_its_own_flag(fake):
    fake.models = [
        {"id": "fineweb-tiny", "object": "model", "created": 1, "owned_by": "fineweb", "fine_tunable": True},
        {"id": "ft:fineweb-tiny:abc", "object": "model", "created": 1, "owned_by": "team"},
        {"id": "other", "object": "model", "created": 1, "owned_by": "x", "fine_tunable": False},
    ]
    provider = OpenAIProvider(
        client=fake.client(), api_key=OPENAI_KEY, base_url="http://compat.test/v1", kind="openai_compatible"
    )
    assert [m.id for m in provider.list_models()] == ["fineweb-tiny"]
    assert provider.price_per_million_training_tokens("fineweb-tiny") is None


def test_chat_without_streaming_returns_a_reply_with_usage(provider):
    reply = provider.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert isinstance(reply, ChatReply)
    assert reply.text == "Hello from gpt-4o-mini"
    assert (reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (9, 4, "stop")


def test_chat_streaming_yields_pieces_then_one_final_reply(provider, fake):
    items = list(provider.chat(model="m1", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert items[:-1] == ["Hello", " from", " ", "m1"]
    final = items[-1]
    assert isinstance(final, ChatReply)
    assert final.text == "Hello from m1" and final.completion_tokens == 4 and final.finish_reason == "stop"
    assert final.first_token_s is not None
    assert json.loads(fake.sent("POST", "/chat/completions")[0].content)["stream"] is True


def test_a_stream_that_reports_an_error_raises_with_the_providers_message(fake):
    import httpx

    def handler(request):
        return httpx.Response(
            200,
            content=b'data: {"error": {"message": "model overloaded"}}\n\n',
            headers={"content-type": "text/event-stream"},
        )

    provider = OpenAIProvider(client=httpx.Client(transport=httpx.MockTransport(handler)), api_key="k")
    with pytest.raises(ProviderError) as caught:
        stream = provider.chat(model="m", messages=[], stream=True)
        assert not isinstance(stream, ChatReply)
        list(stream)
    assert "model overloaded" in caught.value.user_message


def test_download_file_returns_the_raw_bytes(provider, fake):
    job = fake.add_job()
    assert provider.download_file(job["result_files"][0]) == RESULT_CSV.encode()


@pytest.mark.django_db  # which models fine-tune reads the catalogue's dates, kept in the database
def test_test_connection_says_how_many_models_the_key_sees(provider):
    sentence = provider.test_connection()
    assert sentence.startswith("Connected to OpenAI")
    assert "4 models are visible, 1 of them can be fine-tuned" in sentence


def test_openai_prices_resolve_aliases_to_their_snapshot(provider):
    assert str(provider.price_per_million_training_tokens("gpt-4o-mini")) == "3.00"
    assert str(provider.price_per_million_training_tokens("gpt-4.1")) == "25.00"
    assert str(provider.price_per_million_training_tokens("gpt-4.1-mini")) == "5.00"
    assert provider.price_per_million_training_tokens("not-a-model") is None
