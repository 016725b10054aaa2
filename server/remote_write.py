"""Prometheus remote write from the store to a cluster (`[[remote_write]]`).

Wiring (`server/daemon.py` does this)::

    mgr = RemoteWriteManager(store, config.remote_write, transport=None)
    errors = mgr.start()             # one sender thread per target; errors: list[str]
    errors = mgr.apply(new_configs)  # on reload: stops, starts, restarts changed targets
    mgr.stats()                      # list[RemoteWriteStats]
    render_stats(mgr.stats())        # the same as Prometheus text lines for /metrics
    mgr.stop()                       # blocking (call via asyncio.to_thread from async code)

`transport` is an httpx transport (tests pass their own); the progress file
defaults to ``<db>.remote-write`` beside a `Store` (in memory for other queriers).

How it works. A :class:`RemoteWriter` per target reads samples back from the
STORE, not from an in-memory tee, so an outage of the receiver or a restart of
nightowl loses nothing: every cycle (each `batch_send_deadline`) it selects
all series in a scan window of sample time, keeps the samples newer than each
series' *high-water mark* (the newest timestamp the receiver acknowledged for
that series), orders them by time, applies `write_relabel_configs`, and sends
them in requests of at most `max_samples_per_send`, each a snappy-compressed
protobuf `WriteRequest` (see `_rwproto`). A 2xx advances the marks of the
series in that request and persists them (`nightowl.store.progress`) before
the next request is built; 5xx, 429 and network errors retry the same request
with exponential backoff (`min_backoff` doubling to `max_backoff`) until it
succeeds or the writer stops; any other 4xx drops the request and counts its
samples as dropped (the receiver will never take them). A cycle with many
unsent samples (a catch-up) is split over shards, one per `SHARD_SAMPLES`
within `min_shards`..`max_shards`; every series belongs to one shard, and a
shard sends its samples in time order, one request at a time, so each series
reaches the receiver in order (`capacity` is accepted and unused: the scan
window bounds memory instead).

Exactly once, and its edges:

* Samples are sent once under normal operation, across outages and restarts:
  the marks are persisted after each acknowledged request.
* A crash (or kill) between a 2xx and the persisting of its marks resends
  that one request after the restart. Prometheus and VictoriaMetrics accept
  a resent identical sample silently (same timestamp, same value).
* The scan window starts `LATE_MS` (2 min) before the time everything was
  known sent, so a sample appended late (a slow scrape's timestamp is its
  start) is still found. A sample appended more than that after its own
  timestamp (an import of old data, the out-of-order window) is not sent, and
  neither is a sample older than its series' mark (it would be out of order
  for the receiver anyway).
* A new target starts at the time it is first started (`backfill_ms` earlier
  when asked); it does not replay the whole database.

Staleness markers are sent with their exact NaN bit pattern.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from nightowl.scrapers.relabel import compile_rules, relabel_labels
from nightowl.server import _rwproto
from nightowl.store.progress import ProgressStore

from nightowl import __version__
from nightowl.model import Labels
from nightowl.timeutil import now_ms

__all__ = [
    "LATE_MS",
    "SCAN_SLICE_MS",
    "SHARD_SAMPLES",
    "RemoteWriteManager",
    "RemoteWriteStats",
    "RemoteWriter",
    "render_stats",
    "target_name",
]

log = logging.getLogger(__name__)

#: How far before the "everything sent" point each scan starts again (late appends).
LATE_MS = 120_000
#: Most sample time one scan reads (bounds memory while catching up after an outage).
SCAN_SLICE_MS = 600_000
#: Samples per shard: a cycle with more unsent samples sends with more shards (up to
#: `max_shards`), each with its own series, concurrently.
SHARD_SAMPLES = 50_000
#: Marks below the scan window are forgotten every this many cycles.
_PRUNE_EVERY = 100

_PROTOCOL_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": f"nightowl/{__version__}",
}


def target_name(config: Any) -> str:
    """The target's name: `name`, else the URL without credentials, query or fragment."""
    return str(config.name) if config.name else _redact_url(config.url)


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _series_key(labels: Labels) -> str:
    """The persisted key of a series: its label pairs as compact JSON (any UTF-8 is safe)."""
    return json.dumps(list(labels), separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class RemoteWriteStats:
    """Self-metrics of one remote-write target (counters since start, except gauges)."""

    name: str
    url: str
    samples_sent: int = 0
    """Samples acknowledged with a 2xx."""
    samples_failed: int = 0
    """Samples in requests that failed with a retryable error (each failed attempt counts)."""
    samples_retried: int = 0
    """Samples sent again after a failed attempt."""
    samples_dropped: int = 0
    """Samples the receiver refused with a non-retryable 4xx (not sent again)."""
    samples_relabel_dropped: int = 0
    """Samples of series that `write_relabel_configs` dropped."""
    samples_pending: int = 0
    """Gauge: samples read from the store and not yet acknowledged."""
    highest_sent_timestamp_ms: int = 0
    """Gauge: newest sample timestamp acknowledged (0: none yet)."""
    requests: int = 0
    """Requests made (every attempt)."""
    bytes_sent: int = 0
    """Compressed request bytes of acknowledged requests."""
    last_error: str = ""
    """The most recent failure, for `nightowl` status output; empty when none."""


#: (field, metric name, type, help) of the self-metrics in `render_stats`.
_METRICS = (
    ("samples_sent", "samples_sent_total", "counter", "Samples acknowledged by the receiver."),
    ("samples_failed", "samples_failed_total", "counter", "Samples in failed attempts."),
    ("samples_retried", "samples_retried_total", "counter", "Samples sent again."),
    ("samples_dropped", "samples_dropped_total", "counter", "Samples refused with a 4xx."),
    (
        "samples_relabel_dropped",
        "samples_relabel_dropped_total",
        "counter",
        "Samples dropped by write_relabel_configs.",
    ),
    ("samples_pending", "samples_pending", "gauge", "Samples read and not yet acknowledged."),
    (
        "highest_sent_timestamp_ms",
        "highest_sent_timestamp_seconds",
        "gauge",
        "Newest sample timestamp acknowledged.",
    ),
    ("requests", "requests_total", "counter", "Requests made, retries included."),
    ("bytes_sent", "bytes_sent_total", "counter", "Compressed bytes acknowledged."),
)


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_stats(stats: Iterable[RemoteWriteStats], prefix: str = "nightowl_remote_write_") -> str:
    """Self-metrics in the Prometheus text format, labelled `remote_name` and `url`."""
    stats = list(stats)
    lines: list[str] = []
    for attr, name, kind, help_text in _METRICS:
        lines.append(f"# HELP {prefix}{name} {help_text}")
        lines.append(f"# TYPE {prefix}{name} {kind}")
        for st in stats:
            value: float = getattr(st, attr)
            if attr == "highest_sent_timestamp_ms":
                value = value / 1000
            labels = f'remote_name="{_label_value(st.name)}",url="{_label_value(st.url)}"'
            exact = isinstance(value, float) and not value.is_integer()
            lines.append(f"{prefix}{name}{{{labels}}} {repr(value) if exact else int(value)}")
    return "\n".join(lines) + "\n"


def _read_secret(inline: str, path: str) -> str:
    if path:
        return Path(path).expanduser().read_text().rstrip("\n")
    return inline


def _ssl_context(tls: Any) -> ssl.SSLContext | bool:
    if tls is None:
        return True
    if tls.insecure_skip_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    return ctx


@dataclass(slots=True)
class _Cycle:
    """The samples one scan found unsent, columnar, in time order."""

    t: np.ndarray
    v: np.ndarray
    s: np.ndarray
    keys: list[str] = field(default_factory=list)
    label_bytes: list[bytes] = field(default_factory=list)


class RemoteWriter:
    """Ships one target's samples from the store; runs on its own thread.

    Args:
        querier: Where samples are read (a `Store` or any `Querier`).
        config: A `RemoteWriteConfig`.
        progress: Where the high-water marks are kept.
        transport: httpx transport (None: real HTTP).
        clock: Unix ms now (tests pass a fake one).
        backfill_ms: A target seen for the first time starts this far before now.
    """

    def __init__(
        self,
        querier: Any,
        config: Any,
        progress: ProgressStore,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], int] = now_ms,
        backfill_ms: int = 0,
    ) -> None:
        self.config = config
        self.name = target_name(config)
        self.querier = querier
        self.progress = progress
        self.clock = clock
        self.backfill_ms = backfill_ms
        self._rules = compile_rules(
            config.write_relabel_configs, f"remote_write[{self.name}].write_relabel_configs"
        )
        q = config.queue_config
        self.max_per_send = int(q.max_samples_per_send)
        self.deadline_s = q.batch_send_deadline / 1000
        self.min_backoff_ms = int(q.min_backoff)
        self.max_backoff_ms = int(q.max_backoff)
        self._stats = RemoteWriteStats(self.name, _redact_url(config.url))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(
            transport=transport,
            verify=_ssl_context(getattr(config, "tls_config", None)),
            timeout=config.remote_timeout / 1000,
            headers=dict(config.headers),
        )
        self._relabeled: dict[Labels, bytes | None] = {}
        self._keys: dict[Labels, str] = {}
        self._marks: dict[Labels, int] = {}
        self._cycles = 0
        self.origin = 0
        self.scan_from = 0

    # -- life cycle ----------------------------------------------------------------------

    def _load(self) -> None:
        origin = self.progress.get(self.name, "origin_ms")
        if origin is None:
            origin = self.clock() - self.backfill_ms
            self.progress.set(self.name, "origin_ms", origin)
        self.origin = origin
        self.scan_from = self.progress.get(self.name, "scan_from_ms") or origin
        by_key = self.progress.marks(self.name)
        self._marks = {}
        for key, t in by_key.items():
            try:
                pairs = [(str(k), str(v)) for k, v in json.loads(key)]
            except (ValueError, TypeError):
                continue  # not ours: that series is sent from the scan window again
            self._marks[Labels(pairs)] = t
        self._stats.highest_sent_timestamp_ms = max(self._marks.values(), default=0)

    def start(self) -> None:
        """Load the progress and start the sender thread."""
        self._load()
        self._thread = threading.Thread(
            target=self._run, name=f"nightowl-remote-write:{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sending (a request in flight finishes or times out) and close the client."""
        self._stop.set()
        if self._thread is not None:
            wait = timeout if timeout is not None else self.config.remote_timeout / 1000 + 5
            self._thread.join(wait)
            self._thread = None
        self._client.close()

    def stats(self) -> RemoteWriteStats:
        """A copy of the self-metrics."""
        s = self._stats
        with self._lock:
            return RemoteWriteStats(**{f: getattr(s, f) for f in s.__slots__})  # type: ignore[attr-defined]

    def _run(self) -> None:
        backoff = self.min_backoff_ms
        while not self._stop.is_set():
            try:
                busy = self.cycle()
                backoff = self.min_backoff_ms
            except Exception as exc:  # a store error: log, wait, try again
                log.warning("remote write %s: %s", self.name, exc)
                self._stats.last_error = str(exc)
                self._stop.wait(backoff / 1000)
                backoff = min(backoff * 2, self.max_backoff_ms)
                continue
            if not busy:
                self._stop.wait(self.deadline_s)

    # -- one cycle -----------------------------------------------------------------------

    def _key(self, labels: Labels) -> str:
        key = self._keys.get(labels)
        if key is None:
            if len(self._keys) > 1_000_000:
                self._keys.clear()
            key = self._keys[labels] = _series_key(labels)
        return key

    def _labels_for(self, labels: Labels) -> bytes | None:
        cached = self._relabeled.get(labels, b"")
        if cached != b"":
            return cached
        if self._rules:
            out = relabel_labels(labels, self._rules)
            pairs = None if not out else sorted((k, v) for k, v in out.items() if v)
        else:
            pairs = list(labels)
        encoded = _rwproto.encode_labels(pairs) if pairs else None
        if len(self._relabeled) > 1_000_000:
            self._relabeled.clear()
        self._relabeled[labels] = encoded
        return encoded

    def _collect(self, lo: int, hi: int) -> tuple[_Cycle, list[tuple[Labels, int]]]:
        """Unsent samples in [lo, hi] and the marks of relabel-dropped series."""
        data = self.querier.select((), lo, hi)
        ts_parts, v_parts, s_parts = [], [], []
        cyc = _Cycle(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int64))
        silent: list[tuple[Labels, int]] = []
        for sd in data:
            ts = sd.timestamps
            mark = self._marks.get(sd.labels)
            floor = self.origin if mark is None else max(self.origin, mark + 1)
            i = int(np.searchsorted(ts, floor))
            if i >= len(ts):
                continue
            lb = self._labels_for(sd.labels)
            if lb is None:
                self._stats.samples_relabel_dropped += len(ts) - i
                silent.append((sd.labels, int(ts[-1])))
                continue
            s_parts.append(np.full(len(ts) - i, len(cyc.keys), dtype=np.int64))
            ts_parts.append(ts[i:])
            v_parts.append(sd.values[i:])
            cyc.keys.append(sd.labels)  # type: ignore[arg-type]
            cyc.label_bytes.append(lb)
        if ts_parts:
            t = np.concatenate(ts_parts).astype(np.int64, copy=False)
            order = np.argsort(t, kind="stable")
            cyc.t = t[order]
            cyc.v = np.concatenate(v_parts).astype(np.float64, copy=False)[order]
            cyc.s = np.concatenate(s_parts)[order]
        return cyc, silent

    def cycle(self) -> bool:
        """Read the scan window, send what is unsent; True when more is waiting."""
        lo = self.scan_from
        hi = lo + SCAN_SLICE_MS - 1
        cyc, silent = self._collect(lo, hi)
        # Dropped series are only marked in memory: nothing was sent, so after a restart
        # they are simply dropped (and counted) again, and sent if the rules changed.
        for labels, t in silent:
            self._marks[labels] = t
        n = len(cyc.t)
        self._stats.samples_pending = n
        if not self._send_all(cyc):
            return False  # stopped
        now = self.clock()
        frontier = max(self.scan_from, min(hi + 1, now) - LATE_MS)
        if frontier != self.scan_from:
            self.scan_from = frontier
            self.progress.set(self.name, "scan_from_ms", frontier)
        self._cycles += 1
        if self._cycles % _PRUNE_EVERY == 0:
            self._prune()
        return hi + 1 < now - LATE_MS

    def _prune(self) -> None:
        lo = self.scan_from
        self._marks = {k: t for k, t in self._marks.items() if t >= lo}
        self._keys = {k: v for k, v in self._keys.items() if k in self._marks}
        self._relabeled = {k: v for k, v in self._relabeled.items() if k in self._marks}
        self.progress.prune(self.name, lo)

    def shards_for(self, n: int) -> int:
        """Senders for `n` samples: one per SHARD_SAMPLES, within min/max_shards."""
        q = self.config.queue_config
        want = -(-n // SHARD_SAMPLES)
        return max(1, min(int(q.max_shards), max(int(q.min_shards), want)))

    def _send_all(self, cyc: _Cycle) -> bool:
        """Send the cycle's samples; False when stopped first.

        With several shards each series belongs to one shard (by hash), and each
        shard sends its series' samples in time order, so every series still
        reaches the receiver in order.
        """
        n = len(cyc.t)
        k = self.shards_for(n)
        if k == 1:
            return self._send_indices(cyc, np.arange(n))
        shard_of = np.array([hash(lab) % k for lab in cyc.keys], dtype=np.int64)[cyc.s]
        parts = [np.flatnonzero(shard_of == j) for j in range(k)]
        parts = [p for p in parts if len(p)]
        with ThreadPoolExecutor(len(parts), thread_name_prefix=f"rw-{self.name}") as pool:
            results = list(pool.map(lambda idx: self._send_indices(cyc, idx), parts))
        return all(results)

    def _send_indices(self, cyc: _Cycle, idx: np.ndarray) -> bool:
        for start in range(0, len(idx), self.max_per_send):
            if self._stop.is_set() or not self._send_batch(
                cyc, idx[start : start + self.max_per_send]
            ):
                return False
        return True

    def _send_batch(self, cyc: _Cycle, sel: np.ndarray) -> bool:
        s = cyc.s[sel]
        order = np.argsort(s, kind="stable")
        s = s[order]
        pick = sel[order]
        t = cyc.t[pick]
        buf, offsets = _rwproto.encode_samples(t, cyc.v[pick])
        raw = buf.tobytes()
        ends = np.flatnonzero(np.diff(s)) + 1
        starts = np.concatenate(([0], ends)).tolist()
        stops = np.concatenate((ends, [len(s)])).tolist()
        off = offsets.tolist()
        sids = s[starts].tolist()
        parts = []
        marks = []
        for i0, i1, sid in zip(starts, stops, sids, strict=True):
            parts.append(_rwproto.encode_timeseries(cyc.label_bytes[sid], raw[off[i0] : off[i1]]))
            marks.append((cyc.keys[sid], int(t[i1 - 1])))
        body = _rwproto.compress(b"".join(parts))
        if not self._post(body, len(sel)):
            return False
        for labels, mt in marks:
            self._marks[labels] = mt  # type: ignore[index]
        self.progress.advance(self.name, ((self._key(k), mt) for k, mt in marks))  # type: ignore[arg-type]
        with self._lock:
            st = self._stats
            st.samples_pending = max(0, st.samples_pending - len(sel))
            st.highest_sent_timestamp_ms = max(st.highest_sent_timestamp_ms, int(t.max()))
        return True

    def _auth_headers(self) -> dict[str, str]:
        cfg = self.config
        headers = dict(_PROTOCOL_HEADERS)
        if cfg.basic_auth is not None:
            pw = _read_secret(cfg.basic_auth.password, cfg.basic_auth.password_file)
            token = base64.b64encode(f"{cfg.basic_auth.username}:{pw}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif cfg.authorization is not None:
            cred = _read_secret(cfg.authorization.credentials, cfg.authorization.credentials_file)
            headers["Authorization"] = f"{cfg.authorization.type} {cred}"
        return headers

    def _post(self, body: bytes, n: int) -> bool:
        """Send until a 2xx or a non-retryable 4xx (True), or until stopped (False)."""
        backoff = self.min_backoff_ms
        attempt = 0
        st = self._stats
        while True:
            with self._lock:
                if attempt:
                    st.samples_retried += n
                st.requests += 1
            try:
                headers = self._auth_headers()
                resp = self._client.post(self.config.url, content=body, headers=headers)
            except (httpx.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                code = resp.status_code
                if 200 <= code < 300:
                    with self._lock:
                        st.samples_sent += n
                        st.bytes_sent += len(body)
                    return True
                text = resp.text[:512].strip()
                if code != 429 and 400 <= code < 500:
                    with self._lock:
                        st.samples_dropped += n
                        st.samples_pending = max(0, st.samples_pending - n)
                        st.last_error = f"HTTP {code}: {text}"
                    log.warning(
                        "remote write %s: receiver refused %d samples (HTTP %d: %s); dropped",
                        self.name,
                        n,
                        code,
                        text,
                    )
                    return True
                error = f"HTTP {code}: {text}"
            with self._lock:
                st.samples_failed += n
                st.last_error = error
            log.info("remote write %s: %s; retrying in %d ms", self.name, error, backoff)
            if self._stop.wait(backoff / 1000):
                return False
            backoff = min(backoff * 2, self.max_backoff_ms)
            attempt += 1


class RemoteWriteManager:
    """Every `[[remote_write]]` target of a running nightowl.

    Args:
        querier: The store samples are read from.
        configs: `RemoteWriteConfig`s (`config.remote_write`).
        transport: httpx transport used by every target (None: real HTTP).
        progress: Where marks are kept; default: beside `querier.path`, else in memory.
        clock: Unix ms now.
        backfill_ms: How far back a target seen for the first time starts.
    """

    def __init__(
        self,
        querier: Any,
        configs: Iterable[Any] = (),
        *,
        transport: httpx.BaseTransport | None = None,
        progress: ProgressStore | None = None,
        clock: Callable[[], int] = now_ms,
        backfill_ms: int = 0,
    ) -> None:
        self.querier = querier
        self.transport = transport
        self.clock = clock
        self.backfill_ms = backfill_ms
        self._own_progress = progress is None
        if progress is None:
            path = getattr(querier, "path", None)
            progress = ProgressStore.beside(path) if path is not None else ProgressStore(None)
        self.progress = progress
        self.configs: tuple[Any, ...] = tuple(configs)
        self.writers: dict[str, RemoteWriter] = {}
        self._started = False

    def _writer(self, cfg: Any) -> RemoteWriter:
        return RemoteWriter(
            self.querier,
            cfg,
            self.progress,
            transport=self.transport,
            clock=self.clock,
            backfill_ms=self.backfill_ms,
        )

    def start(self) -> list[str]:
        """Start a sender per configured target (again after :meth:`stop`); returns errors."""
        if self._own_progress and self.progress.closed:
            self.progress = ProgressStore(self.progress.path)
        self._started = True
        return self.apply(self.configs)

    def apply(self, configs: Iterable[Any]) -> list[str]:
        """Bring the running targets in line with `configs`; returns error messages.

        Unchanged targets keep running; changed ones restart (keeping their progress);
        removed ones stop (their progress stays, should they come back).
        """
        configs = tuple(configs)
        self.configs = configs
        if not self._started:
            return []
        errors: list[str] = []
        wanted = {target_name(c): c for c in configs}
        for name in list(self.writers):
            w = self.writers[name]
            if name not in wanted or wanted[name] != w.config:
                w.stop()
                del self.writers[name]
        for name, cfg in wanted.items():
            if name in self.writers:
                continue
            w = None
            try:
                w = self._writer(cfg)
                w.start()
            except Exception as exc:
                errors.append(f"remote_write {name}: {exc}")
                if w is not None:
                    w.stop()
                continue
            self.writers[name] = w
        return errors

    def stop(self) -> None:
        """Stop every sender (blocking); the progress file is closed when the manager made it."""
        self._started = False
        for w in self.writers.values():
            w.stop()
        self.writers.clear()
        if self._own_progress:
            self.progress.close()

    def stats(self) -> list[RemoteWriteStats]:
        """Self-metrics per target, in name order."""
        return [self.writers[n].stats() for n in sorted(self.writers)]
