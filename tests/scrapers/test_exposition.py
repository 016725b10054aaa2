"""The exposition parser: one table of inputs -> samples or error position, plus cross-checks."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from nightowl.scrapers.exposition import (
    NO_TIMESTAMP,
    ExpositionParser,
    ParsedExposition,
    SeriesCache,
    content_type_is_openmetrics,
    detect_openmetrics,
    parse,
)

from nightowl.errors import ParseError
from nightowl.model import NORMAL_NAN_BITS, Labels, MetricMeta, MetricType, stale_mask

NODE = Path("/work/shared/fixtures/node_exporter/metrics.txt")


def samples(text: bytes | str, **kw: object) -> list[tuple[str, int | None, float]]:
    return [(str(lab), t, v) for lab, t, v in parse(text, **kw).samples()]  # type: ignore[arg-type]


# -- valid input ---------------------------------------------------------------------------

VALID_PROM = [
    ("bare", b"up 1\n", [("up", None, 1.0)]),
    ("labels", b'up{job="a",instance="b"} 0\n', [('up{instance="b", job="a"}', None, 0.0)]),
    ("timestamp ms", b"up 1 1700000000123\n", [("up", 1700000000123, 1.0)]),
    ("negative ts", b"up 1 -5\n", [("up", -5, 1.0)]),
    ("1970", b"up 1 0\n", [("up", 0, 1.0)]),
    ("tabs and spaces", b'up\t{ a = "1" ,}  2 \t 3 \n', [('up{a="1"}', 3, 2.0)]),
    ("leading space", b"  up 1\n", [("up", None, 1.0)]),
    ("space before brace", b'up {a="1"} 1\n', [('up{a="1"}', None, 1.0)]),
    ("value glued to brace", b'up{a="1"}1 5\n', [('up{a="1"}', 5, 1.0)]),
    ("trailing comma", b'up{a="1",} 1\n', [('up{a="1"}', None, 1.0)]),
    ("empty braces", b"up{} 1\n", [("up", None, 1.0)]),
    ("empty value dropped", b'up{a=""} 1\n', [("up", None, 1.0)]),
    (
        "escapes",
        b'x{a="q\\"b\\\\s\\nn\\t"} 1\n',
        [("x{a=" + '"q\\"b\\\\s\\nn\\\\t"' + "}", None, 1.0)],
    ),
    ("brace and space in value", b'x{a="} {"} 1\n', [('x{a="} {"}', None, 1.0)]),
    ("special values", b"a +Inf\nb -Inf\nc 1e3\nd -0.5\ne .5\n", None),
    ("blank lines", b"\nup 1\n\n  \nup 2\n", [("up", None, 1.0), ("up", None, 2.0)]),
    ("comments", b"# hello\n#HELP up x\nup 1\n", [("up", None, 1.0)]),
    ("no final newline", b"up 1", [("up", None, 1.0)]),
    ("non-UTF-8 comment", b"# caf\xe9\nup 1\n", [("up", None, 1.0)]),
    ("utf8 quoted name", b'{"my.metric","lab.el"="v"} 1\n', [('my.metric{lab.el="v"}', None, 1.0)]),
    ("colon name", b"a:b:c 1\n", [("a:b:c", None, 1.0)]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in VALID_PROM], ids=[n for n, _, _ in VALID_PROM]
)
def test_exposition_valid_prometheus_text(text: bytes, expected: list | None) -> None:
    """Prometheus text 0.0.4 lines parse to the expected samples."""
    got = samples(text, openmetrics=False)
    if expected is None:
        assert [v for _, _, v in got] == [math.inf, -math.inf, 1000.0, -0.5, 0.5]
    else:
        assert got == expected


VALID_OM = [
    ("seconds ts", b"up 1 1700000000.123\n# EOF\n", [("up", 1700000000123, 1.0)]),
    ("int seconds", b"up 1 1700000000\n# EOF\n", [("up", 1700000000000, 1.0)]),
    ("negative ts", b"up 1 -0.001\n# EOF\n", [("up", -1, 1.0)]),
    ("no ts", b"up 1\n# EOF\n", [("up", None, 1.0)]),
    ("EOF without newline", b"up 1\n# EOF", [("up", None, 1.0)]),
    (
        "exemplar ignored",
        b'a_bucket{le="1"} 3 # {trace_id="abc"} 0.5 1700000000.5\n# EOF\n',
        [('a_bucket{le="1"}', None, 3.0)],
    ),
    (
        "exemplar after ts",
        b'a_bucket{le="1"} 3 1.5 # {trace_id="abc"} 0.5\n# EOF\n',
        [('a_bucket{le="1"}', 1500, 3.0)],
    ),
    ("rounding to ms", b"up 1 0.0015\n# EOF\n", [("up", 2, 1.0)]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in VALID_OM], ids=[n for n, _, _ in VALID_OM]
)
def test_exposition_valid_openmetrics(text: bytes, expected: list) -> None:
    """OpenMetrics lines parse to the expected samples (timestamps in seconds -> ms)."""
    assert samples(text, openmetrics=True) == expected


# -- malformed input: one table of input -> (line, column, message part) ------------------

INVALID_PROM = [
    (b"up\n", 1, 3, "whitespace and a value"),
    (b"up 1\nup{a=1} 2\n", 2, 6, "quoted label value"),
    (b'up{a="1} 2\n', 1, 6, "unterminated"),
    (b'up{a="1"\n', 1, 9, "',' or '}'"),
    (b"up abc\n", 1, 4, "invalid value"),
    (b"up 1_000\n", 1, 4, "invalid value"),
    (b"up 1\nup 2\nup 1e999\n", 3, 4, "out of range"),
    (b"up -1e999 5\n", 1, 4, "out of range"),
    (b"up 1 2.5\n", 1, 6, "invalid timestamp"),
    (b"up 1 2 3\n", 1, 8, "end of line"),
    (b'up{a="1",a="2"} 1\n', 1, 1, "duplicate label"),
    (b'{a="1"} 1\n', 1, 1, "metric name not set"),
    (b"1up 1\n", 1, 1, "metric name"),
    (b"# TYPE up bogus\n", 1, 11, "invalid metric type"),
    (b"# HELP\tup-x text\n", 1, 10, "invalid metric name"),
    (b"ok 1\nok 2\nup 1\xff\n", 3, 5, "UTF-8"),
    (b"# HELP up caf\xe9\n", 1, 14, "UTF-8"),
    (b"up 1\r\n", 1, 4, "invalid value"),
    (b"up 1 99999999999999999999\n", 1, 6, "out of range"),
]


@pytest.mark.parametrize(("text", "line", "col", "msg"), INVALID_PROM)
def test_exposition_invalid_prometheus_text(text: bytes, line: int, col: int, msg: str) -> None:
    """Malformed Prometheus text raises ParseError naming line and column."""
    with pytest.raises(ParseError) as info:
        parse(text, openmetrics=False)
    err = info.value
    assert (err.line, err.column) == (line, col), str(err)
    assert msg in err.message
    assert f"line {line}" in str(err)


INVALID_OM = [
    (b"up 1\n", 2, 1, "does not end with # EOF"),
    (b"up 1\n# EOF\nup 2\n", 3, 1, "after # EOF"),
    (b"up 1\n# EOF\n\n", 3, 1, "after # EOF"),
    (b"# EOF\n# EOF\n", 2, 1, "after # EOF"),
    (b"\nup 1\n# EOF\n", 1, 1, "empty line"),
    (b"up  1\n# EOF\n", 1, 4, "invalid value"),
    (b"up\t1\n# EOF\n", 1, 3, "space and a value"),
    (b'up{a="1", b="2"} 1\n# EOF\n', 1, 10, "label name"),
    (b"# random comment\n# EOF\n", 1, 1, "invalid comment"),
    (b"# TYPE up gauge\n# UNIT up seconds\n# EOF\n", 2, 11, "not a suffix"),
    (b"# HELP up\n# EOF\n", 1, 10, "expected text"),
    (b"# TYPE up untyped\n# EOF\n", 1, 11, "invalid metric type"),
    (b"up 1 NaN\n# EOF\n", 1, 6, "invalid timestamp"),
    (b"up 1 +Inf\n# EOF\n", 1, 6, "invalid timestamp"),
    (b'up 1 # {a="b"}\n# EOF\n', 1, 15, "exemplar value"),
    (b"up 1 2 3\n# EOF\n", 1, 7, "exemplar or end of line"),
]


@pytest.mark.parametrize(("text", "line", "col", "msg"), INVALID_OM)
def test_exposition_invalid_openmetrics(text: bytes, line: int, col: int, msg: str) -> None:
    """Malformed OpenMetrics raises ParseError naming line and column."""
    with pytest.raises(ParseError) as info:
        parse(text, openmetrics=True)
    err = info.value
    assert (err.line, err.column) == (line, col), str(err)
    assert msg in err.message


def test_exposition_earliest_error_wins_over_later_slow_line() -> None:
    """A value error on a cached line is reported before a later unparsable line."""
    text = b"up 1\nup 2\nup x\nup 4\nbad{ 5\n"
    with pytest.raises(ParseError) as info:
        parse(text, openmetrics=False)
    assert info.value.line == 3


def test_exposition_skip_errors_collects_and_keeps_good_lines() -> None:
    """With skip_errors, bad lines are dropped and their errors listed in line order."""
    text = b"up 1\nup{ 2\nup 3 x\nup 4\n# TYPE a nope\nup 5 6 7\n"
    r = parse(text, openmetrics=False, skip_errors=True)
    assert [v for _, _, v in r.samples()] == [1.0, 4.0]
    assert [e.line for e in r.errors] == [2, 3, 5, 6]
    r = parse(b"up 1\n# EOF\nup 2\n", openmetrics=True, skip_errors=True)
    assert [v for _, _, v in r.samples()] == [1.0]
    assert [e.line for e in r.errors] == [3]
    r = parse(b"up 1\n", openmetrics=True, skip_errors=True)
    assert len(r) == 1 and r.errors[0].message == "data does not end with # EOF"


# -- metadata, _created, NaN ---------------------------------------------------------------


def test_exposition_metadata_and_help_escapes() -> None:
    """TYPE/HELP/UNIT become MetricMeta by family name; HELP escapes per format."""
    prom = parse(
        b"# HELP a_total Count \\\\ of \\n things \\q\n# TYPE a_total counter\n"
        b"# TYPE u untyped\na_total 1\n",
        openmetrics=False,
    )
    assert prom.metadata["a_total"] == MetricMeta(
        MetricType.COUNTER, "Count \\ of \n things \\q", ""
    )
    assert prom.metadata["u"].type is MetricType.UNKNOWN
    om = parse(
        b"# TYPE a_seconds histogram\n# UNIT a_seconds seconds\n"
        b'# HELP a_seconds say \\"hi\\"\na_seconds_count 1\n# EOF\n'
    )
    assert om.openmetrics
    assert om.metadata == {"a_seconds": MetricMeta(MetricType.HISTOGRAM, 'say "hi"', "seconds")}


CREATED = b"""# TYPE c counter
c_total 3 10
c_created 5 10
# TYPE h histogram
h_bucket{le="+Inf"} 1 10
h_count 1 10
h_sum 2 10
h_created 5 10
# TYPE g gauge
g_created 7 10
# EOF
"""


def test_exposition_created_series_as_prometheus() -> None:
    """`_created` is an ordinary series by default; skip_created drops counter/histogram ones."""
    names = [lab.name for lab, _, _ in parse(CREATED).samples()]
    assert names == [
        "c_total",
        "c_created",
        "h_bucket",
        "h_count",
        "h_sum",
        "h_created",
        "g_created",
    ]
    names = [lab.name for lab, _, _ in parse(CREATED, skip_created=True).samples()]
    assert names == ["c_total", "h_bucket", "h_count", "h_sum", "g_created"]


def test_exposition_nan_gets_prometheus_bits_never_stale() -> None:
    """Every parsed NaN has Prometheus's ordinary NaN bit pattern, never the stale marker."""
    r = parse(b"a NaN\nb nan\nc NaN 5\nd -nan\n", openmetrics=False)
    bits = r.values.view(np.uint64)
    assert (bits == np.uint64(NORMAL_NAN_BITS)).all()
    assert not stale_mask(r.values).any()


def test_exposition_result_shape_and_batch() -> None:
    """Columns line up; to_batch fills missing timestamps; series are deduplicated."""
    r = parse(b'a{x="1"} 1 1000\na{x="1"} 2\nb 3\n', openmetrics=False)
    assert isinstance(r, ParsedExposition)
    assert r.series == [Labels.of("a", x="1"), Labels.of("b")]
    assert r.refs.tolist() == [0, 0, 1]
    assert r.timestamps.tolist() == [1000, NO_TIMESTAMP, NO_TIMESTAMP]
    assert r.has_timestamp.tolist() == [True, False, False]
    b = r.to_batch(5000)
    assert b.timestamps.tolist() == [1000, 5000, 5000]
    with pytest.raises(ValueError):
        r.to_batch()
    r2 = parse(b"a 1\n", openmetrics=False, default_timestamp_ms=7)
    assert r2.timestamps.tolist() == [7]
    # The same series spelled two ways is one series.
    r3 = parse(b'a{x="1"} 1\na{ x="1" } 2\n', openmetrics=False)
    assert r3.series == [Labels.of("a", x="1")] and r3.refs.tolist() == [0, 0]


def test_exposition_large_timestamps_exact() -> None:
    """Millisecond timestamps beyond float precision stay exact."""
    r = parse(b"a 1 9007199254740993\na 2 -9007199254740993\n", openmetrics=False)
    assert r.timestamps.tolist() == [9007199254740993, -9007199254740993]


def test_exposition_content_type_and_detect() -> None:
    """Content types and `# EOF` detection pick the format."""
    assert content_type_is_openmetrics("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert not content_type_is_openmetrics("text/plain; version=0.0.4")
    assert not content_type_is_openmetrics("")
    assert detect_openmetrics(b"up 1\n# EOF\n") and detect_openmetrics("# EOF")
    assert not detect_openmetrics(b"up 1\n")
    assert parse("up 1 1.5\n# EOF\n").timestamps.tolist() == [1500]


# -- streaming -------------------------------------------------------------------------------


def test_exposition_chunked_feed_matches_whole_parse() -> None:
    """Feeding any split of the text gives the same samples, line numbers continue."""
    text = NODE.read_bytes() if NODE.exists() else b"a 1\nb 2\n" * 200
    whole = parse(text, openmetrics=False)
    for step in (4096, 100, 7, 1):
        if step == 1:
            text = text[: text.rfind(b"\n", 0, 3000) + 1]
            whole = parse(text, openmetrics=False)
        p = ExpositionParser(openmetrics=False)
        parts = [p.feed(text[i : i + step]) for i in range(0, len(text), step)]
        parts.append(p.close())
        merged = ParsedExposition.concat(parts)
        assert list(merged.samples()) == list(whole.samples()), step
        assert merged.lines == whole.lines
    p = ExpositionParser(openmetrics=False)
    p.feed(b"a 1\nb 2\n")
    with pytest.raises(ParseError) as info:
        p.feed(b"c 3\nd{\n")
    assert info.value.line == 4


def test_exposition_stream_format_guess() -> None:
    """A stream without a declared format: short ones wait for the end, long ones guess."""
    p = ExpositionParser()
    assert len(p.feed(b"a 1 1700000000.5\n" * 5000)) == 5000
    assert p.openmetrics is True
    p = ExpositionParser()
    p.feed(b"a 1 1700000000500\n" * 5000)
    assert p.openmetrics is False
    p = ExpositionParser()
    assert len(p.feed(b"a 1 1.5\nb 2 2.5\n")) == 0 and p.openmetrics is None
    p.feed(b"# EOF\n")
    r = p.close()
    assert p.openmetrics is True and r.timestamps.tolist() == [1500, 2500]
    p = ExpositionParser()
    p.feed(b"a 1 1000\n")
    assert p.close().timestamps.tolist() == [1000] and p.openmetrics is False


# -- cross-checks against prometheus_client --------------------------------------------------


def _client_samples(text: str, openmetrics: bool) -> list[tuple[Labels, float]]:
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.append((Labels.of(s.name, **s.labels), s.value))
    return out


def _same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.skipif(not NODE.exists(), reason="shared fixtures not available")
def test_exposition_node_exporter_page_matches_prometheus_client() -> None:
    """The whole node_exporter page: zero errors, the same samples prometheus_client reads."""
    text = NODE.read_bytes()
    r = parse(text, openmetrics=False)
    assert not r.errors and len(r) > 400
    ours = [(lab, v) for lab, _, v in r.samples()]
    theirs = _client_samples(text.decode(), openmetrics=False)
    assert len(ours) == len(theirs)
    for (la, va), (lb, vb) in zip(sorted(ours, key=str), sorted(theirs, key=str), strict=True):
        assert la == lb and _same_value(va, vb)
    assert r.metadata["node_cpu_seconds_total"].type is MetricType.COUNTER


def test_exposition_openmetrics_matches_prometheus_client() -> None:
    """An OpenMetrics page with all types reads as prometheus_client's OpenMetrics parser."""
    text = (
        '# TYPE a counter\n# HELP a A counter.\na_total{x="1"} 3\n'
        'a_created{x="1"} 1.6e9\n'
        '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2 '
        '# {t="x"} 0.7 1.5\nh_count 2\nh_sum 1.25\n'
        '# TYPE s summary\ns{quantile="0.9"} NaN\ns_count 0\ns_sum 0\n'
        '# TYPE i info\ni_info{v="1.2"} 1\n'
        '# TYPE st stateset\nst{st="a"} 1\nst{st="b"} 0\n'
        "# TYPE g gauge\n# UNIT g_bytes bytes\ng_bytes -Inf\n# EOF\n"
    )
    ours = [(lab, v) for lab, _, v in parse(text).samples()]
    theirs = _client_samples(text, openmetrics=True)
    assert len(ours) == len(theirs)
    for (la, va), (lb, vb) in zip(sorted(ours, key=str), sorted(theirs, key=str), strict=True):
        assert la == lb and _same_value(va, vb)


def test_exposition_repeated_parse_uses_cache_consistently() -> None:
    """A second parse of the same text (shared caches warm) gives identical results."""
    text = b'# TYPE x gauge\nx{a="1"} 1\nx{a="2"} 2\ny 3\n'
    first = list(parse(text, openmetrics=False).samples())
    second = list(parse(text, openmetrics=False).samples())
    assert first == second
    bits = struct.pack("<d", second[0][2])
    assert bits == struct.pack("<d", 1.0)


def test_exposition_series_cache_across_scrapes() -> None:
    """A SeriesCache reused across parses gives the same results, metadata included."""
    cache = SeriesCache()
    page1 = b'# HELP x X.\n# TYPE x gauge\nx{a="1"} 1\nx{a="2"} 2\ny 3\n'
    page2 = b'# HELP x X.\n# TYPE x gauge\nx{a="2"} 5\nx{a="3"} 6\ny 7\n'
    r1 = parse(page1, openmetrics=False, cache=cache)
    r2 = parse(page2, openmetrics=False, cache=cache)
    assert r2.metadata == {"x": MetricMeta(MetricType.GAUGE, "X.", "")}
    assert [(str(lab), v) for lab, _, v in r2.samples()] == [
        ('x{a="2"}', 5.0),
        ('x{a="3"}', 6.0),
        ("y", 7.0),
    ]
    assert sorted(r2.series) == [Labels.of("x", a="2"), Labels.of("x", a="3"), Labels.of("y")]
    assert list(parse(page1, openmetrics=False).samples()) == list(r1.samples())
    assert len(cache) == 4
    # The same cache under the other format's rules starts over: spaces are not allowed.
    with pytest.raises(ParseError):
        parse(b'x{ a="1" } 1\n# EOF\n', openmetrics=True, cache=cache)
    parse(b'x{ a="1" } 1\n', openmetrics=False, cache=cache)
    with pytest.raises(ParseError):
        parse(b'x{ a="1" } 1\n# EOF\n', openmetrics=True, cache=cache)
