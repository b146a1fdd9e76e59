"""Training prices and fine-tunable models as the provider adapters ask for them.

The facts live in the one catalogue, `fineweb.lib.catalogue` (dated there, each price with its
source); this module only answers the adapters' two questions in their terms.
"""

from __future__ import annotations

from decimal import Decimal

from fineweb.lib import catalogue


def openai_is_fine_tunable(model: str) -> bool:
    """A base model OpenAI fine-tunes (per the catalogue), aliases included."""
    if model.startswith("ft:"):
        return False
    spec = catalogue.model_spec(model)
    return (
        catalogue.is_known(model)
        and spec.provider == catalogue.OPENAI
        and spec.price_per_million is not None
        and catalogue.can_fine_tune(catalogue.OPENAI, model)
    )


def openai_training_price(model: str) -> Decimal | None:
    spec = catalogue.model_spec(model)
    return None if spec.local else spec.price_per_million


def together_training_price(model: str) -> Decimal | None:
    """By the size in the model's name (`Meta-Llama-3.1-8B-Instruct` -> 8B); None when unknown."""
    price = catalogue.together_training_price(model)
    return price.usd_per_million if price else None


def chat_price(model: str) -> catalogue.ChatPrice | None:
    """USD per million input and output tokens of a chat call to `model`, dated; None when unknown.

    The built-in local provider is free; a fine-tune is billed at its base model's fine-tuned
    inference price (the catalogue's table); other models have no price in the table yet.
    """
    spec = catalogue.model_spec(model)
    if spec.local:
        return catalogue.ChatPrice(Decimal("0"), Decimal("0"), spec.training.as_of if spec.training else "")
    if model.startswith("ft:") and spec.inference_input and spec.inference_output:
        return catalogue.ChatPrice(
            spec.inference_input.usd_per_million,
            spec.inference_output.usd_per_million,
            spec.inference_input.as_of,
        )
    return None
