"""Fixtures of the review tests: a second reviewer (dora), a launcher (lena), a version in review."""

from __future__ import annotations

import pytest

from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from tests.factories import PASSWORD, client_for, review_version


@pytest.fixture
def dora(team):
    user = user_create(username="dora", password=PASSWORD)
    team_add_member(team=team, user=user, role=Membership.Role.REVIEWER)
    return user


@pytest.fixture
def lena(team):
    user = user_create(username="lena", password=PASSWORD)
    team_add_member(team=team, user=user, role=Membership.Role.LAUNCHER)
    return user


@pytest.fixture
def dora_client(dora):
    return client_for(dora)


@pytest.fixture
def lena_client(lena):
    return client_for(lena)


@pytest.fixture
def in_review(team, alice):
    """A valid 12-example version of alice's team whose review has started (rows built inline)."""
    return review_version(team=team, user=alice)
