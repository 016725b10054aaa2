"""The chunk codec round-trips every int64 timestamp run and every float64 bit pattern."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.store.codec import (
    decode_chunk,
    decode_chunks,
    decode_columns,
    encode_chunk,
    encode_columns,
)

from nightowl.errors import CorruptDatabaseError
from nightowl.model import NORMAL_NAN_BITS, STALE_NAN, STALE_NAN_BITS

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOAT_BITS = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.sampled_from(
        [
            STALE_NAN_BITS,
            NORMAL_NAN_BITS,
            0x8000000000000000,
            0x7FF0000000000000,
            0xFFF0000000000000,
        ]
    ),
    st.floats(allow_nan=False).map(lambda f: int(np.float64(f).view(np.uint64))),
    st.integers(min_value=-(10**9), max_value=10**9).map(
        lambda i: int(np.float64(i / 1000).view(np.uint64))
    ),
)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float64).view(np.uint64)


def _roundtrip(ts: np.ndarray, vs: np.ndarray) -> None:
    blob = encode_chunk(ts, vs)
    t2, v2 = decode_chunk(blob)
    assert t2.dtype == np.int64 and v2.dtype == np.float64
    np.testing.assert_array_equal(t2, ts)
    np.testing.assert_array_equal(_bits(v2), _bits(vs))
    # The batch decoder agrees, alone and between other chunks.
    other = encode_chunk(np.array([5, 7, 30], dtype=np.int64), np.array([1.5, -2.0, 1e300]))
    t3, v3, counts = decode_chunks([other, blob, other])
    assert counts.tolist() == [3, len(ts), 3]
    np.testing.assert_array_equal(t3[3 : 3 + len(ts)], ts)
    np.testing.assert_array_equal(_bits(v3[3 : 3 + len(ts)]), _bits(vs))
    np.testing.assert_array_equal(t3[-3:], [5, 7, 30])


@settings(max_examples=300, deadline=None)
@given(st.lists(INT64, min_size=0, max_size=200, unique=True), st.data())
def test_any_increasing_timestamps_and_any_float_bits(times: list[int], data) -> None:
    """Any strictly increasing int64 times with any float64 bit patterns survive exactly."""
    ts = np.array(sorted(times), dtype=np.int64)
    bits = data.draw(st.lists(FLOAT_BITS, min_size=len(ts), max_size=len(ts)))
    vs = np.array(bits, dtype=np.uint64).view(np.float64)
    _roundtrip(ts, vs)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=300),
    st.lists(st.integers(min_value=-5000, max_value=5000), min_size=1, max_size=300),
    st.integers(min_value=0, max_value=4),
    st.lists(st.integers(min_value=0, max_value=299), max_size=10),
)
def test_scaled_decimal_values_with_exceptions(start, gaps, steps, scale, specials) -> None:
    """Decimal-looking values (the compact mode) with stale markers, NaN and -0.0 mixed in."""
    n = min(len(gaps), len(steps))
    ts = start + np.cumsum(np.array(gaps[:n], dtype=np.int64))
    vs = np.cumsum(np.array(steps[:n], dtype=np.float64)) / 10.0**scale
    for k, i in enumerate(specials):
        if i < n:
            vs[i] = (STALE_NAN, float("nan"), -0.0, float("inf"))[k % 4]
    _roundtrip(ts, vs)


@pytest.mark.parametrize(
    "times",
    [
        [-(2**63), -1, 0, 2**63 - 1],
        [0],
        [-86_400_000 * 365 * 10, 0, 1],  # before 1970
        [1, 2**62, 2**63 - 1],  # huge gaps
    ],
)
def test_extreme_timestamps(times: list[int]) -> None:
    """int64 extremes, pre-1970 times and huge gaps come back exactly."""
    ts = np.array(times, dtype=np.int64)
    _roundtrip(ts, np.arange(len(ts), dtype=np.float64))


def test_staleness_marker_stays_distinct_from_nan() -> None:
    """The staleness marker and an ordinary NaN keep their own bit patterns."""
    vs = np.array([1.0, STALE_NAN, float("nan"), 4.0, -0.0])
    vs.view(np.uint64)[2] = NORMAL_NAN_BITS
    ts = np.arange(5, dtype=np.int64) * 15_000
    _, v2 = decode_chunk(encode_chunk(ts, vs))
    assert int(_bits(v2)[1]) == STALE_NAN_BITS
    assert int(_bits(v2)[2]) == NORMAL_NAN_BITS
    assert int(_bits(v2)[4]) == 0x8000000000000000


def test_regular_counter_compresses_well() -> None:
    """A 15 s counter costs about a byte per sample or less."""
    rng = np.random.default_rng(1)
    ts = 1_700_000_000_000 + 15_000 * np.arange(480, dtype=np.int64)
    vs = np.cumsum(rng.poisson(100, 480)).astype(np.float64)
    assert len(encode_chunk(ts, vs)) < 480 * 1.1


def test_columns_roundtrip() -> None:
    """Mixed int and float columns (rollup rows) round-trip."""
    cols = [np.array([1, 5, 9]), np.array([0.5, np.nan, -0.0]), np.array([3, 3, 3])]
    out = decode_columns("ifi", encode_columns("ifi", cols))
    for a, b in zip(cols, out, strict=True):
        np.testing.assert_array_equal(
            _bits(a) if a.dtype.kind == "f" else a, _bits(b) if b.dtype.kind == "f" else b
        )


@pytest.mark.parametrize("blob", [b"", b"\x07abc", b"\x01garbage", b"\x01"])
def test_damaged_chunk_is_a_clear_error(blob: bytes) -> None:
    """A damaged blob raises CorruptDatabaseError, not a numpy or zlib error."""
    with pytest.raises(CorruptDatabaseError):
        decode_chunk(blob)
    with pytest.raises(CorruptDatabaseError):
        decode_chunks([encode_chunk(np.arange(3), np.ones(3)), blob])


def test_truncated_payload_is_a_clear_error() -> None:
    """A blob whose payload is cut short is reported as damaged."""
    import zlib

    good = encode_chunk(np.arange(50, dtype=np.int64), np.arange(50, dtype=np.float64))
    payload = zlib.decompress(good[1:], -15)[:-7]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    bad = b"\x01" + c.compress(payload) + c.flush()
    with pytest.raises(CorruptDatabaseError):
        decode_chunk(bad)
    with pytest.raises(CorruptDatabaseError):
        decode_chunks([good, bad])
