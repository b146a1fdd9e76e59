"""The main flows in Chromium on the embedded default, as every new user runs it: ONE real
`manage.py runall` (uvicorn + the Celery workers with beat, SQLite + the filesystem broker, in a
data folder of its own, `bootstrap_demo`'s owner login) serves the whole module, in the order a
team works:

1. review the demo dataset (split it, approve with the key, reject with a reason, comment, fix,
   approve the rest in bulk) and freeze it through the review's gate;
2. the frozen version: its lineage, an export download, the diff against the reviewed version;
3. a job on the built-in local provider (fineweb-tiny), its page live from the first status to
   the curve without a reload, and its steps on the curves page;
4. an evaluation run of that job's fine-tune against its base, from the job page to the results
   and the job's scorecard;
5. the compare playground from the job page: base and fine-tune streaming side by side over SSE
   under uvicorn, then a blind vote and the reveal;
6. the team page: the owner adds a second reviewer, two reviews per example, a disagreement
   between them that the owner settles.

The same steps run on PostgreSQL + Redis in the other tests/e2e modules (shared ones are in
tests/e2e/browser.py). The tests share the server and what the earlier ones made, so they run in
this order (each says which earlier step it needs). The last one reads the server's log: a
"database is locked" or a traceback there is a bug of the embedded default.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.browser import (
    blind_vote,
    job_statuses,
    job_statuses_record,
    launch_pick,
    login,
    playground_send,
    replies_complete,
    screenshot,
    stream_pieces_record,
    stream_spans,
)
from tests.matching import search
from tests.processes import embedded_env, free_port, manage, runall_start, runall_stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

DATASET = "Support answers in German (sample)"
COMMENT = "Klingt gut, aber <script>alert('x')</script> prüfen."
FIXED = "Ihre Rechnungen stehen unter Konto, Abrechnung, als PDF bereit."


@dataclass
class Embedded:
    """The running `runall`: its URL (as `url`, like pytest-django's live_server), the owner's
    password, its console and data folder, and what the earlier tests made."""

    url: str
    password: str
    console: Path
    data: Path
    made: dict = field(default_factory=dict)

    def log(self) -> str:
        return (self.data / "logs" / "fineweb.log").read_text(errors="replace")

    def needs(self, key: str):
        assert key in self.made, f"this step needs the earlier one that makes {key!r}: run the whole module"
        return self.made[key]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    started = time.monotonic()
    root = tmp_path_factory.mktemp("embedded")
    env = embedded_env(root / "data")
    manage(env, "migrate", "--noinput", "-v", "0")
    password = search(r"LOGIN username=owner password=(\S+)", manage(env, "bootstrap_demo")).group(1)
    port = free_port()
    console = root / "runall.log"
    proc = runall_start(env, port, console)
    server = Embedded(url=f"http://127.0.0.1:{port}", password=password, console=console, data=root / "data")
    try:
        wait_for(
            lambda: f"running at {server.url}/" in console.read_text(),
            timeout=180,
            message="runall's web server",
        )
        print(f"\nembedded runall up after {time.monotonic() - started:.1f} s")
        yield server
    finally:
        code = runall_stop(proc)
        print(f"\nembedded module: {time.monotonic() - started:.1f} s from migrate to stop")
    assert code == 0, console.read_text()[-3000:]


@pytest.fixture
def page(browser, embedded):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    login(page, embedded, "owner", embedded.password)
    yield page
    context.close()
    assert not problems, problems  # no CSP violation, no failed request, no script error


def test_review_the_demo_dataset_and_freeze_it_through_the_gate(page, embedded):
    base = embedded.url
    page.goto(f"{base}/datasets/")
    page.click(f"text={DATASET}")
    page.wait_for_url("**/v/1/")
    dataset_url = page.url.rsplit("/v/1/", 1)[0]
    page.fill("input[name=fraction]", "0.2")
    page.click("#split button[type=submit]")
    page.wait_for_selector("#split >> text=validation file")

    page.click("[data-testid=review-link]")
    page.click("[data-testid=start-review]")
    page.wait_for_selector("[data-testid=focus-example]")
    queue = page.url.split("?", 1)[0]
    assert "How do I reset my password?" in page.inner_text("#focus")
    page.keyboard.press("a")  # approve, and on to the next
    page.wait_for_url("**at=1**")
    assert "Where can I find my invoices?" in page.inner_text("#focus")

    # Reject the second example with a reason.
    page.keyboard.press("r")  # focuses the reason
    page.keyboard.type("Zu knapp")
    page.click("[data-testid=reject]")
    page.wait_for_url("**at=1**")
    page.goto(f"{queue}?view=focus&at=1")
    assert page.inner_text("[data-testid=example-status]") == "Rejected"
    assert "Zu knapp" in page.inner_text("#focus")

    # A comment on the third, shown as text.
    page.goto(f"{queue}?view=focus&at=2")
    page.fill("#thread textarea[name=text]", COMMENT)
    page.click("[data-testid=comment]")
    page.wait_for_selector("#thread .comment")
    assert COMMENT in page.inner_text("#thread")

    # A fix of the fourth's answer, checked as it is typed.
    page.goto(f"{queue}?view=focus&at=3")
    page.keyboard.press("e")
    page.wait_for_selector("[data-testid=save-fix]")
    page.fill("[data-testid=content-2]", FIXED)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=checked]').innerText.includes('Looks good')"
    )
    page.click("[data-testid=save-fix]")
    page.wait_for_selector("[data-testid=focus-example]")
    assert FIXED in page.inner_text("#focus")

    # Everything still pending approved in bulk from the list, then the summary's freeze.
    page.goto(f"{queue}?view=list&status=pending")
    page.click("[data-testid=bulk-approve]")
    pending = int(search(r"on the (\d+) example", page.inner_text("[data-testid=bulk-count]")).group(1))
    assert 25 <= pending <= 29, page.inner_text("[data-testid=bulk-count]")
    page.click("[data-testid=bulk-confirm]")
    page.wait_for_selector(f"text=Approved {pending} examples.")
    page.goto(f"{queue}summary/")
    assert "100%" in page.inner_text("[data-testid=reviewed-share]")
    assert "1 rejected example will be left out" in page.inner_text("#freeze")
    page.click("[data-testid=freeze]")
    page.wait_for_url("**/v/2/")
    page.wait_for_selector("h1 .badge.frozen")
    assert "Made from v1" in page.inner_text("[data-testid=lineage]")
    assert "held out" in page.inner_text("#split")  # frozen with the parent's split
    embedded.made["dataset_url"] = dataset_url


def test_the_frozen_version_exports_and_diffs_against_the_reviewed_one(page, embedded):
    dataset_url = embedded.needs("dataset_url")
    page.goto(f"{dataset_url}/v/2/")
    with page.expect_download() as download:
        page.click('[data-testid="export-openai-chat"] a.button')
    exported = [json.loads(x) for x in Path(download.value.path()).read_text(encoding="utf-8").splitlines()]
    assert len(exported) == 29
    answers = [e["messages"][-1]["content"] for e in exported]
    questions = [e["messages"][1]["content"] for e in exported]
    assert FIXED in answers and "Where can I find my invoices?" not in questions

    page.click('[data-testid="version-diff-picker"] button')
    page.wait_for_url("**/diff/**")
    counts = page.inner_text("#diff-counts")
    assert "1\nchanged" in counts and "1\nremoved" in counts and "0\nadded" in counts, counts
    assert "Rechnungen stehen unter Konto" in page.locator(".diff-example.changed ins").first.inner_text()
    assert page.locator('[data-testid="diff-removed"]').count() == 1


def test_a_job_on_the_local_provider_is_live_from_its_first_status_to_the_curve(page, embedded):
    dataset_url = embedded.needs("dataset_url")
    page.goto(f"{dataset_url}/v/2/")
    page.click("[data-testid=launch-from-version]")
    page.wait_for_url("**/jobs/new/?version=*")
    launch_pick(page, connection="Built-in local provider", model="fineweb-tiny")
    page.fill("input[name=n_epochs]", "1")
    page.fill("input[name=batch_size]", "8")  # 3 steps on the ~23 training examples, not ~23
    page.click("#launch-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    assert "Base model fineweb-tiny" in page.inner_text("p.lead")

    # Every status the badge shows, in this same document: the page polls from a draft on.
    job_statuses_record(page)
    first = job_statuses(page)[0]
    assert first in ("Draft", "Submitting", "Validating files", "Queued", "Running"), first
    # A bound, not a speed check: the shared machine may be busy.
    statuses = job_statuses(page, until_done_ms=300_000)
    assert statuses[-1] == "Succeeded" and len(statuses) >= 2, (
        statuses,
        page.locator("#live .error").all_inner_texts(),
        embedded.log()[-5000:],
    )
    # make run's terminal says each status change in one line.
    wait_for(
        lambda: "-> Succeeded" in embedded.console.read_text(),
        timeout=10,
        message="the status on the console",
    )
    # The curve is drawn from the polled fragment, still without a reload; then polling stops.
    page.wait_for_function(
        "() => document.querySelectorAll('#curve .scatterlayer .trace .points path').length >= 2",
        timeout=30_000,
    )
    page.wait_for_selector("#live:not([hx-trigger])", state="attached")
    fine_tuned = page.inner_text("[data-testid=fine-tuned-model]").strip()
    assert fine_tuned
    job_url = page.url

    # The curves page: every training step the local trainer reported, synced through the broker.
    job_id = job_url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"{embedded.url}/jobs/curves/?ids={job_id}")
    page.wait_for_function("() => (document.getElementById('curve').data || []).length >= 2")
    steps = page.evaluate(
        """() => document.getElementById('curve').data
            .filter((t) => t.name.includes('train loss') && !(t.meta && t.meta.raw))
            .map((t) => Array.from(t.x))"""
    )
    assert steps and steps[0] == [1, 2, 3], steps  # ceil(~23 / 8) steps, each once
    embedded.made["job_url"] = job_url
    embedded.made["fine_tuned"] = fine_tuned


def test_an_evaluation_run_of_the_fine_tune_from_the_job_page_to_its_scorecard(page, embedded):
    job_url = embedded.needs("job_url")
    page.goto(job_url)
    page.click("#job-scorecard >> text=Evaluate the fine-tune against its base")
    page.wait_for_url("**/evaluation/new/?job=*")
    assert page.input_value("input[name=m1_model]") == embedded.made["fine_tuned"]
    page.fill("input[name=max_tokens]", "8")
    page.check("input[name=scorer_kinds][value=language]")
    estimate = page.wait_for_selector("#estimate >> text=/\\d+ calls/").inner_text()
    calls = int(search(r"(\d+) calls", estimate).group(1))
    assert calls >= 2 and calls % 2 == 0, estimate  # every held-out example, to both models
    page.click("button[type=submit] >> text=Start the run")
    page.wait_for_url("**/evaluation/*/")
    page.wait_for_selector("[data-testid=run-status] >> text=Finished", timeout=180_000)
    assert page.inner_text("[data-testid=run-progress]").startswith(f"{calls} of {calls} calls")
    comparisons = page.inner_text("[data-testid=comparisons]")
    assert "Language" in comparisons and "Length" in comparisons, comparisons
    assert page.locator("[data-testid=results] tbody tr").count() == calls // 2
    page.wait_for_selector(".scorecard .scatterlayer .trace .points path")

    page.goto(job_url)
    page.wait_for_selector("#job-scorecard .scorecard .scatterlayer .trace .points path")


def test_base_and_fine_tune_stream_side_by_side_then_a_blind_vote_reveals_them(page, embedded):
    job_url = embedded.needs("job_url")
    fine_tuned = embedded.made["fine_tuned"]
    page.goto(job_url)
    page.click("text=Compare with the base model")
    page.wait_for_url("**/compare/?*")
    compare_url = page.url
    stream_pieces_record(page)
    playground_send(page, message="Wo finde ich meine Rechnungen?", max_tokens=16)
    replies_complete(page)
    # Each column's pieces reached the page one by one over the SSE stream, not as one block at
    # the end. (Whether the two columns overlap depends on the cold start: the fine-tune's model
    # loads after the base's, one load at a time per web process, so that is not asserted.)
    spans = stream_spans(page)
    assert set(spans) == {"reply-A", "reply-B"}, spans
    for cell, (first, last, n) in spans.items():
        assert n >= 2 and last > first, (cell, first, last, n)
    for label in ("A", "B"):
        cell = page.locator(f"[data-testid=reply-{label}]")
        assert int(cell.get_attribute("data-pieces") or 0) >= 2
        assert cell.locator("[data-stat=cost]").inner_text() == "free"
        assert cell.locator("[data-stat=tokens]").inner_text().endswith("/ 16")
    names = {page.locator(f"[data-testid=model-name-{x}]").inner_text() for x in "AB"}
    assert names == {"fineweb-tiny", fine_tuned}

    page.goto(compare_url)
    playground_send(page, message="Kann ich jederzeit kündigen?", max_tokens=16, blind=True)
    assert page.locator("[data-testid=model-name-A]").inner_text() == "Model A"
    replies_complete(page)
    assert fine_tuned not in page.inner_text("main")
    assert blind_vote(page, "b") == {"fineweb-tiny", fine_tuned}
    assert "B is better" in page.inner_text("[data-testid=my-vote]")
    page.goto(f"{embedded.url}/compare/leaderboard/")
    assert "1 vote counted" in page.inner_text("main")


def test_an_owner_adds_a_second_reviewer_whose_rejection_the_owner_settles(page, browser, embedded, tmp_path):
    """The team page on the embedded default: the owner adds a reviewer (the password shown once),
    asks for two reviews per example, approves an example; the new reviewer, in her own browser,
    rejects it; the owner settles the disagreement. Two people writing to one SQLite file."""
    base = embedded.url
    page.goto(f"{base}/team/")
    page.fill("[data-testid=add-member] input[name=username]", "dora")
    page.select_option("[data-testid=add-member] select[name=role]", "reviewer")
    page.click("[data-testid=add-member] button[type=submit]")
    password = page.inner_text("[data-testid=new-password]").strip()
    assert "dora is in the team" in page.inner_text("h1") and len(password) >= 16
    page.goto(f"{base}/team/")
    assert "Reviewer" in page.inner_text("[data-testid=member][data-username=dora]")
    assert password not in page.content()
    screenshot(page, "team.png")
    page.goto(f"{base}/review/settings/")
    page.select_option("select[name=reviews_per_example]", "2")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=Saved the review setting.")

    path = tmp_path / "two-reviewers.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Frage {i}?"},
                        {"role": "assistant", "content": f"Antwort {i}."},
                    ]
                }
            )
            + "\n"
            for i in range(10)
        )
    )
    page.goto(f"{base}/datasets/upload/")
    page.set_input_files("input[type=file]", str(path))
    page.fill("input[name=name]", "Two reviewers")
    page.click("button[type=submit]")
    page.wait_for_url("**/v/1/")
    page.click("[data-testid=review-link]")
    page.click("[data-testid=start-review]")
    page.wait_for_selector("[data-testid=focus-example]")
    queue = page.url.split("?", 1)[0]
    assert "Frage 0?" in page.inner_text("#focus")
    page.keyboard.press("a")
    page.wait_for_url("**at=1**")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    dora = context.new_page()
    dora.set_default_timeout(30_000)
    problems: list[str] = []
    dora.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    login(dora, embedded, "dora", password)
    assert "Reviewer" in dora.inner_text("header .who")
    dora.goto(f"{queue}?view=focus&at=0")
    assert "Frage 0?" in dora.inner_text("#focus")
    dora.keyboard.press("r")
    dora.keyboard.type("Zu kurz")
    with dora.expect_navigation():
        dora.click("[data-testid=reject]")
    dora.goto(f"{queue}?view=focus&at=0")
    assert dora.inner_text("[data-testid=example-status]") == "Reviewers disagree"
    assert dora.locator("[data-testid=settle-reject]").count() == 0  # settling is for owners
    context.close()
    assert not problems, problems

    page.goto(queue)
    page.click("[data-testid=disagreements]")
    assert "Zu kurz" in page.inner_text("#focus")
    page.click("[data-testid=settle-reject]")
    page.wait_for_selector("text=is settled")
    page.goto(f"{queue}?view=focus&at=0")
    assert page.inner_text("[data-testid=example-status]") == "Rejected"


def test_the_server_log_has_no_lock_and_no_traceback(embedded):
    log = embedded.log()
    assert "database is locked" not in log
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 3000]
