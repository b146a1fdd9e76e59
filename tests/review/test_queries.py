"""The review pages run the same few queries whatever the version's size and its decisions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from review.models import Example
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
