"""Reads for the compare pages: the model picker, a conversation's screen, history, pairs, leaderboard."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from django.db.models import Prefetch, QuerySet

from compare.models import Column, Conversation, Reply, Vote
from compare.services import reply_summary
from datasets_app.lines import example_lines
from fineweb.accounts.models import Team
from fineweb.lib import catalogue, stats
from jobs.models import Job
from providers.errors import ProviderError
from providers.models import Connection
from providers.services import connection_get_provider

logger = logging.getLogger("fineweb.compare")

MAX_HELD_OUT_PROMPTS = 25


@dataclass(frozen=True)
class ModelChoice:
    value: str  # "<connection id>:<model id>", what the form posts
    label: str
    group: str


def model_choice_value(connection_id: int, model: str) -> str:
    return f"{connection_id}:{model}"


def model_choices(team: Team, *, list_from_providers: bool = True) -> tuple[list[ModelChoice], list[str]]:
    """Every model the team can pick: each job's base model, fine-tuned model and checkpoints, and
    the models each connection lists. Returns (choices, notes): a connection that cannot list its
    models gives a sentence in notes instead of failing the page."""
    choices: list[ModelChoice] = []
    seen: set[str] = set()
    notes: list[str] = []

    def add(connection: Connection, model: str, label: str, group: str) -> None:
        value = model_choice_value(connection.id, model)
        if model and value not in seen:
            seen.add(value)
            choices.append(ModelChoice(value=value, label=label, group=group))

    jobs = (
        Job.objects.filter(team=team)
        .select_related("connection")
        .prefetch_related("checkpoints")
        .order_by("-created")[:50]
    )
    for job in jobs:
        group = f"Job {job.id}: {job.suffix or job.base_model} ({job.connection.name})"
        if job.fine_tuned_model:
            add(job.connection, job.fine_tuned_model, f"{job.fine_tuned_model} (fine-tuned)", group)
        add(job.connection, job.base_model, f"{job.base_model} (base)", group)
        for checkpoint in job.checkpoints.all():
            if checkpoint.model_name:
                add(job.connection, checkpoint.model_name, f"checkpoint at step {checkpoint.step}", group)
    for connection in Connection.objects.filter(team=team).order_by("kind", "name"):
        if not list_from_providers:
            continue
        try:
            provider = connection_get_provider(connection=connection, budget="interactive")
            models = provider.list_models()
        except ProviderError as exc:
            notes.append(f"{connection.name}: its models could not be listed. {exc.user_message}")
            continue
        for model in models:
            add(connection, model.id, model.id, f"{connection.name} ({connection.get_kind_display()})")
    return choices, notes


def job_defaults(job: Job) -> list[str]:
    """The picker's preselection from a job: its base model, then its fine-tuned model."""
    values = [model_choice_value(job.connection_id, job.base_model)]
    if job.fine_tuned_model:
        values.append(model_choice_value(job.connection_id, job.fine_tuned_model))
    return values


def held_out_prompts(job: Job, *, limit: int = MAX_HELD_OUT_PROMPTS) -> list[dict[str, str]]:
    """Prompts of the job's validation split: the system prompt and the last user message before
    the last assistant answer of each example ([] when the version has no validation split)."""
    blob = job.dataset_version.validation_blob if job.dataset_version else None
    if blob is None:
        return []
    prompts: list[dict[str, str]] = []
    with blob.open() as f:
        for number, raw in example_lines(f):
            if raw is None:
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            messages = data.get("messages") if isinstance(data, dict) else None
            if not isinstance(messages, list):
                continue
            system = next(
                (m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"), ""
            )
            users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            if not users or not isinstance(users[-1].get("content"), str):
                continue
            user = users[-1]["content"]
            prompts.append(
                {
                    "line": str(number),
                    "system": system if isinstance(system, str) else "",
                    "message": user,
                    "label": f"Line {number}: {user[:80]}",
                }
            )
            if len(prompts) >= limit:
                break
    return prompts


def team_conversations(team: Team) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(team=team)
        .select_related("created_by")
        .prefetch_related(Prefetch("columns", queryset=Column.objects.select_related("connection")), "votes")
    )


def _prompt_savings(columns: list[Column], replies: list[Reply]) -> dict[int, dict[str, Any]]:
    """Per column: prompt tokens saved against the column with the longest prompt (count and %).

    Measured from the tokens each provider reported for this turn; the same user message and
    history go to every column, so the difference is the system prompt."""
    counts = {r.column_id: r.prompt_tokens for r in replies if r.prompt_tokens}
    if len(counts) < 2:
        return {}
    longest = max(counts.values())
    out = {}
    for column_id, count in counts.items():
        saved = longest - count
        if saved > 0:
            out[column_id] = {"saved": saved, "percent": round(100 * saved / longest)}
    return out


def conversation_screen(conversation: Conversation, *, user_id: int | None) -> dict[str, Any]:
    """Everything the conversation page shows: columns (names hidden in blind mode before the
    vote), one row per turn with each column's reply, and the vote state."""
    columns = list(conversation.columns.select_related("connection"))
    revealed = conversation.revealed
    turns = list(conversation.turns.prefetch_related("replies"))
    rows = []
    for turn in turns:
        by_column = {r.column_id: r for r in turn.replies.all()}
        replies = [by_column[c.id] for c in columns if c.id in by_column]
        savings = _prompt_savings(columns, replies)
        rows.append(
            {
                "turn": turn,
                "cells": [
                    {
                        "column": c,
                        "reply": by_column.get(c.id),
                        "saving": savings.get(c.id),
                        "cost": _cost(by_column.get(c.id), c.model if revealed else "this model"),
                    }
                    for c in columns
                    if c.id in by_column
                ],
            }
        )
    last = turns[-1] if turns else None
    last_replies = list(last.replies.all()) if last else []
    busy = any(not r.is_finished for r in last_replies)
    my_vote = None
    votes = list(conversation.votes.all())
    if user_id is not None and last is not None:
        my_vote = next((v for v in votes if v.turn_id == last.id and v.voter_id == user_id), None)
    can_vote = (
        conversation.blind
        and last is not None
        and my_vote is None
        and len(last_replies) == 2
        and all(r.status == Reply.Status.COMPLETE for r in last_replies)
    )
    return {
        "conversation": conversation,
        "columns": [
            {
                "column": c,
                "name": c.model if revealed else f"Model {c.label}",
                "connection": c.connection.name if revealed else "hidden until you vote",
                # When the provider stops serving it (after the vote only: the date names a provider).
                "retirement": catalogue.retirement_sentence(c.connection.kind, c.model) if revealed else "",
            }
            for c in columns
        ],
        "rows": rows,
        "revealed": revealed,
        "busy": busy,
        "can_vote": can_vote,
        "my_vote": my_vote,
        "votes": votes,
        "pending_streams": [
            {"reply": r.id, "column": r.column_id}
            for r in last_replies
            if r.status in (Reply.Status.PENDING, Reply.Status.STREAMING)
        ],
    }


def _cost(reply: Reply | None, model_name: str) -> str:
    return reply.cost_text(model_name) if reply is not None else ""


def reply_state(reply: Reply) -> dict[str, Any]:
    return reply_summary(reply)


def team_votes(team: Team) -> list[Vote]:
    return list(Vote.objects.filter(conversation__team=team).order_by("created", "id"))


def leaderboard(team: Team) -> dict[str, Any]:
    """Pair records and Bradley-Terry ratings over the team's votes; leaked votes are counted apart."""
    votes = team_votes(team)
    # A model against itself (the same model with two system prompts) rates nothing.
    same = [v for v in votes if v.model_a == v.model_b]
    counted = [
        stats.Vote(a=v.model_a, b=v.model_b, outcome=v.outcome)
        for v in votes
        if not v.leaked and v.model_a != v.model_b
    ]
    return {
        "pairs": stats.pair_records(counted),
        "ratings": stats.bradley_terry(counted) if counted else [],
        "n_votes": len(votes),
        "n_counted": len(counted),
        "n_leaked": sum(1 for v in votes if v.leaked),
        "n_same": len(same),
    }


def normalise_prompt(text: str) -> str:
    """A prompt as compared across apps: runs of whitespace as one space, no leading or trailing."""
    return " ".join(text.split())


@dataclass(frozen=True)
class PairVote:
    """One counted blind vote of the compare screen, told in terms of the pair asked about."""

    vote_id: int
    prompt: str  # the turn's user message, normalised (`normalise_prompt`)
    winner: str  # "first", "second", "tie" or "both_bad"


def blind_votes_on_pair(
    *, team: Team, first: tuple[int, str], second: tuple[int, str], prompts: set[str]
) -> tuple[list[PairVote], int]:
    """The team's blind votes on turns that put the models `first` and `second` ((connection id,
    model id), in either order on the screen) side by side on one of `prompts` (normalised), and
    how many such votes were left out because a reply named its model (as the leaderboard leaves
    them out). Other teams' votes, other pairs and other prompts are never read."""
    if first == second or not prompts:
        return [], 0
    models = {first[1], second[1]}
    votes = (
        Vote.objects.filter(
            conversation__team=team,
            conversation__blind=True,
            conversation__columns__model__in=models,
        )
        .distinct()
        .select_related("turn")
        .prefetch_related(
            Prefetch("conversation__columns", queryset=Column.objects.order_by("position"), to_attr="ordered")
        )
        .order_by("id")
    )
    counted: list[PairVote] = []
    leaked = 0
    for vote in votes:
        columns = vote.conversation.ordered  # type: ignore[attr-defined]
        if len(columns) != 2:
            continue
        shown = [(c.connection_id, c.model) for c in columns]  # A, B as the voter saw them
        if shown == [first, second]:
            mapping = {"a": "first", "b": "second"}
        elif shown == [second, first]:
            mapping = {"a": "second", "b": "first"}
        else:
            continue
        prompt = normalise_prompt(vote.turn.message)
        if prompt not in prompts:
            continue
        if vote.leaked:
            leaked += 1
            continue
        counted.append(PairVote(vote.id, prompt, mapping.get(vote.outcome, vote.outcome)))
    return counted, leaked


def latest_blind_vote_id(team: Team) -> int:
    """The id of the team's newest blind vote (0 when none): a page can tell whether a summary
    built from the votes is out of date with one indexed query."""
    return (
        Vote.objects.filter(conversation__team=team).order_by("-id").values_list("id", flat=True).first() or 0
    )
