"""The app's other parts: push, /metrics, targets, rules and alerts in Prometheus's shapes."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from nightowl.alerts.manager import RuleManager
from nightowl.alerts.rules import engine_query_fn
from nightowl.query.engine import Engine
from nightowl.scrapers.push import PushReceiver
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app
from nightowl.server.selfmetrics import render
from nightowl.store import Store

from nightowl.model import Labels, TargetHealth, TargetStatus

T0 = 1_700_000_000_000
END = T0 + 40 * 15_000

RULES = """
groups:
  - name: g1
    interval: 15s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: DbDown
        expr: up{job="db"} == 0
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} is down"}
"""


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")  # type: ignore[arg-type]


async def test_push_then_query(tmp_path: Path) -> None:
    """A push through the mounted receiver is stored and answers queries."""
    store = Store.open(tmp_path / "p.db")
    push = PushReceiver(store, clock=None)
    api = Api(store)
    app = create_app(api, ServerParts(push=push))
    async with _client(app) as c:
        r = await c.put(
            "/metrics/job/backup/instance/nas",
            content=b"# TYPE backup_ok gauge\nbackup_ok 1\n",
        )
        assert r.status_code == 200, r.text
        r = await c.get("/api/v1/query", params={"query": "backup_ok"})
        (s,) = r.json()["data"]["result"]
        assert s["metric"] == {"__name__": "backup_ok", "instance": "nas", "job": "backup"}
        assert s["value"][1] == "1"
        r = await c.put("/metrics/job/backup", content=b"not valid {")
        assert r.status_code == 400
    await push.stop()
    app.state.executor.shutdown(wait=False)
    store.close()


async def test_metrics_page(store: Store, api: Api) -> None:
    """/metrics counts requests and queries and shows process figures, in the text format."""
    app: object = None

    def metrics() -> str:
        return render(http=app.state.http_stats, api=api, store=store)  # type: ignore[attr-defined]

    app = create_app(api, ServerParts(metrics=metrics))
    async with _client(app) as c:
        await c.get("/api/v1/query", params={"query": "up"})
        await c.get("/api/v1/query", params={"query": "up{"})
        r = await c.get("/metrics")
    text = r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'nightowl_http_requests_total{code="200",handler="/api/v1/query"} 1' in text
    assert 'nightowl_http_requests_total{code="400",handler="/api/v1/query"} 1' in text
    assert "nightowl_engine_queries_total 2" in text
    assert "nightowl_engine_query_failures_total 1" in text
    assert "process_resident_memory_bytes " in text
    # parseable by the project's own exposition parser
    from nightowl.scrapers.exposition import parse

    parsed = parse(text, openmetrics=False)
    assert len(parsed.series) > 20


async def test_targets_shape(store: Store) -> None:
    """activeTargets entries carry Prometheus's fields."""
    t = TargetStatus(
        job="node",
        url="http://h:9100/metrics",
        labels=Labels.of(job="node", instance="h:9100"),
        discovered_labels=Labels.of(__address__="h:9100"),
        health=TargetHealth.UP,
        last_scrape_ms=T0,
        last_duration_s=0.012,
        last_error="",
        scrape_interval_ms=15_000,
        scrape_timeout_ms=10_000,
    )
    api = Api(store, targets=lambda: [t], dropped_targets=lambda: [Labels.of(job="node", x="1")])
    async with _client(create_app(api)) as c:
        data = (await c.get("/api/v1/targets")).json()["data"]
        active = (await c.get("/api/v1/targets", params={"state": "active"})).json()["data"]
    (a,) = data["activeTargets"]
    assert a == {
        "discoveredLabels": {"__address__": "h:9100"},
        "labels": {"instance": "h:9100", "job": "node"},
        "scrapePool": "node",
        "scrapeUrl": "http://h:9100/metrics",
        "globalUrl": "http://h:9100/metrics",
        "lastError": "",
        "lastScrape": "2023-11-14T22:13:20Z",
        "lastScrapeDuration": 0.012,
        "health": "up",
        "scrapeInterval": "15s",
        "scrapeTimeout": "10s",
    }
    assert data["droppedTargetCounts"] == {"node": 1}
    assert "droppedTargets" not in active


async def test_rules_and_alerts(store: Store, tmp_path: Path) -> None:
    """Rules and alerts from a real rule manager evaluated over the store."""
    engine = Engine(store)
    mgr = RuleManager(engine_query_fn(engine))
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    mgr.load([rules])
    (group,) = mgr.groups()
    group.eval_sync(END)
    api = Api(store, rules=mgr)
    async with _client(create_app(api)) as c:
        groups = (await c.get("/api/v1/rules")).json()["data"]["groups"]
        alerts = (await c.get("/api/v1/alerts")).json()["data"]["alerts"]
        only_alerts = (await c.get("/api/v1/rules", params={"type": "alert"})).json()["data"]
    (g,) = groups
    assert g["name"] == "g1" and g["file"] == str(rules) and g["interval"] == 15
    rec, alert = g["rules"]
    assert rec["type"] == "recording" and rec["query"] == "sum by (job) (up)"
    assert alert["type"] == "alerting" and alert["state"] == "firing"
    assert alert["labels"] == {"severity": "page"}
    assert alerts == alert["alerts"]
    (a,) = alerts
    assert a["labels"]["alertname"] == "DbDown" and a["state"] == "firing"
    assert a["annotations"] == {"summary": "b:2 is down"}
    assert a["value"] == "0e+00"
    assert [r["name"] for r in only_alerts["groups"][0]["rules"]] == ["DbDown"]


async def test_query_threads_bound_the_pool(api: Api) -> None:
    """Twenty query slots share at most four evaluating threads (plus two for the rest)."""
    wide = create_app(api, ServerParts(max_concurrent_queries=20))
    narrow = create_app(api, ServerParts(max_concurrent_queries=1, query_threads=4))
    assert wide.state.executor._max_workers == 6
    assert narrow.state.executor._max_workers == 3
    wide.state.executor.shutdown()
    narrow.state.executor.shutdown()


def test_tune_malloc_applies_on_glibc() -> None:
    """On Linux with glibc the allocator settings are taken (in a fresh interpreter)."""
    import subprocess
    import sys

    code = "from nightowl.server.daemon import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None
    assert out.stdout.strip() == str(glibc)
