"""Statistics shared by compare (blind votes), review (agreement between reviewers) and evaluation.

Pure Python and numpy, no Django. The heavy lifting is done by maintained libraries:

- `choix` (Bradley-Terry maximum likelihood by iterative Luce spectral ranking, on a dense matrix of
  win counts that may hold halves, so a tie is half a win each way as LMArena counts it);
- `scipy` (normal quantiles, the exact binomial test behind McNemar's test, and the sign-flip
  permutation test behind the paired p-value).

What is written here is the glue: turning votes into count matrices, bootstrap resampling
(vectorised with numpy, deterministic by seed), the Wilson and Newcombe intervals (closed forms of a
few lines, checked against scipy's Wilson interval in the tests), Cohen's kappa, the sign-flip
permutation test (checked against scipy's `permutation_test`, which is 10x slower here), and the
sentence a non-engineer reads.

Every function accepts empty or degenerate input (no votes, one model, a model that never won,
all ties, identical raters, n = 0 or 1) and answers something honest instead of raising; only input
that cannot mean anything (an unknown vote outcome, a model voted against itself, sequences of
different lengths) raises `ValueError` with a sentence saying what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import choix
import numpy as np
from scipy import stats as scipy_stats

OUTCOMES = ("a", "b", "tie", "both_bad")

# Pseudo-count added to every pair of models before the Bradley-Terry fit: one virtual tied game
# per pair (half a win each way). It keeps every score finite (a model that never won, or never
# lost, or two groups of models that never met) and pulls scores resting on a handful of votes
# gently towards each other; with hundreds of votes per pair it moves scores by well under a point.
BT_PRIOR = 0.5

# Elo-like scale of the arenas: 1000 + 400 * log10(strength), strengths normalised so that the
# geometric mean strength is 1 (the mean score is 1000).
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)

METHOD_MCNEMAR = "exact McNemar test"
METHOD_BOOTSTRAP = "paired bootstrap"


@dataclass(frozen=True)
class Vote:
    a: str
    b: str
    outcome: str  # "a" | "b" | "tie" | "both_bad"


@dataclass(frozen=True)
class PairRecord:
    model: str
    opponent: str
    wins: int
    losses: int
    ties: int
    both_bad: int
    n: int
    win_rate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Rating:
    model: str
    score: float
    ci_low: float
    ci_high: float
    votes: int


@dataclass(frozen=True)
class Agreement:
    n: int
    percent: float
    kappa: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class PairedDifference:
    n: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float | None
    method: str
    significant: bool


# --- helpers -----------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"The confidence level must be between 0 and 1 (for example 0.95), not {confidence}."
        )
    return float(confidence)


def _z(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for 95%."""
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2.0))


def _check_votes(votes: Sequence[Vote]) -> None:
    for i, vote in enumerate(votes):
        if vote.outcome not in OUTCOMES:
            raise ValueError(
                f"Vote {i + 1} has the outcome {vote.outcome!r}; a vote must be one of "
                "'a' (A better), 'b' (B better), 'tie' or 'both_bad'."
            )
        if vote.a == vote.b:
            raise ValueError(
                f"Vote {i + 1} compares {vote.a!r} with itself; a vote needs two different models."
            )


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion successes/n (successes may hold halves: ties).

    Always inside [0, 1] and always containing successes/n; for n = 0 it is the whole [0, 1].
    """
    _check_confidence(confidence)
    if n <= 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(max(p * (1.0 - p) / n + z2 / (4.0 * n * n), 0.0)) / denominator
    # (The closed form contains p exactly; min/max only absorb rounding at p = 0 or 1.)
    return min(max(0.0, centre - half), p), max(min(1.0, centre + half), p)


def _percentile_interval(
    samples: np.ndarray, point: float | np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval, widened to include the point estimate if it misses it.

    (A percentile interval can miss the estimate for very skewed statistics on a few items; a
    page that showed "5 (interval 6 to 9)" would read as a bug.)
    """
    tail = (1.0 - confidence) / 2.0 * 100.0
    low = np.percentile(samples, tail, axis=0)
    high = np.percentile(samples, 100.0 - tail, axis=0)
    return np.minimum(low, point), np.maximum(high, point)


# --- votes: pair records -----------------------------------------------------------------------


def pair_records(votes: Sequence[Vote], confidence: float = 0.95) -> list[PairRecord]:
    """Wins, losses, ties and a win rate for every ordered pair of models that met in a vote.

    Both (A, B) and (B, A) are listed, sorted by model then opponent. The win rate counts a tie as
    half a win, and a "both bad" vote like a tie (half a win each way, as for the ratings):
    win_rate = (wins + (ties + both_bad) / 2) / n. Its interval is the Wilson score interval, so
    (A, B) and (B, A) mirror each other exactly: win_rate(B, A) = 1 - win_rate(A, B).
    """
    _check_confidence(confidence)
    _check_votes(votes)
    # counts[(x, y)] = [wins of x over y, losses, ties, both_bad]
    counts: dict[tuple[str, str], list[int]] = {}
    for vote in votes:
        forward = counts.setdefault((vote.a, vote.b), [0, 0, 0, 0])
        backward = counts.setdefault((vote.b, vote.a), [0, 0, 0, 0])
        if vote.outcome == "a":
            forward[0] += 1
            backward[1] += 1
        elif vote.outcome == "b":
            forward[1] += 1
            backward[0] += 1
        elif vote.outcome == "tie":
            forward[2] += 1
            backward[2] += 1
        else:
            forward[3] += 1
            backward[3] += 1
    records = []
    for (model, opponent), (wins, losses, ties, both_bad) in sorted(counts.items()):
        n = wins + losses + ties + both_bad
        score = wins + (ties + both_bad) / 2.0
        low, high = wilson_interval(score, n, confidence)
        records.append(
            PairRecord(
                model=model,
                opponent=opponent,
                wins=wins,
                losses=losses,
                ties=ties,
                both_bad=both_bad,
                n=n,
                win_rate=score / n,
                ci_low=low,
                ci_high=high,
            )
        )
    return records


# --- votes: Bradley-Terry ratings --------------------------------------------------------------


def _vote_cells(votes: Sequence[Vote], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each vote as two cells of the m x m win matrix and the weight it puts in each.

    A vote for A puts 1 in (A, B) and 0 in (B, A); a tie or a both-bad puts 1/2 in each.
    """
    m = len(index)
    cells = np.empty((len(votes), 2), dtype=np.int64)
    weights = np.empty((len(votes), 2), dtype=float)
    for k, vote in enumerate(votes):
        i, j = index[vote.a], index[vote.b]
        cells[k] = (i * m + j, j * m + i)
        if vote.outcome == "a":
            weights[k] = (1.0, 0.0)
        elif vote.outcome == "b":
            weights[k] = (0.0, 1.0)
        else:
            weights[k] = (0.5, 0.5)
    return cells, weights


def _bt_fit(wins: np.ndarray, prior: float, initial: np.ndarray | None = None) -> np.ndarray:
    """Log-strengths (natural log, mean 0) maximising the Bradley-Terry likelihood of `wins`.

    `wins[i, j]` is the (possibly fractional) number of wins of i over j; `prior` is added to every
    off-diagonal cell first (a virtual tied game per pair when prior = 0.5).
    """
    m = wins.shape[0]
    if m == 1:
        return np.zeros(1)
    matrix = wins + prior * (1.0 - np.eye(m))
    try:
        params = choix.ilsr_pairwise_dense(
            matrix, alpha=0.0, initial_params=initial, max_iter=10_000, tol=1e-10
        )
    except (ValueError, RuntimeError) as error:  # only reachable with prior = 0
        raise ValueError(
            "These votes have no finite Bradley-Terry scores without a prior (a model never won, "
            "never lost, or some models never met): use a prior above 0."
        ) from error
    params = np.asarray(params, dtype=float)
    return params - params.mean()


def bradley_terry(
    votes: Sequence[Vote],
    *,
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    prior: float = BT_PRIOR,
) -> list[Rating]:
    """Bradley-Terry ratings of the models in `votes`, best first, with bootstrap intervals.

    - A tie counts as half a win for each side (as LMArena does); a "both bad" vote is treated
      like a tie (it says neither was better), not left out.
    - Fitted by maximum likelihood with `choix.ilsr_pairwise_dense`, after adding `prior` (default
      `BT_PRIOR` = 0.5, one virtual tied game per pair of models) to every pair: a model that never
      won or never lost, or models that never met, still get finite scores. Pass prior=0 only for
      votes where every model both won and lost inside one connected comparison graph.
    - Scores are on the arenas' Elo-like scale: 1000 + 400 * log10(strength), strengths normalised
      to a geometric mean of 1, so the average score is 1000 and a 120-point gap means the better
      model is expected to win two votes of three.
    - The interval is a percentile bootstrap over votes (`rounds` resamples of the votes with
      replacement, deterministic for a given `seed`), widened to include the score if needed;
      with rounds = 0 it is the score itself.
    - `votes` of a Rating is the number of votes the model took part in.
    """
    _check_confidence(confidence)
    _check_votes(votes)
    if prior < 0:
        raise ValueError("The prior must be zero or a positive number of virtual tied games.")
    if not votes:
        return []
    models = sorted({v.a for v in votes} | {v.b for v in votes})
    index = {name: i for i, name in enumerate(models)}
    m = len(models)
    cells, weights = _vote_cells(votes, index)
    flat_cells, flat_weights = cells.ravel(), weights.ravel()
    wins = np.bincount(flat_cells, weights=flat_weights, minlength=m * m).reshape(m, m)
    params = _bt_fit(wins, prior)
    scores = ELO_BASE + ELO_SCALE * params

    if rounds > 0 and m > 1:
        rng = np.random.default_rng(seed)
        n = len(votes)
        boot = np.empty((rounds, m))
        for r in range(rounds):
            # How many times each vote is drawn in this resample (multinomial = drawing n with
            # replacement), then the resampled win matrix in one bincount.
            drawn = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
            resampled = np.bincount(
                flat_cells, weights=flat_weights * np.repeat(drawn, 2), minlength=m * m
            ).reshape(m, m)
            boot[r] = ELO_BASE + ELO_SCALE * _bt_fit(resampled, prior, initial=params)
        low, high = _percentile_interval(boot, scores, confidence)
    else:
        low, high = scores.copy(), scores.copy()

    votes_per_model = np.zeros(m, dtype=int)
    for vote in votes:
        votes_per_model[index[vote.a]] += 1
        votes_per_model[index[vote.b]] += 1
    ratings = [
        Rating(
            model=name,
            score=float(scores[i]),
            ci_low=float(low[i]),
            ci_high=float(high[i]),
            votes=int(votes_per_model[i]),
        )
        for i, name in enumerate(models)
    ]
    ratings.sort(key=lambda r: (-r.score, r.model))
    return ratings


# --- agreement between two raters --------------------------------------------------------------


def _kappa_from_table(table: np.ndarray) -> float | None:
    n = table.sum()
    if n == 0:
        return None
    observed = np.trace(table) / n
    expected = float((table.sum(axis=1) / n) @ (table.sum(axis=0) / n))
    if expected >= 1.0 - 1e-12:
        return None
    return float((observed - expected) / (1.0 - expected))


def cohen_kappa(
    pairs: Sequence[tuple[str, str]], *, confidence: float = 0.95, rounds: int = 1000, seed: int = 0
) -> Agreement:
    """Agreement between two raters who labelled the same items: `pairs` holds (first, second).

    - `percent` is the share of items with the same label, from 0 to 100.
    - `kappa` is Cohen's kappa, (observed - expected) / (1 - expected), where expected is the
      agreement two raters with these label frequencies would reach by chance. It is None when it
      is undefined: no items, or both raters used one and the same label for everything (expected
      agreement 1); `percent` is still given then.
    - The interval is a percentile bootstrap over items (`rounds` resamples, deterministic by
      `seed`; resamples where kappa is undefined are skipped), widened to include kappa if needed.
      It is None when kappa is None or fewer than two items were rated.
    """
    _check_confidence(confidence)
    n = len(pairs)
    if n == 0:
        return Agreement(n=0, percent=0.0, kappa=None, ci_low=None, ci_high=None)
    labels = sorted({label for pair in pairs for label in pair})
    code = {label: k for k, label in enumerate(labels)}
    c = len(labels)
    cells = np.array([code[first] * c + code[second] for first, second in pairs], dtype=np.int64)
    table = np.bincount(cells, minlength=c * c).reshape(c, c)
    percent = 100.0 * float(np.trace(table)) / n
    kappa = _kappa_from_table(table)
    if kappa is None or rounds <= 0 or n < 2:
        return Agreement(n=n, percent=percent, kappa=kappa, ci_low=None, ci_high=None)

    rng = np.random.default_rng(seed)
    samples = []
    batch = max(1, min(rounds, 2_000_000 // n))
    done = 0
    while done < rounds:
        size = min(batch, rounds - done)
        drawn = cells[rng.integers(0, n, (size, n))]
        offsets = (np.arange(size) * c * c)[:, None]
        tables = np.bincount((drawn + offsets).ravel(), minlength=size * c * c).reshape(size, c, c)
        observed = np.trace(tables, axis1=1, axis2=2) / n
        expected = np.einsum("ri,ri->r", tables.sum(axis=2) / n, tables.sum(axis=1) / n)
        defined = expected < 1.0 - 1e-12
        samples.append((observed[defined] - expected[defined]) / (1.0 - expected[defined]))
        done += size
    boot = np.concatenate(samples)
    if boot.size == 0:
        return Agreement(n=n, percent=percent, kappa=kappa, ci_low=None, ci_high=None)
    low, high = _percentile_interval(boot, kappa, confidence)
    return Agreement(n=n, percent=percent, kappa=kappa, ci_low=float(low), ci_high=float(high))


# --- paired differences between two models -----------------------------------------------------


EXACT_SIGN_FLIPS = 16  # up to 2^16 = 65,536 sign patterns are enumerated; above, random flips


def _sign_flip_p(d: np.ndarray, *, rounds: int, rng: np.random.Generator) -> float:
    """Two-sided p of the paired sign-flip permutation test for mean(d) = 0.

    Under "no difference" each paired difference is as likely to have either sign, so p is the
    share of sign patterns whose mean is at least as far from 0 as the one observed: every pattern
    up to EXACT_SIGN_FLIPS differences, else `rounds` random ones counted as (hits + 1) / (rounds + 1).
    The same test as `scipy.stats.permutation_test(..., permutation_type="samples")` (the tests
    check they agree), written with one matrix product per batch: scipy's generic loop took 5 s
    for 2000 rounds over 10,000 examples, this takes well under one.
    """
    n = len(d)
    observed = abs(float(d.sum()))
    if observed == 0.0:
        return 1.0
    tolerance = 1e-9 * float(np.abs(d).sum())
    if n <= EXACT_SIGN_FLIPS:
        patterns = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        sums = (2.0 * patterns - 1.0) @ d
        return float(np.mean(np.abs(sums) >= observed - tolerance))
    hits = 0
    batch = max(1, min(rounds, 2_000_000 // n))
    done = 0
    while done < rounds:
        size = min(batch, rounds - done)
        signs = np.where(rng.random((size, n)) < 0.5, -1.0, 1.0)
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tolerance))
        done += size
    return min(1.0, (hits + 1) / (rounds + 1))


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, rounds: int = 2000, seed: int = 0, confidence: float = 0.95
) -> PairedDifference:
    """Difference b - a of the means of a score measured on the same examples for two models.

    - Interval: percentile bootstrap over examples (`rounds` resamples of the pairs, deterministic
      by `seed`), widened to include the difference if needed.
    - p-value: the paired sign-flip permutation test (all 2^n sign flips up to n = 16, else
      `rounds` random ones; see `_sign_flip_p`), which stays valid for a handful of examples
      where the bootstrap alone is over-confident (5 differences all positive: p = 2/32).
    - significant: p < 1 - confidence and the interval excludes 0.
    - n = 0: means and difference 0, interval (0, 0), p None, not significant; n = 1: the
      difference with no interval to speak of (it is the difference itself), p None.
    """
    _check_confidence(confidence)
    if len(a) != len(b):
        raise ValueError(
            f"The two models must be scored on the same examples: {len(a)} scores for A, {len(b)} for B."
        )
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(xb))):
        raise ValueError(
            "Every score must be a finite number (a missing score must be left out of both lists)."
        )
    n = len(xa)
    if n == 0:
        return PairedDifference(
            n=0,
            mean_a=0.0,
            mean_b=0.0,
            difference=0.0,
            ci_low=0.0,
            ci_high=0.0,
            p_value=None,
            method=f"{METHOD_BOOTSTRAP} (no examples)",
            significant=False,
        )
    d = xb - xa
    mean_a, mean_b, diff = float(xa.mean()), float(xb.mean()), float(d.mean())
    if n == 1:
        return PairedDifference(
            n=1,
            mean_a=mean_a,
            mean_b=mean_b,
            difference=diff,
            ci_low=diff,
            ci_high=diff,
            p_value=None,
            method=f"{METHOD_BOOTSTRAP} (one example: no interval)",
            significant=False,
        )
    rng = np.random.default_rng(seed)
    rounds = max(1, rounds)
    means = np.empty(rounds)
    batch = max(1, min(rounds, 2_000_000 // n))
    done = 0
    while done < rounds:
        size = min(batch, rounds - done)
        means[done : done + size] = d[rng.integers(0, n, (size, n))].mean(axis=1)
        done += size
    low, high = _percentile_interval(means, diff, confidence)

    p_value = _sign_flip_p(d, rounds=rounds, rng=rng)
    alpha = 1.0 - confidence
    significant = p_value < alpha and (float(low) > 0.0 or float(high) < 0.0)
    return PairedDifference(
        n=n,
        mean_a=mean_a,
        mean_b=mean_b,
        difference=diff,
        ci_low=float(low),
        ci_high=float(high),
        p_value=p_value,
        method=f"{METHOD_BOOTSTRAP} ({rounds} rounds) with a sign-flip permutation test",
        significant=bool(significant),
    )


def mcnemar(a: Sequence[bool], b: Sequence[bool], *, confidence: float = 0.95) -> PairedDifference:
    """Pass/fail of two models on the same examples: the difference of pass rates, b - a.

    - p-value: exact McNemar test, the two-sided binomial test (`scipy.stats.binomtest`) of the
      discordant examples (A passed and B failed, against A failed and B passed) at 1/2. Exact at
      every size, so small discordant counts need no chi-square approximation.
    - Interval: Newcombe's square-and-add (hybrid score) interval for a difference of paired
      proportions (Newcombe 1998, method 10, with its continuity-corrected correlation), built from
      the Wilson intervals of both pass rates; inside [-1, 1] and containing the difference.
    - significant: p < 1 - confidence and the interval excludes 0. n = 0: interval (-1, 1), p None.
    """
    _check_confidence(confidence)
    if len(a) != len(b):
        raise ValueError(
            f"The two models must be scored on the same examples: {len(a)} results for A, {len(b)} for B."
        )
    n = len(a)
    if n == 0:
        return PairedDifference(
            n=0,
            mean_a=0.0,
            mean_b=0.0,
            difference=0.0,
            ci_low=-1.0,
            ci_high=1.0,
            p_value=None,
            method=f"{METHOD_MCNEMAR} (no examples)",
            significant=False,
        )
    both = only_a = only_b = neither = 0
    for pass_a, pass_b in zip(a, b, strict=True):
        if pass_a and pass_b:
            both += 1
        elif pass_a:
            only_a += 1
        elif pass_b:
            only_b += 1
        else:
            neither += 1
    p1 = (both + only_a) / n  # A's pass rate
    p2 = (both + only_b) / n  # B's pass rate
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(scipy_stats.binomtest(only_b, discordant, 0.5).pvalue)
    p_value = min(1.0, p_value)

    # Newcombe's interval for theta = p1 - p2, then mirrored for b - a.
    l1, u1 = wilson_interval(both + only_a, n, confidence)
    l2, u2 = wilson_interval(both + only_b, n, confidence)
    # phi: Newcombe's continuity-corrected correlation of the two pass rates.
    denominator = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    if denominator == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(denominator)
    else:
        phi = cross / math.sqrt(denominator)
    theta = p1 - p2
    delta = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    epsilon = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    low_theta, high_theta = max(-1.0, theta - delta), min(1.0, theta + epsilon)
    diff = p2 - p1
    low, high = -high_theta, -low_theta
    alpha = 1.0 - confidence
    significant = p_value < alpha and (low > 0.0 or high < 0.0)
    return PairedDifference(
        n=n,
        mean_a=p1,
        mean_b=p2,
        difference=diff,
        ci_low=min(low, diff),
        ci_high=max(high, diff),
        p_value=p_value,
        method=f"{METHOD_MCNEMAR} on {discordant} discordant examples, Newcombe interval",
        significant=bool(significant),
    )


# --- the sentence a non-engineer reads ---------------------------------------------------------


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _verdict(result: PairedDifference) -> str:
    if result.p_value is None:
        return "too few examples to tell whether the difference is real"
    if result.difference == 0:
        return "no difference"
    if result.significant:
        return "the difference is real"
    return f"the difference could be chance (p = {result.p_value:.2g})"


def plain_sentence(
    result: PairedDifference,
    *,
    label: str,
    name_a: str,
    name_b: str,
    kind: Literal["pass", "measure"] | None = None,
    unit: str = "",
    confidence: float = 0.95,
) -> str:
    """One sentence about B against A on a scorer, for people who never read a p-value.

    - `label` for a pass/fail scorer (kind "pass", the default for a `mcnemar` result) is what a
      passing reply does, read after the model's name: "answers in German" gives
      "The fine-tune answers in German in 58 of 60 examples, the base in 21; the difference is real."
    - for a measured score (kind "measure", the default for a `paired_bootstrap` result) it is the
      name of the measure, `unit` its unit: "reply length", "tokens" gives
      "On reply length, the fine-tune averages 41 tokens and the base 87 over 60 examples
      (difference -46, 95% interval -52 to -40); the difference is real."
    - the verdict: "the difference is real", "the difference could be chance (p = 0.21)",
      "no difference", or "too few examples to tell" when there is no test.
    Names and label are used as given (templates escape them); the first letter is raised to a
    capital only when the sentence starts with a plain lower-case word, never in a model id.
    """
    if kind is None:
        kind = "pass" if result.method.startswith(METHOD_MCNEMAR) else "measure"
    if result.n == 0:
        return f"No examples have been scored on “{label}” yet."
    examples = "example" if result.n == 1 else "examples"
    if kind == "pass":
        count_a = round(result.mean_a * result.n)
        count_b = round(result.mean_b * result.n)
        sentence = f"{name_b} {label} in {count_b} of {result.n} {examples}, {name_a} in {count_a}; {_verdict(result)}."
    else:
        suffix = f" {unit}" if unit else ""
        interval = ""
        if result.p_value is not None:
            interval = (
                f" (difference {result.difference:+.3g}, {round(confidence * 100):g}% interval "
                f"{_number(result.ci_low)} to {_number(result.ci_high)})"
            )
        sentence = (
            f"On {label}, {name_b} averages {_number(result.mean_b)}{suffix} and {name_a} "
            f"{_number(result.mean_a)} over {result.n} {examples}{interval}; {_verdict(result)}."
        )
    first = sentence.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # "the fine-tune" -> "The fine-tune"; "gpt-4o-mini" stays
        sentence = sentence[0].upper() + sentence[1:]
    return sentence
