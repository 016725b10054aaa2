"""Aggregation operators over blocks (`sum`, `avg`, `topk`, `quantile`, ...).

Rows are grouped by their grouping labels once; the per-step work is numpy over
all groups at once. Order-dependent float aggregations (Kahan sums, the mean with
its overflow fallback, Welford's variance) walk the rows *rank by rank*: the j-th
member of every group in one numpy operation over (groups x steps), so the
arithmetic is Prometheus's, in Prometheus's order (the series order of the input).
"""

from __future__ import annotations

import math

import numpy as np
from nightowl.query.block import Block

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels

from ._blockutil import drops

__all__ = ["aggregate", "count_values", "format_value", "group_rows"]


def kahan_inc(inc: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's `kahanSumInc` (Neumaier's variant), elementwise."""
    t = s + inc
    big = np.abs(s) >= np.abs(inc)
    c2 = c + np.where(big, (s - t) + inc, (inc - t) + s)
    c2[np.isinf(t)] = 0.0
    return t, c2


def group_labels(labels: Labels, grouping: tuple[str, ...], without: bool) -> Labels:
    """The output labels of the group `labels` falls into."""
    # a filtered sorted label set is still sorted (and has no empty values)
    if without:
        drop = set(grouping)
        drop.add(METRIC_NAME)
        return tuple.__new__(Labels, tuple(p for p in labels if p[0] not in drop))
    if not grouping:
        return Labels()
    keep = set(grouping)
    return tuple.__new__(Labels, tuple(p for p in labels if p[0] in keep))


def group_rows(
    labels: list[Labels], grouping: tuple[str, ...], without: bool
) -> tuple[np.ndarray, list[Labels]]:
    """Group index per row (groups numbered by first appearance) and each group's labels."""
    index: dict[tuple, int] = {}
    gids: list[int] = []
    out: list[Labels] = []
    if not without and not grouping:
        return np.zeros(len(labels), dtype=np.int64), [Labels()] if labels else []
    names = set(grouping)
    if without:
        names.add(METRIC_NAME)
    new = tuple.__new__
    for lab in labels:
        # a filtered sorted label set is still sorted (and has no empty values)
        if without:
            key = tuple([p for p in lab if p[0] not in names])
        else:
            key = tuple([p for p in lab if p[0] in names])
        g = index.get(key)
        if g is None:
            g = index[key] = len(out)
            out.append(new(Labels, key))
        gids.append(g)
    return np.array(gids, dtype=np.int64), out


def _ranks(gid: np.ndarray, n_groups: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For j = 0, 1, ...: (rows that are the j-th member of their group, their groups)."""
    order = np.argsort(gid, kind="stable")
    sorted_g = gid[order]
    starts = np.searchsorted(sorted_g, np.arange(n_groups), "left")
    rank = np.arange(len(gid)) - starts[sorted_g]
    out = []
    for j in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == j
        out.append((order[sel], sorted_g[sel]))
    return out


def aggregate(
    op: str,
    block: Block,
    grouping: tuple[str, ...],
    without: bool,
    param: np.ndarray | None,
) -> tuple[Block, list[str]]:
    """Evaluate one aggregation; returns the result and warnings."""
    n_steps = block.values.shape[1]
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return _aggregate_k(op, block, grouping, without, param)
    gid, glabels = group_rows(block.labels, grouping, without)
    G = len(glabels)
    warnings: list[str] = []
    if G == 0:
        return Block.empty(n_steps), warnings
    values, present = block.values, block.present
    seen = np.zeros((G, n_steps), dtype=bool)
    with np.errstate(all="ignore"):
        if op == "count":
            acc = np.zeros((G, n_steps))
            np.add.at(acc, gid, present.astype(np.float64))
            seen = acc > 0
            out = acc
        elif op == "group":
            cnt = np.zeros((G, n_steps))
            np.add.at(cnt, gid, present.astype(np.float64))
            seen = cnt > 0
            out = np.ones((G, n_steps))
        elif op in ("max", "min"):
            out = np.full((G, n_steps), np.nan)
            for rows, g in _ranks(gid, G):
                f = values[rows]
                p = present[rows]
                cur = out[g]
                if op == "max":
                    take = p & ((cur < f) | np.isnan(cur))
                else:
                    take = p & ((cur > f) | np.isnan(cur))
                first = p & ~seen[g]
                take |= first
                out[g] = np.where(take, f, cur)
                seen[g] |= p
        elif op == "sum" and n_steps <= _PY_MAX_STEPS:
            out, seen = _sum_python(values, present, gid, G)
        elif op == "sum":
            # Starting from -0.0, the first Kahan step yields exactly (f, 0), Prometheus's
            # initial state; absent samples add 0, which changes nothing but a zero's sign.
            s = np.full((G, n_steps), -0.0)
            c = np.zeros((G, n_steps))
            f_all = np.where(present, values, 0.0)
            for rows, g in _ranks(gid, G):
                s[g], c[g] = kahan_inc(f_all[rows], s[g], c[g])
            cnt = np.zeros((G, n_steps))
            np.add.at(cnt, gid, present.astype(np.float64))
            seen = cnt > 0
            out = s + c
        elif op == "avg":
            # While no running sum reaches ±Inf, Prometheus's mean is the Kahan sum over
            # the count; only the steps where it does need the incremental fallback.
            s = np.full((G, n_steps), -0.0)
            c = np.zeros((G, n_steps))
            hit = np.zeros((G, n_steps), dtype=bool)
            f_all = np.where(present, values, 0.0)
            for rows, g in _ranks(gid, G):
                s[g], c[g] = kahan_inc(f_all[rows], s[g], c[g])
                hit[g] |= np.isinf(s[g])
            cnt = np.zeros((G, n_steps))
            np.add.at(cnt, gid, present.astype(np.float64))
            seen = cnt > 0
            out = (s + c) / np.where(cnt > 0, cnt, 1.0)
            cols = np.nonzero(hit.any(axis=0))[0]
            if len(cols):
                slow_seen = np.zeros((G, len(cols)), dtype=bool)
                out[:, cols] = _avg(values[:, cols], present[:, cols], gid, G, slow_seen)
        elif op in ("stddev", "stdvar"):
            mean = np.zeros((G, n_steps))
            val = np.zeros((G, n_steps))
            cnt = np.zeros((G, n_steps))
            for rows, g in _ranks(gid, G):
                f = values[rows]
                p = present[rows]
                first = p & ~seen[g]
                later = p & seen[g]
                nc = cnt[g] + 1
                delta = f - mean[g]
                nmean = mean[g] + delta / nc
                nval = val[g] + delta * (f - nmean)
                init_val = np.where(np.isnan(f) | np.isinf(f), np.nan, 0.0)
                mean[g] = np.where(first, f, np.where(later, nmean, mean[g]))
                val[g] = np.where(first, init_val, np.where(later, nval, val[g]))
                cnt[g] = np.where(first, 1.0, np.where(later, nc, cnt[g]))
                seen[g] |= p
            out = val / cnt
            if op == "stddev":
                out = np.sqrt(out)
        elif op == "quantile":
            assert param is not None
            out = np.full((G, n_steps), np.nan)
            q = param
            if np.isnan(q).any() or (q < 0).any() or (q > 1).any():
                bad = q[np.isnan(q) | (q < 0) | (q > 1)][0]
                warnings.append(
                    f"PromQL warning: quantile value should be between 0 and 1, got {_go(bad)}"
                )
            for g in range(G):
                rows = np.nonzero(gid == g)[0]
                p = present[rows]
                seen[g] = p.any(axis=0)
                out[g] = _quantile(q, values[rows], p)
        else:
            raise QueryError(f"unknown aggregation {op!r}")
    dn = _group_drops(drops(block), present, gid, seen)
    out = np.where(seen, out, 0.0)
    keep = seen.any(axis=1)
    idx = np.nonzero(keep)[0]
    return (
        Block([glabels[i] for i in idx.tolist()], out[idx], seen[idx], None, None, dn[idx]),
        warnings,
    )


def _group_drops(
    dn_in: np.ndarray, present: np.ndarray, gid: np.ndarray, seen: np.ndarray
) -> np.ndarray:
    """Each group's drop-name flag, as Prometheus sets it: at a step, a group drops the
    name when any of its samples there does; the series keeps the flag of the last
    step the group has a value."""
    G = len(seen)
    if not dn_in.any():
        return np.zeros(G, dtype=bool)
    at_step = np.zeros(seen.shape, dtype=bool)
    np.logical_or.at(at_step, gid, present & dn_in[:, np.newaxis])
    last = seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    return at_step[np.arange(G), last]


#: Up to this many steps (instant queries) `sum` loops in Python: one rank at a time in
#: numpy costs more than plain float arithmetic over a handful of steps.
_PY_MAX_STEPS = 4


def _sum_python(
    values: np.ndarray, present: np.ndarray, gid: np.ndarray, G: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's Kahan `sum` with Python floats, for few steps."""
    n_steps = values.shape[1]
    if n_steps == 1:
        return _sum_one_step(values[:, 0], present[:, 0], gid, G)
    s = [[0.0] * n_steps for _ in range(G)]
    c = [[0.0] * n_steps for _ in range(G)]
    seen = [[False] * n_steps for _ in range(G)]
    inf = math.inf
    for g, vals, pres in zip(gid.tolist(), values.tolist(), present.tolist(), strict=True):
        sg, cg, seen_g = s[g], c[g], seen[g]
        for k in range(n_steps):
            if not pres[k]:
                continue
            f = vals[k]
            if not seen_g[k]:
                sg[k], cg[k], seen_g[k] = f, 0.0, True
                continue
            cur = sg[k]
            t = cur + f
            if t == inf or t == -inf:
                cg[k] = 0.0
            elif abs(cur) >= abs(f):
                cg[k] += (cur - t) + f
            else:
                cg[k] += (f - t) + cur
            sg[k] = t
    out = np.array(s, dtype=np.float64) + np.array(c, dtype=np.float64)
    return out.reshape(G, n_steps), np.array(seen, dtype=bool).reshape(G, n_steps)


def _sum_one_step(
    values: np.ndarray, present: np.ndarray, gid: np.ndarray, G: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_sum_python` for one step (instant queries): the same arithmetic, flat lists."""
    s = [0.0] * G
    c = [0.0] * G
    seen = [False] * G
    inf = math.inf
    for g, f, p in zip(gid.tolist(), values.tolist(), present.tolist(), strict=True):
        if not p:
            continue
        if not seen[g]:
            s[g], seen[g] = f, True
            continue
        cur = s[g]
        t = cur + f
        if t == inf or t == -inf:
            c[g] = 0.0
        elif abs(cur) >= abs(f):
            c[g] += (cur - t) + f
        else:
            c[g] += (f - t) + cur
        s[g] = t
    out = np.array(s, dtype=np.float64) + np.array(c, dtype=np.float64)
    return out.reshape(G, 1), np.array(seen, dtype=bool).reshape(G, 1)


def _avg(
    values: np.ndarray, present: np.ndarray, gid: np.ndarray, G: int, seen: np.ndarray
) -> np.ndarray:
    n_steps = values.shape[1]
    s = np.zeros((G, n_steps))
    c = np.zeros((G, n_steps))
    mean = np.zeros((G, n_steps))
    cnt = np.zeros((G, n_steps))
    incr = np.zeros((G, n_steps), dtype=bool)
    for rows, g in _ranks(gid, G):
        f = values[rows]
        p = present[rows]
        first = p & ~seen[g]
        later = p & seen[g]
        sg, cg, mg, ng, ig = s[g], c[g], mean[g], cnt[g] + 1, incr[g]
        # plain Kahan sum while it does not overflow
        ns, nc = kahan_inc(f, sg, cg)
        stay = later & ~ig & ~np.isinf(ns)
        switch = later & ~ig & np.isinf(ns)
        # switching to the incremental mean
        prev = ng - 1
        mg = np.where(switch, sg / prev, mg)
        cg_inc = np.where(switch, cg / prev, cg)
        inc_mode = later & (ig | switch)
        # incremental mean update
        skip = np.isinf(mg) & (
            (np.isinf(f) & ((mg > 0) == (f > 0))) | (~np.isinf(f) & ~np.isnan(f))
        )
        cur = mg + cg_inc
        nm, nmc = kahan_inc(f / ng - cur / ng, mg, cg_inc)
        upd = inc_mode & ~skip
        new_mean = np.where(upd, nm, mg)
        new_c_inc = np.where(upd, nmc, cg_inc)
        s[g] = np.where(first, f, np.where(stay, ns, sg))
        c[g] = np.where(first, 0.0, np.where(stay, nc, np.where(inc_mode, new_c_inc, cg)))
        mean[g] = np.where(first, f, np.where(inc_mode, new_mean, mg))
        cnt[g] = np.where(first, 1.0, np.where(later, ng, cnt[g]))
        incr[g] = np.where(first, False, ig | switch)
        seen[g] |= p
    return np.where(incr, mean + c, (s + c) / cnt)


def _quantile(q: np.ndarray, vals: np.ndarray, pres: np.ndarray) -> np.ndarray:
    """Prometheus's `quantile` over the present values of each column (NaN sorts first)."""
    n = pres.sum(axis=0).astype(np.float64)
    isnan = np.isnan(vals)
    key_absent = (~pres).astype(np.int8)
    key_nan = np.where(isnan, 0, 1).astype(np.int8)
    key_val = np.where(isnan | ~pres, 0.0, vals)
    order = np.lexsort((key_val, key_nan, key_absent), axis=0)
    svals = np.take_along_axis(vals, order, axis=0)
    rank = q * (n - 1)
    lower = np.maximum(0, np.floor(rank))
    upper = np.minimum(n - 1, lower + 1)
    weight = rank - np.floor(rank)
    cols = np.arange(vals.shape[1])
    top = max(vals.shape[0] - 1, 0)
    li = np.clip(np.nan_to_num(lower, nan=0.0, posinf=0.0, neginf=0.0), 0, top).astype(np.int64)
    ui = np.clip(np.nan_to_num(upper, nan=0.0, posinf=0.0, neginf=0.0), 0, top).astype(np.int64)
    res = svals[li, cols] * (1 - weight) + svals[ui, cols] * weight
    res = np.where(q < 0, -np.inf, res)
    res = np.where(q > 1, np.inf, res)
    res = np.where(np.isnan(q) | (n == 0), np.nan, res)
    return res


def _go(v: float) -> str:
    """A float as Go's `%v` prints it (enough for annotations)."""
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return format_value(float(v))


def format_value(v: float) -> str:
    """Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest exact digits, no exponent."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def _aggregate_k(
    op: str,
    block: Block,
    grouping: tuple[str, ...],
    without: bool,
    param: np.ndarray | None,
) -> tuple[Block, list[str]]:
    assert param is not None
    n_steps = block.values.shape[1]
    warnings: list[str] = []
    n = len(block)
    if op == "limit_ratio":
        if np.isnan(param).any():
            raise QueryError("Ratio value is NaN")
        bad = param[(param < -1) | (param > 1)]
        if len(bad):
            clamp = -1.0 if bad[0] < -1 else 1.0
            warnings.append(
                f"PromQL warning: ratio value should be between -1 and 1, got {_go(bad[0])}, "
                f"capping to {_go(clamp)}"
            )
        ratio = np.clip(param, -1.0, 1.0)
    else:
        if np.isnan(param).any():
            raise QueryError("Parameter value is NaN")
        if (np.abs(param) >= 2.0**63).any():
            raise QueryError(
                f"Scalar value {_go(float(param[np.abs(param) >= 2.0**63][0]))} overflows int64"
            )
        k = np.trunc(param)
    if n == 0:
        return Block.empty(n_steps), warnings
    gid, glabels = group_rows(block.labels, grouping, without)
    values, present = block.values, block.present
    selected = np.zeros((n, n_steps), dtype=bool)
    rank_out = np.zeros((n, n_steps), dtype=np.int64)
    if op == "limit_ratio":
        from ._xxhash import labels_hash

        offs = np.array([labels_hash(lab) / float(2**64 - 1) for lab in block.labels])
        r = ratio[np.newaxis, :]
        o = offs[:, np.newaxis]
        sel = ((r >= 0) & (o < r)) | ((r < 0) & (o >= 1.0 + r))
        selected = present & sel
    else:
        for g in range(len(glabels)):
            rows = np.nonzero(gid == g)[0]
            p = present[rows]
            v = values[rows]
            if op == "limitk":
                rank = np.cumsum(p, axis=0) - 1
            else:
                isnan = np.isnan(v)
                key_absent = (~p).astype(np.int8)
                key_nan = isnan.astype(np.int8)
                key_val = np.where(isnan | ~p, 0.0, -v if op == "topk" else v)
                order = np.lexsort(
                    (
                        np.arange(len(rows))[:, None].repeat(n_steps, 1),
                        key_val,
                        key_nan,
                        key_absent,
                    ),
                    axis=0,
                )
                rank = np.empty_like(order)
                np.put_along_axis(
                    rank, order, np.arange(len(rows))[:, None].repeat(n_steps, 1), axis=0
                )
            sel = p & (rank < k[np.newaxis, :])
            if op != "limitk" and len(rows) > 1:
                _break_ties(op, v, p, order, key_val, key_nan, k, sel)
            selected[rows] = sel
            rank_out[rows] = rank
    keep = selected.any(axis=1)
    idx = np.nonzero(keep)[0]
    if n_steps == 1 and op in ("topk", "bottomk"):
        # instant: groups in order of appearance, each sorted by rank
        idx = np.array(
            sorted(idx.tolist(), key=lambda i: (int(gid[i]), int(rank_out[i, 0]))),
            dtype=np.int64,
        )
    out = Block(
        [block.labels[i] for i in idx.tolist()],
        np.where(selected[idx], values[idx], 0.0),
        selected[idx],
        None,
        None,
        drops(block)[idx],
    )
    return out, warnings


def _break_ties(
    op: str,
    v: np.ndarray,
    p: np.ndarray,
    order: np.ndarray,
    key_val: np.ndarray,
    key_nan: np.ndarray,
    k: np.ndarray,
    sel: np.ndarray,
) -> None:
    """Where equal values straddle the k-th place, pick the series Prometheus's heap keeps."""
    m = v.shape[0]
    cnt = p.sum(axis=0)
    kk = np.minimum(k, m).astype(np.int64)
    cand = np.nonzero((kk > 0) & (kk < cnt))[0]
    if not len(cand):
        return
    cols = cand
    a = order[kk[cols] - 1, cols]
    b = order[kk[cols], cols]
    tie = (key_nan[a, cols] == key_nan[b, cols]) & (key_val[a, cols] == key_val[b, cols])
    for col in cols[tie].tolist():
        present_rows = np.nonzero(p[:, col])[0].tolist()
        keep = _heap_select([float(v[r, col]) for r in present_rows], int(kk[col]), op == "topk")
        sel[:, col] = False
        sel[[present_rows[i] for i in keep], col] = True


def _heap_select(vals: list[float], k: int, top: bool) -> list[int]:
    """Indices Prometheus's `aggregationK` keeps: Go's container/heap, input order."""

    def less(x: float, y: float) -> bool:
        if x != x:
            return True
        return x < y if top else x > y

    heap: list[int] = []

    def up(j: int) -> None:
        while j > 0:
            i = (j - 1) // 2
            if not less(vals[heap[j]], vals[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            j = i

    def down(i0: int) -> bool:
        i, n = i0, len(heap)
        while True:
            j1 = 2 * i + 1
            if j1 >= n:
                break
            j = j1
            if j1 + 1 < n and less(vals[heap[j1 + 1]], vals[heap[j1]]):
                j = j1 + 1
            if not less(vals[heap[j]], vals[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            i = j
        return i > i0

    for idx, f in enumerate(vals):
        if len(heap) < k:
            heap.append(idx)
            up(len(heap) - 1)
            continue
        cur = vals[heap[0]]
        better = cur < f if top else cur > f
        if better or (cur != cur and f == f):
            heap[0] = idx
            if k > 1 and not down(0):
                up(0)
    return heap


def count_values(block: Block, label: str, grouping: tuple[str, ...], without: bool) -> Block:
    """`count_values(label, v)`: one series per distinct value (and group) per step.

    Per input series the distinct values are found with `np.unique`, so the Python
    work is per distinct value, not per sample.
    """
    n_steps = block.values.shape[1]
    if not without:
        grouping = tuple(sorted({*grouping, label}))
    counts: dict[Labels, np.ndarray] = {}
    order: list[Labels] = []
    texts: dict[float, str] = {}
    for i, lab in enumerate(block.labels):
        steps = np.nonzero(block.present[i])[0]
        if not len(steps):
            continue
        vals = block.values[i, steps]
        # by bit pattern, so that -0 and 0 stay apart as in Prometheus
        uniq_bits, inverse = np.unique(vals.view(np.uint64), return_inverse=True)
        base = dict(lab)
        for j, u in enumerate(uniq_bits.view(np.float64).tolist()):
            text = texts.get(u) if u == u and u != 0 else None
            if text is None:
                text = format_value(u)
                if u == u and u != 0:
                    texts[u] = text
            base[label] = text
            out = group_labels(Labels(base.items()), grouping, without)
            arr = counts.get(out)
            if arr is None:
                arr = counts[out] = np.zeros(n_steps)
                order.append(out)
            np.add.at(arr, steps[inverse == j], 1.0)
    if not order:
        return Block.empty(n_steps)
    vals = np.array([counts[lab] for lab in order])
    return Block(order, vals, vals > 0, None, None, np.zeros(len(order), dtype=bool))
