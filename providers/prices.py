"""Training and chat prices and fine-tunable models as the provider adapters ask for them.

The facts live in the one catalogue, `fineweb.lib.catalogue` (dated there, each price with its
source); this module only answers the adapters' questions in their terms.
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


def chat_price(model: str, *, provider_kind: str = catalogue.OPENAI) -> catalogue.ChatPrice | None:
    """USD per million input and output tokens of a chat call to `model` at a connection of
    `provider_kind` ("openai", "together", "local", "openai_compatible"), dated; None when the
    table has no price for it (`fineweb.lib.catalogue.chat_price`: the local provider is free; an
    OpenAI fine-tune at its fine-tuned inference price, a base model at its own; Together by model
    or by size; an OpenAI-compatible server never)."""
    spec = catalogue.model_spec(model)
    if spec.local:  # the local provider's own models, whichever connection names them
        return catalogue.FREE_CHAT
    return catalogue.chat_price(provider_kind, model)
