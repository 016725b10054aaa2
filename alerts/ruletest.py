"""Rule unit tests in promtool's format (`nightowl test rules FILE...`).

A test file names ``rule_files`` (relative to the test file, globs allowed),
an ``evaluation_interval`` (default 1m), an optional ``group_eval_order`` and
``tests``, each with ``interval``, ``input_series`` (series + values in
expanding notation, e.g. ``0+10x5 _ stale``), ``alert_rule_test`` (alertname,
eval_time, exp_alerts with exp_labels / exp_annotations), ``promql_expr_test``
(expr, eval_time, exp_samples) and ``external_labels``.

As promtool does: groups are evaluated from time 0 every evaluation interval
up to the largest eval_time; an alert test at eval_time T looks at the firing
alerts after the evaluation at the last step <= T; expression tests run after
all evaluations, over the input plus everything the rules recorded. Output
(``Unit Testing:  FILE`` / ``  SUCCESS`` / ``  FAILED:`` and the differences)
and exit status (0 pass, 1 any failure) follow promtool.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nightowl.alerts.group import Group
from nightowl.alerts.rulefile import GroupSpec, RuleFileError, load_rule_files, load_yaml
from nightowl.alerts.rules import AlertState, RuleEvalError, engine_query_fn

from nightowl.errors import NightowlError
from nightowl.model import Labels, SampleBatch, go_quote
from nightowl.timeutil import format_duration, parse_duration

__all__ = ["format_go_e", "prom_labels", "run_test_file", "run_test_files"]

_FILE_KEYS = {"rule_files", "evaluation_interval", "group_eval_order", "tests"}
_GROUP_KEYS = {
    "interval",
    "input_series",
    "alert_rule_test",
    "promql_expr_test",
    "external_labels",
    "external_url",
    "name",
}


class _TestFailure(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def prom_labels(labels: Labels | dict[str, str] | tuple[tuple[str, str], ...]) -> str:
    """Prometheus's `labels.Labels.String()`: `{__name__="x", a="b"}`."""
    items = sorted(labels.items()) if isinstance(labels, dict) else list(labels)
    inner = ", ".join(f"{k}={go_quote(v)}" for k, v in items)
    return "{" + inner + "}"


def format_go_e(v: float) -> str:
    """Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `1E+00`, `1.5E-01`, `NaN`, `+Inf`."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = f"{v:.17e}"
    # shortest round-trip digits
    for p in range(0, 18):
        cand = f"{v:.{p}e}"
        if float(cand) == v:
            text = cand
            break
    mant, exp = text.split("e")
    e = int(exp)
    return f"{mant}E{'+' if e >= 0 else '-'}{abs(e):02d}"


def _indent(text: str, indent: str) -> str:
    lines = text.split("\n")
    return lines[0] + "".join("\n" + indent + line for line in lines[1:])


@dataclass(slots=True)
class _LA:
    """Labels and annotations as sorted pairs (empty values kept, as Prometheus's
    labels.FromMap keeps them in expectations)."""

    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]

    def key(self) -> tuple[Any, ...]:
        return (tuple(self.labels), tuple(self.annotations))

    def __str__(self) -> str:
        return (
            "Labels:" + prom_labels(self.labels) + "\nAnnotations:" + prom_labels(self.annotations)
        )


def _la_list(items: list[_LA]) -> str:
    if not items:
        return "[]"
    s = "[\n0:" + _indent("\n" + str(items[0]), "  ")
    for i, item in enumerate(items[1:], 1):
        s += ",\n" + str(i) + ":" + _indent("\n" + str(item), "  ")
    return s + "\n]"


def _str_map(v: Any) -> dict[str, str]:
    if not v:
        return {}
    if not isinstance(v, dict):
        raise _TestFailure([f"expected a mapping, got {v!r}"])
    return {str(k): _yaml_str(x) for k, x in v.items()}


def _yaml_str(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def _dur(v: Any, what: str) -> int:
    if v is None:
        return 0
    try:
        return parse_duration(str(v))
    except NightowlError as exc:
        raise _TestFailure([f"{what}: {exc.message}"]) from None


def _run_group(
    tg: dict[str, Any], eval_interval: int, specs: list[GroupSpec], order: dict[str, int]
) -> list[str]:
    from nightowl.query.engine import Engine
    from nightowl.query.promqltest import expand_series, parse_series_line
    from nightowl.store.memory import MemoryStore

    unknown = set(tg) - _GROUP_KEYS
    if unknown:
        k = sorted(unknown)[0]
        return [f"field {k} not found in type main.testGroup"]
    interval = _dur(tg.get("interval"), "interval") or 60_000
    name = str(tg.get("name") or "")
    ext = _str_map(tg.get("external_labels"))
    store = MemoryStore()
    for item in tg.get("input_series") or []:
        if not isinstance(item, dict):
            return ["input_series: each item needs series and values"]
        line = f"{item.get('series', '')} {_yaml_str(item.get('values', ''))}"
        try:
            labels, values = expand_series(line)
        except ValueError as exc:
            return [f"input_series {item.get('series')!r}: {exc}"]
        ts = [i * interval for i, v in enumerate(values) if v is not None]
        vs = [v for v in values if v is not None]
        store.append_sync(SampleBatch([labels], [0] * len(ts), ts, vs))
    engine = Engine(store)
    query = engine_query_fn(engine)
    groups = [
        Group(
            s,
            query,
            None,
            None,
            interval_ms=interval,
            external_labels=ext,
            external_url=str(tg.get("external_url") or ""),
        )
        for s in specs
    ]
    groups.sort(key=lambda g: order.get(g.name, 0))
    for g in groups:
        for r in g.alerting_rules():
            r.restored = True

    alert_tests = tg.get("alert_rule_test") or []
    expr_tests = tg.get("promql_expr_test") or []
    eval_times: dict[int, list[dict[str, Any]]] = {}
    for at in alert_tests:
        if not at.get("alertname"):
            where = f" (in TestGroup {name})" if name else ""
            t = format_duration(_dur(at.get("eval_time"), "eval_time"))
            return [
                "an item under alert_rule_test misses required attribute alertname at "
                f"eval_time {t}{where}"
            ]
        eval_times.setdefault(_dur(at.get("eval_time"), "eval_time"), []).append(at)
    max_t = max([*eval_times, *(_dur(e.get("eval_time"), "eval_time") for e in expr_tests), 0])
    pending_times = sorted(eval_times)
    errs: list[str] = []
    curr = 0
    t = 0
    while t <= max_t:
        eval_errs: list[str] = []
        for g in groups:
            g.eval_sync(t, lambda batch: store.append_sync(SampleBatch.from_samples(batch)))
            for r in g.rules:
                if r.last_error:
                    eval_errs.append(
                        f"    rule: {r.name}, time: {format_duration(t)}, err: {r.last_error}"
                    )
        errs.extend(eval_errs)
        if eval_errs:
            return errs
        while curr < len(pending_times) and t <= pending_times[curr] < t + eval_interval:
            et = pending_times[curr]
            got: dict[str, list[_LA]] = {}
            names = {a["alertname"] for a in eval_times[et]}
            for g in groups:
                for r in g.alerting_rules():
                    if r.name not in names:
                        continue
                    got.setdefault(r.name, []).extend(
                        _LA(tuple(a.labels), tuple(sorted(a.annotations.items())))
                        for a in r.active.values()
                        if a.state is AlertState.FIRING
                    )
            for case in eval_times[et]:
                aname = str(case["alertname"])
                exp: list[_LA] = []
                for ea in case.get("exp_alerts") or []:
                    ea = ea or {}
                    lbls = _str_map(ea.get("exp_labels"))
                    lbls["alertname"] = aname
                    exp.append(
                        _LA(
                            tuple(sorted(lbls.items())),
                            tuple(sorted(_str_map(ea.get("exp_annotations")).items())),
                        )
                    )
                g_list = sorted(got.get(aname, []), key=_LA.key)
                exp.sort(key=_LA.key)
                if [x.key() for x in exp] != [x.key() for x in g_list]:
                    test_name = f"    name: {name},\n" if name else ""
                    es = _indent(_la_list(exp), "            ")
                    gs = _indent(_la_list(g_list), "            ")
                    errs.append(
                        f"{test_name}    alertname: {aname}, time: {format_duration(et)}, \n"
                        f"        exp:{es}, \n        got:{gs}"
                    )
            curr += 1
        t += eval_interval

    for case in expr_tests:
        expr = str(case.get("expr", ""))
        et = _dur(case.get("eval_time"), "eval_time")
        tdesc = format_duration(et)
        try:
            got_vec = query(expr, et)
        except (NightowlError, RuleEvalError) as exc:
            errs.append(f"    expr: {go_quote(expr)}, time: {tdesc}, err: {exc.message}")
            continue
        exp_s: list[tuple[Labels, float]] = []
        bad = False
        for es in case.get("exp_samples") or []:
            text = str(es.get("labels", ""))
            try:
                lbls, _ = parse_series_line(text)
            except ValueError as exc:
                errs.append(
                    f"    expr: {go_quote(expr)}, time: {tdesc}, "
                    f"err: labels {go_quote(text)}: {exc}"
                )
                bad = True
                break
            exp_s.append((lbls, float(es.get("value", 0))))
        if bad:
            continue
        got_s = sorted(((s.labels, s.v) for s in got_vec), key=lambda x: tuple(x[0]))
        exp_s.sort(key=lambda x: tuple(x[0]))
        same = len(got_s) == len(exp_s) and all(
            a[0] == b[0] and a[1] == b[1] for a, b in zip(exp_s, got_s, strict=True)
        )
        if not same:
            errs.append(
                f"    expr: {go_quote(expr)}, time: {tdesc},\n"
                f"        exp: {_samples_str(exp_s)}\n        got: {_samples_str(got_s)}"
            )
    return errs


def _samples_str(items: list[tuple[Labels, float]]) -> str:
    if not items:
        return "nil"
    return ", ".join(f"{prom_labels(lb)} {format_go_e(v)}" for lb, v in items)


def _allowed_char(value: int) -> bool:
    return (
        value in (0x09, 0x0A, 0x0D, 0x85)
        or 0x20 <= value <= 0x7E
        or 0xA0 <= value <= 0xD7FF
        or 0xE000 <= value <= 0xFFFD
        or 0x10000 <= value <= 0x10FFFF
    )


def _utf8_problem(data: bytes) -> str:
    """The first problem promtool's YAML reader finds in bytes that are not UTF-8.

    promtool reads test files as UTF-8 and stops at the first octet or
    character it refuses, naming the problem in these words (exit status 1).
    """
    i, n = 0, len(data)
    while i < n:
        octet = data[i]
        if octet < 0x80:
            width, value = 1, octet
        elif octet & 0xE0 == 0xC0:
            width, value = 2, octet & 0x1F
        elif octet & 0xF0 == 0xE0:
            width, value = 3, octet & 0x0F
        elif octet & 0xF8 == 0xF0:
            width, value = 4, octet & 0x07
        else:
            return "invalid leading UTF-8 octet"
        if i + width > n:
            return "incomplete UTF-8 octet sequence"
        for k in range(1, width):
            trailing = data[i + k]
            if trailing & 0xC0 != 0x80:
                return "invalid trailing UTF-8 octet"
            value = (value << 6) | (trailing & 0x3F)
        if (width == 2 and value < 0x80) or (width == 3 and value < 0x800):
            return "invalid length of a UTF-8 sequence"
        if width == 4 and value < 0x10000:
            return "invalid length of a UTF-8 sequence"
        if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            return "invalid Unicode character"
        if not _allowed_char(value):
            return "control characters are not allowed"
        i += width
    return "invalid UTF-8 text"


def _test_file(path: Path, out: TextIO) -> list[str]:
    print(f"Unit Testing:  {path}", file=out)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"open {path}: {exc.strerror}"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [f"yaml: {_utf8_problem(data)}"]
    try:
        doc = load_yaml(text, str(path)) or {}
    except NightowlError as exc:
        return [str(exc)]
    if not isinstance(doc, dict):
        return [f"{path}: a test file must be a mapping"]
    unknown = set(doc) - _FILE_KEYS
    if unknown:
        return [f"field {sorted(unknown)[0]} not found in type main.unitTestFile"]
    base = path.parent
    files: list[str] = []
    for rf in doc.get("rule_files") or []:
        p = str(rf)
        if p and not os.path.isabs(p):
            p = str(base / p)
        matches = sorted(glob.glob(p))
        if not matches:
            print(f"  WARNING: no file match pattern {p}", file=out)
        files.extend(matches)
    try:
        eval_interval = _dur(doc.get("evaluation_interval"), "evaluation_interval") or 60_000
    except _TestFailure as exc:
        return exc.errors
    order: dict[str, int] = {}
    for i, gn in enumerate(doc.get("group_eval_order") or []):
        if gn in order:
            return [f"group name repeated in evaluation order: {gn}"]
        order[gn] = i
    try:
        specs = load_rule_files(files)
    except RuleFileError as exc:
        return [f"    {p}" for p in exc.problems]
    errs: list[str] = []
    for tg in doc.get("tests") or []:
        if not isinstance(tg, dict):
            errs.append("a test must be a mapping")
            continue
        try:
            errs.extend(_run_group(tg, eval_interval, specs, order))
        except _TestFailure as exc:
            errs.extend(exc.errors)
    return errs


def run_test_file(path: str | Path, out: TextIO, err: TextIO) -> bool:
    """Run one test file, printing as promtool does; True if it passed."""
    errs = _test_file(Path(path), out)
    if errs:
        print("  FAILED:", file=err)
        for e in errs:
            print(e, file=err)
            print(file=out)
    else:
        print("  SUCCESS", file=out)
    print(file=out)
    return not errs


def run_test_files(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Run every file; exit status 0 when all passed, 1 otherwise (as promtool)."""
    failed = False
    for p in paths:
        out.flush()
        if not run_test_file(p, out, err):
            failed = True
        err.flush()
    return 1 if failed else 0
