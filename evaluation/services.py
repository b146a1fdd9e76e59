"""Evaluation runs: create (with the estimate), execute (resumable, concurrent), judge, summarize.

Reads of the results for pages live in `evaluation.selectors`; the statistics themselves in
`fineweb.lib.stats`. Only `providers/` knows a provider's wire format: calls go through
`Provider.chat(stream=False)`.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compare import selectors as compare_selectors
from datasets_app.lines import example_lines
from datasets_app.models import Blob, DatasetVersion
from datasets_app.tokens import MessageCounter
from evaluation import scorers as scoring
from evaluation.calls import Call, Limit, Outcome, run_calls
from evaluation.models import RUN_LEASE, Example, Result, Run, RunModel, Verdict, Vote
from fineweb.accounts.models import Team
from fineweb.lib import catalogue, diffing, stats
from fineweb.lib.catalogue import ChatPrice
from jobs.models import Job
from providers import prices
from providers.base import ChatReply
from providers.errors import ProviderError
from providers.http import RetryPolicy
from providers.models import Connection
from providers.services import connection_get_provider

logger = logging.getLogger("fineweb.evaluation")

MAX_EXAMPLES = 20_000
MAX_MODELS = 4
SPLITS = {"validation": "validation split", "train": "training split", "all": "whole file"}
JUDGE_MODES = ("score", "pass_fail", "pairwise")


@dataclass(frozen=True)
class ModelChoice:
    connection: Connection
    model: str
    label: str
    system_prompt: str = ""


# --- reading the examples ---------------------------------------------------------------------
def split_blob(version: DatasetVersion, split: str) -> Blob:
    if split == "validation":
        if version.validation_blob is None:
            raise ValidationError(
                "This dataset version has no validation split; split it first, or pick the whole file."
            )
        return version.validation_blob
    if split == "train":
        if version.train_blob is None:
            raise ValidationError(
                "This dataset version has no training split; split it first, or pick the whole file."
            )
        return version.train_blob
    return version.blob


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def parse_example(line: bytes) -> tuple[list[dict], str] | None:
    """(messages up to the reply, reference reply) of one JSONL line; None if it has no user turn."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("input"), dict):  # a preference pair: the preferred output is the reference
        messages = obj["input"].get("messages") or []
        preferred = obj.get("preferred_output") or []
        reference = (
            _text(preferred[-1].get("content")) if preferred and isinstance(preferred[-1], dict) else ""
        )
    else:
        messages = obj.get("messages") or []
        reference = ""
        if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            reference = _text(messages[-1].get("content"))
            messages = messages[:-1]
    messages = [
        {"role": m["role"], "content": _text(m.get("content"))}
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
    ]
    if not any(m["role"] == "user" for m in messages):
        return None
    return messages, reference


def read_examples(blob: Blob, *, limit: int = MAX_EXAMPLES) -> list[tuple[list[dict], str]]:
    out = []
    with blob.open() as f:
        for _, line in example_lines(f):
            if line is None:
                continue
            parsed = parse_example(line)
            if parsed is not None:
                out.append(parsed)
                if len(out) >= limit:
                    break
    return out


# The TF-IDF index of a version's training prompts, per process, by the sha256 of the file it was
# read from: a blob is never edited in place, so an entry never goes stale. Bounded by count: one
# index of 20,000 prompts holds a few MB of numpy arrays.
SIMILAR_INDEX_CACHE_SIZE = 8


@functools.lru_cache(maxsize=SIMILAR_INDEX_CACHE_SIZE)
def _training_index(sha256: str) -> tuple[list[str], diffing.TextIndex]:
    blob = Blob.objects.get(sha256=sha256)
    prompts = [_last_user(messages) for messages, _ in read_examples(blob)]
    return prompts, diffing.TextIndex(prompts)


def similar_training_examples(*, version: DatasetVersion, prompt: str, k: int = 3) -> list[dict[str, Any]]:
    """The `k` training prompts of `version` most like `prompt` (TF-IDF cosine), best first; the
    index is built once per file and process (`_training_index`)."""
    blob = version.train_blob or version.blob
    prompts, index = _training_index(blob.sha256)
    return [{"text": prompts[i], "score": score} for i, score in index.similar(prompt, k)]


def _last_user(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def messages_for(messages: list[dict], system_prompt: str) -> list[dict]:
    """The example's messages, with the model's own system prompt in place of the example's."""
    if not system_prompt:
        return messages
    return [{"role": "system", "content": system_prompt}, *[m for m in messages if m["role"] != "system"]]


# --- limits and prices --------------------------------------------------------------------------
def connection_limit(connection: Connection) -> Limit:
    """Requests at once and per minute for `connection`: the settings on its page (or its kind's
    default, `providers.models.DEFAULT_LIMITS`)."""
    return Limit(*connection.request_limits)


# --- retirement -----------------------------------------------------------------------------------
def retirement_notices(models: Iterable[tuple[Connection, str]]) -> list[str]:
    """The catalogue's sentence for each model the provider has retired or is about to retire
    (`fineweb.lib.catalogue.retirement_sentence`), once each."""
    out: list[str] = []
    for connection, model in models:
        sentence = catalogue.retirement_sentence(connection.kind, model)
        if sentence and sentence not in out:
            out.append(sentence)
    return out


def is_retired(connection: Connection, model: str) -> bool:
    day = catalogue.retirement(connection.kind, model)
    return day is not None and day <= catalogue.today()


def _refuse_retired(models: Iterable[tuple[Connection, str]]) -> None:
    for connection, model in models:
        if is_retired(connection, model):
            raise ValidationError(
                f"{catalogue.retirement_sentence(connection.kind, model)} A run cannot be started on it:"
                " pick another model, or another connection that serves it."
            )


def run_retirement_notices(run: Run, models: Sequence[RunModel] | None = None) -> list[str]:
    """The retirement sentences of a run's models (with their connections) and its judge."""
    models = models if models is not None else list(run.run_models.select_related("connection"))
    pairs = [(m.connection, m.model) for m in models]
    if run.judge.get("connection_id"):
        judge_connection = Connection.objects.filter(id=run.judge["connection_id"], team=run.team).first()
        if judge_connection is not None:
            pairs.append((judge_connection, run.judge["model"]))
    return retirement_notices(pairs)


def chat_price(connection: Connection, model: str) -> ChatPrice | None:
    if connection.is_local:
        return ChatPrice(Decimal("0"), Decimal("0"), "")
    return prices.chat_price(model)


def call_cost(
    price: ChatPrice | None, prompt_tokens: int | None, completion_tokens: int | None
) -> Decimal | None:
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (
        price.input_per_million * prompt_tokens + price.output_per_million * completion_tokens
    ) / 1_000_000


# --- the estimate -------------------------------------------------------------------------------
def run_estimate(
    *,
    examples: Sequence[tuple[list[dict], str]],
    models: Sequence[ModelChoice],
    max_tokens: int,
    judge: Mapping[str, Any] | None = None,
) -> dict:
    """Calls, tokens, cost and time per model before anything is sent (a plain dict for the page).

    Input tokens are counted on the messages each model will get (its system prompt included);
    output tokens are guessed as the reference answer's length, capped at `max_tokens`.
    """
    counter = MessageCounter("o200k_base")
    reference_tokens = sum(min(counter.text(ref), max_tokens) for _, ref in examples)
    per_connection_calls: dict[int, int] = {}
    rows = []
    for choice in models:
        input_tokens = sum(counter.messages(messages_for(m, choice.system_prompt)) for m, _ in examples)
        price = chat_price(choice.connection, choice.model)
        cost = call_cost(price, input_tokens, reference_tokens)
        per_connection_calls[choice.connection.id] = per_connection_calls.get(choice.connection.id, 0) + len(
            examples
        )
        rows.append(
            {
                "label": choice.label,
                "model": choice.model,
                "connection": choice.connection.name,
                "connection_id": choice.connection.id,
                "calls": len(examples),
                "input_tokens": input_tokens,
                "output_tokens": reference_tokens,
                "cost_usd": None if cost is None else f"{cost:.4f}",
                "price_as_of": price.as_of if price else None,
                "free": bool(
                    price is not None and price.input_per_million == 0 and price.output_per_million == 0
                ),
            }
        )
    judge_calls = 0
    if judge and judge.get("mode") in JUDGE_MODES:
        judge_calls = len(examples) * (2 if judge["mode"] == "pairwise" else len(models))
        judge_connection = judge["connection"]
        per_connection_calls[judge_connection.id] = (
            per_connection_calls.get(judge_connection.id, 0) + judge_calls
        )
    minutes = 0.0
    connections = {c.connection.id: c.connection for c in models}
    if judge and judge.get("connection") is not None:
        connections[judge["connection"].id] = judge["connection"]
    limit_rows = []
    for cid, calls in per_connection_calls.items():
        connection = connections.get(cid) or Connection.objects.get(id=cid)
        limit = connection_limit(connection)
        at_rate = calls / limit.per_minute
        minutes = max(minutes, at_rate)
        limit_rows.append(
            {
                "connection": connection.name,
                "connection_id": cid,
                "calls": calls,
                "max_concurrent": limit.max_concurrent,
                "per_minute": limit.per_minute,
                "own": connection.max_concurrent is not None or connection.per_minute is not None,
                "minutes": round(at_rate, 1),
                "time": duration_words(at_rate * 60),
            }
        )
    return {
        "examples": len(examples),
        "models": rows,
        "judge_calls": judge_calls,
        "calls": len(examples) * len(models) + judge_calls,
        "minutes_at_rate_limit": round(minutes, 1),
        "time_at_rate_limit": duration_words(minutes * 60),
        "limits": limit_rows,
        "retirement": retirement_notices(_pairs(models, judge)),
        "retired": any(is_retired(c, m) for c, m in _pairs(models, judge)),
    }


def _pairs(models: Sequence[ModelChoice], judge: Mapping[str, Any] | None) -> list[tuple[Connection, str]]:
    pairs = [(c.connection, c.model.strip()) for c in models]
    if judge and judge.get("connection") is not None and judge.get("model"):
        pairs.append((judge["connection"], str(judge["model"]).strip()))
    return pairs


def duration_words(seconds: float) -> str:
    """ "under a second", "about 40 seconds", "about 7 minutes", "about 2.5 hours"."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        n = round(seconds)
        return f"about {n} second{'s' if n != 1 else ''}"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


# --- create -------------------------------------------------------------------------------------
def _clean_judge(judge: Mapping[str, Any] | None, n_models: int) -> dict:
    if not judge or not judge.get("mode"):
        return {}
    mode = judge["mode"]
    if mode not in JUDGE_MODES:
        raise ValidationError("Pick how the judge grades: a score from 1 to 5, pass or fail, or pairwise.")
    rubric = str(judge.get("rubric", "")).strip()
    if not rubric:
        raise ValidationError("Write the rubric the judge grades the replies with.")
    if not judge.get("model"):
        raise ValidationError("Name the model that judges the replies.")
    return {
        "mode": mode,
        "rubric": rubric[:4000],
        "connection_id": judge["connection"].id,
        "model": str(judge["model"]),
    }


@transaction.atomic
def run_create(
    *,
    team: Team,
    user,
    name: str,
    dataset_version: DatasetVersion,
    split: str,
    models: Sequence[ModelChoice],
    scorers: Sequence[dict],
    judge: Mapping[str, Any] | None = None,
    max_tokens: int = 256,
    job: Job | None = None,
) -> Run:
    """A queued run with its examples read from the dataset version; the task starts on commit."""
    if dataset_version.dataset.team_id != team.id:
        raise ValidationError("This dataset version is not your team's.")
    if not 2 <= len(models) <= MAX_MODELS:
        raise ValidationError(f"Pick between 2 and {MAX_MODELS} models to compare.")
    for choice in models:
        if choice.connection.team_id != team.id:
            raise ValidationError("A connection of another team cannot be used.")
        if not choice.model.strip():
            raise ValidationError("Every model row needs a model name.")
    if judge and judge.get("connection") is not None and judge["connection"].team_id != team.id:
        raise ValidationError("A connection of another team cannot be used.")
    cleaned = [scoring.clean_config(dict(c)) for c in scorers]
    if len({c["kind"] for c in cleaned}) != len(cleaned):
        raise ValidationError("Each scorer can be used once per run.")
    _refuse_retired(_pairs(models, judge))
    judge_config = _clean_judge(judge, len(models))
    if not cleaned and not judge_config:
        raise ValidationError("Pick at least one scorer or the LLM judge.")
    if split not in SPLITS:
        raise ValidationError("Pick the validation split, the training split or the whole file.")
    examples = read_examples(split_blob(dataset_version, split))
    if not examples:
        raise ValidationError(
            "The chosen examples have no user message to send; pick another version or split."
        )
    estimate = run_estimate(
        examples=examples,
        models=models,
        max_tokens=max_tokens,
        judge={**judge_config, "connection": judge["connection"]} if judge_config and judge else None,
    )
    run = Run.objects.create(
        team=team,
        name=name.strip()[:200] or f"{dataset_version} ({SPLITS[split]})",
        job=job,
        dataset_version=dataset_version,
        split=split,
        scorers=cleaned,
        judge=judge_config,
        max_tokens=max_tokens,
        estimate=estimate,
        n_examples=len(examples),
        calls_total=estimate["calls"],
        created_by=user,
    )
    RunModel.objects.bulk_create(
        RunModel(
            run=run,
            position=i,
            connection=c.connection,
            model=c.model.strip(),
            label=c.label.strip()[:100] or c.model.strip()[:100],
            system_prompt=c.system_prompt,
        )
        for i, c in enumerate(models)
    )
    Example.objects.bulk_create(
        (
            Example(run=run, index=i, messages=m, prompt=_last_user(m), reference=ref)
            for i, (m, ref) in enumerate(examples)
        ),
        batch_size=1000,
    )
    run_enqueue(run=run)
    return run


def run_enqueue(*, run: Run) -> None:
    from evaluation.tasks import run_evaluation_task

    run_id = run.id
    transaction.on_commit(lambda: run_evaluation_task.delay(run_id))


# --- cancel / resume ----------------------------------------------------------------------------
def run_cancel(*, run: Run) -> None:
    updated = Run.objects.filter(id=run.id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
        status=Run.Status.CANCELLING
    )
    if not updated:
        raise ValidationError("This run is not running.")
    # A queued run no worker holds stops at once.
    Run.objects.filter(id=run.id, status=Run.Status.CANCELLING, heartbeat_at__isnull=True).update(
        status=Run.Status.CANCELLED, finished_at=timezone.now()
    )


@transaction.atomic
def run_resume(*, run: Run) -> None:
    updated = Run.objects.filter(id=run.id, status__in=[Run.Status.CANCELLED, Run.Status.FAILED]).update(
        status=Run.Status.QUEUED, error_message="", finished_at=None, heartbeat_at=None
    )
    if not updated:
        raise ValidationError("Only a stopped or failed run can be resumed.")
    run_enqueue(run=run)


def runs_resume_stalled() -> list[int]:
    """Runs whose worker stopped reporting (killed, lost) go to another worker: their ids."""
    stale = timezone.now() - RUN_LEASE
    ids = list(
        Run.objects.filter(
            Q(status__in=[Run.Status.RUNNING, Run.Status.CANCELLING], heartbeat_at__lt=stale)
            | Q(status=Run.Status.QUEUED, heartbeat_at__isnull=True, created__lt=stale)
        ).values_list("id", flat=True)
    )
    from evaluation.tasks import run_evaluation_task

    for run_id in ids:
        run_evaluation_task.delay(run_id)
    return ids


# --- execute ------------------------------------------------------------------------------------
def _claim(run_id: int) -> Run | None:
    """Take the run for this worker, unless another one holds a fresh lease."""
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(id=run_id).first()
        if run is None or run.status not in Run.ACTIVE:
            return None
        if run.status != Run.Status.QUEUED and run.heartbeat_at and run.heartbeat_at > now - RUN_LEASE:
            return None
        if run.status == Run.Status.CANCELLING:
            run.status = Run.Status.CANCELLED
            run.finished_at = now
            run.save(update_fields=["status", "finished_at"])
            return None
        done = _done_count(run)
        run.status = Run.Status.RUNNING
        run.heartbeat_at = now
        run.session_started_at = now
        run.session_calls_at_start = done
        run.calls_done = done
        run.save(
            update_fields=[
                "status",
                "heartbeat_at",
                "session_started_at",
                "session_calls_at_start",
                "calls_done",
            ]
        )
        return run


def _done_count(run: Run) -> int:
    return Result.objects.filter(run=run).count() + Verdict.objects.filter(run=run).count()


class _Session:
    """What one worker needs while it sends a run's calls (the loaded rows, providers, prices)."""

    def __init__(self, run: Run, providers: dict | None = None):
        self.run = run
        self.models = {m.id: m for m in run.run_models.select_related("connection")}
        self.providers = providers if providers is not None else {}
        self.prices = {m.id: chat_price(m.connection, m.model) for m in self.models.values()}
        # Hand over to a fresh task before Celery's time limit ends this one.
        self.deadline = time.monotonic() + max(30, settings.CELERY_TASK_SOFT_TIME_LIMIT - 60)
        self.out_of_time = False

    def provider(self, connection: Connection):
        if connection.id not in self.providers:
            self.providers[connection.id] = connection_get_provider(
                connection=connection, retry=RetryPolicy.background(max_attempts=3, max_retry_after=30.0)
            )
        return self.providers[connection.id]

    def heartbeat(self) -> None:
        done = _done_count(self.run)
        Run.objects.filter(id=self.run.id).update(heartbeat_at=timezone.now(), calls_done=done)

    def should_stop(self) -> bool:
        if time.monotonic() > self.deadline:
            self.out_of_time = True
            return True
        return (
            Run.objects.filter(id=self.run.id).values_list("status", flat=True).first() != Run.Status.RUNNING
        )


def run_execute(*, run_id: int, providers: dict | None = None) -> Run | None:
    """Send every missing call of the run, judge, summarize. Safe to call again at any moment:
    finished calls are stored and never sent again. `providers` (tests, benchmarks): connection id ->
    Provider to use instead of building one."""
    run = _claim(run_id)
    if run is None:
        return None
    session = _Session(run, providers)
    try:
        finished = _send_replies(session) and _send_judge(session)
    except Exception as exc:
        logger.exception("evaluation run %s failed", run_id)
        Run.objects.filter(id=run_id).update(
            status=Run.Status.FAILED,
            error_message=f"The run stopped on an unexpected error ({type(exc).__name__}).",
            finished_at=timezone.now(),
        )
        raise
    session.heartbeat()
    run.refresh_from_db()
    if not finished and session.out_of_time:
        # Not stopped by anyone: the next task carries on where this one stops.
        if Run.objects.filter(id=run_id, status=Run.Status.RUNNING).update(
            status=Run.Status.QUEUED, heartbeat_at=None
        ):
            run_enqueue(run=run)
        run.refresh_from_db()
        return run
    if not finished:
        Run.objects.filter(id=run_id, status__in=Run.ACTIVE).update(
            status=Run.Status.CANCELLED, finished_at=timezone.now()
        )
        run.refresh_from_db()
        return run
    run_summarize(run=run)
    Run.objects.filter(id=run_id, status=Run.Status.RUNNING).update(
        status=Run.Status.SUCCEEDED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def _send_replies(session: _Session) -> bool:
    run = session.run
    done = set(Result.objects.filter(run=run).values_list("example_id", "model_id"))
    examples = list(run.examples.only("id", "messages", "reference"))
    limits = {m.connection_id: connection_limit(m.connection) for m in session.models.values()}
    calls = []
    for model in sorted(session.models.values(), key=lambda m: m.position):
        provider = session.provider(model.connection)
        for example in examples:
            if (example.id, model.id) in done:
                continue
            messages = messages_for(example.messages, model.system_prompt)

            def send(provider=provider, model=model, messages=messages) -> ChatReply:
                reply = provider.chat(
                    model=model.model, messages=messages, max_tokens=run.max_tokens, temperature=0
                )
                assert isinstance(reply, ChatReply)
                return reply

            calls.append(Call(key=(example, model), connection_id=model.connection_id, send=send))

    def on_done(outcomes: list[Outcome]) -> None:
        rows = []
        for call, reply, error in outcomes:
            example, model = cast(tuple[Example, RunModel], call.key)
            rows.append(
                result_row(
                    run=run,
                    example=example,
                    model=model,
                    reply=reply,
                    error=error,
                    price=session.prices[model.id],
                )
            )
        Result.objects.bulk_create(rows, ignore_conflicts=True)

    return run_calls(
        calls, limits=limits, on_done=on_done, should_stop=session.should_stop, on_tick=session.heartbeat
    )


def result_store(
    *,
    run: Run,
    example: Example,
    model: RunModel,
    reply: ChatReply | None,
    error: ProviderError | None,
    price,
) -> None:
    """Store one reply with its scores; a second store of the same example x model is a no-op."""
    Result.objects.bulk_create(
        [result_row(run=run, example=example, model=model, reply=reply, error=error, price=price)],
        ignore_conflicts=True,
    )


def result_row(
    *,
    run: Run,
    example: Example,
    model: RunModel,
    reply: ChatReply | None,
    error: ProviderError | None,
    price,
) -> Result:
    """The unsaved `Result` of one reply (or error) with its scores."""
    fields: dict[str, Any] = {}
    if reply is not None:
        fields = {
            "reply": reply.text,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "latency_s": reply.latency_s,
            "cost_usd": call_cost(price, reply.prompt_tokens, reply.completion_tokens),
            "scores": {
                scoring.key_of(c): scoring.score(
                    c,
                    reply=reply.text,
                    reference=example.reference,
                    prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens,
                )
                for c in run.scorers
            },
        }
    else:
        fields = {"error": error.user_message if error else "No reply."}
    return Result(run=run, example=example, model=model, **fields)


# --- the judge ----------------------------------------------------------------------------------
_SCORE = re.compile(r"\b([1-5])\b")
_PASS = re.compile(r"\b(pass|fail)\b", re.IGNORECASE)
_AB = re.compile(r"\b(A|B|TIE)\b", re.IGNORECASE)


def judge_messages(
    *, mode: str, rubric: str, prompt: str, reference: str, replies: Sequence[str]
) -> list[dict]:
    if mode == "pairwise":
        ask = "Which reply is better by the rubric? Answer with exactly one word: A, B or TIE."
        body = f"Prompt:\n{prompt}\n\nReference answer:\n{reference}\n\nReply A:\n{replies[0]}\n\nReply B:\n{replies[1]}"
    else:
        ask = (
            "Grade the reply by the rubric. Answer with one number from 1 (worst) to 5 (best) and nothing else."
            if mode == "score"
            else "Does the reply meet the rubric? Answer with exactly one word: PASS or FAIL."
        )
        body = f"Prompt:\n{prompt}\n\nReference answer:\n{reference}\n\nReply:\n{replies[0]}"
    return [
        {"role": "system", "content": f"You are a careful evaluator.\nRubric:\n{rubric}\n\n{ask}"},
        {"role": "user", "content": body},
    ]


def judge_read(mode: str, text: str, order: str = "") -> str:
    """The judge's answer in our terms ("1".."5", "pass"/"fail", "0"/"1"/"tie"), or "" if unreadable."""
    if mode == "score":
        m = _SCORE.search(text)
        return m.group(1) if m else ""
    if mode == "pass_fail":
        m = _PASS.search(text)
        return m.group(1).lower() if m else ""
    m = _AB.search(text)
    if not m:
        return ""
    said = m.group(1).upper()
    if said == "TIE":
        return "tie"
    first, second = ("0", "1") if order == "ab" else ("1", "0")
    return first if said == "A" else second


def _send_judge(session: _Session) -> bool:
    run = session.run
    judge = run.judge
    if not judge:
        return True
    connection = Connection.objects.get(id=judge["connection_id"], team=run.team)
    provider = session.provider(connection)
    mode = judge["mode"]
    models = sorted(session.models.values(), key=lambda m: m.position)
    base, last = models[0], models[-1]
    done = set(Verdict.objects.filter(run=run).values_list("example_id", "item", "order"))
    replies: dict[tuple[int, int], str] = {
        (r.example_id, r.model_id): r.reply
        for r in Result.objects.filter(run=run, error="").only("example_id", "model_id", "reply")
    }
    calls = []
    for example in run.examples.only("id", "prompt", "reference"):
        todo: list[tuple[str, str, list[str]]] = []
        if mode == "pairwise":
            pair = (replies.get((example.id, base.id)), replies.get((example.id, last.id)))
            if pair[0] is None or pair[1] is None:
                continue
            item = f"{base.position}-{last.position}"
            todo = [(item, "ab", [pair[0], pair[1]]), (item, "ba", [pair[1], pair[0]])]
        else:
            for model in models:
                reply = replies.get((example.id, model.id))
                if reply is not None:
                    todo.append((str(model.position), "", [reply]))
        for item, order, texts in todo:
            if (example.id, item, order) in done:
                continue
            messages = judge_messages(
                mode=mode,
                rubric=judge["rubric"],
                prompt=example.prompt,
                reference=example.reference,
                replies=texts,
            )

            def send(messages=messages) -> ChatReply:
                reply = provider.chat(model=judge["model"], messages=messages, max_tokens=8, temperature=0)
                assert isinstance(reply, ChatReply)
                return reply

            calls.append(Call(key=(example, item, order), connection_id=connection.id, send=send))

    def on_done(outcomes: list[Outcome]) -> None:
        rows = []
        for call, reply, error in outcomes:
            example, item, order = cast(tuple[Example, str, str], call.key)
            rows.append(
                Verdict(
                    run=run,
                    example=example,
                    item=item,
                    order=order,
                    outcome=judge_read(mode, reply.text, order) if reply else "",
                    raw=reply.text[:2000] if reply else "",
                    error=error.user_message if error else "",
                )
            )
        Verdict.objects.bulk_create(rows, ignore_conflicts=True)

    return run_calls(
        calls,
        limits={connection.id: connection_limit(connection)},
        on_done=on_done,
        should_stop=session.should_stop,
        on_tick=session.heartbeat,
    )


def judge_outcomes(run: Run) -> dict[int, str]:
    """Per example, the judge's pairwise outcome between the baseline and the last model ("0", "1"
    or "tie"): pairwise, where both orders agree (they disagree: "tie"); score and pass/fail, the
    better graded reply. Examples the judge could not read are left out."""
    judge = run.judge
    if not judge:
        return {}
    positions = list(run.run_models.values_list("position", flat=True))
    base, last = str(min(positions)), str(max(positions))
    by_example: dict[int, dict[tuple[str, str], str]] = {}
    for v in (
        Verdict.objects.filter(run=run).exclude(outcome="").values("example_id", "item", "order", "outcome")
    ):
        by_example.setdefault(v["example_id"], {})[(v["item"], v["order"])] = v["outcome"]
    out: dict[int, str] = {}
    for example_id, got in by_example.items():
        if judge["mode"] == "pairwise":
            item = f"{base}-{last}"
            ab, ba = got.get((item, "ab")), got.get((item, "ba"))
            if ab and ba:
                out[example_id] = ab if ab == ba else "tie"
        else:
            a, b = got.get((base, "")), got.get((last, ""))
            if a and b:
                va, vb = _judge_value(judge["mode"], a), _judge_value(judge["mode"], b)
                out[example_id] = "0" if va > vb else "1" if vb > va else "tie"
    return out


def _judge_value(mode: str, outcome: str) -> float:
    return float(outcome) if mode == "score" else 1.0 if outcome == "pass" else 0.0


def judge_agreement(
    human: Sequence[tuple[Hashable, str]], judge: Mapping[Any, str]
) -> stats.Agreement | None:
    """How often the judge agrees with people on the same pairs, with Cohen's kappa.

    `human`: (pair key, outcome) for each vote ("0", "1", "tie"; "both_bad" counts as a tie);
    `judge`: pair key -> the judge's outcome. Votes on pairs the judge has no outcome for are left
    out. The compare screen's votes can come in here as they are, with their own pair keys.
    """
    pairs = []
    for key, outcome in human:
        if key in judge:
            pairs.append(("tie" if outcome == "both_bad" else outcome, judge[key]))
    return stats.cohen_kappa(pairs) if pairs else None


def run_votes(run: Run) -> list[tuple[Hashable, str]]:
    return [(v.example_id, v.winner) for v in Vote.objects.filter(run=run).exclude(outcome="")]


def compare_votes(run: Run) -> tuple[list[tuple[Hashable, str]], int]:
    """The team's blind votes from the compare screen on the run's pairs, keyed like `run_votes`:
    the same two models (baseline and last, in either order on the screen) on a turn whose user
    message is an example's prompt, whitespace normalised. Also how many such votes were left out
    because a reply named its model (the compare leaderboard leaves those out too)."""
    models = sorted(run.run_models.all(), key=lambda m: m.position)
    base, last = models[0], models[-1]
    by_prompt: dict[str, int] = {}
    for example_id, prompt in run.examples.order_by("index").values_list("id", "prompt"):
        by_prompt.setdefault(compare_selectors.normalise_prompt(prompt), example_id)
    votes, leaked = compare_selectors.blind_votes_on_pair(
        team=run.team,
        first=(base.connection_id, base.model),
        second=(last.connection_id, last.model),
        prompts=set(by_prompt),
    )
    positions = {"first": str(base.position), "second": str(last.position)}
    return [(by_prompt[v.prompt], positions.get(v.winner, v.winner)) for v in votes], leaked


# --- summarize ----------------------------------------------------------------------------------
def _values(run: Run, model: RunModel, key: str) -> dict[int, Any]:
    return {
        r["example_id"]: r["scores"].get(key)
        for r in Result.objects.filter(run=run, model=model, error="").values("example_id", "scores")
    }


def _judge_values(run: Run) -> dict[int, dict[int, float]]:
    """position -> example id -> value, for score and pass/fail judging."""
    mode = run.judge.get("mode")
    out: dict[int, dict[int, float]] = {}
    if mode not in ("score", "pass_fail"):
        return out
    for v in (
        Verdict.objects.filter(run=run, order="").exclude(outcome="").values("example_id", "item", "outcome")
    ):
        out.setdefault(int(v["item"]), {})[v["example_id"]] = _judge_value(mode, v["outcome"])
    return out


def plain_sentence(
    *,
    title: str,
    pass_fail: bool,
    a_label: str,
    b_label: str,
    d: stats.PairedDifference,
) -> str:
    """One sentence for people: what each model did, and whether the difference is real
    (`fineweb.lib.stats.plain_sentence`, with the scorer's title as what a passing reply does)."""
    if pass_fail:
        return stats.plain_sentence(
            d, label=f"passes \u201c{title}\u201d", name_a=a_label, name_b=b_label, kind="pass"
        )
    return stats.plain_sentence(d, label=title, name_a=a_label, name_b=b_label, kind="measure")


def _oriented(d: stats.PairedDifference) -> stats.PairedDifference:
    """The same result with difference and interval as mean_b - mean_a, whatever stats returned."""
    if d.n and (d.mean_b - d.mean_a) * d.difference < 0:
        return stats.PairedDifference(
            d.n, d.mean_a, d.mean_b, -d.difference, -d.ci_high, -d.ci_low, d.p_value, d.method, d.significant
        )
    return d


def run_summarize(*, run: Run) -> dict:
    """Per scorer, each model against the baseline with a paired 95% interval; the judge's results
    and its agreement with people; prompt tokens saved; each example's drop (regressions)."""
    models = list(run.run_models.order_by("position"))
    base = models[0]
    comparisons = []
    values = {m.position: {c["kind"]: _values(run, m, c["kind"]) for c in run.scorers} for m in models}
    judge_values = _judge_values(run)
    keys: list[tuple[str, str, bool, str | None, str]] = [
        (
            c["kind"],
            scoring.SCORERS[c["kind"]].title,
            scoring.SCORERS[c["kind"]].pass_fail,
            scoring.SCORERS[c["kind"]].better,
            scoring.explain(c),
        )
        for c in run.scorers
    ]
    if judge_values:
        mode = run.judge["mode"]
        keys.append(("judge", "LLM judge", mode == "pass_fail", "higher", scoring.JUDGE_EXPLANATIONS[mode]))
        for m in models:
            values[m.position]["judge"] = judge_values.get(m.position, {})
    drops: dict[int, float] = {}
    for key, title, pass_fail, better, explanation in keys:
        for other in models[1:]:
            a_vals, b_vals = values[base.position][key], values[other.position][key]
            common = sorted(
                e for e in a_vals if e in b_vals and a_vals[e] is not None and b_vals[e] is not None
            )
            a = [float(a_vals[e]) for e in common]
            b = [float(b_vals[e]) for e in common]
            if pass_fail:
                d = stats.mcnemar([bool(x) for x in a], [bool(x) for x in b])
            else:
                d = stats.paired_bootstrap(a, b)
            d = _oriented(d)
            comparisons.append(
                {
                    "key": key,
                    "title": title,
                    "explanation": explanation,
                    "pass_fail": pass_fail,
                    "better": better,
                    "model": other.position,
                    "a_label": base.label,
                    "b_label": other.label,
                    "n": d.n,
                    "mean_a": d.mean_a,
                    "mean_b": d.mean_b,
                    "difference": d.mean_b - d.mean_a if d.n else None,
                    "ci_low": d.ci_low if d.n else None,
                    "ci_high": d.ci_high if d.n else None,
                    "p_value": d.p_value,
                    "method": d.method,
                    "significant": d.significant,
                    "sentence": plain_sentence(
                        title=title,
                        pass_fail=pass_fail,
                        a_label=base.label,
                        b_label=other.label,
                        d=d,
                    ),
                }
            )
            if other is models[-1] and better == "higher":
                scale = 4.0 if key == "judge" and run.judge.get("mode") == "score" else 1.0
                for e, x, y in zip(common, a, b, strict=True):
                    if x > y:
                        drops[e] = drops.get(e, 0.0) + (x - y) / scale
    summary: dict[str, Any] = {"comparisons": comparisons}
    # Prompt tokens saved: the last model's prompts against the baseline's.
    tokens = {
        m.position: [
            r
            for r in Result.objects.filter(run=run, model=m, error="").values_list("prompt_tokens", flat=True)
            if r is not None
        ]
        for m in models
    }
    if tokens[base.position] and tokens[models[-1].position]:
        a_mean = sum(tokens[base.position]) / len(tokens[base.position])
        b_mean = sum(tokens[models[-1].position]) / len(tokens[models[-1].position])
        summary["prompt_tokens"] = {
            "a_label": base.label,
            "b_label": models[-1].label,
            "a_mean": a_mean,
            "b_mean": b_mean,
            "saved": a_mean - b_mean,
            "saved_percent": 100 * (a_mean - b_mean) / a_mean if a_mean else 0.0,
        }
    summary["errors"] = Result.objects.filter(run=run).exclude(error="").count()
    if run.judge:
        summary["judge"] = judge_summary(run)
    Example.objects.filter(run=run).exclude(id__in=list(drops)).exclude(drop=0).update(drop=0)
    changed = [Example(id=e, drop=v) for e, v in drops.items()]
    Example.objects.bulk_update(changed, ["drop"], batch_size=1000)
    Run.objects.filter(id=run.id).update(summary=summary)
    run.summary = summary
    return summary


def judge_summary(run: Run) -> dict:
    """The judge's own results: pairwise wins and self-agreement, and its agreement with people."""
    out: dict[str, Any] = {"mode": run.judge["mode"], "model": run.judge["model"]}
    verdicts = Verdict.objects.filter(run=run)
    out["unreadable"] = verdicts.filter(outcome="").count()
    out["answers"] = verdicts.count()
    if run.judge["mode"] == "pairwise":
        by_example: dict[int, dict[str, str]] = {}
        for v in verdicts.exclude(outcome="").values("example_id", "order", "outcome"):
            by_example.setdefault(v["example_id"], {})[v["order"]] = v["outcome"]
        both = [d for d in by_example.values() if "ab" in d and "ba" in d]
        agree = sum(1 for d in both if d["ab"] == d["ba"])
        out["asked_twice"] = len(both)
        out["self_agreement"] = 100 * agree / len(both) if both else None
    outcomes = judge_outcomes(run)
    out["wins"] = {k: sum(1 for v in outcomes.values() if v == k) for k in ("0", "1", "tie")}
    out.update(people_summary(run, outcomes))
    return out


def people_summary(run: Run, outcomes: Mapping[int, str]) -> dict[str, Any]:
    """The judge against the team's blind votes, from both sources: the run's own votes and the
    compare screen's on the same pairs; with the votes each source gave (those the judge has an
    outcome for) and the compare vote the figures are as of (`compare_vote_id`)."""
    as_of = compare_selectors.latest_blind_vote_id(run.team)
    own = run_votes(run)
    compared, leaked = compare_votes(run)
    agreement = judge_agreement([*own, *compared], outcomes)
    return {
        "compare_vote_id": as_of,
        "people": None
        if agreement is None
        else {
            "n": agreement.n,
            "percent": agreement.percent,
            "kappa": agreement.kappa,
            "ci_low": agreement.ci_low,
            "ci_high": agreement.ci_high,
        },
        "sources": {
            "run": sum(1 for key, _ in own if key in outcomes),
            "compare": sum(1 for key, _ in compared if key in outcomes),
            "compare_leaked": leaked,
        },
    }


def run_people_refresh(*, run: Run) -> dict:
    """Recount the judge's agreement with people (a compare vote was cast since the summary)."""
    summary = dict(run.summary)
    if not run.judge or "judge" not in summary:
        return summary
    summary["judge"] = {**summary["judge"], **people_summary(run, judge_outcomes(run))}
    Run.objects.filter(id=run.id).update(summary=summary)
    run.summary = summary
    return summary


# --- blind votes on the run's own examples ------------------------------------------------------
def vote_next(*, run: Run, user, rng: random.Random | None = None) -> Vote | None:
    """A pair this user has not voted on yet (baseline vs last model), in an order drawn here."""
    positions = list(run.run_models.values_list("position", "id"))
    (base_pos, base_id), (last_pos, last_id) = min(positions), max(positions)
    open_vote = Vote.objects.filter(run=run, user=user, outcome="").select_related("example").first()
    if open_vote is not None:
        return open_vote
    voted = Vote.objects.filter(run=run, user=user).values("example_id")
    with_both = (
        Example.objects.filter(run=run)
        .exclude(id__in=voted)
        .filter(results__model_id=base_id, results__error="")
        .filter(id__in=Result.objects.filter(run=run, model_id=last_id, error="").values("example_id"))
        .order_by("index")
    )
    example = with_both.first()
    if example is None:
        return None
    first = (rng or random.SystemRandom()).choice([base_pos, last_pos])
    second = last_pos if first == base_pos else base_pos
    vote, _ = Vote.objects.get_or_create(
        run=run, user=user, example=example, defaults={"first": first, "second": second}
    )
    return vote


def vote_cast(*, vote: Vote, outcome: str) -> Vote:
    if outcome not in Vote.Outcome.values:
        raise ValidationError("Pick A, B, tie or both bad.")
    if vote.outcome:
        raise ValidationError("You have already voted on this pair.")
    vote.outcome = outcome
    vote.cast_at = timezone.now()
    vote.save(update_fields=["outcome", "cast_at"])
    if vote.run.is_finished and vote.run.judge:
        summary = dict(vote.run.summary)
        summary["judge"] = judge_summary(vote.run)
        Run.objects.filter(id=vote.run_id).update(summary=summary)
    return vote
