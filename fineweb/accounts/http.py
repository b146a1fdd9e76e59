"""Request types for views: what the middleware stack puts on a request, spelled out for mypy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails

    from fineweb.accounts.models import Membership, Team


class MaybeTeamRequest(HttpRequest):
    """Any request after `TeamMiddleware`: `team` and `membership` are None outside a team."""

    team: Team | None
    membership: Membership | None
    htmx: HtmxDetails


class TeamRequest(MaybeTeamRequest):
    """A request of a logged-in member of a team: what a view behind `team_required` (or
    `role_required`) gets. Annotate such views' `request` with it."""

    team: Team
    membership: Membership
    user: User
