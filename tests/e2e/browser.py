"""Helpers of the browser tests: logging in through the real form, screenshots for the docs."""

from __future__ import annotations

import contextlib
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"


def login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def review_and_freeze(page, number: int) -> None:
    """From a valid version's page, as an owner alone: start its review, approve every example
    from the progress page, and freeze them; ends on the new frozen version's page, `number`."""
    page.click("[data-testid=review-and-freeze]")
    page.click("[data-testid=start-review]")
    page.wait_for_selector("[data-testid=focus-example]")
    page.click("text=Progress and freeze")
    page.click("[data-testid=approve-waiting]")
    page.click("[data-testid=bulk-confirm]")
    page.wait_for_selector("[data-testid=freeze]")
    page.click("[data-testid=freeze]")
    page.wait_for_url(f"**/v/{number}/")
    page.wait_for_selector("h1 .badge.frozen")


# --- Steps shared by the PostgreSQL + Redis tests and the embedded-default ones -------------------
# (tests/e2e/test_embedded_flows_browser.py runs them on the real `manage.py runall`).


def playground_send(
    page,
    *,
    message: str,
    models: tuple[str, str] | None = None,
    systems: tuple[str, str] | None = None,
    max_tokens: int = 24,
    blind: bool = False,
) -> None:
    """On the compare playground (already open): pick the columns' models and system prompts
    (or keep what the page filled in), ask, and land on the conversation."""
    if models is not None:
        page.select_option("[data-testid=model-0]", models[0])
        page.select_option("[data-testid=model-1]", models[1])
    if systems is not None:
        page.fill("textarea[name=system_0]", systems[0])
        page.fill("textarea[name=system_1]", systems[1])
    page.fill("[data-testid=message]", message)
    page.fill("input[name=max_tokens]", str(max_tokens))
    page.fill("input[name=temperature]", "0")
    page.fill("input[name=seed]", "7")
    if blind:
        page.check("[data-testid=blind]")
    page.click("#playground-form button[type=submit]")
    page.wait_for_url("**/compare/*/")


def replies_complete(page, timeout_ms: int = 120_000) -> None:
    """Wait until both columns' streamed replies are complete."""
    page.wait_for_function(
        """() => {
            const cells = document.querySelectorAll("[data-reply]");
            return cells.length === 2 && [...cells].every((c) => c.dataset.status === "complete");
        }""",
        timeout=timeout_ms,
    )


def blind_vote(page, choice: str = "a") -> set[str]:
    """Vote once both blind replies are in ("a", "b", ...); the two model names the page reveals."""
    page.wait_for_function("() => [...document.querySelectorAll('[data-vote]')].every((b) => !b.disabled)")
    page.click(f"button[value={choice}]")
    page.wait_for_selector("[data-testid=my-vote]")
    return {page.locator(f"[data-testid=model-name-{x}]").inner_text() for x in "AB"}


def job_statuses_record(page) -> None:
    """From now on, note every status the job page's badge shows, in this same document (a reload
    would lose the list; `job_statuses` reads it)."""
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


def job_statuses(page, *, until_done_ms: int = 0) -> list[str]:
    """The statuses noted by `job_statuses_record`; with `until_done_ms`, first wait that long at
    most for a final one (on a timeout the list says where the page stopped)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    if until_done_ms:
        with contextlib.suppress(PlaywrightTimeoutError):
            page.wait_for_function(
                "() => ['Succeeded', 'Failed', 'Cancelled'].includes(window.__statuses.at(-1))",
                timeout=until_done_ms,
            )
    return page.evaluate("window.__statuses")


def stream_pieces_record(page) -> None:
    """From the next page on, note when each reply cell gets a streamed piece (its testid and the
    page's clock, in ms); `stream_spans` reads them. Before the page loads: the streams start then."""
    page.add_init_script(
        """
        window.__pieces = [];
        new MutationObserver((records) => {
            for (const r of records) {
                if (r.target.dataset.pieces && r.target.dataset.pieces !== "0")
                    window.__pieces.push([r.target.dataset.testid, performance.now()]);
            }
        }).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-pieces"]});
        """
    )


def stream_spans(page) -> dict[str, tuple[float, float, int]]:
    """Per reply cell: (first piece, last piece, pieces), as noted by `stream_pieces_record`."""
    spans: dict[str, tuple[float, float, int]] = {}
    for cell, t in page.evaluate("window.__pieces"):
        first, _, n = spans.get(cell, (t, t, 0))
        spans[cell] = (first, t, n + 1)
    return spans


def launch_pick(page, *, connection: str, model: str) -> None:
    """On the launch form: pick the connection, wait until htmx has swapped in its base models
    (a model picked before that would be replaced by the new list's default), then the model."""
    page.evaluate(
        "() => { const s = document.querySelector('select[name=base_model]'); if (s) s.dataset.before = '1'; }"
    )
    page.select_option("select[name=connection]", label=connection)
    page.wait_for_function(
        "() => { const s = document.querySelector('select[name=base_model]'); return s && !s.dataset.before; }"
    )
    page.wait_for_selector(f"select[name=base_model] option[value='{model}']", state="attached")
    page.select_option("select[name=base_model]", model)
