"""The PromQL evaluator: instant and range queries over any `Querier`.

Every query is a range query over `n` steps (an instant query has one). Each AST
node evaluates to a step-major block (see :mod:`nightowl.query.block`): selectors
look up, per series, the sample in effect at every step with one
`np.searchsorted`; functions, aggregations and operators then work on whole
(series x steps) arrays. So the per-step work is numpy, and Python loops run per
series or per group, never per step.

Semantics are Prometheus 3.x's: 5 m lookback (left-open), staleness markers,
left-open range windows, `offset` (negative too), `@` with `start()`/`end()`,
subqueries aligned to absolute multiples of their step, delayed `__name__`
removal, Kahan summation in `sum`/`avg`. Limits: a timeout, a maximum number of
samples loaded, and 11,000 points per series for range queries, each a
:class:`~nightowl.errors.QueryError` with a `kind`.

    >>> from nightowl.store.memory import MemoryStore
    >>> Engine(MemoryStore()).instant("1 + 1", 0).value
    Scalar(t=0, v=2.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from nightowl.query import ast
from nightowl.query._aggregate import aggregate, count_values
from nightowl.query._binary import scalar_binop, vector_binop, vector_scalar_binop
from nightowl.query._blockutil import DUPLICATE_LABELSET, drops, merge_rows, strip_name
from nightowl.query._info import evaluate_info
from nightowl.query._rollup import ROLLUP_FUNCTIONS, rollup_call
from nightowl.query.block import (
    ArgType,
    Block,
    EvalContext,
    RangeBlock,
    RangeSeriesData,
    ScalarBlock,
    StringBlock,
)
from nightowl.query.parser import line_col, parse
from nightowl.query.values import (
    InstantSample,
    Matrix,
    QueryResult,
    RangeSeries,
    Scalar,
    String,
    Vector,
)
from nightowl.store.api import Querier

from nightowl.errors import QueryError
from nightowl.model import Labels, go_quote, stale_mask

__all__ = ["Engine", "EngineOptions"]

_MAX_POINTS_MSG = (
    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
    "resolution (?step=XX)"
)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine settings.

    Attributes:
        lookback_delta_ms: how far back an instant selector looks for a sample.
        timeout_s: wall-clock limit per query (None: unlimited).
        max_samples: most raw samples one query may load (selectors and windows).
        max_points_per_series: most steps of a range query (Prometheus: 11,000).
        default_subquery_step_ms: the step of `x[5m:]` (Prometheus: the global
            evaluation interval, 1 m by default).
        use_rollups: answer `count_over_time`/`max_over_time`/`min_over_time` over long
            windows from the store's rollups where that is exact (see `query._rollup`).
        delayed_name_removal: Prometheus 3's `promql-delayed-name-removal` feature:
            functions and operators only mark `__name__` for removal and it goes at the
            end of the query (Prometheus's own test runner enables it, and so does
            `query.promqltest`). Off, as by default in Prometheus: the name goes at once,
            so `count by (__name__) (abs({job="a"}))` over two metrics is `{} 2`.
    """

    lookback_delta_ms: int = 300_000
    timeout_s: float | None = 120.0
    max_samples: int = 50_000_000
    max_points_per_series: int = 11_000
    default_subquery_step_ms: int = 60_000
    use_rollups: bool = True
    delayed_name_removal: bool = False


class Engine:
    """Evaluates PromQL against a :class:`~nightowl.store.api.Querier`.

    Synchronous and CPU-bound: callers on an event loop run it in a worker thread.
    One engine may serve many threads (it keeps no per-query state).
    """

    def __init__(self, querier: Querier, options: EngineOptions | None = None) -> None:
        self.querier = querier
        self.options = options or EngineOptions()

    def parse(self, query: str) -> ast.Expr:
        """Parse a query (raises :class:`~nightowl.errors.ParseError`)."""
        return parse(query)

    def validate(self, query: str) -> None:
        """Raise ParseError if `query` is not valid PromQL; return None otherwise."""
        parse(query)

    def instant(
        self, query: str, t_ms: int, *, lookback_delta_ms: int | None = None
    ) -> QueryResult:
        """Evaluate `query` at one time (ms); the value is a Vector, Scalar, String or Matrix.

        `lookback_delta_ms` overrides the engine's lookback for this query (the API's
        `lookback_delta` parameter).
        """
        return self.instant_expr(parse(query), t_ms, query, lookback_delta_ms=lookback_delta_ms)

    def instant_expr(
        self,
        expr: ast.Expr,
        t_ms: int,
        text: str = "",
        *,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate an already parsed expression at one time (`text` positions annotations)."""
        t_ms = int(t_ms)
        steps = np.array([t_ms], dtype=np.int64)
        ctx = EvalContext(steps, t_ms, t_ms, 0, self._lookback(lookback_delta_ms))
        ev = _Evaluator(self, ctx, text)
        res = ev.eval(expr)
        value = _instant_value(res, t_ms)
        return QueryResult(value, _dedupe(ctx.warnings), _dedupe(ctx.infos))

    def range(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate `query` at `start, start+step, ... <= end`; the value is a Matrix."""
        self._check_range(start_ms, end_ms, step_ms)
        return self.range_expr(
            parse(query), start_ms, end_ms, step_ms, query, lookback_delta_ms=lookback_delta_ms
        )

    def _lookback(self, override: int | None) -> int:
        if override is None or override == 0:
            return self.options.lookback_delta_ms
        if override < 0:
            raise QueryError("lookback delta must not be negative", kind="bad_data")
        return int(override)

    def _check_range(self, start_ms: int, end_ms: int, step_ms: int) -> None:
        if step_ms <= 0:
            raise QueryError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer",
                kind="bad_data",
            )
        if end_ms < start_ms:
            raise QueryError("end timestamp must not be before start time", kind="bad_data")
        if (end_ms - start_ms) // step_ms + 1 > self.options.max_points_per_series:
            raise QueryError(_MAX_POINTS_MSG, kind="bad_data")

    def range_expr(
        self,
        expr: ast.Expr,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        text: str = "",
        *,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate an already parsed expression as a range query."""
        start_ms, end_ms, step_ms = int(start_ms), int(end_ms), int(step_ms)
        self._check_range(start_ms, end_ms, step_ms)
        if expr.type not in (ArgType.SCALAR, ArgType.VECTOR):
            raise QueryError(
                f'invalid expression type "{_type_name(expr.type)}" for range query, '
                "must be Scalar or instant Vector",
                kind="bad_data",
            )
        n = (end_ms - start_ms) // step_ms + 1
        steps = start_ms + step_ms * np.arange(n, dtype=np.int64)
        ctx = EvalContext(steps, start_ms, end_ms, step_ms, self._lookback(lookback_delta_ms))
        ev = _Evaluator(self, ctx, text)
        res = ev.eval(expr)
        value = _range_value(res, steps)
        return QueryResult(value, _dedupe(ctx.warnings), _dedupe(ctx.infos))


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _type_name(t: ArgType) -> str:
    return {
        ArgType.MATRIX: "range vector",
        ArgType.VECTOR: "instant vector",
        ArgType.SCALAR: "scalar",
        ArgType.STRING: "string",
    }[t]


# -- results ------------------------------------------------------------------


def _finish_labels(block: Block) -> Block:
    """Apply delayed name removal, then refuse duplicate label sets."""
    dn = drops(block)
    if dn.any():
        labels = [
            strip_name(lab) if d else lab for lab, d in zip(block.labels, dn.tolist(), strict=True)
        ]
        block = Block(labels, block.values, block.present, None, None, None)
    return merge_rows(block, strict=True)


def _instant_value(res: object, t: int) -> Scalar | String | Vector | Matrix:
    if isinstance(res, ScalarBlock):
        return Scalar(t, float(res.values[0]))
    if isinstance(res, StringBlock):
        return String(t, res.value)
    if isinstance(res, RangeBlock):
        return _range_block_matrix(res)
    assert isinstance(res, Block)
    block = _finish_labels(res)
    vec = Vector()
    for lab, v, p in zip(
        block.labels, block.values[:, 0].tolist(), block.present[:, 0].tolist(), strict=True
    ):
        if p:
            vec.append(InstantSample(lab, t, v))
    return vec


def _range_block_matrix(rb: RangeBlock) -> Matrix:
    ws, we = int(rb.window_start[0]), int(rb.window_end[0])
    out = Matrix()
    dn = rb.drop_name
    for i, s in enumerate(rb.series):
        lo = int(np.searchsorted(s.t, ws, "right"))
        hi = int(np.searchsorted(s.t, we, "right"))
        if hi > lo:
            lab = s.labels
            if dn is not None and dn[i]:
                lab = strip_name(lab)
            out.append(RangeSeries(lab, s.t[lo:hi].copy(), s.v[lo:hi].copy()))
    out.sort(key=lambda r: r.labels)
    seen = set()
    for r in out:
        if r.labels in seen:
            raise QueryError(DUPLICATE_LABELSET)
        seen.add(r.labels)
    return out


def _range_value(res: object, steps: np.ndarray) -> Matrix:
    out = Matrix()
    if isinstance(res, ScalarBlock):
        out.append(RangeSeries(Labels(), steps.copy(), res.values.astype(np.float64).copy()))
        return out
    assert isinstance(res, Block)
    block = _finish_labels(res)
    for i, lab in enumerate(block.labels):
        p = block.present[i]
        if p.any():
            out.append(RangeSeries(lab, steps[p], block.values[i, p]))
    out.sort(key=lambda r: r.labels)
    return out


# -- evaluation ---------------------------------------------------------------


class _Evaluator:
    """Evaluates one query's AST over the steps of `ctx`."""

    def __init__(self, engine: Engine, ctx: EvalContext, text: str) -> None:
        self.engine = engine
        self.querier = engine.querier
        self.opts = engine.options
        self.ctx = ctx
        self.text = text
        timeout = self.opts.timeout_s
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.samples = 0

    # bookkeeping

    def check_time(self) -> None:
        """Raise the timeout error once the query's deadline has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryError("query timed out in expression evaluation", kind="timeout")

    def count_samples(self, n: int) -> None:
        """Charge `n` samples held in memory against `max_samples`."""
        self.samples += n
        if self.samples > self.opts.max_samples:
            raise QueryError(
                "query processing would load too many samples into memory in query execution",
                kind="execution",
            )

    def check_dense(self, cells: int) -> None:
        """Refuse a series x steps block larger than `max_samples` points before building it.

        Blocks are dense, so this bounds memory; Prometheus would count only the
        points present, so this can refuse a very sparse query it would answer.
        """
        if cells > self.opts.max_samples:
            raise QueryError(
                "query processing would load too many samples into memory in query execution",
                kind="execution",
            )

    def sub(self, steps: np.ndarray, step: int) -> _Evaluator:
        """An evaluator for a subquery's steps sharing limits and annotations."""
        ctx = EvalContext(
            steps,
            self.ctx.start,
            self.ctx.end,
            step,
            self.ctx.lookback_ms,
            self.ctx.warnings,
            self.ctx.infos,
        )
        child = _Evaluator.__new__(_Evaluator)
        child.engine, child.querier, child.opts = self.engine, self.querier, self.opts
        child.ctx, child.text, child.deadline = ctx, self.text, self.deadline
        child.samples = self.samples
        return child

    # dispatch

    def eval(self, node: ast.Expr) -> Block | ScalarBlock | StringBlock | RangeBlock:
        """Evaluate one node; without delayed name removal, drop marked names at once."""
        res = self._eval_node(node)
        if (
            isinstance(res, Block)
            and res.drop_name is not None
            and not self.opts.delayed_name_removal
            and res.drop_name.any()
        ):
            res = _finish_labels(res)
            res.drop_name = None
        return res

    def _eval_node(self, node: ast.Expr) -> Block | ScalarBlock | StringBlock | RangeBlock:
        self.check_time()
        n = self.ctx.n_steps
        if isinstance(node, ast.NumberLiteral):
            return ScalarBlock(np.full(n, node.value, dtype=np.float64))
        if isinstance(node, ast.StringLiteral):
            return StringBlock(node.value)
        if isinstance(node, ast.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, ast.VectorSelector):
            return self.vector_selector(node)
        if isinstance(node, ast.MatrixSelector):
            return self.matrix_selector(node)
        if isinstance(node, ast.SubqueryExpr):
            return self.subquery(node)
        if isinstance(node, ast.UnaryExpr):
            return self.unary(node)
        if isinstance(node, ast.BinaryExpr):
            return self.binary(node)
        if isinstance(node, ast.AggregateExpr):
            return self.aggregation(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise QueryError(f"unhandled expression {node!r}", kind="internal")

    # selectors

    def _times(self, at: ast.At | None, offset_ms: int) -> np.ndarray:
        if at is None:
            base = self.ctx.step_times
        else:
            t = {"start": self.ctx.start, "end": self.ctx.end}.get(at.kind, at.t_ms)
            base = np.full(self.ctx.n_steps, t, dtype=np.int64)
        return base - offset_ms

    def vector_selector(self, vs: ast.VectorSelector, keep_ts: bool = False) -> Block:
        """The sample in effect at every step (lookback, staleness) for each matching series.

        `keep_ts` keeps the samples' own times (only `timestamp(selector)` needs them).
        """
        te = self._times(vs.at, vs.offset_ms)
        n = len(te)
        lb = self.ctx.lookback_ms
        if n == 0:
            return Block.empty(0)
        data = self.querier.select(list(vs.matchers), int(te.min()) - lb + 1, int(te.max()))
        data = [s for s in data if len(s.timestamps)]
        self.check_time()
        if not data:
            b = Block.empty(n)
            b.source_matchers = list(vs.matchers)
            b.timestamps = np.empty((0, n), dtype=np.int64)
            return b
        lens = np.fromiter((len(s.timestamps) for s in data), np.int64, len(data))
        self.count_samples(int(lens.sum()))
        self.check_dense(len(data) * n)
        flat_t = np.concatenate([s.timestamps for s in data]).astype(np.int64, copy=False)
        flat_v = np.concatenate([s.values for s in data]).astype(np.float64, copy=False)
        starts = np.zeros(len(data), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        # one search for all series: shift each series' times into its own band of a
        # single increasing key (times are sorted within a series)
        tmin, tmax = int(flat_t.min()), int(flat_t.max())
        band = np.arange(len(data), dtype=np.int64) * (tmax - tmin + 2)
        key = flat_t - tmin + np.repeat(band, lens)
        q = np.clip(te, tmin - 1, tmax)[np.newaxis, :] - tmin + band[:, np.newaxis]
        idx = np.searchsorted(key, q, "right") - 1
        ok = idx >= starts[:, np.newaxis]
        idx = np.maximum(idx, 0)
        tt = flat_t[idx]
        vv = flat_v[idx]
        ok &= tt > (te - lb)[np.newaxis, :]
        ok &= ~stale_mask(vv)
        rows = np.nonzero(ok.any(axis=1))[0]
        if len(rows) < len(data):
            tt, vv, ok = tt[rows], vv[rows], ok[rows]
        return Block(
            [data[i].labels for i in rows.tolist()],
            vv,
            ok,
            tt if keep_ts else None,
            list(vs.matchers),
            np.zeros(len(rows), dtype=bool),
        )

    def matrix_selector(self, ms: ast.MatrixSelector) -> RangeBlock:
        vs = ms.vs
        we = self._times(vs.at, vs.offset_ms)
        ws = we - ms.range_ms
        series: list[RangeSeriesData] = []
        if len(we):
            data = self.querier.select(list(vs.matchers), int(ws.min()) + 1, int(we.max()))
            total = sum(len(s.values) for s in data)
            self.count_samples(total)
            # one staleness scan over everything; only series holding markers are copied
            has_stale = set()
            if data:
                flat = np.concatenate([s.values for s in data])
                marks = stale_mask(flat)
                if marks.any():
                    lens = np.fromiter((len(s.values) for s in data), np.int64, len(data))
                    owner = np.repeat(np.arange(len(data)), lens)
                    has_stale = set(np.unique(owner[marks]).tolist())
            if not has_stale:
                series = [
                    RangeSeriesData(s.labels, s.timestamps, s.values)
                    for s in data
                    if len(s.timestamps)
                ]
            else:
                for i, s in enumerate(data):
                    if i in has_stale:
                        keep = ~stale_mask(s.values)
                        t, v = s.timestamps[keep], s.values[keep]
                    else:
                        t, v = s.timestamps, s.values
                    if len(t):
                        series.append(RangeSeriesData(s.labels, t, v))
        return RangeBlock(series, ws, we, ms.range_ms, self.ctx.step_times, list(vs.matchers))

    def subquery(self, sq: ast.SubqueryExpr) -> RangeBlock:
        step = sq.step_ms or self.opts.default_subquery_step_ms
        we = self._times(sq.at, sq.offset_ms)
        ws = we - sq.range_ms
        if not len(we):
            return RangeBlock([], ws, we, sq.range_ms, self.ctx.step_times)
        lo = int(ws.min())
        first = (lo // step) * step + step
        last = int(we.max())
        self.check_dense((last - first) // step + 1)
        inner_steps = np.arange(first, last + 1, step, dtype=np.int64)
        if len(inner_steps) == 0:
            return RangeBlock([], ws, we, sq.range_ms, self.ctx.step_times)
        child = self.sub(inner_steps, step)
        res = child.eval(sq.expr)
        self.samples = child.samples
        if isinstance(res, Block):
            # the subquery's points stay in memory like loaded samples
            self.count_samples(int(res.present.sum()))
        if isinstance(res, ScalarBlock):
            res = Block([Labels()], res.values[np.newaxis, :], np.ones((1, len(inner_steps)), bool))
        if not isinstance(res, Block):
            raise QueryError("subquery is only allowed on instant vector", kind="bad_data")
        series = []
        for i, lab in enumerate(res.labels):
            p = res.present[i]
            if p.any():
                series.append(RangeSeriesData(lab, inner_steps[p], res.values[i, p]))
        dn = drops(res)
        kept = np.array([dn[i] for i in range(len(res.labels)) if res.present[i].any()], bool)
        return RangeBlock(series, ws, we, sq.range_ms, self.ctx.step_times, None, kept)

    # operators

    def unary(self, node: ast.UnaryExpr) -> Block | ScalarBlock:
        res = self.eval(node.expr)
        if isinstance(res, ScalarBlock):
            return ScalarBlock(-res.values)
        assert isinstance(res, Block)
        return Block(
            list(res.labels),
            -res.values,
            res.present,
            None,
            None,
            np.ones(len(res.labels), dtype=bool),
        )

    def binary(self, node: ast.BinaryExpr) -> Block | ScalarBlock:
        lhs = self.eval(node.lhs)
        rhs = self.eval(node.rhs)
        op = node.op
        if isinstance(lhs, ScalarBlock) and isinstance(rhs, ScalarBlock):
            return ScalarBlock(scalar_binop(op, lhs.values, rhs.values))
        if isinstance(lhs, Block) and isinstance(rhs, ScalarBlock):
            return vector_scalar_binop(
                op, lhs, rhs.values, swap=False, return_bool=node.return_bool
            )
        if isinstance(lhs, ScalarBlock) and isinstance(rhs, Block):
            return vector_scalar_binop(op, rhs, lhs.values, swap=True, return_bool=node.return_bool)
        assert isinstance(lhs, Block) and isinstance(rhs, Block)
        matching = node.matching or ast.VectorMatching(
            "many-to-many" if op in ast.SET_OPS else "one-to-one"
        )
        return vector_binop(op, lhs, rhs, matching, return_bool=node.return_bool)

    def aggregation(self, node: ast.AggregateExpr) -> Block:
        param = None
        label = ""
        if node.param is not None:
            p = self.eval(node.param)
            if isinstance(p, StringBlock):
                label = p.value
            elif isinstance(p, ScalarBlock):
                param = p.values
        inner = self.eval(node.expr)
        if not isinstance(inner, Block):
            raise QueryError("expected instant vector in aggregation", kind="bad_data")
        grouping = tuple(sorted(node.grouping))
        if node.op == "count_values":
            if not _valid_label_name(label):
                raise QueryError(f"invalid label name {go_quote(label)}")
            return count_values(inner, label, grouping, node.without)
        quantile = node.op == "quantile" and bool(node.arg_pos) and bool(self.text)
        pos = line_col(self.text, node.arg_pos[0]) if quantile else ""
        out, warnings = aggregate(node.op, inner, grouping, node.without, param)
        for w in warnings:
            self.ctx.warnings.append(f"{w} ({pos})" if pos else w)
        return out

    # functions

    def call(self, node: ast.Call) -> Block | ScalarBlock:
        from nightowl.query.functions import FUNCTIONS

        if node.func == "info":
            return merge_rows(evaluate_info(self, node), strict=True)
        fd = FUNCTIONS.get(node.func)
        if fd is None:
            raise QueryError(f"unknown function with name {node.func!r}", kind="bad_data")
        if node.func in ROLLUP_FUNCTIONS and self.opts.use_rollups:
            arg = node.args[0]
            while isinstance(arg, ast.ParenExpr):
                arg = arg.expr
            if isinstance(arg, ast.MatrixSelector):
                we = self._times(arg.vs.at, arg.vs.offset_ms)
                done = rollup_call(self.querier, node.func, arg, we, self.count_samples)
                if done is not None:
                    return done
        args = [self._arg(node.func, a) for a in node.args]
        ctx = self.ctx
        known = bool(self.text) and node.pos >= 0
        ctx.call_position = line_col(self.text, node.pos) if known else ""
        ctx.arg_positions = [line_col(self.text, p) for p in node.arg_pos] if known else []
        with np.errstate(all="ignore"):
            res = fd.impl(args, ctx)
        if isinstance(res, Block):
            res = self._name_flags(res, args, fd.keeps_name)
            res = merge_rows(res)
        return res  # type: ignore[return-value]

    def _arg(self, func: str, arg: ast.Expr) -> Block | ScalarBlock | StringBlock | RangeBlock:
        if func == "timestamp":
            inner = arg
            while isinstance(inner, ast.ParenExpr):
                inner = inner.expr
            if isinstance(inner, ast.VectorSelector):
                self.check_time()
                return self.vector_selector(inner, keep_ts=True)
        return self.eval(arg)

    def _name_flags(self, res: Block, args: list, keeps_name: bool) -> Block:
        """Set the delayed-name-removal flags of a function's result.

        Functions that drop the name flag every row. Those that keep it carry each
        row's flag from the input row it came from: the row with the same labels
        (`sort`, `last_over_time`) or, when the labels changed (`label_replace`), the
        row at the same position; a row whose `__name__` was set anew keeps it.
        """
        n = len(res.labels)
        if not keeps_name:
            res.drop_name = np.ones(n, dtype=bool)
            return res
        if res.drop_name is not None:
            return res
        src_labels: list[Labels] = []
        src_flags: list[bool] = []
        src = next((a for a in args if isinstance(a, Block)), None)
        if src is not None:
            src_labels, src_flags = list(src.labels), drops(src).tolist()
        else:
            rb = next((a for a in args if isinstance(a, RangeBlock)), None)
            if rb is not None and rb.drop_name is not None:
                src_labels = [s.labels for s in rb.series]
                src_flags = rb.drop_name.tolist()
        flags = np.zeros(n, dtype=bool)
        if any(src_flags):
            by_labels = dict(zip(src_labels, src_flags, strict=True))
            same_rows = len(src_labels) == n
            for i, lab in enumerate(res.labels):
                flag = by_labels.get(lab)
                if flag is None and same_rows and lab.name == src_labels[i].name:
                    flag = src_flags[i]
                flags[i] = bool(flag)
        res.drop_name = flags
        return res


def _valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
