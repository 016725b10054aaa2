"""Shared plumbing of the PromQL function library (`query.functions`).

Argument access, result assembly, annotations worded as Prometheus words them
(ending in ` (line:col)` of the argument concerned), and Go-compatible number,
string and time formatting for those messages.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from nightowl.query.block import Arg, Block, EvalContext, RangeBlock, ScalarBlock, StringBlock

from nightowl.model import Labels

__all__ = [
    "annotate",
    "civil_from_days",
    "drops",
    "finish",
    "format_go_float",
    "invalid_quantile",
    "matrix_arg",
    "scalar_arg",
    "string_arg",
    "time_rfc3339",
    "valid_label_name",
    "vector_arg",
]


# -- formatting and annotations ----------------------------------------------


def format_go_float(x: float) -> str:
    """Format like Go's `%g` / `strconv.FormatFloat(x, 'g', -1, 64)` (shortest repr).

    >>> format_go_float(1e6), format_go_float(0.25), format_go_float(float("inf"))
    ('1e+06', '0.25', '+Inf')
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    nd = len(ds)
    dp = nd + int(exp)  # position of the decimal point relative to the digits
    e = dp - 1
    neg = "-" if sign else ""
    if e < -4 or e >= 6:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{neg}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{neg}{ds}{'0' * (dp - nd)}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def invalid_quantile(q: float) -> str:
    """Prometheus's warning for a φ outside [0, 1]."""
    return f"PromQL warning: quantile value should be between 0 and 1, got {format_go_float(q)}"


def annotate(ctx: EvalContext, info: bool, text: str, arg: int | None) -> None:
    """Add one annotation (once), suffixed with the position of argument `arg`
    (None: the call itself) when the evaluator provided positions."""
    if arg is None:
        pos = ctx.call_position
    else:
        pos = ctx.arg_positions[arg] if arg < len(ctx.arg_positions) else ""
    msg = f"{text} ({pos})" if pos else text
    target = ctx.infos if info else ctx.warnings
    if msg not in target:
        target.append(msg)


# -- result assembly -----------------------------------------------------------


def finish(
    labels: list[Labels],
    values: np.ndarray,
    present: np.ndarray,
    drop_name: np.ndarray | None = None,
) -> Block:
    """Build a result Block from its rows, leaving out rows with no sample at all.

    `drop_name` (per row) matters only for functions that keep the name: the
    evaluator flags every row of other functions itself.
    """
    rows = np.flatnonzero(present.any(axis=1)) if len(labels) else np.empty(0, np.int64)
    if len(rows) == len(labels):
        return Block(list(labels), values, present, drop_name=drop_name)
    return Block(
        [labels[i] for i in rows.tolist()],
        values[rows],
        present[rows],
        drop_name=None if drop_name is None else drop_name[rows],
    )


def scalar_arg(arg: Arg) -> np.ndarray:
    """The per-step floats of a scalar argument."""
    assert isinstance(arg, ScalarBlock)
    return np.asarray(arg.values, dtype=np.float64)


def string_arg(arg: Arg) -> str:
    """The value of a string argument."""
    assert isinstance(arg, StringBlock)
    return arg.value


def vector_arg(arg: Arg) -> Block:
    """An instant-vector argument."""
    assert isinstance(arg, Block)
    return arg


def matrix_arg(arg: Arg) -> RangeBlock:
    """A range-vector argument."""
    assert isinstance(arg, RangeBlock)
    return arg


def drops(b: Block) -> np.ndarray:
    """The block's drop-name flags per row (all False when unset)."""
    return np.zeros(len(b), bool) if b.drop_name is None else np.asarray(b.drop_name, bool)


def valid_label_name(name: str) -> bool:
    """Whether a label name is valid (non-empty UTF-8, as Prometheus 3 accepts)."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, proleptic Gregorian calendar."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def time_rfc3339(ms: int) -> str:
    """Unix milliseconds as Go's RFC 3339 in UTC, to the second (`2006-01-02T15:04:05Z`)."""
    secs = ms // 1000 if ms >= 0 else -((-ms) // 1000)
    y, m, d = (int(x[0]) for x in civil_from_days(np.array([secs // 86400])))
    sod = secs % 86400
    return f"{y:04d}-{m:02d}-{d:02d}T{sod // 3600:02d}:{sod % 3600 // 60:02d}:{sod % 60:02d}Z"
