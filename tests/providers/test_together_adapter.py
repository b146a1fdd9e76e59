from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers.errors import BadRequest, NotFound, ProviderUnavailable
from providers.http import RetryPolicy
from providers.together import TogetherProvider
from providers.together_parsing import build_job_body, parse_metrics
from tests.fakes.together import TOGETHER_KEY, FakeTogether

NOW = datetime(2025, 5, 17, 18, 0, tzinfo=UTC)


@pytest.fixture
def fake():
    return FakeTogether()


@pytest.fixture
def waits():
    return []


@pytest.fixture
def provider(fake, waits):
    return TogetherProvider(
        client=fake.client(), api_key=TOGETHER_KEY, retry=RetryPolicy(sleep=waits.append), now=lambda: NOW
    )


def test_it_uploads_to_files_upload_with_file_name_and_purpose(provider, fake, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": []}\n')
    uploaded = provider.upload_file(path=path)
    assert uploaded.id.startswith("file-")
    assert uploaded.status == "processed"
    body = fake.sent("POST", "/files/upload")[0].content
    assert b'name="file_name"\r\n\r\ntrain.jsonl' in body
    assert b'name="file_type"\r\n\r\njsonl' in body


def test_it_creates_a_lora_sft_job_with_top_level_hyperparameters(provider, fake, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("{}\n")
    fid = provider.upload_file(path=path).id
    job = provider.create_job(
        model="Qwen/Qwen3-8B",
        training_file_id=fid,
        hyperparameters={"n_epochs": 2},
        suffix="support",
        idempotency_key="k",
    )
    body = json.loads(fake.sent("POST", "/fine-tunes")[0].content)
    assert body["n_epochs"] == 2
    assert body["training_type"]["type"] == "Lora"
    assert body["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    assert job.status == "queued" and job.raw_status == "pending"
    assert job.fine_tuned_model is None  # named early by Together, but not usable yet


def test_our_hyperparameters_map_to_togethers_names():
    body = build_job_body(
        model="m",
        training_file_id="f",
        validation_file_id="v",
        method="dpo",
        suffix=None,
        seed=3,
        hyperparameters={
            "batch_size": "auto",
            "learning_rate_multiplier": 2.0,
            "beta": 0.2,
            "lora_r": 8,
            "lr_scheduler_type": "cosine",
            "wandb_project_name": "p",
            "n_epochs": "auto",
        },
    )
    assert body["batch_size"] == "max"
    assert body["learning_rate"] == pytest.approx(2e-5)
    assert body["training_method"] == {"method": "dpo", "dpo_beta": 0.2}
    assert body["training_type"]["lora_r"] == 8 and body["training_type"]["lora_alpha"] == 16
    assert body["lr_scheduler"]["lr_scheduler_args"]["num_cycles"] == 0.5
    assert body["validation_file"] == "v" and body["n_evals"] == 1
    assert body["random_seed"] == 3
    assert body["wandb_project_name"] == "p"
    assert "n_epochs" not in body  # "auto" means Together's default


def test_a_rejected_job_is_a_bad_request(provider):
    with pytest.raises(BadRequest) as caught:
        provider.create_job(model="m", training_file_id="file-nope", hyperparameters={}, idempotency_key="k")
    assert "Training file not found" in caught.value.user_message


@pytest.mark.parametrize(
    "raw, ours",
    [
        ("pending", "queued"),
        ("queued", "queued"),
        ("running", "running"),
        ("compressing", "running"),
        ("uploading", "running"),
        ("cancel_requested", "running"),
        ("cancelled", "cancelled"),
        ("completed", "succeeded"),
        ("error", "failed"),
        ("user_error", "failed"),
        ("hibernating", "unknown"),
    ],
)
def test_together_statuses_map_to_ours_and_unknown_ones_are_kept_raw(provider, fake, raw, ours):
    job = fake.add_job(status=raw)
    parsed = provider.get_job(job["id"])
    assert (parsed.status, parsed.raw_status) == (ours, raw)


def test_a_completed_job_carries_its_output_model_tokens_and_lora_settings(provider, fake):
    job = fake.add_job(status="completed", n_steps=10)
    parsed = provider.get_job(job["id"])
    assert parsed.fine_tuned_model == job["model_output_name"]
    assert parsed.trained_tokens == 850000
    assert parsed.created_at == datetime(2025, 5, 17, 17, 35, 45, 123000, tzinfo=UTC)
    assert parsed.finished_at is not None
    assert parsed.hyperparameters["lora"] is True and parsed.hyperparameters["lora_r"] == 16
    assert parsed.total_steps == 10


def test_a_failed_job_takes_its_error_message_from_the_error_event(provider, fake):
    job = fake.add_job(status="error")
    fake.events[job["id"]].append(
        {
            "object": "fine-tune-event",
            "created_at": "2025-05-17T18:00:00Z",
            "level": "Error",
            "type": "JOB_ERROR",
            "message": "Data validation failed: line 17 has no assistant message",
        }
    )
    assert "line 17" in provider.get_job(job["id"]).error_message


def test_a_running_job_has_an_eta_from_progress(provider, fake):
    job = fake.add_job(status="running", progress={"estimate_available": True, "seconds_remaining": 600})
    assert provider.get_job(job["id"]).estimated_finish == datetime(2025, 5, 17, 18, 10, tzinfo=UTC)


def test_an_unknown_job_is_not_found_with_togethers_bare_message(provider):
    with pytest.raises(NotFound) as caught:
        provider.get_job("ft-nope")
    assert "Fine-tune job ft-nope not found" in caught.value.user_message


def test_events_get_stable_ids_and_after_returns_only_newer_ones(provider, fake):
    job = fake.add_job()
    first = provider.list_events(job["id"])
    again = provider.list_events(job["id"])
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == 2
    assert (first[0].type, first[0].level) == ("job_pending", "info")
    assert first[1].level == "info"  # Together's empty level
    fake.events[job["id"]].append(
        {
            "object": "fine-tune-event",
            "created_at": "2025-05-17T18:00:00Z",
            "level": "Warning",
            "type": "SOMETHING_NEW",
            "message": "new",
            "step": 3,
        }
    )
    newer = provider.list_events(job["id"], after=first[-1].id)
    assert [(e.message, e.type, e.level, e.data["step"]) for e in newer] == [
        ("new", "something_new", "warning", 3)
    ]


def test_identical_events_still_get_distinct_ids(provider, fake):
    job = fake.add_job()
    same = {
        "object": "fine-tune-event",
        "created_at": "2025-05-17T18:00:00Z",
        "level": "Info",
        "type": "CHECKPOINT_SAVE",
        "message": "saved",
    }
    fake.events[job["id"]] = [same, dict(same)]
    ids = [e.id for e in provider.list_events(job["id"])]
    assert len(set(ids)) == 2


def test_metrics_come_from_the_metrics_endpoint_with_evals_merged_by_step(provider, fake):
    job = fake.add_job(status="running", n_steps=6, evals_every=3)
    points = provider.metrics(job["id"])
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    assert points[2].train_loss == pytest.approx(1.7) and points[2].valid_loss == pytest.approx(1.8)
    assert points[0].valid_loss is None
    later = provider.metrics(job["id"], after_step=4)
    assert [p.step for p in later] == [5, 6]
    assert fake.metrics_bodies[-1] == {"global_step_from": 5}


def test_metric_entries_with_unknown_keys_or_no_step_are_tolerated():
    points = parse_metrics(
        [
            {"eval/loss": 1.0},
            {"train/loss": "nan?", "train/global_step": 2},
            {"eval/loss": 0.9, "eval/new_thing": 3},
            "junk",
            {"train/global_step": 4, "train/loss": 0.5},
        ]
    )
    assert [(p.step, p.train_loss, p.valid_loss) for p in points] == [(2, None, 0.9), (4, 0.5, None)]


def test_checkpoints_are_named_like_the_sdk_does(provider, fake):
    job = fake.add_job()
    checkpoints = provider.list_checkpoints(job["id"])
    assert [(c.step, c.model_name) for c in checkpoints] == [(5, f"{job['id']}:5"), (10, job["id"])]


def test_cancel_reports_running_until_together_confirms(provider, fake):
    job = fake.add_job(status="running")
    cancelled = provider.cancel_job(job["id"])
    assert cancelled.raw_status == "cancel_requested" and cancelled.status == "running"


def test_list_models_returns_the_supported_fine_tunable_models(provider):
    assert [m.id for m in provider.list_models()] == [
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "Qwen/Qwen3-8B",
    ]
    every = provider.list_models(include_all=True)
    assert any(not m.fine_tunable for m in every)


def test_list_jobs_pages_on_our_side(provider, fake):
    for _ in range(5):
        fake.add_job()
    first = provider.list_jobs(limit=2)
    second = provider.list_jobs(limit=2, after=first[-1].id)
    assert len(first) == len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}


def test_chat_reads_togethers_eos_finish_reason(provider):
    reply = provider.chat(model="Qwen/Qwen3-8B", messages=[{"role": "user", "content": "hi"}])
    assert (reply.text, reply.finish_reason, reply.prompt_tokens) == ("Hi there", "eos", 5)


def test_a_503_without_a_parseable_body_is_retried(provider, fake, waits):
    job = fake.add_job()
    fake.fail_next(status=503, body="Engine overloaded")
    assert provider.get_job(job["id"]).id == job["id"]
    assert len(waits) == 1


def test_persistent_503_is_provider_unavailable(provider, fake):
    fake.fail_next(times=10, status=503, body="")
    with pytest.raises(ProviderUnavailable):
        provider.list_models()


def test_test_connection_counts_the_accounts_jobs(provider, fake):
    fake.add_job()
    assert provider.test_connection().endswith("1 fine-tuning job on this account.")


def test_prices_come_from_the_size_bracket_in_the_model_name(provider):
    assert (
        str(provider.price_per_million_training_tokens("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"))
        == "0.48"
    )
    assert (
        str(provider.price_per_million_training_tokens("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"))
        == "2.90"
    )
    assert provider.price_per_million_training_tokens("some/model-without-size") is None
