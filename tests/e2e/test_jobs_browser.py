"""End to end with the real local provider: a frozen version is launched in Chromium, a real
worker submits it, a real training worker trains fineweb-tiny, real beat syncs it, and the loss
curve appears on the job page. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.models import Job
from tests.conftest import PASSWORD, ROOT, database_url_for_children
from tests.jobs.conftest import make_version

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LINES = [
    {"messages": [{"role": "system", "content": "You answer in one short sentence."},
                  {"role": "user", "content": f"Which colour is item {i}?"},
                  {"role": "assistant", "content": f"Item {i} is {['red', 'green', 'blue'][i % 3]}."}]}
    for i in range(24)
]


@pytest.fixture
def beat(transactional_db, tmp_path):
    """A real `celery beat`: it ticks jobs.sync_due every 5 seconds, as in production."""
    env = dict(os.environ, DATABASE_URL=database_url_for_children(), PYTHONUNBUFFERED="1")
    with open(tmp_path / "beat.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fineweb", "beat", "-s", str(tmp_path / "beat-schedule"),
             "--loglevel", "INFO"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        yield tmp_path / "beat.log"
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        yield page
        browser.close()


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_a_job_launched_in_the_browser_trains_for_real_and_draws_its_curve(
    start_worker, beat, live_server, page, team, alice
):
    version = make_version(team, name="colours", lines=LINES, n_examples=len(LINES), tokens=24 * 40,
                           target_model="fineweb-tiny", split=True)
    start_worker(queues="default", concurrency=2)
    start_worker(queues="training", concurrency=1)

    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/jobs/new/?version={version.id}")
    page.wait_for_selector("select[name=base_model]")
    page.select_option("select[name=base_model]", "fineweb-tiny")
    page.fill("input[name=n_epochs]", "3")
    page.fill("input[name=suffix]", "colours")
    page.wait_for_function("document.querySelector('#estimate').innerText.includes('2,880')")  # 960 tokens x 3 epochs
    assert "$0.00" in page.inner_text("#estimate")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/jobs/*/")
    job = Job.objects.get()
    assert job.connection.kind == "local" and job.base_model == "fineweb-tiny"

    page.wait_for_function(
        "document.querySelector('[data-testid=job-status]').innerText.trim() === 'Succeeded'", timeout=300_000
    )
    page.wait_for_selector("#curve .main-svg", timeout=30_000)  # plotly drew the curve
    job.refresh_from_db()
    assert job.fine_tuned_model
    assert job.metric_points.filter(train_loss__isnull=False).count() >= 3
    assert job.events.exists()
    assert page.inner_text("[data-testid=fine-tuned-model]") == job.fine_tuned_model
    assert "Compare with the base model" in page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "job-page.png"), full_page=True)

    page.goto(f"{live_server.url}/jobs/")
    page.check(f"input[name=ids][value='{job.id}']")
    page.click("text=Compare loss curves")
    page.wait_for_selector("#curve .main-svg")
    page.screenshot(path=str(SHOTS / "loss-curves.png"), full_page=True)
    assert Path(SHOTS / "loss-curves.png").stat().st_size > 10_000
