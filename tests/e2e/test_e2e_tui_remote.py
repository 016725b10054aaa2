"""End to end, remote mode: `nightowl --source URL` in tmux against a Prometheus-compatible
HTTP API on 127.0.0.1 (a small stand-in serving fixed data for the host dashboard's queries)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.slow

if shutil.which("tmux") is None:
    if os.environ.get("CI"):
        raise RuntimeError("tmux is required for the end-to-end UI tests in CI")
    pytest.skip(
        "tmux is not installed (needed to drive the real terminal UI)", allow_module_level=True
    )


def _matrix(q: dict[str, list[str]]) -> dict:
    query = q.get("query", [""])[0]
    start, end, step = (float(q[k][0]) for k in ("start", "end", "step"))
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    if "filesystem" in query:
        result = [
            {"metric": {"mountpoint": "/"}, "values": [[t, "0.41"] for t in times]},
            {"metric": {"mountpoint": "/data"}, "values": [[t, "0.97"] for t in times]},
        ]
    elif "node_load" in query:
        result = [{"metric": {"__name__": "node_load1"}, "values": [[t, "3"] for t in times]}]
    else:
        result = []
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class _Api(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = parse_qs(url.query)
        _Api.requests.append(url.path)
        if url.path == "/api/v1/query_range":
            body = _matrix(q)
        elif url.path == "/api/v1/alerts":
            alert = {
                "labels": {"alertname": "DataDiskFull", "severity": "critical"},
                "annotations": {"summary": "/data is 97% full"},
                "state": "firing",
                "activeAt": "2026-01-15T02:00:00Z",
                "value": "0.97",
            }
            body = {"status": "success", "data": {"alerts": [alert]}}
        else:
            body = {"status": "success", "data": []}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    """The stand-in API on a random 127.0.0.1 port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_remote_mode_draws_the_api_data(tmp_path: Path, api: str) -> None:
    """The host dashboard and the alert pane fill from the remote API; the header says remote."""
    name = f"nightowl-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "XDG_STATE_HOME": str(tmp_path / "s"),
        "TERM": "xterm-256color",
    }
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = f"env {envs} {shlex.quote(sys.executable)} -m nightowl --source {api}; sleep 30"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", cmd], check=True
    )
    try:
        deadline = time.monotonic() + 15
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "97%" in screen and "DataDiskFull" in screen:
                break
            time.sleep(0.2)
        assert "97%" in screen and "/data" in screen and "41%" in screen, screen
        assert "DataDiskFull" in screen and "/data is 97% full" in screen
        assert f"remote {api}" in screen
        assert "/api/v1/query_range" in _Api.requests and "/api/v1/alerts" in _Api.requests
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)
