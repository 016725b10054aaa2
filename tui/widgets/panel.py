"""A dashboard panel: a border with the title and a body drawn by `tui.plot`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from nightowl.tui.dashboards import PanelSpec
from nightowl.tui.plot import SERIES_STYLES, PlotSeries, Row, blank_rows, render_panel
from nightowl.tui.widgets.frame import frame_title
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["Panel", "PanelState"]


@dataclass(slots=True, eq=False)
class PanelState:
    """What a panel shows. Equal states have equal digests, so re-setting the same
    data does not repaint (each repaint costs bytes over SSH)."""

    series: list[PlotSeries] = field(default_factory=list)
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 1
    error: str | None = None
    loading: bool = True
    note: str = ""
    """Shown instead of a chart when there is no data yet (e.g. "press enter")."""
    digest: bytes = b""

    def __post_init__(self) -> None:
        if not self.digest:
            h = hashlib.blake2b(digest_size=16)
            h.update(
                f"{self.start_ms}:{self.end_ms}:{self.step_ms}:{self.error}:{self.loading}:{self.note}".encode()
            )
            for s in self.series:
                h.update(f"{s.name}\0{s.style}\0".encode())
                h.update(np.ascontiguousarray(s.t, dtype=np.int64).tobytes())
                h.update(np.ascontiguousarray(s.v, dtype=np.float64).tobytes())
            self.digest = h.digest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PanelState) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


class Panel(Widget, can_focus=True):
    """One panel of a dashboard. Focus it and press enter to open its query."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"panel--series-{i}" for i in range(SERIES_STYLES)),
        "panel--axis",
        "panel--muted",
        "panel--value",
        "panel--ok",
        "panel--info",
        "panel--warning",
        "panel--critical",
        "panel--event",
    }
    """Colours of the body: `panel--series-N` for series N, `panel--axis` for axes and
    labels, `panel--ok`/`--info`/`--warning`/`--critical` for threshold levels,
    `panel--value` for values, `panel--event` for marks of configured event queries."""

    DEFAULT_CSS = """
    Panel { height: 1fr; min-height: 4; }
    """

    state: reactive[PanelState] = reactive(PanelState, repaint=False)
    """The data drawn; setting an equal state does nothing, and a new state repaints
    only the lines that changed."""

    events: reactive[tuple[tuple[int, str], ...]] = reactive(tuple, repaint=False)
    """(time ms, kind) markers for the time axis of line and area charts: kind
    "fired"/"resolved" for alerts, "event:NAME" for configured event queries."""

    def __init__(self, spec: PanelSpec, *, id: str | None = None) -> None:
        """Args:
        spec: What to draw and how.
        id: The widget id.
        """
        super().__init__(id=id)
        self.spec = spec
        self.border_title = spec.title
        if spec.height > 1:
            self.styles.row_span = spec.height
        self._rows: list[Row] = []
        self._rows_key: tuple | None = None
        self._styles: dict[str, Style] = {}

    def watch_state(self, state: PanelState) -> None:
        """Show an error in the border's subtitle; repaint the lines that changed."""
        subtitle = f"error: {state.error}" if state.error else ""
        if subtitle != (self.border_subtitle or ""):
            self.border_subtitle = subtitle  # setting it repaints the whole panel
        self.set_class(bool(state.error), "-error")
        self._repaint_changed()

    def watch_events(self, events: tuple[tuple[int, str], ...]) -> None:
        """Redraw the time axis with the new markers."""
        self._repaint_changed()

    def _repaint_changed(self) -> None:
        """Recompute the body and repaint only the lines whose text or style changed."""
        if not self.is_mounted:
            return
        old = self._rows if self._rows_key is not None else None
        new = self._body()
        if old is None or len(old) != len(new):
            self.refresh()
            return
        width = self.content_size.width
        changed = [
            Region(0, y, width, 1) for y, (a, b) in enumerate(zip(old, new, strict=True)) if a != b
        ]
        if changed:
            self.refresh(*changed)

    def on_mount(self) -> None:
        """Resolve component styles once mounted (they depend on the theme)."""
        self._styles = {}
        self._sync_title()

    def notify_style_update(self) -> None:
        """The theme or layout class changed: forget cached styles and rows, and fit
        the title to the frame (closed box or title rule)."""
        super().notify_style_update()
        self._styles = {}
        self._rows_key = None
        self._sync_title()

    def _sync_title(self) -> None:
        title = frame_title(self, self.spec.title)
        if title != self.border_title:
            self.border_title = title

    def _style(self, key: str | None) -> Style:
        if key is None:
            return Style.null()
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = self.get_component_rich_style(f"panel--{key}", partial=True)
        return style

    def _body(self) -> list[Row]:
        width, height = self.content_size
        key = (self.state.digest, width, height, self.events)
        if key != self._rows_key:
            st = self.state
            if st.error:
                self._rows = blank_rows(width, height, st.error)
            elif st.note:
                self._rows = blank_rows(width, height, st.note)
            elif st.loading:
                self._rows = blank_rows(width, height, "loading…")
            else:
                self._rows = render_panel(
                    self.spec.kind,
                    st.series,
                    st.start_ms,
                    st.end_ms,
                    st.step_ms,
                    width,
                    height,
                    unit=self.spec.unit,
                    thresholds=self.spec.thresholds,
                    max_value=self.spec.max,
                    events=self.events,
                )
            self._rows_key = key
        return self._rows

    def render_line(self, y: int) -> Strip:
        """One line of the body."""
        rows = self._body()
        if y >= len(rows):
            return Strip.blank(self.content_size.width, self.rich_style)
        base = self.rich_style
        segs = [Segment(text, base + self._style(key)) for text, key in rows[y]]
        return Strip(segs)
