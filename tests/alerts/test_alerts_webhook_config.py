"""[[alerting.webhooks]] end to end: config -> rules -> a real HTTP receiver on 127.0.0.1.

The receiver is a real server in a thread; the rules run on the real engine over a
MemoryStore, wired by `alerting_from_config` exactly as the runtime does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from nightowl.alerts.manager import alerting_from_config
from nightowl.alerts.notify import OutAlert, WebhookReceiver, notifier_from_config, route_matchers
from nightowl.alerts.rules import engine_query_fn
from nightowl.query.engine import Engine
from nightowl.store.alertstate import AlertStateDB, alertstate_path
from nightowl.store.memory import MemoryStore

from nightowl.config import ConfigValidationError, parse_config
from nightowl.errors import UserError
from nightowl.model import Labels, Sample, SampleBatch


class _Hook:
    """A webhook receiver on 127.0.0.1 recording each POST (body, headers, arrival ms)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrived_ms: list[int] = []
        self.status = 200
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.status == 200:
                    hook.got.append(json.loads(body))
                    hook.headers.append({k.lower(): v for k, v in self.headers.items()})
                    hook.arrived_ms.append(int(time.time() * 1000))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def pages(self, status: str, alertname: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for p in self.got
            if p["status"] == status
            and (alertname is None or p["groupLabels"].get("alertname") == alertname)
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    h = _Hook()
    yield h
    h.close()


class _Feeder:
    """Writes `up{job="api"}` (and `load`) every 50 ms, like a scrape."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.up = 0.0

    async def run(self) -> None:
        while True:
            t = int(time.time() * 1000)
            self.store.append_sync(
                SampleBatch.from_samples(
                    [
                        Sample(Labels.of("up", job="api", instance="a:1"), t, self.up),
                        Sample(Labels.of("load", job="api", instance="a:1"), t, 9.0),
                    ]
                )
            )
            await asyncio.sleep(0.05)


async def _wait(cond: Callable[[], Any], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return bool(cond())


def _now() -> int:
    return int(time.time() * 1000)


def _config(url: str, group_wait: str = "300ms") -> str:
    return f"""
[global]
evaluation_interval = "100ms"
external_labels = {{ site = "lab" }}

[[rule_groups]]
name = "g"
[[rule_groups.rules]]
alert = "Down"
expr = "up == 0"
labels = {{ severity = "critical" }}
annotations = {{ summary = "{{{{ $labels.instance }}}} is down" }}
[[rule_groups.rules]]
alert = "HighLoad"
expr = "load > 5"
labels = {{ severity = "warning" }}
[[rule_groups.rules]]
alert = "Muted"
expr = "load > 5"
labels = {{ severity = "critical" }}

[[alerting.webhooks]]
name = "pager"
url = "{url}"
matchers = ['severity="critical"']
group_by = ["alertname"]
group_wait = "{group_wait}"
group_interval = "200ms"
repeat_interval = "1h"
headers = {{ "X-Team" = "ops" }}
authorization = {{ credentials = "s3cret" }}
"""


def _build(text: str, store: MemoryStore, db: Path) -> tuple[Any, Any, Any]:
    return alerting_from_config(
        parse_config(text), engine_query_fn(Engine(store)), store, store, db
    )


async def test_webhook_from_config_pages_and_resolves(hook: _Hook, tmp_path: Path) -> None:
    """A rule fires: after group_wait the receiver gets Alertmanager's webhook JSON, only
    for the routed (critical, not silenced) alerts; then the resolve arrives once."""
    db = tmp_path / "m.db"
    AlertStateDB(alertstate_path(db)).add_silence(
        ['alertname="Muted"'], 0, _now() + 3_600_000, "test", "quiet", _now()
    )
    store = MemoryStore()
    feeder = _Feeder(store)
    ft = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.1)
    manager, notifier, state = _build(_config(hook.url), store, db)
    notifier.start()
    manager.start(_now)
    try:
        assert await _wait(lambda: hook.pages("firing"), 5), hook.got
        (p,) = hook.got
        assert set(p) == {
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        }
        assert p["version"] == "4" and p["status"] == "firing" and p["receiver"] == "pager"
        assert p["groupKey"] == '{}:{"alertname": "Down"}'
        assert p["groupLabels"] == {"alertname": "Down"}
        want = {
            "alertname": "Down",
            "instance": "a:1",
            "job": "api",
            "severity": "critical",
            "site": "lab",
        }
        assert p["commonLabels"] == want
        assert p["commonAnnotations"] == {"summary": "a:1 is down"}
        assert p["externalURL"] == "" and p["truncatedAlerts"] == 0
        (a,) = p["alerts"]
        assert a["status"] == "firing" and a["labels"] == want
        assert a["endsAt"] == "0001-01-01T00:00:00Z" and len(a["fingerprint"]) == 16
        # group_wait: the page came no sooner than 300 ms after the alert started
        started = time.mktime(time.strptime(a["startsAt"][:19], "%Y-%m-%dT%H:%M:%S"))
        started_ms = int((started - time.timezone) * 1000) + int(a["startsAt"][20:23])
        assert hook.arrived_ms[0] - started_ms >= 300 - 5
        h = hook.headers[0]
        assert h["authorization"] == "Bearer s3cret" and h["x-team"] == "ops"
        assert h["content-type"] == "application/json"
        # delivery state is in the alert state file
        (saved,) = state.notify_groups("pager")
        assert saved.labels == {"alertname": "Down"} and list(saved.sent_state.values()) == [False]
        # no repeat within repeat_interval
        await asyncio.sleep(0.6)
        assert len(hook.got) == 1
        # recovery: one resolved notification
        feeder.up = 1.0
        assert await _wait(lambda: hook.pages("resolved"), 5), hook.got
        await asyncio.sleep(0.5)
        assert [x["status"] for x in hook.got] == ["firing", "resolved"]
        (r,) = hook.pages("resolved")
        (ra,) = r["alerts"]
        assert ra["status"] == "resolved" and ra["endsAt"] != "0001-01-01T00:00:00Z"
        assert ra["fingerprint"] == a["fingerprint"] and r["groupKey"] == p["groupKey"]
        # the warning (not routed) and the silenced alert never reached the receiver
        assert {x["groupLabels"]["alertname"] for x in hook.got} == {"Down"}
        assert state.notify_groups("pager") == []
    finally:
        await manager.stop()
        await notifier.stop()
        ft.cancel()


async def test_restart_neither_repages_nor_loses_the_resolve(hook: _Hook, tmp_path: Path) -> None:
    """Stop nightowl while the alert is firing and paged; start it again from the same
    config and files: no second page; the resolve after the restart is delivered."""
    db = tmp_path / "m.db"
    store = MemoryStore()
    feeder = _Feeder(store)
    ft = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.1)
    text = _config(hook.url, group_wait="100ms")
    m1, n1, _ = _build(text, store, db)
    n1.start()
    m1.start(_now)
    try:
        assert await _wait(lambda: hook.pages("firing", "Down"), 5), hook.got
        await m1.stop()
        await n1.stop()
        m2, n2, _ = _build(text, store, db)
        n2.start()
        m2.start(_now)
        try:
            await asyncio.sleep(0.8)  # several evaluations and group_intervals
            assert len(hook.pages("firing", "Down")) == 1, hook.got
            feeder.up = 1.0
            assert await _wait(lambda: hook.pages("resolved", "Down"), 5), hook.got
        finally:
            await m2.stop()
            await n2.stop()
    finally:
        ft.cancel()
    assert [p["status"] for p in hook.got if p["groupLabels"]["alertname"] == "Down"] == [
        "firing",
        "resolved",
    ]


def _alert(name: str, inst: str, *, resolved: bool = False, sev: str = "critical") -> OutAlert:
    return OutAlert(
        Labels.of(alertname=name, instance=inst, severity=sev),
        {"summary": "x"},
        starts_at_ms=1_000,
        ends_at_ms=2_000 if resolved else 241_000,
        resolved=resolved,
    )


class _Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


def _receiver(url: str, clock: _Clock, **kw: Any) -> WebhookReceiver:
    return WebhookReceiver("r", url, group_wait_ms=0, group_interval_ms=1_000, clock=clock, **kw)


async def _step(wh: WebhookReceiver, clock: _Clock, t: int) -> None:
    clock.t = t
    wh.tick()
    await wh.deliver()


async def test_send_resolved_false_and_max_alerts(hook: _Hook) -> None:
    """send_resolved = false: resolves leave silently (a new firing alert still pages);
    max_alerts cuts the payload and counts the rest in truncatedAlerts."""
    clock = _Clock()
    wh = _receiver(hook.url, clock, send_resolved=False, max_alerts=2)
    wh.add([_alert("Down", i) for i in "abc"])
    await _step(wh, clock, 0)
    (p,) = hook.got
    assert p["truncatedAlerts"] == 1 and [a["labels"]["instance"] for a in p["alerts"]] == [
        "a",
        "b",
    ]
    assert p["commonLabels"]["alertname"] == "Down"
    wh.add([_alert("Down", "a", resolved=True)])
    await _step(wh, clock, 2_000)
    assert len(hook.got) == 1  # no resolve sent
    wh.add([_alert("Down", "b", resolved=True), _alert("Down", "c", resolved=True)])
    await _step(wh, clock, 4_000)
    assert len(hook.got) == 1 and wh.groups == {}  # all gone, the group is forgotten
    wh.add([_alert("Down", "d")])
    await _step(wh, clock, 6_000)
    assert [a["labels"]["instance"] for a in hook.got[-1]["alerts"]] == ["d"]
    await wh.aclose()


async def test_silenced_after_paging_is_not_repeated(hook: _Hook) -> None:
    """A silence set after the first page stops the repeat; when it ends the alert pages."""
    clock = _Clock()
    muted = {"on": False}
    wh = _receiver(
        hook.url,
        clock,
        repeat_interval_ms=10_000,
        is_muted=lambda labels: muted["on"] and labels.get("instance") == "a",
    )
    wh.add([_alert("Down", "a")])
    await _step(wh, clock, 0)
    assert len(hook.got) == 1
    muted["on"] = True
    for t in range(1_000, 25_000, 1_000):
        await _step(wh, clock, t)
    assert len(hook.got) == 1
    muted["on"] = False
    await _step(wh, clock, 26_000)
    assert len(hook.got) == 2 and hook.got[1]["alerts"][0]["status"] == "firing"
    await wh.aclose()


async def test_receiver_down_then_back_delivers_once(hook: _Hook) -> None:
    """A receiver answering 503 gets the notification once, after it recovers."""
    clock = _Clock()
    wh = _receiver(hook.url, clock, backoff_ms=100)
    hook.status = 503
    wh.add([_alert("Down", "a")])
    await _step(wh, clock, 0)
    await _step(wh, clock, 200)
    assert hook.got == [] and wh.failures == 2 and len(wh.outbox) == 1
    hook.status = 200
    for t in (1_000, 2_000, 3_000):
        await _step(wh, clock, t)
    assert [p["status"] for p in hook.got] == ["firing"]
    await wh.aclose()


def test_notifier_from_config_builds_webhooks(tmp_path: Path) -> None:
    """Each [[alerting.webhooks]] becomes a receiver with its timers, routing and auth."""
    pw = tmp_path / "pw"
    pw.write_text("p4ss\n")
    c = parse_config(
        "[[alerting.webhooks]]\n"
        'name = "chat"\nurl = "https://chat.example/hook"\n'
        'group_by = ["..."]\ngroup_wait = 0\ngroup_interval = "1m"\nrepeat_interval = "2h"\n'
        "send_resolved = false\nmax_alerts = 5\n"
        f'basic_auth = {{ username = "u", password_file = "{pw}" }}\n'
        "tls_config = { insecure_skip_verify = true }\n"
        "[[alerting.webhooks]]\n"
        'name = "all"\nurl = "http://127.0.0.1:1/"\n'
    )
    n = notifier_from_config(c.alerting)
    chat, every = n.webhooks
    assert (chat.name, chat.url, chat.group_by) == ("chat", "https://chat.example/hook", ["..."])
    assert (chat.group_wait_ms, chat.group_interval_ms, chat.repeat_interval_ms) == (
        0,
        60_000,
        7_200_000,
    )
    assert not chat.send_resolved and chat.max_alerts == 5
    assert chat._client.headers["authorization"] == "Basic " + base64.b64encode(b"u:p4ss").decode()
    assert (every.group_wait_ms, every.repeat_interval_ms, every.send_resolved) == (
        30_000,
        14_400_000,
        True,
    )
    assert every.matchers == [] and n.alertmanagers == []


def test_notifier_from_config_names_an_unreadable_secret(tmp_path: Path) -> None:
    """A password file that is gone is a user error naming the receiver."""
    c = parse_config(
        '[[alerting.webhooks]]\nname = "x"\nurl = "http://127.0.0.1:1/"\n'
        f'basic_auth = {{ username = "u", password_file = "{tmp_path / "missing"}" }}\n'
    )
    with pytest.raises(UserError, match=r"alerting\.webhooks\[0\]: .*missing"):
        notifier_from_config(c.alerting)


def test_route_matchers() -> None:
    """Alertmanager route matchers: one per string or a braced list; empty-matching allowed."""
    ms = route_matchers(['severity="critical"', '{team!="db", instance=~"a.*"}'])
    assert [(m.name, m.op.value, m.value) for m in ms] == [
        ("severity", "=", "critical"),
        ("team", "!=", "db"),
        ("instance", "=~", "a.*"),
    ]
    assert route_matchers(['team!="db"'])[0].matches("")
    for bad in ("severity=critical", "", '{a="b"', "=~x"):
        with pytest.raises(UserError, match="bad matcher"):
            route_matchers([bad])


def test_group_by_dots_must_stand_alone() -> None:
    """`...` means every label, so it cannot be mixed with names."""
    with pytest.raises(ConfigValidationError, match=r"group_by\[1\]: '\.\.\.' must be the only"):
        parse_config(
            '[[alerting.webhooks]]\nname = "x"\nurl = "http://h/"\ngroup_by = ["a", "..."]\n'
        )
