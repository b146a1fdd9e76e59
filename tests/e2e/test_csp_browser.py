"""In Chromium, under the real Content-Security-Policy: no page reports a violation, htmx still
swaps (filters, the launch form's models, polling, the upload) and plotly still draws (the job's
SVG curve, a long WebGL curve, the length histogram)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from datasets_app.demo import SAMPLE
from jobs.models import Job, MetricPoint
from providers.models import Connection
from tests.e2e.browser import login
from tests.factories import PASSWORD, make_job, make_version

pytestmark = pytest.mark.e2e

# Every violation the page sees, from the moment it starts (before any of its own scripts run).
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                              " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_the_main_pages_work_under_the_policy_without_a_violation(browser_page, live_server, team, alice):
    version = make_version(team, name="frozen-set")
    local = Connection.objects.get(team=team, kind="local")
    running = make_job(
        team,
        version,
        local,
        status=Job.Status.RUNNING,
        base_model="fineweb-tiny",
        provider_job_id="ftjob-csp",
        total_steps=100,
        started_at=timezone.now(),
    )
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=running, step=s, train_loss=3 - s / 50) for s in range(1, 41)]
    )
    long = make_job(team, version, local, status=Job.Status.SUCCEEDED, base_model="fineweb-tiny")
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=long, step=s, train_loss=1 + (s % 7) / 10) for s in range(1, 3001)]
    )
    page = browser_page
    page.add_init_script(COLLECT_VIOLATIONS)
    console = []
    page.on("console", lambda msg: console.append(msg.text))
    seen: dict[str, list[str]] = {}

    def check(name: str) -> None:
        seen[name] = violations(page)

    login(page, live_server, "alice", PASSWORD)
    check("home")

    # The upload goes through htmx (progress, HX-Redirect) to the version page and its histogram.
    page.goto(f"{live_server.url}/datasets/upload/")
    page.set_input_files("input[type=file]", str(SAMPLE))
    page.click("button[type=submit]")
    page.wait_for_url("**/v/1/")
    page.wait_for_selector("#histogram svg.main-svg")
    check("version page")
    page.goto(f"{live_server.url}/datasets/")
    check("datasets")

    # The jobs list filters through htmx.
    page.goto(f"{live_server.url}/jobs/")
    with page.expect_response(lambda r: "/jobs/?" in r.url):
        page.select_option("select[name=status]", "running")
    page.wait_for_function(f"() => !document.querySelector('#job-rows').innerText.includes('#{long.id}')")
    check("jobs list")

    # A running job: its curve drawn in SVG, then redrawn by the 2 s poll.
    page.goto(f"{live_server.url}/jobs/{running.id}/")
    page.wait_for_selector("#curve .scatterlayer .trace path.js-line")
    with page.expect_response(lambda r: r.url.endswith(f"/jobs/{running.id}/")):
        pass
    # The cancel button asks first (data-confirm, static/js/app.js): dismissed, nothing is sent.
    questions: list[str] = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer)
    page.click("text=Cancel job")
    assert questions and questions[0].startswith("Cancel this job?")
    assert Job.objects.get(id=running.id).status == Job.Status.RUNNING
    check("job page")

    # 3,000 steps: the kept, downsampled series (at most 2,000 points a series), drawn in SVG.
    page.goto(f"{live_server.url}/jobs/curves/?ids={long.id}")
    page.wait_for_selector("#curve .scatterlayer .trace path.js-line")
    drawn = page.evaluate(
        "() => { const d = document.querySelector('#curve')._fullData[0]; return [d.type, d.x.length]; }"
    )
    assert drawn[0] == "scatter" and 100 < drawn[1] <= 2000, drawn
    check("loss curves (3,000 steps)")

    # The launch form loads the connection's models through htmx, then the estimate.
    page.goto(f"{live_server.url}/jobs/new/?version={version.id}&connection={local.id}")
    page.wait_for_selector("select[name=base_model] option[value=fineweb-tiny]", state="attached")
    page.fill("input[name=n_epochs]", "2")
    page.wait_for_function("() => document.querySelector('#estimate').innerText.includes('epochs')")
    check("launch form")

    page.goto(f"{live_server.url}/connections/")
    check("connections")

    assert {name: found for name, found in seen.items() if found} == {}
    assert not [line for line in console if "Content Security Policy" in line], console
