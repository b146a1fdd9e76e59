"""Rows the jobs tests stand on: frozen dataset versions, provider connections, fakes."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from datasets_app.models import Blob, Dataset, DatasetVersion
from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from jobs.models import Job
from tests.conftest import PASSWORD, _client_for
from tests.providers.fakes import OPENAI_KEY, TOGETHER_KEY, FakeOpenAI, FakeTogether

CHAT_LINES = [
    {
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": str(2 * i)},
        ]
    }
    for i in range(12)
]


def blob_from_lines(lines: list[dict]) -> Blob:
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    sha = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(sha256=sha, defaults={"size": len(content)})
    blob.path.parent.mkdir(parents=True, exist_ok=True)
    blob.path.write_bytes(content)
    return blob


def make_version(
    team,
    *,
    name="support-bot",
    method="supervised",
    frozen=True,
    split=False,
    n_examples=12,
    tokens=1200,
    lines=CHAT_LINES,
    target_model="gpt-4o-mini-2024-07-18",
):
    dataset = Dataset.objects.create(team=team, name=name, method=method, target_model=target_model)
    blob = blob_from_lines(lines)
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        blob=blob,
        status=DatasetVersion.Status.VALID,
        report={
            "errors": [],
            "warnings": [],
            "stats": {"n_examples": n_examples, "total_tokens": tokens, "tokens_capped_total": tokens},
        },
        frozen_at=timezone.now() if frozen else None,
    )
    if split:
        version.train_blob = blob_from_lines(lines[:-2])
        version.validation_blob = blob_from_lines(lines[-2:])
        version.save()
    return version


def make_connection(team, *, kind="openai", name="OpenAI", api_key=OPENAI_KEY, base_url=""):
    from providers.services import connection_create

    return connection_create(team=team, user=None, kind=kind, name=name, api_key=api_key, base_url=base_url)


def make_job(team, version, connection, **fields) -> Job:
    defaults = {
        "base_model": "gpt-4o-mini-2024-07-18",
        "hyperparameters": {"n_epochs": "auto"},
        "status": Job.Status.DRAFT,
        "estimated_cost_usd": Decimal("1.00"),
    }
    defaults.update(fields)
    return Job.objects.create(team=team, dataset_version=version, connection=connection, **defaults)


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
    return _client_for(lena)


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
