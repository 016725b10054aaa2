"""The OpenMetrics writer: what it writes reads back exactly through the parser."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers.exposition import parse
from nightowl.scrapers.expowriter import (
    OpenMetricsWriter,
    family_of,
    format_labels,
    format_timestamp,
    format_value,
    write_families,
)

from nightowl.model import NORMAL_NAN_BITS, STALE_NAN, Labels, MetricMeta, MetricType


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "-0.0"),
        (0.0, "0"),
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (1e15, "1000000000000000.0"),
    ],
)
def test_exposition_writer_format_value(value: float, text: str) -> None:
    """Values use the shortest exact text and OpenMetrics' spellings of the specials."""
    assert format_value(value) == text


def test_exposition_writer_format_timestamp_and_labels() -> None:
    """Timestamps are seconds with 3 decimals; odd names are quoted."""
    assert format_timestamp(0) == "0.000"
    assert format_timestamp(-1) == "-0.001"
    assert format_timestamp(1700000000123) == "1700000000.123"
    assert format_labels(Labels.of("up")) == "up"
    assert format_labels(Labels.of("up", b='x"\\\n', a="1")) == 'up{a="1",b="x\\"\\\\\\n"}'
    assert format_labels(Labels([("__name__", "my.metric"), ("a.b", "v")])) == (
        '{"my.metric","a.b"="v"}'
    )


def test_exposition_writer_families_roundtrip_and_stale() -> None:
    """Families are grouped with metadata first; stale markers are skipped and counted."""
    meta = {
        "req": MetricMeta(MetricType.COUNTER, 'Requests "all"\n', ""),
        "lat_seconds": MetricMeta(MetricType.HISTOGRAM, "Latency.", "seconds"),
    }
    ts = np.array([-1000, 0, 1500, 1700000000123], np.int64)
    items = [
        (Labels.of("lat_seconds_bucket", le="+Inf"), ts, np.array([1, 2, 3, 4.0])),
        (Labels.of("req_total", code="200"), ts, np.array([1.5, math.nan, STALE_NAN, -math.inf])),
        (Labels.of("lat_seconds_count"), ts, np.array([1, 2, 3, 4.0])),
        (Labels.of("free"), ts[:1], np.array([7.0])),
    ]
    out = io.BytesIO()
    w = write_families(out, items, meta)
    assert w.stale_skipped == 1 and w.samples_written == 12 and w.series_written == 4
    text = out.getvalue().decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE req counter\n" in text and "# UNIT lat_seconds seconds\n" in text
    # families do not interleave
    names = [ln.split("{")[0].split(" ")[0] for ln in text.splitlines() if not ln.startswith("#")]
    fams = [family_of(n, meta) for n in names]
    assert fams == sorted(fams)
    r = parse(out.getvalue())
    assert r.openmetrics
    assert r.metadata["req"] == meta["req"] and r.metadata["lat_seconds"] == meta["lat_seconds"]
    got = {(lab, t): struct.pack("<d", v) for lab, t, v in r.samples()}
    req = Labels.of("req_total", code="200")
    assert got[(req, -1000)] == struct.pack("<d", 1.5)
    assert got[(req, 0)] == struct.pack("<Q", NORMAL_NAN_BITS)
    assert (req, 1500) not in got  # the staleness marker
    assert got[(req, 1700000000123)] == struct.pack("<d", -math.inf)
    assert len(got) == 12


def test_exposition_writer_family_once() -> None:
    """Writing a family twice is a programming error."""
    w = OpenMetricsWriter(io.BytesIO())
    w.family("a", None)
    with pytest.raises(ValueError):
        w.family("a", None)


def test_exposition_writer_family_of() -> None:
    """Sample names map to their family only when the metadata says so."""
    meta = {"c": MetricMeta(MetricType.COUNTER), "s": MetricMeta(MetricType.SUMMARY)}
    assert family_of("c_total", meta) == "c"
    assert family_of("c_bucket", meta) == "c_bucket"
    assert family_of("s_count", meta) == "s"
    assert family_of("x_total", meta) == "x_total"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-(2**49), 2**49), min_size=1, max_size=30, unique=True),
    st.data(),
)
def test_exposition_writer_series_roundtrip(ts: list[int], data: st.DataObject) -> None:
    """Any ms timestamps and float64 values (NaN aside from its payload) read back exactly."""
    vals = data.draw(st.lists(st.floats(allow_nan=True), min_size=len(ts), max_size=len(ts)))
    out = io.BytesIO()
    w = OpenMetricsWriter(out)
    w.family("m", MetricMeta(MetricType.GAUGE))
    w.series(Labels.of("m", a="b"), np.array(sorted(ts), np.int64), np.array(vals, np.float64))
    w.close()
    r = parse(out.getvalue(), openmetrics=True)
    assert r.timestamps.tolist() == sorted(ts)
    want = np.array(vals, np.float64)
    want[np.isnan(want)] = np.array([NORMAL_NAN_BITS], np.uint64).view(np.float64)[0]
    assert r.values.view(np.uint64).tolist() == want.view(np.uint64).tolist()
