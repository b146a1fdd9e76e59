"""fineweb.asgi: sync views run their whole middleware chain in one hop to Django's sync thread,
async views (the streams) keep Django's async chain. Driven through the ASGI interface itself."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from fineweb.lib import asgi as fineweb_asgi

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_router_asks_the_url_resolver_which_views_are_coroutines():
    stream = reverse("compare:stream", kwargs={"conversation_id": 1, "reply_id": 2})
    assert fineweb_asgi.view_is_async(stream)
    assert fineweb_asgi.view_is_async("/local/v1/chat/completions")
    assert not fineweb_asgi.view_is_async("/datasets/")
    assert not fineweb_asgi.view_is_async("/login/")
    assert not fineweb_asgi.view_is_async("/no/such/page/")


def _get(app, path: str) -> tuple[int, bytes]:
    """One GET through the ASGI interface, as uvicorn sends it; returns status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.sleep(3600)  # no disconnect: the handler cancels this when it is done

    async def send(message):
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body


def test_sync_pages_run_in_one_hop_and_answer_like_django(monkeypatch):
    app = fineweb_asgi.Application()
    chain = app.sync_views._middleware_chain
    # The sync chain is one sync_to_async callable around the whole chain: count its calls.
    calls = []

    async def counting(request):
        calls.append(request.path)
        return await chain(request)

    monkeypatch.setattr(app.sync_views, "_middleware_chain", counting)
    status, body = _get(app, "/login/")
    assert status == 200 and b"password" in body
    status, _ = _get(app, "/datasets/")
    assert status == 302  # login required, as everywhere
    assert calls == ["/login/", "/datasets/"]  # both went through the sync handler


def test_async_views_go_through_djangos_async_chain(monkeypatch):
    app = fineweb_asgi.Application()
    calls = []
    chain = app.sync_views._middleware_chain

    async def counting(request):
        calls.append(request.path)
        return await chain(request)

    monkeypatch.setattr(app.sync_views, "_middleware_chain", counting)
    # No key: the local API answers 401 in OpenAI's error shape, from its async view.
    status, body = _get(app, "/local/v1/chat/completions")
    assert status in (401, 405)
    assert b"error" in body
    assert calls == []  # not through the sync handler
