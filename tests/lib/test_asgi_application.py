"""fineweb.asgi: sync views run their signals, whole middleware chain and view in one call on a
kept pool thread that keeps its database connection; async views (the streams) keep Django's
async chain. Driven through the ASGI interface itself, as uvicorn calls it."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
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


def _get(app, path: str, cookie: str = "") -> tuple[int, bytes]:
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
        "headers": [(b"host", b"127.0.0.1")] + ([(b"cookie", cookie.encode())] if cookie else []),
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


@pytest.fixture
def app():
    application = fineweb_asgi.Application()
    application.sync_views.close()
    application.sync_views = fineweb_asgi.SyncViewsHandler(threads=1)  # one thread: reuse is visible
    yield application
    application.sync_views.close()


def test_sync_pages_run_in_one_call_on_a_pool_thread_that_keeps_its_connection(
    app, alice_client, monkeypatch
):
    cookie = "; ".join(f"{k}={v.value}" for k, v in alice_client.cookies.items())
    chain = app.sync_views._middleware_chain
    seen: list[tuple[str, str, int | None]] = []

    def recording(request):
        response = chain(request)
        # After the view: the database connection this thread used for the session and the user.
        seen.append((request.path, threading.current_thread().name, id(connection.connection)))
        return response

    monkeypatch.setattr(app.sync_views, "_middleware_chain", recording)
    status, body = _get(app, "/login/")
    assert status == 200 and b"password" in body
    status, _ = _get(app, "/datasets/")
    assert status == 302  # login required, as everywhere
    status, body = _get(app, "/datasets/", cookie)
    assert status == 200 and b"alice" in body.lower()
    status, _ = _get(app, "/datasets/", cookie)
    assert status == 200
    assert [path for path, _, _ in seen] == ["/login/", "/datasets/", "/datasets/", "/datasets/"]
    assert all(name.startswith("fineweb-web") for _, name, _ in seen)
    # A logged-in page reads the session, the user and the team: the thread kept that connection
    # for the next request instead of opening a new one.
    first, second = seen[2][2], seen[3][2]
    assert first == second and first != id(None)


def test_a_broken_connection_is_not_kept(app, alice_client):
    cookie = "; ".join(f"{k}={v.value}" for k, v in alice_client.cookies.items())
    _get(app, "/datasets/", cookie)  # opens and keeps the pool thread's connection

    def break_it():
        kept = connection.connection
        assert kept is not None
        connection.errors_occurred = True
        connection.connection.close()  # the database went away under it
        return kept

    kept = app.sync_views.pool.submit(break_it).result()
    status, _ = _get(app, "/datasets/", cookie)  # Django's check at request start drops it
    assert status == 200
    assert app.sync_views.pool.submit(lambda: connection.connection).result() is not kept


def test_async_views_go_through_djangos_async_chain(app, monkeypatch):
    calls = []
    chain = app.sync_views._middleware_chain

    def counting(request):
        calls.append(request.path)
        return chain(request)

    monkeypatch.setattr(app.sync_views, "_middleware_chain", counting)
    # No key: the local API answers 401 in OpenAI's error shape, from its async view.
    status, body = _get(app, "/local/v1/chat/completions")
    assert status in (401, 405)
    assert b"error" in body
    assert calls == []  # not through the sync handler


def test_a_streamed_export_from_a_sync_generator_arrives_whole(app, team, alice, alice_client):
    """The evaluation run's CSV is a StreamingHttpResponse over a sync generator reading rows."""
    from tests.factories import build_world

    run = build_world(team, alice)["run"]
    cookie = "; ".join(f"{k}={v.value}" for k, v in alice_client.cookies.items())
    path = reverse("evaluation:export", args=[run.id, "jsonl"])
    status, body = _get(app, path, cookie)
    assert status == 200
    expected = b"".join(alice_client.get(path).streaming_content)  # the same view under WSGI
    assert body == expected and body.startswith(b'{"index": 0')
