"""Exposition parser limits: long lines, required timestamps, text after `# EOF`.

Regression tests for QA findings on `nightowl import`: the parser's cost on a
huge line must stay linear with small memory (the scrape path shares it),
`require_timestamps` refuses samples without one, `max_line_bytes` bounds what
a stream holds, and text after `# EOF` is one error.
"""

from __future__ import annotations

import itertools
import re
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.scrapers import exposition
from nightowl.scrapers.exposition import ExpositionParser, ParsedExposition, parse

from nightowl.errors import ParseError

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What the quoted-string patterns were before (backtracking alternation): the
# reference the linear ones must agree with.
_OLD_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_OLD_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_OLD_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
_OLD_FAST = re.compile(
    rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{((?:{_OLD_PAIR}(?:,{_OLD_PAIR})*,?)?)\}})?"
)
_OLD_ESCAPE = re.compile(r"\\(.)")


def _old_unescape(s: str, quote: bool) -> str:
    def one(m: re.Match[str]) -> str:
        c = m.group(1)
        if c == "n":
            return "\n"
        if c == "\\" or (quote and c == '"'):
            return c
        return m.group(0)

    return _OLD_ESCAPE.sub(one, s)


def _samples(r: ParsedExposition) -> list:
    return list(r.samples())


def _feed(p: ExpositionParser, data: bytes, cuts: list[int]) -> list[ParsedExposition]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    parts = [p.feed(data[a:b]) for a, b in itertools.pairwise(bounds)]
    parts.append(p.close())
    return parts


# -- linear patterns -----------------------------------------------------------------------


@SETTINGS
@given(st.text(alphabet='ab"\\,=n{} ', max_size=60))
def test_exposition_quoted_patterns_match_the_backtracking_ones(text: str) -> None:
    """The possessive patterns accept exactly what the old alternations accepted."""
    for i in range(len(text)):
        old, new = _OLD_QUOTED.match(text, i), exposition._QUOTED_RE.match(text, i)
        assert (old and (old.span(), old.group(1))) == (new and (new.span(), new.group(1)))
    assert _OLD_PAIR_RE.findall(text) == exposition._PAIR_RE.findall(text)
    for s in (text, "m{" + text, 'm{a="' + text):
        old, new = _OLD_FAST.match(s), exposition._FAST_SERIES_RE.match(s)
        assert (old and (old.span(), old.groups())) == (new and (new.span(), new.groups()))


@SETTINGS
@given(st.text(alphabet='ab"\\nt', max_size=60), st.booleans())
def test_exposition_unescape_matches_left_to_right_escapes(text: str, quote: bool) -> None:
    """The split/replace unescaping equals escape-by-escape substitution."""
    assert exposition._unescape(text, quote) == _old_unescape(text, quote)


_HUGE = {  # built when used: (line, OpenMetrics?)
    "long value": lambda: (b'a{l="' + b"x" * 4_000_000 + b'"} 1 1', False),
    "long value, OpenMetrics": lambda: (b'a{l="' + b"x" * 4_000_000 + b'"} 1 1', True),
    "escapes": lambda: (b'a{l="' + b'\\n\\"' * 1_000_000 + b'"} 1 1', False),
    "spaced": lambda: (b'a { l = "' + b"x" * 4_000_000 + b'" } 1 1', False),
    "help": lambda: (b"# HELP a " + b"x\\\\" * 1_300_000 + b"\na 1 1", False),
}


@pytest.mark.parametrize("name", list(_HUGE))
def test_exposition_huge_line_small_memory(name: str) -> None:
    """A 4 MB line costs a few copies of itself, not ~130 bytes per character."""
    line, om = _HUGE[name]()
    data = line + (b"\n# EOF\n" if om else b"\n")
    tracemalloc.start()
    try:
        r = parse(data, openmetrics=om)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(r) == 1, name
    assert peak < 14 * len(data), f"{name}: peak {peak / 1e6:.0f} MB for {len(data) / 1e6:.0f} MB"


def test_exposition_long_keys_stay_out_of_process_wide_caches() -> None:
    """Series text over 4 KiB is cached per parser only, not kept process-wide."""
    value = "v" * 10_000
    r = parse(f'm{{l="{value}"}} 1\nm{{l="{value}"}} 2\nshort 1\n'.encode(), openmetrics=False)
    assert len(r) == 3
    shared = exposition._SHARED_BRACE[False]
    assert all(len(k) <= exposition._MAX_SHARED_KEY for k in shared)
    assert b"short" in exposition._SHARED_BARE[False]


# -- required timestamps -------------------------------------------------------------------


@pytest.mark.parametrize("om", [False, True])
def test_exposition_require_timestamps_names_the_line(om: bool) -> None:
    """First sight, cached series and bulk paths all refuse a sample without timestamp."""
    eof = b"# EOF\n" if om else b""
    cases = [
        (b"a 1 1\nb 2\n", 2),  # first sight of b
        (b"a 1 1\na 2\n", 2),  # cached bare series
        (b'a{x="1"} 1 1\na{x="1"} 2\n', 2),  # cached series with labels
        (b"a 1\n" * 3, 1),  # no line has one (bulk fast path)
        (b"a 1 1\n" * 50 + b"a 2\n" + b"a 3 3\n" * 50, 51),
    ]
    for text, line in cases:
        with pytest.raises(ParseError) as info:
            parse(text + eof, openmetrics=om, require_timestamps=True)
        assert info.value.line == line, text
        assert "expected a timestamp" in info.value.message
    assert len(parse(b"a 1\n" + eof, openmetrics=om)) == 1  # scrapes: still allowed


def test_exposition_require_timestamps_reports_the_earliest_error() -> None:
    """A missing timestamp before a malformed line is the one reported."""
    text = b"a 1 1\n" * 10 + b"a 2\n" + b"a 3 3\n" * 10 + b"a x 3\n"
    with pytest.raises(ParseError) as info:
        parse(text, openmetrics=False, require_timestamps=True)
    assert info.value.line == 11


_LINE = st.tuples(
    st.sampled_from(["a", 'b{x="1"}', 'c{x="2",y="\\n"}']),
    st.integers(0, 9),
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.booleans(),  # malformed
)


@SETTINGS
@given(st.lists(_LINE, max_size=40), st.lists(st.integers(0, 2000), max_size=6), st.booleans())
def test_exposition_require_timestamps_stream_property(
    lines: list, cuts: list[int], om: bool
) -> None:
    """Any lines, any chunking: exactly the lines without timestamp (or malformed) are errors."""
    text = []
    want, bad = [], []
    for i, (series, value, ts, broken) in enumerate(lines, start=1):
        tok = "" if ts is None else f" {ts / 1000:.3f}" if om else f" {ts}"
        text.append(f"{series} {'x' if broken else value}{tok}\n")
        if broken or ts is None:
            bad.append(i)
        else:
            want.append((series, ts, float(value)))
    data = "".join(text).encode() + (b"# EOF\n" if om else b"")
    p = ExpositionParser(openmetrics=om, require_timestamps=True, skip_errors=True)
    merged = ParsedExposition.concat(_feed(p, data, cuts))
    got = [(lab.name, t, v) for lab, t, v in merged.samples()]
    assert got == [(series[0], ts, v) for series, ts, v in want]
    assert [e.line for e in merged.errors] == bad
    if bad:
        with pytest.raises(ParseError) as info:
            _feed(ExpositionParser(openmetrics=om, require_timestamps=True), data, cuts)
        assert info.value.line == bad[0]


# -- line length limit ----------------------------------------------------------------------


def test_exposition_max_line_bytes_exact_boundary() -> None:
    """A line of exactly the limit passes; one byte more is an error naming it."""
    ok = b'a{l="' + b"x" * 50 + b'"} 1 1'
    assert len(parse(ok + b"\n", openmetrics=False, max_line_bytes=len(ok))) == 1
    with pytest.raises(ParseError) as info:
        parse(b"b 1 1\n" + ok + b"\n", openmetrics=False, max_line_bytes=len(ok) - 1)
    assert info.value.line == 2 and "line longer than the limit" in info.value.message
    # A series seen before with a longer value text: still measured by the whole line.
    text = b"a 1 1\na 1 " + b"1" * 40 + b"\n"
    with pytest.raises(ParseError) as info:
        parse(text, openmetrics=False, max_line_bytes=20)
    assert info.value.line == 2
    with pytest.raises(ValueError):
        ExpositionParser(max_line_bytes=0)


def test_exposition_max_line_bytes_stream_memory_is_bounded() -> None:
    """A 40 MB line fed in 1 MiB chunks is dropped as it arrives, never held whole."""
    chunk = b"y" * (1 << 20)
    tracemalloc.start()
    try:
        p = ExpositionParser(openmetrics=False, max_line_bytes=1 << 20, skip_errors=True)
        first = p.feed(b'a 1 1\nb{l="')
        for _ in range(40):
            assert len(p.feed(chunk)) == 0
        mid = p.feed(b'"} 1 1\nc 1 1\n')
        last = p.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak / 1e6:.1f} MB"
    assert [lab.name for lab, _, _ in first.samples()] == ["a"]
    assert [lab.name for lab, _, _ in mid.samples()] == ["c"]
    assert [e.line for e in mid.errors] == [
        2
    ] and f"({5 + 40 * len(chunk) + 6:,} bytes)" in mid.errors[0].message
    assert not last.errors
    # Without skip_errors the error comes as soon as the line passes the limit.
    p = ExpositionParser(openmetrics=False, max_line_bytes=1 << 20)
    p.feed(b"a 1 1\n")
    p.feed(chunk)
    with pytest.raises(ParseError) as info:
        p.feed(b"more")
    assert info.value.line == 2


_TEXT_LINE = st.tuples(st.sampled_from(["m", 'm{k="', 'n{k="v",j="']), st.integers(0, 120))


@SETTINGS
@given(
    st.lists(_TEXT_LINE, min_size=1, max_size=25),
    st.lists(st.integers(0, 4000), max_size=8),
    st.integers(10, 100),
    st.booleans(),
)
def test_exposition_max_line_bytes_stream_property(
    lines: list, cuts: list[int], limit: int, om: bool
) -> None:
    """Any chunking: the long lines are the errors; the others parse as without a limit."""
    text, long, kept = [], [], []
    for i, (start, pad) in enumerate(lines, start=1):
        line = f"m{'_' * pad} {i} {i}" if start == "m" else f'{start}{"x" * pad}"}} {i} {i}'
        text.append(line + "\n")
        if len(line.encode()) > limit:
            long.append(i)
        else:
            kept.append(line + "\n")
    data = "".join(text).encode() + (b"# EOF\n" if om else b"")
    rest = "".join(kept).encode() + (b"# EOF\n" if om else b"")
    p = ExpositionParser(openmetrics=om, max_line_bytes=limit, skip_errors=True)
    merged = ParsedExposition.concat(_feed(p, data, cuts))
    assert [e.line for e in merged.errors] == long
    assert _samples(merged) == _samples(parse(rest, openmetrics=om))
    assert merged.lines == len(lines) + om


# -- text after # EOF -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "cuts", [[], [8], [13], [13, 20], list(range(0, 40, 3))], ids=lambda c: str(c)
)
def test_exposition_data_after_eof_is_one_error(cuts: list[int]) -> None:
    """Whatever follows `# EOF` (how many lines, how it is chunked) is one error at its start."""
    data = b"a 1 1\n# EOF\nb 1 1\nc 1 1\n\nd 1 1\n"
    p = ExpositionParser(openmetrics=True, skip_errors=True)
    merged = ParsedExposition.concat(_feed(p, data, cuts))
    assert [(e.line, e.message) for e in merged.errors] == [(3, "unexpected data after # EOF")]
    assert [lab.name for lab, _, _ in merged.samples()] == ["a"]
    with pytest.raises(ParseError) as info:
        _feed(ExpositionParser(openmetrics=True), data, cuts)
    assert info.value.line == 3
