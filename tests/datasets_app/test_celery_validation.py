"""A large upload is validated by a real Celery worker; the page follows its progress."""

from __future__ import annotations

import pytest

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload
from datasets_app.validation import validate_file
from tests.factories import chat, jsonl, upload_file
from tests.processes import wait_for


@pytest.mark.worker
def test_a_file_over_the_inline_limit_is_validated_by_a_worker(start_worker, alice, settings, alice_client):
    settings.DATASET_INLINE_VALIDATE_BYTES = 10_000
    lines = [chat(i, answer=f"Antwort {i} " + "gut " * 20) for i in range(3000)]
    lines[2500] = {"messages": [{"role": "user", "content": "no answer"}]}
    team = alice.memberships.get().team
    start_worker(queues="default", extra_env={"FINEWEB_DATASET_INLINE_VALIDATE_BYTES": "10000"})
    version = dataset_upload(team=team, user=alice, name="Big", uploaded_file=upload_file(jsonl(lines)))
    assert version.status == "validating", "a large file is not validated in the request"
    body = alice_client.get(f"/datasets/{version.dataset_id}/v/1/").content.decode()
    assert "Checking every line" in body or "Has errors" in body

    done = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id).exclude(status="validating").first(),
        timeout=120,
        message="the worker to validate the file",
    )
    assert done.status == "invalid" and done.progress == 100
    assert done.report["errors"] == [
        {"line": 2501, "message": "the last message must come from the assistant"}
    ]
    assert done.stats["n_examples"] == 3000 and done.stats["n_counted"] == 2999


@pytest.mark.worker
def test_a_worker_checks_a_large_file_in_parallel_processes_with_the_serial_report(
    start_worker, alice, settings, tmp_path
):
    """A Celery prefork child is a daemonic process; the validator's pool still starts there."""
    settings.DATASET_INLINE_VALIDATE_BYTES = 10_000
    lines = [chat(i, answer=f"Antwort {i} " + "sehr gut " * 20) for i in range(12_000)]
    for n in (17, 5_000, 11_999):
        lines[n - 1] = {"messages": [{"role": "user", "content": "no answer"}]}
    lines[9_000] = lines[3]
    content = jsonl(lines)
    assert len(content) > 3 * 1024 * 1024, "big enough for three chunks of at least 1 MB"
    team = alice.memberships.get().team
    worker = start_worker(
        queues="default",
        extra_env={
            "FINEWEB_DATASET_INLINE_VALIDATE_BYTES": "10000",
            "FINEWEB_DATASET_PARALLEL_MIN_BYTES": "100000",
            "FINEWEB_DATASET_VALIDATION_WORKERS": "2",
        },
    )
    version = dataset_upload(team=team, user=alice, name="Bigger", uploaded_file=upload_file(content))

    done = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id).exclude(status="validating").first(),
        timeout=180,
        message="the worker to validate the file",
    )
    assert "in 2 processes" in worker.log(), worker.log()[-3000:]
    path = tmp_path / "same.jsonl"
    path.write_bytes(content)
    assert done.report == validate_file(path, workers=1).to_dict()
    assert [e["line"] for e in done.report["errors"]] == [17, 5_000, 11_999]
    assert [(w["line"], w["message"]) for w in done.report["warnings"]] == [
        (5_000, "exact duplicate of line 17"),
        (9_001, "exact duplicate of line 4"),
        (11_999, "exact duplicate of line 17"),
    ]
