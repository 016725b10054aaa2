"""Scrape loops: fetch a page on a jittered interval and hand one batch per scrape to the store.

:class:`BaseLoop` holds what every scraped target shares, whatever it scrapes:

* scheduling: the first scrape happens at the target's stable offset into the
  interval (:meth:`~nightowl.scrapers.target.Target.offset_ms`), then every
  interval; a tick missed because the store was slow is skipped, not queued;
* turning a parsed page into samples: target labels merged in (`honor_labels`
  or `exported_` prefixing, as Prometheus), `metric_relabel_configs`, secret
  redaction, label limits, `sample_limit` (fail, or truncate), timestamps
  (`honor_timestamps`). The per-series work is cached by the scraped labels, so a
  repeat scrape costs a dict lookup per series plus numpy work per sample;
* the synthetic series Prometheus writes per scrape: `up`,
  `scrape_duration_seconds`, `scrape_samples_scraped`,
  `scrape_samples_post_metric_relabeling`, `scrape_series_added`;
* staleness markers (:data:`~nightowl.model.STALE_NAN`) for series that
  disappeared since the previous scrape, for every series when a scrape fails,
  and for everything (synthetic series included) when the loop is stopped;
* the target's health for the targets view (:meth:`BaseLoop.status`).

Every scrape becomes exactly one :class:`~nightowl.model.SampleBatch` (data,
stale markers and synthetic series together) handed to an
:class:`~nightowl.store.api.Appender`.

:class:`ScrapeLoop` fetches over HTTP with an `httpx.AsyncClient` (owned by the
manager, one per job; tests inject a transport): Prometheus's Accept header,
gzip, auth from the config or files, the scrape timeout over the *whole*
request (a target dripping bytes cannot hold a loop past its timeout), and a
body size limit checked while reading. The host scraper (`scrapers.host`)
subclasses :class:`BaseLoop` with a different `collect`.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nightowl.scrapers import exposition
from nightowl.scrapers.target import ScrapeOptions, Target
from nightowl.store.api import Appender

from nightowl import __version__
from nightowl.errors import NightowlError, ParseError
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
from nightowl.timeutil import now_ms

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ACCEPT_HEADER",
    "REPORT_METRICS",
    "BaseLoop",
    "Page",
    "ScrapeError",
    "ScrapeLoop",
]

log = logging.getLogger("nightowl.scrapers")

#: The Accept header Prometheus sends: OpenMetrics preferred, text 0.0.4 as fallback.
ACCEPT_HEADER = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,"
    "*/*;q=0.1"
)

#: The synthetic per-scrape series, with their metadata.
REPORT_METRICS: dict[str, MetricMeta] = {
    "up": MetricMeta(MetricType.GAUGE, "Health of the scrape: 1 if it succeeded, 0 if not."),
    "scrape_duration_seconds": MetricMeta(MetricType.GAUGE, "Duration of the scrape in seconds."),
    "scrape_samples_scraped": MetricMeta(MetricType.GAUGE, "Number of samples the target exposed."),
    "scrape_samples_post_metric_relabeling": MetricMeta(
        MetricType.GAUGE, "Number of samples remaining after metric relabeling was applied."
    ),
    "scrape_series_added": MetricMeta(
        MetricType.GAUGE, "Number of series in this scrape that were not in the previous one."
    ),
}

_DROPPED = Labels()


class ScrapeError(NightowlError):
    """One scrape failed (HTTP status, timeout, limits, parse error). Recorded, never raised out."""


@dataclass(slots=True)
class Page:
    """A scraped page in columnar form, before target labels and relabeling.

    `refs[i]` indexes `series` for sample i; `timestamps[i]` is Unix ms when
    `has_timestamp[i]`, otherwise the scrape's own time is used.
    """

    series: list[Labels]
    refs: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray | None = None
    has_timestamp: np.ndarray | None = None
    metadata: dict[str, MetricMeta] = field(default_factory=dict)

    @classmethod
    def from_pairs(
        cls, pairs: list[tuple[Labels, float]], metadata: dict[str, MetricMeta] | None = None
    ) -> Page:
        """A page of distinct series with one value each and no timestamps."""
        return cls(
            [p[0] for p in pairs],
            np.arange(len(pairs), dtype=np.int64),
            np.fromiter((p[1] for p in pairs), np.float64, len(pairs)),
            metadata=dict(metadata or {}),
        )

    def __len__(self) -> int:
        return len(self.refs)


class _SeriesError(Exception):
    """A scraped series breaks a label limit; fails the whole scrape."""


class BaseLoop(abc.ABC):
    """The scheduling, sample processing, staleness and health of one scrape target.

    Subclasses implement :meth:`collect`, returning the target's current
    :class:`Page` (or raising :class:`ScrapeError`).

    Args:
        target: What to scrape (its labels go on every series).
        options: The job's options (limits, relabeling, honor_* flags).
        appender: Where each scrape's batch goes.
        clock: Returns the scrape timestamp in Unix ms (tests pin it).
    """

    def __init__(
        self,
        target: Target,
        options: ScrapeOptions,
        appender: Appender,
        *,
        clock: Callable[[], int] = now_ms,
        offset_seed: int = 0,
    ) -> None:
        self.target = target
        self.options = options
        self.appender = appender
        self._clock = clock
        self._offset_seed = offset_seed
        self._cache: dict[Labels, Labels] = {}
        self._prev_series: set[Labels] = set()
        self._seen: set[Labels] = set()
        self._last_raw: list[Labels] | None = None
        self._last_map: tuple[np.ndarray, list[Labels]] = (np.empty(0, np.int64), [])
        self._steady: set[Labels] | None = None
        self._report_labels = {
            name: Labels((*target.labels, (METRIC_NAME, name))) for name in REPORT_METRICS
        }
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._health = TargetHealth.UNKNOWN
        self._last_scrape_ms: int | None = None
        self._last_duration = 0.0
        self._last_error = ""
        self._last_ts = 0
        self._scrapes = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start scraping on the target's schedule (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"scrape {self.target.job} {self.target.url}"
            )

    async def stop(self, *, mark_stale: bool = True) -> None:
        """Stop the loop; with `mark_stale`, end every series it wrote with a staleness marker."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if mark_stale and (self._prev_series or self._scrapes):
            stale = list(self._prev_series)
            if self._scrapes:
                stale.extend(self._report_labels.values())
            self._prev_series = set()
            self._steady = None
            self._last_raw = None
            if stale:
                t = max(self._clock(), self._last_ts + 1)
                batch = SampleBatch(
                    stale,
                    np.arange(len(stale), dtype=np.int64),
                    np.full(len(stale), t, np.int64),
                    np.full(len(stale), STALE_NAN, np.float64),
                )
                try:
                    await self.appender.append(batch)
                except Exception as exc:  # the store is going away too; say so and go on
                    log.warning("stale markers for %s not written: %s", self.target.url, exc)

    def adopt_state(self, other: BaseLoop) -> None:
        """Continue where `other` (the same target, reconfigured) left off: no staleness gap."""
        self._prev_series = other._prev_series
        self._seen = other._seen
        self._scrapes = other._scrapes
        self._health = other._health
        self._last_scrape_ms = other._last_scrape_ms
        self._last_duration = other._last_duration
        self._last_error = other._last_error
        self._last_ts = other._last_ts

    def update_options(self, options: ScrapeOptions) -> None:
        """Take new job options on reload, keeping state; the label cache is rebuilt."""
        if options != self.options or options.redactor is not self.options.redactor:
            self.options = options
            self._cache.clear()
            self._last_raw = None
            self._steady = None

    async def run(self) -> None:
        """Scrape on schedule until cancelled."""
        loop = asyncio.get_running_loop()
        interval = self.target.interval_ms / 1000
        offset = self.target.offset_ms(self._offset_seed) / 1000
        wall = time.time()
        first_wait = (offset - wall % interval) % interval
        next_at = loop.time() + first_wait
        while not self._stopping:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.scrape_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the loop; record it
                log.exception("scrape of %s crashed", self.target.url)
                self._health = TargetHealth.DOWN
                self._last_error = f"internal error: {exc!r}"
            next_at += interval
            now = loop.time()
            if next_at <= now:  # missed ticks: skip them, keep the phase
                next_at += math.ceil((now - next_at) / interval) * interval

    # -- one scrape ----------------------------------------------------------

    @abc.abstractmethod
    async def collect(self) -> Page:
        """Fetch and parse the target's page (raise :class:`ScrapeError` on failure)."""

    async def scrape_once(self) -> SampleBatch:
        """Do one scrape now: collect, process, append. Returns the batch appended."""
        ts = self._clock()
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        start = time.perf_counter()
        error = ""
        page: Page | None = None
        try:
            page = await self.collect()
        except ScrapeError as exc:
            error = exc.message
        except OSError as exc:
            error = _describe(exc, self.target.url)
        duration = time.perf_counter() - start
        total = len(page) if page is not None else 0
        batch_parts: tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray] | None = None
        added = 0
        series_added = 0
        metadata: dict[str, MetricMeta] = {}
        current: set[Labels] = set()
        if page is not None:
            try:
                batch_parts, current, added, series_added, note = self._process(page, ts)
                metadata = page.metadata
                if note:
                    error = note
            except (ScrapeError, _SeriesError) as exc:
                error = str(exc)
                batch_parts = None
                current = set()
                added = _count_added(exc)
        up = 1.0 if batch_parts is not None else 0.0
        if batch_parts is None:
            self._seen = set()
            self._steady = None
        if current is self._prev_series:
            stale: list[Labels] = []
        else:
            stale = [s for s in self._prev_series if s not in current]
        self._prev_series = current
        batch = self._build_batch(batch_parts, stale, ts, up, duration, total, added, series_added)
        batch.metadata = {**metadata, **REPORT_METRICS} if metadata else dict(REPORT_METRICS)
        try:
            result = await self.appender.append(batch)
            if result.errors and not error:
                error = "store: " + "; ".join(result.errors[:3])
        except Exception as exc:
            error = f"store append failed: {exc}"
            up = 0.0
        self._scrapes += 1
        self._last_ts = ts
        self._last_scrape_ms = ts
        self._last_duration = duration
        self._last_error = error
        self._health = TargetHealth.UP if up == 1.0 else TargetHealth.DOWN
        return batch

    def _process(
        self, page: Page, ts: int
    ) -> tuple[tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray], set[Labels], int, int, str]:
        """Map a page's series to final labels and build the data part of the batch.

        Steady state (the same series as last time, the usual case) reuses the
        previous scrape's series mapping and staleness set: one C-level list
        comparison instead of per-series Python work.
        """
        opts = self.options
        same = self._last_raw is not None and page.series == self._last_raw
        if same:
            mapping, out_series = self._last_map
        else:
            mapping, out_series = self._map_series(page.series)
            self._last_raw = page.series
            self._last_map = (mapping, out_series)
            self._steady = None
        refs = mapping[page.refs] if len(page.refs) else np.empty(0, np.int64)
        keep_mask = refs >= 0
        added = int(keep_mask.sum())
        note = ""
        if opts.sample_limit and added > opts.sample_limit:
            if opts.sample_limit_mode != "truncate":
                raise _SampleLimit(added, opts.sample_limit)
            cut = np.flatnonzero(keep_mask)[opts.sample_limit]
            keep_mask[cut:] = False
            note = f"sample_limit exceeded: kept the first {opts.sample_limit} of {added} samples"
        if opts.honor_timestamps and page.has_timestamp is not None and page.timestamps is not None:
            has_ts = page.has_timestamp
            timestamps = np.where(has_ts, page.timestamps, ts).astype(np.int64)
        else:
            has_ts = None
            timestamps = np.full(len(page.refs), ts, np.int64)
        values = page.values
        if not keep_mask.all():
            refs = refs[keep_mask]
            timestamps = timestamps[keep_mask]
            values = values[keep_mask]
            if has_ts is not None:
                has_ts = has_ts[keep_mask]
        # Staleness is tracked for series whose samples carry no explicit timestamp.
        steady = self._steady
        if same and steady is not None and keep_mask.all() and (has_ts is None or not has_ts.any()):
            return (out_series, refs, timestamps, values), steady, len(refs), 0, note
        if has_ts is not None and has_ts.any():
            tracked_refs = np.unique(refs[~has_ts])
            current = {out_series[r] for r in tracked_refs.tolist()}
            present_refs = np.unique(refs)
            present = [out_series[r] for r in present_refs.tolist()]
        elif keep_mask.all():
            current = set(out_series)
            present = out_series
        else:
            present = [out_series[r] for r in np.unique(refs).tolist()]
            current = set(present)
        seen = self._seen
        series_added = 0
        for s in present:
            if s not in seen:
                series_added += 1
        self._seen = set(present)
        if same and keep_mask.all() and (has_ts is None or not has_ts.any()):
            self._steady = current
        return (out_series, refs, timestamps, values), current, len(refs), series_added, note

    def _map_series(self, raws: list[Labels]) -> tuple[np.ndarray, list[Labels]]:
        """Final labels of each scraped series: (raw ref -> final ref or -1, distinct finals)."""
        cache = self._cache
        finals: list[Labels] = []
        for raw in raws:
            final = cache.get(raw)
            if final is None:
                final = cache[raw] = self._final_labels(raw)
            finals.append(final)
        if len(cache) > 2 * len(raws) + 1000:
            keep = set(raws)
            for key in [k for k in cache if k not in keep]:
                del cache[key]
        index: dict[Labels, int] = {}
        out_series: list[Labels] = []
        mapping = np.empty(len(finals), np.int64)
        for i, final in enumerate(finals):
            if final is _DROPPED or not final:
                mapping[i] = -1
                continue
            ref = index.get(final)
            if ref is None:
                ref = index[final] = len(out_series)
                out_series.append(final)
            mapping[i] = ref
        return mapping, out_series

    def _final_labels(self, raw: Labels) -> Labels:
        """Target labels + scraped labels -> metric relabeling -> redaction -> limits."""
        opts = self.options
        lb = dict(raw)
        if opts.honor_labels:
            for name, value in self.target.labels:
                if not lb.get(name):
                    lb[name] = value
        else:
            conflicts = []
            for name, value in self.target.labels:
                existing = lb.get(name, "")
                if existing:
                    conflicts.append((name, existing))
                lb[name] = value
            for name, value in conflicts:
                new = "exported_" + name
                while lb.get(new):
                    new = "exported_" + new
                lb[new] = value
        if opts.metric_relabel_rules:
            for rule in opts.metric_relabel_rules:
                if not rule.apply(lb):
                    return _DROPPED
        if opts.redactor is not None:
            lb = opts.redactor.redact_labels(lb)
        final = Labels(lb.items())
        if not final.name:
            return _DROPPED
        if opts.label_limit and len(final) > opts.label_limit:
            raise _SeriesError(
                f"label_limit exceeded (metric: {final.name}, number of labels: {len(final)}, "
                f"limit: {opts.label_limit})"
            )
        for name, value in final:
            if opts.label_name_length_limit and len(name) > opts.label_name_length_limit:
                raise _SeriesError(
                    f"label_name_length_limit exceeded (metric: {final.name}, label name: "
                    f"{name}, length: {len(name)}, limit: {opts.label_name_length_limit})"
                )
            if opts.label_value_length_limit and len(value) > opts.label_value_length_limit:
                raise _SeriesError(
                    f"label_value_length_limit exceeded (metric: {final.name}, label name: "
                    f"{name}, value: {value[:40]!r}, length: {len(value)}, "
                    f"limit: {opts.label_value_length_limit})"
                )
        return final

    def _build_batch(
        self,
        data: tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray] | None,
        stale: list[Labels],
        ts: int,
        up: float,
        duration: float,
        total: int,
        added: int,
        series_added: int,
    ) -> SampleBatch:
        if data is None:
            series: list[Labels] = []
            refs = np.empty(0, np.int64)
            tss = np.empty(0, np.int64)
            vals = np.empty(0, np.float64)
        else:
            series, refs, tss, vals = data
            series = list(series)
        base = len(series)
        report = self._report_labels
        extra = [*stale, *report.values()]
        series.extend(extra)
        report_values = [
            up,
            duration,
            float(total),
            float(added),
            float(series_added),
        ]
        n_extra = len(extra)
        return SampleBatch(
            series,
            np.concatenate([refs, np.arange(base, base + n_extra, dtype=np.int64)]),
            np.concatenate([tss, np.full(n_extra, ts, np.int64)]),
            np.concatenate(
                [vals, np.full(len(stale), STALE_NAN, np.float64), np.array(report_values)]
            ),
        )

    # -- state ---------------------------------------------------------------

    @property
    def health(self) -> TargetHealth:
        """UP after a good scrape, DOWN after a failed one, UNKNOWN before the first."""
        return self._health

    @property
    def last_error(self) -> str:
        """The last scrape's error ("" when it succeeded)."""
        return self._last_error

    def status(self) -> TargetStatus:
        """The target's state for the targets view and `/api/v1/targets`."""
        return TargetStatus(
            job=self.target.job,
            url=self.target.url,
            labels=self.target.labels,
            discovered_labels=self.target.discovered_labels,
            health=self._health,
            last_scrape_ms=self._last_scrape_ms,
            last_duration_s=self._last_duration,
            last_error=self._last_error,
            scrape_interval_ms=self.target.interval_ms,
            scrape_timeout_ms=self.target.timeout_ms,
            scrape_pool=self.target.job,
        )


class _SampleLimit(_SeriesError):
    def __init__(self, added: int, limit: int) -> None:
        super().__init__(f"sample_limit exceeded ({added} samples, limit {limit})")
        self.added = added


def _count_added(exc: Exception) -> int:
    return exc.added if isinstance(exc, _SampleLimit) else 0


def _describe(exc: Exception, url: str) -> str:
    text = str(exc) or type(exc).__name__
    return f'Get "{url}": {text}'


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ScrapeError(f"cannot read {path}: {exc.strerror or exc}") from exc


class ScrapeLoop(BaseLoop):
    """Scrapes one HTTP(S) target with a shared `httpx.AsyncClient`.

    Args:
        client: The job's client (TLS and transport configured by the manager),
            or None with `setup_error` when the client could not be built (every
            scrape then fails with that error, visibly).
        parse: `parse(body, content_type, ts)` -> :class:`Page`; defaults to
            :func:`parse_page` (the exposition parser).
    """

    def __init__(
        self,
        target: Target,
        options: ScrapeOptions,
        appender: Appender,
        client: httpx.AsyncClient | None,
        *,
        setup_error: str = "",
        clock: Callable[[], int] = now_ms,
        offset_seed: int = 0,
        parse: Callable[[bytes, str], Page] | None = None,
    ) -> None:
        super().__init__(target, options, appender, clock=clock, offset_seed=offset_seed)
        self.client = client
        self.setup_error = setup_error
        if parse is None:
            # One series cache per target: an unchanged page skips label parsing.
            cache = exposition.SeriesCache()
            parse = functools.partial(parse_page, cache=cache)
        self._parse = parse

    def _headers(self) -> dict[str, str]:
        opts = self.options
        headers = {
            "Accept": ACCEPT_HEADER,
            "Accept-Encoding": "gzip" if opts.enable_compression else "identity",
            "User-Agent": f"nightowl/{__version__}",
            "X-Prometheus-Scrape-Timeout-Seconds": _seconds(self.target.timeout_ms),
        }
        if opts.authorization is not None:
            az = opts.authorization
            cred = _read_secret(az.credentials_file) if az.credentials_file else az.credentials
            headers["Authorization"] = f"{az.type} {cred}"
        elif opts.basic_auth is not None:
            ba = opts.basic_auth
            pw = _read_secret(ba.password_file) if ba.password_file else ba.password
            token = base64.b64encode(f"{ba.username}:{pw}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers

    async def collect(self) -> Page:
        """GET the target within its timeout; parse the body."""
        if self.client is None:
            raise ScrapeError(self.setup_error or "no HTTP client")
        import httpx  # imported with the first HTTP scrape: a host-only nightowl never loads it

        timeout = self.target.timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout):
                body, content_type = await self._fetch()
        except httpx.HTTPError as exc:
            raise ScrapeError(_describe(exc, self.target.url)) from None
        except TimeoutError:
            raise ScrapeError(
                f'Get "{self.target.url}": context deadline exceeded '
                f"(scrape timeout {_seconds(self.target.timeout_ms)}s)"
            ) from None
        if len(body) > 1 << 20:
            # Big pages parse in a thread so the event loop stays responsive.
            return await asyncio.to_thread(self._parse, body, content_type)
        return self._parse(body, content_type)

    async def _fetch(self) -> tuple[bytes, str]:
        assert self.client is not None
        limit = self.options.body_size_limit
        extensions: dict[str, Any] = {}
        if self.options.tls.server_name:
            extensions["sni_hostname"] = self.options.tls.server_name
        request = self.client.build_request(
            "GET", self.target.url, headers=self._headers(), extensions=extensions
        )
        response = await self.client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise ScrapeError(
                    f"server returned HTTP status {response.status_code} "
                    f"{response.reason_phrase}".rstrip()
                )
            declared = response.headers.get("content-length")
            if (
                limit
                and declared
                and declared.isdigit()
                and "content-encoding" not in response.headers
                and int(declared) > limit
            ):
                raise ScrapeError(f"body size limit exceeded ({limit} bytes)")
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if limit and size > limit:
                    raise ScrapeError(f"body size limit exceeded ({limit} bytes)")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("content-type", "")
        finally:
            await response.aclose()


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}"


def parse_page(body: bytes, content_type: str, cache: exposition.SeriesCache | None = None) -> Page:
    """Parse an exposition body with `nightowl.scrapers.exposition` into a :class:`Page`.

    The Content-Type picks the format (OpenMetrics or text 0.0.4, as Prometheus
    does); without one the parser detects it. `cache` is the target's series
    cache, kept from scrape to scrape. Raises :class:`ScrapeError` naming the
    line on bad input.
    """
    if content_type.strip():
        openmetrics: bool | None = exposition.content_type_is_openmetrics(content_type)
    else:
        openmetrics = None
    try:
        parsed = exposition.parse(body, openmetrics=openmetrics, cache=cache)
    except ParseError as exc:
        raise ScrapeError(f"parse error: {exc}") from None
    return Page(
        parsed.series,
        parsed.refs,
        parsed.values,
        parsed.timestamps,
        parsed.has_timestamp,
        parsed.metadata,
    )
