"""`nightowl db stats|compact [--db PATH] [--config FILE]`: look after the database file.

- `db stats` opens the database read-only (it works while a daemon writes to
  it) and prints series, samples, bytes per sample, the oldest and newest
  sample, file sizes and the metrics with the most series; `--json` prints
  the same as one JSON object.
- `db compact` opens the database for writing (refused, naming the PID,
  while another nightowl writes to it), seals every head sample into
  compressed chunks, builds due rollups, applies the `[storage]` retention,
  and checkpoints the WAL. `--vacuum` also rebuilds the file without free
  pages (slower; needs free disk space about the size of the database).

The database is `--db`, else `[storage] path` of the config, else the XDG
default. Errors (missing, locked, foreign or damaged file) exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightowl.commands import db_path_arg
from nightowl.errors import UserError

__all__ = ["register", "run_compact", "run_stats"]


def register(subparsers: Any) -> None:
    """Add `nightowl db` and its two subcommands to the CLI."""
    parser = subparsers.add_parser(
        "db",
        help="database statistics and compaction",
        description="Inspect or compact the nightowl database file.",
    )
    sub = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    sub.required = True

    stats = sub.add_parser("stats", help="series, samples, bytes per sample, top metrics")
    _common(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument(
        "--top", type=int, default=10, metavar="N", help="metrics to list (default 10)"
    )
    stats.set_defaults(func=run_stats)

    compact = sub.add_parser("compact", help="seal the head, build rollups, apply retention")
    _common(compact)
    compact.add_argument(
        "--vacuum", action="store_true", help="also rebuild the file without free pages"
    )
    compact.set_defaults(func=run_compact)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="database file (default: config / XDG)"
    )
    parser.add_argument("--config", metavar="FILE", help="config file ([storage] settings)")


def _storage(args: argparse.Namespace) -> tuple[Path, Any]:
    from nightowl.config import load_config
    from nightowl.paths import default_db_path

    config = load_config(args.config)
    storage = getattr(config, "storage", None)
    path = args.db or (storage.path if storage is not None and storage.path else None)
    return Path(path or default_db_path()).expanduser(), storage


def _fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


def run_stats(args: argparse.Namespace) -> int:
    """Print the statistics of the database."""
    from nightowl.store import Store
    from nightowl.timeutil import format_size

    if args.top < 0:
        raise UserError("--top must not be negative")
    path, _ = _storage(args)
    if not path.exists():
        raise UserError(
            "database does not exist", where=str(path), hint="pass --db with an existing file"
        )
    with Store.open(path, readonly=True) as store:
        st = store.database_stats(args.top)
    if args.json:
        json.dump(st.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    bps = st.bytes_per_sample
    lines = [
        f"database:          {st.path} (schema version {st.schema_version})",
        f"series:            {st.series:,}",
        f"samples:           {st.samples:,} ({st.head_samples:,} in the head, "
        f"{st.chunks:,} compressed chunks)",
        f"bytes per sample:  {bps:.3f}" if bps is not None else "bytes per sample:  -",
        f"oldest sample:     {_fmt_time(st.oldest_ms)}",
        f"newest sample:     {_fmt_time(st.newest_ms)}",
        f"rollup rows:       {st.rollup_rows:,}",
        f"files:             {format_size(st.total_bytes)} in total",
    ]
    lines += [f"  {name:<20} {size:>14,} bytes" for name, size in st.file_sizes.items()]
    if st.top_metrics:
        lines.append("top metrics by series:")
        width = max(len(m) for m, _ in st.top_metrics)
        lines += [f"  {m:<{width}}  {n:>10,}" for m, n in st.top_metrics]
    print("\n".join(lines))
    return 0


def run_compact(args: argparse.Namespace) -> int:
    """Compact the database now."""
    from nightowl.store import Store, StoreOptions
    from nightowl.timeutil import format_size

    path, storage = _storage(args)
    if not path.exists():
        raise UserError(
            "database does not exist", where=str(path), hint="pass --db with an existing file"
        )
    opts = StoreOptions(compaction_interval_ms=0)
    if storage is not None:
        opts = StoreOptions(
            retention_time_ms=storage.retention_time,
            retention_size_bytes=storage.retention_size,
            out_of_order_window_ms=storage.out_of_order_time_window,
            max_series=storage.max_series,
            max_series_per_metric=storage.max_series_per_metric,
            compaction_interval_ms=0,
        )
    with Store.open(path, options=opts) as store:
        before = sum(store.file_sizes().values())
        res = store.compact_sync(force=True)
        if args.vacuum:
            store.vacuum()
        store.checkpoint()
        after = sum(store.file_sizes().values())
    print(
        f"compacted {path}: sealed {res.head_samples_sealed:,} head samples into "
        f"{res.chunks_written:,} chunks, wrote {res.rollup_blocks_written:,} rollup rows, "
        f"retention deleted {res.chunks_deleted:,} chunks and {res.series_deleted:,} series; "
        f"files {format_size(before)} -> {format_size(after)}"
    )
    return 0
