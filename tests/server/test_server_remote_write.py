"""Remote write: the hand-made protobuf, batching, retries, 4xx drops, resumption, relabeling."""

from __future__ import annotations

import math
import struct
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from nightowl.server import _rwproto
from nightowl.server.remote_write import RemoteWriteManager, RemoteWriter
from nightowl.store import Store
from nightowl.store.progress import ProgressStore

from nightowl.config import QueueConfig, RelabelConfig, RemoteWriteConfig
from nightowl.model import STALE_NAN, Labels, Sample, SampleBatch

NOW = 1_700_000_000_000


@given(
    st.lists(
        st.tuples(
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=8), max_size=4),
)
def test_protobuf_round_trip(samples: list[tuple[int, float]], labels: dict[str, str]) -> None:
    """encode_samples/encode_labels decode back to the same series (negative times too)."""
    ts = np.array([t for t, _ in samples], dtype=np.int64)
    vs = np.array([v for _, v in samples], dtype=np.float64)
    buf, offsets = _rwproto.encode_samples(ts, vs)
    assert offsets[-1] == len(buf)
    pairs = sorted(labels.items())
    body = _rwproto.encode_timeseries(_rwproto.encode_labels(pairs), buf.tobytes())
    raw = _rwproto.decompress(_rwproto.compress(body))
    ((got_labels, got_samples),) = _rwproto.decode_write_request(raw)
    assert got_labels == pairs
    assert got_samples == list(zip(ts.tolist(), vs.tolist(), strict=True))


def test_staleness_marker_bits_survive() -> None:
    """The staleness NaN keeps its exact bit pattern on the wire."""
    buf, _ = _rwproto.encode_samples(np.array([5]), np.array([STALE_NAN]))
    ((_, [(t, v)]),) = _rwproto.decode_write_request(_rwproto.encode_timeseries(b"", buf.tobytes()))
    assert t == 5 and math.isnan(v)
    assert struct.pack("<d", v) == struct.pack("<d", STALE_NAN)


class Receiver:
    """An httpx MockTransport playing a remote-write receiver with scripted answers."""

    def __init__(self) -> None:
        self.got: dict[Labels, list[tuple[int, float]]] = {}
        self.script: list[int] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests += 1
            self.headers.append(request.headers)
            code = self.script.pop(0) if self.script else 204
            if code < 300:
                for pairs, samples in _rwproto.decode_write_request(
                    _rwproto.decompress(request.content)
                ):
                    self.got.setdefault(Labels(pairs), []).extend(samples)
        return httpx.Response(code, text="" if code < 300 else f"error {code}")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _store(tmp_path: Path, n: int = 50, t0: int = NOW - 100_000) -> Store:
    store = Store.open(tmp_path / "n.db")
    samples = []
    for i in range(n):
        samples.append(Sample(Labels.of("a", job="x"), t0 + i * 1000, float(i)))
        samples.append(Sample(Labels.of("b", job="y"), t0 + i * 1000, float(-i)))
    store.append_sync(SampleBatch.from_samples(samples))
    return store


def _cfg(**kw: object) -> RemoteWriteConfig:
    q = QueueConfig(max_samples_per_send=30, min_backoff=1, max_backoff=4, batch_send_deadline=10)
    return RemoteWriteConfig(url="http://recv/api/v1/write", queue_config=q, **kw)  # type: ignore[arg-type]


def _writer(store: Store, rx: Receiver, progress: ProgressStore, **kw: object) -> RemoteWriter:
    return RemoteWriter(
        store,
        _cfg(**kw),
        progress,
        transport=rx.transport(),
        clock=lambda: NOW,
        backfill_ms=200_000,
    )


def test_sends_everything_once_in_batches(tmp_path: Path) -> None:
    """All samples arrive once, in order, in requests of at most max_samples_per_send."""
    store = _store(tmp_path)
    rx = Receiver()
    w = _writer(store, rx, ProgressStore(None))
    w._load()
    while w.cycle():
        pass
    w.cycle()
    assert rx.got[Labels.of("a", job="x")] == [
        (NOW - 100_000 + i * 1000, float(i)) for i in range(50)
    ]
    assert len(rx.got[Labels.of("b", job="y")]) == 50
    assert rx.requests == 4  # 100 samples / 30
    h = rx.headers[0]
    assert h["content-encoding"] == "snappy"
    assert h["x-prometheus-remote-write-version"] == "0.1.0"
    st_ = w.stats()
    assert st_.samples_sent == 100 and st_.highest_sent_timestamp_ms == NOW - 100_000 + 49_000
    store.close()


def test_retries_5xx_and_429_drops_4xx(tmp_path: Path) -> None:
    """5xx and 429 retry the same request; other 4xx drop it and count it."""
    store = _store(tmp_path, n=10)
    rx = Receiver()
    rx.script = [500, 429, 204]
    w = _writer(store, rx, ProgressStore(None))
    w._load()
    w.cycle()
    assert rx.requests == 3
    assert len(rx.got[Labels.of("a", job="x")]) == 10
    s = w.stats()
    assert s.samples_failed == 40 and s.samples_retried == 40 and s.samples_sent == 20
    # a 400 is not retried
    rx2 = Receiver()
    rx2.script = [400]
    w2 = _writer(store, rx2, ProgressStore(None))
    w2._load()
    w2.cycle()
    assert rx2.requests == 1 and rx2.got == {}
    assert w2.stats().samples_dropped == 20
    store.close()


def test_resumes_after_restart(tmp_path: Path) -> None:
    """Progress is persisted: a new writer on the same file sends only what is new."""
    store = _store(tmp_path, n=10)
    progress = ProgressStore.beside(tmp_path / "n.db")
    rx = Receiver()
    w = _writer(store, rx, progress)
    w._load()
    w.cycle()
    assert sum(len(v) for v in rx.got.values()) == 20
    progress.close()
    # more samples arrive while "down"
    later = [Sample(Labels.of("a", job="x"), NOW - 50_000 + i, 100.0 + i) for i in range(5)]
    store.append_sync(SampleBatch.from_samples(later))
    progress = ProgressStore.beside(tmp_path / "n.db")
    rx2 = Receiver()
    w2 = _writer(store, rx2, progress)
    w2._load()
    w2.cycle()
    assert rx2.got == {Labels.of("a", job="x"): [(s.t, s.v) for s in later]}
    progress.close()
    store.close()


def test_write_relabel_configs(tmp_path: Path) -> None:
    """Series dropped by write_relabel_configs are not sent; kept ones are relabeled."""
    store = _store(tmp_path, n=5)
    rx = Receiver()
    rules = (
        RelabelConfig(source_labels=("job",), regex="y", action="drop"),
        RelabelConfig(target_label="env", replacement="prod"),
    )
    w = _writer(store, rx, ProgressStore(None), write_relabel_configs=rules)
    w._load()
    w.cycle()
    assert list(rx.got) == [Labels.of("a", env="prod", job="x")]
    assert w.stats().samples_relabel_dropped == 5
    store.close()


def test_manager_threads_ship_and_stop(tmp_path: Path) -> None:
    """The manager's sender thread ships samples and stops promptly."""
    store = _store(tmp_path, n=5)
    rx = Receiver()
    mgr = RemoteWriteManager(
        store, [_cfg()], transport=rx.transport(), clock=lambda: NOW, backfill_ms=200_000
    )
    mgr.start()
    deadline = time.monotonic() + 10
    while sum(len(v) for v in rx.got.values()) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    t = time.monotonic()
    mgr.stop()
    assert time.monotonic() - t < 5
    assert sum(len(v) for v in rx.got.values()) == 10
    store.close()
