"""End to end in Chromium: from a finished job's page to an evaluation run's results and the
job's scorecard. A real Celery worker runs the run against the OpenAI chat fake served over
loopback (the base answers in English, the fine-tune in German); the run page's progress bar
follows it without a reload.

Screenshots for the docs: docs/screenshots/eval-new.png, eval-results.png, eval-scorecard.png.
"""

from __future__ import annotations

import pytest

from evaluation.models import Result, Run
from tests.e2e.browser import login, screenshot
from tests.evaluation.helpers import TUNED, german_tune, job_with_split
from tests.factories import PASSWORD, make_connection
from tests.fakes.chat import ChatFake
from tests.fakes.http_server import FakeHTTPServer

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def replies(model: str, messages: list[dict]) -> str:
    """As german_tune, except on Bremen: there the base answers in German and the fine-tune not."""
    if "Bremen" in messages[-1]["content"] and model != TUNED:
        return "Bremen ist eine schöne Stadt in Deutschland."
    return german_tune(model, messages)


def test_a_launcher_evaluates_a_fine_tune_and_sees_the_results_and_the_scorecard(
    start_worker, live_server, browser_page, alice, team
):
    fake = ChatFake(reply=replies, delay_s=0.3)
    violations: list[str] = []
    page = browser_page
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    with FakeHTTPServer(fake) as server:
        connection = make_connection(
            team, kind="openai_compatible", name="Fake OpenAI", base_url=server.base_url
        )
        job = job_with_split(team, connection=connection)
        start_worker(queues="default")
        login(page, live_server, "alice", PASSWORD)
        # One call at a time, so the progress bar has steps to show: the owner sets it on the
        # connection's settings page, and the run form says so.
        page.goto(f"{live_server.url}/connections/{connection.id}/edit/")
        assert page.get_attribute("input[name=max_concurrent]", "placeholder") == "4"
        page.fill("input[name=max_concurrent]", "1")
        page.fill("input[name=per_minute]", "1200")
        screenshot(page, "connection-limits.png")
        page.click("button[type=submit] >> text=Save")
        page.wait_for_url("**/connections/")

        page.goto(f"{live_server.url}/jobs/{job.id}/")
        page.click("#job-scorecard >> text=Evaluate the fine-tune against its base")
        page.wait_for_url(f"**/evaluation/new/?job={job.id}")
        assert page.input_value("input[name=m1_model]") == TUNED
        page.fill("textarea[name=m1_prompt]", "Deutsch.")
        page.check("input[name=scorer_kinds][value=language]")
        page.wait_for_selector("#estimate >> text=20 calls")
        limits = page.inner_text("[data-testid=limits]")
        assert (
            "Fake OpenAI: 20 calls, at most 1 at once and 1,200 a minute (the connection's settings)"
            in limits
        )
        screenshot(page, "eval-new.png")
        page.click("button[type=submit] >> text=Start the run")

        page.wait_for_url("**/evaluation/*/")
        run = Run.objects.get()
        # The progress bar moves while the worker works, without a reload.
        page.wait_for_function(
            "() => { const p = document.querySelector('[data-testid=run-progress]');"
            " return p && /^([1-9]|1[0-9]) of 20 calls/.test(p.textContent.trim()); }"
        )
        page.wait_for_selector("[data-testid=run-status] >> text=Finished", timeout=60_000)
        assert Result.objects.filter(run=run).count() == 20

    page.wait_for_selector("[data-testid=comparisons]")
    sentence = page.inner_text("[data-testid=comparisons] >> text=passes \u201cLanguage\u201d")
    assert "Fine-tune passes \u201cLanguage\u201d in 9 of 10 examples, Base in 1" in sentence
    assert "saved" in page.inner_text("[data-testid=prompt-saved]")
    page.wait_for_selector(".scorecard .scatterlayer .trace .points path")
    assert page.locator("table.results ins").count() > 0  # the fine-tune's own words are marked
    screenshot(page, "eval-results.png")

    page.click("[data-testid=regressions-filter]")
    page.wait_for_selector("text=Tell me about Bremen")
    page.click("button:has-text('Similar training examples')")
    page.wait_for_selector("[data-testid=similar] >> text=Bremen number")

    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.wait_for_selector("#job-scorecard .scorecard .scatterlayer .trace .points path")
    assert "9 of 10" in page.inner_text("#job-scorecard")
    page.locator("#job-scorecard").screenshot(path=str(screenshot(page, "eval-scorecard.png")))
    assert violations == []
