"""The Source implementations: RemoteSource against a real HTTP server on 127.0.0.1
speaking Prometheus's API, and LocalSource over the real engine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from nightowl.query.source import RemoteSource, Source
from nightowl.query.values import Matrix, Scalar, Vector

from nightowl.errors import ParseError, QueryError
from nightowl.model import MetricType, TargetHealth
from nightowl.sources import targets_from_up

T = 1_768_446_000


def _ok(data: object, **extra: object) -> dict:
    return {"status": "success", "data": data, **extra}


ROUTES = {
    "/api/v1/query": lambda q: (
        (
            400,
            {
                "status": "error",
                "errorType": "bad_data",
                "error": "1:5: parse error: unexpected end",
            },
        )
        if q["query"][0] == "bad("
        else (503, {"status": "error", "errorType": "unavailable", "error": "overloaded"})
        if q["query"][0] == "busy"
        else (200, _ok({"resultType": "scalar", "result": [T, "2"]}))
        if q["query"][0] == "1+1"
        else (
            200,
            _ok(
                {
                    "resultType": "vector",
                    "result": [
                        {
                            "metric": {"__name__": "up", "job": "a"},
                            "value": [float(q["time"][0]), "1"],
                        }
                    ],
                },
                warnings=["careful"],
            ),
        )
    ),
    "/api/v1/query_range": lambda q: (
        200,
        _ok(
            {
                "resultType": "matrix",
                "result": [
                    {
                        "metric": {"job": "a"},
                        "values": [[float(q["start"][0]), "1"], [float(q["start"][0]) + 60, "NaN"]],
                    }
                ],
            }
        ),
    ),
    "/api/v1/label/__name__/values": lambda q: (200, _ok(["up", "node_load1"])),
    "/api/v1/labels": lambda q: (
        200,
        _ok(["job", "__name__"] + (["instance"] if "match[]" in q else [])),
    ),
    "/api/v1/label/job/values": lambda q: (200, _ok(["b", "a"])),
    "/api/v1/metadata": lambda q: (
        200,
        _ok(
            {
                "up": [{"type": "gauge", "help": "Target up.", "unit": ""}],
                "odd": [{"type": "weird", "help": ""}],
            }
        ),
    ),
    "/api/v1/series": lambda q: (
        200,
        _ok(
            [
                {"__name__": "up", "job": "a", "instance": "x"},
                {"__name__": "up", "job": "b", "instance": "x"},
            ]
        ),
    ),
    "/api/v1/targets": lambda q: (
        200,
        _ok(
            {
                "activeTargets": [
                    {
                        "discoveredLabels": {"__address__": "x:9100"},
                        "labels": {"job": "node", "instance": "x:9100"},
                        "scrapePool": "node",
                        "scrapeUrl": "http://x:9100/metrics",
                        "lastError": "connection refused",
                        "lastScrape": "2026-01-15T03:00:00Z",
                        "lastScrapeDuration": 0.5,
                        "health": "down",
                        "scrapeInterval": "15s",
                        "scrapeTimeout": "10s",
                    }
                ],
                "droppedTargets": [],
            }
        ),
    ),
    "/api/v1/rules": lambda q: (
        200,
        _ok(
            {
                "groups": [
                    {
                        "name": "node",
                        "file": "/etc/prometheus/node.yml",
                        "rules": [
                            {
                                "type": "alerting",
                                "name": "Down",
                                "query": "up == 0",
                                "health": "ok",
                                "state": "firing",
                                "alerts": [{}, {}],
                                "lastEvaluation": "2026-01-15T03:00:00Z",
                                "evaluationTime": 0.002,
                                "lastError": "",
                            },
                            {
                                "type": "recording",
                                "name": "job:up:sum",
                                "query": "sum by (job) (up)",
                                "health": "err",
                                "lastError": "boom",
                            },
                        ],
                    }
                ]
            }
        ),
    ),
    "/api/v1/alerts": lambda q: (
        200,
        _ok(
            {
                "alerts": [
                    {
                        "labels": {"alertname": "Slow", "severity": "warning"},
                        "annotations": {
                            "summary": "p99 high",
                            "runbook_url": "https://runbooks/slow",
                        },
                        "state": "pending",
                        "activeAt": "2026-01-15T02:55:00Z",
                        "value": "1.5e+00",
                    },
                    {
                        "labels": {"alertname": "Down", "severity": "critical"},
                        "annotations": {},
                        "state": "firing",
                        "activeAt": "2026-01-15T02:00:00Z",
                        "value": "0",
                    },
                ]
            }
        ),
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        route = ROUTES.get(url.path)
        if route is None:
            status, body = 404, {"status": "error", "errorType": "not_found", "error": "no route"}
        else:
            status, body = route(parse_qs(url.query))
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A tiny Prometheus-API server on a random 127.0.0.1 port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_remote_source_reads_the_api(prometheus: str) -> None:
    """Every Source method maps onto its /api/v1 endpoint and decodes the JSON shapes."""
    src = RemoteSource(prometheus)
    try:
        assert isinstance(src, Source) and src.read_only
        assert src.description == f"remote {prometheus.rstrip('/')}"
        r = await src.instant("up", T * 1000)
        assert isinstance(r.value, Vector) and r.value[0].v == 1.0 and r.value[0].t == T * 1000
        assert r.warnings == ["careful"]
        assert isinstance((await src.instant("1+1", 0)).value, Scalar)
        m = (await src.range("up", T * 1000, T * 1000 + 60_000, 60_000)).value
        assert isinstance(m, Matrix) and m[0].timestamps.tolist() == [T * 1000, T * 1000 + 60_000]
        assert m[0].values[0] == 1 and np.isnan(m[0].values[1])
        assert await src.metric_names() == ["node_load1", "up"]
        assert await src.label_names() == ["__name__", "job"]
        assert "instance" in await src.label_names("up")
        assert await src.label_values("job") == ["a", "b"]
        meta = await src.metadata()
        assert meta["up"].type is MetricType.GAUGE and meta["odd"].type is MetricType.UNKNOWN
        summary = await src.metric_summary("up")
        assert summary.series_count == 2 and summary.label_cardinality == {"instance": 1, "job": 2}
        (t,) = await src.targets()
        assert t.health is TargetHealth.DOWN and t.last_error == "connection refused"
        assert t.scrape_interval_ms == 15_000 and t.last_scrape_ms == T * 1000
        alerts = await src.alerts()
        assert [a.name for a in alerts] == ["Down", "Slow"]  # firing first
        assert alerts[1].runbook == "https://runbooks/slow" and alerts[1].value == 1.5
        assert alerts[1].active_since_ms == T * 1000 - 300_000
        down, rec = await src.rules()
        assert (down.kind, down.state, down.active, down.last_eval_ms) == (
            "alerting",
            "firing",
            2,
            T * 1000,
        )
        assert (rec.kind, rec.health, rec.last_error, rec.state) == ("recording", "err", "boom", "")
    finally:
        await src.close()


async def test_remote_errors_are_typed(prometheus: str) -> None:
    """API errors keep their kind; parse errors are ParseErrors; a dead server is unavailable."""
    src = RemoteSource(prometheus)
    try:
        with pytest.raises(ParseError):
            await src.instant("bad(", 0)
        with pytest.raises(QueryError) as err:
            await src.instant("busy", 0)
        assert err.value.kind == "unavailable"
        with pytest.raises(ParseError):
            src.validate("sum(")
        src.validate("sum(up)")
    finally:
        await src.close()
    dead = RemoteSource("http://127.0.0.1:9", timeout_s=1)
    try:
        with pytest.raises(QueryError) as err:
            await dead.metric_names()
        assert err.value.kind == "unavailable" and "127.0.0.1:9" in err.value.message
    finally:
        await dead.close()


async def test_local_source_over_the_engine(source, clock) -> None:
    """LocalSource answers every Source method from the store through the engine."""
    assert isinstance(source, Source) and not source.read_only
    names = await source.metric_names()
    assert "node_load1" in names and "up" in names
    assert "mountpoint" in await source.label_names("node_filesystem_avail_bytes")
    assert await source.label_values("mountpoint") == ["/", "/home"]
    s = await source.metric_summary("http_request_duration_seconds_bucket")
    assert (
        s.meta.type is MetricType.HISTOGRAM
        and s.series_count == 4
        and s.label_cardinality["le"] == 4
    )
    r = await source.range("node_load15", clock.now - 600_000, clock.now, 60_000)
    assert len(r.value) == 1 and r.value[0].values.tolist() == [1.0] * 11
    (alert,) = await source.alerts()
    assert alert.name == "DiskAlmostFull" and alert.state == "firing"
    assert alert.active_since_ms == clock.now - 20 * 60_000
    assert [t.job for t in await source.targets()] == ["host", "api"]
    with pytest.raises(ParseError):
        await source.instant("sum(", clock.now)


async def test_attached_targets_come_from_up(host_store, clock) -> None:
    """Without a scrape manager (attached), targets are rebuilt from `up`."""
    from nightowl.query.engine import Engine

    from nightowl.sources import LocalSource

    src = LocalSource(Engine(host_store), host_store, read_only=True, clock=clock)
    try:
        (t,) = await src.targets()
        assert t.job == "host" and t.url == "owl" and t.health is TargetHealth.UP
        assert t.last_scrape_ms == clock.now
    finally:
        await src.close()
    assert targets_from_up(Scalar(0, 1.0), None, None) == []


async def test_deferred_source_waits_and_survives_cancelled_callers(source) -> None:
    """Calls made while starting wait for the real source; a cancelled caller does not
    cancel the start-up."""
    import asyncio

    from nightowl.sources import DeferredSource

    gate = asyncio.Event()

    async def start():
        await gate.wait()
        return source

    d = DeferredSource(start(), ["note"])
    assert d.description == "starting" and d.read_only and d.inner is None
    d.validate("up")
    impatient = asyncio.create_task(d.metric_names())
    await asyncio.sleep(0)
    impatient.cancel()
    waiting = asyncio.create_task(d.label_values("mountpoint"))
    gate.set()
    assert await waiting == ["/", "/home"]
    assert d.inner is source and d.description == "test source" and not d.read_only
    assert d.notes == ["note"]


async def test_deferred_source_failure_reaches_every_caller() -> None:
    """A failed start-up is raised by every call and by wait_ready."""
    from nightowl.errors import CorruptDatabaseError
    from nightowl.sources import DeferredSource

    async def start():
        raise CorruptDatabaseError("not a nightowl database", where="x.db")

    d = DeferredSource(start())
    with pytest.raises(CorruptDatabaseError):
        await d.wait_ready()
    with pytest.raises(CorruptDatabaseError):
        await d.alerts()
    assert d.description == "starting"
    await d.close()


async def test_remote_source_has_no_silences(prometheus: str) -> None:
    """Silences and acks are refused over a Prometheus API, with the reason."""
    from nightowl.query.source import AlertInfo

    from nightowl.model import Labels

    src = RemoteSource(prometheus)
    alert = AlertInfo("Down", "firing", "critical", Labels.of(alertname="Down"))
    try:
        with pytest.raises(QueryError, match="Alertmanager"):
            await src.silence(alert, 60_000, "x")
        with pytest.raises(QueryError, match="acknowledgements"):
            await src.ack(alert, "x")
    finally:
        await src.close()
