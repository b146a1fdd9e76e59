"""The review pages run the same few queries whatever the version's size and its decisions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from review.models import Example, ExampleState
from review.services import example_comment, example_decide, examples_bulk_decide
from tests.factories import chat, review_version


def _count(client, path: str) -> int:
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(queries.captured_queries)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?view=list",
        "?view=list&status=approved&warning=none&q=question",
        "?status=approved&min_tokens=1",
        "summary",
    ],
)
def test_a_review_page_runs_the_same_queries_for_few_examples_or_many(
    team, alice, bob, dora, alice_client, query
):
    counts = []
    for n in (12, 80):
        review = review_version(team=team, user=alice, lines=[chat(i) for i in range(n)])
        examples = Example.objects.filter(version=review.version)
        examples_bulk_decide(review=review, user=bob, examples=examples, verdict="approve", expected=n)
        examples_bulk_decide(review=review, user=dora, examples=examples, verdict="approve", expected=n)
        for example in examples[:5]:
            example_comment(example=example, user=bob, text="looks fine")
            example_decide(example=example, user=alice, verdict="approve")
        base = reverse("review:queue", args=[review.version_id])
        path = base + "summary/" if query == "summary" else base + query
        counts.append(_count(alice_client, path))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 25, counts


def _bulk_queries(client, review, data: dict) -> tuple[int, int]:
    """(queries of the confirmation page, queries of the post) of one bulk decision."""
    url = reverse("review:bulk", args=[review.version_id])
    with CaptureQueriesContext(connection) as confirm:
        count = client.get(url, data).context["count"]
    with CaptureQueriesContext(connection) as post:
        response = client.post(url, {**data, "expected": count})
    assert response.status_code == 302
    return len(confirm.captured_queries), len(post.captured_queries)


def test_a_bulk_approve_runs_the_same_queries_for_few_examples_or_many(
    team, alice, bob, bob_client, django_assert_max_num_queries
):
    counts = []
    for n in (10, 90):
        review = review_version(team=team, user=alice, lines=[chat(i) for i in range(n)])
        counts.append(_bulk_queries(bob_client, review, {"verdict": "approve", "status": "pending"}))
        assert Example.objects.filter(version=review.version, state__status="approved").count() == n
        review.refresh_from_db()
        assert review.counts == {"pending": 0, "approved": n, "rejected": 0, "disputed": 0, "total": n}
    assert counts[0] == counts[1], counts
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(40)])
    url = reverse("review:bulk", args=[review.version_id])
    with django_assert_max_num_queries(25):
        bob_client.post(url, {"verdict": "reject", "reason": "no", "expected": 40})
    assert review.__class__.objects.get(pk=review.pk).n_rejected == 40


@pytest.mark.parametrize(
    "query", ["", "?view=list&warning=none&min_tokens=1", "?view=list&q=number", "?status=pending&q=question"]
)
def test_a_queue_page_stays_under_a_fixed_number_of_queries(
    team, alice, bob, alice_client, django_assert_max_num_queries, query
):
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(60)])
    examples = Example.objects.filter(version=review.version, index__lt=30)
    examples_bulk_decide(review=review, user=bob, examples=examples, verdict="approve", expected=30)
    path = reverse("review:queue", args=[review.version_id]) + query
    alice_client.get(path)
    with django_assert_max_num_queries(20):
        assert alice_client.get(path).status_code == 200


def test_a_page_counts_the_matches_only_up_to_a_limit(team, alice, alice_client, monkeypatch):
    from review import selectors

    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(12)])
    base = reverse("review:queue", args=[review.version_id])
    body = alice_client.get(base + "?view=list&q=question").content.decode()
    assert "More than 5 examples match the filters" in body
    assert "Approve all that match" in body
    # A narrower filter under the limit is counted exactly, and the confirmation counts exactly.
    assert (
        "1 example matches the filters"
        in alice_client.get(base + "?view=list&q=number+7%3F").content.decode()
    )
    confirm = alice_client.get(reverse("review:bulk", args=[review.version_id]), {"q": "question"})
    assert confirm.context["count"] == 12
    # Without filters, or with a status only, the stored counts are exact whatever the limit.
    assert "12 examples" in alice_client.get(base + "?view=list").content.decode()
    assert (
        "12 examples match the filters"
        in alice_client.get(base + "?view=list&status=pending").content.decode()
    )
    focus = alice_client.get(base + "?q=question&at=8").content.decode()
    assert "more than 5 matching" in focus


def test_the_stored_counts_follow_every_kind_of_decision(team, alice, bob, dora, in_review):
    from review.selectors import review_counts
    from review.services import example_settle, review_settings_update

    def same() -> dict:
        in_review.refresh_from_db()
        assert in_review.counts == review_counts(review=in_review)
        return in_review.counts

    examples = list(Example.objects.filter(version=in_review.version).order_by("index"))
    assert same()["pending"] == 12
    example_decide(example=examples[0], user=bob, verdict="approve")
    example_decide(example=examples[1], user=bob, verdict="reject", reason="no")
    example_decide(example=examples[1], user=bob, verdict="approve")  # a change of mind
    assert same() == {"pending": 10, "approved": 2, "rejected": 0, "disputed": 0, "total": 12}
    review_settings_update(team=team, user=alice, reviews_per_example=2)
    assert same()["approved"] == 0
    example_decide(example=examples[0], user=dora, verdict="reject", reason="wrong")
    assert same()["disputed"] == 1
    example_settle(example=examples[0], user=alice, verdict="reject")
    assert same()["rejected"] == 1
    rest = Example.objects.filter(version=in_review.version, index__gte=2)
    examples_bulk_decide(review=in_review, user=dora, examples=rest, verdict="approve", expected=10)
    examples_bulk_decide(review=in_review, user=bob, examples=rest, verdict="approve", expected=10)
    assert same() == {"pending": 1, "approved": 10, "rejected": 1, "disputed": 0, "total": 12}


def test_a_bulk_post_handed_to_the_worker_and_its_progress_poll_run_fixed_queries(
    team, alice, bob, bob_client, settings
):
    """Over REVIEW_BULK_INLINE_EXAMPLES the post only claims the review and writes the job (the
    worker records it; not started here), so its queries do not grow with the set."""
    from review.models import BulkDecision

    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    counts = []
    for n in (12, 80):
        review = review_version(team=team, user=alice, lines=[chat(i) for i in range(n)])
        confirm, post = _bulk_queries(bob_client, review, {"verdict": "approve", "status": "pending"})
        job = BulkDecision.objects.get(review=review)
        assert job.expected == n and job.state == "queued"
        poll = reverse("review:bulk_progress", args=[review.version_id])
        queue = reverse("review:queue", args=[review.version_id]) + "?view=list"
        counts.append((confirm, post, _count(bob_client, poll), _count(bob_client, queue)))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("warning", ["any", "none", "privacy", "duplicate"])
def test_a_status_with_a_flag_filter_reads_the_state_rows_copies(team, alice, bob, alice_client, warning):
    """The flags on the state rows follow the examples (built, then fixed), and the pages, the
    capped count and the bulk confirmation select the same examples as the examples' own flags."""
    from review import selectors
    from review.services import example_fix

    lines = [chat(i) for i in range(30)]
    lines[4] = chat(1)  # a duplicate of example 2
    lines[9]["messages"][1]["content"] += " Write to me at person9@example.com."
    review = review_version(team=team, user=alice, lines=lines)
    examples = Example.objects.filter(version=review.version)
    examples_bulk_decide(
        review=review, user=bob, examples=examples.filter(index__gte=20), verdict="approve", expected=10
    )
    fixed = examples.get(index=9)  # its personal data removed: no longer a warning
    data = dict(fixed.data or {})
    data["messages"] = [
        *data["messages"][:1],
        {"role": "user", "content": "What is 9?"},
        *data["messages"][2:],
    ]
    example_fix(example=fixed, user=bob, data=data, lock=fixed.lock)
    for status in ("pending", "approved"):
        filters = selectors.Filters.from_query({"status": status, "warning": warning})
        expected = sorted(
            e.index
            for e in examples.filter(state__status=status)
            if {
                "any": e.has_warning,
                "none": not e.has_warning,
                "privacy": e.has_privacy,
                "duplicate": e.is_duplicate,
            }[warning]
        )
        page = selectors.list_page(review, filters, after=None, before=None, user_id=alice.id)
        assert [c["example"].index for c in page.examples] == expected[: selectors.PER_PAGE]
        assert (page.total, page.more) == (len(expected), False)
        assert selectors.selection_count(review, filters) == len(expected)
    states = ExampleState.objects.filter(version_id=review.version_id)
    assert states.get(index=4).is_duplicate and not states.get(index=9).has_privacy
