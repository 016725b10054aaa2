"""Tests for nightowl.timeutil: Prometheus durations, sizes and times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nightowl.errors import UserError
from nightowl.timeutil import format_duration, parse_duration, parse_size, parse_time


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15s", 15_000),
        ("1h30m", 5_400_000),
        ("2d", 172_800_000),
        ("500ms", 500),
        ("0", 0),
        ("1y", 31_536_000_000),
        ("1w2d", 777_600_000),
        ("1m1ms", 60_001),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    """Prometheus duration syntax."""
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "15", "s", "1.5h", "30m1h", "1h1h", "-5s", "5 s", "1hx"])
def test_parse_duration_rejects(text: str) -> None:
    """Malformed durations raise a user error that quotes the text."""
    with pytest.raises(UserError):
        parse_duration(text)


@given(st.integers(0, 10**13))
def test_duration_roundtrip(ms: int) -> None:
    """format_duration's output parses back to the same milliseconds."""
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize(
    ("text", "n"), [("512MiB", 512 * 2**20), ("1GB", 10**9), ("1024", 1024), ("2 KiB", 2048)]
)
def test_parse_size(text: str, n: int) -> None:
    """Byte sizes with SI and binary units."""
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "12XB", "MiB", "-1MiB"])
def test_parse_size_rejects(text: str) -> None:
    """Malformed sizes raise a user error."""
    with pytest.raises(UserError):
        parse_size(text)


def test_parse_time_forms() -> None:
    """RFC 3339, Unix seconds and now-relative times."""
    assert parse_time("1700000000") == 1_700_000_000_000
    assert parse_time("1700000000.5") == 1_700_000_000_500
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000_000
    assert parse_time("now-1h", now=10_000_000) == 10_000_000 - 3_600_000
    assert parse_time("now", now=5) == 5
    with pytest.raises(UserError):
        parse_time("yesterday")
