"""Anomaly rules: alert when a series leaves a band learned from its own history.

An anomaly rule names a series expression and how to learn its band instead of a
hand-written threshold::

    - alert: LatencyAnomaly
      anomaly:
        expr: job:request_latency_seconds:mean5m
        method: zscore        # or mad
        window: 1h            # history the band is learned from
        threshold: 3          # band half-width in deviations
        seasonal: 1d          # optional: learn from the same window a day (1d) or week (1w) ago
        direction: both       # above | below | both
      for: 10m

The rule compiles to plain PromQL (:func:`compile_anomaly`), so the alert is an
ordinary alerting rule whose ``$value`` is the score (deviations from the
centre), and :func:`band_exprs` gives the lower and upper edges as PromQL that
``nightowl query`` (or a TUI panel) draws to show exactly the band the rule uses.

- ``zscore``: centre ``avg_over_time``, spread ``stddev_over_time``.
- ``mad``: centre ``quantile_over_time(0.5, ...)``, spread 1.4826 x the median of
  absolute deviations from the rolling median (a subquery), robust to spikes.

A constant history has zero spread: any change then scores +/-Inf and fires, and
no change scores NaN and does not.
"""

from __future__ import annotations

from nightowl.alerts.rulefile import AnomalySpec

from nightowl.timeutil import format_duration

__all__ = ["band_exprs", "compile_anomaly", "score_expr"]

#: Scales the median absolute deviation to a standard deviation for normal data.
MAD_SCALE = 1.4826


def _is_selector(expr: str) -> bool:
    from nightowl.query import ast
    from nightowl.query.parser import parse

    node = parse(expr)
    return isinstance(node, ast.VectorSelector) and not node.offset_ms and node.at is None


def _window(spec: AnomalySpec) -> str:
    """The range the band is learned from, with the seasonal offset."""
    w = format_duration(spec.window_ms)
    off = f" offset {format_duration(spec.seasonal_ms)}" if spec.seasonal_ms else ""
    if _is_selector(spec.expr):
        return f"{spec.expr}[{w}]{off}"
    return f"({spec.expr})[{w}:1m]{off}"


def _centre_spread(spec: AnomalySpec) -> tuple[str, str]:
    r = _window(spec)
    if spec.method == "mad":
        w = format_duration(spec.window_ms)
        off = f" offset {format_duration(spec.seasonal_ms)}" if spec.seasonal_ms else ""
        centre = f"quantile_over_time(0.5, {r})"
        dev = f"(abs(({spec.expr}) - quantile_over_time(0.5, {r.split(' offset ')[0]})))"
        spread = f"({MAD_SCALE} * quantile_over_time(0.5, {dev}[{w}:1m]{off}))"
        return centre, spread
    return f"avg_over_time({r})", f"stddev_over_time({r})"


def score_expr(spec: AnomalySpec) -> str:
    """PromQL of the score: how many spreads the series is from its band's centre."""
    centre, spread = _centre_spread(spec)
    return f"(({spec.expr}) - {centre}) / {spread}"


def compile_anomaly(spec: AnomalySpec) -> str:
    """The alerting expression: the score where it is outside +/- threshold."""
    score = score_expr(spec)
    t = repr(float(spec.threshold))
    if spec.direction == "above":
        return f"{score} > {t}"
    if spec.direction == "below":
        return f"{score} < -{t}"
    return f"({score} > {t}) or ({score} < -{t})"


def band_exprs(spec: AnomalySpec) -> tuple[str, str]:
    """PromQL of the band's (lower, upper) edges, for charts and `nightowl query`."""
    centre, spread = _centre_spread(spec)
    t = repr(float(spec.threshold))
    return f"{centre} - {t} * {spread}", f"{centre} + {t} * {spread}"
