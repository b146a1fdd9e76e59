"""A large upload is validated by a real Celery worker; the page follows its progress."""

from __future__ import annotations

import pytest

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload
from tests.conftest import wait_for
from tests.datasets_app.conftest import chat, jsonl, upload_file


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

    done = wait_for(lambda: DatasetVersion.objects.filter(id=version.id).exclude(status="validating").first(),
                    timeout=120, message="the worker to validate the file")
    assert done.status == "invalid" and done.progress == 100
    assert done.report["errors"] == [{"line": 2501, "message": "the last message must come from the assistant"}]
    assert done.stats["n_examples"] == 3000 and done.stats["n_counted"] == 2999
