"""The built-in local provider for real (never faked): fineweb-tiny as both models and the judge."""

from __future__ import annotations

from evaluation import services
from evaluation.models import Result, Run, Verdict
from jobs.models import Job
from providers.models import Connection
from tests.evaluation.helpers import lines
from tests.factories import blob_from_lines, make_job, make_version


def test_a_run_on_the_local_provider_with_fineweb_tiny_as_models_and_judge(team, alice):
    local = Connection.objects.get(team=team, kind="local")
    all_lines = lines(8)
    version = make_version(team, name="tiny", lines=all_lines, n_examples=8, target_model="fineweb-tiny")
    version.validation_blob = blob_from_lines(all_lines[4:])
    version.save()
    job = make_job(
        team,
        version,
        local,
        base_model="fineweb-tiny",
        status=Job.Status.SUCCEEDED,
        fine_tuned_model="fineweb-tiny",
    )
    long_prompt = "You are the city guide of the tourist office. " * 8
    run = services.run_create(
        team=team,
        user=alice,
        name="tiny",
        dataset_version=version,
        split="validation",
        models=[
            services.ModelChoice(
                connection=local, model="fineweb-tiny", label="Long prompt", system_prompt=long_prompt
            ),
            services.ModelChoice(
                connection=local, model="fineweb-tiny", label="Short prompt", system_prompt="Guide."
            ),
        ],
        scorers=[{"kind": "length"}, {"kind": "prompt_tokens"}, {"kind": "json_parses"}],
        judge={
            "mode": "pairwise",
            "connection": local,
            "model": "fineweb-tiny",
            "rubric": "The shorter reply wins.",
        },
        max_tokens=6,
        job=job,
    )
    assert run.estimate["models"][0]["free"] and run.estimate["calls"] == 16
    done = services.run_execute(run_id=run.id)  # the real adapter, in-process to the local API
    assert done is not None
    assert done.status == Run.Status.SUCCEEDED, done.error_message
    run = done
    results = Result.objects.filter(run=run)
    assert results.count() == 8 and not results.exclude(error="").exists()
    assert all(r.completion_tokens and 0 < r.completion_tokens <= 6 for r in results)
    assert all(r.cost_usd == 0 for r in results)
    saved = run.summary["prompt_tokens"]
    assert saved["saved"] > 50 and saved["saved_percent"] > 50  # counted by the local tokenizer
    assert Verdict.objects.filter(run=run).count() == 8  # asked twice per example
    judge = run.summary["judge"]
    assert judge["answers"] == 8  # a random tiny model rarely says A or B: what it said is kept
    assert judge["unreadable"] == Verdict.objects.filter(run=run, outcome="").count()
