"""Classic-histogram math for `histogram_quantile` and `histogram_fraction`.

A classic histogram is a group of series that differ only in their `le` label
(the bucket's upper bound), each holding a cumulative count. For one group the
evaluator hands over the bucket bounds and a (buckets x steps) matrix of counts;
the functions here compute one result per step, vectorised over the steps.
Steps with different sets of present buckets are processed separately (usually
there is one set for all steps).

The functions `histogram_quantile`, `histogram_quantiles` and `histogram_fraction`
(below the math) group bucket series by their other labels; groups with the same
bounds that are complete at every step are evaluated together.

The rules follow Prometheus's `BucketQuantile`/`BucketFraction`: buckets are
sorted by bound and equal bounds merged, a +Inf bucket is required, counts are
made monotonic (differences below a relative 1e-12 are float noise and ignored
silently; real decreases are removed and reported), and the quantile is
interpolated linearly inside its bucket, with 0 as the lower bound of the first
bucket when that bucket's bound is positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from nightowl.query._fnbase import (
    annotate,
    finish,
    format_go_float,
    invalid_quantile,
    scalar_arg,
    string_arg,
    time_rfc3339,
    valid_label_name,
    vector_arg,
)
from nightowl.query.block import Arg, Block, EvalContext, Result

from nightowl.errors import QueryError
from nightowl.model import Labels, go_quote

__all__ = [
    "Monotonicity",
    "bucket_fraction",
    "bucket_quantile",
    "format_openmetrics_float",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_quantiles",
    "native_only",
    "parse_bound",
]

#: Relative differences between adjacent buckets below this are float noise.
SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = np.finfo(np.float64).tiny


def parse_bound(text: str) -> float | None:
    """Parse an `le` label value as Go's `strconv.ParseFloat` would, or None."""
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:  # Go also accepts hexadecimal floats ("0x1p-2")
        body = text.lstrip("+-")
        if body[:2].lower() == "0x":
            sign = -1.0 if text.startswith("-") else 1.0
            return sign * float.fromhex(body)
    except (ValueError, OverflowError):
        return None
    return None


def _almost_equal(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Vectorised `almost.Equal` (NaN equals NaN; relative tolerance)."""
    both_nan = np.isnan(a) & np.isnan(b)
    abs_sum = np.abs(a) + np.abs(b)
    diff = np.abs(a - b)
    tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
    rel = diff / np.minimum(abs_sum, np.finfo(np.float64).max)
    close = np.where(tiny, diff < eps * _MIN_NORMAL, rel < eps)
    return both_nan | (a == b) | close


@dataclass(slots=True)
class Monotonicity:
    """Where bucket counts had to be forced monotonic, per step.

    Attributes:
        forced: bool (n_steps,), True where a real decrease was removed.
        min_bucket: float (n_steps,), lowest bound whose count was raised (+Inf if none).
        max_bucket: float (n_steps,), highest such bound (-Inf if none).
        max_diff: float (n_steps,), the largest decrease removed (0 if none).
    """

    forced: np.ndarray
    min_bucket: np.ndarray
    max_bucket: np.ndarray
    max_diff: np.ndarray


def _sorted_coalesced(bounds: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort buckets by bound and add up the counts of equal bounds."""
    order = np.argsort(bounds, kind="stable")
    b = bounds[order]
    c = counts[order]
    keep = np.ones(len(b), dtype=bool)
    keep[1:] = b[1:] != b[:-1]
    if keep.all():
        return b, c
    starts = np.flatnonzero(keep)
    out = c[starts].copy()
    for k in range(len(b)):
        if not keep[k]:
            g = np.searchsorted(starts, k, "right") - 1
            out[g] = out[g] + c[k]
    return b[starts], out


def _ensure_monotonic(bounds: np.ndarray, c: np.ndarray) -> Monotonicity:
    n_steps = c.shape[1]
    forced = np.zeros(n_steps, dtype=bool)
    min_b = np.full(n_steps, np.inf)
    max_b = np.full(n_steps, -np.inf)
    max_diff = np.zeros(n_steps)
    prev = c[0].copy()
    for i in range(1, len(bounds)):
        curr = c[i].copy()
        same = curr == prev
        noise = ~same & _almost_equal(prev, curr, SMALL_DELTA_TOLERANCE)
        drop = ~same & ~noise & (curr < prev)
        c[i] = np.where(noise | drop, prev, curr)
        forced |= drop
        min_b = np.where(drop & (bounds[i] < min_b), bounds[i], min_b)
        max_b = np.where(drop & (bounds[i] > max_b), bounds[i], max_b)
        diff = prev - curr
        max_diff = np.where(drop & (diff > max_diff), diff, max_diff)
        prev = np.where(same | noise | drop, prev, curr)
    return Monotonicity(forced, min_b, max_b, max_diff)


def _search(c: np.ndarray, rank: np.ndarray, n: int) -> np.ndarray:
    """Go's `sort.Search(n, i -> c[i] >= rank)`, per column (exactly its probes)."""
    lo = np.zeros(c.shape[1], dtype=np.int64)
    hi = np.full(c.shape[1], n, dtype=np.int64)
    cols = np.arange(c.shape[1])
    while True:
        active = lo < hi
        if not active.any():
            return lo
        h = (lo + hi) >> 1
        ok = c[np.minimum(h, c.shape[0] - 1), cols] >= rank
        lo = np.where(active & ~ok, h + 1, lo)
        hi = np.where(active & ok, h, hi)


@np.errstate(all="ignore")
def bucket_quantile(
    q: np.ndarray, bounds: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, Monotonicity]:
    """The φ-quantile of one classic histogram at each step.

    Args:
        q: φ per step (n_steps,).
        bounds: upper bounds of the buckets present at these steps (n_buckets,).
        counts: cumulative counts (n_buckets, n_steps).

    Returns:
        The quantile per step and where monotonicity had to be forced (only for
        steps with 0 <= φ <= 1, as Prometheus checks φ first).
    """
    n_steps = counts.shape[1]
    b, c = _sorted_coalesced(np.asarray(bounds, np.float64), np.array(counts, np.float64))
    none = Monotonicity(
        np.zeros(n_steps, bool),
        np.full(n_steps, np.inf),
        np.full(n_steps, -np.inf),
        np.zeros(n_steps),
    )
    special = np.where(np.isnan(q), np.nan, np.where(q < 0, -np.inf, np.inf))
    q_ok = ~np.isnan(q) & (q >= 0) & (q <= 1)
    if not np.isposinf(b[-1]):
        return np.where(q_ok, np.nan, special), none
    mono = _ensure_monotonic(b, c)
    mono.forced &= q_ok
    nb = len(b)
    if nb < 2:
        return np.where(q_ok, np.nan, special), mono
    observations = c[-1]
    rank = q * observations
    idx = _search(c, rank, nb - 1)
    cols = np.arange(n_steps)
    prev_i = np.maximum(idx - 1, 0)
    bucket_start = np.where(idx > 0, b[prev_i], 0.0)
    bucket_end = b[np.minimum(idx, nb - 1)]
    count = c[np.minimum(idx, nb - 1), cols]
    prev_count = np.where(idx > 0, c[prev_i, cols], 0.0)
    count = np.where(idx > 0, count - prev_count, count)
    r = np.where(idx > 0, rank - prev_count, rank)
    res = bucket_start + (bucket_end - bucket_start) * (r / count)
    res = np.where((idx == 0) & (b[0] <= 0), b[0], res)
    res = np.where(idx == nb - 1, b[nb - 2], res)
    res = np.where(observations == 0, np.nan, res)
    return np.where(q_ok, res, special), mono


@np.errstate(all="ignore")
def bucket_fraction(
    lower: np.ndarray, upper: np.ndarray, bounds: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """The fraction of observations between `lower` and `upper`, per step.

    Args:
        lower, upper: the interval per step (n_steps,).
        bounds: upper bounds of the buckets present at these steps (n_buckets,).
        counts: cumulative counts (n_buckets, n_steps).
    """
    n_steps = counts.shape[1]
    b, c = _sorted_coalesced(np.asarray(bounds, np.float64), np.array(counts, np.float64))
    if not np.isposinf(b[-1]):
        return np.full(n_steps, np.nan)
    total = c[-1]
    rank = np.zeros(n_steps)
    lower_rank = np.zeros(n_steps)
    upper_rank = np.zeros(n_steps)
    lower_set = np.zeros(n_steps, dtype=bool)
    upper_set = np.zeros(n_steps, dtype=bool)
    first_lower = 0.0 if b[0] > 0 else -np.inf
    for i in range(len(b)):
        lb = first_lower if i == 0 else b[i - 1]
        ub = b[i]
        done = lower_set & upper_set
        hit = ~done & ~lower_set & (lb >= lower)
        lower_rank = np.where(hit, rank, lower_rank)
        lower_set |= hit
        hit = ~done & ~upper_set & (lb >= upper)
        upper_rank = np.where(hit, rank, upper_rank)
        upper_set |= hit
        done = lower_set & upper_set

        def interpolate(
            x: np.ndarray, i: int = i, lb: float = lb, ub: float = ub, rank: np.ndarray = rank
        ) -> np.ndarray:
            if lb == -np.inf:
                return c[i]
            return rank + (c[i] - rank) * (x - lb) / (ub - lb)

        hit = ~done & ~lower_set & (lb < lower) & (ub > lower)
        lower_rank = np.where(hit, interpolate(lower), lower_rank)
        lower_set |= hit
        hit = ~done & ~upper_set & (lb < upper) & (ub > upper)
        upper_rank = np.where(hit, interpolate(upper), upper_rank)
        upper_set |= hit
        done = lower_set & upper_set
        rank = np.where(done, rank, c[i])
    lower_rank = np.where(~lower_set | (lower_rank > total), total, lower_rank)
    upper_rank = np.where(~upper_set | (upper_rank > total), total, upper_rank)
    res = (upper_rank - lower_rank) / total
    res = np.where(lower >= upper, 0.0, res)
    bad = (total == 0) | np.isnan(lower) | np.isnan(upper)
    return np.where(bad, np.nan, res)


# -- the functions over Blocks -------------------------------------------------------


def _bucket_groups(
    b: Block, ctx: EvalContext, arg: int
) -> dict[Labels, tuple[list[float], list[int]]]:
    """Group bucket series by their labels without `le`; warn about bad `le` values."""
    groups: dict[Labels, tuple[list[float], list[int]]] = {}
    bad: list[tuple[str, str]] = []
    for i, lab in enumerate(b.labels):
        le = lab.get("le")
        bound = parse_bound(le)
        if bound is None:
            if b.present[i].any():
                bad.append((le, lab.name))
            continue
        bounds, rows = groups.setdefault(lab.without("le"), ([], []))
        bounds.append(bound)
        rows.append(i)
    for le, name in dict.fromkeys(bad):
        text = (
            'PromQL warning: bucket label "le" is missing or has a malformed value of '
            f"{go_quote(le)}{_for_metric(name)}"
        )
        annotate(ctx, False, text, arg)
    return groups


def _for_metric(name: str) -> str:
    """Prometheus's `maybeAddMetricName` suffix (with delayed name removal the
    name is still known when annotations are made)."""
    return f" for metric name {go_quote(name)}" if name else ""


#: compute(bounds, counts (buckets x columns), step index per column) -> (values, mono)
_BucketFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, "Monotonicity | None"]]


def _eval_buckets(
    b: Block, groups: dict[Labels, tuple[list[float], list[int]]], n_steps: int, compute: _BucketFn
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray, Monotonicity]]]:
    """Evaluate every bucket group at every step where it has buckets.

    Groups with the same bucket bounds that are complete at every step (the usual
    case) are evaluated together, one column per (group, step); the others per
    set of buckets present. Returns values and presence (groups x steps) and, per
    group that needed it, (group, step indices, monotonicity fixes).
    """
    values = np.full((len(groups), n_steps), np.nan)
    present = np.zeros((len(groups), n_steps), dtype=bool)
    forced: list[tuple[int, np.ndarray, Monotonicity]] = []
    batches: dict[tuple[float, ...], list[tuple[int, np.ndarray]]] = {}
    for g, (bounds, rows) in enumerate(groups.values()):
        order = np.argsort(np.asarray(bounds), kind="stable")
        key = tuple(np.asarray(bounds)[order].tolist())
        batches.setdefault(key, []).append((g, np.asarray(rows, dtype=np.int64)[order]))

    def record(gs: np.ndarray, steps: np.ndarray, mono: Monotonicity | None) -> None:
        if mono is None or not mono.forced.any():
            return
        for g in np.unique(gs[mono.forced]).tolist():
            sel = mono.forced & (gs == g)
            sub = Monotonicity(
                sel[sel], mono.min_bucket[sel], mono.max_bucket[sel], mono.max_diff[sel]
            )
            forced.append((g, steps[sel], sub))

    all_steps = np.arange(n_steps)
    for key, members in batches.items():
        bounds = np.array(key)
        rows = np.stack([r for _, r in members])  # (groups, buckets)
        gidx = np.array([g for g, _ in members])
        full = b.present[rows].all(axis=(1, 2))
        if full.any():
            fr, fg = rows[full], gidx[full]
            counts = b.values[fr].transpose(1, 0, 2).reshape(len(key), -1)
            steps = np.tile(all_steps, len(fg))
            res, mono = compute(bounds, counts, steps)
            values[fg] = res.reshape(len(fg), n_steps)
            present[fg] = True
            record(np.repeat(fg, n_steps), steps, mono)
        for g, grow in zip(gidx[~full].tolist(), rows[~full], strict=True):
            p = b.present[grow]
            patterns, inverse = np.unique(p.T, axis=0, return_inverse=True)
            inverse = np.asarray(inverse).reshape(-1)
            for k, pat in enumerate(patterns):
                if not pat.any():
                    continue
                steps = np.flatnonzero(inverse == k)
                counts = b.values[np.ix_(grow[pat], steps)]
                res, mono = compute(bounds[pat], counts, steps)
                values[g, steps] = res
                present[g, steps] = True
                record(np.full(len(steps), g), steps, mono)
    return values, present, forced


def _histogram_quantile_core(
    q: np.ndarray, b: Block, ctx: EvalContext, q_arg: int, v_arg: int
) -> tuple[list[Labels], np.ndarray, np.ndarray]:
    bad = np.isnan(q) | (q < 0) | (q > 1)
    for qv in dict.fromkeys(q[bad].tolist()):
        annotate(ctx, False, invalid_quantile(qv), q_arg)
    groups = _bucket_groups(b, ctx, v_arg)
    labels = list(groups)

    def compute(
        bounds: np.ndarray, counts: np.ndarray, steps: np.ndarray
    ) -> tuple[np.ndarray, Monotonicity]:
        return bucket_quantile(q[steps], bounds, counts)

    values, present, fixes = _eval_buckets(b, groups, ctx.n_steps, compute)
    # per metric name: [times, min bucket, max bucket, max diff]
    forced: dict[str, list] = {}
    step_times = np.asarray(ctx.step_times, np.int64)
    for g, steps, mono in fixes:
        acc = forced.setdefault(labels[g].name, [[], np.inf, -np.inf, 0.0])
        acc[0].append(step_times[steps])
        acc[1] = min(acc[1], float(mono.min_bucket.min()))
        acc[2] = max(acc[2], float(mono.max_bucket.max()))
        acc[3] = max(acc[3], float(mono.max_diff.max()))
    for name, (times, min_b, max_b, max_d) in forced.items():
        ts = np.concatenate(times)
        text = (
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
            "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
            f"#histogram_quantile){_for_metric(name)}, from buckets {format_go_float(min_b)} "
            f"to {format_go_float(max_b)}, with a max diff of {max_d:.2g}, over {len(ts)} "
            f"samples from {time_rfc3339(int(ts.min()))} to {time_rfc3339(int(ts.max()))}"
        )
        annotate(ctx, True, text, v_arg)
    return labels, values, present


def histogram_quantile(args: list[Arg], ctx: EvalContext) -> Result:
    """`histogram_quantile(φ scalar, buckets vector)` over classic `le` buckets."""
    q = scalar_arg(args[0])
    b = vector_arg(args[1])
    labels, values, present = _histogram_quantile_core(q, b, ctx, 0, 1)
    return finish(labels, values, present)


def format_openmetrics_float(f: float) -> str:
    """Prometheus's `labels.FormatOpenMetricsFloat` (how `quantile` label values look)."""
    if f == 1:
        return "1.0"
    if f == 0:
        return "0.0"
    if f == -1:
        return "-1.0"
    s = format_go_float(f)
    if math.isnan(f) or math.isinf(f) or "e" in s or "." in s:
        return s
    return s + ".0"


def histogram_quantiles(args: list[Arg], ctx: EvalContext) -> Result:
    """`histogram_quantiles(buckets, label, φ...)`: one series per φ, labelled with it."""
    b = vector_arg(args[0])
    label = string_arg(args[1])
    if not valid_label_name(label):
        raise QueryError(f"invalid quantile label name in histogram_quantiles(): {label}")
    all_labels: list[Labels] = []
    all_values: list[np.ndarray] = []
    all_present: list[np.ndarray] = []
    for k, arg in enumerate(args[2:], start=2):
        q = scalar_arg(arg)
        labels, values, present = _histogram_quantile_core(q, b, ctx, k, 0)
        qstr = np.array([format_openmetrics_float(x) for x in q.tolist()], dtype=object)
        for s in dict.fromkeys(qstr.tolist()):
            at = qstr == s
            for g, lab in enumerate(labels):
                all_labels.append(lab.with_(**{label: s}))
                all_values.append(values[g])
                all_present.append(present[g] & at)
    if not all_labels:
        return Block.empty(ctx.n_steps)
    return finish(all_labels, np.array(all_values), np.array(all_present))


def histogram_fraction(args: list[Arg], ctx: EvalContext) -> Result:
    """`histogram_fraction(lower, upper scalar, buckets vector)` over classic buckets."""
    lower, upper = scalar_arg(args[0]), scalar_arg(args[1])
    b = vector_arg(args[2])
    groups = _bucket_groups(b, ctx, 2)

    def compute(bounds: np.ndarray, counts: np.ndarray, steps: np.ndarray) -> tuple:
        return bucket_fraction(lower[steps], upper[steps], bounds, counts), None

    values, present, _ = _eval_buckets(b, groups, ctx.n_steps, compute)
    labels = list(groups)
    return finish(labels, values, present)


def native_only(args: list[Arg], ctx: EvalContext) -> Result:
    """Functions of native histograms ignore float samples; nightowl has no others."""
    return Block.empty(ctx.n_steps)
