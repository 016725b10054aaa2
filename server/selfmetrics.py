"""`/metrics`: nightowl's own metrics in the Prometheus text format (0.0.4).

Names follow Prometheus's where there is one (`prometheus_http_requests_total`
becomes `nightowl_http_requests_total`, process metrics keep `process_*`), so
dashboards for a Prometheus server carry over. Sources:

- HTTP requests and query durations, counted by the web layer (:class:`HttpStats`);
- the store's counters (`Store.stats()`): samples appended and rejected, series;
- scrape targets (`up`-like health, last duration) from the scrape manager;
- remote-write counters per target;
- the process: resident memory, CPU seconds, open file descriptors, start time.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nightowl.scrapers.expowriter import format_labels, format_value

from nightowl.model import Labels

__all__ = ["HttpStats", "process_metrics", "render"]

#: Buckets of the request duration histogram (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, v: float) -> None:
        for i, b in enumerate(BUCKETS):
            if v <= b:
                self.counts[i] += 1
        self.total += 1
        self.sum += v


class HttpStats:
    """Request counters and duration histograms per handler (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.durations: dict[str, _Histogram] = {}

    def observe(self, handler: str, code: int, seconds: float) -> None:
        """Count one request."""
        with self._lock:
            key = (handler, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.durations.setdefault(handler, _Histogram()).observe(seconds)

    def lines(self) -> list[str]:
        """The HTTP metrics as exposition lines."""
        with self._lock:
            out = [
                "# HELP nightowl_http_requests_total Requests served, by handler and status code.",
                "# TYPE nightowl_http_requests_total counter",
            ]
            for (handler, code), n in sorted(self.requests.items()):
                out.append(_line("nightowl_http_requests_total", n, handler=handler, code=code))
            out += [
                "# HELP nightowl_http_request_duration_seconds Request latencies by handler.",
                "# TYPE nightowl_http_request_duration_seconds histogram",
            ]
            for handler, h in sorted(self.durations.items()):
                name = "nightowl_http_request_duration_seconds"
                for b, c in zip(BUCKETS, h.counts, strict=True):
                    out.append(_line(f"{name}_bucket", c, handler=handler, le=format_value(b)))
                out.append(_line(f"{name}_bucket", h.total, handler=handler, le="+Inf"))
                out.append(_line(f"{name}_sum", h.sum, handler=handler))
                out.append(_line(f"{name}_count", h.total, handler=handler))
        return out


def _line(name: str, value: float, **labels: str) -> str:
    return f"{format_labels(Labels.of(name, **labels))} {format_value(float(value))}"


def _family(
    name: str, kind: str, help_text: str, rows: Iterable[tuple[dict[str, str], float]]
) -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in rows:
        out.append(_line(name, value, **labels))
    return out


def process_metrics(start_time_s: float) -> list[str]:
    """`process_*` metrics of this process (Linux /proc where available)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime
    rss = ru.ru_maxrss * 1024
    vms = 0
    try:
        with open("/proc/self/statm") as f:
            pages = f.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        vms, rss = int(pages[0]) * page, int(pages[1]) * page
    except (OSError, ValueError, IndexError):
        pass
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = 0
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = []
    out += _family(
        "process_cpu_seconds_total", "counter", "User and system CPU time spent.", [({}, cpu)]
    )
    out += _family("process_resident_memory_bytes", "gauge", "Resident memory size.", [({}, rss)])
    out += _family("process_virtual_memory_bytes", "gauge", "Virtual memory size.", [({}, vms)])
    out += _family("process_open_fds", "gauge", "Open file descriptors.", [({}, fds)])
    out += _family("process_max_fds", "gauge", "Maximum open file descriptors.", [({}, soft)])
    out += _family(
        "process_start_time_seconds", "gauge", "Start time since the epoch.", [({}, start_time_s)]
    )
    out += _family("nightowl_threads", "gauge", "Python threads.", [({}, threading.active_count())])
    return out


def render(
    *,
    http: HttpStats | None = None,
    store: Any = None,
    api: Any = None,
    targets: Callable[[], list[Any]] | None = None,
    remote_write: Callable[[], list[Any]] | None = None,
    start_time_s: float | None = None,
) -> str:
    """The whole `/metrics` page."""
    out: list[str] = []
    out += _family(
        "nightowl_build_info", "gauge", "Build information.", [({"version": _version()}, 1)]
    )
    if store is not None and hasattr(store, "stats"):
        st = store.stats()
        out += _family(
            "nightowl_tsdb_samples_appended_total",
            "counter",
            "Samples stored.",
            [({}, st.samples_appended)],
        )
        out += _family(
            "nightowl_tsdb_samples_rejected_total",
            "counter",
            "Samples refused by the store, by reason.",
            [
                ({"reason": "out_of_order"}, st.samples_out_of_order),
                ({"reason": "duplicate"}, st.samples_duplicate),
                ({"reason": "over_limit"}, st.samples_over_limit),
            ],
        )
        out += _family(
            "nightowl_tsdb_series_created_total",
            "counter",
            "Series created.",
            [({}, st.series_created)],
        )
        out += _family(
            "nightowl_tsdb_head_series", "gauge", "Series known to the writer.", [({}, st.series)]
        )
        out += _family(
            "nightowl_tsdb_compactions_total", "counter", "Compactions run.", [({}, st.compactions)]
        )
        if st.newest_sample_ms is not None:
            out += _family(
                "nightowl_tsdb_newest_sample_timestamp_seconds",
                "gauge",
                "Newest sample in the database.",
                [({}, st.newest_sample_ms / 1000)],
            )
    if api is not None:
        out += _family(
            "nightowl_engine_queries_total",
            "counter",
            "Queries evaluated.",
            [({}, api.query_count)],
        )
        out += _family(
            "nightowl_engine_query_failures_total",
            "counter",
            "Queries that failed.",
            [({}, api.query_failures)],
        )
        out += _family(
            "nightowl_engine_query_duration_seconds_total",
            "counter",
            "Time spent evaluating queries.",
            [({}, api.query_seconds)],
        )
    if targets is not None:
        ts = targets()
        out += _family(
            "nightowl_target_up",
            "gauge",
            "1 if the target's last scrape succeeded.",
            [({"job": t.job, "url": t.url}, 1.0 if str(t.health) == "up" else 0.0) for t in ts],
        )
        out += _family(
            "nightowl_target_scrape_duration_seconds",
            "gauge",
            "Duration of the last scrape.",
            [({"job": t.job, "url": t.url}, t.last_duration_s) for t in ts],
        )
    if remote_write is not None:
        from nightowl.server.remote_write import render_stats

        out += render_stats(remote_write()).splitlines()
    if http is not None:
        out += http.lines()
    out += process_metrics(start_time_s if start_time_s is not None else time.time())
    return "\n".join(out) + "\n"


def _version() -> str:
    from nightowl import __version__

    return __version__
