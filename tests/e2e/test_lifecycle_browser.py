"""In Chromium: an OpenAI fine-tune's page says when OpenAI stops, and "Move this job" relaunches
its frozen version on the built-in local provider, saying what was mapped (issue 13, point 4)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD, make_connection, make_job, make_version

pytestmark = pytest.mark.e2e


def test_an_openai_job_is_moved_to_the_local_provider(browser_page, live_server, team):
    version = make_version(team)
    openai = make_connection(team)
    job = make_job(
        team,
        version,
        openai,
        status=Job.Status.SUCCEEDED,
        fine_tuned_model="ft:gpt-4o-mini-2024-07-18:acme::AbC123",
        hyperparameters={"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"},
    )
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    notice = page.inner_text("[data-testid=lifecycle-notice]")
    assert "14 January 2027" in notice and "6 January 2027" in notice
    page.click("text=Move this job")
    page.wait_for_url("**/jobs/move/**")
    assert page.is_checked(f"input[name=ids][value='{job.id}']")
    screenshot(page, "move-jobs.png")
    page.select_option("select[name=target]", label="Built-in local provider (Built-in local provider)")
    page.click("text=Move the ticked jobs")
    page.wait_for_selector("[data-testid=move-result]")
    moved = Job.objects.exclude(id=job.id).get()
    assert moved.connection.kind == "local" and moved.dataset_version == version
    assert moved.hyperparameters["n_epochs"] == 2
    result = page.inner_text("[data-testid=move-result]")
    assert f"Relaunched as job #{moved.id}" in result
    assert f"Base model gpt-4o-mini-2024-07-18 becomes {moved.base_model}" in result
    screenshot(page, "move-jobs-done.png")
