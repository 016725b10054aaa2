"""Query results -> series to draw. Presentation only: no evaluation here."""

from __future__ import annotations

import numpy as np
from nightowl.query.values import Matrix, QueryResult, RangeSeries, Scalar, String, Vector
from nightowl.tui.dashboards import legend_name
from nightowl.tui.plot import PlotSeries

__all__ = ["alert_events", "query_events", "series_from_result", "with_head"]


def series_from_result(
    result: QueryResult, legend: str = "", fallback: str = ""
) -> list[PlotSeries]:
    """One :class:`PlotSeries` per result series, named by `legend` (a `{{label}}`
    template) or by the labels that differ between the series."""
    value = result.value
    if isinstance(value, Scalar):
        return [PlotSeries(fallback or "scalar", np.array([value.t]), np.array([value.v]), 0)]
    if isinstance(value, String):
        return []
    if isinstance(value, Vector):
        items = [(s.labels, np.array([s.t], np.int64), np.array([s.v])) for s in value]
    elif isinstance(value, Matrix):
        items = [(s.labels, s.timestamps, s.values) for s in value]
    else:
        return []
    names: dict[str, set[str]] = {}
    for labels, _, _ in items:
        for k, v in labels:
            names.setdefault(k, set()).add(v)
    varying = sorted(
        k for k, vs in names.items() if len(vs) > 1 or (len(items) == 1 and k != "__name__")
    )
    if len(items) == 1:
        varying = []
    out = [
        PlotSeries(legend_name(labels, legend, varying, fallback), t, v, i, labels.to_dict())
        for i, (labels, t, v) in enumerate(items)
    ]
    out.sort(key=lambda s: s.name)
    for i, s in enumerate(out):
        s.style = i
    return out


def alert_events(
    result: QueryResult, start_ms: int, end_ms: int, step_ms: int
) -> list[tuple[int, str]]:
    """Firings and resolutions from a range query of `ALERTS{alertstate="firing"}`.

    Each run of consecutive steps of one alert is a firing: it "fired" at its first
    step (unless it was already firing when the window starts) and was "resolved" one
    step after its last (unless it is still firing at the window's end).
    """
    value = result.value
    if not isinstance(value, Matrix):
        return []
    out: list[tuple[int, str]] = []
    gap = step_ms * 1.5
    for s in value:
        ts = s.timestamps[np.isfinite(s.values)]
        if not len(ts):
            continue
        breaks = np.flatnonzero(np.diff(ts) > gap)
        firsts = np.concatenate([ts[:1], ts[breaks + 1]])
        lasts = np.concatenate([ts[breaks], ts[-1:]])
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            if first > start_ms + step_ms:
                out.append((first, "fired"))
            if last < end_ms - step_ms:
                out.append((last + step_ms, "resolved"))
    return sorted(out)


def query_events(
    result: QueryResult, name: str, start_ms: int, end_ms: int, step_ms: int
) -> list[tuple[int, str]]:
    """Events of a configured event query, as (time ms, "event:NAME").

    An event is the first step of each run of consecutive steps in which a series
    of the result has a value (`changes(deploy_timestamp_seconds[5m]) > 0` is
    present for a while after each deploy: one event, at its start). A run already
    going when the window starts is not an event of this window.
    """
    value = result.value
    if not isinstance(value, Matrix):
        return []
    kind = f"event:{name}"
    out: set[int] = set()
    gap = step_ms * 1.5
    for s in value:
        ts = s.timestamps[np.isfinite(s.values)]
        if not len(ts):
            continue
        breaks = np.flatnonzero(np.diff(ts) > gap)
        firsts = np.concatenate([ts[:1], ts[breaks + 1]])
        out.update(t for t in firsts.tolist() if start_ms + step_ms < t <= end_ms)
    return [(t, kind) for t in sorted(out)]


def with_head(body: QueryResult, head: QueryResult | None) -> QueryResult:
    """A chart's range result with the newest point (an instant query at now) appended
    to each series; a series only in the head starts there."""
    if head is None or not isinstance(body.value, Matrix):
        return body
    hv = head.value
    points: dict = {}
    if isinstance(hv, Vector):
        points = {s.labels: (s.t, s.v) for s in hv}
    elif isinstance(hv, Scalar) and len(body.value) == 1:
        points = {body.value[0].labels: (hv.t, hv.v)}
    out = Matrix()
    for s in body.value:
        p = points.pop(s.labels, None)
        if p is None or (len(s.timestamps) and p[0] <= s.timestamps[-1]):
            out.append(s)
            continue
        out.append(
            RangeSeries(
                s.labels, np.append(s.timestamps, np.int64(p[0])), np.append(s.values, p[1])
            )
        )
    for labels, (t, v) in points.items():
        out.append(RangeSeries(labels, np.array([t], np.int64), np.array([v], np.float64)))
    return QueryResult(out, body.warnings, body.infos)
