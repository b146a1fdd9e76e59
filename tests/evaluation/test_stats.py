"""The statistics behind a run, against values computed by hand."""

from __future__ import annotations

import math

from evaluation import services
from fineweb.lib import stats


def test_mcnemar_by_hand():
    # 20 pairs: both pass 8, only the base 2, only the fine-tune 8, both fail 2.
    base = [True] * 8 + [True] * 2 + [False] * 8 + [False] * 2
    tune = [True] * 8 + [False] * 2 + [True] * 8 + [False] * 2
    d = stats.mcnemar(base, tune)
    assert d.n == 20
    assert d.mean_a == 0.5 and d.mean_b == 0.8
    # Exact binomial, 10 discordant pairs, 2 one way: 2 * (C(10,0)+C(10,1)+C(10,2)) / 2**10 = 112/1024.
    assert d.p_value is not None and math.isclose(d.p_value, 112 / 1024)
    assert not d.significant


def test_cohen_kappa_by_hand():
    # 10 pairs: agree on 7; judge says "1" 6 times, people 5 times.
    pairs = [("1", "1")] * 4 + [("0", "0")] * 3 + [("1", "0")] + [("0", "1")] * 2
    a = stats.cohen_kappa(pairs)
    po = 0.7
    pe = (5 * 6 + 5 * 4) / 100  # people "1"=5,"0"=5; judge "1"=6,"0"=4
    assert a.n == 10 and math.isclose(a.percent, 70.0)
    assert a.kappa is not None and math.isclose(a.kappa, (po - pe) / (1 - pe))
    assert a.ci_low is not None and a.ci_high is not None and a.ci_low < a.kappa < a.ci_high


def test_judge_agreement_leaves_out_pairs_the_judge_has_no_outcome_for():
    human = [(1, "1"), (2, "0"), (3, "both_bad"), (4, "1")]
    judge = {1: "1", 2: "1", 3: "tie"}
    a = services.judge_agreement(human, judge)
    assert a is not None and a.n == 3 and math.isclose(a.percent, 200 / 3)
    assert services.judge_agreement(human, {}) is None


def test_plain_sentence_says_the_counts_and_whether_it_is_real():
    d = stats.mcnemar([False] * 39 + [True] * 21, [True] * 58 + [False] * 2)
    text = services.plain_sentence(
        title="Language", pass_fail=True, a_label="the base", b_label="the fine-tune", d=d
    )
    assert text.startswith("The fine-tune passes \u201cLanguage\u201d in 58 of 60 examples, the base in 21")
    assert "the difference is real" in text
