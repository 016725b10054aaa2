"""The base of the views that are one table refetched on every refresh (targets, rules)."""

from __future__ import annotations

from typing import ClassVar

from nightowl.tui.widgets.status import StatusBar
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable

__all__ = ["RefreshedTableScreen"]


class RefreshedTableScreen(Screen[None]):
    """A table view fetched again every refresh interval while it is on screen.

    Subclasses name the status bar's view (`VIEW`), the table's id (`TABLE_ID`) and its
    `COLUMNS`, compose a `StatusBar` with id "status" and the `DataTable`, and give
    `_fetch` as an exclusive worker that posts what it got as a message.
    """

    VIEW: ClassVar[str]
    TABLE_ID: ClassVar[str]
    COLUMNS: ClassVar[tuple[str, ...]]
    BINDINGS: ClassVar[list[BindingType]] = []

    def on_mount(self) -> None:
        """Set up columns and the refresh timer."""
        table = self.query_one(f"#{self.TABLE_ID}", DataTable)
        for c in self.COLUMNS:
            table.add_column(c, key=c)
        status = self.query_one("#status", StatusBar)
        status.view = self.VIEW
        status.mode = self.app.source.description  # type: ignore[attr-defined]
        self.set_interval(self.app.refresh_s, self.tick)  # type: ignore[attr-defined]
        self.tick()

    def on_screen_resume(self) -> None:
        """Fetch at once when the view is shown again."""
        self.tick()

    def source_ready(self) -> None:
        """The source finished starting: show its description."""
        self.query_one("#status", StatusBar).mode = self.app.source.description  # type: ignore[attr-defined]

    def refresh_now(self) -> None:
        """Fetch now."""
        self.tick()

    def tick(self) -> None:
        """Fetch when this view is on screen."""
        if self.is_current:
            self._fetch()

    def _fetch(self) -> None:
        """Start the view's fetch worker (each subclass defines it)."""
        raise NotImplementedError
