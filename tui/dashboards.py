"""Dashboards: what panels to show, from config, from the dashboards file, built in.

A dashboard is a name and a list of panels; a panel is a PromQL expression with
a kind, a unit, thresholds and a legend template. Three places provide them,
in this order on screen:

1. the built-in host dashboard (`host`), shown at once with no config at all;
2. `[[dashboards]]` in the config file (read by `nightowl.config`);
3. the dashboards file `dashboards.toml` next to the config file, which is the
   only file the UI writes (key `s`): the user's config, comments included, is
   never rewritten. A dashboard in the file replaces one of the same name.

This module is data and TOML only: no Textual, no queries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w
from nightowl.tui.format import UNITS
from nightowl.tui.plot import KINDS

from nightowl.errors import ConfigError
from nightowl.model import Labels

__all__ = [
    "LEVELS",
    "DashboardSpec",
    "PanelSpec",
    "dashboards_from_config",
    "default_dashboards_path",
    "host_dashboard",
    "legend_name",
    "load_dashboards_file",
    "merge_dashboards",
    "save_dashboard",
]


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One panel: a PromQL expression drawn as `kind`."""

    title: str
    expr: str
    kind: str = "line"
    unit: str = "none"
    legend: str = ""
    """Template such as `{{mode}}`; empty: the labels that differ between series."""
    thresholds: tuple[tuple[float, str], ...] = ()
    """(value, level) pairs, level one of ok, info, warning, critical: from `value` up."""
    min: float | None = None
    """Lowest value of the axis or gauge (automatic when None)."""
    max: float | None = None
    """Full scale for gauges (default: 1 for ratios, 100 for percent, else the largest value)."""
    width: int = 1
    """Grid columns the panel spans."""
    height: int = 1
    """Grid rows the panel spans."""

    def to_toml(self) -> dict[str, Any]:
        """The panel as a TOML table (defaults left out)."""
        out: dict[str, Any] = {"title": self.title, "expr": self.expr, "kind": self.kind}
        if self.unit != "none":
            out["unit"] = self.unit
        if self.legend:
            out["legend"] = self.legend
        if self.thresholds:
            out["thresholds"] = [{"value": v, "level": lvl} for v, lvl in self.thresholds]
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.width != 1:
            out["width"] = self.width
        if self.height != 1:
            out["height"] = self.height
        return out


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    """A named grid of panels."""

    name: str
    panels: tuple[PanelSpec, ...] = field(default_factory=tuple)
    columns: int = 3
    """Grid columns on a wide terminal (narrow terminals use at most 2)."""
    origin: str = "built-in"
    """Where it came from: "built-in", the config path, or the dashboards file path."""

    def with_panel(self, panel: PanelSpec) -> DashboardSpec:
        """A copy with `panel` appended."""
        return replace(self, panels=(*self.panels, panel))


def host_dashboard() -> DashboardSpec:
    """The dashboard shown with no config: this host, node_exporter metric names."""
    fs = 'fstype!~"tmpfs|ramfs|overlay|squashfs|devtmpfs|nsfs|proc|sysfs|cgroup2?"'
    return DashboardSpec(
        "host",
        (
            PanelSpec(
                "CPU by mode",
                'avg without (cpu) (rate(node_cpu_seconds_total{mode!="idle"}[1m]))',
                kind="area",
                unit="ratio",
                legend="{{mode}}",
            ),
            PanelSpec(
                "CPU busy",
                'avg(1 - rate(node_cpu_seconds_total{mode="idle"}[1m]))',
                kind="gauge",
                unit="ratio",
                legend="busy",
                thresholds=((0.7, "warning"), (0.9, "critical")),
            ),
            PanelSpec(
                "Memory used",
                "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                kind="stat",
                unit="ratio",
                legend="used",
                thresholds=((0.8, "warning"), (0.95, "critical")),
            ),
            PanelSpec(
                "Load",
                '{__name__=~"node_load1|node_load5|node_load15"}',
                kind="line",
                legend="{{__name__}}",
            ),
            PanelSpec(
                "Disk I/O",
                "sum by (device) (rate(node_disk_read_bytes_total[1m])"
                " + rate(node_disk_written_bytes_total[1m]))",
                kind="line",
                unit="bytes/s",
                legend="{{device}}",
            ),
            PanelSpec(
                "Filesystems used",
                f"1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}",
                kind="bar",
                unit="ratio",
                legend="{{mountpoint}}",
                thresholds=((0.8, "warning"), (0.9, "critical")),
            ),
            PanelSpec(
                "Network",
                'sum by (device) (rate(node_network_receive_bytes_total{device!="lo"}[1m])'
                ' + rate(node_network_transmit_bytes_total{device!="lo"}[1m]))',
                kind="line",
                unit="bytes/s",
                legend="{{device}}",
            ),
        ),
    )


#: Threshold levels, from good to bad; each has a theme colour.
LEVELS = ("ok", "info", "warning", "critical")

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def legend_name(labels: Labels, template: str, varying: Sequence[str], fallback: str) -> str:
    """A series' legend: the template filled from its labels, else the varying labels,
    else the metric name, else `fallback`."""
    if template:
        return _TEMPLATE.sub(lambda m: labels.get(m.group(1)), template)
    if varying:
        return ",".join(f"{k}={labels.get(k)}" for k in varying)
    return labels.name or fallback


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _threshold(t: Any, where: str) -> tuple[float, str]:
    value, level = _get(t, "value"), _get(t, "level", "warning")
    if isinstance(t, int | float) and not isinstance(t, bool):
        value, level = t, "warning"
    if level not in LEVELS:
        raise ConfigError(
            f"unknown level {level!r}; expected one of {', '.join(LEVELS)}", where=where
        )
    try:
        return float(value), str(level)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold value must be a number, got {value!r}", where=where) from None


def _panel_from_config(d: Any, where: str) -> PanelSpec:
    expr = _get(d, "expr")
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError("panel needs an `expr` (a PromQL expression)", where=f"{where}.expr")
    kind = _get(d, "kind", "line") or "line"
    if kind not in KINDS:
        raise ConfigError(
            f"unknown panel kind {kind!r}; expected one of {', '.join(KINDS)}",
            where=f"{where}.kind",
        )
    unit = _get(d, "unit", "none") or "none"
    if unit not in UNITS:
        raise ConfigError(
            f"unknown unit {unit!r}; expected one of {', '.join(u for u in UNITS if u)}",
            where=f"{where}.unit",
        )
    thresholds = tuple(
        _threshold(t, f"{where}.thresholds[{k}]")
        for k, t in enumerate(_get(d, "thresholds", ()) or ())
    )
    lo, hi = _get(d, "min"), _get(d, "max")
    return PanelSpec(
        title=str(_get(d, "title", "") or expr),
        expr=expr,
        kind=kind,
        unit=unit,
        legend=str(_get(d, "legend", "") or ""),
        thresholds=thresholds,
        min=float(lo) if lo is not None else None,
        max=float(hi) if hi is not None else None,
        width=int(_get(d, "width", 1) or 1),
        height=int(_get(d, "height", 1) or 1),
    )


def dashboards_from_config(items: Iterable[Any], origin: str = "config") -> list[DashboardSpec]:
    """Dashboards from `Config.dashboards` (the config module's `DashboardConfig`s) or
    from plain mappings of the same shape. Raises ConfigError naming the key path."""
    out = []
    for i, item in enumerate(items):
        where = f"dashboards[{i}]"
        name = _get(item, "name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("dashboard needs a `name`", where=f"{where}.name")
        panels = _get(item, "panels", ()) or ()
        specs = tuple(_panel_from_config(p, f"{where}.panels[{j}]") for j, p in enumerate(panels))
        columns = int(_get(item, "columns", 3) or 3)
        out.append(DashboardSpec(name.strip(), specs, columns, origin))
    return out


def default_dashboards_path(config_path: Path) -> Path:
    """`dashboards.toml` beside the config file."""
    return config_path.with_name("dashboards.toml")


def load_dashboards_file(path: Path) -> list[DashboardSpec]:
    """Dashboards saved from the UI; a missing file is no dashboards.

    The file has the config file's `[[dashboards]]` shape and is validated by the
    config loader, so its errors read like config errors (file, line, key path).
    """
    if not path.exists():
        return []
    from nightowl.config import parse_config

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read dashboards file: {exc}", where=str(path)) from None
    config = parse_config(text, str(path), base_dir=path.parent)
    return dashboards_from_config(config.dashboards, origin=str(path))


def merge_dashboards(*groups: Iterable[DashboardSpec]) -> list[DashboardSpec]:
    """Concatenate groups in order; a later dashboard replaces an earlier one of the same name
    (keeping the earlier one's position)."""
    order: list[str] = []
    by_name: dict[str, DashboardSpec] = {}
    for group in groups:
        for d in group:
            if d.name not in by_name:
                order.append(d.name)
            by_name[d.name] = d
    return [by_name[n] for n in order]


def save_dashboard(path: Path, dashboard: DashboardSpec) -> None:
    """Write `dashboard` into the dashboards file, replacing one of the same name and
    keeping the others. Written to a temporary file and renamed, so a crash never
    leaves half a file."""
    existing = load_dashboards_file(path)
    merged = merge_dashboards(existing, [dashboard])
    doc = {
        "dashboards": [{"name": d.name, "panels": [p.to_toml() for p in d.panels]} for d in merged]
    }
    header = (
        "# Dashboards saved from the nightowl UI (key `s`). This file is rewritten by the UI;\n"
        "# keep hand-written dashboards in [[dashboards]] of config.toml instead.\n\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + tomli_w.dumps(doc), encoding="utf-8")
    tmp.replace(path)
