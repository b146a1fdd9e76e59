"""The review services end to end on the real database: decisions, statuses, bulk, settle, freeze."""

from __future__ import annotations

import pytest

from datasets_app.models import DatasetVersion
from review.models import Decision, Example, ReviewEvent, VersionReview
from review.services import (
    ReviewError,
    example_decide,
    example_settle,
    examples_bulk_decide,
    review_freeze,
    review_settings_update,
)
from tests.factories import chat, review_version


def test_starting_a_review_writes_one_row_per_example_with_its_tokens(in_review):
    rows = list(Example.objects.filter(version=in_review.version).order_by("index"))
    assert in_review.state == VersionReview.State.READY
    assert [r.index for r in rows] == list(range(12))
    assert all(r.n_tokens > 0 for r in rows)
    assert rows[3].data is not None and rows[3].data["messages"][1]["content"] == "Question number 3?"
    assert "question number 3?" in rows[3].search_text


def test_a_duplicate_and_personal_data_are_flagged_on_their_example(team, alice):
    lines = [chat(i) for i in range(11)] + [chat(2), chat(99, user="Write to jane.doe@example.com")]
    review = review_version(team=team, user=alice, lines=lines)
    rows = {r.index: r for r in Example.objects.filter(version=review.version)}
    assert rows[11].is_duplicate and not rows[2].is_duplicate
    assert any("example 3" in p["message"] for p in rows[11].problems)
    assert rows[12].has_privacy and rows[12].has_warning
    assert not rows[0].has_warning


def test_with_two_reviews_a_disagreement_waits_for_an_owner(team, alice, bob, dora, in_review):
    review_settings_update(team=team, user=alice, reviews_per_example=2)
    example = Example.objects.get(version=in_review.version, index=0)
    example_decide(example=example, user=bob, verdict="approve")
    assert Example.objects.get(pk=example.pk).status == Example.Status.PENDING
    example_decide(example=example, user=dora, verdict="reject", reason="wrong language")
    assert Example.objects.get(pk=example.pk).status == Example.Status.DISPUTED
    with pytest.raises(ReviewError):
        example_settle(example=example, user=bob, verdict="approve")
    example_settle(example=example, user=alice, verdict="approve")
    assert Example.objects.get(pk=example.pk).status == Example.Status.APPROVED
    assert ReviewEvent.objects.filter(example=example, action="settled", actor=alice).exists()


def test_a_reject_needs_a_reason(bob, in_review):
    example = Example.objects.get(version=in_review.version, index=0)
    with pytest.raises(ReviewError, match="why"):
        example_decide(example=example, user=bob, verdict="reject", reason="  ")
    assert not Decision.objects.exists()


def test_bulk_approve_decides_the_filtered_set_and_checks_the_count(bob, in_review):
    chosen = Example.objects.filter(version=in_review.version, index__lt=5)
    with pytest.raises(ReviewError, match="now has 5"):
        examples_bulk_decide(review=in_review, user=bob, examples=chosen, verdict="approve", expected=7)
    n = examples_bulk_decide(review=in_review, user=bob, examples=chosen, verdict="approve", expected=5)
    assert n == 5
    assert Decision.objects.filter(reviewer=bob, verdict="approve").count() == 5
    statuses = dict(Example.objects.filter(version=in_review.version).values_list("index", "state__status"))
    assert [statuses[i] for i in range(12)] == ["approved"] * 5 + ["pending"] * 7
    # Deciding again replaces the decisions instead of adding more.
    examples_bulk_decide(
        review=in_review, user=bob, examples=chosen, verdict="reject", reason="meh", expected=5
    )
    assert Decision.objects.filter(reviewer=bob).count() == 5
    assert Example.objects.filter(version=in_review.version, state__status="rejected").count() == 5


def test_freeze_needs_every_review_or_approved_only(alice, bob, in_review):
    examples = Example.objects.filter(version=in_review.version)
    examples_bulk_decide(
        review=in_review, user=bob, examples=examples.filter(index__lt=10), verdict="approve", expected=10
    )
    with pytest.raises(ReviewError, match="2 examples still wait"):
        review_freeze(review=in_review, user=alice)
    with pytest.raises(ReviewError):
        review_freeze(review=in_review, user=bob, approved_only=True)  # reviewers do not freeze
    frozen = review_freeze(review=in_review, user=alice, approved_only=True)
    assert frozen.is_frozen and frozen.n_examples == 10
    assert frozen.id != in_review.version_id
    in_review.refresh_from_db()
    assert in_review.state == VersionReview.State.FROZEN and in_review.frozen_into_id == frozen.id
    assert not DatasetVersion.objects.get(id=in_review.version_id).is_frozen
