"""Pilot-driven tests of every view and key binding of the UI, over the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from nightowl.tui.app import NightowlApp
from nightowl.tui.dashboards import DashboardSpec, PanelSpec, load_dashboards_file
from nightowl.tui.messages import AlertsChanged, PanelData
from nightowl.tui.screens.dashboard import DashboardScreen
from nightowl.tui.screens.explorer import ExplorerScreen
from nightowl.tui.screens.help import HelpScreen
from nightowl.tui.screens.query import QueryScreen
from nightowl.tui.screens.targets import TargetsScreen
from nightowl.tui.widgets.alerts import AlertPane
from nightowl.tui.widgets.panel import Panel
from nightowl.tui.widgets.query_bar import QueryBar

HOUR = 3_600_000


def make_app(source, clock, tmp_path: Path, **kw) -> NightowlApp:
    """The app as `nightowl` builds it, with test paths."""
    return NightowlApp(
        source,
        clock=clock,
        history_path=tmp_path / "history.jsonl",
        dashboards_path=tmp_path / "dashboards.toml",
        **kw,
    )


async def settle(pilot) -> None:
    """Let workers finish and their messages land."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_dashboard_fills_every_panel(source, clock, tmp_path) -> None:
    """The host dashboard's panels all receive data and the alert pane shows the firing alert."""
    messages = []
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        panels = list(app.screen.query(Panel))
        assert len(panels) == 7
        data = [m for m in messages if isinstance(m, PanelData)]
        assert {m.index for m in data} == set(range(7))
        for p in panels:
            assert not p.state.loading, p.spec.title
            assert p.state.error is None, (p.spec.title, p.state.error)
            assert p.state.series, p.spec.title
        fs = next(p for p in panels if p.spec.title == "Filesystems used")
        assert sorted(s.name for s in fs.state.series) == ["/", "/home"]
        alerts = [m for m in messages if isinstance(m, AlertsChanged)]
        assert alerts and alerts[-1].alerts[0].name == "DiskAlmostFull"
        pane = app.screen.query_one(AlertPane)
        assert pane.has_class("-firing")
        assert "1 firing" in str(pane.border_title)


async def test_no_alerts_is_said_honestly(store_factory, clock, tmp_path) -> None:
    """Without ALERTS series the pane says "no alerts"."""
    from nightowl.query.engine import Engine

    from nightowl.sources import LocalSource

    store = store_factory(alerts=False)
    src = LocalSource(Engine(store), store, clock=clock)
    app = make_app(src, clock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(AlertPane)
        assert pane.alerts == ()
        assert "no alerts" in str(pane.render())
    await src.close()


async def test_time_keys_change_the_window(source, clock, tmp_path) -> None:
    """Presets, zoom, pan and live/freeze change the window and re-query the panels."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.window.range_ms == HOUR and app.window.live
        await pilot.press("1")
        assert app.window.range_ms == 5 * 60_000
        await pilot.press("5")
        assert app.window.range_ms == 7 * 24 * HOUR
        await pilot.press("2")
        await pilot.press("minus")
        assert app.window.range_ms == 2 * HOUR
        await pilot.press("plus")
        assert app.window.range_ms == HOUR
        await pilot.press("left")
        assert not app.window.live
        assert app.window.end_ms == clock.now - HOUR // 4
        await pilot.press("right")
        assert app.window.live
        await pilot.press("f")
        assert not app.window.live
        await settle(pilot)
        status = app.screen.query_one("#status")
        assert "frozen" in status.window
        panel = app.screen.query_one("#panel-3", Panel)
        assert panel.state.end_ms == app.window.end_ms
        await pilot.press("f")
        assert app.window.live
        await pilot.press("r")
        await settle(pilot)


async def test_switch_dashboards_and_save(source, clock, tmp_path) -> None:
    """n/p switch dashboards; s saves the current one to the dashboards file."""
    extra = DashboardSpec(
        "latency",
        (
            PanelSpec(
                "p99",
                "sum by (le) (rate(http_request_duration_seconds_bucket[5m]))",
                kind="heatmap",
            ),
        ),
    )
    from nightowl.tui.dashboards import host_dashboard

    app = make_app(source, clock, tmp_path, dashboards=[host_dashboard(), extra])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        panels = list(app.screen.query(Panel))
        assert [p.spec.title for p in panels] == ["p99"]
        assert panels[0].state.series and panels[0].state.error is None
        assert "latency 2/2" in app.screen.query_one("#status").view
        await pilot.press("s")
        await pilot.press("p")
        await settle(pilot)
        assert len(list(app.screen.query(Panel))) == 7
    saved = load_dashboards_file(tmp_path / "dashboards.toml")
    assert [d.name for d in saved] == ["latency"]
    assert saved[0].panels[0].kind == "heatmap"


async def test_query_view_validates_runs_and_pins(source, clock, tmp_path) -> None:
    """/ opens the bar; a bad query shows the error in place; enter runs; ctrl+n pins."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.screen, QueryScreen)
        bar = app.screen.query_one(QueryBar)
        assert bar.has_focus
        await pilot.press(*"sum(rate(node_load1[5m]")
        msg = app.screen.query_one("#query-message")
        assert msg.has_class("-error")
        assert "parse error" in str(msg.render())
        bar.value = ""
        await pilot.press(*"node_load1")
        assert not msg.has_class("-error")
        await pilot.press("enter")
        await settle(pilot)
        chart = app.screen.query_one("#query-chart", Panel)
        assert [s.name for s in chart.state.series] == ["node_load1"]
        table = app.screen.query_one("#query-table")
        assert table.row_count == 1
        await pilot.press("ctrl+n")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        titles = [p.spec.title for p in app.screen.query(Panel)]
        assert titles[-1] == "node_load1"
    assert (tmp_path / "history.jsonl").read_text().strip() == '"node_load1"'


async def test_query_history_and_search(source, clock, tmp_path) -> None:
    """up/down walk the history; ctrl+r finds an older query containing the text."""
    (tmp_path / "history.jsonl").write_text('"node_load5"\n"up"\n"node_load15"\n')
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon")
        bar = app.screen.query_one(QueryBar)
        await pilot.press("up")
        assert bar.value == "node_load15"
        await pilot.press("up")
        assert bar.value == "up"
        await pilot.press("down")
        assert bar.value == "node_load15"
        await pilot.press("down")
        assert bar.value == ""
        await pilot.press(*"load")
        await pilot.press("ctrl+r")
        assert bar.value == "node_load15"
        await pilot.press("ctrl+r")
        assert bar.value == "node_load5"


async def test_completion_of_metric_label_and_value(source, clock, tmp_path) -> None:
    """tab completes metric names, label names and label values from the store."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        await settle(pilot)
        bar = app.screen.query_one(QueryBar)
        await pilot.press(*"node_filesystem_av")
        await pilot.pause()
        await pilot.press("tab")
        assert bar.value == "node_filesystem_avail_bytes"
        await pilot.press(*"{mount")
        await settle(pilot)
        bar.value = bar.value  # re-trigger the suggester with the labels now loaded
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("tab")
        assert bar.value == "node_filesystem_avail_bytes{mountpoint"
        await pilot.press(*'="/h')
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("tab")
        assert bar.value == 'node_filesystem_avail_bytes{mountpoint="/home'


async def test_targets_view(source, clock, tmp_path) -> None:
    """t shows targets with health, age of the last scrape and the last error."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TargetsScreen)
        table = app.screen.query_one("#targets-table")
        assert table.row_count == 2
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(2)}
        assert rows["api"][2] == "down"
        assert rows["api"][5] == "connection refused"
        assert rows["host"][3] == "3 s ago"
        assert "2 targets, 1 up" in str(app.screen.query_one("#targets-summary").render())
        await pilot.press("d")
        assert isinstance(app.screen, DashboardScreen)


async def test_targets_detail_shows_the_whole_error(host_store, clock, tmp_path) -> None:
    """At 100 columns a long error is cut in the table, but the line under it shows
    the highlighted target's whole error, wrapped, and follows the cursor."""
    import dataclasses

    from nightowl.query.engine import Engine

    from nightowl.sources import LocalSource
    from tests.tui.conftest import host_targets

    long_error = (
        'Get "http://127.0.0.1:1/metrics": dial tcp 127.0.0.1:1: connect: connection refused '
        "(after 3 attempts) [tls: none]"
    )

    def targets():
        host, api = host_targets(clock.now)
        return [host, dataclasses.replace(api, job="a-api", last_error=long_error)]

    src = LocalSource(Engine(host_store), host_store, targets_fn=targets, clock=clock)
    app = make_app(src, clock, tmp_path)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("t")
        await settle(pilot)
        detail = app.screen.query_one("#target-detail")
        lines = detail.render_lines(detail.region.reset_offset)[1:]  # under its top rule
        shown = " ".join(line.text for line in lines)
        assert " ".join(shown.split()).startswith("a-api http://10.0.0.7:9100/metrics: down")
        assert "(after 3 attempts) [tls: none]" in " ".join(shown.split())
        assert len(lines) >= 2  # wrapped, not cut
        await pilot.press("down")
        await pilot.pause()
        lines = detail.render_lines(detail.region.reset_offset)[1:]
        shown = " ".join(line.text for line in lines)
        assert "host host://owl: up; no error" in shown
    await src.close()


async def test_explorer_view(source, clock, tmp_path) -> None:
    """m lists metrics with type and help; the highlighted one shows series and cardinality."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ExplorerScreen)
        table = app.screen.query_one("#metrics-table")
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert "node_cpu_seconds_total" in names
        i = names.index("node_cpu_seconds_total")
        assert table.get_row_at(i)[1] == "counter"
        table.move_cursor(row=i)
        await settle(pilot)
        details = str(app.screen.query_one("#metric-details").render())
        assert "series: 6" in details
        assert "mode: 3" in details and "cpu: 2" in details
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, QueryScreen)
        assert app.screen.query_one(QueryBar).value == "node_cpu_seconds_total"


async def test_help_lists_every_app_binding(source, clock, tmp_path) -> None:
    """? opens help naming every key; escape closes it."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = list(app.screen.bindings_table.columns[2]._cells)
        for b in app.BINDINGS:
            assert b.description in descriptions
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_enter_on_a_panel_opens_its_query(source, clock, tmp_path) -> None:
    """Focusing a panel and pressing enter opens its expression in the query view."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one("#panel-3", Panel)
        panel.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, QueryScreen)
        assert app.screen.query_one(QueryBar).value == panel.spec.expr


async def test_bad_panel_query_shows_error_not_crash(source, clock, tmp_path) -> None:
    """A panel whose expression fails shows the error on its border; others still draw."""
    dash = DashboardSpec(
        "broken", (PanelSpec("bad", "rate(node_load1)"), PanelSpec("ok", "node_load1"))
    )
    app = make_app(source, clock, tmp_path, dashboards=[dash])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bad, ok = list(app.screen.query(Panel))
        assert bad.state.error and bad.has_class("-error")
        assert "error" in str(bad.border_subtitle)
        assert ok.state.series


async def test_low_bandwidth_uses_sparklines_and_slow_refresh(source, clock, tmp_path) -> None:
    """--low-bandwidth: 10 s refresh, line/area panels become sparklines, 16-colour theme."""
    app = make_app(source, clock, tmp_path, low_bandwidth=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.refresh_s == 10
        assert app.theme == "ansi16"
        kinds = {p.spec.kind for p in app.screen.query(Panel)}
        assert "line" not in kinds and "area" not in kinds and "sparkline" in kinds


async def test_unknown_theme_warns_and_falls_back(source, clock, tmp_path) -> None:
    """An unknown --theme is a warning and the dark theme, not a crash."""
    app = make_app(source, clock, tmp_path, theme="neon")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        assert any("neon" in n.message for n in app._notifications)


@pytest.mark.parametrize("theme", ["dark", "light", "high-contrast", "ansi16"])
async def test_every_builtin_theme_renders(source, clock, tmp_path, theme: str) -> None:
    """Each built-in theme resolves every colour the stylesheet uses."""
    app = make_app(source, clock, tmp_path, theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == theme
        panel = app.screen.query_one("#panel-0", Panel)
        assert panel.get_component_rich_style("panel--series-0").color is not None


async def test_no_redraw_when_data_is_unchanged(source, clock, tmp_path) -> None:
    """Re-setting equal data does not repaint a panel (bytes over SSH)."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one("#panel-3", Panel)
        calls = []
        panel.watch_state = lambda state: calls.append(state)  # type: ignore[method-assign]
        app.screen.refresh_now()
        await settle(pilot)
        assert calls == []


async def test_alert_pane_keys_open_history(source, clock, tmp_path) -> None:
    """a focuses the alert pane; enter opens the chosen alert's ALERTS series as a query."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        pane = app.screen.query_one(AlertPane)
        assert pane.has_focus
        await pilot.press("down", "up", "enter")
        await settle(pilot)
        assert isinstance(app.screen, QueryScreen)
        assert app.screen.query_one(QueryBar).value == 'ALERTS{alertname="DiskAlmostFull"}'
        chart = app.screen.query_one("#query-chart", Panel)
        assert len(chart.state.series) == 1


async def test_new_alert_rings_and_flashes(store_factory, clock, tmp_path) -> None:
    """When a new alert starts firing the pane flashes and (if configured) the bell rings."""
    from nightowl.query.engine import Engine

    from nightowl.model import Labels
    from nightowl.sources import LocalSource

    store = store_factory(alerts=False)
    src = LocalSource(Engine(store), store, clock=clock)
    app = make_app(src, clock, tmp_path, bell=True)
    rings = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(AlertPane)
        assert not pane.has_class("-flash") and rings == []
        store.add_series(
            Labels.of("ALERTS", alertname="HighLoad", alertstate="firing", severity="warning"),
            [clock.now - 15_000, clock.now],
            [1.0, 1.0],
        )
        app.screen.tick()
        await settle(pilot)
        assert pane.has_class("-flash") and pane.has_class("-firing")
        assert rings == [1]
        app.screen.tick()
        await settle(pilot)
        assert rings == [1]  # the same alert does not ring again
    await src.close()


async def test_failed_start_leaves_the_ui_with_the_error(clock, tmp_path) -> None:
    """If the deferred source cannot start, the app exits with the error's code and keeps it."""
    from nightowl.errors import CorruptDatabaseError
    from nightowl.sources import DeferredSource

    async def start():
        raise CorruptDatabaseError("not a nightowl database", where="x.db")

    app = make_app(DeferredSource(start()), clock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
    assert app.return_code == 2
    assert isinstance(app.start_error, CorruptDatabaseError)


async def test_deferred_source_fills_in_when_ready(source, clock, tmp_path) -> None:
    """The dashboard draws at once, then fills in and names the source once it has started."""
    import asyncio

    from nightowl.sources import DeferredSource

    gate = asyncio.Event()

    async def start():
        await gate.wait()
        return source

    app = make_app(DeferredSource(start(), ["attached read-only"]), clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        status = app.screen.query_one("#status")
        assert status.mode == "starting"
        assert app.screen.query_one("#panel-3", Panel).state.loading
        gate.set()
        await settle(pilot)
        assert status.mode == "test source"
        assert app.screen.query_one("#panel-3", Panel).state.series
        assert any("attached read-only" in n.message for n in app._notifications)


async def test_rules_view(source, clock, tmp_path) -> None:
    """u shows rule state from the source; without a rule evaluator it says why."""
    from nightowl.query.source import RuleInfo

    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u")
        await settle(pilot)
        summary = str(app.screen.query_one("#rules-summary").render())
        assert "no rule evaluator here" in summary
        source.rules_fn = lambda: [
            RuleInfo(
                "g",
                "f.yml",
                "HighLoad",
                "alerting",
                "node_load1 > 4",
                "ok",
                "firing",
                1,
                clock.now - 2_000,
                0.003,
            ),
            RuleInfo(
                "g", "f.yml", "job:x", "recording", "sum(x)", "err", last_error="no such series"
            ),
        ]
        app.screen.refresh_now()
        await settle(pilot)
        table = app.screen.query_one("#rules-table")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert rows[0][1:6] == ["HighLoad", "alerting", "firing (1)", "ok", "2 s ago"]
        assert rows[1][4] == "err" and rows[1][7] == "no such series"
        assert "2 rules, 1 firing, 1 failing" in str(
            app.screen.query_one("#rules-summary").render()
        )


async def test_silence_and_ack_from_the_alert_pane(host_store, clock, tmp_path) -> None:
    """s asks for a duration and comment and writes a silence; k writes an ack; both to the
    alert state file beside the database, where the rule evaluator reads them."""
    from nightowl.query.engine import Engine
    from nightowl.store.alertstate import AlertStateDB
    from nightowl.tui.screens.alert_action import AlertActionScreen

    from nightowl.sources import LocalSource

    state = AlertStateDB(tmp_path / "owl.db-alerts.sqlite")
    src = LocalSource(Engine(host_store), host_store, alert_state=state, clock=clock)
    app = make_app(src, clock, tmp_path)
    # Notifications expire after a few seconds; a loaded CI machine can take longer than
    # that to reach the last assertion, so keep them for the whole test.
    app.NOTIFICATION_TIMEOUT = 600
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a", "s")
        await pilot.pause()
        assert isinstance(app.screen, AlertActionScreen)
        await pilot.press("enter")  # keep the 2h default, move to the comment
        await pilot.press("enter")  # no comment yet: refused
        assert isinstance(app.screen, AlertActionScreen)
        await pilot.press(*"disk cleanup running", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        (sil,) = state.silences(clock.now)
        assert sil.comment == "disk cleanup running"
        assert sil.ends_ms - sil.starts_ms == 2 * HOUR
        assert 'alertname="DiskAlmostFull"' in sil.matchers and 'mountpoint="/home"' in sil.matchers
        await pilot.press("k")
        await pilot.press(*"on it", "enter")
        await settle(pilot)
        (ack,) = state.acks(clock.now)
        assert ack.alertname == "DiskAlmostFull" and ack.note == "on it"
        await pilot.press("s", "escape")
        assert isinstance(app.screen, DashboardScreen) and len(state.silences(clock.now)) == 1
        assert any("silenced DiskAlmostFull" in n.message for n in app._notifications)
    await src.close()


async def test_silence_without_alert_state_says_why(source, clock, tmp_path) -> None:
    """A source that cannot write silences reports it as a notification, not a crash."""
    app = make_app(source, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a", "k", *"x", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert any("ack failed" in n.message for n in app._notifications)
