"""A base for middleware that works in both modes (WSGI and the tests sync, uvicorn async).

Under ASGI, a sync-only middleware in the chain makes every request cross between the event loop
and Django's sync thread around it; a middleware in both modes follows the mode of the handler
it wraps. A subclass writes `__call__` for the sync case (delegating to `__acall__` when
`self.is_async`) and `async def __acall__`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class BothModesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]  # an instance whose __acall__ is the coroutine
