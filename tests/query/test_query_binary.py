"""Vector matching over whole blocks against a per-step transcription of Prometheus's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query._binary import apply_op, vector_binop
from nightowl.query._blockutil import signature
from nightowl.query.ast import ARITHMETIC_OPS, VectorMatching
from nightowl.query.block import Block

from nightowl.errors import QueryError
from nightowl.model import Labels

Sample = tuple[Labels, float]


def _result_metric(ls: Labels, rs: Labels, op: str, m: VectorMatching) -> Labels:
    d = dict(ls)
    if op in ARITHMETIC_OPS:
        d.pop("__name__", None)
    if m.card == "one-to-one":
        d = (
            {k: v for k, v in d.items() if k in m.labels}
            if m.on
            else {k: v for k, v in d.items() if k not in m.labels}
        )
    for name in m.include:
        v = dict(rs).get(name, "")
        if v:
            d[name] = v
        else:
            d.pop(name, None)
    return Labels(d.items())


def _step(op: str, lhs: list[Sample], rhs: list[Sample], m: VectorMatching, rb: bool) -> list:
    """One step of Prometheus's VectorAnd/Or/Unless/Binop (raises QueryError like it)."""

    def sig(lab: Labels) -> tuple:
        return signature(lab, m.on, m.labels)

    if op == "and":
        right = {sig(lab) for lab, _ in rhs}
        return [(lab, v) for lab, v in lhs if rhs and sig(lab) in right]
    if op == "unless":
        right = {sig(lab) for lab, _ in rhs}
        return [(lab, v) for lab, v in lhs if sig(lab) not in right]
    if op == "or":
        left = {sig(lab) for lab, _ in lhs}
        return list(lhs) + [(lab, v) for lab, v in rhs if sig(lab) not in left]
    fills = m.fill_lhs is not None or m.fill_rhs is not None
    if (not lhs and not rhs) or ((not lhs or not rhs) and not fills):
        return []
    swapped = m.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    fill_one, fill_many = (m.fill_lhs, m.fill_rhs) if swapped else (m.fill_rhs, m.fill_lhs)
    right: dict[tuple, Sample] = {}
    for lab, v in one:
        if sig(lab) in right:
            raise QueryError("found duplicate series for the match group")
        right[sig(lab)] = (lab, v)
    out = []
    matched: dict[tuple, set] = {}

    def do(lab: Labels, v: float, rlab: Labels, rv: float, s: tuple) -> None:
        fl, fr = (rv, v) if swapped else (v, rv)
        val, keep = apply_op(op, np.array([fl]), np.array([fr]))
        metric = _result_metric(lab, rlab, op, m)
        if m.card == "one-to-one":
            if s in matched:
                raise QueryError("multiple matches for labels: many-to-one matching")
            matched[s] = set()
        else:
            seen = matched.setdefault(s, set())
            if metric in seen:
                raise QueryError("multiple matches for labels: grouping labels must ensure unique")
            seen.add(metric)
        if rb:
            out.append((metric, float(keep[0])))
        elif keep[0]:
            out.append((metric, float(val[0])))

    for lab, v in many:
        s = sig(lab)
        if s in right:
            rlab, rv = right[s]
        elif fill_one is not None:
            rlab, rv = Labels(s), fill_one
        else:
            continue
        do(lab, v, rlab, rv, s)
    if fill_many is not None:
        for rlab, rv in one:
            s = sig(rlab)
            if s in matched:
                continue
            do(Labels(s), fill_many, rlab, rv, s)
    return out


_LABELS = [
    Labels.of("a", job="x", i="1"),
    Labels.of("a", job="x", i="2"),
    Labels.of("a", job="y", i="1"),
    Labels.of("b", job="x", i="1"),
    Labels.of("b", job="y"),
    Labels.of("b", job="y", t="k"),
    Labels.of("c", job="x", t="k"),
]


def _block(draw: st.DrawFn, n_steps: int) -> Block:
    labels = draw(st.lists(st.sampled_from(_LABELS), max_size=4, unique=True))
    vals = draw(
        st.lists(
            st.lists(
                st.sampled_from([0.0, 1.0, 2.0, -1.0, math.nan]), min_size=n_steps, max_size=n_steps
            ),
            min_size=len(labels),
            max_size=len(labels),
        )
    )
    pres = draw(
        st.lists(
            st.lists(st.booleans(), min_size=n_steps, max_size=n_steps),
            min_size=len(labels),
            max_size=len(labels),
        )
    )
    return Block(
        labels,
        np.array(vals, dtype=np.float64).reshape(len(labels), n_steps),
        np.array(pres, dtype=bool).reshape(len(labels), n_steps),
    )


@st.composite
def _case(draw: st.DrawFn) -> tuple:
    n_steps = draw(st.integers(min_value=1, max_value=3))
    op = draw(st.sampled_from(["+", "/", ">", "==", "and", "or", "unless"]))
    if op in ("and", "or", "unless"):
        card = "many-to-many"
    else:
        card = draw(st.sampled_from(["one-to-one", "many-to-one", "one-to-many"]))
    on = draw(st.booleans())
    labels = tuple(draw(st.lists(st.sampled_from(["job", "i", "t"]), max_size=2, unique=True)))
    include: tuple[str, ...] = ()
    if card in ("many-to-one", "one-to-many"):
        include = tuple(
            x for x in draw(st.lists(st.sampled_from(["t", "i"]), max_size=1)) if x not in labels
        )
    rb = op in (">", "==") and draw(st.booleans())
    return (
        op,
        VectorMatching(card, on, labels, include),
        rb,
        _block(draw, n_steps),
        _block(draw, n_steps),
    )


def _rows(block: Block, k: int) -> list[Sample]:
    return [
        (lab, float(block.values[i, k]))
        for i, lab in enumerate(block.labels)
        if block.present[i, k]
    ]


@settings(max_examples=400, deadline=None)
@given(_case())
def test_matching_equals_per_step_rules(case: tuple) -> None:
    """Same series, values and errors as evaluating Prometheus's rules step by step."""
    op, m, rb, lhs, rhs = case
    n_steps = lhs.values.shape[1]
    want: list[list] | None = []
    try:
        for k in range(n_steps):
            want.append(_step(op, _rows(lhs, k), _rows(rhs, k), m, rb))  # type: ignore[union-attr]
    except QueryError as exc:
        want = None
        expected_error = exc.message.split(":")[0]
    if want is None:
        with pytest.raises(QueryError) as info:
            vector_binop(op, lhs, rhs, m, return_bool=rb)
        assert info.value.message.startswith(expected_error)
        return
    out = vector_binop(op, lhs, rhs, m, return_bool=rb)
    for k in range(n_steps):
        got = sorted(
            (
                (lab, float(out.values[i, k]))
                for i, lab in enumerate(out.labels)
                if out.present[i, k]
            ),
            key=lambda x: x[0],
        )
        exp = sorted(want[k], key=lambda x: x[0])
        assert [lab for lab, _ in got] == [lab for lab, _ in exp], (k, got, exp)
        for (_, a), (_, b) in zip(got, exp, strict=True):
            assert a == b or (math.isnan(a) and math.isnan(b))
