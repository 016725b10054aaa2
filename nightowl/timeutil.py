"""Durations, sizes and timestamps, the way Prometheus users write them.

All times inside nightowl are int milliseconds since the Unix epoch; all
durations are int milliseconds. This module is a leaf: it imports nothing of
nightowl but the error family.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Protocol

from nightowl.errors import UserError

__all__ = [
    "Clock",
    "SystemClock",
    "format_duration",
    "format_size",
    "now_ms",
    "parse_duration",
    "parse_size",
    "parse_time",
]

_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
_UNIT_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_DURATION_RE = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse_duration(text: str) -> int:
    """Parse a Prometheus duration (`15s`, `1h30m`, `2d`, `500ms`) into milliseconds.

    Units must appear from largest to smallest, each at most once, as Prometheus
    requires. `0` alone is accepted. Raises :class:`UserError` naming the text.

    >>> parse_duration("1h30m")
    5400000
    """
    if not isinstance(text, str):
        raise UserError(f"duration must be a string such as '15s', not {text!r}")
    s = text.strip()
    if s == "0":
        return 0
    if not s:
        raise UserError("empty duration; use Prometheus syntax such as '15s' or '1h30m'")
    pos = 0
    total = 0
    last_rank = -1
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        unit = m.group(2)
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise UserError(
                f"invalid duration {text!r}: units must go from largest to smallest, once each"
            )
        last_rank = rank
        total += int(m.group(1)) * _UNIT_MS[unit]
        pos = m.end()
    if pos != len(s) or last_rank < 0:
        raise UserError(
            f"invalid duration {text!r}; use Prometheus syntax such as '15s', '1h30m' or '2d'"
        )
    return total


def format_duration(ms: int) -> str:
    """Format milliseconds the way Prometheus prints durations (`1h30m`, `15s`, `0s`)."""
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    parts = []
    for unit in _UNIT_ORDER:
        size = _UNIT_MS[unit]
        if ms >= size:
            n, ms = divmod(ms, size)
            parts.append(f"{n}{unit}")
    return sign + "".join(parts)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]i?B|B)?\s*$")
_SIZE_MULT = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "PB": 1000**5,
    "EB": 1000**6,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "PiB": 1024**5,
    "EiB": 1024**6,
}


def parse_size(text: str | int) -> int:
    """Parse a byte size (`512MiB`, `10GB`, `1024`) into bytes.

    >>> parse_size("512MiB")
    536870912
    """
    if isinstance(text, bool):
        raise UserError(f"size must be a string such as '512MiB', not {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise UserError(f"size must not be negative, got {text}")
        return text
    if not isinstance(text, str):
        raise UserError(f"size must be a string such as '512MiB', not {text!r}")
    m = _SIZE_RE.match(text)
    if not m:
        raise UserError(f"invalid size {text!r}; use a number with B, KB, MB, GB, KiB, MiB, GiB...")
    return int(float(m.group(1)) * _SIZE_MULT[m.group(2)])


def format_size(n: float) -> str:
    """Format a byte count with binary units (`1.5 MiB`)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def now_ms() -> int:
    """The current wall-clock time in Unix milliseconds."""
    return time.time_ns() // 1_000_000


_REL_RE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$")


def parse_time(text: str, *, now: int | None = None) -> int:
    """Parse a time as RFC 3339, Unix seconds (fractional allowed) or `now[-+]duration`.

    Returns Unix milliseconds. This is what `--time`, `--start` and `--end`
    accept, and what Prometheus's HTTP API accepts (plus the relative form).
    """
    s = text.strip()
    m = _REL_RE.match(s)
    if m:
        base = now_ms() if now is None else now
        if m.group(1) is None:
            return base
        d = parse_duration(m.group(2))
        return base - d if m.group(1) == "-" else base + d
    try:
        f = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(f):
            raise UserError(f"invalid time {text!r}: not a finite number")
        return round(f * 1000)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UserError(
            f"invalid time {text!r}; use RFC 3339 (2024-01-02T15:04:05Z), Unix seconds, or now-1h"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


class Clock(Protocol):
    """Something that tells the time in Unix milliseconds; tests pass a fake one."""

    def now_ms(self) -> int:
        """The current time in Unix milliseconds."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        """The current time in Unix milliseconds."""
        return now_ms()
