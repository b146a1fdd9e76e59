"""The ASGI application: each request runs its middleware chain in the mode of its view.

Django builds one middleware chain per handler. Under ASGI the chain is async, and every
middleware written in the classic style (`MiddlewareMixin`: Django's own, django-csp's) then
crosses to Django's sync thread and back around each of its hooks: about twenty thread hand-offs
for a plain page, which measured as 3-5 ms of CPU time a request on this project's pages (more
than a third of a small page's cost). Django's handler also starts a new thread for each request's
sync code, and with it a new database connection (for SQLite, a new file handle with Django's
thirty-odd SQL functions registered on it): together another fifth of a page's CPU time under load.

So there are two handlers. Requests for async views (the streaming endpoints: the compare
screen's server-sent events, the local provider's chat completions) go to `AsyncViewsHandler`,
Django's own handler whose async chain lets a long stream wait without holding a thread (with
Django's middleware swapped for subclasses that run their pure hooks on the event loop). Every other
request goes to `SyncViewsHandler`: the request's signals, its whole middleware chain and its view
run in one call on a kept pool of threads (`FINEWEB_WEB_THREADS` a process), as under a threaded
WSGI server, and each pool thread keeps its database connection between requests
(`POOL_CONNECTION_MAX_AGE` seconds after its last use; Django's own checks still close a
connection that failed or was left in a transaction). Which view a path reaches is Django's own
URL resolver's answer.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import connections
from django.http import FileResponse, HttpResponseBase
from django.urls import Resolver404, get_resolver, set_script_prefix

from fineweb.lib.middleware import for_async_views

# A pool thread's connection stays open this long after its last request.
POOL_CONNECTION_MAX_AGE = 60.0


class SyncViewsHandler(ASGIHandler):
    """An ASGI handler for sync views: signals, middleware chain and view in one call on a pool thread."""

    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        self.pool = ThreadPoolExecutor(
            max_workers=threads or settings.FINEWEB_WEB_THREADS, thread_name_prefix="fineweb-web"
        )

    def close(self) -> None:
        """Close the pool threads' kept connections and stop the pool (tests; a server just exits)."""
        for _ in range(self.pool._max_workers):
            self.pool.submit(connections.close_all).result()
        self.pool.shutdown()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The request's own sync code runs on the pool. The context is for what Django itself
        # sends to "the request's thread" later: the rows of a streamed export, from a sync
        # generator, are read there (a thread is started only if one is asked for).
        async with ThreadSensitiveContext():
            await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        in_pool = sync_to_async(self._respond, thread_sensitive=False, executor=self.pool)
        try:
            response = await in_pool(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:  # also when the client went away: files closed, request_finished sent
                await sync_to_async(response.close, thread_sensitive=False, executor=self.pool)()
        finally:
            body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """On a pool thread: what Django's handler spreads over the event loop and a new thread."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # Django's create_request gives one or the other
            return error_response
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        keep_connections()
        return response


def keep_connections() -> None:
    """Let this pool thread's open connections live on past the request (Django closes a
    connection whose `close_at` has passed when the next request starts or this one ends)."""
    until = time.monotonic() + POOL_CONNECTION_MAX_AGE
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            connection.close_at = until


class AsyncViewsHandler(ASGIHandler):
    """Django's ASGI handler, its chain built from `MIDDLEWARE` with Django's classes swapped for
    `fineweb.lib.middleware`'s subclasses that run their pure hooks on the event loop: a stream
    crosses to the sync thread only where a hook may reach the database."""

    def load_middleware(self, is_async: bool = False) -> None:
        django_names = settings.MIDDLEWARE
        settings.MIDDLEWARE = for_async_views(django_names)  # once, while the handler is built
        try:
            super().load_middleware(is_async=True)
        finally:
            settings.MIDDLEWARE = django_names


@lru_cache(maxsize=4096)
def view_is_async(path: str) -> bool:
    """Whether `path` resolves to a coroutine view (False for an unknown path: its 404 is sync)."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


class Application:
    """Routes each HTTP request to the handler whose chain suits its view (see the module doc)."""

    def __init__(self) -> None:
        self.async_views = AsyncViewsHandler()
        self.sync_views = SyncViewsHandler()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not view_is_async(scope["path"]):
            await self.sync_views(scope, receive, send)
        else:
            await self.async_views(scope, receive, send)
