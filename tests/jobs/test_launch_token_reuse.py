"""A launch token another team already used gets the form back with a sentence, never a 500
(idempotency keys stay unique across teams: they are sent to providers, where two teams may
share an account)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from providers.models import Connection
from tests.factories import make_job, make_version

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef0123456789abcdef"


def launch_data(version, connection, token=TOKEN):
    return {
        "version": version.id,
        "connection": connection.id,
        "base_model": "fineweb-tiny",
        "n_epochs": "1",
        "batch_size": "1",
        "learning_rate_multiplier": "auto",
        "suffix": "",
        "seed": "",
        "launch_token": token,
    }


def test_a_token_another_team_used_gets_the_form_back_with_a_sentence(team, charlie, charlie_client):
    ours = make_version(team)
    make_job(team, ours, Connection.objects.get(team=team, kind="local"), idempotency_key=f"fineweb-{TOKEN}")
    other_team = charlie.memberships.get().team
    theirs = make_version(other_team, name="charlie-data")
    local = Connection.objects.get(team=other_team, kind="local")

    response = charlie_client.post("/jobs/new/", launch_data(theirs, local))

    assert response.status_code == 200
    assert "This launch form was already used" in response.content.decode()
    assert not Job.objects.filter(team=other_team).exists()
    # A fresh form (a new token) launches.
    fresh = charlie_client.post("/jobs/new/", launch_data(theirs, local, token="f" * 32))
    assert fresh.status_code == 302
    assert Job.objects.filter(team=other_team).count() == 1


def test_the_same_team_posting_its_token_twice_gets_its_first_job(team, alice_client):
    version = make_version(team)
    local = Connection.objects.get(team=team, kind="local")
    first = alice_client.post("/jobs/new/", launch_data(version, local))
    second = alice_client.post("/jobs/new/", launch_data(version, local))
    assert first.status_code == 302 and second["Location"] == first["Location"]
    assert Job.objects.filter(team=team).count() == 1
