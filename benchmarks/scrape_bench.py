#!/usr/bin/env python3
"""Scrape + store CPU cost: 50 local targets x 2,000 series every 15 s into the SQLite store.

Usage:
    python benchmarks/scrape_bench.py [--duration 120] [--targets 50] [--series 2000]
                                      [--interval 15] [--no-gzip] [--keep DIR]

One helper *process* (started here, its CPU not counted) serves every target
from one 127.0.0.1 port at `/t/<i>/metrics`: 2,000 series in 20 families
(counters, gauges and a histogram) whose values change on every request, gzip-
compressed when the client asks (as real exporters do). This process runs the
real pipeline: `ScrapeManager` (one job, 50 targets, each at its own offset
into the interval) -> exposition parser -> label cache -> `Store.append` (one
transaction per scrape in the writer thread).

CPU is this process's user + system time (all threads, so the store's writer
thread is included), measured from the end of the first full round (series
creation excluded, as a steady state) to the end of the run. Printed:

- samples ingested and samples/s;
- CPU-seconds per million samples (the issue's target: <= 7.5) and the average
  share of one core (target: <= 5%);
- failed scrapes (must be 0) and the scrape durations (median, max).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from nightowl.scrapers.manager import ScrapeManager
from nightowl.scrapers.target import options_from_config
from nightowl.store import Store
from nightowl.store.api import AppendResult

from nightowl.model import SampleBatch

SERVER = textwrap.dedent(
    r"""
    import gzip, sys, itertools
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    targets, series = int(sys.argv[1]), int(sys.argv[2])
    per_family = series // 20

    def page(target, round_):
        out = []
        for f in range(20):
            name = f"bench_family_{f}_total" if f % 2 == 0 else f"bench_gauge_{f}"
            kind = "counter" if f % 2 == 0 else "gauge"
            out.append(f"# HELP {name} Benchmark family {f}.\n# TYPE {name} {kind}\n")
            for s in range(per_family):
                v = (round_ * 7 + s * 13 + target) % 100000
                out.append(
                    f'{name}{{handler="/api/v{s % 5}/items",method="GET",code="{200 + s % 3}",'
                    f'shard="{s}"}} {v}\n'
                )
        return "".join(out).encode()

    # Pre-render 4 rounds per target so serving costs little and values change.
    pages = {}
    for t in range(targets):
        for r in range(4):
            body = page(t, r)
            pages[(t, r)] = (body, gzip.compress(body, 1))
    counters = [itertools.count() for _ in range(targets)]

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a):
            pass
        def do_GET(self):
            parts = self.path.split("/")
            t = int(parts[2])
            plain, gz = pages[(t, next(counters[t]) % 4)]
            use_gz = "gzip" in self.headers.get("Accept-Encoding", "")
            body = gz if use_gz else plain
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            if use_gz:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
    """
)


class Counting:
    """Wraps the store: counts samples and scrape failures as they pass."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.samples = 0
        self.failed = 0
        self.scrapes = 0
        self.rejected = 0

    async def append(self, batch: SampleBatch) -> AppendResult:
        result = await self.store.append(batch)
        self.samples += len(batch)
        self.rejected += result.rejected
        for labels, value in zip(batch.series, batch.values.tolist(), strict=False):
            if labels.name == "up":
                self.scrapes += 1
                if value != 1.0:
                    self.failed += 1
        return result


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def run(args: argparse.Namespace, db: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.targets), str(args.series)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        store = Store.open(db)
        counting = Counting(store)
        manager = ScrapeManager(counting)
        groups = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"__metrics_path__": f"/t/{i}/metrics"}}
            for i in range(args.targets)
        ]
        # A label per target keeps the 50 targets (same address) distinct.
        opts = options_from_config(
            {
                "job_name": "bench",
                "scrape_interval": int(args.interval * 1000),
                "scrape_timeout": int(min(args.interval, 10) * 1000),
                "static_configs": groups,
                "enable_compression": not args.no_gzip,
                "relabel_configs": [
                    {
                        "source_labels": ["__metrics_path__"],
                        "regex": "/t/(\\d+)/metrics",
                        "target_label": "instance",
                        "replacement": f"127.0.0.1:{port}/t/$1",
                    }
                ],
            }
        )
        await manager.apply_jobs([opts])
        assert len(manager.targets()) == args.targets, manager.errors()
        print(
            f"{args.targets} targets x {args.series} series every {args.interval}s, "
            f"gzip={'off' if args.no_gzip else 'on'}, measuring {args.duration}s "
            "after one warm-up round ...",
            flush=True,
        )
        await asyncio.sleep(args.interval + 1)  # warm-up: every target scraped once
        c0, s0, t0 = cpu_seconds(), counting.samples, time.monotonic()
        scrapes0, failed0 = counting.scrapes, counting.failed
        await asyncio.sleep(args.duration)
        c1, s1, t1 = cpu_seconds(), counting.samples, time.monotonic()
        durations = [t.last_duration_s for t in manager.targets()]
        scrapes, failed = counting.scrapes - scrapes0, counting.failed - failed0
        await manager.stop()
        stats = store.stats()
        store.close()
    finally:
        server.terminate()
        server.wait()
    samples = s1 - s0
    cpu = c1 - c0
    wall = t1 - t0
    print(f"samples ingested:        {samples:,} ({samples / wall:,.0f}/s) in {scrapes} scrapes")
    print(f"failed scrapes:          {failed}")
    print(f"rejected samples:        {counting.rejected}")
    print(f"CPU seconds:             {cpu:.2f} over {wall:.1f} s wall")
    if samples:
        print(f"CPU-s per 1M samples:    {cpu / samples * 1e6:.2f}  (target <= 7.5)")
    print(f"share of one core:       {cpu / wall * 100:.2f}%  (target <= 5%)")
    if durations:
        print(
            f"scrape duration:         median {statistics.median(durations) * 1000:.1f} ms, "
            f"max {max(durations) * 1000:.1f} ms"
        )
    print(f"store: {stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds measured")
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=15.0, help="scrape interval, seconds")
    parser.add_argument("--no-gzip", action="store_true", help="ask targets for plain text")
    parser.add_argument("--keep", type=Path, help="keep the database in this directory")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, args.keep / "bench.db"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(args, Path(tmp) / "bench.db"))


if __name__ == "__main__":
    main()
