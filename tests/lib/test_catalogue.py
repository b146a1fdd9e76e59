"""The one model and price catalogue: every price dated, lifecycle dates recorded, one source for all."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from fineweb.lib import catalogue
from fineweb.lib.catalogue import MODELS, PROVIDER_LIFECYCLE, model_spec, together_training_price


def _prices(spec):
    return [p for p in (spec.training, spec.inference_input, spec.inference_output) if p is not None]


def test_every_price_carries_the_month_it_was_read_and_its_source():
    prices = [p for spec in MODELS.values() for p in _prices(spec)]
    prices += [p for _, p in catalogue.TOGETHER_LORA_SFT]
    assert prices
    for price in prices:
        assert re.fullmatch(r"\d{4}-\d{2}", price.as_of), price
        assert price.source and isinstance(price.usd_per_million, Decimal)


def test_openai_and_together_prices_keep_their_own_dates():
    openai_price = model_spec("gpt-4o-mini").training
    together_price = together_training_price("Meta-Llama-3.1-8B-Instruct")
    assert openai_price is not None and together_price is not None
    assert openai_price.as_of == catalogue.PRICE_DATE == "2026-11"
    assert together_price.as_of == "2025-06"


def test_openais_fine_tuning_shutdown_is_recorded_with_the_models():
    for name in (
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
    ):
        assert model_spec(name).shutdown_on == date(2027, 1, 14), name
    assert model_spec("gpt-4.1-nano").retired_on == date(2026, 10, 23)
    openai = PROVIDER_LIFECYCLE[catalogue.OPENAI]
    assert openai.last_new_jobs_on == date(2027, 1, 6)
    assert openai.refused_earlier == (
        ("organisations created since", date(2026, 5, 7)),
        ("organisations inactive since", date(2026, 7, 2)),
    )


def test_a_fine_tune_resolves_to_its_base_and_its_shutdown_date():
    spec = model_spec("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert spec.name == "gpt-4o-mini-2024-07-18" and spec.shutdown_on == date(2027, 1, 14)


def test_an_unknown_model_is_a_guess_without_prices_or_dates():
    spec = model_spec("some/other-model")
    assert not catalogue.is_known("some/other-model")
    assert (spec.encoding, spec.max_tokens_per_example) == ("o200k_base", 65_536)
    assert _prices(spec) == [] and spec.shutdown_on is None and spec.retired_on is None


def test_the_datasets_app_and_the_providers_read_the_catalogue():
    from datasets_app import costs
    from providers import prices

    assert costs.model_spec is model_spec and costs.MODELS is MODELS
    assert prices.openai_training_price("gpt-4.1-mini") == model_spec("gpt-4.1-mini").price_per_million
    assert prices.together_training_price("x/Mixtral-8x7B-70B") == Decimal("2.90")
    assert not prices.openai_is_fine_tunable("SmolLM2-135M-Instruct")
