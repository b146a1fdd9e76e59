"""View helpers that keep every request inside the user's team."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from fineweb.accounts.http import MaybeTeamRequest, TeamRequest

P = ParamSpec("P")
M = TypeVar("M", bound=Model)
# A view that needs a team, and what the decorators below turn it into (what urls.py routes to).
TeamView: TypeAlias = Callable[Concatenate[TeamRequest, P], HttpResponseBase]
View: TypeAlias = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def team_required(view: TeamView[P]) -> View[P]:
    """The user must belong to a team; otherwise a page that says so (nothing else to show)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if cast(MaybeTeamRequest, request).team is None:
            return render(request, "accounts/no_team.html", status=403)
        return view(cast(TeamRequest, request), *args, **kwargs)

    return wrapper


def role_required(*roles: str) -> Callable[[TeamView[P]], View[P]]:
    """Only members with one of `roles` may use the view (403 with a sentence otherwise)."""

    def decorator(view: TeamView[P]) -> View[P]:
        @wraps(view)
        @team_required
        def wrapper(request: TeamRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if request.membership.role not in roles:
                raise PermissionDenied(f"This needs the role {' or '.join(roles)}.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def get_for_team_or_404(
    queryset: QuerySet[M], request: MaybeTeamRequest, team_field: str = "team", **lookup: Any
) -> M:
    """Fetch one object of `queryset` that belongs to the request's team, else 404."""
    if request.team is None:
        raise Http404
    try:
        return queryset.get(**{team_field: request.team}, **lookup)
    except queryset.model.DoesNotExist as exc:  # type: ignore[attr-defined]  # each model has its own
        raise Http404 from exc
