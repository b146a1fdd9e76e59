"""The statistics the compare pages show, from `fineweb.lib.stats` once it lands.

SHIM: until helper/stats is merged this holds small stand-ins with the same contract (Wilson
interval for win rates, Bradley-Terry by minorisation-maximisation with a bootstrap). Replace the
bodies by `from fineweb.lib.stats import ...` at the merge.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


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


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _wilson(successes: float, n: int, confidence: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pair_records(votes: Sequence[Vote], confidence: float = 0.95) -> list[PairRecord]:
    """One record per model per opponent; a tie or "both bad" counts half a win in the rate."""
    table: dict[tuple[str, str], list[int]] = {}
    for vote in votes:
        for model, opponent, won, lost in ((vote.a, vote.b, "a", "b"), (vote.b, vote.a, "b", "a")):
            row = table.setdefault((model, opponent), [0, 0, 0, 0])
            if vote.outcome == won:
                row[0] += 1
            elif vote.outcome == lost:
                row[1] += 1
            elif vote.outcome == "tie":
                row[2] += 1
            else:
                row[3] += 1
    records = []
    for (model, opponent), (wins, losses, ties, both_bad) in sorted(table.items()):
        n = wins + losses + ties + both_bad
        rate = (wins + 0.5 * (ties + both_bad)) / n
        low, high = _wilson(wins + 0.5 * (ties + both_bad), n, confidence)
        records.append(PairRecord(model, opponent, wins, losses, ties, both_bad, n, rate, low, high))
    return records


def _strengths(votes: Sequence[Vote], models: list[str], iterations: int = 200) -> dict[str, float]:
    index = {m: i for i, m in enumerate(models)}
    wins = [0.5] * len(models)  # a small prior keeps strengths finite for unbeaten models
    games: dict[tuple[int, int], float] = {}
    for vote in votes:
        i, j = index[vote.a], index[vote.b]
        score = {"a": 1.0, "b": 0.0}.get(vote.outcome, 0.5)
        wins[i] += score
        wins[j] += 1 - score
        key = (min(i, j), max(i, j))
        games[key] = games.get(key, 0.0) + 1
    p = [1.0] * len(models)
    for _ in range(iterations):
        new = []
        for i in range(len(models)):
            denom = sum(n / (p[i] + p[j if i == a else a]) for (a, j), n in games.items() if i in (a, j))
            new.append(wins[i] / denom if denom else p[i])
        mean = math.exp(sum(math.log(x) for x in new) / len(new))
        p = [x / mean for x in new]
    return {m: 400 * math.log10(p[index[m]]) + 1000 for m in models}


def bradley_terry(
    votes: Sequence[Vote], *, rounds: int = 1000, seed: int = 0, confidence: float = 0.95
) -> list[Rating]:
    """Bradley-Terry scores on an Elo-like scale, bootstrap CIs; sorted best first."""
    models = sorted({v.a for v in votes} | {v.b for v in votes})
    if not models:
        return []
    point = _strengths(votes, models)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {m: [] for m in models}
    rounds = min(rounds, 200)
    for _ in range(rounds):
        sample = [votes[rng.randrange(len(votes))] for _ in votes]
        present = sorted({v.a for v in sample} | {v.b for v in sample})
        scores = _strengths(sample, present, iterations=50)
        for m in present:
            samples[m].append(scores[m])
    counts = {m: sum(1 for v in votes if m in (v.a, v.b)) for m in models}
    out = []
    tail = (1 - confidence) / 2
    for m in models:
        values = sorted(samples[m]) or [point[m]]
        low = values[int(tail * (len(values) - 1))]
        high = values[int((1 - tail) * (len(values) - 1))]
        out.append(Rating(m, point[m], low, high, counts[m]))
    return sorted(out, key=lambda r: r.score, reverse=True)
