"""The PromQL parser adapter: `promql_parser` (Rust) in, :mod:`nightowl.query.ast` out.

Only this module imports `promql_parser`. It

- converts the foreign tree into our frozen dataclasses (durations to ms, the
  metric name into a `__name__` matcher, regexes into Python patterns with RE2's
  mid-pattern flag groups rewritten);
- type-checks calls against `query.functions.FUNCTIONS` (functions nightowl has
  that `promql_parser` does not know are registered with it);
- turns the parser's position-less `ValueError` messages into
  :class:`~nightowl.errors.ParseError` with Prometheus's wording
  (`1:5: parse error: ...`) and the 0-based `position` Prometheus reports:
  :mod:`nightowl.query._lexer` places each class of error (lexical, call and
  aggregation types, binary operators, modifiers, regexes); otherwise the first
  token no short completion can save (found by binary search) is the one
  "unexpected". As in Prometheus, a syntax error before a lexical one wins, and
  an unknown function whose call closes first is reported first.
  tests/query/test_query_parse_errors.py holds the answers recorded from
  Prometheus 2.42 that this is checked against.

    >>> parse("sum by (job) (rate(x[5m]))").op
    'sum'
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache

import promql_parser as _pp
from nightowl.query import _lexer, ast
from nightowl.query.block import ArgType

from nightowl.errors import ParseError
from nightowl.model import METRIC_NAME, Matcher, MatchOp, go_quote

__all__ = ["format_query", "line_col", "parse", "parse_matchers", "translate_regex"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_MATCH_OPS = {
    "Equal": MatchOp.EQ,
    "NotEqual": MatchOp.NE,
    "Re": MatchOp.RE,
    "NotRe": MatchOp.NRE,
}

_VT_TO_ARG = {
    "Scalar": ArgType.SCALAR,
    "String": ArgType.STRING,
    "Vector": ArgType.VECTOR,
    "Matrix": ArgType.MATRIX,
}


def _td_ms(td: timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * 1000 + td.microseconds // 1000


def _arg_type(vt: object) -> ArgType:
    name = str(vt).rsplit(".", 1)[-1]
    return _VT_TO_ARG[name]


# -- regexes ----------------------------------------------------------------


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
# RE2's Perl classes are ASCII-only; Python's are Unicode-aware
_PERL_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}


def translate_regex(pattern: str) -> str:
    """Rewrite an RE2 pattern (Prometheus's regex dialect) for Python's `re`.

    - A flag group such as `(?i)` applies to the rest of its enclosing group in
      RE2, across `|`; Python only accepts it at the very start. It becomes a
      scoped `(?i:` group, closed at the end of the enclosing group and re-opened
      after each `|`.
    - `\\d`, `\\w`, `\\s` (and negations) are ASCII classes, as in RE2.
    - POSIX classes `[[:alpha:]]` (and `[[:^alpha:]]` as a whole class) are expanded.
    - `\\z` (end of text) becomes Python's `\\Z`; `\\Q...\\E` quotes literally.
    """
    out: list[str] = []
    # per open group: the scoped flag groups opened inside it
    opened: list[list[str]] = [[]]
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q" and not in_class:
                stop = pattern.find("\\E", i + 2)
                stop = n if stop < 0 else stop
                out.append(re.escape(pattern[i + 2 : stop]))
                i = stop + 2
                continue
            if nxt in _PERL_CLASSES:
                body = _PERL_CLASSES[nxt]
                out.append(body if in_class else f"[{body}]")
            elif nxt.lower() in _PERL_CLASSES and not in_class:
                out.append(f"[^{_PERL_CLASSES[nxt.lower()]}]")
            elif nxt == "z" and not in_class:
                out.append("\\Z")
            else:
                out.append(c + nxt)
            i += 2
            continue
        if in_class:
            m = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
            if m and m.group(2) in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[m.group(2)])
                i += m.end()
                continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            m = re.match(r"\[\[:\^([a-z]+):\]\]", pattern[i:])
            if m and m.group(1) in _POSIX_CLASSES:
                out.append(f"[^{_POSIX_CLASSES[m.group(1)]}]")
                i += m.end()
                continue
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "(":
            m = re.match(r"\(\?([a-zA-Z-]+)\)", pattern[i:])
            if m:
                out.append(f"(?{m.group(1)}:")
                opened[-1].append(m.group(1))
                i += m.end()
                continue
            if pattern.startswith("(?<", i) and re.match(r"\(\?<[A-Za-z_]", pattern[i:]):
                out.append("(?P<")  # a named group in RE2's newer spelling
                opened.append([])
                i += 3
                continue
            opened.append([])
            out.append(c)
            i += 1
            continue
        if c == ")":
            if len(opened) > 1:
                out.append(")" * len(opened.pop()))
            out.append(c)
            i += 1
            continue
        if c == "|" and opened[-1]:
            out.append(")" * len(opened[-1]))
            out.append("|")
            out.extend(f"(?{f}:" for f in opened[-1])
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * len(opened[0]))
    return "".join(out)


def _matcher(name: str, op: MatchOp, value: str) -> Matcher:
    if op in (MatchOp.RE, MatchOp.NRE):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set": RE2 reads it as literal
                regex = re.compile(f"(?s:{translate_regex(value)})")
        except re.error as exc:
            raise ParseError(f"invalid regular expression {value!r}: {exc}") from None
        return Matcher(name, op, value, regex)
    return Matcher(name, op, value)


# -- conversion -------------------------------------------------------------


class _AtOverrides(threading.local):
    """Negative `@` times of the text being converted (see :func:`_negative_at`)."""

    values: Iterator[float | None] = iter(())
    strings: Iterator[str | None] = iter(())


_AT_OVERRIDES = _AtOverrides()


#: The last millisecond Python's datetime (and promql_parser's) can hold: 9999-12-31.
_DATETIME_MAX_MS = 253_402_300_799_000


def _at(mod: object | None) -> ast.At | None:
    if mod is None:
        return None
    override = next(_AT_OVERRIDES.values, None)
    kind = str(mod.type).rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    if kind == "At" and override is not None and not 0 <= override <= _DATETIME_MAX_MS:
        if not abs(override) < 2**63 * 1000:  # also infinities
            raise ParseError(
                f"timestamp out of bounds for @ modifier: {_go_float(override / 1000)}"
            )
        return ast.At("time", round(override))
    if kind == "Start":
        return ast.At("start")
    if kind == "End":
        return ast.At("end")
    try:
        when: datetime = mod.at  # type: ignore[attr-defined]
    except (ValueError, OverflowError):
        raise ParseError("timestamp out of bounds for @ modifier") from None
    return ast.At("time", _td_ms(when - _EPOCH))


def _go_float(value: float) -> str:
    """`value` as Go's `%f` prints it."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:f}"


def _offset(td: timedelta | None) -> int:
    return 0 if td is None else _td_ms(td)


def _vector_selector(node: object) -> ast.VectorSelector:
    name = node.name  # type: ignore[attr-defined]
    ms = node.matchers  # type: ignore[attr-defined]
    if ms.or_matchers:
        raise ParseError("unexpected 'or' inside braces")
    matchers = [
        _matcher(m.name, _MATCH_OPS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in ms.matchers
    ]
    if name:
        matchers.insert(0, Matcher(METRIC_NAME, MatchOp.EQ, name))
    return ast.VectorSelector(
        name or None,
        tuple(matchers),
        _offset(node.offset),  # type: ignore[attr-defined]
        _at(node.at),  # type: ignore[attr-defined]
    )


def _convert(node: object) -> ast.Expr:
    if isinstance(node, _pp.NumberLiteral):
        return ast.NumberLiteral(float(node.val))
    if isinstance(node, _pp.StringLiteral):
        override = next(_AT_OVERRIDES.strings, None)
        return ast.StringLiteral(node.val if override is None else override)
    if isinstance(node, _pp.VectorSelector):
        return _vector_selector(node)
    if isinstance(node, _pp.MatrixSelector):
        return ast.MatrixSelector(_vector_selector(node.vector_selector), _td_ms(node.range))
    if isinstance(node, _pp.SubqueryExpr):
        step = node.step
        return ast.SubqueryExpr(
            _convert(node.expr),
            _td_ms(node.range),
            0 if step is None else _td_ms(step),
            _offset(node.offset),
            _at(node.at),
        )
    if isinstance(node, _pp.ParenExpr):
        return ast.ParenExpr(_convert(node.expr))
    if isinstance(node, _pp.UnaryExpr):
        return ast.UnaryExpr("-", _convert(node.expr))
    if isinstance(node, _pp.Call):
        func = node.func
        pos, arg_pos = _POSITIONS.take(func.name)
        args = tuple(_convert(a) for a in node.args)
        if func.name == "info" and len(args) > 1 and isinstance(args[1], ast.VectorSelector):
            kept = tuple(m for m in args[1].matchers if m.name != _INFO_PLACEHOLDER)
            args = (args[0], dataclasses.replace(args[1], matchers=kept), *args[2:])
        return ast.Call(
            func.name,
            args,
            _arg_type(func.return_type),
            pos,
            arg_pos,
        )
    if isinstance(node, _pp.AggregateExpr):
        mod = node.modifier
        without = False
        grouping: tuple[str, ...] = ()
        if mod is not None:
            without = str(mod.type).endswith("Without")
            grouping = tuple(mod.labels)
        op = str(node.op)
        pos, arg_pos = _POSITIONS.take(op)
        param = None if node.param is None else _convert(node.param)
        return ast.AggregateExpr(op, _convert(node.expr), param, grouping, without, pos, arg_pos)
    if isinstance(node, _pp.BinaryExpr):
        return _binary(node)
    raise ParseError(f"unsupported expression {node!s}")


_CARD = {
    "OneToOne": "one-to-one",
    "ManyToOne": "many-to-one",
    "OneToMany": "one-to-many",
    "ManyToMany": "many-to-many",
}


def _binary(node: object) -> ast.BinaryExpr:
    op = str(node.op)  # type: ignore[attr-defined]
    lhs = _convert(node.lhs)  # type: ignore[attr-defined]
    rhs = _convert(node.rhs)  # type: ignore[attr-defined]
    mod = node.modifier  # type: ignore[attr-defined]
    return_bool = False
    matching = None
    if mod is not None:
        fill = mod.fill_values
        return_bool = bool(mod.return_bool)
        card = _CARD[str(mod.card).rsplit(".", 1)[-1].split("(")[0]]
        on = False
        labels: tuple[str, ...] = ()
        if mod.matching is not None:
            on = str(mod.matching.type).endswith("Include")
            labels = tuple(mod.matching.labels)
        include = tuple(mod.group_labels or ())
        if lhs.type != ArgType.SCALAR and rhs.type != ArgType.SCALAR:
            if op in ast.SET_OPS:
                card = "many-to-many"
            matching = ast.VectorMatching(card, on, labels, include, fill.lhs, fill.rhs)
    elif lhs.type != ArgType.SCALAR and rhs.type != ArgType.SCALAR:
        card = "many-to-many" if op in ast.SET_OPS else "one-to-one"
        matching = ast.VectorMatching(card)
    return ast.BinaryExpr(op, lhs, rhs, return_bool, matching)


# -- positions --------------------------------------------------------------


class _Positions(threading.local):
    """Where each call's name and arguments start, by name, in text order."""

    queues: dict[str, list[tuple[int, tuple[int, ...]]]]

    def __init__(self) -> None:
        self.queues = {}

    def load(self, text: str) -> None:
        self.queues = {}
        toks = _tokens(text)
        n = len(toks)
        for i, (kind, start, end) in enumerate(toks):
            if kind != "ident":
                continue
            j = i + 1
            # an aggregation may put `by (...)`/`without (...)` before its arguments
            if (
                j + 1 < n
                and toks[j][0] == "ident"
                and text[toks[j][1] : toks[j][2]]
                in (
                    "by",
                    "without",
                )
            ):
                j = _skip_group(toks, text, j + 1)
            if j >= n or text[toks[j][1] : toks[j][2]] != "(":
                continue
            self.queues.setdefault(text[start:end], []).append((start, _arg_starts(toks, text, j)))

    def take(self, name: str) -> tuple[int, tuple[int, ...]]:
        queue = self.queues.get(name)
        if not queue:
            return -1, ()
        return queue.pop(0)


def _skip_group(toks: list[tuple[str, int, int]], text: str, j: int) -> int:
    """Index after the parenthesised label list starting at token j."""
    if j >= len(toks) or text[toks[j][1] : toks[j][2]] != "(":
        return j
    while j < len(toks) and text[toks[j][1] : toks[j][2]] != ")":
        j += 1
    return j + 1


def _arg_starts(toks: list[tuple[str, int, int]], text: str, j: int) -> tuple[int, ...]:
    """Start offsets of the comma-separated arguments after the `(` at token j."""
    out: list[int] = []
    depth = 0
    expect = True
    for kind, start, _end in toks[j + 1 :]:
        ch = text[start:_end]
        if depth == 0 and ch == ")":
            break
        if expect:
            out.append(start)
            expect = False
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        elif depth == 0 and ch == ",":
            expect = True
    return tuple(out)


_POSITIONS = _Positions()


def line_col(text: str, pos: int) -> str:
    """Prometheus's `line:col` (1-based) of a 0-based offset."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


# -- functions --------------------------------------------------------------


def _functions() -> dict | None:
    """The function table, or None while `query.functions` is not installed."""
    try:
        from nightowl.query.functions import FUNCTIONS
    except ImportError:
        return None
    return FUNCTIONS


_VT = {
    ArgType.SCALAR: _pp.ValueType.Scalar,
    ArgType.STRING: _pp.ValueType.String,
    ArgType.VECTOR: _pp.ValueType.Vector,
    ArgType.MATRIX: _pp.ValueType.Matrix,
}


@cache
def _register_functions() -> None:
    """Tell promql_parser about functions of ours it does not know."""
    extra = []
    for name, fd in (_functions() or {}).items():
        try:
            _pp.parse(f"{name}()")
        except ValueError as exc:
            if "unknown function" not in str(exc):
                continue
        else:
            continue
        extra.append(
            _pp.Function(
                name,
                [_VT[ArgType(t)] for t in fd.arg_types],
                _VT[ArgType(fd.return_type)],
                fd.variadic,
                fd.experimental,
            )
        )
    if extra:
        _pp.register_extra_functions(extra)


#: Functions the evaluator implements itself (they select series while evaluating).
_ENGINE_FUNCS = frozenset({"info"})


def _check_calls(expr: ast.Expr, text: str) -> None:
    funcs = _functions()
    if funcs is None:
        return
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and node.func not in funcs and node.func not in _ENGINE_FUNCS:
            msg = f"unknown function with name {node.func!r}"
            raise _error(text, msg)


# -- errors -----------------------------------------------------------------

_PAIRS = {"(": ")", "[": "]", "{": "}"}
_tokens = _lexer.tokens


def _lex_position(text: str, msg: str) -> int | None:
    """The position a lexical message points at, found by our own lexer."""
    toks = _tokens(text)
    stack: list[tuple[str, int]] = []
    for kind, start, end in toks:
        if kind == "badstring" and "unterminated" in msg:
            return start
        if kind == "bad" and "unexpected character" in msg:
            return start
        if kind == "open":
            stack.append((text[start], start))
        elif kind == "close":
            if not stack or _PAIRS[stack[-1][0]] != text[start]:
                if "unexpected right" in msg or ("unexpected" in msg and text[start] in msg):
                    return start
            else:
                stack.pop()
        _ = end
    if "unclosed left" in msg:
        for ch, pos in reversed(stack):
            if ch == "(":
                return pos
    if "unexpected character inside braces" in msg:
        m = re.search(r"'(.)'$", msg)
        if m:
            inside = False
            for kind, start, _end in toks:
                if kind == "open" and text[start] == "{":
                    inside = True
                elif kind == "close" and text[start] == "}":
                    inside = False
                elif inside and text[start:_end].startswith(m.group(1)):
                    return start
    return None


def _named_position(text: str, msg: str) -> int | None:
    """The position of an identifier or literal the message names."""
    m = re.search(r"function (?:with name )?'([^']+)'|call to '([^']+)'", msg)
    if m:
        name = m.group(1) or m.group(2)
        hit = re.search(rf"(?<![\w:]){re.escape(name)}\s*\(", text)
        if hit:
            return hit.start()
    m = re.search(r"illegal regex for (.*)$", msg)
    if m:
        for kind, start, end in _tokens(text):
            if kind == "string" and m.group(1) in text[start:end]:
                return start
    m = re.search(r"bad number or duration syntax: (\S+)", msg)
    if m:
        idx = text.find(m.group(1))
        if idx >= 0:
            return idx
    for word in ("offset", "@"):
        if f"in {word}" in msg or f"{word} " in msg[: len(word) + 1]:
            idx = text.find(word)
            if idx >= 0:
                return idx
    return None


#: What may follow a prefix before its open brackets are closed.
_TAILS = (
    "", " 1", " x", "1m", "1m:", ":", " x[1m]", 'a="1"', '="1"', '"1"', " (x)", "(a) x",
    " (a) (x)", " 1m", ") (x", "a) (x", "(a) (x",
)  # fmt: skip
#: What may follow once they are.
_AFTER = ("", " (x)")
#: promql_parser's messages for a text that parses but does not type-check.
_SEMANTIC = (
    "expected", "wrong number", "binary expression", "vector selector must", "comparisons between",
    "no arguments", "ranges only", "subquery is only", "set operator", "vector matching",
    "no grouping", "bool modifier", "unknown function", "illegal regex", "metric name must",
    "offset modifier", "@ modifier", "unary expression", "label '",
)  # fmt: skip


def _closers(prefix: str) -> str:
    """The brackets that close what `prefix` leaves open, innermost first."""
    stack: list[str] = []
    for kind, start, _end in _tokens(prefix):
        if kind == "open":
            stack.append(prefix[start])
        elif kind == "close" and stack and _PAIRS[stack[-1]] == prefix[start]:
            stack.pop()
    return "".join(_PAIRS[c] for c in reversed(stack))


def _viable(prefix: str) -> bool:
    """Whether some short completion turns `prefix` into a query that parses."""
    for tail in _TAILS:
        closers = _closers(prefix + tail)
        for after in _AFTER:
            try:
                _pp.parse(prefix + tail + closers + after)
            except ValueError as exc:
                if str(exc).startswith(_SEMANTIC):
                    return True
                continue
            except BaseException as exc:  # the Rust side may panic on odd input
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                continue
            return True
    return False


def _prefix_position(text: str, before: int | None = None) -> int:
    """Start of the first token that no completion can save; the end if the input is cut short.

    With `before`, only tokens ending by that offset are tried, and `before` is
    returned when all of them can be saved.
    """
    toks = [tok for tok in _tokens(text) if before is None or tok[2] <= before]
    # a prefix no completion saves stays lost when it grows: search for the first
    lo, hi = 0, len(toks)
    while lo < hi:
        mid = (lo + hi) // 2
        if _viable(text[: toks[mid][2]]):
            lo = mid + 1
        else:
            hi = mid
    if lo < len(toks):
        return toks[lo][1]
    return len(text) if before is None else before


#: Errors Prometheus's lexer reports: a syntax error earlier in the text comes first.
_LEXICAL = (
    "unclosed left", "unexpected right", "unterminated", "unexpected character", "unexpected colon",
    "bad number", "bad duration", "unexpected end of input inside", "error parsing number",
    "unknown escape", "illegal character", "escape sequence",
)  # fmt: skip


def _position(text: str, msg: str) -> int:
    if "end of input" in msg:
        return len(text)
    for finder in (_lex_position, _named_position):
        pos = finder(text, msg)
        if pos is not None:
            return pos
    if len(text) > 5_000:
        return 0
    return _prefix_position(text)


_TYPE_NAMES = {"matrix": "range vector", "vector": "instant vector"}
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
     "and", "or", "unless", "atan2"}
)  # fmt: skip


def _prometheus_wording(text: str, msg: str, pos: int) -> str:
    """promql_parser's message in Prometheus's words (quotes, type names, tokens)."""
    msg = re.sub(r"(function (?:with name )?|call to )'([^']*)'", r'\1"\2"', msg)
    msg = re.sub(
        r"(expected type |got )(matrix|vector)\b",
        lambda m: m.group(1) + _TYPE_NAMES[m.group(2)],
        msg,
    )
    if msg != "invalid promql query":
        return msg
    return _unexpected(text, pos) + _lexer.context(text, pos)


def _unexpected(text: str, pos: int) -> str:
    """Prometheus's `unexpected <token>` for the token at `pos`."""
    if pos >= len(text.rstrip()):
        return "unexpected end of input"
    tok = next(((k, a, b) for k, a, b in _tokens(text) if a == pos), None)
    if tok is None:
        return "invalid promql query"
    kind, a, b = tok
    word = text[a:b]
    if kind == "ident":
        if word.lower() in ("and", "or", "unless", "atan2"):
            return f"unexpected <op:{word}>"
        if word.lower() in _KEYWORDS:
            return f"unexpected <{word}>"
        if ":" in word:
            return f'unexpected metric identifier "{word}"'
        return f'unexpected identifier "{word}"'
    if kind == "number":
        if re.search(r"[a-zA-Z]", word) and not re.fullmatch(r"0[xX]\w+|[\d.]+[eE][-+]?\d+", word):
            return f'unexpected duration "{word}"'
        return f'unexpected number "{word}"'
    if kind == "string":
        return f"unexpected string {go_quote(word)}"
    if kind == "op":
        return f"unexpected <op:{word}>" if word not in (",", ":", "@") else f'unexpected "{word}"'
    return f'unexpected "{word}"'


_TYPE_WORDS = {
    ArgType.SCALAR: "scalar",
    ArgType.STRING: "string",
    ArgType.VECTOR: "instant vector",
    ArgType.MATRIX: "range vector",
}


def _type_of(sub: str) -> str | None:
    """The value type of a sub-expression's text, in Prometheus's words."""
    try:
        return _TYPE_WORDS[_parse_cached(sub).type]
    except (ParseError, KeyError, AttributeError):
        return None


def _regex_reason(value: str) -> str | None:
    """Why `value` is not a regex, in Go's words where they correspond."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set": RE2 reads it as literal
            re.compile(f"(?s:{translate_regex(value)})")
    except re.error as exc:
        return _lexer.regex_reason(value, str(exc))
    return None


_NOT_CALLS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})


def _unknown_call_before(text: str, pos: int) -> tuple[int, str] | None:
    """A call of an unknown function closed before `pos` (Prometheus reports it first)."""
    funcs = _functions()
    if funcs is None:
        return None
    toks = _tokens(text)
    depth: list[int] = []
    for i, (kind, start, _end) in enumerate(toks):
        if start >= pos:
            break
        if kind == "open" and text[start] == "(":
            depth.append(i)
        elif kind == "close" and text[start] == ")" and depth:
            j = depth.pop()
            name = text[toks[j - 1][1] : toks[j - 1][2]] if j > 0 else ""
            if j == 0 or toks[j - 1][0] != "ident" or name in _NOT_CALLS:
                continue
            if name in funcs or name in _ENGINE_FUNCS or name in _lexer.AGGREGATORS:
                continue
            return toks[j - 1][1], f'unknown function with name "{name}"'
    return None


def _error(text: str, msg: str, position: int | None = None) -> ParseError:
    found = None
    if position is None:
        try:
            found = _lexer.locate(text, msg, _type_of, _regex_reason)
        except (IndexError, KeyError, ValueError, RecursionError):
            found = None  # an odd text the finders cannot place: the prefix search below
    if found is not None:
        pos, msg = found
        pos = max(0, min(pos, len(text)))
    else:
        pos = _position(text, msg) if position is None else position
        pos = max(0, min(pos, len(text)))
        msg = _prometheus_wording(text, msg, pos)
    if position is None and msg.startswith(_LEXICAL) and len(text) <= 5_000:
        limit = pos - 1 if msg.startswith("unexpected right parenthesis") else pos
        earlier = _prefix_position(text, limit)
        if earlier < limit:
            pos = earlier
            msg = _unexpected(text, pos) + _lexer.context(text, pos)
    if position is None and (msg.startswith(_LEXICAL) or msg.startswith("unexpected")):
        unknown = _unknown_call_before(text, pos)
        if unknown is not None:
            pos, msg = unknown
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return ParseError(f"{line}:{col}: parse error: {msg}", line=line, column=col, position=pos)


# -- public -----------------------------------------------------------------


def parse(text: str) -> ast.Expr:
    """Parse a PromQL expression into nightowl's AST.

    Results are cached (the tree is immutable), so dashboards re-running the same
    queries skip the parser.

    Raises:
        ParseError: with Prometheus's message, `position` (0-based), `line` and `column`.
    """
    return _parse_cached(text)


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> ast.Expr:
    _register_functions()
    if not text.strip():
        raise ParseError(
            "1:1: parse error: no expression found in input", position=0, line=1, column=1
        )
    _AT_OVERRIDES.values = iter(_negative_at(text))
    _AT_OVERRIDES.strings = iter(_raw_strings(text))
    _POSITIONS.load(text)
    overflow = _lexer.duration_overflow(text)
    if overflow is not None:
        raise _error(text, overflow[1], overflow[0])
    try:
        node = _pp.parse(_info_selectors(_raw_matcher_strings(text)))
    except ValueError as exc:
        raise _error(text, str(exc).strip()) from None
    except BaseException as exc:  # pyo3 panics are BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise _error(text, f"invalid expression ({exc})") from None
    try:
        expr = _convert(node)
    except ParseError as exc:
        raise _error(text, exc.message) from None
    _check_calls(expr, text)
    _check_values(expr, text)
    return expr


def _check_values(expr: ast.Expr, text: str) -> None:
    """Checks Prometheus makes that promql_parser leaves to us."""
    # info()'s second argument is a label selector, not a series selector
    exempt = {
        id(n.args[1]) for n in ast.walk(expr) if isinstance(n, ast.Call) and n.func == "info"
        and len(n.args) > 1
    }  # fmt: skip
    for node in ast.walk(expr):
        if id(node) in exempt:
            continue
        if isinstance(node, ast.VectorSelector) and all(m.matches_empty() for m in node.matchers):
            raise _error(text, "vector selector must contain at least one non-empty matcher")


_AT_VALUE = re.compile(r"@\s*([-+]?\s*[0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)")


def _negative_at(text: str) -> list[float | None]:
    """The `@` times (ms) in text order, when one is negative or past 9999, else [].

    promql_parser cannot represent times before 1970 (it prints them as 0) or after
    9999; the list lets :func:`_at` put them back. None stands for `start()`/`end()`.
    """
    out: list[float | None] = []
    for kind, start, end in _tokens(text):
        if kind == "op" and text[start:end] == "@":
            m = _AT_VALUE.match(text, start)
            try:
                out.append(float(m.group(1).replace(" ", "")) * 1000 if m else None)
            except ValueError:
                out.append(None)
    return out if any(v is not None and not 0 <= v <= _DATETIME_MAX_MS for v in out) else []


_GO_ESCAPES = {
    "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
    "\\": 92, "'": 39, '"': 34,
}  # fmt: skip


def _go_unquote(lit: str) -> str:
    """A Go string literal's value; bytes that are not UTF-8 become surrogate escapes."""
    if lit[0] == "`":
        return lit[1:-1]
    body = lit[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif e in "01234567":
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + n], 16)).encode()
            i += 2 + n
        else:
            out += ("\\" + e).encode()
            i += 2
    return out.decode("utf-8", "surrogateescape")


_INFO_PLACEHOLDER = "__nightowl_info_selector__"


def _info_selectors(text: str) -> str:
    """Give info()'s label selector a matcher promql_parser accepts.

    `info(x, {__name__!="target_info"})` is valid PromQL (the second argument is a
    label selector, which may match empty values), but promql_parser demands a
    non-empty matcher in every selector; a placeholder matcher is added here and
    dropped again by the converter.
    """
    if "info" not in text:
        return text
    toks = _tokens(text)
    inserts: list[int] = []
    for i, (kind, start, end) in enumerate(toks):
        if kind != "ident" or text[start:end] != "info":
            continue
        if i + 1 >= len(toks) or text[toks[i + 1][1] : toks[i + 1][2]] != "(":
            continue
        depth, j = 0, i + 2
        while j < len(toks):
            tok = text[toks[j][1] : toks[j][2]]
            if tok in "([{" and toks[j][0] == "open":
                depth += 1
            elif toks[j][0] == "close":
                if depth == 0:
                    break
                depth -= 1
            elif tok == "," and depth == 0:
                if j + 1 < len(toks) and text[toks[j + 1][1] : toks[j + 1][2]] == "{":
                    close = j + 2
                    while close < len(toks) and text[toks[close][1] : toks[close][2]] != "}":
                        close += 1
                    if close < len(toks):
                        inserts.append(toks[close][1])
                break
            j += 1
    for pos in sorted(inserts, reverse=True):
        body = text[:pos].rstrip()
        sep = "" if body.endswith("{") or body.endswith(",") else ", "
        text = f'{body}{sep}{_INFO_PLACEHOLDER}="1"{text[pos:]}'
    return text


def _raw_matcher_strings(text: str) -> str:
    """Backtick strings inside braces as double-quoted ones.

    Backtick strings are raw in PromQL, but promql_parser unescapes them inside
    label matchers (`{a=~`\\d+`}` fails); a double-quoted equivalent parses right.
    Only strings holding a backslash or a double quote are rewritten.
    """
    if "`" not in text:
        return text
    out: list[str] = []
    last = 0
    depth = 0
    for kind, start, end in _tokens(text):
        tok = text[start:end]
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif kind == "string" and depth > 0 and tok[0] == "`" and ("\\" in tok or '"' in tok):
            body = tok[1:-1].replace("\\", "\\\\").replace('"', '\\"')
            out.append(text[last:start])
            out.append(f'"{body}"')
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _raw_strings(text: str) -> list[str | None]:
    """String literals outside braces, in text order, when one is not valid UTF-8.

    promql_parser (Rust) cannot hold such bytes; Prometheus then reports an invalid
    label name, so the exact bytes are recovered here. Empty when all are valid.
    """
    out: list[str | None] = []
    depth = 0
    invalid = False
    for kind, start, end in _tokens(text):
        ch = text[start:end]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif kind == "string" and depth == 0:
            try:
                val = _go_unquote(ch)
            except (ValueError, IndexError):
                out.append(None)
                continue
            bad = any(0xDC80 <= ord(x) <= 0xDCFF for x in val)
            invalid |= bad
            out.append(val if bad else None)
    return out if invalid else []


def format_query(text: str) -> str:
    """The query pretty-printed (the API's `/api/v1/format_query`); raises ParseError."""
    parse(text)
    return str(_pp.parse(_raw_matcher_strings(text)).prettify())


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a series selector such as `up{job="api"}` (the API's `match[]`) into matchers."""
    expr = parse(text)
    while isinstance(expr, ast.ParenExpr):
        expr = expr.expr
    if not isinstance(expr, ast.VectorSelector) or expr.offset_ms or expr.at:
        raise ParseError(f"1:1: parse error: expected a series selector, got {text!r}", position=0)
    return list(expr.matchers)
