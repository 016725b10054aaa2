"""The storage boundary: the only store names the rest of nightowl imports.

Writes go through an :class:`Appender` (scrapers, rule evaluation, imports);
reads go through a :class:`Querier` (the PromQL engine, the HTTP API's series
and label endpoints, `nightowl export`). Nothing above `store/` sees SQL.

`Querier` methods are synchronous and CPU/IO-bound: the engine calls them from
its own worker thread, never from the asyncio event loop. `Appender.append` is
async: it hands the batch to the writer thread and resolves once the batch is
committed (one transaction per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from nightowl.model import Labels, Matcher, MetricMeta, SampleBatch

__all__ = [
    "AppendResult",
    "Appender",
    "Querier",
    "RollupData",
    "SeriesData",
]


@dataclass(slots=True)
class AppendResult:
    """What happened to the samples of one appended batch.

    Every sample is counted in exactly one field.
    """

    accepted: int = 0
    out_of_order: int = 0
    """Older than the newest sample of its series and outside the out-of-order window."""
    duplicate: int = 0
    """Same timestamp as a stored sample but a different value (an equal value is accepted
    silently as a no-op and counted in `accepted`)."""
    over_limit: int = 0
    """Dropped because a new series would exceed a cardinality limit."""
    series_created: int = 0
    """New series created by this batch (not a sample count)."""
    errors: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Samples not stored."""
        return self.out_of_order + self.duplicate + self.over_limit


@dataclass(slots=True)
class SeriesData:
    """One series' raw samples in [mint, maxt], sorted by time.

    `timestamps` is int64 Unix ms, `values` float64; staleness markers are kept
    as their NaN bit pattern (see `nightowl.model.stale_mask`). The arrays may be
    read-only views shared with the store's cache of decoded chunks: copy them
    before modifying in place.
    """

    labels: Labels
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(slots=True)
class RollupData:
    """One series' downsampled buckets at a fixed resolution (5 m or 1 h).

    Bucket i covers [starts[i], starts[i] + resolution_ms); `count` is the
    number of raw samples in it (staleness markers excluded), `last_t` the
    timestamp of the last one.
    """

    labels: Labels
    resolution_ms: int
    starts: np.ndarray
    min: np.ndarray
    max: np.ndarray
    sum: np.ndarray
    count: np.ndarray
    last: np.ndarray
    last_t: np.ndarray


@runtime_checkable
class Appender(Protocol):
    """Where samples go. Implemented by the store's writer and by the in-memory store."""

    async def append(self, batch: SampleBatch) -> AppendResult:
        """Store one batch in one transaction and report per-sample outcomes."""
        ...


@runtime_checkable
class Querier(Protocol):
    """Read access to series. Synchronous; call it from a worker thread."""

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        """Series matching all `matchers` with their samples in [mint, maxt] (ms, inclusive).

        Series without samples in the range are omitted.
        """
        ...

    def series(
        self, matchers: Sequence[Matcher], mint: int | None = None, maxt: int | None = None
    ) -> list[Labels]:
        """Label sets of matching series that have samples in the range (None: unbounded)."""
        ...

    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted label names present on matching series."""
        ...

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted values of label `name` on matching series."""
        ...

    def metadata(self, metric: str | None = None) -> dict[str, MetricMeta]:
        """Metadata by metric family name (one family when `metric` is given)."""
        ...

    def rollups(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, resolution_ms: int
    ) -> list[RollupData] | None:
        """Downsampled buckets fully inside [mint, maxt], or None when no rollup of that
        resolution covers the range (the caller then reads raw samples)."""
        ...
