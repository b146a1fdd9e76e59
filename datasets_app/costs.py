"""The cost estimate the dataset pages and the launch form show, and OpenAI's default-epochs rule.

Models, limits and prices come from the one catalogue, `fineweb.lib.catalogue`; the names below
that come from there are re-exported for the callers that read them here.

Public API (other apps call these):
    model_spec(name) -> ModelSpec
    default_epochs(n_examples) -> int
    estimate(*, n_examples, tokens_per_example_capped_total, model, n_epochs=None) -> Estimate
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from fineweb.lib.catalogue import (  # noqa: F401  (re-exported)
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODELS,
    PRICE_DATE,
    PRICE_SOURCE,
    ModelSpec,
    model_spec,
)

# OpenAI's default-epochs rule, from the cookbook "Data preparation and analysis for chat model
# fine-tuning" (Chat_finetuning_data_prep.ipynb).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


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
        price_date=spec.price_date or PRICE_DATE,
        model=spec.name,
    )
