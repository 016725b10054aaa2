"""Every function, fed random arguments of its declared types, returns a well-formed
result (or a QueryError), never a crash."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.query.block import (
    ArgType,
    Block,
    EvalContext,
    RangeBlock,
    RangeSeriesData,
    ScalarBlock,
    StringBlock,
)
from nightowl.query.functions import FUNCTIONS

from nightowl.errors import QueryError
from nightowl.model import Labels

_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 0.25, 2.0, -1.0]),
)
_label_values = st.sampled_from(["a", "b", "0.1", "1", "+Inf", "x y", "", "10"])


@st.composite
def _labels(draw: st.DrawFn) -> Labels:
    pairs = {
        "__name__": draw(st.sampled_from(["m", "m_total", "h_bucket", ""])),
        "le": draw(_label_values),
        "job": draw(_label_values),
    }
    return Labels(pairs.items())


@st.composite
def _block(draw: st.DrawFn, n_steps: int) -> Block:
    labels = list(dict.fromkeys(draw(st.lists(_labels(), max_size=4))))
    vals = np.array(
        [draw(st.lists(_floats, min_size=n_steps, max_size=n_steps)) for _ in labels]
    ).reshape(len(labels), n_steps)
    pres = np.array(
        [draw(st.lists(st.booleans(), min_size=n_steps, max_size=n_steps)) for _ in labels],
        dtype=bool,
    ).reshape(len(labels), n_steps)
    return Block(labels, vals, pres)


@st.composite
def _range(draw: st.DrawFn, steps: np.ndarray) -> RangeBlock:
    series = []
    for lab in dict.fromkeys(draw(st.lists(_labels(), max_size=3))):
        t = np.array(sorted(draw(st.sets(st.integers(0, 100_000), max_size=12))), dtype=np.int64)
        v = np.array(draw(st.lists(_floats, min_size=len(t), max_size=len(t))), dtype=np.float64)
        series.append(RangeSeriesData(lab, t, v))
    rng = draw(st.integers(1, 60_000))
    return RangeBlock(series, steps - rng, steps, rng, steps)


@st.composite
def _call(draw: st.DrawFn, name: str) -> tuple[list, EvalContext]:
    fd = FUNCTIONS[name]
    n = draw(st.integers(1, 4))
    steps = np.arange(n, dtype=np.int64) * draw(st.integers(1, 30_000)) + 50_000
    ctx = EvalContext(
        steps, int(steps[0]), int(steps[-1]), int(steps[1] - steps[0]) if n > 1 else 0
    )
    decl = list(fd.arg_types)
    if fd.variadic == 0:
        count = len(decl)
    elif fd.variadic > 0:  # between len-1 and len-1+variadic arguments
        count = draw(st.integers(len(decl) - 1, min(len(decl) - 1 + fd.variadic, len(decl) + 1)))
    else:  # the last type repeats
        count = draw(st.integers(len(decl) - 1, len(decl) + 2))
    types = [decl[min(i, len(decl) - 1)] for i in range(count)]
    args: list = []
    for t in types:
        if t is ArgType.SCALAR:
            args.append(ScalarBlock(np.array(draw(st.lists(_floats, min_size=n, max_size=n)))))
        elif t is ArgType.STRING:
            args.append(StringBlock(draw(st.sampled_from(["q", "job", "le", "$1", "(.*)", "a("]))))
        elif t is ArgType.VECTOR:
            args.append(draw(_block(n)))
        else:
            args.append(draw(_range(steps)))
    return args, ctx


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_function_never_crashes(name: str, data: st.DataObject) -> None:
    """Results are Blocks/ScalarBlocks of the right shape, or a QueryError."""
    args, ctx = data.draw(_call(name))
    try:
        out = FUNCTIONS[name].impl(args, ctx)
    except QueryError:
        return
    n = ctx.n_steps
    if FUNCTIONS[name].return_type is ArgType.SCALAR:
        assert isinstance(out, ScalarBlock)
        assert out.values.shape == (n,)
        return
    assert isinstance(out, Block)
    assert out.values.shape == (len(out.labels), n)
    assert out.present.shape == (len(out.labels), n)
    assert out.present.dtype == bool
    if out.drop_name is not None:
        assert out.drop_name.shape == (len(out.labels),)
