"""The training task in real Celery workers: a worker SIGKILLed mid-training, and a cancel."""

from __future__ import annotations

from typing import cast

import pytest

from localtuner import services
from localtuner.models import LocalEvent, LocalJob
from tests.fakes.local_api import food_rows, jsonl, post_json
from tests.processes import wait_for

pytestmark = pytest.mark.worker


def make_job(n_examples: int, n_epochs: int) -> LocalJob:
    file_id = services.file_create(
        team_id=None, chunks=[jsonl(food_rows(n_examples))], filename="train.jsonl", purpose="fine-tune"
    ).public_id
    return services.job_create(
        team_id=None,
        model="fineweb-tiny",
        training_file=file_id,
        seed=5,
        hyperparameters={"n_epochs": n_epochs, "batch_size": 1},
    )


def metric_steps(job: LocalJob) -> list[int]:
    steps = LocalEvent.objects.filter(job=job, type="metrics").order_by("step").values_list("step", flat=True)
    return cast("list[int]", list(steps))  # every metrics event has a step


def last_step(job: LocalJob) -> int:
    steps = metric_steps(job)
    return steps[-1] if steps else 0


def test_a_worker_killed_mid_training_leaves_a_job_that_the_next_worker_resumes_storing_each_step_once(
    start_worker,
):
    job = make_job(n_examples=10, n_epochs=5)  # 50 steps, a checkpoint every 10
    first = start_worker(queues="default,training")
    wait_for(lambda: last_step(job) >= 13, timeout=300, interval=0.05, message="step 13")
    first.kill()
    job.refresh_from_db()
    assert job.status == "running", "the kill must land mid-training"
    killed_at = last_step(job)
    assert 13 <= killed_at < 50
    assert list(job.checkpoints.values_list("step", flat=True)) == [10]

    second = start_worker(queues="default,training")
    wait_for(
        lambda: LocalJob.objects.get(pk=job.pk).status in ("succeeded", "failed"),
        timeout=600,
        message="the job to finish on the second worker",
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    # Redis would redeliver the unacked message only after an hour: the starting worker's sweep did it.
    assert "localtuner.sweep_stale_jobs" in second.log()
    assert metric_steps(job) == list(range(1, 51))  # every step, each exactly once
    assert sorted(job.checkpoints.values_list("step", flat=True)) == [10, 20, 30, 40, 50]
    said = list(job.events.order_by("pk").values_list("message", flat=True))
    assert said.count("Fine-tuning job started") == 1
    assert "The previous worker stopped; resuming from the last saved training state" in said
    assert said[-1] == "The job has successfully completed"
    assert job.fine_tuned_model is not None
    adapter_path = services.model_resolve(name=job.fine_tuned_model, team_id=None).adapter_path
    assert adapter_path is not None and adapter_path.is_dir()


def test_cancelling_a_running_job_stops_its_trainer_within_one_step(start_worker, client):
    job = make_job(n_examples=10, n_epochs=8)
    start_worker(queues="default,training")
    wait_for(lambda: last_step(job) >= 3, timeout=300, interval=0.05, message="training to run")
    response = post_json(client, f"/fine_tuning/jobs/{job.public_id}/cancel", {})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    at_cancel = last_step(job)
    wait_for(
        lambda: LocalJob.objects.get(pk=job.pk).lease_owner == "",
        timeout=120,
        message="the trainer to let go of the job",
    )
    job.refresh_from_db()
    assert job.status == "cancelled" and job.fine_tuned_model is None and job.result_files == []
    assert last_step(job) <= at_cancel + 1 < 80
    assert not (job.output_dir / "adapter").exists()
