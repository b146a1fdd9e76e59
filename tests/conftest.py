"""Shared people and real processes for the whole suite.

alice owns the team, bob reviews in it, and charlie belongs to another team: everything of
alice's team must be a 404 for charlie. Helpers live in tests/factories.py, tests/processes.py
and tests/fakes/; this file only holds fixtures.
"""

from __future__ import annotations

import pytest
from django.test import Client

from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from onboarding.services import team_create
from tests.factories import PASSWORD, client_for
from tests.processes import WorkerProcess

# The providers' lifecycle dates (fineweb/lib/catalogue.py) are read against this "today", so the
# suite means the same on any day: OpenAI still takes jobs, gpt-4.1-nano is retired. Tests of the
# cut-offs pin other days with `settings.FINEWEB_TODAY`. Worker subprocesses read the variable.
SUITE_TODAY = "2026-12-01"


@pytest.fixture(autouse=True)
def lifecycle_today(settings, monkeypatch):
    settings.FINEWEB_TODAY = SUITE_TODAY
    monkeypatch.setenv("FINEWEB_TODAY", SUITE_TODAY)
    # Reported shutdown dates are read once per request or task; a test's rolled-back rows must
    # not stay read for the next test's direct catalogue calls.
    from fineweb.lifecycle import reported

    reported.forget()
    yield
    reported.forget()


@pytest.fixture(autouse=True)
def provider_network(settings, monkeypatch):
    """The suite's fake providers listen on loopback, which fineweb refuses by default
    (providers/netguard.py): tests allow loopback the way an operator allows a LAN server, for
    worker subprocesses too. tests/providers/test_ssrf*.py turn it off. No test sends a DNS
    query: names other than localhost do not resolve."""
    import socket

    from providers import netguard

    loopback = ["127.0.0.0/8", "::1/128"]
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = loopback
    monkeypatch.setenv("FINEWEB_PROVIDER_ALLOWED_NETWORKS", ",".join(loopback))

    def resolve_name(host: str, port: int) -> list[str]:
        if host.lower().rstrip(".") == "localhost":
            return ["127.0.0.1", "::1"]
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in tests")

    monkeypatch.setattr(netguard, "resolve_name", resolve_name)


@pytest.fixture
def alice(db):
    user = user_create(username="alice", password=PASSWORD)
    team_create(name="Alice's team", owner=user)
    return user


@pytest.fixture
def team(alice):
    return alice.memberships.get().team


@pytest.fixture
def bob(team):
    user = user_create(username="bob", password=PASSWORD)
    team_add_member(team=team, user=user, role=Membership.Role.REVIEWER)
    return user


@pytest.fixture
def charlie(db):
    user = user_create(username="charlie", password=PASSWORD)
    team_create(name="Charlie's team", owner=user)
    return user


@pytest.fixture
def alice_client(alice) -> Client:
    return client_for(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie) -> Client:
    return client_for(charlie)


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start real Celery workers: `start_worker(queues="default,training")` returns a WorkerProcess."""
    from fineweb.celery import app

    app.control.purge()  # tasks left over from earlier tests refer to rows that are gone
    workers: list[WorkerProcess] = []

    def start(
        queues: str = "default,training", concurrency: int = 1, extra_env: dict | None = None
    ) -> WorkerProcess:
        worker = WorkerProcess(queues, concurrency, tmp_path / f"worker-{len(workers)}.log", extra_env)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
