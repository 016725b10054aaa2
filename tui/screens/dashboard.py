"""The dashboard view: a grid of panels over the current time window, and the alert pane.

Data flow: a timer ticks every refresh interval. A tick re-queries the panels
only when their inputs changed (the window's step-aligned bounds, the
dashboard, an explicit refresh), so a live dashboard over a 1 h window asks
the source once per step, not once per tick. Each panel has its own exclusive
worker group: a slow panel never holds up the others, and a newer request
cancels a stale one. Results come back as `PanelData` messages.
"""

from __future__ import annotations

from typing import ClassVar

from nightowl.query.source import AlertInfo
from nightowl.query.values import QueryResult
from nightowl.tui.dashboards import DashboardSpec, PanelSpec
from nightowl.tui.format import format_clock
from nightowl.tui.messages import AlertsChanged, EventsChanged, PanelData
from nightowl.tui.results import alert_events, query_events, series_from_result, with_head
from nightowl.tui.screens.alert_action import AlertAction, AlertActionScreen
from nightowl.tui.widgets.alerts import AlertPane
from nightowl.tui.widgets.panel import Panel, PanelState
from nightowl.tui.widgets.status import StatusBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer

from nightowl.errors import NightowlError

__all__ = ["VALUE_KINDS", "DashboardScreen"]

#: Panel kinds that show the latest value (refreshed every tick in live mode);
#: charts move only when a new step begins.
VALUE_KINDS = frozenset({"stat", "gauge", "bar", "table"})


class DashboardScreen(Screen[None]):
    """Panels of the current dashboard plus firing alerts."""

    AUTO_FOCUS = ""
    """Nothing is focused at first (tab focuses panels, `a` the alert pane)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_dashboard", "Next dash"),
        Binding("p", "prev_dashboard", "Prev dash", show=False),
        Binding("s", "save_dashboard", "Save dash", show=False),
        Binding("a", "focus_alerts", "Alerts", show=False),
        Binding("enter", "open_panel", "Open panel", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._fetched: tuple | None = None
        self._generation = 0
        self._has_data: dict[int, bool] = {}
        self._bodies: dict[int, tuple[tuple, QueryResult]] = {}
        self._firing: set[tuple[str, tuple]] | None = None
        self._events_failed: list[str] = []

    @property
    def dashboard(self) -> DashboardSpec:
        """The dashboard on screen."""
        return self.app.dashboards[self.app.dashboard_index]  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        """Status bar, panel grid, alert pane, footer."""
        yield StatusBar(id="status")
        yield Grid(id="panels")
        yield AlertPane(self.app.clock, id="alerts")  # type: ignore[attr-defined]
        yield Footer()

    async def on_mount(self) -> None:
        """Build the panels and start the refresh timer."""
        await self._build_panels()
        self.set_interval(self.app.refresh_s, self.tick)  # type: ignore[attr-defined]
        self.tick()

    async def _build_panels(self) -> None:
        grid = self.query_one("#panels", Grid)
        await grid.remove_children()
        panels = [Panel(p, id=f"panel-{i}") for i, p in enumerate(self.dashboard.panels)]
        await grid.mount_all(panels)
        self._set_columns()
        self._fetched = None
        self._has_data = {}
        self._bodies = {}
        self._update_status()

    def _set_columns(self) -> None:
        dash = self.dashboard
        columns = dash.columns if self.size.width >= 100 else min(dash.columns, 2)
        columns = max(columns, 1)
        self.query_one("#panels", Grid).styles.grid_size_columns = columns
        panels = list(self.query(Panel))
        used = sum(min(p.spec.width, columns) for p in panels)
        for p in panels:
            p.styles.column_span = min(p.spec.width, columns)
        if panels and used % columns:
            # the last row is short: let its last panel take the rest of the row
            last = panels[-1]
            last.styles.column_span = min(last.spec.width, columns) + columns - used % columns

    def on_resize(self, event: Resize) -> None:
        """Three columns on a wide terminal, two on a narrow one."""
        self._set_columns()

    def _update_status(self) -> None:
        app = self.app
        status = self.query_one("#status", StatusBar)
        n = len(app.dashboards)  # type: ignore[attr-defined]
        status.view = f"{self.dashboard.name} {app.dashboard_index + 1}/{n}"  # type: ignore[attr-defined]
        status.window = app.window.label()  # type: ignore[attr-defined]
        status.mode = app.source.description  # type: ignore[attr-defined]

    def source_ready(self) -> None:
        """The source finished starting: show its description and query now."""
        self._update_status()
        self.refresh_now()

    def refresh_now(self) -> None:
        """Re-query everything at the next tick (now)."""
        self._generation += 1
        self.tick()

    def window_changed(self) -> None:
        """The app's time window changed: redraw with the new bounds."""
        self._update_status()
        self.tick()

    def tick(self) -> None:
        """Fetch what is out of date, and alerts.

        Live charts: the body (a range query over step-aligned bounds) is fetched
        again only when a new step begins; every tick an instant query at now adds
        the head point, so the right edge is current while the rest of the chart,
        and the bytes written to the terminal, stay put. Value panels (stat,
        gauge, bar, table) follow the clock every tick. Frozen windows fetch once
        per change. Empty or failed panels retry every tick, so a fresh database
        fills in as soon as the first scrapes land.
        """
        if not self.is_current:
            return
        app = self.app
        width = max(self.size.width // 3 * 2, 40)
        window = app.window.with_points(width)  # type: ignore[attr-defined]
        now = app.clock.now_ms()  # type: ignore[attr-defined]
        start, end, step = window.bounds(now)
        key = (
            self.dashboard.name,
            len(self.dashboard.panels),
            start,
            end,
            step,
            window.live,
            self._generation,
        )
        every = key != self._fetched
        self._fetched = key
        live_end = now - now % 1000
        for i, spec in enumerate(self.dashboard.panels):
            if window.live and spec.kind in VALUE_KINDS:
                job = self._fetch_panel(
                    self.dashboard.name, i, spec, live_end - window.range_ms, live_end, step
                )
            elif window.live:
                body = self._bodies.get(i)
                cached = body[1] if body is not None and body[0] == key else None
                job = self._fetch_live_chart(
                    self.dashboard.name, i, spec, key, start, end, step, now, cached
                )
            elif every or not self._has_data.get(i, False):
                job = self._fetch_panel(self.dashboard.name, i, spec, start, end, step)
            else:
                continue
            self.run_worker(
                job,
                group=f"panel-{i}",
                exclusive=True,
                exit_on_error=False,
                description=f"panel {spec.title}",
            )
        if every:
            self._fetch_events(start, end, step)
        self._fetch_alerts()

    async def _fetch_panel(
        self, dashboard: str, index: int, spec: PanelSpec, start: int, end: int, step: int
    ) -> None:
        source = self.app.source  # type: ignore[attr-defined]
        try:
            result = await source.range(spec.expr, start, end, step)
        except NightowlError as exc:
            self.post_message(PanelData(dashboard, index, [], start, end, step, error=exc.message))
            return
        series = series_from_result(result, spec.legend, spec.title)
        self.post_message(
            PanelData(dashboard, index, series, start, end, step, warnings=result.warnings)
        )

    async def _fetch_live_chart(
        self,
        dashboard: str,
        index: int,
        spec: PanelSpec,
        key: tuple,
        start: int,
        end: int,
        step: int,
        now: int,
        body: QueryResult | None,
    ) -> None:
        source = self.app.source  # type: ignore[attr-defined]
        try:
            if body is None:
                body = await source.range(spec.expr, start, end, step)
            head = await source.instant(spec.expr, now) if now > end else None
        except NightowlError as exc:
            self.post_message(PanelData(dashboard, index, [], start, end, step, error=exc.message))
            return
        merged = with_head(body, head)
        series = series_from_result(merged, spec.legend, spec.title)
        self.post_message(
            PanelData(
                dashboard,
                index,
                series,
                start,
                end + step,
                step,
                warnings=body.warnings,
                body=(key, body),
            )
        )

    @work(exclusive=True, group="alerts", exit_on_error=False, description="alerts")
    async def _fetch_alerts(self) -> None:
        source = self.app.source  # type: ignore[attr-defined]
        try:
            alerts = await source.alerts()
        except NightowlError as exc:
            self.post_message(AlertsChanged([], error=exc.message))
            return
        self.post_message(AlertsChanged(alerts))

    @work(exclusive=True, group="events", exit_on_error=False, description="chart events")
    async def _fetch_events(self, start: int, end: int, step: int) -> None:
        """Alert firings and resolutions (from `ALERTS`), then the events of each
        configured event query ([tui] event_queries)."""
        source = self.app.source  # type: ignore[attr-defined]
        events: list[tuple[int, str]] = []
        try:
            result = await source.range('ALERTS{alertstate="firing"}', start, end, step)
            events += alert_events(result, start, end, step)
        except NightowlError:
            pass  # markers are an extra; the alert pane reports alert errors
        failed: list[str] = []
        for name, expr in self.app.event_queries:  # type: ignore[attr-defined]
            try:
                result = await source.range(expr, start, end, step)
            except NightowlError as exc:
                failed.append(f"{name}: {exc.message}")
                continue
            events += query_events(result, name, start, end, step)
        self.post_message(EventsChanged(sorted(events)))
        if failed and failed != self._events_failed:
            self.notify("event query failed: " + "; ".join(failed), severity="warning", timeout=8)
        self._events_failed = failed

    @on(EventsChanged)
    def on_events_changed(self, message: EventsChanged) -> None:
        """Mark alert firings and resolutions, and query events, on every chart's time axis."""
        events = tuple(message.events)
        for panel in self.query(Panel):
            if panel.spec.kind in ("line", "area"):
                panel.events = events

    @on(PanelData)
    def on_panel_data(self, message: PanelData) -> None:
        """Hand new data to its panel (ignored if the dashboard changed meanwhile)."""
        if message.dashboard != self.dashboard.name:
            return
        try:
            panel = self.query_one(f"#panel-{message.index}", Panel)
        except NoMatches:  # the panels were rebuilt while the query ran
            return
        if message.body is not None:
            self._bodies[message.index] = message.body
        self._has_data[message.index] = message.error is None and any(
            len(s.t) for s in message.series
        )
        panel.state = PanelState(
            message.series,
            message.start_ms,
            message.end_ms,
            message.step_ms,
            message.error,
            loading=False,
        )
        newest = min(message.end_ms, self.app.clock.now_ms())  # type: ignore[attr-defined]
        self.query_one("#status", StatusBar).note = "data at " + format_clock(newest, 3_600_000)

    @on(AlertsChanged)
    def on_alerts_changed(self, message: AlertsChanged) -> None:
        """Show the new alert list."""
        pane = self.query_one("#alerts", AlertPane)
        pane.alerts = tuple(message.alerts)
        pane.error = message.error
        pane.minute = self.app.clock.now_ms() // 60_000  # type: ignore[attr-defined]
        firing = {(a.name, tuple(a.labels)) for a in message.alerts if a.state == "firing"}
        new = firing - self._firing if self._firing is not None else set()
        self._firing = firing if message.error is None else self._firing
        if new:
            self.app.alert_fired(pane)  # type: ignore[attr-defined]

    @on(AlertPane.OpenHistory)
    async def on_alert_pane_open_history(self, message: AlertPane.OpenHistory) -> None:
        """Open the chosen alert's `ALERTS` series over the window in the query view."""
        a = message.alert
        await self.app.open_query(f'ALERTS{{alertname="{a.name}"}}')  # type: ignore[attr-defined]

    @on(AlertPane.Act)
    def on_alert_pane_act(self, message: AlertPane.Act) -> None:
        """Ask for the silence's duration and comment (or the ack's note), then act."""
        alert = message.alert

        def done(action: AlertAction | None) -> None:
            if action is not None:
                self._act(action, alert)

        self.app.push_screen(AlertActionScreen(message.kind, alert), done)

    @work(group="alert-actions", exit_on_error=False, description="silence or ack")
    async def _act(self, action: AlertAction, alert: AlertInfo) -> None:
        kind, duration, text = action
        source = self.app.source  # type: ignore[attr-defined]
        try:
            if kind == "silence":
                done = await source.silence(alert, duration, text)
            else:
                done = await source.ack(alert, text)
        except NightowlError as exc:
            self.app.notify(f"{kind} failed: {exc.message}", severity="error", timeout=8)
            return
        self.app.notify(done)

    def action_focus_alerts(self) -> None:
        """Move the focus to the alert pane (up/down choose, enter opens the history)."""
        self.query_one("#alerts", AlertPane).focus()

    async def action_next_dashboard(self) -> None:
        """Show the next dashboard."""
        await self._switch(+1)

    async def action_prev_dashboard(self) -> None:
        """Show the previous dashboard."""
        await self._switch(-1)

    async def _switch(self, delta: int) -> None:
        app = self.app
        n = len(app.dashboards)  # type: ignore[attr-defined]
        if n <= 1:
            self.notify("only one dashboard; add [[dashboards]] to the config", timeout=3)
            return
        app.dashboard_index = (app.dashboard_index + delta) % n  # type: ignore[attr-defined]
        await self._build_panels()
        self.tick()

    async def show_dashboard(self, index: int) -> None:
        """Show dashboard number `index` (rebuilding the panels)."""
        self.app.dashboard_index = index  # type: ignore[attr-defined]
        await self._build_panels()
        self.tick()

    def action_save_dashboard(self) -> None:
        """Save the current dashboard to the dashboards file."""
        self.app.save_current_dashboard()  # type: ignore[attr-defined]

    async def action_open_panel(self) -> None:
        """Open the focused panel's expression in the query view."""
        focused = self.focused
        if isinstance(focused, Panel):
            await self.app.open_query(focused.spec.expr)  # type: ignore[attr-defined]
