"""The one model and price catalogue: models, tokenizers, token limits, prices and lifecycle dates.

No provider's API says what a training token costs, which models can be fine-tuned, or when a
model goes away, so these facts are kept here by hand, each price with the date it was read and
where. The datasets app (token counts, limits, the cost estimate), the provider adapters (prices,
which models fine-tune) and the launch form all read this module; nothing else holds a copy.

Public API:
    model_spec(name) -> ModelSpec          a model by name, alias or fine-tune name; never raises
    MODELS, DEFAULT_MODEL, MODEL_CHOICES   the models the dataset form offers, by name
    together_training_price(model) -> Price | None
    chat_price(provider_kind, model) -> ChatPrice | None   a chat call's price, dated (compare, evals)
    together_chat_price(model) -> ChatPrice | None         Together's serverless rate, by model or size
    PROVIDER_LIFECYCLE[provider] -> ProviderLifecycle
    Lifecycle, read against today() (settings.FINEWEB_TODAY pins it):
    retirement(provider_kind, model) -> date | None      the day it (and its fine-tunes) stop answering
    retirement_sentence(provider_kind, model) -> str     "... is retired on 14 January 2027 ..." or ""
    can_fine_tune(provider_kind, model) -> bool          / training_cutoff(...) -> date | None
    provider_notice(provider_kind) -> str                the notice of a provider winding down
    cutoff_refusal(provider_kind, model) -> str          why a launch is refused, with alternatives
    model_choices() / offered_models(provider_kind)      what may still be offered
    mapped_model(model, target_kind, offered) -> str | None   where a moved job goes
    shutdown_reported(provider_kind, model, day, source=)  a provider's model list reported a date
                                                          (kept in the database: fineweb/lifecycle)

Check the tables against the providers' pages when they change (https://openai.com/api/pricing,
https://platform.openai.com/docs/deprecations, https://www.together.ai/pricing) and update the
dates with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

OPENAI = "openai"
TOGETHER = "together"
LOCAL = "local"


@dataclass(frozen=True)
class Price:
    """USD per million tokens, with the month it was read (`as_of`, "YYYY-MM") and from where."""

    usd_per_million: Decimal
    as_of: str
    source: str


@dataclass(frozen=True)
class ChatPrice:
    """USD per million input and output tokens of a chat call, read in `as_of` ("YYYY-MM")."""

    input_per_million: Decimal
    output_per_million: Decimal
    as_of: str
    source: str = ""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """USD for a call with these token counts."""
        return (
            self.input_per_million * prompt_tokens + self.output_per_million * completion_tokens
        ) / Decimal(1_000_000)


@dataclass(frozen=True)
class ModelSpec:
    """One base model. A missing price or date means we do not know it, not that it is zero."""

    name: str
    encoding: str  # bpe-openai / tiktoken encoding name used to count tokens
    max_tokens_per_example: int
    training: Price | None = None  # per million training tokens (billed tokens: examples x epochs)
    provider: str = OPENAI
    local: bool = False
    inference_input: Price | None = None  # per million input tokens of a fine-tune of this model
    inference_output: Price | None = None
    chat_input: Price | None = None  # per million input tokens of a chat call to the model itself
    chat_output: Price | None = None
    # Lifecycle. retired_on: no new fine-tuning jobs on it from that day. shutdown_on: the model
    # and the fine-tuned models made from it stop answering from that day.
    retired_on: date | None = None
    shutdown_on: date | None = None
    # False: the provider no longer fine-tunes it (no date recorded); kept so old data resolves.
    offered: bool = True

    @property
    def price_per_million(self) -> Decimal | None:
        """The training price, or None when we do not know it."""
        return self.training.usd_per_million if self.training else None

    @property
    def price_date(self) -> str | None:
        return self.training.as_of if self.training else None


@dataclass(frozen=True)
class ProviderLifecycle:
    """When a provider stops taking new fine-tuning jobs (the last day it still takes them)."""

    provider: str
    last_new_jobs_on: date | None
    # Accounts refused earlier than everyone else: (who, since when).
    refused_earlier: tuple[tuple[str, date], ...] = ()
    source: str = ""


# --------------------------------------------------------------------------- OpenAI

# Training prices and the longest example each model trains on: OpenAI's pricing page
# (platform.openai.com/docs/pricing, "Fine-tuning" table) and the fine-tuning guide's token limits.
PRICE_DATE = "2026-11"
PRICE_SOURCE = "OpenAI pricing page, fine-tuning training prices, read 2026-11"
# Inference prices of fine-tuned models (same table, input and output columns), read earlier.
_INFERENCE_DATE = "2025-06"
_INFERENCE_SOURCE = "OpenAI pricing page, fine-tuned model inference prices, read 2025-06"
# Inference prices of the base models themselves (standard tier, input and output per million
# tokens). Not read on openai.com itself: taken from copies of its pricing page read 2026-12
# (api-evangelist's table of the page as read on 2026-11-05, and price guides of 2026 that agree
# with it); check them against https://openai.com/api/pricing when it changes.
_CHAT_DATE = "2026-11"
_CHAT_SOURCE = "OpenAI pricing page (standard tier) as copied 2026-11; not read on openai.com itself"
# Deprecations page: the fine-tuning shutdown announcement.
_LIFECYCLE_SOURCE = "OpenAI deprecations page, fine-tuning shutdown, read 2026-11"
_OPENAI_SHUTDOWN = date(2027, 1, 14)


def _training(usd: str) -> Price:
    return Price(Decimal(usd), PRICE_DATE, PRICE_SOURCE)


def _inference(usd: str) -> Price:
    return Price(Decimal(usd), _INFERENCE_DATE, _INFERENCE_SOURCE)


def _chat(usd: str) -> Price:
    return Price(Decimal(usd), _CHAT_DATE, _CHAT_SOURCE)


def _openai(
    name: str,
    encoding: str,
    limit: int,
    training: str,
    inference: tuple[str, str] | None = None,
    *,
    chat: tuple[str, str] | None = None,
    retired_on: date | None = None,
    shutdown_on: date | None = None,
    offered: bool = True,
) -> ModelSpec:
    return ModelSpec(
        name,
        encoding,
        limit,
        _training(training),
        inference_input=_inference(inference[0]) if inference else None,
        inference_output=_inference(inference[1]) if inference else None,
        chat_input=_chat(chat[0]) if chat else None,
        chat_output=_chat(chat[1]) if chat else None,
        retired_on=retired_on,
        shutdown_on=shutdown_on,
        offered=offered,
    )


_OPENAI_MODELS = [
    _openai(
        "gpt-4o-mini-2024-07-18",
        "o200k_base",
        65_536,
        "3.00",
        ("0.30", "1.20"),
        chat=("0.15", "0.60"),
        shutdown_on=_OPENAI_SHUTDOWN,
    ),
    _openai(
        "gpt-4o-2024-08-06",
        "o200k_base",
        65_536,
        "25.00",
        ("3.75", "15.00"),
        chat=("2.50", "10.00"),
        shutdown_on=_OPENAI_SHUTDOWN,
    ),
    _openai(
        "gpt-4.1-2025-04-14",
        "o200k_base",
        65_536,
        "25.00",
        ("3.00", "12.00"),
        chat=("2.00", "8.00"),
        shutdown_on=_OPENAI_SHUTDOWN,
    ),
    _openai(
        "gpt-4.1-mini-2025-04-14",
        "o200k_base",
        65_536,
        "5.00",
        ("0.80", "3.20"),
        chat=("0.40", "1.60"),
        shutdown_on=_OPENAI_SHUTDOWN,
    ),
    # Retired for fine-tuning on 2026-10-23; kept so existing datasets and jobs still resolve.
    _openai(
        "gpt-4.1-nano-2025-04-14",
        "o200k_base",
        65_536,
        "1.50",
        ("0.20", "0.80"),
        chat=("0.10", "0.40"),
        retired_on=date(2026, 10, 23),
    ),
    # No longer in the fine-tuning guide's list of models that fine-tune (read 2026-11; the day
    # it left is not recorded): never offered, kept so existing datasets and jobs still resolve.
    _openai("gpt-3.5-turbo-0125", "cl100k_base", 16_385, "8.00", ("3.00", "6.00"), offered=False),
    _openai("gpt-3.5-turbo-1106", "cl100k_base", 16_385, "8.00", ("3.00", "6.00"), offered=False),
]

# Short names people type, mapped to the snapshot they train today.
ALIASES = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

PROVIDER_LIFECYCLE: dict[str, ProviderLifecycle] = {
    OPENAI: ProviderLifecycle(
        OPENAI,
        last_new_jobs_on=date(2027, 1, 6),
        refused_earlier=(
            ("organisations created since", date(2026, 5, 7)),
            ("organisations inactive since", date(2026, 7, 2)),
        ),
        source=_LIFECYCLE_SOURCE,
    ),
}

# --------------------------------------------------------------------------- the local provider

# It trains on this machine: no bill. Its own tokenizer differs; o200k_base gives a close enough
# count for the statistics.
_FREE = Price(Decimal("0"), PRICE_DATE, "the built-in local provider trains on this machine")
_LOCAL_MODELS = [
    ModelSpec("SmolLM2-135M-Instruct", "o200k_base", 2_048, _FREE, provider=LOCAL, local=True),
    ModelSpec("tiny-random", "o200k_base", 2_048, _FREE, provider=LOCAL, local=True),
]

# --------------------------------------------------------------------------- Together AI

# Together bills LoRA supervised training per token by model-size bracket (together.ai/pricing).
# The adapter doc in shared/api marks the exact rates as not captured, so treat these as
# estimates: the job's own `total_price` is the real figure after tokenisation.
TOGETHER_PRICE_DATE = "2025-06"
TOGETHER_PRICE_SOURCE = "Together AI pricing page, LoRA supervised fine-tuning by model size, read 2025-06"
# (largest size in billions of parameters, price): the first bracket the model fits in.
TOGETHER_LORA_SFT: tuple[tuple[float, Price], ...] = tuple(
    (upper, Price(Decimal(usd), TOGETHER_PRICE_DATE, TOGETHER_PRICE_SOURCE))
    for upper, usd in ((16.0, "0.48"), (69.0, "1.50"), (100.0, "2.90"))
)
_P = TypeVar("_P")
_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


def _by_size(name: str, table: tuple[tuple[float, _P], ...]) -> _P | None:
    """The entry of a (largest size in billions, price) table for the largest size in `name`."""
    sizes = [float(m) for m in _PARAMS.findall(name)]
    if not sizes:
        return None
    return next((price for upper, price in table if max(sizes) <= upper), None)


def together_training_price(model: str) -> Price | None:
    """By the size in the model's name (`Meta-Llama-3.1-8B-Instruct` -> 8B); None when unknown."""
    return _by_size(model.split("/")[-1], TOGETHER_LORA_SFT)


# Serverless chat inference, USD per million input and output tokens. shared/api has no captured
# copy of together.ai/pricing (together-finetuning.md section 8); these are Together's published
# serverless rates as third-party price tables copied them (getmaxim.ai's Together pages and
# LiteLLM's table, read 2026-12): check them against together.ai/pricing when it changes. By
# model first; a model not listed (a LoRA fine-tune, billed at its base model's serverless rate,
# or another serverless model) by the size in its name, from Together's per-size table.
TOGETHER_CHAT_DATE = "2026-11"
TOGETHER_CHAT_SOURCE = (
    "Together AI serverless inference prices as copied by third-party price tables, read 2026-12"
)
_TOGETHER_CHAT: dict[str, tuple[str, str]] = {
    "meta-llama/Llama-3.3-70B-Instruct-Turbo": ("0.88", "0.88"),
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": ("0.18", "0.18"),
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": ("0.88", "0.88"),
    "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": ("3.50", "3.50"),
    "meta-llama/Meta-Llama-3-8B-Instruct-Turbo": ("0.18", "0.18"),
    "meta-llama/Meta-Llama-3-70B-Instruct-Turbo": ("0.88", "0.88"),
    "meta-llama/Llama-3.2-3B-Instruct-Turbo": ("0.06", "0.06"),
    "Qwen/Qwen2.5-7B-Instruct-Turbo": ("0.30", "0.30"),
    "Qwen/Qwen2.5-72B-Instruct-Turbo": ("1.20", "1.20"),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": ("0.60", "0.60"),
    "mistralai/Mistral-7B-Instruct-v0.3": ("0.20", "0.20"),
}
TOGETHER_CHAT_PRICES: dict[str, ChatPrice] = {
    model.lower(): ChatPrice(Decimal(i), Decimal(o), TOGETHER_CHAT_DATE, TOGETHER_CHAT_SOURCE)
    for model, (i, o) in _TOGETHER_CHAT.items()
}
# (largest size in billions of parameters, USD per million tokens, input and output alike).
TOGETHER_CHAT_BY_SIZE: tuple[tuple[float, ChatPrice], ...] = tuple(
    (
        upper,
        ChatPrice(Decimal(usd), Decimal(usd), TOGETHER_CHAT_DATE, TOGETHER_CHAT_SOURCE + ", by model size"),
    )
    for upper, usd in (
        (4.0, "0.10"),
        (8.0, "0.20"),
        (21.0, "0.30"),
        (41.0, "0.80"),
        (80.0, "0.90"),
        (110.0, "1.80"),
    )
)


def together_chat_price(model: str) -> ChatPrice | None:
    """A serverless chat call to `model` at Together: by model, else by the size in its name
    (`alice/Meta-Llama-3.1-8B-Instruct-Reference-my-run-1a2b` -> 8B); None when neither is known
    (a mixture-of-experts name such as 8x7B is priced only by model)."""
    key = (model or "").strip().lower()
    if key in TOGETHER_CHAT_PRICES:
        return TOGETHER_CHAT_PRICES[key]
    name = key.split("/")[-1]
    if re.search(r"\d+x\d", name):
        return None
    return _by_size(name, TOGETHER_CHAT_BY_SIZE)


# --------------------------------------------------------------------------- chat prices

FREE_CHAT = ChatPrice(
    Decimal("0"), Decimal("0"), PRICE_DATE, "the built-in local provider runs on this machine"
)


def chat_price(provider_kind: str, model: str) -> ChatPrice | None:
    """USD per million input and output tokens of a chat call to `model` at a `provider_kind`
    connection, dated; None when the table has no price for it.

    The built-in local provider is free. OpenAI: a fine-tune (`ft:BASE:...`) at its base model's
    fine-tuned inference price, a base model at its own. Together: `together_chat_price`. An
    OpenAI-compatible server bills (or not) as its operator decides: never a price here.
    """
    if provider_kind == LOCAL:
        return FREE_CHAT
    if provider_kind == TOGETHER:
        return together_chat_price(model)
    if provider_kind != OPENAI or not is_known(model):
        return None
    spec = model_spec(model)
    if spec.provider != OPENAI:
        return None
    pair = (
        (spec.inference_input, spec.inference_output)
        if model.startswith("ft:")
        else (spec.chat_input, spec.chat_output)
    )
    if pair[0] is None or pair[1] is None:
        return None
    return ChatPrice(pair[0].usd_per_million, pair[1].usd_per_million, pair[0].as_of, pair[0].source)


# --------------------------------------------------------------------------- lookup

_ALL = [*_OPENAI_MODELS, *_LOCAL_MODELS]
MODELS: dict[str, ModelSpec] = {spec.name.lower(): spec for spec in _ALL}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
# The dataset upload form's choices: every model in the catalogue, in its order.
MODEL_CHOICES = [(spec.name, spec.name) for spec in _ALL]  # every model; the form offers model_choices()


def model_spec(name: str) -> ModelSpec:
    """The spec of `name` (a snapshot, an alias, or a fine-tune `ft:BASE:org::id`, which trains
    like its base); an unknown model gets o200k_base, a 65,536-token limit and no price."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key).lower()
    if key in MODELS:
        return MODELS[key]
    if key.startswith("gpt-3.5"):
        return ModelSpec(name, "cl100k_base", 16_385, provider="")
    if key.startswith("ft:"):
        return model_spec(key.split(":")[1])
    return ModelSpec(name, "o200k_base", 65_536, provider="")


def is_known(name: str) -> bool:
    """Whether `name` (or its alias) is a model of the catalogue, not a fallback guess."""
    return model_spec(name).name.lower() in MODELS


# --------------------------------------------------------------------------- lifecycle

# Shutdown dates a provider's own model list reported (`shutdown_date` on OpenAI's model object)
# are kept in the database (fineweb/lifecycle: every process and a restart see them), by (provider,
# model lowercased): they win over the table above, which was written before they were seen. The
# adapters report them through `shutdown_reported` as they list models.


def shutdown_reported(provider_kind: str, model: str, day: date | None, *, source: str = "") -> None:
    """Record the shutdown date the provider's model list gave for `model` (None: none announced,
    which keeps a date reported before: a model list that stops saying is no reprieve)."""
    if day is not None:
        from fineweb.lifecycle import reported

        reported.record(provider_kind, model, day, source=source or f"{provider_kind} model list")


def _today(today: date | None) -> date:
    if today is not None:
        return today
    from django.conf import settings
    from django.utils import timezone

    pinned = getattr(settings, "FINEWEB_TODAY", "")
    return date.fromisoformat(pinned) if pinned else timezone.localdate()


def _dated_spec(provider_kind: str, model: str) -> ModelSpec | None:
    """The catalogue entry whose dates apply to `model` at a connection of `provider_kind`: OpenAI's
    dates hold on OpenAI itself only (a compatible server serving a model of that name is not
    shut down by OpenAI)."""
    spec = model_spec(model)
    if not is_known(model) or spec.provider != provider_kind:
        return None
    return spec


def today() -> date:
    """Today for the lifecycle dates: settings.FINEWEB_TODAY when pinned, else the local date."""
    return _today(None)


def _words(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def retirement(provider_kind: str, model: str) -> date | None:
    """The day `model` (a base model or a fine-tune of one) stops answering at a `provider_kind`
    connection: a reported shutdown date, else the table's; None when none is known."""
    from fineweb.lifecycle import reported as reported_dates

    seen = reported_dates.dates()
    base = model_spec(model).name.lower()
    reported = seen.get((provider_kind, (model or "").lower())) or seen.get((provider_kind, base))
    if reported is not None:
        return reported
    spec = _dated_spec(provider_kind, model)
    if spec is None:
        return None
    return spec.shutdown_on or spec.retired_on


def retirement_sentence(provider_kind: str, model: str, *, today: date | None = None) -> str:
    """ "gpt-4o-mini-… stops answering on 14 January 2027." (or "stopped answering on …"); "" when
    no date is known. For the compare screen and evaluation runs."""
    day = retirement(provider_kind, model)
    if day is None:
        return ""
    if day <= _today(today):
        return f"{model} was retired on {_words(day)}: the provider no longer serves it."
    return (
        f"{model} is retired on {_words(day)}: the provider stops serving it (and fine-tunes of it) that day."
    )


def training_cutoff(provider_kind: str, model: str) -> date | None:
    """The first day a new fine-tuning job on `model` is refused at `provider_kind`: the model's
    retirement or shutdown, or the day after the provider's last day for new jobs."""
    days = []
    lifecycle = PROVIDER_LIFECYCLE.get(provider_kind)
    if lifecycle and lifecycle.last_new_jobs_on:
        days.append(lifecycle.last_new_jobs_on + timedelta(days=1))
    spec = _dated_spec(provider_kind, model)
    if spec is not None:
        days += [d for d in (spec.retired_on, spec.shutdown_on) if d is not None]
    reported = retirement(provider_kind, model)
    if reported is not None:
        days.append(reported)
    return min(days) if days else None


def can_fine_tune(provider_kind: str, model: str, *, today: date | None = None) -> bool:
    """Whether a new fine-tuning job on `model` at `provider_kind` is still taken today."""
    spec = _dated_spec(provider_kind, model)
    if spec is not None and not spec.offered:
        return False
    cutoff = training_cutoff(provider_kind, model)
    return cutoff is None or _today(today) < cutoff


def provider_notice(provider_kind: str, *, today: date | None = None) -> str:
    """The sentence every page about a connection of `provider_kind` shows while the provider is
    winding fine-tuning down (and after); "" when nothing is announced."""
    lifecycle = PROVIDER_LIFECYCLE.get(provider_kind)
    if lifecycle is None or lifecycle.last_new_jobs_on is None:
        return ""
    last = lifecycle.last_new_jobs_on
    shutdowns = sorted(
        {s.shutdown_on for s in MODELS.values() if s.provider == provider_kind and s.shutdown_on}
    )
    name = {OPENAI: "OpenAI", TOGETHER: "Together AI"}.get(provider_kind, provider_kind)
    if _today(today) > last:
        text = f"{name} stopped taking new fine-tuning jobs after {_words(last)}."
    else:
        text = f"{name} takes no new fine-tuning jobs after {_words(last)}."
    if lifecycle.refused_earlier:
        earlier = " and ".join(f"{who} {_words(day)}" for who, day in lifecycle.refused_earlier)
        text += f" It already refuses {earlier}."
    if shutdowns:
        text += (
            f" Its fine-tuned models stop answering on {_words(shutdowns[0])}: move the jobs you need to"
            " another connection before then."
        )
    return text


def offered_models(provider_kind: str, *, today: date | None = None) -> list[str]:
    """The catalogue's models of `provider_kind` that can still be fine-tuned today."""
    return [
        s.name
        for s in _ALL
        if s.provider == provider_kind and can_fine_tune(provider_kind, s.name, today=today)
    ]


def model_choices(*, today: date | None = None) -> list[tuple[str, str]]:
    """The dataset upload form's choices: the models that can still be fine-tuned today."""
    return [(s.name, s.name) for s in _ALL if can_fine_tune(s.provider, s.name, today=today)]


def cutoff_refusal(provider_kind: str, model: str, *, today: date | None = None) -> str:
    """Why a launch of `model` at `provider_kind` is refused today, and what to pick instead; ""
    when it is not refused."""
    if can_fine_tune(provider_kind, model, today=today):
        return ""
    name = {OPENAI: "OpenAI", TOGETHER: "Together AI"}.get(provider_kind, provider_kind)
    lifecycle = PROVIDER_LIFECYCLE.get(provider_kind)
    day = _today(today)
    if lifecycle and lifecycle.last_new_jobs_on and day > lifecycle.last_new_jobs_on:
        why = f"{name} takes no new fine-tuning jobs since {_words(lifecycle.last_new_jobs_on + timedelta(days=1))}."
        instead = (
            " Launch it on another connection instead: Together AI, an OpenAI-compatible server or the"
            " built-in local provider."
        )
        return why + instead
    spec = _dated_spec(provider_kind, model)
    own = [d for d in (spec.retired_on, spec.shutdown_on) if d] if spec else []
    own += [d for d in (retirement(provider_kind, model),) if d]
    gone = min(own) if own else None
    if gone is not None and gone <= day:
        why = f"{name} no longer fine-tunes {model}: it was retired for fine-tuning on {_words(gone)}."
    else:
        why = f"{name} no longer fine-tunes {model}."
    others = offered_models(provider_kind, today=today)
    instead = f" Pick one it still fine-tunes: {', '.join(others)}." if others else ""
    return why + instead


# Where a job of a retiring model goes on another kind of connection: the models to try, best
# first (the first one the connection offers is taken). Sizes are matched roughly: small OpenAI
# models to an 8B open model, large ones to a 70B one; the local provider has its one real model.
_SMALL_OPEN = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "meta-llama/Llama-3.2-3B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
)
_LARGE_OPEN = ("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", "Qwen/Qwen2.5-72B-Instruct", *_SMALL_OPEN)
_LOCAL = ("SmolLM2-135M-Instruct", "fineweb-tiny")
MODEL_MAPPING: dict[str, dict[str, tuple[str, ...]]] = {
    "gpt-4o-mini-2024-07-18": {TOGETHER: _SMALL_OPEN, LOCAL: _LOCAL},
    "gpt-4.1-mini-2025-04-14": {TOGETHER: _SMALL_OPEN, LOCAL: _LOCAL},
    "gpt-4.1-nano-2025-04-14": {TOGETHER: _SMALL_OPEN, LOCAL: _LOCAL},
    "gpt-3.5-turbo-0125": {TOGETHER: _SMALL_OPEN, LOCAL: _LOCAL},
    "gpt-4o-2024-08-06": {TOGETHER: _LARGE_OPEN, LOCAL: _LOCAL},
    "gpt-4.1-2025-04-14": {TOGETHER: _LARGE_OPEN, LOCAL: _LOCAL},
}


def mapped_model(model: str, target_kind: str, offered: list[str]) -> str | None:
    """The base model to train on a `target_kind` connection offering `offered` instead of
    `model`: the same model when offered, else the mapping's first offered one; None when there
    is no mapping (an OpenAI-compatible server, whose models fineweb cannot know)."""
    if model in offered:
        return model
    wanted = MODEL_MAPPING.get(model_spec(model).name, {}).get(target_kind, ())
    by_lower = {m.lower(): m for m in offered}
    for candidate in wanted:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None
