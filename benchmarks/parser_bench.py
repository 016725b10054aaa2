"""Exposition parser throughput, side by side with prometheus_client's own parsers.

Prints lines/s for nightowl's parser and for prometheus_client on the same
input, in one run, and the ratio:

- the node_exporter fixture page repeated (Prometheus text, no timestamps),
  against `prometheus_client.parser.text_string_to_metric_families`;
- the standard workload (shared/bench/gen_workload.py), the first N lines, in
  Prometheus text (ms timestamps) against the same parser, and in OpenMetrics
  against `prometheus_client.openmetrics.parser.text_string_to_metric_families`.

"cold" parses start with empty series caches (a fresh process); "warm" parses
again with the process-wide caches filled; "SeriesCache" is a scraper's steady
state, parsing the same target again with its own per-target cache.

    python benchmarks/parser_bench.py [--repeat 20] [--series 200 --hours 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
NODE = SHARED / "fixtures" / "node_exporter" / "metrics.txt"
GEN = SHARED / "bench" / "gen_workload.py"


def _best(fn: Callable[[], object], runs: int, before: Callable[[], None] | None = None) -> float:
    best = float("inf")
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _clear_caches() -> None:
    from nightowl.scrapers import exposition

    for group in (exposition._SHARED_BRACE, exposition._SHARED_BARE, exposition._SHARED_COMMENTS):
        for d in group:
            d.clear()


def _workload(fmt: str, series: int, hours: float, tmp: Path) -> bytes:
    out = tmp / f"workload.{fmt}"
    subprocess.run(
        [
            sys.executable,
            str(GEN),
            "-o",
            str(out),
            "--format",
            fmt,
            "--series",
            str(series),
            "--hours",
            str(hours),
        ],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


def _row(name: str, data: bytes, openmetrics: bool, runs: int, client_runs: int) -> None:
    from nightowl.scrapers.exposition import SeriesCache, parse

    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families

    n_lines = data.count(b"\n")
    text = data.decode()
    cold = _best(lambda: parse(data, openmetrics=openmetrics), runs, _clear_caches)
    warm = _best(lambda: parse(data, openmetrics=openmetrics), runs)
    cache = SeriesCache()
    parse(data, openmetrics=openmetrics, cache=cache)
    cached = _best(lambda: parse(data, openmetrics=openmetrics, cache=cache), runs)
    samples = len(parse(data, openmetrics=openmetrics))
    print(f"{name}: {n_lines:,} lines, {samples:,} samples, {len(data) / 1e6:.1f} MB")
    print(f"  nightowl cold        {n_lines / cold:>12,.0f} lines/s  ({cold * 1000:8.1f} ms)")
    print(f"  nightowl warm        {n_lines / warm:>12,.0f} lines/s  ({warm * 1000:8.1f} ms)")
    print(f"  nightowl SeriesCache {n_lines / cached:>12,.0f} lines/s  ({cached * 1000:8.1f} ms)")
    try:
        theirs = _best(lambda: list(text_string_to_metric_families(text)), client_runs)
    except ValueError as exc:
        print(f"  prometheus_client    rejects this input: {str(exc)[:60]}")
        return
    print(f"  prometheus_client    {n_lines / theirs:>12,.0f} lines/s  ({theirs * 1000:8.1f} ms)")
    print(
        f"  speed-up: cold {theirs / cold:.1f}x, warm {theirs / warm:.1f}x, "
        f"SeriesCache {theirs / cached:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="node_exporter page repetitions")
    ap.add_argument("--series", type=int, default=200, help="workload series")
    ap.add_argument("--hours", type=float, default=2.0, help="workload hours (15 s step)")
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs (nightowl)")
    ap.add_argument("--client-runs", type=int, default=1, help="runs of prometheus_client")
    args = ap.parse_args(argv)
    if NODE.exists():
        _row(
            f"node_exporter page x{args.repeat} (Prometheus text)",
            NODE.read_bytes() * args.repeat,
            False,
            args.runs,
            args.client_runs,
        )
    if GEN.exists():
        with tempfile.TemporaryDirectory() as tmp:
            for fmt, om in (("prometheus", False), ("openmetrics", True)):
                data = _workload(fmt, args.series, args.hours, Path(tmp))
                _row(f"workload {fmt}", data, om, args.runs, args.client_runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
