"""M4 over fixed step buckets (fineweb/lib/downsample.py), what the job pages draw."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fineweb.lib.downsample import m4

steps_and_values = st.integers(min_value=1, max_value=600).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=1, max_value=5), min_size=n, max_size=n),  # gaps between steps
        st.lists(
            st.sampled_from([0.0, 1.0, -2.5, 3.0, float("nan")]) | st.floats(-1e9, 1e9),
            min_size=n,
            max_size=n,
        ),
    )
)


@settings(deadline=None)  # a shared machine's pauses are no failure of M4
@given(data=steps_and_values, power=st.integers(min_value=0, max_value=6), split=st.floats(0, 1))
def test_m4_of_kept_points_and_new_ones_is_m4_of_all_points(data, power, split):
    gaps, values = data
    x, y = np.cumsum(gaps).astype(float), np.array(values)
    width = 2**power
    cut = int(split * len(x))
    # What a running job does: reduce what arrived, later reduce that with what came next, at the
    # same width or a wider one.
    kx, ky = m4(x[:cut], y[:cut], width)
    for wider in (width, width * 2, width * 8):
        got = m4(np.r_[kx, x[cut:]], np.r_[ky, y[cut:]], wider)
        expected = m4(x, y, wider)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_m4_keeps_each_buckets_ends_and_extremes():
    x = np.arange(0, 16, dtype=float)
    y = np.array([5, 1, 9, 4, 4, 4, 4, 4, 2, 2, 8, 8, 3, 0, 0, 6], dtype=float)
    kx, ky = m4(x, y, 8)
    # Bucket 0..7: first (0, 5), lowest (1, 1), highest (2, 9), last (7, 4). Bucket 8..15: first
    # (8, 2), highest (10, 8) (the first of two), lowest (13, 0) (the first of two), last (15, 6).
    assert kx.tolist() == [0, 1, 2, 7, 8, 10, 13, 15]
    assert ky.tolist() == [5, 1, 9, 4, 2, 8, 0, 6]


def test_m4_drops_missing_values_and_keeps_a_width_of_one_as_it_is():
    kx, ky = m4([1, 2, 3], [0.5, float("nan"), 0.3], 1)
    assert kx.tolist() == [1.0, 3.0] and ky.tolist() == [0.5, 0.3]
    with pytest.raises(ValueError):
        m4([1, 2], [1.0], 4)
    with pytest.raises(ValueError):
        m4([1, 2], [1.0, 2.0], 0)
