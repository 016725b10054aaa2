"""`info(v, [selector])`: enrich series with the data labels of *info metrics*.

An info metric (`target_info` by default, or the metrics the selector's `__name__`
matchers pick) carries metadata about a target; a series and an info series belong
together when they agree on the identifying labels `instance` and `job` (those the
series has). Per step, the newest sample of each info metric wins (an exact tie is
an error), its labels other than `__name__` are added unless the series already has
them, and two info metrics offering different values for one label is an error.
The selector's other matchers choose which data labels to add; a series for which
no info series matches is dropped when one of them cannot match an empty value.
Series that are themselves info series pass through unchanged.

Prometheus evaluates this in the engine (it selects during evaluation), hence here
rather than in `query.functions`. Experimental in Prometheus, as here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from nightowl.query import ast
from nightowl.query.block import Block

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels, Matcher, MatchOp

if TYPE_CHECKING:
    from nightowl.query.engine import _Evaluator

__all__ = ["evaluate_info"]

_IDENTIFYING = ("instance", "job")
_TARGET_INFO = "target_info"


def _effective_name_matchers(name_matchers: list[Matcher]) -> list[Matcher]:
    if any(m.op in (MatchOp.EQ, MatchOp.RE) for m in name_matchers):
        return name_matchers
    if name_matchers:
        return [Matcher(METRIC_NAME, MatchOp.RE, ".+_info"), *name_matchers]
    return [Matcher(METRIC_NAME, MatchOp.EQ, _TARGET_INFO)]


def _regex_matcher(name: str, values: list[str]) -> Matcher:
    pattern = "|".join(re.escape(v) for v in values)
    return Matcher(name, MatchOp.RE, pattern, re.compile(f"(?s:{pattern})"))


def _signature(name: str, labels: Labels) -> tuple:
    return (name, tuple((k, labels.get(k)) for k in _IDENTIFYING if labels.get(k)))


def evaluate_info(ev: _Evaluator, node: ast.Call) -> Block:
    """Evaluate `info(...)` with the evaluator `ev` (its querier, steps and limits)."""
    base = ev.eval(node.args[0])
    if not isinstance(base, Block):
        raise QueryError("info: expected an instant vector", kind="bad_data")
    n_steps = ev.ctx.n_steps
    data_matchers: dict[str, list[Matcher]] = {}
    name_matchers: list[Matcher] = []
    if len(node.args) > 1:
        sel = node.args[1]
        while isinstance(sel, ast.ParenExpr):
            sel = sel.expr
        if not isinstance(sel, ast.VectorSelector):
            raise QueryError("info: the second argument must be a label selector", kind="bad_data")
        for m in sel.matchers:
            if m.name == METRIC_NAME:
                name_matchers.append(m)
            else:
                data_matchers.setdefault(m.name, []).append(m)
    effective = _effective_name_matchers(name_matchers)
    ignored = [all(m.matches(lab.name) for m in effective) for lab in base.labels]

    ids: dict[str, list[str]] = {}
    for lab, skip in zip(base.labels, ignored, strict=True):
        if skip:
            continue
        for k in _IDENTIFYING:
            v = lab.get(k)
            if v and v not in ids.setdefault(k, []):
                ids[k].append(v)
    info = Block.empty(n_steps)
    if any(ids.values()):
        matchers = [_regex_matcher(k, vs) for k, vs in ids.items() if vs]
        matchers += [m for ms in data_matchers.values() for m in ms]
        matchers += effective
        # looked up at the times of the first selector of the argument (its @ and offset)
        first = next((n for n in ast.walk(node.args[0]) if isinstance(n, ast.VectorSelector)), None)
        offset, at = (first.offset_ms, first.at) if first is not None else (0, None)
        sel = ast.VectorSelector(None, tuple(matchers), offset, at)
        info = ev.vector_selector(sel, keep_ts=True)
    return _combine(base, ignored, info, data_matchers, n_steps)


def _combine(
    base: Block,
    ignored: list[bool],
    info: Block,
    data_matchers: dict[str, list[Matcher]],
    n_steps: int,
) -> Block:
    info_names = sorted({lab.name for lab in info.labels})
    by_sig: dict[tuple, list[int]] = {}
    for j, lab in enumerate(info.labels):
        by_sig.setdefault(_signature(lab.name, lab), []).append(j)
    info_ts = info.timestamps if info.timestamps is not None else np.zeros(info.present.shape)
    required = any(not m.matches("") for ms in data_matchers.values() for m in ms)

    out_labels: list[Labels] = []
    out_vals: list[np.ndarray] = []
    out_pres: list[np.ndarray] = []
    for i, lab in enumerate(base.labels):
        pres = base.present[i]
        if ignored[i]:
            out_labels.append(lab)
            out_vals.append(base.values[i])
            out_pres.append(pres)
            continue
        # per info metric and step: the info series with the newest sample (-1: none)
        chosen = np.full((len(info_names), n_steps), -1, dtype=np.int64)
        for a, name in enumerate(info_names):
            rows = by_sig.get(_signature(name, lab), [])
            if not rows:
                continue
            t = np.where(info.present[rows], info_ts[rows], np.iinfo(np.int64).min)
            best = np.argmax(t, axis=0)
            newest = t[best, np.arange(n_steps)]
            has = info.present[rows].any(axis=0)
            ties = (t == newest[np.newaxis, :]).sum(axis=0) > 1
            bad = ties & has & pres
            if bad.any():
                k = int(np.argmax(bad))
                a_row, b_row = [rows[r] for r in np.nonzero(t[:, k] == newest[k])[0][:2]]
                raise QueryError(
                    f"found duplicate series for info metric: existing {info.labels[a_row]} "
                    f"@ {int(newest[k])}, new {info.labels[b_row]} @ {int(newest[k])}"
                )
            chosen[a] = np.where(has, np.asarray(rows)[best], -1)
        combos: dict[tuple, list[int]] = {}
        for k in np.nonzero(pres)[0].tolist():
            combos.setdefault(tuple(chosen[:, k].tolist()), []).append(k)
        base_d = dict(lab)
        for combo, steps in combos.items():
            added: dict[str, str] = {}
            seen_any = False
            for j in combo:
                if j < 0:
                    continue
                seen_any = True
                for name, value in info.labels[j]:
                    if name == METRIC_NAME or (data_matchers and name not in data_matchers):
                        continue
                    if name in added and added[name] != value:
                        raise QueryError(f"conflicting label: {name}")
                    if name in base_d:
                        continue
                    added[name] = value
            if not seen_any and required:
                continue
            mask = np.zeros(n_steps, dtype=bool)
            mask[steps] = True
            out_labels.append(Labels({**base_d, **added}.items()))
            out_vals.append(base.values[i])
            out_pres.append(mask)
    if not out_labels:
        return Block.empty(n_steps)
    return Block(
        out_labels,
        np.array(out_vals, dtype=np.float64).reshape(len(out_labels), n_steps),
        np.array(out_pres, dtype=bool).reshape(len(out_labels), n_steps),
        None,
        None,
        np.zeros(len(out_labels), dtype=bool),
    )
