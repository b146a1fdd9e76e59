from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

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


class TeamError(Exception):
    """A change to a team's members that the rules refuse; the message is for the page."""


GENERATED_PASSWORD_BYTES = 12  # secrets.token_urlsafe: 16 characters


def _locked(membership: Membership) -> Membership:
    """The membership again, with its team's row locked first: two owners changing each other at
    once are taken one after the other, so the "last owner" check cannot pass for both."""
    Team.objects.select_for_update().get(pk=membership.team_id)
    return Membership.objects.select_related("user", "team").get(pk=membership.pk)


def _owners_left(team: Team, *, without: Membership) -> int:
    return team.memberships.filter(role=Membership.Role.OWNER).exclude(pk=without.pk).count()


def team_member_add(*, team: Team, username: str, role: str) -> tuple[Membership, str]:
    """A new account ``username`` in ``team`` with ``role`` and a generated password, returned once
    (the page shows it to the owner to hand over; only its hash is stored). A username that exists
    on this server is refused, also when it belongs to another team: an owner can neither pull in
    nor find out about another team's people beyond "taken"."""
    if role not in Membership.Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    taken = TeamError(f"The username {username} is already taken on this server; pick another.")
    if User.objects.filter(username__iexact=username).exists():
        raise taken
    try:
        with transaction.atomic():
            user = user_create(username=username, password=password)
            membership = Membership.objects.create(team=team, user=user, role=role)
    except IntegrityError as exc:  # the same name added by someone else a moment ago
        raise taken from exc
    return membership, password


def team_member_set_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; the team's last owner stays an owner."""
    if role not in Membership.Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    with transaction.atomic():
        locked = _locked(membership)
        if (
            locked.is_owner
            and role != Membership.Role.OWNER
            and not _owners_left(locked.team, without=locked)
        ):
            raise TeamError(
                f"{locked.user.username} is the team's only owner; make someone else an owner first."
            )
        locked.role = role
        locked.save(update_fields=["role"])
    return locked


def team_member_remove(*, membership: Membership) -> None:
    """Take a member out of the team (their account stays, with no access to its data). The last
    owner cannot be removed."""
    with transaction.atomic():
        locked = _locked(membership)
        if locked.is_owner and not _owners_left(locked.team, without=locked):
            raise TeamError(f"{locked.user.username} is the team's only owner and cannot be removed.")
        locked.delete()
