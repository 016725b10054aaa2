"""A runner for Prometheus's PromQL test-script format (`promql/promqltest/testdata/*.test`).

Independent of the engine and the store: give it a store factory and an engine
factory and it loads, evaluates and compares, reporting every `eval` as one
:class:`CaseResult` (pass / fail / skip) with `file:line`. The format::

    load 5m                                  # series, one per line, until a blank line
      http_requests{job="api"} 0+10x10       # 0 10 20 ... 100 (a+bxN: N+1 values)
      other 1 _ stale 3x2 -1-1x3             # _ = no sample, stale = staleness marker
    eval instant at 50m sum(http_requests)   # eval_fail / eval_ordered / eval_warn / eval_info
      {} 100                                 # expected series and values; a bare number is a scalar
    eval range from 0 to 10m step 5m x       # expected values per step, _ = absent
      x{} 1 _ 3
    expect fail msg: <exact error>           # also: expect fail regex: <re>
    expect warn / no_warn / info / no_info   # expect ordered, expect string "..",
                                             # expect range vector from .. to .. step ..
    clear                                    # empty the store

Values compare like Prometheus's runner: relative epsilon 1e-6, NaN equals NaN.
Native histograms (`{{...}}` samples, `load_with_nhcb`) are not supported by
nightowl: evals that read such series or expect such values are *skipped* with
that reason, never passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nightowl.query import ast
from nightowl.query.values import InstantSample, Matrix, Scalar, String, Vector

from nightowl.errors import NightowlError
from nightowl.model import METRIC_NAME, STALE_NAN, Labels, Matcher, SampleBatch

__all__ = [
    "CaseResult",
    "EvalCase",
    "ScriptError",
    "almost_equal",
    "expand_series",
    "expand_values",
    "parse_duration_ms",
    "parse_script",
    "run_file",
    "run_script",
]

NATIVE_HISTOGRAM_REASON = "native histograms are not supported by nightowl"
EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308

_PAT_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_PAT_INSTANT = re.compile(
    r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$"
)
_PAT_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_PAT_EXPECT = re.compile(
    r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$"
)
_PAT_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_DUR = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}


class ScriptError(NightowlError):
    """A test script that does not follow the format (names the line)."""


def parse_duration_ms(text: str) -> int:
    """Prometheus's `model.ParseDuration` (`0`, `5m`, `1h30m`, `-5m` is refused)."""
    text = text.strip()
    if text == "0":
        return 0
    pos = 0
    total = 0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a valid duration string: {text!r}")
    return total


# -- values ---------------------------------------------------------------------

_NUM = r"[-+]?(?:Inf|inf|NaN|nan|0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_ITEM_EXPAND = re.compile(rf"^({_NUM})(?:([-+])({_NUM[5:]}))?x(\d+)$")


def _num(text: str) -> float:
    t = text.lower()
    sign = -1.0 if t.startswith("-") else 1.0
    body = t.lstrip("+-")
    if body == "inf":
        return sign * math.inf
    if body == "nan":
        return math.nan
    if body.startswith("0x"):
        return sign * int(body, 16)
    return float(text)


@dataclass(slots=True)
class _Val:
    """One expected or loaded value: None = omitted, `hist` = a native histogram."""

    value: float | None
    hist: bool = False


def _split_values(text: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("{{", i):
            j = text.find("}}", i)
            j = n if j < 0 else j + 2
            while j < n and not text[j].isspace():
                if text.startswith("{{", j):
                    k = text.find("}}", j)
                    j = n if k < 0 else k + 2
                else:
                    j += 1
            out.append(text[i:j])
            i = j
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        out.append(text[i:j])
        i = j
    return out


def parse_values(text: str) -> list[_Val]:
    """Expand a value sequence (`0+10x3 _ stale 1x2 _x3 {{...}}`)."""
    out: list[_Val] = []
    for item in _split_values(text):
        if item.startswith("{{"):
            m = re.search(r"x(\d+)$", item)
            out.extend(_Val(None, True) for _ in range(int(m.group(1)) + 1 if m else 1))
            continue
        if item == "_":
            out.append(_Val(None))
            continue
        m = re.fullmatch(r"_x(\d+)", item)
        if m:
            out.extend(_Val(None) for _ in range(int(m.group(1))))
            continue
        if item == "stale":
            out.append(_Val(STALE_NAN))
            continue
        m = re.fullmatch(r"stalex(\d+)", item)
        if m:
            out.extend(_Val(STALE_NAN) for _ in range(int(m.group(1)) + 1))
            continue
        m = _ITEM_EXPAND.match(item)
        if m:
            a = _num(m.group(1))
            n = int(m.group(4))
            b = 0.0
            if m.group(2):
                b = _num(m.group(3))
                if m.group(2) == "-":
                    b = -b
            out.extend(_Val(a + b * j) for j in range(n + 1))
            continue
        out.append(_Val(_num(item)))
    return out


def _unescape(s: str) -> str:
    return re.sub(
        r"\\(.)",
        lambda m: {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}.get(m.group(1), m.group(1)),
        s,
    )


_LABEL = re.compile(
    r"""\s*([a-zA-Z_][a-zA-Z0-9_.]*|"(?:[^"\\]|\\.)*")\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?"""
)


def parse_series_line(line: str) -> tuple[Labels, list[_Val]]:
    """`name{a="b"} values...` into labels and the expanded values."""
    line = line.strip()
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:.]*", line)
    name = m.group(0) if m else ""
    rest = line[len(name) :]
    pairs: list[tuple[str, str]] = []
    if rest.startswith("{"):
        i = 1
        while True:
            while i < len(rest) and rest[i].isspace():
                i += 1
            if i < len(rest) and rest[i] == "}":
                i += 1
                break
            lm = _LABEL.match(rest, i)
            if not lm:
                raise ValueError(f"bad label set in {line!r}")
            key = lm.group(1)
            if key.startswith('"'):
                key = _unescape(key[1:-1])
            pairs.append((key, _unescape(lm.group(2))))
            i = lm.end()
        rest = rest[i:]
    if name:
        pairs.append((METRIC_NAME, name))
    return Labels(pairs), parse_values(rest)


def expand_values(text: str) -> list[float | None]:
    """The values of an expanding-notation sequence; None where a sample is omitted (`_`).

    Staleness markers come back as `nightowl.model.STALE_NAN` (test with `is_stale`).
    Native-histogram values (`{{...}}`) raise ValueError.

    >>> expand_values("1+1x2 _ stale")[:4]
    [1.0, 2.0, 3.0, None]
    """
    vals = parse_values(text)
    if any(v.hist for v in vals):
        raise ValueError("native histogram samples are not supported")
    return [v.value for v in vals]


def expand_series(line: str) -> tuple[Labels, list[float | None]]:
    """A series line (`name{a="b"} 0+10x3 _ 5`) into its labels and expanded values.

    The notation of Prometheus's `.test` files and of promtool's `input_series`.
    """
    labels, _ = parse_series_line(line)
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:.]*", line.strip())
    rest = line.strip()[len(m.group(0)) if m else 0 :]
    if rest.startswith("{"):
        rest = rest[_closing_brace(rest) + 1 :]
    return labels, expand_values(rest)


def _closing_brace(text: str) -> int:
    in_str = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "}":
            return i
        i += 1
    raise ValueError(f"unclosed label set in {text!r}")


# -- script model ------------------------------------------------------------------


@dataclass(slots=True)
class _Load:
    line: int
    interval_ms: int
    series: list[tuple[Labels, list[_Val]]]
    nhcb: bool = False


@dataclass(slots=True)
class _Clear:
    line: int


@dataclass(slots=True)
class EvalCase:
    """One `eval` command and what it expects."""

    line: int
    expr: str
    instant: bool
    start: int
    end: int = 0
    step: int = 0
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: re.Pattern[str] | None = None
    ordered: bool = False
    warn: bool = False
    info: bool = False
    expect: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    scalar: float | None = None
    expect_scalar: bool = False
    string: str | None = None
    series: list[tuple[Labels, list[_Val]]] = field(default_factory=list)
    range_vector: tuple[int, int, int] | None = None
    has_histogram: bool = False


@dataclass(slots=True)
class CaseResult:
    """The outcome of one eval: `status` is "pass", "fail" or "skip"."""

    file: str
    line: int
    expr: str
    status: str
    message: str = ""

    @property
    def where(self) -> str:
        """`file:line` of the eval command."""
        return f"{self.file}:{self.line}"


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.split("\n"):
        s = raw.strip()
        out.append("" if s.startswith("#") else s)
    return out


def parse_script(text: str, name: str = "<script>") -> list[Any]:
    """Parse a test script into load / clear / :class:`EvalCase` commands."""
    lines = _lines(text)
    cmds: list[Any] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        word = line.split(None, 1)[0].lower()
        try:
            if word == "clear":
                cmds.append(_Clear(i + 1))
                i += 1
            elif word == "ignore" or word == "resume":
                i += 1
            elif word.startswith("load"):
                i = _parse_load(lines, i, cmds)
            elif word.startswith("eval"):
                i = _parse_eval(lines, i, cmds)
            else:
                raise ValueError(f"invalid command {line!r}")
        except ValueError as exc:
            raise ScriptError(str(exc), where=f"{name}:{i + 1}") from None
    return cmds


def _parse_load(lines: list[str], i: int, cmds: list[Any]) -> int:
    m = _PAT_LOAD.match(lines[i])
    if not m:
        raise ValueError("invalid load command (load[_with_nhcb] <step:duration>)")
    cmd = _Load(i + 1, parse_duration_ms(m.group(2)), [], m.group(1) == "with_nhcb")
    i += 1
    while i < len(lines) and lines[i]:
        cmd.series.append(parse_series_line(lines[i]))
        i += 1
    cmds.append(cmd)
    return i


def _parse_eval(lines: list[str], i: int, cmds: list[Any]) -> int:
    line = lines[i]
    mi = _PAT_INSTANT.match(line)
    mr = _PAT_RANGE.match(line)
    if mi:
        mod = mi.group(1) or ""
        case = EvalCase(i + 1, mi.group(3), True, parse_duration_ms(mi.group(2) or "0"))
    elif mr:
        mod = mr.group(1) or ""
        case = EvalCase(
            i + 1,
            mr.group(5),
            False,
            parse_duration_ms(mr.group(2)),
            parse_duration_ms(mr.group(3)),
            parse_duration_ms(mr.group(4)),
        )
    else:
        raise ValueError(f"invalid evaluation command {line!r}")
    case.fail = mod == "fail"
    case.ordered = mod == "ordered"
    case.warn = mod == "warn"
    case.info = mod == "info"
    i += 1
    while i < len(lines) and lines[i]:
        d = lines[i]
        i += 1
        if case.fail and d.startswith("expected_fail_message"):
            case.fail_msg = d[len("expected_fail_message") :].strip()
            break
        if case.fail and d.startswith("expected_fail_regexp"):
            case.fail_regex = re.compile(d[len("expected_fail_regexp") :].strip())
            break
        if d.startswith("expect range vector"):
            m = _PAT_EXPECT_RANGE.match(d)
            if not m:
                raise ValueError(f"invalid range vector expectation {d!r}")
            case.range_vector = tuple(parse_duration_ms(g) for g in m.groups())  # type: ignore[assignment]
            continue
        if d.startswith("expect string"):
            lit = d[len("expect string") :].strip()
            case.string = _unquote(lit)
            continue
        if d.split(" ")[0] == "expect":
            m = _PAT_EXPECT.match(d)
            if not m:
                raise ValueError(f"invalid expect line {d!r}")
            kind, how, msg = m.group(1), m.group(2) or "", (m.group(3) or "").strip()
            case.expect.setdefault(kind, []).append((how, msg))
            continue
        try:
            case.scalar = _num(d)
            case.expect_scalar = True
            break
        except ValueError:
            pass
        labels, vals = parse_series_line(d)
        if any(v.hist for v in vals):
            case.has_histogram = True
        case.series.append((labels, vals))
    cmds.append(case)
    return i


def _unquote(lit: str) -> str:
    if len(lit) >= 2 and lit[0] == lit[-1] == "`":
        return lit[1:-1]
    if len(lit) >= 2 and lit[0] == lit[-1] == '"':
        return _unescape(lit[1:-1])
    raise ValueError(f"expected a quoted string literal, got {lit!r}")


# -- comparing ----------------------------------------------------------------------


def almost_equal(a: float, b: float, eps: float = EPSILON) -> bool:
    """Prometheus's `almost.Equal`: NaN equals NaN, else relative epsilon."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < eps * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < eps


def _fmt_vals(vals: Iterable[float]) -> str:
    return " ".join(repr(float(v)) for v in vals)


def _check_annotations(case: EvalCase, warnings: list[str], infos: list[str]) -> str | None:
    if case.warn and not warnings:
        return "expected warnings but got none"
    if case.info and not infos:
        return "expected info annotations but got none"
    for kind, actual in (("warn", warnings), ("info", infos)):
        exp = case.expect.get(kind, [])
        if not exp:
            continue
        if not actual:
            return f"expected {kind} annotations but none were found"

        def match(how: str, msg: str, a: str) -> bool:
            if how == "regex":
                return re.search(msg, a) is not None
            if how == "msg":
                return msg == a
            return True

        for how, msg in exp:
            if not any(match(how, msg, a) for a in actual):
                return f"expected {kind} annotation {msg!r} not found; got {actual}"
        for a in actual:
            if not any(match(how, msg, a) for how, msg in exp):
                return f"unexpected {kind} annotation {a!r}"
    if "no_warn" in case.expect and warnings:
        return f"unexpected warnings {warnings}"
    if "no_info" in case.expect and infos:
        return f"unexpected infos {infos}"
    return None


def _expected_points(
    case: EvalCase, vals: list[_Val], start: int, step: int
) -> list[tuple[int, float]]:
    return [(start + i * step, v.value) for i, v in enumerate(vals) if v.value is not None]


def _compare(case: EvalCase, value: Any) -> str | None:
    ordered = case.ordered or "ordered" in case.expect
    if case.string is not None:
        if not isinstance(value, String):
            return f"expected string {case.string!r}, got {type(value).__name__}"
        if value.v != case.string:
            return f'expected string "{case.string}" but got "{value.v}"'
        return None
    if isinstance(value, Scalar):
        if not case.expect_scalar:
            return f"expected vector or matrix result, but got scalar {value.v}"
        if not almost_equal(case.scalar, value.v):  # type: ignore[arg-type]
            return f"expected scalar {case.scalar} but got {value.v}"
        return None
    if case.expect_scalar:
        return f"expected scalar result, but got {type(value).__name__}"
    expected = {lab: vals for lab, vals in case.series}
    if isinstance(value, Vector):
        seen = set()
        for pos, s in enumerate(value):
            if s.labels not in expected:
                return f"unexpected metric {s.labels} in result, has value {s.v}"
            if s.labels in seen:
                return f"duplicate metric {s.labels} in result"
            seen.add(s.labels)
            if ordered:
                want = [lab for lab, _ in case.series].index(s.labels)
                if want != pos:
                    return f"expected metric {s.labels} at position {want + 1} but was at {pos + 1}"
            exp = expected[s.labels][0].value
            if exp is None or not almost_equal(exp, s.v):
                return f"expected {exp} for {s.labels} but got {s.v}"
        for lab in expected:
            if lab not in seen:
                return f"expected metric {lab} not found"
        return None
    if isinstance(value, Matrix):
        if ordered:
            return "expected ordered result, but query returned a matrix"
        labels = [s.labels for s in value]
        if labels != sorted(labels):
            return "matrix result is not sorted by labels"
        if case.instant:
            if case.range_vector is None:
                return "instant query returned a range vector without 'expect range vector'"
            start, _end, step = case.range_vector
        else:
            start, step = case.start, case.step
        seen = set()
        for s in value:
            if s.labels not in expected:
                return f"unexpected metric {s.labels} in result, has {_fmt_vals(s.values)}"
            seen.add(s.labels)
            pts = _expected_points(case, expected[s.labels], start, step)
            got = list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
            if len(pts) != len(got):
                return (
                    f"expected {len(pts)} points for {s.labels}, got {len(got)}: "
                    f"{got} (expected {pts})"
                )
            for (et, ev), (gt, gv) in zip(pts, got, strict=True):
                if et != gt:
                    return f"expected a point at t={et} for {s.labels}, got t={gt} ({got})"
                if not almost_equal(ev, gv):  # type: ignore[arg-type]
                    return f"expected {ev} at t={et} for {s.labels} but got {gv}"
        for lab in expected:
            if lab not in seen:
                return f"expected metric {lab} not found"
        return None
    return f"unexpected result type {type(value).__name__}"


def _check_failure(case: EvalCase, err: Exception) -> str | None:
    msg = getattr(err, "message", None) or str(err)
    full = str(err)
    candidates = {msg, full}
    if case.fail_msg is not None and case.fail_msg not in candidates:
        return f"expected error {case.fail_msg!r}, got {full!r}"
    if case.fail_regex is not None and not any(case.fail_regex.search(c) for c in candidates):
        return f"expected error matching {case.fail_regex.pattern!r}, got {full!r}"
    for how, text in case.expect.get("fail", [])[:1]:
        if how == "msg" and text not in candidates:
            return f"expected error {text!r}, got {full!r}"
        if how == "regex" and not any(re.search(text, c) for c in candidates):
            return f"expected error matching {text!r}, got {full!r}"
    return None


# -- running ------------------------------------------------------------------------


def _selectors(expr: ast.Expr) -> list[tuple[Matcher, ...]]:
    out = []
    for node in ast.walk(expr):
        if isinstance(node, ast.VectorSelector):
            out.append(node.matchers)
    return out


def _touches(matcher_sets: list[tuple[Matcher, ...]], series: Iterable[Labels]) -> bool:
    for labels in series:
        for ms in matcher_sets:
            if all(m.matches(labels.get(m.name)) for m in ms):
                return True
    return False


def _load(store: Any, cmd: _Load, hist_series: set[Labels]) -> None:
    batch_series: list[Labels] = []
    refs: list[int] = []
    ts: list[int] = []
    vs: list[float] = []
    # as in Prometheus, a later line for the same series replaces an earlier one
    for labels, vals in dict(cmd.series).items():
        if cmd.nhcb or any(v.hist for v in vals):
            hist_series.add(labels)
        times = [i * cmd.interval_ms for i, v in enumerate(vals) if v.value is not None]
        values = [v.value for v in vals if v.value is not None]
        if hasattr(store, "add_series"):
            if times:
                store.add_series(labels, times, values)
            continue
        ref = len(batch_series)
        batch_series.append(labels)
        refs.extend([ref] * len(times))
        ts.extend(times)
        vs.extend(values)  # type: ignore[arg-type]
    if batch_series:
        batch = SampleBatch(batch_series, np.array(refs), np.array(ts), np.array(vs))
        if hasattr(store, "append_sync"):
            result = store.append_sync(batch)
        else:
            result = asyncio.run(store.append(batch))
        if result.rejected:
            raise ScriptError(
                f"the store rejected {result.rejected} loaded samples: {result.errors[:3]}",
                where=f"load at line {cmd.line}",
            )


def run_script(
    text: str,
    *,
    name: str = "<script>",
    make_store: Callable[[], Any] | None = None,
    make_engine: Callable[[Any], Any] | None = None,
) -> list[CaseResult]:
    """Run a test script; one :class:`CaseResult` per eval, in script order.

    Args:
        text: the script.
        name: the file name used in results (`file:line`).
        make_store: a factory of empty stores (an Appender + Querier); default MemoryStore.
            Stores with `add_series` are loaded with it, else with `append_sync` or
            `append`; a store with `close()` is closed on `clear` and at the end.
        make_engine: builds the engine over a store; default an `Engine` with delayed
            `__name__` removal, as Prometheus's runner has.
    """
    if make_store is None:
        from nightowl.store.memory import MemoryStore

        make_store = MemoryStore
    if make_engine is None:
        from nightowl.query.engine import Engine, EngineOptions

        # as Prometheus's runner: with delayed `__name__` removal
        options = EngineOptions(delayed_name_removal=True)

        def make_engine(store: Any) -> Any:
            return Engine(store, options)

    cmds = parse_script(text, name)
    results: list[CaseResult] = []
    store = make_store()
    try:
        engine = make_engine(store)
        hist_series: set[Labels] = set()
        for cmd in cmds:
            if isinstance(cmd, _Clear):
                _close(store)
                store = make_store()
                engine = make_engine(store)
                hist_series = set()
            elif isinstance(cmd, _Load):
                _load(store, cmd, hist_series)
            else:
                results.append(_run_case(engine, cmd, name, hist_series))
    finally:
        _close(store)
    return results


def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()


#: Functions whose result depends on the evaluation time even with `@` (Prometheus's
#: `AtModifierUnsafeFunctions`): evals using them get no `@` variants.
_AT_UNSAFE = frozenset(
    {
        "days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour",
        "minute", "month", "year", "predict_linear", "time", "timestamp",
        "start", "end", "range", "step",
    }
)  # fmt: skip
_QUERY_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


def _with_at(expr: ast.Expr, t_ms: int) -> ast.Expr:
    """`expr` with `@ t` on every selector and subquery not below a subquery with `@ <time>`.

    As in Prometheus's runner, `@ start()` and `@ end()` count as unset (the parser
    leaves the timestamp empty for them) and become `@ t` too: the original instant
    query's start and end are `t`, so the pinned query asks the same.
    """
    at = ast.At("time", t_ms)

    def pinned(a: ast.At | None) -> bool:
        return a is not None and a.kind not in ("start", "end")

    def fix(node: ast.Expr) -> ast.Expr:
        if isinstance(node, ast.VectorSelector):
            return node if pinned(node.at) else dataclasses.replace(node, at=at)
        if isinstance(node, ast.MatrixSelector):
            return dataclasses.replace(node, vs=fix(node.vs))  # type: ignore[arg-type]
        if isinstance(node, ast.SubqueryExpr):
            return node if pinned(node.at) else dataclasses.replace(node, at=at)
        if isinstance(node, ast.UnaryExpr | ast.ParenExpr):
            return dataclasses.replace(node, expr=fix(node.expr))
        if isinstance(node, ast.Call):
            return dataclasses.replace(node, args=tuple(fix(a) for a in node.args))
        if isinstance(node, ast.AggregateExpr):
            param = None if node.param is None else fix(node.param)
            return dataclasses.replace(node, expr=fix(node.expr), param=param)
        if isinstance(node, ast.BinaryExpr):
            return dataclasses.replace(node, lhs=fix(node.lhs), rhs=fix(node.rhs))
        return node

    return fix(expr)


def _at_variants(expr: ast.Expr, t_ms: int) -> list[tuple[ast.Expr, int]]:
    """Prometheus's extra instant evaluations: the query pinned with `@ t`, run at other times."""
    if any(isinstance(n, ast.Call) and n.func in _AT_UNSAFE for n in ast.walk(expr)):
        return []
    pinned = _with_at(expr, t_ms)
    times = [-10 * t_ms, 0, t_ms // 5, t_ms, 10 * t_ms] if t_ms else [-1000, 0, 1000]
    return [(pinned, t) for t in times]


def _run_case(engine: Any, case: EvalCase, name: str, hist_series: set[Labels]) -> CaseResult:
    def result(status: str, message: str = "") -> CaseResult:
        return CaseResult(name, case.line, case.expr, status, message)

    if case.has_histogram:
        return result("skip", NATIVE_HISTOGRAM_REASON)
    expect_fail = case.fail or "fail" in case.expect
    try:
        expr = engine.parse(case.expr)
    except Exception as exc:  # parse errors count as evaluation failures
        if expect_fail:
            problem = _check_failure(case, exc)
            return result("fail", problem) if problem else result("pass")
        return result("fail", f"parse error: {exc}")
    if hist_series and _touches(_selectors(expr), hist_series):
        return result("skip", NATIVE_HISTOGRAM_REASON)
    if not case.instant:
        problem = _evaluate(case, lambda: engine.range(case.expr, case.start, case.end, case.step))
        return result("fail", problem) if problem else result("pass")
    problem = _evaluate(case, lambda: engine.instant(case.expr, case.start))
    if problem:
        return result("fail", problem)
    runs: list[tuple[ast.Expr, int]] = [(expr, case.start)]
    # as Prometheus's runner: the query pinned with `@` must give the same answer (or fail
    # the same way) at other evaluation times
    if hasattr(engine, "instant_expr"):
        for pinned, t in _at_variants(expr, case.start):
            problem = _evaluate(
                case,
                lambda p=pinned, t=t: engine.instant_expr(p, t, case.expr),  # type: ignore[misc]
            )
            if problem:
                return result("fail", f"with @ {case.start / 1000:g} evaluated at {t}: {problem}")
            runs.append((pinned, t))
    if expect_fail:
        return result("pass")
    if (
        case.string is None
        and case.range_vector is None
        and not case.ordered
        and "ordered" not in case.expect
        and not _QUERY_CONTEXT_FUNCS.search(case.expr)
        and hasattr(engine, "range_expr")
    ):
        for run_expr, t in runs:
            problem = _range_mode(engine, case, run_expr, t)
            if problem:
                return result("fail", f"range mode (t={t}): {problem}")
    return result("pass")


def _evaluate(case: EvalCase, run: Callable[[], Any]) -> str | None:
    expect_fail = case.fail or "fail" in case.expect
    try:
        res = run()
    except NightowlError as exc:
        if expect_fail:
            return _check_failure(case, exc)
        return f"unexpected error: {exc}"
    if expect_fail:
        return "expected an error but the query succeeded"
    return _compare(case, res.value) or _check_annotations(case, res.warnings, res.infos)


def _range_mode(engine: Any, case: EvalCase, expr: ast.Expr, t: int) -> str | None:
    """Prometheus also runs each instant eval as a range query around `t` (step 1 m)."""
    try:
        res = engine.range_expr(expr, t - 60_000, t + 60_000, 60_000, case.expr)
    except NightowlError as exc:
        return f"error in range mode: {exc}"
    mat = res.value
    labels = [s.labels for s in mat]
    if labels != sorted(labels):
        return "matrix result is not sorted by labels"
    vec = Vector()
    for s in mat:
        hit = np.nonzero(s.timestamps == t)[0]
        if len(hit):
            vec.append(InstantSample(s.labels, t, float(s.values[hit[0]])))
    if case.expect_scalar:
        if not vec:
            return "expected a scalar, got no point at the middle step"
        return _compare(case, Scalar(t, vec[0].v))
    return _compare(case, vec)


def run_file(path: str | Path, **kwargs: Any) -> list[CaseResult]:
    """Run one `.test` file (see :func:`run_script` for the factories)."""
    p = Path(path)
    return run_script(p.read_text(encoding="utf-8"), name=p.name, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """`python -m nightowl.query.promqltest FILE...`: run test files, print failures and totals.

    Exit status 0 when nothing failed, 1 otherwise (skips are not failures).
    """
    import argparse

    ap = argparse.ArgumentParser(description="Run PromQL .test files against nightowl's engine.")
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="also list passes and skips")
    args = ap.parse_args(argv)
    totals = {"pass": 0, "fail": 0, "skip": 0}
    for path in args.files:
        try:
            results = run_file(path)
        except ScriptError as exc:
            print(f"{path}: {exc}")
            totals["fail"] += 1
            continue
        for r in results:
            totals[r.status] += 1
            if r.status == "fail" or args.verbose:
                tail = f": {r.message}" if r.message else ""
                print(f"{r.where}: {r.status.upper()} {r.expr}{tail}")
    print(f"{totals['pass']} passed, {totals['fail']} failed, {totals['skip']} skipped")
    return 1 if totals["fail"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
