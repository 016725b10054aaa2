"""Fixtures of the server tests: a real SQLite store with a small known workload."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app
from nightowl.store import Store

from nightowl.model import STALE_NAN, Labels, MetricMeta, MetricType, Sample, SampleBatch

#: Samples every 15 s from T0 for 10 minutes.
T0 = 1_700_000_000_000
STEP = 15_000
N = 41


def workload() -> SampleBatch:
    """up for two jobs, a counter with two instances, one series ending in a staleness marker."""
    samples = []
    for i in range(N):
        t = T0 + i * STEP
        samples.append(Sample(Labels.of("up", job="api", instance="a:1"), t, 1.0))
        samples.append(Sample(Labels.of("up", job="db", instance="b:2"), t, 0.0 if i > 30 else 1.0))
        samples.append(
            Sample(Labels.of("http_requests_total", job="api", instance="a:1"), t, 10.0 * i)
        )
        samples.append(
            Sample(Labels.of("http_requests_total", job="api", instance="a:2"), t, 5.0 * i)
        )
        if i < 10:
            samples.append(Sample(Labels.of("gone", job="x"), t, 7.5))
    samples.append(Sample(Labels.of("gone", job="x"), T0 + 10 * STEP, STALE_NAN))
    meta = {
        "up": MetricMeta(MetricType.GAUGE, "1 if the target is up"),
        "http_requests_total": MetricMeta(MetricType.COUNTER, "Requests.", ""),
    }
    return SampleBatch.from_samples(samples, meta)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file holding :func:`workload`."""
    path = tmp_path / "nightowl.db"
    store = Store.open(path)
    try:
        store.append_sync(workload())
    finally:
        store.close()
    return path


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """The workload's store, opened read-only."""
    s = Store.open(db_path, readonly=True)
    yield s
    s.close()


@pytest.fixture
def api(store: Store) -> Api:
    """An Api over the store whose clock stands at the end of the workload."""
    return Api(store, clock=lambda: T0 + (N - 1) * STEP)


@pytest.fixture
async def client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the app through ASGI (no socket)."""
    app = create_app(api, ServerParts(clock=api.clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nightowl") as c:
        yield c
    app.state.executor.shutdown(wait=False)
