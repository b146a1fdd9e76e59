"""The one model and price catalogue: every price dated, lifecycle dates recorded, one source for all."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from fineweb.lib import catalogue
from fineweb.lib.catalogue import MODELS, PROVIDER_LIFECYCLE, model_spec, together_training_price


def _prices(spec):
    return [
        p
        for p in (
            spec.training,
            spec.inference_input,
            spec.inference_output,
            spec.chat_input,
            spec.chat_output,
        )
        if p is not None
    ]


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


def test_every_chat_price_is_dated_with_its_source_and_asked_by_provider():
    chat = [catalogue.chat_price("openai", name) for name in MODELS if MODELS[name].provider == "openai"]
    chat += list(catalogue.TOGETHER_CHAT_PRICES.values()) + [p for _, p in catalogue.TOGETHER_CHAT_BY_SIZE]
    for price in [p for p in chat if p is not None]:
        assert re.fullmatch(r"\d{4}-\d{2}", price.as_of) and price.source, price
        assert price.input_per_million > 0 and price.output_per_million > 0
    # The base models fineweb offers and their fine-tunes all have one; each its own row.
    for base in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"):
        own, tuned = (
            catalogue.chat_price("openai", base),
            catalogue.chat_price("openai", f"ft:{base}:acme::x1"),
        )
        assert own is not None and tuned is not None and own != tuned
    # The same names elsewhere: a compatible server bills as its operator decides; local is free.
    assert catalogue.chat_price("openai_compatible", "gpt-4o") is None
    assert catalogue.chat_price("together", "gpt-4o") is None
    local = catalogue.chat_price("local", "anything")
    assert local is not None and local.input_per_million == local.output_per_million == 0


def test_a_chat_price_computes_a_cost_from_token_counts():
    price = catalogue.chat_price("openai", "gpt-4.1-mini")
    assert price is not None
    # $0.40 in, $1.60 out per million: 1,000 in and 500 out = 0.0004 + 0.0008.
    assert price.cost(1_000, 500) == Decimal("0.0012")
