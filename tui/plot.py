"""Drawing panels as rows of styled text, without Textual.

Every panel kind (line, stacked area, bar, sparkline, stat, gauge, table,
heatmap) is a pure function from series arrays and a size to a list of rows;
a row is a list of ``(text, style_key)`` segments whose lengths add up to the
width exactly. Style keys (``series-0`` .. ``series-7``, ``axis``, ``muted``,
``ok``, ``info``, ``warning``, ``critical``, ``value``, ``event``) are mapped to
theme colours by the widget (`tui.widgets.panel`), so this module has no
colours at all and its output is easy to test.

Charts use braille cells (2x4 dots per character): four times the vertical
and twice the horizontal resolution of block characters, and far fewer bytes
than a plotext canvas. Missing data stays blank: two points are joined only
when they are at most ``gap_factor`` steps apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from nightowl.tui.format import (
    RATIO_UNITS,
    axis_labels,
    axis_scale,
    format_clock,
    format_number,
    format_value,
    nice_range,
)

from nightowl.model import stale_mask

__all__ = [
    "EVENT_MARKS",
    "KINDS",
    "QUERY_EVENT_MARK",
    "SERIES_STYLES",
    "PlotSeries",
    "Row",
    "bar_rows",
    "chart_rows",
    "event_names",
    "heatmap_rows",
    "legend_rows",
    "render_panel",
    "sparkline_rows",
    "stat_rows",
    "table_rows",
    "threshold_level",
]

KINDS = ("line", "area", "bar", "sparkline", "stat", "gauge", "table", "heatmap")
SERIES_STYLES = 8

Segment = tuple[str, str | None]
Row = list[Segment]


def _extend(row: Row, text: str, style: str | None) -> None:
    """Append `text` to `row`, merging it into the last segment when the style is the same."""
    if row and row[-1][1] == style:
        row[-1] = (row[-1][0] + text, style)
    else:
        row.append((text, style))


_BRAILLE = 0x2800
# dot bits by (column within the cell, row within the cell from the top)
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_SPARK = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_SHADES = " ░▒▓█"


@dataclass(slots=True)
class PlotSeries:
    """One series to draw: a legend name and sorted times (ms) with values."""

    name: str
    t: np.ndarray
    v: np.ndarray
    style: int = 0
    """Index of the `series-N` colour (mod :data:`SERIES_STYLES`)."""
    labels: dict[str, str] = field(default_factory=dict)

    def finite(self) -> tuple[np.ndarray, np.ndarray]:
        """Times and values without NaN, infinities and staleness markers."""
        v = np.asarray(self.v, dtype=np.float64)
        keep = np.isfinite(v) & ~stale_mask(v)
        return np.asarray(self.t)[keep], v[keep]

    def last(self) -> float:
        """The newest finite value, or NaN."""
        _, v = self.finite()
        return float(v[-1]) if len(v) else math.nan


def _fit(text: str, width: int, align: str = "<") -> str:
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: max(width - 1, 0)] + "…" if width > 1 else text[:width]
    return f"{text:{align}{width}}"


def _row_len(row: Row) -> int:
    return sum(len(t) for t, _ in row)


def _pad(row: Row, width: int) -> Row:
    n = _row_len(row)
    if n < width:
        row.append((" " * (width - n), None))
    elif n > width:
        out: Row = []
        left = width
        for text, style in row:
            if left <= 0:
                break
            out.append((text[:left], style))
            left -= len(text[:left])
        row = out
    return row


def _frac(v: np.ndarray | np.float64, lo: float, hi: float) -> np.ndarray:
    """Where `v` sits between lo and hi (0..1), scaled first so that even a range
    spanning the whole float64 axis does not overflow."""
    if not hi > lo:
        return np.zeros_like(v, dtype=np.float64)
    s = max(abs(lo), abs(hi), 1.0)
    return (v / s - lo / s) / (hi / s - lo / s)


def blank_rows(width: int, height: int, message: str = "") -> list[Row]:
    """`height` empty rows, with `message` centred in the middle one."""
    rows: list[Row] = [[(" " * width, None)] for _ in range(height)]
    if message and height > 0:
        rows[height // 2] = [(_fit(message, width, "^"), "muted")]
    return rows


def threshold_level(value: float, thresholds: Sequence[tuple[float, str]]) -> str | None:
    """The level ("ok", "info", "warning", "critical") of the highest threshold at or
    below `value`; "ok" below all of them; None without thresholds or value."""
    if not thresholds or not math.isfinite(value):
        return None
    level = "ok"
    for bound, name in sorted(thresholds):
        if value >= bound:
            level = name
    return level


def _data_range(series: Sequence[PlotSeries], stacked: bool) -> tuple[float, float]:
    """The smallest and largest finite values drawn (stacked: of the running sums);
    (0, 1) without data."""
    if stacked:
        _t_all, m = _aligned(series)
        vals = np.nancumsum(np.where(np.isnan(m), 0.0, m), axis=0) if m.size else m
        finite = vals[np.isfinite(vals)] if vals.size else vals
    else:
        parts = [s.finite()[1] for s in series]
        finite = np.concatenate(parts) if parts else np.empty(0)
    if not finite.size:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def _y_ticks(
    series: Sequence[PlotSeries], unit: str, stacked: bool, plot_h: int
) -> tuple[float, float, dict[int, str]]:
    """The y axis: its bounds and the labels by row (0 = top), at 1-2-5 steps,
    each on its own row, top and bottom always labelled."""
    intervals = 1 if plot_h < 3 else max(2, min(4, (plot_h - 1) // 2))
    lo, hi, step = axis_scale(*_data_range(series, stacked), unit, intervals)
    n = round((hi - lo) / step) if step > 0 and math.isfinite(step) else 1
    if not 1 <= n <= 64:
        n, step = 1, hi - lo
    ticks = [hi, lo] + [lo + k * step for k in range(1, n)]
    labels = axis_labels(ticks, step, unit)
    rows: dict[int, str] = {}
    for t, label in zip(ticks, labels, strict=True):
        r = plot_h - 1 - int(np.rint(_frac(np.float64(t), lo, hi) * (plot_h - 1)))
        if r not in rows:
            rows[r] = label
    return lo, hi, rows


def _aligned(series: Sequence[PlotSeries]) -> tuple[np.ndarray, np.ndarray]:
    """Union of times and a (series x times) matrix with NaN where a series has no point."""
    finite = [s.finite() for s in series]
    if not finite or not any(len(t) for t, _ in finite):
        return np.empty(0, np.int64), np.empty((len(series), 0))
    t_all = np.unique(np.concatenate([t for t, _ in finite]))
    m = np.full((len(series), len(t_all)), np.nan)
    for i, (t, v) in enumerate(finite):
        m[i, np.searchsorted(t_all, t)] = v
    return t_all, m


class _Canvas:
    """A braille canvas of `cols` x `rows` cells; the last series drawn owns a cell."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.w, self.h = cols * 2, rows * 4
        self.mask = [[0] * cols for _ in range(rows)]
        self.owner = [[-1] * cols for _ in range(rows)]

    def dot(self, x: int, y: int, style: int) -> None:
        """Set dot (x, y), y counted from the bottom."""
        if 0 <= x < self.w and 0 <= y < self.h:
            yt = self.h - 1 - y
            r, c = yt // 4, x // 2
            self.mask[r][c] |= _DOT[x % 2][yt % 4]
            self.owner[r][c] = style

    def line(self, x0: int, y0: int, x1: int, y1: int, style: int) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, style)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def vfill(self, x: int, y0: int, y1: int, style: int) -> None:
        for y in range(min(y0, y1), max(y0, y1) + 1):
            self.dot(x, y, style)

    def row(self, r: int) -> Row:
        out: Row = []
        for c in range(self.cols):
            m = self.mask[r][c]
            style = f"series-{self.owner[r][c] % SERIES_STYLES}" if m else None
            _extend(out, chr(_BRAILLE + m) if m else " ", style)
        return out


def chart_rows(
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    width: int,
    height: int,
    *,
    unit: str = "none",
    stacked: bool = False,
    x_axis: bool = True,
    gap_factor: float = 2.5,
    events: Sequence[tuple[int, str]] = (),
) -> list[Row]:
    """A line chart (or stacked area) with a y axis on the left and local times below.

    `events` are (time ms, kind) markers drawn on the time axis where they happened:
    kind "fired" is drawn as a red ▲, "resolved" as a green △ (see :data:`EVENT_MARKS`),
    "event:NAME" (a configured event query) as a ◆ in the theme's event colour.
    """
    if width < 8 or height < 1:
        return blank_rows(max(width, 0), max(height, 0))
    x_axis = x_axis and height >= 3
    plot_h = height - (1 if x_axis else 0)
    lo, hi, tick_rows = _y_ticks(series, unit, stacked, plot_h)
    axis_w = max(len(s) for s in tick_rows.values()) + 1
    if width - axis_w < 4:  # no room for whole labels: an unlabelled axis, never a cut one
        axis_w, tick_rows = 1, {}
    plot_w = width - axis_w
    canvas = _Canvas(plot_w, plot_h)
    span = max(end_ms - start_ms, 1)
    gap = max(step_ms, 1) * gap_factor

    def px(t: np.ndarray) -> np.ndarray:
        return np.rint((t - start_ms) / span * (canvas.w - 1)).astype(np.int64)

    def py(v: np.ndarray) -> np.ndarray:
        return np.rint(_frac(np.clip(v, lo, hi), lo, hi) * (canvas.h - 1)).astype(np.int64)

    if stacked:
        t_all, m = _aligned(series)
        if t_all.size:
            base = np.zeros(len(t_all))
            xs = px(t_all)
            for i, s in enumerate(series):
                row_v = m[i]
                top = base + np.where(np.isnan(row_v), 0.0, row_v)
                yb, yt = py(base), py(top)
                for j in range(len(t_all)):
                    if np.isnan(row_v[j]):
                        continue
                    x_end = xs[j]
                    if j + 1 < len(t_all) and t_all[j + 1] - t_all[j] <= gap:
                        x_end = xs[j + 1] - 1
                    for x in range(xs[j], max(x_end, xs[j]) + 1):
                        canvas.vfill(
                            int(x),
                            int(yb[j]) + (1 if i and yb[j] < yt[j] else 0),
                            int(yt[j]),
                            s.style,
                        )
                base = top
    else:
        for s in series:
            t, v = s.finite()
            if not len(t):
                continue
            inside = (t >= start_ms - gap) & (t <= end_ms + gap)
            t, v = t[inside], v[inside]
            xs, ys = px(t).tolist(), py(v).tolist()
            tl = t.tolist()
            for j in range(len(xs)):
                if j and tl[j] - tl[j - 1] <= gap:
                    canvas.line(xs[j - 1], ys[j - 1], xs[j], ys[j], s.style)
                else:
                    canvas.dot(xs[j], ys[j], s.style)

    rows: list[Row] = []
    for r in range(plot_h):
        label = tick_rows.get(r, "")
        rows.append(
            [(_fit(label, axis_w - 1, ">") + "┤" if label else " " * (axis_w - 1) + "│", "axis")]
        )
        rows[-1].extend(canvas.row(r))
    if x_axis:
        rows.append(_x_axis(start_ms, end_ms, axis_w, plot_w, events))
    return [_pad(r, width) for r in rows]


#: How event kinds are drawn on a chart's time axis: (mark, style key). Events of
#: configured queries (kind ``event:NAME``) are drawn as :data:`QUERY_EVENT_MARK`.
EVENT_MARKS = {"fired": ("▲", "critical"), "resolved": ("△", "ok")}
QUERY_EVENT_MARK = ("◆", "event")
_EVENT_PREFIX = "event:"


def _event_mark(kind: str) -> tuple[str, str] | None:
    if kind.startswith(_EVENT_PREFIX):
        return QUERY_EVENT_MARK
    return EVENT_MARKS.get(kind)


def event_names(events: Sequence[tuple[int, str]], start_ms: int, end_ms: int) -> list[str]:
    """Names of the configured event queries with an event inside [start, end], in
    order of first appearance (for the legend's `◆ deploys` note)."""
    out: list[str] = []
    for t, kind in events:
        if kind.startswith(_EVENT_PREFIX) and start_ms <= t <= end_ms:
            name = kind[len(_EVENT_PREFIX) :]
            if name not in out:
                out.append(name)
    return out


def _x_axis(
    start_ms: int, end_ms: int, axis_w: int, plot_w: int, events: Sequence[tuple[int, str]] = ()
) -> Row:
    span = end_ms - start_ms
    left = format_clock(start_ms, span)
    right = format_clock(end_ms, span)
    line = [" "] * plot_w
    styles: list[str | None] = ["axis"] * plot_w
    placed = [(0, left), (plot_w - len(right), right)]
    if plot_w >= 3 * len(left) + 6:
        mid = format_clock(start_ms + span // 2, span)
        placed.append(((plot_w - len(mid)) // 2, mid))
    marks: dict[int, tuple[str, str]] = {}
    for t, kind in events:
        mark = _event_mark(kind)
        if mark is None or not start_ms <= t <= end_ms or span <= 0:
            continue
        marks[round((t - start_ms) / span * (plot_w * 2 - 1)) // 2] = mark
    for pos, text in placed:
        if pos < 0 or any(pos <= x < pos + len(text) for x in marks):
            continue  # a mark on a time label hides the label: never a garbled time
        for i, ch in enumerate(text):
            if pos + i < plot_w:
                line[pos + i] = ch
    for x, (ch, style) in marks.items():
        line[x], styles[x] = ch, style
    row: Row = [(" " * (axis_w - 1) + "└", "axis")]
    for ch, style in zip(line, styles, strict=True):
        _extend(row, ch, style)
    return row


def legend_rows(
    series: Sequence[PlotSeries],
    width: int,
    max_rows: int,
    unit: str,
    events: Sequence[str] = (),
) -> list[Row]:
    """A `◆ name` note for each event query in `events` marked on the chart, then
    coloured `■ name value` items, packed into at most `max_rows` rows."""
    rows: list[Row] = []
    if max_rows <= 0 or width <= 0:
        return rows
    row: Row = []
    used = 0
    # event notes first: a long legend must not push them out of sight
    items = [(QUERY_EVENT_MARK[0] + " ", QUERY_EVENT_MARK[1], name) for name in events]
    items += [
        ("■ ", f"series-{s.style % SERIES_STYLES}", f"{s.name} {format_value(s.last(), unit)}")
        for s in series
    ]
    for mark, mark_style, item in items:
        need = len(item) + 2 + (2 if row else 0)
        if row and used + need > width:
            rows.append(row)
            if len(rows) >= max_rows:
                break
            row, used, need = [], 0, len(item) + 2
        if row:
            row.append(("  ", None))
        row.append((mark, mark_style))
        avail = max(width - used - 2 - (2 if len(row) > 1 else 0), 1)
        row.append((item if len(item) <= avail else _fit(item, avail), None))
        used += need
    if row and len(rows) < max_rows:
        rows.append(row)
    return [_pad(r, width) for r in rows]


def _resample(t: np.ndarray, v: np.ndarray, start_ms: int, end_ms: int, n: int) -> np.ndarray:
    """The last value in each of `n` equal time buckets (NaN where empty)."""
    out = np.full(n, np.nan)
    if not len(t) or n <= 0:
        return out
    idx = np.clip(((t - start_ms) / max(end_ms - start_ms, 1) * n).astype(np.int64), 0, n - 1)
    out[idx] = v  # later points overwrite earlier ones in the same bucket
    return out


def _spark(values: np.ndarray, lo: float, hi: float) -> str:
    chars = []
    for x in values.tolist():
        if math.isnan(x):
            chars.append(" ")
        else:
            f = float(_frac(np.float64(x), lo, hi))
            chars.append(_SPARK[min(int(f * (len(_SPARK) - 1) + 0.5), len(_SPARK) - 1)])
    return "".join(chars)


def sparkline_rows(
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    width: int,
    height: int,
    *,
    unit: str = "none",
    thresholds: Sequence[tuple[float, str]] = (),
) -> list[Row]:
    """One row per series: name, a sparkline over the window, the latest value."""
    if not series:
        return blank_rows(width, height, "no data")
    name_w = min(max(len(s.name) for s in series), max(width // 4, 1))
    val_w = 10
    spark_w = max(width - name_w - val_w - 2, 1)
    rows: list[Row] = []
    for s in list(series)[:height]:
        t, v = s.finite()
        b = _resample(t, v, start_ms, end_ms, spark_w)
        fin = v if len(v) else np.zeros(1)
        lo, hi = float(fin.min()), float(fin.max())
        if lo >= 0 and unit in ("percent", *RATIO_UNITS):
            lo, hi = nice_range(lo, hi, unit)
        last = s.last()
        level = threshold_level(last, thresholds)
        rows.append(
            [
                (_fit(s.name, name_w), None),
                (" ", None),
                (_spark(b, lo, hi), f"series-{s.style % SERIES_STYLES}"),
                (" ", None),
                (_fit(format_value(last, unit), val_w, ">"), level or "value"),
            ]
        )
    while len(rows) < height:
        rows.append([])
    return [_pad(r, width) for r in rows]


def _bar(fraction: float, width: int) -> str:
    fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    return text.ljust(width)


def bar_rows(
    series: Sequence[PlotSeries],
    width: int,
    height: int,
    *,
    unit: str = "none",
    thresholds: Sequence[tuple[float, str]] = (),
    max_value: float | None = None,
) -> list[Row]:
    """Horizontal bars of each series' latest value: name, bar, value.

    With `max_value` (gauges) bars are relative to it; otherwise to the largest value.
    """
    if not series:
        return blank_rows(width, height, "no data")
    lasts = [s.last() for s in series]
    finite = [x for x in lasts if math.isfinite(x)]
    top = max_value
    if top is None:
        top = max(finite) if finite else 1.0
        if unit in RATIO_UNITS and top <= 1:
            top = 1.0
        elif unit == "percent" and top <= 100:
            top = 100.0
    name_w = min(max(len(s.name) for s in series), max(width // 3, 1))
    val_w = 10
    bar_w = max(width - name_w - val_w - 2, 1)
    shown = list(zip(series, lasts, strict=True))[:height]
    # few series get thicker bars (a gauge with one value fills its panel)
    thick = max(1, min(3, height // max(len(shown), 1)))
    rows: list[Row] = []
    for s, last in shown:
        level = threshold_level(last, thresholds)
        style = level or f"series-{s.style % SERIES_STYLES}"
        bar = _bar(last / top if top else 0.0, bar_w)
        for k in range(thick):
            middle = k == thick // 2
            rows.append(
                [
                    (_fit(s.name if middle else "", name_w), None),
                    (" ", None),
                    (bar, style),
                    (" ", None),
                    (
                        _fit(format_value(last, unit) if middle else "", val_w, ">"),
                        level or "value",
                    ),
                ]
            )
    top_pad = (height - len(rows)) // 2 if thick > 1 else 0
    rows = [[] for _ in range(top_pad)] + rows
    while len(rows) < height:
        rows.append([])
    return [_pad(r, width) for r in rows]


def stat_rows(
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    width: int,
    height: int,
    *,
    unit: str = "none",
    thresholds: Sequence[tuple[float, str]] = (),
) -> list[Row]:
    """The latest value of the first series, centred and coloured by threshold,
    over a sparkline of its history when there is room."""
    if not series:
        return blank_rows(width, height, "no data")
    s = series[0]
    last = s.last()
    level = threshold_level(last, thresholds)
    text = format_value(last, unit)
    if len(series) > 1:
        text += f"  (+{len(series) - 1} more)"
    rows = blank_rows(width, height)
    spark_h = 1 if height >= 3 else 0
    mid = max((height - spark_h - 1) // 2, 0)
    rows[mid] = [(_fit(text, width, "^"), level or "value")]
    if spark_h:
        t, v = s.finite()
        b = _resample(t, v, start_ms, end_ms, width)
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        rows[height - 1] = [(_spark(b, lo, hi), level or f"series-{s.style % SERIES_STYLES}")]
    return [_pad(r, width) for r in rows]


def table_rows(
    series: Sequence[PlotSeries], width: int, height: int, *, unit: str = "none"
) -> list[Row]:
    """A table of series: name, last, min, max over the window."""
    if not series:
        return blank_rows(width, height, "no data")
    val_w = 11
    name_w = max(width - 3 * val_w, 4)
    head = (
        _fit("series", name_w)
        + _fit("last", val_w, ">")
        + _fit("min", val_w, ">")
        + _fit("max", val_w, ">")
    )
    rows: list[Row] = [[(head, "axis")]]
    for s in list(series)[: max(height - 1, 0)]:
        _, v = s.finite()
        mn = float(v.min()) if len(v) else math.nan
        mx = float(v.max()) if len(v) else math.nan
        rows.append(
            [
                (_fit(s.name, name_w), f"series-{s.style % SERIES_STYLES}"),
                (_fit(format_value(s.last(), unit), val_w, ">"), "value"),
                (_fit(format_value(mn, unit), val_w, ">"), None),
                (_fit(format_value(mx, unit), val_w, ">"), None),
            ]
        )
    while len(rows) < height:
        rows.append([])
    return [_pad(r, width) for r in rows[:height]]


def heatmap_rows(
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    width: int,
    height: int,
) -> list[Row]:
    """A heatmap of histogram buckets over time.

    `series` are cumulative bucket series (an `le` label each, e.g.
    `sum by (le) (rate(x_bucket[5m]))`); each row is one bucket (largest at the
    top) showing its own share (the difference to the next smaller bucket), each
    column a time bucket, shaded by count relative to the window's maximum.
    """
    buckets = []
    for s in series:
        le = s.labels.get("le")
        if le is None:
            continue
        try:
            bound = float(le)
        except ValueError:
            continue
        buckets.append((bound, s))
    if not buckets:
        return blank_rows(width, height, "heatmap needs series with an `le` label")
    buckets.sort(key=lambda b: b[0])
    label_w = 7
    cols = max(width - label_w - 1, 1)
    cum = np.vstack([_resample(*s.finite(), start_ms, end_ms, cols) for _, s in buckets])
    diff = np.diff(np.vstack([np.zeros((1, cols)), cum]), axis=0)
    diff = np.where(np.isnan(diff), np.nan, np.maximum(diff, 0.0))
    # merge buckets when there are more than rows
    n = len(buckets)
    groups = [
        list(range(n))[i * n // height : (i + 1) * n // height] for i in range(min(height, n))
    ]
    groups = [g for g in groups if g]
    peak = np.nanmax(diff) if np.isfinite(diff).any() else 0.0
    rows: list[Row] = []
    for g in reversed(groups):
        vals = np.nansum(diff[g], axis=0)
        allnan = np.all(np.isnan(diff[g]), axis=0)
        chars = []
        for x, empty in zip(vals.tolist(), allnan.tolist(), strict=True):
            if empty or peak <= 0:
                chars.append(" ")
            else:
                f = x / peak
                chars.append(_SHADES[min(math.ceil(f * (len(_SHADES) - 1)), len(_SHADES) - 1)])
        bound = buckets[g[-1]][0]
        label = "+Inf" if math.isinf(bound) else format_number(bound)
        rows.append([(_fit(label, label_w, ">") + " ", "axis"), ("".join(chars), "series-0")])
    while len(rows) < height:
        rows.append([])
    return [_pad(r, width) for r in rows]


def render_panel(
    kind: str,
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    width: int,
    height: int,
    *,
    unit: str = "none",
    thresholds: Sequence[tuple[float, str]] = (),
    legend: bool = True,
    max_value: float | None = None,
    events: Sequence[tuple[int, str]] = (),
) -> list[Row]:
    """Draw one panel body of `kind` (one of :data:`KINDS`) in exactly width x height;
    line and area charts mark `events` on their time axis."""
    if width <= 0 or height <= 0:
        return []
    with np.errstate(over="ignore", invalid="ignore"):
        return _render(
            kind,
            series,
            start_ms,
            end_ms,
            step_ms,
            width,
            height,
            unit,
            thresholds,
            legend,
            max_value,
            events,
        )


def _render(
    kind: str,
    series: Sequence[PlotSeries],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    width: int,
    height: int,
    unit: str,
    thresholds: Sequence[tuple[float, str]],
    legend: bool,
    max_value: float | None,
    events: Sequence[tuple[int, str]],
) -> list[Row]:
    if kind in ("line", "area"):
        if not any(len(s.finite()[0]) for s in series):
            return blank_rows(width, height, "no data in this time range")
        leg_h = 0
        if legend and height >= 6:
            leg_h = min(len(series), 1 if height < 10 else 2)
        body = chart_rows(
            series,
            start_ms,
            end_ms,
            step_ms,
            width,
            height - leg_h,
            unit=unit,
            stacked=kind == "area",
            events=events,
        )
        named = event_names(events, start_ms, end_ms)
        rows = body + legend_rows(series, width, leg_h, unit, named)
        return rows + blank_rows(width, height - len(rows))
    if kind == "sparkline":
        return sparkline_rows(
            series, start_ms, end_ms, width, height, unit=unit, thresholds=thresholds
        )
    if kind == "bar":
        return bar_rows(series, width, height, unit=unit, thresholds=thresholds)
    if kind == "gauge":
        if max_value is None:
            max_value = 1.0 if unit in RATIO_UNITS else 100.0 if unit == "percent" else None
        return bar_rows(
            series, width, height, unit=unit, thresholds=thresholds, max_value=max_value
        )
    if kind == "stat":
        return stat_rows(series, start_ms, end_ms, width, height, unit=unit, thresholds=thresholds)
    if kind == "table":
        return table_rows(series, width, height, unit=unit)
    if kind == "heatmap":
        return heatmap_rows(series, start_ms, end_ms, width, height)
    raise ValueError(f"unknown panel kind {kind!r} (expected one of {', '.join(KINDS)})")
