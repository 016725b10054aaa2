"""Pushes and reports end to end into the real SQLite store (a file in a temp dir)."""

from __future__ import annotations

import shutil
from pathlib import Path

from nightowl.scrapers.push import PushReceiver
from nightowl.scrapers.reports import ReportSource
from nightowl.store import Store

from nightowl.model import Matcher, MatchOp, is_stale


class FakeClock:
    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


async def test_push_replace_and_delete_in_sqlite(tmp_path: Path) -> None:
    """Values, re-writes and staleness markers of pushed groups survive in the database."""
    db = tmp_path / "nightowl.db"
    clock = FakeClock()
    async with Store.open(db) as store:
        r = PushReceiver(store, clock=clock)
        body = b'# TYPE build_seconds gauge\nbuild_seconds{stage="test"} 42.5\n'
        assert (await r.handle("PUT", "/metrics/job/ci/branch/main", body)).status == 200
        clock.t += 15_000
        await r.refresh()
        clock.t += 15_000
        assert (await r.handle("DELETE", "/metrics/job/ci/branch/main")).status == 202

    async with Store.open(db, readonly=True) as reader:
        [d] = reader.select([Matcher("__name__", MatchOp.EQ, "build_seconds")], 0, 2**62)
        assert dict(d.labels) == {
            "__name__": "build_seconds",
            "job": "ci",
            "branch": "main",
            "stage": "test",
        }
        ts, vs = d.timestamps.tolist(), d.values.tolist()
        assert ts == [clock.t - 30_000, clock.t - 15_000, clock.t]
        assert vs[:2] == [42.5, 42.5] and is_stale(vs[2])
        assert reader.metadata("build_seconds")["build_seconds"].type == "gauge"


async def test_trivy_report_into_sqlite(shared_dir: Path, tmp_path: Path) -> None:
    """A Trivy report's severity counts are queryable from the database file."""
    report = tmp_path / "scan.json"
    shutil.copy(shared_dir / "fixtures" / "security" / "trivy-debian-buster.json", report)
    db = tmp_path / "nightowl.db"
    async with Store.open(db) as store:
        src = ReportSource("scan", report, "trivy", store, clock=FakeClock())
        await src.collect_once()
        await src.stop()
        got = {
            d.labels.get("severity"): float(d.values[-1])
            for d in store.select(
                [Matcher("__name__", MatchOp.EQ, "trivy_image_vulnerabilities")], 0, 2**62
            )
        }
    raw = report.read_text()
    assert got["Critical"] == raw.count('"Severity": "CRITICAL"')
    assert got["Low"] == raw.count('"Severity": "LOW"')
