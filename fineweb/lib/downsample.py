"""Downsampling of long series for plots: M4 over fixed-width step buckets.

A loss curve of 100k steps has far more points than a plot has pixels; sending them all makes the
page slow to build, to transfer and to draw. The job page and the curves page draw `m4`'s points
(jobs/series.py): each bucket of `width` consecutive steps keeps its first and last point and its
lowest and highest value (M4: Jugel et al., "M4: A Visualization-Oriented Time Series Data
Aggregation", VLDB 2014), so every spike and the line's ends survive. Buckets sit on fixed step boundaries (step // width) and doubling the
width merges pairs of buckets, so M4 of the points M4 kept is M4 of all points: a running job's
kept series is extended with its new points alone and still equals a fresh reduction of every
row. LTTB, used before, picks one point per bucket by the triangle it forms with its neighbours'
picks, over buckets that move as the series grows: a kept LTTB series extended with new points is
not the LTTB series of all points, and its curve drifted from the data as a job ran.
"""

from __future__ import annotations

import numpy as np


def m4(x, y, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of (x, y) that M4 keeps in buckets of `width` steps (bucket = x // width): per
    bucket its first and last point and the first point of its lowest and of its highest value.

    `x` must be integral and sorted ascending, without repeats (steps are); NaN values in `y` are
    dropped first. Idempotent and mergeable: m4(m4(p, w), k * w) == m4(p, k * w) for a whole k, and
    a bucket's kept points with later points of the same bucket reduce as all its points would.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("x and y must be one-dimensional and of the same length")
    if width < 1:
        raise ValueError("width must be at least 1")
    keep = ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    if width == 1 or len(xs) <= 2:
        return xs, ys
    bucket = np.floor_divide(xs, width)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(xs)] - 1
    counts = ends - starts + 1
    # Per bucket, the first index holding its extreme value (np.unique's first occurrence): the
    # same point a merge of two buckets picks, so ties break the same way both routes.
    index_of_bucket = np.repeat(np.arange(len(starts)), counts)
    picked = [starts, ends]
    for reduce in (np.minimum, np.maximum):
        extreme = np.repeat(reduce.reduceat(ys, starts), counts)
        hits = np.flatnonzero(ys == extreme)
        _, first = np.unique(index_of_bucket[hits], return_index=True)
        picked.append(hits[first])
    chosen = np.unique(np.concatenate(picked))
    return xs[chosen], ys[chosen]
