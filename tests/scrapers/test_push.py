"""The Pushgateway-compatible receiver, driven by the real prometheus_client over HTTP."""

from __future__ import annotations

import asyncio
import base64
import gzip
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers.push import PushReceiver
from nightowl.store.memory import MemoryStore
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import (
    default_handler,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nightowl.model import Labels, Matcher, MatchOp, is_stale


class FakeClock:
    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


def _series(store: MemoryStore, name: str, **match: str) -> dict[Labels, float]:
    ms = [Matcher("__name__", MatchOp.EQ, name)] + [
        Matcher(k, MatchOp.EQ, v) for k, v in match.items()
    ]
    return {d.labels.without_name(): float(d.values[-1]) for d in store.select(ms, 0, 2**62)}


def _live(store: MemoryStore, name: str, **match: str) -> dict[Labels, float]:
    return {k: v for k, v in _series(store, name, **match).items() if not is_stale(v)}


def _app(receiver: PushReceiver) -> Starlette:
    async def endpoint(request: Request) -> Response:
        res = await receiver.handle(
            request.method,
            request.scope["raw_path"].decode("latin-1"),
            await request.body(),
            dict(request.headers),
            request.scope["query_string"].decode("latin-1"),
        )
        return Response(res.body, res.status, res.headers)

    methods = ["GET", "PUT", "POST", "DELETE"]
    return Starlette(routes=[Route("/metrics/{rest:path}", endpoint, methods=methods)])


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, PushReceiver, MemoryStore, FakeClock]]:
    """A receiver mounted on a real uvicorn server on 127.0.0.1 (random port)."""
    store, clock = MemoryStore(), FakeClock()
    receiver = PushReceiver(store, clock=clock, interval_ms=15_000)
    config = uvicorn.Config(
        _app(receiver), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}", receiver, store, clock
    server.should_exit = True
    await task


def _registry() -> tuple[CollectorRegistry, dict[str, Any]]:
    reg = CollectorRegistry()
    g = Gauge("build_duration_seconds", "Build time.", ["stage"], registry=reg)
    g.labels("compile").set(12.5)
    g.labels("test").set(40.25)
    c = Counter("deploys", "Deploys done.", registry=reg)
    c.inc(3)
    h = Histogram("artifact_bytes", "Artifact sizes.", buckets=(1e3, 1e6), registry=reg)
    for v in (10, 2e5, 3e6):
        h.observe(v)
    return reg, {"g": g, "c": c, "h": h}


def _expected(reg: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    """What the registry holds, read through its own collect() (not through text)."""
    out = {}
    for fam in reg.collect():
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


async def test_push_to_gateway_put_with_base64_grouping_key(gateway) -> None:
    """A real push_to_gateway lands with job and grouping labels; `/` values use base64."""
    addr, receiver, store, clock = gateway
    reg, _ = _registry()
    key = {"instance": "runner-7", "branch": "feature/login"}
    await asyncio.to_thread(push_to_gateway, addr, job="ci", registry=reg, grouping_key=key)
    grouping = {"job": "ci", **key}
    for (name, labels), value in _expected(reg).items():
        got = _live(store, name, **grouping)
        want = Labels.from_dict(dict(labels) | grouping)
        assert got.get(want) == value, (name, dict(labels))
    [info] = receiver.groups()
    assert info.grouping_key == Labels.from_dict(grouping)
    assert _series(store, "push_time_seconds") == {Labels.from_dict(grouping): clock.t / 1000}
    assert _series(store, "push_failure_time_seconds") == {Labels.from_dict(grouping): 0.0}
    meta = store.metadata("artifact_bytes")
    assert meta["artifact_bytes"].type == "histogram"


async def test_pushadd_replaces_same_name_put_replaces_group(gateway) -> None:
    """POST keeps other families; PUT drops them (stale); DELETE ends everything (202)."""
    addr, receiver, store, clock = gateway
    reg_a = CollectorRegistry()
    a = Gauge("a_value", "A.", registry=reg_a)
    a.set(1)
    reg_b = CollectorRegistry()
    b = Gauge("b_value", "B.", registry=reg_b)
    b.set(2)
    await asyncio.to_thread(pushadd_to_gateway, addr, job="j", registry=reg_a)
    clock.t += 1000
    await asyncio.to_thread(pushadd_to_gateway, addr, job="j", registry=reg_b)
    assert _live(store, "a_value") == {Labels.of(job="j"): 1.0}
    assert _live(store, "b_value") == {Labels.of(job="j"): 2.0}
    a.set(5)
    clock.t += 1000
    await asyncio.to_thread(pushadd_to_gateway, addr, job="j", registry=reg_a)
    assert _live(store, "a_value") == {Labels.of(job="j"): 5.0}
    assert _live(store, "b_value") == {Labels.of(job="j"): 2.0}

    clock.t += 1000
    await asyncio.to_thread(push_to_gateway, addr, job="j", registry=reg_b)
    assert is_stale(_series(store, "a_value")[Labels.of(job="j")])
    assert _live(store, "b_value") == {Labels.of(job="j"): 2.0}

    clock.t += 1000
    await asyncio.to_thread(delete_from_gateway, addr, job="j")
    assert receiver.groups() == []
    assert is_stale(_series(store, "b_value")[Labels.of(job="j")])
    assert is_stale(_series(store, "push_time_seconds")[Labels.of(job="j")])
    # Deleting an unknown group is no error.
    await asyncio.to_thread(delete_from_gateway, addr, job="never-pushed")


async def test_client_sees_refused_push(gateway) -> None:
    """A type clash across groups is a 400 that prometheus_client raises as an error."""
    import urllib.error

    addr, receiver, store, _ = gateway
    reg_g = CollectorRegistry()
    Gauge("queue_size", "Q.", registry=reg_g).set(4)
    await asyncio.to_thread(push_to_gateway, addr, job="a", registry=reg_g)
    reg_s = CollectorRegistry()
    Histogram("queue_size", "Q.", registry=reg_s).observe(1)
    with pytest.raises(urllib.error.HTTPError) as err:
        await asyncio.to_thread(push_to_gateway, addr, job="b", registry=reg_s)
    assert err.value.code == 400
    err.value.close()
    assert _live(store, "queue_size") == {Labels.of(job="a"): 4.0}
    failed = {g.grouping_key.get("job"): g.push_failure_time_s for g in receiver.groups()}
    assert failed["b"] > 0 and failed["a"] == 0


async def test_gzip_push_from_client(gateway) -> None:
    """prometheus_client's gzip compression is undone by the receiver."""
    addr, _, store, _ = gateway
    reg, _ = _registry()
    await asyncio.to_thread(push_to_gateway, addr, job="gz", registry=reg, compression="gzip")
    assert _live(store, "deploys_total") == {Labels.of(job="gz"): 3.0}


async def test_ttl_header_through_client_handler(gateway) -> None:
    """A TTL sent as a header by a custom handler expires the group after that time."""
    addr, receiver, store, clock = gateway

    def with_ttl(url, method, timeout, headers, data):
        return default_handler(url, method, timeout, [*headers, ("Nightowl-Ttl", "5m")], data)

    reg, _ = _registry()
    await asyncio.to_thread(push_to_gateway, addr, job="short", registry=reg, handler=with_ttl)
    [info] = receiver.groups()
    assert info.expires_at_ms == clock.t + 300_000
    clock.t += 299_000
    await receiver.refresh()
    assert receiver.groups()
    clock.t += 1_000
    await receiver.refresh()
    assert receiver.groups() == []
    assert all(is_stale(v) for v in _series(store, "deploys_total").values())


async def test_refresh_rewrites_groups_with_current_time() -> None:
    """Every interval the groups are written again so they stay fresh."""
    store, clock = MemoryStore(), FakeClock()
    r = PushReceiver(store, clock=clock)
    res = await r.handle("PUT", "/metrics/job/nightly", b"backup_ok 1\n")
    assert res.status == 200
    clock.t += 15_000
    await r.refresh()
    [d] = store.select([Matcher("__name__", MatchOp.EQ, "backup_ok")], 0, 2**62)
    assert d.timestamps.tolist() == [clock.t - 15_000, clock.t]


async def test_ttl_query_default_ttl_and_invalid_ttl() -> None:
    """`?ttl=` wins over the default; 0 means forever; a bad duration is a 400."""
    store, clock = MemoryStore(), FakeClock()
    r = PushReceiver(store, clock=clock, default_ttl_ms=60_000)
    assert (await r.handle("PUT", "/metrics/job/a", b"x 1\n")).status == 200
    assert (await r.handle("PUT", "/metrics/job/b", b"x 1\n", query="ttl=0")).status == 200
    assert (await r.handle("PUT", "/metrics/job/c", b"x 1\n", query="ttl=2h")).status == 200
    exp = {g.grouping_key.get("job"): g.expires_at_ms for g in r.groups()}
    assert exp == {"a": clock.t + 60_000, "b": None, "c": clock.t + 7_200_000}
    bad = await r.handle("PUT", "/metrics/job/d", b"x 1\n", query="ttl=soon")
    assert bad.status == 400 and b"invalid ttl" in bad.body


async def test_bad_pushes_are_400_and_record_failure_time() -> None:
    """Malformed text, timestamps, and type clashes: 400, metrics kept, failure time set."""
    store, clock = MemoryStore(), FakeClock()
    r = PushReceiver(store, clock=clock)
    assert (await r.handle("PUT", "/metrics/job/j", b"# TYPE m counter\nm 1\n")).status == 200
    clock.t += 1000
    cases = [
        (b"m{ 2\n", b"line 1"),
        (b"m 2 1700000000000\n", b"timestamps"),
        (b"m 1\nm 2\n", b"duplicate"),
    ]
    for body, fragment in cases:
        res = await r.handle("PUT", "/metrics/job/j", body)
        assert res.status == 400 and fragment in res.body, (body, res.body)
    res = await r.handle("PUT", "/metrics/job/other", b"# TYPE m gauge\nm 1\n")
    assert res.status == 400 and b"counter" in res.body
    assert _live(store, "m") == {Labels.of(job="j"): 1.0}
    failures = _series(store, "push_failure_time_seconds")
    assert failures[Labels.of(job="j")] == clock.t / 1000
    assert failures[Labels.of(job="other")] == clock.t / 1000


async def test_grouping_label_overrides_body_label() -> None:
    """A body label that is also in the grouping key takes the key's value."""
    store = MemoryStore()
    r = PushReceiver(store, clock=FakeClock())
    body = b'm{instance="from-body",job="body",x="1"} 3\n'
    assert (await r.handle("POST", "/metrics/job/j/instance/url", body)).status == 200
    assert _live(store, "m") == {Labels.of(job="j", instance="url", x="1"): 3.0}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("PUT", "/metrics/job/", {}, 400),
        ("PUT", "/metrics/job", {}, 404),
        ("PUT", "/metrics/jobs/x", {}, 404),
        ("PUT", "/metrics/job/x/odd", {}, 400),
        ("PUT", "/metrics/job/x/__name__/y", {}, 400),
        ("PUT", "/metrics/job/x/a/1/a/2", {}, 400),
        ("PUT", "/metrics/job/x/a@base64/!!", {}, 400),
        ("GET", "/metrics/job/x", {}, 405),
        (
            "PUT",
            "/metrics/job/x",
            {
                "Content-Type": "application/vnd.google.protobuf; "
                "proto=io.prometheus.client.MetricFamily; "
                "encoding=delimited"
            },
            415,
        ),
        ("PUT", "/metrics/job/x", {"Content-Encoding": "br"}, 415),
        ("PUT", "/metrics/job/x", {"Content-Encoding": "gzip"}, 400),
    ],
)
async def test_request_errors(method: str, path: str, headers: dict, status: int) -> None:
    """Malformed paths, methods and encodings get the Pushgateway's status codes."""
    r = PushReceiver(MemoryStore(), clock=FakeClock())
    res = await r.handle(method, path, b"m 1\n", headers)
    assert res.status == status, res.body
    assert res.body  # always an explanation


async def test_base64_empty_value_percent_encoding_and_gzip_limit() -> None:
    """`label@base64/=` is an empty value; %-escapes decode; a gzip bomb gets 413."""
    store = MemoryStore()
    r = PushReceiver(store, clock=FakeClock(), max_body=1000)
    job = base64.urlsafe_b64encode(b"a/b").decode().rstrip("=")
    res = await r.handle("PUT", f"/metrics/job@base64/{job}/first@base64/=/name/%CE%A0", b"m 1\n")
    assert res.status == 200
    assert _live(store, "m") == {Labels.of(job="a/b", name="Π"): 1.0}
    bomb = gzip.compress(b"#" * 100_000)
    res = await r.handle("PUT", "/metrics/job/x", bomb, {"Content-Encoding": "gzip"})
    assert res.status == 413


async def test_empty_put_empties_group_but_updates_push_time() -> None:
    """PUT with an empty body deletes the metrics and keeps the group (Pushgateway rule)."""
    store, clock = MemoryStore(), FakeClock()
    r = PushReceiver(store, clock=clock)
    await r.handle("PUT", "/metrics/job/j", b"m 1\n")
    clock.t += 5000
    assert (await r.handle("PUT", "/metrics/job/j", b"")).status == 200
    assert is_stale(_series(store, "m")[Labels.of(job="j")])
    assert _live(store, "push_time_seconds") == {Labels.of(job="j"): clock.t / 1000}
    [info] = r.groups()
    assert info.series == 0


async def test_run_task_refreshes_on_interval() -> None:
    """start()/stop(): the refresh task re-writes groups on its own."""
    store = MemoryStore()
    r = PushReceiver(store, interval_ms=20)
    await r.handle("PUT", "/metrics/job/j", b"m 1\n")
    r.start()
    for _ in range(100):
        await asyncio.sleep(0.01)
        [d] = store.select([Matcher("__name__", MatchOp.EQ, "m")], 0, 2**62)
        if len(d.timestamps) >= 3:
            break
    await r.stop()
    assert len(d.timestamps) >= 3


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["PUT", "POST", "DELETE", "PATCH"]),
    path=st.text(alphabet="/metricsjob@base64=xyz_%AF0", max_size=30).map(
        lambda s: "/metrics/" + s
    ),
    body=st.binary(max_size=60) | st.text(max_size=60).map(str.encode),
    query=st.text(alphabet="ttl=1hms&0x", max_size=10),
)
def test_handle_fuzz_never_raises(method: str, path: str, body: bytes, query: str) -> None:
    """Any request gets a status code, never an exception."""

    async def go() -> int:
        r = PushReceiver(MemoryStore(), clock=FakeClock())
        return (await r.handle(method, path, body, {}, query)).status

    status = asyncio.run(go())
    assert status in {200, 202, 400, 404, 405, 413, 415}
    assert not math.isnan(status)


async def test_persistence_file_survives_restart(tmp_path) -> None:
    """Groups (values, push times, TTL) come back in a new receiver; deletes persist too."""
    path = tmp_path / "state" / "push.json"
    store, clock = MemoryStore(), FakeClock()
    r1 = PushReceiver(store, clock=clock, persistence_file=path)
    body = b'# TYPE q gauge\n# HELP q Queue.\nq{x="1"} 3.5\nq{x="2"} NaN\nr +Inf\n'
    assert (await r1.handle("PUT", "/metrics/job/a/env/prod", body, query="ttl=1h")).status == 200
    assert (await r1.handle("PUT", "/metrics/job/b", b"s 1\n")).status == 200
    assert (await r1.handle("DELETE", "/metrics/job/b")).status == 202

    store2 = MemoryStore()
    clock.t += 60_000
    r2 = PushReceiver(store2, clock=clock, persistence_file=path)
    assert [g.grouping_key for g in r2.groups()] == [Labels.of(job="a", env="prod")]
    [info] = r2.groups()
    assert info.expires_at_ms == clock.t - 60_000 + 3_600_000
    await r2.refresh()
    got = _live(store2, "q")
    assert got[Labels.of(job="a", env="prod", x="1")] == 3.5
    assert math.isnan(got[Labels.of(job="a", env="prod", x="2")])
    assert _live(store2, "r") == {Labels.of(job="a", env="prod"): math.inf}
    assert store2.metadata("q")["q"].help == "Queue."
    assert _live(store2, "push_time_seconds") == {
        Labels.of(job="a", env="prod"): (clock.t - 60_000) / 1000
    }


def test_damaged_persistence_file_starts_empty(tmp_path, caplog) -> None:
    """A damaged file is logged and ignored, never a crash."""
    path = tmp_path / "push.json"
    for text in ("{not json", '{"version": 1, "groups": [{"key": 5}]}', '{"version": 9}'):
        path.write_text(text)
        assert PushReceiver(MemoryStore(), persistence_file=path).groups() == []
    assert "push persistence file" in caplog.text


def test_from_config(tmp_path) -> None:
    """The [push] section sets the default TTL; the interval comes from the caller."""
    from nightowl.config import parse_config

    cfg = parse_config('[push]\nenabled = true\ndefault_ttl = "10m"\n', base_dir=tmp_path)
    r = PushReceiver.from_config(cfg.push, MemoryStore(), interval_ms=5_000)
    assert (r.default_ttl_ms, r.interval_ms, r.persistence_file) == (600_000, 5_000, None)
    cfg = parse_config(
        '[push]\nenabled = true\npersistence_file = "push.json"\n', base_dir=tmp_path
    )
    r = PushReceiver.from_config(cfg.push, MemoryStore())
    assert r.persistence_file == tmp_path / "push.json"


class _BrokenStore(MemoryStore):
    async def append(self, batch):
        raise OSError("disk full")


async def test_store_failure_is_a_500_not_a_crash(caplog) -> None:
    """A failing store answers 500 (good push) or 400 noting it (bad push); the group is kept."""
    r = PushReceiver(_BrokenStore(), clock=FakeClock())
    res = await r.handle("PUT", "/metrics/job/j", b"m 1\n")
    assert res.status == 500 and b"storing it failed" in res.body
    res = await r.handle("PUT", "/metrics/job/j", b"m{ 1\n")
    assert res.status == 400 and b"storing failed" in res.body
    assert [g.series for g in r.groups()] == [1]
    assert "disk full" in caplog.text
