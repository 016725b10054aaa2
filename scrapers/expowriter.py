"""OpenMetrics 1.0 text writer, for `nightowl export` (and anything that serves raw samples).

The output is what :mod:`nightowl.scrapers.exposition` and
`promtool tsdb create-blocks-from openmetrics` read back: metric families
grouped with their `# TYPE` / `# UNIT` / `# HELP` lines first, one line per
sample with its timestamp in seconds (exactly three decimals, so any
millisecond timestamp round-trips exactly, 1970 and before included), values
written as the shortest text that reads back to the same float64 (`NaN`,
`+Inf`, `-Inf` for the special values), and `# EOF` at the end.

The staleness marker cannot be written: OpenMetrics has no way to express it
(it is a NaN with a special bit pattern, and `NaN` in the text reads back as an
ordinary NaN). :class:`OpenMetricsWriter` therefore skips staleness markers and
counts them in :attr:`OpenMetricsWriter.stale_skipped`, as Prometheus's own
federation endpoint does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from nightowl.model import METRIC_NAME, Labels, MetricMeta, MetricType, stale_mask

__all__ = [
    "OpenMetricsWriter",
    "family_of",
    "format_labels",
    "format_timestamp",
    "format_value",
]

_METRIC_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
_LABEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Sample-name suffixes each family type may carry (OpenMetrics and Prometheus text).
_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count", "_created"),
    MetricType.GAUGE_HISTOGRAM: ("_bucket", "_gsum", "_gcount"),
    MetricType.SUMMARY: ("_sum", "_count", "_created"),
    MetricType.INFO: ("_info",),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _valid_metric_name(name: str) -> bool:
    return bool(name) and not name[0].isdigit() and set(name) <= _METRIC_NAME_CHARS


def _valid_label_name(name: str) -> bool:
    return bool(name) and not name[0].isdigit() and set(name) <= _LABEL_NAME_CHARS


def format_labels(labels: Labels) -> str:
    """The series text of `labels`: `name{a="1",b="2"}` (no spaces, OpenMetrics style).

    Names outside the classic character set are written quoted
    (`{"my.metric",a="1"}`), which the parser reads back.
    """
    name = labels.name
    parts = []
    for k, v in labels:
        if k == METRIC_NAME:
            continue
        key = k if _valid_label_name(k) else f'"{_escape(k)}"'
        parts.append(f'{key}="{_escape(v)}"')
    if _valid_metric_name(name):
        return f"{name}{{{','.join(parts)}}}" if parts else name
    return "{" + ",".join([f'"{_escape(name)}"', *parts]) + "}"


def format_value(v: float) -> str:
    """A float64 as OpenMetrics text that reads back bit-exactly (NaN: the ordinary NaN)."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v)) if v or math.copysign(1.0, v) > 0 else "-0.0"
    return repr(v)


def format_timestamp(ms: int) -> str:
    """Unix milliseconds as OpenMetrics seconds with three decimals (`-0.001` for -1 ms)."""
    sign = "-" if ms < 0 else ""
    q, r = divmod(abs(ms), 1000)
    return f"{sign}{q}.{r:03d}"


def family_of(name: str, metadata: dict[str, MetricMeta]) -> str:
    """The metric family a sample name belongs to, given the known metadata.

    `foo_total` belongs to counter `foo` when `foo` is a known counter family;
    `x_bucket` to histogram `x`; otherwise the name is its own family.
    """
    if name in metadata:
        return name
    for suffix in ("_total", "_created", "_bucket", "_sum", "_count", "_gsum", "_gcount", "_info"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            meta = metadata.get(base)
            if meta is not None and suffix in _SUFFIXES.get(meta.type, ()):
                return base
    return name


class OpenMetricsWriter:
    """Writes families of series to a binary stream as OpenMetrics text.

    Usage::

        w = OpenMetricsWriter(out)
        w.family("up", MetricMeta(MetricType.GAUGE, "Target up."))
        w.series(labels, timestamps_ms, values)
        w.close()  # writes "# EOF"

    Call :meth:`family` before the series of each family (families must not
    interleave in OpenMetrics); a family with no metadata may be skipped.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.samples_written = 0
        self.series_written = 0
        self.stale_skipped = 0
        self._families: set[str] = set()

    def family(self, name: str, meta: MetricMeta | None) -> None:
        """Start family `name`: its TYPE, UNIT and HELP lines (only those that are set)."""
        if name in self._families:
            raise ValueError(f"family {name!r} written twice")
        self._families.add(name)
        if meta is None:
            return
        shown = name if _valid_metric_name(name) else f'"{_escape(name)}"'
        lines = []
        if meta.type is not MetricType.UNKNOWN:
            lines.append(f"# TYPE {shown} {meta.type.value}\n")
        if meta.unit and name.endswith("_" + meta.unit):
            lines.append(f"# UNIT {shown} {meta.unit}\n")
        if meta.help:
            lines.append(f"# HELP {shown} {_escape(meta.help)}\n")
        if lines:
            self.out.write("".join(lines).encode("utf-8"))

    def series(self, labels: Labels, timestamps: np.ndarray, values: np.ndarray) -> None:
        """Write every sample of one series (timestamps int64 ms, values float64)."""
        ts = np.asarray(timestamps, np.int64)
        vs = np.asarray(values, np.float64)
        stale = stale_mask(vs)
        if stale.any():
            self.stale_skipped += int(stale.sum())
            keep = ~stale
            ts, vs = ts[keep], vs[keep]
        if not len(ts):
            return
        prefix = format_labels(labels) + " "
        self.out.write(_render(prefix, ts, vs).encode("utf-8"))
        self.samples_written += len(ts)
        self.series_written += 1

    def close(self) -> None:
        """End the exposition with `# EOF`."""
        self.out.write(b"# EOF\n")


def _render(prefix: str, ts: np.ndarray, vs: np.ndarray) -> str:
    # Values: integers (the common case for counters) as ints, the rest by repr.
    finite = np.isfinite(vs)
    if finite.all() and np.all(np.abs(vs) < 1e15) and np.all(vs == np.floor(vs)):
        if np.any((vs == 0) & np.signbit(vs)):
            vstr = [format_value(v) for v in vs.tolist()]
        else:
            vstr = [str(v) for v in vs.astype(np.int64).tolist()]
    else:
        vstr = [format_value(v) for v in vs.tolist()]
    # Timestamps: seconds with 3 decimals, from integer ms.
    if ts.min() >= 0:
        q, r = np.divmod(ts, 1000)
        tstr = [f"{a}.{b:03d}" for a, b in zip(q.tolist(), r.tolist(), strict=True)]
    else:
        tstr = [format_timestamp(t) for t in ts.tolist()]
    return "".join([f"{prefix}{v} {t}\n" for v, t in zip(vstr, tstr, strict=True)])


def write_families(
    out: BinaryIO,
    items: Iterable[tuple[Labels, np.ndarray, np.ndarray]],
    metadata: dict[str, MetricMeta],
) -> OpenMetricsWriter:
    """Group `items` (labels, ts, values) by family and write them all, then `# EOF`."""
    groups: dict[str, list[tuple[Labels, np.ndarray, np.ndarray]]] = {}
    for item in items:
        groups.setdefault(family_of(item[0].name, metadata), []).append(item)
    w = OpenMetricsWriter(out)
    for fam in sorted(groups):
        w.family(fam, metadata.get(fam))
        for labels, ts, vs in sorted(groups[fam], key=lambda it: it[0]):
            w.series(labels, ts, vs)
    w.close()
    return w
