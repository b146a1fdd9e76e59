"""The one model and price catalogue: models, tokenizers, token limits, prices and lifecycle dates.

No provider's API says what a training token costs, which models can be fine-tuned, or when a
model goes away, so these facts are kept here by hand, each price with the date it was read and
where. The datasets app (token counts, limits, the cost estimate), the provider adapters (prices,
which models fine-tune) and the launch form all read this module; nothing else holds a copy.

Public API:
    model_spec(name) -> ModelSpec          a model by name, alias or fine-tune name; never raises
    MODELS, DEFAULT_MODEL, MODEL_CHOICES   the models the dataset form offers, by name
    together_training_price(model) -> Price | None
    PROVIDER_LIFECYCLE[provider] -> ProviderLifecycle

Check the tables against the providers' pages when they change (https://openai.com/api/pricing,
https://platform.openai.com/docs/deprecations, https://www.together.ai/pricing) and update the
dates with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

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
    # Lifecycle. retired_on: no new fine-tuning jobs on it from that day. shutdown_on: the model
    # and the fine-tuned models made from it stop answering from that day.
    retired_on: date | None = None
    shutdown_on: date | None = None

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
# Deprecations page: the fine-tuning shutdown announcement.
_LIFECYCLE_SOURCE = "OpenAI deprecations page, fine-tuning shutdown, read 2026-11"
_OPENAI_SHUTDOWN = date(2027, 1, 14)


def _training(usd: str) -> Price:
    return Price(Decimal(usd), PRICE_DATE, PRICE_SOURCE)


def _inference(usd: str) -> Price:
    return Price(Decimal(usd), _INFERENCE_DATE, _INFERENCE_SOURCE)


def _openai(
    name: str,
    encoding: str,
    limit: int,
    training: str,
    inference: tuple[str, str] | None = None,
    *,
    retired_on: date | None = None,
    shutdown_on: date | None = None,
) -> ModelSpec:
    return ModelSpec(
        name,
        encoding,
        limit,
        _training(training),
        inference_input=_inference(inference[0]) if inference else None,
        inference_output=_inference(inference[1]) if inference else None,
        retired_on=retired_on,
        shutdown_on=shutdown_on,
    )


_OPENAI_MODELS = [
    _openai(
        "gpt-4o-mini-2024-07-18", "o200k_base", 65_536, "3.00", ("0.30", "1.20"), shutdown_on=_OPENAI_SHUTDOWN
    ),
    _openai(
        "gpt-4o-2024-08-06", "o200k_base", 65_536, "25.00", ("3.75", "15.00"), shutdown_on=_OPENAI_SHUTDOWN
    ),
    _openai(
        "gpt-4.1-2025-04-14", "o200k_base", 65_536, "25.00", ("3.00", "12.00"), shutdown_on=_OPENAI_SHUTDOWN
    ),
    _openai(
        "gpt-4.1-mini-2025-04-14",
        "o200k_base",
        65_536,
        "5.00",
        ("0.80", "3.20"),
        shutdown_on=_OPENAI_SHUTDOWN,
    ),
    # Retired for fine-tuning on 2026-10-23; kept so existing datasets and jobs still resolve.
    _openai(
        "gpt-4.1-nano-2025-04-14",
        "o200k_base",
        65_536,
        "1.50",
        ("0.20", "0.80"),
        retired_on=date(2026, 10, 23),
    ),
    _openai("gpt-3.5-turbo-0125", "cl100k_base", 16_385, "8.00", ("3.00", "6.00")),
    _openai("gpt-3.5-turbo-1106", "cl100k_base", 16_385, "8.00", ("3.00", "6.00")),
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
_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


def together_training_price(model: str) -> Price | None:
    """By the size in the model's name (`Meta-Llama-3.1-8B-Instruct` -> 8B); None when unknown."""
    sizes = [float(m) for m in _PARAMS.findall(model.split("/")[-1])]
    if not sizes:
        return None
    size = max(sizes)
    for upper, price in TOGETHER_LORA_SFT:
        if size <= upper:
            return price
    return None


# --------------------------------------------------------------------------- lookup

_ALL = [*_OPENAI_MODELS, *_LOCAL_MODELS]
MODELS: dict[str, ModelSpec] = {spec.name.lower(): spec for spec in _ALL}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
# The dataset upload form's choices: every model in the catalogue, in its order.
MODEL_CHOICES = [(spec.name, spec.name) for spec in _ALL]


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
