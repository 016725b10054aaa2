"""`/federate`: the newest sample of every matching series, in Prometheus text format.

As Prometheus's federation handler: each `match[]` selector is evaluated at
`now` with the 5-minute lookback; a series whose newest sample is a staleness
marker (or older than the lookback) is left out; every line carries its
timestamp in ms; external labels are added to series that lack them; families
come out sorted by name, each after a `# TYPE name untyped` line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from nightowl.scrapers.expowriter import format_labels, format_value

from nightowl.model import METRIC_NAME, Labels, Matcher, is_stale

__all__ = ["LOOKBACK_MS", "federate"]

#: How far back the newest sample may be (Prometheus's default lookback delta).
LOOKBACK_MS = 300_000


def federate(
    querier: object,
    matcher_sets: Sequence[Sequence[Matcher]],
    now_ms: int,
    *,
    external_labels: Mapping[str, str] | None = None,
    lookback_ms: int = LOOKBACK_MS,
) -> str:
    """The federation text of the series matching any of `matcher_sets` at `now_ms`."""
    newest: dict[Labels, tuple[int, float]] = {}
    for matchers in matcher_sets:
        for sd in querier.select(matchers, now_ms - lookback_ms + 1, now_ms):  # type: ignore[attr-defined]
            if sd.labels in newest or not len(sd.timestamps):
                continue
            t = int(sd.timestamps[-1])
            v = float(np.float64(sd.values[-1]))
            if is_stale(v):
                continue
            newest[sd.labels] = (t, v)
    extra = dict(external_labels or {})
    rows: list[tuple[str, str, str]] = []
    for labels, (t, v) in newest.items():
        if extra:
            d = dict(labels)
            for k, val in extra.items():
                d.setdefault(k, val)
            labels = Labels.from_dict(d)
        rows.append((labels.get(METRIC_NAME), format_labels(labels), f"{format_value(v)} {t}"))
    rows.sort()
    out: list[str] = []
    family = None
    for name, series, sample in rows:
        if name != family:
            out.append(f"# TYPE {name} untyped")
            family = name
        out.append(f"{series} {sample}")
    return "\n".join(out) + ("\n" if out else "")
