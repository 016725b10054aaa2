"""Rule files: Prometheus YAML (unchanged) and the same structure in TOML.

A rule file holds ``groups``; each group a ``name``, optional ``interval`` and
``limit``, and ``rules``, each either ``alert`` or ``record`` with ``expr``,
``for``, ``keep_firing_for``, ``labels`` and ``annotations``, exactly as
Prometheus's rulefmt reads them. TOML files use ``[[groups]]`` (or
``[[rule_groups]]`` as in nightowl's config) with ``[[groups.rules]]``.

nightowl adds optional keys to alerting rules (Prometheus refuses them, so keep
them out of files promtool must also read):

- ``recovery_expr``: hysteresis; once firing, the alert resolves only when this
  expression stops returning the alert's series (see docs/alerting.md);
- ``flap_damping: {transitions: N, window: 1h}``: an alert whose state flipped more
  than N times within the window is held as flapping (one notification);
- ``anomaly: {...}``: an anomaly rule, see :mod:`nightowl.alerts.anomaly`; it
  replaces ``expr``.

Everything found wrong is collected, each problem naming file:line, group and
rule, and raised together as one :class:`RuleFileError`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nightowl.alerts.template import Template, TemplateError

from nightowl.errors import NightowlError, UserError
from nightowl.timeutil import parse_duration

__all__ = [
    "AnomalySpec",
    "FlapSpec",
    "GroupSpec",
    "RuleFileError",
    "RuleSpec",
    "groups_from_config",
    "load_rule_file",
    "load_rule_files",
    "parse_rule_text",
]

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_GROUP_KEYS = {"name", "interval", "limit", "rules", "query_offset"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_EXT_KEYS = {"recovery_expr", "flap_damping", "anomaly"}


class RuleFileError(UserError):
    """One or more problems in rule files; :attr:`problems` lists each one with its place."""

    def __init__(self, problems: list[str]) -> None:
        n = len(problems)
        super().__init__(
            "\n".join(problems) + f"\n{n} problem{'s' if n != 1 else ''} in rule files"
        )
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FlapSpec:
    """Flap damping: more than `transitions` state changes within `window_ms` holds the alert."""

    transitions: int
    window_ms: int


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """An anomaly rule's band: see :mod:`nightowl.alerts.anomaly`."""

    expr: str
    method: str = "zscore"
    window_ms: int = 3_600_000
    threshold: float = 3.0
    seasonal_ms: int = 0
    direction: str = "both"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule as written in a file (templates parsed, durations in ms)."""

    name: str
    expr: str
    kind: str  # "alert" or "record"
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    recovery_expr: str = ""
    flap: FlapSpec | None = None
    anomaly: AnomalySpec | None = None
    where: str = ""

    @property
    def is_alert(self) -> bool:
        """True for an alerting rule."""
        return self.kind == "alert"


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One rule group: evaluated every `interval_ms` (0: the global default), in order."""

    name: str
    file: str
    rules: tuple[RuleSpec, ...]
    interval_ms: int = 0
    limit: int = 0
    query_offset_ms: int = 0
    where: str = ""

    @property
    def key(self) -> str:
        """Unique key of the group: `file;name`, as Prometheus keys groups."""
        return f"{self.file};{self.name}"


# ---------------------------------------------------------------------- YAML with line numbers


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps each mapping's line and refuses duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError(
                problem=f"mapping key {key!r} already defined",
                problem_mark=key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
    out["__line__"] = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_lines(x) for k, x in v.items() if k != "__line__"}
    if isinstance(v, list):
        return [_strip_lines(x) for x in v]
    return v


# ---------------------------------------------------------------------- validation


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def add(self, line: int | None, where: str, msg: str) -> None:
        loc = f"{self.file}:{line}" if line else self.file
        self.problems.append(f"{loc}: {where}{': ' if where else ''}{msg}")


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line(d: Any) -> int | None:
    return d.get("__line__") if isinstance(d, dict) else None


def _duration(c: _Collector, line: int | None, where: str, key: str, v: Any) -> int:
    if v is None:
        return 0
    try:
        return parse_duration(str(v))
    except NightowlError as exc:
        c.add(line, where, f"{key}: {exc.message}")
        return 0


def _str_map(c: _Collector, line: int | None, where: str, key: str, v: Any) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        c.add(line, where, f"{key} must be a mapping of names to strings")
        return {}
    out: dict[str, str] = {}
    for k, x in v.items():
        if k == "__line__":
            continue
        if not isinstance(k, str) or not _LABEL_NAME.match(k):
            c.add(line, where, f"invalid {key[:-1]} name: {k}")
            continue
        if isinstance(x, dict | list):
            c.add(line, where, f"{key}.{k} must be a string")
            continue
        out[k] = "" if x is None else (str(x).lower() if isinstance(x, bool) else str(x))
    return out


def _check_expr(c: _Collector, line: int | None, where: str, key: str, expr: str) -> None:
    from nightowl.query.parser import parse

    try:
        parse(expr)
    except NightowlError as exc:
        c.add(line, where, f"could not parse {key}: {exc.message}")


def _check_templates(
    c: _Collector, line: int | None, where: str, kind: str, items: Mapping[str, str]
) -> None:
    for k, text in items.items():
        try:
            Template.parse(text)
        except TemplateError as exc:
            c.add(line, where, f"{kind} {_q(k)}: {exc.message}")


def _flap(c: _Collector, line: int | None, where: str, raw: Any) -> FlapSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        c.add(line, where, "flap_damping must be a mapping with transitions and window")
        return None
    unknown = set(raw) - {"transitions", "window", "__line__"}
    if unknown:
        c.add(line, where, f"flap_damping: unknown key(s) {', '.join(sorted(unknown))}")
    n = raw.get("transitions", 4)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        c.add(line, where, "flap_damping.transitions must be a positive integer")
        n = 4
    w = _duration(c, line, where, "flap_damping.window", raw.get("window", "1h"))
    if w <= 0:
        c.add(line, where, "flap_damping.window must be positive")
    return FlapSpec(n, w)


def _anomaly(c: _Collector, line: int | None, where: str, raw: Any) -> AnomalySpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        c.add(line, where, "anomaly must be a mapping (expr, method, window, threshold, seasonal)")
        return None
    allowed = {"expr", "method", "window", "threshold", "seasonal", "direction", "__line__"}
    unknown = set(raw) - allowed
    if unknown:
        c.add(line, where, f"anomaly: unknown key(s) {', '.join(sorted(unknown))}")
    expr = raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        c.add(line, where, "anomaly.expr is required (the series to watch)")
        expr = "vector(0)"
    method = raw.get("method", "zscore")
    if method not in ("zscore", "mad"):
        c.add(line, where, f"anomaly.method must be zscore or mad, got {method!r}")
        method = "zscore"
    direction = raw.get("direction", "both")
    if direction not in ("both", "above", "below"):
        c.add(line, where, f"anomaly.direction must be both, above or below, got {direction!r}")
        direction = "both"
    thr = raw.get("threshold", 3.0)
    if not isinstance(thr, int | float) or isinstance(thr, bool) or thr <= 0:
        c.add(line, where, "anomaly.threshold must be a positive number")
        thr = 3.0
    window = _duration(c, line, where, "anomaly.window", raw.get("window", "1h"))
    if window <= 0:
        c.add(line, where, "anomaly.window must be positive")
        window = 3_600_000
    seasonal = raw.get("seasonal")
    seasonal_ms = 0
    if seasonal is not None:
        seasonal_ms = {"1d": 86_400_000, "1w": 604_800_000}.get(str(seasonal), -1)
        if seasonal_ms < 0:
            c.add(line, where, f"anomaly.seasonal must be 1d or 1w, got {seasonal!r}")
            seasonal_ms = 0
    return AnomalySpec(expr, method, window, float(thr), seasonal_ms, direction)


def _rule(c: _Collector, gname: str, idx: int, raw: Any) -> RuleSpec | None:
    line = _line(raw)
    if not isinstance(raw, dict):
        c.add(line, f"group {_q(gname)}, rule {idx + 1}", "a rule must be a mapping")
        return None
    alert, record = raw.get("alert"), raw.get("record")
    name = str(alert or record or "")
    where = f"group {_q(gname)}, rule {idx + 1}" + (f", {_q(name)}" if name else "")
    unknown = set(raw) - _RULE_KEYS - _EXT_KEYS - {"__line__"}
    for k in sorted(map(str, unknown)):
        c.add(line, where, f"field {k} not found in type rulefmt.Rule")
    if bool(alert) == bool(record):
        c.add(
            line,
            where,
            "one of 'record' or 'alert' must be set"
            if not (alert or record)
            else "only one of 'record' and 'alert' must be set",
        )
        return None
    kind = "alert" if alert else "record"
    anomaly = _anomaly(c, line, where, raw.get("anomaly")) if kind == "alert" else None
    expr = raw.get("expr")
    if anomaly is not None:
        from nightowl.alerts.anomaly import compile_anomaly

        if expr:
            c.add(line, where, "an anomaly rule takes anomaly.expr instead of expr")
        _check_expr(c, line, where, "anomaly.expr", anomaly.expr)
        expr = compile_anomaly(anomaly)
    elif not isinstance(expr, str) or not expr.strip():
        c.add(line, where, "field 'expr' must be set in rule")
        expr = ""
    else:
        _check_expr(c, line, where, "expr", expr)
    labels = _str_map(c, line, where, "labels", raw.get("labels"))
    annotations = _str_map(c, line, where, "annotations", raw.get("annotations"))
    if kind == "record":
        if not _METRIC_NAME.match(name):
            c.add(line, where, f"invalid recording rule name: {name}")
        for k in ("for", "keep_firing_for", "annotations", *sorted(_EXT_KEYS)):
            if raw.get(k):
                c.add(line, where, f"invalid field '{k}' in recording rule")
    for k in labels:
        if k == "__name__":
            c.add(line, where, "invalid label name: __name__")
    _check_templates(c, line, where, "label", labels)
    _check_templates(c, line, where, "annotation", annotations)
    recovery = raw.get("recovery_expr") or ""
    if recovery:
        if not isinstance(recovery, str):
            c.add(line, where, "recovery_expr must be a PromQL string")
            recovery = ""
        else:
            _check_expr(c, line, where, "recovery_expr", recovery)
    return RuleSpec(
        name=name,
        expr=str(expr),
        kind=kind,
        for_ms=_duration(c, line, where, "for", raw.get("for")),
        keep_firing_for_ms=_duration(c, line, where, "keep_firing_for", raw.get("keep_firing_for")),
        labels=tuple(sorted(labels.items())),
        annotations=tuple(sorted(annotations.items())),
        recovery_expr=recovery if kind == "alert" else "",
        flap=_flap(c, line, where, raw.get("flap_damping")) if kind == "alert" else None,
        anomaly=anomaly,
        where=f"{c.file}:{line}" if line else c.file,
    )


def _groups(c: _Collector, doc: Any, key: str) -> list[GroupSpec]:
    if doc is None:
        return []
    if not isinstance(doc, dict):
        c.add(None, "", "a rule file must be a mapping with 'groups'")
        return []
    unknown = set(doc) - {key, "__line__"}
    for k in sorted(map(str, unknown)):
        c.add(_line(doc), "", f"field {k} not found in type rulefmt.RuleGroups")
    raw_groups = doc.get(key) or []
    if not isinstance(raw_groups, list):
        c.add(_line(doc), "", f"'{key}' must be a list of groups")
        return []
    out: list[GroupSpec] = []
    seen: set[str] = set()
    for gi, g in enumerate(raw_groups):
        line = _line(g)
        if not isinstance(g, dict):
            c.add(line, f"group {gi + 1}", "a group must be a mapping")
            continue
        name = g.get("name")
        where = f"group {_q(str(name))}" if name else f"group {gi + 1}"
        for k in sorted(map(str, set(g) - _GROUP_KEYS - {"__line__"})):
            c.add(line, where, f"field {k} not found in type rulefmt.RuleGroup")
        if not name:
            c.add(line, where, "Groupname must not be empty")
            name = ""
        elif name in seen:
            c.add(line, where, f"{name}: repeated in the same file")
        seen.add(str(name))
        interval = _duration(c, line, where, "interval", g.get("interval"))
        limit = g.get("limit") or 0
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            c.add(line, where, "limit must be a non-negative integer")
            limit = 0
        raw_rules = g.get("rules") or []
        if not isinstance(raw_rules, list):
            c.add(line, where, "rules must be a list")
            raw_rules = []
        rules = [_rule(c, str(name), i, r) for i, r in enumerate(raw_rules)]
        out.append(
            GroupSpec(
                name=str(name),
                file=c.file,
                rules=tuple(r for r in rules if r is not None),
                interval_ms=interval,
                limit=limit,
                query_offset_ms=_duration(c, line, where, "query_offset", g.get("query_offset")),
                where=f"{c.file}:{line}" if line else c.file,
            )
        )
    return out


def parse_rule_text(text: str, file: str = "<rules>", *, toml: bool = False) -> list[GroupSpec]:
    """Parse rule file content; raises :class:`RuleFileError` listing every problem."""
    c = _Collector(file)
    if toml:
        try:
            doc: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleFileError([f"{file}: {exc}"]) from None
        key = "rule_groups" if "rule_groups" in doc else "groups"
    else:
        try:
            doc = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f":{mark.line + 1}" if mark is not None else ""
            raise RuleFileError([f"{file}{line}: {exc.problem or exc}"]) from None
        except yaml.YAMLError as exc:
            raise RuleFileError([f"{file}: {exc}"]) from None
        key = "groups"
    groups = _groups(c, doc, key)
    if c.problems:
        raise RuleFileError(c.problems)
    return groups


def load_rule_file(path: str | Path) -> list[GroupSpec]:
    """Read one rule file (`.toml` is TOML, anything else YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError([f"{p}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise RuleFileError([f"{p}: not UTF-8 text"]) from None
    return parse_rule_text(text, str(p), toml=p.suffix.lower() == ".toml")


def load_rule_files(paths: Iterable[str | Path]) -> list[GroupSpec]:
    """Read several rule files; every problem of every file is reported together."""
    problems: list[str] = []
    groups: list[GroupSpec] = []
    for p in paths:
        try:
            groups.extend(load_rule_file(p))
        except RuleFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RuleFileError(problems)
    return groups


def groups_from_config(groups: Iterable[Any], file: str = "config.toml") -> list[GroupSpec]:
    """Convert the config's ``[[rule_groups]]`` (`RuleGroupConfig`) to group specs."""
    docs: list[dict[str, Any]] = []
    for g in groups:
        rules = []
        for r in g.rules:
            raw: dict[str, Any] = {"expr": r.expr}
            if r.alert:
                raw["alert"] = r.alert
            if r.record:
                raw["record"] = r.record
            if r.for_:
                raw["for"] = f"{r.for_}ms"
            if r.keep_firing_for:
                raw["keep_firing_for"] = f"{r.keep_firing_for}ms"
            if r.labels:
                raw["labels"] = dict(r.labels)
            if r.annotations:
                raw["annotations"] = dict(r.annotations)
            rules.append(raw)
        docs.append(
            {"name": g.name, "interval": f"{g.interval}ms", "limit": g.limit, "rules": rules}
        )
    c = _Collector(file)
    out = _groups(c, {"groups": docs}, "groups")
    if c.problems:
        raise RuleFileError(c.problems)
    return out


def strip_positions(doc: Any) -> Any:
    """The parsed YAML without the line bookkeeping (for tools reusing the loader)."""
    return _strip_lines(doc)


def load_yaml(text: str, file: str) -> Any:
    """Load YAML with duplicate keys refused; errors carry file:line."""
    try:
        return _strip_lines(yaml.load(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{exc.problem or exc}", where=f"{file}{line}") from None
    except yaml.YAMLError as exc:
        raise UserError(str(exc), where=file) from None
