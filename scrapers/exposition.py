"""Prometheus text format 0.0.4 and OpenMetrics 1.0 exposition parser (pure, no I/O).

Used by the scrape loop (one page per call) and by `nightowl import` (a large
file fed in chunks). Both want the result *columnar*, so this module never
builds one object per sample::

    parsed = parse(body, openmetrics=content_type_is_openmetrics(ct))
    parsed.series        # list[Labels], the distinct series of this result
    parsed.refs          # int64[n]: sample i belongs to parsed.series[refs[i]]
    parsed.values        # float64[n]
    parsed.timestamps    # int64[n] Unix ms; NO_TIMESTAMP where the line had none
    parsed.has_timestamp # bool[n]
    parsed.metadata      # {family name: MetricMeta} from # TYPE / # HELP / # UNIT
    parsed.errors        # [ParseError] (only with skip_errors=True)
    parsed.to_batch(default_timestamp_ms)  # -> nightowl.model.SampleBatch

A scraper passes the same :class:`SeriesCache` (``cache=``) to every parse of
one target, so series seen in an earlier scrape skip label parsing.

For streams, :class:`ExpositionParser` keeps state between chunks
(``feed(chunk) -> ParsedExposition`` for the complete lines so far, then
``close()``); line numbers continue across chunks.

Semantics, as Prometheus's own parsers (model/textparse):

- Prometheus text: `# HELP`/`# TYPE` lines, other `#` lines are comments, blank
  lines allowed, tokens separated by spaces or tabs, optional integer
  millisecond timestamp, HELP escapes ``\\\\`` and ``\\n``.
- OpenMetrics: exactly one space between tokens, `# HELP`/`# TYPE`/`# UNIT`
  only (other comments are errors), timestamps are (float) seconds, converted
  to ms by rounding to the nearest millisecond, exemplars (`` # {..} v [ts]``)
  are checked and ignored, the text must end with ``# EOF`` and nothing may
  follow it, UNIT must be a suffix of the family name.
- Label values unescape ``\\\\``, ``\\"`` and ``\\n``; other escapes stay as
  written (Prometheus does the same). Duplicate label names are an error.
- Values: any float Go's ParseFloat takes (``NaN``, ``+Inf``, ``-Inf``,
  ``1e3``...), no ``_``; a parsed NaN gets Prometheus's ordinary NaN bit pattern
  (:data:`nightowl.model.NORMAL_NAN_BITS`), never the staleness marker.
- UTF-8 metric names in quotes (``{"my.metric", job="x"}``) are accepted.
- `_created` series: Prometheus ingests them as ordinary series unless its
  created-timestamp feature is on, in which case the OpenMetrics parser drops
  `_created` samples of counters, histograms and summaries. Same here:
  ``skip_created=False`` by default, ``True`` drops them (OpenMetrics only).

Known differences from Prometheus: negative millisecond timestamps are
accepted in Prometheus text; a label value may not hold a raw newline (the
text is split into lines first).

Format detection (``openmetrics=None``): a complete text is OpenMetrics when it
ends with ``# EOF``; a stream shorter than 64 KiB waits for its end to decide,
a longer one is guessed from its first 64 KiB (`# EOF`/`# UNIT`, OpenMetrics-only
types, fractional timestamps mean OpenMetrics; integer timestamps Prometheus text).

Import options (the scrape path keeps the defaults): ``require_timestamps=True``
makes a sample line without a timestamp an error (as promtool's import does);
``max_line_bytes=N`` makes longer lines errors, and a stream then holds at
most N bytes of an unfinished line (the rest is dropped as it arrives).

Cost on hostile input: linear in the line length with a few copies of the line
at most. Quoted strings are matched with possessive patterns (no backtracking
state per character) and unescaped with C string operations; an unfinished
line is kept as a list of pieces joined once. Series texts over 4 KiB are not
kept in the process-wide caches.

Every malformed input raises :class:`nightowl.errors.ParseError` naming the
line (1-based) and column; with ``skip_errors=True`` bad lines are dropped and
their errors collected in ``parsed.errors`` instead (a missing `# EOF` is then
an error in the list too).

Speed: lines whose series text (everything before the value) was seen before
skip label parsing through a cache keyed by that raw text; values and
timestamps of a whole chunk are converted in bulk; only unusual lines (first
sight of a series, comments, tabs, exemplars, errors) take the strict
line-by-line path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nightowl.errors import ParseError
from nightowl.model import (
    METRIC_NAME,
    NORMAL_NAN_BITS,
    Labels,
    MetricMeta,
    MetricType,
    Sample,
    SampleBatch,
)

__all__ = [
    "NO_TIMESTAMP",
    "ExpositionParser",
    "ParsedExposition",
    "SeriesCache",
    "content_type_is_openmetrics",
    "detect_openmetrics",
    "looks_like_openmetrics",
    "parse",
]

#: Sentinel in :attr:`ParsedExposition.timestamps` for "the line had no timestamp".
NO_TIMESTAMP = int(np.iinfo(np.int64).min)

_NORMAL_NAN = np.array([NORMAL_NAN_BITS], np.uint64).view(np.float64)[0]
_MAX_CACHE = 1 << 20
_GUESS_BYTES = 1 << 16  # an undecided stream's format is guessed from this much text

# Process-wide caches shared by all parsers (a scrape parses the same page text
# again and again), one per format: raw series text -> (metric name, Labels),
# and raw comment line -> its parsed meaning. Both are pure functions of the
# text; they are cleared when they grow past _MAX_SHARED entries.
_MAX_SHARED = 1 << 16
_MAX_SHARED_KEY = 1 << 12  # longer texts are not kept process-wide (per parser only)
_SHARED_BRACE: tuple[dict[bytes, tuple[str, Labels]], dict[bytes, tuple[str, Labels]]] = ({}, {})
_SHARED_BARE: tuple[dict[bytes, tuple[str, Labels]], dict[bytes, tuple[str, Labels]]] = ({}, {})
_NOSAMPLE = -2  # gids entry: comment, blank or rejected line
_PENDING_META = MetricMeta()  # placeholder until _meta_snapshot() builds the real one
_COMMENT_BASE = -10  # gids entry <= this: cached comment line number (_COMMENT_BASE - n)

_SHARED_COMMENTS: tuple[
    dict[bytes, tuple[str, str, object] | None], dict[bytes, tuple[str, str, object] | None]
] = ({}, {})

_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# The inside of a quoted string. Possessive repeats: no backtracking state per
# character, so a multi-megabyte label value costs linear time and no memory
# beyond the match (an alternation `(?:[^"\\]|\\.)*` kept ~100 bytes per character).
_QSTR = r'[^"\\]*+(?:\\.[^"\\]*+)*+'
_QUOTED_RE = re.compile(rf'"({_QSTR})"')
_WS_RE = re.compile(r"[ \t]*")
_INT_RE = re.compile(rb"-?[0-9]+\Z")
_PROM_META_RE = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+")
_PAIR = rf'[a-zA-Z_][a-zA-Z0-9_]*="{_QSTR}"'
_FAST_SERIES_RE = re.compile(
    rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{((?:{_PAIR}(?:,{_PAIR})*+,?)?)\}})?"
)
_PROM_VALUE_RE = re.compile(r"[^ \t{]+")
_PROM_TOKEN_RE = re.compile(r"[^ \t]+")
_PROM_NOT_VALUE = ("", " ", "\t", "{")  # after "series ": these need the full scanner
_PAIR_RE = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)="({_QSTR})"')
_PLAIN_COMMENT_RE = re.compile(rb"[ \t]*#(?![ \t]+(?:HELP|TYPE)[ \t])")

_PROM_TYPES = {
    "counter": MetricType.COUNTER,
    "gauge": MetricType.GAUGE,
    "histogram": MetricType.HISTOGRAM,
    "summary": MetricType.SUMMARY,
    "untyped": MetricType.UNKNOWN,
}
_OM_TYPES = {t.value: t for t in MetricType}
_CREATED_TYPES = {MetricType.COUNTER, MetricType.HISTOGRAM, MetricType.SUMMARY}

# Bytes a value/timestamp column may hold on the bulk path; letters of
# NaN/Inf/Infinity are allowed there too (float() validates those).
_NUM_BYTES = b"0123456789.eE+- \n"
_NANINF_BYTES = b"aAfFiInNtTyY"
_ASCII_SPACE = 32
_INF_WORDS = (b"inf", b"infinity")


def content_type_is_openmetrics(content_type: str | None) -> bool:
    """True if an HTTP Content-Type names the OpenMetrics text format.

    >>> content_type_is_openmetrics("application/openmetrics-text; version=1.0.0")
    True
    >>> content_type_is_openmetrics("text/plain; version=0.0.4")
    False
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/openmetrics-text"


def detect_openmetrics(data: bytes | str) -> bool:
    """Guess the format of a complete exposition: OpenMetrics if it ends with `# EOF`."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    tail = data[-64:].rstrip(b"\n")
    return tail.endswith(b"\n# EOF") or tail == b"# EOF"


@dataclass(slots=True)
class ParsedExposition:
    """The samples and metadata of (a chunk of) one exposition, columnar.

    Compatible with :class:`nightowl.model.SampleBatch` (same column names);
    :meth:`to_batch` fills missing timestamps and returns a real one.
    """

    series: list[Labels]
    refs: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    metadata: dict[str, MetricMeta] = field(default_factory=dict)
    errors: list[ParseError] = field(default_factory=list)
    lines: int = 0
    """Lines consumed by this result."""
    openmetrics: bool = False

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def has_timestamp(self) -> np.ndarray:
        """Boolean mask: sample i carried its own timestamp."""
        return self.timestamps != NO_TIMESTAMP

    def to_batch(self, default_timestamp_ms: int | None = None) -> SampleBatch:
        """A :class:`SampleBatch`; samples without a timestamp get `default_timestamp_ms`.

        Raises:
            ValueError: some sample has no timestamp and no default was given.
        """
        ts = self.timestamps
        missing = ts == NO_TIMESTAMP
        if missing.any():
            if default_timestamp_ms is None:
                raise ValueError("samples without timestamp and no default timestamp given")
            ts = np.where(missing, np.int64(default_timestamp_ms), ts)
        return SampleBatch(self.series, self.refs, ts, self.values, dict(self.metadata))

    def samples(self) -> Iterator[tuple[Labels, int | None, float]]:
        """(labels, timestamp ms or None, value) per sample; for tests and small pages."""
        series = self.series
        for r, t, v in zip(
            self.refs.tolist(), self.timestamps.tolist(), self.values.tolist(), strict=True
        ):
            yield series[r], (None if t == NO_TIMESTAMP else t), v

    def to_samples(self, default_timestamp_ms: int) -> list[Sample]:
        """Model :class:`Sample` s, missing timestamps set to `default_timestamp_ms`."""
        return [
            Sample(lab, default_timestamp_ms if t is None else t, v) for lab, t, v in self.samples()
        ]

    @staticmethod
    def concat(parts: list[ParsedExposition]) -> ParsedExposition:
        """One result from several (e.g. the chunks of one import batch), series merged."""
        index: dict[Labels, int] = {}
        series: list[Labels] = []
        refs = []
        for part in parts:
            remap = np.empty(len(part.series), np.int64)
            for i, lab in enumerate(part.series):
                r = index.get(lab)
                if r is None:
                    r = index[lab] = len(series)
                    series.append(lab)
                remap[i] = r
            refs.append(remap[part.refs] if len(part.refs) else part.refs)
        if not parts:
            return ParsedExposition(
                [], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
            )
        return ParsedExposition(
            series,
            np.concatenate(refs),
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.values for p in parts]),
            parts[-1].metadata,
            [e for p in parts for e in p.errors],
            sum(p.lines for p in parts),
            parts[-1].openmetrics,
        )


def parse(
    data: bytes | str,
    *,
    openmetrics: bool | None = None,
    default_timestamp_ms: int | None = None,
    skip_errors: bool = False,
    skip_created: bool = False,
    cache: SeriesCache | None = None,
    require_timestamps: bool = False,
    max_line_bytes: int | None = None,
) -> ParsedExposition:
    """Parse one complete exposition.

    Args:
        data: The page (bytes, or str which is encoded as UTF-8).
        openmetrics: True for OpenMetrics, False for Prometheus text, None to
            detect (OpenMetrics if the text ends with `# EOF`).
        default_timestamp_ms: Timestamp for samples without one (else they keep
            :data:`NO_TIMESTAMP`).
        skip_errors: Drop bad lines and collect their errors instead of raising.
        skip_created: Drop OpenMetrics `_created` samples of counters,
            histograms and summaries.
        cache: A :class:`SeriesCache` kept between parses of the same source
            (a scrape target) to skip label parsing of series seen before.
        require_timestamps: A sample line without a timestamp is an error
            ("expected a timestamp, got none"), as promtool's import makes it.
        max_line_bytes: Lines longer than this many bytes (newline excluded)
            are errors; None for no limit. A stream (:class:`ExpositionParser`)
            then never holds more than this much of one line.

    Raises:
        ParseError: malformed input (never any other exception).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if openmetrics is None:
        openmetrics = detect_openmetrics(data)
    p = ExpositionParser(
        openmetrics=openmetrics,
        default_timestamp_ms=default_timestamp_ms,
        skip_errors=skip_errors,
        skip_created=skip_created,
        cache=cache,
        require_timestamps=require_timestamps,
        max_line_bytes=max_line_bytes,
    )
    first = p.feed(data)
    last = p.close()
    if len(last) or last.errors or last.lines:
        return ParsedExposition.concat([first, last])
    first.metadata = last.metadata
    return first


class _LineError(Exception):
    """Internal: a bad line, with a 0-based column."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class SeriesCache:
    """Parsed series text kept from one exposition to the next of the same source.

    A scraper keeps one per target and passes it to :func:`parse` (`cache=`):
    lines whose series text was seen in an earlier scrape then skip label
    parsing entirely, as Prometheus's per-target scrape cache does. It holds
    at most about a million keys (then starts over). Not thread-safe: one
    parse at a time per cache.
    """

    __slots__ = (
        "bare",
        "brace",
        "by_labels",
        "comment_keys",
        "labels",
        "max_key",
        "meanings",
        "mode",
    )

    def __init__(self) -> None:
        self.brace: dict[bytes, int] = {}  # text before "} " of `name{...} value` -> id
        self.bare: dict[bytes, int] = {}  # `name` of `name value` -> id
        self.by_labels: dict[Labels, int] = {}
        self.labels: list[Labels] = []  # id -> Labels; id -1 means "dropped"
        self.comment_keys: list[bytes] = []  # comment lines cached within one exposition
        self.meanings: list[tuple[str, str, object] | None] = []  # cached comment lines
        self.mode: tuple[bool, bool] | None = None  # (openmetrics, skip_created)
        self.max_key = 0  # longest key in brace/bare (bounds cached lines' length)

    def __len__(self) -> int:
        return len(self.labels)

    def clear(self) -> None:
        """Forget everything."""
        self.brace.clear()
        self.bare.clear()
        self.by_labels.clear()
        self.labels.clear()
        self.comment_keys.clear()
        self.meanings.clear()
        self.max_key = 0


class ExpositionParser:
    """Incremental parser: `feed()` chunks, then `close()`.

    One instance parses one exposition (one page or one file). The series
    cache is kept for the lifetime of the instance.

    Args:
        openmetrics: Format; None detects it: a text shorter than 64 KiB is
            OpenMetrics when it ends with `# EOF`; a longer one is guessed from
            its first 64 KiB (see `_guess_openmetrics`).
        default_timestamp_ms: See :func:`parse`.
        skip_errors: See :func:`parse`.
        skip_created: See :func:`parse`.
        cache: See :func:`parse`.
        require_timestamps: See :func:`parse`.
        max_line_bytes: See :func:`parse`. The bytes of a longer line are
            dropped as they arrive; the error names the line when it ends.
    """

    def __init__(
        self,
        *,
        openmetrics: bool | None = None,
        default_timestamp_ms: int | None = None,
        skip_errors: bool = False,
        skip_created: bool = False,
        cache: SeriesCache | None = None,
        require_timestamps: bool = False,
        max_line_bytes: int | None = None,
    ) -> None:
        if max_line_bytes is not None and max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1 (or None for no limit)")
        self.openmetrics = openmetrics
        self.default_timestamp_ms = default_timestamp_ms
        self.skip_errors = skip_errors
        self.skip_created = skip_created
        self.require_timestamps = require_timestamps
        self.max_line_bytes = max_line_bytes
        # The text after the last newline so far, as the pieces that arrived
        # (joined once, when the line ends: no quadratic copying of long lines).
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._overlong = 0  # > 0: the current line passed max_line_bytes (its length so far)
        self._lineno = 0  # lines consumed so far
        self._eof_line = 0  # line number of "# EOF" (OpenMetrics), 0 = not seen
        self._after_eof = False  # the (one) "unexpected data after # EOF" error was given
        self._closed = False
        c = self._series_cache = cache if cache is not None else SeriesCache()
        # Comment lines cached by the previous exposition must be read again.
        for key in c.comment_keys:
            c.brace.pop(key, None)
        c.comment_keys.clear()
        self._brace = c.brace
        self._bare = c.bare
        self._by_labels = c.by_labels
        self._labels = c.labels
        self._meta: dict[str, list] = {}  # family -> [MetricType, help, unit]
        self._metadata: dict[str, MetricMeta] = {}
        self._dirty: set[str] = set()  # families whose MetricMeta must be rebuilt

    # -- public -------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, MetricMeta]:
        """Metadata of the families seen so far."""
        return self._meta_snapshot()

    @property
    def lines_consumed(self) -> int:
        """Lines parsed so far."""
        return self._lineno

    def feed(self, data: bytes) -> ParsedExposition:
        """Parse the complete lines of `data` (plus what was pending)."""
        if self._closed:
            raise ParseError("parser already closed")
        if self.openmetrics is None:
            if self._pending:
                data = self._take_pending() + data
            if len(data) < _GUESS_BYTES:
                # Undecided: wait for more text (or close(), which sees the end).
                self._pending = [data]
                self._pending_len = len(data)
                return self._parse_lines([], final=False)
            self.openmetrics = _guess_openmetrics(data[:_GUESS_BYTES])
        if data.find(b"\n") < 0:
            self._hold(data)  # still inside one line
            return self._parse_lines([], final=False)
        # Split the new data as it is (no copy of the chunk); the last piece is
        # an incomplete line, the first one continues what was pending.
        lines = data.split(b"\n")
        tail = lines.pop()
        if self._overlong:
            err = self._overlong_error(self._overlong + len(lines[0]))
            self._overlong = 0
            self._lineno += 1
            result = self._parse_lines(lines[1:], final=False)
            if err is not None:
                result.errors.insert(0, err)
            result.lines += 1
        else:
            if self._pending:
                lines[0] = self._take_pending() + lines[0]
            result = self._parse_lines(lines, final=False)
        self._hold(tail)
        return result

    def close(self) -> ParsedExposition:
        """Parse what is left and check the end of the text (`# EOF` for OpenMetrics)."""
        if self._closed:
            raise ParseError("parser already closed")
        overlong = None
        if self._overlong:
            overlong = self._overlong_error(self._overlong)
            self._overlong = 0
            self._lineno += 1
        rest = self._take_pending()  # an incomplete last line, or all of a short undecided text
        if self.openmetrics is None:
            self.openmetrics = detect_openmetrics(rest)
        result = self._parse_lines(rest.split(b"\n") if rest else [], final=True)
        if overlong is not None:
            result.errors.insert(0, overlong)
            result.lines += 1
        self._closed = True
        if self.openmetrics and not self._eof_line:
            err = ParseError(
                "data does not end with # EOF",
                line=self._lineno + 1,
                column=1,
                where=f"line {self._lineno + 1}",
            )
            if not self.skip_errors:
                raise err
            result.errors.append(err)
        return result

    # -- internals ----------------------------------------------------------

    def _take_pending(self) -> bytes:
        parts = self._pending
        if not parts:
            return b""
        self._pending = []
        self._pending_len = 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _hold(self, piece: bytes) -> None:
        """Keep `piece` as the start of the next line (or only count it when too long)."""
        if self._overlong:
            self._overlong += len(piece)
            return
        if not piece:
            return
        total = self._pending_len + len(piece)
        if self.max_line_bytes is not None and total > self.max_line_bytes:
            self._overlong = total
            self._pending = []
            self._pending_len = 0
            if not self.skip_errors:
                self._overlong_error(None)  # raises now: no need to read to the line's end
            return
        self._pending.append(piece)
        self._pending_len = total

    def _overlong_error(self, length: int | None) -> ParseError | None:
        """The error for the line after the last consumed one, longer than the limit.

        Raised at once unless `skip_errors` (then returned, to be collected;
        None after `# EOF` when that was already reported).
        """
        lineno = self._lineno + 1
        if self._eof_line:
            if self._after_eof:
                return None
            self._after_eof = True
            err = self._error("unexpected data after # EOF", lineno, 1)
        else:
            err = self._line_too_long(length, lineno)
        if not self.skip_errors:
            raise err
        return err

    def _line_too_long(self, length: int | None, lineno: int) -> ParseError:
        """`length` None: the line is not complete yet."""
        size = "" if length is None else f" ({length:,} bytes)"
        return self._error(
            f"line longer than the limit of {self.max_line_bytes:,} bytes{size}", lineno, 1
        )

    def _error(self, message: str, lineno: int, column: int) -> ParseError:
        return ParseError(
            message, line=lineno, column=column, where=f"line {lineno}, column {column}"
        )

    def _empty_result(self, lines: int, errors: list[ParseError]) -> ParsedExposition:
        return ParsedExposition(
            [],
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            self._meta_snapshot(),
            errors,
            lines,
            bool(self.openmetrics),
        )

    def _parse_lines(self, lines: list[bytes], *, final: bool) -> ParsedExposition:
        if final and lines and lines[-1] == b"":
            lines.pop()
        if not lines:
            return self._empty_result(0, [])
        n = len(lines)
        base = self._lineno
        self._lineno = base + n
        errors: list[ParseError] = []
        mode = (bool(self.openmetrics), self.skip_created)
        if self._series_cache.mode != mode:
            # Keys checked under the other format's rules (or _created decisions) differ.
            self._series_cache.clear()
            self._series_cache.mode = mode
        if self._eof_line:
            # Nothing may follow "# EOF": one error for all of it (at its first line).
            if self._after_eof:
                return self._empty_result(n, [])
            self._after_eof = True
            err = self._error("unexpected data after # EOF", base + 1, 1)
            if not self.skip_errors:
                raise err
            return self._empty_result(n, [err])
        # Per line: the cached global series id of the text before "} " (or
        # _NOSAMPLE), and the value text after it. Uncached lines go through
        # `resolve` (strict parsing, comments, errors) in order.
        gids: list[int] = []
        rests: list[bytes] = []
        fixed: dict[int, tuple[float, int | None]] = {}  # line index -> parsed (v, ts)
        ctx = (lines, base, gids, rests, fixed, errors)
        get = self._brace.get
        bget = self._bare.get
        ga = gids.append
        ra = rests.append
        resolve = self._resolve
        for line in lines:
            k, sep, rest = line.partition(b"} ")
            g = get(k)
            if g is None:
                if not sep:  # `name value`?
                    k2, sep2, rest2 = line.partition(b" ")
                    if sep2:
                        g = bget(k2)
                        if g is not None:
                            ga(g)
                            ra(rest2)
                            continue
                g, rest = resolve(ctx, line, k, sep, rest)
            ga(g)
            ra(rest)
        if self._eof_line and self._eof_line < base + n:
            # Lines after "# EOF" that took the cached path.
            e = self._eof_line - base - 1
            err = self._error("unexpected data after # EOF", self._eof_line + 1, 1)
            if not self.skip_errors:
                self._bulk(lines, base, gids, rests, fixed, errors, e)
                raise err
            # One error for all of it (lines the strict path saw may have their own).
            errors[:] = [x for x in errors if (x.line or 0) <= self._eof_line]
            errors.append(err)
            self._after_eof = True
            for j in range(e + 1, n):
                gids[j] = _NOSAMPLE
                fixed.pop(j, None)
        if self._series_cache.meanings and gids and min(gids) <= _COMMENT_BASE:
            # Cached comment lines (they stay non-sample entries in gids): apply
            # each distinct one once, in the order of its last occurrence.
            meanings = self._series_cache.meanings
            garr = np.array(gids, np.int64)
            pos = np.flatnonzero(garr <= _COMMENT_BASE)
            ids = _COMMENT_BASE - garr[pos]
            _, last = np.unique(ids[::-1], return_index=True)
            for j in np.sort(len(ids) - 1 - last).tolist():
                meaning = meanings[int(ids[j])]
                if meaning is not None:
                    self._apply_meta(*meaning)
        refs, ts, vals = self._bulk(lines, base, gids, rests, fixed, errors, n)
        # Compact global series ids to this result's own series list.
        keep = refs >= 0
        if not keep.all():
            refs, ts, vals = refs[keep], ts[keep], vals[keep]
        if len(refs):
            used = np.flatnonzero(np.bincount(refs, minlength=len(self._labels)))
            remap = np.empty(len(self._labels), np.int64)
            remap[used] = np.arange(len(used), dtype=np.int64)
            labels = self._labels
            series = [labels[i] for i in used.tolist()]
            refs = remap[refs]
        else:
            series = []
        if self.default_timestamp_ms is not None:
            ts[ts == NO_TIMESTAMP] = self.default_timestamp_ms
        if len(errors) > 1:
            errors.sort(key=lambda e: e.line or 0)
        if len(self._brace) + len(self._bare) > _MAX_CACHE:
            self._series_cache.clear()
        return ParsedExposition(
            series, refs, ts, vals, self._meta_snapshot(), errors, n, bool(self.openmetrics)
        )

    def _resolve(
        self,
        ctx: tuple,
        line: bytes,
        k: bytes,
        sep: bytes,
        rest: bytes,
    ) -> tuple[int, bytes]:
        """A line whose text before "} " is not cached: returns (global id, value text)."""
        lines, base, gids, rests, fixed, errors = ctx
        om = bool(self.openmetrics)
        if self._eof_line:
            # Text after "# EOF": one error, at the line after it (the caller
            # adds it in skip_errors mode, with lines the caches let through).
            if not self.skip_errors:
                self._bulk(lines, base, gids, rests, fixed, errors, self._eof_line - base - 1)
                raise self._error("unexpected data after # EOF", self._eof_line + 1, 1)
            return _NOSAMPLE, b""
        # A line over the length limit goes straight to the strict path, which says so.
        too_long = self.max_line_bytes is not None and len(line) > self.max_line_bytes
        if too_long:
            pass
        elif sep:
            known = _SHARED_BRACE[om].get(k)
            if known is not None:
                return self._add_series(self._brace, k, known[0], known[1], om), rest
        else:
            k2, sep2, rest2 = line.partition(b" ")
            if sep2:
                g = self._bare.get(k2)
                if g is not None:
                    return g, rest2
                known = _SHARED_BARE[om].get(k2)
                if known is not None:
                    return self._add_series(self._bare, k2, known[0], known[1], om), rest2
        shared_comments = _SHARED_COMMENTS[om]
        if not too_long and not self._eof_line and line in shared_comments:
            meaning = shared_comments[line]
            if meaning is not None:
                self._apply_meta(*meaning)
            if not sep:
                # Next time (in this text or a later one of the same cache) the
                # line is found by the main loop; its meaning is applied after it.
                c = self._series_cache
                if self.skip_created:
                    # `_created` decisions need metadata in line order: only skip
                    # repeats within this text.
                    self._brace[line] = _NOSAMPLE
                    c.comment_keys.append(line)
                else:
                    self._brace[line] = _COMMENT_BASE - len(c.meanings)
                    c.meanings.append(meaning)
            return _NOSAMPLE, b""
        i = len(gids)
        try:
            out = self._slow_line(line, base + i + 1)
        except ParseError as exc:
            if not self.skip_errors:
                # An earlier line may hold an error only the bulk step sees.
                self._bulk(lines, base, gids, rests, fixed, errors, i)
                raise exc from None
            errors.append(exc)
            return _NOSAMPLE, b""
        if out is None:
            return _NOSAMPLE, b""
        fixed[i] = (out[1], out[2])
        return out[0], (b"0" if out[2] is None else b"0 0")

    def _bulk(
        self,
        lines: list[bytes],
        base: int,
        gids: list[int],
        rests: list[bytes],
        fixed: dict[int, tuple[float, int | None]],
        errors: list[ParseError],
        upto: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Convert the value/timestamp text of the sample lines before `upto` at once.

        Lines the bulk checks reject are re-parsed strictly one by one; they
        either turn out fine (tabs, exemplars: their parsed values are kept)
        or raise / collect their error. Returns (global ids, ts, values).
        """
        om = bool(self.openmetrics)
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
        for _attempt in range(4):
            garr = np.array(gids[:upto], np.int64)
            if len(garr) and garr.min() > _NOSAMPLE:
                sidx = None  # every line is a sample line
                srests = rests if upto == len(rests) else rests[:upto]
            else:
                sidx = np.flatnonzero(garr > _NOSAMPLE)
                srests = [rests[i] for i in sidx.tolist()]
            n = len(srests)
            if n == 0:
                return empty

            def reparse(bad: list[int] | np.ndarray, sidx: np.ndarray | None = sidx) -> None:
                b = np.asarray(bad, np.int64)
                self._reparse(
                    lines,
                    base,
                    gids,
                    rests,
                    fixed,
                    errors,
                    (b if sidx is None else sidx[b]).tolist(),
                )

            bad, joined, nsp = self._bulk_check(srests, sidx, fixed)
            if bad:
                reparse(bad)
                continue
            toks = joined.split()
            try:
                allf = np.fromiter(map(float, toks), np.float64, len(toks))
            except ValueError:
                ok = self._rest_checker()
                reparse([i for i, r in enumerate(srests) if not ok(r)])
                continue
            if nsp == n:
                vals = allf[0::2].copy()
                tsf = allf[1::2]
                ts_idx = None
            elif nsp == 0:
                vals = allf
                tsf = None
                ts_idx = None
            else:
                arr = np.frombuffer(joined, np.uint8)
                has = np.zeros(n, np.int64)
                nl = np.flatnonzero(arr == 10)
                sp = np.flatnonzero(arr == _ASCII_SPACE)
                has[np.searchsorted(nl, sp)] = 1
                vpos = np.arange(n, dtype=np.int64)
                vpos[1:] += np.cumsum(has)[:-1]
                vals = allf[vpos]
                ts_idx = np.flatnonzero(has)
                tsf = allf[vpos[ts_idx] + 1]
            ts = np.full(n, NO_TIMESTAMP, np.int64)
            if tsf is not None and len(tsf):
                if om:
                    okm = np.isfinite(tsf) & (np.abs(tsf) < 9.2e15)
                    if not okm.all():
                        rows = np.flatnonzero(~okm)
                        reparse(rows if ts_idx is None else ts_idx[rows])
                        continue
                    ms = np.rint(tsf * 1000.0).astype(np.int64)
                else:
                    if ts_idx is None:
                        ts_toks = toks[1::2]
                    else:
                        ts_toks = [toks[i] for i in (vpos[ts_idx] + 1).tolist()]
                    rows = []
                    if not b"".join(ts_toks).isdigit():
                        rows = [i for i, t in enumerate(ts_toks) if not _INT_RE.match(t)]
                    if rows:
                        rows_a = np.asarray(rows, np.int64)
                        reparse(rows_a if ts_idx is None else ts_idx[rows_a])
                        continue
                    big = np.abs(tsf) >= 2.0**53
                    ms = np.where(big, 0.0, tsf).astype(np.int64)
                    for r in np.flatnonzero(big).tolist():
                        v = int(ts_toks[r])
                        if -(2**63) < v < 2**63:
                            ms[r] = v
                        else:
                            rows.append(r)
                    if rows:
                        rows_a = np.asarray(sorted(rows), np.int64)
                        reparse(rows_a if ts_idx is None else ts_idx[rows_a])
                        continue
                if ts_idx is None:
                    ts = ms
                else:
                    ts[ts_idx] = ms
            inf_rows = np.flatnonzero(np.isinf(vals))
            if len(inf_rows):
                # "1e999" overflows: an error in Go's ParseFloat (and Prometheus).
                if nsp == n:
                    vtoks = [toks[2 * r] for r in inf_rows.tolist()]
                elif nsp == 0:
                    vtoks = [toks[r] for r in inf_rows.tolist()]
                else:
                    vtoks = [toks[i] for i in vpos[inf_rows].tolist()]
                rows = [
                    r
                    for r, t in zip(inf_rows.tolist(), vtoks, strict=True)
                    if t.lstrip(b"+-").lower() not in _INF_WORDS
                ]
                if rows:
                    reparse(rows)
                    continue
            nan = np.isnan(vals)
            if nan.any():
                vals[nan] = _NORMAL_NAN
            refs = garr if sidx is None else garr[sidx]
            if fixed:
                items = [
                    (li, v, NO_TIMESTAMP if t is None else t)
                    for li, (v, t) in fixed.items()
                    if li < upto
                ]
                if items:
                    li_a = np.array([it[0] for it in items], np.int64)
                    j = li_a if sidx is None else np.searchsorted(sidx, li_a)
                    vals[j] = np.array([it[1] for it in items], np.float64)
                    ts[j] = np.array([it[2] for it in items], np.int64)
            return refs, ts, vals
        raise AssertionError("bulk conversion did not settle")  # pragma: no cover

    def _bulk_check(
        self,
        rests: list[bytes],
        sidx: np.ndarray | None = None,
        fixed: dict[int, tuple[float, int | None]] | None = None,
    ) -> tuple[list[int], bytes, int]:
        """Check the rests are `VALUE` or `VALUE TS` with one space.

        Returns (indices of bad rests, the rests joined by newlines, number of spaces).
        """
        joined = b"\n".join(rests)
        max_rest = self._max_rest()
        if max_rest is not None and len(joined) > max_rest and max(map(len, rests)) > max_rest:
            # Some line may be longer than max_line_bytes: the strict path checks
            # (lines it parsed already hold placeholder rests: they are done).
            done = fixed or {}
            long = [
                i
                for i, r in enumerate(rests)
                if len(r) > max_rest and (i if sidx is None else int(sidx[i])) not in done
            ]
            bad, nsp = self._bulk_bad(rests, joined)
            return sorted(set(bad).union(long)), joined, nsp
        bad, nsp = self._bulk_bad(rests, joined)
        return bad, joined, nsp

    def _max_rest(self) -> int | None:
        """Longest value text a cached-series line may have within max_line_bytes."""
        if self.max_line_bytes is None:
            return None
        return self.max_line_bytes - self._series_cache.max_key - 2

    def _rest_checker(self) -> Callable[[bytes], bool]:
        """`_rest_ok` with this parser's settings."""
        om = bool(self.openmetrics)
        need_ts = self.require_timestamps
        max_rest = self._max_rest()
        return lambda rest: _rest_ok(rest, om, need_ts, max_rest)

    def _bulk_bad(self, rests: list[bytes], joined: bytes) -> tuple[list[int], int]:
        """(indices of rests that are not `VALUE` or `VALUE TS`, number of spaces)."""
        need_ts = self.require_timestamps
        rem = joined.translate(None, _NUM_BYTES)
        if rem and rem.translate(None, _NANINF_BYTES):
            ok = self._rest_checker()
            bad = [i for i, r in enumerate(rests) if not ok(r)]
            return bad, joined.count(b" ")
        n = len(rests)
        nsp = joined.count(b" ")
        if nsp == n or nsp == 0:
            # Fast structural check: every line holds exactly one space (or none),
            # not at its start or end.
            if nsp == 0:
                if need_ts:
                    return list(range(n)), 0  # no line has a timestamp
                if (
                    joined
                    and b"\n\n" not in joined
                    and joined[:1] != b"\n"
                    and joined[-1:] != b"\n"
                ):
                    return [], 0
            elif joined[:1] != b" " and joined[-1:] != b" ":
                arr = np.frombuffer(joined, np.uint8)
                sp = np.flatnonzero(arr == _ASCII_SPACE)
                nl = np.flatnonzero(arr == 10)
                # space i lies inside line i (after newline i-1, before newline i)
                # and has a non-newline byte on both sides.
                if (
                    (len(nl) == 0 or (np.all(sp[1:] > nl) and np.all(sp[:-1] < nl)))
                    and not np.any(arr[sp - 1] == 10)
                    and not np.any(arr[sp + 1] == 10)
                ):
                    return [], nsp
        arr = np.frombuffer(joined, np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.empty(n, np.int64)
        starts[0] = 0
        starts[1:] = nl + 1
        ends = np.empty(n, np.int64)
        ends[:-1] = nl
        ends[-1] = len(arr)
        sp = np.flatnonzero(arr == _ASCII_SPACE)
        bad = ends <= starts
        if len(sp):
            line_of = np.searchsorted(nl, sp)
            cnt = np.bincount(line_of, minlength=n)
            bad |= cnt > 1
            # no space first or last on its line
            bad[line_of[(sp == starts[line_of]) | (sp == ends[line_of] - 1)]] = True
            if need_ts:
                bad |= cnt == 0
        elif need_ts:
            bad[:] = True
        return np.flatnonzero(bad).tolist(), nsp

    def _reparse(
        self,
        lines: list[bytes],
        base: int,
        gids: list[int],
        rests: list[bytes],
        fixed: dict[int, tuple[float, int | None]],
        errors: list[ParseError],
        bad: list[int],
    ) -> None:
        """Strictly re-parse the sample lines with chunk indices `bad`."""
        if not self.skip_errors and bad:
            # Report the earliest bad line: check the sample lines before it strictly.
            ok = self._rest_checker()
            first = min(bad)
            earlier = [i for i in range(first) if gids[i] > _NOSAMPLE and not ok(rests[i])]
            bad = earlier + list(bad)
        for li in sorted(set(bad)):
            try:
                out = self._slow_line(lines[li], base + li + 1)
            except ParseError as exc:
                if not self.skip_errors:
                    raise exc from None
                errors.append(exc)
                gids[li] = _NOSAMPLE
                fixed.pop(li, None)
                continue
            if out is None:  # pragma: no cover - a sample line stays a sample line
                gids[li] = _NOSAMPLE
                continue
            gids[li] = out[0]
            fixed[li] = (out[1], out[2])
            rests[li] = b"0" if out[2] is None else b"0 0"

    # -- strict line parser -------------------------------------------------

    def _slow_line(self, line: bytes, lineno: int) -> tuple[int, float, int | None] | None:
        """Parse one line strictly. Returns (global series id, value, ts ms) or None."""
        om = bool(self.openmetrics)
        if self._eof_line and lineno > self._eof_line:
            raise self._error("unexpected data after # EOF", lineno, 1)
        if self.max_line_bytes is not None and len(line) > self.max_line_bytes:
            raise self._line_too_long(len(line), lineno)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not om and _PLAIN_COMMENT_RE.match(line):
                return None  # Prometheus text ignores what a plain comment holds
            col = len(line[: exc.start].decode("utf-8", "replace")) + 1
            raise self._error("invalid UTF-8", lineno, col) from None
        try:
            if not text:
                if om:
                    raise _LineError("empty line", 0)
                return None
            lead = 0
            if not om and text[0] in " \t":
                stripped = text.lstrip(" \t")
                if not stripped:
                    return None  # a blank line
                lead = len(text) - len(stripped)
            if text[lead] == "#":
                meaning = self._comment(text, om, lineno)
                if meaning is not None:
                    self._apply_meta(*meaning)
                if not self._eof_line and len(line) <= _MAX_SHARED_KEY:
                    cache = _SHARED_COMMENTS[om]
                    if len(cache) > _MAX_SHARED:
                        cache.clear()
                    cache[line] = meaning
                return None
            return self._sample(text, om, lead)
        except _LineError as exc:
            raise self._error(exc.message, lineno, exc.column + 1) from None

    def _comment(self, text: str, om: bool, lineno: int) -> tuple[str, str, object] | None:
        """Check a comment line; returns (family, HELP|TYPE|UNIT, value) or None."""
        if om:
            if text == "# EOF":
                self._eof_line = lineno
                return None
            for kw in ("HELP", "TYPE", "UNIT"):
                if text.startswith(f"# {kw} "):
                    break
            else:
                raise _LineError("invalid comment: only # HELP, # TYPE, # UNIT, # EOF", 0)
            i = 7
            if text.startswith('"', i):
                m = _QUOTED_RE.match(text, i)
                if not m:
                    raise _LineError("unterminated quoted metric name", i)
                name = _unescape(m.group(1))
            else:
                m = _METRIC_NAME_RE.match(text, i)
                if not m:
                    raise _LineError(f"expected metric name after {kw}", i)
                name = m.group()
            j = m.end()
            if j >= len(text) or text[j] != " ":
                raise _LineError(f"expected text in {kw}", j)
            return _meta_meaning(name, kw, text[j + 1 :], om, j + 1)
        lead = len(text) - len(text.lstrip(" \t"))
        text = text.lstrip(" \t")
        m = _PROM_META_RE.match(text)
        if not m:
            return None  # an ordinary comment
        kw = m.group(1)
        i = m.end()
        mn = _METRIC_NAME_RE.match(text, i)
        if not mn:
            raise _LineError(f"expected metric name after {kw}", lead + i)
        j = mn.end()
        if j < len(text) and text[j] not in " \t":
            raise _LineError(f"invalid metric name after {kw}", lead + j)
        value = text[j:].lstrip(" \t")
        return _meta_meaning(mn.group(), kw, value, om, lead + len(text) - len(value))

    def _meta_snapshot(self) -> dict[str, MetricMeta]:
        if self._dirty:
            for name in self._dirty:
                entry = self._meta[name]
                self._metadata[name] = MetricMeta(entry[0], entry[1], entry[2])
            self._dirty.clear()
        return dict(self._metadata)

    def _apply_meta(self, name: str, kw: str, value: object) -> None:
        entry = self._meta.get(name)
        if entry is None:
            entry = self._meta[name] = [MetricType.UNKNOWN, "", ""]
        i = 0 if kw == "TYPE" else 1 if kw == "HELP" else 2
        if entry[i] != value or name not in self._metadata:
            entry[i] = value
            self._dirty.add(name)
            self._metadata[name] = _PENDING_META

    def _add_series(
        self, cache: dict[bytes, int], key: bytes, name: str, labels: Labels, om: bool
    ) -> int:
        """Give a (checked) series a global id in this parser and cache its key."""
        if self.skip_created and om and name.endswith("_created"):
            entry = self._meta.get(name[: -len("_created")])
            if entry is not None and entry[0] in _CREATED_TYPES:
                cache[key] = -1
                if len(key) > self._series_cache.max_key:
                    self._series_cache.max_key = len(key)
                return -1
        g = self._by_labels.get(labels)
        if g is None:
            g = self._by_labels[labels] = len(self._labels)
            self._labels.append(labels)
        cache[key] = g
        c = self._series_cache
        if len(key) > c.max_key:
            c.max_key = len(key)
        return g

    def _sample(self, text: str, om: bool, start: int) -> tuple[int, float, int | None]:
        n = len(text)
        m = _FAST_SERIES_RE.match(text, start)
        i = m.end() if m else start
        if m and i < n and text[i] == " " and (om or text[i + 1 : i + 2] not in _PROM_NOT_VALUE):
            # The common spelling: name{a="1",b="2"} and a space.
            name = m.group(1)
            block = m.group(2)
            pairs = _PAIR_RE.findall(block) if block else []
            if block and "\\" in block:
                pairs = [(k, _unescape(v)) for k, v in pairs]
        else:
            i, name, pairs = _scan_series(text, start, om)
        series_end = i
        if om:
            if i >= n or text[i] != " ":
                raise _LineError("expected a space and a value after the series", i)
            i += 1
            j = text.find(" ", i)
            if j < 0:
                j = n
            vtok = text[i:j]
            value = _parse_value(vtok, i)
            ts_ms: int | None = None
            i = j
            if i < n:
                i += 1
                if text.startswith("# ", i):
                    _scan_exemplar(text, i + 2)
                else:
                    j = text.find(" ", i)
                    if j < 0:
                        j = n
                    ts_ms = _parse_om_ts(text[i:j], i)
                    i = j
                    if i < n:
                        if not text.startswith(" # ", i):
                            raise _LineError("expected exemplar or end of line", i)
                        _scan_exemplar(text, i + 3)
        else:
            m = _WS_RE.match(text, i)
            if m.end() == i and text[i - 1 : i] != "}":
                # (Prometheus' lexer lets a value follow the closing brace directly.)
                raise _LineError("expected whitespace and a value after the series", i)
            i = m.end()
            mv = _PROM_VALUE_RE.match(text, i)
            if mv is None:
                raise _LineError("expected value", i)
            j = mv.end()
            value = _parse_value(mv.group(), i)
            i = _WS_RE.match(text, j).end()
            ts_ms = None
            if i < n:
                mt = _PROM_TOKEN_RE.match(text, i)
                j = mt.end() if mt else i
                tok = text[i:j]
                if not _INT_RE.match(tok.encode()):
                    raise _LineError(f"invalid timestamp {tok!r}", i)
                ts_ms = int(tok)
                if not -(2**63) < ts_ms < 2**63:
                    raise _LineError(f"timestamp out of range {tok!r}", i)
                i = _WS_RE.match(text, j).end()
                if i < n:
                    raise _LineError("expected end of line after timestamp", i)
        if ts_ms is None and self.require_timestamps:
            raise _LineError("expected a timestamp, got none", n)
        g = self._series_id(text, series_end, name, pairs, om)
        return g, value, ts_ms

    def _series_id(
        self, text: str, end: int, name: str, pairs: list[tuple[str, str]], om: bool
    ) -> int:
        raw = text[:end].encode("utf-8")
        if raw.endswith(b"}"):
            key, cache, shared = raw[:-1], self._brace, _SHARED_BRACE[om]
        else:
            key, cache, shared = raw, self._bare, _SHARED_BARE[om]
        g = cache.get(key)
        if g is not None:
            return g
        seen = {METRIC_NAME}
        for ln, _ in pairs:
            if ln in seen:
                raise _LineError(f"duplicate label name {ln!r}", 0)
            seen.add(ln)
        labels = Labels([(METRIC_NAME, name), *pairs])
        if len(key) <= _MAX_SHARED_KEY:
            if len(shared) > _MAX_SHARED:
                shared.clear()
            shared[key] = (name, labels)
        return self._add_series(cache, key, name, labels, om)


def _meta_meaning(name: str, kw: str, value: str, om: bool, col: int) -> tuple[str, str, object]:
    if kw == "TYPE":
        t = (_OM_TYPES if om else _PROM_TYPES).get(value if om else value.rstrip(" \t"))
        if t is None:
            raise _LineError(f"invalid metric type {value!r}", col)
        return name, kw, t
    if kw == "HELP":
        return name, kw, _unescape_help(value, om)
    if value and not name.endswith("_" + value):
        raise _LineError(f"unit {value!r} not a suffix of metric {name!r}", col)
    return name, kw, value


def _unescape(s: str, quote: bool = True) -> str:
    """Undo `\\\\`, `\\n` and (with `quote`) `\\"`; other escapes stay as written.

    Escapes pair up left to right, as `str.split` finds `\\\\`: after that
    split no piece holds two backslashes in a row, so plain replacing is exact
    there. All of it runs in C: linear, whatever the number of escapes.
    """
    if "\\" not in s:
        return s
    parts = s.split("\\\\")
    for i, part in enumerate(parts):
        if "\\" in part:
            if quote:
                part = part.replace('\\"', '"')
            parts[i] = part.replace("\\n", "\n")
    return "\\".join(parts)


def _unescape_help(s: str, om: bool) -> str:
    """HELP text: OpenMetrics unescapes as label values; Prometheus text leaves `\\"`."""
    return _unescape(s, quote=om)


def _scan_quoted(text: str, i: int) -> tuple[str, int]:
    m = _QUOTED_RE.match(text, i)
    if not m:
        raise _LineError("unterminated quoted string", i)
    return _unescape(m.group(1)), m.end()


def _scan_series(text: str, i: int, om: bool) -> tuple[int, str, list[tuple[str, str]]]:
    """Scan `name{labels}` from i; returns (end index, metric name, label pairs)."""
    n = len(text)
    name: str | None = None
    if i < n and text[i] != "{":
        m = _METRIC_NAME_RE.match(text, i)
        if not m:
            raise _LineError("expected metric name", i)
        name = m.group()
        i = m.end()
    pairs: list[tuple[str, str]] = []
    if not om:
        i2 = _WS_RE.match(text, i).end()
        if i2 < n and text[i2] == "{":
            i = i2
    if i < n and text[i] == "{":
        i += 1
        while True:
            if not om:
                i = _WS_RE.match(text, i).end()
            if i >= n:
                raise _LineError("expected label name or '}'", i)
            c = text[i]
            if c == "}":
                i += 1
                break
            if c == '"':
                qstart = i
                q, i = _scan_quoted(text, i)
                if not om:
                    i = _WS_RE.match(text, i).end()
                if i < n and text[i] in ",}":
                    if name is not None:
                        raise _LineError("metric name already set", qstart)
                    name = q
                    i += 1
                    if text[i - 1] == "}":
                        break
                    continue
                lname = q
            else:
                m = _LABEL_NAME_RE.match(text, i)
                if not m:
                    raise _LineError("expected label name", i)
                lname = m.group()
                i = m.end()
            if not om:
                i = _WS_RE.match(text, i).end()
            if i >= n or text[i] != "=":
                raise _LineError("expected '=' after label name", i)
            i += 1
            if not om:
                i = _WS_RE.match(text, i).end()
            if i >= n or text[i] != '"':
                raise _LineError("expected quoted label value", i)
            value, i = _scan_quoted(text, i)
            pairs.append((lname, value))
            if not om:
                i = _WS_RE.match(text, i).end()
            if i < n and text[i] == ",":
                i += 1
                continue
            if i < n and text[i] == "}":
                i += 1
                break
            raise _LineError("expected ',' or '}' after label value", i)
    if name is None:
        raise _LineError("metric name not set", 0)
    if name == "":
        raise _LineError("empty metric name", 0)
    return i, name, pairs


def _parse_value(tok: str, col: int) -> float:
    if "_" in tok or not tok or not tok.isprintable() or " " in tok:
        raise _LineError(f"invalid value {tok!r}", col)
    try:
        v = float(tok)
    except ValueError:
        raise _LineError(f"invalid value {tok!r}", col) from None
    if v != v:
        return float(_NORMAL_NAN)
    if v in (math.inf, -math.inf) and tok.lstrip("+-").lower() not in ("inf", "infinity"):
        raise _LineError(f"value out of range {tok!r}", col)
    return v


def _parse_om_ts(tok: str, col: int) -> int:
    if "_" in tok or not tok or not tok.isprintable() or " " in tok:
        raise _LineError(f"invalid timestamp {tok!r}", col)
    try:
        f = float(tok)
    except ValueError:
        raise _LineError(f"invalid timestamp {tok!r}", col) from None
    if f != f or f in (float("inf"), float("-inf")) or abs(f) >= 9.2e15:
        raise _LineError(f"invalid timestamp {tok!r}", col)
    return int(np.rint(f * 1000.0))


def _scan_exemplar(text: str, i: int) -> None:
    n = len(text)
    if i >= n or text[i] != "{":
        raise _LineError("expected '{' to start the exemplar", i)
    i += 1
    size = 0
    while True:
        if i >= n:
            raise _LineError("unterminated exemplar labels", i)
        if text[i] == "}":
            i += 1
            break
        m = _LABEL_NAME_RE.match(text, i)
        if not m:
            raise _LineError("expected exemplar label name", i)
        i = m.end()
        if i >= n or text[i] != "=":
            raise _LineError("expected '=' in exemplar", i)
        value, i = _scan_quoted(text, i + 1)
        size += len(m.group()) + len(value)
        if i < n and text[i] == ",":
            i += 1
        elif i >= n or text[i] != "}":
            raise _LineError("expected ',' or '}' in exemplar", i)
    if size > 128:
        raise _LineError("exemplar labels exceed 128 characters", i)
    if i >= n or text[i] != " ":
        raise _LineError("expected exemplar value", i)
    i += 1
    j = text.find(" ", i)
    if j < 0:
        j = n
    _parse_value(text[i:j], i)
    if j < n:
        i = j + 1
        k = text.find(" ", i)
        if k >= 0:
            raise _LineError("unexpected text after exemplar timestamp", k)
        _parse_om_ts(text[i:], i)


def _rest_ok(rest: bytes, om: bool, need_ts: bool = False, max_rest: int | None = None) -> bool:
    """Strict check of a bulk-path `VALUE[ TS]` text (`need_ts`: TS required)."""
    if max_rest is not None and len(rest) > max_rest:
        return False
    parts = rest.split(b" ")
    if not 1 <= len(parts) <= 2:
        return False
    v = parts[0]
    if not v or b"_" in v or v.strip() != v or b"{" in v:
        return False
    try:
        f = float(v)
    except ValueError:
        return False
    if f in (math.inf, -math.inf) and v.lstrip(b"+-").lower() not in _INF_WORDS:
        return False
    if len(parts) == 2:
        t = parts[1]
        if not t or t.strip() != t:
            return False
        if om:
            if b"_" in t:
                return False
            try:
                f = float(t)
            except ValueError:
                return False
            return f == f and abs(f) < 9.2e15
        return _INT_RE.match(t) is not None
    return not need_ts


def looks_like_openmetrics(head: bytes) -> bool:
    """True when the start of a text shows OpenMetrics-only features.

    `# EOF`, `# UNIT`, an OpenMetrics-only type, or a fractional sample
    timestamp (seconds) in `head`; False does not prove Prometheus text.
    """
    return _guess_openmetrics(head)


def _guess_openmetrics(head: bytes) -> bool:
    """Format guess from the start of a long stream (see :class:`ExpositionParser`).

    OpenMetrics when the head holds `# EOF`, `# UNIT`, an OpenMetrics-only type
    or a sample timestamp with a fraction or exponent (OpenMetrics seconds);
    Prometheus text otherwise (integer millisecond timestamps, or none).
    """
    if b"# EOF" in head or b"\n# UNIT " in head or head.startswith(b"# UNIT "):
        return True
    for t in (b"info", b"stateset", b"gaugehistogram", b"unknown"):
        if re.search(rb"^# TYPE \S+ " + t + rb"$", head, re.M):
            return True
    for line in head.split(b"\n", 200)[:200]:
        if not line or line.startswith(b"#"):
            continue
        parts = line.rsplit(b"}", 1)[-1].split()
        if len(parts) >= 3 or (len(parts) == 2 and b"{" in line):
            tok = parts[-1].lstrip(b"+-")
            return not tok.isdigit() and (b"." in tok or b"e" in tok.lower())
    return False
