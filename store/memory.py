"""An in-memory store implementing `Appender` and `Querier`.

Used by the PromQL conformance runner (`query.promqltest`), rule unit tests
(`nightowl test rules`) and unit tests: anything that needs a store for a few
thousand samples without a file. Semantics match the SQLite store: samples of
a series are kept sorted by time; a sample whose timestamp already exists is a
no-op when the value is bit-identical and a rejected duplicate otherwise;
out-of-order samples are accepted (there is no head to protect here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from nightowl.store.api import AppendResult, RollupData, SeriesData

from nightowl.model import Labels, Matcher, MetricMeta, SampleBatch

__all__ = ["MemoryStore"]


class _Series:
    __slots__ = ("dirty", "labels", "t", "ts", "v", "vs")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.ts: list[int] = []
        self.vs: list[float] = []
        self.t = np.empty(0, np.int64)
        self.v = np.empty(0, np.float64)
        self.dirty = False

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.dirty:
            t = np.concatenate([self.t, np.array(self.ts, np.int64)])
            v = np.concatenate([self.v, np.array(self.vs, np.float64)])
            order = np.argsort(t, kind="stable")
            self.t, self.v = t[order], v[order]
            self.ts, self.vs = [], []
            self.dirty = False
        return self.t, self.v


class MemoryStore:
    """A dict of series to sorted numpy arrays. Not thread-safe for concurrent writes."""

    def __init__(self) -> None:
        self._series: dict[Labels, _Series] = {}
        self._meta: dict[str, MetricMeta] = {}

    # -- writing -------------------------------------------------------------

    async def append(self, batch: SampleBatch) -> AppendResult:
        """Store a batch (see :meth:`append_sync`)."""
        return self.append_sync(batch)

    def append_sync(self, batch: SampleBatch) -> AppendResult:
        """Store a batch synchronously and report what happened to each sample."""
        result = AppendResult()
        self._meta.update(batch.metadata)
        pending: dict[int, dict[int, int]] = {}
        vbits = batch.values.view(np.uint64)
        for ref, t, v, bits in zip(
            batch.refs.tolist(),
            batch.timestamps.tolist(),
            batch.values.tolist(),
            vbits.tolist(),
            strict=True,
        ):
            labels = batch.series[ref]
            s = self._series.get(labels)
            if s is None:
                s = self._series[labels] = _Series(labels)
                result.series_created += 1
            seen = pending.setdefault(id(s), {})
            if t in seen:
                if seen[t] != bits:
                    result.duplicate += 1
                else:
                    result.accepted += 1
                continue
            st, sv = s.arrays()
            i = int(np.searchsorted(st, t))
            if i < len(st) and st[i] == t:
                if sv[i : i + 1].view(np.uint64)[0] != bits:
                    result.duplicate += 1
                else:
                    result.accepted += 1
                continue
            seen[t] = bits
            s.ts.append(t)
            s.vs.append(v)
            s.dirty = True
            result.accepted += 1
        return result

    def add_series(
        self, labels: Labels, timestamps: Iterable[int], values: Iterable[float]
    ) -> None:
        """Append many samples of one series at once (test and runner convenience)."""
        s = self._series.get(labels)
        if s is None:
            s = self._series[labels] = _Series(labels)
        s.ts.extend(timestamps)
        s.vs.extend(values)
        s.dirty = True

    def set_metadata(self, family: str, meta: MetricMeta) -> None:
        """Record metadata for a metric family."""
        self._meta[family] = meta

    def clear(self) -> None:
        """Drop every series and all metadata."""
        self._series.clear()
        self._meta.clear()

    # -- reading -------------------------------------------------------------

    def _matching(self, matchers: Sequence[Matcher]) -> list[_Series]:
        return [
            s
            for labels, s in self._series.items()
            if all(m.matches(labels.get(m.name)) for m in matchers)
        ]

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        """Matching series with their samples in [mint, maxt]."""
        out = []
        for s in self._matching(matchers):
            t, v = s.arrays()
            lo = int(np.searchsorted(t, mint, "left"))
            hi = int(np.searchsorted(t, maxt, "right"))
            if hi > lo:
                out.append(SeriesData(s.labels, t[lo:hi], v[lo:hi]))
        out.sort(key=lambda d: d.labels)
        return out

    def series(
        self, matchers: Sequence[Matcher], mint: int | None = None, maxt: int | None = None
    ) -> list[Labels]:
        """Label sets of matching series with samples in the range."""
        lo = -(2**63) if mint is None else mint
        hi = 2**63 - 1 if maxt is None else maxt
        return [d.labels for d in self.select(matchers, lo, hi)]

    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted label names on matching series."""
        names = {k for labels in self.series(matchers, mint, maxt) for k, _ in labels}
        return sorted(names)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted values of label `name` on matching series."""
        values = {labels.get(name) for labels in self.series(matchers, mint, maxt)}
        values.discard("")
        return sorted(values)

    def metadata(self, metric: str | None = None) -> dict[str, MetricMeta]:
        """Metadata by family name."""
        if metric is None:
            return dict(self._meta)
        return {metric: self._meta[metric]} if metric in self._meta else {}

    def rollups(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, resolution_ms: int
    ) -> list[RollupData] | None:
        """The memory store keeps no rollups: callers read raw samples."""
        return None
