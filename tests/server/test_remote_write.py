"""Remote write against a decoding receiver on 127.0.0.1: batching, retries, 4xx, resume."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.server import _rwproto
from nightowl.server.remote_write import (
    SCAN_SLICE_MS,
    RemoteWriteManager,
    RemoteWriteStats,
    render_stats,
)
from nightowl.store import Store
from nightowl.store.progress import ProgressStore

from nightowl.config import (
    Authorization,
    BasicAuth,
    QueueConfig,
    RelabelConfig,
    RemoteWriteConfig,
    TLSConfig,
)
from nightowl.errors import StoreError
from nightowl.model import STALE_NAN, STALE_NAN_BITS, Labels, Sample, SampleBatch
from nightowl.timeutil import now_ms


def bits(v: float) -> int:
    """The float64's bit pattern."""
    return struct.unpack("<Q", struct.pack("<d", v))[0]


class Receiver:
    """A remote-write receiver: decodes every request, answers with `status()` (default 204)."""

    def __init__(
        self,
        port: int = 0,
        status: Callable[[], int] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status or (lambda: 204)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.status()
                series = _rwproto.decode_write_request(_rwproto.decompress(body))
                with outer.lock:
                    outer.requests.append(
                        {"headers": dict(self.headers), "series": series, "status": code}
                    )
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/api/v1/write"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> dict[tuple[tuple[str, str], ...], list[tuple[int, int]]]:
        """(t, value bits) per series from the 2xx requests, in arrival order."""
        out: dict[tuple[tuple[str, str], ...], list[tuple[int, int]]] = {}
        with self.lock:
            for req in self.requests:
                if 200 <= req["status"] < 300:
                    for labels, samples in req["series"]:
                        out.setdefault(tuple(labels), []).extend((t, bits(v)) for t, v in samples)
        return out

    def count(self) -> int:
        return sum(len(v) for v in self.accepted().values())


def rw_config(url: str, **kw: Any) -> RemoteWriteConfig:
    """A RemoteWriteConfig with fast test timings (queue settings via `queue=`)."""
    queue = {"batch_send_deadline": 50, "min_backoff": 10, "max_backoff": 80}
    queue.update(kw.pop("queue", {}))
    kw.setdefault("remote_timeout", 5000)
    return RemoteWriteConfig(url=url, queue_config=QueueConfig(**queue), **kw)


def wait_for(cond: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `cond` until true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- tests ----------------------------------------------------------------------------

UP_A = Labels([("__name__", "rw_up"), ("job", "a")])
UP_B = Labels([("__name__", "rw_up"), ("job", "b")])
TEMP = Labels([("__name__", "rw_temp"), ("room", "attic")])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "rw.db")
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def ingest(store: Store, series: list[Labels], t0: int, n: int, step: int = 1000) -> None:
    """n samples per series at t0, t0+step, ...; value = t/1000 + series index."""
    samples = [
        Sample(lab, t0 + i * step, (t0 + i * step) / 1000 + k)
        for i in range(n)
        for k, lab in enumerate(series)
    ]
    store.append_sync(SampleBatch.from_samples(samples))


def expected(series: list[Labels], t0: int, n: int, step: int = 1000) -> dict:
    return {
        tuple(lab): [(t0 + i * step, bits((t0 + i * step) / 1000 + k)) for i in range(n)]
        for k, lab in enumerate(series)
    }


def manager(store: Store, cfgs: list[RemoteWriteConfig], **kw: Any) -> RemoteWriteManager:
    kw.setdefault("backfill_ms", 3_600_000)
    return RemoteWriteManager(store, cfgs, **kw)


def test_sends_every_sample_once_with_protocol_headers(store: Store, receiver: Receiver) -> None:
    """Samples of several series arrive once, in order, with the remote-write headers."""
    t0 = now_ms() - 60_000
    ingest(store, [UP_A, UP_B, TEMP], t0, 50)
    mgr = manager(store, [rw_config(receiver.url, queue={"max_samples_per_send": 7})])
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 150, what="150 samples")
        time.sleep(0.2)
        assert receiver.accepted() == expected([UP_A, UP_B, TEMP], t0, 50)
        for req in receiver.requests:
            h = {k.lower(): v for k, v in req["headers"].items()}
            assert h["content-encoding"] == "snappy"
            assert h["content-type"] == "application/x-protobuf"
            assert h["x-prometheus-remote-write-version"] == "0.1.0"
            assert h["user-agent"].startswith("nightowl/")
            assert sum(len(s) for _, s in req["series"]) <= 7
            for labels, _ in req["series"]:
                assert labels == sorted(labels)
        st = mgr.stats()[0]
        assert st.samples_sent == 150
        assert st.samples_pending == 0
        assert st.highest_sent_timestamp_ms == t0 + 49_000
        # New samples later are sent, the old ones not again.
        ingest(store, [UP_A], t0 + 50_000, 5)
        wait_for(lambda: receiver.count() >= 155, what="5 more samples")
        time.sleep(0.2)
        got = receiver.accepted()
        assert got[tuple(UP_A)] == expected([UP_A], t0, 55)[tuple(UP_A)]
        assert receiver.count() == 155
    finally:
        mgr.stop()


def test_staleness_marker_keeps_its_bits(store: Store, receiver: Receiver) -> None:
    """StaleNaN goes out as 0x7ff0000000000002, an ordinary NaN as its own pattern."""
    t0 = now_ms() - 60_000
    store.append_sync(
        SampleBatch.from_samples(
            [
                Sample(UP_A, t0, 1.0),
                Sample(UP_A, t0 + 1000, float("nan")),
                Sample(UP_A, t0 + 2000, STALE_NAN),
            ]
        )
    )
    mgr = manager(store, [rw_config(receiver.url)])
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 3)
        got = receiver.accepted()[tuple(UP_A)]
        assert got[0] == (t0, bits(1.0))
        assert got[1][1] != STALE_NAN_BITS and got[1][1] & 0x7FF0000000000000 == 0x7FF0000000000000
        assert got[2] == (t0 + 2000, STALE_NAN_BITS)
    finally:
        mgr.stop()


def test_retries_5xx_and_429_with_backoff_then_succeeds(store: Store) -> None:
    """503, 500, 429 are retried with the same samples; nothing is lost or duplicated."""
    answers = [503, 500, 429]
    lock = threading.Lock()

    def status() -> int:
        with lock:
            return answers.pop(0) if answers else 200

    rec = Receiver(status=status)
    try:
        t0 = now_ms() - 60_000
        ingest(store, [UP_A, UP_B], t0, 10)
        cfg = rw_config(rec.url, queue={"min_backoff": 20, "max_backoff": 60})
        mgr = manager(store, [cfg])
        started = time.monotonic()
        mgr.start()
        try:
            wait_for(lambda: rec.count() >= 20)
            elapsed = time.monotonic() - started
            time.sleep(0.2)
            assert rec.accepted() == expected([UP_A, UP_B], t0, 10)
            # Backoff waited 20 + 40 + 60 ms (capped) at least.
            assert elapsed >= 0.12
            failed = [r for r in rec.requests if r["status"] != 200]
            assert [r["status"] for r in failed] == [503, 500, 429]
            assert all(r["series"] == rec.requests[-1]["series"] for r in failed)
            st = mgr.stats()[0]
            assert st.samples_failed == 60
            assert st.samples_retried == 60
            assert st.samples_sent == 20
            assert st.samples_dropped == 0
            assert st.requests == 4
            assert "429" in st.last_error
        finally:
            mgr.stop()
    finally:
        rec.close()


def test_other_4xx_drops_the_batch_and_moves_on(store: Store) -> None:
    """A 400 is not retried: its samples are counted as dropped and never sent again."""
    answers = [400]

    def status() -> int:
        return answers.pop(0) if answers else 204

    rec = Receiver(status=status)
    try:
        t0 = now_ms() - 60_000
        ingest(store, [UP_A], t0, 10)
        mgr = manager(store, [rw_config(rec.url, queue={"max_samples_per_send": 4})])
        mgr.start()
        try:
            wait_for(lambda: rec.count() >= 6)
            time.sleep(0.3)
            got = rec.accepted()[tuple(UP_A)]
            assert [t for t, _ in got] == [t0 + i * 1000 for i in range(4, 10)]
            st = mgr.stats()[0]
            assert st.samples_dropped == 4
            assert st.samples_sent == 6
            assert len(rec.requests) == 3
        finally:
            mgr.stop()
    finally:
        rec.close()


def test_outage_then_recovery_fills_the_gap_without_duplicates(store: Store) -> None:
    """Receiver down (connection refused): samples wait in the store and arrive once it is back."""
    rec = Receiver()
    port = rec.port
    t0 = now_ms() - 40_000
    ingest(store, [UP_A, UP_B], t0, 5)
    mgr = manager(store, [rw_config(rec.url, queue={"max_backoff": 50})])
    mgr.start()
    try:
        wait_for(lambda: rec.count() >= 10)
        rec.close()
        ingest(store, [UP_A, UP_B], t0 + 5000, 20)
        wait_for(lambda: mgr.stats()[0].samples_failed > 0, what="a failed send")
        assert mgr.stats()[0].samples_pending > 0
        before = rec.accepted()
        rec2 = Receiver(port=port)
        try:
            wait_for(lambda: rec2.count() >= 40, what="the gap")
            time.sleep(0.2)
            merged = {k: before.get(k, []) + rec2.accepted().get(k, []) for k in before}
            assert merged == expected([UP_A, UP_B], t0, 25)
            assert "ConnectError" in mgr.stats()[0].last_error
        finally:
            rec2.close()
    finally:
        mgr.stop()


def test_restart_resumes_from_persisted_marks(store: Store, receiver: Receiver) -> None:
    """A new manager on the same store (a restart) sends only what the old one had not."""
    t0 = now_ms() - 40_000
    ingest(store, [UP_A, TEMP], t0, 10)
    cfg = rw_config(receiver.url)
    mgr = manager(store, [cfg])
    mgr.start()
    wait_for(lambda: receiver.count() >= 20)
    mgr.stop()
    assert (store.path.parent / (store.path.name + ".remote-write")).exists()
    ingest(store, [UP_A, TEMP], t0 + 10_000, 10)
    mgr2 = manager(store, [cfg])
    mgr2.start()
    try:
        wait_for(lambda: receiver.count() >= 40)
        time.sleep(0.3)
        assert receiver.accepted() == expected([UP_A, TEMP], t0, 20)
        assert mgr2.stats()[0].samples_sent == 20
    finally:
        mgr2.stop()


def test_new_target_starts_now_not_at_the_beginning(store: Store, receiver: Receiver) -> None:
    """Without backfill a first-time target skips history older than its start."""
    t_old = now_ms() - 120_000
    ingest(store, [UP_A], t_old, 3)
    mgr = RemoteWriteManager(store, [rw_config(receiver.url)])
    mgr.start()
    try:
        t_new = now_ms() + 1000
        ingest(store, [UP_A], t_new, 2)
        wait_for(lambda: receiver.count() >= 2)
        time.sleep(0.2)
        assert [t for t, _ in receiver.accepted()[tuple(UP_A)]] == [t_new, t_new + 1000]
    finally:
        mgr.stop()


def test_write_relabel_configs_drop_and_rewrite(store: Store, receiver: Receiver) -> None:
    """Dropped series are counted and not sent; rewritten labels arrive sorted."""
    t0 = now_ms() - 60_000
    ingest(store, [UP_A, UP_B, TEMP], t0, 3)
    rules = (
        RelabelConfig(source_labels=("job",), regex="b", action="drop"),
        RelabelConfig(
            source_labels=("room",), regex="(.+)", target_label="area", replacement="top_$1"
        ),
        RelabelConfig(regex="room", action="labeldrop"),
    )
    mgr = manager(store, [rw_config(receiver.url, write_relabel_configs=rules)])
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 6)
        time.sleep(0.2)
        got = receiver.accepted()
        assert set(got) == {
            tuple(UP_A),
            (("__name__", "rw_temp"), ("area", "top_attic")),
        }
        assert mgr.stats()[0].samples_relabel_dropped == 3
    finally:
        mgr.stop()


def test_auth_and_custom_headers(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    """basic_auth (password file), authorization and extra headers reach the receiver."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    t0 = now_ms() - 60_000
    ingest(store, [UP_A], t0, 2)
    cfgs = [
        rw_config(
            receiver.url,
            name="basic",
            basic_auth=BasicAuth(username="owl", password_file=str(pw)),
            headers={"X-Scope-OrgID": "tenant1"},
        ),
        rw_config(
            receiver.url + "?x=1",
            name="bearer",
            authorization=Authorization(credentials="tok"),
        ),
    ]
    mgr = manager(store, cfgs)
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 4)
        auths = sorted(
            {k.lower(): v for k, v in r["headers"].items()}["authorization"]
            for r in receiver.requests
        )
        assert auths == ["Basic " + base64.b64encode(b"owl:s3cret").decode(), "Bearer tok"]
        orgs = {r["headers"].get("X-Scope-OrgID") for r in receiver.requests}
        assert orgs == {"tenant1", None}
        assert [s.name for s in mgr.stats()] == ["basic", "bearer"]
        assert "tok" not in repr(cfgs[1]) and "s3cret" not in repr(mgr.stats())
    finally:
        mgr.stop()


def test_apply_adds_removes_and_keeps_targets(store: Store, receiver: Receiver) -> None:
    """apply() starts new targets, stops removed ones, leaves unchanged ones running."""
    rec2 = Receiver()
    try:
        a = rw_config(receiver.url, name="a")
        b = rw_config(rec2.url, name="b")
        mgr = manager(store, [a])
        mgr.start()
        try:
            first = mgr.writers["a"]
            assert mgr.apply([a, b]) == []
            assert mgr.writers["a"] is first
            assert sorted(mgr.writers) == ["a", "b"]
            ingest(store, [UP_A], now_ms() - 10_000, 3)
            wait_for(lambda: receiver.count() >= 3 and rec2.count() >= 3)
            assert mgr.apply([b]) == []
            assert sorted(mgr.writers) == ["b"]
            assert not first._thread
        finally:
            mgr.stop()
    finally:
        rec2.close()


def test_catch_up_spans_several_scan_slices(store: Store, receiver: Receiver) -> None:
    """A backlog longer than one scan slice is sent completely, in order."""
    t0 = now_ms() - 2 * SCAN_SLICE_MS - 300_000
    ingest(store, [UP_A], t0, 90, step=15_000)
    mgr = manager(store, [rw_config(receiver.url, queue={"max_samples_per_send": 25})])
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 90)
        time.sleep(0.2)
        assert receiver.accepted() == expected([UP_A], t0, 90, step=15_000)
    finally:
        mgr.stop()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)),
        max_size=40,
    ),
    st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=4),
)
def test_protobuf_round_trip(samples: list[tuple[int, int]], labels: list[tuple[str, str]]) -> None:
    """Any timestamps and value bit patterns survive encode -> snappy -> decode."""
    ts = np.array([t for t, _ in samples], dtype=np.int64)
    vb = np.array([b for _, b in samples], dtype=np.uint64)
    buf, off = _rwproto.encode_samples(ts, vb.view(np.float64))
    assert off[-1] == len(buf)
    body = _rwproto.encode_timeseries(_rwproto.encode_labels(labels), buf.tobytes())
    decoded = _rwproto.decode_write_request(_rwproto.decompress(_rwproto.compress(body)))
    assert decoded[0][0] == labels
    assert [(t, bits(v)) for t, v in decoded[0][1]] == [(int(t), int(b)) for t, b in samples]


@given(st.binary(max_size=200))
def test_decoder_never_crashes_on_garbage(data: bytes) -> None:
    """Malformed bodies raise ValueError (or decode), nothing else."""
    try:
        _rwproto.decode_write_request(data)
    except ValueError:
        pass


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI absent")
def test_https_with_ca_file_and_unknown_ca(store: Store, tmp_path: Path) -> None:
    """tls_config.ca_file verifies the receiver; without it the send fails and is retried."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    rec = Receiver(tls=ctx)
    try:
        ingest(store, [UP_A], now_ms() - 10_000, 3)
        good = rw_config(
            rec.url, name="good", tls_config=TLSConfig(ca_file=str(tmp_path / "cert.pem"))
        )
        bad = rw_config(rec.url, name="bad")
        mgr = manager(store, [good, bad])
        mgr.start()
        try:
            wait_for(lambda: rec.count() >= 3)
            wait_for(lambda: mgr.stats()[0].samples_failed > 0, what="the unverified send to fail")
            bad_st, good_st = mgr.stats()
            assert good_st.samples_sent == 3
            assert bad_st.samples_sent == 0
            assert "CERTIFICATE_VERIFY_FAILED" in bad_st.last_error
        finally:
            mgr.stop()
    finally:
        rec.close()


def test_bad_target_config_is_reported_by_apply(store: Store, receiver: Receiver) -> None:
    """A target that cannot start (missing client certificate) is an error; others run."""
    broken = rw_config(
        receiver.url,
        name="broken",
        tls_config=TLSConfig(cert_file="/nonexistent/c.pem", key_file="/nonexistent/k.pem"),
    )
    mgr = manager(store, [broken, rw_config(receiver.url, name="ok")])
    assert [e.split(":")[0] for e in mgr.start()] == ["remote_write broken"]
    try:
        errors = mgr.apply([broken, rw_config(receiver.url, name="ok")])
        assert len(errors) == 1 and errors[0].startswith("remote_write broken:")
        assert sorted(mgr.writers) == ["ok"]
    finally:
        mgr.stop()
    # A stopped manager can be started again.
    mgr.start()
    try:
        assert sorted(mgr.writers) == ["ok"]
    finally:
        mgr.stop()


class FlakyProgress(ProgressStore):
    """Fails to record marks while `failing`, as if the process died right after a 2xx."""

    failing = False

    def advance(self, target: str, marks: Any, facts: Any = None) -> None:
        if self.failing:
            raise StoreError("disk full (test)")
        super().advance(target, marks, facts)


def test_marks_not_persisted_resend_only_that_request(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    """The documented edge: a request whose marks were lost after its 2xx goes again on restart."""
    t0 = now_ms() - 30_000
    ingest(store, [UP_A], t0, 8)
    path = tmp_path / "progress"
    flaky = FlakyProgress(path)
    cfg = rw_config(receiver.url, queue={"max_samples_per_send": 4})
    mgr = manager(store, [cfg], progress=flaky)
    mgr.start()
    try:
        wait_for(lambda: receiver.count() >= 8)
        flaky.failing = True
        ingest(store, [UP_A], t0 + 8000, 4)
        wait_for(lambda: receiver.count() >= 12)
        time.sleep(0.2)
        # In the running process nothing is sent twice: the marks are kept in memory.
        assert receiver.accepted() == expected([UP_A], t0, 12)
        assert "disk full" in mgr.stats()[0].last_error
    finally:
        mgr.stop()
        flaky.close()
    # After the "crash" only the request whose marks never reached the file goes again.
    again = ProgressStore(path)
    mgr2 = manager(store, [cfg], progress=again)
    mgr2.start()
    try:
        wait_for(lambda: receiver.count() >= 16)
        time.sleep(0.3)
        ts = [t for t, _ in receiver.accepted()[tuple(UP_A)]]
        assert ts == [t0 + i * 1000 for i in range(12)] + [t0 + i * 1000 for i in range(8, 12)]
    finally:
        mgr2.stop()
        again.close()


def test_render_stats_is_valid_exposition() -> None:
    """The /metrics rendering parses with the Prometheus client's parser, values exact."""
    from prometheus_client.parser import text_string_to_metric_families

    stats = [
        RemoteWriteStats("vm", "http://vm:8428/api/v1/write", samples_sent=12, requests=3),
        RemoteWriteStats('we"ird\\n', "https://x/w", highest_sent_timestamp_ms=1_700_000_000_123),
    ]
    fams = {f.name: f for f in text_string_to_metric_families(render_stats(stats))}
    sent = {
        s.labels["remote_name"]: s.value for s in fams["nightowl_remote_write_samples_sent"].samples
    }
    assert sent == {"vm": 12, 'we"ird\\n': 0}
    ts = fams["nightowl_remote_write_highest_sent_timestamp_seconds"].samples[1]
    assert ts.value == 1_700_000_000.123
    assert fams["nightowl_remote_write_samples_pending"].type == "gauge"


_CHILD = """
import sys, time
from nightowl.config import QueueConfig, RemoteWriteConfig
from nightowl.server.remote_write import RemoteWriteManager
from nightowl.store import Store
store = Store.open(sys.argv[1], readonly=True)
cfg = RemoteWriteConfig(url=sys.argv[2], name="child",
                        queue_config=QueueConfig(max_samples_per_send=50, batch_send_deadline=50))
mgr = RemoteWriteManager(store, [cfg], backfill_ms=3_600_000)
mgr.start()
print("started", flush=True)
while True:
    time.sleep(1)
"""


def test_kill_9_mid_stream_resends_at_most_one_request(store: Store) -> None:
    """A sender process killed with SIGKILL and started again: all samples arrive, and
    at most one request's samples (the one in flight) twice."""

    def slow() -> int:
        time.sleep(0.02)
        return 204

    rec = Receiver(status=slow)
    series = [Labels([("__name__", "rw_kill"), ("i", str(k))]) for k in range(20)]
    t0 = now_ms() - 50_000
    ingest(store, series, t0, 100, step=500)
    store.checkpoint()

    def child() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(store.path), rec.url], stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        return proc

    try:
        proc = child()
        try:
            wait_for(lambda: rec.count() >= 600, what="a third of the samples")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]
        assert rec.count() < 2000
        proc = child()
        try:
            wait_for(lambda: len(set(_flat(rec))) >= 2000, what="every sample")
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]
        got = _flat(rec)
        assert set(got) == {(tuple(lab), t0 + i * 500) for i in range(100) for lab in series}
        assert len(got) - 2000 <= 50, f"{len(got) - 2000} samples twice"
    finally:
        rec.close()


def _flat(rec: Receiver) -> list[tuple[tuple[tuple[str, str], ...], int]]:
    return [(k, t) for k, pts in rec.accepted().items() for t, _ in pts]


def test_shards_send_concurrently_keeping_each_series_in_order(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large backlog goes out over several shards; every series still arrives in order."""
    from nightowl.server import remote_write

    monkeypatch.setattr(remote_write, "SHARD_SAMPLES", 40)
    series = [Labels([("__name__", "rw_shard"), ("i", str(k))]) for k in range(12)]
    t0 = now_ms() - 60_000
    ingest(store, series, t0, 30, step=1000)
    cfg = rw_config(receiver.url, queue={"max_samples_per_send": 10, "max_shards": 4})
    mgr = manager(store, [cfg])
    mgr.start()
    try:
        assert mgr.writers[cfg.url].shards_for(360) == 4
        wait_for(lambda: receiver.count() >= 360)
        time.sleep(0.2)
        assert receiver.accepted() == expected(series, t0, 30)
        # Series that share a request share a shard: they fall into 2..4 disjoint groups.
        groups: list[set] = []
        for r in receiver.requests:
            names = {tuple(lab) for lab, _ in r["series"]}
            joined = [g for g in groups if g & names]
            for g in joined:
                groups.remove(g)
                names |= g
            groups.append(names)
        assert 2 <= len(groups) <= 4
        assert sum(len(g) for g in groups) == 12
        st = mgr.stats()[0]
        assert st.samples_sent == 360 and st.samples_pending == 0
    finally:
        mgr.stop()
