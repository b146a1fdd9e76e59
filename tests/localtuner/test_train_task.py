"""The training flow (`job_train`, what the Celery task calls), run in this process on fineweb-tiny."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from localtuner import services
from localtuner.lease import lease_is_dead, owner_id
from localtuner.models import LocalEvent, LocalFile, LocalJob
from localtuner.training import job_train
from tests.fakes.local_api import food_rows, jsonl, preference_row

pytestmark = pytest.mark.django_db(transaction=True)


def stored_file(content: bytes, name: str = "train.jsonl") -> str:
    return services.file_create(team_id=None, chunks=[content], filename=name, purpose="fine-tune").public_id


def make_job(training: bytes, validation: bytes | None = None, **kwargs) -> LocalJob:
    kwargs.setdefault("hyperparameters", {"n_epochs": 2, "batch_size": 2})
    return services.job_create(
        team_id=None,
        model="fineweb-tiny",
        training_file=stored_file(training),
        validation_file=stored_file(validation) if validation else None,
        **kwargs,
    )


def messages(job: LocalJob) -> list[str]:
    return list(job.events.order_by("pk").values_list("message", flat=True))


@pytest.fixture(scope="module")
def succeeded(django_db_setup, django_db_blocker):
    """One supervised job on 10 examples with a validation file, trained to the end (a snapshot:
    the transactional tests empty the tables after each test)."""
    with django_db_blocker.unblock():
        job = make_job(jsonl(food_rows(10)), jsonl(food_rows(5)), suffix="colors", seed=3)
        job_train(job_id=job.pk)
        job.refresh_from_db()
        assert job.fine_tuned_model is not None, job.error
        snapshot = {
            "job": job,
            "messages": messages(job),
            "metrics": list(
                job.events.filter(type="metrics").order_by("pk").values("step", "data", "message")
            ),
            "checkpoints": list(job.checkpoints.order_by("step")),
            "results": LocalFile.objects.get(public_id=job.result_files[0]),
            "resolved": services.model_resolve(name=job.fine_tuned_model, team_id=None),
            "checkpoint_resolved": services.model_resolve(name=f"{job.model_name}:ckpt-step-5", team_id=None),
        }
        job_train(job_id=job.pk)  # a second delivery of the same task
        snapshot["again"] = LocalJob.objects.get(pk=job.pk)
        snapshot["events_again"] = LocalEvent.objects.filter(job=job).count()
    return snapshot


def test_a_job_trains_to_succeeded_with_a_fine_tuned_model_and_concrete_hyperparameters(succeeded):
    job = succeeded["job"]
    assert job.status == "succeeded" and job.error is None
    assert job.fine_tuned_model == f"ft:fineweb-tiny:colors:{job.public_id}"
    assert job.trained_tokens > 0 and job.finished_at >= job.started_at >= job.created_at
    assert job.hyperparameters == {"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 1.0}
    assert job.lease_owner == "" and job.attempts == 1


def test_the_events_tell_the_story_in_openais_words(succeeded):
    job, said = succeeded["job"], succeeded["messages"]
    milestones = [m for m in said if not m.startswith("Step ")]
    expected = [
        f"Created fine-tuning job: {job.public_id}",
        f"Validating training file: {job.training_file}, validation file: {job.validation_file}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    assert milestones[:4] == expected
    checkpoints = [m for m in milestones if m.startswith("Checkpoint created at step")]
    assert checkpoints == [
        f"Checkpoint created at step {s} with Snapshot ID: {job.model_name}:ckpt-step-{s}" for s in (5, 10)
    ]
    assert milestones[-2:] == [
        f"New fine-tuned model created: {job.fine_tuned_model}",
        "The job has successfully completed",
    ]
    assert said.index("Fine-tuning job started") < said.index(
        next(m for m in said if m.startswith("Step 1/"))
    )


def test_there_is_one_metrics_event_per_step_shaped_as_openai_sends_them(succeeded):
    metrics = succeeded["metrics"]
    assert [m["step"] for m in metrics] == list(range(1, 11))
    first = metrics[0]["data"]
    assert set(first) == {
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "total_steps",
    }
    assert first["step"] == 1 and first["total_steps"] == 10 and first["train_loss"] > 0
    assert metrics[0]["message"].startswith("Step 1/10: training loss=")
    without_eval = [m["data"] for m in metrics if "valid_loss" not in m["data"]]
    assert without_eval and all(
        set(d) == {"step", "train_loss", "train_mean_token_accuracy", "total_steps"} for d in without_eval
    )
    assert "valid_loss" in metrics[-1]["data"]


def test_a_checkpoint_is_made_per_epoch_and_can_be_chatted_with(succeeded):
    job, checkpoints = succeeded["job"], succeeded["checkpoints"]
    assert [c.step for c in checkpoints] == [5, 10]
    assert checkpoints[0].name == f"ft:fineweb-tiny:colors:{job.public_id}:ckpt-step-5"
    assert (checkpoints[0].adapter_path / "adapter_config.json").is_file()
    assert checkpoints[1].metrics["step"] == 10 and "full_valid_loss" in checkpoints[1].metrics
    resolved = succeeded["checkpoint_resolved"]
    assert resolved.base_model == "fineweb-tiny" and resolved.adapter_path == checkpoints[0].adapter_path


def test_the_result_file_is_a_csv_in_openais_columns(succeeded):
    results = succeeded["results"]
    assert results.purpose == "fine-tune-results" and results.filename == "step_metrics.csv"
    lines = results.path.read_text().splitlines()
    assert lines[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert [line.split(",")[0] for line in lines[1:]] == [str(s) for s in range(1, 11)]


def test_the_fine_tuned_model_resolves_to_its_base_and_adapter(succeeded):
    resolved = succeeded["resolved"]
    assert resolved.base_model == "fineweb-tiny"
    assert resolved.adapter_path == succeeded["job"].output_dir / "adapter"


def test_running_a_finished_job_again_changes_nothing(succeeded):
    again = succeeded["again"]
    assert again.status == "succeeded" and again.attempts == 1
    assert succeeded["events_again"] == len(succeeded["messages"])


BROKEN = [
    (
        b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n' * 2
        + b'{"messages": [oops\n',
        3,
        "invalid JSON",
    ),
    (jsonl(food_rows(1)) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n', 2, "assistant"),
    (b'{"messages": [{"role": "wizard", "content": "x"}]}\n', 1, "role"),
    (jsonl(food_rows(2)) + b"[1, 2]\n", 3, "JSON object"),
    (jsonl(food_rows(1)) + b"\xff\xfe\n", 2, "UTF-8"),
    (jsonl([preference_row("red")]), 1, "preference"),
]


@pytest.mark.parametrize(("content", "line", "words"), BROKEN)
def test_a_malformed_training_file_fails_the_job_at_validating_files_naming_the_line(content, line, words):
    job = make_job(content)
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None and job.error is not None
    assert job.error["code"] == "invalid_training_file" and job.error["param"] == "training_file"
    assert job.error["message"].startswith(f"line {line}: ") and words in job.error["message"]
    said = messages(job)
    assert "Files validated, moving job to queued state" not in said and "Fine-tuning job started" not in said
    failed = job.events.get(key="failed")
    assert failed.level == "error" and failed.message.endswith(job.error["message"])
    assert not job.events.filter(type="metrics").exists()


def test_a_malformed_validation_file_fails_the_job_naming_the_validation_file():
    job = make_job(jsonl(food_rows(4)), b'{"messages": []}\n')
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error is not None
    assert job.error == {
        "code": "invalid_validation_file",
        "param": "validation_file",
        "message": job.error["message"],
    }
    assert job.error["message"].startswith("line 1: ")


def test_a_training_file_deleted_before_training_fails_the_job_clearly():
    job = make_job(jsonl(food_rows(4)))
    services.file_delete(file=LocalFile.objects.get(public_id=job.training_file))
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error is not None and job.error["code"] == "file_not_found"
    assert job.training_file in job.error["message"]


def test_auto_hyperparameters_are_made_concrete_when_the_files_are_validated():
    from localtuner.training import _validate

    job = make_job(jsonl(food_rows(40)), hyperparameters={})
    # OpenAI's rule: 3 epochs (more for tiny sets so ~100 examples are seen); about n/32 per batch
    assert _validate(job) == {"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 1.0}
    small = make_job(jsonl(food_rows(3)), hyperparameters={"n_epochs": 1, "batch_size": 8})
    assert _validate(small) == {"n_epochs": 1, "batch_size": 3, "learning_rate_multiplier": 1.0}


def test_a_dpo_job_trains_on_preference_pairs():
    rows = [preference_row(c) for c in ("red", "yellow", "green", "purple")]
    job = make_job(jsonl(rows), method="dpo", hyperparameters={"n_epochs": 1, "batch_size": 2, "beta": 0.2})
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.hyperparameters["beta"] == 0.2
    assert job.events.filter(type="metrics").count() == 2
    assert job.fine_tuned_model is not None
    adapter_path = services.model_resolve(name=job.fine_tuned_model, team_id=None).adapter_path
    assert adapter_path is not None and adapter_path.is_dir()


def test_a_job_cancelled_before_a_worker_picks_it_up_is_never_trained():
    job = make_job(jsonl(food_rows(4)))
    services.job_cancel(job=job)
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "cancelled" and job.attempts == 0
    assert not job.events.filter(type="metrics").exists()
    assert not job.output_dir.exists()


def test_a_job_held_by_a_live_worker_is_not_taken_over():
    job = make_job(jsonl(food_rows(4)))
    LocalJob.objects.filter(pk=job.pk).update(
        lease_owner=owner_id(), heartbeat_at=timezone.now(), status="running"
    )
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 0
    assert not job.events.filter(type="metrics").exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def zombie_pid():
    """A child that has exited and has not been reaped yet."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # wait for the exit, but do not reap
    return proc


def test_a_lease_held_by_a_zombie_process_is_dead():
    proc = zombie_pid()
    try:
        job = LocalJob(lease_owner=f"{socket.gethostname()}:{proc.pid}:ab", heartbeat_at=timezone.now())
        assert lease_is_dead(job)
    finally:
        proc.wait()


def test_a_lease_is_dead_when_its_process_on_this_host_is_gone_or_its_heartbeat_is_stale(settings):
    host, now = socket.gethostname(), timezone.now()
    alive = LocalJob(lease_owner=f"{host}:{os.getpid()}:ab", heartbeat_at=now)
    gone = LocalJob(lease_owner=f"{host}:{dead_pid()}:ab", heartbeat_at=now)
    elsewhere = LocalJob(lease_owner="another-host:1:ab", heartbeat_at=now)
    stale = LocalJob(
        lease_owner="another-host:1:ab",
        heartbeat_at=now - timedelta(seconds=settings.FINEWEB_LOCAL_LEASE_SECONDS + 1),
    )
    assert not lease_is_dead(alive) and not lease_is_dead(elsewhere)
    assert lease_is_dead(gone) and lease_is_dead(stale) and lease_is_dead(LocalJob(lease_owner=""))


def test_a_running_job_whose_worker_died_is_resumed_and_no_step_is_stored_twice():
    """Train to the end of epoch 1, then pretend the worker died there: the next run resumes."""
    job = make_job(jsonl(food_rows(6)), hyperparameters={"n_epochs": 2, "batch_size": 2})
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded"
    # Rewind the row to "running at step 3, worker gone", keeping the events and the checkpoint of step 3.
    import shutil

    shutil.rmtree(job.output_dir / "adapter")
    shutil.rmtree(job.output_dir / "checkpoints" / "step-6")
    job.events.filter(step__gt=4).delete()
    job.events.filter(key__in=["checkpoint:6", "model_created", "succeeded"]).delete()
    job.checkpoints.filter(step=6).delete()
    LocalFile.objects.filter(public_id__in=job.result_files).delete()
    LocalJob.objects.filter(pk=job.pk).update(
        status="running",
        fine_tuned_model=None,
        result_files=[],
        finished_at=None,
        trained_tokens=None,
        lease_owner=f"{socket.gethostname()}:{dead_pid()}:ab",
        heartbeat_at=timezone.now(),
    )
    job_train(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2
    steps = list(job.events.filter(type="metrics").order_by("step").values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    assert list(job.checkpoints.order_by("step").values_list("step", flat=True)) == [3, 6]
    said = messages(job)
    assert said.count("Fine-tuning job started") == 1
    assert "The previous worker stopped; resuming from the last saved training state" in said
    assert any("Resum" in m and "step 3" in m for m in said), said
    assert json.dumps(said).count("Checkpoint created at step 3") == 1
