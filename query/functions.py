"""PromQL's function library: signatures and vectorised implementations.

`FUNCTIONS` maps every function name of Prometheus 3.x to a
:class:`~nightowl.query.block.FunctionDef`: the signature the parser checks
(`promql/parser/functions.go`) and an implementation `impl(args, ctx)` that the
evaluator calls once per call site with its arguments evaluated over *all* steps
(see `query.block`). Implementations never loop over steps in Python:

- instant-vector functions (here) are numpy ufuncs over the (series x steps) matrix;
- range-vector functions (`query._range_functions`) index every (series, step)
  window at once (`query._windows`) and reduce them with index arithmetic or a
  position-wise walk that repeats Prometheus's own arithmetic, so results match
  it exactly;
- `histogram_quantile` & co. group bucket series and work over all steps at once
  (`query._histogram`); label and ordering functions live in
  `query._label_functions`, shared plumbing in `query._fnbase`.

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
from collections.abc import Callable

import numpy as np
from nightowl.query import _windows
from nightowl.query._fnbase import (
    civil_from_days,
    finish,
    format_go_float,
    matrix_arg,
    scalar_arg,
    vector_arg,
)
from nightowl.query._histogram import (
    format_openmetrics_float,
    histogram_fraction,
    histogram_quantile,
    histogram_quantiles,
    native_only,
)
from nightowl.query._label_functions import (
    expand_template,
    label_join,
    label_replace,
    natural_less,
    sort_by_label,
    sort_by_value,
)
from nightowl.query._range_functions import (
    OVER_TIME,
    deriv,
    double_exponential_smoothing,
    extrapolated,
    instant_rate,
    over_time,
    predict_linear,
    quantile_over_time,
)
from nightowl.query.block import (
    Arg,
    ArgType,
    Block,
    EvalContext,
    FunctionDef,
    Result,
    ScalarBlock,
)

from nightowl.model import METRIC_NAME, Labels, Matcher, MatchOp

__all__ = [
    "FUNCTIONS",
    "expand_template",
    "format_go_float",
    "format_openmetrics_float",
    "labels_for_absent",
    "natural_less",
]

S, V, M, STR = ArgType.SCALAR, ArgType.VECTOR, ArgType.MATRIX, ArgType.STRING

# -- instant-vector math ---------------------------------------------------------


def _elementwise(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., Result]:
    def impl(args: list[Arg], ctx: EvalContext) -> Result:
        b = vector_arg(args[0])
        return finish(b.labels, fn(b.values), b.present)

    return impl


def _sgn(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0, -1.0, np.where(v > 0, 1.0, v))


def _clamp_block(b: Block, lo: np.ndarray, hi: np.ndarray) -> Block:
    vals = np.maximum(lo[None, :], np.minimum(hi[None, :], b.values))
    present = b.present & ~(hi < lo)[None, :]
    return finish(b.labels, vals, present)


def _clamp(args: list[Arg], ctx: EvalContext) -> Result:
    return _clamp_block(vector_arg(args[0]), scalar_arg(args[1]), scalar_arg(args[2]))


def _clamp_max(args: list[Arg], ctx: EvalContext) -> Result:
    hi = scalar_arg(args[1])
    return _clamp_block(vector_arg(args[0]), np.full_like(hi, -np.inf), hi)


def _clamp_min(args: list[Arg], ctx: EvalContext) -> Result:
    lo = scalar_arg(args[1])
    return _clamp_block(vector_arg(args[0]), lo, np.full_like(lo, np.inf))


def _round(args: list[Arg], ctx: EvalContext) -> Result:
    b = vector_arg(args[0])
    to_nearest = scalar_arg(args[1]) if len(args) > 1 else np.ones(ctx.n_steps)
    inv = 1.0 / to_nearest
    vals = np.floor(b.values * inv[None, :] + 0.5) / inv[None, :]
    return finish(b.labels, vals, b.present)


def _timestamp(args: list[Arg], ctx: EvalContext) -> Result:
    b = vector_arg(args[0])
    if b.timestamps is not None:
        ts = np.asarray(b.timestamps, dtype=np.int64)
    else:
        ts = np.broadcast_to(np.asarray(ctx.step_times, np.int64)[None, :], b.present.shape)
    return finish(b.labels, ts.astype(np.float64) / 1000, b.present)


def _vector_fn(args: list[Arg], ctx: EvalContext) -> Result:
    s = scalar_arg(args[0])
    return Block([Labels()], s[None, :].copy(), np.ones((1, len(s)), dtype=bool))


def _scalar_fn(args: list[Arg], ctx: EvalContext) -> Result:
    b = vector_arg(args[0])
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
    a, b = scalar_arg(args[0]), scalar_arg(args[1])
    return ScalarBlock(np.minimum(a, b))


def _max_of(args: list[Arg], ctx: EvalContext) -> Result:
    a, b = scalar_arg(args[0]), scalar_arg(args[1])
    return ScalarBlock(np.maximum(a, b))


# -- dates -------------------------------------------------------------------------

_INT64_MIN = np.iinfo(np.int64).min


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
    y, m, d = civil_from_days(days)
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
        b = vector_arg(args[0])
        secs = _to_unix_seconds(b.values)
        return finish(b.labels, _date_part(part, secs), b.present)

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
    b = vector_arg(args[0])
    missing = ~b.present.any(axis=0) if len(b) else np.ones(ctx.n_steps, dtype=bool)
    lab = labels_for_absent(b.source_matchers)
    return finish([lab], np.ones((1, ctx.n_steps)), missing[None, :], np.zeros(1, bool))


def _absent_over_time(args: list[Arg], ctx: EvalContext) -> Result:
    rb = matrix_arg(args[0])
    counts = _windows.window_counts(rb)
    missing = ~(counts > 0).any(axis=0) if len(rb.series) else np.ones(ctx.n_steps, bool)
    lab = labels_for_absent(rb.source_matchers)
    return finish([lab], np.ones((1, ctx.n_steps)), missing[None, :], np.zeros(1, bool))


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


_DATES = ("day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute")
_DATES += ("month", "year")


def _build() -> dict[str, FunctionDef]:
    defs: list[FunctionDef] = []
    for name, fn in _MATH.items():
        defs.append(_def(name, [V], _elementwise(fn)))
    for name, (reduce, keeps, exp) in OVER_TIME.items():
        impl = over_time(reduce, keep_name=keeps)
        defs.append(_def(name, [M], impl, keeps_name=keeps, experimental=exp))
    for name in _DATES:
        defs.append(_def(name, [V], _date_fn(name), variadic=1))
    defs += [
        _def("absent", [V], _absent, keeps_name=True),
        _def("absent_over_time", [M], _absent_over_time, keeps_name=True),
        _def("clamp", [V, S, S], _clamp),
        _def("clamp_max", [V, S], _clamp_max),
        _def("clamp_min", [V, S], _clamp_min),
        _def("delta", [M], extrapolated(False, False)),
        _def("deriv", [M], deriv),
        _def(
            "double_exponential_smoothing",
            [M, S, S],
            double_exponential_smoothing,
            experimental=True,
        ),
        _def("end", [], _const_scalar(lambda c: c.end / 1000), returns=S, experimental=True),
        _def("histogram_avg", [V], native_only),
        _def("histogram_count", [V], native_only),
        _def("histogram_fraction", [S, S, V], histogram_fraction),
        _def("histogram_quantile", [S, V], histogram_quantile),
        _def(
            "histogram_quantiles",
            [V, STR, S, S],
            histogram_quantiles,
            variadic=9,
            experimental=True,
        ),
        _def("histogram_stddev", [V], native_only),
        _def("histogram_stdvar", [V], native_only),
        _def("histogram_sum", [V], native_only),
        _def("idelta", [M], instant_rate(False)),
        _def("increase", [M], extrapolated(True, False)),
        _def("irate", [M], instant_rate(True)),
        _def("label_join", [V, STR, STR, STR], label_join, variadic=-1, keeps_name=True),
        _def("label_replace", [V, STR, STR, STR, STR], label_replace, keeps_name=True),
        _def("max_of", [S, S], _max_of, returns=S, experimental=True),
        _def("min_of", [S, S], _min_of, returns=S, experimental=True),
        _def("pi", [], _const_scalar(lambda c: math.pi), returns=S),
        _def("predict_linear", [M, S], predict_linear),
        _def("quantile_over_time", [S, M], quantile_over_time),
        _def(
            "range",
            [],
            _const_scalar(lambda c: (c.end - c.start) / 1000),
            returns=S,
            experimental=True,
        ),
        _def("rate", [M], extrapolated(True, True)),
        _def("round", [V, S], _round, variadic=1),
        _def("scalar", [V], _scalar_fn, returns=S),
        _def("sort", [V], sort_by_value(False), keeps_name=True),
        _def(
            "sort_by_label",
            [V, STR],
            sort_by_label(False),
            variadic=-1,
            keeps_name=True,
            experimental=True,
        ),
        _def(
            "sort_by_label_desc",
            [V, STR],
            sort_by_label(True),
            variadic=-1,
            keeps_name=True,
            experimental=True,
        ),
        _def("sort_desc", [V], sort_by_value(True), keeps_name=True),
        _def("start", [], _const_scalar(lambda c: c.start / 1000), returns=S, experimental=True),
        _def("start_timestamp", [V], native_only, experimental=True),
        _def("step", [], _const_scalar(lambda c: c.step / 1000), returns=S, experimental=True),
        _def("time", [], _time, returns=S),
        _def("timestamp", [V], _timestamp),
        _def("vector", [S], _vector_fn),
    ]
    return {d.name: d for d in sorted(defs, key=lambda d: d.name)}


#: Every PromQL function nightowl evaluates, by name.
FUNCTIONS: dict[str, FunctionDef] = _build()
