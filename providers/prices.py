"""Published training prices and fine-tunable model lists, dated.

Neither OpenAI's nor Together's API says what a training token costs or (for OpenAI) which models
can be fine-tuned, so these tables are kept by hand: OpenAI's in datasets_app/costs.py, Together's
here. Check them against the providers' pricing
pages when they change: https://openai.com/api/pricing and https://www.together.ai/pricing.
"""

from __future__ import annotations

import re
from decimal import Decimal

PRICES_CHECKED = "2025-06"

# OpenAI's prices and model list are the datasets app's table (datasets_app/costs.py, dated there):
# one table for the dataset page's estimate, the launch form and the adapter.
# Together bills LoRA supervised training per token by model-size bracket (together.ai/pricing,
# PRICES_CHECKED; the adapter doc in shared/api marks the exact rates as not captured, so treat
# these as estimates: the job's own `total_price` is the real figure after tokenisation).
TOGETHER_LORA_SFT_USD_PER_M: tuple[tuple[float, Decimal], ...] = (
    (16.0, Decimal("0.48")),
    (69.0, Decimal("1.50")),
    (100.0, Decimal("2.90")),
)

_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


def openai_is_fine_tunable(model: str) -> bool:
    """A base model OpenAI fine-tunes (per the datasets app's dated table), aliases included."""
    from datasets_app.costs import MODELS, model_spec

    if model.startswith("ft:"):
        return False
    spec = model_spec(model)
    return spec.name.lower() in MODELS and not spec.local and spec.price_per_million is not None


def openai_training_price(model: str) -> Decimal | None:
    from datasets_app.costs import model_spec

    spec = model_spec(model)
    return None if spec.local else spec.price_per_million


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
