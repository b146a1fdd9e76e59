"""A run end to end through the services, against the OpenAI chat fake at the httpx transport."""

from __future__ import annotations

from collections import Counter

from evaluation import services
from evaluation.calls import Limit
from evaluation.models import Example, Result, Run, Verdict
from providers.services import connection_get_provider
from tests.evaluation.helpers import BASE, TUNED, german_tune, job_with_split, start_run
from tests.fakes.chat import ChatFake


def providers_for(job, fake):
    return {job.connection.id: connection_get_provider(connection=job.connection, client=fake.client())}


def test_a_run_scores_both_models_and_says_the_difference(team, alice):
    job = job_with_split(team)
    run = start_run(team, alice, job, short_prompt="Deutsch.")
    assert run.n_examples == 10 and run.calls_total == 20
    assert [m["label"] for m in run.estimate["models"]] == ["Base", "Fine-tune"]
    # The short prompt for the fine-tune is counted before the start: fewer input tokens.
    assert run.estimate["models"][1]["input_tokens"] < run.estimate["models"][0]["input_tokens"]
    fake = ChatFake(reply=german_tune)
    run = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert run is not None and run.status == Run.Status.SUCCEEDED
    assert Result.objects.filter(run=run).count() == 20
    comparisons = {c["key"]: c for c in run.summary["comparisons"]}
    lang = comparisons["language"]
    # Validation examples 10..19: Bremen is city 8, so example 18 stays English for the fine-tune.
    assert (lang["n"], lang["mean_a"], lang["mean_b"]) == (10, 0.0, 0.9)
    assert lang["sentence"].startswith("Fine-tune passes \u201cLanguage\u201d in 9 of 10 examples, Base in 0")
    assert "the difference is real" in lang["sentence"]
    assert run.summary["prompt_tokens"]["saved"] > 0
    # The system prompt each model got is the one sent.
    systems = {r.read().decode().count("Deutsch.") for r in fake.sent("POST", "/chat/completions")}
    assert systems == {0, 1}


def test_run_again_sends_nothing_twice(team, alice):
    job = job_with_split(team)
    run = start_run(team, alice, job)
    fake = ChatFake(reply=german_tune)
    providers = providers_for(job, fake)
    # A first worker got 7 replies stored before it died: they are never asked for again.
    first = ChatFake(reply=german_tune)
    session = services._Session(run, providers_for(job, first))
    for example in run.examples.all()[:7]:
        model = run.run_models.get(position=0)
        reply = session.provider(job.connection).chat(model=model.model, messages=example.messages)
        services.result_store(run=run, example=example, model=model, reply=reply, error=None, price=None)
    Run.objects.filter(id=run.id).update(status=Run.Status.RUNNING, heartbeat_at=None)
    services.run_execute(run_id=run.id, providers=providers)
    assert sum(fake.answered.values()) == 13
    assert Result.objects.filter(run=run).count() == 20
    # A finished run: another task for it does nothing.
    assert services.run_execute(run_id=run.id, providers=providers) is None
    assert sum(fake.answered.values()) == 13


def test_a_429_storm_loses_and_doubles_nothing(team, alice):
    job = job_with_split(team, n=60, validation=40)
    run = start_run(team, alice, job, limit=Limit(8, 100_000))
    fake = ChatFake(reply=german_tune, storm=0.4, retry_after="0.01", seed=7, delay_s=0.01)
    run = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert run is not None and run.status == Run.Status.SUCCEEDED
    assert fake.limited > 10  # it was a storm
    results = Result.objects.filter(run=run)
    assert results.count() == 80 and not results.exclude(error="").exists()
    per_pair = Counter((r.example_id, r.model_id) for r in results)
    assert set(per_pair.values()) == {1}
    # Each example x model was answered exactly once by the provider (429s are not answers).
    assert len(fake.answered) == 80 and set(fake.answered.values()) == {1}
    assert 1 < fake.max_in_flight <= 8


def test_concurrency_stays_under_the_connections_limit(team, alice):
    job = job_with_split(team, n=40, validation=30)
    run = start_run(team, alice, job, limit=Limit(3, 100_000))
    fake = ChatFake(reply=german_tune, delay_s=0.02)
    services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert fake.max_in_flight == 3


def test_a_provider_error_is_stored_as_a_sentence_and_left_out_of_the_statistics(team, alice):
    job = job_with_split(team)
    run = start_run(team, alice, job)
    fake = ChatFake(reply=german_tune)
    fake.fail_next(
        times=1,
        status=400,
        body={"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}},
        path_contains="chat",
    )
    run = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert run is not None
    failed = Result.objects.filter(run=run).exclude(error="")
    assert failed.count() == 1 and "rejected" in failed.get().error
    assert run.summary["errors"] == 1
    assert {c["n"] for c in run.summary["comparisons"] if c["key"] == "language"} == {9}


def test_cancel_stops_and_resume_asks_only_for_the_rest(team, alice):
    job = job_with_split(team)
    run = start_run(team, alice, job, limit=Limit(1, 100_000))
    fake = ChatFake(reply=german_tune)
    calls = {"n": 0}

    def reply(model, messages):
        calls["n"] += 1
        if calls["n"] == 5:
            services.run_cancel(run=run)
        return german_tune(model, messages)

    fake.reply = reply
    result = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert result is not None and result.status == Run.Status.CANCELLED
    stored = Result.objects.filter(run=run).count()
    assert 5 <= stored < 20
    services.run_resume(run=result)
    result = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert result is not None and result.status == Run.Status.SUCCEEDED
    assert Result.objects.filter(run=run).count() == 20
    assert sum(fake.answered.values()) == 20


def test_pairwise_judge_is_asked_twice_and_checked_against_blind_votes(team, alice, bob):
    job = job_with_split(team)

    def judge_or_reply(model, messages):
        if model == "judge-model":
            # A judge that prefers the German reply, wherever it is shown.
            body = messages[-1]["content"]
            a = body.split("Reply A:\n")[1].split("\n\nReply B:")[0]
            return "A" if " ist " in a else "B"
        return german_tune(model, messages)

    run = start_run(
        team,
        alice,
        job,
        judge={
            "mode": "pairwise",
            "connection": job.connection,
            "model": "judge-model",
            "rubric": "German wins.",
        },
    )
    assert run.calls_total == 20 + 20
    fake = ChatFake(reply=judge_or_reply)
    run = services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    assert run is not None and run.status == Run.Status.SUCCEEDED
    assert Verdict.objects.filter(run=run).count() == 20
    judge = run.summary["judge"]
    # Both orders agree on the 9 German examples; on the Bremen one both replies are English: B, B.
    assert judge["asked_twice"] == 10 and judge["self_agreement"] == 90.0
    assert judge["wins"] == {"0": 0, "1": 9, "tie": 1}
    assert judge["people"] is None
    # Blind votes: order drawn on the server; bob always votes for the German reply.
    for _ in range(10):
        vote = services.vote_next(run=run, user=bob)
        assert vote is not None
        replies = {r.model.position: r.reply for r in vote.example.results.select_related("model")}
        a_german = " ist " in replies[vote.first]
        services.vote_cast(vote=vote, outcome="a" if a_german else "b")
    assert services.vote_next(run=run, user=bob) is None
    run.refresh_from_db()
    people = run.summary["judge"]["people"]
    # The judge's "tie" on Bremen vs bob's pick of one of two English replies: 9 of 10 agree.
    assert people["n"] == 10 and people["percent"] == 90.0
    assert people["ci_low"] <= people["kappa"] <= people["ci_high"]


def test_regressions_are_sorted_by_the_drop(team, alice):
    job = job_with_split(team)

    def worse(model, messages):
        text = german_tune(BASE, messages)  # both English
        if model == TUNED and "Hamburg" in messages[-1]["content"]:
            return "Nope."
        return text

    run = start_run(team, alice, job, scorers=[{"kind": "contains"}, {"kind": "regex", "pattern": "city"}])
    fake = ChatFake(reply=worse)
    services.run_execute(run_id=run.id, providers=providers_for(job, fake))
    drops = list(Example.objects.filter(run=run, drop__gt=0).values_list("prompt", "drop"))
    assert drops == [("Tell me about Hamburg number 11.", 1.0)]
