"""Acceptance: the official `openai` package, unchanged, against the local provider over real HTTP,
with a real Celery worker training fineweb-tiny."""

from __future__ import annotations

import time
from typing import Any, cast

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.local_api import food_rows, jsonl

pytestmark = pytest.mark.worker
PROMPT: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Name a food of the given color."},
    {"role": "user", "content": "red"},
]


def test_the_openai_sdk_uploads_fine_tunes_follows_and_chats_with_the_local_provider(
    live_server, start_worker, settings, tmp_path
):
    start_worker(queues="default,training")
    client = OpenAI(
        base_url=live_server.url + "/local/v1",
        api_key=settings.FINEWEB_LOCAL_API_KEY,
        max_retries=0,
        timeout=120,
    )
    train_path, valid_path = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
    train_path.write_bytes(jsonl(food_rows(10)))
    valid_path.write_bytes(jsonl(food_rows(5)))

    training = client.files.create(file=train_path.open("rb"), purpose="fine-tune")
    validation = client.files.create(file=valid_path.open("rb"), purpose="fine-tune")
    assert training.id.startswith("file-") and training.bytes == train_path.stat().st_size
    assert client.files.content(training.id).content == train_path.read_bytes()

    job = client.fine_tuning.jobs.create(
        model="fineweb-tiny",
        training_file=training.id,
        validation_file=validation.id,
        suffix="sdk",
        seed=1,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 2}}},
    )
    assert job.status == "validating_files" and job.model == "fineweb-tiny"
    assert job.id in [j.id for j in client.fine_tuning.jobs.list(limit=5)]

    deadline = time.monotonic() + 600
    while job.status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:fineweb-tiny:sdk:{job.id}"
    assert job.trained_tokens is not None and job.trained_tokens > 0
    assert job.finished_at and len(job.result_files) == 1
    assert job.method and job.method.supervised and job.method.supervised.hyperparameters
    assert job.hyperparameters.n_epochs == 2 and job.method.supervised.hyperparameters.batch_size == 2

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=4))  # iterating follows `after` pages
    metrics = [cast(dict[str, Any], e.data) for e in events if e.type == "metrics"]
    assert sorted(data["step"] for data in metrics) == list(range(1, 11))
    assert all(data["total_steps"] == 10 and data["train_loss"] > 0 for data in metrics)
    assert any("valid_loss" in data for data in metrics)
    said = [e.message for e in events]
    assert (
        said[0] == "The job has successfully completed" and f"Created fine-tuning job: {job.id}" == said[-1]
    )

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [10, 5]
    assert checkpoints[1].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-5"
    assert checkpoints[0].metrics.train_loss is not None and checkpoints[0].metrics.train_loss > 0

    assert job.fine_tuned_model in [m.id for m in client.models.list()]
    assert client.models.retrieve(job.fine_tuned_model).id == job.fine_tuned_model
    results = client.files.content(job.result_files[0]).text
    assert results.startswith("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n")

    reply = client.chat.completions.create(
        model=job.fine_tuned_model, messages=PROMPT, max_tokens=8, temperature=0
    )
    text = reply.choices[0].message.content
    assert reply.model == job.fine_tuned_model and text and reply.usage
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model=job.fine_tuned_model,
            messages=PROMPT,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens == reply.usage.completion_tokens

    from_checkpoint = client.chat.completions.create(
        model=checkpoints[1].fine_tuned_model_checkpoint, messages=PROMPT, max_tokens=4, temperature=0
    )
    assert from_checkpoint.choices[0].message.content

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="ft:fineweb-tiny::ftjob-missing", messages=PROMPT)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=live_server.url + "/local/v1", api_key="wrong", max_retries=0).models.list()
