"""The engine's internal evaluation shapes, shared by the evaluator and the functions.

nightowl evaluates every PromQL expression over *all steps at once*: an instant
query is a range query with one step. Each AST node evaluates to one of

- :class:`ScalarBlock`: a float per step (`values.shape == (n_steps,)`);
- :class:`StringBlock`: a string (only literals produce strings);
- :class:`Block`: an instant vector at every step, dense: `values[i, k]` is series
  i at step k, meaningful only where `present[i, k]`;
- :class:`RangeBlock`: a range vector (matrix selector or subquery) at every step:
  per series the raw samples (staleness markers already removed) covering every
  step's window, plus the window bounds per step.

Range-vector functions (`rate`, `*_over_time`, ...) turn a RangeBlock into a
Block; instant functions map Blocks/ScalarBlocks to Blocks/ScalarBlocks. Both are
registered in `query.functions.FUNCTIONS` as :class:`FunctionDef`.

Windows are *left-open, right-closed* as in Prometheus 3: for step k the samples
with `window_start[k] < t <= window_end[k]`. For a range selector
`x[5m] offset 1m @ T`: `window_end[k] = (T or step_time[k]) - offset`,
`window_start[k] = window_end[k] - range`. Per series, the sample indices of
step k's window are `[np.searchsorted(t, window_start[k], "right"),
np.searchsorted(t, window_end[k], "right"))`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from nightowl.model import Labels, Matcher

__all__ = [
    "ArgType",
    "Block",
    "EvalContext",
    "FunctionDef",
    "RangeBlock",
    "RangeSeriesData",
    "ScalarBlock",
    "StringBlock",
]


class ArgType(StrEnum):
    """PromQL value types as function signatures name them."""

    SCALAR = "scalar"
    STRING = "string"
    VECTOR = "vector"
    MATRIX = "matrix"


@dataclass(slots=True)
class EvalContext:
    """What every evaluation step shares.

    `step_times` are the evaluation timestamps (int64 ms), `start`/`end` the query's
    (used by `@ start()`/`@ end()`), `warnings`/`infos` collect annotations.
    """

    step_times: np.ndarray
    start: int
    end: int
    step: int
    lookback_ms: int = 300_000
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    call_position: str = ""
    """`line:col` of the function call being evaluated (set by the evaluator just
    before `FunctionDef.impl`); annotations about the call end in ` (line:col)`."""
    arg_positions: list[str] = field(default_factory=list)
    """`line:col` of each argument of the call being evaluated (set with
    `call_position`); annotations about an argument end in ` (line:col)` as in
    Prometheus. Empty when unknown: annotations then carry no position."""

    @property
    def n_steps(self) -> int:
        """Number of evaluation steps."""
        return len(self.step_times)


@dataclass(slots=True)
class ScalarBlock:
    """A scalar at each step: float64 array of shape (n_steps,)."""

    values: np.ndarray


@dataclass(slots=True)
class StringBlock:
    """A string value (the same at every step)."""

    value: str


@dataclass(slots=True)
class Block:
    """An instant vector at each step.

    Attributes:
        labels: one label set per row (series).
        values: float64 (n_series, n_steps).
        present: bool (n_series, n_steps); False where the series has no sample at that step.
        timestamps: int64 (n_series, n_steps) of the samples' own times, kept only by a
            vector selector that is the direct argument of `timestamp()` (the evaluator
            asks for them there); None otherwise (then the step time is the sample time).
        drop_name: rows whose `__name__` must be dropped when the result is produced
            (Prometheus drops it on most function and operator results).
        source_matchers: the label matchers, in query order, when this block is the
            direct result of a vector selector (None otherwise); `absent()` derives
            its output labels from the equality matchers.

    `drop_name` is a bool array (n_series,) or None (= no row drops it). The
    evaluator removes `__name__` *late*, as Prometheus 3 does with delayed name
    removal: rows keep their name through the evaluation (so `label_replace` or
    `{__name__=~...}`-style grouping still see it) and the flagged ones lose it
    when the query's result is produced. Function implementations need not set it:
    the evaluator flags every row of a function result unless the FunctionDef
    `keeps_name`, and carries the flags of rows whose labels pass through.
    """

    labels: list[Labels]
    values: np.ndarray
    present: np.ndarray
    timestamps: np.ndarray | None = None
    source_matchers: list[Matcher] | None = None
    drop_name: np.ndarray | None = None

    @classmethod
    def empty(cls, n_steps: int) -> Block:
        """A vector with no series."""
        return cls([], np.empty((0, n_steps)), np.zeros((0, n_steps), dtype=bool))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(slots=True)
class RangeSeriesData:
    """One series of a range vector: sorted times and values, stale markers removed."""

    labels: Labels
    t: np.ndarray
    v: np.ndarray


@dataclass(slots=True)
class RangeBlock:
    """A range vector evaluated at each step (see the module docstring for windows).

    Attributes:
        series: the raw samples of each series covering all windows.
        window_start: int64 (n_steps,), exclusive lower bound per step.
        window_end: int64 (n_steps,), inclusive upper bound per step.
        range_ms: the selector's range (or subquery range).
        step_times: int64 (n_steps,), the evaluation times (for functions like
            `predict_linear` that extrapolate to the evaluation time; with `@`/offset
            `window_end` differs from the step time).
        source_matchers: the selector's label matchers, in query order, when this is a
            matrix selector (None for subqueries); `absent_over_time()` derives its
            output labels from the equality matchers.
    """

    series: list[RangeSeriesData]
    window_start: np.ndarray
    window_end: np.ndarray
    range_ms: int
    step_times: np.ndarray
    source_matchers: list[Matcher] | None = None
    drop_name: np.ndarray | None = None
    """Per series, for subqueries: whether its `__name__` is to be dropped (as in
    :class:`Block`); set by the evaluator, None for matrix selectors."""


Arg = ScalarBlock | StringBlock | Block | RangeBlock
Result = ScalarBlock | Block | StringBlock


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """One PromQL function: its signature and its implementation.

    Attributes:
        name: the function name.
        arg_types: declared argument types in order.
        variadic: 0 = exactly `arg_types`; -1 = the last type repeats any number of times;
            n > 0 = up to n trailing arguments are optional.
        return_type: ArgType.VECTOR or ArgType.SCALAR (or MATRIX for none today).
        impl: `impl(args, ctx) -> Block | ScalarBlock`. Arguments arrive evaluated, in
            declared order; optional ones omitted are absent from `args`.
        experimental: Prometheus gates it behind `--enable-feature=promql-experimental-functions`;
            nightowl enables them all and says so in docs/promql.md.
        keeps_name: True if the result keeps `__name__` (e.g. `last_over_time`, `sort`,
            `label_replace`); most functions drop it.
    """

    name: str
    arg_types: Sequence[ArgType]
    variadic: int
    return_type: ArgType
    impl: Callable[[list[Arg], EvalContext], Result]
    experimental: bool = False
    keeps_name: bool = False
