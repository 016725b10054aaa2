"""End to end: the daemon remote-writes to a real Prometheus; an outage leaves no gap."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.external]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError("prometheus is required in CI")
        pytest.skip("prometheus is not installed (Debian package `prometheus`)")
    return path


def _wait(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


def _start_prom(binary: str, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\n")
    with (tmp / "prom.log").open("ab") as log:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=log,
        )


def _samples(url: str, t: float) -> list[tuple[float, str]]:
    r = httpx.get(url + "/api/v1/query", params={"query": "node_time_seconds[20s]", "time": t})
    result = r.json()["data"]["result"]
    assert len(result) == 1, r.text
    return [(ts, v) for ts, v in result[0]["values"]]


def test_remote_write_to_prometheus_fills_outage(tmp_path: Path) -> None:
    """Values identical on both sides; samples taken while the receiver was down arrive later."""
    prom = _prometheus()
    pport, nport = _free_port(), _free_port()
    purl, nurl = f"http://127.0.0.1:{pport}", f"http://127.0.0.1:{nport}"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[host]
scrape_interval = "1s"
collectors = ["time"]
[[remote_write]]
url = "{purl}/api/v1/write"
name = "prom"
[remote_write.queue_config]
batch_send_deadline = "200ms"
min_backoff = "50ms"
max_backoff = "500ms"
"""
    )
    p = _start_prom(prom, tmp_path, pport)
    with (tmp_path / "daemon.log").open("wb") as err:
        d = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "daemon",
                "--config",
                str(cfg),
                "--db",
                str(tmp_path / "n.db"),
                "--listen",
                f"127.0.0.1:{nport}",
            ],
            stderr=err,
        )
    try:
        _wait(purl + "/-/ready")
        _wait(nurl + "/-/ready")
        time.sleep(4)
        t1 = time.time() - 1.5
        ours = _samples(nurl, t1)
        assert len(ours) >= 2
        assert _samples(purl, t1) == ours
        # outage of the receiver
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        outage_start = time.time()
        time.sleep(4)
        outage_end = time.time()
        p = _start_prom(prom, tmp_path, pport)
        _wait(purl + "/-/ready")
        time.sleep(4)
        t2 = outage_end
        gap = _samples(nurl, t2)
        assert sum(1 for ts, _ in gap if ts > outage_start) >= 2
        assert _samples(purl, t2) == gap
        m = httpx.get(nurl + "/metrics").text
        assert 'nightowl_remote_write_samples_failed_total{remote_name="prom"' in m
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(15) == 0
        p.terminate()
        p.wait(20)


def test_remote_write_to_victoriametrics(tmp_path: Path) -> None:
    """VictoriaMetrics receives the same samples (to its ~12 significant digits)."""
    import json

    vm = shutil.which("victoria-metrics")
    if vm is None:
        if os.environ.get("CI"):
            raise RuntimeError("victoria-metrics is required in CI")
        pytest.skip("victoria-metrics is not installed (Debian package `victoria-metrics`)")
    vport, nport = _free_port(), _free_port()
    vurl, nurl = f"http://127.0.0.1:{vport}", f"http://127.0.0.1:{nport}"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[host]
scrape_interval = "1s"
collectors = ["time"]
[[remote_write]]
url = "{vurl}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
"""
    )
    with (tmp_path / "vm.log").open("wb") as log:
        v = subprocess.Popen(
            [
                vm,
                f"-storageDataPath={tmp_path / 'vm'}",
                f"-httpListenAddr=127.0.0.1:{vport}",
                "-search.disableCache",
            ],
            stdout=log,
            stderr=log,
        )
    with (tmp_path / "daemon.log").open("wb") as err:
        d = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "daemon",
                "--config",
                str(cfg),
                "--db",
                str(tmp_path / "n.db"),
                "--listen",
                f"127.0.0.1:{nport}",
            ],
            stderr=err,
        )
    try:
        _wait(vurl + "/health")
        _wait(nurl + "/-/ready")
        time.sleep(4)
        t = time.time() - 1.5
        ours = _samples(nurl, t)
        httpx.get(vurl + "/internal/force_flush")
        r = httpx.get(
            vurl + "/api/v1/export",
            params={"match[]": "node_time_seconds", "start": t - 20, "end": t},
        )
        (line,) = r.text.splitlines()
        row = json.loads(line)
        theirs = list(zip(row["timestamps"], row["values"], strict=True))
        assert [ts / 1000 for ts, _ in theirs] == [ts for ts, _ in ours]
        for (_, v1), (_, v2) in zip(theirs, ours, strict=True):
            assert abs(v1 - float(v2)) <= abs(float(v2)) * 1e-11
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(15) == 0
        v.terminate()
        v.wait(20)
