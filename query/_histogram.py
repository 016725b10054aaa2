"""Classic-histogram math for `histogram_quantile` and `histogram_fraction`.

A classic histogram is a group of series that differ only in their `le` label
(the bucket's upper bound), each holding a cumulative count. For one group the
evaluator hands over the bucket bounds and a (buckets x steps) matrix of counts;
the functions here compute one result per step, vectorised over the steps.
Steps with different sets of present buckets are processed separately (usually
there is one set for all steps).

The rules follow Prometheus's `BucketQuantile`/`BucketFraction`: buckets are
sorted by bound and equal bounds merged, a +Inf bucket is required, counts are
made monotonic (differences below a relative 1e-12 are float noise and ignored
silently; real decreases are removed and reported), and the quantile is
interpolated linearly inside its bucket, with 0 as the lower bound of the first
bucket when that bucket's bound is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Monotonicity", "bucket_fraction", "bucket_quantile", "parse_bound"]

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
