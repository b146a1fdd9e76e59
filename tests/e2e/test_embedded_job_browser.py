"""The first run, as `make run` gives it: the real `manage.py runall` on the embedded default
(SQLite + filesystem broker, in a data folder of its own), the demo login, the demo dataset split
and frozen, fineweb-tiny launched on the built-in local provider, and the job page following the
job from Draft to its end without a reload.

On the embedded default the submit is slow enough that the page renders while the job is still a
draft: the page must poll from its first second (issue 13), not only once the job is active.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.e2e.browser import review_and_freeze
from tests.matching import search
from tests.processes import embedded_env, free_port, manage, runall_start, runall_stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def test_the_job_page_on_the_embedded_default_is_live_from_draft_to_the_end(tmp_path, browser_page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    env = embedded_env(tmp_path / "data")
    manage(env, "migrate", "--noinput", "-v", "0")
    password = search(r"LOGIN username=owner password=(\S+)", manage(env, "bootstrap_demo")).group(1)
    port = free_port()
    console = tmp_path / "runall.log"
    proc = runall_start(env, port, console)
    base = f"http://127.0.0.1:{port}"
    page = browser_page
    try:
        wait_for(
            lambda: f"running at {base}/" in console.read_text(), timeout=120, message="runall's web server"
        )
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "owner")
        page.fill("input[name=password]", password)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)

        # The demo dataset: split off a validation share, review and freeze it (the owner alone
        # approves every example), follow the link to the launch form.
        page.goto(f"{base}/datasets/")
        page.click("text=Support answers in German (sample)")
        page.wait_for_url("**/v/1/")
        page.fill("input[name=fraction]", "0.2")
        page.click("#split button[type=submit]")
        page.wait_for_selector("#split >> text=validation file")
        review_and_freeze(page, 2)
        page.click("[data-testid=launch-from-version]")
        page.wait_for_url("**/jobs/new/?version=*")
        page.select_option("select[name=connection]", label="Built-in local provider")
        page.wait_for_selector("select[name=base_model] option[value=fineweb-tiny]", state="attached")
        page.select_option("select[name=base_model]", "fineweb-tiny")
        page.fill("input[name=n_epochs]", "1")
        page.click("#launch-form button[type=submit]")
        page.wait_for_url("**/jobs/*/")

        # Every status the badge shows, in this same document (a reload would lose the list).
        page.evaluate(
            """() => {
                window.__statuses = [];
                const record = () => {
                    const badge = document.querySelector('[data-testid=job-status]');
                    const text = badge && badge.innerText.trim();
                    if (text && window.__statuses[window.__statuses.length - 1] !== text) window.__statuses.push(text);
                };
                record();
                setInterval(record, 100);
            }"""
        )
        first = page.evaluate("window.__statuses")[0]
        assert first in ("Draft", "Submitting", "Validating files", "Queued", "Running"), first
        # A bound, not a speed check: the shared machine may be busy. On a timeout the assert
        # below says which statuses the page showed.
        with contextlib.suppress(PlaywrightTimeoutError):
            page.wait_for_function(
                "() => ['Succeeded', 'Failed', 'Cancelled'].includes(window.__statuses.at(-1))",
                timeout=300_000,
            )
        statuses = page.evaluate("window.__statuses")
        error = page.locator("#live .error").all_inner_texts()
        log_file = tmp_path / "data" / "logs" / "fineweb.log"
        assert statuses[-1] == "Succeeded" and len(statuses) >= 2, (
            statuses,
            error,
            log_file.read_text()[-5000:],
        )
        # make run's terminal says each status change in one line.
        wait_for(
            lambda: "-> Succeeded" in console.read_text(), timeout=10, message="the status on the console"
        )

        # The curve is drawn from the polled fragment, still without a reload.
        page.wait_for_function(
            "() => document.querySelectorAll('#curve .scatterlayer .trace .points path').length >= 2",
            timeout=30_000,
        )
        page.wait_for_selector("#live:not([hx-trigger])", state="attached")
        assert page.inner_text("[data-testid=fine-tuned-model]")
        page.screenshot(path=str(tmp_path / "job-page.png"), full_page=True)
    finally:
        code = runall_stop(proc)
    assert code == 0, console.read_text()[-3000:]
