"""PromQL's function library: signatures and vectorised implementations.

`FUNCTIONS` maps every function name of Prometheus 3.x to a
:class:`~nightowl.query.block.FunctionDef`: the signature the parser checks
(`promql/parser/functions.go`) and an implementation `impl(args, ctx)` that the
evaluator calls once per call site with its arguments evaluated over *all* steps
(see `query.block`). Implementations never loop over steps in Python:

- instant-vector functions are numpy ufuncs over the (series x steps) matrix;
- range-vector functions index every (series, step) window at once
  (`query._windows`) and reduce them with index arithmetic or a position-wise
  walk that repeats Prometheus's own arithmetic, so results match it exactly;
- `histogram_quantile`/`histogram_fraction` group bucket series and work per
  group over all steps (`query._histogram`).

Conventions shared with the evaluator:

- Results keep their labels, `__name__` included: the evaluator removes the
  name late (Prometheus's delayed name removal), flagging every row of a function
  whose `FunctionDef.keeps_name` is False. Functions that keep the name set
  `Block.drop_name` themselves, carrying the flags of their input rows
  (`label_replace`/`label_join` onto `__name__` clear them). Rows that come to
  share a label set are merged by the evaluator.
- Annotations go to `ctx.warnings`/`ctx.infos` with Prometheus's wording, ending
  in ` (line:col)` of the argument concerned when `ctx.arg_positions` is set.
- `absent()`/`absent_over_time()` take their labels from the argument's
  `source_matchers`.
- The sort functions order rows only for instant queries (one step); for range
  queries they warn, as Prometheus does, and leave the order to the evaluator.

Not provided: `info()` (it must select `target_info` series from the store, which
an evaluated argument cannot do); native-histogram functions exist with their
float-sample semantics (nightowl stores no native histograms, so they return
nothing).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal

import numpy as np
from nightowl.query import _histogram, _windows
from nightowl.query.block import (
    Arg,
    ArgType,
    Block,
    EvalContext,
    FunctionDef,
    RangeBlock,
    Result,
    ScalarBlock,
    StringBlock,
)

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels, Matcher, MatchOp

__all__ = ["FUNCTIONS", "format_go_float", "labels_for_absent"]

S, V, M, STR = ArgType.SCALAR, ArgType.VECTOR, ArgType.MATRIX, ArgType.STRING

# -- formatting and annotations ----------------------------------------------


def format_go_float(x: float) -> str:
    """Format like Go's `%g` / `strconv.FormatFloat(x, 'g', -1, 64)` (shortest repr).

    >>> format_go_float(1e6), format_go_float(0.25), format_go_float(float("inf"))
    ('1e+06', '0.25', '+Inf')
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    nd = len(ds)
    dp = nd + int(exp)  # position of the decimal point relative to the digits
    e = dp - 1
    neg = "-" if sign else ""
    if e < -4 or e >= 6:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{neg}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{neg}{ds}{'0' * (dp - nd)}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def _invalid_quantile(q: float) -> str:
    return f"PromQL warning: quantile value should be between 0 and 1, got {format_go_float(q)}"


def _annotate(ctx: EvalContext, info: bool, text: str, arg: int | None) -> None:
    """Add one annotation (once), suffixed with the position of argument `arg`
    (None: the call itself) when the evaluator provided positions."""
    if arg is None:
        pos = ctx.call_position
    else:
        pos = ctx.arg_positions[arg] if arg < len(ctx.arg_positions) else ""
    msg = f"{text} ({pos})" if pos else text
    target = ctx.infos if info else ctx.warnings
    if msg not in target:
        target.append(msg)


# -- result assembly -----------------------------------------------------------


def _finish(
    labels: list[Labels],
    values: np.ndarray,
    present: np.ndarray,
    drop_name: np.ndarray | None = None,
) -> Block:
    """Build a result Block from its rows, leaving out rows with no sample at all.

    `drop_name` (per row) matters only for functions that keep the name: the
    evaluator flags every row of other functions itself.
    """
    rows = np.flatnonzero(present.any(axis=1)) if len(labels) else np.empty(0, np.int64)
    if len(rows) == len(labels):
        return Block(list(labels), values, present, drop_name=drop_name)
    return Block(
        [labels[i] for i in rows.tolist()],
        values[rows],
        present[rows],
        drop_name=None if drop_name is None else drop_name[rows],
    )


def _scalar(arg: Arg) -> np.ndarray:
    assert isinstance(arg, ScalarBlock)
    return np.asarray(arg.values, dtype=np.float64)


def _string(arg: Arg) -> str:
    assert isinstance(arg, StringBlock)
    return arg.value


def _vector(arg: Arg) -> Block:
    assert isinstance(arg, Block)
    return arg


def _matrix(arg: Arg) -> RangeBlock:
    assert isinstance(arg, RangeBlock)
    return arg


# -- instant-vector math ---------------------------------------------------------


def _elementwise(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = _vector(args[0])
        return _finish(b.labels, fn(b.values), b.present)

    return impl


def _sgn(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0, -1.0, np.where(v > 0, 1.0, v))


def _clamp_block(b: Block, lo: np.ndarray, hi: np.ndarray) -> Block:
    vals = np.maximum(lo[None, :], np.minimum(hi[None, :], b.values))
    present = b.present & ~(hi < lo)[None, :]
    return _finish(b.labels, vals, present)


def _clamp(args: list[Arg], ctx: EvalContext) -> Result:
    return _clamp_block(_vector(args[0]), _scalar(args[1]), _scalar(args[2]))


def _clamp_max(args: list[Arg], ctx: EvalContext) -> Result:
    hi = _scalar(args[1])
    return _clamp_block(_vector(args[0]), np.full_like(hi, -np.inf), hi)


def _clamp_min(args: list[Arg], ctx: EvalContext) -> Result:
    lo = _scalar(args[1])
    return _clamp_block(_vector(args[0]), lo, np.full_like(lo, np.inf))


def _round(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    to_nearest = _scalar(args[1]) if len(args) > 1 else np.ones(ctx.n_steps)
    inv = 1.0 / to_nearest
    vals = np.floor(b.values * inv[None, :] + 0.5) / inv[None, :]
    return _finish(b.labels, vals, b.present)


def _timestamp(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    if b.timestamps is not None:
        ts = np.asarray(b.timestamps, dtype=np.int64)
    else:
        ts = np.broadcast_to(np.asarray(ctx.step_times, np.int64)[None, :], b.present.shape)
    return _finish(b.labels, ts.astype(np.float64) / 1000, b.present)


def _vector_fn(args: list[Arg], ctx: EvalContext) -> Result:
    s = _scalar(args[0])
    return Block([Labels()], s[None, :].copy(), np.ones((1, len(s)), dtype=bool))


def _scalar_fn(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    if not len(b):
        return ScalarBlock(np.full(ctx.n_steps, np.nan))
    n = b.present.sum(axis=0)
    first = np.argmax(b.present, axis=0)
    val = b.values[first, np.arange(b.values.shape[1])]
    return ScalarBlock(np.where(n == 1, val, np.nan))


def _const_scalar(fn: Callable[[EvalContext], float]) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        return ScalarBlock(np.full(ctx.n_steps, fn(ctx), dtype=np.float64))

    return impl


def _time(args: list[Arg], ctx: EvalContext) -> Result:
    return ScalarBlock(np.asarray(ctx.step_times, dtype=np.float64) / 1000)


def _min_of(args: list[Arg], ctx: EvalContext) -> Result:
    a, b = _scalar(args[0]), _scalar(args[1])
    return ScalarBlock(np.minimum(a, b))


def _max_of(args: list[Arg], ctx: EvalContext) -> Result:
    a, b = _scalar(args[0]), _scalar(args[1])
    return ScalarBlock(np.maximum(a, b))


# -- dates -------------------------------------------------------------------------

_INT64_MIN = np.iinfo(np.int64).min


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, proleptic Gregorian calendar."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _is_leap(y: np.ndarray) -> np.ndarray:
    return ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)


_CUM_DAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _date_part(part: str, secs: np.ndarray) -> np.ndarray:
    days = np.floor_divide(secs, 86400)
    sod = secs - days * 86400
    if part == "hour":
        return (sod // 3600).astype(np.float64)
    if part == "minute":
        return (sod % 3600 // 60).astype(np.float64)
    if part == "day_of_week":
        return np.mod(days + 4, 7).astype(np.float64)
    y, m, d = _civil(days)
    if part == "year":
        return y.astype(np.float64)
    if part == "month":
        return m.astype(np.float64)
    if part == "day_of_month":
        return d.astype(np.float64)
    leap = _is_leap(y)
    if part == "day_of_year":
        return (_CUM_DAYS[m - 1] + d + (leap & (m > 2))).astype(np.float64)
    # days_in_month
    return (_MONTH_DAYS[m - 1] + (leap & (m == 2))).astype(np.float64)


def _to_unix_seconds(v: np.ndarray) -> np.ndarray:
    """Go's `int64(f)`: truncation; NaN, Inf and out-of-range give math.MinInt64 (amd64)."""
    ok = np.isfinite(v) & (np.abs(v) < 9.223372036854775e18)
    return np.where(ok, np.trunc(np.where(ok, v, 0.0)), 0).astype(np.int64) + np.where(
        ok, 0, _INT64_MIN
    )


def _date_fn(part: str) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        if not args:
            ts = np.asarray(ctx.step_times, dtype=np.int64)
            secs = np.sign(ts) * (np.abs(ts) // 1000)  # Go's truncating division
            vals = _date_part(part, secs)[None, :]
            return Block([Labels()], vals, np.ones_like(vals, dtype=bool))
        b = _vector(args[0])
        secs = _to_unix_seconds(b.values)
        return _finish(b.labels, _date_part(part, secs), b.present)

    return impl


# -- absent -----------------------------------------------------------------------


def labels_for_absent(matchers: list[Matcher] | None) -> Labels:
    """The labels `absent()` gives its result: those fixed by exactly one equality matcher.

    A label named in an equality matcher keeps that value unless another matcher
    names it again (then it is dropped, as Prometheus does); `__name__` never appears.
    """
    if not matchers:
        return Labels()
    out: dict[str, str] = {}
    has: set[str] = set()
    for m in matchers:
        if m.name == METRIC_NAME:
            continue
        if m.op is MatchOp.EQ and m.name not in has:
            out[m.name] = m.value
            has.add(m.name)
        else:
            out.pop(m.name, None)
    return Labels(out.items())


def _absent(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    missing = ~b.present.any(axis=0) if len(b) else np.ones(ctx.n_steps, dtype=bool)
    lab = labels_for_absent(b.source_matchers)
    return _finish([lab], np.ones((1, ctx.n_steps)), missing[None, :], np.zeros(1, bool))


def _absent_over_time(args: list[Arg], ctx: EvalContext) -> Result:
    rb = _matrix(args[0])
    counts = _windows.window_counts(rb)
    missing = ~(counts > 0).any(axis=0) if len(rb.series) else np.ones(ctx.n_steps, bool)
    lab = labels_for_absent(rb.source_matchers)
    return _finish([lab], np.ones((1, ctx.n_steps)), missing[None, :], np.zeros(1, bool))


# -- range-vector functions ------------------------------------------------------------


def _range_result(
    rb: RangeBlock, values: np.ndarray, present: np.ndarray, keep_name: bool = False
) -> Block:
    drop = None
    if keep_name:
        drop = np.zeros(len(rb.series), bool) if rb.drop_name is None else rb.drop_name
    return _finish([s.labels for s in rb.series], values, present, drop)


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


def _over_time(
    reduce: Callable[[_windows.Windows, np.ndarray, np.ndarray], np.ndarray],
    *,
    min_count: int = 1,
    keep_name: bool = False,
) -> Callable[..., Result]:
    """A range function whose value per window is `reduce(windows, lo, cnt)` over
    the flat list of windows holding at least `min_count` samples."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = _matrix(args[0])
        values, present = _per_window(rb, min_count, lambda w, k, lo, c: reduce(w, lo, c))
        return _range_result(rb, values, present, keep_name)

    return impl


def _count_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return cnt.astype(np.float64)


def _ones_reduce(w: _windows.Windows, lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    return np.ones(len(lo))


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


def _extrapolated(is_counter: bool, is_rate: bool) -> Callable[..., Result]:
    """rate/increase/delta: Prometheus's `extrapolatedRate`."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = _matrix(args[0])
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
    names = sorted(
        {
            s.labels.name
            for i, s in enumerate(rb.series)
            if s.labels.name and not s.labels.name.endswith(_COUNTER_SUFFIXES) and present[i].any()
        }
    )
    for name in names:
        text = (
            "PromQL info: metric might not be a counter, name does not end in "
            f'_total/_sum/_count/_bucket: "{_go_quote(name)}"'
        )
        _annotate(ctx, True, text, 0)


def _go_quote(s: str) -> str:
    """The inside of Go's `%q` for ordinary strings."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _instant_rate(is_rate: bool) -> Callable[..., Result]:
    """irate/idelta: the last two samples of each window."""

    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        rb = _matrix(args[0])

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


def _deriv(args: list[Arg], ctx: EvalContext) -> Result:
    rb = _matrix(args[0])

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _windows.window_regression(w.v, w.t, lo, c, w.t[lo])[0]

    values, present = _per_window(rb, 2, compute)
    return _range_result(rb, values, present)


def _predict_linear(args: list[Arg], ctx: EvalContext) -> Result:
    rb = _matrix(args[0])
    duration = _scalar(args[1])
    step_times = np.asarray(rb.step_times, np.int64)

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        slope, intercept = _windows.window_regression(w.v, w.t, lo, c, step_times[k])
        return slope * duration[k] + intercept

    values, present = _per_window(rb, 2, compute)
    return _range_result(rb, values, present)


def _quantile_over_time(args: list[Arg], ctx: EvalContext) -> Result:
    q = _scalar(args[0])
    rb = _matrix(args[1])

    def compute(w: _windows.Windows, k: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _windows.window_quantile(w.v, lo, c, q[k])

    values, present = _per_window(rb, 1, compute)
    bad = present.any(axis=0) & (np.isnan(q) | (q < 0) | (q > 1))
    for qv in dict.fromkeys(q[bad].tolist()):
        _annotate(ctx, False, _invalid_quantile(qv), 0)
    return _range_result(rb, values, present)


def _double_exponential_smoothing(args: list[Arg], ctx: EvalContext) -> Result:
    rb = _matrix(args[0])
    sf, tf = _scalar(args[1]), _scalar(args[2])
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


# -- sorting ----------------------------------------------------------------------


def _sort_warning(ctx: EvalContext) -> bool:
    """Warn (and return True) when a sort function runs in a range query."""
    if ctx.start != ctx.end:
        _annotate(
            ctx,
            False,
            "PromQL warning: sort is ineffective for range queries since results are "
            "always ordered by labels",
            None,
        )
        return True
    return False


def _drops(b: Block) -> np.ndarray:
    return np.zeros(len(b), bool) if b.drop_name is None else np.asarray(b.drop_name, bool)


def _reorder(b: Block, order: list[int] | np.ndarray) -> Block:
    idx = np.asarray(order, dtype=np.int64)
    return Block(
        [b.labels[i] for i in idx.tolist()],
        b.values[idx],
        b.present[idx],
        drop_name=_drops(b)[idx],
    )


def _sort_by_value(descending: bool) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = _vector(args[0])
        if _sort_warning(ctx) or not len(b) or b.values.shape[1] != 1:
            return _finish(b.labels, b.values, b.present, _drops(b))
        v = b.values[:, 0]
        rows = np.flatnonzero(b.present[:, 0])
        key = -v[rows] if descending else v[rows]
        nan = np.isnan(key)
        order = rows[np.lexsort((key, nan))]  # NaN last, stable otherwise
        return _reorder(b, order)

    return impl


_NAT_CHUNK = re.compile(r"[0-9]+|[^0-9]+")


def _atoi(s: str) -> int | None:
    if not s.isascii() or not s.isdigit():
        return None
    n = int(s)
    return n if n < 2**63 else None


def natural_less(a: str, b: str) -> bool:
    """`natsort.Compare` as Prometheus's `sort_by_label` uses it: digit runs compare
    as integers, other runs as strings; a string that is a prefix sorts first."""
    ca, cb = _NAT_CHUNK.findall(a), _NAT_CHUNK.findall(b)
    for i, x in enumerate(ca):
        if i >= len(cb):
            return False
        y = cb[i]
        xi, yi = _atoi(x), _atoi(y)
        if xi is not None and yi is not None:
            if xi == yi:
                if i == len(ca) - 1:
                    return True
                if i == len(cb) - 1:
                    return False
                continue
            return xi < yi
        if x == y:
            if i == len(ca) - 1:
                return True
            if i == len(cb) - 1:
                return False
            continue
        return x.encode() < y.encode()
    return False


def _sort_by_label(descending: bool) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = _vector(args[0])
        names = [_string(a) for a in args[1:]]
        if _sort_warning(ctx) or not len(b) or b.values.shape[1] != 1:
            return _finish(b.labels, b.values, b.present, _drops(b))

        def cmp(i: int, j: int) -> int:
            la, lb = b.labels[i], b.labels[j]
            for name in names:
                va, vb = la.get(name), lb.get(name)
                if va == vb:
                    continue
                less = natural_less(va, vb)
                return (1 if less else -1) if descending else (-1 if less else 1)
            if la == lb:
                return 0
            res = -1 if la < lb else 1
            return -res if descending else res

        rows = np.flatnonzero(b.present[:, 0]).tolist()
        return _reorder(b, sorted(rows, key=functools.cmp_to_key(cmp)))

    return impl


# -- labels -------------------------------------------------------------------------


def _valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's `Regexp.ExpandString`: `$1`, `${1}`, `$name`, `${name}`, `$$`.

    A name is the longest run of letters, digits and `_` (so `$1x` means group
    "1x"); unknown groups and groups that did not take part expand to "".
    """
    out: list[str] = []
    i, n = 0, len(template)
    groups = match.re.groupindex
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + 1 if brace else i
        start = k
        while k < n and _is_name_char(template[k]):
            k += 1
        name = template[start:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")
            continue
        i = k + 1 if brace else k
        num: int | None = None
        if name.isascii() and name.isdigit() and len(name) < 9:
            num = int(name)
            if name[0] == "0" and len(name) > 1:
                num = None
        idx = num if num is not None else groups.get(name)
        if idx is not None and idx <= match.re.groups and match.start(idx) >= 0:
            out.append(match.group(idx))
    return "".join(out)


def _compile_regex(pattern: str) -> re.Pattern[str]:
    from nightowl.query.parser import translate_regex

    return re.compile(f"(?s:{translate_regex(pattern)})")


def _label_replace(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    dst, repl, src, regex = (_string(a) for a in args[1:5])
    try:
        rx = _compile_regex(regex)
    except (re.error, ValueError, OverflowError, RecursionError):
        raise QueryError(f"invalid regular expression in label_replace(): {regex}") from None
    if not _valid_label_name(dst):
        raise QueryError(f"invalid destination label name in label_replace(): {dst}")
    labels = []
    drop = _drops(b).copy()
    for i, lab in enumerate(b.labels):
        m = rx.fullmatch(lab.get(src))
        if m is None:
            labels.append(lab)
            continue
        labels.append(lab.with_(**{dst: expand_template(repl, m)}))
        if dst == METRIC_NAME:
            drop[i] = False
    return _finish(labels, b.values, b.present, drop)


def _label_join(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    dst, sep = _string(args[1]), _string(args[2])
    srcs = [_string(a) for a in args[3:]]
    for s in srcs:
        if not _valid_label_name(s):
            raise QueryError(f"invalid source label name in label_join(): {s}")
    if not _valid_label_name(dst):
        raise QueryError(f"invalid destination label name in label_join(): {dst}")
    labels = [lab.with_(**{dst: sep.join(lab.get(s) for s in srcs)}) for lab in b.labels]
    drop = np.zeros(len(b), bool) if dst == METRIC_NAME else _drops(b)
    return _finish(labels, b.values, b.present, drop)


# -- classic histograms -------------------------------------------------------------


def _bucket_groups(
    b: Block, ctx: EvalContext, arg: int
) -> dict[Labels, tuple[list[float], list[int]]]:
    """Group bucket series by their labels without `le`; warn about bad `le` values."""
    groups: dict[Labels, tuple[list[float], list[int]]] = {}
    bad: list[tuple[str, str]] = []
    for i, lab in enumerate(b.labels):
        le = lab.get("le")
        bound = _histogram.parse_bound(le)
        if bound is None:
            if b.present[i].any():
                bad.append((le, lab.name))
            continue
        bounds, rows = groups.setdefault(lab.without("le"), ([], []))
        bounds.append(bound)
        rows.append(i)
    for le, name in dict.fromkeys(bad):
        text = (
            'PromQL warning: bucket label "le" is missing or has a malformed value of '
            f'"{_go_quote(le)}"{_for_metric(name)}'
        )
        _annotate(ctx, False, text, arg)
    return groups


def _for_metric(name: str) -> str:
    """Prometheus's `maybeAddMetricName` suffix (with delayed name removal the
    name is still known when annotations are made)."""
    return f' for metric name "{_go_quote(name)}"' if name else ""


#: compute(bounds, counts (buckets x columns), step index per column) -> (values, mono)
_BucketFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, "_histogram.Monotonicity | None"]
]


def _eval_buckets(
    b: Block, groups: dict[Labels, tuple[list[float], list[int]]], n_steps: int, compute: _BucketFn
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray, _histogram.Monotonicity]]]:
    """Evaluate every bucket group at every step where it has buckets.

    Groups with the same bucket bounds that are complete at every step (the usual
    case) are evaluated together, one column per (group, step); the others per
    set of buckets present. Returns values and presence (groups x steps) and, per
    group that needed it, (group, step indices, monotonicity fixes).
    """
    values = np.full((len(groups), n_steps), np.nan)
    present = np.zeros((len(groups), n_steps), dtype=bool)
    forced: list[tuple[int, np.ndarray, _histogram.Monotonicity]] = []
    batches: dict[tuple[float, ...], list[tuple[int, np.ndarray]]] = {}
    for g, (bounds, rows) in enumerate(groups.values()):
        order = np.argsort(np.asarray(bounds), kind="stable")
        key = tuple(np.asarray(bounds)[order].tolist())
        batches.setdefault(key, []).append((g, np.asarray(rows, dtype=np.int64)[order]))

    def record(gs: np.ndarray, steps: np.ndarray, mono: _histogram.Monotonicity | None) -> None:
        if mono is None or not mono.forced.any():
            return
        for g in np.unique(gs[mono.forced]).tolist():
            sel = mono.forced & (gs == g)
            sub = _histogram.Monotonicity(
                sel[sel], mono.min_bucket[sel], mono.max_bucket[sel], mono.max_diff[sel]
            )
            forced.append((g, steps[sel], sub))

    all_steps = np.arange(n_steps)
    for key, members in batches.items():
        bounds = np.array(key)
        rows = np.stack([r for _, r in members])  # (groups, buckets)
        gidx = np.array([g for g, _ in members])
        full = b.present[rows].all(axis=(1, 2))
        if full.any():
            fr, fg = rows[full], gidx[full]
            counts = b.values[fr].transpose(1, 0, 2).reshape(len(key), -1)
            steps = np.tile(all_steps, len(fg))
            res, mono = compute(bounds, counts, steps)
            values[fg] = res.reshape(len(fg), n_steps)
            present[fg] = True
            record(np.repeat(fg, n_steps), steps, mono)
        for g, grow in zip(gidx[~full].tolist(), rows[~full], strict=True):
            p = b.present[grow]
            patterns, inverse = np.unique(p.T, axis=0, return_inverse=True)
            inverse = np.asarray(inverse).reshape(-1)
            for k, pat in enumerate(patterns):
                if not pat.any():
                    continue
                steps = np.flatnonzero(inverse == k)
                counts = b.values[np.ix_(grow[pat], steps)]
                res, mono = compute(bounds[pat], counts, steps)
                values[g, steps] = res
                present[g, steps] = True
                record(np.full(len(steps), g), steps, mono)
    return values, present, forced


def _time_rfc3339(ms: int) -> str:
    secs = ms // 1000 if ms >= 0 else -((-ms) // 1000)
    y, m, d = (int(x[0]) for x in _civil(np.array([secs // 86400])))
    sod = secs % 86400
    return f"{y:04d}-{m:02d}-{d:02d}T{sod // 3600:02d}:{sod % 3600 // 60:02d}:{sod % 60:02d}Z"


def _histogram_quantile_core(
    q: np.ndarray, b: Block, ctx: EvalContext, q_arg: int, v_arg: int
) -> tuple[list[Labels], np.ndarray, np.ndarray]:
    bad = np.isnan(q) | (q < 0) | (q > 1)
    for qv in dict.fromkeys(q[bad].tolist()):
        _annotate(ctx, False, _invalid_quantile(qv), q_arg)
    groups = _bucket_groups(b, ctx, v_arg)
    labels = list(groups)

    def compute(
        bounds: np.ndarray, counts: np.ndarray, steps: np.ndarray
    ) -> tuple[np.ndarray, _histogram.Monotonicity]:
        return _histogram.bucket_quantile(q[steps], bounds, counts)

    values, present, fixes = _eval_buckets(b, groups, ctx.n_steps, compute)
    # per metric name: [times, min bucket, max bucket, max diff]
    forced: dict[str, list] = {}
    step_times = np.asarray(ctx.step_times, np.int64)
    for g, steps, mono in fixes:
        acc = forced.setdefault(labels[g].name, [[], np.inf, -np.inf, 0.0])
        acc[0].append(step_times[steps])
        acc[1] = min(acc[1], float(mono.min_bucket.min()))
        acc[2] = max(acc[2], float(mono.max_bucket.max()))
        acc[3] = max(acc[3], float(mono.max_diff.max()))
    for name, (times, min_b, max_b, max_d) in forced.items():
        ts = np.concatenate(times)
        text = (
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
            "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
            f"#histogram_quantile){_for_metric(name)}, from buckets {format_go_float(min_b)} "
            f"to {format_go_float(max_b)}, with a max diff of {max_d:.2g}, over {len(ts)} "
            f"samples from {_time_rfc3339(int(ts.min()))} to {_time_rfc3339(int(ts.max()))}"
        )
        _annotate(ctx, True, text, v_arg)
    return labels, values, present


def _histogram_quantile(args: list[Arg], ctx: EvalContext) -> Result:
    q = _scalar(args[0])
    b = _vector(args[1])
    labels, values, present = _histogram_quantile_core(q, b, ctx, 0, 1)
    return _finish(labels, values, present)


def format_openmetrics_float(f: float) -> str:
    """Prometheus's `labels.FormatOpenMetricsFloat` (how `quantile` label values look)."""
    if f == 1:
        return "1.0"
    if f == 0:
        return "0.0"
    if f == -1:
        return "-1.0"
    s = format_go_float(f)
    if math.isnan(f) or math.isinf(f) or "e" in s or "." in s:
        return s
    return s + ".0"


def _histogram_quantiles(args: list[Arg], ctx: EvalContext) -> Result:
    b = _vector(args[0])
    label = _string(args[1])
    if not _valid_label_name(label):
        raise QueryError(f"invalid quantile label name in histogram_quantiles(): {label}")
    all_labels: list[Labels] = []
    all_values: list[np.ndarray] = []
    all_present: list[np.ndarray] = []
    for k, arg in enumerate(args[2:], start=2):
        q = _scalar(arg)
        labels, values, present = _histogram_quantile_core(q, b, ctx, k, 0)
        qstr = np.array([format_openmetrics_float(x) for x in q.tolist()], dtype=object)
        for s in dict.fromkeys(qstr.tolist()):
            at = qstr == s
            for g, lab in enumerate(labels):
                all_labels.append(lab.with_(**{label: s}))
                all_values.append(values[g])
                all_present.append(present[g] & at)
    if not all_labels:
        return Block.empty(ctx.n_steps)
    return _finish(all_labels, np.array(all_values), np.array(all_present))


def _histogram_fraction(args: list[Arg], ctx: EvalContext) -> Result:
    lower, upper = _scalar(args[0]), _scalar(args[1])
    b = _vector(args[2])
    groups = _bucket_groups(b, ctx, 2)

    def compute(bounds: np.ndarray, counts: np.ndarray, steps: np.ndarray) -> tuple:
        return _histogram.bucket_fraction(lower[steps], upper[steps], bounds, counts), None

    values, present, _ = _eval_buckets(b, groups, ctx.n_steps, compute)
    labels = list(groups)
    return _finish(labels, values, present)


def _native_only(args: list[Arg], ctx: EvalContext) -> Result:
    """Functions of native histograms ignore float samples; nightowl has no others."""
    return Block.empty(ctx.n_steps)


# -- the table ---------------------------------------------------------------------


def _guarded(impl: Callable[[list[Arg], EvalContext], Result]) -> Callable[..., Result]:
    """Run an implementation with numpy's float warnings off: NaN and Inf are data."""

    @functools.wraps(impl)
    def run(args: list[Arg], ctx: EvalContext) -> Result:
        with np.errstate(all="ignore"):
            return impl(args, ctx)

    return run


def _def(
    name: str,
    arg_types: list[ArgType],
    impl: Callable[..., Result],
    *,
    variadic: int = 0,
    returns: ArgType = V,
    experimental: bool = False,
    keeps_name: bool = False,
) -> FunctionDef:
    return FunctionDef(
        name, tuple(arg_types), variadic, returns, _guarded(impl), experimental, keeps_name
    )


_MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "rad": lambda v: v * math.pi / 180,
    "deg": lambda v: v * 180 / math.pi,
    "sgn": _sgn,
}

_OVER_TIME: dict[str, tuple[Callable[..., np.ndarray], bool, bool]] = {
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

_DATES = ("day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute")
_DATES += ("month", "year")


def _build() -> dict[str, FunctionDef]:
    defs: list[FunctionDef] = []
    for name, fn in _MATH.items():
        defs.append(_def(name, [V], _elementwise(fn)))
    for name, (reduce, keeps, exp) in _OVER_TIME.items():
        impl = _over_time(reduce, keep_name=keeps)
        defs.append(_def(name, [M], impl, keeps_name=keeps, experimental=exp))
    for name in _DATES:
        defs.append(_def(name, [V], _date_fn(name), variadic=1))
    defs += [
        _def("absent", [V], _absent, keeps_name=True),
        _def("absent_over_time", [M], _absent_over_time, keeps_name=True),
        _def("clamp", [V, S, S], _clamp),
        _def("clamp_max", [V, S], _clamp_max),
        _def("clamp_min", [V, S], _clamp_min),
        _def("delta", [M], _extrapolated(False, False)),
        _def("deriv", [M], _deriv),
        _def(
            "double_exponential_smoothing",
            [M, S, S],
            _double_exponential_smoothing,
            experimental=True,
        ),
        _def("end", [], _const_scalar(lambda c: c.end / 1000), returns=S, experimental=True),
        _def("histogram_avg", [V], _native_only),
        _def("histogram_count", [V], _native_only),
        _def("histogram_fraction", [S, S, V], _histogram_fraction),
        _def("histogram_quantile", [S, V], _histogram_quantile),
        _def(
            "histogram_quantiles",
            [V, STR, S, S],
            _histogram_quantiles,
            variadic=9,
            experimental=True,
        ),
        _def("histogram_stddev", [V], _native_only),
        _def("histogram_stdvar", [V], _native_only),
        _def("histogram_sum", [V], _native_only),
        _def("idelta", [M], _instant_rate(False)),
        _def("increase", [M], _extrapolated(True, False)),
        _def("irate", [M], _instant_rate(True)),
        _def("label_join", [V, STR, STR, STR], _label_join, variadic=-1, keeps_name=True),
        _def("label_replace", [V, STR, STR, STR, STR], _label_replace, keeps_name=True),
        _def("max_of", [S, S], _max_of, returns=S, experimental=True),
        _def("min_of", [S, S], _min_of, returns=S, experimental=True),
        _def("pi", [], _const_scalar(lambda c: math.pi), returns=S),
        _def("predict_linear", [M, S], _predict_linear),
        _def("quantile_over_time", [S, M], _quantile_over_time),
        _def(
            "range",
            [],
            _const_scalar(lambda c: (c.end - c.start) / 1000),
            returns=S,
            experimental=True,
        ),
        _def("rate", [M], _extrapolated(True, True)),
        _def("round", [V, S], _round, variadic=1),
        _def("scalar", [V], _scalar_fn, returns=S),
        _def("sort", [V], _sort_by_value(False), keeps_name=True),
        _def(
            "sort_by_label",
            [V, STR],
            _sort_by_label(False),
            variadic=-1,
            keeps_name=True,
            experimental=True,
        ),
        _def(
            "sort_by_label_desc",
            [V, STR],
            _sort_by_label(True),
            variadic=-1,
            keeps_name=True,
            experimental=True,
        ),
        _def("sort_desc", [V], _sort_by_value(True), keeps_name=True),
        _def("start", [], _const_scalar(lambda c: c.start / 1000), returns=S, experimental=True),
        _def("start_timestamp", [V], _native_only, experimental=True),
        _def("step", [], _const_scalar(lambda c: c.step / 1000), returns=S, experimental=True),
        _def("time", [], _time, returns=S),
        _def("timestamp", [V], _timestamp),
        _def("vector", [S], _vector_fn),
    ]
    return {d.name: d for d in sorted(defs, key=lambda d: d.name)}


#: Every PromQL function nightowl evaluates, by name.
FUNCTIONS: dict[str, FunctionDef] = _build()
