"""The help screen: every key of every view, generated from the bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]


def _key_label(key: str) -> str:
    names = {
        "slash": "/",
        "colon": ":",
        "question_mark": "?",
        "plus": "+",
        "equals_sign": "=",
        "minus": "-",
        "left": "←",
        "right": "→",
        "up": "↑",
        "down": "↓",
    }
    return " ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    """Keys by view; escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        """A scrollable table of bindings."""
        from nightowl.tui.screens.dashboard import DashboardScreen
        from nightowl.tui.screens.explorer import ExplorerScreen
        from nightowl.tui.screens.query import QueryScreen
        from nightowl.tui.widgets.alerts import AlertPane
        from nightowl.tui.widgets.query_bar import QueryBar

        table = Table(title="nightowl keys", expand=True, show_edge=False)
        table.add_column("where", no_wrap=True)
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        groups = [
            ("everywhere", self.app.BINDINGS),
            ("dashboard", DashboardScreen.BINDINGS),
            ("query", [*QueryScreen.BINDINGS, *QueryBar.BINDINGS]),
            ("alert pane", AlertPane.BINDINGS),
            ("metrics", ExplorerScreen.BINDINGS),
        ]
        for where, bindings in groups:
            for b in bindings:
                if isinstance(b, Binding):
                    table.add_row(where, _key_label(b.key), b.description or b.action)
        table.add_row("everywhere", "ctrl+p", "command palette: every action by name")
        table.add_row("query", "enter", "run the query over the time window")
        self.bindings_table = table
        with VerticalScroll(id="help-body"):
            yield Static(table, id="help-table")
