from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from fineweb.accounts.models import Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def team_add_member(*, team: Team, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def user_create(*, username: str, password: str, email: str = "") -> User:
    return User.objects.create_user(username=username, password=password, email=email)
