"""Dashboards: the built-in host dashboard, config dashboards, and the saved file."""

from __future__ import annotations

from pathlib import Path

import pytest
from nightowl.query.source import validate_promql
from nightowl.tui.dashboards import (
    DashboardSpec,
    PanelSpec,
    dashboards_from_config,
    host_dashboard,
    legend_name,
    load_dashboards_file,
    merge_dashboards,
    save_dashboard,
)

from nightowl.config import parse_config
from nightowl.errors import ConfigError
from nightowl.model import Labels

CONFIG = """
# my dashboards
[[dashboards]]
name = "api"
columns = 2

[[dashboards.panels]]
title = "Requests"
expr = "sum by (code) (rate(http_requests_total[5m]))"
kind = "area"
unit = "reqps"
legend = "{{code}}"
thresholds = [{ value = 100, level = "warning" }, { value = 500, level = "critical" }]
width = 2
"""


def test_host_dashboard_has_six_plus_valid_panels() -> None:
    """The no-config dashboard: CPU, memory, load, disk, filesystems, network, all valid PromQL."""
    d = host_dashboard()
    assert len(d.panels) >= 6
    kinds = {p.kind for p in d.panels}
    assert {"line", "area", "gauge", "stat", "bar"} <= kinds
    for p in d.panels:
        validate_promql(p.expr)


def test_dashboards_from_config_sections() -> None:
    """`[[dashboards]]` from the config loader becomes dashboard specs."""
    config = parse_config(CONFIG, "config.toml")
    (d,) = dashboards_from_config(config.dashboards, origin="config.toml")
    assert d.name == "api" and d.columns == 2
    (p,) = d.panels
    assert p.kind == "area" and p.unit == "reqps" and p.width == 2
    assert p.thresholds == ((100.0, "warning"), (500.0, "critical"))


def test_bad_panel_names_the_key() -> None:
    """Errors name the key path."""
    with pytest.raises(ConfigError) as err:
        dashboards_from_config([{"name": "x", "panels": [{"expr": "up", "kind": "pie"}]}])
    assert err.value.where == "dashboards[0].panels[0].kind"
    with pytest.raises(ConfigError) as err:
        dashboards_from_config([{"name": "x", "panels": [{"expr": "up", "unit": "furlongs"}]}])
    assert err.value.where == "dashboards[0].panels[0].unit"
    with pytest.raises(ConfigError):
        dashboards_from_config([{"panels": []}])


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    """Saving writes a separate file; saving again replaces by name and keeps the others."""
    path = tmp_path / "cfg" / "dashboards.toml"
    one = DashboardSpec(
        "one", (PanelSpec("Load", "node_load1", unit="short", thresholds=((2.0, "warning"),)),)
    )
    two = DashboardSpec("two", (PanelSpec("Up", "up", kind="stat", min=0, max=1),), columns=2)
    save_dashboard(path, one)
    save_dashboard(path, two)
    save_dashboard(
        path, one.with_panel(PanelSpec("Mem", "node_memory_MemAvailable_bytes", unit="bytes"))
    )
    loaded = load_dashboards_file(path)
    assert [d.name for d in loaded] == ["one", "two"]
    assert [p.title for p in loaded[0].panels] == ["Load", "Mem"]
    assert loaded[0].panels[0].thresholds == ((2.0, "warning"),)
    assert loaded[1].panels[0].max == 1 and loaded[1].columns == 2
    assert path.read_text().startswith("# Dashboards saved from the nightowl UI")


def test_config_file_is_never_touched(tmp_path: Path) -> None:
    """The user's config (with comments) is not rewritten when a dashboard is saved."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    save_dashboard(tmp_path / "dashboards.toml", host_dashboard())
    assert cfg.read_text() == CONFIG


def test_bad_dashboards_file_is_a_config_error(tmp_path: Path) -> None:
    """A broken dashboards file raises ConfigError naming the file."""
    path = tmp_path / "dashboards.toml"
    path.write_text("[[dashboards]]\nname = 3\n")
    with pytest.raises(ConfigError) as err:
        load_dashboards_file(path)
    assert "dashboards.toml" in str(err.value)
    assert load_dashboards_file(tmp_path / "missing.toml") == []


def test_merge_replaces_by_name_in_place() -> None:
    """A later dashboard of the same name replaces the earlier one at its position."""
    a, b = DashboardSpec("a"), DashboardSpec("b")
    a2 = DashboardSpec("a", (PanelSpec("x", "up"),))
    assert merge_dashboards([a, b], [a2]) == [a2, b]


def test_legend_names() -> None:
    """Templates fill from labels; without one, the labels that differ name the series."""
    labels = Labels.of("node_cpu", mode="user", cpu="0")
    assert legend_name(labels, "{{mode}} on {{ cpu }}", [], "t") == "user on 0"
    assert legend_name(labels, "", ["mode"], "t") == "mode=user"
    assert legend_name(labels, "", [], "t") == "node_cpu"
    assert legend_name(Labels(), "", [], "title") == "title"
