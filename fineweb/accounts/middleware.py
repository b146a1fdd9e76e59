from __future__ import annotations

from typing import Any, cast

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from fineweb.accounts.http import MaybeTeamRequest
from fineweb.accounts.models import Membership
from fineweb.lib.middleware import BothModesMiddleware


class TeamMiddleware(BothModesMiddleware):
    """Sets request.team and request.membership: the team every query of the request is scoped to.

    A user in several teams picks one (kept in the session); a user in none sees the
    "no team" page rather than anyone's data.
    """

    # Both modes, so that under ASGI the chain stays async and only this middleware's queries and
    # the view itself run in Django's sync thread (fineweb.lib.middleware).

    def __call__(self, http_request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(http_request)
        self._choose_team(http_request)
        return self.get_response(http_request)

    async def __acall__(self, http_request: HttpRequest) -> HttpResponseBase:
        await sync_to_async(self._choose_team)(http_request)
        return await self.get_response(http_request)

    @staticmethod
    def _choose_team(http_request: HttpRequest) -> None:
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
