"""Range-vector functions: hand-computed cases and a per-step reference on random data.

The reference implementations below evaluate one window at a time in plain
Python, following Prometheus's `promql/functions.go` statement by statement. The
vectorised library must agree with them on random series and query shapes
bit for bit: the library repeats Prometheus's arithmetic in the same order.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.query.block import Block, EvalContext, RangeBlock, RangeSeriesData, ScalarBlock
from nightowl.query.functions import FUNCTIONS

from nightowl.errors import QueryError
from nightowl.model import Labels, Matcher, MatchOp

F = np.float64


def _rb(
    series: list[tuple[Labels, list[int], list[float]]],
    steps: list[int],
    range_ms: int,
    offset_ms: int = 0,
) -> RangeBlock:
    st_ = np.asarray(steps, dtype=np.int64)
    end = st_ - offset_ms
    return RangeBlock(
        [
            RangeSeriesData(lab, np.asarray(t, np.int64), np.asarray(v, np.float64))
            for lab, t, v in series
        ],
        end - range_ms,
        end,
        range_ms,
        st_,
    )


def _ctx(steps: list[int]) -> EvalContext:
    st_ = np.asarray(steps, dtype=np.int64)
    step = int(st_[1] - st_[0]) if len(st_) > 1 else 0
    return EvalContext(st_, int(st_[0]), int(st_[-1]), step)


def _call(name: str, args: list, steps: list[int]) -> tuple[Block, EvalContext]:
    ctx = _ctx(steps)
    out = FUNCTIONS[name].impl(args, ctx)
    assert isinstance(out, Block)
    return out, ctx


# -- hand-computed cases --------------------------------------------------------

LAB = Labels.of("http_requests_total", job="api")
LAB2 = Labels.of("other_total", job="web")


def test_rate_extrapolates_to_window_edges() -> None:
    """rate over a regular counter equals the slope; increase scales to the range."""
    # samples every 15 s: 0, 15, 30, ... 300 s; values 10 per sample
    t = list(range(0, 300_001, 15_000))
    v = [10.0 * i for i in range(len(t))]
    rb = _rb([(LAB, t, v)], [300_000], 300_000)
    out, _ = _call("rate", [rb], [300_000])
    # window (0, 300000]: samples at 15s..300s, 20 samples, increase 190 over 285 s,
    # extrapolated by 15 s to the left (gap equals the average interval < 1.1x).
    # zero point: first value 10 at 15 s, slope 190/285 -> reaches 0 at 0 s exactly.
    assert out.labels == [LAB]
    assert out.values[0, 0] == pytest.approx(200 / 300, rel=1e-12)
    inc, _ = _call("increase", [rb], [300_000])
    assert inc.values[0, 0] == pytest.approx(200.0, rel=1e-12)


def test_rate_counter_reset_and_zero_clamp() -> None:
    """A reset adds the pre-reset value; extrapolation stops at the counter's zero point."""
    t = [10_000, 20_000, 30_000, 40_000]
    v = [5.0, 8.0, 2.0, 4.0]  # reset after 8: increase = 3 + 8 - ... = (4-5)+8 = 7
    rb = _rb([(LAB, t, v)], [60_000], 60_000)
    out, _ = _call("increase", [rb], [60_000])
    # sampled 30 s, avg gap 10 s, threshold 11 s.
    # to_start = 10 s (< 11) but zero point: 30 * 5/7 = 21.4 s -> stays 10 s.
    # to_end = 20 s >= 11 s -> 5 s.  factor = (30+10+5)/30 = 1.5 -> 10.5
    assert out.values[0, 0] == pytest.approx(10.5, rel=1e-12)
    delta, _ = _call("delta", [rb], [60_000])
    assert delta.values[0, 0] == pytest.approx(-1.0 * 45 / 30, rel=1e-12)


def test_rate_zero_point_limits_left_extrapolation() -> None:
    """A counter starting high is not extrapolated below zero."""
    t = [25_000, 35_000, 45_000, 55_000]
    v = [1.0, 11.0, 21.0, 31.0]
    rb = _rb([(LAB, t, v)], [60_000], 60_000)
    out, _ = _call("increase", [rb], [60_000])
    # to_start 25 s >= 11 -> 5 s; zero point 30 * 1/30 = 1 s < 5 -> 1 s; to_end 5 s
    assert out.values[0, 0] == pytest.approx(30 * (30 + 1 + 5) / 30, rel=1e-12)


def test_rate_needs_two_samples_and_warns_about_non_counters() -> None:
    """One sample gives nothing; a name without a counter suffix gets an info."""
    gauge = Labels.of("temperature", room="a")
    rb = _rb([(gauge, [10_000, 20_000], [1.0, 2.0]), (LAB, [10_000], [1.0])], [30_000], 30_000)
    out, ctx = _call("rate", [rb], [30_000])
    assert out.labels == [gauge]
    assert len(ctx.infos) == 1
    assert ctx.infos[0].startswith("PromQL info: metric might not be a counter")
    assert '"temperature"' in ctx.infos[0]
    ctx2 = _ctx([30_000])
    ctx2.arg_positions = ["1:6"]
    FUNCTIONS["rate"].impl([rb], ctx2)
    assert ctx2.infos[0].endswith("(1:6)")


def test_irate_idelta_use_last_two_samples() -> None:
    """irate divides the last difference by its interval; a reset counts the new value."""
    rb = _rb([(LAB, [0, 10_000, 20_000, 25_000], [1.0, 4.0, 9.0, 3.0])], [30_000], 30_000)
    out, _ = _call("irate", [rb], [30_000])
    assert out.values[0, 0] == pytest.approx(3.0 / 5.0)
    out, _ = _call("idelta", [rb], [30_000])
    assert out.values[0, 0] == -6.0


def test_deriv_and_predict_linear() -> None:
    """A straight line has its slope; predict_linear extrapolates from the step time."""
    t = [0, 60_000, 120_000, 180_000]
    v = [1.0, 2.0, 3.0, 4.0]
    rb = _rb([(LAB, t, v)], [180_000], 300_000)
    out, _ = _call("deriv", [rb], [180_000])
    assert out.values[0, 0] == pytest.approx(1 / 60)
    dur = ScalarBlock(np.array([600.0]))
    out, _ = _call("predict_linear", [rb, dur], [180_000])
    assert out.values[0, 0] == pytest.approx(4.0 + 10.0)


def test_over_time_family_hand_values() -> None:
    """sum/avg/min/max/count/last/first/stddev/quantile over one known window."""
    t = [10_000, 20_000, 30_000, 40_000]
    v = [4.0, 1.0, 3.0, 2.0]
    rb = _rb([(LAB, t, v)], [40_000], 40_000)
    expect = {
        "sum_over_time": 10.0,
        "avg_over_time": 2.5,
        "min_over_time": 1.0,
        "max_over_time": 4.0,
        "count_over_time": 4.0,
        "last_over_time": 2.0,
        "first_over_time": 4.0,
        "present_over_time": 1.0,
        "stdvar_over_time": 1.25,
        "stddev_over_time": math.sqrt(1.25),
        "mad_over_time": 1.0,
        "ts_of_max_over_time": 10.0,
        "ts_of_min_over_time": 20.0,
        "ts_of_first_over_time": 10.0,
        "ts_of_last_over_time": 40.0,
        "changes": 3.0,
        "resets": 2.0,
    }
    for name, want in expect.items():
        out, _ = _call(name, [rb], [40_000])
        assert out.values[0, 0] == pytest.approx(want), name
    q = ScalarBlock(np.array([0.5]))
    out, _ = _call("quantile_over_time", [q, rb], [40_000])
    assert out.values[0, 0] == 2.5


def test_name_kept_only_by_first_and_last_over_time() -> None:
    """FunctionDef.keeps_name marks what keeps `__name__`; outputs carry labels as-is."""
    keeps = {n for n, d in FUNCTIONS.items() if d.keeps_name}
    assert {"last_over_time", "first_over_time", "label_replace", "sort"} <= keeps
    assert "rate" not in keeps and "sum_over_time" not in keeps
    rb = _rb([(LAB, [1000], [1.0])], [1000], 5000)
    out, _ = _call("last_over_time", [rb], [1000])
    assert out.labels == [LAB]
    assert out.drop_name is not None and not out.drop_name.any()


def test_sum_over_time_is_compensated() -> None:
    """Kahan summation keeps the small terms next to huge cancelling ones."""
    rb = _rb([(LAB, [1, 2, 3, 4], [1.0, 1e100, 1.0, -1e100])], [10], 100)
    out, _ = _call("sum_over_time", [rb], [10])
    assert out.values[0, 0] == 2.0
    out, _ = _call("avg_over_time", [rb], [10])
    assert out.values[0, 0] == 0.5


def test_avg_over_time_survives_overflow() -> None:
    """A sum that overflows switches to the incremental mean."""
    big = 9.988465674311579e307
    rb = _rb([(LAB, [1, 2], [big, big])], [10], 100)
    out, _ = _call("avg_over_time", [rb], [10])
    assert out.values[0, 0] == big


def test_max_over_time_ignores_nan_unless_all_nan() -> None:
    """NaN loses against any number; an all-NaN window gives NaN."""
    rb = _rb([(LAB, [1, 2, 3], [np.nan, 2.0, np.nan]), (LAB2, [1, 2], [np.nan, np.nan])], [10], 100)
    out, _ = _call("max_over_time", [rb], [10])
    vals = dict(zip(out.labels, out.values[:, 0], strict=True))
    assert vals[LAB] == 2.0
    assert math.isnan(vals[LAB2])


def test_absent_over_time_labels_from_matchers() -> None:
    """absent_over_time takes equality matchers' labels and is 1 only where nothing is."""
    rb = _rb([(LAB, [50_000], [1.0])], [30_000, 60_000, 200_000], 60_000)
    rb.source_matchers = [
        Matcher("__name__", MatchOp.EQ, "http_requests_total"),
        Matcher("job", MatchOp.EQ, "api"),
        Matcher("instance", MatchOp.RE, "a.*"),
        Matcher("env", MatchOp.EQ, "x"),
        Matcher("env", MatchOp.EQ, "y"),
    ]
    out, _ = _call("absent_over_time", [rb], [30_000, 60_000, 200_000])
    assert out.labels == [Labels.of(job="api")]
    assert out.present.tolist() == [[True, False, True]]


def test_double_exponential_smoothing_validates_factors() -> None:
    """Factors outside (0, 1) are an error naming the factor."""
    rb = _rb([(LAB, [1, 2, 3], [1.0, 2.0, 3.0])], [10], 100)
    with pytest.raises(QueryError, match="invalid smoothing factor"):
        FUNCTIONS["double_exponential_smoothing"].impl(
            [rb, ScalarBlock(np.array([1.0])), ScalarBlock(np.array([0.5]))], _ctx([10])
        )
    with pytest.raises(QueryError, match="invalid trend factor"):
        FUNCTIONS["double_exponential_smoothing"].impl(
            [rb, ScalarBlock(np.array([0.5])), ScalarBlock(np.array([0.0]))], _ctx([10])
        )
    out, _ = _call(
        "double_exponential_smoothing",
        [rb, ScalarBlock(np.array([0.5])), ScalarBlock(np.array([0.5]))],
        [10],
    )
    assert out.values[0, 0] == pytest.approx(3.0)


def test_quantile_over_time_edges_warn() -> None:
    """φ outside [0, 1] gives ±Inf and one warning per distinct φ."""
    rb = _rb([(LAB, [1, 2], [1.0, 2.0])], [10, 20], 100)
    q = ScalarBlock(np.array([-1.0, 2.0]))
    out, ctx = _call("quantile_over_time", [q, rb], [10, 20])
    assert out.values[0].tolist() == [-np.inf, np.inf]
    assert len(ctx.warnings) == 2
    assert "got -1" in ctx.warnings[0]


# -- reference implementations (one window at a time, plain Python) ---------------------


def _kahan(inc: float, s: float, c: float) -> tuple[float, float]:
    t = F(s) + F(inc)
    if math.isinf(t):
        return t, F(0.0)
    if abs(s) >= abs(inc):
        return t, F(c) + ((F(s) - t) + F(inc))
    return t, F(c) + ((F(inc) - t) + F(s))


def ref_sum(t: list[int], v: list[float], **_: object) -> float:
    s, c = F(0.0), F(0.0)
    for x in v:
        s, c = _kahan(x, s, c)
    return s if math.isinf(s) else s + c


def ref_avg(t: list[int], v: list[float], **_: object) -> float:
    s, count, mean, c, incr = F(v[0]), F(1.0), F(0.0), F(0.0), False
    for i, x in enumerate(v[1:]):
        count = F(i + 2)
        if not incr:
            ns, nc = _kahan(x, s, c)
            if not math.isinf(ns):
                s, c = ns, nc
                continue
            incr = True
            mean = s / (count - 1)
            c = c / (count - 1)
        q = (count - 1) / count
        mean, c = _kahan(F(x) / count, q * mean, q * c)
    return mean + c if incr else s / count + c / count


def ref_var(t: list[int], v: list[float], **_: object) -> float:
    count, mean, cm, aux, ca = F(0), F(0), F(0), F(0), F(0)
    for x in v:
        count += 1
        delta = F(x) - (mean + cm)
        mean, cm = _kahan(delta / count, mean, cm)
        aux, ca = _kahan(delta * (F(x) - (mean + cm)), aux, ca)
    return (aux + ca) / count


def _ref_compare(v: list[float], t: list[int], better, want_ts: bool) -> float:
    m, tm = v[0], t[0]
    for x, ts in zip(v, t, strict=True):
        if better(x, m) or math.isnan(m):
            m, tm = x, ts
    return tm / 1000 if want_ts else m


def ref_max(t: list[int], v: list[float], **_: object) -> float:
    return _ref_compare(v, t, lambda a, b: a > b, False)


def ref_min(t: list[int], v: list[float], **_: object) -> float:
    return _ref_compare(v, t, lambda a, b: a < b, False)


def ref_ts_max(t: list[int], v: list[float], **_: object) -> float:
    return _ref_compare(v, t, lambda a, b: a >= b, True)


def ref_ts_min(t: list[int], v: list[float], **_: object) -> float:
    return _ref_compare(v, t, lambda a, b: a <= b, True)


def _ref_quantile(q: float, values: list[float]) -> float:
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    vals = sorted(values, key=lambda x: (not math.isnan(x), 0.0 if math.isnan(x) else x))
    n = len(vals)
    rank = F(q) * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1.0, lower + 1)
    w = rank - math.floor(rank)
    return F(vals[int(lower)]) * (1 - w) + F(vals[int(upper)]) * w


def ref_mad(t: list[int], v: list[float], **_: object) -> float:
    if any(math.isnan(x) for x in v):
        return math.nan
    med = _ref_quantile(0.5, v)
    return _ref_quantile(0.5, [abs(x - med) for x in v])


def ref_changes(t: list[int], v: list[float], **_: object) -> float:
    n = 0
    for a, b in itertools.pairwise(v):
        if b != a and not (math.isnan(a) and math.isnan(b)):
            n += 1
    return float(n)


def ref_resets(t: list[int], v: list[float], **_: object) -> float:
    return float(sum(1 for a, b in itertools.pairwise(v) if b < a))


def _ref_extrapolated(
    t: list[int], v: list[float], start: int, end: int, range_ms: int, counter: bool, rate: bool
) -> float | None:
    if len(v) < 2:
        return None
    result = F(v[-1]) - F(v[0])
    if counter:
        for a, b in itertools.pairwise(v):
            if b < a:
                result += a
    to_start = F(t[0] - start) / 1000
    to_end = F(end - t[-1]) / 1000
    sampled = F(t[-1] - t[0]) / 1000
    avg = sampled / (len(v) - 1)
    if to_start >= avg * 1.1:
        to_start = avg / 2
    if counter:
        to_zero = to_start
        if result > 0 and v[0] >= 0:
            to_zero = sampled * (F(v[0]) / result)
        if to_zero < to_start:
            to_start = to_zero
    if to_end >= avg * 1.1:
        to_end = avg / 2
    factor = (sampled + to_start + to_end) / sampled if sampled != 0 else F(1.0)
    if rate:
        factor /= range_ms / 1000
    return result * factor


def ref_rate(t, v, start, end, range_ms, **_):
    return _ref_extrapolated(t, v, start, end, range_ms, True, True)


def ref_increase(t, v, start, end, range_ms, **_):
    return _ref_extrapolated(t, v, start, end, range_ms, True, False)


def ref_delta(t, v, start, end, range_ms, **_):
    return _ref_extrapolated(t, v, start, end, range_ms, False, False)


def ref_irate(t: list[int], v: list[float], **_: object) -> float | None:
    if len(v) < 2:
        return None
    a, b = F(v[-2]), F(v[-1])
    res = b if b < a else b - a
    return res / (F(t[-1] - t[-2]) / 1000)


def ref_idelta(t: list[int], v: list[float], **_: object) -> float | None:
    if len(v) < 2:
        return None
    return F(v[-1]) - F(v[-2])


def _ref_regression(t: list[int], v: list[float], icept: int) -> tuple[float, float]:
    n = sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = F(0)
    const = True
    for i, (ts, y) in enumerate(zip(t, v, strict=True)):
        if const and i > 0 and y != v[0]:
            const = False
        n += 1
        x = F(ts - icept) / 1e3
        sx, cx = _kahan(x, sx, cx)
        sy, cy = _kahan(y, sy, cy)
        sxy, cxy = _kahan(x * F(y), sxy, cxy)
        sx2, cx2 = _kahan(x * x, sx2, cx2)
    if const:
        if math.isinf(v[0]):
            return math.nan, math.nan
        return 0.0, v[0]
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = cov / var
    return slope, sy / n - slope * sx / n


def ref_deriv(t: list[int], v: list[float], **_: object) -> float | None:
    if len(v) < 2:
        return None
    return _ref_regression(t, v, t[0])[0]


def ref_predict(t, v, step, **_):
    if len(v) < 2:
        return None
    slope, icept = _ref_regression(t, v, step)
    return slope * F(123.0) + icept


def ref_des(t: list[int], v: list[float], **_: object) -> float | None:
    if len(v) < 2:
        return None
    sf, tf = F(0.3), F(0.6)
    s0, s1, b = F(0), F(v[0]), F(v[1]) - F(v[0])
    for i in range(1, len(v)):
        x = sf * F(v[i])
        if i - 1 != 0:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


def ref_quantile(t: list[int], v: list[float], **_: object) -> float:
    return _ref_quantile(0.3, v)


REFERENCES = {
    "sum_over_time": (ref_sum, 1),
    "avg_over_time": (ref_avg, 1),
    "stdvar_over_time": (ref_var, 1),
    "max_over_time": (ref_max, 1),
    "min_over_time": (ref_min, 1),
    "ts_of_max_over_time": (ref_ts_max, 1),
    "ts_of_min_over_time": (ref_ts_min, 1),
    "mad_over_time": (ref_mad, 1),
    "changes": (ref_changes, 1),
    "resets": (ref_resets, 1),
    "count_over_time": (lambda t, v, **_: float(len(v)), 1),
    "last_over_time": (lambda t, v, **_: v[-1], 1),
    "first_over_time": (lambda t, v, **_: v[0], 1),
    "ts_of_last_over_time": (lambda t, v, **_: t[-1] / 1000, 1),
    "ts_of_first_over_time": (lambda t, v, **_: t[0] / 1000, 1),
    "present_over_time": (lambda t, v, **_: 1.0, 1),
    "stddev_over_time": (lambda t, v, **_: np.sqrt(ref_var(t, v)), 1),
    "irate": (ref_irate, 2),
    "idelta": (ref_idelta, 2),
    "deriv": (ref_deriv, 2),
    "rate": (ref_rate, 2),
    "increase": (ref_increase, 2),
    "delta": (ref_delta, 2),
    "predict_linear": (ref_predict, 2),
    "double_exponential_smoothing": (ref_des, 2),
    "quantile_over_time": (ref_quantile, 1),
}

_values = st.one_of(
    st.integers(-5, 50).map(float),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0]),
)


@st.composite
def _series(draw: st.DrawFn) -> list[tuple[Labels, list[int], list[float]]]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        times = sorted(draw(st.sets(st.integers(0, 120).map(lambda x: x * 1000 + 7), max_size=25)))
        vals = draw(st.lists(_values, min_size=len(times), max_size=len(times)))
        out.append((Labels.of("m_total", i=str(i)), times, vals))
    return out


@st.composite
def _shape(draw: st.DrawFn) -> tuple[list[int], int, int]:
    start = draw(st.integers(0, 60)) * 1000
    step = draw(st.integers(1, 30)) * 1000
    n = draw(st.integers(1, 12))
    range_ms = draw(st.integers(1, 90)) * 1000 + draw(st.sampled_from([0, 0, 500]))
    offset = draw(st.sampled_from([0, 0, 5000]))
    return [start + k * step for k in range(n)], range_ms, offset


def _args(name: str, rb: RangeBlock, n: int) -> list:
    if name == "quantile_over_time":
        return [ScalarBlock(np.full(n, 0.3)), rb]
    if name == "predict_linear":
        return [rb, ScalarBlock(np.full(n, 123.0))]
    if name == "double_exponential_smoothing":
        return [rb, ScalarBlock(np.full(n, 0.3)), ScalarBlock(np.full(n, 0.6))]
    return [rb]


@pytest.mark.parametrize("name", sorted(REFERENCES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=_series(), shape=_shape())
def test_range_function_matches_reference(
    name: str,
    series: list[tuple[Labels, list[int], list[float]]],
    shape: tuple[list[int], int, int],
) -> None:
    """The vectorised function equals a window-by-window evaluation."""
    steps, range_ms, offset = shape
    ref, min_count = REFERENCES[name]
    rb = _rb(series, steps, range_ms, offset)
    with np.errstate(all="ignore"):
        out, _ = _call(name, _args(name, rb, len(steps)), steps)
        got = {
            lab: (vals, pres)
            for lab, vals, pres in zip(out.labels, out.values, out.present, strict=True)
        }
        for lab, t, v in series:
            want_vals, want_pres = [], []
            for step in steps:
                end = step - offset
                start = end - range_ms
                wt = [x for x in t if start < x <= end]
                wv = [y for x, y in zip(t, v, strict=True) if start < x <= end]
                w = (
                    ref(wt, wv, start=start, end=end, range_ms=range_ms, step=step)
                    if len(wt) >= min_count
                    else None
                )
                want_pres.append(w is not None)
                want_vals.append(math.nan if w is None else float(w))
            if not any(want_pres):
                assert lab not in got, (name, lab)
                continue
            vals, pres = got[lab]
            assert pres.tolist() == want_pres, (name, lab, steps)
            gv = vals[pres]
            wv_ = np.asarray(want_vals)[np.asarray(want_pres)]
            np.testing.assert_array_equal(gv, wv_, err_msg=name)


@pytest.mark.parametrize("name", ["rate", "irate", "sum_over_time", "predict_linear", "deriv"])
def test_chunked_evaluation_is_seamless(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluating a few series at a time gives the same result as all at once."""
    from nightowl.query import _windows

    rng = np.random.default_rng(7)
    series = []
    for i in range(4):
        t = np.cumsum(rng.integers(1, 20, 60)) * 1000
        v = np.cumsum(rng.integers(-2, 10, 60)).astype(float)
        series.append((Labels.of("x_total", i=str(i)), t.tolist(), v.tolist()))
    steps = list(range(0, 1_000_000, 37_000))
    rb = _rb(series, steps, 90_000)
    whole, _ = _call(name, _args(name, rb, len(steps)), steps)
    monkeypatch.setattr(_windows, "GROUP_WINDOWS", 40)
    parts, _ = _call(name, _args(name, rb, len(steps)), steps)
    assert whole.labels == parts.labels
    np.testing.assert_array_equal(whole.present, parts.present)
    np.testing.assert_array_equal(whole.values[whole.present], parts.values[parts.present])


def test_integer_windows_sum_exactly_and_others_compensate() -> None:
    """Small-integer windows take the one-pass sum; the others the compensated walk."""
    big = float(2**52)
    rb = _rb(
        [
            (LAB, [1, 2, 3], [3.0, 4.0, -0.0]),  # exact integers
            (LAB2, [1, 2, 3], [big, 1.0, -big]),  # too large for the fast path
            (Labels.of("z"), [1, 2, 3], [0.1, 0.2, 0.3]),  # fractions
            (Labels.of("n"), [1], [-0.0]),
        ],
        [10],
        100,
    )
    out, _ = _call("sum_over_time", [rb], [10])
    got = dict(zip(out.labels, out.values[:, 0].tolist(), strict=True))
    assert got[LAB] == 7.0
    assert got[LAB2] == ref_sum([], [big, 1.0, -big]) == 1.0
    assert got[Labels.of("z")] == ref_sum([], [0.1, 0.2, 0.3])
    assert math.copysign(1.0, got[Labels.of("n")]) == 1.0  # -0.0 + compensation is +0.0
    out, _ = _call("avg_over_time", [rb], [10])
    got = dict(zip(out.labels, out.values[:, 0].tolist(), strict=True))
    assert got[LAB] == 7.0 / 3
    assert got[Labels.of("z")] == ref_avg([], [0.1, 0.2, 0.3])
    assert math.copysign(1.0, got[Labels.of("n")]) == 1.0
