"""The run pages: start from a job, progress, results, regressions, exports, votes, scorecard;
roles, team isolation and escaping."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from evaluation import services
from evaluation.models import Run, Vote
from providers.services import connection_get_provider
from tests.evaluation.helpers import BASE, TUNED, german_tune, job_with_split, start_run
from tests.factories import client_for
from tests.fakes.chat import ChatFake


@pytest.fixture
def finished_run(team, alice):
    job = job_with_split(team)
    run = start_run(team, alice, job)
    fake = ChatFake(reply=german_tune)
    providers = {job.connection.id: connection_get_provider(connection=job.connection, client=fake.client())}
    return services.run_execute(run_id=run.id, providers=providers)


def test_the_form_starts_from_the_jobs_base_and_fine_tune_and_shows_the_estimate(team, alice, alice_client):
    job = job_with_split(team)
    page = alice_client.get(reverse("evaluation:new") + f"?job={job.id}").content.decode()
    assert f'value="{BASE}"' in page and f'value="{TUNED}"' in page
    params = {
        "version": job.dataset_version_id,
        "split": "validation",
        "max_tokens": 100,
        "language": "de",
        "m0_connection": job.connection_id,
        "m0_model": BASE,
        "m1_connection": job.connection_id,
        "m1_model": TUNED,
        "scorer_kinds": ["language"],
    }
    estimate = alice_client.get(reverse("evaluation:estimate"), params).content.decode()
    assert "20 calls" in estimate and "10 examples" in estimate
    # both are in the dated table: the fine-tune at its fine-tuned inference price (read 2025-06),
    # the base model at its own (2026-11)
    assert "prices of 2025-06" in estimate and "prices of 2026-11" in estimate
    assert "no price in the table" not in estimate
    response = alice_client.post(reverse("evaluation:new") + f"?job={job.id}", {**params, "job": job.id})
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("evaluation:detail", args=[run.id])
    assert run.job == job and run.calls_total == 20


@pytest.mark.parametrize(
    ("extra", "sentence"),
    [
        ({"scorer_kinds": ["regex"], "regex_pattern": "(oops"}, "cannot be read"),
        ({"scorer_kinds": ["json_schema"], "json_schema": "{not json"}, "not valid JSON"),
        ({"scorer_kinds": []}, "at least one scorer"),
        (
            {"scorer_kinds": ["exact"], "judge_mode": "score", "judge_model": "x"},
            "connection and name its model",
        ),
    ],
)
def test_bad_input_gets_a_sentence_and_keeps_the_form(team, alice_client, extra, sentence):
    job = job_with_split(team)
    params = {
        "version": job.dataset_version_id,
        "split": "validation",
        "max_tokens": 100,
        "language": "de",
        "m0_connection": job.connection_id,
        "m0_model": BASE,
        "m1_connection": job.connection_id,
        "m1_model": "my-model-kept",
        **extra,
    }
    response = alice_client.post(reverse("evaluation:new"), params)
    assert response.status_code == 200
    page = response.content.decode()
    assert sentence in page and "my-model-kept" in page
    assert not Run.objects.exists()


def test_results_table_regressions_and_exports(finished_run, alice_client):
    run = finished_run
    page = alice_client.get(reverse("evaluation:detail", args=[run.id])).content.decode()
    assert "Fine-tune passes \u201cLanguage\u201d in 9 of 10 examples" in page
    assert "<ins>" in page  # the fine-tune's words the base did not write are marked
    regressions = alice_client.get(
        reverse("evaluation:detail", args=[run.id]) + "?filter=regressions"
    ).content.decode()
    # The base contains the reference nowhere (English), so no regression on "contains" or language.
    assert "No example where the fine-tune does worse" in regressions
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(
                    alice_client.get(reverse("evaluation:export", args=[run.id, "csv"])).streaming_content
                ).decode()
            )
        )
    )
    assert len(rows) == 10 and rows[0]["Fine-tune language"] == "True" and rows[0]["Base language"] == "False"
    lines = (
        b"".join(alice_client.get(reverse("evaluation:export", args=[run.id, "jsonl"])).streaming_content)
        .decode()
        .splitlines()
    )
    assert [json.loads(line)["index"] for line in lines] == list(range(10))


def test_similar_training_examples_of_a_regression(finished_run, alice_client):
    page = alice_client.get(
        reverse("evaluation:similar", args=[finished_run.id]) + "?example=0"
    ).content.decode()
    # Validation example 0 is about Berlin (line 10); training lines 0..9 hold Berlin at line 0.
    assert "Tell me about Berlin number 0." in page


def test_the_job_page_loads_the_scorecard_of_its_latest_run(finished_run, alice_client):
    job = finished_run.job
    assert (
        reverse("evaluation:job_scorecard", args=[job.id])
        in alice_client.get(reverse("jobs:detail", args=[job.id])).content.decode()
    )
    card = alice_client.get(reverse("evaluation:job_scorecard", args=[job.id])).content.decode()
    assert reverse("evaluation:detail", args=[finished_run.id]) in card
    assert 'data-figure-source="scorecard-data"' in card and "9 of 10" in card


def test_blind_vote_hides_names_until_cast(finished_run, bob):
    client = client_for(bob)
    page = client.get(reverse("evaluation:vote", args=[finished_run.id])).content.decode()
    assert "Fine-tune" not in page.split("<h1>")[1] and TUNED not in page
    vote = Vote.objects.get(user=bob)
    response = client.post(
        reverse("evaluation:vote", args=[finished_run.id]), {"vote": vote.id, "outcome": "a"}, follow=True
    )
    assert "A was " in response.content.decode()
    vote.refresh_from_db()
    assert vote.outcome == "a" and vote.winner == str(vote.first)


def test_a_reviewer_cannot_start_or_stop_a_run(finished_run, bob):
    client = client_for(bob)
    assert client.get(reverse("evaluation:new")).status_code == 403
    assert client.post(reverse("evaluation:cancel", args=[finished_run.id])).status_code == 403
    assert client.get(reverse("evaluation:detail", args=[finished_run.id])).status_code == 200


def test_an_outsider_gets_404(finished_run, charlie_client):
    for url in (
        reverse("evaluation:detail", args=[finished_run.id]),
        reverse("evaluation:export", args=[finished_run.id, "jsonl"]),
        reverse("evaluation:vote", args=[finished_run.id]),
        reverse("evaluation:job_scorecard", args=[finished_run.job_id]),
        reverse("evaluation:new") + f"?job={finished_run.job_id}",
    ):
        assert charlie_client.get(url).status_code == 404, url
    assert finished_run.name not in charlie_client.get(reverse("evaluation:list")).content.decode()


def test_user_content_is_escaped(team, alice, alice_client):
    job = job_with_split(team)
    run = start_run(team, alice, job)
    fake = ChatFake(reply=lambda model, messages: "<script>alert(1)</script>")
    providers = {job.connection.id: connection_get_provider(connection=job.connection, client=fake.client())}
    services.run_execute(run_id=run.id, providers=providers)
    page = alice_client.get(reverse("evaluation:detail", args=[run.id])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
