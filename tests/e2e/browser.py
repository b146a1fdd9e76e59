"""Helpers of the browser tests: logging in through the real form, screenshots for the docs."""

from __future__ import annotations

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"


def login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
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
