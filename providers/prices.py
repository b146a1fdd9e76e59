"""Published training prices and fine-tunable model lists, dated.

Neither OpenAI's nor Together's API says what a training token costs or (for OpenAI) which models
can be fine-tuned, so these tables are kept by hand. Check them against the providers' pricing
pages when they change: https://openai.com/api/pricing and https://www.together.ai/pricing.
"""

from __future__ import annotations

import re
from decimal import Decimal

PRICES_CHECKED = "2025-06"

# USD per 1M training tokens for supervised fine-tuning (OpenAI pricing page, PRICES_CHECKED).
# Keys are the dated snapshot names the fine-tuning API accepts; an alias like `gpt-4o-mini`
# matches the snapshot it points to by prefix.
OPENAI_TRAINING_USD_PER_M: dict[str, Decimal] = {
    "gpt-4.1-2025-04-14": Decimal("25.00"),
    "gpt-4.1-mini-2025-04-14": Decimal("5.00"),
    "gpt-4.1-nano-2025-04-14": Decimal("1.50"),
    "gpt-4o-2024-08-06": Decimal("25.00"),
    "gpt-4o-mini-2024-07-18": Decimal("3.00"),
    "gpt-3.5-turbo-0125": Decimal("8.00"),
    "gpt-3.5-turbo-1106": Decimal("8.00"),
    "gpt-3.5-turbo-0613": Decimal("8.00"),
    "davinci-002": Decimal("6.00"),
    "babbage-002": Decimal("0.40"),
}
OPENAI_FINE_TUNABLE: tuple[str, ...] = tuple(OPENAI_TRAINING_USD_PER_M)

# Together bills LoRA supervised training per token by model-size bracket (together.ai/pricing,
# PRICES_CHECKED; the adapter doc in shared/api marks the exact rates as not captured, so treat
# these as estimates: the job's own `total_price` is the real figure after tokenisation).
TOGETHER_LORA_SFT_USD_PER_M: tuple[tuple[float, Decimal], ...] = (
    (16.0, Decimal("0.48")),
    (69.0, Decimal("1.50")),
    (100.0, Decimal("2.90")),
)

_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


def openai_snapshot(model: str) -> str | None:
    """The priced snapshot a model name refers to (`gpt-4o-mini` -> `gpt-4o-mini-2024-07-18`)."""
    name = model.removeprefix("ft:").split(":", 1)[0]
    if name in OPENAI_TRAINING_USD_PER_M:
        return name
    matches = [snap for snap in OPENAI_TRAINING_USD_PER_M if snap.startswith(name + "-") and name]
    # An alias like "gpt-4.1" must not pick "gpt-4.1-mini-...": keep snapshots whose rest is a date.
    dated = [snap for snap in matches if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{4}", snap[len(name) + 1 :])]
    return dated[0] if dated else None


def openai_training_price(model: str) -> Decimal | None:
    snap = openai_snapshot(model)
    return OPENAI_TRAINING_USD_PER_M.get(snap) if snap else None


def together_training_price(model: str) -> Decimal | None:
    """By the size in the model's name (`Meta-Llama-3.1-8B-Instruct` -> 8B); None when unknown."""
    sizes = [float(m) for m in _PARAMS.findall(model.split("/")[-1])]
    if not sizes:
        return None
    size = max(sizes)
    for upper, price in TOGETHER_LORA_SFT_USD_PER_M:
        if size <= upper:
            return price
    return None
