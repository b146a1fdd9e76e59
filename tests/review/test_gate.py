"""The gate: freezing what was approved (fixes included), and a change after freezing."""

from __future__ import annotations

import json

import pytest

from datasets_app.models import DatasetVersion
from review.models import Example, ReviewEvent, VersionReview
from review.services import example_fix, examples_bulk_decide, review_freeze, review_start


def test_freezing_writes_the_approved_examples_with_their_fixes(alice, bob, in_review):
    examples = Example.objects.filter(version=in_review.version)
    fixed = examples.get(index=3)
    data = json.loads(json.dumps(fixed.data))
    data["messages"][2]["content"] = "Drei."
    example_fix(example=fixed, user=bob, data=data, lock=0)
    examples_bulk_decide(
        review=in_review, user=bob, examples=examples.exclude(index=5), verdict="approve", expected=11
    )
    examples_bulk_decide(
        review=in_review,
        user=bob,
        examples=examples.filter(index=5),
        verdict="reject",
        reason="off topic",
        expected=1,
    )
    frozen = review_freeze(review=in_review, user=alice)
    written = [json.loads(line) for line in frozen.blob.path.read_text().splitlines()]
    assert len(written) == 11 and frozen.n_examples == 11
    assert written[3]["messages"][2]["content"] == "Drei."
    assert all(w["messages"][1]["content"] != "Question number 5?" for w in written)
    assert frozen.parent_id == in_review.version_id and frozen.is_frozen
    assert ReviewEvent.objects.filter(version=in_review.version, action="froze").count() == 1


def test_a_fix_after_freezing_starts_a_new_draft_version(alice, bob, in_review):
    examples = Example.objects.filter(version=in_review.version)
    examples_bulk_decide(review=in_review, user=bob, examples=examples, verdict="approve", expected=12)
    frozen = review_freeze(review=in_review, user=alice)
    frozen_review = review_start(version=frozen, user=bob)
    target = Example.objects.get(version=frozen, index=0)
    data = json.loads(json.dumps(target.data))
    data["messages"][2]["content"] = "Null."
    draft = example_fix(example=target, user=bob, data=data, lock=0)
    assert isinstance(draft, DatasetVersion)
    assert not draft.is_frozen and draft.parent_id == frozen.id and draft.number == 3
    assert json.loads(draft.blob.path.read_text().splitlines()[0])["messages"][2]["content"] == "Null."
    frozen.refresh_from_db()
    assert frozen.is_frozen  # the frozen version itself never changes
    assert Example.objects.get(pk=target.pk).data == target.data
    assert VersionReview.objects.get(version=draft).state == VersionReview.State.READY
    assert frozen_review.state == VersionReview.State.READY


def test_a_frozen_version_is_not_frozen_again(alice, bob, in_review):
    from review.services import ReviewError

    examples = Example.objects.filter(version=in_review.version)
    examples_bulk_decide(review=in_review, user=bob, examples=examples, verdict="approve", expected=12)
    frozen = review_freeze(review=in_review, user=alice)
    again = review_start(version=frozen, user=alice)
    rows = Example.objects.filter(version=frozen)
    examples_bulk_decide(review=again, user=bob, examples=rows, verdict="approve", expected=12)
    with pytest.raises(ReviewError, match="already frozen"):
        review_freeze(review=again, user=alice)
    assert DatasetVersion.objects.filter(dataset=frozen.dataset).count() == 2


def test_the_frozen_versions_page_leads_to_the_review_its_examples_came_from(
    alice, bob, alice_client, in_review
):
    examples = Example.objects.filter(version=in_review.version)
    examples_bulk_decide(review=in_review, user=bob, examples=examples, verdict="approve", expected=12)
    frozen = review_freeze(review=in_review, user=alice)
    page = alice_client.get(f"/datasets/{frozen.dataset_id}/v/{frozen.number}/").content.decode()
    assert f"/review/for-version/{frozen.id}/" in page
    panel = alice_client.get(
        f"/review/for-version/{frozen.id}/", headers={"HX-Request": "true"}
    ).content.decode()
    assert "approved in the review of" in panel and f"/review/v/{in_review.version_id}/summary/" in panel
