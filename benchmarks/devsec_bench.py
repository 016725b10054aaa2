"""Throughput of the DevSecOps sources: log following + matching, pushes, report parsing.

Prints figures; asserts nothing. Run: python benchmarks/devsec_bench.py [--lines N]

- logs: a copy of the shared sshd auth log repeated to N lines, followed from the start
  with the sshd example pattern (plus a histogram pattern): lines/s and CPU seconds;
- push: PUT of a 1,000-series text body to the receiver (in-memory store): pushes/s;
- reports: parsing the Trivy, SARIF, JUnit and Cobertura fixtures: parses/s each.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from nightowl.scrapers.logs import LogMetric, LogSource
from nightowl.scrapers.push import PushReceiver
from nightowl.scrapers.reports import parse_report
from nightowl.store.memory import MemoryStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


async def bench_logs(n_lines: int) -> None:
    src_lines = (SHARED / "logs" / "auth.log").read_bytes().splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "auth.log"
        with open(path, "wb") as fh:
            written = 0
            while written < n_lines:
                chunk = src_lines[: n_lines - written]
                fh.writelines(chunk)
                written += len(chunk)
        metrics = [
            LogMetric(
                "ssh_failed_logins_total",
                r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<source>\S+) port",
            ),
            LogMetric(
                "ssh_port",
                r"port (?P<port>\d+)",
                type="histogram",
                value_group="port",
                buckets=(1024.0, 16384.0, 32768.0, 49152.0),
            ),
        ]
        src = LogSource(
            "bench",
            path,
            metrics,
            MemoryStore(),
            start_at="beginning",
            state_file=Path(d) / "state.json",
        )
        wall0, cpu0 = time.perf_counter(), time.process_time()
        n = await src.poll()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        await src.stop()
    print(
        f"logs:    {n:,} lines, 2 patterns: {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"-> {n / wall:,.0f} lines/s"
    )


async def bench_push(n_pushes: int, n_series: int) -> None:
    body = "".join(
        f'ci_test_duration_seconds{{suite="s{i % 10}",case="c{i}"}} {i * 0.01}\n'
        for i in range(n_series)
    ).encode()
    r = PushReceiver(MemoryStore())
    t0 = time.perf_counter()
    for i in range(n_pushes):
        res = await r.handle("PUT", f"/metrics/job/bench/run/{i % 5}", body)
        assert res.status == 200
    wall = time.perf_counter() - t0
    print(
        f"push:    {n_pushes} PUTs of {n_series:,} series: {wall:.2f} s "
        f"-> {n_pushes / wall:,.1f} pushes/s, {n_pushes * n_series / wall:,.0f} samples/s"
    )


def bench_reports(rounds: int) -> None:
    for name, fmt in [
        ("security/trivy-centos-7.json", "trivy"),
        ("security/trivy-alpine-310.sarif", "sarif"),
        ("ci/pytest-junit.xml", "junit"),
        ("ci/cobertura-coverage.xml", "cobertura"),
    ]:
        data = (SHARED / name).read_bytes()
        t0 = time.perf_counter()
        for _ in range(rounds):
            parse_report(data, fmt)
        wall = time.perf_counter() - t0
        print(f"report:  {fmt:9s} {len(data):>6,} bytes: {rounds / wall:,.0f} parses/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--pushes", type=int, default=50)
    ap.add_argument("--series", type=int, default=1000)
    args = ap.parse_args()
    asyncio.run(bench_logs(args.lines))
    asyncio.run(bench_push(args.pushes, args.series))
    bench_reports(200)


if __name__ == "__main__":
    main()
