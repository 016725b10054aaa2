#!/usr/bin/env python3
"""Remote-write throughput: samples/s from the SQLite store into a real receiver.

Usage:
    python benchmarks/remote_write_bench.py [--receiver victoriametrics|prometheus]
        [--series 2000] [--samples 240] [--max-samples-per-send 2000] [--keep DIR]

Builds a store with `--series` series x `--samples` samples (10 s apart, the
newest a minute ago), starts the receiver (VictoriaMetrics by default, Prometheus
2.42 with its remote-write receiver otherwise) on a free 127.0.0.1 port with a
fresh data directory, then runs the real `RemoteWriteManager` (backfilling the
whole store) and times from `start()` until the receiver has acknowledged every
sample. Printed:

- samples sent and samples/s end to end (store read, relabel, protobuf encode,
  snappy, HTTP, receiver ingestion, progress persisted after each request);
  the issue's target is >= 100,000 samples/s to VictoriaMetrics;
- requests, compressed bytes per sample, and the encode-only rate (protobuf +
  snappy of the same samples, no I/O) to show where the time goes;
- the cost of one steady-state cycle with nothing new to send (the re-scan of
  the recent window that every `batch_send_deadline` pays);
- a check that the receiver holds the expected number of samples.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from nightowl.server import _rwproto
from nightowl.server.remote_write import LATE_MS, RemoteWriteManager, RemoteWriter
from nightowl.store import Store
from nightowl.store.progress import ProgressStore

from nightowl.config import QueueConfig, RemoteWriteConfig
from nightowl.model import Labels, SampleBatch
from nightowl.timeutil import now_ms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read()


def start_receiver(kind: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    addr = f"127.0.0.1:{port}"
    if kind == "prometheus":
        cfg = data.parent / "prometheus.yml"
        cfg.write_text("")
        args = [
            shutil.which("prometheus") or "prometheus",
            "--web.enable-remote-write-receiver",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={addr}",
        ]
        ready = f"http://{addr}/-/ready"
    else:
        args = [
            shutil.which("victoria-metrics") or "victoria-metrics",
            f"-storageDataPath={data}",
            f"-httpListenAddr={addr}",
            "-search.latencyOffset=0s",
        ]
        ready = f"http://{addr}/health"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get(ready)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{kind} did not become ready on {addr}")


def build_store(path: Path, n_series: int, n_samples: int) -> tuple[Store, int, int]:
    store = Store.open(path)
    series = [
        Labels(
            [
                ("__name__", f"bench_metric_{k % 20}"),
                ("instance", f"host{k // 100}:9100"),
                ("job", "node"),
                ("idx", str(k)),
            ]
        )
        for k in range(n_series)
    ]
    end = now_ms() - 60_000
    start = end - (n_samples - 1) * 10_000
    rng = np.random.default_rng(1)
    for i in range(n_samples):
        t = start + i * 10_000
        batch = SampleBatch(
            series,
            np.arange(n_series),
            np.full(n_series, t, dtype=np.int64),
            np.round(rng.random(n_series) * 1000, 3),
        )
        store.append_sync(batch)
    return store, start, end


def receiver_count(kind: str, port: int, start: int, end: int) -> int:
    base = f"http://127.0.0.1:{port}"
    span = (end - start) // 1000 + 1
    q = urllib.parse.urlencode(
        {
            "query": f'sum(count_over_time({{__name__=~"bench_metric_.*"}}[{span}s]))',
            "time": end / 1000,
        }
    )
    if kind != "prometheus":
        get(f"{base}/internal/force_flush")
    body = json.loads(get(f"{base}/api/v1/query?{q}"))
    result = body["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def encode_only(store: Store, start: int, end: int, per_send: int) -> float:
    """Samples/s of protobuf + snappy alone on the same data (one select)."""
    data = store.select((), start, end)
    t0 = time.perf_counter()
    n = 0
    labels = [_rwproto.encode_labels(list(sd.labels)) for sd in data]
    ts = np.concatenate([sd.timestamps for sd in data])
    vs = np.concatenate([sd.values for sd in data])
    sid = np.concatenate([np.full(len(sd.timestamps), i) for i, sd in enumerate(data)])
    order = np.argsort(ts, kind="stable")
    ts, vs, sid = ts[order], vs[order], sid[order]
    for a in range(0, len(ts), per_send):
        s = sid[a : a + per_send]
        o = np.argsort(s, kind="stable")
        buf, off = _rwproto.encode_samples(ts[a : a + per_send][o], vs[a : a + per_send][o])
        raw = buf.tobytes()
        s = s[o]
        ends = np.flatnonzero(np.diff(s)) + 1
        starts = np.concatenate(([0], ends)).tolist()
        stops = np.concatenate((ends, [len(s)])).tolist()
        offl = off.tolist()
        parts = [
            _rwproto.encode_timeseries(labels[s[i0]], raw[offl[i0] : offl[i1]])
            for i0, i1 in zip(starts, stops, strict=True)
        ]
        _rwproto.compress(b"".join(parts))
        n += len(s)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--receiver", choices=["victoriametrics", "prometheus"], default="victoriametrics"
    )
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=240)
    ap.add_argument("--max-samples-per-send", type=int, default=2000)
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = ap.parse_args()

    binary = "prometheus" if args.receiver == "prometheus" else "victoria-metrics"
    if shutil.which(binary) is None:
        sys.exit(f"{binary} is not installed")
    work = args.keep or Path(tempfile.mkdtemp(prefix="nightowl-rwbench-"))
    work.mkdir(parents=True, exist_ok=True)
    total = args.series * args.samples
    print(f"building store: {args.series} series x {args.samples} samples = {total:,}")
    store, start, end = build_store(work / "bench.db", args.series, args.samples)
    port = free_port()
    proc = start_receiver(args.receiver, work / "data", port)
    try:
        cfg = RemoteWriteConfig(
            url=f"http://127.0.0.1:{port}/api/v1/write",
            name="bench",
            queue_config=QueueConfig(
                max_samples_per_send=args.max_samples_per_send, batch_send_deadline=50
            ),
        )
        mgr = RemoteWriteManager(store, [cfg], backfill_ms=now_ms() - start + 60_000)
        t0 = time.perf_counter()
        mgr.start()
        while mgr.stats()[0].samples_sent < total:
            time.sleep(0.01)
            if time.perf_counter() - t0 > 600:
                sys.exit("gave up after 600 s")
        elapsed = time.perf_counter() - t0
        st = mgr.stats()[0]
        mgr.stop()
        per_send = args.max_samples_per_send
        print(f"receiver: {args.receiver} ({binary}), max_samples_per_send={per_send}")
        print(f"samples sent: {st.samples_sent:,} in {elapsed:.2f} s")
        print(f"throughput: {st.samples_sent / elapsed:,.0f} samples/s (target >= 100,000)")
        print(
            f"requests: {st.requests}, failed samples: {st.samples_failed}, "
            f"dropped: {st.samples_dropped}, bytes/sample: {st.bytes_sent / st.samples_sent:.2f}"
        )
        idle = RemoteWriter(store, cfg, ProgressStore.beside(work / "bench.db"))
        idle._load()
        t1 = time.perf_counter()
        idle.cycle()
        idle_ms = (time.perf_counter() - t1) * 1000
        idle.stop()
        print(
            f"steady-state cycle with nothing new ({args.series} series, "
            f"{LATE_MS // 1000} s re-scan window): {idle_ms:.0f} ms "
            f"(one per batch_send_deadline, default 5 s)"
        )
        rate = encode_only(store, start, end, per_send)
        print(f"encode only (protobuf + snappy): {rate:,.0f} samples/s")
        deadline = time.monotonic() + 30
        have = 0
        while time.monotonic() < deadline:
            have = receiver_count(args.receiver, port, start, end)
            if have >= total:
                break
            time.sleep(0.5)
        print(f"receiver holds {have:,} samples (expected {total:,})")
    finally:
        proc.terminate()
        proc.wait(30)
        store.close()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
