"""Snapshot tests of the main screens at 80x24 and 120x40 in two themes.

Fixed data and a frozen clock (03:00 UTC) make the screens stable. After a
deliberate change, look at each SVG, then accept with `--snapshot-update`.
"""

from __future__ import annotations

import pytest
from nightowl.tui.app import NightowlApp

SIZES = [(80, 24), (120, 40)]


def make_app(source, clock, tmp_path, theme: str) -> NightowlApp:
    """The app with fixed data, clock and paths."""
    return NightowlApp(
        source,
        clock=clock,
        theme=theme,
        history_path=tmp_path / "history.jsonl",
        dashboards_path=tmp_path / "dashboards.toml",
    )


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for bar in pilot.app.screen.query("Input"):
        bar.cursor_blink = False


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_dashboard(snap_compare, sync_source, clock, tmp_path, theme, size) -> None:
    """The host dashboard with data and a firing alert."""
    app = make_app(sync_source, clock, tmp_path, theme)
    assert snap_compare(app, terminal_size=size, run_before=_settle)


@pytest.mark.parametrize(("theme", "size"), [("dark", (120, 40)), ("light", (80, 24))])
def test_query_view(snap_compare, sync_source, clock, tmp_path, theme, size) -> None:
    """A query run from the bar: chart and table."""
    app = make_app(sync_source, clock, tmp_path, theme)

    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("slash", *"node_load1", "enter")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_query_error_in_place(snap_compare, sync_source, clock, tmp_path) -> None:
    """A parse error under the bar while typing."""
    app = make_app(sync_source, clock, tmp_path, "dark")

    async def run_before(pilot) -> None:
        await pilot.press("slash", *"sum(rate(node_load1[5m]) by")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(("theme", "size"), [("dark", (120, 40)), ("light", (80, 24))])
def test_targets_view(snap_compare, sync_source, clock, tmp_path, theme, size) -> None:
    """Targets with one down."""
    app = make_app(sync_source, clock, tmp_path, theme)

    async def run_before(pilot) -> None:
        await pilot.press("t")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize(("theme", "size"), [("dark", (120, 40)), ("light", (80, 24))])
def test_explorer_view(snap_compare, sync_source, clock, tmp_path, theme, size) -> None:
    """The metric explorer with the first metric's details."""
    app = make_app(sync_source, clock, tmp_path, theme)

    async def run_before(pilot) -> None:
        await pilot.press("m")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_help_screen(snap_compare, sync_source, clock, tmp_path) -> None:
    """The help screen over the dashboard."""
    app = make_app(sync_source, clock, tmp_path, "dark")

    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_rules_view(snap_compare, sync_source, clock, tmp_path) -> None:
    """Rules with one firing alerting rule and one failing recording rule."""
    from nightowl.query.source import RuleInfo

    sync_source.rules_fn = lambda: [
        RuleInfo(
            "disk",
            "rules/disk.yml",
            "DiskAlmostFull",
            "alerting",
            "fs_used > 0.9",
            "ok",
            "firing",
            1,
            clock.now - 4_000,
            0.004,
        ),
        RuleInfo(
            "disk",
            "rules/disk.yml",
            "DiskFillingUp",
            "alerting",
            "predict_linear(x[1h], 4 * 3600) < 0",
            "ok",
            "inactive",
            0,
            clock.now - 4_000,
            0.011,
        ),
        RuleInfo(
            "api",
            "rules/api.yml",
            "job:http_requests:rate5m",
            "recording",
            "sum by (job) (rate(http_requests_total[5m]))",
            "err",
            last_eval_ms=clock.now - 9_000,
            last_error="many-to-many matching not allowed",
        ),
    ]
    app = make_app(sync_source, clock, tmp_path, "dark")

    async def run_before(pilot) -> None:
        await pilot.press("u")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
