"""Content negotiation with a real exporter: prometheus_client's HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from nightowl.scrapers.loop import Page, ScrapeLoop, parse_page
from nightowl.scrapers.target import options_from_config, populate_target
from nightowl.store.memory import MemoryStore
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from nightowl.model import MetricType, is_stale


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def exporter() -> Iterator[str]:
    registry = CollectorRegistry()
    c = Counter("app_requests", "Requests served.", ["code"], registry=registry)
    c.labels("200").inc(41)
    c.labels("500").inc(1)
    Gauge("app_temperature_celsius", "Temperature.", registry=registry).set(21.5)
    h = Histogram("app_latency_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry)
    for v in (0.05, 0.5, 2.0):
        h.observe(v)
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


async def scrape(address: str, **cfg: object) -> tuple[ScrapeLoop, MemoryStore, list[str]]:
    store = MemoryStore()
    opts = options_from_config({"job_name": "app", **cfg})
    target, _ = populate_target(opts, {}, address)
    assert target is not None
    content_types: list[str] = []

    def recording_parse(body: bytes, content_type: str) -> Page:
        content_types.append(content_type)
        page = parse_page(body, content_type)
        families = (
            om_families(body.decode())
            if "openmetrics" in content_type
            else text_families(body.decode())
        )
        # The whole page is ingested: the same count as prometheus_client's own parser.
        assert len(page) == sum(len(f.samples) for f in families)
        return page

    async with httpx.AsyncClient() as client:
        loop = ScrapeLoop(target, opts, store, client, parse=recording_parse)
        await loop.scrape_once()
    return loop, store, content_types


async def test_exporter_answers_openmetrics_to_our_accept_header(exporter: str) -> None:
    """prometheus_client picks OpenMetrics for Prometheus's Accept header; every sample lands."""
    loop, store, content_types = await scrape(exporter)
    assert loop.last_error == ""
    assert content_types[0].startswith("application/openmetrics-text")
    meta = store.metadata()
    assert meta["app_requests"].type is MetricType.COUNTER
    assert meta["app_latency_seconds"].type is MetricType.HISTOGRAM
    names = {s.name for s in store.series([])}
    assert {"app_requests_total", "app_latency_seconds_bucket", "up"} <= names
    from nightowl.model import Matcher, MatchOp

    (ok,) = store.select(
        [
            Matcher("__name__", MatchOp.EQ, "app_requests_total"),
            Matcher("code", MatchOp.EQ, "200"),
        ],
        0,
        2**62,
    )
    assert ok.labels.get("job") == "app"
    assert float(ok.values[-1]) == 41.0
    assert not is_stale(float(ok.values[-1]))
