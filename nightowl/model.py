"""The small typed values that travel between nightowl's layers.

Scrapers build :class:`SampleBatch` es, the store keeps :class:`Labels` and
samples, the query engine selects with :class:`Matcher` s, and the status
records (targets, ...) are read by the HTTP API and the TUI. This module is a
leaf: everything may import it and it imports nothing of nightowl but errors.

Samples are (int64 Unix milliseconds, float64). A float64 may be any value,
NaN payloads included; Prometheus's *staleness marker* is one particular NaN
bit pattern (:data:`STALE_NAN_BITS`) that must be kept distinct from an
ordinary NaN, so compare with :func:`is_stale`, never with ``==``.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "METRIC_NAME",
    "NORMAL_NAN_BITS",
    "STALE_NAN",
    "STALE_NAN_BITS",
    "Labels",
    "MatchOp",
    "Matcher",
    "MetricMeta",
    "MetricType",
    "Sample",
    "SampleBatch",
    "TargetHealth",
    "TargetStatus",
    "go_quote",
    "is_stale",
    "stale_mask",
]

METRIC_NAME = "__name__"

#: Prometheus's staleness marker: value.StaleNaN = 0x7ff0000000000002.
STALE_NAN_BITS = 0x7FF0000000000002
#: Prometheus's ordinary NaN (math.NaN() in Go) = 0x7ff8000000000001.
NORMAL_NAN_BITS = 0x7FF8000000000001
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale(value: float) -> bool:
    """True if `value` is exactly the staleness marker's bit pattern."""
    return value != value and struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)


def stale_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the staleness markers in a float64 array."""
    return np.asarray(values, dtype=np.float64).view(np.uint64) == np.uint64(STALE_NAN_BITS)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def go_quote(text: str) -> str:
    """`text` in double quotes as Go's `strconv.Quote` (`%q`) writes it.

    Prometheus quotes label values, parameters and names this way in its error
    messages and in `labels.String()`, so nightowl's messages match them. Bytes
    that were not UTF-8 (decoded with `surrogateescape`) come out as `\\xNN`.

    >>> go_quote('a"b\\n')
    '"a\\\\"b\\\\n"'
    """
    out = ['"']
    for ch in text:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o > 0x7F and not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Labels(tuple[tuple[str, str], ...]):
    """An immutable, sorted set of (name, value) pairs identifying one series.

    The metric name is the label `__name__`. Labels with empty values are
    dropped, as in Prometheus. Instances are hashable and compare by content,
    so they can key dicts.

    >>> Labels.of("up", job="api")
    Labels('up{job="api"}')
    """

    __slots__ = ()

    def __new__(cls, pairs: Iterable[tuple[str, str]] = ()) -> Labels:
        return super().__new__(cls, sorted((k, v) for k, v in pairs if v != ""))

    @classmethod
    def of(cls, name: str | None = None, /, **labels: str) -> Labels:
        """Build labels from a metric name and keyword labels."""
        pairs = list(labels.items())
        if name is not None:
            pairs.append((METRIC_NAME, name))
        return cls(pairs)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, str]) -> Labels:
        """Build labels from a mapping of name to value."""
        return cls(mapping.items())

    @property
    def name(self) -> str:
        """The metric name (`__name__`), or "" when there is none."""
        return self.get(METRIC_NAME)

    def get(self, name: str, default: str = "") -> str:
        """The value of label `name`, or `default` when absent."""
        for k, v in self:
            if k == name:
                return v
        return default

    def to_dict(self) -> dict[str, str]:
        """The labels as a plain dict."""
        return dict(self)

    def without(self, *names: str) -> Labels:
        """A copy without the named labels."""
        drop = set(names)
        return Labels(p for p in self if p[0] not in drop)

    def without_name(self) -> Labels:
        """A copy without `__name__`."""
        return self.without(METRIC_NAME)

    def keep(self, *names: str) -> Labels:
        """A copy holding only the named labels."""
        keep = set(names)
        return Labels(p for p in self if p[0] in keep)

    def with_(self, **labels: str) -> Labels:
        """A copy with labels set (an empty value removes the label)."""
        d = dict(self)
        d.update(labels)
        return Labels(d.items())

    def __str__(self) -> str:
        name = self.name
        inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in self if k != METRIC_NAME)
        if not inner:
            return name or "{}"
        return f"{name}{{{inner}}}"

    def __repr__(self) -> str:
        return f"Labels({str(self)!r})"


class MatchOp(enum.StrEnum):
    """The four label matcher operators."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, as in `{job=~"api|web"}`.

    Regexes are fully anchored, as in Prometheus (`=~"a.*"` does not match `ba`),
    and compiled at construction, so a bad pattern raises `re.error` there.
    A missing label has the value "", so `{foo=""}` matches series without `foo`.
    """

    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.op, MatchOp):
            object.__setattr__(self, "op", MatchOp(self.op))
        if self.op in (MatchOp.RE, MatchOp.NRE) and self.regex is None:
            object.__setattr__(self, "regex", re.compile(f"(?s:{self.value})"))

    def matches(self, value: str) -> bool:
        """True if a label value (use "" for a missing label) satisfies this matcher."""
        if self.op is MatchOp.EQ:
            return value == self.value
        if self.op is MatchOp.NE:
            return value != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(value) is not None
        return hit if self.op is MatchOp.RE else not hit

    def matches_empty(self) -> bool:
        """True if a series *without* this label would match."""
        return self.matches("")

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


class MetricType(enum.StrEnum):
    """Metric types of the Prometheus and OpenMetrics text formats."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    GAUGE_HISTOGRAM = "gaugehistogram"
    SUMMARY = "summary"
    INFO = "info"
    STATESET = "stateset"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MetricMeta:
    """Metadata of one metric family (by its family name)."""

    type: MetricType = MetricType.UNKNOWN
    help: str = ""
    unit: str = ""


class Sample(NamedTuple):
    """One sample of one series."""

    labels: Labels
    t: int
    """Unix milliseconds."""
    v: float


@dataclass(slots=True)
class SampleBatch:
    """Samples handed to the store in one piece (one transaction).

    Columnar, so that a large import does not build one object per sample:
    `refs[i]` indexes `series` for sample i, whose time is `timestamps[i]`
    (int64 Unix ms) and value `values[i]` (float64). `metadata` maps metric
    family names to their metadata.

    >>> b = SampleBatch.from_samples([Sample(Labels.of("up"), 1000, 1.0)])
    >>> len(b)
    1
    """

    series: list[Labels]
    refs: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    metadata: dict[str, MetricMeta] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refs = np.asarray(self.refs, dtype=np.int64)
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if not (len(self.refs) == len(self.timestamps) == len(self.values)):
            raise ValueError("refs, timestamps and values must have the same length")

    @classmethod
    def empty(cls) -> SampleBatch:
        """A batch with no samples."""
        return cls([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def from_samples(
        cls, samples: Iterable[Sample], metadata: dict[str, MetricMeta] | None = None
    ) -> SampleBatch:
        """Build a batch from individual samples (fine for scrapes; imports go columnar)."""
        index: dict[Labels, int] = {}
        series: list[Labels] = []
        refs: list[int] = []
        ts: list[int] = []
        vs: list[float] = []
        for labels, t, v in samples:
            ref = index.get(labels)
            if ref is None:
                ref = index[labels] = len(series)
                series.append(labels)
            refs.append(ref)
            ts.append(t)
            vs.append(v)
        return cls(
            series,
            np.array(refs, np.int64),
            np.array(ts, np.int64),
            np.array(vs, np.float64),
            dict(metadata or {}),
        )

    def __len__(self) -> int:
        return len(self.refs)

    def __iter__(self) -> Iterator[Sample]:
        series = self.series
        for r, t, v in zip(
            self.refs.tolist(), self.timestamps.tolist(), self.values.tolist(), strict=True
        ):
            yield Sample(series[r], t, v)


class TargetHealth(enum.StrEnum):
    """A scrape target's health, as Prometheus's `/api/v1/targets` reports it."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """What the targets view and `/api/v1/targets` show about one scrape target."""

    job: str
    url: str
    labels: Labels
    discovered_labels: Labels
    health: TargetHealth
    last_scrape_ms: int | None
    last_duration_s: float
    last_error: str
    scrape_interval_ms: int
    scrape_timeout_ms: int
    scrape_pool: str = ""
