"""Shared plumbing of the DevSecOps sources: logs, commands, JSON, reports and pushes.

Each of those sources turns something that is not a Prometheus endpoint into
samples. They share three small pieces, kept here so that each source module
reads as the one idea it implements:

- :class:`BatchBuilder` collects (name, labels, value) triples plus metric
  metadata and builds one columnar :class:`~nightowl.model.SampleBatch`;
- :class:`StaleTracker` remembers which series a source wrote last time and adds
  Prometheus staleness markers for the ones that disappeared, so that a series
  that vanishes from a report or a JSON document ends at once in PromQL instead
  of lingering for the 5 minute lookback;
- :class:`PeriodicSource` is the asyncio task (``start()`` / ``stop()`` or an
  awaited ``run()``) that collects on an interval, hands the batch to an
  :class:`~nightowl.store.api.Appender`, and keeps the per-source health the
  targets view shows (last error, last duration) as a
  :class:`~nightowl.model.TargetStatus`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import ClassVar

import numpy as np
from nightowl.store.api import Appender

from nightowl.errors import ConfigError
from nightowl.model import (
    METRIC_NAME,
    STALE_NAN,
    Labels,
    MetricMeta,
    MetricType,
    SampleBatch,
    TargetHealth,
    TargetStatus,
)
from nightowl.timeutil import Clock, SystemClock

__all__ = [
    "BatchBuilder",
    "PeriodicSource",
    "StaleTracker",
    "check_label_name",
    "check_metric_name",
    "format_label_value",
]

log = logging.getLogger("nightowl.scrapers")

_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_metric_name(name: object, where: str) -> str:
    """Return `name` if it is a valid Prometheus metric name, else raise ConfigError at `where`."""
    if not isinstance(name, str) or not _METRIC_NAME_RE.match(name):
        raise ConfigError(
            f"invalid metric name {name!r}: use letters, digits, '_' and ':', not starting "
            "with a digit",
            where=where,
        )
    return name


def check_label_name(name: object, where: str) -> str:
    """Return `name` if it is a valid label name (and not reserved `__...`), else ConfigError."""
    if not isinstance(name, str) or not _LABEL_NAME_RE.match(name) or name.startswith("__"):
        raise ConfigError(
            f"invalid label name {name!r}: use letters, digits and '_', not starting with a "
            "digit or '__'",
            where=where,
        )
    return name


def format_label_value(value: object) -> str:
    """Render a JSON-ish scalar as a label value: strings as-is, numbers as Prometheus prints them.

    `None` gives "" (the label is then absent); booleans give "true"/"false".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"not a scalar: {type(value).__name__}")


class BatchBuilder:
    """Collects samples at one timestamp (unless told otherwise) into a SampleBatch.

    Adding the same series twice keeps the last value, so a report listing the
    same vulnerability twice still yields one series.

    >>> b = BatchBuilder(1000)
    >>> b.add("up", {"job": "x"}, 1.0)
    >>> len(b.build())
    1
    """

    def __init__(self, t_ms: int) -> None:
        self.t_ms = t_ms
        self._samples: dict[Labels, tuple[int, float]] = {}
        self.metadata: dict[str, MetricMeta] = {}

    def add(
        self,
        name: str,
        labels: Mapping[str, str] | Labels | None = None,
        value: float = 0.0,
        *,
        t_ms: int | None = None,
    ) -> None:
        """Add one sample of metric `name` with `labels` (a mapping or Labels without a name)."""
        if labels is None:
            pairs: Iterable[tuple[str, str]] = ()
        else:
            pairs = labels.items() if isinstance(labels, Mapping) else labels
        key = Labels([*((k, v) for k, v in pairs if k != METRIC_NAME), (METRIC_NAME, name)])
        self._samples[key] = (self.t_ms if t_ms is None else t_ms, float(value))

    def add_labels(self, labels: Labels, value: float, *, t_ms: int | None = None) -> None:
        """Add one sample of a series given as full Labels (with `__name__`)."""
        self._samples[labels] = (self.t_ms if t_ms is None else t_ms, float(value))

    def meta(self, family: str, type_: MetricType, help_: str = "", unit: str = "") -> None:
        """Record the metadata of a metric family (first one wins)."""
        self.metadata.setdefault(family, MetricMeta(type_, help_, unit))

    def series(self) -> set[Labels]:
        """The series added so far."""
        return set(self._samples)

    def __len__(self) -> int:
        return len(self._samples)

    def build(self) -> SampleBatch:
        """The batch, in a stable (sorted) series order."""
        keys = sorted(self._samples)
        n = len(keys)
        ts = np.empty(n, np.int64)
        vs = np.empty(n, np.float64)
        for i, k in enumerate(keys):
            ts[i], vs[i] = self._samples[k]
        return SampleBatch(keys, np.arange(n, dtype=np.int64), ts, vs, dict(self.metadata))


class StaleTracker:
    """Adds staleness markers for the series a source stopped producing.

    Call :meth:`mark` with each new builder just before building it: every
    series written last time but absent now gets a STALE_NAN sample at the
    builder's timestamp.
    """

    def __init__(self) -> None:
        self._last: set[Labels] = set()

    def mark(self, builder: BatchBuilder) -> int:
        """Add stale markers to `builder`; returns how many were added."""
        now = builder.series()
        gone = self._last - now
        for labels in gone:
            builder.add_labels(labels, STALE_NAN)
        self._last = now
        return len(gone)


class PeriodicSource(abc.ABC):
    """Base of the sources that collect on an interval and append what they found.

    Subclasses implement :meth:`collect`; it returns a SampleBatch (possibly
    empty) and raises on failure. A failure never ends the task: it is logged,
    kept in :attr:`last_error`, and the next tick tries again. Subclasses that
    want failures visible as metrics catch them inside `collect` and emit an
    up-like series themselves (all of ours do).

    Args:
        name: The source's name from the config (unique per kind).
        appender: Where batches go.
        interval_ms: Time between collections.
        timeout_ms: Informational for the status; enforcing it is the subclass's job.
        clock: Wall clock for sample timestamps (tests pass a fake one).
    """

    kind: ClassVar[str] = "source"

    def __init__(
        self,
        name: str,
        appender: Appender,
        *,
        interval_ms: int,
        timeout_ms: int = 0,
        clock: Clock | None = None,
    ) -> None:
        if interval_ms <= 0:
            raise ConfigError(f"interval must be positive, got {interval_ms} ms", where=name)
        self.name = name
        self.appender = appender
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms
        self.clock: Clock = clock or SystemClock()
        self.last_error = ""
        self.last_run_ms: int | None = None
        self.last_duration_s = 0.0
        self.healthy: bool | None = None
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def collect(self, now_ms: int) -> SampleBatch:
        """Collect one round of samples at `now_ms`."""

    def describe(self) -> str:
        """What this source reads (a path, URL or argv), for the targets view."""
        return self.name

    async def collect_once(self) -> SampleBatch:
        """Run one collection and append its batch; returns the batch (empty on failure)."""
        now = self.clock.now_ms()
        started = time.perf_counter()
        try:
            batch = await self.collect(now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing source must never end its task
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.healthy = False
            log.warning("%s %r failed: %s", self.kind, self.name, self.last_error)
            batch = SampleBatch.empty()
        self.last_run_ms = now
        self.last_duration_s = time.perf_counter() - started
        if len(batch):
            try:
                result = await self.appender.append(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store failing must not end the source either
                self.last_error = f"store: {type(exc).__name__}: {exc}"
                log.warning("%s %r: storing failed: %s", self.kind, self.name, exc)
                return batch
            if result.errors:
                log.warning("%s %r: store: %s", self.kind, self.name, "; ".join(result.errors))
        return batch

    async def run(self) -> None:
        """Collect every `interval_ms` until cancelled (aligned to the interval, no drift)."""
        loop = asyncio.get_running_loop()
        period = self.interval_ms / 1000
        next_at = loop.time()
        while True:
            await self.collect_once()
            next_at += period
            delay = next_at - loop.time()
            if delay < 0:  # we fell behind: skip the missed ticks rather than bunching up
                next_at = loop.time() + period
                delay = period
            await asyncio.sleep(delay)

    def start(self) -> None:
        """Start :meth:`run` as a task on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"nightowl-{self.kind}-{self.name}"
            )

    async def stop(self) -> None:
        """Cancel the task and wait for it to finish."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.close()

    async def close(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release resources (files, clients). Called by :meth:`stop`."""

    def status(self) -> TargetStatus:
        """This source as a target for `/api/v1/targets` and the targets view."""
        if self.healthy is None:
            health = TargetHealth.UNKNOWN
        else:
            health = TargetHealth.UP if self.healthy else TargetHealth.DOWN
        labels = Labels.of(job=f"{self.kind}/{self.name}", instance=self.describe())
        return TargetStatus(
            job=f"{self.kind}/{self.name}",
            url=self.describe(),
            labels=labels,
            discovered_labels=labels,
            health=health,
            last_scrape_ms=self.last_run_ms,
            last_duration_s=self.last_duration_s,
            last_error=self.last_error,
            scrape_interval_ms=self.interval_ms,
            scrape_timeout_ms=self.timeout_ms,
            scrape_pool=self.kind,
        )
