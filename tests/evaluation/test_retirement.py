"""A run on a model the provider retires: the catalogue's sentence on the form and the run page;
a model already retired cannot be started."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from evaluation import services
from evaluation.models import Run
from tests.evaluation.helpers import BASE, TUNED, job_with_split, start_run
from tests.factories import make_connection

NANO = "gpt-4.1-nano-2025-04-14"  # retired on 23 October 2026 in the catalogue (the suite's today: 1 Dec)


def form_params(job, *, base=BASE, tuned=TUNED, connection=None):
    connection = connection or job.connection
    return {
        "job": job.id,
        "version": job.dataset_version.id,
        "split": "validation",
        "max_tokens": 64,
        "scorer_kinds": ["exact"],
        "language": "de",
        "m0_connection": connection.id,
        "m0_model": base,
        "m0_label": "Base",
        "m1_connection": connection.id,
        "m1_model": tuned,
        "m1_label": "Fine-tune",
    }


def test_a_model_about_to_retire_is_named_on_the_form_and_the_run_page(team, alice, alice_client):
    job = job_with_split(team)
    html = alice_client.get(reverse("evaluation:estimate"), form_params(job)).content.decode()
    assert "gpt-4o-mini-2024-07-18 is retired on 14 January 2027" in html
    assert f"{TUNED} is retired on 14 January 2027" in html
    assert "A run cannot be started" not in html
    run = start_run(team, alice, job)  # about to retire: it still starts
    page = alice_client.get(reverse("evaluation:detail", args=[run.id])).content.decode()
    assert 'data-testid="retirement"' in page
    assert "gpt-4o-mini-2024-07-18 is retired on 14 January 2027" in page


def test_a_retired_model_cannot_be_started_and_the_form_says_why(team, alice, alice_client):
    job = job_with_split(team)
    html = alice_client.get(reverse("evaluation:estimate"), form_params(job, base=NANO)).content.decode()
    assert f"{NANO} was retired on 23 October 2026" in html
    assert "A run cannot be started on a retired model" in html
    response = alice_client.post(reverse("evaluation:new"), form_params(job, base=NANO))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{NANO} was retired on 23 October 2026: the provider no longer serves it." in page
    assert "A run cannot be started on it" in page
    assert page.count('value="' + NANO + '"') == 1  # the form keeps what was typed
    assert not Run.objects.exists()


def test_the_judge_on_a_retired_model_is_refused_too(team, alice):
    job = job_with_split(team)
    with pytest.raises(ValidationError, match="was retired on 23 October 2026"):
        start_run(
            team,
            alice,
            job,
            judge={"mode": "pass_fail", "connection": job.connection, "model": NANO, "rubric": "German."},
        )
    assert not Run.objects.exists()


def test_after_the_shutdown_day_the_run_is_refused(team, alice, settings):
    job = job_with_split(team)
    settings.FINEWEB_TODAY = "2027-01-20"
    with pytest.raises(ValidationError, match="gpt-4o-mini-2024-07-18 was retired on 14 January 2027"):
        start_run(team, alice, job)


def test_a_compatible_server_serving_the_same_name_is_not_retired_by_openai(team, alice, alice_client):
    server = make_connection(
        team, kind="openai_compatible", name="Own server", base_url="http://127.0.0.1:9/v1"
    )
    job = job_with_split(team, connection=server)
    html = alice_client.get(reverse("evaluation:estimate"), form_params(job, base=NANO)).content.decode()
    assert "retired" not in html
    run = start_run(team, alice, job, scorers=[{"kind": "exact"}])
    assert services.run_retirement_notices(run) == []
