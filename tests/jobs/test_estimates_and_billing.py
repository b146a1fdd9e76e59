"""Estimates that match what happens, and actual spend (issue 13, points 2 and 3).

The local provider's plan shown before launch is its own rule: the test trains the same file on
the real local trainer and compares. Its duration comes from the speed measured on earlier jobs
of that base model; a first run says it converts the model first. After a job, the provider's
billed figures (OpenAI trained_tokens x the dated price, Together's total_price) are stored and the
month's budget counts them for finished jobs and estimates for the rest."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import selectors, services
from jobs.models import Job
from providers.models import Connection
from tests.factories import good_lines, make_job, make_version
from tests.matching import search

pytestmark = pytest.mark.django_db

AUTO = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}


def local(team) -> Connection:
    return Connection.objects.get(team=team, kind="local")


def estimate(version, connection, model="fineweb-tiny", **hp):
    settings = {**AUTO, **hp}
    return selectors.launch_estimate(
        version=version,
        connection=connection,
        base_model=model,
        n_epochs=settings["n_epochs"],
        hyperparameters=settings,
    )


@pytest.mark.django_db(transaction=True)
def test_the_local_plan_shown_is_what_the_local_trainer_then_trains(team):
    from localtuner import services as local_services
    from localtuner.training import job_train

    lines = good_lines(7)  # 7 examples: OpenAI's rule would say 14 epochs, the local one says 8 on CPU
    version = make_version(team, lines=lines, n_examples=len(lines))
    shown = estimate(version, local(team))
    with version.blob.path.open("rb") as handle:
        content = handle.read()
    file_id = local_services.file_create(
        team_id=None, chunks=[content], filename="train.jsonl", purpose="fine-tune"
    ).public_id
    trained = local_services.job_create(
        team_id=None, model="fineweb-tiny", training_file=file_id, hyperparameters=dict(AUTO)
    )
    job_train(job_id=trained.pk)
    trained.refresh_from_db()
    assert trained.fine_tuned_model, trained.error
    steps = trained.events.filter(type="metrics").order_by("-step").values_list("step", flat=True).first()
    assert (shown.n_epochs, shown.batch_size, shown.steps) == (
        trained.hyperparameters["n_epochs"],
        trained.hyperparameters["batch_size"],
        steps,
    )
    from datasets_app.costs import default_epochs

    assert shown.n_epochs != default_epochs(len(lines))  # the local rule, not OpenAI's


def test_numbers_typed_in_are_kept_and_steps_follow_from_them(team):
    version = make_version(team, n_examples=12)
    shown = estimate(version, local(team), n_epochs="2", batch_size="5")
    assert (shown.n_epochs, shown.batch_size, shown.steps) == (2, 5, 6)  # ceil(12 / 5) x 2


def test_a_split_version_plans_on_its_training_part(team):
    version = make_version(team, n_examples=12, split=True)
    version.split_fraction = 0.2
    version.save()
    shown = estimate(version, local(team), n_epochs="1", batch_size="1")
    assert shown.steps == 12 - round(12 * 0.2)


def test_the_duration_comes_from_the_speed_measured_on_earlier_jobs(team, settings, tmp_path):
    settings.FINEWEB_MODEL_CACHE_DIR = tmp_path
    version = make_version(team, n_examples=12, tokens=1200)
    first = estimate(version, local(team))
    assert (
        "A first guess" in first.duration_note and first.seconds_high and first.seconds_high > first.seconds
    )
    now = timezone.now()
    for tokens, seconds in ((10_000, 10), (30_000, 30)):  # 1,000 tokens per second
        make_job(
            team,
            version,
            local(team),
            base_model="fineweb-tiny",
            status=Job.Status.SUCCEEDED,
            estimated_tokens=tokens,
            created=now,
            started_at=now - timedelta(seconds=seconds),
            finished_at=now,
        )
    Job.objects.update(created=now - timedelta(seconds=100))  # auto_now_add: set it afterwards
    measured = estimate(version, local(team))
    assert "1,000 tokens per second over its last 2 jobs" in measured.duration_note
    start_up = 100 - 30  # the shortest wait from launch to the first step
    assert measured.seconds == pytest.approx(start_up + measured.billed_tokens / 1000, abs=1)
    assert measured.seconds_high is None


def test_a_first_run_says_it_converts_the_model_and_how_long_it_took_last_time(team, settings, tmp_path):
    settings.FINEWEB_MODEL_CACHE_DIR = tmp_path
    version = make_version(team)
    shown = estimate(version, local(team), model="SmolLM2-135M-Instruct")
    assert "converts the model first" in shown.first_run_note
    (tmp_path / ".SmolLM2-135M-Instruct.conversion-seconds").write_text("80.0\n")
    again = estimate(version, local(team), model="SmolLM2-135M-Instruct")
    assert "that took 80 seconds last time" in again.first_run_note
    assert again.seconds - shown.seconds == 80


def test_the_launch_form_shows_the_local_plan(alice_client, team, settings, tmp_path):
    settings.FINEWEB_MODEL_CACHE_DIR = tmp_path
    version = make_version(team, n_examples=12)
    html = alice_client.get(
        f"/jobs/new/estimate/?version={version.id}&connection={local(team).id}&base_model=fineweb-tiny"
        "&n_epochs=auto&batch_size=auto&learning_rate_multiplier=auto"
    ).content.decode()
    plan = estimate(version, local(team))
    assert search(r'data-testid="estimated-epochs">(\d+)<', html).group(1) == str(plan.n_epochs)
    assert search(r'data-testid="estimated-steps">([\d,]+)<', html).group(1) == str(plan.steps)
    assert "converts the model first" in search(r'data-testid="first-run">([^<]*)<', html).group(1)


# --- actual spend -------------------------------------------------------------------------------


def test_an_openai_job_is_billed_its_trained_tokens_at_the_dated_price(
    team, version, openai_connection, openai_fake
):
    remote = openai_fake.add_job(status="succeeded")
    job = make_job(team, version, openai_connection, provider_job_id=remote["id"], status=Job.Status.RUNNING)
    services.job_sync(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.trained_tokens == remote["trained_tokens"]
    assert job.billed_cost_usd == (Decimal(remote["trained_tokens"]) * Decimal("3.00") / 1_000_000).quantize(
        Decimal("0.0001")
    )
    assert "per million" in job.billed_note and "2026-11" in job.billed_note
    assert job.trained_epochs == remote["hyperparameters"]["n_epochs"]


def test_a_together_job_is_billed_the_price_it_reports(team, version, together_connection, together_fake):
    remote = together_fake.add_job(status="completed", total_price=4_080_000_000, token_count=1_234_567)
    job = make_job(
        team, version, together_connection, provider_job_id=remote["id"], status=Job.Status.RUNNING
    )
    services.job_sync(job_id=job.id, client=together_fake.client())
    job.refresh_from_db()
    assert job.billed_cost_usd == Decimal("4.08")  # nanodollars
    assert "1,234,567 tokens" in job.billed_note


def test_the_budget_counts_billed_spend_of_finished_jobs_and_estimates_of_running_ones(
    alice_client, team, version, openai_connection
):
    make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.SUCCEEDED,
        estimated_cost_usd=Decimal("5"),
        billed_cost_usd=Decimal("3.25"),
        provider_job_id="a",
    )
    make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.RUNNING,
        estimated_cost_usd=Decimal("2"),
        billed_cost_usd=Decimal("1.00"),
        provider_job_id="b",
    )  # running: its estimate counts
    make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.SUCCEEDED,
        estimated_cost_usd=Decimal("4"),
        provider_job_id="c",
    )  # finished, bill unknown: its estimate
    parts = services.team_month_spend_parts(team=team)
    assert (parts.billed, parts.estimated) == (Decimal("3.25"), Decimal("6"))
    assert services.team_month_spend(team=team) == pytest.approx(9.25)
    html = alice_client.get(
        f"/jobs/new/estimate/?version={version.id}&connection={local(team).id}&n_epochs=auto"
    ).content.decode()
    spend = search(r'data-testid="month-spend">([^<]*)<', html).group(1)
    assert "$3.25 billed for finished jobs" in spend and "$6.00 estimated" in spend


def test_the_job_page_shows_the_estimate_next_to_what_happened(
    alice_client, team, version, openai_connection
):
    now = timezone.now()
    job = make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.SUCCEEDED,
        estimated_epochs=3,
        estimated_tokens=3600,
        estimated_seconds=700,
        trained_epochs=4,
        trained_tokens=5768,
        total_steps=120,
        billed_cost_usd=Decimal("0.0173"),
        billed_note="5,768 trained tokens as OpenAI reports them <script>",
        finished_at=now,
    )
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    table = search(r'data-testid="estimate-vs-actual">(.*?)</table>', html, 16).group(1)
    assert "<th>Epochs</th><td>3</td><td>4</td>" in table
    assert "5,768" in table and "3,600" in table and "120" in table
    assert "$0.02" in table and "&lt;script&gt;" in table and "<script>" not in table


# --- Together's own price estimate, once the files are uploaded -------------------------------

TOGETHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def test_together_s_own_estimate_replaces_the_table_s(team, version, together_connection, together_fake):
    together_fake.price_estimate = {
        "estimated_total_price": 2.5,
        "allowed_to_proceed": True,
        "user_limit": 100.0,
        "estimated_train_token_count": 123456,
        "estimated_eval_token_count": 0,
    }
    job = make_job(
        team, version, together_connection, base_model=TOGETHER_MODEL, estimated_cost_usd=Decimal("9")
    )
    services.job_submit(job_id=job.id, client=together_fake.client())
    job.refresh_from_db()
    assert job.estimated_cost_usd == Decimal("2.5") and "own estimate" in job.estimate_note
    assert job.provider_job_id in together_fake.jobs
    (asked,) = together_fake.estimate_requests
    assert asked["training_file"] == job.provider_training_file_id and asked["model"] == TOGETHER_MODEL
    assert asked["training_type"]["type"] == "Lora"


def test_a_job_over_the_account_limit_is_not_started_and_says_why(
    team, version, together_connection, together_fake
):
    together_fake.price_estimate = {
        "estimated_total_price": 250.0,
        "allowed_to_proceed": False,
        "user_limit": 50.0,
    }
    job = make_job(team, version, together_connection, base_model=TOGETHER_MODEL)
    services.job_submit(job_id=job.id, client=together_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "estimates $250.00" in job.error_message and "($50.00)" in job.error_message
    assert together_fake.jobs == {}


def test_a_key_without_the_estimate_keeps_the_table_s_figure(
    team, version, together_connection, together_fake
):
    job = make_job(
        team, version, together_connection, base_model=TOGETHER_MODEL, estimated_cost_usd=Decimal("9")
    )
    services.job_submit(job_id=job.id, client=together_fake.client())
    job.refresh_from_db()
    assert job.estimated_cost_usd == Decimal("9") and job.estimate_note == ""
    assert job.provider_job_id in together_fake.jobs
