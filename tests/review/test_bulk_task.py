"""A bulk decision over `REVIEW_BULK_INLINE_EXAMPLES` is recorded by a real Celery worker, in
chunks, with a progress bar on the review; decisions wait meanwhile; a lost worker leaves a
review people can go on with."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from review.models import BulkDecision, Decision, Example, ExampleState, ReviewEvent, VersionReview
from review.selectors import review_counts
from review.services import ReviewError, example_decide, example_fix, review_settings_update
from tests.factories import chat, client_for, review_version
from tests.processes import wait_for

pytestmark = [pytest.mark.worker]

N = 40
CHUNK = "7"  # the worker's chunk: 39 examples take six chunks, each moving the bar


def _review(team, alice, dora):
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(N)])
    example_decide(
        example=Example.objects.get(version=review.version, index=3),
        user=dora,
        verdict="reject",
        reason="off topic",
    )
    review.refresh_from_db()
    return review


def _post(client, review, **extra):
    url = reverse("review:bulk", args=[review.version_id])
    data = {"verdict": "approve", "status": "pending", **extra}
    return client.post(url, data)


def test_a_large_bulk_approve_is_recorded_by_a_worker_exactly_on_the_confirmed_set(
    start_worker, settings, team, alice, bob, dora, bob_client
):
    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = _review(team, alice, dora)
    queue = reverse("review:queue", args=[review.version_id])
    confirm = bob_client.get(reverse("review:bulk", args=[review.version_id]), {"status": "pending"})
    assert confirm.context["count"] == N - 1
    chosen = set(
        ExampleState.objects.filter(version_id=review.version_id, status="pending").values_list(
            "pk", flat=True
        )
    )

    response = _post(bob_client, review, expected=N - 1)
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.state == VersionReview.State.DECIDING
    job = BulkDecision.objects.get(review=review)
    assert (job.state, job.expected, job.done, job.user_id) == ("queued", N - 1, 0, bob.id)
    assert not Decision.objects.filter(reviewer=bob).exists()  # nothing in the request

    # No worker yet: the pages show the bar, decisions and fixes are refused with a sentence.
    page = bob_client.get(queue + "?view=list").content.decode()
    assert 'data-testid="bulk-progress"' in page and "Waiting for a worker" in page
    assert 'data-testid="bulk-approve"' not in page  # no bulk buttons while one runs
    poll = bob_client.get(
        reverse("review:bulk_progress", args=[review.version_id]), headers={"HX-Request": "true"}
    )
    assert poll.status_code == 200 and f"of {N - 1} examples" in poll.content.decode()
    example = Example.objects.get(version=review.version, index=0)
    with pytest.raises(ReviewError, match="bulk decision is being recorded"):
        example_decide(example=example, user=dora, verdict="approve")
    with pytest.raises(ReviewError, match="bulk decision is being recorded"):
        example_fix(example=example, user=dora, data={"messages": []}, lock=example.lock)
    again = _post(client_for(dora), review, expected=N - 1)
    assert again.status_code == 200 and "bulk decision is being recorded" in again.content.decode()
    assert BulkDecision.objects.filter(review=review).count() == 1
    with pytest.raises(ReviewError, match="change the setting when it is done"):
        review_settings_update(team=team, user=alice, reviews_per_example=2)

    start_worker(queues="default", extra_env={"FINEWEB_REVIEW_BULK_CHUNK_EXAMPLES": CHUNK})
    done = wait_for(
        lambda: BulkDecision.objects.filter(id=job.id, state="done").first(),
        timeout=120,
        message="the worker to record the bulk decision",
    )
    assert done.done == N - 1 and done.progress == 100
    decided = Decision.objects.filter(reviewer=bob)
    assert set(decided.values_list("example_id", flat=True)) == chosen
    assert set(decided.values_list("verdict", flat=True)) == {"approve"}
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY
    assert review.counts == review_counts(review=review)
    assert (review.counts["approved"], review.counts["rejected"], review.counts["pending"]) == (N - 1, 1, 0)
    events = ReviewEvent.objects.filter(version_id=review.version_id, action="bulk")
    assert [e.detail for e in events] == [f"approved {N - 1} examples"]
    poll = bob_client.get(
        reverse("review:bulk_progress", args=[review.version_id]), headers={"HX-Request": "true"}
    )
    assert poll.status_code == 204 and poll.headers["HX-Refresh"] == "true"
    page = bob_client.get(queue).content.decode()
    assert f"Approved {N - 1} examples." in page and 'data-testid="bulk-progress"' not in page


def test_a_large_set_that_changed_since_the_confirmation_is_refused(
    settings, team, alice, bob, dora, bob_client
):
    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = _review(team, alice, dora)
    confirm = bob_client.get(reverse("review:bulk", args=[review.version_id]), {"status": "pending"})
    shown = confirm.context["count"]
    example_decide(example=Example.objects.get(version=review.version, index=9), user=dora, verdict="approve")
    response = _post(bob_client, review, expected=shown)
    assert response.status_code == 200
    assert f"it now has {shown - 1} examples, not {shown}" in response.content.decode()
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY
    assert not BulkDecision.objects.exists() and not Decision.objects.filter(reviewer=bob).exists()


def test_two_bulk_posts_at_once_record_one_decision_each_example(
    start_worker, settings, team, alice, bob, dora, bob_client
):
    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = _review(team, alice, dora)
    clients = [bob_client, client_for(dora)]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post(client):
        from django.db import connection

        barrier.wait()
        try:
            statuses.append(_post(client, review, expected=N - 1).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 302]  # one claimed the review, the other was told why not
    job = BulkDecision.objects.get(review=review)
    start_worker(queues="default", extra_env={"FINEWEB_REVIEW_BULK_CHUNK_EXAMPLES": CHUNK})
    wait_for(
        lambda: BulkDecision.objects.filter(id=job.id, state="done").exists(), timeout=120, message="the job"
    )
    decisions = Decision.objects.filter(example__version_id=review.version_id, reviewer=job.user_id)
    assert decisions.filter(verdict="approve").count() == N - 1
    assert not Decision.objects.filter(
        reviewer_id=({bob.id, dora.id} - {job.user_id}).pop(), verdict="approve"
    )
    review.refresh_from_db()
    assert review.counts == review_counts(review=review)


def test_a_bulk_decision_no_worker_records_leaves_a_usable_review(
    start_worker, settings, team, alice, bob, dora, bob_client
):
    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = _review(team, alice, dora)
    assert _post(bob_client, review, expected=N - 1).status_code == 302
    job = BulkDecision.objects.get(review=review)
    # No worker picks it up; once its lease has run out, the next page view opens the review again.
    BulkDecision.objects.filter(id=job.id).update(
        heartbeat=timezone.now() - timedelta(seconds=settings.REVIEW_BULK_LEASE_SECONDS + 1)
    )
    page = bob_client.get(reverse("review:queue", args=[review.version_id])).content.decode()
    assert 'data-testid="bulk-stopped"' in page
    assert "stopped because no worker was recording it before recording any; nothing changed" in page
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY
    example_decide(example=Example.objects.get(version=review.version, index=0), user=dora, verdict="approve")

    # The worker comes back and gets the old message: the stopped job stays stopped.
    worker = start_worker(queues="default", extra_env={"FINEWEB_REVIEW_BULK_CHUNK_EXAMPLES": CHUNK})
    wait_for(
        lambda: "review.bulk_decide" in worker.log() and "succeeded" in worker.log(),
        timeout=60,
        message="the old task",
    )
    job.refresh_from_db()
    assert job.state == "failed" and job.done == 0
    assert not Decision.objects.filter(reviewer=bob).exists()
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY and review.counts == review_counts(review=review)


def test_a_bulk_decision_that_breaks_in_the_worker_leaves_a_usable_review(
    settings, team, alice, bob, dora, bob_client
):
    """The path the task takes when its body raises (`review_bulk_fail`), then the task's body
    delivered again: it does nothing more."""
    from review.services import review_bulk_fail, review_bulk_run

    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = _review(team, alice, dora)
    assert _post(bob_client, review, expected=N - 1).status_code == 302
    job = BulkDecision.objects.get(review=review)
    review_bulk_fail(job_id=job.id)
    job.refresh_from_db()
    assert job.state == "failed"
    assert job.message == (
        f"The bulk approval of {N - 1} examples stopped because of an error on the server before "
        "recording any; nothing changed. Confirm it again."
    )
    page = bob_client.get(reverse("review:queue", args=[review.version_id]) + "?view=list").content.decode()
    assert 'data-testid="bulk-stopped"' in page and 'data-testid="bulk-approve"' in page
    again = review_bulk_run(job_id=job.id)
    assert again is not None and again.state == "failed"
    assert not Decision.objects.filter(reviewer=bob).exists()
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY
    # The review goes on: the same bulk approval, confirmed again, is accepted.
    assert _post(bob_client, review, expected=N - 1).status_code == 302
    assert BulkDecision.objects.filter(review=review, state="queued").count() == 1


def test_a_bulk_decision_delivered_again_after_a_lost_worker_carries_on_where_it_stopped(
    settings, team, alice, bob, dora, bob_client
):
    """Two chunks of 7 written, the worker lost (the job left running), the task delivered again:
    it writes the rest from the cursor, so every example of the set has one decision and `done`
    is the set's size."""
    from review.services import review_bulk_run

    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    settings.REVIEW_BULK_CHUNK_EXAMPLES = 7
    review = _review(team, alice, dora)
    chosen = set(
        ExampleState.objects.filter(version_id=review.version_id, status="pending").values_list(
            "pk", flat=True
        )
    )
    assert _post(bob_client, review, expected=N - 1).status_code == 302
    job = BulkDecision.objects.get(review=review)
    halfway = review_bulk_run(job_id=job.id, max_chunks=2)
    assert halfway is not None and (halfway.state, halfway.done) == ("running", 14)
    assert Decision.objects.filter(reviewer=bob).count() == 14
    page = bob_client.get(
        reverse("review:bulk_progress", args=[review.version_id]), headers={"HX-Request": "true"}
    )
    assert f"14 of {N - 1} done" in page.content.decode()
    done = review_bulk_run(job_id=job.id)
    assert done is not None and (done.state, done.done, done.cursor) == ("done", N - 1, None)
    assert set(Decision.objects.filter(reviewer=bob).values_list("example_id", flat=True)) == chosen
    assert Decision.objects.filter(reviewer=bob).count() == N - 1
    review.refresh_from_db()
    assert review.state == VersionReview.State.READY and review.counts == review_counts(review=review)
