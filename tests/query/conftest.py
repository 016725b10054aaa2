"""Fixtures for the PromQL tests: a throwaway real Prometheus to compare answers with."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(tmp: Path, openmetrics: str) -> Iterator[str]:
    if not PROMETHEUS or not PROMTOOL:
        pytest.skip("prometheus/promtool are not installed")
    (tmp / "data.om").write_text(openmetrics)
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "data.om"),
         str(tmp / "tsdb")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    proc = subprocess.Popen(
        [PROMETHEUS, "--config.file=/dev/null", f"--storage.tsdb.path={tmp / 'tsdb'}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.skip("prometheus did not start")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def prometheus_serving() -> Callable[[Path, str], contextlib.AbstractContextManager[str]]:
    """`with prometheus_serving(tmp_dir, openmetrics_text) as url:` a real Prometheus on
    127.0.0.1 holding exactly that data (skips when prometheus/promtool are absent)."""
    return _serving
