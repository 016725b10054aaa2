"""The vectorised aggregations against a plain per-step transcription of Prometheus's loop."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query._aggregate import aggregate
from nightowl.query.block import Block

from nightowl.model import Labels


def _kahan(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if math.isinf(t):
        c = 0.0
    elif abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def _reference(op: str, samples: list[float]) -> float:
    """Prometheus's `aggregation()` for one group and one step, in input order."""
    f0 = samples[0]
    value, mean, kc, count, incremental = f0, f0, 0.0, 1.0, False
    if op in ("stddev", "stdvar"):
        value = math.nan if (math.isnan(f0) or math.isinf(f0)) else 0.0
    for f in samples[1:]:
        if op == "sum":
            value, kc = _kahan(f, value, kc)
        elif op == "avg":
            count += 1
            if not incremental:
                nv, nc = _kahan(f, value, kc)
                if not math.isinf(nv):
                    value, kc = nv, nc
                    continue
                incremental = True
                mean = value / (count - 1)
                kc = kc / (count - 1)
            if math.isinf(mean):
                if math.isinf(f) and (mean > 0) == (f > 0):
                    continue
                if not math.isinf(f) and not math.isnan(f):
                    continue
            cur = mean + kc
            mean, kc = _kahan(f / count - cur / count, mean, kc)
        elif op == "max":
            if value < f or math.isnan(value):
                value = f
        elif op == "min":
            if value > f or math.isnan(value):
                value = f
        elif op in ("stddev", "stdvar"):
            count += 1
            delta = f - mean
            mean += delta / count
            value += delta * (f - mean)
    if op == "sum":
        return value + kc
    if op == "avg":
        return mean + kc if incremental else (value + kc) / count
    if op == "stdvar":
        return value / count
    if op == "stddev":
        var = value / count
        return math.sqrt(var) if var >= 0 else math.nan  # Go's math.Sqrt: NaN below 0
    return value


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 1.0, 1e-300, 3.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["sum", "avg", "max", "min", "stddev", "stdvar"]),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=1, max_value=7),  # sum takes a Python path up to 4 steps
    st.data(),
)
def test_aggregations_match_the_sequential_loop(
    op: str, n_rows: int, n_steps: int, data: st.DataObject
) -> None:
    """Bit for bit (NaN for NaN) the result of Prometheus's per-step loop."""
    values = np.array(
        data.draw(
            st.lists(
                st.lists(_values, min_size=n_steps, max_size=n_steps),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        dtype=np.float64,
    )
    present = np.array(
        data.draw(
            st.lists(
                st.lists(st.booleans(), min_size=n_steps, max_size=n_steps),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        dtype=bool,
    )
    groups = data.draw(st.lists(st.sampled_from("ab"), min_size=n_rows, max_size=n_rows))
    labels = [Labels.of("m", g=g, i=str(i)) for i, g in enumerate(groups)]
    block = Block(labels, values, present)
    out, _ = aggregate(op, block, ("g",), False, None)
    got = {
        (lab.get("g"), k): out.values[r, k]
        for r, lab in enumerate(out.labels)
        for k in range(n_steps)
        if out.present[r, k]
    }
    for g in "ab":
        rows = [i for i, x in enumerate(groups) if x == g]
        for k in range(n_steps):
            samples = [float(values[i, k]) for i in rows if present[i, k]]
            if not samples:
                assert (g, k) not in got
                continue
            want = _reference(op, samples)
            have = float(got[(g, k)])
            if math.isnan(want):
                assert math.isnan(have), (op, samples, have)
            else:
                assert have == want, (op, samples, have, want)


def test_sum_and_avg_compensate() -> None:
    """Kahan compensation and the overflow-safe mean, as Prometheus computes them."""
    values = np.array([[1e308], [1.0], [-1e308], [1e308], [1e308]])
    present = np.ones_like(values, dtype=bool)
    labels = [Labels.of("m", i=str(i)) for i in range(5)]
    three = Block(labels[:3], values[:3], present[:3])
    assert aggregate("sum", three, (), False, None)[0].values[0, 0] == 1.0
    assert aggregate("sum", three, (), False, None)[0].values[0, 0] == _reference(
        "sum", [1e308, 1.0, -1e308]
    )
    big = Block(labels[3:], values[3:], present[3:])
    assert aggregate("avg", big, (), False, None)[0].values[0, 0] == 1e308
    assert aggregate("sum", big, (), False, None)[0].values[0, 0] == math.inf
