"""Webhook receivers: grouping, timers, payload, and a dead receiver coming back."""

from __future__ import annotations

import json

import httpx
from nightowl.alerts.notify import AlertmanagerSender, OutAlert, WebhookReceiver, rfc3339

from nightowl.model import Labels


def _alert(name: str, inst: str, resolved: bool = False, t: int = 0) -> OutAlert:
    return OutAlert(
        Labels.of(alertname=name, instance=inst),
        {"summary": f"{inst} down"},
        starts_at_ms=t,
        ends_at_ms=t + 1000 if resolved else t + 240_000,
        generator_url="http://x/graph",
        resolved=resolved,
    )


class _Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


def test_rfc3339() -> None:
    """Timestamps are RFC 3339 UTC with milliseconds."""
    assert rfc3339(1_500) == "1970-01-01T00:00:01.500Z"


async def test_grouping_timers_and_payload() -> None:
    """group_wait before the first send, group_interval for changes, repeat_interval after."""
    got: list[dict] = []

    def handler(req: httpx.Request) -> httpx.Response:
        got.append(json.loads(req.content))
        return httpx.Response(200)

    clock = _Clock()
    wh = WebhookReceiver(
        "pager",
        "http://hook/",
        group_by=["alertname"],
        group_wait_ms=30_000,
        group_interval_ms=60_000,
        repeat_interval_ms=600_000,
        clock=clock,
        transport=httpx.MockTransport(handler),
    )
    wh.add([_alert("Down", "a"), _alert("Down", "b")])
    wh.tick()
    await wh.deliver()
    assert got == []  # group_wait
    clock.t = 30_000
    wh.tick()
    await wh.deliver()
    (p,) = got
    assert p["version"] == "4" and p["status"] == "firing" and p["receiver"] == "pager"
    assert p["groupLabels"] == {"alertname": "Down"}
    assert p["commonLabels"] == {"alertname": "Down"}
    assert [a["labels"]["instance"] for a in p["alerts"]] == ["a", "b"]
    assert p["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    # nothing changed: no send at group_interval; repeat after repeat_interval
    clock.t = 100_000
    wh.add([_alert("Down", "a"), _alert("Down", "b")])
    wh.tick()
    await wh.deliver()
    assert len(got) == 1
    clock.t = 30_000 + 600_000
    wh.tick()
    await wh.deliver()
    assert len(got) == 2
    # one resolves: sent at the next group_interval, once
    wh.add([_alert("Down", "a", resolved=True)])
    clock.t += 60_000
    wh.tick()
    await wh.deliver()
    assert len(got) == 3
    statuses = {a["labels"]["instance"]: a["status"] for a in got[-1]["alerts"]}
    assert statuses == {"a": "resolved", "b": "firing"}
    clock.t += 60_000
    wh.tick()
    await wh.deliver()
    assert len(got) == 3
    await wh.aclose()


async def test_dead_receiver_no_loss_no_duplicates() -> None:
    """While the receiver is down nothing is lost; when it returns each group's latest
    state arrives once (including a resolve that happened meanwhile)."""
    up = False
    got: list[dict] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if not up:
            raise httpx.ConnectError("refused")
        got.append(json.loads(req.content))
        return httpx.Response(200)

    clock = _Clock()
    wh = WebhookReceiver(
        "r",
        "http://hook/",
        group_wait_ms=0,
        group_interval_ms=10_000,
        backoff_ms=1_000,
        max_backoff_ms=8_000,
        clock=clock,
        max_outbox=10,
        transport=httpx.MockTransport(handler),
    )
    wh.add([_alert("Down", "a"), _alert("Disk", "b")])
    for step in range(60):
        clock.t = step * 1_000
        if step == 20:
            wh.add([_alert("Down", "a", resolved=True)])
        wh.tick()
        await wh.deliver()
    assert got == [] and wh.failures > 0
    assert len(wh.outbox) == 2  # one undelivered notification per group, bounded
    up = True
    clock.t = 100_000
    wh.tick()
    await wh.deliver()
    by_group = {p["groupLabels"]["alertname"]: p for p in got}
    assert sorted(by_group) == ["Disk", "Down"] and len(got) == 2
    assert by_group["Down"]["status"] == "resolved"
    assert not wh.outbox
    clock.t = 200_000
    wh.tick()
    await wh.deliver()
    assert len(got) == 2  # nothing sent twice
    await wh.aclose()


async def test_alertmanager_sender_queue_bounded_and_posts() -> None:
    """API v2 body; the queue drops the oldest beyond its capacity."""
    bodies: list = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/api/v2/alerts"
        bodies.append(json.loads(req.content))
        return httpx.Response(200)

    am = AlertmanagerSender(
        ["http://am1", "http://am2"], queue_capacity=3, transport=httpx.MockTransport(handler)
    )
    am.send([_alert("A", str(i)) for i in range(5)])
    assert am.dropped == 2
    assert await am.flush()
    assert len(bodies) == 2 and [a["labels"]["instance"] for a in bodies[0]] == ["2", "3", "4"]
    assert set(bodies[0][0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    await am.aclose()


def test_notifier_from_config() -> None:
    """[alerting] config becomes API v2 senders with auth headers."""
    from nightowl.alerts.notify import notifier_from_config

    from nightowl.config import (
        AlertingConfig,
        AlertmanagerConfig,
        BasicAuth,
        StaticConfig,
    )

    cfg = AlertingConfig(
        alertmanagers=(
            AlertmanagerConfig(
                static_configs=(StaticConfig(targets=("127.0.0.1:9093", "am2:9093")),),
                path_prefix="/am/",
                basic_auth=BasicAuth(username="u", password="p"),
            ),
        )
    )
    n = notifier_from_config(cfg)
    (s,) = n.alertmanagers
    assert s.urls == ["http://127.0.0.1:9093/am", "http://am2:9093/am"]
    assert s._client.headers["authorization"] == "Basic dTpw"


async def test_webhook_restart_no_duplicate_page_no_lost_resolve(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With a state file, a restarted receiver does not page again for an alert it had
    delivered, and still delivers that alert's resolve."""
    from nightowl.store.alertstate import AlertStateDB

    got: list[dict] = []

    def handler(req: httpx.Request) -> httpx.Response:
        got.append(json.loads(req.content))
        return httpx.Response(200)

    db = AlertStateDB(tmp_path / "s.sqlite")
    clock = _Clock()

    def receiver() -> WebhookReceiver:
        return WebhookReceiver(
            "pager",
            "http://hook/",
            group_wait_ms=0,
            group_interval_ms=1_000,
            clock=clock,
            state=db,
            transport=httpx.MockTransport(handler),
        )

    wh = receiver()
    wh.add([_alert("Down", "a")])
    wh.tick()
    await wh.deliver()
    assert [p["status"] for p in got] == ["firing"]
    await wh.aclose()
    # restart: the rule manager re-sends the restored firing alert
    clock.t = 5_000
    wh2 = receiver()
    wh2.add([_alert("Down", "a")])
    for step in range(5):
        clock.t = 5_000 + step * 1_000
        wh2.tick()
        await wh2.deliver()
    assert [p["status"] for p in got] == ["firing"]
    wh2.add([_alert("Down", "a", resolved=True)])
    clock.t = 20_000
    wh2.tick()
    await wh2.deliver()
    assert [p["status"] for p in got] == ["firing", "resolved"]
    assert db.notify_groups("pager") == []
    await wh2.aclose()
