"""Query results -> series to draw. Presentation only: no evaluation here."""

from __future__ import annotations

import numpy as np
from nightowl.query.values import Matrix, QueryResult, Scalar, String, Vector
from nightowl.tui.dashboards import legend_name
from nightowl.tui.plot import PlotSeries

__all__ = ["series_from_result"]


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
