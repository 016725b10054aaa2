"""The parser adapter: promql_parser's tree into ours, and errors with positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.query import ast
from nightowl.query.parser import parse, parse_matchers, translate_regex

from nightowl.errors import ParseError
from nightowl.model import Matcher, MatchOp


def test_selector_with_offset_and_at() -> None:
    """Metric names become `__name__` matchers; offset and @ arrive in ms."""
    e = parse('http_requests_total{job=~"api|web", code!="500"} offset -1m @ 1700000000.5')
    assert isinstance(e, ast.VectorSelector)
    assert e.name == "http_requests_total"
    assert e.matchers[0] == Matcher("__name__", MatchOp.EQ, "http_requests_total")
    assert e.matchers[1].op is MatchOp.RE and e.matchers[1].matches("web")
    assert not e.matchers[1].matches("xweb")
    assert e.matchers[2] == Matcher("code", MatchOp.NE, "500")
    assert e.offset_ms == -60_000
    assert e.at == ast.At("time", 1_700_000_000_500)


def test_negative_at_survives() -> None:
    """promql_parser cannot hold times before 1970; the adapter recovers them."""
    e = parse("x @ -1.5 + y @ 3 + z @ start()")
    assert isinstance(e, ast.BinaryExpr)
    assert e.lhs.lhs.at == ast.At("time", -1500)  # type: ignore[union-attr]
    assert e.lhs.rhs.at == ast.At("time", 3000)  # type: ignore[union-attr]
    assert e.rhs.at == ast.At("start")  # type: ignore[union-attr]


def test_subquery_and_matrix() -> None:
    """Ranges, steps and subquery modifiers are milliseconds."""
    e = parse("max_over_time(rate(x[5m])[30m:1m] offset 2m @ end())")
    assert isinstance(e, ast.Call) and e.func == "max_over_time"
    sq = e.args[0]
    assert isinstance(sq, ast.SubqueryExpr)
    assert (sq.range_ms, sq.step_ms, sq.offset_ms, sq.at) == (
        1_800_000,
        60_000,
        120_000,
        ast.At("end"),
    )
    inner = sq.expr
    assert isinstance(inner, ast.Call) and isinstance(inner.args[0], ast.MatrixSelector)
    assert inner.args[0].range_ms == 300_000
    assert parse("x[5m:]").step_ms == 0  # type: ignore[union-attr]


def test_aggregation_and_matching() -> None:
    """Grouping, parameters and vector matching are kept."""
    e = parse("topk by (job) (3, x) / on(job) group_left(team) sum without (i) (y)")
    assert isinstance(e, ast.BinaryExpr) and e.op == "/"
    assert e.matching == ast.VectorMatching("many-to-one", True, ("job",), ("team",))
    assert isinstance(e.lhs, ast.AggregateExpr)
    assert e.lhs.op == "topk" and e.lhs.grouping == ("job",) and not e.lhs.without
    assert e.lhs.param == ast.NumberLiteral(3.0)
    assert isinstance(e.rhs, ast.AggregateExpr) and e.rhs.without
    s = parse("a and ignoring(x) b")
    assert s.matching == ast.VectorMatching("many-to-many", False, ("x",))  # type: ignore[union-attr]
    b = parse("a > bool 1")
    assert b.return_bool and b.matching is None  # type: ignore[union-attr]


def test_literals() -> None:
    """Numbers (durations too) and strings."""
    assert parse("5m") == ast.NumberLiteral(300.0)
    assert parse("0x10") == ast.NumberLiteral(16.0)
    assert parse('"a\\tb"') == ast.StringLiteral("a\tb")
    assert parse("`a\\tb`") == ast.StringLiteral("a\\tb")
    assert isinstance(parse("-x"), ast.UnaryExpr)


def test_call_positions() -> None:
    """Calls know where they and their arguments start (for annotation positions)."""
    e = parse("sum(sort(series))")
    assert isinstance(e, ast.AggregateExpr)
    assert e.expr.pos == 4 and e.expr.arg_pos == (9,)  # type: ignore[union-attr]
    q = parse("quantile by (a) (0.5, x)")
    assert q.arg_pos == (17, 22)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("x $ y", 2, "unexpected character: '$'"),
        ("sum(rate(x[5m])", 15, "unclosed left parenthesis"),
        ("x)", 2, "unexpected right parenthesis"),
        ('x{a="b', 4, "unterminated quoted string"),
        ("x{a=", 4, "unexpected end of input"),
        ("foo(x)", 0, 'unknown function with name "foo"'),
        ("1 +\n nosuchfn(x)", 5, "unknown function"),
        ("rate(x)", 5, 'expected type range vector in call to function "rate", got instant'),
        ("rate(x[5m] offset)", 17, 'unexpected ")"'),
        ("1 +* 2", 3, "unexpected <op:*>"),
        ("x +", 3, "unexpected end of input"),
        ('x{a="b"} y', 9, 'unexpected identifier "y"'),
        ("", 0, "no expression found"),
    ],
)
def test_errors_have_positions(query: str, position: int, fragment: str) -> None:
    """Errors carry Prometheus's wording, `line:col` and a 0-based position."""
    with pytest.raises(ParseError) as info:
        parse(query)
    err = info.value
    assert fragment in err.message
    assert err.position == position
    line = query.count("\n", 0, position) + 1
    col = position - (query.rfind("\n", 0, position) + 1) + 1
    assert err.message.startswith(f"{line}:{col}: parse error: ")
    assert err.exit_code == 2


def test_regex_translation() -> None:
    """RE2's mid-pattern flag groups work under Python's `re`."""
    e = parse('x{a=~"foo((?i)BAR)", b=~".*(?i:X)"}')
    assert isinstance(e, ast.VectorSelector)
    assert e.matchers[1].matches("foobar") and e.matchers[1].matches("fooBaR")
    assert not e.matchers[1].matches("FOObar")
    assert e.matchers[2].matches("abx")
    assert translate_regex("a\\z") == "a\\Z"


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("(?i)foo", ["FOO", "foo"], ["bar"]),
        ("a(?i)b|c", ["aB", "C", "ab"], ["AB", "Ab"]),
        ("foo((?i)BAR)", ["foobar", "fooBaR"], ["FOObar"]),
        ("[[:alpha:]]+", ["abc"], ["a1"]),
        ("[[:^digit:]]+", ["ab"], ["a1"]),
        ("[[:digit:][:upper:]]+", ["1A"], ["a"]),
        ("\\d+", ["123"], ["\u0661\u0662"]),
        ("\\w+", ["a_1"], ["\u00e9"]),
        ("[\\d.]+", ["1.5"], ["x"]),
        ("\\D+", ["ab"], ["1"]),
        ("(?<year>\\d{4})-x", ["2024-x"], ["24-x"]),
        (".*", ["", "a\nb"], []),
    ],
)
def test_re2_patterns(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    """RE2 syntax Prometheus users write works with RE2's meaning (anchored, ASCII classes)."""
    quoted = pattern.replace("\\", "\\\\")
    _, m = parse_matchers(f'x{{a=~"{quoted}"}}')
    assert all(m.matches(v) for v in matching)
    assert not any(m.matches(v) for v in not_matching)


def test_raw_strings_in_matchers() -> None:
    """Backtick strings are raw in label matchers too (promql_parser would unescape them)."""
    e = parse(r"x{a=~`\d+\.\d+`, b=`c\n`}")
    assert isinstance(e, ast.VectorSelector)
    assert e.matchers[1].value == r"\d+\.\d+" and e.matchers[1].matches("1.5")
    assert e.matchers[2].value == r"c\n"


def test_format_query() -> None:
    """Pretty-printing for the API's format_query; bad input is a ParseError."""
    from nightowl.query.parser import format_query

    text = format_query('sum(rate(foo{bar="baz"}[5m]))by(x)')
    assert text == 'sum by (x) (rate(foo{bar="baz"}[5m]))'
    assert format_query(text) == text
    with pytest.raises(ParseError):
        format_query("sum(")


def test_parse_matchers() -> None:
    """Series selectors for the API's `match[]`."""
    assert parse_matchers('up{job="a"}') == [
        Matcher("__name__", MatchOp.EQ, "up"),
        Matcher("job", MatchOp.EQ, "a"),
    ]
    with pytest.raises(ParseError):
        parse_matchers("sum(up)")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("xyz(){}[]\"'`,=~!+-*/^%<>@:.05msh \n#$_")), max_size=30)
)
def test_fuzz_parse_never_crashes(text: str) -> None:
    """Any input either parses or raises ParseError with an in-range position."""
    try:
        parse(text)
    except ParseError as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["sum", "avg", "max", "count"]),
    st.lists(st.sampled_from(["a", "b", "job"]), max_size=3, unique=True),
    st.integers(min_value=1, max_value=3600),
)
def test_fuzz_valid_queries_round_trip(op: str, labels: list[str], secs: int) -> None:
    """Generated valid queries parse into the expected node."""
    q = f'{op} by ({", ".join(labels)}) (rate(m{{job="x"}}[{secs}s]))'
    e = parse(q)
    assert isinstance(e, ast.AggregateExpr)
    assert e.op == op and e.grouping == tuple(labels)
    call = e.expr
    assert isinstance(call, ast.Call) and call.args[0].range_ms == secs * 1000  # type: ignore[union-attr]


def test_at_far_from_1970() -> None:
    """`@` times past year 9999 are kept; past int64 milliseconds they are Prometheus's error."""
    e = parse("x @ 1e15")
    assert isinstance(e, ast.VectorSelector) and e.at == ast.At("time", 10**18)
    with pytest.raises(ParseError, match="timestamp out of bounds for @ modifier") as info:
        parse("rate(x[5m] @ 1e300)")
    assert info.value.position == 5


def test_regex_with_python_set_warning() -> None:
    """RE2 text Python warns about (`||` in a class) parses quietly (warnings are errors here)."""
    e = parse('x{a=~"[a||b]"}')
    assert isinstance(e, ast.VectorSelector)
    regex = e.matchers[1].regex
    assert regex is not None and regex.fullmatch("|") and not regex.fullmatch("c")


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("x offset 1e99", 9),
        ("x[1e999]", 2),
        ("x[5m:1e99]", 5),
        ("x offset -NaN", 10),
        ("x[Inf]", 2),
    ],
)
def test_huge_durations_are_errors_not_panics(query: str, position: int, capfd) -> None:
    """Numbers no duration can hold fail as ParseErrors, and the Rust parser never panics."""
    with pytest.raises(ParseError, match="duration out of range") as info:
        parse(query)
    assert info.value.position == position
    assert "panicked" not in capfd.readouterr().err


def test_colon_numbers_in_metric_names_are_not_durations() -> None:
    """`a:10000000000000` is a metric name, not a subquery step."""
    assert isinstance(parse("sum(a:10000000000000)"), ast.AggregateExpr)
