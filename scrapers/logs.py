"""Metrics from log files, mtail / grok_exporter style.

A :class:`LogSource` follows one file the way ``tail -F`` does and runs every
complete line through its patterns (:class:`LogMetric`): a regex search whose
named groups become labels. A match counts into a counter, or, when the
pattern names a `value` group, adds that number to a counter, sets a gauge, or
observes it into a histogram.

Following (:class:`FileFollower`) is poll based and survives what log
rotation does to a file:

- rename rotation (``logrotate`` default): the path gets a new inode; the old
  file is read to its end first, then the new one from its start;
- copytruncate: the file shrinks below our offset, or is refilled past it with
  different first bytes; both are detected (size, and a hash of the file's
  first bytes) and reading restarts at 0;
- a file that does not exist yet is picked up, from its start, when it appears;
- a partial last line (a writer in mid-line) waits until its newline arrives.

A glob path (``/var/log/nginx/*.log``) gets one follower per matching file;
files matching later are read from their start, vanished ones are dropped once
read to the end. A rotated file renamed *into* the glob (``app.log`` ->
``app.log.1`` with ``app.log*``) is recognised by identity and first bytes
and continued where its old follower stopped, never read twice.

After a restart the follower resumes at the offset it had committed, provided
the file is still the same one: same inode and device, at least that long, and
the same first bytes. The offset, inode and head hash live in a small JSON
state file under ``nightowl.paths.state_dir()/logs/`` (or a configured path),
written atomically. Counters restart at zero with the process (as mtail's
do); resuming at the offset is what keeps them from re-counting old lines.

File I/O runs in a worker thread, a bounded chunk per call, so a large backlog
never stalls the event loop; regexes run on the loop between chunks.
"""

from __future__ import annotations

import asyncio
import bisect
import glob
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from nightowl.scrapers._sources import (
    BatchBuilder,
    PeriodicSource,
    check_label_name,
    check_metric_name,
)
from nightowl.store.api import Appender

from nightowl.errors import ConfigError
from nightowl.model import MetricType, SampleBatch
from nightowl.paths import state_dir
from nightowl.timeutil import Clock

__all__ = [
    "DEFAULT_BUCKETS",
    "FileFollower",
    "LogMetric",
    "LogSource",
    "Retired",
]

#: Prometheus client libraries' default histogram buckets.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

#: Bytes of a file's beginning hashed to recognise it again (after copytruncate or a restart).
HEAD_BYTES = 256
#: Bytes read per call; the loop processes them before the next read.
CHUNK_BYTES = 256 * 1024
#: Chunks read per poll at most (64 MiB): a backlog is worked off over several polls.
MAX_CHUNKS_PER_POLL = 256
#: A "line" this long without a newline is cut and processed anyway.
MAX_LINE_BYTES = 1024 * 1024


# --------------------------------------------------------------------------- following


@dataclass(frozen=True, slots=True)
class Retired:
    """A file a follower has read up to `offset`: its identity and first bytes."""

    ident: tuple[int, int]
    offset: int
    head: bytes


@dataclass(slots=True)
class FollowerStats:
    """What a follower has seen, for the source's self-metrics."""

    bytes_read: int = 0
    lines: int = 0
    rotations: int = 0
    truncations: int = 0

    def add(self, other: FollowerStats) -> None:
        """Add another follower's figures to these."""
        self.bytes_read += other.bytes_read
        self.lines += other.lines
        self.rotations += other.rotations
        self.truncations += other.truncations


class FileFollower:
    """Reads the complete new lines of one file, following it across rotation.

    Not thread-safe: call its methods one at a time (the source awaits each call
    in a worker thread).

    Args:
        path: The file to follow (it need not exist yet).
        state_file: Where the committed offset is kept across restarts (None: nowhere).
        start_at: For a file that exists when following starts and has no usable
            saved state: "end" (skip what is already there, like ``tail -F``) or
            "beginning". Files appearing later are always read from the start.
        adopt: A file another follower already read (a rotated file that a glob
            matches under its new name): continue at its offset if the file at
            `path` is that file (same identity and first bytes).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        state_file: str | os.PathLike[str] | None = None,
        start_at: Literal["beginning", "end"] = "end",
        adopt: Retired | None = None,
    ) -> None:
        if start_at not in ("beginning", "end"):
            raise ConfigError(f"start_at must be 'beginning' or 'end', not {start_at!r}")
        self._adopt = adopt
        self.retired: list[Retired] = []
        """Files this follower finished after a rotation (for a glob source to recognise)."""
        self.path = Path(path)
        self.state_file = Path(state_file) if state_file is not None else None
        self.start_at = start_at
        self.stats = FollowerStats()
        self._fh: IO[bytes] | None = None
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._pos = 0  # read position
        self._offset = 0  # end of the last complete line (committed position)
        self._partial = b""
        self._head = b""
        self._started = False
        self._saved: tuple[tuple[int, int] | None, int, str] | None = None

    # -- state ------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Byte offset just past the last complete line handed out."""
        return self._offset

    @property
    def present(self) -> bool:
        """Whether the path currently exists."""
        return self.path.exists()

    def _load_state(self) -> dict[str, Any] | None:
        if self.state_file is None:
            return None
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("path") != str(self.path):
            return None
        return data

    def save_state(self) -> None:
        """Persist offset, identity and head hash atomically (no-op when unchanged)."""
        if self.state_file is None or self._ident is None:
            return
        head_hash = hashlib.sha256(self._head).hexdigest()
        snapshot = (self._ident, self._offset, head_hash)
        if snapshot == self._saved:
            return
        state = {
            "path": str(self.path),
            "dev": self._ident[0],
            "ino": self._ident[1],
            "offset": self._offset,
            "head_len": len(self._head),
            "head_sha256": head_hash,
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)
        self._saved = snapshot

    # -- opening ----------------------------------------------------------------------

    def _pread(self, fh: IO[bytes], n: int, at: int = 0) -> bytes:
        return os.pread(fh.fileno(), n, at)

    def _open(self) -> bool:
        """Open the path; decide where to start. False when it does not exist."""
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            self._started = True
            return False
        st = os.fstat(fh.fileno())
        ident = (st.st_dev, st.st_ino)
        start = 0
        if not self._started:
            self._started = True
            state = self._load_state()
            adopt, self._adopt = self._adopt, None
            if (
                adopt is not None
                and adopt.ident == ident
                and adopt.offset <= st.st_size
                and self._pread(fh, len(adopt.head), 0) == adopt.head
            ):
                start = adopt.offset
            elif state is not None:
                start = self._resume_offset(fh, st, ident, state)
            elif self.start_at == "end":
                start = st.st_size
                # Do not hand out the tail of a partial line as if it were whole.
                if start:
                    n = min(start, MAX_LINE_BYTES)
                    back = self._pread(fh, n, start - n)
                    nl = back.rfind(b"\n")
                    start = start - len(back) + nl + 1 if nl >= 0 else start
        self._fh, self._ident = fh, ident
        self._pos = self._offset = start
        self._partial = b""
        self._head = self._pread(fh, HEAD_BYTES, 0)
        return True

    def _resume_offset(
        self, fh: IO[bytes], st: os.stat_result, ident: tuple[int, int], state: dict[str, Any]
    ) -> int:
        offset = state.get("offset")
        if (
            (state.get("dev"), state.get("ino")) != ident
            or not isinstance(offset, int)
            or offset > st.st_size
        ):
            return 0  # a different (rotated-in) file, or truncated while we were away
        head_len = state.get("head_len")
        if not isinstance(head_len, int) or head_len < 0:
            return 0
        head = self._pread(fh, head_len, 0)
        if hashlib.sha256(head).hexdigest() != state.get("head_sha256"):
            return 0  # same inode, different content: rewritten (copytruncate)
        return offset

    def retire(self) -> None:
        """Record the open file as read up to the current position (see `retired`)."""
        if self._ident is not None:
            self.retired.append(Retired(self._ident, self._pos, self._head))

    def finished(self) -> bool:
        """True when the path is gone and the open file (if any) is read to its end."""
        if self.path.exists():
            return False
        if self._fh is None:
            return True
        return self._pos >= os.fstat(self._fh.fileno()).st_size

    def close(self) -> None:
        """Close the open file (state is kept; call :meth:`save_state` first if wanted)."""
        if self._fh is not None:
            self._fh.close()
        self._fh = None

    def __enter__(self) -> FileFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------

    def _read_chunk(self) -> list[bytes]:
        assert self._fh is not None
        data = self._pread(self._fh, CHUNK_BYTES, self._pos)
        if not data:
            return []
        self._pos += len(data)
        self.stats.bytes_read += len(data)
        buf = self._partial + data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) >= MAX_LINE_BYTES:
                self._partial = b""
                self._offset = self._pos
                return [buf]
            self._partial = buf
            return []
        self._partial = buf[cut + 1 :]
        self._offset = self._pos - len(self._partial)
        return buf[:cut].split(b"\n")

    def _flush_partial(self) -> list[bytes]:
        rest, self._partial = self._partial, b""
        self._offset = self._pos
        return [rest] if rest else []

    def _restart_at_zero(self) -> None:
        self._pos = self._offset = 0
        self._partial = b""
        self.stats.truncations += 1

    def read_lines(self) -> tuple[list[str], bool]:
        """Read up to one chunk of complete new lines.

        Returns (lines, more): `more` is True when data is known to remain
        (call again before sleeping).
        """
        raw: list[bytes] = []
        if self._fh is None and not self._open():
            return [], False
        assert self._fh is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        cur = os.fstat(self._fh.fileno())
        if st is not None and (st.st_dev, st.st_ino) != self._ident:
            # Rotated by rename (or replaced): finish the old file, then switch.
            raw = self._read_chunk()
            if raw or self._pos < cur.st_size:
                return self._decode(raw), True
            raw = self._flush_partial()
            self.retire()
            self.close()
            self.stats.rotations += 1
            self._open()  # the new file, from its start
            return self._decode(raw), True
        if cur.st_size < self._pos or (
            self._head and self._pread(self._fh, len(self._head), 0) != self._head
        ):
            # Truncated in place, or copytruncate refilled it past our offset.
            self._restart_at_zero()
            self._head = self._pread(self._fh, HEAD_BYTES, 0)
        elif len(self._head) < HEAD_BYTES and cur.st_size > len(self._head):
            self._head = self._pread(self._fh, HEAD_BYTES, 0)
        raw = self._read_chunk()
        more = self._pos < os.fstat(self._fh.fileno()).st_size
        return self._decode(raw), more

    def _decode(self, raw: list[bytes]) -> list[str]:
        self.stats.lines += len(raw)
        return [r.decode("utf-8", "replace").rstrip("\r") for r in raw]


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)
class LogMetric:
    """One pattern and the metric it feeds (the shape of `[[log_configs.metrics]]`).

    Args:
        name: Metric name (counters conventionally end in `_total`).
        regex: A Python regex, searched anywhere in each line.
        type: counter (count matches, or add the `value_group` number), gauge
            (set to the `value_group` number) or histogram (observe it into `buckets`).
        labels: Named groups that become labels; empty means every named group
            but `value_group`.
        value_group: Name of the group holding the number (required for gauge and
            histogram; optional for a counter, which then adds it instead of 1).
        buckets: Histogram upper bounds (increasing; +Inf is implicit).
        help: HELP text for the metric.
    """

    name: str
    regex: str
    type: Literal["counter", "gauge", "histogram"] = "counter"
    labels: tuple[str, ...] = ()
    value_group: str = ""
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    help: str = ""


class _Compiled:
    __slots__ = (
        "buckets",
        "counts",
        "dropped",
        "label_groups",
        "max_series",
        "metric",
        "regex",
        "sums",
        "value_group",
        "values",
    )

    def __init__(self, metric: LogMetric, where: str, max_series: int) -> None:
        check_metric_name(metric.name, f"{where}.name")
        self.max_series = max_series
        self.dropped = 0
        if metric.type not in ("counter", "gauge", "histogram"):
            raise ConfigError(
                f"type must be counter, gauge or histogram, not {metric.type!r}",
                where=f"{where}.type",
            )
        try:
            self.regex = re.compile(metric.regex)
        except re.error as exc:
            raise ConfigError(f"invalid regex: {exc}", where=f"{where}.regex") from None
        groups = set(self.regex.groupindex)
        self.value_group = metric.value_group or None
        if self.value_group is not None and self.value_group not in groups:
            raise ConfigError(
                f"value_group {self.value_group!r} is not a named group of the regex "
                f"(groups: {', '.join(sorted(groups)) or 'none'})",
                where=f"{where}.value_group",
            )
        if metric.type in ("gauge", "histogram") and self.value_group is None:
            raise ConfigError(
                f"a {metric.type} needs `value_group`: the named group holding the number",
                where=f"{where}.value_group",
            )
        if metric.labels:
            missing = [g for g in metric.labels if g not in groups]
            if missing:
                raise ConfigError(
                    f"labels {missing} are not named groups of the regex",
                    where=f"{where}.labels",
                )
            self.label_groups = tuple(sorted(set(metric.labels)))
        else:
            self.label_groups = tuple(sorted(g for g in groups if g != self.value_group))
        for g in self.label_groups:
            check_label_name(g, f"{where}.regex (group {g!r})")
        buckets = tuple(float(b) for b in metric.buckets)
        if metric.type == "histogram":
            if not buckets or list(buckets) != sorted(set(buckets)):
                raise ConfigError(
                    "buckets must be a non-empty list of increasing numbers",
                    where=f"{where}.buckets",
                )
            if math.isinf(buckets[-1]):
                buckets = buckets[:-1]
        self.buckets = buckets
        self.metric = metric
        # key: label values tuple -> counter value / gauge value / bucket counts
        self.values: dict[tuple[str, ...], float] = {}
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}
        if not self.label_groups:
            # A pattern without label groups has exactly one series: show it from the start.
            if metric.type == "counter":
                self.values[()] = 0.0
            elif metric.type == "histogram":
                self.counts[()] = [0] * (len(self.buckets) + 1)
                self.sums[()] = 0.0

    def feed(self, line: str) -> bool | None:
        """Apply to one line: True matched and counted, None matched with a bad value.

        A new label set beyond `max_series` is dropped (and counted in `dropped`):
        labels come from the log, and a log can be written by an attacker (one
        user name per brute-force attempt must not grow the store without bound).
        """
        m = self.regex.search(line)
        if m is None:
            return False
        key = tuple(m.group(g) or "" for g in self.label_groups)
        if (
            key not in self.values
            and key not in self.counts
            and len(self.values) + len(self.counts) >= self.max_series
        ):
            self.dropped += 1
            return True
        mt = self.metric
        number = 1.0
        if self.value_group is not None:
            raw = m.group(self.value_group)
            try:
                number = float(raw) if raw is not None else math.nan
            except ValueError:
                number = math.nan
            if math.isnan(number) or (mt.type == "counter" and number < 0):
                return None
        if mt.type == "counter":
            self.values[key] = self.values.get(key, 0.0) + number
        elif mt.type == "gauge":
            self.values[key] = number
        else:
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = [0] * (len(self.buckets) + 1)
                self.sums[key] = 0.0
            counts[bisect.bisect_left(self.buckets, number)] += 1
            self.sums[key] += number
        return True

    def emit(self, b: BatchBuilder, static: Mapping[str, str]) -> None:
        mt = self.metric
        base = dict(static)
        kind = {"counter": MetricType.COUNTER, "gauge": MetricType.GAUGE}.get(
            mt.type, MetricType.HISTOGRAM
        )
        b.meta(mt.name, kind, mt.help)
        for key, v in self.values.items():
            b.add(mt.name, {**dict(zip(self.label_groups, key, strict=True)), **base}, v)
        for key, counts in self.counts.items():
            labels = {**dict(zip(self.label_groups, key, strict=True)), **base}
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = "+Inf" if math.isinf(bound) else _fmt_le(bound)
                b.add(f"{mt.name}_bucket", {**labels, "le": le}, running)
            b.add(f"{mt.name}_count", labels, running)
            b.add(f"{mt.name}_sum", labels, self.sums[key])


def _fmt_le(v: float) -> str:
    return str(int(v)) + ".0" if v.is_integer() else repr(v)


# --------------------------------------------------------------------------- source


def default_state_file(name: str, path: str | os.PathLike[str]) -> Path:
    """Where a log source's offset lives by default: state_dir()/logs/<name>-<hash>.json."""
    digest = hashlib.sha256(os.fspath(path).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return state_dir() / "logs" / f"{safe}-{digest}.json"


class LogSource(PeriodicSource):
    """Follows one log file and turns matching lines into metrics.

    Every series it writes carries `log="<name>"` (it wins over a regex group
    of that name).

    Args:
        name: The config's name (`[[log_configs]] name`).
        path: The log file (need not exist yet).
        metrics: The patterns.
        appender: Where samples go.
        interval_ms: How often the current values are written to the store.
        poll_interval_ms: How often the file is checked for new lines.
        start_at: "end" (default, like tail -F) or "beginning" for a file that
            exists at start and has no saved offset.
        state_file: Offset file; default :func:`default_state_file`. Pass
            ``False`` to keep no state.
        labels: Static labels added to every pattern's series.
        max_series_per_metric: Label sets one pattern may create; further new ones
            are dropped and counted in `nightowl_log_series_dropped_total`.
        clock: Wall clock for timestamps.
    """

    kind = "log"

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        metrics: Sequence[LogMetric],
        appender: Appender,
        *,
        interval_ms: int = 15_000,
        poll_interval_ms: int = 1_000,
        start_at: Literal["beginning", "end"] = "end",
        state_file: str | os.PathLike[str] | Literal[False] | None = None,
        labels: Mapping[str, str] | None = None,
        max_series_per_metric: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, appender, interval_ms=interval_ms, clock=clock)
        if poll_interval_ms <= 0:
            raise ConfigError("poll_interval must be positive", where=f"log_configs.{name}")
        where = f"log_configs.{name}.metrics"
        self._patterns = [
            _Compiled(m, f"{where}[{i}]", max_series_per_metric) for i, m in enumerate(metrics)
        ]
        if not self._patterns:
            raise ConfigError("a log source needs at least one metric", where=where)
        self.labels = dict(labels or {})
        for k in self.labels:
            check_label_name(k, f"log_configs.{name}.labels")
        self.path = os.fspath(path)
        self.start_at = start_at
        self.is_glob = glob.has_magic(self.path)
        self._keep_state = state_file is not False
        self._followers: dict[str, FileFollower] = {}
        self._consumed: dict[tuple[int, int], Retired] = {}
        self._gone_stats = FollowerStats()
        self._scanned = False
        if self.is_glob:
            if state_file not in (None, False):
                raise ConfigError(
                    "state_file cannot be combined with a glob path: each matching file "
                    "keeps its offset under the state directory",
                    where=f"log_configs.{name}.state_file",
                )
        else:
            if state_file is False:
                sf = None
            else:
                sf = state_file if state_file is not None else default_state_file(name, path)
            self._followers[self.path] = FileFollower(path, state_file=sf, start_at=start_at)
        self.poll_interval_ms = poll_interval_ms
        self.value_errors = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, cfg: Any, appender: Appender, *, clock: Clock | None = None, **overrides: Any
    ) -> LogSource:
        """Build from a `[[log_configs]]` entry (nightowl.config.LogConfig or any object
        with the same attributes); `overrides` pass extra keyword arguments."""
        metrics = [
            LogMetric(
                name=m.name,
                regex=m.regex,
                type=m.type,
                labels=tuple(getattr(m, "labels", ()) or ()),
                value_group=getattr(m, "value_group", "") or "",
                buckets=tuple(getattr(m, "buckets", DEFAULT_BUCKETS) or DEFAULT_BUCKETS),
                help=getattr(m, "help", "") or "",
            )
            for m in cfg.metrics
        ]
        kwargs: dict[str, Any] = {}
        for key in ("start_at", "poll_interval", "interval", "state_file", "labels"):
            value = getattr(cfg, key, None)
            if value in (None, "", {}):
                continue
            if key in ("poll_interval", "interval"):
                kwargs[f"{key}_ms"] = value
            else:
                kwargs[key] = value
        kwargs.update(overrides)
        return cls(cfg.name, cfg.path, metrics, appender, clock=clock, **kwargs)

    @property
    def follower(self) -> FileFollower:
        """The follower of a single-file source."""
        if self.is_glob:
            raise AttributeError("a glob source has one follower per file: see followers")
        return self._followers[self.path]

    @property
    def followers(self) -> dict[str, FileFollower]:
        """Path -> follower of every file being followed."""
        return dict(self._followers)

    def describe(self) -> str:
        """The followed path or glob."""
        return self.path

    def _discover(self) -> None:
        """Glob sources: follow new matches, drop finished ones (runs in a worker thread)."""
        for f in self._followers.values():
            for r in f.retired:
                self._consumed[r.ident] = r
            f.retired.clear()
        if not self.is_glob:
            return
        paths = sorted(p for p in glob.glob(self.path) if os.path.isfile(p))
        for p, f in list(self._followers.items()):
            if p not in paths and f.finished():
                f.retire()
                for r in f.retired:
                    self._consumed[r.ident] = r
                self._gone_stats.add(f.stats)
                f.close()
                if f.state_file is not None:
                    f.state_file.unlink(missing_ok=True)
                del self._followers[p]
        open_idents = {f._ident for f in self._followers.values() if f._ident is not None}
        for p in paths:
            if p in self._followers:
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in open_idents:
                continue  # renamed into the glob while another follower still reads it
            self._followers[p] = FileFollower(
                p,
                state_file=default_state_file(self.name, p) if self._keep_state else None,
                start_at=self.start_at if not self._scanned else "beginning",
                adopt=self._consumed.pop(ident, None),
            )
        self._scanned = True
        while len(self._consumed) > 1000:  # rotated files that never match again
            del self._consumed[next(iter(self._consumed))]

    def feed_lines(self, lines: Sequence[str]) -> None:
        """Run lines through every pattern (also used directly by tests and tools)."""
        for line in lines:
            for p in self._patterns:
                if p.feed(line) is None:
                    self.value_errors += 1

    async def poll(self) -> int:
        """Read and process everything new in the file(s); returns the number of lines."""
        async with self._lock:
            total = 0
            errors: list[str] = []
            await asyncio.to_thread(self._discover)
            for f in list(self._followers.values()):
                try:
                    # At most MAX_CHUNKS_PER_POLL chunks, so a file written faster than we
                    # read still lets the values go out; the rest waits for the next poll.
                    for _ in range(MAX_CHUNKS_PER_POLL):
                        lines, more = await asyncio.to_thread(f.read_lines)
                        self.feed_lines(lines)
                        total += len(lines)
                        if not more:
                            break
                        await asyncio.sleep(0)
                    await asyncio.to_thread(f.save_state)
                except OSError as exc:
                    errors.append(f"{f.path}: {exc.strerror or exc}")
            present = self._present()
            self.healthy = present and not errors
            if errors:
                self.last_error = "; ".join(errors)
            elif not present:
                what = "no file matches" if self.is_glob else "file does not exist"
                self.last_error = f"{self.path}: {what}"
            else:
                self.last_error = ""
            return total

    def _present(self) -> bool:
        return any(f.present for f in self._followers.values())

    def _stats(self) -> FollowerStats:
        total = FollowerStats()
        total.add(self._gone_stats)
        for f in self._followers.values():
            total.add(f.stats)
        return total

    async def collect(self, now_ms: int) -> SampleBatch:
        """Read what is new, then the current values of every pattern plus self-metrics."""
        await self.poll()  # errors are kept in last_error; the figures still go out
        b = BatchBuilder(now_ms)
        for p in self._patterns:
            p.emit(b, self.labels | {"log": self.name})
        src = {"log": self.name}
        stats = self._stats()
        b.meta("nightowl_log_lines_total", MetricType.COUNTER, "Lines read from the log file.")
        b.add("nightowl_log_lines_total", src, stats.lines)
        b.meta("nightowl_log_bytes_total", MetricType.COUNTER, "Bytes read from the log file.")
        b.add("nightowl_log_bytes_total", src, stats.bytes_read)
        b.meta(
            "nightowl_log_rotations_total",
            MetricType.COUNTER,
            "Times the file was replaced (rename rotation) or rewritten (truncation).",
        )
        b.add("nightowl_log_rotations_total", src | {"reason": "rename"}, stats.rotations)
        b.add("nightowl_log_rotations_total", src | {"reason": "truncate"}, stats.truncations)
        b.meta(
            "nightowl_log_value_errors_total",
            MetricType.COUNTER,
            "Matching lines whose value group did not hold a usable number.",
        )
        b.add("nightowl_log_value_errors_total", src, self.value_errors)
        b.meta(
            "nightowl_log_series_dropped_total",
            MetricType.COUNTER,
            "Matching lines not counted because their metric reached its series limit.",
        )
        for p in self._patterns:
            b.add(
                "nightowl_log_series_dropped_total",
                src | {"metric": p.metric.name},
                p.dropped,
            )
        b.meta(
            "nightowl_log_file_present",
            MetricType.GAUGE,
            "1 if the log file exists (a glob: if some file matches).",
        )
        b.add("nightowl_log_file_present", src, 1.0 if self._present() else 0.0)
        return b.build()

    async def run(self) -> None:
        """Poll every `poll_interval_ms`; write values every `interval_ms`; until cancelled."""
        loop = asyncio.get_running_loop()
        next_emit = loop.time()
        while True:
            if loop.time() >= next_emit:
                await self.collect_once()  # polls first
                next_emit += self.interval_ms / 1000
                if next_emit < loop.time():
                    next_emit = loop.time() + self.interval_ms / 1000
            else:
                await self.poll()
            wait = min(self.poll_interval_ms / 1000, max(0.0, next_emit - loop.time()))
            await asyncio.sleep(wait)

    async def close(self) -> None:
        """Save the offsets and close the files."""
        for f in self._followers.values():
            await asyncio.to_thread(f.save_state)
            f.close()
