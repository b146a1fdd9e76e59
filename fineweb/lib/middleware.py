"""A base for middleware that works in both modes (WSGI and the tests sync, uvicorn async).

Under ASGI, a sync-only middleware in the chain makes every request cross between the event loop
and Django's sync thread around it; a middleware in both modes follows the mode of the handler
it wraps. A subclass writes `__call__` for the sync case (delegating to `__acall__` when
`self.is_async`) and `async def __acall__`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import csp.middleware as csp_middleware
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, security
from django.utils.functional import SimpleLazyObject, empty


class BothModesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]  # an instance whose __acall__ is the coroutine


class InlineWhenAsync:
    """For Django's own middleware whose hooks do no I/O: under ASGI they run on the event loop.

    Django's `MiddlewareMixin.__acall__` sends every `process_request` and `process_response` to
    the sync thread, because a hook might touch the database: with ten such middleware a request
    crossed between the loop and that thread about fifteen times before its view ran, and on a
    loaded machine each crossing waits for a scheduler turn (the compare screen's stream paid for
    it in its time to first token, issue 10). The subclasses below keep Django's hooks and only
    run them in place where they are pure (headers, cookies, lazy objects); a hook that might
    reach the database keeps its hop (`inline_request`, `_inline_response`, `_inline_view`: a
    `process_view` is wrapped in a coroutine that runs it in place or in the sync thread, only
    under ASGI and only for a subclass that defines `_inline_view`). Were one to touch the
    database after all, Django raises SynchronousOnlyOperation rather than block the loop. Sync
    mode (WSGI, the test client) is Django's own code path.
    """

    inline_request = True
    inline_response = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        sync_view = getattr(self, "process_view", None)
        inline_view = getattr(self, "_inline_view", None)
        if iscoroutinefunction(get_response) and sync_view is not None and inline_view is not None:

            async def process_view(request: Any, *args: Any) -> Any:
                if inline_view(request):
                    return sync_view(request, *args)
                return await sync_to_async(sync_view, thread_sensitive=True)(request, *args)

            vars(self)["process_view"] = process_view  # Django's handler takes it as a coroutine

    def _inline_response(self, request: Any, response: Any) -> bool:
        return self.inline_response

    async def __acall__(self, request: Any) -> Any:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self.inline_request:
                response = process_request(request)
            else:
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
        response = response or await self.get_response(request)  # type: ignore[attr-defined]
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self._inline_response(request, response):
                response = process_response(request, response)
            else:
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
        return response


class SecurityMiddleware(InlineWhenAsync, security.SecurityMiddleware):
    pass


class CSPMiddleware(InlineWhenAsync, csp_middleware.CSPMiddleware):
    pass


class CommonMiddleware(InlineWhenAsync, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(InlineWhenAsync, clickjacking.XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(InlineWhenAsync, auth_middleware.AuthenticationMiddleware):
    """Only sets the lazy `request.user`; the user is loaded where it is first used."""


class CsrfViewMiddleware(InlineWhenAsync, csrf.CsrfViewMiddleware):
    """The token lives in a cookie: pure. With CSRF_USE_SESSIONS it would read and write the
    session (the database), so then both hooks keep their hop. `process_view` checks nothing for
    a safe method (GET, HEAD, ...); for the others it reads the posted form (a large upload is
    parsed from its temporary file), so those keep their hop."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        super().__init__(get_response)
        self.inline_request = self.inline_response = not settings.CSRF_USE_SESSIONS

    def _inline_view(self, request: Any) -> bool:
        return self.inline_request and request.method in ("GET", "HEAD", "OPTIONS", "TRACE")


class LoginRequiredMiddleware(InlineWhenAsync, auth_middleware.LoginRequiredMiddleware):
    """`process_view` asks whether the user is logged in: in place once the lazy user has been
    loaded (fineweb's TeamMiddleware loads it first), in the sync thread otherwise."""

    def _inline_view(self, request: Any) -> bool:
        user = getattr(request, "user", None)
        return not isinstance(user, SimpleLazyObject) or user._wrapped is not empty


class SessionMiddleware(InlineWhenAsync, sessions.SessionMiddleware):
    """`process_request` makes a lazy session store (no query); `process_response` saves a
    modified session (the database), so it keeps its hop then, and only then."""

    def _inline_response(self, request: Any, response: Any) -> bool:
        session = getattr(request, "session", None)
        return session is None or not (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(InlineWhenAsync, messages_middleware.MessageMiddleware):
    """`process_request` makes the storage (no query); storing messages may fall back to the
    session, so `process_response` keeps its hop when messages were read or added (it does
    nothing otherwise)."""

    def _inline_response(self, request: Any, response: Any) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is None or not (storage.used or storage.added_new)


# Django's classes and the subclasses above that stand in for them in the async views' chain.
INLINE_WHEN_ASYNC = {
    "django.middleware.security.SecurityMiddleware": "fineweb.lib.middleware.SecurityMiddleware",
    "csp.middleware.CSPMiddleware": "fineweb.lib.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": "fineweb.lib.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "fineweb.lib.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "fineweb.lib.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "fineweb.lib.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware": "fineweb.lib.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware": "fineweb.lib.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "fineweb.lib.middleware.XFrameOptionsMiddleware",
}


def for_async_views(middleware: list[str]) -> list[str]:
    """`MIDDLEWARE` with Django's classes swapped for the subclasses that stay on the event loop."""
    return [INLINE_WHEN_ASYNC.get(path, path) for path in middleware]
