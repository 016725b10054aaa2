#!/usr/bin/env python3
"""Store figures on the standard workload: disk bytes/sample, ingest rate, read latency, RSS.

Usage:
    python benchmarks/store_bench.py [--workload FILE.prom] [--keep DIR] [--runs 7]

Without --workload it runs ../shared/bench/gen_workload.py --format prometheus
(1,000 series x 12 h at 15 s, 2.88 M samples) into a temporary directory. The
text is parsed here with a small columnar parser that is *not* timed; the
ingest figure is the time spent in `Store.append_sync` (100,000-sample batches
in file order, as `nightowl import` sends them) plus the final forced
compaction. Then it prints:

- bytes/sample: every file SQLite keeps (db, -wal, -shm) after compaction and a
  WAL checkpoint, divided by the sample count (target <= 1.2);
- read 1,000 series x 1 h as numpy arrays (target <= 30 ms), with and without
  the decoded-chunk cache: the first query of each of --fresh newly opened
  readers (label index load, connection, every chunk decoded) and the
  following --runs queries on each, as median [min-max] (the machine is shared:
  look at the median and the spread, not one number);
- read one series x 7 days (a separate 7-day, 15 s series) (target <= 20 ms);
- peak RSS of this process.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, Matcher, SampleBatch

HERE = Path(__file__).resolve().parent
GEN = HERE.parent.parent / "shared" / "bench" / "gen_workload.py"
BATCH = 100_000


def _parse_labels(text: str) -> Labels:
    if "{" not in text:
        return Labels.of(text)
    name, rest = text.split("{", 1)
    pairs = []
    for part in rest.rstrip("}").split('",'):
        if not part:
            continue
        k, v = part.split('="', 1)
        pairs.append((k, v.rstrip('"')))
    return Labels([*pairs, ("__name__", name)])


def load_workload(path: Path) -> list[SampleBatch]:
    """Parse Prometheus text with ms timestamps into 100k-sample batches (file order)."""
    batches: list[SampleBatch] = []
    index: dict[str, int] = {}
    series: list[Labels] = []
    refs: list[int] = []
    ts: list[int] = []
    vs: list[float] = []

    def flush() -> None:
        batches.append(SampleBatch(list(series), np.array(refs), np.array(ts), np.array(vs)))
        index.clear()
        series.clear()
        refs.clear()
        ts.clear()
        vs.clear()

    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            name, v, t = line.rsplit(" ", 2)
            ref = index.get(name)
            if ref is None:
                ref = index[name] = len(series)
                series.append(_parse_labels(name))
            refs.append(ref)
            ts.append(int(t))
            vs.append(float(v))
            if len(refs) >= BATCH:
                flush()
    if refs:
        flush()
    return batches


def _timed(fn, runs: int) -> tuple[float, float]:
    """(first call, median of the next `runs` calls) in milliseconds."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(times)


def _spread(times: list[float]) -> str:
    return f"median {statistics.median(times):.1f} ms [{min(times):.1f}-{max(times):.1f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workload", type=Path, help="Prometheus-text workload (ms timestamps)")
    ap.add_argument("--keep", type=Path, help="directory to keep the databases in")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--fresh", type=int, default=5, help="freshly opened readers per case")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="nightowl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    workload = args.workload
    if workload is None:
        workload = work / "workload.prom"
        if not workload.exists():
            subprocess.run(
                [sys.executable, str(GEN), "--format", "prometheus", "-o", str(workload)],
                check=True,
                stderr=subprocess.DEVNULL,
            )
    t0 = time.perf_counter()
    batches = load_workload(workload)
    total = sum(len(b) for b in batches)
    took = time.perf_counter() - t0
    print(f"parsed {total:,} samples in {len(batches)} batches ({took:.1f} s, untimed)")

    db = work / "bench.db"
    for p in work.glob("bench.db*"):
        p.unlink()
    opts = StoreOptions(compaction_interval_ms=0, retention_time_ms=0)
    store = Store.open(db, options=opts)
    t0 = time.perf_counter()
    accepted = 0
    for b in batches:
        accepted += store.append_sync(b).accepted
    t_append = time.perf_counter() - t0
    t1 = time.perf_counter()
    store.compact_sync(force=True)
    store.checkpoint()
    t_compact = time.perf_counter() - t1
    store.close()
    size = sum(p.stat().st_size for p in work.glob("bench.db") if p.exists())
    size += sum(p.stat().st_size for p in (Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())
    rate = accepted / t_append
    print(
        f"ingest: {accepted:,} samples accepted in {t_append:.2f} s = {rate:,.0f} samples/s"
        f" (+ compaction {t_compact:.2f} s)"
    )
    files = {p.name: p.stat().st_size for p in sorted(work.glob("bench.db*"))}
    print(f"disk: {size:,} bytes in {files} = {size / total:.3f} bytes/sample")

    newest = max(int(b.timestamps.max()) for b in batches)
    seen: dict[Labels, None] = {}
    for b in batches:
        seen.update(dict.fromkeys(b.series))
    series = list(seen)[:1000]
    # A reading process (daemon, TUI) does not hold the parsed workload: release it
    # before timing reads (holding its ~300 MB slowed every read here by 20-30%).
    del batches, seen
    gc.collect()
    sel = [Matcher("__name__", "=~", ".+")]
    for cache, label in (
        (48 << 20, "decoded-chunk cache on"),
        (0, "no cache: every chunk decoded"),
    ):
        firsts: list[float] = []
        warms: list[float] = []
        for _ in range(args.fresh):
            ro = Store.open(db, readonly=True, chunk_cache_bytes=cache)
            for k in range(1 + args.runs):
                t0 = time.perf_counter()
                got = ro.select(sel, newest - 3_600_000 + 1, newest)
                took = (time.perf_counter() - t0) * 1000
                (warms if k else firsts).append(took)
            ro.close()
        n = sum(len(s.timestamps) for s in got)
        what = f"read {len(got)} series x 1 h ({n:,} samples), {label}"
        print(f"{what}: first query of a fresh reader {_spread(firsts)}; then {_spread(warms)}")

    db7 = work / "week.db"
    for p in work.glob("week.db*"):
        p.unlink()
    week = 7 * 86_400_000 // 15_000
    rng = np.random.default_rng(1)
    with Store.open(db7, options=opts) as s:
        t = 1_700_000_000_000 + 15_000 * np.arange(week, dtype=np.int64)
        v = np.cumsum(rng.poisson(600, week)).astype(np.float64)
        s.append_sync(SampleBatch([Labels.of("one", job="x")], np.zeros(week, np.int64), t, v))
        s.compact_sync(force=True)
    with Store.open(db7, readonly=True) as ro7:
        one = [Matcher("__name__", "=", "one")]
        first, warm = _timed(lambda: ro7.select(one, 0, 2**62), args.runs)
        n = len(ro7.select(one, 0, 2**62)[0].timestamps)
    what = f"read 1 series x 7 days ({n:,} samples)"
    print(f"{what}: first {first:.1f} ms (cold), median {warm:.1f} ms (warm)")

    # Scrape-shaped ingest: 1,000 series, one sample each per batch (head rows).
    dbs = work / "scrape.db"
    for p in work.glob("scrape.db*"):
        p.unlink()
    refs = np.arange(len(series))
    rounds = 300
    with Store.open(dbs, options=opts) as s:
        t0 = time.perf_counter()
        for k in range(rounds):
            ts = np.full(len(series), 1_700_000_000_000 + 15_000 * k)
            s.append_sync(SampleBatch(series, refs, ts, np.full(len(series), float(k))))
        dt = time.perf_counter() - t0
        last = 1_700_000_000_000 + 15_000 * (rounds - 1)
        head_first, head_warm = _timed(
            lambda: s.select([Matcher("__name__", "=~", ".+")], last - 3_600_000 + 1, last),
            args.runs,
        )
        t1 = time.perf_counter()
        s.compact_sync(force=True)
        dc = time.perf_counter() - t1
    print(
        f"scrape-shaped ingest: {rounds} batches x {len(series)} series = "
        f"{rounds * len(series) / dt:,.0f} samples/s, {dt / rounds * 1000:.2f} ms per batch; "
        f"sealing them took {dc * 1000:.0f} ms"
    )
    print(
        f"read {len(series)} series x 1 h from the head (unsealed rows): "
        f"first {head_first:.1f} ms, median {head_warm:.1f} ms"
    )

    # Live-shaped: 6 h of 15 s scrapes of the same 1,000 series, compacting every minute
    # of sample time as the background compactor would in real time.
    dbl = work / "live.db"
    for p in work.glob("live.db*"):
        p.unlink()
    rounds = 6 * 240
    rng = np.random.default_rng(2)
    values = np.zeros(len(series))
    t_append = t_compact = 0.0
    with Store.open(dbl, options=opts) as s:
        for k in range(rounds):
            values += rng.poisson(50, len(series))
            ts = np.full(len(series), 1_700_000_000_000 + 15_000 * k)
            t0 = time.perf_counter()
            s.append_sync(SampleBatch(series, refs, ts, values.copy()))
            t_append += time.perf_counter() - t0
            if k % 4 == 3:
                t0 = time.perf_counter()
                s.compact_sync()
                t_compact += time.perf_counter() - t0
        last = 1_700_000_000_000 + 15_000 * (rounds - 1)
        live_first, live_warm = _timed(
            lambda: s.select([Matcher("__name__", "=~", ".+")], last - 3_600_000 + 1, last),
            args.runs,
        )
        s.compact_sync(force=True)
        s.checkpoint()
        st = s.database_stats()
    print(
        f"live-shaped ingest (1,000 series, 6 h at 15 s, compaction every sample-minute): "
        f"{t_append / rounds * 1000:.2f} ms per batch, compaction {t_compact / rounds * 1000:.2f} "
        f"ms per batch on average; read 1 h of all series: first {live_first:.1f} ms, median "
        f"{live_warm:.1f} ms; disk {st.total_bytes / st.samples:.3f} bytes/sample"
    )

    # Label index at 100,000 series.
    dbi = work / "index.db"
    for p in work.glob("index.db*"):
        p.unlink()
    many = [
        Labels.of("m" + str(i % 50), job=f"job{i % 20}", instance=f"host-{i:06d}:9100")
        for i in range(100_000)
    ]
    with Store.open(dbi, options=opts) as s:
        s.append_sync(
            SampleBatch(many, np.arange(len(many)), np.full(len(many), 1000), np.ones(len(many)))
        )
    with Store.open(dbi, readonly=True) as ro:
        t0 = time.perf_counter()
        ro.series([Matcher("job", "=", "job3")])
        build = (time.perf_counter() - t0) * 1000
        cases = {
            "m7{job='job3'}": [Matcher("__name__", "=", "m7"), Matcher("job", "=", "job3")],
            "{instance=~'host-0123.*'}": [Matcher("instance", "=~", "host-0123.*")],
            "m7{job!~'job1.*'}": [Matcher("__name__", "=", "m7"), Matcher("job", "!~", "job1.*")],
        }
        figures = []
        for name, ms in cases.items():
            first, warm = _timed(lambda ms=ms: ro.series(ms), args.runs)
            figures.append(f"{name} {first:.1f} / {warm:.1f} ms")
    print(f"label index, 100,000 series: first query (index load) {build:.0f} ms")
    print("  series(matchers), first / median: " + "; ".join(figures))

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MiB (includes the parsed workload held in memory)")
    if args.keep is None:
        for p in work.iterdir():
            p.unlink()
        os.rmdir(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
