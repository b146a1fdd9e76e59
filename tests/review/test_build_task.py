"""A large version's example rows are written by a real Celery worker; the queue page shows progress."""

from __future__ import annotations

import pytest
from django.urls import reverse

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload
from review.models import Example, VersionReview
from review.services import review_start
from tests.factories import chat, jsonl, upload_file
from tests.processes import wait_for


@pytest.mark.worker
def test_a_version_over_the_inline_limit_is_prepared_by_a_worker(start_worker, alice, settings, alice_client):
    settings.DATASET_INLINE_VALIDATE_BYTES = 10_000
    start_worker(queues="default", extra_env={"FINEWEB_DATASET_INLINE_VALIDATE_BYTES": "10000"})
    team = alice.memberships.get().team
    lines = [chat(i) for i in range(5000)]
    lines[4321] = chat(4321, user="Call me on +49 170 1234567")
    version = dataset_upload(team=team, user=alice, name="Big", uploaded_file=upload_file(jsonl(lines)))
    version = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id, status="valid").first(),
        timeout=120,
        message="the worker to validate the file",
    )
    review = review_start(version=version, user=alice)
    assert review.state == VersionReview.State.BUILDING, "a large version is not prepared in the request"
    page = alice_client.get(reverse("review:queue", args=[version.id]))
    assert "Preparing 5,000 examples" in page.content.decode() or review.progress == 100
    done = wait_for(
        lambda: VersionReview.objects.filter(id=review.id, state=VersionReview.State.READY).first(),
        timeout=120,
        message="the worker to write the example rows",
    )
    assert done.progress == 100 and done.n_examples == 5000
    assert Example.objects.filter(version=version).count() == 5000
    flagged = Example.objects.get(version=version, index=4321)
    assert flagged.has_privacy and "phone" in flagged.problems[0]["message"]
    # The page polled by htmx asks for a reload once the rows are there.
    poll = alice_client.get(
        reverse("review:queue", args=[version.id]) + "?poll=1", headers={"HX-Request": "true"}
    )
    assert poll.headers["HX-Refresh"] == "true"
