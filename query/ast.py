"""nightowl's own PromQL syntax tree: small frozen dataclasses.

`query.parser` converts the tree of the Rust-backed `promql_parser` package into
these nodes, so nothing else in nightowl imports `promql_parser`. Durations and
offsets are int milliseconds; an `@` modifier is an :class:`At`. Every node has
a :attr:`type` (the PromQL value type it evaluates to, as an `ArgType`).

The node set mirrors Prometheus's `promql/parser/ast.go`::

    Expr
    ├── NumberLiteral        1, 2.5e3, Inf, 5m (durations are numbers of seconds)
    ├── StringLiteral        "foo"
    ├── VectorSelector       http_requests_total{job="api"} offset 5m @ 1700000000
    ├── MatrixSelector       x[5m] (range + the vector selector it ranges over)
    ├── SubqueryExpr         expr[30m:1m] offset 1m @ end()
    ├── Call                 rate(x[5m])
    ├── AggregateExpr        sum by (job) (x), topk(3, x)
    ├── BinaryExpr           x + on(a) group_left(b) y
    ├── UnaryExpr            -x
    └── ParenExpr            (x)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nightowl.query.block import ArgType

from nightowl.model import Matcher

__all__ = [
    "AggregateExpr",
    "At",
    "BinaryExpr",
    "Call",
    "Expr",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "VectorMatching",
    "VectorSelector",
    "walk",
]

#: Binary operators that compare (they filter unless `bool` is given).
COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})
#: Set operators (always many-to-many).
SET_OPS = frozenset({"and", "or", "unless"})
#: Arithmetic operators (plus `atan2`).
ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
#: Aggregations that take a parameter before the vector.
PARAM_AGGREGATIONS = frozenset(
    {"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}
)


@dataclass(frozen=True, slots=True)
class At:
    """An `@` modifier: a fixed time in ms, or `start()` / `end()` of the query.

    Attributes:
        kind: "time", "start" or "end".
        t_ms: the time for kind "time" (0 otherwise).
    """

    kind: str
    t_ms: int = 0


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    """A float literal (durations such as `5m` arrive as seconds)."""

    value: float

    @property
    def type(self) -> ArgType:
        """Always scalar."""
        return ArgType.SCALAR


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A string literal, unescaped."""

    value: str

    @property
    def type(self) -> ArgType:
        """Always string."""
        return ArgType.STRING


@dataclass(frozen=True, slots=True)
class VectorSelector:
    """An instant vector selector.

    Attributes:
        name: the metric name written before the braces, if any.
        matchers: all matchers, including `__name__="<name>"` for `name`.
        offset_ms: the `offset` (negative allowed), 0 when absent.
        at: the `@` modifier, if any.
    """

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> ArgType:
        """Always an instant vector."""
        return ArgType.VECTOR


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    """A range vector selector: `vs[range]`."""

    vs: VectorSelector
    range_ms: int

    @property
    def type(self) -> ArgType:
        """Always a range vector."""
        return ArgType.MATRIX


@dataclass(frozen=True, slots=True)
class SubqueryExpr:
    """A subquery `expr[range:step]`; `step_ms` 0 means the engine's default step."""

    expr: Expr
    range_ms: int
    step_ms: int
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> ArgType:
        """Always a range vector."""
        return ArgType.MATRIX


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; `args` are in call order."""

    func: str
    args: tuple[Expr, ...]
    return_type: ArgType = ArgType.VECTOR
    pos: int = -1
    """0-based offset of the function name in the query text (-1 unknown)."""
    arg_pos: tuple[int, ...] = ()
    """0-based offsets of the arguments (empty when unknown)."""

    @property
    def type(self) -> ArgType:
        """The function's declared return type."""
        return self.return_type


@dataclass(frozen=True, slots=True)
class AggregateExpr:
    """An aggregation such as `sum by (job) (x)` or `topk(3, x)`.

    Attributes:
        op: the operator name (`sum`, `topk`, ...).
        expr: the aggregated vector expression.
        param: the parameter of `topk`, `quantile`, `count_values`, ...; None otherwise.
        grouping: the labels of `by (...)` or `without (...)`.
        without: True for `without`.
    """

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: int = -1
    """0-based offset of the operator name in the query text (-1 unknown)."""
    arg_pos: tuple[int, ...] = ()
    """0-based offsets of the parameter and the vector argument (empty when unknown)."""

    @property
    def type(self) -> ArgType:
        """Always an instant vector."""
        return ArgType.VECTOR


@dataclass(frozen=True, slots=True)
class VectorMatching:
    """How the two sides of a vector/vector binary operation are matched.

    Attributes:
        card: "one-to-one", "many-to-one" (group_left), "one-to-many" (group_right)
            or "many-to-many" (set operators).
        on: True for `on(...)`, False for `ignoring(...)` (or no clause).
        labels: the labels of `on`/`ignoring`.
        include: the extra labels of `group_left(...)`/`group_right(...)`.
        fill_lhs: `fill(v)`/`fill_left(v)`: the value standing in for a missing
            left-hand sample (None: no fill; Prometheus 3's experimental modifiers).
        fill_rhs: `fill(v)`/`fill_right(v)`: the same for the right-hand side.
    """

    card: str = "one-to-one"
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    fill_lhs: float | None = None
    fill_rhs: float | None = None


@dataclass(frozen=True, slots=True)
class BinaryExpr:
    """A binary operation; `matching` is None unless both sides are vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None

    @property
    def type(self) -> ArgType:
        """Scalar when both sides are scalars, else an instant vector."""
        if self.lhs.type == ArgType.SCALAR and self.rhs.type == ArgType.SCALAR:
            return ArgType.SCALAR
        return ArgType.VECTOR


@dataclass(frozen=True, slots=True)
class UnaryExpr:
    """A unary minus (a unary plus is dropped by the parser)."""

    op: str
    expr: Expr

    @property
    def type(self) -> ArgType:
        """The operand's type."""
        return self.expr.type


@dataclass(frozen=True, slots=True)
class ParenExpr:
    """A parenthesised expression."""

    expr: Expr

    @property
    def type(self) -> ArgType:
        """The inner expression's type."""
        return self.expr.type


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | SubqueryExpr
    | Call
    | AggregateExpr
    | BinaryExpr
    | UnaryExpr
    | ParenExpr
)


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `node`."""
    if isinstance(node, MatrixSelector):
        return (node.vs,)
    if isinstance(node, SubqueryExpr | UnaryExpr | ParenExpr):
        return (node.expr,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, AggregateExpr):
        return (node.expr,) if node.param is None else (node.param, node.expr)
    if isinstance(node, BinaryExpr):
        return (node.lhs, node.rhs)
    return ()


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
