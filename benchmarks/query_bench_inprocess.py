"""The standard query set, nightowl's engine in-process vs Prometheus 2.42 over HTTP, in one run.

Generates the standard workload (`shared/bench/gen_workload.py`: 1,000 series x 12 h at
15 s, OpenMetrics), imports it into a fresh nightowl database (`nightowl import`, in a
subprocess) and into Prometheus (`promtool tsdb create-blocks-from openmetrics`), starts
`prometheus` on 127.0.0.1, then times every query of `shared/bench/query_bench.py`'s set
(instant, 1 h and 12 h range at step 60 s, and the 1.38 M-sample `count_over_time` scan):

- nightowl: `Engine.instant`/`Engine.range` on the store opened read-only, plus encoding
  the answer to Prometheus's JSON (`query.wire.dumps_data`), in this process;
- Prometheus: the same query over its HTTP API (keep-alive connection, full body read).

Prints the medians side by side with their ratio, and checks that both return the same
series and timestamps with values within 1e-9 relative (NaN equal to NaN): at the
standard times (where Prometheus 2.42's closed left window edge takes in a sample that
nightowl's left-open windows, like Prometheus 3's, leave out, so rates differ slightly),
and again a few milliseconds later, where no sample lies on an edge and the answers must
agree. Also prints
this process's peak RSS (the store, engine and caches serving the queries).

    python benchmarks/query_bench_inprocess.py [--runs 7] [--workdir DIR] [--settle 70]

`--workdir` keeps the workload, the database and Prometheus's blocks for the next run.
Prometheus compacts backfilled blocks about a minute after it starts; `--settle` waits
that out before timing. Targets (issue 3): each case within 2x of Prometheus's median.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import math
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
GEN = SHARED / "bench" / "gen_workload.py"
QB = SHARED / "bench" / "query_bench.py"
NIGHTOWL = str(Path(sys.executable).with_name("nightowl"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
REL_TOL = 1e-9


def _load_query_bench() -> Any:
    spec = importlib.util.spec_from_file_location("query_bench", QB)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(work: Path) -> dict:
    om, meta_path = work / "workload.om", work / "workload.json"
    if not meta_path.exists():
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(GEN), "-o", str(om), "--meta", str(meta_path)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        print(f"workload generated in {time.perf_counter() - t:.1f} s")
    db = work / "nightowl.db"
    if not db.exists():
        t = time.perf_counter()
        subprocess.run([NIGHTOWL, "import", "-q", "--db", str(db), str(om)], check=True)
        print(f"nightowl import: {time.perf_counter() - t:.1f} s")
    prom = work / "prometheus"
    if not prom.exists():
        t = time.perf_counter()
        subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(prom)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"promtool create-blocks-from openmetrics: {time.perf_counter() - t:.1f} s")
    return json.loads(meta_path.read_text())


class Prom:
    """Prometheus serving the backfilled blocks on 127.0.0.1."""

    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        cfg = data.parent / "prometheus.yml"
        cfg.write_text("global: {}\n")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = self.get("/-/ready", {})
                if status == 200:
                    return
            except OSError:
                self.conn.close()
            time.sleep(0.3)
        self.close()
        raise RuntimeError("prometheus did not become ready")

    def get(self, path: str, params: dict) -> tuple[int, bytes]:
        self.conn.request("GET", f"{path}?{urllib.parse.urlencode(params)}")
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _points(data: dict) -> dict[tuple, list[tuple[float, float]]]:
    out: dict[tuple, list[tuple[float, float]]] = {}
    if data["resultType"] in ("scalar", "string"):
        return {(): [(float(data["result"][0]), float(data["result"][1]))]}
    for s in data["result"]:
        key = tuple(sorted(s["metric"].items()))
        pts = s["values"] if "values" in s else [s["value"]]
        out[key] = [(float(t), float(v)) for t, v in pts]
    return out


def _compare(ours: dict, theirs: dict) -> str:
    a, b = _points(ours), _points(theirs)
    if set(a) != set(b):
        return f"series differ: {len(a)} vs {len(b)} ({len(set(a) ^ set(b))} not in both)"
    worst = 0.0
    for key, pa in a.items():
        pb = b[key]
        if [t for t, _ in pa] != [t for t, _ in pb]:
            return f"timestamps differ for {dict(key)}"
        for (_, x), (_, y) in zip(pa, pb, strict=True):
            if math.isnan(x) and math.isnan(y):
                continue
            if x == y:
                continue
            rel = abs(x - y) / max(abs(x), abs(y))
            worst = max(worst, rel)
    if worst > REL_TOL:
        return f"values differ: worst relative {worst:.3g}"
    return f"same ({sum(len(p) for p in a.values())} points, worst rel {worst:.1g})"


def _verdict(ours: dict, prom_doc: dict) -> str:
    if prom_doc.get("status") != "success":
        return f"Prometheus failed: {prom_doc.get('error')}"
    return _compare(ours, prom_doc["data"])


def _shift(params: dict, shift_ms: int) -> dict:
    out = dict(params)
    for k in ("time", "start", "end"):
        if k in out:
            out[k] = out[k] + shift_ms / 1000
    return out


def _grid_free_shift(meta: dict) -> int:
    """A shift (ms) after which no sample of the workload lies on a window's edge.

    The workload's targets scrape every `step` s at fixed millisecond offsets, and every
    window of the query set is a multiple of the step, so an edge meets a sample exactly
    when the query time does. Prometheus 2.42 closes windows on the left, nightowl (as
    Prometheus 3) opens them, so only edge-free times can compare values exactly.
    """
    spec = importlib.util.spec_from_file_location("gen_workload", GEN)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    step_ms = meta["step"] * 1000
    offsets = {gen.target_meta(meta["seed"], i)[2] % step_ms for i in range(meta["targets"])}
    end_phase = (meta["end"] * 1000 - meta["start"] * 1000) % step_ms
    for shift in range(1, step_ms):
        if all((end_phase + shift - off) % step_ms for off in offsets):
            return shift
    raise RuntimeError("no edge-free shift")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per case (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="keep files here between runs")
    ap.add_argument("--settle", type=float, default=70.0, help="seconds to let Prometheus compact")
    args = ap.parse_args(argv)

    from nightowl.query.engine import Engine
    from nightowl.query.wire import dumps_data
    from nightowl.store import Store

    work = args.workdir or Path(tempfile.mkdtemp(prefix="nightowl-qbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        meta = _prepare(work)
        qb = _load_query_bench()
        cases = [
            c
            for c in qb.build_cases(meta["end"], qb.default_example(meta))
            if c["path"] in ("/api/v1/query", "/api/v1/query_range")
        ]
        shift_ms = _grid_free_shift(meta)
        prom = Prom(work / "prometheus")
        try:
            if args.settle > 0:
                print(f"letting Prometheus settle for {args.settle:.0f} s ...")
                time.sleep(args.settle)
            store = Store.open(work / "nightowl.db", readonly=True)
            engine = Engine(store)
            rows = []
            for case in cases:
                p = case["params"]
                if case["path"] == "/api/v1/query":

                    def run(p: dict = p) -> str:
                        t = round(p["time"] * 1000)
                        return dumps_data(engine.instant(p["query"], t).value)
                else:

                    def run(p: dict = p) -> str:
                        a, b, c = (round(p[k] * 1000) for k in ("start", "end", "step"))
                        return dumps_data(engine.range(p["query"], a, b, c).value)

                ours_t, prom_t = [], []
                ours_text = ""
                prom_doc: dict = {}
                for i in range(args.warmup + args.runs):
                    t = time.perf_counter()
                    ours_text = run()
                    dt_ours = time.perf_counter() - t
                    t = time.perf_counter()
                    _, body = prom.get(case["path"], p)
                    dt_prom = time.perf_counter() - t
                    if i >= args.warmup:
                        ours_t.append(dt_ours)
                        prom_t.append(dt_prom)
                    prom_doc = json.loads(body)
                verdict = _verdict(json.loads(ours_text), prom_doc)
                shifted = _shift(p, shift_ms)
                ours_shifted = json.loads(run(shifted))
                _, body = prom.get(case["path"], shifted)
                verdict_shifted = _verdict(ours_shifted, json.loads(body))
                mo, mp = statistics.median(ours_t) * 1000, statistics.median(prom_t) * 1000
                rows.append((case["name"], mo, mp, verdict_shifted))
                print(
                    f"{case['name']:<34} nightowl {mo:8.2f} ms  prometheus {mp:8.2f} ms  "
                    f"ratio {mo / mp:5.2f}\n    at the standard times: {verdict}\n"
                    f"    {shift_ms} ms later (no sample on an edge): {verdict_shifted}",
                    flush=True,
                )
            store.close()
        finally:
            prom.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        within = sum(1 for _, mo, mp, _ in rows if mo <= 2 * mp)
        same = sum(1 for *_, v in rows if v.startswith("same"))
        print(
            f"\n{within}/{len(rows)} cases within 2x of Prometheus's median; {same}/{len(rows)} "
            f"same answers (within {REL_TOL:g} relative) at edge-free times"
        )
        print(f"peak RSS of this process (store + engine serving the queries): {peak:.0f} MiB")
        print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
