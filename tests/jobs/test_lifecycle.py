"""Provider lifecycle: models that can no longer be fine-tuned are never offered, launches after a
cut-off are refused with a sentence and alternatives, OpenAI pages carry the notice, and "Move
these jobs" relaunches frozen versions on another connection (issue 13, point 4)."""

from __future__ import annotations

from datetime import date

import pytest

from fineweb.lib import catalogue
from jobs.models import Job
from tests.factories import make_job
from tests.matching import search

pytestmark = pytest.mark.django_db

BEFORE = date(2026, 12, 1)
AFTER_CUTOFF = date(2027, 1, 7)


# --- the dated table ------------------------------------------------------------------------


def test_the_last_day_for_new_jobs_is_the_6th_and_the_7th_is_refused():
    assert catalogue.can_fine_tune("openai", "gpt-4o-mini", today=date(2027, 1, 6))
    assert not catalogue.can_fine_tune("openai", "gpt-4o-mini", today=AFTER_CUTOFF)
    assert catalogue.cutoff_refusal("openai", "gpt-4o-mini", today=date(2027, 1, 6)) == ""
    refusal = catalogue.cutoff_refusal("openai", "gpt-4o-mini", today=AFTER_CUTOFF)
    assert "no new fine-tuning jobs since 7 January 2027" in refusal
    assert "Together AI" in refusal and "local provider" in refusal


def test_a_retired_model_is_refused_and_the_refusal_lists_what_still_fine_tunes():
    refusal = catalogue.cutoff_refusal("openai", "gpt-4.1-nano-2025-04-14", today=BEFORE)
    assert "retired for fine-tuning on 23 October 2026" in refusal
    for name in catalogue.offered_models("openai", today=BEFORE):
        assert name in refusal
    assert "gpt-4.1-nano-2025-04-14" not in catalogue.offered_models("openai", today=BEFORE)
    # The day before it retired, it was still offered.
    assert catalogue.can_fine_tune("openai", "gpt-4.1-nano-2025-04-14", today=date(2026, 10, 22))


def test_dates_hold_at_their_own_provider_only():
    # A compatible server serving a model of that name is not shut down by OpenAI.
    assert catalogue.can_fine_tune("openai_compatible", "gpt-4o-mini", today=AFTER_CUTOFF)
    assert catalogue.retirement("openai_compatible", "gpt-4o-mini") is None
    assert catalogue.retirement("openai", "ft:gpt-4o-mini-2024-07-18:acme::x") == date(2027, 1, 14)
    assert catalogue.retirement("local", "SmolLM2-135M-Instruct") is None


def test_the_retirement_sentence_changes_tense_on_the_day():
    model = "gpt-4o-2024-08-06"
    assert "is retired on 14 January 2027" in catalogue.retirement_sentence("openai", model, today=BEFORE)
    assert "was retired on 14 January 2027" in catalogue.retirement_sentence(
        "openai", model, today=date(2027, 1, 14)
    )
    assert catalogue.retirement_sentence("together", "meta-llama/Meta-Llama-3.1-8B-Instruct") == ""


def test_a_shutdown_date_the_provider_reports_wins_over_the_table():
    model = "gpt-4.1-mini-2025-04-14"
    assert catalogue.can_fine_tune("openai", model, today=BEFORE)
    catalogue.shutdown_reported("openai", model, date(2026, 11, 30))
    assert catalogue.retirement("openai", model) == date(2026, 11, 30)
    assert not catalogue.can_fine_tune("openai", model, today=BEFORE)


def test_the_mapping_takes_the_first_model_the_target_offers():
    offered = ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"]
    assert (
        catalogue.mapped_model("gpt-4o-mini", "together", offered)
        == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    )
    assert catalogue.mapped_model("gpt-4o-mini", "together", ["Qwen/Qwen2.5-7B-Instruct"]) == (
        "Qwen/Qwen2.5-7B-Instruct"
    )
    assert catalogue.mapped_model("gpt-4o-mini", "openai_compatible", ["my-model"]) is None
    assert catalogue.mapped_model("my-model", "openai_compatible", ["my-model"]) == "my-model"


# --- the forms never offer what can't be fine-tuned -----------------------------------------


def test_the_upload_form_offers_no_retired_model(alice_client, settings):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    html = alice_client.get("/datasets/upload/").content.decode()
    assert 'value="gpt-4o-mini-2024-07-18"' in html
    assert 'value="gpt-4.1-nano-2025-04-14"' not in html
    assert 'value="gpt-3.5-turbo-0125"' not in html
    settings.FINEWEB_TODAY = AFTER_CUTOFF.isoformat()
    html = alice_client.get("/datasets/upload/").content.decode()
    assert 'value="gpt-4o-mini-2024-07-18"' not in html and 'value="SmolLM2-135M-Instruct"' in html


@pytest.fixture
def fake_models(monkeypatch, openai_fake, together_fake):
    """The launch form lists models through the provider: point each kind at its fake."""
    from django.core.cache import cache

    from jobs import services

    cache.clear()
    original = services.connection_fine_tunable_models

    def with_fake(*, connection, client=None):
        fake = together_fake if connection.kind == "together" else openai_fake
        return original(connection=connection, client=fake.client())

    monkeypatch.setattr(services, "connection_fine_tunable_models", with_fake)
    yield openai_fake
    cache.clear()


def test_the_launch_form_on_openai_offers_no_retired_model_and_shows_the_notice(
    alice_client, settings, version, openai_connection, fake_models
):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    fake_models.models.append(
        {"id": "gpt-3.5-turbo-0125", "object": "model", "created": 1, "owned_by": "system"}
    )
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert '<option value="gpt-4o-mini-2024-07-18"' in html
    assert "gpt-4.1-nano" not in html and "gpt-3.5-turbo" not in html
    notice = search(r'data-testid="lifecycle-notice">([^<]*)', html).group(1)
    assert "no new fine-tuning jobs after 6 January 2027" in notice
    assert "stop answering on 14 January 2027" in notice
    assert 'href="/jobs/move/"' in html


def test_a_model_the_provider_reports_shut_down_is_not_offered(
    alice_client, settings, version, openai_connection, fake_models
):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    fake_models.models[0]["shutdown_date"] = "2026-11-15"
    html = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    assert '<option value="gpt-4o-mini-2024-07-18"' not in html
    assert "offers no model that can be fine-tuned" in html


def test_a_launch_after_the_cutoff_is_refused_with_the_reason_and_nothing_is_created(
    alice_client, settings, version, openai_connection, fake_models
):
    settings.FINEWEB_TODAY = date(2027, 1, 6).isoformat()  # the page still lists the model
    page = alice_client.get(
        f"/jobs/new/?version={version.id}&connection={openai_connection.id}"
    ).content.decode()
    token = search(r'name="launch_token" value="([0-9a-f]+)"', page).group(1)
    settings.FINEWEB_TODAY = AFTER_CUTOFF.isoformat()  # ...and the post comes a day later
    response = alice_client.post(
        "/jobs/new/",
        {
            "version": version.id,
            "connection": openai_connection.id,
            "base_model": "gpt-4o-mini-2024-07-18",
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "launch_token": token,
        },
    )
    assert response.status_code == 200
    assert "OpenAI takes no new fine-tuning jobs since 7 January 2027" in response.content.decode()
    assert not Job.objects.exists()


# --- the job page and "Move these jobs" ------------------------------------------------------


def test_an_openai_fine_tune_shows_when_it_stops_answering(
    alice_client, settings, team, version, openai_connection
):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    job = make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.SUCCEEDED,
        fine_tuned_model="ft:gpt-4o-mini-2024-07-18:acme::Ab<script>",
    )
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    notice = search(r'data-testid="lifecycle-notice">(.*?)</p>', html).group(1)
    assert "is retired on 14 January 2027" in notice and "6 January 2027" in notice
    assert "<script>" not in notice and "&lt;script&gt;" in notice
    assert f'href="/jobs/move/?ids={job.id}"' in notice


def test_a_local_job_has_no_notice(alice_client, team, version):
    from providers.models import Connection

    local = Connection.objects.get(team=team, kind="local")
    job = make_job(team, version, local, base_model="fineweb-tiny", status=Job.Status.SUCCEEDED)
    assert 'data-testid="lifecycle-notice"' not in alice_client.get(f"/jobs/{job.id}/").content.decode()


def test_moving_jobs_relaunches_the_frozen_version_with_mapped_settings(
    alice_client, settings, team, version, openai_connection, together_connection, fake_models
):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    source = make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.SUCCEEDED,
        hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5, "weird_knob": 7},
        suffix="support",
        seed=11,
    )
    page = alice_client.get("/jobs/move/").content.decode()
    assert f'value="{source.id}"' in page and f'value="{together_connection.id}"' in page
    assert f'value="{openai_connection.id}"' not in page  # no moving onto the provider that stops
    response = alice_client.post("/jobs/move/", {"ids": [source.id], "target": together_connection.id})
    assert response.status_code == 200
    moved = Job.objects.exclude(id=source.id).get()
    assert moved.connection == together_connection
    assert moved.dataset_version == version
    assert moved.base_model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    assert moved.hyperparameters == {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}
    assert (moved.suffix, moved.seed) == ("support", 11)
    html = response.content.decode()
    assert f'href="/jobs/{moved.id}/"' in html
    assert "weird_knob = 7" in search(r'data-testid="unmapped">(.*?)</ul>', html).group(1)
    # Moving again returns the same job, not a second one.
    alice_client.post("/jobs/move/", {"ids": [source.id], "target": together_connection.id})
    assert Job.objects.count() == 2


def test_a_job_without_a_mapping_is_not_moved_and_the_page_says_why(
    alice_client, settings, team, version, openai_connection, fake_models
):
    settings.FINEWEB_TODAY = BEFORE.isoformat()
    from tests.factories import make_connection

    server = make_connection(
        team, kind="openai_compatible", name="Our vLLM", base_url="https://vllm.example.com/v1"
    )
    fake_models.models[:] = [{"id": "my-model", "object": "model", "created": 1, "owned_by": "me"}]
    source = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    html = alice_client.post("/jobs/move/", {"ids": [source.id], "target": server.id}).content.decode()
    assert Job.objects.count() == 1
    unmapped = search(r'data-testid="unmapped">(.*?)</ul>', html).group(1)
    assert "gpt-4o-mini-2024-07-18" in unmapped and "Our vLLM" in unmapped
    assert f"/jobs/new/?from={source.id}&amp;connection={server.id}" in html


def test_moving_needs_a_job_and_a_connection(alice_client, team, version, openai_connection):
    response = alice_client.post("/jobs/move/", {})
    assert response.status_code == 400
    assert "Tick at least one job to move." in response.content.decode()


def test_only_launchers_move_and_another_teams_job_is_a_404(
    alice_client, bob_client, charlie, team, version, openai_connection, together_connection
):
    from tests.factories import make_connection, make_version

    other_team = charlie.memberships.get().team
    theirs = make_job(other_team, make_version(other_team), make_connection(other_team), status="succeeded")
    response = alice_client.post("/jobs/move/", {"ids": [theirs.id], "target": together_connection.id})
    assert response.status_code == 404
    assert bob_client.get("/jobs/move/").status_code == 403  # a reviewer
    assert bob_client.post("/jobs/move/", {"target": together_connection.id}).status_code == 403
    assert Job.objects.filter(team=team).count() == 0
