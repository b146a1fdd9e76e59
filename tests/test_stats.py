"""fineweb.lib.stats against values worked out by hand, and properties over generated input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from fineweb.lib.stats import (
    OUTCOMES,
    Vote,
    bradley_terry,
    cohen_kappa,
    mcnemar,
    pair_records,
    paired_bootstrap,
    plain_sentence,
    wilson_interval,
)

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def _votes(a: str, b: str, outcome: str, times: int) -> list[Vote]:
    return [Vote(a, b, outcome)] * times


# --- Wilson interval and pair records ----------------------------------------------------------


def test_wilson_interval_for_7_of_10_by_hand():
    # p = 0.7, n = 10, z^2 = 3.841459
    # denominator = 1 + z^2/n = 1.3841459
    # centre = (p + z^2/(2n)) / denominator = (0.7 + 0.1920729) / 1.3841459 = 0.6444949
    # half = z * sqrt(p(1-p)/n + z^2/(4n^2)) / denominator
    #      = 1.959964 * sqrt(0.021 + 0.0096036) / 1.3841459 = 1.959964 * 0.1749389 / 1.3841459 = 0.2477167
    # interval = 0.6444949 -+ 0.2477167 = (0.3967782, 0.8922116)
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3967782, abs=1e-6)
    assert high == pytest.approx(0.8922116, abs=1e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (3, 10), (10, 10), (17, 40), (250, 1000)])
def test_wilson_interval_matches_scipy_for_whole_counts(k, n):
    expected = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_of_nothing_is_everything():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pair_records_count_ties_and_both_bad_as_half_a_win():
    votes = (
        _votes("A", "B", "a", 3)
        + _votes("B", "A", "a", 1)  # B was shown as "A" here and won: a loss for A
        + _votes("A", "B", "tie", 1)
        + _votes("A", "B", "both_bad", 1)
        + _votes("B", "C", "b", 2)
    )
    records = {(r.model, r.opponent): r for r in pair_records(votes)}
    assert set(records) == {("A", "B"), ("B", "A"), ("B", "C"), ("C", "B")}
    ab = records[("A", "B")]
    assert (ab.wins, ab.losses, ab.ties, ab.both_bad, ab.n) == (3, 1, 1, 1, 6)
    # (3 wins + (1 tie + 1 both bad) / 2) / 6 votes = 4/6
    assert ab.win_rate == pytest.approx(4 / 6)
    ba = records[("B", "A")]
    assert (ba.wins, ba.losses, ba.ties, ba.both_bad, ba.n) == (1, 3, 1, 1, 6)
    assert ba.win_rate == pytest.approx(2 / 6)
    assert (ab.ci_low, ab.ci_high) == pytest.approx(wilson_interval(4, 6))
    cb = records[("C", "B")]
    assert (cb.wins, cb.losses, cb.win_rate) == (2, 0, 1.0)
    # Wilson for 2/2: upper bound 1, lower bound 2 / (2 + z^2) = 2 / 5.841459 = 0.342380
    assert cb.ci_high == 1.0
    assert cb.ci_low == pytest.approx(2 / (2 + Z95**2), abs=1e-9)


def test_pair_records_of_no_votes_is_empty():
    assert pair_records([]) == []


# --- Bradley-Terry -----------------------------------------------------------------------------


def _three_model_table() -> list[Vote]:
    # A-B 2:1, B-C 2:1, A-C 4:1. Strengths 4 : 2 : 1 solve the score equations exactly
    # (wins of i = sum over opponents j of n_ij * p_i / (p_i + p_j)):
    #   A: 2 + 4 = 3 * 4/6 + 5 * 4/5 = 2 + 4;  B: 1 + 2 = 3 * 2/6 + 3 * 2/3 = 1 + 2;
    #   C: 1 + 1 = 3 * 1/3 + 5 * 1/5 = 1 + 1.
    return (
        _votes("A", "B", "a", 2)
        + _votes("A", "B", "b", 1)
        + _votes("B", "C", "a", 2)
        + _votes("C", "B", "a", 1)
        + _votes("C", "A", "b", 4)
        + _votes("A", "C", "b", 1)
    )


def test_bradley_terry_solves_the_score_equations_of_a_three_model_table():
    ratings = bradley_terry(_three_model_table(), prior=0, rounds=0)
    # log10 strengths 2 log10 2, log10 2, 0 around their mean log10 2: scores 1000 + 400 log10 2 * (1, 0, -1)
    step = 400 * math.log10(2)  # 120.412
    assert [r.model for r in ratings] == ["A", "B", "C"]
    assert [r.score for r in ratings] == pytest.approx([1000 + step, 1000, 1000 - step], abs=1e-6)
    assert [r.votes for r in ratings] == [8, 6, 8]


def test_bradley_terry_with_the_prior_solves_the_score_equations_with_one_virtual_tie_per_pair():
    votes = _three_model_table()
    ratings = {r.model: r for r in bradley_terry(votes, rounds=0)}
    p = {m: 10 ** ((r.score - 1000) / 400) for m, r in ratings.items()}
    # wins[i][j] plus half a virtual win each way for every pair
    wins = {("A", "B"): 2, ("B", "A"): 1, ("B", "C"): 2, ("C", "B"): 1, ("A", "C"): 4, ("C", "A"): 1}
    for i in "ABC":
        won = sum(wins[(i, j)] + 0.5 for j in "ABC" if j != i)
        expected = sum((wins[(i, j)] + wins[(j, i)] + 1) * p[i] / (p[i] + p[j]) for j in "ABC" if j != i)
        assert won == pytest.approx(expected, rel=1e-6)
    # The prior pulls the scores together, never past each other.
    assert ratings["A"].score > ratings["B"].score > ratings["C"].score
    assert ratings["A"].score - ratings["C"].score < 2 * 400 * math.log10(2)


def test_a_model_that_never_lost_gets_a_finite_score_from_the_prior():
    # 5 wins of A over B, plus the virtual tie: 5.5 against 0.5, strengths 11 : 1, a gap of
    # 400 log10 11 = 416.55 points split around 1000.
    ratings = bradley_terry(_votes("A", "B", "a", 5), rounds=200)
    gap = 400 * math.log10(11)
    assert [r.model for r in ratings] == ["A", "B"]
    assert ratings[0].score == pytest.approx(1000 + gap / 2, abs=1e-6)
    assert ratings[1].score == pytest.approx(1000 - gap / 2, abs=1e-6)
    for r in ratings:
        assert math.isfinite(r.ci_low) and math.isfinite(r.ci_high)
        assert r.ci_low <= r.score <= r.ci_high


def test_all_ties_and_both_bad_rate_every_model_alike():
    votes = _votes("A", "B", "tie", 4) + _votes("B", "C", "both_bad", 3) + _votes("C", "A", "tie", 2)
    ratings = bradley_terry(votes, rounds=100)
    assert [r.score for r in ratings] == pytest.approx([1000, 1000, 1000], abs=1e-6)
    assert all(r.ci_low == pytest.approx(1000, abs=1e-6) == r.ci_high for r in ratings)


def test_models_that_never_met_still_get_scores():
    votes = _votes("A", "B", "a", 3) + _votes("C", "D", "b", 3)
    ratings = {r.model: r for r in bradley_terry(votes, rounds=50)}
    assert ratings["A"].score == pytest.approx(ratings["D"].score)
    assert ratings["B"].score == pytest.approx(ratings["C"].score)
    assert ratings["A"].score > ratings["B"].score


def test_without_the_prior_a_model_that_never_lost_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="use a prior above 0"):
        bradley_terry(_votes("A", "B", "a", 3), prior=0, rounds=0)


def test_bradley_terry_of_no_votes_is_empty():
    assert bradley_terry([]) == []


def test_bootstrap_intervals_are_deterministic_by_seed_and_narrow_with_more_votes():
    few = bradley_terry(_three_model_table(), rounds=300, seed=7)
    assert few == bradley_terry(_three_model_table(), rounds=300, seed=7)
    assert few != bradley_terry(_three_model_table(), rounds=300, seed=8)
    many = bradley_terry(_three_model_table() * 20, rounds=300, seed=7)
    width = {r.model: r.ci_high - r.ci_low for r in few}
    for r in many:
        assert r.ci_high - r.ci_low < width[r.model]


# --- Cohen's kappa -----------------------------------------------------------------------------


def test_kappa_of_a_two_by_two_table_by_hand():
    #            second: yes  no
    # first: yes        20    5
    #        no         10   15       n = 50
    # observed = (20 + 15) / 50 = 0.7
    # expected = P(first yes) P(second yes) + P(first no) P(second no) = 0.5 * 0.6 + 0.5 * 0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    agreement = cohen_kappa(pairs)
    assert agreement.n == 50
    assert agreement.percent == pytest.approx(70.0)
    assert agreement.kappa == pytest.approx(0.4)
    assert agreement.ci_low is not None and agreement.ci_high is not None
    assert agreement.ci_low < 0.4 < agreement.ci_high
    # The analytic large-sample SE (Fleiss, Cohen and Everitt 1969) for this table is 0.1281, a
    # 95% interval of about 0.4 -+ 0.25; the bootstrap is of the same width.
    assert 0.35 < agreement.ci_high - agreement.ci_low < 0.65
    assert agreement == cohen_kappa(pairs)  # deterministic by seed


def test_identical_raters_agree_fully():
    pairs = [("approve", "approve")] * 6 + [("reject", "reject")] * 3
    agreement = cohen_kappa(pairs)
    assert (agreement.percent, agreement.kappa, agreement.ci_low, agreement.ci_high) == (100.0, 1.0, 1.0, 1.0)


def test_kappa_is_undefined_when_both_raters_used_one_label_only():
    agreement = cohen_kappa([("approve", "approve")] * 8)
    assert agreement.percent == 100.0
    assert agreement.kappa is None and agreement.ci_low is None and agreement.ci_high is None


def test_kappa_of_no_items_and_of_one_item():
    assert cohen_kappa([]).n == 0 and cohen_kappa([]).kappa is None
    one = cohen_kappa([("approve", "reject")])
    # observed 0, expected 1 * 0 + 0 * 1 = 0: kappa 0, no interval from one item
    assert (one.percent, one.kappa, one.ci_low) == (0.0, 0.0, None)


# --- McNemar and the paired bootstrap -----------------------------------------------------------


def test_mcnemar_exact_p_for_one_against_six_discordant_pairs():
    # A passed and B failed on 1 example (b = 1), A failed and B passed on 6 (c = 6), both passed 3.
    # Under no difference each discordant example goes either way with probability 1/2:
    # P(X <= 1 | 7, 1/2) = (C(7,0) + C(7,1)) / 2^7 = 8/128; two-sided p = 16/128 = 0.125.
    a = [True] * 1 + [False] * 6 + [True] * 3
    b = [False] * 1 + [True] * 6 + [True] * 3
    result = mcnemar(a, b)
    assert result.p_value == pytest.approx(0.125)
    assert (result.n, result.mean_a, result.mean_b) == (10, pytest.approx(0.4), pytest.approx(0.9))
    assert result.difference == pytest.approx(0.5)  # (c - b) / n
    assert -1 <= result.ci_low <= 0.5 <= result.ci_high <= 1
    assert not result.significant  # p = 0.125 is no evidence at 95%


def test_newcombe_interval_by_hand_for_a_table_without_correlation_correction():
    # Bentur et al. 2009 (Fagerland, Lydersen and Laake, ch. 8): both 1, only A 1, only B 7,
    # neither 12; n = 21. A's rate 2/21 = 0.095238, B's 8/21 = 0.380952, B - A = 0.285714.
    # Newcombe's phi: cross = 1 * 12 - 1 * 7 = 5, between 0 and n/2 = 10.5, so phi = 0.
    # Wilson 2/21 = (0.026517, 0.289143), Wilson 8/21 = (0.207511, 0.591213):
    # low  = 0.285714 - sqrt((0.380952 - 0.207511)^2 + (0.289143 - 0.095238)^2) = 0.285714 - 0.260156 = 0.025558
    # high = 0.285714 + sqrt((0.591213 - 0.380952)^2 + (0.095238 - 0.026517)^2) = 0.285714 + 0.221208 = 0.506922
    a = [True, True] + [False] * 19
    b = [True, False] + [True] * 7 + [False] * 12
    result = mcnemar(a, b)
    assert result.difference == pytest.approx(6 / 21)
    assert result.ci_low == pytest.approx(0.025558, abs=2e-6)
    assert result.ci_high == pytest.approx(0.506922, abs=2e-6)
    # exact McNemar: 1 against 7 discordant, p = 2 * (1 + 8) / 256 = 0.0703125: the interval
    # excludes 0 but the test does not reject, so the page does not call it real.
    assert result.p_value == pytest.approx(18 / 256)
    assert not result.significant


def test_newcombe_interval_with_the_correlation_correction():
    # both 30, only A 2, only B 8, neither 20; n = 60. cross = 600 - 16 = 584 > 30:
    # phi = (584 - 30) / sqrt(32 * 28 * 38 * 22) = 554 / 865.4756 = 0.640110.
    a = [True] * 32 + [False] * 28
    b = [True] * 30 + [False] * 2 + [True] * 8 + [False] * 20
    l1, u1 = scipy_stats.binomtest(32, 60).proportion_ci(method="wilson")
    l2, u2 = scipy_stats.binomtest(38, 60).proportion_ci(method="wilson")
    p1, p2, phi = 32 / 60, 38 / 60, 554 / math.sqrt(32 * 28 * 38 * 22)
    theta = p1 - p2
    low_theta = theta - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high_theta = theta + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    result = mcnemar(a, b)
    assert (result.ci_low, result.ci_high) == pytest.approx((-high_theta, -low_theta), abs=1e-12)
    # the correlation narrows it: plain square-and-add (phi = 0) would be wider
    wide = math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    assert result.ci_high - result.difference < wide


def test_mcnemar_significant_for_58_against_21_of_60():
    base = [True] * 21 + [False] * 39
    tuned = [True] * 58 + [False] * 2
    result = mcnemar(base, tuned)
    # 37 discordant examples, all for the fine-tune: p = 2 / 2^37
    assert result.p_value == pytest.approx(2 / 2**37)
    assert result.significant and result.ci_low > 0
    sentence = plain_sentence(result, label="answers in German", name_a="the base", name_b="the fine-tune")
    assert (
        sentence
        == "The fine-tune answers in German in 58 of 60 examples, the base in 21; the difference is real."
    )


def test_plain_sentence_keeps_model_ids_as_written():
    result = mcnemar([False, False, True], [True, True, True])
    sentence = plain_sentence(
        result, label="returns valid JSON", name_a="gpt-4o-mini", name_b="ft:gpt-4o-mini:acme"
    )
    assert sentence.startswith("ft:gpt-4o-mini:acme returns valid JSON in 3 of 3 examples, gpt-4o-mini in 1;")
    assert sentence.endswith("the difference could be chance (p = 0.5).")


def test_mcnemar_of_no_discordant_examples_and_of_nothing():
    same = mcnemar([True, False, True], [True, False, True])
    assert (same.difference, same.p_value, same.significant) == (0.0, 1.0, False)
    empty = mcnemar([], [])
    assert (empty.n, empty.p_value, empty.ci_low, empty.ci_high) == (0, None, -1.0, 1.0)
    assert plain_sentence(empty, label="returns valid JSON", name_a="x", name_b="y").startswith("No examples")


def test_paired_bootstrap_contains_the_true_difference_and_is_deterministic():
    import numpy as np

    rng = np.random.default_rng(42)
    a = rng.normal(10.0, 2.0, 300)
    b = a + 0.5 + rng.normal(0.0, 1.0, 300)  # true mean difference b - a = 0.5
    result = paired_bootstrap(list(a), list(b), seed=3)
    assert result.ci_low < 0.5 < result.ci_high
    assert result.difference == pytest.approx(float(np.mean(b - a)))
    assert result.significant and result.p_value is not None and result.p_value < 0.01
    assert result == paired_bootstrap(list(a), list(b), seed=3)
    assert result.ci_low != paired_bootstrap(list(a), list(b), seed=4).ci_low


def test_paired_permutation_p_of_five_positive_differences_is_exact():
    # Sign flips of (1, 1, 1, 1, 2): only all-plus and all-minus give |mean| >= 1.2: p = 2/32.
    result = paired_bootstrap([1, 2, 3, 4, 5], [2, 3, 4, 5, 7])
    assert result.p_value == pytest.approx(2 / 32)
    assert not result.significant
    sentence = plain_sentence(
        result, label="reply length", name_a="the base", name_b="the fine-tune", unit="tokens"
    )
    assert sentence.startswith(
        "On reply length, the fine-tune averages 4.2 tokens and the base 3 over 5 examples"
    )
    assert sentence.endswith("the difference could be chance (p = 0.062).")


@pytest.mark.parametrize("n", [3, 9, 16, 40])
def test_sign_flip_p_agrees_with_scipys_permutation_test(n):
    import numpy as np

    rng = np.random.default_rng(n)
    a = rng.normal(0.0, 1.0, n)
    b = a + rng.normal(0.4, 1.0, n)
    ours = paired_bootstrap(list(a), list(b), rounds=40_000, seed=1)
    reference = scipy_stats.permutation_test(
        (b - a,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=40_000 if n > 16 else 2**16,
        rng=2,
    )
    assert ours.p_value is not None
    if n <= 16:  # both enumerate every sign pattern
        assert ours.p_value == pytest.approx(reference.pvalue, abs=1e-12)
    else:  # both draw 40,000 random patterns: within a few standard errors
        assert ours.p_value == pytest.approx(reference.pvalue, abs=0.01)


def test_paired_bootstrap_of_zero_and_one_example():
    empty = paired_bootstrap([], [])
    assert (empty.n, empty.p_value, empty.significant) == (0, None, False)
    one = paired_bootstrap([1.0], [3.0])
    assert (one.n, one.difference, one.p_value, one.significant) == (1, 2.0, None, False)
    assert "too few examples" in plain_sentence(one, label="score", name_a="a", name_b="b")
    same = paired_bootstrap([2.0, 2.0, 5.0], [2.0, 2.0, 5.0])
    assert (same.difference, same.p_value, same.significant) == (0.0, 1.0, False)


# --- bad input -----------------------------------------------------------------------------------


@given(outcome=st.text(max_size=12).filter(lambda s: s not in OUTCOMES))
def test_an_unknown_outcome_is_refused_with_a_sentence(outcome):
    votes = [Vote("A", "B", "a"), Vote("A", "B", outcome)]
    for call in (pair_records, bradley_terry):
        with pytest.raises(ValueError, match=r"Vote 2 has the outcome .* must be one of"):
            call(votes)


def test_a_model_against_itself_and_unequal_lengths_are_refused():
    with pytest.raises(ValueError, match="two different models"):
        bradley_terry([Vote("A", "A", "tie")])
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="same examples"):
        mcnemar([True], [])
    with pytest.raises(ValueError, match="finite number"):
        paired_bootstrap([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        pair_records([], confidence=95)


# --- properties over generated input -------------------------------------------------------------

models = st.sampled_from(["base", "tuned", "ckpt-1", "other"])
votes_strategy = st.lists(
    st.tuples(models, models, st.sampled_from(OUTCOMES))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Vote(*t)),
    max_size=40,
)


@given(votes=votes_strategy)
def test_pair_records_mirror_and_stay_within_bounds(votes):
    records = {(r.model, r.opponent): r for r in pair_records(votes)}
    for (model, opponent), r in records.items():
        mirror = records[(opponent, model)]
        assert r.win_rate == pytest.approx(1 - mirror.win_rate)
        assert (r.wins, r.losses, r.n) == (mirror.losses, mirror.wins, mirror.n)
        assert r.ci_low == pytest.approx(1 - mirror.ci_high)
        assert 0 <= r.ci_low <= r.win_rate <= r.ci_high <= 1


@given(votes=votes_strategy, data=st.data())
@settings(max_examples=40, deadline=None)
def test_bradley_terry_ignores_vote_order_and_its_intervals_contain_the_scores(votes, data):
    shuffled = data.draw(st.permutations(votes))
    first = {r.model: r.score for r in bradley_terry(votes, rounds=0)}
    second = {r.model: r.score for r in bradley_terry(shuffled, rounds=0)}
    assert first.keys() == second.keys()
    for model, score in first.items():
        assert second[model] == pytest.approx(score, abs=1e-6)
        assert math.isfinite(score)
    ratings = bradley_terry(votes, rounds=30)
    assert [r.score for r in ratings] == sorted((r.score for r in ratings), reverse=True)
    for r in ratings:
        assert r.ci_low <= r.score <= r.ci_high


@given(votes=votes_strategy)
@settings(max_examples=40, deadline=None)
def test_swapping_sides_of_every_vote_changes_nothing(votes):
    swapped = [Vote(v.b, v.a, {"a": "b", "b": "a"}.get(v.outcome, v.outcome)) for v in votes]
    assert pair_records(swapped) == pair_records(votes)
    first = {r.model: (r.score, r.votes) for r in bradley_terry(votes, rounds=0)}
    second = {r.model: (r.score, r.votes) for r in bradley_terry(swapped, rounds=0)}
    assert first.keys() == second.keys()
    for model, (score, count) in first.items():
        assert second[model] == (pytest.approx(score, abs=1e-6), count)


labels = st.sampled_from(["approve", "reject", "fix"])


@given(pairs=st.lists(st.tuples(labels, labels), max_size=40))
@settings(max_examples=60, deadline=None)
def test_kappa_stays_within_bounds_and_is_symmetric(pairs):
    agreement = cohen_kappa(pairs, rounds=50)
    assert 0 <= agreement.percent <= 100
    flipped = cohen_kappa([(second, first) for first, second in pairs], rounds=50)
    assert flipped.percent == agreement.percent
    if agreement.kappa is None:
        assert flipped.kappa is None
        return
    assert flipped.kappa == pytest.approx(agreement.kappa)
    assert -1 <= agreement.kappa <= 1
    if agreement.ci_low is not None and agreement.ci_high is not None:
        assert -1 <= agreement.ci_low <= agreement.kappa <= agreement.ci_high <= 1


@given(results=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60))
@settings(max_examples=60, deadline=None)
def test_mcnemar_interval_contains_the_difference_within_minus_one_and_one(results):
    a = [x for x, _ in results]
    b = [y for _, y in results]
    result = mcnemar(a, b)
    assert -1 <= result.ci_low <= result.difference <= result.ci_high <= 1
    assert result.p_value is None or 0 <= result.p_value <= 1
    mirrored = mcnemar(b, a)
    assert mirrored.difference == pytest.approx(-result.difference)
    assert mirrored.p_value == result.p_value
    if result.significant:
        assert result.p_value is not None and result.p_value < 0.05


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(pairs=st.lists(st.tuples(finite, finite), max_size=30))
@settings(max_examples=40, deadline=None)
def test_paired_bootstrap_interval_contains_the_difference(pairs):
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    result = paired_bootstrap(a, b, rounds=200)
    assert result.ci_low <= result.difference <= result.ci_high
    assert result.p_value is None or 0 <= result.p_value <= 1
    assert not (result.significant and result.ci_low <= 0 <= result.ci_high)
