#!/usr/bin/env python3
"""CPU cost of the built-in host scraper at its 5 s default, storing into SQLite.

Usage:
    python benchmarks/host_bench.py [--duration 60] [--interval 5] [--collections 200]

Two figures:

1. *per collection*: `--collections` back-to-back runs of the host scrape loop
   (read /proc and /sys, build the batch, append it to a SQLite store), CPU
   milliseconds each, and the share of one core that cost means at the
   interval (target: <= 1%);
2. *as deployed*: the `ScrapeManager` running only the host scraper at the
   interval for `--duration` seconds; this process's whole CPU time (event loop,
   worker thread, store writer) divided by wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from nightowl.scrapers.host import HostOptions, HostScrapeLoop
from nightowl.scrapers.manager import ScrapeManager
from nightowl.store import Store


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def run(args: argparse.Namespace, tmp: Path) -> None:
    interval_ms = int(args.interval * 1000)
    store = Store.open(tmp / "host.db")
    loop = HostScrapeLoop(HostOptions.from_config({"scrape_interval": interval_ms}), store)
    batch = await loop.scrape_once()
    series = len(batch)
    c0 = cpu_seconds()
    for _ in range(args.collections):
        await loop.scrape_once()
    per = (cpu_seconds() - c0) / args.collections
    print(f"host series per scrape:  {series}")
    print(f"CPU per scrape:          {per * 1000:.2f} ms (collect + batch + SQLite append)")
    print(
        f"share of one core at {args.interval:g}s: {per / args.interval * 100:.3f}%  (target <= 1%)"
    )
    store.close()

    store = Store.open(tmp / "host2.db")
    manager = ScrapeManager(store)
    await manager.apply_host({"scrape_interval": interval_ms})
    await asyncio.sleep(args.interval)  # first scrape (series creation) out of the window
    c0, t0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(args.duration)
    cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
    status = manager.targets()[0]
    await manager.stop()
    store.close()
    print(
        f"as deployed ({args.duration:g}s):    {cpu:.3f} CPU-s over {wall:.1f} s = "
        f"{cpu / wall * 100:.3f}% of one core (health {status.health}, "
        f"last scrape {status.last_duration_s * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the deployed run")
    parser.add_argument("--interval", type=float, default=5.0, help="scrape interval, seconds")
    parser.add_argument("--collections", type=int, default=200, help="back-to-back scrapes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
