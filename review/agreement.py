"""Agreement between the two reviews of an example: percent agreement and Cohen's kappa, from
`fineweb.lib.stats.cohen_kappa` (the project's one statistics module)."""

from __future__ import annotations

from fineweb.lib.stats import Agreement, cohen_kappa

# A bootstrap of 200 resamples keeps the summary page quick at 100,000 examples; the interval's
# second decimal barely moves from 200 to 1,000 rounds.
ROUNDS = 200


def agreement(pairs: list[tuple[str, str]]) -> Agreement:
    return cohen_kappa(pairs, rounds=ROUNDS)
