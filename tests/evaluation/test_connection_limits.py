"""Requests at once and per minute are settings of the connection: its page, the run form, the run."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation import services
from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from providers.models import DEFAULT_LIMITS, Connection
from providers.services import connection_ensure_local, connection_limits_set
from tests.evaluation.helpers import job_with_split, read_validation
from tests.factories import PASSWORD, client_for, make_connection


def edit(client, connection, **fields):
    data = {"name": connection.name, "base_url": connection.base_url, "api_key": "", **fields}
    return client.post(reverse("providers:edit", args=[connection.id]), data)


def test_the_owner_sets_the_limits_on_the_connections_page_and_blank_means_the_kinds_default(
    team, alice_client
):
    openai = make_connection(team)
    page = alice_client.get(reverse("providers:edit", args=[openai.id])).content.decode()
    assert "Requests at once" in page and "Requests per minute" in page
    assert f'placeholder="{DEFAULT_LIMITS["openai"][0]}"' in page
    assert openai.request_limits == DEFAULT_LIMITS["openai"]

    response = edit(alice_client, openai, max_concurrent="2", per_minute="90")
    assert response.status_code == 302
    openai.refresh_from_db()
    assert (openai.max_concurrent, openai.per_minute) == (2, 90)
    assert services.connection_limit(openai) == services.Limit(2, 90)
    page = alice_client.get(reverse("providers:edit", args=[openai.id])).content.decode()
    assert 'value="2"' in page and 'value="90"' in page

    edit(alice_client, openai, max_concurrent="", per_minute="45")
    openai.refresh_from_db()
    assert openai.request_limits == (DEFAULT_LIMITS["openai"][0], 45)
    local = connection_ensure_local(team=team)
    assert local.request_limits == DEFAULT_LIMITS["local"] == (1, 600)


bad_numbers = st.one_of(
    st.integers(max_value=0).map(str),
    st.integers(min_value=65, max_value=10**12).map(str),
    st.text(alphabet="abc-.,e ", min_size=1, max_size=6).filter(lambda t: t.strip() != ""),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at_once=bad_numbers)
def test_a_bad_limit_gets_a_sentence_and_changes_nothing(team, alice_client, at_once):
    openai = Connection.objects.filter(team=team, kind="openai").first() or make_connection(team)
    connection_limits_set(connection=openai, max_concurrent=3, per_minute=70)
    response = edit(alice_client, openai, name="Renamed", max_concurrent=at_once, per_minute="70")
    assert response.status_code == 200
    assert "Requests at once" in response.content.decode()
    assert 'class="error"' in response.content.decode()
    openai.refresh_from_db()
    assert (openai.name, openai.max_concurrent, openai.per_minute) == ("OpenAI", 3, 70)


def test_only_an_owner_changes_the_limits(team):
    openai = make_connection(team)
    launcher = user_create(username="lena", password=PASSWORD)
    team_add_member(team=team, user=launcher, role=Membership.Role.LAUNCHER)
    assert edit(client_for(launcher), openai, max_concurrent="50").status_code == 403
    openai.refresh_from_db()
    assert openai.max_concurrent is None


def test_the_run_form_shows_the_connections_limits_and_the_time_at_that_rate(team, alice, alice_client):
    job = job_with_split(team)
    connection_limits_set(connection=job.connection, max_concurrent=2, per_minute=30)
    estimate = services.run_estimate(
        examples=read_validation(job),
        models=[
            services.ModelChoice(connection=job.connection, model=job.base_model, label="Base"),
            services.ModelChoice(connection=job.connection, model=job.fine_tuned_model, label="Tuned"),
        ],
        max_tokens=64,
    )
    # 10 examples x 2 models on one connection at 30 a minute: 40 seconds.
    assert estimate["limits"] == [
        {
            "connection": job.connection.name,
            "connection_id": job.connection.id,
            "calls": 20,
            "max_concurrent": 2,
            "per_minute": 30,
            "own": True,
            "minutes": 0.7,
            "time": "about 40 seconds",
        }
    ]
    assert estimate["time_at_rate_limit"] == "about 40 seconds"
    params = {
        "version": job.dataset_version.id,
        "split": "validation",
        "max_tokens": 64,
        "scorer_kinds": ["exact"],
        "language": "de",
        "m0_connection": job.connection.id,
        "m0_model": job.base_model,
        "m1_connection": job.connection.id,
        "m1_model": job.fine_tuned_model,
    }
    html = alice_client.get(reverse("evaluation:estimate"), params).content.decode()
    assert "at most 2 at once and 30 a minute (the connection's settings)" in html
    assert "about 40 seconds" in html
    assert reverse("providers:edit", args=[job.connection.id]) in html
    assert "m0_concurrent" not in alice_client.get(reverse("evaluation:new")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_run_forms_limits_onto_the_connection(team):
    kept = make_connection(team, name="Kept")
    untouched = make_connection(team, name="Untouched")
    executor = MigrationExecutor(db_connection)
    before = [("evaluation", "0001_initial"), ("providers", "0003_local_connection_keys")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    old_apps.get_model("evaluation", "ConnectionLimit").objects.create(
        connection_id=kept.id, max_concurrent=3, per_minute=77
    )
    executor = MigrationExecutor(db_connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    kept.refresh_from_db()
    untouched.refresh_from_db()
    assert (kept.max_concurrent, kept.per_minute) == (3, 77)
    assert (untouched.max_concurrent, untouched.per_minute) == (None, None)
    assert untouched.request_limits == DEFAULT_LIMITS["openai"]
