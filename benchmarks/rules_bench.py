#!/usr/bin/env python3
"""Rule evaluation cost: 500 rules over the standard workload every 15 s.

Usage:
    python benchmarks/rules_bench.py [--series 1000] [--hours 2] [--rules 500] [--cycles 8]

Generates the standard workload (../shared/bench/gen_workload.py, Prometheus
text; 1,000 series at 15 s) for `--hours`, ingests it into a SQLite store
(untimed), then builds `--rules` rules in groups of 25 (about 60 % recording
rules such as `sum by (job) (rate(http_requests_total[5m]))` and histogram
quantiles, 40 % alerting rules with `for` and templated annotations) and
evaluates every group at consecutive 15 s steps at the end of the data, writing
the recorded series and ALERTS back through the store, as the daemon does.

Prints the CPU time of one evaluation round (all groups, process CPU time, so
the writer thread counts too), and that as a percentage of one core at a 15 s
interval: the figure the issue bounds at <= 20 %.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nightowl.alerts.group import Group
from nightowl.alerts.rulefile import parse_rule_text
from nightowl.alerts.rules import engine_query_fn
from nightowl.query.engine import Engine
from nightowl.store.options import StoreOptions
from nightowl.store.store import Store

HERE = Path(__file__).resolve().parent
GEN = HERE.parent.parent / "shared" / "bench" / "gen_workload.py"
if not GEN.exists():
    GEN = Path("/work/shared/bench/gen_workload.py")
STEP_MS = 15_000
JOBS = ("api", "web", "worker", "batch")


def _load_workload(path: Path) -> list:
    spec = importlib.util.spec_from_file_location("store_bench", HERE / "store_bench.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_workload(path)


def rule_text(n_rules: int, per_group: int = 25) -> str:
    """`n_rules` rules in groups of `per_group` over the workload's metrics."""
    templates = [
        ("record", "job:http_requests:rate5m_{i}", "sum by (job) (rate(http_requests_total[5m]))"),
        (
            "record",
            "job_code:http_requests:rate5m_{i}",
            'sum by (job, code) (rate(http_requests_total{{job="{job}"}}[5m]))',
        ),
        (
            "record",
            "job:request_duration:p99_{i}",
            "histogram_quantile(0.99, sum by (job, le) "
            '(rate(request_duration_seconds_bucket{{job="{job}"}}[5m])))',
        ),
        (
            "alert",
            "HighErrorRate{i}",
            'sum by (job, instance) (rate(http_requests_total{{code="500"}}[5m])) '
            "/ sum by (job, instance) (rate(http_requests_total[5m])) > 0.001",
        ),
        ("alert", "MemoryHigh{i}", 'node_memory_bytes{{type="used",job="{job}"}} > 1e6'),
    ]
    lines = ["groups:"]
    for i in range(n_rules):
        if i % per_group == 0:
            lines += [f"  - name: g{i // per_group}", "    interval: 15s", "    rules:"]
        kind, name, expr = templates[i % len(templates)]
        job = JOBS[i % len(JOBS)]
        name = name.format(i=i)
        expr = expr.format(job=job)
        if kind == "record":
            lines += [f"      - record: {name}", f"        expr: '{expr}'"]
        else:
            lines += [
                f"      - alert: {name}",
                f"        expr: '{expr}'",
                "        for: 1m",
                "        labels: {severity: warning}",
                "        annotations:",
                '          summary: "{{ $labels.instance }} at {{ $value | humanize }}"',
            ]
    return "\n".join(lines) + "\n"


async def _round(groups: list[Group], t_ms: int) -> int:
    n = 0
    for g in groups:
        r = await g.eval(t_ms)
        n += r.samples
        if r.errors:
            raise SystemExit(f"rule errors: {r.errors[:3]}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--cycles", type=int, default=8)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="nightowl-rules-bench-"))
    workload = work / "workload.prom"
    start = 1_700_000_000
    subprocess.run(
        [
            sys.executable,
            str(GEN),
            "--format",
            "prometheus",
            "--series",
            str(args.series),
            "--hours",
            str(args.hours),
            "--start",
            str(start),
            "-o",
            str(workload),
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    batches = _load_workload(workload)
    store = Store.open(work / "bench.db", options=StoreOptions(compaction_interval_ms=0))
    for b in batches:
        store.append_sync(b)
    total = sum(len(b) for b in batches)
    print(f"workload: {args.series} series x {args.hours} h at 15 s = {total:,} samples (untimed)")

    specs = parse_rule_text(rule_text(args.rules))
    query = engine_query_fn(Engine(store))
    groups = [Group(s, query, store, interval_ms=STEP_MS) for s in specs]
    n_rules = sum(len(g.rules) for g in groups)
    end_ms = start * 1000 + int(args.hours * 3_600_000)
    t0 = end_ms - (args.cycles + 1) * STEP_MS

    async def run() -> list[tuple[float, float, int]]:
        out = []
        await _round(groups, t0)  # warm-up (caches, first ALERTS series)
        for c in range(1, args.cycles + 1):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            n = await _round(groups, t0 + c * STEP_MS)
            out.append((time.process_time() - cpu0, time.perf_counter() - wall0, n))
        return out

    res = asyncio.run(run())
    store.close()
    cpu = [r[0] for r in res]
    wall = [r[1] for r in res]
    med_cpu = statistics.median(cpu)
    print(f"rules: {n_rules} in {len(groups)} groups; samples written per round: {res[-1][2]:,}")
    print(
        f"one round: cpu median {med_cpu * 1000:.0f} ms (min {min(cpu) * 1000:.0f}, "
        f"max {max(cpu) * 1000:.0f}), wall median {statistics.median(wall) * 1000:.0f} ms"
    )
    print(f"CPU at a 15 s interval: {med_cpu / (STEP_MS / 1000) * 100:.1f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
