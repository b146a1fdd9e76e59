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


@pytest.mark.worker
def test_a_large_review_is_frozen_by_a_worker_with_progress_on_the_page(
    start_worker, alice, bob, settings, alice_client, bob_client
):
    from review.services import ReviewError, example_decide, examples_bulk_decide
    from tests.factories import review_version

    settings.REVIEW_FREEZE_INLINE_EXAMPLES = 5
    start_worker(queues="default", extra_env={"FINEWEB_REVIEW_FREEZE_INLINE_EXAMPLES": "5"})
    team = alice.memberships.get().team
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(30)])
    examples = Example.objects.filter(version=review.version)
    examples_bulk_decide(
        review=review, user=bob, examples=examples.exclude(index=7), verdict="approve", expected=29
    )
    summary = reverse("review:summary", args=[review.version_id])
    response = alice_client.post(reverse("review:freeze", args=[review.version_id]), {"approved_only": "1"})
    assert response.status_code == 302 and response.url == summary
    review.refresh_from_db()
    if review.state == VersionReview.State.FREEZING:  # the worker may already be done
        assert 'data-testid="freezing"' in alice_client.get(summary).content.decode()
        with pytest.raises(ReviewError, match="being frozen"):
            example_decide(example=examples.get(index=7), user=bob, verdict="approve")
    done = wait_for(
        lambda: VersionReview.objects.filter(id=review.id, state=VersionReview.State.FROZEN).first(),
        timeout=120,
        message="the worker to freeze the review",
    )
    frozen = done.frozen_into
    assert frozen is not None and frozen.is_frozen and frozen.n_examples == 29
    assert frozen.parent_id == review.version_id
    poll = alice_client.get(summary + "?poll=1", headers={"HX-Request": "true"})
    assert poll.headers["HX-Refresh"] == "true"
    assert f"version {frozen.number}" in alice_client.get(summary).content.decode()
