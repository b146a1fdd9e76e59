"""Fixtures of the jobs tests: a frozen dataset version, provider connections, fakes."""

from __future__ import annotations

import pytest

from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from tests.factories import PASSWORD, client_for, make_connection, make_version
from tests.fakes.openai import FakeOpenAI
from tests.fakes.together import TOGETHER_KEY, FakeTogether


@pytest.fixture
def version(team):
    return make_version(team)


@pytest.fixture
def openai_fake():
    return FakeOpenAI()


@pytest.fixture
def together_fake():
    return FakeTogether()


@pytest.fixture
def openai_connection(team):
    return make_connection(team)


@pytest.fixture
def together_connection(team):
    return make_connection(team, kind="together", name="Together", api_key=TOGETHER_KEY)


@pytest.fixture
def lena(team):
    """A launcher: may launch, but not approve going over the budget."""
    user = user_create(username="lena", password=PASSWORD)
    team_add_member(team=team, user=user, role=Membership.Role.LAUNCHER)
    return user


@pytest.fixture
def lena_client(lena):
    return client_for(lena)


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def fast_retries(monkeypatch):
    """The adapters' retry policy without its sleeps (the fakes fail on cue, no need to wait)."""
    from jobs import services
    from providers.http import RetryPolicy

    original = services.connection_get_provider

    def no_sleep(*, connection, client=None, retry=None):
        return original(
            connection=connection, client=client, retry=RetryPolicy(max_attempts=2, sleep=lambda s: None)
        )

    monkeypatch.setattr(services, "connection_get_provider", no_sleep)
