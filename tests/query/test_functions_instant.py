"""Instant-vector and scalar functions: math, clamping, dates, labels, sorting, absent."""

from __future__ import annotations

import calendar
import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query.block import ArgType, Block, EvalContext, ScalarBlock, StringBlock
from nightowl.query.functions import (
    FUNCTIONS,
    expand_template,
    format_go_float,
    labels_for_absent,
    natural_less,
)

from nightowl.errors import QueryError
from nightowl.model import Labels, Matcher, MatchOp


def _ctx(steps: list[int], start: int | None = None, end: int | None = None) -> EvalContext:
    st_ = np.asarray(steps, dtype=np.int64)
    step = int(st_[1] - st_[0]) if len(st_) > 1 else 0
    return EvalContext(
        st_, int(st_[0]) if start is None else start, int(st_[-1]) if end is None else end, step
    )


def _block(rows: dict[Labels, list[float | None]]) -> Block:
    labels = list(rows)
    n = len(next(iter(rows.values()))) if rows else 1
    vals = np.array([[np.nan if x is None else x for x in r] for r in rows.values()]).reshape(
        len(labels), n
    )
    pres = np.array([[x is not None for x in r] for r in rows.values()]).reshape(len(labels), n)
    return Block(labels, vals, pres)


def _call(name: str, args: list, ctx: EvalContext) -> Block | ScalarBlock:
    return FUNCTIONS[name].impl(args, ctx)


def _one(out: Block) -> dict[Labels, list[float | None]]:
    return {
        lab: [float(v) if p else None for v, p in zip(vals, pres, strict=True)]
        for lab, vals, pres in zip(out.labels, out.values, out.present, strict=True)
    }


A = Labels.of("m", job="a")
B = Labels.of("m", job="b")
C = Labels.of("m", job="c")

# -- the table ----------------------------------------------------------------------

PROMETHEUS_3 = [
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "first_over_time",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_quantiles",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_of",
    "max_over_time",
    "min_of",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "range",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "start_timestamp",
    "step",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "vector",
    "year",
]


def test_table_covers_prometheus_functions() -> None:
    """Every Prometheus 3.x function but `info` is registered; holt_winters is gone."""
    assert set(PROMETHEUS_3) <= set(FUNCTIONS)
    assert "holt_winters" not in FUNCTIONS
    assert FUNCTIONS["label_join"].variadic == -1
    assert list(FUNCTIONS["quantile_over_time"].arg_types) == [ArgType.SCALAR, ArgType.MATRIX]
    assert FUNCTIONS["round"].variadic == 1
    assert FUNCTIONS["double_exponential_smoothing"].experimental
    assert not FUNCTIONS["rate"].experimental
    assert FUNCTIONS["scalar"].return_type is ArgType.SCALAR
    for name, fd in FUNCTIONS.items():
        assert fd.name == name


# -- math ---------------------------------------------------------------------------

_GO_MATH = {
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "ln": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
}


def _go(fn, x: float) -> float:
    """Python's math with Go's conventions: domain errors are NaN, overflow is ±Inf."""
    try:
        return float(fn(x))
    except ValueError:
        if fn in (math.log, math.log2, math.log10) and x == 0:
            return -math.inf
        if fn is math.atanh and abs(x) == 1:
            return math.copysign(math.inf, x)
        return math.nan
    except OverflowError:
        return math.inf if fn in (math.exp, math.cosh) or x > 0 else -math.inf


@pytest.mark.parametrize("name", sorted(_GO_MATH))
@settings(max_examples=30, deadline=None)
@given(xs=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6))
def test_math_functions_match_go_math(name: str, xs: list[float]) -> None:
    """Each math function agrees with the scalar definition on every sample."""
    b = _block({A: list(xs)})
    out = _call(name, [b], _ctx(list(range(len(xs)))))
    assert isinstance(out, Block)
    assert out.labels == [A]
    got = out.values[0]
    want = np.array([_go(_GO_MATH[name], x) if not math.isnan(x) else math.nan for x in xs])
    if name in {"ceil", "floor"}:
        want = np.array([x if not math.isfinite(x) else w for x, w in zip(xs, want, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, equal_nan=True)


def test_sgn_rad_deg() -> None:
    """sgn keeps zero and NaN; rad/deg convert."""
    b = _block({A: [-3.0, 0.0, 2.0, math.nan]})
    out = _call("sgn", [b], _ctx([0, 1, 2, 3]))
    assert _one(out)[A][:3] == [-1.0, 0.0, 1.0]
    assert math.isnan(_one(out)[A][3])
    out = _call("rad", [_block({A: [180.0]})], _ctx([0]))
    assert out.values[0, 0] == math.pi
    out = _call("deg", [_block({A: [math.pi]})], _ctx([0]))
    assert out.values[0, 0] == 180.0


def test_round_ties_up_and_to_nearest() -> None:
    """round() breaks ties upwards and rounds to multiples of its argument."""
    b = _block({A: [2.5, -2.5, 1.26, 7.0]})
    ctx = _ctx([0, 1, 2, 3])
    assert _one(_call("round", [b], ctx))[A] == [3.0, -2.0, 1.0, 7.0]
    tenth = ScalarBlock(np.full(4, 0.1))
    assert _one(_call("round", [b, tenth], ctx))[A] == [2.5, -2.5, 1.3, 7.0]
    five = ScalarBlock(np.full(4, 5.0))
    assert _one(_call("round", [b, five], ctx))[A] == [5.0, 0.0, 0.0, 5.0]


def test_clamp_family() -> None:
    """clamp limits values; a max below the min gives nothing at that step."""
    b = _block({A: [-5.0, 0.5, 9.0], B: [1.0, None, 2.0]})
    ctx = _ctx([0, 1, 2])
    lo = ScalarBlock(np.array([0.0, 0.0, 3.0]))
    hi = ScalarBlock(np.array([1.0, 1.0, 2.0]))
    out = _one(_call("clamp", [b, lo, hi], ctx))
    assert out[A] == [0.0, 0.5, None]
    assert out[B] == [1.0, None, None]
    out = _one(_call("clamp_max", [b, ScalarBlock(np.full(3, 1.0))], ctx))
    assert out[A] == [-5.0, 0.5, 1.0]
    out = _one(_call("clamp_min", [b, ScalarBlock(np.full(3, 1.0))], ctx))
    assert out[A] == [1.0, 1.0, 9.0]


# -- scalars, vector, timestamp ------------------------------------------------------


def test_scalar_vector_time_and_constants() -> None:
    """scalar() needs exactly one sample; vector() has no labels; constants per step."""
    b = _block({A: [1.0, 2.0, None], B: [None, 3.0, None]})
    ctx = _ctx([1000, 2000, 3000])
    s = _call("scalar", [b], ctx)
    assert isinstance(s, ScalarBlock)
    assert s.values[0] == 1.0 and math.isnan(s.values[1]) and math.isnan(s.values[2])
    v = _call("vector", [ScalarBlock(np.array([1.0, np.nan, 3.0]))], ctx)
    assert isinstance(v, Block) and v.labels == [Labels()] and v.present.all()
    t = _call("time", [], ctx)
    assert t.values.tolist() == [1.0, 2.0, 3.0]
    assert _call("pi", [], ctx).values.tolist() == [math.pi] * 3
    rctx = _ctx([10_000, 20_000, 30_000], start=10_000, end=30_000)
    assert _call("start", [], rctx).values.tolist() == [10.0] * 3
    assert _call("end", [], rctx).values.tolist() == [30.0] * 3
    assert _call("range", [], rctx).values.tolist() == [20.0] * 3
    assert _call("step", [], rctx).values.tolist() == [10.0] * 3
    assert _call("step", [], _ctx([5000])).values.tolist() == [0.0]
    two = [ScalarBlock(np.array([1.0, np.nan])), ScalarBlock(np.array([2.0, 0.0]))]
    assert _call("min_of", two, _ctx([0, 1])).values[0] == 1.0
    assert math.isnan(_call("max_of", two, _ctx([0, 1])).values[1])


def test_timestamp_prefers_sample_times() -> None:
    """timestamp() returns the samples' own times when the selector kept them."""
    b = _block({A: [1.0, 1.0]})
    ctx = _ctx([10_000, 20_000])
    assert _one(_call("timestamp", [b], ctx))[A] == [10.0, 20.0]
    b.timestamps = np.array([[9_500, 9_500]])
    assert _one(_call("timestamp", [b], ctx))[A] == [9.5, 9.5]


# -- dates ---------------------------------------------------------------------------

_PARTS = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day_of_month": lambda d: d.day,
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "day_of_week": lambda d: d.isoweekday() % 7,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "days_in_month": lambda d: calendar.monthrange(d.year, d.month)[1],
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", sorted(_PARTS))
@settings(max_examples=40, deadline=None)
@given(secs=st.lists(st.integers(-62_135_596_800, 253_402_300_799), min_size=1, max_size=5))
def test_date_functions_match_calendar(name: str, secs: list[int]) -> None:
    """Date functions on sample values agree with Python's proleptic Gregorian calendar."""
    vals = [float(s) + 0.75 for s in secs]  # fractions truncate toward zero
    b = _block({A: vals})
    out = _call(name, [b], _ctx(list(range(len(secs)))))
    want = []
    for s in secs:
        s_trunc = s + 1 if s < 0 else s  # int64(-1.25) == -1 in Go
        want.append(float(_PARTS[name](_EPOCH + dt.timedelta(seconds=s_trunc))))
    assert _one(out)[A] == want


def test_date_functions_without_argument_use_step_time() -> None:
    """With no argument the step time is used and the result has no labels."""
    ctx = _ctx([1_136_239_445_000, 1_456_790_399_000])
    assert _one(_call("hour", [], ctx))[Labels()] == [22.0, 23.0]
    assert _one(_call("month", [], ctx))[Labels()] == [1.0, 2.0]
    assert _one(_call("days_in_month", [], ctx))[Labels()] == [31.0, 29.0]


# -- absent ----------------------------------------------------------------------------


def test_absent_labels() -> None:
    """Labels come from equality matchers named once; the name and regexes never count."""
    ms = [
        Matcher("__name__", MatchOp.EQ, "up"),
        Matcher("job", MatchOp.EQ, "api"),
        Matcher("a", MatchOp.RE, "x"),
        Matcher("b", MatchOp.EQ, "1"),
        Matcher("b", MatchOp.EQ, "2"),
        Matcher("c", MatchOp.NE, "1"),
    ]
    assert labels_for_absent(ms) == Labels.of(job="api")
    assert labels_for_absent(None) == Labels()
    b = _block({A: [1.0, None]})
    b.source_matchers = ms
    out = _call("absent", [b], _ctx([0, 1]))
    assert _one(out) == {Labels.of(job="api"): [None, 1.0]}
    empty = Block.empty(2)
    assert _one(_call("absent", [empty], _ctx([0, 1]))) == {Labels(): [1.0, 1.0]}


# -- sorting ---------------------------------------------------------------------------


def test_sort_orders_instant_results_nan_last() -> None:
    """sort/sort_desc order by value with NaN last; absent rows drop out."""
    b = _block({A: [3.0], B: [math.nan], C: [1.0], Labels.of("m", job="d"): [None]})
    ctx = _ctx([0])
    assert _call("sort", [b], ctx).labels == [C, A, B]
    assert _call("sort_desc", [b], ctx).labels == [A, C, B]
    assert not ctx.warnings


def test_sort_in_range_query_warns() -> None:
    """In a range query sort leaves rows alone and warns, as Prometheus does."""
    b = _block({A: [3.0, 1.0], C: [1.0, 2.0]})
    ctx = _ctx([0, 1000])
    ctx.call_position = "1:1"
    out = _call("sort", [b], ctx)
    assert out.labels == [A, C]
    assert ctx.warnings == [
        "PromQL warning: sort is ineffective for range queries since results are always "
        "ordered by labels (1:1)"
    ]


def test_natural_order() -> None:
    """Digit runs compare as numbers."""
    assert natural_less("a2", "a10")
    assert not natural_less("a10", "a2")
    assert natural_less("abc", "abd")
    assert natural_less("x1y", "x1z")
    assert natural_less("1", "1a")
    names = ["host10", "host9", "host1", "host100"]
    rows = {Labels.of("m", host=h): [1.0] for h in names}
    out = _call("sort_by_label", [_block(rows), StringBlock("host")], _ctx([0]))
    assert [lab.get("host") for lab in out.labels] == ["host1", "host9", "host10", "host100"]
    out = _call("sort_by_label_desc", [_block(rows), StringBlock("host")], _ctx([0]))
    assert [lab.get("host") for lab in out.labels] == ["host100", "host10", "host9", "host1"]


def test_sort_by_label_ties_fall_back_to_all_labels() -> None:
    """Equal sort labels order by the full label set."""
    rows = {
        Labels.of("m", g="1", i="b"): [1.0],
        Labels.of("m", g="1", i="a"): [2.0],
        Labels.of("m", g="0", i="z"): [3.0],
    }
    out = _call("sort_by_label", [_block(rows), StringBlock("g")], _ctx([0]))
    assert [lab.get("i") for lab in out.labels] == ["z", "a", "b"]


# -- labels ----------------------------------------------------------------------------


def test_label_replace() -> None:
    """Replacement happens only on a full match; $1 and ${name} expand; "" deletes."""
    b = _block({Labels.of("m", src="source-value-10"): [1.0], Labels.of("m", src="x"): [2.0]})
    ctx = _ctx([0])
    args = [StringBlock("dst"), StringBlock("dest-$1"), StringBlock("src")]
    out = _call("label_replace", [b, *args, StringBlock("source-value-(.*)")], ctx)
    assert out.labels == [
        Labels.of("m", src="source-value-10", dst="dest-10"),
        Labels.of("m", src="x"),
    ]
    out = _call(
        "label_replace",
        [b, StringBlock("src"), StringBlock(""), StringBlock("src"), StringBlock("x")],
        ctx,
    )
    assert Labels.of("m") in out.labels


def test_label_replace_errors_and_name() -> None:
    """Bad regexes and label names are errors; writing __name__ keeps the name."""
    b = _block({A: [1.0]})
    b.drop_name = np.array([True])
    ctx = _ctx([0])
    with pytest.raises(QueryError, match=r"invalid regular expression in label_replace\(\): a\("):
        _call(
            "label_replace",
            [b, StringBlock("d"), StringBlock(""), StringBlock("s"), StringBlock("a(")],
            ctx,
        )
    with pytest.raises(QueryError, match="invalid destination label name"):
        _call(
            "label_replace",
            [b, StringBlock(""), StringBlock(""), StringBlock("s"), StringBlock(".*")],
            ctx,
        )
    out = _call(
        "label_replace",
        [b, StringBlock("__name__"), StringBlock("new"), StringBlock("job"), StringBlock("a")],
        ctx,
    )
    assert out.labels == [Labels.of("new", job="a")]
    assert out.drop_name is not None and not out.drop_name.any()
    out = _call(
        "label_replace",
        [b, StringBlock("x"), StringBlock("y"), StringBlock("job"), StringBlock("a")],
        ctx,
    )
    assert out.drop_name is not None and out.drop_name.all()


def test_expand_template_follows_go() -> None:
    """Go's template rules: longest names, braces, $$ and unknown groups."""
    m = __import__("re").fullmatch(r"(?P<word>[a-z]+)-(\d+)", "abc-42")
    assert m is not None
    assert expand_template("$1", m) == "abc"
    assert expand_template("${2}x", m) == "42x"
    assert expand_template("$2x", m) == ""  # group "2x" does not exist
    assert expand_template("$word/$$", m) == "abc/$"
    assert expand_template("${word", m) == "${word"
    assert expand_template("$9", m) == ""
    assert expand_template("a$", m) == "a$"


def test_label_join() -> None:
    """label_join concatenates source values (missing ones are empty)."""
    b = _block({Labels.of("m", a="x", b="y"): [1.0]})
    args = [StringBlock("dst"), StringBlock("-"), StringBlock("a"), StringBlock("b")]
    out = _call("label_join", [b, *args, StringBlock("c")], _ctx([0]))
    assert out.labels == [Labels.of("m", a="x", b="y", dst="x-y-")]
    with pytest.raises(QueryError, match=r"invalid source label name in label_join\(\): "):
        _call("label_join", [b, StringBlock("d"), StringBlock(","), StringBlock("")], _ctx([0]))


# -- formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "want"),
    [
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (0.0001, "0.0001"),
        (1e-05, "1e-05"),
        (-2.5e-07, "-2.5e-07"),
        (0.1, "0.1"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (1.5, "1.5"),
    ],
)
def test_format_go_float(x: float, want: str) -> None:
    """Floats in annotations are formatted as Go's %g."""
    assert format_go_float(x) == want


@pytest.mark.parametrize(
    ("regex", "value", "want"),
    [("(?<d>[0-9]+)-x", "42-x", "42"), (r"\101(.)", "AB", "B"), ("[]a](.)", "]z", "z")],
)
def test_label_replace_speaks_re2(regex: str, value: str, want: str) -> None:
    """Go-only syntax works: `(?<name>…)` groups, octal escapes, `]` first in a class."""
    b = _block({Labels.of("m", src=value): [1.0]})
    args = [StringBlock("dst"), StringBlock("$1"), StringBlock("src"), StringBlock(regex)]
    out = _call("label_replace", [b, *args], _ctx([0]))
    assert out.labels[0].get("dst") == want


@pytest.mark.parametrize("regex", [r"(a)\1", "(?=a)", "(?<!a)b", "(?>a)", r"a\8", "a("])
def test_label_replace_rejects_what_re2_rejects(regex: str) -> None:
    """Backreferences and lookaround are errors, as in Prometheus."""
    b = _block({A: [1.0]})
    args = [StringBlock("dst"), StringBlock("$1"), StringBlock("job"), StringBlock(regex)]
    with pytest.raises(QueryError, match="invalid regular expression in label_replace"):
        _call("label_replace", [b, *args], _ctx([0]))
