"""In Chromium, the team review of a dataset: two reviewers, a disagreement an owner settles, a fix
checked as it is typed, a freeze of the approved examples, the diff between the versions and a
launch from the frozen one. Saves docs/screenshots/review-*.png (shown in the README)."""

from __future__ import annotations

import pytest

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload
from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from jobs.models import Job
from review.models import Decision, Example, Fix
from review.services import review_settings_update
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD, chat, upload_file

pytestmark = pytest.mark.e2e


def lines() -> list[dict]:
    out = [chat(i) for i in range(12)]
    out[1] = chat(1, user="Where is my parcel? <script>alert(1)</script>", answer="Ihr Paket ist unterwegs.")
    out[4] = {
        "messages": [
            {"role": "system", "content": "Answer in German."},
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
            {"role": "tool", "tool_call_id": "c1", "content": "4 degrees, rain"},
            {"role": "assistant", "content": "In Oslo sind es 4 Grad und es regnet."},
        ]
    }
    return out


def test_two_reviewers_an_owner_settles_fixes_freezes_and_launches(browser, live_server, alice, team, bob):
    dora = user_create(username="dora", password=PASSWORD)
    team_add_member(team=team, user=dora, role=Membership.Role.REVIEWER)
    review_settings_update(team=team, user=alice, reviews_per_example=2)
    version = dataset_upload(team=team, user=alice, name="support", uploaded_file=upload_file(lines()))
    assert version.is_valid
    queue = f"{live_server.url}/review/v/{version.id}/"

    def new_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        return page, errors

    # bob starts the review from the version page, approves the first example with the "a" key,
    # then approves everything else in bulk from the list.
    page, errors = new_page()
    login(page, live_server, "bob", PASSWORD)
    page.goto(f"{live_server.url}/datasets/{version.dataset_id}/v/1/")
    page.click("[data-testid=review-link]")
    page.click("[data-testid=start-review]")
    page.wait_for_selector("[data-testid=focus-example]")
    assert "Question number 0?" in page.inner_text("#focus")
    assert page.locator("#focus kbd").count() >= 4  # the shortcuts are on the buttons
    page.keyboard.press("a")
    page.wait_for_url("**at=1**")
    assert Decision.objects.get(example__index=0).reviewer == bob
    # The example with the script tag shows it as text, and the tool call readably.
    assert "<script>alert(1)</script>" in page.inner_text("#focus")
    page.goto(queue + "?view=focus&at=4")
    focus = page.inner_text("#focus")
    assert "calls get_weather" in focus and "Oslo" in focus and "4 degrees, rain" in focus
    screenshot(page, "review-focus.png")
    page.goto(queue + "?view=list&status=pending")
    page.click("[data-testid=bulk-approve]")
    # With two reviews per example, example 1 still waits for its second review: 12 in all.
    assert "12" in page.inner_text("[data-testid=bulk-count]")
    page.click("[data-testid=bulk-confirm]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=example]").count(), page.inner_text("main")
    assert Decision.objects.filter(reviewer=bob, verdict="approve").count() == 12
    screenshot(page, "review-list.png")
    assert not errors, errors
    page.context.close()

    # dora rejects example 3 (a disagreement with bob), approves the rest, and fixes example 2.
    page, errors = new_page()
    login(page, live_server, "dora", PASSWORD)
    page.goto(queue + "?view=focus&at=2")
    page.keyboard.press("r")  # focuses the reason
    page.keyboard.type("The answer does not say which number")
    page.click("[data-testid=reject]")
    page.wait_for_url("**at=2**")
    assert Example.objects.get(version=version, index=2).status == "disputed"
    page.goto(queue + "?view=list&status=pending")
    page.click("[data-testid=bulk-approve]")
    page.click("[data-testid=bulk-confirm]")
    page.wait_for_selector("text=Approved 11 examples.")
    assert Example.objects.filter(version=version, state__status="approved").count() == 11
    page.goto(queue + "?view=focus&at=1")
    page.keyboard.press("e")
    page.wait_for_selector("[data-testid=save-fix]")
    page.fill("[data-testid=content-2]", "")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=checked]').innerText.includes('give the answer')"
    )
    page.fill("[data-testid=content-2]", "Ihr Paket kommt morgen an.")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=checked]').innerText.includes('Looks good')"
    )
    screenshot(page, "review-fix.png")
    page.click("[data-testid=save-fix]")
    page.wait_for_selector("[data-testid=focus-example]")
    fix = Fix.objects.get()
    assert fix.after["messages"][2]["content"] == "Ihr Paket kommt morgen an."
    assert "Ihr Paket kommt morgen an." in page.inner_text("#focus")
    assert "<script>alert(1)</script>" in (page.text_content("#history") or "")
    assert not errors, errors
    page.context.close()

    # alice settles the disagreement, reads the agreement and freezes.
    page, errors = new_page()
    login(page, live_server, "alice", PASSWORD)
    page.goto(queue)
    page.click("[data-testid=disagreements]")
    assert "Reviewers disagree" in page.inner_text("#focus")
    assert "does not say which number" in page.inner_text("#focus")
    screenshot(page, "review-disagreement.png")
    page.click("[data-testid=settle-reject]")
    page.wait_for_selector("text=is settled")
    assert Example.objects.get(version=version, index=2).status == "rejected"
    page.goto(queue + "summary/")
    assert "agree on" in page.inner_text("[data-testid=agreement]")
    assert "100%" in page.inner_text("[data-testid=reviewed-share]")
    screenshot(page, "review-summary.png")
    page.click("[data-testid=freeze]")
    page.wait_for_url("**/v/2/")
    frozen = DatasetVersion.objects.get(dataset=version.dataset, number=2)
    assert frozen.is_frozen and frozen.n_examples == 11 and frozen.parent_id == version.id
    body = frozen.blob.path.read_text()
    assert "Ihr Paket kommt morgen an." in body and "Question number 2?" not in body

    # The diff between the reviewed and the frozen version: one removed, one changed.
    page.goto(f"{live_server.url}/datasets/{version.dataset_id}/diff/?a=1&b=2")
    assert page.locator("[data-testid=diff-removed]").count() == 1
    assert page.locator("[data-testid=diff-changed]").count() == 1
    screenshot(page, "review-diff.png")

    # A launch from the frozen version.
    page.goto(f"{live_server.url}/datasets/{version.dataset_id}/v/2/")
    page.click("[data-testid=launch-from-version]")
    page.wait_for_url(f"**/jobs/new/?version={frozen.id}")
    page.wait_for_selector("select[name=base_model] option[value=fineweb-tiny]", state="attached")
    page.select_option("select[name=base_model]", "fineweb-tiny")
    page.click("#launch-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    assert Job.objects.get().dataset_version_id == frozen.id
    assert not errors, errors
    page.context.close()


@pytest.mark.worker
def test_a_large_bulk_approval_shows_its_progress_until_a_worker_has_recorded_it(
    browser, live_server, start_worker, alice, team, bob, settings
):
    """Over REVIEW_BULK_INLINE_EXAMPLES the confirmation hands the set to a worker: the list shows
    a progress bar (polled by htmx, under the page's CSP), then reloads itself when it is done."""
    from tests.factories import review_version

    settings.REVIEW_BULK_INLINE_EXAMPLES = 5
    review = review_version(team=team, user=alice, lines=[chat(i) for i in range(30)])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, "bob", PASSWORD)
    page.goto(f"{live_server.url}/review/v/{review.version_id}/?view=list&status=pending")
    page.click("[data-testid=bulk-approve]")
    assert "30" in page.inner_text("[data-testid=bulk-count]")
    page.click("[data-testid=bulk-confirm]")
    page.wait_for_selector("[data-testid=bulk-progress]")
    assert "Recording bob’s approval of 30 examples" in page.inner_text("#bulk-progress")
    assert page.locator("[data-testid=bulk-approve]").count() == 0  # no second bulk meanwhile
    screenshot(page, "review-bulk-progress.png", full_page=False)  # the top: the bar, the counts
    start_worker(queues="default", extra_env={"FINEWEB_REVIEW_BULK_CHUNK_EXAMPLES": "7"})
    page.wait_for_selector("text=Approved 30 examples.", timeout=120_000)  # the poll reloaded the page
    assert page.locator("[data-testid=bulk-progress]").count() == 0
    assert "30 approved" in page.inner_text("#counts")
    assert errors == []
