"""Against the real Alertmanager: delivery time, and restarts without a duplicate page
or a lost resolve. Alertmanager notifies a webhook served by the test on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from nightowl.alerts.manager import RuleManager
from nightowl.alerts.notify import AlertmanagerSender, Notifier
from nightowl.alerts.rules import engine_query_fn
from nightowl.query.engine import Engine
from nightowl.store.memory import MemoryStore

from nightowl.model import Labels, Sample, SampleBatch

AM = "/usr/bin/prometheus-alertmanager"
pytestmark = pytest.mark.skipif(
    not os.path.exists(AM) and not os.environ.get("CI"),
    reason="prometheus-alertmanager (Debian package) is not installed",
)

INTERVAL_MS = 1000
GROUP_WAIT_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Hook:
    """A webhook receiver recording Alertmanager's notifications."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.times: list[float] = []
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.got.append(json.loads(body))
                hook.times.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path):  # type: ignore[no-untyped-def]
    hook = _Hook()
    port = _free_port()
    cfg = tmp_path / "am.yml"
    cfg.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n"
        f"  group_wait: {int(GROUP_WAIT_S)}s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{hook.port}/\n        send_resolved: true\n"
    )
    proc = subprocess.Popen(
        [
            AM,
            f"--config.file={cfg}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.path={tmp_path / 'data'}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("alertmanager did not become ready")
        time.sleep(0.1)
    yield url, hook
    proc.terminate()
    proc.wait(10)
    hook.close()


class _Feeder:
    """Writes the current value of `up` every 200 ms, like a scrape."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.value = 0.0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            t = int(time.time() * 1000)
            self.store.append_sync(
                SampleBatch.from_samples([Sample(Labels.of("up", job="api"), t, self.value)])
            )
            await asyncio.sleep(0.2)


def _manager(rules: Path, store: MemoryStore, url: str) -> tuple[RuleManager, Notifier]:
    notifier = Notifier([AlertmanagerSender([url])])
    m = RuleManager(
        engine_query_fn(Engine(store)),
        store,
        notifier,
        interval_ms=INTERVAL_MS,
        external_labels={"site": "t"},
        querier=store,
    )
    m.load([rules])
    return m, notifier


def _clock() -> int:
    return int(time.time() * 1000)


async def _wait(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return bool(cond())


def _paged_names(hook: _Hook) -> list[str]:
    return [n["groupLabels"]["alertname"] for n in _pages(hook, "firing")]


def _pages(hook: _Hook, status: str) -> list[dict[str, Any]]:
    return [n for n in hook.got if n["status"] == status]


async def test_firing_alert_reaches_alertmanager_in_time(alertmanager: Any, tmp_path: Path) -> None:
    """A firing alert is in Alertmanager (and paged) within one interval plus group_wait."""
    url, hook = alertmanager
    rules = tmp_path / "r.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n")
    store = MemoryStore()
    feeder = _Feeder(store)
    ft = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.3)
    m, notifier = _manager(rules, store, url)
    started = time.monotonic()
    notifier.start()
    m.start(_clock)
    try:
        async with httpx.AsyncClient() as c:

            async def listed() -> bool:
                r = await c.get(f"{url}/api/v2/alerts")
                return any(a["labels"].get("alertname") == "Down" for a in r.json())

            end = time.monotonic() + 10
            while not await listed() and time.monotonic() < end:
                await asyncio.sleep(0.05)
            in_am = time.monotonic() - started
            r = await c.get(f"{url}/api/v2/alerts")
            (alert,) = r.json()
            assert alert["labels"] == {"alertname": "Down", "job": "api", "site": "t"}
            assert alert["status"]["state"] == "active"
        assert await _wait(lambda: _pages(hook, "firing"), 10)
        paged = hook.times[0] - started
        budget = INTERVAL_MS / 1000 + GROUP_WAIT_S
        print(f"in Alertmanager after {in_am:.2f}s, paged after {paged:.2f}s (budget {budget}s)")
        assert in_am <= INTERVAL_MS / 1000 + 0.5
        assert paged <= budget + 1.0  # + Alertmanager's own dispatch tick
    finally:
        await m.stop()
        await notifier.stop()
        ft.cancel()


async def test_restart_mid_firing_and_mid_for(alertmanager: Any, tmp_path: Path) -> None:
    """Restart while firing: no second page; resolve after restart arrives. Restart
    while pending: the alert fires once when its original `for` ends."""
    url, hook = alertmanager
    rules = tmp_path / "r.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Down\n    expr: up == 0\n"
        "  - alert: SlowDown\n    expr: up == 0\n    for: 4s\n"
    )
    store = MemoryStore()
    feeder = _Feeder(store)
    ft = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.3)
    m1, n1 = _manager(rules, store, url)
    n1.start()
    m1.start(_clock)
    try:
        assert await _wait(lambda: _pages(hook, "firing"), 10)
        await asyncio.sleep(0.5)
        # SlowDown is pending now (for: 4s): restart in the middle of its `for`
        assert [a.name for a in m1.alerts() if a.state.value == "pending"] == ["SlowDown"]
        await m1.stop()
        await n1.stop()
        await asyncio.sleep(1.0)
        m2, n2 = _manager(rules, store, url)
        n2.start()
        m2.start(_clock)
        # SlowDown fires once; Down is not paged again
        assert await _wait(
            lambda: "SlowDown" in _paged_names(hook),
            15,
        )
        await asyncio.sleep(2.5)  # room for a duplicate page to show up
        down_pages = [n for n in _pages(hook, "firing") if n["groupLabels"]["alertname"] == "Down"]
        assert len(down_pages) == 1, hook.got
        # restart again mid-firing, then the service recovers: the resolve is not lost
        await m2.stop()
        await n2.stop()
        feeder.value = 1.0
        await asyncio.sleep(0.5)
        m3, n3 = _manager(rules, store, url)
        n3.start()
        m3.start(_clock)
        try:
            assert await _wait(lambda: len(_pages(hook, "resolved")) >= 2, 15), hook.got
            resolved = {n["groupLabels"]["alertname"] for n in _pages(hook, "resolved")}
            assert resolved == {"Down", "SlowDown"}
            assert _paged_names(hook).count("Down") == 1
        finally:
            await m3.stop()
            await n3.stop()
    finally:
        ft.cancel()
