"""What the terminal UI costs over SSH: bytes/s, CPU and time to the first frame.

Runs the real `nightowl` (no config, so the built-in host dashboard fed by the
host scraper into a fresh database) in a pseudo-terminal through the shared
harness `pty_bandwidth.py`, which counts every byte written to the terminal.
Each run gets a fresh temporary HOME, so the XDG database starts empty, as on
a first start.

    python benchmarks/tui_bandwidth.py                   # 120x40, 10 s warm-up, 30 s window
    python benchmarks/tui_bandwidth.py --cols 80 --rows 24 --low-bandwidth
    python benchmarks/tui_bandwidth.py --duration 60 --runs 3

Targets (issue 6): at 120x40 the default dashboard writes <= 5 KB/s in steady
state, uses <= 3 % of one core, and shows its first frame within 1 s.
The harness prints the figures; this script only builds its command line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _harness(explicit: str | None) -> Path:
    candidates = [explicit] if explicit else []
    shared = os.environ.get("NIGHTOWL_SHARED")
    if shared:
        candidates.append(str(Path(shared) / "bench" / "pty_bandwidth.py"))
    candidates.append(
        str(Path(__file__).resolve().parents[2] / "shared" / "bench" / "pty_bandwidth.py")
    )
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    sys.exit("pty_bandwidth.py not found: pass --harness PATH or set NIGHTOWL_SHARED")


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cols", type=int, default=120)
    p.add_argument("--rows", type=int, default=40)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before the window opens")
    p.add_argument("--duration", type=float, default=30.0, help="measurement window, seconds")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument(
        "--low-bandwidth", action="store_true", help="measure `nightowl --low-bandwidth`"
    )
    p.add_argument("--theme", help="measure with this theme")
    p.add_argument("--harness", help="path to pty_bandwidth.py")
    p.add_argument("--json", help="append the harness's JSON summary to this file")
    args = p.parse_args()

    exe = shutil.which("nightowl") or None
    command = [exe] if exe else [sys.executable, "-m", "nightowl"]
    if args.low_bandwidth:
        command.append("--low-bandwidth")
    if args.theme:
        command += ["--theme", args.theme]
    label = "nightowl" + (" --low-bandwidth" if args.low_bandwidth else "")
    harness = [
        sys.executable,
        str(_harness(args.harness)),
        "--cols", str(args.cols),
        "--rows", str(args.rows),
        "--warmup", str(args.warmup),
        "--duration", str(args.duration),
        "--runs", str(args.runs),
        "--expect", "CPU busy",
        "--label", f"{label} {args.cols}x{args.rows}",
    ]  # fmt: skip
    if args.json:
        harness += ["--json", args.json]
    print("running:", " ".join([*harness, "--", *command]), flush=True)
    return subprocess.run([*harness, "--", *command], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
