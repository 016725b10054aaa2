"""The time window every panel shows: presets, zoom, pan, live vs frozen.

Pure and immutable: key bindings replace the app's window with a new one.
In live mode the window's end follows the clock, rounded down to the step,
so charts only move when a new step begins (a repaint costs bytes over SSH).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nightowl.timeutil import format_duration

__all__ = ["PRESETS", "TimeWindow", "nice_step"]

#: (key label, range in ms) in the order of the number keys 1..5.
PRESETS: tuple[tuple[str, int], ...] = (
    ("5m", 5 * 60_000),
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 24 * 3_600_000),
)
_MIN_RANGE = 60_000
_MAX_RANGE = 400 * 24 * 3_600_000
_STEPS = (
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    2 * 3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
)


def nice_step(range_ms: int, points: int, min_step_ms: int = 1_000) -> int:
    """The smallest round step giving at most `points` points over `range_ms`."""
    raw = max(range_ms / max(points, 1), min_step_ms)
    for step in _STEPS:
        if step >= raw:
            return step
    return _STEPS[-1]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """`range_ms` wide, ending now (live, `end_ms` None) or at `end_ms` (frozen)."""

    range_ms: int = 3_600_000
    end_ms: int | None = None
    points: int = 120
    """How many points a chart asks for (about twice its width in cells)."""
    min_step_ms: int = 5_000

    @property
    def live(self) -> bool:
        """True when the window follows the clock."""
        return self.end_ms is None

    @property
    def step_ms(self) -> int:
        """The query step for this window."""
        return nice_step(self.range_ms, self.points, self.min_step_ms)

    def bounds(self, now_ms: int) -> tuple[int, int, int]:
        """(start, end, step) in ms; live windows end at `now_ms` rounded down to the step."""
        step = self.step_ms
        end = (now_ms // step) * step if self.end_ms is None else self.end_ms
        return end - self.range_ms, end, step

    def preset(self, range_ms: int) -> TimeWindow:
        """The same end (or live) with another width."""
        return replace(self, range_ms=range_ms)

    def zoom(self, factor: float, now_ms: int) -> TimeWindow:
        """Narrow (factor < 1) or widen the window around its centre; live stays live."""
        new = int(min(max(self.range_ms * factor, _MIN_RANGE), _MAX_RANGE))
        if self.live:
            return replace(self, range_ms=new)
        start, end, _ = self.bounds(now_ms)
        centre = (start + end) // 2
        return replace(self, range_ms=new, end_ms=min(centre + new // 2, now_ms))

    def pan(self, fraction: float, now_ms: int) -> TimeWindow:
        """Move by `fraction` of the width (negative: back in time). Panning back
        freezes the window; panning forward past now goes live again."""
        _, end, _ = self.bounds(now_ms)
        new_end = end + int(self.range_ms * fraction)
        if new_end >= now_ms:
            return replace(self, end_ms=None)
        return replace(self, end_ms=new_end)

    def freeze(self, now_ms: int) -> TimeWindow:
        """Stop following the clock at the current end."""
        return self if not self.live else replace(self, end_ms=self.bounds(now_ms)[1])

    def go_live(self) -> TimeWindow:
        """Follow the clock again."""
        return replace(self, end_ms=None)

    def with_points(self, points: int) -> TimeWindow:
        """The same window asking for `points` points per chart."""
        return replace(self, points=max(points, 10))

    def label(self) -> str:
        """`1h live` or `1h frozen`."""
        return f"{format_duration(self.range_ms)} {'live' if self.live else 'frozen'}"
