"""A provider that never answers holds nothing: a page request spends at most a few seconds on
it, over all its tries, then shows a sentence; model lists are cached per connection (failures
too, briefly); only background tasks keep the long budget. The slow servers are real sockets on
loopback (allowed in the suite like a LAN server, tests/conftest.py)."""

from __future__ import annotations

import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from providers.http import INTERACTIVE_SECONDS, RetryPolicy, current_budget
from providers.middleware import ProviderBudgetMiddleware
from providers.models import Connection
from providers.services import connection_create, connection_get_provider, connection_test
from tests.factories import make_version
from tests.providers.netservers import SilentServer, TrickleServer

pytestmark = pytest.mark.django_db

# The budget, plus slack for the page itself on a busy shared test machine.
PAGE_LIMIT = INTERACTIVE_SECONDS + 3.0


def compat(team, alice, base_url: str) -> Connection:
    return connection_create(
        team=team,
        user=alice,
        kind="openai_compatible",
        name="Silent",
        base_url=base_url,
        api_key="sk-silent-1234",
    )


def test_the_test_button_gives_up_on_a_silent_host_within_the_page_budget(team, alice, alice_client):
    with SilentServer() as server:
        connection = compat(team, alice, server.base_url)
        alice_client.get(reverse("providers:list"))  # warm up: time only the button below
        started = time.monotonic()
        response = alice_client.post(reverse("providers:test", args=[connection.id]), HTTP_HX_REQUEST="true")
        elapsed = time.monotonic() - started
    page = " ".join(response.content.decode().split())
    print(f"Test connection against a silent host: {elapsed:.2f} s")
    assert response.status_code == 200
    assert elapsed < PAGE_LIMIT
    assert "did not answer within 5 seconds" in page
    assert server.accepted >= 1


def test_a_host_that_trickles_its_answer_is_cut_off_at_the_budget_too(team, alice):
    with TrickleServer() as server:
        connection = compat(team, alice, server.base_url)
        started = time.monotonic()
        ok, message = connection_test(connection=connection)
        elapsed = time.monotonic() - started
    assert not ok
    assert elapsed < PAGE_LIMIT, message
    assert "did not answer within 5 seconds" in message


def test_the_launch_form_answers_with_a_sentence_and_asks_a_silent_host_once(team, alice, alice_client):
    with SilentServer() as server:
        connection = compat(team, alice, server.base_url)
        url = f"/jobs/new/?version={make_version(team).id}&connection={connection.id}"
        alice_client.get(reverse("providers:list"))  # warm up
        started = time.monotonic()
        first = alice_client.get(url)
        elapsed = time.monotonic() - started
        accepted = server.accepted
        started = time.monotonic()
        again = alice_client.get(url)
        cached = time.monotonic() - started
        print(f"GET /jobs/new/ with a silent connection: {elapsed:.2f} s, then {cached:.2f} s (cached)")
        assert server.accepted == accepted  # the failure was cached per connection
    assert first.status_code == 200 and again.status_code == 200
    assert elapsed < PAGE_LIMIT and cached < 2
    page = " ".join(first.content.decode().split())
    assert "fineweb could not reach Silent" in page and "did not answer within 5 seconds" in page


def test_page_requests_get_the_interactive_budget_and_everything_else_the_background_one(team):
    local = Connection.objects.get(team=team, kind="local")
    assert current_budget() == "background"
    background = connection_get_provider(connection=local).http.retry
    assert background.max_attempts == 5 and background.total is None

    seen = {}

    def view(request):
        seen["budget"] = current_budget()
        seen["retry"] = connection_get_provider(connection=local).http.retry
        return HttpResponse("ok")

    ProviderBudgetMiddleware(view)(RequestFactory().get("/"))
    assert seen["budget"] == "interactive"
    assert seen["retry"].max_attempts == 2 and seen["retry"].total == INTERACTIVE_SECONDS
    assert current_budget() == "background"  # reset after the request


def test_the_interactive_budget_stops_retrying_when_its_time_is_spent():
    waits: list[float] = []
    policy = RetryPolicy.interactive(sleep=waits.append)
    assert policy.max_attempts == 2 and policy.max_retry_after <= 1 and policy.total == INTERACTIVE_SECONDS
    assert RetryPolicy.for_budget("background").max_attempts == 5
    with pytest.raises(ValueError):
        RetryPolicy.for_budget("forever")


def test_under_asgi_a_sync_view_sees_the_interactive_budget_too():
    import asyncio

    from asgiref.sync import sync_to_async

    seen = {}

    def sync_view(request):
        seen["budget"] = current_budget()
        return HttpResponse("ok")

    async def handler(request):
        return await sync_to_async(sync_view)(request)

    asyncio.run(ProviderBudgetMiddleware(handler)(RequestFactory().get("/")))
    assert seen["budget"] == "interactive"
    assert current_budget() == "background"
