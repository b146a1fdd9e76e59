"""Each team's local connection key opens that team's scope only; FINEWEB_LOCAL_API_KEY opens the
server's. Another scope's file, job, event list, checkpoint list or fine-tuned model answers exactly
as an id that does not exist, so team B can neither read A's objects nor learn that they exist."""

from __future__ import annotations

import pytest
from django.conf import settings

from localtuner.models import LocalApiKey, LocalFile, LocalJob
from localtuner.training import job_train
from providers.models import Connection
from tests.fakes.local_api import Caller, assert_openai_error, food_rows, jsonl

pytestmark = pytest.mark.django_db(transaction=True)
HELLO = [{"role": "user", "content": "red"}]


@pytest.fixture
def a(client, team) -> Caller:
    return Caller(client, Connection.objects.get(team=team, kind="local").api_key())


@pytest.fixture
def b(client, charlie) -> Caller:
    return Caller(client, Connection.objects.get(team=charlie.memberships.get().team, kind="local").api_key())


@pytest.fixture
def server(client) -> Caller:
    return Caller(client, settings.FINEWEB_LOCAL_API_KEY)


def assert_same_as_missing(response, missing, *, real_id: str, missing_id: str) -> dict:
    """`response` (another scope's id) is the error an unknown id gets, word for word but the id:
    a 404, or the 400 of a request that names an unknown id in its body or query."""
    assert missing.status_code in (400, 404)
    error = assert_openai_error(response, missing.status_code)
    expected = missing.json()["error"]
    assert error["message"].replace(real_id, "ID") == expected["message"].replace(missing_id, "ID")
    assert (error["type"], error["code"], error["param"]) == (
        expected["type"],
        expected["code"],
        expected["param"],
    )
    return error


def create_job(caller: Caller, training_file: str, **extra):
    body = {"model": "fineweb-tiny", "training_file": training_file, "seed": 3, **extra}
    return caller.post("/fine_tuning/jobs", body)


@pytest.fixture
def trained(a) -> dict:
    """Team A's fine-tuned model, really trained on fineweb-tiny (10 steps, checkpoints at 5 and 10)."""
    file_id = a.upload(jsonl(food_rows(10))).json()["id"]
    hyper = {"n_epochs": 2, "batch_size": 2}
    job_id = create_job(
        a, file_id, suffix="a", method={"type": "supervised", "supervised": {"hyperparameters": hyper}}
    )
    job_id = job_id.json()["id"]
    job_train(job_id=LocalJob.objects.get(public_id=job_id).pk)  # what the training worker runs
    job = a.get(f"/fine_tuning/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job["error"]
    return {"file": file_id, "job": job}


def test_another_teams_file_cannot_be_seen_read_downloaded_or_deleted(a, b):
    content = jsonl(food_rows(3))
    theirs = a.upload(content).json()["id"]
    mine = b.upload(jsonl(food_rows(2))).json()["id"]
    for path in ("/files/{}", "/files/{}/content"):
        assert_same_as_missing(
            b.get(path.format(theirs)),
            b.get(path.format("file-missing")),
            real_id=theirs,
            missing_id="file-missing",
        )
    assert_same_as_missing(
        b.delete(f"/files/{theirs}"),
        b.delete("/files/file-missing"),
        real_id=theirs,
        missing_id="file-missing",
    )
    assert b"".join(a.get(f"/files/{theirs}/content").streaming_content) == content  # still there, untouched
    assert a.ids("/files") == [theirs] and b.ids("/files") == [mine]
    assert_same_as_missing(
        b.get("/files", after=theirs),
        b.get("/files", after="file-missing"),
        real_id=theirs,
        missing_id="file-missing",
    )


def test_a_job_cannot_be_started_on_another_teams_file(a, b):
    theirs = a.upload(jsonl(food_rows(3))).json()["id"]
    mine = b.upload(jsonl(food_rows(3))).json()["id"]
    assert_same_as_missing(
        create_job(b, theirs), create_job(b, "file-missing"), real_id=theirs, missing_id="file-missing"
    )
    assert_same_as_missing(
        create_job(b, mine, validation_file=theirs),
        create_job(b, mine, validation_file="file-missing"),
        real_id=theirs,
        missing_id="file-missing",
    )
    assert not LocalJob.objects.exists()


def test_another_teams_job_cannot_be_seen_cancelled_or_followed(a, b):
    theirs = create_job(a, a.upload(jsonl(food_rows(3))).json()["id"]).json()["id"]
    mine = create_job(b, b.upload(jsonl(food_rows(3))).json()["id"]).json()["id"]
    missing = "ftjob-missing"
    for path in ("/fine_tuning/jobs/{}", "/fine_tuning/jobs/{}/events", "/fine_tuning/jobs/{}/checkpoints"):
        assert_same_as_missing(
            b.get(path.format(theirs)), b.get(path.format(missing)), real_id=theirs, missing_id=missing
        )
    assert_same_as_missing(
        b.post(f"/fine_tuning/jobs/{theirs}/cancel", {}),
        b.post(f"/fine_tuning/jobs/{missing}/cancel", {}),
        real_id=theirs,
        missing_id=missing,
    )
    assert LocalJob.objects.get(public_id=theirs).status == "validating_files"
    assert a.ids("/fine_tuning/jobs") == [theirs] and b.ids("/fine_tuning/jobs") == [mine]
    assert_same_as_missing(
        b.get("/fine_tuning/jobs", after=theirs),
        b.get("/fine_tuning/jobs", after=missing),
        real_id=theirs,
        missing_id=missing,
    )


def test_another_teams_fine_tuned_model_its_checkpoints_and_results_are_out_of_reach(a, b, trained):
    job = trained["job"]
    model = job["fine_tuned_model"]
    checkpoint = f"{model}:ckpt-step-5"
    assert model in a.ids("/models") and a.get(f"/models/{checkpoint}").json()["id"] == checkpoint
    assert [c["step_number"] for c in a.get(f"/fine_tuning/jobs/{job['id']}/checkpoints").json()["data"]] == [
        10,
        5,
    ]
    reply = a.post("/chat/completions", {"model": model, "messages": HELLO, "max_tokens": 3})
    assert reply.status_code == 200 and reply.json()["model"] == model

    assert b.ids("/models") == ["SmolLM2-135M-Instruct", "fineweb-tiny"]  # base models are everyone's
    missing = "ft:fineweb-tiny:a:ftjob-missing"
    for name in (model, checkpoint):
        assert_same_as_missing(
            b.get(f"/models/{name}"), b.get(f"/models/{missing}"), real_id=name, missing_id=missing
        )
        error = assert_same_as_missing(
            b.post("/chat/completions", {"model": name, "messages": HELLO, "max_tokens": 3}),
            b.post("/chat/completions", {"model": missing, "messages": HELLO, "max_tokens": 3}),
            real_id=name,
            missing_id=missing,
        )
        assert error["code"] == "model_not_found"
    assert_same_as_missing(
        b.post("/chat/completions", {"model": model, "messages": HELLO, "stream": True}),
        b.post("/chat/completions", {"model": missing, "messages": HELLO, "stream": True}),
        real_id=model,
        missing_id=missing,
    )
    (results,) = job["result_files"]
    assert a.get(f"/files/{results}").json()["purpose"] == "fine-tune-results"
    assert_openai_error(b.get(f"/files/{results}/content"), 404)
    base = b.post("/chat/completions", {"model": "fineweb-tiny", "messages": HELLO, "max_tokens": 3})
    assert base.status_code == 200


def test_the_server_key_keeps_its_own_scope_apart_from_the_teams(a, server):
    ours = server.upload(jsonl(food_rows(3))).json()["id"]
    theirs = a.upload(jsonl(food_rows(3))).json()["id"]
    server_job = create_job(server, ours).json()["id"]
    assert server.ids("/files") == [ours] and server.ids("/fine_tuning/jobs") == [server_job]
    assert server.get(f"/fine_tuning/jobs/{server_job}").json()["training_file"] == ours
    assert_openai_error(server.get(f"/files/{theirs}"), 404)
    assert_openai_error(a.get(f"/files/{ours}"), 404)
    assert_openai_error(a.get(f"/fine_tuning/jobs/{server_job}"), 404)
    assert LocalFile.objects.get(public_id=ours).team_id is None
    assert LocalFile.objects.get(public_id=theirs).team_id is not None


def test_a_wrong_or_revoked_key_is_still_a_401(client, a, team):
    row = LocalApiKey.objects.get(team=team)
    for key in ("fw-local-not-a-key", row.key_hash):  # not even the stored hash opens anything
        response = Caller(client, key).get("/files")
        assert_openai_error(response, 401, code="invalid_api_key")
        assert key.encode() not in response.content
    assert a.get("/files").status_code == 200
    row.delete()
    assert_openai_error(a.get("/files"), 401, code="invalid_api_key")


def test_using_a_key_records_when_it_was_last_used(a, team):
    assert LocalApiKey.objects.get(team=team).last_used_at is None
    a.get("/models")
    assert LocalApiKey.objects.get(team=team).last_used_at is not None
