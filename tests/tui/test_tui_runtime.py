"""The composition root with a real SQLite file: standalone scraping, and the
read-only attach when another process owns the database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from nightowl.store import Store

from nightowl.config import default_config
from nightowl.model import Labels, Sample, SampleBatch
from nightowl.runtime import Runtime


@pytest.mark.slow
async def test_standalone_scrapes_this_host_into_the_db(tmp_path: Path) -> None:
    """With no config, the host scraper writes node_* series the source can read."""
    db = tmp_path / "owl.db"
    rt = Runtime(default_config(), db_path=db)
    await rt.start()
    try:
        assert not rt.attached and rt.scrapers is not None
        src = rt.source()
        assert src.description == f"standalone {db}" and not src.read_only
        deadline = time.monotonic() + 15
        names: list[str] = []
        while time.monotonic() < deadline and "node_load1" not in names:
            await asyncio.sleep(0.2)
            names = await src.metric_names()
        assert "node_load1" in names
        assert any(t.job == "host" for t in await src.targets())
    finally:
        await rt.stop()
    assert rt.store is None


async def test_second_writer_falls_back_to_read_only_attach(tmp_path: Path) -> None:
    """When another process holds the writer lock, the UI attaches read-only and says so."""
    db = tmp_path / "owl.db"
    owner = Store.open(db)
    try:
        owner.append_sync(
            SampleBatch.from_samples([Sample(Labels.of("up", job="d", instance="i"), 1000, 1.0)])
        )
        rt = Runtime(default_config(), db_path=db)
        await rt.start()
        try:
            assert rt.attached and rt.scrapers is None
            assert rt.attached_reason
            src = rt.source()
            assert src.read_only and src.description.startswith("attached read-only")
            r = await src.instant("up", 2000)
            assert r.value[0].v == 1.0
        finally:
            await rt.stop()
    finally:
        owner.close()


RULES_CONFIG = """
[host]
enabled = false

[[rule_groups]]
name = "owl"
interval = "1s"

[[rule_groups.rules]]
alert = "AlwaysOn"
expr = "vector(1)"
labels = { severity = "critical" }
annotations = { summary = "the owl is awake", runbook_url = "https://runbooks/owl" }

[[rule_groups.rules]]
record = "job:up:sum"
expr = "sum(up)"
"""


async def test_standalone_runs_rules_and_shows_their_alerts(tmp_path: Path) -> None:
    """Inline rule groups are evaluated in-process; alerts carry summary and runbook."""
    from nightowl.config import parse_config

    rt = Runtime(
        parse_config(RULES_CONFIG, str(tmp_path / "config.toml")), db_path=tmp_path / "r.db"
    )
    await rt.start()
    try:
        src = rt.source()
        deadline = time.monotonic() + 10
        alerts = []
        while time.monotonic() < deadline and not alerts:
            await asyncio.sleep(0.2)
            alerts = await src.alerts()
        (a,) = alerts
        assert a.name == "AlwaysOn" and a.state == "firing" and a.severity == "critical"
        assert a.summary == "the owl is awake" and a.runbook == "https://runbooks/owl"
        rules = await src.rules()
        assert [(r.name, r.kind) for r in rules] == [
            ("AlwaysOn", "alerting"),
            ("job:up:sum", "recording"),
        ]
        assert rules[0].state == "firing" and rules[0].active == 1 and rules[0].health == "ok"
        assert rules[0].last_eval_ms is not None
    finally:
        await rt.stop()
    assert rt.rules is None


async def test_no_rules_means_no_rule_evaluator(tmp_path: Path) -> None:
    """Without rules the source says so (None), rather than an empty list."""
    rt = Runtime(default_config(), db_path=tmp_path / "n.db", scrape=False)
    await rt.start()
    try:
        assert await rt.source().rules() is None
    finally:
        await rt.stop()
