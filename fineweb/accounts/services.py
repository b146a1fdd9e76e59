from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from fineweb.accounts.models import Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()

# Apps that need per-team set-up (the local provider connection, ...) register a callable here
# from their AppConfig.ready(); team_create calls each with the new team.
TEAM_CREATED_HOOKS: list = []


@transaction.atomic
def team_create(*, name: str, owner: User) -> Team:
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    for hook in TEAM_CREATED_HOOKS:
        hook(team=team)
    return team


def team_add_member(*, team: Team, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def user_create(*, username: str, password: str, email: str = "") -> User:
    return User.objects.create_user(username=username, password=password, email=email)
