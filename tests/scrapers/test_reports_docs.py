"""docs/metrics.md names every metric the DevSecOps sources write (found by running them)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import httpx
from nightowl.scrapers.command import CommandSource
from nightowl.scrapers.jsonsrc import JsonMetric, JsonSource
from nightowl.scrapers.logs import LogMetric, LogSource
from nightowl.scrapers.push import PushReceiver
from nightowl.scrapers.reports import ReportSource
from nightowl.store.memory import MemoryStore

from nightowl.model import SampleBatch

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

USER_NAMED = {"user_metric", "user_hist", "pushed_metric", "cmd_value"}


class _Recorder(MemoryStore):
    """A store that remembers every metric family name it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    async def append(self, batch: SampleBatch):
        self.names.update(labels.name for labels in batch.series)
        return await super().append(batch)


def _documented() -> set[str]:
    return set(re.findall(r"`([a-z_:][a-z0-9_:]*)`", DOCS.read_text()))


async def test_every_emitted_metric_is_documented(shared_dir: Path, tmp_path: Path) -> None:
    """Run each source on real inputs and check each metric name appears in the docs."""
    rec = _Recorder()
    fixtures = shared_dir / "fixtures"
    for name, fmt in [
        ("security/trivy-debian-buster.json", "trivy"),
        ("security/trivy-alpine-310.sarif", "sarif"),
        ("ci/pytest-junit.xml", "junit"),
        ("ci/cobertura-coverage.xml", "cobertura"),
    ]:
        dst = tmp_path / Path(name).name
        shutil.copy(fixtures / name, dst)
        await ReportSource(fmt, dst, fmt, rec).collect_once()
    extra = tmp_path / "fs-scan.json"
    extra.write_text(
        '{"SchemaVersion": 2, "ArtifactName": ".", "Results": [{"Target": "x", '
        '"Secrets": [{"Severity": "HIGH"}], "Misconfigurations": [{"Severity": "LOW"}]}]}'
    )
    await ReportSource("fs", extra, "trivy", rec).collect_once()
    log = LogSource(
        "auth",
        fixtures / "logs" / "auth.log",
        [
            LogMetric("user_metric", r"Failed password for (?P<user>\S+)"),
            LogMetric("user_hist", r"port (?P<p>\d+)", type="histogram", value_group="p"),
        ],
        rec,
        start_at="beginning",
        state_file=False,
    )
    await log.collect_once()
    await log.stop()
    cmd = CommandSource("c", [sys.executable, "-c", "print(1)"], rec, metric="cmd_value")
    await cmd.collect_once()
    js = JsonSource(
        "api",
        "http://127.0.0.1/doc",
        [JsonMetric("user_metric", "a")],
        rec,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"a": 1})),
    )
    await js.collect_once()
    await js.stop()
    push = PushReceiver(rec)
    await push.handle("PUT", "/metrics/job/j", b"pushed_metric 1\n")

    emitted = {n[: n.rindex("_")] if n.startswith("user_hist_") else n for n in rec.names}
    missing = sorted(emitted - USER_NAMED - _documented())
    assert not missing, f"metrics missing from docs/metrics.md: {missing}"
    assert {"trivy_image_vulnerabilities", "nightowl_json_up", "push_time_seconds"} <= emitted
    assert {"trivy_image_exposedsecrets", "trivy_resource_configaudits"} <= emitted
