"""Compare: start a conversation, add a turn, stream one column's reply, stop, vote.

Replies come from the provider adapters' `chat(stream=True)` (text pieces, then one ChatReply);
nothing here knows a provider's wire format. `reply_run` is blocking (it reads the provider's
stream): the async stream view runs it in a thread and relays what it emits as server-sent events.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compare.models import Column, Conversation, Reply, Turn, Vote
from fineweb.accounts.models import Team
from fineweb.lib import catalogue
from jobs.models import Job
from providers import prices
from providers.base import ChatReply
from providers.errors import (
    AuthError,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from providers.http import RetryPolicy
from providers.models import Connection
from providers.services import connection_get_provider

logger = logging.getLogger("fineweb.compare")

MAX_COLUMNS = 4
MAX_MESSAGE_CHARS = 20_000
MAX_SYSTEM_PROMPT_CHARS = 50_000
MAX_TOKENS_LIMIT = 4096
# A streamed reply may run this long in all; each read may wait STREAM_IDLE_SECONDS (providers/http.py).
STREAM_TOTAL_SECONDS = 300.0
# How often a running stream looks for the stop button's flag in the database.
STOP_POLL_SECONDS = 0.3

# Names that give a model away when a reply says them (the arenas' rule): providers and families.
IDENTITY_WORDS = (
    "OpenAI",
    "ChatGPT",
    "GPT",
    "Together AI",
    "together.ai",
    "SmolLM",
    "Hugging Face",
    "HuggingFace",
    "Llama",
    "Meta AI",
    "Qwen",
    "Mistral",
    "Mixtral",
    "Gemma",
    "Gemini",
    "Claude",
    "Anthropic",
    "DeepSeek",
)


@dataclass(frozen=True)
class ColumnSpec:
    connection: Connection
    model: str
    system_prompt: str = ""


# --------------------------------------------------------------------------- start and follow up
def conversation_create(
    *,
    team: Team,
    user: User | None,
    columns: list[ColumnSpec],
    message: str,
    blind: bool = False,
    temperature: float | None = None,
    max_tokens: int = 256,
    seed: int | None = None,
    title: str = "",
    job: Job | None = None,
    rerun_of: Conversation | None = None,
) -> Conversation:
    """A conversation with its columns and its first turn (one pending reply per column).

    Blind: exactly two columns, placed in an order drawn here on the server, labelled A and B.
    Raises ValidationError with a sentence for the user.
    """
    message = message.strip()
    if not message:
        raise ValidationError("Write a message to send to the models.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValidationError(f"The message is longer than {MAX_MESSAGE_CHARS:,} characters; shorten it.")
    if len(columns) < 2:
        raise ValidationError("Pick at least two models to compare.")
    if len(columns) > MAX_COLUMNS:
        raise ValidationError(f"Compare at most {MAX_COLUMNS} models at once.")
    if blind and len(columns) != 2:
        raise ValidationError("A blind comparison takes exactly two models.")
    for spec in columns:
        if spec.connection.team_id != team.id:
            raise ValidationError("Pick models from your team's connections.")
        if not spec.model.strip():
            raise ValidationError("Every column needs a model.")
        if len(spec.system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise ValidationError(f"A system prompt is longer than {MAX_SYSTEM_PROMPT_CHARS:,} characters.")
    if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise ValidationError(f"Max tokens must be between 1 and {MAX_TOKENS_LIMIT}.")
    if temperature is not None and not 0 <= temperature <= 2:
        raise ValidationError("Temperature must be between 0 and 2.")
    order = list(range(len(columns)))
    if blind:
        secrets.SystemRandom().shuffle(order)
    with transaction.atomic():
        conversation = Conversation.objects.create(
            team=team,
            created_by=user,
            title=(title or message)[:200],
            blind=blind,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            job=job,
            rerun_of=rerun_of,
        )
        for position, index in enumerate(order):
            spec = columns[index]
            Column.objects.create(
                conversation=conversation,
                connection=spec.connection,
                model=spec.model.strip(),
                system_prompt=spec.system_prompt,
                position=position,
                label=chr(ord("A") + position),
            )
        _turn_create(conversation=conversation, user=user, message=message)
    return conversation


def _turn_create(*, conversation: Conversation, user: User | None, message: str) -> Turn:
    number = conversation.turns.count() + 1
    turn = Turn.objects.create(conversation=conversation, number=number, message=message, created_by=user)
    Reply.objects.bulk_create([Reply(turn=turn, column=column) for column in conversation.columns.all()])
    return turn


def turn_add(*, conversation: Conversation, user: User | None, message: str) -> Turn:
    """A follow-up: it goes to every column, each with its own history."""
    message = message.strip()
    if not message:
        raise ValidationError("Write a follow-up message first.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValidationError(f"The message is longer than {MAX_MESSAGE_CHARS:,} characters; shorten it.")
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(id=conversation.id).first()
        if Reply.objects.filter(turn__conversation=conversation).exclude(status__in=Reply.FINISHED).exists():
            raise ValidationError("Wait until every column has answered (or press Stop) before a follow-up.")
        return _turn_create(conversation=conversation, user=user, message=message)


def conversation_stop(*, conversation: Conversation) -> int:
    """The stop button: replies not started are stopped at once; streaming ones end at their next piece."""
    now = timezone.now()
    pending = Reply.objects.filter(turn__conversation=conversation, status=Reply.Status.PENDING).update(
        status=Reply.Status.STOPPED, stop_requested=True, finished=now, error="Stopped before it started."
    )
    streaming = Reply.objects.filter(turn__conversation=conversation, status=Reply.Status.STREAMING).update(
        stop_requested=True
    )
    return pending + streaming


# --------------------------------------------------------------------------- one column's reply
def reply_messages(reply: Reply) -> list[dict[str, str]]:
    """What this column's model is sent: its own system prompt, its own history, the new message."""
    column = reply.column
    messages: list[dict[str, str]] = []
    if column.system_prompt.strip():
        messages.append({"role": "system", "content": column.system_prompt})
    earlier = Reply.objects.filter(column=column, turn__number__lt=reply.turn.number).select_related("turn")
    for old in earlier.order_by("turn__number") if reply.turn.number > 1 else []:
        messages.append({"role": "user", "content": old.turn.message})
        if old.text:
            messages.append({"role": "assistant", "content": old.text})
    messages.append({"role": "user", "content": reply.turn.message})
    return messages


def reply_claim(*, reply_id: int) -> bool:
    """Mark a pending reply as streaming; False when another stream has it or it is finished.

    A reply left "streaming" by a server that stopped in the middle (older than any stream may
    run) is claimed again, so a reload finishes it instead of waiting for nothing."""
    now = timezone.now()
    stale = now - timedelta(seconds=STREAM_TOTAL_SECONDS + 60)
    claimable = Q(status=Reply.Status.PENDING) | Q(status=Reply.Status.STREAMING, started__lt=stale)
    return bool(
        Reply.objects.filter(claimable, id=reply_id, stop_requested=False).update(
            status=Reply.Status.STREAMING, started=now
        )
    )


def reply_price(*, connection_kind: str, model: str) -> catalogue.ChatPrice | None:
    """The dated price table's row for a chat call to `model` at a `connection_kind` connection
    (providers/prices.py); the local provider is free; None when the table has no price."""
    if connection_kind == Connection.Kind.LOCAL:
        return catalogue.FREE_CHAT
    return prices.chat_price(model, provider_kind=connection_kind)


def reply_cost(
    *, connection_kind: str, model: str, prompt_tokens: int | None, completion_tokens: int | None
) -> Decimal | None:
    """USD from the dated price table; the local provider is free (token counts or not); None when
    the price is unknown or the provider reported no token counts."""
    price = reply_price(connection_kind=connection_kind, model=model)
    if price is None:
        return None
    if price.input_per_million == 0 and price.output_per_million == 0:
        return Decimal(0)
    if prompt_tokens is None or completion_tokens is None:
        return None
    return price.cost(prompt_tokens, completion_tokens)


def retirement_sentence(*, model: str, today: date | None = None) -> str:
    """A sentence when the provider has shut this (fine-tuned) model down, per the catalogue; else ""."""
    spec = catalogue.model_spec(model)
    today = today or timezone.localdate()
    if spec.shutdown_on is None or today < spec.shutdown_on:
        return ""
    what = "This fine-tuned model" if model.startswith("ft:") else "This model"
    return (
        f"{what} no longer answers: OpenAI shut down {spec.name} and the models fine-tuned from it "
        f"on {spec.shutdown_on:%d %B %Y}."
    )


def error_sentence(exc: ProviderError, *, model: str, today: date | None = None) -> str:
    """The sentence a column shows for a provider error."""
    if isinstance(exc, NotFound):
        retired = retirement_sentence(model=model, today=today)
        if retired:
            return retired
        if model.startswith("ft:"):
            return (
                f"The provider does not serve the model {model} (any more): it may have been retired "
                f"or deleted. {exc.user_message}"
            )
        return f"The provider does not know the model {model}. {exc.user_message}"
    if isinstance(exc, RateLimited):
        wait = (
            f" It asks to wait {exc.retry_after:.0f} seconds before trying again." if exc.retry_after else ""
        )
        return f"The provider is limiting requests (HTTP 429), so this column got no answer.{wait}"
    if isinstance(exc, AuthError):
        return exc.user_message
    # The adapters' sentences are written for background work ("fineweb will try again later");
    # here nothing retries by itself, the user does.
    return exc.user_message.replace("fineweb will try again later.", "Try again in a moment.")


# What a reply's stream reads with it (one query with the reply).
REPLY_RELATED = ("turn__conversation", "column__connection")


@dataclass
class ReplyPlan:
    """Everything a claimed reply's stream needs, read before the stream starts (one sync hop):
    the reply with its turn, conversation, column and connection, the messages, the adapter built
    (its pooled client; nothing sent yet), or the sentence that says why it is not sent at all."""

    reply: Reply
    messages: list[dict[str, str]]
    provider: Any = None
    error: str = ""
    started: float = 0.0


def reply_prepare(
    *,
    reply: Reply,
    today: date | None = None,
    client: Any = None,
    retry: RetryPolicy | None = None,
) -> ReplyPlan:
    """The reads and the provider's construction of one claimed reply (loaded with its turn,
    conversation, column and connection: `REPLY_RELATED`), so that the stream itself
    (`reply_stream`) touches the database only for the stop flag and the save at the end. A model
    the catalogue says is shut down, or a connection whose key cannot be read, gives a plan with
    its sentence in `error` and no provider."""
    plan = ReplyPlan(reply=reply, messages=reply_messages(reply), started=time.monotonic())
    model = reply.column.model
    try:
        retired = retirement_sentence(model=model, today=today)
        if retired:
            plan.error = retired
            return plan
        plan.provider = connection_get_provider(
            connection=reply.column.connection, client=client, retry=retry, budget="streaming"
        )
    except ProviderError as exc:
        plan.error = error_sentence(exc, model=model, today=today)
    except Exception:
        logger.exception("compare: reply %s could not be prepared", reply.id)
        plan.error = "Something went wrong in fineweb while reading this reply; the text so far is kept."
    return plan


def reply_run(
    *,
    reply_id: int,
    emit: Callable[[dict[str, Any]], None],
    stop: threading.Event | None = None,
    today: date | None = None,
    client: Any = None,
    retry: RetryPolicy | None = None,
) -> Reply:
    """Stream one claimed reply from its provider, emitting {"event": "token"|"done"|"error", ...}.

    Saves the reply when it ends: complete, stopped (the stop button or the page went away: the
    text so far is kept) or failed (a sentence in `error`, the text so far kept). The same as
    `reply_prepare` then `reply_stream`, which the stream view calls apart (the first in its one
    sync hop, the second in the relay's thread).
    """
    reply = Reply.objects.select_related(*REPLY_RELATED).get(id=reply_id)
    plan = reply_prepare(reply=reply, today=today, client=client, retry=retry)
    return reply_stream(plan=plan, emit=emit, stop=stop, today=today)


def reply_stream(
    *,
    plan: ReplyPlan,
    emit: Callable[[dict[str, Any]], None],
    stop: threading.Event | None = None,
    today: date | None = None,
) -> Reply:
    """Stream a prepared reply (see `reply_run`); blocking, so the stream view runs it in a thread."""
    stop = stop or threading.Event()
    reply = plan.reply
    reply_id = reply.id
    conversation = reply.turn.conversation
    column = reply.column
    started = plan.started or time.monotonic()
    pieces: list[str] = []
    first_token_s: float | None = None
    final: ChatReply | None = None
    error = plan.error
    stopped = False
    stream: Iterator[Any] | None = None
    try:
        if error:
            raise _Refused(error)
        chat = plan.provider.chat(
            model=column.model,
            messages=plan.messages,
            max_tokens=conversation.max_tokens,
            temperature=conversation.temperature,
            seed=conversation.seed,
            stream=True,
        )
        # An adapter that cannot stream answers all at once: one piece, then the reply.
        stream = iter([chat.text, chat]) if isinstance(chat, ChatReply) else chat
        item: Any
        last_poll = time.monotonic()
        for item in stream:
            if isinstance(item, ChatReply):
                final = item
                break
            if first_token_s is None:
                first_token_s = time.monotonic() - started
            pieces.append(item)
            emit({"event": "token", "text": item})
            now = time.monotonic()
            if now - last_poll >= STOP_POLL_SECONDS:
                last_poll = now
                if Reply.objects.filter(id=reply_id, stop_requested=True).exists():
                    stop.set()
            if stop.is_set():
                stopped = True
                break
            if now - started > STREAM_TOTAL_SECONDS:
                error = f"The reply took longer than {STREAM_TOTAL_SECONDS / 60:.0f} minutes and was cut off here."
                break
    except _Refused as exc:
        error = str(exc)
    except ProviderError as exc:
        error = error_sentence(exc, model=column.model, today=today)
        if pieces and isinstance(exc, ProviderUnavailable):
            error = f"The answer was cut off in the middle: {exc.user_message}"
    except Exception:
        logger.exception("compare: reply %s failed", reply_id)
        error = "Something went wrong in fineweb while reading this reply; the text so far is kept."
    finally:
        if stream is not None and hasattr(stream, "close"):
            stream.close()  # the provider's connection is closed: nothing more is read from it
    total_s = time.monotonic() - started
    reply.text = final.text if final is not None else "".join(pieces)
    reply.first_token_s = final.first_token_s if final and final.first_token_s is not None else first_token_s
    reply.total_s = total_s
    reply.prompt_tokens = final.prompt_tokens if final else None
    reply.completion_tokens = final.completion_tokens if final else None
    reply.stop_reason = (final.finish_reason or "") if final else ("stopped" if stopped else "")
    price = reply_price(connection_kind=column.connection.kind, model=column.model)
    reply.price_as_of = price.as_of if price else ""
    reply.cost_usd = reply_cost(
        connection_kind=column.connection.kind,
        model=column.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )
    if error:
        reply.status, reply.error = Reply.Status.FAILED, error
    elif stopped or final is None:
        reply.status = Reply.Status.STOPPED
        reply.error = "Stopped; the text so far is kept."
    else:
        reply.status = Reply.Status.COMPLETE
    reply.finished = timezone.now()
    # Only what the stream set: the claim's `started` and the stop button's flag stay as they are.
    reply.save(update_fields=REPLY_RESULT_FIELDS)
    emit({"event": "error" if error else "done", **reply_summary(reply)})
    return reply


REPLY_RESULT_FIELDS = [
    "text",
    "first_token_s",
    "total_s",
    "prompt_tokens",
    "completion_tokens",
    "stop_reason",
    "cost_usd",
    "price_as_of",
    "status",
    "error",
    "finished",
]


class _Refused(Exception):
    """Not sent to the provider at all (a model the catalogue says is shut down)."""


def reply_summary(reply: Reply) -> dict[str, Any]:
    """A finished (or running) reply as the page shows it: text, status, timings, tokens, cost.
    In a blind comparison the cost's sentence does not name the model (a stream ends before any
    vote)."""
    tps = reply.tokens_per_second
    model_name = "this model" if reply.turn.conversation.blind else reply.column.model
    return {
        "reply": reply.id,
        "status": reply.status,
        "status_label": reply.get_status_display(),
        "finished": reply.is_finished,
        "text": reply.text,
        "error": reply.error,
        "first_token_s": reply.first_token_s,
        "total_s": reply.total_s,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "tokens_per_second": round(tps, 1) if tps is not None else None,
        "stop_reason": reply.stop_reason,
        "cost": reply.cost_text(model_name),
    }


# --------------------------------------------------------------------------- blind votes
def identity_words(column: Column) -> list[str]:
    """Words that would name this column's model or provider in a reply."""
    words = set(IDENTITY_WORDS)
    model = column.model
    words.add(model)
    for part in re.split(r"[:/]", model):
        if len(part) >= 4:
            words.add(part)
    spec = catalogue.model_spec(model)
    if spec.name:
        words.add(spec.name)
    if column.connection.kind in (Connection.Kind.OPENAI, Connection.Kind.TOGETHER):
        words.add(column.connection.get_kind_display())
    return sorted(w for w in words if w.strip())


def leak_reason(columns: list[Column], reply: Reply) -> str:
    """ "" when the reply names no model or provider of the pair; else what it named.

    Family and provider names match as written ("GPT", "Llama": a reply saying "together" or
    "phi" in passing gives nothing away); the models' own ids and their parts match in any case.
    A reply that names the other model of the pair gives the pairing away too.
    """
    own = {w for column in columns for w in identity_words(column)} - set(IDENTITY_WORDS)
    for word in sorted(own | set(IDENTITY_WORDS), key=len, reverse=True):
        pattern = r"(?<![A-Za-z0-9])" + re.escape(word) + r"(?![A-Za-z])"
        flags = re.IGNORECASE if word in own else 0
        if re.search(pattern, reply.text, flags=flags):
            return f"reply {reply.column.label} names “{word}”"
    return ""


def vote_cast(*, conversation: Conversation, user: User, outcome: str, turn: Turn | None = None) -> Vote:
    """A blind vote on a turn (the latest by default). Refused until both replies are complete."""
    if not conversation.blind:
        raise ValidationError("Votes are for blind comparisons; start one with “Blind A/B” ticked.")
    if outcome not in Vote.Outcome.values:
        raise ValidationError("Pick one of: A is better, B is better, tie, both are bad.")
    turn = turn or conversation.turns.order_by("-number").first()
    if turn is None:
        raise ValidationError("There is nothing to vote on yet.")
    replies = list(turn.replies.select_related("column__connection").order_by("column__position"))
    if len(replies) != 2 or any(r.status != Reply.Status.COMPLETE for r in replies):
        raise ValidationError("Vote once both replies are complete.")
    if Vote.objects.filter(turn=turn, voter=user).exists():
        raise ValidationError("You have already voted on this reply.")
    columns = [r.column for r in replies]
    reasons = [reason for r in replies if (reason := leak_reason(columns, r))]
    return Vote.objects.create(
        conversation=conversation,
        turn=turn,
        voter=user,
        outcome=outcome,
        leaked=bool(reasons),
        leaked_reason="; ".join(reasons)[:200],
        model_a=replies[0].column.model_label,
        model_b=replies[1].column.model_label,
    )
