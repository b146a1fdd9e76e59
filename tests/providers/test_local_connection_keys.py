"""Each team's built-in local provider connection speaks with a key of its own: encrypted at rest,
never shown or logged, and opening that team's local jobs only (the real local provider, reached
in-process as the dashboard reaches it)."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from jobs.imports import connection_import_jobs
from jobs.models import Job
from providers.errors import NotFound
from providers.models import Connection
from providers.services import connection_get_provider, connection_test
from tests.factories import FACTORIES, build_world, food_lines

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_team(charlie):
    return charlie.memberships.get().team


def local_of(team) -> Connection:
    return Connection.objects.get(team=team, kind="local")


def launch(team, path, key: str) -> str:
    """A local job of `team`, made through its connection as the dashboard does; returns its id."""
    provider = connection_get_provider(connection=local_of(team))
    file_id = provider.upload_file(path=path).id
    return provider.create_job(
        model="fineweb-tiny", training_file_id=file_id, hyperparameters={}, idempotency_key=key
    ).id


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(food_lines(4))
    return path


def test_importing_history_on_a_local_connection_brings_none_of_another_teams_jobs(
    team, other_team, train_file, charlie_client
):
    theirs = launch(team, train_file, "fineweb-a")
    mine = launch(other_team, train_file, "fineweb-b")
    counts = connection_import_jobs(connection=local_of(other_team))  # what the import task runs
    assert counts == {"seen": 1, "created": 1}
    assert list(Job.objects.filter(team=other_team).values_list("provider_job_id", flat=True)) == [mine]
    assert not Job.objects.filter(provider_job_id=theirs).exists()
    # and the page's button for it is refused outright for a local connection
    charlie_client.post(reverse("imports:start", args=[local_of(other_team).id]))
    assert Job.objects.filter(team=other_team).count() == 1


def test_another_teams_local_job_and_model_are_not_found_through_the_adapter(team, other_team, train_file):
    theirs = launch(team, train_file, "fineweb-a")
    provider = connection_get_provider(connection=local_of(other_team))
    with pytest.raises(NotFound):
        provider.get_job(theirs)
    with pytest.raises(NotFound):
        provider.cancel_job(theirs)
    assert provider.find_job_by_idempotency_key("fineweb-a") is None
    assert connection_get_provider(connection=local_of(team)).get_job(theirs).status == "validating_files"


def _every_page(patterns, namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns not in ("admin", "localtuner"):
                yield from _every_page(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), list(entry.pattern.converters)


def test_no_page_and_no_log_line_shows_a_teams_local_key(team, alice, alice_client, caplog, train_file):
    caplog.set_level(logging.DEBUG)
    local = local_of(team)
    key = local.api_key()
    world = build_world(team, alice)
    launch(team, train_file, "fineweb-pages")
    ok, _ = connection_test(connection=local)
    assert ok
    world["connection"] = local
    seen = 0
    for name, params in sorted({(n, tuple(p)) for n, p in _every_page(get_resolver().url_patterns)}):
        url = reverse(name, kwargs={p: FACTORIES[p](world) for p in params})
        response = alice_client.get(url, {"connection": local.id})
        # Iterating the response reads an async stream too (compare's server-sent events).
        body = b"".join(response) if response.streaming else response.content
        assert key.encode() not in body, url
        seen += response.status_code == 200
    test = alice_client.post(reverse("providers:test", args=[local.id]), headers={"HX-Request": "true"})
    assert test.status_code == 200 and b"The key works" in test.content and key.encode() not in test.content
    assert b"built in" in alice_client.get(reverse("providers:list")).content
    assert seen >= 10
    assert key not in caplog.text and key[9:] not in caplog.text


def test_no_database_column_holds_a_local_key_in_plain_text(team, other_team, train_file):
    launch(team, train_file, "fineweb-columns")
    if connection.vendor != "postgresql":
        pytest.skip("reads whole rows as text, a PostgreSQL cast")
    keys = [local_of(t).api_key() for t in (team, other_team)]
    tables = connection.introspection.table_names()
    assert {"providers_connection", "localtuner_localapikey", "localtuner_localjob"} <= set(tables)
    with connection.cursor() as cursor:
        for table in tables:
            for key in keys:
                # the whole row as text: every column, JSON included
                cursor.execute(f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE %s', [f"%{key[9:]}%"])
                assert cursor.fetchone()[0] == 0, table
    assert settings.FINEWEB_LOCAL_API_KEY not in keys
