"""Panel drawing: every kind fills exactly its box; gaps stay blank; thresholds colour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.tui.plot import (
    KINDS,
    PlotSeries,
    chart_rows,
    render_panel,
    threshold_level,
)

H = 3_600_000


def text(rows) -> list[str]:
    return ["".join(t for t, _ in r) for r in rows]


def series(n: int = 121, gap: slice | None = None) -> list[PlotSeries]:
    t = np.linspace(0, H, n).astype(np.int64)
    v = 50 + 40 * np.sin(np.arange(n) / 10)
    if gap is not None:
        keep = np.ones(n, bool)
        keep[gap] = False
        t, v = t[keep], v[keep]
    return [PlotSeries("a", t, v, 0), PlotSeries("b", t, v / 2, 1)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("w", "h"), [(38, 3), (38, 10), (116, 12), (8, 1), (1, 1)])
def test_every_kind_fills_its_box(kind: str, w: int, h: int) -> None:
    """Whatever the size, a panel body is h rows of exactly w cells."""
    rows = render_panel(kind, series(), 0, H, 30_000, w, h, unit="percent")
    assert len(rows) == h
    assert all(sum(len(t) for t, _ in r) == w for r in rows)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=40),
    st.sampled_from(KINDS),
    st.integers(1, 60),
    st.integers(1, 12),
)
def test_any_values_draw_without_error(values: list[float], kind: str, w: int, h: int) -> None:
    """NaN, infinities, empty series and tiny boxes never break a panel."""
    t = np.arange(len(values), dtype=np.int64) * 60_000
    s = [PlotSeries("x", t, np.array(values, dtype=np.float64), 0, {"le": "+Inf"})]
    rows = render_panel(kind, s, 0, 40 * 60_000, 60_000, w, h)
    assert len(rows) == h and all(sum(len(x) for x, _ in r) == w for r in rows)


def test_line_chart_leaves_gaps_blank() -> None:
    """Missing samples are not bridged by a line."""
    full = text(chart_rows(series()[:1], 0, H, 30_000, 60, 8, x_axis=False))
    gapped = text(chart_rows(series(gap=slice(40, 80))[:1], 0, H, 30_000, 60, 8, x_axis=False))
    axis = 5
    col = axis + 30  # the middle of the plot, inside the gap
    assert any(r[col] != " " for r in full)
    assert all(r[col] == " " for r in gapped)


def test_axis_labels_and_local_time() -> None:
    """The y axis names the range with units; the x axis the window's times."""
    rows = text(chart_rows(series(), 0, H, 30_000, 60, 8, unit="percent"))
    assert rows[0].startswith("100%┤")
    assert rows[-2].lstrip().startswith("0%┤")
    assert "00:00" in rows[-1] and "01:00" in rows[-1]


def test_styles_name_series_and_levels() -> None:
    """Series draw in their own style; gauges take the threshold level's style."""
    rows = render_panel("line", series(), 0, H, 30_000, 60, 8)
    styles = {s for r in rows for _, s in r}
    assert {"series-0", "series-1", "axis"} <= styles
    s = [PlotSeries("disk", np.array([0]), np.array([0.93]), 0)]
    rows = render_panel(
        "gauge",
        s,
        0,
        H,
        1,
        40,
        1,
        unit="percentunit",
        thresholds=((0.8, "warning"), (0.9, "critical")),
    )
    assert ("93%" in text(rows)[0]) and any(style == "critical" for _, style in rows[0])


def test_threshold_levels() -> None:
    """The highest threshold at or below the value wins; ok below all."""
    th = ((0.7, "warning"), (0.9, "critical"))
    assert threshold_level(0.5, th) == "ok"
    assert threshold_level(0.7, th) == "warning"
    assert threshold_level(0.95, th) == "critical"
    assert threshold_level(math.nan, th) is None
    assert threshold_level(0.5, ()) is None


def test_stacked_area_tops_at_the_sum() -> None:
    """A stacked area's axis covers the sum of its series."""
    rows = text(render_panel("area", series(), 0, H, 30_000, 60, 10, unit="none"))
    assert rows[0].lstrip().startswith("150┤")


def test_heatmap_rows_are_buckets() -> None:
    """A heatmap has one row per `le` bucket, largest on top, and shades where counts are."""
    t = np.arange(0, H, 60_000)
    bs = [
        PlotSeries(le, t, np.full(len(t), c), i, {"le": le})
        for i, (le, c) in enumerate((("0.1", 5.0), ("1", 9.0), ("+Inf", 10.0)))
    ]
    rows = text(render_panel("heatmap", bs, 0, H, 60_000, 40, 3))
    assert rows[0].lstrip().startswith("+Inf") and rows[2].lstrip().startswith("0.1")
    assert "█" in rows[2] and "░" in rows[0]


def test_stat_table_and_messages() -> None:
    """Stat shows the last value; table lists series; empty data says so."""
    assert "28.5" in "".join(text(render_panel("stat", series()[:1], 0, H, 1, 30, 3)))
    table = text(render_panel("table", series(), 0, H, 1, 50, 3))
    assert table[0].split() == ["series", "last", "min", "max"]
    assert "no data" in "".join(text(render_panel("line", [], 0, H, 1, 40, 5)))
    with pytest.raises(ValueError, match="unknown panel kind"):
        render_panel("pie", [], 0, H, 1, 10, 2)


def test_event_markers_on_the_time_axis() -> None:
    """Alert firings and resolutions are marked where they happened, in their level's style."""
    rows = render_panel(
        "line",
        series(),
        0,
        H,
        30_000,
        60,
        8,
        events=[(H // 2, "fired"), (H, "resolved"), (2 * H, "fired")],
    )
    axis = rows[-2]  # the last row is the legend
    text_ = "".join(t for t, _ in axis)
    assert text_.count("▲") == 1 and text_.count("△") == 1
    styles = {t: s for t, s in axis}
    assert styles.get("▲") == "critical" and styles.get("△") == "ok"
    middle = text_.index("▲")
    assert abs(middle - (5 + 55 // 2)) <= 2


@pytest.mark.parametrize(
    ("peak", "unit"), [(1.0, "bytes/s"), (999_999.0, "bytes/s"), (3.34, "none")]
)
@pytest.mark.parametrize("height", [4, 8, 12])
def test_y_axis_labels_are_whole_and_distinct(peak: float, unit: str, height: int) -> None:
    """Tick labels are never cut (the gutter fits the widest) and never repeat; small
    values get decimals (0.5 B/s between 0 and 1 B/s)."""
    t = np.linspace(0, H, 61).astype(np.int64)
    s = [PlotSeries("x", t, peak * (0.5 + 0.5 * np.sin(np.arange(61) / 5)), 0)]
    rows = text(chart_rows(s, 0, H, 60_000, 38, height, unit=unit))
    labels = [r.split("┤")[0].strip() for r in rows if "┤" in r]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    assert not any("…" in r.split("┤")[0] for r in rows if "┤" in r)
    if peak == 1.0:
        assert labels[0] == "1.0 B/s" and labels[-1] == "0 B/s" and "0.5 B/s" in labels
    if peak == 999_999.0:
        assert labels[0] == "1000 KiB/s"
