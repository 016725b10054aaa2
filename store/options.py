"""Plain-value settings of a store and the counters it exposes.

:class:`StoreOptions` mirrors the `[storage]` config section (the config layer
turns `retention_time = "15d"` into milliseconds and hands plain values here).
:class:`StoreStats` is what `Store.stats()` returns: monotonic counters since
the store was opened plus a few gauges, ready to be exported as self-metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = [
    "CHUNK_WINDOW_MS",
    "ROLLUP_RESOLUTIONS",
    "DatabaseStats",
    "StoreOptions",
    "StoreStats",
]

#: Samples of one series are sealed into one chunk per aligned window of this length.
CHUNK_WINDOW_MS = 4 * 3_600_000
#: Rollup resolutions built during compaction: 5 minutes and 1 hour.
ROLLUP_RESOLUTIONS = (300_000, 3_600_000)


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How a store keeps its data. Zero means "no limit" for every limit.

    Names mirror the `[storage]` config keys.
    """

    retention_time_ms: int = 15 * 86_400_000
    """Drop data older than the newest sample minus this (`retention_time`; 0 keeps all)."""
    retention_size_bytes: int = 0
    """Drop the oldest windows while the database is bigger than this (`retention_size`)."""
    out_of_order_window_ms: int = 0
    """Accept samples up to this much older than their series' newest one
    (`out_of_order_time_window`)."""
    max_series: int = 0
    """Refuse new series beyond this many in total (`max_series`)."""
    max_series_per_metric: int = 0
    """Refuse new series of one metric name beyond this many (`max_series_per_metric`)."""
    compaction_interval_ms: int = 60_000
    """How often the background compactor runs (0: only on `compact()`)."""
    rollup_5m_after_ms: int = 40 * 3_600_000
    """Build 5 m rollups for windows that ended this long before the newest sample."""
    rollup_1h_after_ms: int = 10 * 86_400_000
    """Build 1 h rollups for windows that ended this long before the newest sample."""

    def __post_init__(self) -> None:
        for name in (
            "retention_time_ms",
            "retention_size_bytes",
            "out_of_order_window_ms",
            "max_series",
            "max_series_per_metric",
            "compaction_interval_ms",
            "rollup_5m_after_ms",
            "rollup_1h_after_ms",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"StoreOptions.{name} must be a non-negative int, not {value!r}")


@dataclass(slots=True)
class StoreStats:
    """Counters since the store was opened, and gauges of its current state."""

    samples_appended: int = 0
    samples_out_of_order: int = 0
    samples_duplicate: int = 0
    samples_over_limit: int = 0
    series_created: int = 0
    batches_appended: int = 0
    compactions: int = 0
    chunks_written: int = 0
    head_samples_sealed: int = 0
    rollup_blocks_written: int = 0
    retention_chunks_deleted: int = 0
    retention_series_deleted: int = 0
    series: int = 0
    """Gauge: series known to the writer."""
    newest_sample_ms: int | None = None
    """Gauge: the newest sample timestamp in the database."""

    def as_dict(self) -> dict[str, int | None]:
        """The fields as a plain dict (for self-metrics and JSON)."""
        return asdict(self)


@dataclass(slots=True)
class DatabaseStats:
    """What `nightowl db stats` shows about one database file."""

    path: str
    schema_version: int
    series: int
    samples: int
    head_samples: int
    chunks: int
    rollup_rows: int
    oldest_ms: int | None
    newest_ms: int | None
    file_sizes: dict[str, int]
    top_metrics: list[tuple[str, int]]
    """(metric name, series count), largest first."""

    @property
    def total_bytes(self) -> int:
        """Bytes of every file SQLite keeps for the database."""
        return sum(self.file_sizes.values())

    @property
    def bytes_per_sample(self) -> float | None:
        """Total bytes over samples (None for an empty database)."""
        return self.total_bytes / self.samples if self.samples else None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["top_metrics"] = [{"metric": m, "series": n} for m, n in self.top_metrics]
        d["total_bytes"] = self.total_bytes
        d["bytes_per_sample"] = self.bytes_per_sample
        return d
