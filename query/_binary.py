"""Binary operators over blocks: arithmetic, comparisons, set operators, vector matching.

Everything works on whole blocks (series x steps): the matching of series is done
once per *signature group* (the labels `on`/`ignoring` select), and the values of
all steps are combined with numpy. Duplicate-series and many-to-many errors are
raised with Prometheus's wording, at the steps where Prometheus would see them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nightowl.query.ast import ARITHMETIC_OPS, COMPARISON_OPS, VectorMatching
from nightowl.query.block import Block

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels

from ._blockutil import drops, merge_rows, signature

__all__ = ["apply_op", "scalar_binop", "vector_binop", "vector_scalar_binop"]

_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
    "^": np.power,
    "atan2": np.arctan2,
}
_CMP: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


def apply_op(op: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(value, keep)` of `a op b` elementwise, as Prometheus's `vectorElemBinop`."""
    with np.errstate(all="ignore"):
        if op in _ARITH:
            v = _ARITH[op](a, b)
            return np.asarray(v, dtype=np.float64), np.ones(np.shape(v), dtype=bool)
        keep = _CMP[op](a, b)
        return np.broadcast_to(a, keep.shape).astype(np.float64), keep


def scalar_binop(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Scalar op scalar (comparisons give 1/0; the parser demands `bool`)."""
    v, keep = apply_op(op, a, b)
    if op in COMPARISON_OPS:
        return keep.astype(np.float64)
    return v


def vector_scalar_binop(
    op: str, vec: Block, scalar: np.ndarray, *, swap: bool, return_bool: bool
) -> Block:
    """Vector op scalar (or scalar op vector when `swap`)."""
    s = scalar[np.newaxis, :]
    a, b = (s, vec.values) if swap else (vec.values, s)
    v, keep = apply_op(op, a, b)
    if op in COMPARISON_OPS and swap:
        v = vec.values.copy()
    v = np.broadcast_to(v, vec.values.shape).copy()
    present = vec.present.copy()
    if return_bool:
        v = keep.astype(np.float64)
    else:
        present &= np.broadcast_to(keep, present.shape)
    dn = drops(vec).copy()
    if op in ARITHMETIC_OPS or return_bool:
        dn[:] = True
    return Block(list(vec.labels), v, present, None, None, dn)


def _group(block: Block, on: bool, names: tuple[str, ...]) -> dict[tuple, list[int]]:
    groups: dict[tuple, list[int]] = {}
    for i, lab in enumerate(block.labels):
        groups.setdefault(signature(lab, on, names), []).append(i)
    return groups


def _set_op(op: str, lhs: Block, rhs: Block, m: VectorMatching) -> Block:
    n_steps = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    lsig = [signature(lab, m.on, m.labels) for lab in lhs.labels]
    rgroups = _group(rhs, m.on, m.labels)
    r_any = {k: rhs.present[v].any(axis=0) for k, v in rgroups.items()}
    none = np.zeros(n_steps, dtype=bool)
    if op == "and":
        present = np.array(
            [lhs.present[i] & r_any.get(s, none) for i, s in enumerate(lsig)], dtype=bool
        ).reshape(len(lhs), n_steps)
        return Block(list(lhs.labels), lhs.values, present, lhs.timestamps, None, drops(lhs))
    if op == "unless":
        present = np.array(
            [lhs.present[i] & ~r_any.get(s, none) for i, s in enumerate(lsig)], dtype=bool
        ).reshape(len(lhs), n_steps)
        return Block(list(lhs.labels), lhs.values, present, lhs.timestamps, None, drops(lhs))
    # or: all of lhs, plus rhs series whose signature has no lhs sample at that step
    lgroups: dict[tuple, np.ndarray] = {}
    for i, s in enumerate(lsig):
        cur = lgroups.get(s)
        lgroups[s] = lhs.present[i] if cur is None else (cur | lhs.present[i])
    rpres = rhs.present.copy()
    for i, lab in enumerate(rhs.labels):
        s = signature(lab, m.on, m.labels)
        if s in lgroups:
            rpres[i] &= ~lgroups[s]
    ts = None
    if lhs.timestamps is not None and rhs.timestamps is not None:
        ts = np.concatenate([lhs.timestamps, rhs.timestamps])
    out = Block(
        list(lhs.labels) + list(rhs.labels),
        np.concatenate([lhs.values, rhs.values]),
        np.concatenate([lhs.present, rpres]),
        ts,
        None,
        np.concatenate([drops(lhs), drops(rhs)]),
    )
    keep = out.present.any(axis=1)
    if not keep.all():
        idx = np.nonzero(keep)[0]
        out = Block(
            [out.labels[i] for i in idx.tolist()],
            out.values[idx],
            out.present[idx],
            None if out.timestamps is None else out.timestamps[idx],
            None,
            out.drop_name[idx],  # type: ignore[index]
        )
    return merge_rows(out)


def _result_labels(
    many: Labels, one: Labels, op: str, m: VectorMatching, one_to_one: bool
) -> Labels:
    d = dict(many)
    if op in ARITHMETIC_OPS:
        d.pop(METRIC_NAME, None)
    if one_to_one:
        if m.on:
            keep = set(m.labels)
            d = {k: v for k, v in d.items() if k in keep}
        else:
            for k in m.labels:
                d.pop(k, None)
    one_d = dict(one)
    for name in m.include:
        val = one_d.get(name, "")
        if val:
            d[name] = val
        else:
            d.pop(name, None)
    return Labels(d.items())


def _fmt_group(sig: tuple[tuple[str, str], ...]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sig)
    return "{" + inner + "}"


def _fmt(labels: Labels) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


def vector_binop(op: str, lhs: Block, rhs: Block, m: VectorMatching, *, return_bool: bool) -> Block:
    """Vector op vector with Prometheus's matching rules (set operators included)."""
    n_steps = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    if op in ("and", "or", "unless"):
        return _set_op(op, lhs, rhs, m)
    fill_lhs, fill_rhs = m.fill_lhs, m.fill_rhs
    has_fill = fill_lhs is not None or fill_rhs is not None
    if not has_fill and (not len(lhs) or not len(rhs)):
        return Block.empty(n_steps)
    lhs_any = lhs.present.any(axis=0) if len(lhs) else np.zeros(n_steps, dtype=bool)
    rhs_any = rhs.present.any(axis=0) if len(rhs) else np.zeros(n_steps, dtype=bool)
    # Prometheus short-circuits steps where a side is empty (unless a fill value applies)
    both = lhs_any & rhs_any
    if has_fill:
        both = lhs_any | rhs_any
    swapped = m.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    # fill values stand for the missing sample of the side they name, in written order
    fill_one, fill_many = (fill_lhs, fill_rhs) if swapped else (fill_rhs, fill_lhs)
    one_groups = _group(one, m.on, m.labels)
    one_to_one = m.card == "one-to-one"
    # the 'one' side must be unique per signature at every step; Prometheus goes step
    # by step, so of all the errors the earliest step's is raised (this one first)
    errors: list[tuple[int, int, QueryError]] = []
    for sig, rows in one_groups.items():
        if len(rows) < 2:
            continue
        cnt = one.present[rows].sum(axis=0)
        bad = (cnt > 1) & both
        if bad.any():
            k = int(np.argmax(bad))
            hits = [r for r in rows if one.present[r, k]]
            side = "left" if swapped else "right"
            # the first two clashing series, named in sorted order as Prometheus 3 does
            # (2.x named them [later, earlier])
            first, second = sorted((_fmt(one.labels[hits[0]]), _fmt(one.labels[hits[1]])))
            message = (
                f"found duplicate series for the match group {_fmt_group(sig)} on the {side} "
                f"hand-side of the operation: [{first}, {second}];many-to-many matching not "
                "allowed: matching labels must be unique on one side"
            )
            errors.append((k, 0, QueryError(message)))
    out_labels: list[Labels] = []
    out_vals: list[np.ndarray] = []
    out_pres: list[np.ndarray] = []
    out_sig: list[tuple] = []
    out_matched: list[np.ndarray] = []
    # the result keeps the 'many' side's labels, so it drops the name when that side
    # would (e.g. `rate(a[5m]) > rate(b[5m])`), and always with `bool`
    out_drop: list[bool] = []
    many_drops = drops(many)

    def emit(
        lab: Labels, sig: tuple, fl: np.ndarray, fr: np.ndarray, rp: np.ndarray, dn: bool
    ) -> None:
        v, keep = apply_op(op, fl, fr)
        if return_bool:
            v = keep.astype(np.float64)
            pres = rp
        else:
            pres = rp & keep
        out_labels.append(lab)
        out_vals.append(np.broadcast_to(v, (n_steps,)))
        out_pres.append(pres)
        out_sig.append(sig)
        out_matched.append(rp)
        out_drop.append(return_bool or dn)

    one_any = {sig: one.present[rows].any(axis=0) for sig, rows in one_groups.items()}
    many_any: dict[tuple, np.ndarray] = {}
    for i, lab in enumerate(many.labels):
        sig = signature(lab, m.on, m.labels)
        mp = many.present[i] & both
        cur = many_any.get(sig)
        many_any[sig] = mp if cur is None else (cur | mp)
        if not mp.any():
            continue
        for r in one_groups.get(sig, ()):
            rp = one.present[r] & mp
            if not rp.any():
                continue
            fl, fr = many.values[i], one.values[r]
            if swapped:
                fl, fr = fr, fl
            rlab = _result_labels(lab, one.labels[r], op, m, one_to_one)
            emit(rlab, sig, fl, fr, rp, bool(many_drops[i]))
        if fill_one is not None:
            # no sample on the 'one' side: the fill value, with only the matching labels
            alone = mp & ~one_any.get(sig, np.zeros(n_steps, dtype=bool))
            if alone.any():
                filler = np.full(n_steps, fill_one)
                fl, fr = (filler, many.values[i]) if swapped else (many.values[i], filler)
                rlab = _result_labels(lab, Labels(sig), op, m, one_to_one)
                emit(rlab, sig, fl, fr, alone, bool(many_drops[i]))
    if fill_many is not None:
        for sig, rows in one_groups.items():
            unmatched = ~many_any.get(sig, np.zeros(n_steps, dtype=bool))
            for r in rows:
                rp = one.present[r] & both & unmatched
                if not rp.any():
                    continue
                filler = np.full(n_steps, fill_many)
                fl, fr = (one.values[r], filler) if swapped else (filler, one.values[r])
                rlab = _result_labels(Labels(sig), one.labels[r], op, m, one_to_one)
                emit(rlab, sig, fl, fr, rp, False)
    if not out_labels:
        if errors:
            raise min(errors, key=lambda e: (e[0], e[1]))[2]
        return Block.empty(n_steps)
    values = np.array(out_vals, dtype=np.float64).reshape(len(out_vals), n_steps)
    present = np.array(out_pres, dtype=bool).reshape(len(out_pres), n_steps)
    # duplicate matches are errors even where a comparison filters them away
    matched = np.array(out_matched, dtype=bool).reshape(len(out_pres), n_steps)
    # one-to-one: a signature may produce one result per step;
    # many-to-one: the result labels must be unique per signature and step
    groups: dict[tuple, list[int]] = {}
    for j, (sig, lab) in enumerate(zip(out_sig, out_labels, strict=True)):
        groups.setdefault(sig if one_to_one else (sig, lab), []).append(j)
    message = (
        "multiple matches for labels: many-to-one matching must be explicit "
        "(group_left/group_right)"
        if one_to_one
        else "multiple matches for labels: grouping labels must ensure unique matches"
    )
    for rows in groups.values():
        if len(rows) > 1:
            bad = matched[rows].sum(axis=0) > 1
            if bad.any():
                errors.append((int(np.argmax(bad)), 1, QueryError(message)))
    if errors:
        raise min(errors, key=lambda e: (e[0], e[1]))[2]
    keep_rows = present.any(axis=1)
    idx = np.nonzero(keep_rows)[0]
    dn = np.array(out_drop, dtype=bool)[idx]
    block = Block([out_labels[i] for i in idx.tolist()], values[idx], present[idx], None, None, dn)
    return merge_rows(block)
