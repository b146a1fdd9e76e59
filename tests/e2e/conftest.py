"""Browser tests: Debian's headless Chromium driven by Playwright (nothing is downloaded).

`browser_page` gives a fresh page; tests/e2e/browser.py's `login(page, live_server, username,
password)` logs in through the real login form.

Pages run under the real Content-Security-Policy: give `wait_for_function` a function
(`"() => ..."`), since Playwright polls a bare expression with eval inside the page, which the
policy forbids.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; pytest-django's database access from
# the same thread is safe here (one test at a time).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Per module, not per session: Playwright's sync API leaves its event loop marked as running in
# this thread until it stops, and tests that run after the browser tests (the local provider's
# chat, through async_to_sync) must find no running loop.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
