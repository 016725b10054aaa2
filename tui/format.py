"""Human formatting of metric values and times for the terminal UI.

Pure functions, no Textual: panels, tables, axes and the stat/gauge widgets all
format through :func:`format_value` so a unit reads the same everywhere. Units
follow the names Grafana users know:

========== ====================================== ==============
unit       meaning of the raw value               example
========== ====================================== ==============
bytes      a byte count (binary prefixes)         ``1.5 GiB``
bytes/s    bytes per second                       ``12.0 MiB/s``
seconds    a duration in seconds                  ``2h 5m``
bits/s     bits per second (SI prefixes)          ``12.5 Mb/s``
seconds    a duration in seconds                  ``350 ms``
ms         a duration in milliseconds             ``1.5 s``
percent    already 0..100                         ``42.0%``
percentunit 0..1, shown as a percentage (`ratio`) ``42.0%``
ops/s      operations (events) per second         ``1.2k ops/s``
reqps      requests per second                    ``1.2k req/s``
celsius    degrees Celsius                        ``41.5 °C``
short      a plain number with SI prefixes        ``3.4M``
none       the number as it is                    ``0.25``
========== ====================================== ==============
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

__all__ = [
    "RATIO_UNITS",
    "UNITS",
    "axis_labels",
    "axis_scale",
    "axis_ticks",
    "format_age",
    "format_clock",
    "format_number",
    "format_value",
    "nice_range",
]

UNITS = (
    "bytes",
    "bytes/s",
    "bits/s",
    "seconds",
    "ms",
    "percent",
    "percentunit",
    "ratio",
    "ops/s",
    "reqps",
    "short",
    "celsius",
    "none",
    "",
)
#: Units whose values are fractions of one (drawn on a 0..1 axis, shown as %).
RATIO_UNITS = ("percentunit", "ratio")

_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _trim(text: str) -> str:
    """Drop a trailing `.0` so `3.0` reads `3`."""
    return text[:-2] if text.endswith(".0") else text


def _one_decimal(v: float) -> str:
    """`42.1`, or SI prefixes once one decimal would be absurdly long."""
    return format_number(v) if abs(v) >= 1e6 else _trim(f"{v:.1f}")


def format_number(v: float, digits: int = 3) -> str:
    """A plain number with SI prefixes and about `digits` significant digits.

    >>> format_number(1234567)
    '1.23M'
    >>> format_number(0.25)
    '0.25'
    """
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    a = abs(v)
    if a >= 1e18:
        return f"{v:.{max(digits - 1, 0)}e}"
    for size, prefix in _SI:
        if a >= size:
            return _sig(v / size, digits) + prefix
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{v:.{max(digits - 1, 0)}e}"
    return _sig(v, digits)


def _sig(v: float, digits: int) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a < 1e-3 or a >= 1e15:
        return f"{v:.{max(digits - 1, 0)}e}"
    int_digits = math.floor(math.log10(a)) + 1
    decimals = max(digits - int_digits, 0)
    text = f"{v:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _bytes(v: float) -> str:
    a = abs(v)
    if a >= 1024.0 ** len(_IEC):
        return f"{v:.3g} B"
    i = 0
    while a >= 1024 and i < len(_IEC) - 1:
        a /= 1024
        i += 1
    sign = "-" if v < 0 else ""
    if i == 0:
        return f"{sign}{a:.0f} B"
    return f"{sign}{_trim(f'{a:.1f}')} {_IEC[i]}"


def _seconds(v: float) -> str:
    a = abs(v)
    sign = "-" if v < 0 else ""
    if a == 0:
        return "0 s"
    if a < 1e-6:
        return f"{sign}{_sig(a * 1e9, 3)} ns"
    if a < 1e-3:
        return f"{sign}{_sig(a * 1e6, 3)} µs"
    if a < 1:
        return f"{sign}{_sig(a * 1e3, 3)} ms"
    if a < 60:
        return f"{sign}{_sig(a, 3)} s"
    if a >= 1000 * 365 * 86400:  # beyond a millennium, days stop helping
        return f"{sign}{format_number(a / (365 * 86400))} y"
    total = round(a)
    parts = []
    for size, name in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if total >= size:
            n, total = divmod(total, size)
            parts.append(f"{n}{name}")
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def format_value(v: float, unit: str = "none") -> str:
    """Format `v` in `unit` (one of :data:`UNITS`; unknown units format as `none`
    followed by the unit's name).

    >>> format_value(1536, "bytes")
    '1.5 KiB'
    >>> format_value(0.4213, "ratio")
    '42.1%'
    >>> format_value(90061, "seconds")
    '1d 1h'
    """
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if unit == "bytes":
        return _bytes(v)
    if unit == "bytes/s":
        return _bytes(v) + "/s"
    if unit == "bits/s":
        return f"{format_number(v)}b/s"
    if unit == "seconds":
        return _seconds(v)
    if unit == "ms":
        return _seconds(v / 1000)
    if unit == "percent":
        return f"{_one_decimal(v)}%"
    if unit in RATIO_UNITS:
        return f"{_one_decimal(v * 100)}%"
    if unit == "ops/s":
        return f"{format_number(v)} ops/s"
    if unit == "reqps":
        return f"{format_number(v)} req/s"
    if unit == "celsius":
        return f"{_one_decimal(v)} °C"
    if unit in ("short", "none", ""):
        return format_number(v)
    return f"{format_number(v)} {unit}"


def nice_range(lo: float, hi: float, unit: str = "none") -> tuple[float, float]:
    """Widen [lo, hi] to a range an axis can label: zero-based for non-negative data,
    0..100 for percentages that fit, never empty."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if max(abs(lo), abs(hi)) > 1e300:  # no room to round outwards
        return min(lo, 0.0), max(hi, lo + 1.0)
    if lo > hi:
        lo, hi = hi, lo
    if unit == "percent" and lo >= 0 and hi <= 100:
        return 0.0, 100.0
    if unit in RATIO_UNITS and lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0:
        lo = 0.0
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    step = _nice_step((hi - lo) / 4)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    exp = math.floor(math.log10(raw))
    frac = raw / 10**exp
    for nice in (1, 2, 2.5, 5, 10):
        if frac <= nice:
            return nice * 10**exp
    return 10.0 ** (exp + 1)


#: Units whose axes step in powers of 1024 (``512 KiB/s``, ``1 MiB/s``), not 1000.
_BINARY_UNITS = ("bytes", "bytes/s")


def _step_125(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is at least `raw` (> 0)."""
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for nice in (1, 2, 5):
        if raw <= nice * base * (1 + 1e-9):
            return nice * base
    return 10 * base


def _axis_step(raw: float, unit: str) -> float:
    """A 1-2-5 step at least `raw`; for byte units 1-2-5 x 1024^k (up to 500, then
    the next binary prefix), so steps read ``200 KiB`` rather than ``195.3 KiB``."""
    if unit in _BINARY_UNITS and raw >= 1:
        i = min(int(math.log(raw, 1024)), len(_IEC) - 1)
        scale = 1024.0**i
        nice = _step_125(raw / scale)
        if nice >= 1000 and i < len(_IEC) - 1:
            return scale * 1024
        return nice * scale
    return _step_125(raw)


def axis_scale(
    lo: float, hi: float, unit: str = "none", intervals: int = 4
) -> tuple[float, float, float]:
    """Bounds and tick step for an axis over data in [lo, hi] with about
    `intervals` intervals: the step is on a 1-2-5 ladder (binary for byte units),
    the bounds are multiples of it, zero-based for non-negative data, and 0..100 %
    for percentages that fit. Returns (lo, hi, step); hi > lo always.

    >>> axis_scale(0, 0.9, "bytes/s", 2)
    (0.0, 1.0, 0.5)
    >>> axis_scale(0, 800_000, "bytes/s", 2)
    (0.0, 1024000.0, 512000.0)
    """
    intervals = max(intervals, 1)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0, 1.0 / intervals
    if lo > hi:
        lo, hi = hi, lo
    if max(abs(lo), abs(hi)) > 1e300:  # no room to round outwards
        lo, hi = min(lo, 0.0), max(hi, lo + 1.0)
        return lo, hi, (hi - lo) / intervals
    if unit == "percent" and lo >= 0 and hi <= 100:
        return 0.0, 100.0, 50.0 if intervals < 4 else 25.0
    if unit in RATIO_UNITS and lo >= 0 and hi <= 1:
        return 0.0, 1.0, 0.5 if intervals < 4 else 0.25
    if lo >= 0:
        lo = 0.0
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / intervals
    if raw < 1e-300:  # below float resolution: no ladder to speak of
        return lo, hi, hi - lo
    step = _axis_step(raw, unit)
    lo2, hi2 = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if hi2 <= lo2:
        hi2 = lo2 + step
    return float(lo2), float(hi2), float(step)


def _decimals(x: float) -> int:
    """Decimals needed to write multiples of `x` exactly (at most 6)."""
    for d in range(7):
        if abs(round(x, d) - x) <= abs(x) * 1e-6:
            return d
    return 6


def axis_labels(ticks: Sequence[float], step: float, unit: str = "none") -> list[str]:
    """Labels for axis ticks `step` apart, all with one prefix and as many decimals
    as the step needs, so neighbouring ticks never read the same (``0.5 B/s``, not
    ``0 B/s`` twice).

    >>> axis_labels([0, 0.5, 1], 0.5, "bytes/s")
    ['0 B/s', '0.5 B/s', '1.0 B/s']
    >>> axis_labels([0, 524288, 1048576], 524288, "bytes")
    ['0 B', '512 KiB', '1024 KiB']
    """
    ticks = [t + 0.0 for t in ticks]  # no "-0"
    if not ticks:
        return []
    if not (step > 0 and math.isfinite(step)) or max(abs(t) for t in ticks) > 1e300:
        return [format_value(t, unit) for t in ticks]
    if unit in _BINARY_UNITS:
        suffix = "/s" if unit == "bytes/s" else ""
        if step < 1e-3:
            return _exp_labels(ticks, step, 1.0, " B" + suffix)
        if step < 1:
            d = _decimals(step)
            return ["0 B" + suffix if t == 0 else f"{t:.{d}f} B{suffix}" for t in ticks]
        i = min(int(math.log(step, 1024) + 1e-9), len(_IEC) - 1)
        scale = 1024.0**i
        d = _decimals(step / scale)
        return ["0 B" + suffix if t == 0 else f"{t / scale:.{d}f} {_IEC[i]}{suffix}" for t in ticks]
    if unit in ("seconds", "ms"):
        return [format_value(t, unit) for t in ticks]
    factor, after = 1.0, ""
    if unit == "percent":
        after = "%"
    elif unit in RATIO_UNITS:
        factor, after = 100.0, "%"
    elif unit == "celsius":
        after = " °C"
    elif unit == "bits/s":
        after = "b/s"
    elif unit == "ops/s":
        after = " ops/s"
    elif unit == "reqps":
        after = " req/s"
    elif unit not in ("short", "none", ""):
        after = f" {unit}"
    biggest = max(abs(t) for t in ticks) * factor
    scale, prefix = 1.0, ""
    for size, name in _SI:
        if biggest >= size and biggest < 1e18:
            scale, prefix = size, name
            break
    scaled_step = step * factor / scale
    if scaled_step < 1e-3 or biggest >= 1e15:
        return _exp_labels(ticks, step, factor, after)
    d = _decimals(scaled_step)
    return [f"0{after}" if t == 0 else f"{t * factor / scale:.{d}f}{prefix}{after}" for t in ticks]


def _exp_labels(ticks: Sequence[float], step: float, factor: float, after: str) -> list[str]:
    """Scientific notation with as many digits as tell ticks `step` apart."""
    biggest = max(abs(t) for t in ticks) * factor
    digits = max(math.ceil(math.log10(max(biggest / (step * factor), 1.0))) + 1, 2)
    return [f"{t * factor:.{min(digits, 16)}e}{after}" if t else f"0{after}" for t in ticks]


def axis_ticks(lo: float, hi: float, count: int) -> list[float]:
    """`count` evenly spaced tick values from `lo` to `hi` inclusive (count >= 2)."""
    count = max(count, 2)
    return [lo + (hi - lo) * i / (count - 1) for i in range(count)]


def format_clock(t_ms: int, span_ms: int) -> str:
    """A local-time axis label for `t_ms`, as precise as a span of `span_ms` needs."""
    dt = datetime.fromtimestamp(t_ms / 1000).astimezone()
    if span_ms <= 10 * 60_000:
        return dt.strftime("%H:%M:%S")
    if span_ms <= 36 * 3_600_000:
        return dt.strftime("%H:%M")
    return dt.strftime("%a %H:%M")


def format_age(ms: int | None) -> str:
    """How long ago, compactly: `3s`, `4m 10s`, `never` for None."""
    if ms is None:
        return "never"
    if ms < 0:
        ms = 0
    if ms < 1000:
        return f"{ms} ms"
    return _seconds(ms / 1000)
