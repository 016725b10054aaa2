"""Vectorised per-window reductions over a :class:`~nightowl.query.block.RangeBlock`.

A range function sees, for every series and every step, the samples of one
window. Evaluating it step by step in Python would cost a Python loop per step;
instead :func:`build_windows` concatenates all series' samples into one array and
describes each (series, step) window as an index range `[lo, hi)` into it. Then:

- counts, first/last samples, and anything that is a difference of cumulative
  sums of *exact* quantities (numbers of changes or resets) are pure index
  arithmetic;
- order-dependent float reductions (Kahan sums, means, variances, extremes,
  regressions, smoothing) walk the windows *position by position*:
  :func:`positions` yields, for j = 0, 1, ..., the flat index of the j-th sample
  of every window that still has one. Windows are sorted by length so that the
  active ones always form a prefix, and each iteration is one numpy operation
  over all still-active windows of all series and steps. The work is the total
  number of (window, sample) pairs, as in Prometheus, with as many numpy calls
  as the longest window has samples, and the results are bit-for-bit those of
  Prometheus's sequential loops (same operations in the same order).

All float work here runs under `np.errstate(all="ignore")` in the callers:
NaN and Inf are ordinary sample values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from nightowl.query.block import RangeBlock

__all__ = [
    "Windows",
    "build_windows",
    "kahan_inc",
    "positions",
    "series_groups",
    "window_avg",
    "window_counts",
    "window_extreme",
    "window_mad",
    "window_quantile",
    "window_regression",
    "window_smoothing",
    "window_sum",
    "window_variance",
]


@dataclass(slots=True)
class Windows:
    """The flat window index of a range vector.

    Attributes:
        t: int64, every series' sample times concatenated (series after series).
        v: float64, the matching values.
        offsets: int64 (n_series + 1,), series i owns `t[offsets[i]:offsets[i+1]]`.
        lo: int64 (n_series, n_steps), flat index of the first sample of each window.
        hi: int64 (n_series, n_steps), one past the last sample of each window.
    """

    t: np.ndarray
    v: np.ndarray
    offsets: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """Samples per window, int64 (n_series, n_steps)."""
        return self.hi - self.lo

    @property
    def shape(self) -> tuple[int, int]:
        """(n_series, n_steps)."""
        return self.lo.shape  # type: ignore[return-value]


def build_windows(rb: RangeBlock, rows: slice | None = None) -> Windows:
    """Index every (series, step) window of `rb` (left-open, right-closed).

    `rows` limits it to a slice of the series (see :func:`series_groups`).
    """
    series = rb.series if rows is None else rb.series[rows]
    n_series = len(series)
    lens = np.fromiter((len(s.t) for s in series), dtype=np.int64, count=n_series)
    offsets = np.zeros(n_series + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    if n_series:
        t = np.concatenate([np.asarray(s.t, dtype=np.int64) for s in series])
        v = np.concatenate([np.asarray(s.v, dtype=np.float64) for s in series])
    else:
        t = np.empty(0, np.int64)
        v = np.empty(0, np.float64)
    ws = np.asarray(rb.window_start, dtype=np.int64)
    we = np.asarray(rb.window_end, dtype=np.int64)
    lo, hi = _search_all(t, lens, offsets, ws, we)
    return Windows(t, v, offsets, lo, hi)


def window_counts(rb: RangeBlock) -> np.ndarray:
    """Samples in every (series, step) window, int64 (n_series, n_steps) (copies no values)."""
    series = rb.series
    n_series = len(series)
    ws = np.asarray(rb.window_start, dtype=np.int64)
    we = np.asarray(rb.window_end, dtype=np.int64)
    if not n_series:
        return np.empty((0, len(we)), dtype=np.int64)
    lens = np.fromiter((len(s.t) for s in series), dtype=np.int64, count=n_series)
    offsets = np.zeros(n_series + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    t = np.concatenate([np.asarray(s.t, dtype=np.int64) for s in series])
    lo, hi = _search_all(t, lens, offsets, ws, we)
    return hi - lo


#: Largest key span a banded search may use (keeps the int64 keys far from overflow).
_BAND_LIMIT = 1 << 62
#: Most query times per series for a banded search: it saves the per-series numpy calls,
#: which dominate with few steps (instant and short range queries), but one search over
#: everything is slower than many searches over small cached arrays with many steps.
_BAND_MAX_STEPS = 64


def _search_all(
    t: np.ndarray, lens: np.ndarray, offsets: np.ndarray, ws: np.ndarray, we: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`offsets[i] + searchsorted(series i's times, x, "right")` for every series i and
    every time of `ws` and of `we`: two int64 (n_series, n_steps) arrays.

    With few steps, one search for all series: each series' times are shifted into a
    band of their own of one increasing key (times are sorted within a series, bands
    are two apart), and the query times are clipped to the times present, which does
    not change their rank in a series. With many steps, one search per series over its
    own small (cached) array is faster.
    """
    n_series, n_steps = len(lens), len(we)
    if not n_series or not n_steps or not len(t):
        base = np.repeat(offsets[:n_series, np.newaxis], n_steps, axis=1)
        return base, base.copy()
    banded = n_steps <= _BAND_MAX_STEPS
    if banded:
        tmin, tmax = int(t.min()), int(t.max())
        width = tmax - tmin + 2
        banded = width * n_series < _BAND_LIMIT and tmin > -_BAND_LIMIT
    if banded:
        band = np.arange(n_series, dtype=np.int64) * width
        key = t - tmin
        key += np.repeat(band, lens)
        out = []
        for q in (ws, we):
            qq = np.clip(q, tmin - 1, tmax) - tmin
            out.append(np.searchsorted(key, qq[np.newaxis, :] + band[:, np.newaxis], "right"))
        return out[0], out[1]
    lo = np.empty((n_series, n_steps), dtype=np.int64)
    hi = np.empty((n_series, n_steps), dtype=np.int64)
    bounds = offsets.tolist()
    for i in range(n_series):
        a = bounds[i]
        st = t[a : bounds[i + 1]]
        lo[i] = np.searchsorted(st, ws, "right") + a
        hi[i] = np.searchsorted(st, we, "right") + a
    return lo, hi


#: Limits of one group of series evaluated together (see series_groups).
GROUP_SAMPLES = 1 << 20
GROUP_WINDOWS = 1 << 17


def series_groups(rb: RangeBlock) -> list[slice]:
    """Split the series into consecutive groups of bounded size.

    A group holds at most about GROUP_SAMPLES samples and GROUP_WINDOWS
    (series x steps) windows (but at least one series), so that the copies and
    per-window temporaries of one group stay small whatever the query.
    """
    n_steps = max(len(rb.window_end), 1)
    n_series = len(rb.series)
    if n_series * n_steps <= GROUP_WINDOWS:
        lens = np.fromiter((len(s.t) for s in rb.series), dtype=np.int64, count=n_series)
        if int(lens.sum()) <= GROUP_SAMPLES:  # the common case: one group
            return [slice(0, n_series)] if n_series else []
    groups: list[slice] = []
    start = samples = 0
    for i, s in enumerate(rb.series):
        n = len(s.t)
        if i > start and (samples + n > GROUP_SAMPLES or (i - start + 1) * n_steps > GROUP_WINDOWS):
            groups.append(slice(start, i))
            start, samples = i, 0
        samples += n
    if start < len(rb.series):
        groups.append(slice(start, len(rb.series)))
    return groups


def positions(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, Iterator[tuple[int, int]]]:
    """Walk windows position by position, longest windows first.

    Args:
        lo: flat start index of each window (1-D).
        count: samples in each window (1-D, same length).

    Returns:
        `(order, steps)`: `order` sorts the windows by descending length (callers
        keep their per-window state in that order and undo it at the end with
        `out[order] = state`); `steps` yields `(j, active)` for j = 0, 1, ...:
        the first `active` windows in `order` have a j-th sample, whose flat index
        is `lo[order][:active] + j`.
    """
    order = np.argsort(-count, kind="stable")
    sorted_count = count[order]
    max_count = int(sorted_count[0]) if len(sorted_count) else 0
    # active(j) = number of windows with count > j; sorted_count is descending
    actives = np.searchsorted(-sorted_count, -np.arange(max_count), "left")

    def steps() -> Iterator[tuple[int, int]]:
        for j in range(max_count):
            yield j, int(actives[j])

    return order, steps()


@np.errstate(all="ignore")
def kahan_inc(inc: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Kahan-Neumaier step: add `inc` to the running sum `s` with compensation `c`.

    The same operations as Prometheus's `kahansum.Inc`: the compensation is reset
    to 0 once the sum is infinite.
    """
    t = s + inc
    big = np.abs(s) >= np.abs(inc)
    hi = np.where(big, s, inc)
    lo = np.where(big, inc, s)
    hi -= t
    hi += lo
    hi += c
    hi[np.isinf(t)] = 0.0
    c = hi
    return t, c


# -- order-dependent reductions, one value per window ------------------------
#
# Each takes flat arrays describing N windows (`lo`, `cnt`, both 1-D) over the
# concatenated samples `v` (and `t`) and returns N results. Windows must hold at
# least one sample (two for the regression and smoothing helpers).


def _unsort(order: np.ndarray, *sorted_arrays: np.ndarray) -> list[np.ndarray]:
    outs = []
    for a in sorted_arrays:
        out = np.empty_like(a)
        out[order] = a
        outs.append(out)
    return outs


#: Below this, sums of integers are exact in float64 (with a margin of one bit).
_EXACT_INT = float(2**52)


def _exact_integer_sums(
    v: np.ndarray, lo: np.ndarray, cnt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Windows whose samples are all integers with a small total, and their sums.

    Every partial sum of such a window is exact, so a compensated sum equals the
    plain one (the compensation stays 0): those windows need no sample-by-sample
    walk. Counters, byte counts and most gauges are of this kind.
    """
    integral = np.isfinite(v) & (v == np.floor(v))
    padded = np.append(np.where(integral, v, 0.0), 0.0)
    bounds = np.empty(2 * len(lo), dtype=np.int64)
    bounds[0::2] = lo
    bounds[1::2] = lo + cnt
    n_integral = np.add.reduceat(np.append(integral, False).astype(np.int64), bounds)[0::2]
    abs_total = np.add.reduceat(np.abs(padded), bounds)[0::2]
    exact = (n_integral == cnt) & (abs_total < _EXACT_INT)
    # x + 0.0 turns -0.0 into 0.0, as adding the (zero) compensation does
    return exact, np.add.reduceat(padded, bounds)[0::2] + 0.0


@np.errstate(all="ignore")
def window_sum(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Kahan-compensated sums in sample order (Prometheus's `sum_over_time`)."""
    if not len(lo):
        return np.zeros(0)
    exact, res = _exact_integer_sums(v, lo, cnt)
    rest = np.flatnonzero(~exact)
    if len(rest):
        res[rest] = _kahan_sums(v, lo[rest], cnt[rest])
    return res


def _kahan_sums(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    order, steps = positions(lo, cnt)
    los = lo[order]
    s = np.zeros(len(lo))
    c = np.zeros(len(lo))
    for j, a in steps:
        s[:a], c[:a] = kahan_inc(v[los[:a] + j], s[:a], c[:a])
    res = np.where(np.isinf(s), s, s + c)
    return _unsort(order, res)[0]


@np.errstate(all="ignore")
def window_avg(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Means as `avg_over_time` computes them.

    A Kahan-compensated direct sum while it stays finite; a window whose running
    sum would overflow switches to the incremental mean from that sample on.
    Windows of small integers are summed in one pass (exact, see
    _exact_integer_sums); windows whose running sum never reaches ±Inf take a
    compensated-sum walk; only the others replay the full algorithm.
    """
    if not len(lo):
        return np.zeros(0)
    exact, sums = _exact_integer_sums(v, lo, cnt)
    res = sums / cnt.astype(np.float64) + 0.0
    rest = np.flatnonzero(~exact)
    if len(rest):
        res[rest] = _kahan_avgs(v, lo[rest], cnt[rest])
    return res


def _kahan_avgs(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    order, steps = positions(lo, cnt)
    los = lo[order]
    n = len(lo)
    s = v[los].copy() if n else np.zeros(0)
    c = np.zeros(n)
    hit_inf = np.isinf(s)
    for j, a in steps:
        if j == 0:
            continue
        s[:a], c[:a] = kahan_inc(v[los[:a] + j], s[:a], c[:a])
        hit_inf[:a] |= np.isinf(s[:a])
    cnts = cnt[order].astype(np.float64)
    res = s / cnts + c / cnts
    slow = np.flatnonzero(hit_inf)
    if len(slow):
        res[slow] = _avg_with_overflow(v, los[slow], cnt[order][slow])
    return _unsort(order, res)[0]


def _avg_with_overflow(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """`avg_over_time` for windows whose direct sum overflows (see window_avg)."""
    order, steps = positions(lo, cnt)
    los = lo[order]
    n = len(lo)
    s = v[los].copy() if n else np.zeros(0)
    c = np.zeros(n)
    mean = np.zeros(n)
    incr = np.zeros(n, dtype=bool)
    for j, a in steps:
        if j == 0:
            continue
        x = v[los[:a] + j]
        count = float(j + 1)
        ss, cc, mm, ii = s[:a], c[:a], mean[:a], incr[:a]
        ns, nc = kahan_inc(x, ss, cc)
        ok = ~ii & ~np.isinf(ns)
        switch = ~ii & ~ok
        ss = np.where(ok, ns, ss)
        cc = np.where(ok, nc, cc)
        mm = np.where(switch, ss / (count - 1), mm)
        cc = np.where(switch, cc / (count - 1), cc)
        ii = ii | switch
        q = (count - 1) / count
        im, ic = kahan_inc(x / count, q * mm, q * cc)
        s[:a] = ss
        mean[:a] = np.where(ii, im, mm)
        c[:a] = np.where(ii, ic, cc)
        incr[:a] = ii
    cnts = cnt[order].astype(np.float64)
    res = np.where(incr, mean + c, s / cnts + c / cnts)
    return _unsort(order, res)[0]


@np.errstate(all="ignore")
def window_variance(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Population variances (Welford's method with Kahan-compensated terms)."""
    order, steps = positions(lo, cnt)
    los = lo[order]
    n = len(lo)
    mean = np.zeros(n)
    cmean = np.zeros(n)
    aux = np.zeros(n)
    caux = np.zeros(n)
    for j, a in steps:
        x = v[los[:a] + j]
        count = float(j + 1)
        delta = x - (mean[:a] + cmean[:a])
        mean[:a], cmean[:a] = kahan_inc(delta / count, mean[:a], cmean[:a])
        aux[:a], caux[:a] = kahan_inc(delta * (x - (mean[:a] + cmean[:a])), aux[:a], caux[:a])
    res = (aux + caux) / cnt[order].astype(np.float64)
    return _unsort(order, res)[0]


@np.errstate(all="ignore")
def window_extreme(
    v: np.ndarray, t: np.ndarray, lo: np.ndarray, cnt: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Extremes and their times, NaN losing against any number.

    `kind` is "max", "min" (values only: the times returned are 0) or "max_last",
    "min_last" (the latest extreme wins a tie, as `ts_of_max_over_time` wants).
    Returns (values, times).
    """
    if kind in ("max", "min") and len(lo):
        # the extreme's value does not depend on the visiting order: one C pass
        padded = np.append(v, np.nan)
        bounds = np.empty(2 * len(lo), dtype=np.int64)
        bounds[0::2] = lo
        bounds[1::2] = lo + cnt
        ufunc = np.fmax if kind == "max" else np.fmin
        return ufunc.reduceat(padded, bounds)[0::2], np.zeros(len(lo), np.int64)
    order, steps = positions(lo, cnt)
    los = lo[order]
    m = v[los].copy() if len(lo) else np.zeros(0)
    tm = t[los].copy() if len(lo) else np.zeros(0, np.int64)
    for j, a in steps:
        if j == 0:
            continue
        idx = los[:a] + j
        x = v[idx]
        cur = m[:a]
        if kind == "max":
            better = x > cur
        elif kind == "min":
            better = x < cur
        elif kind == "max_last":
            better = x >= cur
        else:
            better = x <= cur
        better |= np.isnan(cur)
        m[:a] = np.where(better, x, cur)
        tm[:a] = np.where(better, t[idx], tm[:a])
    vals, times = _unsort(order, m, tm)
    return vals, times


@np.errstate(all="ignore")
def window_regression(
    v: np.ndarray, t: np.ndarray, lo: np.ndarray, cnt: np.ndarray, intercept_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope (per second) and intercept at `intercept_t` (ms) per window.

    Sums are Kahan-compensated; a constant window has slope 0 (NaN if the constant
    is infinite), as in Prometheus's `linearRegression`.
    """
    order, steps = positions(lo, cnt)
    los = lo[order]
    its = intercept_t[order]
    n = len(lo)
    sx, cx, sy, cy = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    sxy, cxy, sx2, cx2 = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    init_y = v[los].copy() if n else np.zeros(0)
    const_y = np.ones(n, dtype=bool)
    for j, a in steps:
        idx = los[:a] + j
        y = v[idx]
        if j > 0:
            const_y[:a] &= y == init_y[:a]
        x = (t[idx] - its[:a]).astype(np.float64) / 1e3
        sx[:a], cx[:a] = kahan_inc(x, sx[:a], cx[:a])
        sy[:a], cy[:a] = kahan_inc(y, sy[:a], cy[:a])
        sxy[:a], cxy[:a] = kahan_inc(x * y, sxy[:a], cxy[:a])
        sx2[:a], cx2[:a] = kahan_inc(x * x, sx2[:a], cx2[:a])
    nn = cnt[order].astype(np.float64)
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov_xy = sxy - sx * sy / nn
    var_x = sx2 - sx * sx / nn
    slope = cov_xy / var_x
    intercept = sy / nn - slope * sx / nn
    inf_y = np.isinf(init_y)
    slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
    intercept = np.where(const_y, np.where(inf_y, np.nan, init_y), intercept)
    return tuple(_unsort(order, slope, intercept))  # type: ignore[return-value]


@np.errstate(all="ignore")
def window_smoothing(
    v: np.ndarray, lo: np.ndarray, cnt: np.ndarray, sf: np.ndarray, tf: np.ndarray
) -> np.ndarray:
    """Double exponential smoothing (Holt's linear method) over each window.

    `sf`/`tf` are the smoothing and trend factors per window. Windows need >= 2 samples.
    """
    order, steps = positions(lo, cnt)
    los = lo[order]
    sfs = sf[order]
    tfs = tf[order]
    n = len(lo)
    s0 = np.zeros(n)
    s1 = v[los].copy() if n else np.zeros(0)
    b = (v[los + 1] - v[los]) if n else np.zeros(0)
    for j, a in steps:
        if j == 0:
            continue
        x = sfs[:a] * v[los[:a] + j]
        if j > 1:
            b[:a] = tfs[:a] * (s1[:a] - s0[:a]) + (1 - tfs[:a]) * b[:a]
        y = (1 - sfs[:a]) * (s1[:a] + b[:a])
        s0[:a] = s1[:a]
        s1[:a] = x + y
    return _unsort(order, s1)[0]


#: Upper bound on elements of one padded (windows x samples) matrix.
_SORT_BUDGET = 1 << 20


def _sorted_chunks(
    v: np.ndarray, lo: np.ndarray, cnt: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield `(which, rows, nans)`: windows `which`, their non-NaN values sorted
    ascending per row (padded with +Inf), and each window's number of NaNs.

    PromQL sorts NaN below every number; callers map rank r to NaN if r < nans,
    else to `rows[r - nans]`.
    """
    order = np.argsort(cnt, kind="stable")
    n = len(order)
    start = 0
    while start < n:
        # the largest chunk (ascending lengths) whose padded matrix fits the budget
        stop = start + 1
        while stop < n:
            cand = min(n, start + 2 * (stop - start))
            if (cand - start) * max(int(cnt[order[cand - 1]]), 1) > _SORT_BUDGET:
                break
            stop = cand
        width = max(int(cnt[order[stop - 1]]), 1)
        which = order[start:stop]
        cols = np.arange(width)
        valid = cols[None, :] < cnt[which][:, None]
        idx = np.minimum(lo[which][:, None] + cols[None, :], max(len(v) - 1, 0))
        rows = np.where(valid, v[idx], np.inf)
        isn = np.isnan(rows)
        nans = isn.sum(axis=1)
        rows[isn] = np.inf
        rows.sort(axis=1)
        yield which, rows, nans
        start = stop


def _rank_value(rows: np.ndarray, nans: np.ndarray, rank: np.ndarray) -> np.ndarray:
    r = rank - nans
    got = np.take_along_axis(rows, np.clip(r, 0, rows.shape[1] - 1)[:, None], axis=1)[:, 0]
    return np.where(r < 0, np.nan, got)


def _quantile_sorted(
    q: np.ndarray, rows: np.ndarray, nans: np.ndarray, n: np.ndarray
) -> np.ndarray:
    nf = n.astype(np.float64)
    rank = q * (nf - 1)
    lower = np.maximum(0, np.floor(rank))
    upper = np.minimum(nf - 1, lower + 1)
    weight = rank - np.floor(rank)
    li = np.nan_to_num(lower, nan=0).astype(np.int64)
    ui = np.nan_to_num(upper, nan=0).astype(np.int64)
    res = _rank_value(rows, nans, li) * (1 - weight) + _rank_value(rows, nans, ui) * weight
    res = np.where(q > 1, np.inf, res)
    res = np.where(q < 0, -np.inf, res)
    return np.where(np.isnan(q), np.nan, res)


@np.errstate(all="ignore")
def window_quantile(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The φ-quantile of each window (linear interpolation between closest ranks).

    `q` per window; φ < 0 gives -Inf, φ > 1 +Inf, NaN gives NaN.
    """
    out = np.empty(len(lo))
    for which, rows, nans in _sorted_chunks(v, lo, cnt):
        out[which] = _quantile_sorted(q[which], rows, nans, cnt[which])
    return out


@np.errstate(all="ignore")
def window_mad(v: np.ndarray, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """The median absolute deviation of each window (NaN if it holds a NaN)."""
    out = np.empty(len(lo))
    for which, rows, nans in _sorted_chunks(v, lo, cnt):
        n = cnt[which]
        half = np.full(len(which), 0.5)
        median = _quantile_sorted(half, rows, nans, n)
        valid = np.arange(rows.shape[1])[None, :] < (n - nans)[:, None]
        dev = np.where(valid, np.abs(rows - median[:, None]), np.inf)
        dev_nan = np.isnan(dev)  # Inf - Inf: NaN sorts below every number
        dev[dev_nan] = np.inf
        dev.sort(axis=1)
        mad = _quantile_sorted(half, dev, dev_nan.sum(axis=1), n)
        out[which] = np.where(nans > 0, np.nan, mad)
    return out
