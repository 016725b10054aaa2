"""Answering `count_over_time`, `max_over_time` and `min_over_time` from the store's rollups.

A long window `(t - range, t]` is mostly made of whole 1 h (or 5 m) buckets the
store has already summarised; only the two partial edges need raw samples. For
these three functions the combination is *exact*: a count is a sum of counts,
and the store's bucket min/max ignore NaN unless a bucket holds nothing else,
which is Prometheus's rule for `max_over_time`/`min_over_time` too. Sums and
averages are not answered here: the store's bucket sums are not added in
Prometheus's order, so the last bits could differ.

The rollup path is taken only when it pays: the window spans at least two
buckets, the raw edges are small next to the windows, the query has few steps,
and the store has rollups covering every interior bucket (else it returns None
and the evaluator reads raw samples as usual).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nightowl.query import ast
from nightowl.query.block import Block
from nightowl.store.api import Querier

from nightowl.model import Labels, stale_mask

__all__ = ["ROLLUP_FUNCTIONS", "rollup_call"]

ROLLUP_FUNCTIONS = frozenset({"count_over_time", "max_over_time", "min_over_time"})
_RESOLUTIONS = (3_600_000, 300_000)
_MAX_STEPS = 64


def rollup_call(
    querier: Querier,
    func: str,
    ms: ast.MatrixSelector,
    we: np.ndarray,
    count_samples: Callable[[int], None],
) -> Block | None:
    """The function's result from rollups plus raw edges, or None when not exact or not worth it.

    Args:
        querier: the store.
        func: one of :data:`ROLLUP_FUNCTIONS`.
        ms: the range selector.
        we: the window end of every step (`@`/offset already applied).
        count_samples: charges samples read against the query's limit.
    """
    rollups_fn = getattr(querier, "rollups", None)
    n = len(we)
    if rollups_fn is None or n == 0 or n > _MAX_STEPS:
        return None
    ws = we - ms.range_ms
    span = int(we.max() - ws.min())
    for res in _RESOLUTIONS:
        if ms.range_ms < 2 * res:
            continue
        first = (ws // res + 1) * res  # first bucket start > ws
        stop = ((we + 1) // res) * res  # buckets must end at or before we + 1
        if not (stop - first >= res).all():
            continue
        edge_ms = int(((first - ws - 1) + (we - stop + 1)).sum())
        if edge_ms * 4 > span * n:
            continue
        data = rollups_fn(list(ms.vs.matchers), int(first.min()), int(stop.max()) - 1, res)
        if data is None:
            continue
        if any(np.isnan(r.max).any() or np.isnan(r.min).any() for r in data):
            return None  # a bucket of only NaNs: leave it to the raw path
        return _combine(querier, func, ms, ws, we, first, stop, data, count_samples)
    return None


def _combine(
    querier: Querier,
    func: str,
    ms: ast.MatrixSelector,
    ws: np.ndarray,
    we: np.ndarray,
    first: np.ndarray,
    stop: np.ndarray,
    data: list,
    count_samples: Callable[[int], None],
) -> Block:
    n = len(we)
    counts: dict[Labels, np.ndarray] = {}
    extreme: dict[Labels, np.ndarray] = {}
    reduce = np.fmax if func == "max_over_time" else np.fmin

    def slot(lab: Labels) -> tuple[np.ndarray, np.ndarray]:
        c = counts.get(lab)
        if c is None:
            c = counts[lab] = np.zeros(n, dtype=np.int64)
            extreme[lab] = np.full(n, np.nan)
        return c, extreme[lab]

    buckets = 0
    for r in data:
        c, e = slot(r.labels)
        lo = np.searchsorted(r.starts, first, "left")
        hi = np.searchsorted(r.starts, stop, "left")
        csum = np.concatenate([[0], np.cumsum(r.count)])
        c += csum[hi] - csum[lo]
        buckets += len(r.starts)
        vals = r.max if func == "max_over_time" else r.min
        for k in range(n):
            if hi[k] > lo[k]:
                e[k] = reduce(e[k], reduce.reduce(vals[lo[k] : hi[k]]))
    count_samples(buckets)
    matchers = list(ms.vs.matchers)
    for k in range(n):
        for lo_t, hi_t in ((int(ws[k]) + 1, int(first[k]) - 1), (int(stop[k]), int(we[k]))):
            if hi_t < lo_t:
                continue
            for s in querier.select(matchers, lo_t, hi_t):
                keep = ~stale_mask(s.values)
                v = s.values[keep]
                if not len(v):
                    continue
                count_samples(len(v))
                c, e = slot(s.labels)
                c[k] += len(v)
                e[k] = reduce(e[k], reduce.reduce(v))
    labels = [lab for lab, c in counts.items() if c.any()]
    if not labels:
        return Block.empty(n)
    present = np.array([counts[lab] > 0 for lab in labels], dtype=bool)
    if func == "count_over_time":
        values = np.array([counts[lab] for lab in labels], dtype=np.float64)
    else:
        values = np.array([extreme[lab] for lab in labels], dtype=np.float64)
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    idx = np.asarray(order, dtype=np.int64)
    return Block(
        [labels[i] for i in order],
        np.where(present[idx], values[idx], 0.0),
        present[idx],
        None,
        None,
        np.ones(len(labels), dtype=bool),
    )
