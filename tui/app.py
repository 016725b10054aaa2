"""NightowlApp: the terminal UI over one :class:`~nightowl.query.source.Source`.

The app is the controller: it owns the source, the time window, the list of
dashboards and the theme, and switches between views (Textual modes):

========== ===== ===============================================
view       key   what
========== ===== ===============================================
dashboard  d     panels of the current dashboard + alert pane
query      / :   query bar, result as chart + table
targets    t     scrape targets: health, last scrape, errors
explorer   m     metric names, types, help, series, cardinality
rules      u     recording and alerting rules: state, last evaluation
help       ?     every key
========== ===== ===============================================

It never evaluates, never opens the store and never blocks: views start
workers that await the source and post messages back (`tui.messages`).
Layout and colours are in `app.tcss` with theme variables only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from nightowl.query.source import Source
from nightowl.themes.loader import load_themes
from nightowl.tui.dashboards import DashboardSpec, PanelSpec, host_dashboard, save_dashboard
from nightowl.tui.history import QueryHistory
from nightowl.tui.screens.dashboard import DashboardScreen
from nightowl.tui.screens.explorer import ExplorerScreen
from nightowl.tui.screens.help import HelpScreen
from nightowl.tui.screens.query import QueryScreen
from nightowl.tui.screens.rules import RulesScreen
from nightowl.tui.screens.targets import TargetsScreen
from nightowl.tui.timewindow import PRESETS, TimeWindow
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget

from nightowl.errors import NightowlError
from nightowl.timeutil import Clock, SystemClock

__all__ = ["NightowlApp"]

DEFAULT_REFRESH_S = 2.0
LOW_BANDWIDTH_REFRESH_S = 10.0


class NightowlApp(App[None]):
    """The nightowl terminal UI.

    Args:
        source: Where data comes from (local, attached or remote).
        dashboards: Dashboards to offer (default: the built-in host dashboard).
        theme: Theme name (see `themes/`); unknown names fall back to `dark` with a warning.
        refresh_s: How often views poll the source.
        low_bandwidth: Slower refresh, sparklines instead of charts, 16 colours.
        clock: Tells the time (tests freeze it).
        history_path: Query history file (None: not persisted).
        dashboards_path: Where `s` saves dashboards (None: saving is off).
        user_theme_dir: Extra theme files.
        window: The initial time window.
        startup_notes: Warnings to show once the UI is up (config, themes, attach mode).
        bell: Ring the terminal bell when a new alert fires.
        flash: Flash the alert pane when a new alert fires.
        history_size: How many queries the query bar remembers.
        event_queries: (name, PromQL expression) pairs whose events are marked (◆)
            on line and area charts ([tui] event_queries).
    """

    CSS_PATH = "app.tcss"
    TITLE = "nightowl"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (32, "-tall")]
    MODES: ClassVar[dict[str, type[Screen]]] = {  # type: ignore[assignment]
        "dashboard": DashboardScreen,
        "query": QueryScreen,
        "targets": TargetsScreen,
        "explorer": ExplorerScreen,
        "rules": RulesScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "open_query", "Query"),
        Binding("colon", "open_query", "Query", show=False),
        Binding("d", "switch_view('dashboard')", "Dash"),
        Binding("t", "switch_view('targets')", "Targets"),
        Binding("m", "switch_view('explorer')", "Metrics"),
        Binding("u", "switch_view('rules')", "Rules"),
        Binding("question_mark", "help", "Help"),
        Binding("f", "toggle_live", "Live/freeze"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", show=False),
        Binding("minus", "zoom(2)", "Zoom out", show=False),
        Binding("left,h", "pan(-0.25)", "Back", show=False),
        Binding("right,l", "pan(0.25)", "Forward", show=False),
        *(
            Binding(str(i + 1), f"preset({ms})", f"Last {label}", show=False)
            for i, (label, ms) in enumerate(PRESETS)
        ),
    ]

    def __init__(
        self,
        source: Source,
        *,
        dashboards: Sequence[DashboardSpec] = (),
        theme: str | None = None,
        refresh_s: float = DEFAULT_REFRESH_S,
        low_bandwidth: bool = False,
        clock: Clock | None = None,
        history_path: Path | None = None,
        dashboards_path: Path | None = None,
        user_theme_dir: Path | None = None,
        window: TimeWindow | None = None,
        startup_notes: Sequence[str] = (),
        bell: bool = False,
        flash: bool = True,
        history_size: int = 1000,
        event_queries: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self.source = source
        self.clock: Clock = clock or SystemClock()
        self.low_bandwidth = low_bandwidth
        self.refresh_s = max(refresh_s, LOW_BANDWIDTH_REFRESH_S) if low_bandwidth else refresh_s
        dashes = list(dashboards) or [host_dashboard()]
        if low_bandwidth:
            dashes = [_sparklines(d) for d in dashes]
        self.dashboards: list[DashboardSpec] = dashes
        self.dashboard_index = 0
        self.window = window or TimeWindow()
        self.history = QueryHistory(history_path, history_size)
        self.dashboards_path = dashboards_path
        self.animation_level = "none"
        self.start_error: NightowlError | None = None
        """Set when a deferred source failed to start; the app exits with it."""
        self.ring_bell = bell
        self.event_queries: list[tuple[str, str]] = list(event_queries)
        """(name, PromQL) of queries whose events are marked on the charts."""
        self.flash = flash
        self._notes = list(startup_notes)
        loaded = load_themes(user_theme_dir)
        self._notes.extend(loaded.warnings)
        for t in loaded.themes.values():
            self.register_theme(t)
        wanted = theme or ("ansi16" if low_bandwidth else "dark")
        if wanted not in loaded.themes:
            names = ", ".join(sorted(loaded.themes))
            self._notes.append(f"unknown theme {wanted!r}; using 'dark' (themes: {names})")
            wanted = "dark"
        self.theme = wanted

    def on_mount(self) -> None:
        """Open the dashboard and show startup notes."""
        self.switch_mode("dashboard")
        for note in self._notes:
            self.notify(note, severity="warning", timeout=8)
        if hasattr(self.source, "wait_ready"):
            self._await_source()

    @work(group="source", exit_on_error=False, description="start the source")
    async def _await_source(self) -> None:
        """The source is still starting (see `DeferredSource`): when it is up, show its
        notes and refresh the views; if it fails, leave with its error."""
        try:
            await self.source.wait_ready()  # type: ignore[attr-defined]
        except NightowlError as exc:
            self.start_error = exc
            self.exit(return_code=exc.exit_code)
            return
        for note in getattr(self.source, "notes", ()):
            self.notify(note, severity="warning", timeout=10)
        for screen in self._all_screens():
            hook = getattr(screen, "source_ready", None)
            if hook is not None:
                hook()

    # -- views -------------------------------------------------------------------

    def action_switch_view(self, view: str) -> None:
        """Show a view: dashboard, targets, explorer, rules or query."""
        self.switch_mode(view)

    def action_help(self) -> None:
        """Show the help screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_open_query(self) -> None:
        """Open the query view with the query bar focused."""
        await self.open_query(None)

    async def open_query(self, expr: str | None) -> None:
        """Open the query view, optionally with `expr` in the bar (and run it)."""
        await self.switch_mode("query")
        screen = self.screen
        if isinstance(screen, QueryScreen):
            screen.start(expr)

    # -- time window ---------------------------------------------------------------

    def _set_window(self, window: TimeWindow) -> None:
        self.window = window
        for screen in self._all_screens():
            hook = getattr(screen, "window_changed", None)
            if hook is not None:
                hook()

    def _all_screens(self) -> Iterable[Screen]:
        for stack in self._screen_stacks.values():
            yield from stack

    def action_preset(self, range_ms: int) -> None:
        """Show the last `range_ms` (keys 1-5: 5m 1h 6h 24h 7d)."""
        self._set_window(self.window.preset(int(range_ms)))

    def action_zoom(self, factor: float) -> None:
        """Zoom in (factor < 1) or out around the window's centre."""
        self._set_window(self.window.zoom(float(factor), self.clock.now_ms()))

    def action_pan(self, fraction: float) -> None:
        """Move the window back (negative) or forward in time."""
        self._set_window(self.window.pan(float(fraction), self.clock.now_ms()))

    def action_toggle_live(self) -> None:
        """Freeze the window for reading, or follow now again."""
        w = self.window
        self._set_window(w.freeze(self.clock.now_ms()) if w.live else w.go_live())

    def action_refresh(self) -> None:
        """Query everything again now."""
        hook = getattr(self.screen, "refresh_now", None)
        if hook is not None:
            hook()

    def alert_fired(self, pane: Widget) -> None:
        """A new alert fires: ring the bell and/or flash the pane, as configured."""
        if self.ring_bell:
            self.bell()
        if self.flash:
            pane.add_class("-flash")
            self.set_timer(1.5, lambda: pane.remove_class("-flash"))

    # -- dashboards ------------------------------------------------------------------

    def pin_panel(self, panel: PanelSpec) -> None:
        """Append `panel` to the current dashboard (save with `s` on the dashboard)."""
        i = self.dashboard_index
        self.dashboards[i] = self.dashboards[i].with_panel(panel)
        for screen in self._all_screens():
            if isinstance(screen, DashboardScreen):
                self.call_later(screen.show_dashboard, i)
        self.notify(f"pinned to dashboard {self.dashboards[i].name!r}; press s there to save")

    def save_current_dashboard(self) -> None:
        """Write the current dashboard into the dashboards file."""
        if self.dashboards_path is None:
            self.notify("saving is off: no dashboards file", severity="warning")
            return
        dash = self.dashboards[self.dashboard_index]
        try:
            save_dashboard(self.dashboards_path, dash)
        except OSError as exc:
            self.notify(f"could not save: {exc}", severity="error", timeout=8)
            return
        self.notify(f"saved dashboard {dash.name!r} to {self.dashboards_path}")

    # -- command palette -------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action, for the command palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Dashboard", "Show the dashboard view", lambda: self.switch_mode("dashboard")
        )
        yield SystemCommand(
            "Query", "Open the query bar", lambda: self.call_later(self.open_query, None)
        )
        yield SystemCommand("Targets", "Show scrape targets", lambda: self.switch_mode("targets"))
        yield SystemCommand(
            "Metrics explorer", "Browse metric names", lambda: self.switch_mode("explorer")
        )
        yield SystemCommand("Rules", "Show rule state", lambda: self.switch_mode("rules"))
        yield SystemCommand("Help", "Show every key", self.action_help)
        yield SystemCommand(
            "Live / freeze", "Follow now or freeze the window", self.action_toggle_live
        )
        yield SystemCommand("Refresh", "Query everything again now", self.action_refresh)
        yield SystemCommand("Zoom in", "Halve the time window", lambda: self.action_zoom(0.5))
        yield SystemCommand("Zoom out", "Double the time window", lambda: self.action_zoom(2))
        yield SystemCommand(
            "Pan back", "Move a quarter window back", lambda: self.action_pan(-0.25)
        )
        yield SystemCommand(
            "Pan forward", "Move a quarter window on", lambda: self.action_pan(0.25)
        )
        for label, ms in PRESETS:
            yield SystemCommand(
                f"Last {label}", f"Show the last {label}", lambda ms=ms: self.action_preset(ms)
            )
        yield SystemCommand(
            "Save dashboard",
            "Write the dashboard to the dashboards file",
            self.save_current_dashboard,
        )
        for i, d in enumerate(self.dashboards):
            yield SystemCommand(
                f"Dashboard: {d.name}",
                f"Switch to dashboard {d.name}",
                lambda i=i: self.call_later(self._goto_dashboard, i),
            )

    async def _goto_dashboard(self, index: int) -> None:
        await self.switch_mode("dashboard")
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            await screen.show_dashboard(index)


def _sparklines(d: DashboardSpec) -> DashboardSpec:
    panels = tuple(
        replace(p, kind="sparkline") if p.kind in ("line", "area") else p for p in d.panels
    )
    return replace(d, panels=panels)
