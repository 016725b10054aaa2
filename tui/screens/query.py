"""The query view: the query bar, its result as a chart and a table, pin to dashboard."""

from __future__ import annotations

import math
from typing import ClassVar

from nightowl.tui.complete import completion_context
from nightowl.tui.dashboards import PanelSpec
from nightowl.tui.format import format_value
from nightowl.tui.messages import CompletionsReady, QueryAnswered
from nightowl.tui.results import series_from_result
from nightowl.tui.widgets.panel import Panel, PanelState
from nightowl.tui.widgets.query_bar import CompletionIndex, QueryBar
from nightowl.tui.widgets.status import StatusBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from nightowl.errors import NightowlError, ParseError

__all__ = ["QueryScreen"]


class QueryScreen(Screen[None]):
    """Type PromQL, see it validated as you type, run it over the app's time window."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back"),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
        Binding("ctrl+r", "search_history", "Search history"),
        Binding("ctrl+n", "pin", "Pin as panel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.index = CompletionIndex()
        self._hist_pos: int | None = None
        self._search_needle: str | None = None
        self._recalled: str | None = None
        self._draft = ""
        self.last_query = ""

    def compose(self) -> ComposeResult:
        """Status bar, query bar, message line, chart, table, footer."""
        yield StatusBar(id="status")
        yield QueryBar(self.index, id="query-bar")
        yield Static("", id="query-message")
        yield Panel(PanelSpec("Result", "", kind="line"), id="query-chart")
        yield DataTable(id="query-table", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        """Fetch metric names for completion; set up the table."""
        table = self.query_one("#query-table", DataTable)
        table.add_columns("series", "last", "min", "max")
        self.query_one("#query-chart", Panel).state = PanelState(
            loading=False, note="type PromQL above and press enter"
        )
        status = self.query_one("#status", StatusBar)
        status.view = "query"
        status.mode = self.app.source.description  # type: ignore[attr-defined]
        status.window = self.app.window.label()  # type: ignore[attr-defined]
        self._load_metric_names()

    def start(self, expr: str | None) -> None:
        """Focus the bar; with `expr`, put it there and run it."""
        bar = self.query_one("#query-bar", QueryBar)
        bar.focus()
        if expr:
            bar.value = expr
            bar.cursor_position = len(expr)
            self.run_query(expr)

    def source_ready(self) -> None:
        """The source finished starting: show its description."""
        self.query_one("#status", StatusBar).mode = self.app.source.description  # type: ignore[attr-defined]

    def window_changed(self) -> None:
        """Re-run the last query over the new window."""
        self.query_one("#status", StatusBar).window = self.app.window.label()  # type: ignore[attr-defined]
        if self.last_query and self.is_current:
            self.run_query(self.last_query)

    refresh_now = window_changed

    # -- typing -------------------------------------------------------------------

    @on(Input.Changed, "#query-bar")
    def on_query_changed(self, event: Input.Changed) -> None:
        """Validate as you type; fetch label names/values the completion needs."""
        text = event.value
        msg = self.query_one("#query-message", Static)
        if text != self._recalled:
            # typed by the user: leave history navigation
            self._hist_pos = None
            self._search_needle = None
            self._recalled = None
        if not text.strip():
            msg.update("")
            msg.set_class(False, "-error")
            return
        try:
            self.app.source.validate(text)  # type: ignore[attr-defined]
        except ParseError as exc:
            msg.update(_error_with_caret(text, exc))
            msg.set_class(True, "-error")
        else:
            ctx = completion_context(text)
            words = self.index.words(ctx)
            msg.update("ok" + (f" · {' '.join(words[:8])}" if len(words) > 1 else ""))
            msg.set_class(False, "-error")
        ctx = completion_context(text)
        if ctx.kind == "label" and ctx.metric not in self.index.labels:
            self._load_labels(ctx.metric)
        elif ctx.kind == "value" and (ctx.label, ctx.metric) not in self.index.values:
            self._load_values(ctx.label, ctx.metric)

    @on(Input.Submitted, "#query-bar")
    def on_query_submitted(self, event: Input.Submitted) -> None:
        """Run the query and remember it."""
        text = event.value.strip()
        if not text:
            return
        self._search_needle = None
        self.app.history.add(text)  # type: ignore[attr-defined]
        self._hist_pos = None
        self.run_query(text)

    def run_query(self, text: str) -> None:
        """Evaluate `text` over the window in a worker."""
        self.last_query = text
        window = self.app.window.with_points(max(self.size.width * 2, 60))  # type: ignore[attr-defined]
        now = self.app.clock.now_ms()  # type: ignore[attr-defined]
        start, end, step = window.bounds(now)
        if window.live:  # a one-off query: up to this second, not to the last whole step
            end = now - now % 1000
            start = end - window.range_ms
        self.query_one("#query-message", Static).update("running…")
        self._run(text, start, end, step)

    @work(exclusive=True, group="query", exit_on_error=False, description="query")
    async def _run(self, text: str, start: int, end: int, step: int) -> None:
        try:
            result = await self.app.source.range(text, start, end, step)  # type: ignore[attr-defined]
        except NightowlError as exc:
            self.post_message(QueryAnswered(text, [], start, end, step, error=str(exc)))
            return
        series = series_from_result(result, "", text)
        self.post_message(QueryAnswered(text, series, start, end, step, warnings=result.warnings))

    @on(QueryAnswered)
    def on_query_answered(self, message: QueryAnswered) -> None:
        """Show the result in the chart and the table."""
        msg = self.query_one("#query-message", Static)
        chart = self.query_one("#query-chart", Panel)
        table = self.query_one("#query-table", DataTable)
        table.clear()
        if message.error:
            msg.update(message.error)
            msg.set_class(True, "-error")
            chart.state = PanelState(
                [], message.start_ms, message.end_ms, message.step_ms, message.error, False
            )
            return
        note = f"{len(message.series)} series"
        if message.warnings:
            note += " · warning: " + "; ".join(message.warnings)
        msg.update(note)
        msg.set_class(False, "-error")
        chart.border_title = message.query
        chart.state = PanelState(
            message.series, message.start_ms, message.end_ms, message.step_ms, None, False
        )
        for s in message.series:
            _, v = s.finite()
            last = s.last()
            table.add_row(
                s.name,
                format_value(last),
                format_value(float(v.min())) if len(v) else "",
                format_value(float(v.max())) if len(v) else "",
            )

    # -- completion data ------------------------------------------------------------

    @work(exclusive=True, group="complete-metrics", exit_on_error=False)
    async def _load_metric_names(self) -> None:
        try:
            names = await self.app.source.metric_names()  # type: ignore[attr-defined]
        except NightowlError:
            return
        self.post_message(CompletionsReady(names))

    @work(exclusive=True, group="complete-labels", exit_on_error=False)
    async def _load_labels(self, metric: str) -> None:
        try:
            names = await self.app.source.label_names(metric or None)  # type: ignore[attr-defined]
        except NightowlError:
            names = []
        self.index.labels[metric] = names

    @work(exclusive=True, group="complete-values", exit_on_error=False)
    async def _load_values(self, label: str, metric: str) -> None:
        try:
            values = await self.app.source.label_values(label, metric or None)  # type: ignore[attr-defined]
        except NightowlError:
            values = []
        self.index.values[(label, metric)] = values

    @on(CompletionsReady)
    def on_completions_ready(self, message: CompletionsReady) -> None:
        """Remember metric names for completion."""
        self.index.metrics = message.metrics

    # -- history and actions ------------------------------------------------------------

    def action_history(self, delta: int) -> None:
        """Step through older (-1) or newer (+1) queries."""
        hist = self.app.history  # type: ignore[attr-defined]
        bar = self.query_one("#query-bar", QueryBar)
        self._search_needle = None
        if self._hist_pos is None:
            self._draft = bar.value
        pos = hist.older(self._hist_pos) if delta < 0 else hist.newer(self._hist_pos)
        self._hist_pos = pos
        self._recall(self._draft if pos is None else hist.entries[pos])

    def action_search_history(self) -> None:
        """Find an older query containing the text typed (press again for the next match)."""
        hist = self.app.history  # type: ignore[attr-defined]
        bar = self.query_one("#query-bar", QueryBar)
        msg = self.query_one("#query-message", Static)
        if self._search_needle is None or self._hist_pos is None:
            needle, before = bar.value, None
        else:
            needle, before = self._search_needle, self._hist_pos
        pos = hist.search(needle, before)
        if pos is None:
            msg.update(f"history: no older query contains {needle!r}")
            return
        self._hist_pos = pos
        self._search_needle = needle
        self._recall(hist.entries[pos])
        msg.update(f"history search {needle!r}: {len(hist.entries) - pos} back (ctrl+r: older)")

    def _recall(self, text: str) -> None:
        """Put a history entry in the bar without leaving history navigation."""
        bar = self.query_one("#query-bar", QueryBar)
        self._recalled = text
        bar.value = text
        bar.cursor_position = len(text)

    def action_pin(self) -> None:
        """Add the last query run to the current dashboard as a line panel."""
        if not self.last_query:
            self.notify("run a query first (enter)", severity="warning")
            return
        self.app.pin_panel(PanelSpec(self.last_query[:40], self.last_query, kind="line"))  # type: ignore[attr-defined]

    def action_leave(self) -> None:
        """Back to the dashboard."""
        self.app.switch_mode("dashboard")


def _error_with_caret(text: str, exc: ParseError) -> str:
    pos = exc.position
    message = exc.message
    if pos is None or not math.isfinite(pos) or pos > 200:
        return message
    return f"{' ' * (pos + 1)}^\n{message}"
