"""Bradley-Terry leaderboard with 1000 bootstrap rounds over 10,000 votes among 20 models
(`fineweb.lib.stats.bradley_terry`), against peers measured in the same run:

- one plain maximum-likelihood fit, no bootstrap (the same choix ILSR fit on the win matrix):
  what one bootstrap round costs at least;
- `choix.opt_pairwise` (Newton-CG over the list of votes, the library's other maximum-likelihood
  path) once, for the point scores: must agree with ours;
- the straightforward bootstrap (resample the vote list, `choix.ilsr_pairwise` on it per round),
  timed over a few rounds and scaled to 1000.

Also Cohen's kappa (1000 rounds over 10,000 pairs) and the paired bootstrap (2000 rounds over
10,000 examples). Prints numbers and ratios; never fails.

    python benchmarks/bench_stats.py [--votes 10000] [--models 20] [--rounds 1000]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--naive-rounds", type=int, default=3)
    args = parser.parse_args()

    import choix
    import numpy as np

    from fineweb.lib import stats

    rng = random.Random(1)
    names = [f"model-{i:02d}" for i in range(args.models)]
    strength = {name: 10 ** (rng.uniform(-1.0, 1.0)) for name in names}  # up to 800 points apart
    votes = []
    for _ in range(args.votes):
        a, b = rng.sample(names, 2)
        u = rng.random()
        if u < 0.15:
            outcome = "tie"
        elif u < 0.2:
            outcome = "both_bad"
        else:
            outcome = "a" if rng.random() < strength[a] / (strength[a] + strength[b]) else "b"
        votes.append(stats.Vote(a, b, outcome))

    print(f"{args.votes} votes, {args.models} models, {args.rounds} bootstrap rounds")

    start = time.perf_counter()
    ratings = stats.bradley_terry(votes, rounds=args.rounds, seed=0)
    ours = time.perf_counter() - start
    print(f"  fineweb bradley_terry, {args.rounds} rounds:      {ours:8.3f} s")

    start = time.perf_counter()
    point = stats.bradley_terry(votes, rounds=0)
    single = time.perf_counter() - start
    print(
        f"  one plain ML fit (no bootstrap):           {single * 1000:8.1f} ms"
        f"   bootstrap / fit: {ours / single:6.0f}x for {args.rounds} rounds"
    )

    # choix's Newton-CG over the vote list (a tie as one win each way, what the list form allows;
    # the BT prior as one win each way per pair), for the point scores.
    index = {name: i for i, name in enumerate(sorted(names))}
    data = []
    for v in votes:
        i, j = index[v.a], index[v.b]
        if v.outcome == "a":
            data += [(i, j), (i, j)]
        elif v.outcome == "b":
            data += [(j, i), (j, i)]
        else:
            data += [(i, j), (j, i)]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            data += [(i, j), (j, i)]  # the prior: half a win each way, doubled like the votes
    start = time.perf_counter()
    params = choix.opt_pairwise(len(names), data, alpha=0.0)
    newton = time.perf_counter() - start
    params = params - params.mean()
    newton_scores = {name: 1000 + 400 / math.log(10) * params[index[name]] for name in names}
    gap = max(abs(r.score - newton_scores[r.model]) for r in point)
    print(
        f"  choix.opt_pairwise (Newton-CG), one fit:   {newton * 1000:8.1f} ms"
        f"   Newton-CG / ours: {newton / single:6.0f}x   largest score gap {gap:.2e} points"
    )

    # The straightforward bootstrap: resample the list, fit choix.ilsr_pairwise on each.
    np_rng = np.random.default_rng(0)
    pairs = np.asarray(data[: 2 * len(votes)]).reshape(len(votes), 2, 2)
    prior = data[2 * len(votes) :]
    start = time.perf_counter()
    for _ in range(args.naive_rounds):
        drawn = pairs[np_rng.integers(0, len(votes), len(votes))].reshape(-1, 2)
        choix.ilsr_pairwise(len(names), [tuple(p) for p in drawn.tolist()] + prior, alpha=0.0)
    naive = (time.perf_counter() - start) / args.naive_rounds * args.rounds
    print(
        f"  straightforward bootstrap (ilsr on lists): {naive:8.3f} s"
        f"   (from {args.naive_rounds} rounds, scaled to {args.rounds})   speed-up: {naive / ours:6.1f}x"
    )
    best = ratings[0]
    print(
        f"  best: {best.model} {best.score:.1f} ({best.ci_low:.1f} to {best.ci_high:.1f}), {best.votes} votes"
    )

    labels = ["approve", "reject", "fix"]
    pairs_k = []
    for _ in range(args.votes):
        first = rng.choice(labels)
        pairs_k.append((first, first if rng.random() < 0.7 else rng.choice(labels)))
    start = time.perf_counter()
    agreement = stats.cohen_kappa(pairs_k, rounds=args.rounds)
    kappa_s = time.perf_counter() - start
    print(
        f"  cohen_kappa, {len(pairs_k)} pairs, {args.rounds} rounds: {kappa_s * 1000:8.1f} ms"
        f"   kappa {agreement.kappa:.3f} ({agreement.ci_low:.3f} to {agreement.ci_high:.3f})"
    )

    score_a = [rng.gauss(0.6, 0.2) for _ in range(args.votes)]
    score_b = [x + rng.gauss(0.02, 0.2) for x in score_a]
    start = time.perf_counter()
    diff = stats.paired_bootstrap(score_a, score_b, rounds=2000)
    paired_s = time.perf_counter() - start
    print(
        f"  paired_bootstrap, {len(score_a)} examples, 2000 rounds: {paired_s * 1000:8.1f} ms"
        f"   difference {diff.difference:+.4f} ({diff.ci_low:+.4f} to {diff.ci_high:+.4f}), p {diff.p_value:.2g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
