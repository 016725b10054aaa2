"""End to end: SIGHUP re-applies sources, rules and notifiers of a running `nightowl daemon`.

The daemon starts with nothing to do; a reload adds a command source, an alert
rule and an Alertmanager (a small HTTP server in the test that records what it
is sent); a second reload moves notifications to another Alertmanager and adds
a rule. Each step is checked through the HTTP API and the Alertmanagers' logs.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Alertmanager:
    """Records the alert names POSTed to /api/v2/alerts."""

    def __init__(self) -> None:
        self.names: list[str] = []
        received = self.names

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/api/v2/alerts":
                    received.extend(a["labels"]["alertname"] for a in json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


BASE = """
[host]
enabled = false
[server]
enable_lifecycle = true
"""

SOURCES_AND_RULES = """
[[command_configs]]
name = "answer"
command = ["{python}", "-c", "print(42)"]
interval = "1s"
timeout = "1s"
format = "number"
metric = "f6_answer"

[[rule_groups]]
name = "g"
interval = "1s"

[[rule_groups.rules]]
alert = "AlwaysA"
expr = "vector(1)"
{more_rules}
[[alerting.alertmanagers]]
static_configs = [{{ targets = ["{am}"] }}]
timeout = "2s"
"""

RULE_B = """
[[rule_groups.rules]]
alert = "AlwaysB"
expr = "vector(2)"
"""


def _until(what: str, check: Callable[[], bool], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; daemon log:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.fixture
def ams() -> Iterator[tuple[_Alertmanager, _Alertmanager]]:
    """Two recording Alertmanagers."""
    one, two = _Alertmanager(), _Alertmanager()
    yield one, two
    one.close()
    two.close()


def test_sighup_reapplies_sources_rules_and_notifier(
    tmp_path: Path, ams: tuple[_Alertmanager, _Alertmanager]
) -> None:
    """Reloads start command sources and rules, keep notifying, and switch Alertmanagers."""
    am1, am2 = ams
    cfg = tmp_path / "config.toml"
    cfg.write_text(BASE)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "stderr.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
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
                f"127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=f,
        )
    try:

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(url + "/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        def answer() -> list[Any]:
            q = {"query": 'f6_answer{command="answer"}'}
            return httpx.get(url + "/api/v1/query", params=q).json()["data"]["result"]

        def alerts() -> set[str]:
            data = httpx.get(url + "/api/v1/alerts").json()["data"]["alerts"]
            return {a["labels"]["alertname"] for a in data if a["state"] == "firing"}

        _until("start", ready, log)
        assert alerts() == set()

        cfg.write_text(
            BASE + SOURCES_AND_RULES.format(python=sys.executable, more_rules="", am=am1.address)
        )
        proc.send_signal(signal.SIGHUP)
        _until("the command source's first sample", lambda: bool(answer()), log)
        assert answer()[0]["value"][1] == "42"
        _until("AlwaysA sent to the first Alertmanager", lambda: "AlwaysA" in am1.names, log)
        assert alerts() == {"AlwaysA"}

        cfg.write_text(
            BASE
            + SOURCES_AND_RULES.format(python=sys.executable, more_rules=RULE_B, am=am2.address)
        )
        proc.send_signal(signal.SIGHUP)
        _until("AlwaysB sent to the second Alertmanager", lambda: "AlwaysB" in am2.names, log)
        assert "AlwaysB" not in am1.names
        assert alerts() == {"AlwaysA", "AlwaysB"}  # AlwaysA kept its state across reloads
        assert answer()[0]["value"][1] == "42"

        # A bad rule file rejects the whole reload: the new command source never starts.
        good = cfg.read_text()
        cfg.write_text(
            'rule_files = ["/nonexistent/rules.yml"]\n'
            + good
            + SOURCES_AND_RULES.split("[[rule_groups]]")[0]
            .format(python=sys.executable)
            .replace('"answer"', '"other"')
            .replace("f6_answer", "f6_other")
        )
        proc.send_signal(signal.SIGHUP)
        _until("the rejection", lambda: "config reload rejected" in log.read_text(), log)
        info = httpx.get(url + "/api/v1/status/runtimeinfo").json()["data"]
        assert info["reloadConfigSuccess"] is False
        time.sleep(2.5)
        q = {"query": "f6_other"}
        assert httpx.get(url + "/api/v1/query", params=q).json()["data"]["result"] == []
        assert alerts() == {"AlwaysA", "AlwaysB"}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        text = log.read_text()
        assert "Traceback" not in text, text
        assert text.count(" ERROR ") == 1, text  # the rejection
        assert text.count("config reloaded") == 2, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
