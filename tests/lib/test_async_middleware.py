"""Django's own middleware run on the event loop under ASGI where their hooks do no I/O
(fineweb.lib.middleware.InlineWhenAsync): the same headers, cookies, CSRF refusals and sessions as
Django's classes, with far fewer crossings to the sync thread."""

from __future__ import annotations

import re

import asgiref.sync
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from fineweb.lib.asgi import Application
from fineweb.lib.middleware import INLINE_WHEN_ASYNC, for_async_views
from tests.factories import PASSWORD

HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


@pytest.fixture
def hops(monkeypatch):
    """Counts the crossings from the event loop to the sync thread (asgiref's own call, wrapped)."""
    seen: list[str] = []
    original = asgiref.sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        seen.append(getattr(self.func, "__qualname__", None) or type(self.func).__name__)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", counted)
    return seen


def page_under_asgi(user, path: str):
    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.get(path)

    return async_to_sync(run)()


@pytest.fixture
def ours(settings):
    """The chain the async views get (fineweb.lib.asgi.AsyncViewsHandler), for the test client."""
    settings.MIDDLEWARE = for_async_views(settings.MIDDLEWARE)


def test_the_async_views_handler_swaps_in_the_subclasses_and_settings_keep_djangos_names(settings):
    django_names = list(settings.MIDDLEWARE)
    assert not set(django_names) & set(INLINE_WHEN_ASYNC.values())  # check --deploy finds Django's
    app = Application()
    assert django_names == settings.MIDDLEWARE  # put back once the handler is built
    chain, classes = app.async_views._middleware_chain, []  # type: ignore[attr-defined]
    while chain is not None:  # convert_exception_to_response -> middleware -> its get_response ...
        target = getattr(chain, "__wrapped__", chain)
        classes.append(f"{type(target).__module__}.{type(target).__qualname__}")
        chain = getattr(target, "get_response", None)
    assert set(INLINE_WHEN_ASYNC.values()) <= set(classes)
    assert not set(INLINE_WHEN_ASYNC) & set(classes)
    app.sync_views.close()


def test_a_page_under_asgi_has_djangos_headers_with_a_third_of_the_hops(alice, settings, hops):
    theirs = page_under_asgi(alice, "/compare/")
    their_hops = list(hops)
    hops.clear()
    settings.MIDDLEWARE = for_async_views(settings.MIDDLEWARE)
    ours = page_under_asgi(alice, "/compare/")
    our_hops = list(hops)
    assert ours.status_code == theirs.status_code == 200
    for header in HEADERS:
        assert ours.headers[header] and re.sub(r"nonce-[^']+", "", ours.headers[header]) == re.sub(
            r"nonce-[^']+", "", theirs.headers[header]
        )
    assert ours.headers.get("Vary") == theirs.headers.get("Vary")
    # Django's classes cross for every process_request and process_response; ours only where a
    # hook may reach the database (the messages' store), plus the views' and the team's queries.
    assert any("SecurityMiddleware" in h for h in their_hops)
    assert not any(
        re.search(r"(Security|CSP|Common|XFrameOptions|Authentication|LoginRequired)Middleware", h)
        for h in our_hops
    )
    assert len(our_hops) <= len(their_hops) - 8, (our_hops, their_hops)


def test_under_asgi_csrf_is_refused_and_a_login_saves_its_session(alice, ours, hops):
    async def run():
        client = AsyncClient(enforce_csrf_checks=True)
        anonymous = await client.get("/compare/")
        form = await client.get("/login/")
        token = client.cookies["csrftoken"].value
        refused = await client.post("/login/", {"username": "alice", "password": PASSWORD})
        logged_in = await client.post(
            "/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
        page = await client.get("/compare/")
        return anonymous, form, refused, logged_in, page

    anonymous, form, refused, logged_in, page = async_to_sync(run)()
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert form.status_code == 200 and refused.status_code == 403
    assert logged_in.status_code == 302 and logged_in.cookies["sessionid"].value
    # The modified session was saved (in its sync hop): the next request is logged in.
    assert page.status_code == 200 and b"alice" in page.content
    assert any(h.endswith("SessionMiddleware.process_response") for h in hops)
