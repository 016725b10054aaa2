"""`nightowl import` end to end on the standard workload: samples/s and peak RSS.

Generates the standard workload (shared/bench/gen_workload.py, defaults:
1,000 series x 12 h at 15 s = 2.88 M samples, OpenMetrics) unless `--file` is
given, runs `nightowl import` on it in a subprocess into a fresh database,
and prints wall time, samples/s (parse + store), the child's peak RSS and the
database size. Also times the parser alone over the same file (streamed in the
same chunks) so the split between parsing and storing is visible.

    python benchmarks/import_bench.py [--file workload.om] [--runs 1]

Targets (issue 2): >= 1,000,000 samples/s, < 300 MB peak RSS
(promtool: 323 k samples/s, ~390 MB).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
GEN = SHARED / "bench" / "gen_workload.py"
NIGHTOWL = str(Path(sys.executable).with_name("nightowl"))


def _parse_only(path: Path) -> tuple[int, float]:
    from nightowl.scrapers.exposition import ExpositionParser

    from nightowl.commands.importer import _CHUNK

    p = ExpositionParser(default_timestamp_ms=0)
    n = 0
    t0 = time.perf_counter()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            n += len(p.feed(chunk))
    n += len(p.close())
    return n, time.perf_counter() - t0


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, help="exposition file (default: generate the workload)")
    ap.add_argument("--runs", type=int, default=1, help="import runs (fresh database each)")
    ap.add_argument("--batch-size", type=int, default=0, help="pass --batch-size to import")
    ap.add_argument(
        "--db-dir",
        type=Path,
        help="directory for the databases (default: a temporary one; /dev/shm takes the "
        "disk's fsync latency out of the figure)",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.file
        if src is None:
            src = Path(tmp) / "workload.om"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(GEN), "-o", str(src)], check=True)
            print(
                f"generated {src.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s"
            )
        n, secs = _parse_only(src)
        print(f"parse only: {n:,} samples in {secs:.2f} s = {n / secs:,.0f} samples/s")
        for run in range(args.runs):
            db = (args.db_dir or Path(tmp)) / f"nightowl-import-bench-{os.getpid()}-{run}.db"
            cmd = [NIGHTOWL, "import", "--db", str(db), "-q", str(src)]
            if args.batch_size:
                cmd[2:2] = ["--batch-size", str(args.batch_size)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if res.returncode != 0:
                print(res.stderr, file=sys.stderr)
                return 1
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(res.stdout.strip())
            print(
                f"import run {run + 1}: {n:,} samples in {wall:.2f} s wall "
                f"= {n / wall:,.0f} samples/s end to end (process start included); "
                f"CPU {cpu:.2f} s; peak RSS {after.ru_maxrss / 1024:.0f} MB; "
                f"database {_db_bytes(db) / 1e6:.1f} MB "
                f"({_db_bytes(db) / n:.2f} bytes/sample before compaction)"
            )
            for f in db.parent.glob(db.name + "*"):
                f.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
