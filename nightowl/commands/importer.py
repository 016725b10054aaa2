"""`nightowl import [--db PATH] [--config FILE] [--skip-errors] FILE|-`: load an exposition file.

Reads OpenMetrics or Prometheus text with timestamps (what
`promtool tsdb create-blocks-from openmetrics` reads; `.gz` files, stdin with
`-`, FIFOs and `<(...)` too) and appends it to the database in batches, one
transaction per batch, while the next batch is parsed. The text is streamed
in chunks, never loaded whole.

- Format: `--format auto` (default) takes OpenMetrics when the text ends with
  `# EOF` (or has a `# EOF` line in its last 64 KiB, or OpenMetrics features
  at its start), else Prometheus text. The end is found the same way for
  every input: a pipe, FIFO or /proc file is first copied to an unnamed
  temporary file in $TMPDIR (chunk by chunk), a gzip stream is decompressed
  once keeping only its last 64 KiB. When the choice is a guess (no `# EOF`,
  integer timestamps that could be seconds) a note on stderr says which
  reading was taken. `--format openmetrics|prometheus` reads streams as they
  come, without the copy.
- Every sample needs a timestamp, as for promtool: a line without one is a
  malformed line (`file:line:col: expected a timestamp, got none`).
- A line longer than `--max-line-size` (default 1 MiB, 0 = no limit) is a
  malformed line; its bytes are dropped as they arrive, so memory stays
  bounded whatever the input.
- Malformed input stops the import with the line and column (exit status 2);
  batches committed before stay committed (the message says how many samples).
  `--skip-errors` drops bad lines, counts them and goes on. Read errors and a
  truncated or damaged gzip stream also exit 2, naming the file, with the
  same count of committed samples.
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
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from nightowl.commands import db_path_arg
from nightowl.errors import ParseError, UsageError, UserError

__all__ = ["ImportSummary", "import_stream", "register", "run_import"]

_CHUNK = 4 << 20
_DEFAULT_BATCH = 250_000
_MAX_SHOWN_ERRORS = 10
_DEFAULT_MAX_LINE = "1MiB"
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 1 << 16  # format features are looked for in this much of the start
_TAIL_BYTES = 1 << 16  # `# EOF` is looked for in this much of the end


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
    parser.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="database file (default: config / XDG)"
    )
    parser.add_argument("--config", metavar="FILE", help="config file ([storage] settings)")
    parser.add_argument(
        "--skip-errors", action="store_true", help="drop malformed lines, count them, go on"
    )
    parser.add_argument(
        "--format",
        choices=("auto", "openmetrics", "prometheus"),
        default="auto",
        help=(
            "input format (default: auto: OpenMetrics when the text ends with # EOF; "
            "copies a pipe to $TMPDIR first to see its end)"
        ),
    )
    parser.add_argument(
        "--max-line-size",
        default=_DEFAULT_MAX_LINE,
        metavar="SIZE",
        help=f"longer lines are malformed, e.g. 4MiB; 0 for no limit (default {_DEFAULT_MAX_LINE})",
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

    def phase(self, label: str, done: int) -> None:
        """A line for work before the import proper (copying stdin, reading a gzip's end)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        sys.stderr.write(f"\r\033[K{label}: {done / 1e6:,.1f} MB")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class _Input:
    """The text to import: a decompressed binary stream, plus what is known about it.

    Attributes:
        stream: The text (gzip already undone), from its start.
        size: Bytes of the underlying file (compressed size for gzip), if known.
        openmetrics: The format `--format auto` chose (None: not decided here).
        note: What to say on stderr about an ambiguous choice, or None.
    """

    def __init__(
        self,
        stream: BinaryIO,
        raw: BinaryIO,
        size: int | None,
        owned: list[BinaryIO],
        openmetrics: bool | None,
        note: str | None,
    ) -> None:
        self.stream = stream
        self.size = size
        self.openmetrics = openmetrics
        self.note = note
        self._raw = raw
        self._owned = owned  # files opened here, closed by close() (last first)

    def position(self, text_bytes: int) -> int:
        """Progress against `size`: bytes of the file consumed (or of text when unknown)."""
        if self.stream is self._raw:
            return text_bytes
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return text_bytes

    def close(self) -> None:
        """Close what was opened here (stdin's descriptor stays open)."""
        if self.stream is not self._raw:
            self.stream.close()  # GzipFile / _Prefixed: not the files under them
        for f in reversed(self._owned):
            f.close()


class _Prefixed(io.RawIOBase):
    """A read-only stream: `head` first, then the rest of `rest` (for non-seekable input)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _read_error(name: str, exc: OSError) -> UserError:
    return UserError(f"cannot read {name}: {exc.strerror or exc}")


def _open_input(name: str, fmt: str, progress: _Progress) -> _Input:
    """Open FILE (or stdin for `-`), undo gzip, and settle the format for `--format auto`.

    Auto detection needs the end of the text (`# EOF`), so in auto mode input
    that cannot seek (a pipe, a FIFO, `<(...)`, a /proc file) is first copied
    to an unnamed temporary file in $TMPDIR, in chunks, and gzip input is
    decompressed once, keeping only its last bytes, before the import reads it
    again from the start. `--format openmetrics|prometheus` streams as is.
    """
    shown = _display_name(name)
    if name == "-":
        if sys.stdin is None:
            raise UserError("no standard input to read ('-')")
        if sys.stdin.isatty():
            raise UserError("standard input is a terminal: pipe the text in, or give a FILE")
        raw: BinaryIO = open(sys.stdin.fileno(), "rb", closefd=False)  # noqa: SIM115
    else:
        if not name:
            raise UserError("empty file name")
        try:
            raw = open(name, "rb")  # noqa: SIM115 - closed by _Input.close
        except FileNotFoundError:
            raise UserError(f"no such file: {name}") from None
        except IsADirectoryError:
            raise UserError(f"is a directory: {name}") from None
        except OSError as exc:
            raise _read_error(name, exc) from None
    owned: list = [raw]
    try:
        st = os.fstat(raw.fileno())
        start = raw.tell() if stat.S_ISREG(st.st_mode) else 0
        # /proc and similar files say size 0 and may not seek: copy them too.
        seekable = stat.S_ISREG(st.st_mode) and st.st_size > start
        size: int | None = st.st_size - start if seekable else None
        if fmt == "auto" and not seekable:
            raw = _spool(raw, shown, progress)
            owned.append(raw)
            start, size, seekable = 0, raw.seek(0, os.SEEK_END), True
            raw.seek(0)
        try:
            magic = raw.read(2)
            if seekable:
                raw.seek(start)
        except OSError as exc:
            raise _read_error(shown, exc) from None
        gz = magic == _GZIP_MAGIC
        openmetrics, note = None, None
        if fmt == "auto":
            head, tail = _ends(raw, start, size or 0, gz, shown, progress)
            openmetrics, note = _decide_format(head, tail, shown)
            raw.seek(start)
        src: BinaryIO = raw if seekable else _Prefixed(magic, raw)  # type: ignore[assignment]
        stream: BinaryIO = gzip.GzipFile(fileobj=src, mode="rb") if gz else src  # type: ignore[assignment]
        return _Input(stream, raw, size, owned, openmetrics, note)
    except BaseException:
        for f in reversed(owned):
            f.close()
        raise


def _display_name(name: str) -> str:
    return "<stdin>" if name == "-" else name


def _spool(raw: BinaryIO, name: str, progress: _Progress) -> BinaryIO:
    """Copy a non-seekable stream to an unnamed temporary file, chunk by chunk."""
    tmpdir = tempfile.gettempdir()
    hint = (
        "set TMPDIR to a directory with room, or give --format openmetrics|prometheus "
        "to read the stream without a copy"
    )
    try:
        spool = tempfile.TemporaryFile(prefix="nightowl-import-")  # noqa: SIM115
    except OSError as exc:
        raise UserError(
            f"cannot create a temporary file in {tmpdir}: {exc.strerror or exc}", hint=hint
        ) from None
    done = 0
    try:
        while True:
            try:
                chunk = raw.read(_CHUNK)
            except OSError as exc:
                raise _read_error(name, exc) from None
            if not chunk:
                break
            try:
                spool.write(chunk)
            except OSError as exc:
                raise UserError(
                    f"cannot copy {name} to a temporary file in {tmpdir}: {exc.strerror or exc}",
                    hint=hint,
                ) from None
            done += len(chunk)
            progress.phase(f"copying {name} to a temporary file", done)
        spool.flush()
    except BaseException:
        spool.close()
        raise
    return spool


def _ends(
    raw: BinaryIO, start: int, size: int, gz: bool, name: str, progress: _Progress
) -> tuple[bytes, bytes | None]:
    """(first 64 KiB, last bytes or None if the gzip stream is truncated) of the text."""
    try:
        if not gz:
            raw.seek(start)
            head = raw.read(_HEAD_BYTES)
            raw.seek(max(start, start + size - _TAIL_BYTES))
            return head, raw.read(_TAIL_BYTES)
        raw.seek(start)
        head = b""
        tail = b""
        done = 0
        with gzip.GzipFile(fileobj=raw, mode="rb") as g:
            try:
                while chunk := g.read(_CHUNK):
                    if len(head) < _HEAD_BYTES:
                        head += chunk[: _HEAD_BYTES - len(head)]
                    tail = (tail + chunk[-_TAIL_BYTES:])[-_TAIL_BYTES:]
                    done += len(chunk)
                    progress.phase(f"looking for the end of {name}", done)
            except EOFError:
                return head, None  # truncated: the import says so where it ends
        return head, tail
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise UserError(f"{name}: not a valid gzip file ({exc})") from None
    except OSError as exc:
        raise _read_error(name, exc) from None


def _decide_format(head: bytes, tail: bytes | None, name: str) -> tuple[bool, str | None]:
    """`--format auto`: (OpenMetrics?, a note for stderr when the choice is a guess).

    OpenMetrics when the text ends with `# EOF` (or its last 64 KiB hold a
    `# EOF` line), or when its start shows OpenMetrics features (`# EOF`,
    `# UNIT`, fractional timestamps...): such a text that does not end with
    `# EOF` is then refused by the parser, naming the line. Otherwise
    Prometheus text, whose timestamps are milliseconds; when the first
    timestamp could as well be seconds (under 10^11), the note says which
    reading was chosen and what it means.
    """
    from nightowl.scrapers.exposition import detect_openmetrics, looks_like_openmetrics

    if tail is not None and (detect_openmetrics(tail) or b"\n# EOF\n" in tail):
        return True, None  # ends with `# EOF`, or has text after it (which the parser refuses)
    if looks_like_openmetrics(head):
        return True, None
    ts = _first_timestamp(head)
    if ts is None or abs(ts) >= 10**11:
        return False, None
    when = datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    end = "is truncated" if tail is None else "does not end with '# EOF'"
    return False, (
        f"{name} {end}: reading it as Prometheus text, timestamps in milliseconds "
        f"(the first, {ts}, is {when}); if it is OpenMetrics (seconds), import it with "
        "--format openmetrics"
    )


def _first_timestamp(head: bytes) -> int | None:
    """The integer timestamp of the first sample line in `head` that has one."""
    lines = head.split(b"\n")
    if len(head) >= _HEAD_BYTES:
        lines.pop()  # may be cut short
    for line in lines:
        s = line.strip(b" \t")
        if not s or s.startswith(b"#"):
            continue
        after = s.rsplit(b"}", 1)[-1] if b"{" in s else s
        toks = after.split()
        if len(toks) == (2 if b"{" in s else 3):
            tok = toks[-1]
            digits = tok[1:] if tok[:1] == b"-" else tok
            if digits.isdigit():
                return int(tok)
    return None


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
    max_line_bytes: int | None = 1 << 20,
    position: Any = None,
) -> ImportSummary:
    """Parse `stream` and append it to `store` (`append_sync`) batch by batch.

    Parsing of the next batch overlaps the commit of the previous one (at most
    one batch in flight).

    Args:
        openmetrics: The format; None lets the parser guess (see ExpositionParser).
        default_timestamp_ms: Timestamp for samples without one; None (the
            CLI's choice, as promtool) makes such a sample a malformed line.
        max_line_bytes: Longer lines are malformed (None: no limit).
        position: Callable(text bytes read) -> bytes of `progress.total` done.

    Raises:
        ParseError: malformed input (where = `name:line:col`) unless `skip_errors`.
        UserError: the stream cannot be read, or is a truncated or bad gzip.
        Both say in their hint how many samples were committed before.
    """
    from nightowl.scrapers.exposition import ParsedExposition

    summary = ImportSummary()
    t0 = time.perf_counter()
    reader = _Reader(stream)
    parts = _parts(reader, openmetrics, default_timestamp_ms, skip_errors, max_line_bytes)
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

    def committed(point: str) -> str | None:
        if not summary.accepted:
            return None
        return f"{summary.accepted} samples committed before this {point} stay in the database"

    def relabel(exc: ParseError) -> ParseError:
        where = f"{name}:{exc.line}:{exc.column}" if exc.line else name
        hint = committed("line")
        if exc.message.startswith("line longer than the limit"):
            more = "--max-line-size raises the limit"
            hint = f"{hint}; {more}" if hint else more
        return ParseError(exc.message, where=where, hint=hint, line=exc.line, column=exc.column)

    def done() -> int:
        return reader.bytes_read if position is None else position(reader.bytes_read)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nightowl-import") as pool:
        try:
            while True:
                try:
                    part = next(parts, None)
                except ParseError as exc:
                    settle()
                    raise relabel(exc) from None
                except EOFError:
                    settle()
                    raise UserError(
                        "truncated gzip file: the compressed data ends before its "
                        f"end-of-stream marker (after {reader.bytes_read:,} bytes of text)",
                        where=name,
                        hint=committed("point"),
                    ) from None
                except (gzip.BadGzipFile, zlib.error) as exc:
                    settle()
                    raise UserError(
                        f"not a valid gzip file ({exc})", where=name, hint=committed("point")
                    ) from None
                except OSError as exc:
                    settle()
                    raise UserError(
                        f"cannot read: {exc.strerror or exc}", where=name, hint=committed("point")
                    ) from None
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
                    progress.update(done(), summary.samples)
            flush(pool)
            settle()
        finally:
            parts.close()
            if in_flight is not None:
                in_flight.result()
    summary.seconds = time.perf_counter() - t0
    if progress is not None:
        progress.update(done(), summary.samples, force=True)
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
    reader: _Reader,
    openmetrics: bool | None,
    default_ts: int | None,
    skip_errors: bool,
    max_line_bytes: int | None,
) -> Iterator[Any]:
    """The parsed chunks of the input."""
    from nightowl.scrapers.exposition import ExpositionParser

    parser = ExpositionParser(
        openmetrics=openmetrics,
        default_timestamp_ms=default_ts,
        skip_errors=skip_errors,
        require_timestamps=default_ts is None,
        max_line_bytes=max_line_bytes,
    )
    while chunk := reader.read():
        yield parser.feed(chunk)
    yield parser.close()


def run_import(args: argparse.Namespace) -> int:
    """Run `nightowl import`."""
    from nightowl.store import Store
    from nightowl.timeutil import parse_size

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    try:
        max_line = parse_size(args.max_line_size)
    except (ValueError, UserError) as exc:
        raise UsageError(f"--max-line-size: {exc}") from None
    db_path, storage = _resolve_db(args)
    progress = _Progress(None, enabled=sys.stderr.isatty() and not args.quiet)
    name = _display_name(args.file)
    inp = _open_input(args.file, args.format, progress)
    try:
        openmetrics = {"openmetrics": True, "prometheus": False}.get(args.format, inp.openmetrics)
        if inp.note:
            progress.finish()
            print(f"nightowl: note: {inp.note}", file=sys.stderr)
        progress.total = inp.size
        db_path.parent.mkdir(parents=True, exist_ok=True)
        store = Store.open(db_path, options=_store_options(storage))
        try:
            summary = import_stream(
                store,
                inp.stream,
                name=name,
                openmetrics=openmetrics,
                skip_errors=args.skip_errors,
                batch_size=args.batch_size,
                verbose=args.verbose,
                progress=progress,
                max_line_bytes=max_line or None,
                position=inp.position,
            )
            warning = _retention_warning(store, summary)
        finally:
            store.close()
    finally:
        progress.finish()
        inp.close()
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
