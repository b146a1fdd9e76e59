"""The review pages through the test client: reading, acting, roles, escaping, the lost-update guard."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from review.models import Comment, Decision, Example, Fix
from tests.factories import chat, review_version

SCRIPT = "<script>alert(1)</script>"


def queue(review, **query) -> str:
    return reverse("review:queue", args=[review.version_id]) + (
        "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    )


def first(review, index: int = 0) -> Example:
    return Example.objects.get(version=review.version, index=index)


def test_the_focus_view_shows_one_example_as_a_chat_with_its_tokens(bob_client, in_review):
    response = bob_client.get(queue(in_review))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Question number 0?" in html and "Question number 1?" not in html
    assert f"{first(in_review).n_tokens} tokens" in html
    assert "JSON" not in html
    assert 'data-shortcut="a"' in html and "<kbd>j</kbd>" in html


def test_a_repeated_system_prompt_is_collapsed_in_the_list(bob_client, in_review):
    html = bob_client.get(queue(in_review, view="list")).content.decode()
    assert html.count("Answer in German.") == 12
    assert html.count("the same as the example before") == 11


def test_a_preference_pair_shows_both_answers_side_by_side(team, alice, bob_client):
    line = {
        "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
    }
    review = review_version(
        team=team,
        user=alice,
        lines=[line] * 1
        + [dict(line, preferred_output=[{"role": "assistant", "content": f"Paris {i}."}]) for i in range(11)],
        method="dpo",
    )
    html = bob_client.get(queue(review)).content.decode()
    assert "Preferred answer" in html and "Not preferred answer" in html
    assert "Paris." in html and "Lyon." in html


def test_tool_calls_are_shown_by_name_and_argument(team, alice, bob_client):
    call = {
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "4 degrees"},
            {"role": "assistant", "content": "It is 4 degrees."},
        ]
    }
    review = review_version(team=team, user=alice, lines=[call] + [chat(i) for i in range(11)])
    html = bob_client.get(queue(review)).content.decode()
    assert "calls get_weather" in html and "city:</span> Oslo" in html and "Tool result" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "number 1"}, 3),
        ({"min_tokens": 0, "max_tokens": 0}, 0),
        ({"status": "approved"}, 1),
        ({"status": "pending"}, 11),
    ],
)
def test_filters_narrow_the_list(bob, bob_client, in_review, query, expected):
    Decision.objects.all().delete()
    from review.services import example_decide

    example_decide(example=first(in_review, 5), user=bob, verdict="approve")
    response = bob_client.get(queue(in_review, view="list", **query))
    assert response.context["page"].total == expected
    assert len(response.context["page"].examples) == expected


def test_the_reviewer_filter_finds_what_one_reviewer_decided(bob, dora, dora_client, in_review):
    from review.services import example_decide

    example_decide(example=first(in_review, 2), user=bob, verdict="approve")
    example_decide(example=first(in_review, 4), user=dora, verdict="approve")
    page = dora_client.get(queue(in_review, view="list", reviewer=bob.id)).context["page"]
    assert [c["example"].index for c in page.examples] == [2]


def test_the_list_pages_by_position(team, alice, bob_client):
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(60)])
    page1 = bob_client.get(queue(review, view="list")).context["page"]
    page2 = bob_client.get(queue(review, view="list", after=page1.next_after)).context["page"]
    page3 = bob_client.get(queue(review, view="list", after=page2.next_after)).context["page"]
    indexes = [c["example"].index for p in (page1, page2, page3) for c in p.examples]
    assert indexes == list(range(60))
    assert page3.next_after is None
    back = bob_client.get(queue(review, view="list", before=page3.prev_before)).context["page"]
    assert [c["example"].index for c in back.examples] == list(range(25, 50))


def test_approve_then_reject_with_a_reason_from_the_focus_view(bob, bob_client, in_review):
    example = first(in_review)
    url = reverse("review:decide", args=[example.id])
    assert bob_client.post(url, {"verdict": "approve"}).status_code == 302
    assert Example.objects.get(pk=example.pk).status == "approved"
    bob_client.post(url, {"verdict": "reject", "reason": "the answer is wrong"})
    decision = Decision.objects.get(example=example, reviewer=bob)
    assert decision.verdict == "reject" and decision.reason == "the answer is wrong"


def test_a_reject_without_a_reason_is_refused_with_a_sentence(bob_client, in_review):
    example = first(in_review)
    response = bob_client.post(
        reverse("review:decide", args=[example.id]), {"verdict": "reject"}, follow=True
    )
    assert "Say why you reject" in response.content.decode()
    assert not Decision.objects.exists()


def test_a_launcher_reads_but_cannot_review(lena_client, in_review):
    example = first(in_review)
    html = lena_client.get(queue(in_review)).content.decode()
    assert "Question number 0?" in html and 'data-testid="approve"' not in html
    for name, data in [
        ("decide", {"verdict": "approve"}),
        ("comment", {"text": "hi"}),
        ("settle", {"verdict": "approve"}),
    ]:
        assert lena_client.post(reverse(f"review:{name}", args=[example.id]), data).status_code == 403
    assert lena_client.post(reverse("review:freeze", args=[in_review.version_id])).status_code == 403
    assert not Decision.objects.exists() and not Comment.objects.exists()


def test_a_reviewer_cannot_settle_or_freeze(bob_client, in_review):
    example = first(in_review)
    assert (
        bob_client.post(reverse("review:settle", args=[example.id]), {"verdict": "approve"}).status_code
        == 403
    )
    assert bob_client.post(reverse("review:freeze", args=[in_review.version_id])).status_code == 403
    assert bob_client.get(reverse("review:settings")).status_code == 403


def test_an_outsider_gets_404_everywhere(charlie_client, in_review):
    example = first(in_review)
    v = in_review.version_id
    for url in [
        reverse("review:queue", args=[v]),
        reverse("review:summary", args=[v]),
        reverse("review:bulk", args=[v]),
        reverse("review:fix", args=[example.id]),
    ]:
        assert charlie_client.get(url).status_code == 404, url
    for name in ("decide", "comment", "settle", "fix", "fix_check"):
        assert (
            charlie_client.post(
                reverse(f"review:{name}", args=[example.id]), {"verdict": "approve"}
            ).status_code
            == 404
        )
    assert charlie_client.post(reverse("review:freeze", args=[v])).status_code == 404


def test_changes_need_the_csrf_token(bob, in_review):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    example = first(in_review)
    assert client.post(reverse("review:decide", args=[example.id]), {"verdict": "approve"}).status_code == 403
    assert not Decision.objects.exists()


def test_script_in_an_example_a_comment_and_a_fix_is_shown_as_text(team, alice, bob, bob_client):
    review = review_version(
        team=team, user=alice, lines=[chat(0, user=SCRIPT)] + [chat(i) for i in range(1, 12)]
    )
    example = first(review)
    bob_client.post(reverse("review:comment", args=[example.id]), {"text": SCRIPT})
    post = {
        "lock": 0,
        "n": 4,
        "role_0": "system",
        "content_0": "Answer in German.",
        "role_1": "user",
        "content_1": SCRIPT,
        "role_2": "assistant",
        "content_2": "Antwort " + SCRIPT,
        "role_3": "user",
        "content_3": "",
    }
    assert bob_client.post(reverse("review:fix", args=[example.id]), post).status_code == 302
    html = bob_client.get(queue(review)).content.decode()
    assert SCRIPT not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # example, comment, fix before and after


def test_a_fix_is_recorded_with_before_and_after(bob, bob_client, in_review):
    example = first(in_review)
    form = bob_client.get(reverse("review:fix", args=[example.id]))
    assert form.status_code == 200 and "Antwort Nummer 0." in form.content.decode()
    post = {
        "lock": 0,
        "n": 4,
        "role_0": "system",
        "content_0": "Answer in German.",
        "role_1": "user",
        "content_1": "Question number 0?",
        "role_2": "assistant",
        "content_2": "Null.",
        "role_3": "user",
        "content_3": "",
    }
    bob_client.post(reverse("review:fix", args=[example.id]), post)
    fix = Fix.objects.get(example=example)
    assert fix.before is not None and fix.before["messages"][2]["content"] == "Antwort Nummer 0."
    assert fix.after["messages"][2]["content"] == "Null."
    example.refresh_from_db()
    assert example.fixed and example.lock == 1 and example.data == fix.after


def test_the_fix_check_uses_the_upload_rules_as_you_type(bob_client, in_review):
    example = first(in_review)
    post = {"lock": 0, "n": 2, "role_0": "user", "content_0": "Hello", "role_1": "user", "content_1": ""}
    html = bob_client.post(reverse("review:fix_check", args=[example.id]), post).content.decode()
    assert "the last message must come from the assistant" in html
    post = {
        "lock": 0,
        "n": 2,
        "role_0": "user",
        "content_0": "Hello",
        "role_1": "assistant",
        "content_1": "Hi, mail me at a.b@example.org",
    }
    html = bob_client.post(reverse("review:fix_check", args=[example.id]), post).content.decode()
    assert "Looks good" in html and "e-mail address" in html


def test_two_reviewers_fixing_the_same_example_lose_nothing(bob_client, dora_client, in_review):
    example = first(in_review)
    base = {
        "lock": 0,
        "n": 3,
        "role_0": "system",
        "content_0": "Answer in German.",
        "role_1": "user",
        "content_1": "Question number 0?",
        "role_2": "assistant",
    }
    assert (
        bob_client.post(
            reverse("review:fix", args=[example.id]), {**base, "content_2": "Bob's answer."}
        ).status_code
        == 302
    )
    response = dora_client.post(
        reverse("review:fix", args=[example.id]), {**base, "content_2": "Dora's answer."}
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert "bob saved a change to this example" in html
    assert "Bob&#x27;s answer." in html and "Dora&#x27;s answer." in html
    example.refresh_from_db()
    assert example.data is not None and example.data["messages"][2]["content"] == "Bob's answer."
    assert example.lock == 1
    assert Fix.objects.count() == 1


def test_bulk_confirmation_says_how_many_and_the_server_recounts(bob, bob_client, in_review):
    url = reverse("review:bulk", args=[in_review.version_id])
    confirm = bob_client.get(url, {"verdict": "approve", "q": "number 1"})
    assert confirm.context["count"] == 3 and "Yes, approve 3" in confirm.content.decode()
    response = bob_client.post(url, {"verdict": "approve", "q": "number 1", "expected": 12}, follow=True)
    assert "now has 3 examples, not 12" in response.content.decode()
    assert not Decision.objects.exists()
    bob_client.post(url, {"verdict": "approve", "q": "number 1", "expected": 3})
    assert Decision.objects.filter(reviewer=bob).count() == 3


def test_summary_shows_agreement_on_examples_with_two_reviews(
    team, alice, alice_client, bob, dora, in_review
):
    from review.services import example_decide, review_settings_update

    review_settings_update(team=team, user=alice, reviews_per_example=2)
    for i in range(6):
        example_decide(example=first(in_review, i), user=bob, verdict="approve")
        verdict = "approve" if i < 4 else "reject"
        example_decide(example=first(in_review, i), user=dora, verdict=verdict, reason="no")
    response = alice_client.get(reverse("review:summary", args=[in_review.version_id]))
    summary = response.context["summary"]
    assert summary.n_two_reviews == 6
    assert round(summary.agreement.percent) == 67
    assert summary.counts["disputed"] == 2 and summary.counts["approved"] == 4
    assert "agree on <strong>67%</strong>" in response.content.decode()


def test_only_mine_to_do_leaves_out_what_i_decided(bob, dora, bob_client, in_review):
    from review.services import example_decide

    example_decide(example=first(in_review, 0), user=bob, verdict="approve")
    example_decide(example=first(in_review, 1), user=dora, verdict="approve")
    page = bob_client.get(queue(in_review, view="list", todo=1)).context["page"]
    assert page.total == 11 and 0 not in [c["example"].index for c in page.examples]
    confirm = bob_client.get(reverse("review:bulk", args=[in_review.version_id]), {"todo": 1})
    assert confirm.context["count"] == 11


def test_an_examples_history_names_a_bulk_decision_and_who_made_it(bob, dora, bob_client, in_review):
    from review.services import example_comment, example_decide

    examples = Example.objects.filter(version=in_review.version)
    examples_bulk = examples.filter(index__lt=3)
    from review.services import examples_bulk_decide

    examples_bulk_decide(review=in_review, user=bob, examples=examples_bulk, verdict="approve", expected=3)
    example_decide(example=first(in_review, 1), user=dora, verdict="reject", reason="too short")
    example_comment(example=first(in_review, 1), user=dora, text="see the answer")
    history = bob_client.get(queue(in_review, at=1)).context["focus"].card["history"]
    lines = [(h["who"], h["what"]) for h in history]
    assert ("bob", "approved (in a bulk decision)") in lines
    assert ("dora", "rejected") in lines and ("dora", "commented") in lines
    assert [h["when"] for h in history] == sorted((h["when"] for h in history), reverse=True)
