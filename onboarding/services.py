"""Creating a team: the one place that knows everything a new team starts with.

This app sits at the top of the dependency graph (it imports accounts, providers and datasets_app;
nothing imports it), so team creation is written out here instead of being lists of hooks that
other apps fill at start-up. See docs/architecture.md.
"""

from __future__ import annotations

from django.db import transaction

from datasets_app.demo import demo_dataset_create
from fineweb.accounts.models import Membership, Team
from providers.services import connection_ensure_local


def team_create(*, name: str, owner, with_demo_data: bool = False) -> Team:
    """A team with ``owner`` as its owner and its built-in local provider connection (a key of its
    own); with ``with_demo_data`` also the sample dataset, uploaded by the owner (the demo team)."""
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
        connection_ensure_local(team=team)
    if with_demo_data:
        demo_dataset_create(team=team, user=owner)
    return team
