"""Fixtures for the UI tests: a frozen clock at 03:00 UTC, a store holding one
hour of a fictional host's metrics, and a LocalSource over it with the real engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from nightowl.query.engine import Engine
from nightowl.store.memory import MemoryStore

from nightowl.model import Labels, MetricMeta, MetricType, TargetHealth, TargetStatus
from nightowl.sources import LocalSource

#: 2026-01-15 03:00:00 UTC: the on-call hour.
T0 = 1_768_446_000_000
STEP = 15_000
HOUR = 3_600_000


class FixedClock:
    """A clock that never moves unless told to."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def now_ms(self) -> int:
        """The frozen time."""
        return self.now


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Axis labels are local time: pin the zone so screens are stable."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def build_host_store(now: int = T0, *, alerts: bool = True) -> MemoryStore:
    """One hour of scrapes every 15 s of a host with 2 CPUs, one disk, two filesystems."""
    store = MemoryStore()
    ts = np.arange(now - HOUR, now + 1, STEP, dtype=np.int64)
    n = len(ts)
    x = np.arange(n, dtype=np.float64)
    inst = {"job": "host", "instance": "owl"}

    def add(name: str, values: np.ndarray, keep: np.ndarray | None = None, **labels: str) -> None:
        t, v = (ts, values) if keep is None else (ts[keep], values[keep])
        store.add_series(Labels.of(name, **inst, **labels), t.tolist(), v.tolist())

    # a gap: the network counters are missing for 10 minutes in the middle of the hour
    gap = np.ones(n, dtype=bool)
    gap[n // 2 - 20 : n // 2 + 20] = False

    for cpu in ("0", "1"):
        busy = 0.3 + 0.2 * np.sin(x / 20 + int(cpu))
        add(
            "node_cpu_seconds_total", np.cumsum(np.full(n, 15.0) * (1 - busy)), cpu=cpu, mode="idle"
        )
        add("node_cpu_seconds_total", np.cumsum(15.0 * busy * 0.7), cpu=cpu, mode="user")
        add("node_cpu_seconds_total", np.cumsum(15.0 * busy * 0.3), cpu=cpu, mode="system")
    add("node_memory_MemTotal_bytes", np.full(n, 8 * 2**30))
    add("node_memory_MemAvailable_bytes", 8 * 2**30 * (0.5 - 0.1 * np.sin(x / 30)))
    add("node_load1", 1.0 + np.sin(x / 10))
    add("node_load5", 1.0 + 0.5 * np.sin(x / 25))
    add("node_load15", np.full(n, 1.0))
    add("node_disk_read_bytes_total", np.cumsum(np.full(n, 15 * 2e6)), device="sda")
    add("node_disk_written_bytes_total", np.cumsum(15 * 1e6 * (1 + np.sin(x / 7))), device="sda")
    for mp, used in (("/", 0.62), ("/home", 0.93)):
        add(
            "node_filesystem_size_bytes",
            np.full(n, 100e9),
            mountpoint=mp,
            fstype="ext4",
            device="sda1",
        )
        add(
            "node_filesystem_avail_bytes",
            np.full(n, 100e9 * (1 - used)),
            mountpoint=mp,
            fstype="ext4",
            device="sda1",
        )
    for dev in ("eth0", "lo"):
        rx = np.cumsum(np.full(n, 15 * 5e5))
        add("node_network_receive_bytes_total", rx, gap, device=dev)
        add("node_network_transmit_bytes_total", rx / 5, gap, device=dev)
    store.add_series(Labels.of("up", **inst), ts.tolist(), [1.0] * n)
    for le, frac in (("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)):
        add("http_request_duration_seconds_bucket", np.cumsum(np.full(n, 100 * frac)), le=le)
    store.set_metadata("node_load1", MetricMeta(MetricType.GAUGE, "1m load average."))
    store.set_metadata(
        "node_cpu_seconds_total",
        MetricMeta(MetricType.COUNTER, "Seconds the CPUs spent in each mode."),
    )
    store.set_metadata(
        "http_request_duration_seconds", MetricMeta(MetricType.HISTOGRAM, "Request latency.")
    )
    if alerts:
        fire = ts[ts >= now - 20 * 60_000]
        store.add_series(
            Labels.of(
                "ALERTS",
                alertname="DiskAlmostFull",
                alertstate="firing",
                severity="critical",
                mountpoint="/home",
            ),
            fire.tolist(),
            [1.0] * len(fire),
        )
        store.add_series(
            Labels.of(
                "ALERTS_FOR_STATE",
                alertname="DiskAlmostFull",
                severity="critical",
                mountpoint="/home",
            ),
            fire.tolist(),
            [(now - 20 * 60_000) / 1000] * len(fire),
        )
    return store


def host_targets(now: int = T0) -> list[TargetStatus]:
    """Two targets: the host scraper (up) and a dead exporter (down)."""
    return [
        TargetStatus(
            job="host",
            url="host://owl",
            labels=Labels.of(job="host", instance="owl"),
            discovered_labels=Labels(),
            health=TargetHealth.UP,
            last_scrape_ms=now - 3_000,
            last_duration_s=0.012,
            last_error="",
            scrape_interval_ms=15_000,
            scrape_timeout_ms=10_000,
        ),
        TargetStatus(
            job="api",
            url="http://10.0.0.7:9100/metrics",
            labels=Labels.of(job="api", instance="10.0.0.7:9100"),
            discovered_labels=Labels(),
            health=TargetHealth.DOWN,
            last_scrape_ms=now - 9_000,
            last_duration_s=2.0,
            last_error="connection refused",
            scrape_interval_ms=15_000,
            scrape_timeout_ms=10_000,
        ),
    ]


@pytest.fixture
def clock() -> FixedClock:
    """Frozen at 03:00 UTC."""
    return FixedClock()


@pytest.fixture
def store_factory():
    """`build_host_store` for tests that need a variant (e.g. without alerts)."""
    return build_host_store


@pytest.fixture
def host_store() -> MemoryStore:
    """An hour of host metrics ending at the frozen clock."""
    return build_host_store()


@pytest.fixture
async def source(host_store: MemoryStore, clock: FixedClock) -> LocalSource:
    """The real engine over the host store, as the UI sees it."""
    src = LocalSource(
        Engine(host_store),
        host_store,
        description="test source",
        targets_fn=lambda: host_targets(clock.now),
        clock=clock,
    )
    yield src
    await src.close()


@pytest.fixture
def sync_source(host_store: MemoryStore, clock: FixedClock) -> Iterator[LocalSource]:
    """The same source for synchronous tests (snapshots run their own event loop)."""
    src = LocalSource(
        Engine(host_store),
        host_store,
        description="test source",
        targets_fn=lambda: host_targets(clock.now),
        clock=clock,
    )
    yield src
    src.shutdown()
