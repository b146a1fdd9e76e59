from __future__ import annotations

import re
from decimal import Decimal

import pytest

from jobs.models import Job
from tests.factories import make_job, make_version
from tests.matching import search

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_models(monkeypatch, openai_fake):
    """The launch form lists models through the provider: point it at the OpenAI fake."""
    from jobs import services

    original = services.connection_fine_tunable_models

    def with_fake(*, connection, client=None):
        return original(connection=connection, client=openai_fake.client())

    monkeypatch.setattr(services, "connection_fine_tunable_models", with_fake)
    return openai_fake


def launch_data(version, connection, **extra):
    data = {
        "version": version.id,
        "connection": connection.id,
        "base_model": "gpt-4o-mini-2024-07-18",
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "suffix": "",
        "seed": "",
        "launch_token": "a" * 32,
    }
    data.update(extra)
    return data


def test_the_form_starts_on_auto_defaults_and_shows_the_cost(
    alice_client, version, openai_connection, fake_models
):
    response = alice_client.get(f"/jobs/new/?version={version.id}&connection={openai_connection.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('value="auto"') == 3
    assert "How many times the model reads the whole dataset" in html
    # 1,200 tokens, auto epochs for 12 examples = 8 (OpenAI's rule), $3 per million.
    assert "9,600" in html
    assert "$0.03" in html
    assert "estimated duration" in html


def test_only_fine_tunable_models_of_the_provider_are_offered(
    alice_client, version, openai_connection, fake_models
):
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert '<option value="gpt-4o-mini-2024-07-18"' in html
    assert "dall-e-3" not in html
    # In the fake's list too, but retired for fine-tuning on 2026-10-23 (the catalogue's table).
    assert "gpt-4.1-nano-2025-04-14" not in html


def test_only_frozen_versions_are_listed_and_the_others_explained(
    alice_client, team, version, openai_connection, fake_models
):
    draft = make_version(team, name="unreviewed-set", frozen=False)
    html = alice_client.get(f"/jobs/new/?connection={openai_connection.id}").content.decode()
    assert "support-bot v1" in html
    assert "unreviewed-set" not in html
    assert "1 other version is not frozen yet" in html
    response = alice_client.post("/jobs/new/", launch_data(draft, openai_connection))
    assert Job.objects.count() == 0
    assert "Select a valid choice" in response.content.decode()


def test_the_estimate_fragment_follows_the_epochs_field(
    alice_client, version, openai_connection, fake_models
):
    response = alice_client.get(
        "/jobs/new/estimate/",
        {**launch_data(version, openai_connection), "n_epochs": "2"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "2,400" in html and "$0.01" in html
    assert "<html" not in html


def test_an_unreachable_provider_is_explained(alice_client, version, openai_connection, fake_models):
    fake_models.fail_next(
        times=10,
        status=401,
        body={"error": {"message": "Incorrect API key provided: sk-...", "type": "invalid_request_error"}},
    )
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert "could not reach OpenAI" in html
    assert "refused the API key" in html


def test_a_launch_creates_the_job_and_redirects_to_its_page(
    alice_client, version, openai_connection, fake_models, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(
            "/jobs/new/", launch_data(version, openai_connection, n_epochs="3", suffix="bot-1")
        )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.id}/"
    assert job.hyperparameters == {"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert job.suffix == "bot-1"
    assert job.estimated_cost_usd == Decimal("0.0100")
    assert len(callbacks) == 1  # the submit task starts after the commit


def test_a_double_click_on_launch_makes_one_job(
    alice_client, version, openai_connection, fake_models, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        first = alice_client.post("/jobs/new/", launch_data(version, openai_connection))
        second = alice_client.post("/jobs/new/", launch_data(version, openai_connection))
    assert Job.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_bad_hyperparameters_get_a_sentence_and_keep_the_input(
    alice_client, version, openai_connection, fake_models
):
    response = alice_client.post(
        "/jobs/new/",
        launch_data(
            version, openai_connection, n_epochs="many", learning_rate_multiplier="99", suffix="no spaces!"
        ),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Epochs must be &quot;auto&quot; or a number." in html
    assert "between 0.01 and 10.0" in html
    assert "Use only letters, digits" in html
    assert 'value="many"' in html
    assert Job.objects.count() == 0


def test_a_reviewer_cannot_launch(bob_client, version, openai_connection, fake_models):
    assert bob_client.get("/jobs/new/").status_code == 403
    assert bob_client.post("/jobs/new/", launch_data(version, openai_connection)).status_code == 403
    assert Job.objects.count() == 0


def test_over_budget_a_launcher_is_told_to_ask_an_owner(
    lena_client, team, version, openai_connection, fake_models
):
    team.monthly_budget_usd = Decimal("0.01")
    team.save()
    html = lena_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert "ask an owner" in html.lower()
    assert 'name="confirm_over_budget"' not in html
    response = lena_client.post(
        "/jobs/new/", launch_data(version, openai_connection, confirm_over_budget="on")
    )
    assert "Ask an owner of your team to confirm it" in response.content.decode()
    assert Job.objects.count() == 0


def test_over_budget_an_owner_must_tick_the_confirmation(
    alice_client, team, version, openai_connection, fake_models, django_capture_on_commit_callbacks
):
    team.monthly_budget_usd = Decimal("0.01")
    team.save()
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert 'name="confirm_over_budget"' in html
    response = alice_client.post("/jobs/new/", launch_data(version, openai_connection))
    assert "tick the confirmation box" in response.content.decode()
    assert Job.objects.count() == 0
    with django_capture_on_commit_callbacks():
        response = alice_client.post(
            "/jobs/new/", launch_data(version, openai_connection, confirm_over_budget="on")
        )
    assert response.status_code == 302
    assert Job.objects.count() == 1


def test_the_budget_counts_this_months_earlier_jobs(
    alice_client, team, version, openai_connection, fake_models
):
    team.monthly_budget_usd = Decimal("5.00")
    team.save()
    make_job(
        team, version, openai_connection, estimated_cost_usd=Decimal("4.99"), status=Job.Status.SUCCEEDED
    )
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert "over its monthly budget" in html


def test_relaunch_prefills_the_same_version_and_settings_on_another_connection(
    alice_client, team, version, openai_connection, together_connection, fake_models
):
    job = make_job(
        team,
        version,
        openai_connection,
        hyperparameters={"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": "auto"},
        suffix="again",
        seed=11,
        status=Job.Status.SUCCEEDED,
    )
    page = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert f'href="/jobs/new/?from={job.id}"' in page
    html = alice_client.get(f"/jobs/new/?from={job.id}").content.decode()
    assert f'<option value="{version.id}" selected' in html
    selected = search(r'name="connection".*?<option value="(\d+)" selected', html, re.S).group(1)
    assert int(selected) != openai_connection.id  # "on another provider"
    assert 'value="4"' in html and 'value="8"' in html and 'value="again"' in html and 'value="11"' in html
