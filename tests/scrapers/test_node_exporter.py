"""The real node_exporter, started on 127.0.0.1, scraped through the loop into a store."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from nightowl.scrapers.exposition import parse
from nightowl.scrapers.host import HostCollector, HostOptions
from nightowl.scrapers.loop import Page, ScrapeLoop, parse_page
from nightowl.scrapers.target import options_from_config, populate_target
from nightowl.store.memory import MemoryStore

from nightowl.model import Labels, Matcher, MatchOp, is_stale

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


def _debian_only_exclusion(labels: Labels) -> bool:
    """What Debian's node_exporter build leaves out beyond upstream's defaults.

    Debian patches the filesystem mount-point exclude to also skip /run, /mnt and
    /media; nightowl keeps upstream's default (data disks often live under /mnt).
    The loopback device is missing from node_exporter's netlink statistics in some
    sandboxes; upstream reports it, and so do we.
    """
    mountpoint = labels.get("mountpoint")
    if mountpoint and re.match(r"^/(run|mnt|media)($|/)", mountpoint):
        return True
    return labels.get("device") == "lo"


async def test_host_scraper_matches_node_exporter_series_for_series(node_exporter: str) -> None:
    """Every series both emit has the same labels; stable values agree exactly."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{node_exporter}/metrics")
    ref = parse(response.content)
    page = HostCollector(HostOptions(instance="x")).collect()
    ours: dict[str, dict[Labels, float]] = {}
    for labels, v in zip(page.series, page.values.tolist(), strict=True):
        ours.setdefault(labels.name, {})[labels] = v
    theirs: dict[str, dict[Labels, float]] = {}
    for ref_idx, v in zip(ref.refs.tolist(), ref.values.tolist(), strict=True):
        labels = ref.series[ref_idx]
        theirs.setdefault(labels.name, {})[labels] = v
    common = sorted(set(ours) & set(theirs))
    assert len(common) >= 90
    for name in common:
        mine = {s for s in ours[name] if not _debian_only_exclusion(s)}
        assert mine == {s for s in theirs[name] if not _debian_only_exclusion(s)}, name
    for name in (
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_boot_time_seconds",
        "node_filesystem_size_bytes",
        "node_filesystem_files",
        "node_filesystem_readonly",
        "node_network_mtu_bytes",
        "node_timex_sync_status",
        "node_timex_status",
        "node_timex_loop_time_constant",
        "node_timex_tick_seconds",
        "node_timex_tai_offset_seconds",
    ):
        for labels, v in theirs[name].items():
            assert ours[name][labels] == pytest.approx(v, rel=1e-9), (name, labels)
    for labels, v in theirs["node_cpu_seconds_total"].items():
        # Counters read a moment apart: ours may only be a little ahead.
        assert v - 0.05 <= ours["node_cpu_seconds_total"][labels] <= v + 5, labels
