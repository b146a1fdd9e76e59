"""SHIM on helper/eval, standing in for helper/stats's `fineweb/lib/stats.py` (same contract).

When helper/stats is merged, its module replaces this one; evaluation only uses the contract:
`paired_bootstrap(a, b)`, `mcnemar(a, b)` -> PairedDifference, `cohen_kappa(pairs)` -> Agreement.
`difference` here is mean_b - mean_a (callers read the direction from mean_a and mean_b).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    n: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    significant: bool


@dataclass(frozen=True)
class Agreement:
    n: int
    percent: float
    kappa: float
    ci_low: float
    ci_high: float


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> PairedDifference:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(x)
    if n == 0:
        return PairedDifference(
            0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0, "paired bootstrap", False
        )
    d = y - x
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    observed = float(d.mean())
    # Two-sided p-value: how often the centred bootstrap distribution is as far from 0 as observed.
    p = float(np.mean(np.abs(means - observed) >= abs(observed))) if observed else 1.0
    return PairedDifference(
        n,
        float(x.mean()),
        float(y.mean()),
        observed,
        float(low),
        float(high),
        p,
        "paired bootstrap",
        bool(low > 0 or high < 0),
    )


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> PairedDifference:
    n = len(a)
    if n == 0:
        return PairedDifference(0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0, "McNemar", False)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = only_a + only_b
    # Exact two-sided binomial test on the discordant pairs.
    k = min(only_a, only_b)
    p = (
        min(1.0, 2 * sum(math.comb(discordant, i) for i in range(k + 1)) / 2**discordant)
        if discordant
        else 1.0
    )
    diff = (only_b - only_a) / n
    se = math.sqrt(max(discordant - (only_b - only_a) ** 2 / n, 0.0)) / n
    mean_a, mean_b = sum(map(bool, a)) / n, sum(map(bool, b)) / n
    return PairedDifference(
        n,
        mean_a,
        mean_b,
        diff,
        max(-1.0, diff - 1.96 * se),
        min(1.0, diff + 1.96 * se),
        p,
        "McNemar",
        p < 0.05,
    )


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> Agreement:
    n = len(pairs)
    if n == 0:
        return Agreement(0, math.nan, math.nan, math.nan, math.nan)
    po = sum(1 for x, y in pairs if x == y) / n
    left, right = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    pe = sum(left[c] * right[c] for c in set(left) | set(right)) / n**2
    kappa = (po - pe) / (1 - pe) if pe < 1 else 1.0
    se = math.sqrt(po * (1 - po) / (n * (1 - pe) ** 2)) if pe < 1 else 0.0
    return Agreement(n, 100 * po, kappa, max(-1.0, kappa - 1.96 * se), min(1.0, kappa + 1.96 * se))
