"""The ASGI application: each request runs its middleware chain in the mode of its view.

Django builds one middleware chain per handler. Under ASGI the chain is async, and every
middleware written in the classic style (`MiddlewareMixin`: Django's own, django-csp's) then
crosses to Django's sync thread and back around each of its hooks: about twenty thread hand-offs
for a plain page, which measured as 3-5 ms of CPU time a request on this project's pages (more
than a third of a small page's cost).

So there are two handlers. Requests for async views (the streaming endpoints: the compare
screen's server-sent events, the local provider's chat completions) go to Django's own
`ASGIHandler`, whose async chain lets a long stream wait without holding the sync thread. Every
other request goes to `SyncViewsHandler`: its whole chain and its view run in one hop to the sync
thread, as under WSGI. Which view a path reaches is Django's own URL resolver's answer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.urls import Resolver404, get_resolver


class SyncViewsHandler(ASGIHandler):
    """An ASGI handler for sync views: the middleware chain in sync mode, called in one hop."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Any = self._middleware_chain  # type: ignore[has-type]  # set by load_middleware
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


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
        self.async_views = ASGIHandler()
        self.sync_views = SyncViewsHandler()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not view_is_async(scope["path"]):
            await self.sync_views(scope, receive, send)
        else:
            await self.async_views(scope, receive, send)
