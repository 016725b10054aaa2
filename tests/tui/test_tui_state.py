"""Time window, completion context and query history: pure state, no UI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nightowl.tui.complete import Context, candidates, completion_context
from nightowl.tui.history import MAX_ENTRIES, QueryHistory
from nightowl.tui.timewindow import PRESETS, TimeWindow, nice_step

NOW = 1_768_446_000_000
HOUR = 3_600_000


def test_live_window_ends_at_now_rounded_to_the_step() -> None:
    """Live bounds move only when a new step starts (no repaint in between)."""
    w = TimeWindow(range_ms=HOUR, points=120)
    start, end, step = w.bounds(NOW + 7_000)
    assert step == 30_000 and end == NOW and start == NOW - HOUR
    assert w.bounds(NOW + 29_999) == (start, end, step)
    assert w.bounds(NOW + 30_000)[1] == NOW + 30_000


def test_presets_zoom_pan_freeze() -> None:
    """The keys' arithmetic: presets keep the mode, zoom keeps the centre, pan freezes."""
    w = TimeWindow()
    assert [ms for _, ms in PRESETS] == [300_000, HOUR, 6 * HOUR, 24 * HOUR, 7 * 24 * HOUR]
    assert w.preset(300_000).range_ms == 300_000 and w.preset(300_000).live
    assert w.zoom(0.5, NOW).range_ms == HOUR // 2 and w.zoom(0.5, NOW).live
    back = w.pan(-0.25, NOW)
    assert not back.live and back.end_ms == NOW - HOUR // 4
    z = back.zoom(2, NOW)
    centre = NOW - HOUR // 4 - HOUR // 2
    assert z.range_ms == 2 * HOUR and z.end_ms == min(centre + HOUR, NOW)
    assert back.pan(0.5, NOW).live
    frozen = w.freeze(NOW)
    assert frozen.end_ms == w.bounds(NOW)[1] and frozen.go_live().live
    assert w.zoom(0.0001, NOW).range_ms == 60_000
    assert w.label() == "1h live" and frozen.label() == "1h frozen"


@given(st.integers(1, 400 * 24 * HOUR), st.integers(1, 2000))
def test_step_is_round_and_bounded(range_ms: int, points: int) -> None:
    """Steps come from a short list of round values and never exceed the point budget much."""
    step = nice_step(range_ms, points, 1_000)
    assert step >= 1_000
    if step < 86_400_000:
        assert range_ms / step <= points


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        ("rate(http_req", Context("name", "http_req")),
        ("up{jo", Context("label", "jo", "up")),
        ('up{job="ap', Context("value", "ap", "up", "job")),
        ('up{job=~"a', Context("value", "a", "up", "job")),
        ('up{job="a",', Context("label", "", "up")),
        ('{job="a", inst', Context("label", "inst", "")),
        ("sum by (ins", Context("label", "ins")),
        ("x + ", Context("none")),
        ('label_replace(up, "a', Context("none")),
        ('up{job="a"} + no', Context("name", "no")),
    ],
)
def test_completion_context(text: str, ctx: Context) -> None:
    """What is being typed at the end of the query."""
    assert completion_context(text) == ctx


@given(st.text(max_size=60))
def test_completion_context_never_fails(text: str) -> None:
    """Any text classifies without raising."""
    assert completion_context(text).kind in ("name", "label", "value", "none")


def test_candidates() -> None:
    """Functions, keywords and metrics complete names; __name__ is not offered as a label."""
    got = candidates(Context("name", "ra"), metrics=["rabbit_up"], functions=["rate", "rad"])
    assert got == ["rad", "rate", "rabbit_up"]
    assert candidates(Context("label", ""), labels=["__name__", "job"]) == ["job"]
    assert candidates(Context("value", "/h"), values=["/", "/home"]) == ["/home"]
    assert candidates(Context("none"), metrics=["x"]) == []


def test_history_persists_dedupes_and_searches(tmp_path: Path) -> None:
    """History survives restarts, keeps one copy of each query, and searches backwards."""
    path = tmp_path / "data" / "history.jsonl"
    h = QueryHistory(path)
    for q in ("up", "rate(x[5m])", "up", "  ", "sum(rate(x[5m]))"):
        h.add(q)
    assert h.entries == ["rate(x[5m])", "up", "sum(rate(x[5m]))"]
    again = QueryHistory(path)
    assert again.entries == h.entries
    assert again.search("RATE") == 2 and again.search("rate", before=2) == 0
    assert again.search("nothing") is None
    assert again.older(None) == 2 and again.older(0) == 0 and again.newer(2) is None


def test_history_skips_bad_lines_and_caps(tmp_path: Path) -> None:
    """A damaged history file loses only its bad lines; the list is capped."""
    path = tmp_path / "h.jsonl"
    path.write_text('"ok"\nnot json\n42\n"also ok"\n')
    assert QueryHistory(path).entries == ["ok", "also ok"]
    h = QueryHistory(path)
    for i in range(MAX_ENTRIES + 5):
        h.add(f"q{i}")
    assert len(h.entries) == MAX_ENTRIES
    assert len(path.read_text().splitlines()) <= 2 * MAX_ENTRIES
    assert json.loads(path.read_text().splitlines()[-1]) == f"q{MAX_ENTRIES + 4}"
    assert QueryHistory(path).entries == h.entries


def test_history_size_is_configurable(tmp_path: Path) -> None:
    """`[tui] history_size` caps the list."""
    h = QueryHistory(tmp_path / "h.jsonl", max_entries=2)
    for q in ("a", "b", "c", "b", "d", "e"):
        h.add(q)
    assert h.entries == ["d", "e"]
    assert QueryHistory(tmp_path / "h.jsonl", max_entries=2).entries == ["d", "e"]
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) <= 4


def test_history_unwritable_is_not_fatal(tmp_path: Path) -> None:
    """If the history cannot be saved, the UI keeps it in memory and says why."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    h = QueryHistory(blocker / "sub" / "h.jsonl")
    h.add("up")
    assert h.entries == ["up"] and h.error and "not saved" in h.error


def test_alert_events_from_alerts_series() -> None:
    """Runs of firing steps become fired/resolved events; edges of the window are not events."""
    import numpy as np
    from nightowl.query.values import Matrix, QueryResult, RangeSeries
    from nightowl.tui.results import alert_events

    from nightowl.model import Labels

    step = 60_000
    t = np.array([10, 11, 12, 20, 21, 59, 60], dtype=np.int64) * step
    m = Matrix([RangeSeries(Labels.of("ALERTS", alertname="X"), t, np.ones(len(t)))])
    got = alert_events(QueryResult(m), 0, 60 * step, step)
    assert got == [
        (10 * step, "fired"),
        (13 * step, "resolved"),
        (20 * step, "fired"),
        (22 * step, "resolved"),
        (59 * step, "fired"),
    ]
