"""Event markers from configured queries ([tui] event_queries): config, detection,
drawing, theme colour, and the whole path through the dashboard over the real engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nightowl.query.engine import Engine
from nightowl.query.values import Matrix, QueryResult, RangeSeries
from nightowl.themes.loader import builtin_themes, load_themes
from nightowl.tui.app import NightowlApp
from nightowl.tui.messages import EventsChanged
from nightowl.tui.plot import PlotSeries, render_panel
from nightowl.tui.results import query_events
from nightowl.tui.widgets.panel import Panel

from nightowl.config import ConfigValidationError, parse_config
from nightowl.model import Labels
from nightowl.sources import LocalSource

MIN = 60_000
HOUR = 3_600_000
STEP = 15_000  # the fixture store's scrape interval


def _text(row) -> str:
    return "".join(t for t, _ in row)


def test_config_reads_event_queries() -> None:
    """`[tui] event_queries` is a list of {name, expr}; both are required, expr is PromQL."""
    c = parse_config(
        '[tui]\nevent_queries = [{ name = "deploys", expr = "changes(deploy_ts[5m]) > 0" }]\n',
        "c.toml",
    )
    assert [(e.name, e.expr) for e in c.tui.event_queries] == [
        ("deploys", "changes(deploy_ts[5m]) > 0")
    ]
    with pytest.raises(ConfigValidationError, match=r"tui\.event_queries\[0\]\.expr"):
        parse_config('[tui]\nevent_queries = [{ name = "x", expr = "rate(" }]\n', "c.toml")
    with pytest.raises(ConfigValidationError, match=r"tui\.event_queries\[0\]\.name"):
        parse_config('[tui]\nevent_queries = [{ expr = "up" }]\n', "c.toml")


def test_query_events_are_the_starts_of_runs() -> None:
    """Each run of present steps is one event at its first step; one at the window's
    start is not; runs of several series at one time are one event."""
    step = MIN
    t = np.array([0, 1, 10, 11, 12, 30, 45, 46], dtype=np.int64) * step
    t2 = np.array([30, 31], dtype=np.int64) * step
    m = Matrix(
        [
            RangeSeries(Labels.of("d", app="a"), t, np.ones(len(t))),
            RangeSeries(Labels.of("d", app="b"), t2, np.ones(len(t2))),
        ]
    )
    got = query_events(QueryResult(m), "deploys", 0, 60 * step, step)
    assert got == [
        (10 * step, "event:deploys"),
        (30 * step, "event:deploys"),
        (45 * step, "event:deploys"),
    ]


def test_query_event_marks_and_legend_note() -> None:
    """A query event is a ◆ in the `event` style on the time axis, named in the legend;
    alert marks keep their own glyphs beside it."""
    t = np.arange(0, HOUR + 1, 30_000, dtype=np.int64)
    s = [PlotSeries("eth0", t, np.full(len(t), 5.0), 0)]
    rows = render_panel(
        "line",
        s,
        0,
        HOUR,
        30_000,
        60,
        8,
        unit="bytes/s",
        events=[(HOUR // 4, "event:deploys"), (HOUR // 2, "fired"), (2 * HOUR, "event:late")],
    )
    axis, legend = rows[-2], rows[-1]
    assert _text(axis).count("◆") == 1 and _text(axis).count("▲") == 1
    assert dict(axis)["◆"] == "event"
    assert _text(axis).index("◆") < _text(axis).index("▲")
    assert _text(legend).startswith("◆ deploys")  # outside the window: "late" not named
    assert "late" not in _text(legend)
    assert ("◆ ", "event") in legend


def test_themes_have_an_event_colour(tmp_path: Path) -> None:
    """Every built-in theme names `event-marker`; a user theme without it gets one."""
    for theme in builtin_themes().values():
        assert theme.variables.get("event-marker"), theme.name
    (tmp_path / "mine.toml").write_text('[colors]\nprimary = "#ff8800"\nsecondary = "#00ff88"\n')
    assert load_themes(tmp_path).themes["mine"].variables["event-marker"] == "#00ff88"


def _store_with_deploys(build_host_store, t0: int):
    store = build_host_store()
    # CI pushes the time of each deploy; two deploys in the hour: 40 and 15 minutes ago
    ts = np.arange(t0 - HOUR, t0 + 1, STEP, dtype=np.int64)
    deploy = np.where(
        ts >= t0 - 15 * MIN,
        t0 - 15 * MIN,
        np.where(ts >= t0 - 40 * MIN, t0 - 40 * MIN, t0 - 2 * HOUR),
    )
    store.add_series(
        Labels.of("deploy_timestamp_seconds", job="ci"), ts.tolist(), (deploy / 1000).tolist()
    )
    return store


async def test_dashboard_marks_configured_events(store_factory, clock, tmp_path: Path) -> None:
    """With an event query configured, line charts carry its events where the deploys
    happened, drawn as ◆ on the time axis; a failing event query is reported, not fatal."""
    t0 = clock.now
    store = _store_with_deploys(store_factory, t0)
    src = LocalSource(Engine(store), store, clock=clock)
    messages: list = []
    app = NightowlApp(
        src,
        clock=clock,
        history_path=tmp_path / "h",
        dashboards_path=tmp_path / "d.toml",
        event_queries=[
            ("deploys", "changes(deploy_timestamp_seconds[5m]) > 0"),
            ("broken", "nosuchfunction(up)"),
        ],
    )
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        await pilot.pause()
        changed = [m for m in messages if isinstance(m, EventsChanged)]
        assert changed
        deploys = [t for t, kind in changed[-1].events if kind == "event:deploys"]
        assert len(deploys) == 2
        # at the first step at or after each deploy (the 1 h window's step is 1 min or less)
        for want, got in zip((t0 - 40 * MIN, t0 - 15 * MIN), deploys, strict=True):
            assert want <= got <= want + MIN
        load = next(p for p in app.screen.query(Panel) if p.spec.title == "Load")
        assert any(kind == "event:deploys" for _, kind in load.events)
        lines = [_text(r) for r in load._body()]
        assert any(line.count("◆") == 2 for line in lines)
        assert any("◆ deploys" in line for line in lines)
        assert any("event query failed: broken" in n.message for n in app._notifications)
    await src.close()


def test_a_mark_on_a_time_label_hides_the_label() -> None:
    """A mark landing on a time label hides that label rather than garbling its digits."""
    t = np.arange(0, HOUR + 1, 30_000, dtype=np.int64)
    s = [PlotSeries("x", t, np.full(len(t), 1.0), 0)]
    plain = _text(render_panel("line", s, 0, HOUR, 30_000, 60, 4, legend=False)[-1])
    marked = _text(
        render_panel("line", s, 0, HOUR, 30_000, 60, 4, legend=False, events=[(HOUR, "event:d")])[
            -1
        ]
    )
    assert "01:00" in plain and "00:00" in plain
    assert "01:00" not in marked and "1:00" not in marked and ":" in marked
    assert marked.rstrip().endswith("◆")
