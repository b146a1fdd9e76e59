"""The compare screen in Chromium under the real ASGI server (uvicorn, as `make run` serves it):
two columns on the built-in local provider (fineweb-tiny) streaming side by side, then a blind
A/B comparison, voted on, with the names revealed after the vote and the leaderboard.

Screenshots for the README: docs/screenshots/compare-columns.png, compare-blind.png,
compare-revealed.png, compare-leaderboard.png.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from providers.models import Connection
from tests.e2e.browser import blind_vote, playground_send, replies_complete, screenshot
from tests.factories import PASSWORD, make_connection
from tests.fakes.chat_stream import ChatStreamFake
from tests.fakes.http_server import FakeHTTPServer
from tests.processes import ROOT, database_url_for_children, free_port, wait_for

pytestmark = [pytest.mark.e2e]
LAB_KEY = "sk-lab-TESTKEY0123456789"

LONG_PROMPT = (
    "You are the support assistant of a bakery. Always answer in German, in one or two short "
    "sentences, in a friendly tone, never mention prices, and end with a greeting. " * 3
)


@pytest.fixture
def asgi_server(transactional_db, tmp_path):
    """uvicorn serving fineweb.asgi on the test database, on a free loopback port."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_children(), PYTHONUNBUFFERED="1")
    with open(tmp_path / "uvicorn.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fineweb.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, timeout=60, message="uvicorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def log_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def fill_playground(page, base: str, first: str, second: str, *, blind: bool, message: str) -> None:
    page.goto(f"{base}/compare/")
    playground_send(
        page,
        message=message,
        models=(first, second),
        systems=(LONG_PROMPT, "Antworte kurz auf Deutsch."),
        max_tokens=24,
        blind=blind,
    )


@pytest.fixture
def lab_server():
    """An OpenAI-compatible server on loopback that streams in OpenAI's chunk shape."""
    with FakeHTTPServer(ChatStreamFake(key=LAB_KEY, words=["Ja", ",", " jeden", " Tag", "."])) as server:
        yield server


def test_two_columns_stream_side_by_side_and_a_blind_vote_reveals_the_names(
    asgi_server, lab_server, team, alice, browser_page
):
    page = browser_page
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    local = Connection.objects.get(team=team, kind="local")
    tiny = f"{local.id}:fineweb-tiny"
    lab = make_connection(
        team, kind="openai_compatible", name="Lab server", api_key=LAB_KEY, base_url=lab_server.base_url
    )
    log_in(page, asgi_server)

    # Two columns, each with its own system prompt, streaming at once.
    fill_playground(page, asgi_server, tiny, tiny, blind=False, message="Wann habt ihr geöffnet?")
    replies_complete(page)
    for label in ("A", "B"):
        cell = page.locator(f"[data-testid=reply-{label}]")
        assert int(cell.get_attribute("data-pieces") or 0) >= 2  # token by token, not one block
        assert cell.locator("[data-role=text]").inner_text().strip()
        assert cell.locator("[data-stat=first_token_s]").inner_text().endswith(" s")
        assert cell.locator("[data-stat=cost]").inner_text() == "free"
        assert cell.locator("[data-stat=stop_reason]").inner_text() == "length"
        assert cell.locator("[data-stat=tokens]").inner_text().endswith("/ 24")
    saving = page.locator("[data-testid=reply-B] [data-role=saving]")
    assert saving.is_visible() and saving.inner_text().startswith("Prompt tokens saved: ")
    assert page.locator("[data-testid=model-name-A]").inner_text() == "fineweb-tiny"
    screenshot(page, "compare-columns.png")

    # A follow-up goes to both columns.
    page.fill("[data-testid=follow-up]", "Und am Sonntag?")
    page.click("#follow-up button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('.turn').length === 2")
    page.wait_for_function(
        """() => [...document.querySelectorAll(".turn:last-of-type [data-reply]")]
            .every((c) => c.dataset.status === "complete")""",
        timeout=120_000,
    )

    # Blind: names hidden, vote buttons enabled once both replies are complete, names after the vote.
    # Blind, against another provider: an OpenAI-compatible server (the fake, on loopback).
    fill_playground(
        page, asgi_server, tiny, f"{lab.id}:acme-7b-chat", blind=True, message="Habt ihr glutenfreies Brot?"
    )
    assert page.locator("[data-testid=model-name-A]").inner_text() == "Model A"
    replies_complete(page)
    page.wait_for_function("() => [...document.querySelectorAll('[data-vote]')].every((b) => !b.disabled)")
    assert "fineweb-tiny" not in page.content()
    # The compatible server has no price in the table; while blind the sentence names no model.
    costs = [page.locator(f"[data-testid=reply-{x}] [data-stat=cost]").inner_text() for x in "AB"]
    assert sorted(costs) == ["free", "no price in the table for this model"]
    screenshot(page, "compare-blind.png")
    assert blind_vote(page, "a") == {"fineweb-tiny", "acme-7b-chat"}
    assert "A is better" in page.locator("[data-testid=my-vote]").inner_text()
    assert "no price in the table for acme-7b-chat" in page.content()
    screenshot(page, "compare-revealed.png")

    page.goto(f"{asgi_server}/compare/leaderboard/")
    assert "1 vote counted" in page.content()
    screenshot(page, "compare-leaderboard.png")
    page.goto(f"{asgi_server}/compare/history/")
    assert page.locator("[data-testid=history] tbody tr").count() == 2
    assert not [line for line in console if "Content Security Policy" in line], console
