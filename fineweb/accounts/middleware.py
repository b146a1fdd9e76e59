from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from fineweb.accounts.http import MaybeTeamRequest
from fineweb.accounts.models import Membership


class TeamMiddleware:
    """Sets request.team and request.membership: the team every query of the request is scoped to.

    A user in several teams picks one (kept in the session); a user in none sees the
    "no team" page rather than anyone's data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, http_request: HttpRequest) -> HttpResponseBase:
        request = cast(MaybeTeamRequest, http_request)  # this is where team and membership get set
        request.team = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = Membership.objects.select_related("team").filter(user=user).order_by("id")
            wanted = request.session.get("team_id")
            chosen = None
            for membership in memberships:
                if chosen is None or membership.team_id == wanted:
                    chosen = membership
            if chosen is not None:
                request.team = chosen.team
                request.membership = chosen
        return self.get_response(request)
