"""`nightowl import [--db PATH] [--config FILE] [--skip-errors] FILE|-`: load an exposition file.

Reads OpenMetrics or Prometheus text with timestamps (what
`promtool tsdb create-blocks-from openmetrics` reads; `.gz` files and stdin
with `-` too) and appends it to the database in batches, one transaction per
batch, while the next batch is parsed. The file is streamed in chunks, never
loaded whole.

- Format: `--format auto` (default) takes OpenMetrics when the file ends with
  `# EOF` (or, for stdin and `.gz`, when its first block looks like
  OpenMetrics: `# EOF`/`# UNIT`, fractional timestamps, ...).
- Samples without a timestamp get the time the import started.
- Malformed input stops the import with the line and column (exit status 2);
  batches committed before stay committed (the message says how many samples).
  `--skip-errors` drops bad lines, counts them and goes on.
- `--verbose` prints one `committed batch N: ...` line per committed
  transaction on stderr (a crash test reads them); on a terminal a progress bar
  is drawn on stderr.
- The summary line (stdout) gives samples, series, seconds, samples/s and the
  rejected counts (out of order, duplicate, over a limit, malformed lines).

Any timestamp is accepted, 1970 included. The import runs no compaction and no
retention (the background compactor is off while it runs), so nothing
imported is deleted by the import itself; retention in nightowl is measured
back from the newest sample in the database, so history imported into an
empty database is kept (`[storage] retention_time`, docs/configuration.md).
When imported samples reach back before `newest sample - retention_time`, the
import says so on stderr (the next compaction would delete them) and names
the setting that keeps them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from nightowl.errors import ParseError, UserError

__all__ = ["ImportSummary", "import_stream", "register", "run_import"]

_CHUNK = 4 << 20
_DEFAULT_BATCH = 250_000
_MAX_SHOWN_ERRORS = 10


def register(subparsers: Any) -> None:
    """Add `nightowl import` to the CLI."""
    parser = subparsers.add_parser(
        "import",
        help="import an OpenMetrics / Prometheus text file with timestamps",
        description=(
            "Import OpenMetrics or Prometheus text exposition with timestamps (.gz accepted, "
            "'-' reads stdin) into the database, one transaction per batch."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="file to import, or - for stdin")
    parser.add_argument("--db", metavar="PATH", help="database file (default: config / XDG)")
    parser.add_argument("--config", metavar="FILE", help="config file ([storage] settings)")
    parser.add_argument(
        "--skip-errors", action="store_true", help="drop malformed lines, count them, go on"
    )
    parser.add_argument(
        "--format",
        choices=("auto", "openmetrics", "prometheus"),
        default="auto",
        help="input format (default: auto)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=_DEFAULT_BATCH,
        metavar="N",
        help=f"samples per transaction (default {_DEFAULT_BATCH})",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print each committed batch on stderr"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    parser.set_defaults(func=run_import)


class ImportSummary:
    """Counts of one import."""

    def __init__(self) -> None:
        self.samples = 0
        self.accepted = 0
        self.out_of_order = 0
        self.duplicate = 0
        self.over_limit = 0
        self.series_created = 0
        self.malformed = 0
        self.lines = 0
        self.batches = 0
        self.seconds = 0.0
        self.series: set = set()
        self.min_ts: int | None = None
        self.max_ts: int | None = None

    def line(self) -> str:
        """The one-line summary."""
        rate = self.samples / self.seconds if self.seconds > 0 else 0.0
        return (
            f"imported {self.accepted} samples of {len(self.series)} series "
            f"({self.series_created} new) from {self.lines} lines in {self.seconds:.2f} s "
            f"({rate:,.0f} samples/s); rejected: {self.out_of_order} out of order, "
            f"{self.duplicate} duplicate, {self.over_limit} over limit, "
            f"{self.malformed} malformed lines"
        )


def _resolve_db(args: argparse.Namespace) -> tuple[Path, Any]:
    from nightowl.config import load_config
    from nightowl.paths import default_db_path

    config = load_config(args.config) if args.config else load_config(None)
    storage = getattr(config, "storage", None)
    path = args.db or (storage.path if storage is not None and storage.path else None)
    return Path(path or default_db_path()).expanduser(), storage


def _store_options(storage: Any) -> Any:
    from nightowl.store import StoreOptions

    if storage is None:
        return StoreOptions(compaction_interval_ms=0)
    return StoreOptions(
        retention_time_ms=storage.retention_time,
        retention_size_bytes=storage.retention_size,
        out_of_order_window_ms=storage.out_of_order_time_window,
        max_series=storage.max_series,
        max_series_per_metric=storage.max_series_per_metric,
        compaction_interval_ms=0,
    )


def _open_input(name: str) -> tuple[BinaryIO, int | None, bool | None]:
    """(binary stream, size in bytes if known, OpenMetrics guess from the tail or None)."""
    if name == "-":
        raw: BinaryIO = sys.stdin.buffer
        stream = io.BufferedReader(raw) if not hasattr(raw, "peek") else raw  # type: ignore[arg-type]
        head = stream.peek(2)[:2]  # type: ignore[attr-defined]
        if head == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=stream), None, None  # type: ignore[return-value]
        return stream, None, None
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise UserError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise UserError(f"is a directory: {name}") from None
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
    size = os.fstat(f.fileno()).st_size
    head = f.read(2)
    f.seek(0)
    if head == b"\x1f\x8b":
        f.close()
        return gzip.open(name, "rb"), size, None  # type: ignore[return-value]
    guess = None
    if size:
        f.seek(max(0, size - 256))
        tail = f.read()
        f.seek(0)
        t = tail.rstrip(b"\n")
        # A file ending with "# EOF" is OpenMetrics; otherwise the parser guesses.
        guess = True if t.endswith(b"\n# EOF") or t == b"# EOF" else None
    return f, size, guess


class _Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.last = 0.0
        self.start = time.monotonic()

    def update(self, done: int, samples: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        rate = samples / max(now - self.start, 1e-9)
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            text = f"\r[{bar:<30}] {frac * 100:5.1f}%  {samples:,} samples  {rate:,.0f}/s"
        else:
            text = f"\r{done / 1e6:,.1f} MB  {samples:,} samples  {rate:,.0f}/s"
        sys.stderr.write(text)
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def import_stream(
    store: Any,
    stream: BinaryIO,
    *,
    name: str = "<stdin>",
    openmetrics: bool | None = None,
    skip_errors: bool = False,
    batch_size: int = _DEFAULT_BATCH,
    verbose: bool = False,
    progress: _Progress | None = None,
    default_timestamp_ms: int | None = None,
) -> ImportSummary:
    """Parse `stream` and append it to `store` (`append_sync`) batch by batch.

    Parsing of the next batch overlaps the commit of the previous one (at most
    one batch in flight). Raises ParseError (where = `name:line:col`) on
    malformed input unless `skip_errors`.
    """
    from nightowl.scrapers.exposition import ParsedExposition
    from nightowl.timeutil import now_ms

    summary = ImportSummary()
    t0 = time.perf_counter()
    options = (
        openmetrics,
        now_ms() if default_timestamp_ms is None else default_timestamp_ms,
        skip_errors,
    )
    reader = _Reader(stream)
    parts = _parts(reader, *options)
    shown = 0
    pending: list[ParsedExposition] = []
    pending_n = 0
    in_flight: Future | None = None
    in_flight_n = 0

    def settle() -> None:
        nonlocal in_flight
        if in_flight is None:
            return
        res = in_flight.result()
        in_flight = None
        summary.batches += 1
        summary.accepted += res.accepted
        summary.out_of_order += res.out_of_order
        summary.duplicate += res.duplicate
        summary.over_limit += res.over_limit
        summary.series_created += res.series_created
        if verbose:
            print(
                f"committed batch {summary.batches}: {in_flight_n} samples, "
                f"{summary.accepted} accepted in total",
                file=sys.stderr,
                flush=True,
            )

    def note_errors(part: ParsedExposition) -> None:
        nonlocal shown
        for err in part.errors:
            summary.malformed += 1
            if shown < _MAX_SHOWN_ERRORS:
                print(f"nightowl: {name}:{err.line}:{err.column}: {err.message}", file=sys.stderr)
                shown += 1

    def flush(pool: ThreadPoolExecutor) -> None:
        nonlocal pending, pending_n, in_flight, in_flight_n
        if not pending:
            return
        merged = ParsedExposition.concat(pending)
        pending, pending_n = [], 0
        batch = merged.to_batch()
        summary.series.update(batch.series)
        summary.samples += len(batch)
        if len(batch):
            lo, hi = int(batch.timestamps.min()), int(batch.timestamps.max())
            summary.min_ts = lo if summary.min_ts is None else min(summary.min_ts, lo)
            summary.max_ts = hi if summary.max_ts is None else max(summary.max_ts, hi)
        settle()
        in_flight = pool.submit(store.append_sync, batch)
        in_flight_n = len(batch)

    def relabel(exc: ParseError) -> ParseError:
        where = f"{name}:{exc.line}:{exc.column}" if exc.line else name
        hint = (
            f"{summary.accepted} samples committed before this line stay in the database"
            if summary.accepted
            else None
        )
        return ParseError(exc.message, where=where, hint=hint, line=exc.line, column=exc.column)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nightowl-import") as pool:
        try:
            while True:
                try:
                    part = next(parts, None)
                except ParseError as exc:
                    settle()
                    raise relabel(exc) from None
                if part is None:
                    break
                note_errors(part)
                summary.lines += part.lines
                if len(part):
                    pending.append(part)
                    pending_n += len(part)
                if pending_n >= batch_size:
                    flush(pool)
                if progress is not None:
                    progress.update(reader.bytes_read, summary.samples)
            flush(pool)
            settle()
        finally:
            parts.close()
            if in_flight is not None:
                in_flight.result()
    summary.seconds = time.perf_counter() - t0
    if progress is not None:
        progress.update(reader.bytes_read, summary.samples, force=True)
        progress.finish()
    return summary


class _Reader:
    """Reads the input in chunks and counts the bytes (for the progress bar)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0

    def read(self) -> bytes:
        chunk = self.stream.read(_CHUNK)
        self.bytes_read += len(chunk)
        return chunk


def _parts(
    reader: _Reader, openmetrics: bool | None, default_ts: int, skip_errors: bool
) -> Iterator[Any]:
    """The parsed chunks of the input."""
    from nightowl.scrapers.exposition import ExpositionParser

    parser = ExpositionParser(
        openmetrics=openmetrics, default_timestamp_ms=default_ts, skip_errors=skip_errors
    )
    while chunk := reader.read():
        yield parser.feed(chunk)
    yield parser.close()


def run_import(args: argparse.Namespace) -> int:
    """Run `nightowl import`."""
    from nightowl.store import Store

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    db_path, storage = _resolve_db(args)
    stream, size, guess = _open_input(args.file)
    name = "<stdin>" if args.file == "-" else args.file
    openmetrics = {"openmetrics": True, "prometheus": False}.get(args.format, guess)
    progress = _Progress(size, enabled=sys.stderr.isatty() and not args.quiet)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        store = Store.open(db_path, options=_store_options(storage))
        try:
            summary = import_stream(
                store,
                stream,
                name=name,
                openmetrics=openmetrics,
                skip_errors=args.skip_errors,
                batch_size=args.batch_size,
                verbose=args.verbose,
                progress=progress,
            )
            warning = _retention_warning(store, summary)
        finally:
            store.close()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UserError(f"{name}: not a valid gzip file ({exc})") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print(summary.line())
    if warning:
        print(f"nightowl: warning: {warning}", file=sys.stderr)
    return 0


def _retention_warning(store: Any, summary: ImportSummary) -> str | None:
    """Say so when imported samples fall outside the retention window.

    Retention is measured back from the newest sample in the database, so an
    import into an empty database keeps all its history; samples older than
    `newest - retention_time` would be deleted by the next compaction.
    """
    from nightowl.timeutil import format_duration

    keep_ms = store.options.retention_time_ms
    newest = store.stats().newest_sample_ms
    if not keep_ms or newest is None or summary.min_ts is None:
        return None
    horizon = newest - keep_ms
    if summary.min_ts >= horizon:
        return None
    return (
        f"imported samples reach back before the retention window "
        f"({format_duration(keep_ms)} before the newest sample); the next compaction "
        'deletes them. Keep them with [storage] retention_time = "0s" (no time '
        "limit) or a longer retention_time in the config passed with --config."
    )
