"""Per-model limits and training prices, and the cost estimate the pages and the launch form show.

Public API (other apps call these):
    model_spec(name) -> ModelSpec
    default_epochs(n_examples) -> int
    estimate(*, n_examples, tokens_per_example_capped_total, model, n_epochs=None) -> Estimate
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Training prices in USD per 1M training tokens and the longest example each model trains on.
# Source: OpenAI's pricing page (platform.openai.com/docs/pricing, "Fine-tuning" table) and the
# fine-tuning guide's token limits, as read in 2026-11. Prices change: update PRICE_DATE with them.
PRICE_DATE = "2026-11"
PRICE_SOURCE = "OpenAI pricing page, fine-tuning training prices, read 2026-11"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    encoding: str  # bpe-openai / tiktoken encoding name used to count tokens
    max_tokens_per_example: int
    price_per_million: Decimal | None  # None: we do not know this model's price
    local: bool = False


_MODELS = [
    ModelSpec("gpt-4o-mini-2024-07-18", "o200k_base", 65_536, Decimal("3.00")),
    ModelSpec("gpt-4o-2024-08-06", "o200k_base", 65_536, Decimal("25.00")),
    ModelSpec("gpt-4.1-2025-04-14", "o200k_base", 65_536, Decimal("25.00")),
    ModelSpec("gpt-4.1-mini-2025-04-14", "o200k_base", 65_536, Decimal("5.00")),
    ModelSpec("gpt-4.1-nano-2025-04-14", "o200k_base", 65_536, Decimal("1.50")),
    ModelSpec("gpt-3.5-turbo-0125", "cl100k_base", 16_385, Decimal("8.00")),
    ModelSpec("gpt-3.5-turbo-1106", "cl100k_base", 16_385, Decimal("8.00")),
    # The built-in local provider trains on this machine: no bill. Its own tokenizer differs;
    # o200k_base gives a close enough count for the statistics.
    ModelSpec("SmolLM2-135M-Instruct", "o200k_base", 2_048, Decimal("0"), local=True),
    ModelSpec("tiny-random", "o200k_base", 2_048, Decimal("0"), local=True),
]
MODELS: dict[str, ModelSpec] = {spec.name.lower(): spec for spec in _MODELS}
# Short names people type, mapped to the snapshot they train today.
_ALIASES = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
MODEL_CHOICES = [(spec.name, spec.name) for spec in _MODELS]

# OpenAI's default-epochs rule, from the cookbook "Data preparation and analysis for chat model
# fine-tuning" (Chat_finetuning_data_prep.ipynb).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def model_spec(name: str) -> ModelSpec:
    """The spec of `name`; an unknown model gets o200k_base, a 65,536-token limit and no price."""
    key = (name or "").strip().lower()
    key = _ALIASES.get(key, key).lower()
    if key in MODELS:
        return MODELS[key]
    if key.startswith("gpt-3.5"):
        return ModelSpec(name, "cl100k_base", 16_385, None)
    if key.startswith("ft:"):  # a fine-tuned model trains like its base: ft:BASE:org::id
        return model_spec(key.split(":")[1])
    return ModelSpec(name, "o200k_base", 65_536, None)


def default_epochs(n_examples: int) -> int:
    """OpenAI's default number of epochs for a training file of `n_examples` examples."""
    n_epochs = TARGET_EPOCHS
    if n_examples <= 0:
        return n_epochs
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        n_epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        n_epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return n_epochs


@dataclass(frozen=True)
class Estimate:
    n_epochs: int
    billed_tokens: int
    cost_usd: Decimal | None  # None when the model's price is unknown
    price_per_million: Decimal | None
    price_date: str
    model: str


def estimate(
    *, n_examples: int, tokens_per_example_capped_total: int, model: str, n_epochs: int | None = None
) -> Estimate:
    """Billed tokens and cost of training `model` on a file.

    `tokens_per_example_capped_total` is the sum over examples of min(tokens, model limit), as
    DatasetVersion.tokens_capped_total stores it. `n_epochs=None` applies OpenAI's default rule.
    """
    spec = model_spec(model)
    epochs = n_epochs if n_epochs else default_epochs(n_examples)
    billed = tokens_per_example_capped_total * epochs
    cost = None
    if spec.price_per_million is not None:
        cost = (Decimal(billed) * spec.price_per_million / Decimal(1_000_000)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
    return Estimate(
        n_epochs=epochs,
        billed_tokens=billed,
        cost_usd=cost,
        price_per_million=spec.price_per_million,
        price_date=PRICE_DATE,
        model=spec.name,
    )
