"""View helpers that keep every request inside the user's team."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render


def team_required(view):
    """The user must belong to a team; otherwise a page that says so (nothing else to show)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.team is None:
            return render(request, "accounts/no_team.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def role_required(*roles: str):
    """Only members with one of `roles` may use the view (403 with a sentence otherwise)."""

    def decorator(view):
        @wraps(view)
        @team_required
        def wrapper(request, *args, **kwargs):
            if request.membership.role not in roles:
                raise PermissionDenied(f"This needs the role {' or '.join(roles)}.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def get_for_team_or_404(queryset, request, team_field: str = "team", **lookup):
    """Fetch one object of `queryset` that belongs to the request's team, else 404."""
    if request.team is None:
        raise Http404
    try:
        return queryset.get(**{team_field: request.team}, **lookup)
    except queryset.model.DoesNotExist as exc:
        raise Http404 from exc
