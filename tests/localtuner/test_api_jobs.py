from __future__ import annotations

import pytest
from django.utils import timezone

from localtuner.models import LocalCheckpoint, LocalEvent, LocalJob
from localtuner.services import event_add
from tests.fakes.local_api import (
    assert_openai_error,
    food_rows,
    get,
    jsonl,
    post_json,
    preference_row,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def training_file(client) -> str:
    return upload(client, jsonl(food_rows(6))).json()["id"]


def create(client, **body):
    return post_json(client, "/fine_tuning/jobs", body)


def test_creating_a_job_returns_openais_job_object_in_validating_files(client, training_file):
    response = create(client, model="fineweb-tiny", training_file=training_file, suffix="colors", seed=7)
    assert response.status_code == 200, response.content
    job = response.json()
    assert job["object"] == "fine_tuning.job" and job["id"].startswith("ftjob-")
    assert job["status"] == "validating_files" and job["model"] == "fineweb-tiny"
    assert job["training_file"] == training_file and job["validation_file"] is None
    assert job["fine_tuned_model"] is None and job["finished_at"] is None and job["trained_tokens"] is None
    assert job["result_files"] == [] and job["error"] is None and job["seed"] == 7
    assert job["hyperparameters"] == {
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert job["method"] == {"type": "supervised", "supervised": {"hyperparameters": job["hyperparameters"]}}
    assert job["user_provided_suffix"] == "colors" and isinstance(job["created_at"], int)
    assert get(client, f"/fine_tuning/jobs/{job['id']}").json() == job


def test_hyperparameters_come_through_method_or_the_deprecated_top_level(client, training_file):
    via_method = create(
        client,
        model="fineweb-tiny",
        training_file=training_file,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5}
            },
        },
    ).json()
    assert via_method["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": 0.5,
    }
    top = create(
        client,
        model="fineweb-tiny",
        training_file=training_file,
        hyperparameters={"n_epochs": 3, "batch_size": 4},
    ).json()
    assert top["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3
    assert top["hyperparameters"]["batch_size"] == 4


def test_a_dpo_job_reports_beta_in_its_method(client):
    file_id = upload(client, jsonl([preference_row("red"), preference_row("green")])).json()["id"]
    job = create(
        client,
        model="fineweb-tiny",
        training_file=file_id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    ).json()
    assert job["method"]["type"] == "dpo"
    assert job["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    assert LocalJob.objects.get(public_id=job["id"]).method == "dpo"


def test_the_job_list_is_newest_first_and_pages_with_after(client, training_file):
    ids = [create(client, model="fineweb-tiny", training_file=training_file).json()["id"] for _ in range(3)]
    first = get(client, "/fine_tuning/jobs", limit=2).json()
    assert first["object"] == "list" and [j["id"] for j in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    rest = get(client, "/fine_tuning/jobs", limit=2, after=ids[1]).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_cancelling_an_unfinished_job_cancels_it_and_says_so_in_its_events(client, training_file):
    job_id = create(client, model="fineweb-tiny", training_file=training_file).json()["id"]
    cancelled = post_json(client, f"/fine_tuning/jobs/{job_id}/cancel", {}).json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    messages = [e["message"] for e in get(client, f"/fine_tuning/jobs/{job_id}/events").json()["data"]]
    assert messages[0] == "Fine-tuning job cancelled"


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_cancelling_a_finished_job_is_a_400_and_changes_nothing(client, training_file, status):
    job_id = create(client, model="fineweb-tiny", training_file=training_file).json()["id"]
    LocalJob.objects.filter(public_id=job_id).update(status=status, finished_at=timezone.now())
    assert_openai_error(
        post_json(client, f"/fine_tuning/jobs/{job_id}/cancel", {}), 400, code="job_not_cancellable"
    )
    assert LocalJob.objects.get(public_id=job_id).status == status


def test_events_are_newest_first_and_page_with_after_and_limit(client, training_file):
    job = LocalJob.objects.get(
        public_id=create(client, model="fineweb-tiny", training_file=training_file).json()["id"]
    )
    for step in range(1, 6):
        event_add(
            job=job,
            key=f"metrics:{step}",
            type="metrics",
            step=step,
            message=f"Step {step}/5",
            data={"step": step, "train_loss": 1.0 / step, "train_mean_token_accuracy": 0.5, "total_steps": 5},
        )
    first = get(client, f"/fine_tuning/jobs/{job.public_id}/events", limit=3).json()
    assert [e["data"]["step"] for e in first["data"]] == [5, 4, 3] and first["has_more"] is True
    event = first["data"][0]
    assert event["object"] == "fine_tuning.job.event" and event["id"].startswith("ftevent-")
    assert event["type"] == "metrics" and event["level"] == "info"
    rest = get(client, f"/fine_tuning/jobs/{job.public_id}/events", after=first["data"][-1]["id"]).json()
    assert [e["data"]["step"] if e["data"] else e["message"] for e in rest["data"]] == [
        2,
        1,
        f"Created fine-tuning job: {job.public_id}",
    ]
    assert rest["has_more"] is False


def test_an_event_recorded_twice_is_stored_once(client, training_file):
    job = LocalJob.objects.get(
        public_id=create(client, model="fineweb-tiny", training_file=training_file).json()["id"]
    )
    for _ in range(2):
        event_add(job=job, key="metrics:1", type="metrics", step=1, message="Step 1/1", data={"step": 1})
    assert LocalEvent.objects.filter(job=job, type="metrics").count() == 1


def test_checkpoints_are_listed_newest_first_in_openais_shape(client, training_file):
    job = LocalJob.objects.get(
        public_id=create(client, model="fineweb-tiny", training_file=training_file).json()["id"]
    )
    for step in (3, 6):
        LocalCheckpoint.objects.create(
            job=job,
            step=step,
            name=f"{job.model_name}:ckpt-step-{step}",
            metrics={"step": step, "train_loss": 0.5},
            adapter_dir=f"x/step-{step}",
        )
    listing = get(client, f"/fine_tuning/jobs/{job.public_id}/checkpoints").json()
    assert [c["step_number"] for c in listing["data"]] == [6, 3] and listing["has_more"] is False
    checkpoint = listing["data"][0]
    assert checkpoint["object"] == "fine_tuning.job.checkpoint" and checkpoint["id"].startswith("ftckpt-")
    assert checkpoint["fine_tuned_model_checkpoint"] == f"ft:fineweb-tiny::{job.public_id}:ckpt-step-6"
    assert checkpoint["fine_tuning_job_id"] == job.public_id and checkpoint["metrics"]["step"] == 6
    assert listing["first_id"] == checkpoint["id"]


@pytest.mark.parametrize("path", ["", "/events", "/checkpoints"])
def test_unknown_jobs_are_404s(client, path):
    assert_openai_error(get(client, f"/fine_tuning/jobs/ftjob-nope{path}"), 404)


def test_cancelling_an_unknown_job_is_a_404(client):
    assert_openai_error(post_json(client, "/fine_tuning/jobs/ftjob-nope/cancel", {}), 404)


def test_an_unknown_base_model_is_a_404_model_not_found(client, training_file):
    error = assert_openai_error(
        create(client, model="gpt-4o-mini", training_file=training_file),
        404,
        code="model_not_found",
        param="model",
    )
    assert "fineweb-tiny" in error["message"]
    assert not LocalJob.objects.exists()


def test_fine_tuning_a_fine_tuned_model_is_refused(client, training_file):
    assert_openai_error(
        create(client, model="ft:fineweb-tiny::ftjob-x", training_file=training_file),
        400,
        code="model_not_available",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"training_file": "FILE"}, "model"),
        ({"model": "fineweb-tiny"}, "training_file"),
        ({"model": 3, "training_file": "FILE"}, "model"),
        ({"model": "fineweb-tiny", "training_file": ["FILE"]}, "training_file"),
        ({"model": "fineweb-tiny", "training_file": "file-missing"}, "training_file"),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "validation_file": "file-missing"},
            "validation_file",
        ),
        ({"model": "fineweb-tiny", "training_file": "FILE", "validation_file": 5}, "validation_file"),
        ({"model": "fineweb-tiny", "training_file": "FILE", "suffix": "has:colon"}, "suffix"),
        ({"model": "fineweb-tiny", "training_file": "FILE", "suffix": "x" * 65}, "suffix"),
        ({"model": "fineweb-tiny", "training_file": "FILE", "seed": "7"}, "seed"),
        ({"model": "fineweb-tiny", "training_file": "FILE", "seed": -1}, "seed"),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": {"n_epochs": 0}},
            "hyperparameters.n_epochs",
        ),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": {"n_epochs": 2.5}},
            "hyperparameters.n_epochs",
        ),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": {"n_epochs": True}},
            "hyperparameters.n_epochs",
        ),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": {"batch_size": 257}},
            "hyperparameters.batch_size",
        ),
        (
            {
                "model": "fineweb-tiny",
                "training_file": "FILE",
                "hyperparameters": {"learning_rate_multiplier": 0},
            },
            "hyperparameters.learning_rate_multiplier",
        ),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": {"warmup": 3}},
            "hyperparameters.warmup",
        ),
        ({"model": "fineweb-tiny", "training_file": "FILE", "hyperparameters": [1]}, "hyperparameters"),
        ({"model": "fineweb-tiny", "training_file": "FILE", "method": "supervised"}, "method"),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "method": {"type": "reinforcement"}},
            "method.type",
        ),
        (
            {
                "model": "fineweb-tiny",
                "training_file": "FILE",
                "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}},
            },
            "method.dpo.hyperparameters.beta",
        ),
        (
            {
                "model": "fineweb-tiny",
                "training_file": "FILE",
                "method": {"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.1}}},
            },
            "method.supervised.hyperparameters.beta",
        ),
        (
            {
                "model": "fineweb-tiny",
                "training_file": "FILE",
                "hyperparameters": {"n_epochs": 2},
                "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
            },
            "hyperparameters",
        ),
        ({"model": "fineweb-tiny", "training_file": "FILE", "metadata": {"a": 1}}, "metadata"),
        (
            {"model": "fineweb-tiny", "training_file": "FILE", "integrations": [{"type": "wandb"}]},
            "integrations",
        ),
    ],
)
def test_a_bad_job_request_is_a_400_naming_the_parameter(client, training_file, body, param):
    body = {k: (training_file if v == "FILE" else v) for k, v in body.items()}
    assert_openai_error(create(client, **body), 400, param=param)
    assert not LocalJob.objects.exists()


def test_a_results_file_cannot_be_a_training_file(client, training_file):
    from localtuner.services import file_store_bytes

    results = file_store_bytes(
        team_id=None, content=b"step\n1\n", filename="step_metrics.csv", purpose="fine-tune-results"
    )
    assert_openai_error(
        create(client, model="fineweb-tiny", training_file=results.public_id),
        400,
        code="invalid_file_purpose",
    )


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"])
def test_a_malformed_json_body_is_a_400_never_a_500(client, body):
    assert_openai_error(post_json(client, "/fine_tuning/jobs", body), 400)


@pytest.mark.parametrize("params", [{"limit": "x"}, {"limit": 0}, {"limit": 101}, {"after": "ftjob-unknown"}])
def test_bad_paging_parameters_are_400s(client, params):
    assert_openai_error(get(client, "/fine_tuning/jobs", **params), 400)
