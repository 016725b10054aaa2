"""`nightowl query`: evaluate one PromQL expression and print the result.

    nightowl query [--db PATH] [--config FILE] [--time T | --start T --end T --step S]
                   [-o table|json|csv|chart] EXPR


Evaluates one PromQL expression against the database, opened read-only (it works while
a daemon writes to it), and prints the result:

- `table` (default): aligned columns sized to the terminal (80 columns when not a
  terminal); long series names are cut with `…`;
- `json`: exactly the `data` member of Prometheus's `/api/v1/query` (instant) or
  `/api/v1/query_range` (range) answer, byte for byte as Prometheus writes it
  (see :mod:`nightowl.query.wire`);
- `csv`: one row per sample, `timestamp,value` then one column per label name;
- `chart`: a plotext chart in the terminal (lines for a range, bars for an instant vector).

Without `--start`/`--end` the query is instant, at `--time` (default now). With them it is
a range query; `--end` defaults to now and `--step` to the range over 250 points
(at least 1 s), the Prometheus UI's choice. Times are RFC 3339, Unix seconds or
relative (`now-1h`). An expression that starts with `-` goes after `--`. The database
is `--db`, else `[storage] path` of the config, else the XDG default. Warnings go to
stderr. A bad expression prints the parser's message with a caret under the position
and exits 2; evaluation errors exit 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from nightowl.commands import db_path_arg
from nightowl.errors import ParseError, UsageError, UserError

if TYPE_CHECKING:
    from nightowl.query.values import QueryResult, Value

__all__ = [
    "format_labels",
    "format_parse_error",
    "register",
    "render",
    "run",
]

FORMATS = ("table", "json", "csv", "chart")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def register(subparsers: Any) -> None:
    """Add `nightowl query` to the CLI."""
    p = subparsers.add_parser(
        "query",
        help="evaluate a PromQL expression against the database",
        description="Evaluate one PromQL expression (instant, or range with --start/--end).",
    )
    p.add_argument("expr", metavar="EXPR", help="the PromQL expression")
    p.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="database file (default: config / XDG)"
    )
    p.add_argument("--config", metavar="FILE", help="config file ([storage] settings)")
    p.add_argument("--time", metavar="T", help="instant query time (default: now)")
    p.add_argument("--start", metavar="T", help="range query start")
    p.add_argument("--end", metavar="T", help="range query end (default: now)")
    p.add_argument("--step", metavar="S", help="range query step (default: range / 250, >= 1s)")
    p.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default="table",
        help="output format (default: table)",
    )
    p.set_defaults(func=run)


def _db_path(args: argparse.Namespace) -> Path:
    from nightowl.config import load_config
    from nightowl.paths import default_db_path

    config = load_config(args.config)
    storage = getattr(config, "storage", None)
    path = args.db or (storage.path if storage is not None and storage.path else None)
    return Path(path or default_db_path()).expanduser()


def _times(args: argparse.Namespace, now: int) -> tuple[int, int, int] | int:
    """The instant time, or (start, end, step) for a range query."""
    from nightowl.timeutil import parse_duration, parse_time

    ranged = args.start is not None or args.end is not None or args.step is not None
    if not ranged:
        return parse_time(args.time, now=now) if args.time is not None else now
    if args.time is not None:
        raise UsageError("--time is for instant queries; not with --start/--end/--step")
    if args.start is None:
        raise UsageError("a range query needs --start (and optionally --end, --step)")
    start = parse_time(args.start, now=now)
    end = parse_time(args.end, now=now) if args.end is not None else now
    if end < start:
        raise UsageError(f"--end ({args.end or 'now'}) is before --start ({args.start})")
    if args.step is not None:
        step = _parse_step(args.step, parse_duration)
    else:
        step = max(1000, (end - start) // 250 // 1000 * 1000)
    return start, end, step


def _parse_step(text: str, parse_duration: Any) -> int:
    try:
        f = float(text)
    except ValueError:
        step = parse_duration(text)
    else:
        if not math.isfinite(f):
            raise UsageError(f"invalid --step {text!r}: not a finite number")
        step = round(f * 1000)
    if step <= 0:
        raise UsageError(f"invalid --step {text!r}: must be positive")
    return step


def format_parse_error(expr: str, err: ParseError) -> str:
    """The parser's message, then the offending line of `expr` with a caret under the position."""
    lines = expr.split("\n")
    if err.line is not None and err.column is not None and 1 <= err.line <= len(lines):
        line_no, col = err.line, err.column - 1
    elif err.position is not None:
        before = expr[: err.position]
        line_no = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1)
    else:
        return str(err)
    text = lines[line_no - 1].expandtabs(1)
    col = max(0, min(col, len(text)))
    return f"{err}\n  {text}\n  {' ' * col}^"


def format_labels(labels: Any) -> str:
    """A series as PromQL writes it: `name{a="x", b="y"}`, `{a="x"}` or `{}`."""
    name = ""
    parts = []
    for k, v in labels:
        if k == "__name__":
            name = v
        else:
            escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            parts.append(f'{k}="{escaped}"')
    if name and not parts:
        return name
    return name + "{" + ", ".join(parts) + "}"


def _fmt_time(t_ms: int) -> str:
    try:
        dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{t_ms} ms"
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if t_ms % 1000:
        text += f".{t_ms % 1000:03d}"
    return text


def _fmt_value(v: float) -> str:
    from nightowl.query.wire import format_value

    text = format_value(v)
    if len(text) > 18:
        text = f"{v:.12g}"
    return text


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def _table(value: Value, width: int) -> str:
    from nightowl.query.values import Matrix, Scalar, String, Vector

    if isinstance(value, Scalar):
        return f"scalar  {_fmt_value(value.v)}  at {_fmt_time(value.t)}"
    if isinstance(value, String):
        return f"string  {value.v}  at {_fmt_time(value.t)}"
    if isinstance(value, Vector):
        if not value:
            return "(empty result)"
        vals = [_fmt_value(s.v) for s in value]
        vw = max(5, *(len(v) for v in vals))
        names = [format_labels(s.labels) for s in value]
        sw = max(6, min(max(len(n) for n in names), width - vw - 2))
        out = [f"{'SERIES':<{sw}}  {'VALUE':>{vw}}"]
        out += [f"{_cut(n, sw):<{sw}}  {v:>{vw}}" for n, v in zip(names, vals, strict=True)]
        times = {s.t for s in value}
        if len(times) == 1:
            out.append(f"{len(value)} series at {_fmt_time(times.pop())}")
        else:
            out.append(f"{len(value)} series")
        return "\n".join(out)
    assert isinstance(value, Matrix)
    if not value:
        return "(empty result)"
    from nightowl.model import stale_mask

    out = []
    points = 0
    for s in value:
        keep = ~stale_mask(s.values)
        ts, vs = s.timestamps[keep].tolist(), s.values[keep].tolist()
        points += len(ts)
        if out:
            out.append("")
        out.append(_cut(format_labels(s.labels), width))
        vals = [_fmt_value(v) for v in vs]
        vw = max(5, *(len(v) for v in vals)) if vals else 5
        stamps = [_fmt_time(t) for t in ts]
        tw = max(4, *(len(t) for t in stamps)) if stamps else 4
        out.append(f"  {'TIME':<{tw}}  {'VALUE':>{vw}}")
        out += [f"  {t:<{tw}}  {v:>{vw}}" for t, v in zip(stamps, vals, strict=True)]
    out.append("")
    out.append(f"{len(value)} series, {points} points")
    return "\n".join(out)


def _csv(value: Value) -> str:
    from nightowl.model import stale_mask
    from nightowl.query.values import Matrix, Scalar, String, Vector
    from nightowl.query.wire import format_timestamp, format_value

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if isinstance(value, Scalar | String):
        w.writerow(["timestamp", "value"])
        v = format_value(value.v) if isinstance(value, Scalar) else value.v
        w.writerow([format_timestamp(value.t), v])
        return buf.getvalue()
    names: set[str] = set()
    for s in value:
        names.update(k for k, _ in s.labels)
    cols = sorted(names, key=lambda k: (k != "__name__", k))
    w.writerow(["timestamp", "value", *cols])
    if isinstance(value, Vector):
        for s in value:
            d = dict(s.labels)
            w.writerow([format_timestamp(s.t), format_value(s.v), *(d.get(c, "") for c in cols)])
    else:
        assert isinstance(value, Matrix)
        for s in value:
            d = dict(s.labels)
            row_labels = [d.get(c, "") for c in cols]
            keep = ~stale_mask(s.values)
            for t, v in zip(s.timestamps[keep].tolist(), s.values[keep].tolist(), strict=True):
                w.writerow([format_timestamp(t), format_value(v), *row_labels])
    return buf.getvalue()


def _chart(value: Value, width: int, height: int, color: bool) -> str:
    import numpy as np
    import plotext as plt

    from nightowl.model import stale_mask
    from nightowl.query.values import Matrix, Scalar, String

    if isinstance(value, String):
        return f"string  {value.v}  at {_fmt_time(value.t)}"
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    if not isinstance(value, Matrix):
        if isinstance(value, Scalar):
            bars = [("scalar", value.v)] if math.isfinite(value.v) else []
        else:
            bars = [(_cut(format_labels(s.labels), 40), s.v) for s in value if math.isfinite(s.v)]
        if not bars:
            return "(nothing to draw: no finite values)"
        plt.plotsize(width, min(height, max(6, 2 * len(bars) + 4)))
        plt.bar([b[0] for b in bars], [b[1] for b in bars], orientation="horizontal", width=0.3)
        return plt.build()
    lo = hi = None
    drawn = 0
    for s in value:
        keep = ~stale_mask(s.values) & np.isfinite(s.values)
        ts = (s.timestamps[keep] / 1000.0).tolist()
        vs = s.values[keep].tolist()
        if not ts:
            continue
        lo = ts[0] if lo is None else min(lo, ts[0])
        hi = ts[-1] if hi is None else max(hi, ts[-1])
        label = _cut(format_labels(s.labels), max(10, width - 20)) if len(value) <= 8 else None
        plt.plot(ts, vs, label=label, marker="braille")
        drawn += 1
    if not drawn or lo is None or hi is None:
        return "(nothing to draw: no finite points)"
    ticks = [lo + (hi - lo) * i / 4 for i in range(5)] if hi > lo else [lo]
    span = hi - lo
    fmt = "%H:%M:%S" if span < 300 else "%H:%M" if span <= 86_400 else "%m-%d %H:%M"
    plt.xticks(ticks, [datetime.fromtimestamp(t, UTC).strftime(fmt) for t in ticks])
    plt.xlabel("UTC")
    if len(value) > 8:
        plt.title(f"{len(value)} series")
    return plt.build()


def render(result: QueryResult, output: str, *, width: int = 80, height: int = 20) -> str:
    """The text `nightowl query -o OUTPUT` prints for `result` (without warnings)."""
    from nightowl.query.wire import dumps_data

    value = result.value
    if output == "json":
        return dumps_data(value)
    if output == "csv":
        return _csv(value).rstrip("\n")
    if output == "chart":
        return _ANSI.sub("", _chart(value, width, height, color=False))
    return _table(value, width)


def _evaluate(args: argparse.Namespace, path: Path) -> QueryResult:
    from nightowl.query.engine import Engine
    from nightowl.store import Store
    from nightowl.timeutil import now_ms

    times = _times(args, now_ms())
    if not path.exists():
        raise UserError(
            "database does not exist", where=str(path), hint="pass --db with an existing file"
        )
    with Store.open(path, readonly=True) as store:
        engine = Engine(store)
        if isinstance(times, tuple):
            return engine.range(args.expr, *times)
        return engine.instant(args.expr, times)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Evaluate `args.expr` and print it in `args.output`; returns the exit status."""
    from nightowl.query.parser import parse

    out = out or sys.stdout
    try:
        parse(args.expr)
    except ParseError as err:
        print(f"nightowl: {format_parse_error(args.expr, err)}", file=sys.stderr)
        return err.exit_code
    result = _evaluate(args, _db_path(args))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    size = shutil.get_terminal_size((80, 24))
    if args.output == "chart":
        tty = out.isatty()
        text = _chart(result.value, size.columns, max(10, size.lines - 4), color=tty)
        if not tty:
            text = _ANSI.sub("", text)
    else:
        width = size.columns if out.isatty() else 80
        text = render(result, args.output, width=width)
    out.write(text + "\n")
    return 0
