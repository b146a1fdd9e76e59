"""In Chromium: a job imported from OpenAI (faked at the httpx transport layer) shows where it came
from, its curve from the result file, and leads to a relaunch that asks for a dataset version."""

from __future__ import annotations

import pytest

from jobs.imports import connection_import_jobs
from jobs.models import Job
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD, make_connection
from tests.fakes.openai import FakeOpenAI, account

pytestmark = pytest.mark.e2e


def test_an_imported_job_page_shows_its_origin_curve_and_relaunch(browser_page, live_server, team, alice):
    connection = make_connection(team)
    connection_import_jobs(connection=connection, client=account(FakeOpenAI()).client())
    job = Job.objects.get(team=team, status=Job.Status.SUCCEEDED)
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    assert f"Imported from OpenAI on {job.imported_at:%-d %B %Y}" in page.inner_text(".lead")
    page.wait_for_function(
        "() => document.querySelectorAll('#curve .scatterlayer .trace .points path').length >= 4"
    )
    assert page.inner_text("[data-testid=fine-tuned-model]") == job.fine_tuned_model
    assert "support-v3.jsonl" in page.inner_text("table.settings")
    screenshot(page, "imported-job.png")
    page.click("text=Relaunch on another provider")
    page.wait_for_url(f"**/jobs/new/?from={job.id}")
    assert "is not in fineweb" in page.inner_text("body")
    assert "Pick the frozen dataset version" in page.inner_text("[data-testid=pick-version]")
    # This team has no frozen version yet: the page says where to make one.
    assert "No dataset version is ready to train yet" in page.inner_text("body")
    screenshot(page, "relaunch-imported-job.png")
