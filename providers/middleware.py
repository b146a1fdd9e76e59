"""Page requests get the short provider budget (providers/http.py): a few seconds in all."""

from __future__ import annotations

from typing import Any

from fineweb.lib.middleware import BothModesMiddleware
from providers.http import BUDGET


class ProviderBudgetMiddleware(BothModesMiddleware):
    """Every provider call made while a page request runs is "interactive": a provider that
    never answers costs the page a few seconds and a sentence, not the server's threads for
    minutes. Celery tasks run outside any request and keep the long "background" budget.

    Sync and async, so it adds no thread hop under ASGI; the context variable reaches sync views
    run through sync_to_async (asgiref copies the context into the thread)."""

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        token = BUDGET.set("interactive")
        try:
            return self.get_response(request)
        finally:
            BUDGET.reset(token)

    async def __acall__(self, request: Any) -> Any:
        token = BUDGET.set("interactive")
        try:
            return await self.get_response(request)
        finally:
            BUDGET.reset(token)
