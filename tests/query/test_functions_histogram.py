"""Classic histograms: histogram_quantile, histogram_quantiles, histogram_fraction."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query._histogram import bucket_fraction, bucket_quantile, parse_bound
from nightowl.query.block import Block, EvalContext, ScalarBlock, StringBlock
from nightowl.query.functions import FUNCTIONS

from nightowl.model import Labels


def _ctx(n: int) -> EvalContext:
    steps = np.arange(n, dtype=np.int64) * 60_000
    return EvalContext(steps, int(steps[0]), int(steps[-1]), 60_000 if n > 1 else 0)


def _hist(name: str, buckets: dict[str, list[float | None]], **labels: str) -> Block:
    labs = [Labels.of(name, le=le, **labels) for le in buckets]
    vals = np.array([[np.nan if x is None else x for x in r] for r in buckets.values()])
    pres = np.array([[x is not None for x in r] for r in buckets.values()])
    return Block(labs, vals, pres)


def _cat(*blocks: Block) -> Block:
    return Block(
        [lab for b in blocks for lab in b.labels],
        np.vstack([b.values for b in blocks]),
        np.vstack([b.present for b in blocks]),
    )


# buckets whose q(1/6), q(1/2), q(5/6) fall mid-bucket: 1, 3 and 5
H2 = {"0": [0.0], "2": [1.0], "4": [2.0], "6": [3.0], "+Inf": [3.0]}


@pytest.mark.parametrize(("q", "want"), [(1 / 6, 1.0), (0.5, 3.0), (5 / 6, 5.0)])
def test_quantile_interpolates_inside_bucket(q: float, want: float) -> None:
    """Linear interpolation inside the bucket the rank falls into."""
    out = FUNCTIONS["histogram_quantile"].impl(
        [ScalarBlock(np.array([q])), _hist("h_bucket", H2)], _ctx(1)
    )
    assert out.labels == [Labels.of("h_bucket")]
    assert out.values[0, 0] == pytest.approx(want)


def test_quantile_edge_rules() -> None:
    """φ outside [0, 1], missing +Inf, empty histograms, first and last buckets."""
    b = np.array([0.1, 0.2, np.inf])
    c = np.array([[1.0], [3.0], [4.0]])
    for q, want in [(-0.5, -np.inf), (1.5, np.inf)]:
        assert bucket_quantile(np.array([q]), b, c)[0][0] == want
    assert math.isnan(bucket_quantile(np.array([np.nan]), b, c)[0][0])
    # no +Inf bucket
    assert math.isnan(bucket_quantile(np.array([0.5]), b[:2], c[:2])[0][0])
    # no observations
    assert math.isnan(bucket_quantile(np.array([0.5]), b, np.zeros((3, 1)))[0][0])
    # only the +Inf bucket
    assert math.isnan(bucket_quantile(np.array([0.5]), b[2:], c[2:])[0][0])
    # the rank falls into +Inf: the second-highest bound
    assert bucket_quantile(np.array([0.99]), b, c)[0][0] == 0.2
    # first bucket's bound <= 0 is returned as is
    neg = np.array([-1.0, 1.0, np.inf])
    assert bucket_quantile(np.array([0.1]), neg, np.array([[5.0], [6.0], [7.0]]))[0][0] == -1.0
    # positive first bucket interpolates from 0
    assert bucket_quantile(np.array([0.1]), b, c)[0][0] == pytest.approx(0.04)


def test_equal_bounds_merge_and_order_is_irrelevant() -> None:
    """`le="0.2"` and `le="2e-1"` are one bucket; rows may come in any order."""
    b = np.array([np.inf, 0.2, 0.1, 0.2])
    c = np.array([[4.0], [1.0], [1.0], [1.0]])
    res, _ = bucket_quantile(np.array([0.5]), b, c)
    # merged: 0.1 -> 1, 0.2 -> 2, +Inf -> 4; rank 2 falls in (0.1, 0.2] at its top
    assert res[0] == pytest.approx(0.2)


def test_monotonicity_is_forced_and_reported() -> None:
    """Decreasing counts are raised and an info names the buckets and samples."""
    h = _hist(
        "nonmonotonic_bucket",
        {
            "0.1": [2.0, 2.0],
            "1": [1.0, 1.0],
            "10": [5.0, 5.0],
            "100": [4.0, 4.0],
            "1000": [9.0, 9.0],
            "+Inf": [8.0, 8.0],
        },
    )
    ctx = _ctx(2)
    ctx.arg_positions = ["1:20", "1:26"]
    out = FUNCTIONS["histogram_quantile"].impl([ScalarBlock(np.array([0.5, 0.5])), h], ctx)
    assert out.values[0].tolist() == pytest.approx([1 + 9 * 2.5 / 3] * 2)
    assert ctx.infos == [
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
        "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
        '#histogram_quantile) for metric name "nonmonotonic_bucket", from buckets 1 to '
        "+Inf, with a max diff of 1, over 2 samples from 1970-01-01T00:00:00Z to "
        "1970-01-01T00:01:00Z (1:26)"
    ]


def test_tiny_differences_are_float_noise() -> None:
    """Relative differences below 1e-12 are ignored silently."""
    b = np.array([1.0, 2.0, np.inf])
    c = np.array([[100.0], [100.0 - 1e-11], [200.0]])
    res, mono = bucket_quantile(np.array([0.5]), b, c)
    assert not mono.forced.any()
    assert res[0] == 1.0  # rank 100 is reached by the first bucket (noise ignored)


def test_groups_and_bad_le() -> None:
    """Buckets group by their other labels; a malformed `le` is skipped with a warning."""
    a = _hist("h_bucket", H2, job="a")
    b = _hist("h_bucket", {"1": [1.0], "+Inf": [2.0], "x": [5.0]}, job="b")
    ctx = _ctx(1)
    out = FUNCTIONS["histogram_quantile"].impl([ScalarBlock(np.array([0.5])), _cat(a, b)], ctx)
    vals = dict(zip(out.labels, out.values[:, 0], strict=True))
    assert vals[Labels.of("h_bucket", job="a")] == pytest.approx(3.0)
    assert vals[Labels.of("h_bucket", job="b")] == pytest.approx(1.0)
    assert ctx.warnings == [
        'PromQL warning: bucket label "le" is missing or has a malformed value of "x" '
        'for metric name "h_bucket"'
    ]


def test_buckets_missing_at_some_steps() -> None:
    """Each step uses the buckets present at that step."""
    h = _hist("h_bucket", {"1": [1.0, None, None], "2": [2.0, 2.0, None], "+Inf": [2.0, 2.0, None]})
    out = FUNCTIONS["histogram_quantile"].impl([ScalarBlock(np.full(3, 0.5)), h], _ctx(3))
    assert out.present.tolist() == [[True, True, False]]
    assert out.values[0, :2].tolist() == pytest.approx([1.0, 1.0])


def test_invalid_quantile_warns_once_per_value() -> None:
    """φ outside [0, 1] warns at the position of φ."""
    ctx = _ctx(2)
    ctx.arg_positions = ["1:20", "1:25"]
    FUNCTIONS["histogram_quantile"].impl(
        [ScalarBlock(np.array([1.5, 1.5])), _hist("h_bucket", {"+Inf": [1.0, 1.0]})], ctx
    )
    assert ctx.warnings == [
        "PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:20)"
    ]


def test_histogram_quantiles_adds_a_label_per_quantile() -> None:
    """histogram_quantiles emits one series per φ, labelled as OpenMetrics floats."""
    out = FUNCTIONS["histogram_quantiles"].impl(
        [
            _hist("h_bucket", H2),
            StringBlock("q"),
            ScalarBlock(np.array([0.5])),
            ScalarBlock(np.array([1.0])),
        ],
        _ctx(1),
    )
    vals = dict(zip(out.labels, out.values[:, 0], strict=True))
    assert vals[Labels.of("h_bucket", q="0.5")] == pytest.approx(3.0)
    assert vals[Labels.of("h_bucket", q="1.0")] == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("lower", "upper", "want"),
    [(0, 4, 2 / 3), (0, 6, 1.0), (0, 3.5, 0.5833333333333334), (2, 2, 0.0), (3, 2, 0.0)],
)
def test_fraction(lower: float, upper: float, want: float) -> None:
    """histogram_fraction interpolates linearly inside buckets."""
    out = FUNCTIONS["histogram_fraction"].impl(
        [ScalarBlock(np.array([lower])), ScalarBlock(np.array([upper])), _hist("h_bucket", H2)],
        _ctx(1),
    )
    assert out.values[0, 0] == pytest.approx(want)


def test_fraction_with_infinite_bounds() -> None:
    """A -Inf lower bound covers everything below; infinite-width buckets add nothing."""
    b = np.array([-3.0, -2.0, -1.0, np.inf])
    c = np.array([[10.0], [12.0], [15.0], [100.0]])
    assert bucket_fraction(np.array([-4.0]), np.array([-2.0]), b, c)[0] == pytest.approx(0.02)
    assert bucket_fraction(np.array([-np.inf]), np.array([np.inf]), b, c)[0] == 1.0
    assert math.isnan(bucket_fraction(np.array([np.nan]), np.array([1.0]), b, c)[0])


def test_parse_bound_like_go() -> None:
    """`le` values parse as Go's ParseFloat: no spaces or underscores, hex allowed."""
    assert parse_bound("+Inf") == math.inf
    assert parse_bound("1e0") == 1.0
    assert parse_bound(".2") == 0.2
    assert parse_bound("0x1p-2") == 0.25
    for bad in ("", " 1", "1_0", "abc"):
        assert parse_bound(bad) is None


# -- reference: one step at a time, Prometheus's BucketQuantile in plain Python ------


def _ref_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for ub, c in buckets:
        if merged and merged[-1][0] == ub:
            merged[-1][1] += c
        else:
            merged.append([ub, c])
    prev = merged[0][1]
    for b in merged[1:]:
        cur = b[1]
        if cur == prev:
            continue
        s = abs(prev) + abs(cur)
        close = abs(prev - cur) / min(s, 1.7976931348623157e308) < 1e-12 if s else True
        if close or cur < prev:
            b[1] = prev
            continue
        prev = cur
    if len(merged) < 2:
        return math.nan
    obs = merged[-1][1]
    if obs == 0:
        return math.nan
    rank = q * obs
    counts = [b[1] for b in merged[:-1]]
    i = bisect.bisect_left(counts, rank)
    if i == len(merged) - 1:
        return merged[-2][0]
    if i == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[i][0], merged[i][1]
    if i > 0:
        start = merged[i - 1][0]
        count -= merged[i - 1][1]
        rank -= merged[i - 1][1]
    return start + (end - start) * (rank / count)


@settings(max_examples=150, deadline=None)
@given(
    bounds=st.lists(st.sampled_from([-1.0, 0.0, 0.1, 0.5, 1.0, 2.5, 10.0]), min_size=0, max_size=6),
    data=st.data(),
)
def test_quantile_matches_reference(bounds: list[float], data: st.DataObject) -> None:
    """Vectorised over steps, the quantile equals a per-step evaluation."""
    bounds = [*bounds, math.inf]
    n_steps = data.draw(st.integers(1, 6))
    counts = np.array(
        [
            data.draw(st.lists(st.integers(0, 20).map(float), min_size=n_steps, max_size=n_steps))
            for _ in bounds
        ]
    )
    qs = np.array(
        data.draw(
            st.lists(
                st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0, -1.0, 2.0, math.nan]),
                min_size=n_steps,
                max_size=n_steps,
            )
        )
    )
    got, _ = bucket_quantile(qs, np.array(bounds), counts)
    for k in range(n_steps):
        with np.errstate(all="ignore"):  # 0/0 in an empty bucket is NaN, as in Go
            want = _ref_quantile(qs[k], list(zip(bounds, counts[:, k].tolist(), strict=True)))
        if math.isnan(want):
            assert math.isnan(got[k])
        else:
            assert got[k] == pytest.approx(want, rel=1e-12, abs=1e-12)
