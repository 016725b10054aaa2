#!/usr/bin/env python3
"""HTTP API query latency: nightowl and the real Prometheus 2.42 over the same workload, in one run.

Usage:
    python benchmarks/api_bench.py [--series 1000] [--hours 12] [--runs 5] [--warmup 1]
        [--keep DIR] [--skip-prometheus]

Steps (everything under a temporary directory unless `--keep`):

1. `/work/shared/bench/gen_workload.py` writes the standard workload (OpenMetrics) and its meta;
2. `nightowl import` loads it into a fresh database; `promtool tsdb create-blocks-from
   openmetrics` turns it into Prometheus blocks (both timed);
3. `nightowl serve --db` and `prometheus --storage.tsdb.path` serve them on free 127.0.0.1 ports;
4. `/work/shared/bench/query_bench.py --verify --pid` runs the fixed query set against each;
5. a table of medians per case, the ratio nightowl / Prometheus, and peak RSS / CPU is printed.

The figures are client-side wall times over HTTP on this machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(os.environ.get("NIGHTOWL_SHARED_BENCH", "/work/shared/bench"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready ({url})")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")


def _timed(cmd: list[str], **kw: object) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t


def _bench(url: str, name: str, pid: int, meta: Path, out: Path, runs: int, warmup: int) -> dict:
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "query_bench.py"),
            "--url",
            url,
            "--meta",
            str(meta),
            "--runs",
            str(runs),
            "--warmup",
            str(warmup),
            "--pid",
            str(pid),
            "--name",
            name,
            "--verify",
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def _cases(result: dict) -> dict[str, dict]:
    return result["queries"]["cases"]


def main() -> int:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--keep", help="work in this directory and leave it behind")
    ap.add_argument("--skip-prometheus", action="store_true", help="only measure nightowl")
    args = ap.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nightowl-api-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        om, meta = work / "workload.om", work / "workload.json"
        if not om.exists():
            subprocess.run(
                [
                    sys.executable,
                    str(BENCH / "gen_workload.py"),
                    "--series",
                    str(args.series),
                    "--hours",
                    str(args.hours),
                    "-o",
                    str(om),
                    "--meta",
                    str(meta),
                ],
                check=True,
            )
        m = json.loads(meta.read_text())
        print(f"workload: {m.get('series', args.series)} series, {m.get('samples', '?')} samples")

        db = work / "nightowl.db"
        if not db.exists():
            secs = _timed(
                [sys.executable, "-m", "nightowl", "import", "--db", str(db), str(om)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            print(f"nightowl import: {secs:.1f} s")
        results: dict[str, dict] = {}
        nport = _free_port()
        nurl = f"http://127.0.0.1:{nport}"
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
                "--log-level",
                "warning",
            ]
        )
        procs.append(n)
        _wait_ready(nurl, n)
        results["nightowl"] = _bench(
            nurl, "nightowl", n.pid, meta, work / "nightowl.json", args.runs, args.warmup
        )

        prom, promtool = shutil.which("prometheus"), shutil.which("promtool")
        if not args.skip_prometheus and prom and promtool:
            data = work / "prom-data"
            if not data.exists():
                secs = _timed(
                    [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                print(f"promtool create-blocks-from openmetrics: {secs:.1f} s")
            pport = _free_port()
            purl = f"http://127.0.0.1:{pport}"
            cfg = work / "prometheus.yml"
            cfg.write_text("global: {}\n")
            with (work / "prometheus.log").open("wb") as log:
                p = subprocess.Popen(
                    [
                        prom,
                        f"--config.file={cfg}",
                        f"--storage.tsdb.path={data}",
                        "--storage.tsdb.retention.time=100y",
                        f"--web.listen-address=127.0.0.1:{pport}",
                    ],
                    stdout=log,
                    stderr=log,
                )
            procs.append(p)
            _wait_ready(purl, p)
            results["prometheus"] = _bench(
                purl, "prometheus", p.pid, meta, work / "prometheus.json", args.runs, args.warmup
            )
        elif not args.skip_prometheus:
            print("prometheus/promtool not installed: measuring nightowl only")

        _report(results)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _median_ms(case: dict) -> float | None:
    for key in ("median_ms", "p50_ms", "median"):
        if key in case and case[key] is not None:
            return float(case[key])
    return None


def _report(results: dict[str, dict]) -> None:
    names = list(results)
    cases = {name: _cases(r) for name, r in results.items()}
    first = cases[names[0]]
    header = f"{'case':<40}" + "".join(f"{n + ' ms':>16}" for n in names)
    if len(names) == 2:
        header += f"{'ratio':>9}"
    print(header)
    for case in first:
        row = f"{case:<40}"
        vals = []
        for n in names:
            v = _median_ms(cases[n].get(case, {}))
            vals.append(v)
            row += f"{v:>16.2f}" if v is not None else f"{'-':>16}"
        if len(vals) == 2 and vals[0] is not None and vals[1]:
            row += f"{vals[0] / vals[1]:>9.2f}"
        print(row)
    for n, r in results.items():
        q = r["queries"]
        peak = q.get("peak_rss_during_queries_kB") or q.get("max_sampled_rss_during_queries_kB")
        print(
            f"{n}: peak RSS {peak} kB, server CPU {q.get('server_cpu_s_during_queries')} s, "
            f"query set {q.get('query_set_wall_s')} s"
        )
        if "verify" in r:
            print(f"{n} verify: {json.dumps(r['verify'], sort_keys=True)[:300]}")


if __name__ == "__main__":
    sys.exit(main())
