"""The alert pane: firing and pending alerts, most severe first, with how long."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nightowl.query.source import AlertInfo
from nightowl.tui.format import format_age, format_value
from nightowl.tui.widgets.frame import frame_title
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from nightowl.timeutil import Clock, SystemClock

__all__ = ["AlertPane"]


class AlertPane(Widget, can_focus=True):
    """Lists alerts; says "no alerts" honestly when there are none.

    Focused (key `a` on the dashboard), up/down choose an alert; enter posts
    :class:`AlertPane.OpenHistory`, `s` and `k` post :class:`AlertPane.Act`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous alert", show=False),
        Binding("down", "move(1)", "Next alert", show=False),
        Binding("enter", "open", "Alert history"),
        Binding("s", "act('silence')", "Silence"),
        Binding("k", "act('ack')", "Ack"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "alerts--firing",
        "alerts--pending",
        "alerts--dim",
        "alerts--cursor",
    }
    """Colours: firing and pending rows, dim label text, the chosen row when focused."""

    @dataclass
    class OpenHistory(Message):
        """Open an alert's history. Handled by `DashboardScreen.on_alert_pane_open_history`."""

        alert: AlertInfo

    @dataclass
    class Act(Message):
        """Silence or ack an alert. Handled by `DashboardScreen.on_alert_pane_act`."""

        kind: str
        alert: AlertInfo

    DEFAULT_CSS = """
    AlertPane { height: auto; max-height: 8; }
    """

    alerts: reactive[tuple[AlertInfo, ...]] = reactive(tuple, layout=True)
    """The alerts shown, in order."""
    error: reactive[str | None] = reactive(None)
    """Why alerts could not be read, if they could not."""
    minute: reactive[int] = reactive(0)
    """The current minute: ages are shown to the minute, so the pane repaints for them
    once a minute, not every refresh."""
    cursor: reactive[int] = reactive(0)
    """Index of the chosen alert (shown when the pane has focus)."""

    def __init__(self, clock: Clock | None = None, *, id: str | None = None) -> None:
        """Args:
        clock: Tells the time for "active for" (tests pass a fixed one).
        id: The widget id.
        """
        super().__init__(id=id)
        self.clock = clock or SystemClock()
        self.border_title = "Alerts"

    def watch_alerts(self, alerts: tuple[AlertInfo, ...]) -> None:
        """Count firing alerts in the title and flag the pane."""
        self._sync_title()
        self.set_class(any(a.state == "firing" for a in alerts), "-firing")

    def _sync_title(self) -> None:
        firing = sum(1 for a in self.alerts if a.state == "firing")
        title = frame_title(self, f"Alerts ({firing} firing)" if self.alerts else "Alerts")
        if title != self.border_title:
            self.border_title = title  # setting it repaints the whole pane

    def notify_style_update(self) -> None:
        """The layout class changed: fit the title to the frame (box or title rule)."""
        super().notify_style_update()
        self._sync_title()

    def action_move(self, delta: int) -> None:
        """Choose the previous or next alert."""
        if self.alerts:
            self.cursor = max(0, min(len(self.alerts) - 1, self.cursor + delta))

    def action_act(self, kind: str) -> None:
        """Ask to silence ("silence") or acknowledge ("ack") the chosen alert."""
        if self.alerts:
            self.post_message(self.Act(kind, self.alerts[min(self.cursor, len(self.alerts) - 1)]))

    def action_open(self) -> None:
        """Ask for the chosen alert's history."""
        if self.alerts:
            self.post_message(self.OpenHistory(self.alerts[min(self.cursor, len(self.alerts) - 1)]))

    def render(self) -> Text:
        """One line per alert."""
        if self.error:
            return Text(f"alerts unavailable: {self.error}", style="italic")
        if not self.alerts:
            return Text("no alerts", style="italic")
        now = self.clock.now_ms()
        dim = self.get_component_rich_style("alerts--dim", partial=True)
        cursor = self.get_component_rich_style("alerts--cursor", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, a in enumerate(self.alerts):
            if i:
                text.append("\n")
            start = len(text)
            style = self.get_component_rich_style(
                "alerts--firing" if a.state == "firing" else "alerts--pending", partial=True
            )
            text.append("● " if a.state == "firing" else "○ ", style=style)
            text.append(f"{a.state.upper():7} ", style=style)
            text.append(f"{a.severity:9} ")
            text.append(a.name, style=style)
            if a.active_since_ms is not None:
                age = max(now - a.active_since_ms, 0)
                text.append(f"  for {format_age(age - age % 60_000) if age >= 60_000 else '<1m'}")
            if a.value is not None:
                text.append(f"  value {format_value(a.value)}")
            extra = ", ".join(f"{k}={v}" for k, v in a.labels if k not in ("alertname", "severity"))
            if extra:
                text.append(f"  {extra}", style=dim)
            if a.summary:
                text.append(f"  {a.summary}")
            if a.runbook:
                text.append(f"  runbook: {a.runbook}", style="underline")
            if self.has_focus and i == self.cursor:
                text.stylize(cursor, start, len(text))
        return text

    def on_focus(self) -> None:
        """Show the cursor."""
        self.refresh()

    def on_blur(self) -> None:
        """Hide the cursor."""
        self.refresh()
