"""The one-line header: dashboard, time window, mode, last update."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["StatusBar"]


class StatusBar(Widget):
    """`nightowl │ host 1/2 │ 1h live │ standalone ~/.local/share/nightowl/nightowl.db`.

    Each part is a reactive; the bar repaints only when a part really changes.
    """

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    view: reactive[str] = reactive("")
    """The current view or dashboard."""
    window: reactive[str] = reactive("")
    """The time window (`1h live`)."""
    mode: reactive[str] = reactive("")
    """Where the data comes from."""
    note: reactive[str] = reactive("")
    """The last update time or a transient note."""

    def render(self) -> str:
        """The parts joined by bars, most important first."""
        parts = ["nightowl", self.view, self.window, self.mode, self.note]
        return " │ ".join(p for p in parts if p)
