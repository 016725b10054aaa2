#!/usr/bin/env python3
"""Daemon soak: RSS and CPU of `nightowl daemon` scraping the host and 10 node_exporter-sized pages.

Usage:
    python benchmarks/daemon_soak.py [--targets 10] [--interval 1s] [--duration 240]
        [--sample 5] [--keep DIR]

The issue's figure is an hour at a 15 s scrape interval (240 scrapes per target).
By default this runs the same number of scrapes in four minutes (interval 1 s),
which stresses the daemon 15 times harder per second than the real setting; with
`--interval 15s --duration 3600` it runs the real hour.

The targets are HTTP servers in this process serving
/work/shared/fixtures/node_exporter/metrics.txt (about 500 series; a generated
page of the same size when the fixture is absent), every counter and gauge value
changed on every scrape. The real `nightowl daemon` runs as a subprocess with a
fresh database; its RSS (VmRSS) and CPU time (utime + stime) are read from /proc
every `--sample` seconds. Printed: the samples, then RSS first / last / max, the
RSS slope over the second half of the run (MiB per hour; flat means about 0),
CPU % of one core over the run, and the scrapes each target served.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURE = Path(
    os.environ.get("NIGHTOWL_NODE_FIXTURE", "/work/shared/fixtures/node_exporter/metrics.txt")
)
_SAMPLE = re.compile(r"^(\S+(?:\{.*\})?)\s+(\S+)(\s+\d+)?$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _generated_page(series: int = 500) -> str:
    lines = []
    for m in range(series // 10):
        lines.append(f"# TYPE soak_metric_{m}_total counter")
        lines.extend(f'soak_metric_{m}_total{{i="{i}"}} {m * i}' for i in range(10))
    return "\n".join(lines) + "\n"


class Page:
    """An exposition page whose sample values move on every render."""

    def __init__(self, text: str) -> None:
        self.parts: list[tuple[str, float] | str] = []
        for line in text.splitlines():
            m = _SAMPLE.match(line) if line and not line.startswith("#") else None
            if m is None:
                self.parts.append(line)
                continue
            try:
                value = float(m.group(2))
            except ValueError:
                self.parts.append(line)
                continue
            self.parts.append((m.group(1), value))
        self.series = sum(1 for p in self.parts if isinstance(p, tuple))

    def render(self, n: int) -> bytes:
        """The page of scrape `n`: counters grow, the rest wobble."""
        out = []
        for i, p in enumerate(self.parts):
            if isinstance(p, str):
                out.append(p)
            elif p[0].split("{")[0].endswith(("_total", "_count", "_sum", "_bucket")):
                out.append(f"{p[0]} {p[1] + n * (1 + i % 7)}")
            else:
                out.append(f"{p[0]} {p[1] + ((n * 31 + i) % 17) / 4}")
        return ("\n".join(out) + "\n").encode()


class Target:
    """One fake node_exporter on 127.0.0.1."""

    def __init__(self, page: Page) -> None:
        self.scrapes = 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.render(target.scrapes)
                target.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _proc(pid: int) -> tuple[int, float]:
    """(VmRSS kB, utime + stime seconds) of `pid`."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def _slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / den * 3600


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def main() -> int:
    """Run the soak and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--interval", default="1s", help="scrape interval (default 1s)")
    ap.add_argument("--duration", type=float, default=240.0, help="seconds (default 240)")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between readings")
    ap.add_argument("--keep", help="work in this directory and leave it behind")
    args = ap.parse_args()

    text = FIXTURE.read_text() if FIXTURE.exists() else _generated_page()
    page = Page(text)
    targets = [Target(page) for _ in range(args.targets)]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nightowl-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    addresses = ", ".join(f'"{t.address}"' for t in targets)
    config = work / "config.toml"
    config.write_text(
        f'[global]\nscrape_interval = "{args.interval}"\nscrape_timeout = "{args.interval}"\n'
        f'[host]\nenabled = true\nscrape_interval = "{args.interval}"\n'
        f'[[scrape_configs]]\njob_name = "node"\nstatic_configs = [{{ targets = [{addresses}] }}]\n'
    )
    db = work / "soak.db"
    for p in work.glob("soak.db*"):
        p.unlink()
    print(
        f"{args.targets} targets x {page.series} series "
        f"({'fixture' if FIXTURE.exists() else 'generated'}), host scraper on, "
        f"interval {args.interval}, {args.duration:.0f} s "
        f"(= {args.duration / _seconds(args.interval):.0f} scrapes per target)"
    )
    log = (work / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nightowl",
            "daemon",
            "--config",
            str(config),
            "--db",
            str(db),
            "--listen",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    readings: list[tuple[float, int, float]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited {proc.returncode}; see {work / 'daemon.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("daemon not ready after 60 s") from None
                time.sleep(0.2)
        t0 = time.monotonic()
        print(f"{'t s':>6} {'RSS MiB':>8} {'CPU %':>6}")
        while True:
            now = time.monotonic() - t0
            rss, cpu = _proc(proc.pid)
            readings.append((now, rss, cpu))
            if len(readings) > 1:
                (ta, _, ca), (tb, _, cb) = readings[-2], readings[-1]
                pct = 100 * (cb - ca) / max(tb - ta, 1e-9)
            else:
                pct = 0.0
            print(f"{now:6.0f} {rss / 1024:8.1f} {pct:6.1f}", flush=True)
            if now >= args.duration:
                break
            time.sleep(min(args.sample, max(0.0, args.duration - now)))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        for t in targets:
            t.close()
    mib = [(t, rss / 1024) for t, rss, _ in readings]
    half = [p for p in mib if p[0] >= readings[-1][0] / 2]
    cpu_pct = 100 * (readings[-1][2] - readings[0][2]) / max(readings[-1][0], 1e-9)
    scrapes = [t.scrapes for t in targets]
    print(
        f"RSS first {mib[0][1]:.1f} MiB, last {mib[-1][1]:.1f} MiB, "
        f"max {max(v for _, v in mib):.1f} MiB; second-half slope "
        f"{_slope_per_hour(half):+.1f} MiB/h "
        f"(first half {_slope_per_hour(mib[: len(mib) // 2]):+.1f} MiB/h)"
    )
    factor = _seconds("15s") / _seconds(args.interval)
    print(
        f"CPU {cpu_pct:.1f} % of one core at {args.interval} "
        f"(~{cpu_pct / factor:.2f} % at 15 s if it scales with the scrape rate)"
    )
    print(f"scrapes per target: min {min(scrapes)}, max {max(scrapes)}; exit {proc.returncode}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
