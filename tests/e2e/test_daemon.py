"""End to end: `nightowl daemon` as a real process, asked by real clients.

promtool's query commands, Grafana's exact requests, signals (SIGHUP reload
with a bad and a good config, SIGTERM), file permissions, and a real
Prometheus federating and scraping the daemon.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nightowl.store import Store

from nightowl.model import Labels, MetricMeta, MetricType, Sample, SampleBatch

pytestmark = pytest.mark.slow

STEP = 15_000
N = 41


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"{binary} is required in CI")
        pytest.skip(f"{binary} is not installed (Debian package `prometheus`)")
    return path


@dataclass
class Running:
    """A daemon process and what it was started with."""

    proc: subprocess.Popen[bytes]
    url: str
    config: Path
    db: Path
    stderr: Path
    t0: int

    def log(self) -> str:
        """What the daemon logged so far."""
        return self.stderr.read_text()


def _populate(db: Path, t0: int) -> None:
    samples = []
    for i in range(N):
        t = t0 + i * STEP
        samples.append(Sample(Labels.of("up", job="api", instance="a:1"), t, 1.0))
        samples.append(Sample(Labels.of("up", job="db", instance="b:2"), t, float(i <= 30)))
        samples.append(Sample(Labels.of("reqs_total", job="api", instance="a:1"), t, 10.0 * i))
    meta = {"reqs_total": MetricMeta(MetricType.COUNTER, "Requests.")}
    store = Store.open(db)
    try:
        store.append_sync(SampleBatch.from_samples(samples, meta))
    finally:
        store.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], stderr: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: {stderr.read_text()}")
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("daemon not ready: " + stderr.read_text())


CONFIG = """
[host]
enabled = false
[server]
enable_lifecycle = true
[global]
external_labels = {{ site = "lab" }}
{extra}
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Running]:
    """A daemon over a database holding the last 10 minutes of a small workload."""
    now = int(time.time() * 1000)
    t0 = now - (N - 1) * STEP
    t0 -= t0 % 1000
    db = tmp_path / "nightowl.db"
    _populate(db, t0)
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(extra=""))
    port = _free_port()
    err = tmp_path / "stderr.log"
    with err.open("wb") as f:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "daemon",
                "--config",
                str(cfg),
                "--db",
                str(db),
                "--listen",
                f"127.0.0.1:{port}",
                "--log-format",
                "json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=f,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, err)
        yield Running(proc, url, cfg, db, err, t0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _promtool(*args: str) -> str:
    out = subprocess.run(
        [_need("promtool"), "query", *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_promtool_queries(daemon: Running) -> None:
    """promtool query instant|range|series|labels read the daemon's data."""
    end_s = (daemon.t0 + (N - 1) * STEP) / 1000
    out = _promtool("instant", "--time", str(end_s), daemon.url, "up")
    assert 'up{instance="a:1", job="api"} => 1' in out
    assert 'up{instance="b:2", job="db"} => 0' in out
    start_s = daemon.t0 / 1000
    out = _promtool(
        "range",
        "--start",
        str(start_s),
        "--end",
        str(end_s),
        "--step",
        "150s",
        daemon.url,
        'up{job="db"}',
    )
    lines = [ln for ln in out.splitlines() if "@[" in ln]
    assert len(lines) == 5
    assert lines[0].strip().startswith("1 @[") and lines[-1].strip().startswith("0 @[")
    out = _promtool("series", "--match", "up", daemon.url)
    assert sorted(out.splitlines()) == sorted(
        ['{__name__="up", instance="a:1", job="api"}', '{__name__="up", instance="b:2", job="db"}']
    )
    out = _promtool("labels", daemon.url, "job")
    assert out.split() == ["api", "db"]


def test_grafana_requests(daemon: Running) -> None:
    """The requests Grafana's Prometheus datasource sends, as it sends them."""
    end_s = (daemon.t0 + (N - 1) * STEP) / 1000
    start_s = daemon.t0 / 1000
    with httpx.Client(base_url=daemon.url, timeout=10) as c:
        b = c.get("/api/v1/status/buildinfo").json()
        assert b["status"] == "success" and b["data"]["version"]
        r = c.post(
            "/api/v1/query_range",
            data={
                "query": "rate(reqs_total[1m])",
                "start": str(int(start_s)),
                "end": str(int(end_s)),
                "step": "60",
            },
            headers={"X-Grafana-Org-Id": "1"},
        )
        assert r.status_code == 200
        (series,) = r.json()["data"]["result"]
        assert series["metric"] == {"instance": "a:1", "job": "api"}
        assert {v for _, v in series["values"]} == {str(10 / 15)}
        r = c.get("/api/v1/labels", params={"start": str(int(start_s)), "end": str(int(end_s))})
        assert r.json()["data"] == ["__name__", "instance", "job"]
        r = c.get(
            "/api/v1/label/__name__/values",
            params={"start": str(int(start_s)), "end": str(int(end_s))},
        )
        assert r.json()["data"] == ["reqs_total", "up"]
        r = c.get(
            "/api/v1/series",
            params={"match[]": "reqs_total", "start": str(int(start_s)), "end": str(int(end_s))},
        )
        assert r.json()["data"] == [{"__name__": "reqs_total", "instance": "a:1", "job": "api"}]
        r = c.post("/api/v1/query", data={"query": "sum(up)", "time": str(end_s)})
        assert r.json()["data"]["result"][0]["value"] == [end_s, "1"]
        r = c.get("/api/v1/metadata", params={"metric": "reqs_total"})
        assert r.json()["data"]["reqs_total"][0]["type"] == "counter"


def test_reload_rejects_bad_config_and_applies_good(daemon: Running) -> None:
    """SIGHUP with a broken file keeps the old config; a good one is applied."""
    daemon.config.write_text(CONFIG.format(extra="[server.nonsense]\nx = 1\n"))
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "config reload rejected" not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "config reload rejected" in daemon.log()
    info = httpx.get(daemon.url + "/api/v1/status/runtimeinfo").json()["data"]
    assert info["reloadConfigSuccess"] is False
    assert httpx.get(daemon.url + "/-/healthy").status_code == 200
    # a good config with a recording rule, through the HTTP lifecycle endpoint
    daemon.config.write_text(
        CONFIG.format(
            extra='[[rule_groups]]\nname = "g"\ninterval = "1s"\n'
            '[[rule_groups.rules]]\nrecord = "job:up:sum"\nexpr = "sum by (job) (up)"\n'
        )
    )
    r = httpx.post(daemon.url + "/-/reload", timeout=10)
    assert r.status_code == 200, r.text
    info = httpx.get(daemon.url + "/api/v1/status/runtimeinfo").json()["data"]
    assert info["reloadConfigSuccess"] is True
    groups = httpx.get(daemon.url + "/api/v1/rules").json()["data"]["groups"]
    assert [g["name"] for g in groups] == ["g"]
    assert groups[0]["rules"][0]["type"] == "recording"
    # log lines are JSON with levels; no traceback
    for line in daemon.log().splitlines():
        rec = json.loads(line)
        assert rec["level"] in ("debug", "info", "warning", "error")


def test_sigterm_stops_cleanly_and_db_is_private(tmp_path: Path, daemon: Running) -> None:
    """SIGTERM: exit 0 well within 10 s; a database the daemon creates is 0600."""
    t = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(12) == 0
    assert time.monotonic() - t < 10
    assert '"stopped"' in daemon.log()
    # a fresh database
    db = tmp_path / "fresh" / "new.db"
    port = _free_port()
    err = tmp_path / "fresh.log"
    with err.open("wb") as f:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "daemon",
                "--config",
                str(daemon.config),
                "--db",
                str(db),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            stderr=f,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, err)
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(12) == 0


def test_second_daemon_on_same_db_exits_2(daemon: Running) -> None:
    """A database another daemon writes is a user error: exit 2, no traceback."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nightowl",
            "daemon",
            "--config",
            str(daemon.config),
            "--db",
            str(daemon.db),
            "--listen",
            f"127.0.0.1:{_free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


PROM_CONFIG = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{{job=~".+"}}']
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
  - job_name: nightowl
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""


@pytest.mark.external
def test_real_prometheus_federates_and_scrapes(tmp_path: Path, daemon: Running) -> None:
    """A real Prometheus scraping /federate and /metrics ingests both."""
    prom = _need("prometheus")
    port = daemon.url.rsplit(":", 1)[1]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(PROM_CONFIG.format(port=port))
    pport = _free_port()
    log = tmp_path / "prom.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [
                prom,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{pport}",
            ],
            stdout=f,
            stderr=f,
        )
    purl = f"http://127.0.0.1:{pport}"
    try:
        deadline = time.monotonic() + 40
        fed = own = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                fed = httpx.get(purl + "/api/v1/query", params={"query": 'up{site="lab"}'}).json()
                own = httpx.get(
                    purl + "/api/v1/query",
                    params={"query": 'nightowl_tsdb_head_series{job="nightowl"}'},
                ).json()
            except (httpx.HTTPError, ValueError):
                continue
            if fed.get("data", {}).get("result") and own.get("data", {}).get("result"):
                break
        result = {r["metric"]["job"]: r["value"][1] for r in fed["data"]["result"]}
        assert result == {"api": "1", "db": "0"}, log.read_text()[-2000:]
        assert float(own["data"]["result"][0]["value"][1]) >= 3
    finally:
        proc.terminate()
        proc.wait(15)


ERROR_CASES = [
    ("/api/v1/query", {"query": "up{"}),
    ("/api/v1/query", {"query": ""}),
    ("/api/v1/query", {"query": "up", "time": "x"}),
    ("/api/v1/query", {"query": "up", "timeout": "x"}),
    ("/api/v1/query", {"query": "foo(up)", "time": "1"}),
    ("/api/v1/query_range", {"query": "up", "end": "10", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "1", "end": "x", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "10", "end": "5", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "5", "step": "0"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "5", "step": "-1s"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "5", "step": "1.5s"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}),
    ("/api/v1/query_range", {"query": "up[5m]", "start": "0", "end": "10", "step": "1"}),
    ("/api/v1/series", {}),
    ("/api/v1/series", {"match[]": '{job=~".*"}'}),
    ("/api/v1/series", {"match[]": "up", "start": "x"}),
    ("/api/v1/series", {"match[]": "up", "end": "2023-13-01T00:00:00Z"}),
    ("/api/v1/labels", {"start": "x"}),
    ("/api/v1/label/0bad/values", {}),
    ("/api/v1/rules", {"type": "x"}),
    ("/api/v1/metadata", {"limit": "x"}),
    ("/api/v1/query", {"query": "up", "time": "1e20"}),
    ("/api/v1/nothing", {}),
    ("/api/v1/query_exemplars", {"query": "up{"}),
    ("/api/v1/query_exemplars", {"query": "up", "start": "x"}),
    ("/api/v1/query_exemplars", {"query": "up", "start": "5", "end": "1"}),
    ("/api/v1/query_exemplars", {"query": "up", "start": "1", "end": "5"}),
]


@pytest.mark.external
def test_errors_match_real_prometheus(tmp_path: Path, daemon: Running) -> None:
    """Bad requests get the same status, errorType and message as from Prometheus 2.42."""
    prom = _need("prometheus")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {}\n")
    pport = _free_port()
    with (tmp_path / "prom.log").open("wb") as f:
        proc = subprocess.Popen(
            [
                prom,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{pport}",
            ],
            stdout=f,
            stderr=f,
        )
    purl = f"http://127.0.0.1:{pport}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(purl + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not start"
            time.sleep(0.1)

        def shape(r: httpx.Response) -> tuple:
            if r.headers.get("content-type", "").startswith("application/json"):
                j = r.json()
                return r.status_code, j["status"], j.get("errorType"), j.get("error")
            return (r.status_code,)

        for path, params in ERROR_CASES:
            theirs = shape(httpx.get(purl + path, params=params))
            ours = shape(httpx.get(daemon.url + path, params=params))
            assert ours == theirs, (path, params)
    finally:
        proc.terminate()
        proc.wait(15)


def test_address_in_use_exits_2(daemon: Running) -> None:
    """An address already taken is one clear line and exit 2, before anything starts."""
    port = daemon.url.rsplit(":", 1)[1]
    for cmd in (
        ["daemon", "--config", str(daemon.config), "--db", str(daemon.db.with_name("other.db"))],
        ["serve", "--db", str(daemon.db)],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "nightowl", *cmd, "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 2, out.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
        assert "Traceback" not in out.stderr
    assert not daemon.db.with_name("other.db").exists()


SAME_DATA = [
    ("/api/v1/query", {"query": "g", "time": "1700000300"}),
    ("/api/v1/query", {"query": "g", "time": "1700000300.5"}),
    ("/api/v1/query", {"query": "g / 3", "time": "1700000300"}),
    ("/api/v1/query", {"query": "1/3", "time": "1700000300.123"}),
    # range windows off the sample grid: Prometheus 3 (nightowl) opened them on the left
    ("/api/v1/query", {"query": "g[2m]", "time": "1700000301"}),
    ("/api/v1/query", {"query": '"text"', "time": "1700000300"}),
    ("/api/v1/query", {"query": "sum by (k) (rate(c_total[2m]))", "time": "1700000301"}),
    ("/api/v1/query", {"query": "scalar(sum(g))", "time": "1700000300"}),
    # value and time spellings: scalars plain and shortest, vectors in e-form, Go's escapes
    ("/api/v1/query", {"query": "scalar(vector(1e-7))", "time": "1700000300.5"}),
    ("/api/v1/query", {"query": "1e21", "time": "1700000300.25"}),
    ("/api/v1/query", {"query": "vector(1e-7)", "time": "1700000300.5"}),
    ("/api/v1/query", {"query": '"a<b&c>"', "time": "1700000300.5"}),
    ("/api/v1/query", {"query": 'h{k="<a&b>"}', "time": "1700000300"}),
    (
        "/api/v1/query_range",
        {"query": "g", "start": "1700000000", "end": "1700000300", "step": "45s"},
    ),
    (
        "/api/v1/query_range",
        {
            "query": "rate(c_total[1m])",
            "start": "2023-11-14T22:14:01Z",
            "end": "2023-11-14T22:18:21Z",
            "step": "20",
        },
    ),
    ("/api/v1/series", {"match[]": "g", "start": "1700000000", "end": "1700000300"}),
    ("/api/v1/series", {"match[]": '{k=~"a|b"}', "start": "1700000000", "end": "1700000300"}),
    ("/api/v1/labels", {"start": "1700000000", "end": "1700000300"}),
    ("/api/v1/label/k/values", {"start": "1700000000", "end": "1700000300"}),
    ("/api/v1/label/__name__/values", {"start": "1700000000", "end": "1700000300"}),
]


def _same_data_openmetrics() -> str:
    values = ["0.1", "1e-07", "1e+21", "NaN", "+Inf", "-Inf", "-0.5", "12345.678", "3"]
    lines = ["# TYPE g gauge"]
    for i in range(21):
        t = 1_700_000_000 + i * 15
        lines.append(f'g{{k="a"}} {values[i % len(values)]} {t}')
        lines.append(f'g{{k="b"}} {i * 0.25} {t}')
    lines.append("# TYPE h gauge")
    lines.append('h{k="<a&b>"} 1e-07 1700000290')
    lines.append("# TYPE c counter")
    for i in range(21):
        t = 1_700_000_000 + i * 15
        lines.append(f'c_total{{k="a"}} {i * 7 if i < 12 else (i - 12) * 3} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.mark.external
def test_answers_match_real_prometheus(tmp_path: Path) -> None:
    """Over the same samples, nightowl's answers are Prometheus 2.42's, byte for byte."""
    prom, promtool = _need("prometheus"), _need("promtool")
    om = tmp_path / "data.om"
    om.write_text(_same_data_openmetrics())
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp_path / "tsdb")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    db = tmp_path / "n.db"
    subprocess.run(
        [sys.executable, "-m", "nightowl", "import", "--db", str(db), str(om)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {}\n")
    pport, nport = _free_port(), _free_port()
    with (tmp_path / "prom.log").open("wb") as f:
        p = subprocess.Popen(
            [
                prom,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{pport}",
            ],
            stdout=f,
            stderr=f,
        )
    with (tmp_path / "serve.log").open("wb") as f:
        n = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "serve",
                "--db",
                str(db),
                "--listen",
                f"127.0.0.1:{nport}",
            ],
            stderr=f,
        )
    purl, nurl = f"http://127.0.0.1:{pport}", f"http://127.0.0.1:{nport}"
    try:
        for url, proc, log in ((purl, p, "prom.log"), (nurl, n, "serve.log")):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, (tmp_path / log).read_text()
                assert time.monotonic() < deadline, (tmp_path / log).read_text()
                time.sleep(0.1)
        for path, params in SAME_DATA:
            theirs = httpx.get(purl + path, params=params)
            ours = httpx.get(nurl + path, params=params)
            assert theirs.status_code == 200, theirs.text
            assert ours.json() == theirs.json(), (path, params)
            assert ours.text == theirs.text, (path, params)
    finally:
        for proc in (p, n):
            proc.terminate()
            proc.wait(15)


def test_reload_adds_scrape_job_scraping_itself(daemon: Running) -> None:
    """A reload that adds a scrape job starts it: the daemon scrapes its own /metrics."""
    port = daemon.url.rsplit(":", 1)[1]
    daemon.config.write_text(
        CONFIG.format(
            extra=f'[[scrape_configs]]\njob_name = "self"\nscrape_interval = "1s"\n'
            f'static_configs = [{{ targets = ["127.0.0.1:{port}"] }}]\n'
        )
    )
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    active: list = []
    result: list = []
    while time.monotonic() < deadline:
        time.sleep(0.3)
        active = httpx.get(daemon.url + "/api/v1/targets").json()["data"]["activeTargets"]
        q = {"query": 'nightowl_http_requests_total{job="self",handler="/api/v1/targets"}'}
        result = httpx.get(daemon.url + "/api/v1/query", params=q).json()["data"]["result"]
        if active and active[0]["health"] == "up" and result:
            break
    assert [t["scrapePool"] for t in active] == ["self"]
    assert active[0]["labels"] == {"instance": f"127.0.0.1:{port}", "job": "self"}
    assert active[0]["health"] == "up"
    assert float(result[0]["value"][1]) >= 1


def test_admin_and_alert_writes_follow_their_switches(daemon: Running) -> None:
    """Off by default (Prometheus's 503 "admin APIs disabled"); a reload that turns them on
    serves delete_series and silences on the running daemon."""
    r = httpx.post(daemon.url + "/api/v1/admin/tsdb/delete_series", params={"match[]": "up"})
    assert r.status_code == 503 and r.json()["error"] == "admin APIs disabled"
    silence = {
        "matchers": [{"name": "alertname", "value": "Down", "isRegex": False, "isEqual": True}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "test",
        "comment": "maintenance",
    }
    assert httpx.post(daemon.url + "/api/v2/silences", json=silence).status_code >= 400
    daemon.config.write_text(
        "[host]\nenabled = false\n[server]\nenable_lifecycle = true\n"
        "enable_admin_api = true\nenable_alert_writes = true\n"
    )
    assert httpx.post(daemon.url + "/-/reload", timeout=10).status_code == 200
    r = httpx.post(daemon.url + "/api/v2/silences", json=silence)
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    listed = httpx.get(daemon.url + "/api/v2/silences").json()
    assert [s["id"] for s in listed] == [sid]
    before = httpx.get(daemon.url + "/api/v1/series", params={"match[]": 'up{job="db"}'})
    assert len(before.json()["data"]) == 1
    r = httpx.post(
        daemon.url + "/api/v1/admin/tsdb/delete_series", params={"match[]": 'up{job="db"}'}
    )
    assert r.status_code == 204, r.text
    after = httpx.get(daemon.url + "/api/v1/series", params={"match[]": 'up{job="db"}'})
    assert after.json()["data"] == []
    kept = httpx.get(daemon.url + "/api/v1/series", params={"match[]": 'up{job="api"}'})
    assert len(kept.json()["data"]) == 1
