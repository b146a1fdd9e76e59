"""A sync httpx transport that calls this server's own ASGI app and hands the body back piece by piece.

The local provider's chat view is async and streams server-sent events; reached through
`httpx.WSGITransport` (providers.services.local_in_process_client) Django has to read its async
iterator to the end before WSGI can return anything, so a streamed compare reply arrived all at
once. This transport runs the ASGI app in a thread with its own event loop and passes every
`http.response.body` message on as soon as it is sent, so the compare screen gets the local
model's tokens as they are generated. Closing the response sends `http.disconnect`, which makes
Django cancel the view (and the local provider stops generating).

The app runs in another thread, on its own database connections: what it reads (the team's
local API key) must be committed, as it is in production (tests use transactional databases).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
from django.core.handlers.asgi import ASGIHandler

_END = object()


@functools.cache
def asgi_application() -> ASGIHandler:
    """Django's handler, not fineweb.asgi's (which would run django.setup() again)."""
    return ASGIHandler()


class _Exchange:
    """One request: the app's thread puts ASGI messages on `messages`; `hang_up` ends it early."""

    def __init__(self, app: Any, scope: dict, body: bytes):
        self.app, self.scope, self.body = app, scope, body
        self.messages: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._wake: Any = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="local-asgi", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the reader as a transport error
            self.messages.put(exc)
        finally:
            self.messages.put(_END)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()
        with self._lock:
            self._wake = lambda: loop.call_soon_threadsafe(gone.set)
            if self._closed.is_set():
                gone.set()
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            self.messages.put(message)

        try:
            await self.app(self.scope, receive, send)
        finally:
            with self._lock:
                self._wake = None  # the loop closes with this function

    def hang_up(self) -> None:
        with self._lock:
            self._closed.set()
            if self._wake is not None:
                # RuntimeError: the app's loop has just closed, nothing is left to wake.
                with contextlib.suppress(RuntimeError):
                    self._wake()

    def next_message(self, timeout: float | None) -> Any:
        try:
            item = self.messages.get(timeout=timeout)
        except queue.Empty:
            self.hang_up()
            raise httpx.ReadTimeout("the in-process app sent nothing in time") from None
        if isinstance(item, BaseException):
            raise httpx.ReadError(f"the in-process app failed: {type(item).__name__}") from item
        return item


class _BodyStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, read_timeout: float | None):
        self.exchange, self.read_timeout = exchange, read_timeout

    def __iter__(self) -> Iterator[bytes]:
        while True:
            message = self.exchange.next_message(self.read_timeout)
            if message is _END:
                # The app ended without finishing its body: a cut connection, as the client sees it.
                raise httpx.RemoteProtocolError("the in-process app ended in the middle of the body")
            if message.get("type") != "http.response.body":
                continue
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return

    def close(self) -> None:
        self.exchange.hang_up()


class InProcessASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any | None = None):
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": ("127.0.0.1", 0),
        }
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        exchange = _Exchange(self.app or asgi_application(), scope, request.read())
        exchange.thread.start()
        while True:
            message = exchange.next_message(read_timeout)
            if message is _END:
                raise httpx.RemoteProtocolError("the in-process app answered nothing")
            if message.get("type") == "http.response.start":
                break
        headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        return httpx.Response(
            message["status"],
            headers=headers,
            stream=_BodyStream(exchange, read_timeout),
            request=request,
        )
