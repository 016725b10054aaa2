"""Range-vector functions: `rate` and friends, `deriv`/`predict_linear`, every `*_over_time`.

Each function indexes the windows of a bounded group of series at a time
(`query._windows`) and computes all (series, step) windows of the group at once,
repeating Prometheus's arithmetic (`promql/functions.go`) in the same order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nightowl.query import _windows
from nightowl.query._blockutil import metric_name
from nightowl.query._fnbase import (
    annotate,
    finish,
    invalid_quantile,
    matrix_arg,
    scalar_arg,
)
from nightowl.query.block import Arg, Block, EvalContext, RangeBlock, Result

from nightowl.errors import QueryError
from nightowl.model import go_quote

__all__ = [
    "OVER_TIME",
    "deriv",
    "double_exponential_smoothing",
    "extrapolated",
    "instant_rate",
    "over_time",
    "predict_linear",
    "quantile_over_time",
]


# -- range-vector functions ------------------------------------------------------------


def _range_result(
    rb: RangeBlock, values: np.ndarray, present: np.ndarray, keep_name: bool = False
) -> Block:
    drop = None
    if keep_name:
        drop = np.zeros(len(rb.series), bool) if rb.drop_name is None else rb.drop_name
    return finish([s.labels for s in rb.series], values, present, drop)


#: compute(windows, step index, first flat index, sample count) per window -> values
#: (or (values, keep) to drop some windows from the result).
_WindowFn = Callable[[_windows.Windows, np.ndarray, np.ndarray, np.ndarray], "np.ndarray | tuple"]


def _per_window(
    rb: RangeBlock, min_count: int, compute: _WindowFn
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate `compute` on every window with at least `min_count` samples, one
    bounded group of series at a time. Returns (values, present), (series x steps)."""
    n_steps = len(rb.window_end)
    values = np.full((len(rb.series), n_steps), np.nan)
    present = np.zeros((len(rb.series), n_steps), dtype=bool)
    for rows in _windows.series_groups(rb):
        w = _windows.build_windows(rb, rows)
        cnt = w.count
        pres = cnt >= min_count
        if not pres.any():
            continue
        flat = np.flatnonzero(pres.ravel())
        res = compute(w, flat % n_steps, w.lo.ravel()[flat], cnt.ravel()[flat])
        if isinstance(res, tuple):
            res, keep = res
            pres.ravel()[flat[~keep]] = False
        vals = np.full(pres.shape, np.nan)
        vals.ravel()[flat] = res
        values[rows] = vals
        present[rows] = pres
    return values, present


def over_time(
    reduce: Callable[[_windows.Windows, np.ndarray, np.ndarray], np.ndarray],
    *,
    min_count: int = 1,
    keep_name: bool = False,
) -> Callable[..., Result]:
    """A range function whose value per window is `reduce(windows, lo, cnt)` over
    the flat list of windows holding at least `min_count` samples."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = matrix_arg(args[0])
        if reduce in _COUNTING:  # needs window sizes only: no copies of the samples
            counts = _windows.window_counts(rb)
            present = counts >= min_count
            values = _COUNTING[reduce](counts)
            return _range_result(rb, values, present, keep_name)
        values, present = _per_window(rb, min_count, lambda w, k, lo, c: reduce(w, lo, c))
        return _range_result(rb, values, present, keep_name)

    return impl


def _count_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return cnt.astype(np.float64)


def _ones_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return np.ones(len(lo))


#: Reductions that depend on window sizes only, as functions of the counts.
_COUNTING: dict[Callable[..., np.ndarray], Callable[[np.ndarray], np.ndarray]] = {
    _count_reduce: lambda c: c.astype(np.float64),
    _ones_reduce: lambda c: np.ones(c.shape),
}


def _first_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return w.v[lo]


def _last_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return w.v[lo + cnt - 1]


def _ts_first_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return w.t[lo].astype(np.float64) / 1000


def _ts_last_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return w.t[lo + cnt - 1].astype(np.float64) / 1000


def _sum_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return _windows.window_sum(w.v, lo, cnt)


def _avg_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return _windows.window_avg(w.v, lo, cnt)


def _stdvar_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return _windows.window_variance(w.v, lo, cnt)


def _stddev_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return np.sqrt(_windows.window_variance(w.v, lo, cnt))


def _mad_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return _windows.window_mad(w.v, lo, cnt)


def _extreme_reduce(kind: str, timestamp: bool) -> Callable[..., np.ndarray]:
    def reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
        vals, times = _windows.window_extreme(w.v, w.t, lo, cnt, kind)
        return times.astype(np.float64) / 1000 if timestamp else vals

    return reduce


def _pair_cumsum(w: _windows.Windows, flag: np.ndarray) -> np.ndarray:
    """Cumulative count of `flag[i]` (a property of the pair (i-1, i)) per flat index;
    pairs that straddle two series never count."""
    f = flag.copy()
    f[w.offsets[:-1][w.offsets[:-1] < len(f)]] = False
    return np.cumsum(f, dtype=np.int64)


def _pair_count(flag_fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
        flag = np.zeros(len(w.v), dtype=bool)
        if len(w.v) > 1:
            flag[1:] = flag_fn(w.v)
        c = _pair_cumsum(w, flag)
        return (c[lo + cnt - 1] - c[lo]).astype(np.float64)

    return reduce


def _changed(v: np.ndarray) -> np.ndarray:
    cur, prev = v[1:], v[:-1]
    return (cur != prev) & ~(np.isnan(cur) & np.isnan(prev))


def _dropped(v: np.ndarray) -> np.ndarray:
    return v[1:] < v[:-1]


def _add_reset_values(
    w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray, result: np.ndarray
) -> np.ndarray:
    """Add, in sample order, the value before each counter reset inside each window.

    Only resets are visited (they are rare): the same additions Prometheus makes,
    so the result is exact whatever the magnitudes.
    """
    v = w.v
    if len(v) < 2:
        return result
    drop = np.zeros(len(v), dtype=bool)
    drop[1:] = v[1:] < v[:-1]
    starts = w.offsets[:-1]
    drop[starts[starts < len(v)]] = False  # pairs that straddle two series
    resets = np.flatnonzero(drop)
    if not len(resets):
        return result
    before = v[resets - 1]
    rlo = np.searchsorted(resets, lo, "right")
    rcnt = np.searchsorted(resets, lo + cnt - 1, "right") - rlo
    has = np.flatnonzero(rcnt > 0)
    if not len(has):
        return result
    result = result.copy()
    sub = result[has]
    order, steps = _windows.positions(rlo[has], rcnt[has])
    first = rlo[has][order]
    acc = sub[order]
    for j, a in steps:
        acc[:a] = acc[:a] + before[first[:a] + j]
    sub[order] = acc
    result[has] = sub
    return result


_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


def extrapolated(is_counter: bool, is_rate: bool) -> Callable[..., Result]:
    """rate/increase/delta: Prometheus's `extrapolatedRate`."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = matrix_arg(args[0])
        window_start = np.asarray(rb.window_start, np.int64)
        window_end = np.asarray(rb.window_end, np.int64)
        range_s = rb.range_ms / 1000

        def compute(
            w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray
        ) -> np.ndarray:
            last = lo + c - 1
            first_v = w.v[lo]
            result = w.v[last] - first_v
            if is_counter:
                result = _add_reset_values(w, lo, c, result)
            first_t = w.t[lo]
            last_t = w.t[last]
            to_start = (first_t - window_start[k]).astype(np.float64) / 1000
            to_end = (window_end[k] - last_t).astype(np.float64) / 1000
            sampled = (last_t - first_t).astype(np.float64) / 1000
            avg_gap = sampled / (c - 1).astype(np.float64)
            threshold = avg_gap * 1.1
            to_start = np.where(to_start >= threshold, avg_gap / 2, to_start)
            if is_counter:
                use_zero = (result > 0) & (first_v >= 0)
                to_zero = np.where(use_zero, sampled * (first_v / result), to_start)
                to_start = np.where(to_zero < to_start, to_zero, to_start)
            to_end = np.where(to_end >= threshold, avg_gap / 2, to_end)
            factor = np.where(sampled != 0, (sampled + to_start + to_end) / sampled, 1.0)
            if is_rate:
                factor = factor / range_s
            return result * factor

        values, present = _per_window(rb, 2, compute)
        if is_counter:
            _possible_non_counter(rb, present, ctx)
        return _range_result(rb, values, present)

    return impl


def _possible_non_counter(rb: RangeBlock, present: np.ndarray, ctx: EvalContext) -> None:
    if not len(rb.series):
        return
    rows = present.any(axis=1).tolist() if present.shape[1] > 1 else present[:, 0].tolist()
    seen = {metric_name(s.labels) for s, p in zip(rb.series, rows, strict=True) if p}
    names = sorted(n for n in seen if n and not n.endswith(_COUNTER_SUFFIXES))
    for name in names:
        text = (
            "PromQL info: metric might not be a counter, name does not end in "
            f"_total/_sum/_count/_bucket: {go_quote(name)}"
        )
        annotate(ctx, True, text, 0)


def instant_rate(is_rate: bool) -> Callable[..., Result]:
    """irate/idelta: the last two samples of each window."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = matrix_arg(args[0])

        def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> tuple:
            last = lo + c - 1
            v1, v0 = w.v[last], w.v[last - 1]
            interval = w.t[last] - w.t[last - 1]
            result = v1 - v0
            if is_rate:
                result = np.where(v1 < v0, v1, result) / (interval.astype(np.float64) / 1000)
            return result, interval != 0

        values, present = _per_window(rb, 2, compute)
        return _range_result(rb, values, present)

    return impl


def deriv(args: list[Arg], ctx: EvalContext) -> Result:
    """`deriv(v range-vector)`: least-squares slope per second."""
    rb = matrix_arg(args[0])

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _windows.window_regression(w.v, w.t, lo, c, w.t[lo])[0]

    values, present = _per_window(rb, 2, compute)
    return _range_result(rb, values, present)


def predict_linear(args: list[Arg], ctx: EvalContext) -> Result:
    """`predict_linear(v range-vector, t scalar)`: the fitted line t seconds after the step."""
    rb = matrix_arg(args[0])
    duration = scalar_arg(args[1])
    step_times = np.asarray(rb.step_times, np.int64)

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        slope, intercept = _windows.window_regression(w.v, w.t, lo, c, step_times[k])
        return slope * duration[k] + intercept

    values, present = _per_window(rb, 2, compute)
    return _range_result(rb, values, present)


def quantile_over_time(args: list[Arg], ctx: EvalContext) -> Result:
    """`quantile_over_time(φ scalar, v range-vector)`: the φ-quantile of each window."""
    q = scalar_arg(args[0])
    rb = matrix_arg(args[1])

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _windows.window_quantile(w.v, lo, c, q[k])

    values, present = _per_window(rb, 1, compute)
    bad = present.any(axis=0) & (np.isnan(q) | (q < 0) | (q > 1))
    for qv in dict.fromkeys(q[bad].tolist()):
        annotate(ctx, False, invalid_quantile(qv), 0)
    return _range_result(rb, values, present)


def double_exponential_smoothing(args: list[Arg], ctx: EvalContext) -> Result:
    """`double_exponential_smoothing(v range-vector, sf, tf scalar)`: Holt's linear smoothing."""
    rb = matrix_arg(args[0])
    sf, tf = scalar_arg(args[1]), scalar_arg(args[2])
    called = (_windows.window_counts(rb) >= 1).any(axis=0)
    bad_sf = called & ~((sf > 0) & (sf < 1))
    bad_tf = called & ~((tf > 0) & (tf < 1))
    bad = np.flatnonzero(bad_sf | bad_tf)
    if len(bad):
        k = bad[0]
        if bad_sf[k]:
            raise QueryError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf[k]:f}")
        raise QueryError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf[k]:f}")

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _windows.window_smoothing(w.v, lo, c, sf[k], tf[k])

    values, present = _per_window(rb, 2, compute)
    return _range_result(rb, values, present)


OVER_TIME: dict[str, tuple[Callable[..., np.ndarray], bool, bool]] = {
    # name: (reduce, keeps_name, experimental)
    "avg_over_time": (_avg_reduce, False, False),
    "count_over_time": (_count_reduce, False, False),
    "first_over_time": (_first_reduce, True, False),
    "last_over_time": (_last_reduce, True, False),
    "mad_over_time": (_mad_reduce, False, True),
    "max_over_time": (_extreme_reduce("max", False), False, False),
    "min_over_time": (_extreme_reduce("min", False), False, False),
    "present_over_time": (_ones_reduce, False, False),
    "stddev_over_time": (_stddev_reduce, False, False),
    "stdvar_over_time": (_stdvar_reduce, False, False),
    "sum_over_time": (_sum_reduce, False, False),
    "ts_of_first_over_time": (_ts_first_reduce, False, True),
    "ts_of_last_over_time": (_ts_last_reduce, False, True),
    "ts_of_max_over_time": (_extreme_reduce("max_last", True), False, True),
    "ts_of_min_over_time": (_extreme_reduce("min_last", True), False, True),
    "changes": (_pair_count(_changed), False, False),
    "resets": (_pair_count(_dropped), False, False),
}
