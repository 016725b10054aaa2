"""Unit formatting: pure functions, checked by example and by property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.tui.format import (
    UNITS,
    axis_ticks,
    format_age,
    format_clock,
    format_number,
    format_value,
    nice_range,
)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0, "bytes", "0 B"),
        (1023, "bytes", "1023 B"),
        (1536, "bytes", "1.5 KiB"),
        (8 * 2**30, "bytes", "8 GiB"),
        (-2048, "bytes", "-2 KiB"),
        (3.2 * 2**20, "bytes/s", "3.2 MiB/s"),
        (12.5e6, "bits/s", "12.5Mb/s"),
        (0.00035, "seconds", "350 µs"),
        (0.35, "seconds", "350 ms"),
        (2.5, "seconds", "2.5 s"),
        (90061, "seconds", "1d 1h"),
        (3723, "seconds", "1h 2m"),
        (1500, "ms", "1.5 s"),
        (42.04, "percent", "42%"),
        (42.15, "percent", "42.1%"),
        (0.4213, "percentunit", "42.1%"),
        (0.4213, "ratio", "42.1%"),
        (1234, "ops/s", "1.23k ops/s"),
        (1234, "reqps", "1.23k req/s"),
        (41.5, "celsius", "41.5 °C"),
        (3_400_000, "short", "3.4M"),
        (0.25, "none", "0.25"),
        (0.25, "", "0.25"),
        (7, "widgets", "7 widgets"),
        (math.nan, "bytes", "NaN"),
        (math.inf, "seconds", "+Inf"),
        (-math.inf, "none", "-Inf"),
    ],
)
def test_format_value_examples(value: float, unit: str, text: str) -> None:
    """Each unit reads the way an operator expects."""
    assert format_value(value, unit) == text


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(UNITS))
def test_format_value_never_fails_and_stays_short(value: float, unit: str) -> None:
    """Any float in any unit formats to a short string without raising."""
    text = format_value(value, unit)
    assert text and len(text) <= 24


@given(st.floats(min_value=-1e12, max_value=1e12), st.floats(min_value=-1e12, max_value=1e12))
def test_nice_range_contains_the_data(a: float, b: float) -> None:
    """The axis range covers the data and is never empty."""
    lo, hi = nice_range(a, b)
    assert lo <= min(a, b) + 1e-6 * max(1, abs(min(a, b)))
    assert hi >= max(a, b) - 1e-6 * max(1, abs(max(a, b)))
    assert hi > lo


def test_nice_range_units() -> None:
    """Percentages and ratios get a full 0..100 % axis; positive data starts at zero."""
    assert nice_range(3, 40, "percent") == (0.0, 100.0)
    assert nice_range(0.1, 0.3, "percentunit") == (0.0, 1.0)
    lo, hi = nice_range(5, 5)
    assert lo == 0 and hi >= 5
    assert nice_range(math.nan, 1) == (0.0, 1.0)


def test_number_and_ticks() -> None:
    """SI prefixes and evenly spaced ticks."""
    assert format_number(1234567) == "1.23M"
    assert format_number(0) == "0"
    assert format_number(0.0001234) == "1.23e-04"
    assert axis_ticks(0, 10, 3) == [0, 5, 10]


def test_clock_and_age(monkeypatch: pytest.MonkeyPatch) -> None:
    """Axis times are local; precision follows the span; ages are compact."""
    t = 1_768_446_000_000  # 03:00:00 UTC
    assert format_clock(t, 5 * 60_000) == "03:00:00"
    assert format_clock(t, 3_600_000) == "03:00"
    assert format_clock(t, 7 * 86_400_000) == "Thu 03:00"
    assert format_age(None) == "never"
    assert format_age(250) == "250 ms"
    assert format_age(3_000) == "3 s"
    assert format_age(250_000) == "4m 10s"


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    n = round((hi - lo) / step)
    return [lo + k * step for k in range(n + 1)]


def test_axis_ticks_for_small_and_binary_values() -> None:
    """Values of about 1 B/s tick 0, 0.5, 1 B/s (not 0, 0, 1); bytes step on a binary
    1-2-5 ladder (512 KiB, not 488.3 KiB), SI units on a decimal one."""
    from nightowl.tui.format import axis_labels, axis_scale

    lo, hi, step = axis_scale(0, 0.9, "bytes/s", 2)
    assert axis_labels(_ticks(lo, hi, step), step, "bytes/s") == ["0 B/s", "0.5 B/s", "1.0 B/s"]
    lo, hi, step = axis_scale(0, 1_000_000, "bytes/s", 4)
    assert axis_labels(_ticks(lo, hi, step), step, "bytes/s") == [
        "0 B/s",
        "500 KiB/s",
        "1000 KiB/s",
    ]
    lo, hi, step = axis_scale(0, 3_000_000, "bytes", 4)
    assert axis_labels(_ticks(lo, hi, step), step, "bytes") == ["0 B", "1 MiB", "2 MiB", "3 MiB"]
    lo, hi, step = axis_scale(0, 3.3, "none", 4)
    assert axis_labels(_ticks(lo, hi, step), step, "none") == ["0", "1", "2", "3", "4"]
    lo, hi, step = axis_scale(0, 0.0123, "seconds", 2)
    assert axis_labels(_ticks(lo, hi, step), step, "seconds") == ["0 s", "10 ms", "20 ms"]
    assert axis_scale(3, 40, "percent", 2) == (0.0, 100.0, 50.0)


UNIT_LIST = [
    "bytes",
    "bytes/s",
    "bits/s",
    "percent",
    "percentunit",
    "ops/s",
    "short",
    "none",
    "celsius",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.just(0.0), st.floats(-1e12, -1e-12), st.floats(1e-12, 1e12)),
    st.one_of(st.just(0.0), st.floats(1e-12, 1e12)),  # no subnormal spreads
    st.sampled_from(UNIT_LIST),
    st.integers(1, 4),
)
def test_axis_ticks_are_nice_and_distinct(base: float, spread: float, unit: str, n: int) -> None:
    """Whatever the data, the axis covers it, the step is 1, 2 or 5 times a power of ten
    (of 1024 for bytes), and no two tick labels read the same."""
    from nightowl.tui.format import axis_labels, axis_scale

    lo, hi, step = axis_scale(base, base + spread, unit, n)
    assert lo <= min(base, 0 if base >= 0 else base) + 1e-9 * max(abs(base), 1)
    assert hi >= base + spread - 1e-9 * max(abs(base + spread), 1)
    ticks = _ticks(lo, hi, step)
    assert 2 <= len(ticks) <= n + 3
    labels = axis_labels(ticks, step, unit)
    assert len(set(labels)) == len(labels), labels
    if unit in ("bytes", "bytes/s") and step >= 1:
        step /= 1024 ** math.floor(math.log(step, 1024) + 1e-9)
    scaled = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert any(math.isclose(scaled, m) for m in (1, 2, 2.5, 5, 10)), (step, scaled)
