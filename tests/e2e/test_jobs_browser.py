"""End to end, as a new user does it, on the real local provider: log in through the form, drop a
small chat file on the upload page, read its statistics, split it, freeze it, follow the version
page's link to the launch form, launch fineweb-tiny on the built-in local provider, and watch the
job page update by itself while real Celery workers (default and training queues) and a real beat
submit, train and sync the job, until the loss curve and the fine-tuned model's name appear.

Screenshots for the docs go to docs/screenshots/ (launch-form.png, job-page.png, loss-curves.png).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from datasets_app.models import DatasetVersion
from jobs.models import Job
from localtuner.models import LocalJob
from tests.e2e.browser import login, review_and_freeze, screenshot
from tests.factories import PASSWORD
from tests.processes import ROOT, database_url_for_children

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

# 20 short conversations: 16 train, 4 held out for the validation curve; fineweb-tiny trains them
# for 2 epochs in well under a minute on two CPU cores.
LINES = [
    {
        "messages": [
            {"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": f"Which colour is item {i}?"},
            {"role": "assistant", "content": f"Item {i} is {['red', 'green', 'blue'][i % 3]}."},
        ]
    }
    for i in range(20)
]


@pytest.fixture
def beat(transactional_db, tmp_path):
    """A real `celery beat`: it ticks jobs.sync_due_jobs every 5 seconds, as in production."""
    env = dict(os.environ, DATABASE_URL=database_url_for_children(), PYTHONUNBUFFERED="1")
    with open(tmp_path / "beat.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "fineweb",
                "beat",
                "-s",
                str(tmp_path / "beat-schedule"),
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        yield tmp_path / "beat.log"
        proc.terminate()
        proc.wait(timeout=20)


def drop_file(page, selector: str, name: str, text: str) -> None:
    """Drop a file on the drop zone the way a file manager does (a drop event carrying it)."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "application/jsonl"}));
            return transfer;
        }""",
        [name, text],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def status(page) -> str:
    return page.inner_text("[data-testid=job-status]").strip()


def test_a_new_user_uploads_freezes_launches_and_watches_the_local_provider_train(
    start_worker, beat, live_server, browser_page, alice
):
    page = browser_page
    start_worker(queues="default", concurrency=2)
    start_worker(queues="training", concurrency=1)

    # Log in through the form.
    login(page, live_server, "alice", PASSWORD)

    # Upload: drop the file on the drop zone; the name is filled in from the file name.
    page.goto(f"{live_server.url}/datasets/upload/")
    drop_file(page, ".dropzone", "colours.jsonl", "".join(json.dumps(line) + "\n" for line in LINES))
    assert "colours.jsonl" in page.inner_text(".dropzone .chosen")
    assert page.input_value("input[name=name]") == "colours"
    page.click("text=Upload and check")
    page.wait_for_url("**/v/1/")

    # Statistics.
    page.wait_for_selector("#stats")
    stats = page.inner_text("#stats")
    assert "20\nexamples" in stats and "estimated training cost" in stats
    assert "No errors" in page.inner_text("#errors")

    # Split off a validation share (for the validation curve), then review and freeze: alone, the
    # owner approves every example; the approved ones become version 2, with the split carried over.
    page.fill("input[name=fraction]", "0.2")
    page.click("#split button[type=submit]")
    page.wait_for_selector("#split >> text=validation file")
    review_and_freeze(page, 2)
    version = DatasetVersion.objects.get(dataset__name="colours", number=2)
    assert version.is_frozen and version.validation_blob_id and version.n_examples == 20

    # The frozen version's page leads to the launch form with this version picked.
    page.click("[data-testid=launch-from-version]")
    page.wait_for_url(f"**/jobs/new/?version={version.id}")
    assert page.input_value("select[name=version]") == str(version.id)
    assert "Built-in local provider" in page.inner_text("select[name=connection]")
    page.wait_for_selector("select[name=base_model] option[value=fineweb-tiny]", state="attached")
    page.select_option("select[name=base_model]", "fineweb-tiny")
    page.fill("input[name=n_epochs]", "2")
    page.fill("input[name=suffix]", "colours")
    page.wait_for_function(
        "() => /\\b2\\b/.test(document.querySelector('#estimate').innerText) "
        "&& document.querySelector('#estimate').innerText.includes('$0.00')"
    )
    estimate = page.inner_text("#estimate")
    assert "20\nexamples" in estimate and "nothing is billed" in estimate
    screenshot(page, "launch-form.png")
    page.click("#launch-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get()
    assert job.connection.kind == "local" and job.base_model == "fineweb-tiny"
    assert job.dataset_version == version and job.hyperparameters["n_epochs"] == 2

    # The page updates itself (htmx polling, no reload) while the workers submit, train and sync:
    # record every status the badge shows, in this same document.
    page.evaluate(
        """() => {
            window.__statuses = [];
            setInterval(() => {
                const badge = document.querySelector('[data-testid=job-status]');
                const text = badge && badge.innerText.trim();
                if (text && window.__statuses[window.__statuses.length - 1] !== text) window.__statuses.push(text);
            }, 100);
        }"""
    )
    # Wait for any final status (a bound, not a speed check: CI machines may be busy), so a failed
    # job reports its error instead of a timeout.
    page.wait_for_function(
        "() => ['Succeeded', 'Failed', 'Cancelled'].includes(window.__statuses.at(-1))", timeout=300_000
    )
    statuses = page.evaluate("window.__statuses")
    job.refresh_from_db()
    assert statuses[-1] == "Succeeded" and len(statuses) >= 2, (statuses, job.error_message)
    assert set(statuses) <= {"Draft", "Submitting", "Validating files", "Queued", "Running", "Succeeded"}, (
        statuses
    )

    # The loss curve: plotly's SVG holds the traces and their points.
    page.wait_for_function(
        "() => document.querySelectorAll('#curve .scatterlayer .trace .points path').length >= 10",
        timeout=30_000,
    )
    legend = page.locator("#curve .legend .legendtext").all_text_contents()
    assert "train loss" in legend and "validation loss" in legend, legend
    assert page.locator("#curve .scatterlayer .trace path.js-line").count() >= 2

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.fine_tuned_model
    # submitted with the team's own local key, so the local job is in the team's scope
    assert LocalJob.objects.get(public_id=job.provider_job_id).team_id == job.team_id
    assert job.metric_points.filter(train_loss__isnull=False).count() >= 8
    assert job.metric_points.filter(valid_loss__isnull=False).exists()
    assert page.inner_text("[data-testid=fine-tuned-model]") == job.fine_tuned_model
    assert "Compare with the base model" in page.content()
    assert "Step" in page.inner_text("#live")
    # The event log and checkpoints catch up too, and every part of the page stops polling.
    page.wait_for_selector("#activity:not([hx-trigger])")
    page.wait_for_selector("#live:not([hx-trigger])", state="attached")
    assert page.locator("#activity .events tbody tr").count() >= 32 + 4  # a line per step, and more
    assert page.locator("#activity table").first.locator("tbody tr").count() == 2  # a checkpoint per epoch
    screenshot(page, "job-page.png")

    # Several runs can be compared from the list; one is enough to draw the page.
    page.goto(f"{live_server.url}/jobs/")
    page.check(f"input[name=ids][value='{job.id}']")
    page.click("text=Compare loss curves")
    page.wait_for_selector("#curve .scatterlayer .trace .points path")
    screenshot(page, "loss-curves.png")
