"""Remote write into the real Prometheus and VictoriaMetrics, with an outage in the middle.

Each receiver runs as a subprocess on a free 127.0.0.1 port with a temporary
data directory. The test writes through nightowl, stops the receiver, appends
more, starts it again on the same data directory and checks that the series
read back from the receiver equal the store's exactly (timestamps and values),
with the gap filled and no sample twice. Skipped, with the reason, when the
binary is absent and CI is not set (in CI a missing binary is a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nightowl.server.remote_write import RemoteWriteManager
from nightowl.store import Store

from nightowl.config import QueueConfig, RemoteWriteConfig
from nightowl.model import STALE_NAN, Labels, Sample, SampleBatch
from nightowl.timeutil import now_ms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """A real remote-write receiver subprocess (start, stop, start again on the same data)."""

    def __init__(self, kind: str, binary: str, data: Path) -> None:
        self.kind = kind
        self.binary = binary
        self.data = data
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{kind}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return f"{self.base}/api/v1/write"

    def start(self) -> None:
        addr = f"127.0.0.1:{self.port}"
        if self.kind == "prometheus":
            cfg = self.data.parent / "prometheus.yml"
            cfg.write_text("")
            args = [
                self.binary,
                "--web.enable-remote-write-receiver",
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address={addr}",
            ]
            ready = f"{self.base}/-/ready"
        else:
            args = [
                self.binary,
                f"-storageDataPath={self.data}",
                f"-httpListenAddr={addr}",
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ]
            ready = f"{self.base}/health"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        _wait(lambda: _get(ready) is not None, 30, f"{self.kind} to be ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def samples(
        self, metric: str, start_ms: int, end_ms: int
    ) -> dict[Labels, list[tuple[int, float]]]:
        """Every stored sample of `metric` in the range, per series, as the receiver has it."""
        out: dict[Labels, list[tuple[int, float]]] = {}
        if self.kind == "prometheus":
            span = max(1, (end_ms - start_ms) // 1000 + 1)
            q = urllib.parse.urlencode({"query": f"{metric}[{span}s]", "time": end_ms / 1000})
            body = json.loads(_get(f"{self.base}/api/v1/query?{q}"))
            for r in body["data"]["result"]:
                labels = Labels(r["metric"].items())
                out[labels] = [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
        else:
            _get(f"{self.base}/internal/force_flush")
            q = urllib.parse.urlencode(
                {"match[]": metric, "start": start_ms / 1000, "end": end_ms / 1000}
            )
            for line in _get(f"{self.base}/api/v1/export?{q}").decode().splitlines():
                r = json.loads(line)
                labels = Labels(r["metric"].items())
                pts = list(zip(r["timestamps"], r["values"], strict=True))
                out.setdefault(labels, []).extend((int(t), float(v)) for t, v in pts)
            for pts in out.values():
                pts.sort()
        return out


def _binary(kind: str) -> str:
    name = "prometheus" if kind == "prometheus" else "victoria-metrics"
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (CI installs it: .ci/run)")
        pytest.skip(f"{name} is not installed (Debian package `{name}`)")
    return path


@pytest.fixture(params=["prometheus", "victoriametrics"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Receiver]:
    rec = Receiver(request.param, _binary(request.param), tmp_path / "data")
    rec.start()
    try:
        yield rec
    finally:
        rec.stop()


def _store_samples(store: Store, metric: str, start: int, end: int) -> dict:
    from nightowl.model import Matcher, MatchOp

    out = {}
    for sd in store.select([Matcher("__name__", MatchOp.EQ, metric)], start, end):
        out[sd.labels] = [(int(t), float(v)) for t, v in zip(sd.timestamps, sd.values, strict=True)]
    return out


def test_real_receiver_gets_identical_series_and_the_gap(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Series match the store exactly; a receiver outage is filled after it comes back, once.

    Values are short binary fractions: VictoriaMetrics keeps about 12 significant
    decimal digits, so 0.37 * 3 would come back rounded (Prometheus keeps all bits).
    """
    series = [Labels([("__name__", "rw_real"), ("inst", f"i{k}")]) for k in range(20)]
    t0 = now_ms() - 60_000
    step = 500

    def ingest(store: Store, first: int, n: int) -> None:
        store.append_sync(
            SampleBatch.from_samples(
                [
                    Sample(lab, t0 + i * step, (i * 37 + k) * 0.25 * (-1) ** i)
                    for i in range(first, first + n)
                    for k, lab in enumerate(series)
                ]
            )
        )

    cfg = RemoteWriteConfig(
        url=receiver.write_url,
        name=receiver.kind,
        queue_config=QueueConfig(
            batch_send_deadline=100, min_backoff=50, max_backoff=200, max_samples_per_send=300
        ),
    )
    with Store.open(tmp_path / "real.db") as store:
        ingest(store, 0, 40)
        mgr = RemoteWriteManager(store, [cfg], backfill_ms=120_000)
        mgr.start()
        try:
            _wait(lambda: mgr.stats()[0].samples_sent >= 800, 20, "the first 800 samples")
            receiver.stop()
            ingest(store, 40, 40)
            _wait(lambda: mgr.stats()[0].samples_failed > 0, 20, "a failed send while down")
            time.sleep(1.0)
            receiver.start()
            _wait(lambda: mgr.stats()[0].samples_sent >= 1600, 30, "the gap to be sent")
            ingest(store, 80, 20)
            _wait(lambda: mgr.stats()[0].samples_sent >= 2000, 20, "the samples after recovery")
            st = mgr.stats()[0]
        finally:
            mgr.stop()
        end = t0 + 100 * step
        want = _store_samples(store, "rw_real", t0, end)
    assert st.samples_sent == 2000
    assert st.samples_dropped == 0
    assert len(want) == 20 and all(len(v) == 100 for v in want.values())

    def matches() -> bool:
        return receiver.samples("rw_real", t0, end) == want

    _wait(matches, 15, f"{receiver.kind} to return exactly the store's samples")


def test_prometheus_sees_staleness_markers_as_stale(tmp_path: Path) -> None:
    """StaleNaN ends the series for Prometheus's instant queries; an ordinary NaN does not."""
    rec = Receiver("prometheus", _binary("prometheus"), tmp_path / "data")
    rec.start()
    try:
        stale = Labels([("__name__", "rw_stale"), ("kind", "stale")])
        nan = Labels([("__name__", "rw_stale"), ("kind", "nan")])
        t0 = now_ms() - 30_000
        cfg = RemoteWriteConfig(
            url=rec.write_url, queue_config=QueueConfig(batch_send_deadline=100)
        )
        with Store.open(tmp_path / "stale.db") as store:
            store.append_sync(
                SampleBatch.from_samples(
                    [
                        Sample(stale, t0, 1.0),
                        Sample(nan, t0, 1.0),
                        Sample(stale, t0 + 10_000, STALE_NAN),
                        Sample(nan, t0 + 10_000, float("nan")),
                    ]
                )
            )
            mgr = RemoteWriteManager(store, [cfg], backfill_ms=60_000)
            mgr.start()
            try:
                _wait(lambda: mgr.stats()[0].samples_sent >= 4, 20, "4 samples")
            finally:
                mgr.stop()

        def instant(t_ms: int) -> dict[str, str]:
            q = urllib.parse.urlencode({"query": "rw_stale", "time": t_ms / 1000})
            body = json.loads(_get(f"{rec.base}/api/v1/query?{q}"))
            return {r["metric"]["kind"]: r["value"][1] for r in body["data"]["result"]}

        assert instant(t0 + 5_000) == {"stale": "1", "nan": "1"}
        assert instant(t0 + 15_000) == {"nan": "NaN"}
    finally:
        rec.stop()
