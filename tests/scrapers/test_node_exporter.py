"""The real node_exporter, started on 127.0.0.1, scraped through the loop into a store."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from nightowl.scrapers.exposition import parse
from nightowl.scrapers.loop import Page, ScrapeLoop, parse_page
from nightowl.scrapers.target import options_from_config, populate_target
from nightowl.store.memory import MemoryStore

from nightowl.model import Matcher, MatchOp, is_stale

pytestmark = pytest.mark.external

BINARIES = ("prometheus-node-exporter", "node_exporter")


def _binary() -> str:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("node_exporter is not installed (apt-get install prometheus-node-exporter)")
    pytest.skip("node_exporter binary absent (Debian package prometheus-node-exporter)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def node_exporter() -> Iterator[str]:
    binary = _binary()
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://{address}/metrics", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"node_exporter did not start on {address}")
                time.sleep(0.05)
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_whole_node_exporter_page_is_ingested(node_exporter: str) -> None:
    """Zero parse errors, and every sample of the page lands in the store."""
    store = MemoryStore()
    opts = options_from_config({"job_name": "node", "scrape_timeout": "5s"})
    target, _ = populate_target(opts, {}, node_exporter)
    assert target is not None
    bodies: list[bytes] = []

    def recording_parse(body: bytes, content_type: str) -> Page:
        bodies.append(body)
        return parse_page(body, content_type)

    async with httpx.AsyncClient() as client:
        loop = ScrapeLoop(target, opts, store, client, parse=recording_parse)
        batch = await loop.scrape_once()
    assert loop.last_error == ""
    scraped = int(next(s.v for s in batch if s.labels.name == "scrape_samples_scraped"))
    reference = parse(bodies[0], skip_errors=True)
    assert reference.errors == []
    # An independent count of the same page by prometheus_client's own parser.
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(bodies[0].decode())
    expected = sum(len(f.samples) for f in families)
    assert scraped == expected == len(reference.values)
    assert next(s.v for s in batch if s.labels.name == "up") == 1.0
    post = int(next(s.v for s in batch if s.labels.name == "scrape_samples_post_metric_relabeling"))
    assert post == scraped
    stored = store.select([Matcher("job", MatchOp.EQ, "node")], 0, 2**62)
    data = [s for s in stored if not s.labels.name.startswith(("up", "scrape_"))]
    assert sum(len(s.values) for s in data) == scraped
    assert not any(is_stale(float(v)) for s in data for v in s.values)
    names = {s.labels.name for s in data}
    assert {"node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_load1"} <= names
    assert all(s.labels.get("instance") == node_exporter for s in stored)
    meta = store.metadata("node_cpu_seconds_total")
    assert meta["node_cpu_seconds_total"].type == "counter"
