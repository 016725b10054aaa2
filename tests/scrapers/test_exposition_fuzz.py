"""Property tests of the exposition parser: garbage never crashes, valid text round-trips."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.scrapers.exposition import ExpositionParser, ParsedExposition, SeriesCache, parse
from nightowl.scrapers.expowriter import format_labels, format_timestamp, format_value

from nightowl.errors import ParseError
from nightowl.model import NORMAL_NAN_BITS, Labels

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEED = (
    b"# HELP a_total The \\\\ help\n# TYPE a_total counter\n"
    b'a_total{x="1",y="q\\"z"} 1 1700000000000\na_total{x="1",y="q\\"z"} 2.5 1700000015000\n'
    b'h_bucket{le="+Inf"} NaN\nb -Inf 5\n'
)
SEED_OM = (
    b"# TYPE a counter\n# UNIT a_seconds seconds\n# HELP a x\n"
    b'a_total{x="1"} 1 1700000000.000 # {t="1"} 2 3\na_total{x="1"} 2 1700000015.5\n'
    b'{"u.tf",z="\\n"} +Inf\n# EOF\n'
)


def _parse_both(data: bytes) -> None:
    for om in (False, True, None):
        try:
            r = parse(data, openmetrics=om)
        except ParseError as exc:
            assert exc.line is None or exc.line >= 1
            continue
        assert len(r.refs) == len(r.values) == len(r.timestamps)
        assert all(0 <= x < len(r.series) for x in r.refs.tolist())
        # skip_errors never raises and keeps a subset of the lines' samples
        r2 = parse(data, openmetrics=om, skip_errors=True)
        assert len(r2) == len(r)


@SETTINGS
@given(st.binary(max_size=300))
def test_exposition_fuzz_bytes_only_parse_error(data: bytes) -> None:
    """Arbitrary bytes: a result or ParseError, nothing else."""
    _parse_both(data)


@SETTINGS
@given(
    st.text(alphabet=st.sampled_from('ab_{}="\\, \t\n#:.+-eE0123456789NaIfTYPHELUO'), max_size=200)
)
def test_exposition_fuzz_token_soup(text: str) -> None:
    """Text made of the format's own characters: a result or ParseError."""
    _parse_both(text.encode())


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from([SEED, SEED_OM])))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(base)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(list(b' \t\n"\\{},=#_.e+-0xa\xff\x00')))
        if op == "insert":
            base.insert(pos, byte)
        elif pos < len(base):
            if op == "delete":
                del base[pos]
            else:
                base[pos] = byte
    return bytes(base)


@SETTINGS
@given(_mutated())
def test_exposition_fuzz_mutated_valid_text(data: bytes) -> None:
    """Valid expositions with a few bytes changed: a result or ParseError."""
    _parse_both(data)


@SETTINGS
@given(_mutated(), st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_exposition_fuzz_chunking_is_invisible(data: bytes, steps: list[int]) -> None:
    """Feeding in arbitrary chunks gives the same samples or the same error line."""
    for om in (False, True):
        try:
            whole: ParsedExposition | ParseError = parse(data, openmetrics=om)
        except ParseError as exc:
            whole = exc
        p = ExpositionParser(openmetrics=om)
        parts = []
        try:
            i = 0
            k = 0
            while i < len(data):
                step = steps[k % len(steps)]
                parts.append(p.feed(data[i : i + step]))
                i += step
                k += 1
            parts.append(p.close())
        except ParseError as exc:
            assert isinstance(whole, ParseError)
            assert exc.line == whole.line
            continue
        assert not isinstance(whole, ParseError), whole
        merged = ParsedExposition.concat(parts)
        assert _key(merged) == _key(whole)


@SETTINGS
@given(st.lists(_mutated(), min_size=2, max_size=4), st.booleans())
def test_exposition_fuzz_series_cache_is_invisible(texts: list[bytes], created: bool) -> None:
    """Parsing several texts through one SeriesCache gives what fresh parses give."""
    cache = SeriesCache()
    for data in texts:
        for om in (False, True):
            try:
                fresh: object = parse(data, openmetrics=om, skip_created=created)
            except ParseError as exc:
                fresh = exc
            try:
                cached: object = parse(data, openmetrics=om, skip_created=created, cache=cache)
            except ParseError as exc:
                assert isinstance(fresh, ParseError) and exc.line == fresh.line
                continue
            assert isinstance(fresh, ParsedExposition) and isinstance(cached, ParsedExposition)
            assert _key(cached) == _key(fresh)
            assert cached.metadata == fresh.metadata


def _key(r: ParsedExposition) -> list[tuple[Labels, int | None, bytes]]:
    return [(lab, t, struct.pack("<d", v)) for lab, t, v in r.samples()]


# -- round trips of generated valid expositions ----------------------------------------------

_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
_lnames = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: not s.startswith("__")
)
_lvalues = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
_floats = st.floats(allow_nan=True, allow_infinity=True)
_series = st.builds(
    lambda name, labels: Labels([("__name__", name), *labels.items()]),
    _names,
    st.dictionaries(_lnames, _lvalues, max_size=4),
)


def _bits(v: float) -> bytes:
    if math.isnan(v):
        return struct.pack("<Q", NORMAL_NAN_BITS)
    return struct.pack("<d", v)


def _prom_labels(labels: Labels) -> str:
    inner = ",".join(
        f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        for k, v in labels
        if k != "__name__"
    )
    return f"{labels.name}{{{inner}}}" if inner else labels.name


@SETTINGS
@given(
    st.lists(
        st.tuples(
            _series,
            st.lists(st.tuples(st.integers(-(2**62), 2**62), _floats), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_exposition_roundtrip_generated(series: list, openmetrics: bool) -> None:
    """Generated valid expositions parse back to exactly the samples written."""
    lines = []
    expected = []
    for labels, points in series:
        for t, v in points:
            if openmetrics:
                # OpenMetrics timestamps are seconds; stay within float64's exact ms range.
                t = t % (2**50) - 2**49
                lines.append(f"{format_labels(labels)} {format_value(v)} {format_timestamp(t)}")
            else:
                lines.append(f"{_prom_labels(labels)} {format_value(v)} {t}")
            expected.append((labels, t, _bits(v)))
    text = "\n".join(lines) + "\n" + ("# EOF\n" if openmetrics else "")
    r = parse(text.encode(), openmetrics=openmetrics)
    got = [(lab, t, struct.pack("<d", v)) for lab, t, v in r.samples()]
    assert got == expected


@SETTINGS
@given(st.lists(_floats, min_size=1, max_size=50))
def test_exposition_values_bulk_equals_strict(values: list[float]) -> None:
    """The bulk conversion gives the same floats as Python's float() on the written text."""
    text = "".join(f"m {format_value(v)} {i}\n" for i, v in enumerate(values))
    r = parse(text, openmetrics=False)
    want = np.array([float(format_value(v)) for v in values], np.float64)
    got = r.values
    assert np.array_equal(np.isnan(got), np.isnan(want))
    same = ~np.isnan(want)
    assert np.array_equal(got[same].view(np.uint64), want[same].view(np.uint64))
