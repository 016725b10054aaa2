"""The targets view: every scrape target's health, last scrape, duration and error.

The error column is cut to the table's width; the line under the table shows
the highlighted target's whole error, wrapped, so the cause is never hidden.
"""

from __future__ import annotations

from nightowl.tui.format import format_age, format_value
from nightowl.tui.messages import TargetsChanged
from nightowl.tui.screens._table import RefreshedTableScreen
from nightowl.tui.widgets.status import StatusBar
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Static

from nightowl.errors import NightowlError
from nightowl.model import TargetStatus

__all__ = ["TargetsScreen", "detail_line"]

_COLUMNS = ("job", "endpoint", "health", "last scrape", "duration", "error")


class TargetsScreen(RefreshedTableScreen):
    """A table of targets, refreshed every interval; cells update in place."""

    VIEW = "targets"
    TABLE_ID = "targets-table"
    COLUMNS = _COLUMNS

    def compose(self) -> ComposeResult:
        """Status bar, summary line, table, footer."""
        yield StatusBar(id="status")
        yield Static("loading targets…", id="targets-summary")
        yield DataTable(id="targets-table", cursor_type="row")
        yield Static("", id="target-detail")
        yield Footer()

    def __init__(self) -> None:
        super().__init__()
        self._targets: dict[str, TargetStatus] = {}
        self._detail = ""

    @work(exclusive=True, group="targets", exit_on_error=False, description="targets")
    async def _fetch(self) -> None:
        try:
            targets = await self.app.source.targets()  # type: ignore[attr-defined]
        except NightowlError as exc:
            self.post_message(TargetsChanged([], error=exc.message))
            return
        self.post_message(TargetsChanged(targets))

    def _row(self, t: TargetStatus) -> tuple[str, ...]:
        now = self.app.clock.now_ms()  # type: ignore[attr-defined]
        age = None if t.last_scrape_ms is None else max(now - t.last_scrape_ms, 0)
        return (
            t.job,
            t.url,
            t.health.value,
            "never" if age is None else format_age(age - age % 1000) + " ago",
            format_value(t.last_duration_s, "seconds"),
            t.last_error,
        )

    @on(TargetsChanged)
    def on_targets_changed(self, message: TargetsChanged) -> None:
        """Update rows in place; add and remove rows for targets that came and went."""
        summary = self.query_one("#targets-summary", Static)
        if message.error:
            summary.update(f"targets unavailable: {message.error}")
            return
        up = sum(1 for t in message.targets if t.health.value == "up")
        summary.update(
            f"{len(message.targets)} targets, {up} up, {len(message.targets) - up} not up"
        )
        table = self.query_one("#targets-table", DataTable)
        wanted = {f"{t.scrape_pool or t.job}|{t.url}": t for t in message.targets}
        for key in [k.value for k in list(table.rows)]:
            if key not in wanted:
                table.remove_row(key)
        for key, t in sorted(wanted.items()):
            row = self._row(t)
            if key in table.rows:
                for col, value in zip(_COLUMNS, row, strict=True):
                    if table.get_cell(key, col) != value:
                        table.update_cell(key, col, value)
            else:
                table.add_row(*row, key=key)
        self._targets = wanted
        self._show_detail()

    @on(DataTable.RowHighlighted, "#targets-table")
    def on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the whole error of the target under the cursor."""
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.query_one("#targets-table", DataTable)
        target = None
        if table.row_count:
            row = min(max(table.cursor_row, 0), table.row_count - 1)
            key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
            target = self._targets.get(key or "")
        text = "" if target is None else detail_line(target)
        if text != self._detail:  # repaint only when it changed
            self._detail = text
            self.query_one("#target-detail", Static).update(Text(text))


def detail_line(t: TargetStatus) -> str:
    """`job url: health; last error: ...` for the detail line under the targets table."""
    error = f"last error: {t.last_error}" if t.last_error else "no error"
    return f"{t.job} {t.url}: {t.health.value}; {error}"
