"""Generated well-typed queries never crash the engine: a result, or a QueryError."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.query.block import ArgType
from nightowl.query.engine import Engine
from nightowl.query.functions import FUNCTIONS
from nightowl.store.memory import MemoryStore

from nightowl.errors import NightowlError
from nightowl.model import STALE_NAN, Labels

_SELECTORS = ["a", 'a{k="1"}', "b", 'b{k=~"1|2"}', "nothing", '{__name__=~"a|b"}']
_DURATIONS = ["1m", "5m", "90s", "1h"]
_MODIFIERS = ["", " offset 2m", " offset -1m", " @ 600", " @ start()", " @ end()"]
_AGGS = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]
_PARAM_AGGS = ["topk", "bottomk", "quantile", "limitk", "limit_ratio"]
_BINOPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "atan2"]
_SKIP_FUNCS = {"label_replace", "label_join", "sort_by_label", "sort_by_label_desc", "info"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    store = MemoryStore()
    rng = np.random.default_rng(3)
    for name in ("a", "b"):
        for k in ("1", "2", "3"):
            t = np.arange(0, 3_600_000, 15_000)
            v = np.cumsum(rng.normal(0, 3, len(t)))
            v[rng.random(len(t)) < 0.03] = np.nan
            v[rng.random(len(t)) < 0.02] = STALE_NAN
            store.add_series(Labels.of(name, k=k, le=str(k)), t.tolist(), v.tolist())
    return Engine(store)


def _scalar(draw: st.DrawFn, depth: int) -> str:
    choice = draw(st.integers(0, 3 if depth > 0 else 1))
    if choice == 0:
        return draw(st.sampled_from(["0", "1", "0.5", "2", "-1", "NaN", "Inf", "300"]))
    if choice == 1:
        return draw(st.sampled_from(["time()", "pi()", "scalar(a)"]))
    if choice == 2:
        op = draw(st.sampled_from(["+", "-", "*", "/", "> bool", "^"]))
        return f"({_scalar(draw, depth - 1)} {op} {_scalar(draw, depth - 1)})"
    return f"scalar({_vector(draw, depth - 1)})"


def _matrix(draw: st.DrawFn, depth: int) -> str:
    if depth > 0 and draw(st.booleans()):
        inner = _vector(draw, depth - 1)
        step = draw(st.sampled_from(["", "1m", "30s", "7m"]))
        rng = draw(st.sampled_from(_DURATIONS))
        return f"({inner})[{rng}:{step}]{draw(st.sampled_from(_MODIFIERS))}"
    sel = draw(st.sampled_from(_SELECTORS))
    return f"{sel}[{draw(st.sampled_from(_DURATIONS))}]{draw(st.sampled_from(_MODIFIERS))}"


def _arg(draw: st.DrawFn, t: ArgType, depth: int) -> str:
    if t == ArgType.SCALAR:
        return _scalar(draw, depth)
    if t == ArgType.MATRIX:
        return _matrix(draw, depth)
    if t == ArgType.STRING:
        return draw(st.sampled_from(['"k"', '"le"', '"x"']))
    return _vector(draw, depth)


def _call(draw: st.DrawFn, depth: int) -> str:
    names = sorted(
        n
        for n, fd in FUNCTIONS.items()
        if fd.return_type == ArgType.VECTOR and n not in _SKIP_FUNCS
    )
    fd = FUNCTIONS[draw(st.sampled_from(names))]
    types = list(fd.arg_types)
    if fd.variadic > 0:
        types = types[: len(types) - draw(st.integers(0, fd.variadic))]
    elif fd.variadic < 0:
        types = types + types[-1:] * draw(st.integers(0, 2))
    return f"{fd.name}({', '.join(_arg(draw, t, depth - 1) for t in types)})"


def _vector(draw: st.DrawFn, depth: int) -> str:
    choice = draw(st.integers(0, 5 if depth > 0 else 0))
    if choice == 0:
        return draw(st.sampled_from(_SELECTORS)) + draw(st.sampled_from(_MODIFIERS))
    if choice == 1:
        return _call(draw, depth)
    if choice == 2:
        grouping = draw(st.sampled_from(["", " by (k)", " without (k)", " by (__name__)"]))
        return f"{draw(st.sampled_from(_AGGS))}{grouping} ({_vector(draw, depth - 1)})"
    if choice == 3:
        op = draw(st.sampled_from(_PARAM_AGGS))
        return f"{op}({_scalar(draw, 0)}, {_vector(draw, depth - 1)})"
    if choice == 4:
        op = draw(st.sampled_from([*_BINOPS, "and", "or", "unless"]))
        match = draw(
            st.sampled_from(
                [
                    "",
                    " on(k)",
                    " ignoring(k)",
                    " on(k) group_left",
                    " ignoring(le) group_right(k)",
                    " bool",
                ]
            )
        )
        if op in ("and", "or", "unless"):
            match = match if "group" not in match and "bool" not in match else ""
        elif "bool" in match and op not in ("==", "!=", ">", "<", ">=", "<="):
            match = ""
        return f"({_vector(draw, depth - 1)} {op}{match} {_vector(draw, depth - 1)})"
    op = draw(st.sampled_from(_BINOPS))
    return f"({_vector(draw, depth - 1)} {op} {_scalar(draw, 0)})"


@st.composite
def _queries(draw: st.DrawFn) -> str:
    return _vector(draw, draw(st.integers(0, 3)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=_queries(), instant=st.booleans())
def test_generated_queries_never_crash(engine: Engine, q: str, instant: bool) -> None:
    """Any generated query gives a result or a NightowlError, never another exception."""
    try:
        if instant:
            res = engine.instant(q, 1_800_000)
            values = [s.v for s in res.value] if isinstance(res.value, list) else []
        else:
            res = engine.range(q, 600_000, 3_000_000, 120_000)
            values = [v for s in res.value for v in s.values.tolist()]
    except NightowlError:
        return
    assert all(isinstance(v, float) or math.isnan(v) for v in values)
