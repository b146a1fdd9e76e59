"""The judge against people: the compare screen's blind votes on the run's pairs count too."""

from __future__ import annotations

import math

from compare import services as compare_services
from compare.models import Reply
from compare.models import Vote as CompareVote
from evaluation import services
from evaluation.models import Run
from providers.services import connection_get_provider
from tests.evaluation.helpers import BASE, TUNED, german_tune, job_with_split, start_run
from tests.factories import client_for, make_connection
from tests.fakes.chat import ChatFake


def judged_run(team, alice):
    """A pairwise-judged run of 10 validation examples (numbers 10-19): the judge prefers the
    German reply, so it says "1" (the fine-tune) on 9 of them and "tie" on Bremen (both English)."""
    job = job_with_split(team)

    def judge_or_reply(model, messages):
        if model == "judge-model":
            body = messages[-1]["content"]
            a = body.split("Reply A:\n")[1].split("\n\nReply B:")[0]
            return "A" if " ist " in a else "B"
        return german_tune(model, messages)

    run = start_run(
        team,
        alice,
        job,
        judge={"mode": "pairwise", "connection": job.connection, "model": "judge-model", "rubric": "German."},
    )
    fake = ChatFake(reply=judge_or_reply)
    providers = {job.connection.id: connection_get_provider(connection=job.connection, client=fake.client())}
    run = services.run_execute(run_id=run.id, providers=providers)
    assert run is not None and run.status == Run.Status.SUCCEEDED
    assert run.summary["judge"]["wins"] == {"0": 0, "1": 9, "tie": 1}
    return job, run


def blind_vote(team, user, connection, *, prompt, models, pick, texts=("Eins.", "Zwei.")):
    """A blind comparison of `models` (list of two ids) on `prompt`, both replies complete, and
    `user`'s vote for `pick` (a model id, "tie" or "both_bad"), whatever order was drawn."""
    conversation = compare_services.conversation_create(
        team=team,
        user=user,
        columns=[compare_services.ColumnSpec(connection=connection, model=m) for m in models],
        message=prompt,
        blind=True,
    )
    replies = list(Reply.objects.filter(turn__conversation=conversation).select_related("column"))
    for reply, text in zip(sorted(replies, key=lambda r: r.column.model), texts, strict=True):
        reply.text, reply.status = text, Reply.Status.COMPLETE
        reply.save(update_fields=["text", "status"])
    columns = list(conversation.columns.order_by("position"))
    outcome = pick if pick in ("tie", "both_bad") else "a" if columns[0].model == pick else "b"
    return compare_services.vote_cast(conversation=conversation, user=user, outcome=outcome)


def test_compare_votes_on_the_same_pairs_count_with_the_runs_own(team, alice, bob, charlie):
    job, run = judged_run(team, alice)
    conn = job.connection
    # Counted: the same two models on an example's prompt (extra spaces do not matter).
    blind_vote(team, alice, conn, prompt="Tell me about  Berlin number 10.", models=[BASE, TUNED], pick=TUNED)
    blind_vote(
        team, alice, conn, prompt="Tell me about Hamburg number 11.\n", models=[TUNED, BASE], pick=BASE
    )
    blind_vote(team, bob, conn, prompt="Tell me about Munich number 12.", models=[BASE, TUNED], pick=TUNED)
    blind_vote(team, alice, conn, prompt="Tell me about Bremen number 18.", models=[BASE, TUNED], pick="tie")
    # Left out: a reply names its model (the leaderboard leaves it out too) ...
    leaked = blind_vote(
        team,
        bob,
        conn,
        prompt="Tell me about Cologne number 13.",
        models=[BASE, TUNED],
        pick=BASE,
        texts=("I am gpt-4o-mini-2024-07-18; Köln ist schön.", "Köln ist schön."),
    )
    assert leaked.leaked
    # ... another pair (the base against another fine-tune), a prompt that is no example's,
    # a prompt of the run on the training split, and the same pair and prompt in another team.
    blind_vote(
        team, alice, conn, prompt="Tell me about Dresden number 16.", models=[BASE, "ft:other"], pick=BASE
    )
    blind_vote(team, bob, conn, prompt="Tell me about Leipzig number 99.", models=[BASE, TUNED], pick=BASE)
    blind_vote(team, bob, conn, prompt="Tell me about Berlin number 0.", models=[BASE, TUNED], pick=BASE)
    other_team = charlie.memberships.get().team
    other_conn = make_connection(other_team)
    blind_vote(
        other_team,
        charlie,
        other_conn,
        prompt="Tell me about Munich number 12.",
        models=[BASE, TUNED],
        pick=BASE,
    )
    # A vote on the run's own examples: bob gets example 0 (Berlin 10) and picks the German reply.
    vote = services.vote_next(run=run, user=bob)
    assert vote is not None and vote.example.prompt == "Tell me about Berlin number 10."
    replies = {r.model.position: r.reply for r in vote.example.results.select_related("model")}
    services.vote_cast(vote=vote, outcome="a" if " ist " in replies[vote.first] else "b")

    run.refresh_from_db()
    judge = run.summary["judge"]
    assert judge["sources"] == {"run": 1, "compare": 4, "compare_leaked": 1}
    people = judge["people"]
    # (people, judge): Berlin (1, 1) twice, Hamburg (0, 1), Munich (1, 1), Bremen (tie, tie).
    po = 4 / 5
    pe = (3 * 4 + 1 * 0 + 1 * 1) / 25  # people "1"=3, "0"=1, "tie"=1; judge "1"=4, "tie"=1
    assert people["n"] == 5 and math.isclose(people["percent"], 80.0)
    assert math.isclose(people["kappa"], (po - pe) / (1 - pe))
    assert people["ci_low"] <= people["kappa"] <= people["ci_high"]


def test_the_run_page_recounts_after_a_compare_vote_and_shows_each_source(team, alice):
    job, run = judged_run(team, alice)
    client = client_for(alice)
    page = client.get(f"/evaluation/{run.id}/").content.decode()
    assert "No blind votes on these pairs yet" in page
    assert "0 cast on this run" in page and "0 from blind comparisons" in page
    blind_vote(
        team,
        alice,
        job.connection,
        prompt="Tell me about Hamburg number 11.",
        models=[BASE, TUNED],
        pick=BASE,
    )
    blind_vote(
        team,
        alice,
        job.connection,
        prompt="Tell me about Munich number 12.",
        models=[BASE, TUNED],
        pick=TUNED,
    )
    page = client.get(f"/evaluation/{run.id}/").content.decode()
    assert "Against 2 blind votes of your team, the judge agrees 50% of the time" in page
    assert "0 cast on this run's examples, 2 from blind comparisons" in page
    run.refresh_from_db()
    assert run.summary["judge"]["compare_vote_id"] == CompareVote.objects.latest("id").id
    assert run.summary["judge"]["people"]["n"] == 2
