"""The version page and its parts: statistics, histogram, problems, examples, split, freeze, scoping."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload, version_freeze
from tests.factories import chat, good_lines, upload_file


@pytest.fixture
def version(alice, team) -> DatasetVersion:
    lines = [chat(i) for i in range(30)]
    lines[3] = chat(3, user="<script>alert('x')</script> mail me: anna@example.org")
    return dataset_upload(
        team=team,
        user=alice,
        name="Support <b>DE</b>",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file(lines),
    )


def url(version, suffix="") -> str:
    return f"/datasets/{version.dataset_id}/v/{version.number}/{suffix}"


def test_the_page_shows_statistics_cost_and_the_histogram(alice_client, version):
    body = alice_client.get(url(version)).content.decode()
    stats = version.stats
    assert f'<div class="value">{stats["n_examples"]}</div><div class="label">examples</div>' in body
    assert f"{stats['total_tokens']:,}" in body
    assert 'id="histogram"' in body and "vendor/plotly.min.js" in body
    assert 'id="histogram-data"' in body and '"type":"bar"' in body.replace(" ", "")
    cost = version.tokens_capped_total * 3 * 3 / 1_000_000
    assert f"${cost:.2f}" in body
    assert "3 epochs" in body and "prices of 2026-11" in body


def test_user_content_is_escaped_everywhere_on_the_page(alice_client, version):
    body = alice_client.get(url(version)).content.decode()
    assert "<script>alert" not in body and "<b>DE</b>" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "Support &lt;b&gt;DE&lt;/b&gt;" in body


def test_warnings_are_listed_apart_from_errors(alice_client, version):
    body = alice_client.get(url(version)).content.decode()
    errors_part = body.split('id="errors"')[1].split('id="warnings"')[0]
    warnings_part = body.split('id="warnings"')[1].split('id="split"')[0]
    assert "No errors" in errors_part
    assert "line 4: looks like an e-mail address (an…@example.org)" in warnings_part


def test_the_error_list_is_capped_and_says_how_many_more(alice_client, alice, team, monkeypatch):
    from datasets_app import selectors

    monkeypatch.setattr(selectors, "PROBLEMS_SHOWN", 3)
    lines = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(12)]
    version = dataset_upload(team=team, user=alice, uploaded_file=upload_file(lines))
    body = alice_client.get(url(version)).content.decode()
    assert body.count("the last message must come from the assistant</li>") == 3
    assert "… and 9 more (12 in total)" in body


def test_the_examples_are_shown_as_chat_bubbles_and_paged_with_htmx(alice_client, version):
    body = alice_client.get(url(version)).content.decode()
    assert '<div class="bubble user">' in body and "Antwort Nummer 0." in body
    assert "Antwort Nummer 5." not in body
    page2 = alice_client.get(url(version, "examples/?page=2"), HTTP_HX_REQUEST="true").content.decode()
    assert "Antwort Nummer 5." in page2 and "Antwort Nummer 0." not in page2
    assert "<html" not in page2, "an htmx request gets only the fragment"
    assert "<html" in alice_client.get(url(version, "examples/?page=2")).content.decode()


def test_the_split_form_makes_train_and_validation_files_to_download(alice_client, version):
    response = alice_client.post(url(version, "split/"), {"fraction": "0.2", "seed": "5"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.validation_blob is not None
    body = alice_client.get(url(version)).content.decode()
    assert "Split done" in body and "Split with seed 5" in body
    download = alice_client.get(url(version, "file/validation/"))
    assert b"".join(download.streaming_content).count(b"\n") == 6


def test_a_bad_split_fraction_is_explained(alice_client, version):
    body = alice_client.post(
        url(version, "split/"), {"fraction": "0.9", "seed": "5"}, follow=True
    ).content.decode()
    assert "Check the split" in body
    version.refresh_from_db()
    assert version.train_blob is None


def test_the_version_page_freezes_only_through_the_review(alice_client, version, alice):
    """No button freezes a version as it is (that skipped the review): the page leads to the
    review, whose gate freezes the approved examples into a new version; the old address is gone."""
    body = alice_client.get(url(version)).content.decode()
    assert "Freeze version 1</button>" not in body
    link = f'href="{reverse(settings.DATASET_FREEZE_URL, args=[version.id])}"'
    assert "Review and freeze version 1" in body and link in body
    assert alice_client.post(url(version, "freeze/")).status_code == 404
    version.refresh_from_db()
    assert not version.is_frozen
    frozen = version_freeze(version=version, user=alice)  # a fixture's frozen version shows as frozen
    body = alice_client.get(url(frozen)).content.decode()
    assert "Jobs can train on this version" in body and "Review and freeze" not in body


def split_card(body: str) -> str:
    return body.split('id="split"')[1].split('id="freeze"')[0]


def test_the_split_card_of_a_frozen_version_shows_the_split_it_was_frozen_with(alice_client, alice, version):
    alice_client.post(url(version, "split/"), {"fraction": "0.2", "seed": "5"})
    version_freeze(version=version, user=alice)
    card = split_card(alice_client.get(url(version)).content.decode())
    assert "Frozen with this split: seed 5, 0.20 held out" in card
    assert "train file" in card and "validation file" in card
    assert "<form" not in card


def test_the_split_card_of_a_version_frozen_without_a_split_says_there_is_none(alice_client, alice, version):
    version_freeze(version=version, user=alice)
    card = split_card(alice_client.get(url(version)).content.decode())
    assert "Frozen without a split" in card and "no validation file" in card
    assert "<form" not in card


def test_the_list_shows_the_teams_datasets_only(alice_client, charlie_client, version):
    assert "Support &lt;b&gt;DE&lt;/b&gt;" in alice_client.get("/datasets/").content.decode()
    assert "Support" not in charlie_client.get("/datasets/").content.decode()


def test_the_list_shows_each_datasets_latest_version_with_its_counts(alice_client, alice, team, version):
    for n in (3, 5):
        newer = dataset_upload(
            team=team,
            user=alice,
            name="",
            method="",
            target_model="",
            uploaded_file=upload_file([chat(i) for i in range(n)]),
            dataset=version.dataset,
        )
    other = dataset_upload(
        team=team,
        user=alice,
        name="Second set",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file([chat(i) for i in range(4)]),
    )
    html = alice_client.get("/datasets/").content.decode()
    rows = {name: row for row in html.split("<tr>")[2:] for name in ("Support", "Second set") if name in row}
    assert f"v{newer.number} " in rows["Support"] and ">5</td>" in rows["Support"]
    assert "v1 " not in rows["Support"] and "v2 " not in rows["Support"]
    assert f"v{other.number} " in rows["Second set"] and ">4</td>" in rows["Second set"]


def test_the_progress_partial_asks_the_page_to_refresh_when_validation_is_done(alice_client, version):
    response = alice_client.get(url(version, "progress/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_a_validating_version_shows_a_progress_bar_that_polls(alice_client, version):
    DatasetVersion.objects.filter(id=version.id).update(status="validating", progress=40)
    body = alice_client.get(url(version)).content.decode()
    assert 'hx-trigger="every 1s"' in body and "width:40%" in body
    response = alice_client.get(url(version, "progress/"), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in response and "40%" in response.content.decode()


@pytest.mark.parametrize(
    "suffix",
    ["", "progress/", "examples/", "file/original/", "file/train/"],
)
def test_charlie_gets_404_on_every_url_of_alices_version(charlie_client, version, suffix):
    assert charlie_client.get(url(version, suffix)).status_code == 404


@pytest.mark.parametrize("suffix", ["split/", "freeze/"])
def test_charlie_cannot_post_to_alices_version(charlie_client, version, suffix):
    assert charlie_client.post(url(version, suffix), {"fraction": "0.1", "seed": "1"}).status_code == 404
    version.refresh_from_db()
    assert not version.is_frozen and version.train_blob is None


def test_charlie_gets_404_on_alices_dataset_and_cannot_delete_it(charlie_client, version):
    assert charlie_client.get(f"/datasets/{version.dataset_id}/").status_code == 404
    assert charlie_client.post(f"/datasets/{version.dataset_id}/delete/").status_code == 404
    assert DatasetVersion.objects.filter(id=version.id).exists()


def test_the_owner_deletes_the_dataset_from_its_page(alice_client, version):
    response = alice_client.post(f"/datasets/{version.dataset_id}/delete/", follow=True)
    assert "Deleted the dataset" in response.content.decode()
    assert not DatasetVersion.objects.exists()


def test_a_dpo_dataset_shows_preferred_and_rejected_answers(alice_client, alice, team):
    lines = [
        {
            "input": {"messages": [{"role": "user", "content": f"Greet {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Hallo!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Hello!"}],
        }
        for i in range(12)
    ]
    version = dataset_upload(team=team, user=alice, method="dpo", uploaded_file=upload_file(lines))
    assert version.status == "valid"
    body = alice_client.get(url(version)).content.decode()
    assert "assistant · preferred" in body and "assistant · not preferred" in body


def test_a_bob_reviewer_is_led_to_the_review_and_told_an_owner_freezes(bob_client, version):
    body = bob_client.get(url(version)).content.decode()
    assert "Review and freeze version 1" in body
    assert "an owner of the team freezes them" in body


def test_good_lines_helper_is_valid(alice, team):
    assert dataset_upload(team=team, user=alice, uploaded_file=upload_file(good_lines(12))).status == "valid"
