"""Downsampling of long series for plots: largest-triangle-three-buckets (LTTB).

A loss curve of 100k steps has far more points than a plot has pixels; sending them all makes the
page slow to build, to transfer and to draw. LTTB (Steinarsson, 2013) keeps the points that carry
the shape: the first and the last, and in each bucket the point forming the largest triangle with
the point kept before it and the mean of the next bucket, so spikes survive where a plain stride
would drop them.
"""

from __future__ import annotations

import numpy as np


def lttb(x, y, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) reduced to at most `threshold` points, first and last point kept.

    `x` must be sorted ascending (steps are); NaN values in `y` are dropped first, since a
    missing metric is no point of the curve. A series already short enough is returned as is.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("x and y must be one-dimensional and of the same length")
    keep = ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    n = len(xs)
    if threshold >= n or n <= 2:
        return xs, ys
    if threshold < 3:
        raise ValueError("threshold must be at least 3 (first, last and one bucket)")

    # Bucket edges over the interior points 1..n-2: threshold-2 buckets.
    n_buckets = threshold - 2
    edges = np.linspace(1, n - 1, n_buckets + 1).astype(np.int64)
    # Mean of each bucket, used as the third corner for the bucket before it.
    sums_x = np.add.reduceat(xs[1 : n - 1], edges[:-1] - 1)
    sums_y = np.add.reduceat(ys[1 : n - 1], edges[:-1] - 1)
    counts = np.diff(edges)
    mean_x = np.append(sums_x / counts, xs[-1])
    mean_y = np.append(sums_y / counts, ys[-1])

    # The sweep itself is sequential (each bucket's pick depends on the previous pick), so it
    # runs over plain Python floats: with ~20 points per bucket, per-call numpy overhead would
    # cost more than the arithmetic. Bucket means above are vectorised.
    px, py = xs.tolist(), ys.tolist()
    mx, my = mean_x.tolist(), mean_y.tolist()
    starts = edges.tolist()
    out = [0]
    a = 0
    for i in range(n_buckets):
        ax, ay = px[a], py[a]
        cx, cy = mx[i + 1], my[i + 1]
        # |(ax - cx)(by - ay) - (ax - bx)(cy - ay)| is |p*bx + q*by + r| for this bucket.
        p, q = cy - ay, ax - cx
        r = -q * ay - ax * p
        best, best_area = starts[i], -1.0
        for j in range(starts[i], starts[i + 1]):
            area = abs(p * px[j] + q * py[j] + r)
            if area > best_area:
                best, best_area = j, area
        out.append(best)
        a = best
    out.append(n - 1)
    picked = np.asarray(out, dtype=np.int64)
    return xs[picked], ys[picked]
