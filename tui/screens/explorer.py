"""The metric explorer: metric names with type and help; series count and label
cardinality of the highlighted one."""

from __future__ import annotations

from typing import ClassVar

from nightowl.tui.messages import MetricsListed, MetricSummaryReady
from nightowl.tui.widgets.status import StatusBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from nightowl.errors import NightowlError

__all__ = ["ExplorerScreen"]


class ExplorerScreen(Screen[None]):
    """Browse metrics; enter opens the highlighted metric in the query view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_metric", "Query it", show=True),
    ]

    def compose(self) -> ComposeResult:
        """Status bar, metric table beside the details, footer."""
        yield StatusBar(id="status")
        with Horizontal(id="explorer-body"):
            yield DataTable(id="metrics-table", cursor_type="row")
            yield Static("", id="metric-details")
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table and list metrics."""
        table = self.query_one("#metrics-table", DataTable)
        table.add_column("metric", key="metric")
        table.add_column("type", key="type")
        status = self.query_one("#status", StatusBar)
        status.view = "metrics"
        status.mode = self.app.source.description  # type: ignore[attr-defined]
        self.query_one("#metric-details", Static).update("loading metrics…")
        self._list()

    def source_ready(self) -> None:
        """The source finished starting: show its description."""
        self.query_one("#status", StatusBar).mode = self.app.source.description  # type: ignore[attr-defined]

    def refresh_now(self) -> None:
        """List metrics again."""
        self._list()

    @work(exclusive=True, group="metrics", exit_on_error=False, description="list metrics")
    async def _list(self) -> None:
        source = self.app.source  # type: ignore[attr-defined]
        try:
            names = await source.metric_names()
            meta = await source.metadata()
        except NightowlError as exc:
            self.post_message(MetricsListed([], error=exc.message))
            return
        rows = []
        for name in names:
            m = meta.get(name)
            if m is None:  # histogram/summary parts: look up the family
                for suffix in ("_bucket", "_count", "_sum", "_total", "_created"):
                    if name.endswith(suffix) and name[: -len(suffix)] in meta:
                        m = meta[name[: -len(suffix)]]
                        break
            rows.append((name, m.type.value if m else "", m.help if m else ""))
        self.post_message(MetricsListed(rows))

    @on(MetricsListed)
    def on_metrics_listed(self, message: MetricsListed) -> None:
        """Fill the table."""
        details = self.query_one("#metric-details", Static)
        if message.error:
            details.update(f"metrics unavailable: {message.error}")
            return
        table = self.query_one("#metrics-table", DataTable)
        table.clear()
        self._help = {name: help_ for name, _, help_ in message.rows}
        for name, mtype, _ in message.rows:
            table.add_row(name, mtype, key=name)
        if not message.rows:
            details.update("no metrics yet")

    @on(DataTable.RowHighlighted, "#metrics-table")
    def on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Fetch the highlighted metric's summary."""
        if event.row_key.value is not None:
            self._summary(event.row_key.value)

    @work(exclusive=True, group="metric-summary", exit_on_error=False)
    async def _summary(self, metric: str) -> None:
        try:
            summary = await self.app.source.metric_summary(metric)  # type: ignore[attr-defined]
        except NightowlError as exc:
            self.post_message(MetricSummaryReady(None, error=exc.message))
            return
        self.post_message(MetricSummaryReady(summary))

    @on(MetricSummaryReady)
    def on_metric_summary_ready(self, message: MetricSummaryReady) -> None:
        """Show series count and label cardinality."""
        details = self.query_one("#metric-details", Static)
        if message.summary is None:
            details.update(f"unavailable: {message.error}")
            return
        s = message.summary
        lines = [
            s.name,
            f"type: {s.meta.type.value}",
            f"help: {s.meta.help or self._help.get(s.name, '') or '-'}",
            f"series: {s.series_count}",
            "",
            "label cardinality:",
        ]
        lines += [
            f"  {k}: {n}" for k, n in sorted(s.label_cardinality.items(), key=lambda kv: -kv[1])
        ]
        details.update("\n".join(lines))

    @on(DataTable.RowSelected, "#metrics-table")
    async def on_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a metric opens it in the query view."""
        if event.row_key.value:
            await self.app.open_query(event.row_key.value)  # type: ignore[attr-defined]

    async def action_open_metric(self) -> None:
        """Open the highlighted metric in the query view."""
        table = self.query_one("#metrics-table", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key:
                await self.app.open_query(key)  # type: ignore[attr-defined]
