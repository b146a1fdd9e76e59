from __future__ import annotations

import numpy as np
import pytest

from fineweb.lib.downsample import lttb


def noisy_curve(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(n)
    return x, np.exp(-x / (n / 5)) + rng.random(n) * 0.05


def test_it_returns_at_most_threshold_points():
    x, y = noisy_curve(100_000)
    dx, dy = lttb(x, y, 5000)
    assert len(dx) == len(dy) == 5000


def test_it_keeps_the_first_and_the_last_point():
    x, y = noisy_curve(20_000)
    dx, dy = lttb(x, y, 500)
    assert (dx[0], dy[0]) == (x[0], y[0])
    assert (dx[-1], dy[-1]) == (x[-1], y[-1])


def test_it_keeps_a_spike_that_a_stride_would_drop():
    x, y = noisy_curve(50_000)
    y[31_337] = 25.0
    dx, dy = lttb(x, y, 1000)
    assert 31_337 in dx
    assert dy.max() == 25.0
    assert 31_337 not in x[:: len(x) // 1000]  # a plain stride loses it


def test_its_x_values_stay_strictly_increasing_and_come_from_the_input():
    x, y = noisy_curve(12_345, seed=3)
    x = x * 3 + 7  # steps need not start at zero or be contiguous
    dx, _ = lttb(x, y, 777)
    assert np.all(np.diff(dx) > 0)
    assert set(dx.tolist()) <= set(x.tolist())


def test_a_short_series_comes_back_unchanged():
    dx, dy = lttb([1, 2, 3], [0.5, 0.4, 0.3], 5000)
    assert dx.tolist() == [1, 2, 3]
    assert dy.tolist() == [0.5, 0.4, 0.3]


def test_missing_values_are_dropped_rather_than_plotted():
    dx, dy = lttb([1, 2, 3, 4], [0.5, float("nan"), 0.3, 0.2], 5000)
    assert dx.tolist() == [1, 3, 4]
    assert not np.isnan(dy).any()


def test_it_keeps_the_shape_of_a_step_function():
    x = np.arange(10_000)
    y = np.where(x < 5_000, 1.0, 0.0)
    dx, dy = lttb(x, y, 100)
    # Both levels and the jump between them survive.
    assert set(dy.tolist()) == {0.0, 1.0}
    assert dy[dx < 5000].min() == 1.0 and dy[dx >= 5000].max() == 0.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        lttb([1, 2, 3], [1, 2], 10)
