"""Default epochs and the cost estimate, against numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from datasets_app.costs import PRICE_DATE, default_epochs, estimate, model_spec


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [(3, 25), (10, 10), (30, 3), (34, 3), (100, 3), (8333, 3), (8334, 2), (10_000, 2), (30_000, 1)],
)
def test_default_epochs_follow_openais_rule(n_examples, epochs):
    assert default_epochs(n_examples) == epochs


def test_the_sample_dataset_costs_two_cents_on_gpt_4o_mini():
    est = estimate(n_examples=30, tokens_per_example_capped_total=2478, model="gpt-4o-mini-2024-07-18")
    # 2,478 tokens x 3 epochs = 7,434 billed tokens x $3.00 / 1M = $0.022302 -> $0.02
    assert (est.n_epochs, est.billed_tokens, est.cost_usd) == (3, 7434, Decimal("0.02"))
    assert est.price_per_million == Decimal("3.00") and est.price_date == PRICE_DATE


def test_a_million_tokens_on_gpt_4o_for_three_epochs_cost_75_dollars():
    est = estimate(n_examples=100, tokens_per_example_capped_total=1_000_000, model="gpt-4o-2024-08-06")
    assert est.billed_tokens == 3_000_000
    assert est.cost_usd == Decimal("75.00")


def test_an_explicit_number_of_epochs_overrides_the_default():
    est = estimate(n_examples=10, tokens_per_example_capped_total=500_000, model="gpt-4.1-nano", n_epochs=2)
    assert (est.n_epochs, est.billed_tokens, est.cost_usd) == (2, 1_000_000, Decimal("1.50"))


def test_local_models_are_free_and_unknown_models_have_no_price():
    assert estimate(n_examples=50, tokens_per_example_capped_total=9999, model="SmolLM2-135M-Instruct").cost_usd == 0
    unknown = estimate(n_examples=50, tokens_per_example_capped_total=9999, model="some/other-model")
    assert unknown.cost_usd is None and unknown.billed_tokens == 9999 * 3


def test_model_limits_per_family():
    assert model_spec("gpt-4o-mini-2024-07-18").max_tokens_per_example == 65_536
    assert model_spec("gpt-3.5-turbo").max_tokens_per_example == 16_385
    assert model_spec("ft:gpt-4o-mini-2024-07-18:acme::abc123").name == "gpt-4o-mini-2024-07-18"
