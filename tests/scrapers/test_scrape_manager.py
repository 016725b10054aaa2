"""The scrape manager against real HTTP servers on 127.0.0.1: isolation, reload, file_sd."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nightowl.scrapers.manager import ScrapeManager
from nightowl.store.api import AppendResult
from nightowl.store.memory import MemoryStore

from nightowl.config import parse_config
from nightowl.model import Labels, SampleBatch, TargetHealth, is_stale


class Recorder:
    """An Appender keeping every batch."""

    def __init__(self) -> None:
        self.batches: list[SampleBatch] = []

    async def append(self, batch: SampleBatch) -> AppendResult:
        self.batches.append(batch)
        return AppendResult(accepted=len(batch))

    def samples(self, name: str, **labels: str) -> list[tuple[Labels, int, float]]:
        out = []
        for b in self.batches:
            for s in b:
                if s.labels.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    out.append(s)
        return out


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server: LocalServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        server.hits[path] = server.hits.get(path, 0) + 1
        if path == "/hang":
            server.release.wait(10)
            return
        if path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for i in range(100):
                if server.release.is_set():
                    return
                try:
                    self.wfile.write(b"drip_%d 1\n" % i)
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            return
        if path == "/flap" and server.hits[path] % 2 == 0:
            self.send_response(500)
            self.end_headers()
            return
        if path == "/huge":
            body = b"".join(b"huge_%d 1\n" % i for i in range(200_000))
        elif path == "/garbage":
            body = b"this is { not metrics\n"
        else:
            body = server.body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalServer:
    """A threaded HTTP server on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        self.body = b"# TYPE ok gauge\nok 1\n"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def job(
    name: str, address: str, path: str = "/metrics", interval: str = "100ms", **extra: str
) -> str:
    lines = [
        "[[scrape_configs]]",
        f'job_name = "{name}"',
        f'scrape_interval = "{interval}"',
        f'metrics_path = "{path}"',
        f'static_configs = [{{targets = ["{address}"]}}]',
    ]
    lines.extend(f"{k} = {v}" for k, v in extra.items())
    return "\n".join(lines) + "\n"


def config(*jobs: str) -> object:
    return parse_config("[host]\nenabled = false\n" + "".join(jobs), "test.toml")


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_bad_targets_never_stall_a_good_one(server: LocalServer) -> None:
    """Hanging, dripping, huge, malformed and flapping targets beside a healthy one."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    cfg = config(
        # The healthy target's timeout is generous so a loaded CI machine cannot fail it;
        # its scrapes must keep coming while the others hang for their whole timeout.
        job("good", server.address, "/metrics", "500ms"),
        job("hang", server.address, "/hang", "1s", scrape_timeout='"500ms"'),
        job("drip", server.address, "/drip", "1s", scrape_timeout='"500ms"'),
        job("huge", server.address, "/huge", "1s", body_size_limit='"100KiB"'),
        job("garbage", server.address, "/garbage", "200ms"),
        job("flap", server.address, "/flap", "100ms"),
    )
    await mgr.apply(cfg)
    try:
        t0 = time.monotonic()
        await wait_for(lambda: len(rec.samples("up", job="good")) >= 5)
        elapsed = time.monotonic() - t0
        await wait_for(
            lambda: all(
                rec.samples("up", job=j) for j in ("hang", "drip", "huge", "garbage", "flap")
            )
        )
        status = {t.job: t for t in mgr.targets()}
    finally:
        await mgr.stop()
    # Two scrapes a second, the hanging ones notwithstanding (5 take about 2 s).
    assert elapsed < 4.5
    assert mgr.targets() == []
    for j, fragment in (
        ("hang", "deadline exceeded"),
        ("drip", "deadline exceeded"),
        ("huge", "body size limit exceeded"),
        ("garbage", "parse error"),
    ):
        assert rec.samples("up", job=j)[0].v == 0.0, j
        assert status[j].health is TargetHealth.DOWN, j
        assert fragment in status[j].last_error, (j, status[j].last_error)
    flap = [s.v for s in rec.samples("up", job="flap") if not is_stale(s.v)]
    assert 0.0 in flap and 1.0 in flap
    good = [s.v for s in rec.samples("up", job="good") if not is_stale(s.v)]
    assert set(good) == {1.0}


async def test_targets_report_health_and_errors(server: LocalServer) -> None:
    """targets() shows each target's health and last error for the API and TUI."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    await mgr.apply(
        config(
            job("good", server.address, "/metrics", "100ms"),
            job("garbage", server.address, "/garbage", "100ms"),
        )
    )
    try:
        await wait_for(lambda: all(t.health is not TargetHealth.UNKNOWN for t in mgr.targets()))
        targets = {t.job: t for t in mgr.targets()}
    finally:
        await mgr.stop()
    assert targets["good"].health is TargetHealth.UP
    assert targets["good"].labels == Labels.of(job="good", instance=server.address)
    assert targets["good"].url == f"http://{server.address}/metrics"
    assert targets["good"].scrape_interval_ms == 100
    assert targets["garbage"].health is TargetHealth.DOWN
    assert "parse error" in targets["garbage"].last_error


async def test_reload_keeps_removes_and_adds_targets(server: LocalServer) -> None:
    """Reload: kept targets keep their loop; removed ones are marked stale; new ones start."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    await mgr.apply(config(job("a", server.address), job("b", server.address)))
    try:
        await wait_for(lambda: rec.samples("ok", job="a") and rec.samples("ok", job="b"))
        loop_a = next(lp for lp in mgr.loops() if lp.target.job == "a")
        await mgr.apply(config(job("a", server.address), job("c", server.address)))
        assert next(lp for lp in mgr.loops() if lp.target.job == "a") is loop_a
        assert sorted(mgr.jobs()) == ["a", "c"]
        ok_b = rec.samples("ok", job="b")
        assert is_stale(ok_b[-1].v)
        assert is_stale(rec.samples("up", job="b")[-1].v)
        await wait_for(lambda: rec.samples("ok", job="c"))
        # A kept target never got a stale marker.
        assert not any(is_stale(s.v) for s in rec.samples("ok", job="a"))
        # New metric relabel rules apply to the kept loop in place.
        await mgr.apply(
            config(
                job(
                    "a",
                    server.address,
                    metric_relabel_configs='[{target_label = "tier", replacement = "gold"}]',
                )
            )
        )
        assert next(lp for lp in mgr.loops() if lp.target.job == "a") is loop_a
        await wait_for(lambda: rec.samples("ok", job="a", tier="gold"))
    finally:
        await mgr.stop()
    assert is_stale(rec.samples("ok", job="a", tier="gold")[-1].v)


async def test_relabel_configs_shape_targets(server: LocalServer) -> None:
    """relabel_configs can drop targets and set labels; dropped ones are listed."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    extra = (
        '[{source_labels = ["__address__"], regex = "127\\\\.0\\\\.0\\\\.2:.*", action = "drop"},'
        ' {source_labels = ["__address__"], target_label = "instance", replacement = "web-1"}]'
    )
    body = (
        "[[scrape_configs]]\n"
        'job_name = "web"\n'
        'scrape_interval = "100ms"\n'
        f'static_configs = [{{targets = ["{server.address}", "127.0.0.2:9"]}}]\n'
        f"relabel_configs = {extra}\n"
    )
    await mgr.apply(parse_config("[host]\nenabled = false\n" + body, "t.toml"))
    try:
        targets = mgr.targets()
        assert [t.labels for t in targets] == [Labels.of(job="web", instance="web-1")]
        assert len(mgr.dropped_targets()) == 1
        assert mgr.dropped_targets()[0].get("__address__") == "127.0.0.2:9"
        await wait_for(lambda: rec.samples("ok", instance="web-1"))
    finally:
        await mgr.stop()


async def test_file_sd_targets_follow_the_file(tmp_path: Path, server: LocalServer) -> None:
    """Targets from file_sd appear, change and vanish as the file changes; bad files keep them."""
    sd = tmp_path / "targets.json"
    sd.write_text(json.dumps([{"targets": [server.address], "labels": {"env": "prod"}}]))
    text = (
        "[host]\nenabled = false\n"
        "[[scrape_configs]]\n"
        'job_name = "sd"\n'
        'scrape_interval = "100ms"\n'
        f'file_sd_configs = [{{files = ["{tmp_path}/*.json"], refresh_interval = "100ms"}}]\n'
    )
    rec = Recorder()
    mgr = ScrapeManager(rec)
    await mgr.apply(parse_config(text, str(tmp_path / "c.toml")))
    try:
        assert [t.labels.get("env") for t in mgr.targets()] == ["prod"]
        assert mgr.targets()[0].discovered_labels.get("__meta_filepath") == str(sd)
        await wait_for(lambda: rec.samples("ok", env="prod"))
        # A broken write keeps the last good targets and reports the file.
        sd.write_text("[{not json")
        await wait_for(lambda: any(str(sd) in e for e in mgr.errors()))
        assert [t.labels.get("env") for t in mgr.targets()] == ["prod"]
        sd.write_text(json.dumps([{"targets": [server.address], "labels": {"env": "dev"}}]))
        await wait_for(lambda: [t.labels.get("env") for t in mgr.targets()] == ["dev"])
        assert mgr.errors() == []
        await wait_for(lambda: rec.samples("ok", env="dev"))
        assert is_stale(rec.samples("ok", env="prod")[-1].v)
        sd.unlink()
        await wait_for(lambda: mgr.targets() == [])
    finally:
        await mgr.stop()


async def test_host_scraper_runs_by_default_and_can_be_disabled() -> None:
    """No [host] section: the host is scraped; enabled=false stops it with stale markers."""
    store = MemoryStore()
    mgr = ScrapeManager(store)
    # A generous interval (and so timeout): a loaded CI machine must not fail the scrape.
    await mgr.apply(parse_config('[host]\nscrape_interval = "1s"\n', "t.toml"))
    try:
        assert [t.job for t in mgr.targets()] == ["host"]
        await wait_for(lambda: mgr.targets()[0].health is TargetHealth.UP)
        await mgr.apply(parse_config("[host]\nenabled = false\n", "t.toml"))
        assert mgr.targets() == []
    finally:
        await mgr.stop()
    from nightowl.model import Matcher, MatchOp

    (up,) = store.select([Matcher("__name__", MatchOp.EQ, "up")], 0, 2**62)
    assert up.labels.get("job") == "host"
    assert is_stale(float(up.values[-1]))
    assert 1.0 in up.values[:-1].tolist()


async def test_duplicate_job_names_are_refused() -> None:
    """Two jobs with one name are a config error (nothing changes)."""
    from nightowl.scrapers.target import options_from_config

    from nightowl.errors import ConfigError

    mgr = ScrapeManager(Recorder())
    opts = options_from_config({"job_name": "x"})
    with pytest.raises(ConfigError):
        await mgr.apply_jobs([opts, opts])
    assert list(mgr.jobs()) == []


async def test_host_reconfigure_keeps_or_ends_series() -> None:
    """Changing collectors keeps the host series going; changing instance ends the old ones."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    await mgr.apply_host(
        {"scrape_interval": "1h", "instance": "a", "collectors": ["loadavg", "time"]}
    )
    try:
        await mgr.loops()[0].scrape_once()
        await mgr.apply_host({"scrape_interval": "1h", "instance": "a", "collectors": ["loadavg"]})
        assert not any(is_stale(s.v) for b in rec.batches for s in b)
        await mgr.loops()[0].scrape_once()
        stale = {s.labels.name for s in rec.batches[-1] if is_stale(s.v)}
        assert "node_time_seconds" in stale
        assert all(name.startswith("node_time_") for name in stale)
        await mgr.apply_host({"scrape_interval": "1h", "instance": "b", "collectors": ["loadavg"]})
        stale = {s.labels.name for s in rec.batches[-1] if is_stale(s.v)}
        assert "node_load1" in stale and "up" in stale
        assert {s.labels.get("instance") for s in rec.batches[-1]} == {"a"}
        assert [t.labels.get("instance") for t in mgr.targets()] == ["b"]
    finally:
        await mgr.stop()


async def test_interval_change_restarts_the_loop_without_a_staleness_gap(
    server: LocalServer,
) -> None:
    """A new scrape interval gives the target a new schedule but keeps its series live."""
    rec = Recorder()
    mgr = ScrapeManager(rec)
    await mgr.apply(config(job("a", server.address, interval="100ms")))
    try:
        await wait_for(lambda: rec.samples("ok", job="a"))
        await mgr.apply(config(job("a", server.address, interval="150ms")))
        (status,) = mgr.targets()
        assert status.scrape_interval_ms == 150
        assert status.health is TargetHealth.UP  # state carried over
        n = len(rec.samples("ok", job="a"))
        await wait_for(lambda: len(rec.samples("ok", job="a")) > n)
        assert not any(is_stale(s.v) for s in rec.samples("ok", job="a"))
    finally:
        await mgr.stop()


async def test_target_limit_fails_every_target_of_the_job(server: LocalServer) -> None:
    """Over target_limit (after relabeling) no target of the job is scraped: each reports
    up 0 and Prometheus's error, its series go stale; within the limit scraping resumes."""

    def cfg(limit: int) -> object:
        targets = f'["{server.address}", "127.0.0.2:9", "127.0.0.3:9"]'
        relabel = (
            '[{source_labels = ["__address__"], regex = "127\\\\.0\\\\.0\\\\.3:.*",'
            ' action = "drop"}]'
        )
        return parse_config(
            "[host]\nenabled = false\n"
            "[[scrape_configs]]\n"
            'job_name = "lim"\n'
            'scrape_interval = "100ms"\n'
            f"target_limit = {limit}\n"
            f"static_configs = [{{targets = {targets}}}]\n"
            f"relabel_configs = {relabel}\n"
            "[[scrape_configs]]\n"
            'job_name = "other"\n'
            'scrape_interval = "100ms"\n'
            f'static_configs = [{{targets = ["{server.address}"]}}]\n',
            "t.toml",
        )

    rec = Recorder()
    mgr = ScrapeManager(rec)
    # Three targets, one dropped by relabeling: two count, and two fit.
    await mgr.apply(cfg(2))
    try:
        await wait_for(lambda: rec.samples("ok", job="lim"))
        assert rec.samples("up", job="lim", instance=server.address)[-1].v == 1.0
        await mgr.apply(cfg(1))
        message = "target_limit exceeded (number of targets: 2, limit: 1)"
        await wait_for(
            lambda: all(t.last_error == message for t in mgr.targets() if t.job == "lim")
        )
        lim = [t for t in mgr.targets() if t.job == "lim"]
        assert len(lim) == 2
        assert all(t.health is TargetHealth.DOWN for t in lim)
        await wait_for(lambda: is_stale(rec.samples("ok", job="lim")[-1].v))
        ups = rec.samples("up", job="lim", instance=server.address)
        await wait_for(
            lambda: len(rec.samples("up", job="lim", instance=server.address)) > len(ups)
        )
        assert rec.samples("up", job="lim", instance=server.address)[-1].v == 0.0
        # Not scraped at all while over the limit; the other job is unaffected.
        other_before = len(rec.samples("ok", job="other"))
        hits = server.hits.get("/metrics", 0)
        await wait_for(lambda: len(rec.samples("ok", job="other")) >= other_before + 3)
        lim_hits = server.hits.get("/metrics", 0) - hits
        other_hits = len(rec.samples("ok", job="other")) - other_before
        assert lim_hits <= other_hits + 1  # only the other job's scrapes reached the server
        # Back within the limit (0: none): the same loops scrape again.
        await mgr.apply(cfg(0))
        await wait_for(lambda: rec.samples("up", job="lim", instance=server.address)[-1].v == 1.0)
        assert not is_stale(rec.samples("ok", job="lim")[-1].v)
        target = next(t for t in mgr.targets() if t.labels.get("instance") == server.address)
        assert target.health is TargetHealth.UP and target.job == "lim"
    finally:
        await mgr.stop()
