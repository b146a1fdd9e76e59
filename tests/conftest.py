"""Shared people and real processes for the whole suite.

alice owns the team, bob reviews in it, and charlie belongs to another team: everything of
alice's team must be a 404 for charlie.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client

from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, team_create, user_create

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


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


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return _client_for(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie) -> Client:
    return _client_for(charlie)


def database_url_for_children() -> str:
    """The URL of the database the tests use (the test database), for worker subprocesses."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess on the test database and the test broker."""

    def __init__(self, queues: str, concurrency: int, log_path: Path, extra_env: dict | None = None):
        self.log_path = log_path
        env = dict(os.environ, DATABASE_URL=database_url_for_children(), PYTHONUNBUFFERED="1")
        env.update(extra_env or {})
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fineweb",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            self.name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        self._log = open(log_path, "wb")
        # A new session, so SIGKILL in a test reaches the whole worker (parent and pool children).
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash or OOM would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


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


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
