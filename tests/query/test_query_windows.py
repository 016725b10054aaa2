"""The window index of range vectors (`query._windows`): one banded search for all series
must equal a search per series, including empty series, windows outside the samples, and
time spans too wide to band (the per-series fallback)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query import _windows
from nightowl.query.block import RangeBlock, RangeSeriesData

from nightowl.model import Labels

_times = st.lists(st.integers(-(10**6), 10**6), max_size=12, unique=True).map(sorted)


def _block(series_times: list[list[int]], ends: list[int], range_ms: int) -> RangeBlock:
    series = [
        RangeSeriesData(
            Labels.of("m", i=str(i)), np.array(t, np.int64), np.arange(len(t), dtype=float)
        )
        for i, t in enumerate(series_times)
    ]
    we = np.array(sorted(ends), np.int64)
    return RangeBlock(series, we - range_ms, we, range_ms, we)


def _expected(rb: RangeBlock) -> tuple[np.ndarray, np.ndarray]:
    lo, hi, base = [], [], 0
    for s in rb.series:
        lo.append(np.searchsorted(s.t, rb.window_start, "right") + base)
        hi.append(np.searchsorted(s.t, rb.window_end, "right") + base)
        base += len(s.t)
    shape = (len(rb.series), len(rb.window_end))
    return np.array(lo, np.int64).reshape(shape), np.array(hi, np.int64).reshape(shape)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_times, max_size=6),
    st.lists(st.integers(-(2 * 10**6), 2 * 10**6), min_size=1, max_size=5),
    st.integers(0, 10**6),
)
def test_banded_windows_equal_per_series_search(
    series_times: list[list[int]], ends: list[int], range_ms: int
) -> None:
    """lo/hi and counts match a plain searchsorted per series."""
    rb = _block(series_times, ends, range_ms)
    lo, hi = _expected(rb)
    w = _windows.build_windows(rb)
    assert np.array_equal(w.lo, lo) and np.array_equal(w.hi, hi)
    assert np.array_equal(_windows.window_counts(rb), hi - lo)


def test_wide_time_spans_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans whose bands would overflow int64 are searched series by series, same answer."""
    extreme = [[-(2**63), 0, 2**62], [5], []]
    rb = _block(extreme, [-(2**61), 3, 2**62], 10)
    lo, hi = _expected(rb)
    w = _windows.build_windows(rb)
    assert np.array_equal(w.lo, lo) and np.array_equal(w.hi, hi)
    rb = _block([[-(2**63), -(2**63) + 5]], [-(2**63) + 1, 0], 1)
    lo, hi = _expected(rb)
    w = _windows.build_windows(rb)
    assert np.array_equal(w.lo, lo) and np.array_equal(w.hi, hi)
    monkeypatch.setattr(_windows, "_BAND_LIMIT", 1)
    rb = _block([[1, 2, 3], [2, 9]], [2, 9], 5)
    lo, hi = _expected(rb)
    w = _windows.build_windows(rb)
    assert np.array_equal(w.lo, lo) and np.array_equal(w.hi, hi)


@settings(max_examples=60, deadline=None)
@given(st.lists(_times, min_size=1, max_size=4), st.integers(0, 10**5))
def test_many_steps_search_per_series(series_times: list[list[int]], range_ms: int) -> None:
    """Above the banded search's step limit, the per-series search gives the same index."""
    ends = list(range(-(10**6), 10**6, 20_000))  # 100 steps
    assert len(ends) > _windows._BAND_MAX_STEPS
    rb = _block(series_times, ends, range_ms)
    lo, hi = _expected(rb)
    w = _windows.build_windows(rb)
    assert np.array_equal(w.lo, lo) and np.array_equal(w.hi, hi)


def test_group_slices_keep_flat_offsets() -> None:
    """A slice of the series indexes its own concatenation from 0."""
    rb = _block([[1, 2, 3], [4, 5], [6]], [3, 6], 4)
    w = _windows.build_windows(rb, slice(1, 3))
    assert w.offsets.tolist() == [0, 2, 3]
    assert w.lo.tolist() == [[0, 0], [2, 2]] and w.hi.tolist() == [[0, 2], [2, 3]]
