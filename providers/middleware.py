"""Page requests get the short provider budget (providers/http.py): a few seconds in all."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from providers.http import BUDGET


class ProviderBudgetMiddleware:
    """Every provider call made while a page request runs is "interactive": a provider that
    never answers costs the page a few seconds and a sentence, not the server's threads for
    minutes. Celery tasks run outside any request and keep the long "background" budget."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = BUDGET.set("interactive")
        try:
            return self.get_response(request)
        finally:
            BUDGET.reset(token)
