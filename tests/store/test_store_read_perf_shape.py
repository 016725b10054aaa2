"""The fast read path returns exactly what the one-chunk reference decoder and the
written samples say: batch chunk decoding, cutting to a time range, the decoded-chunk
cache (cold, warm, partly warm) and merging with head rows."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.store import CHUNK_WINDOW_MS, Store
from nightowl.store.codec import decode_chunk, decode_chunks, encode_chunk
from nightowl.store.reader import ChunkCache

from nightowl.errors import CorruptDatabaseError
from nightowl.model import STALE_NAN, Labels, Matcher, SampleBatch

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def chunks(draw) -> tuple[np.ndarray, np.ndarray]:
    """One chunk's columns, in the shapes the encoder picks different paths for."""
    kind = draw(st.sampled_from(["regular", "jitter", "counter", "decimal", "random", "tiny"]))
    n = draw(st.integers(min_value=0, max_value=400))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32)))
    start = draw(st.integers(min_value=-(2**50), max_value=2**50))
    if kind == "tiny":
        n = draw(st.integers(min_value=0, max_value=3))
    gaps = np.full(n, 15_000, dtype=np.int64)
    if kind in ("jitter", "random"):
        gaps += rng.integers(-400, 400, n)
    ts = start + np.cumsum(gaps)
    if kind == "counter":
        vs = np.cumsum(rng.poisson(40, n)).astype(np.float64)
        vs[n // 2 :] -= vs[n // 2] if n else 0.0  # a restart
    elif kind == "decimal":
        vs = np.round(rng.normal(0, 50, n), 3)
    elif kind == "random":
        vs = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    else:
        vs = rng.integers(0, 2**40, 1)[0] * 4096.0 + 4096.0 * rng.integers(-3, 3, n)
    for i in draw(st.lists(st.integers(min_value=0, max_value=max(n - 1, 0)), max_size=4)):
        if n:
            vs[i] = draw(st.sampled_from([STALE_NAN, float("nan"), -0.0, float("inf")]))
    return ts.astype(np.int64), np.asarray(vs, dtype=np.float64)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float64).view(np.uint64)


@settings(max_examples=60, deadline=None)
@given(st.lists(chunks(), min_size=0, max_size=12), INT64, INT64)
def test_batch_decode_equals_one_by_one(cols, lo: int, hi: int) -> None:
    """decode_chunks over any mix of chunks equals decode_chunk on each, cut to [lo, hi]."""
    blobs = [encode_chunk(t, v) for t, v in cols]
    each: list[tuple[np.ndarray, np.ndarray]] = []
    ts, vs, counts = decode_chunks(blobs, lo, hi, each=each)
    assert len(each) == len(blobs) and len(counts) == len(blobs)
    pos = 0
    for blob, (t, _), (et, ev), c in zip(blobs, cols, each, counts.tolist(), strict=True):
        rt, rv = decode_chunk(blob)
        np.testing.assert_array_equal(et, rt)
        np.testing.assert_array_equal(_bits(ev), _bits(rv))
        np.testing.assert_array_equal(rt, t)
        keep = (rt >= lo) & (rt <= hi)
        assert c == int(keep.sum())
        np.testing.assert_array_equal(ts[pos : pos + c], rt[keep])
        np.testing.assert_array_equal(_bits(vs[pos : pos + c]), _bits(rv[keep]))
        pos += c
    assert pos == len(ts) == len(vs)


def test_batch_spanning_many_groups() -> None:
    """More samples than one vectorised pass holds: several groups, same answer."""
    rng = np.random.default_rng(7)
    cols = []
    for k in range(400):
        n = int(rng.integers(1, 1000))
        t = k * 10**9 + np.cumsum(rng.integers(1, 30_000, n))
        v = np.cumsum(rng.poisson(3, n)).astype(np.float64) / (10 ** (k % 4))
        cols.append((t.astype(np.int64), v))
    blobs = [encode_chunk(t, v) for t, v in cols]
    ts, vs, counts = decode_chunks(blobs)
    assert counts.tolist() == [len(t) for t, _ in cols]
    np.testing.assert_array_equal(ts, np.concatenate([t for t, _ in cols]))
    np.testing.assert_array_equal(_bits(vs), _bits(np.concatenate([v for _, v in cols])))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_blobs_never_crash_the_batch(data) -> None:
    """Flipped or dropped payload bytes: CorruptDatabaseError, or the reference's answer."""
    t = 1_700_000_000_000 + 15_000 * np.arange(120, dtype=np.int64)
    v = np.cumsum(np.arange(120) % 7).astype(np.float64) / 10
    payload = bytearray(zlib.decompress(encode_chunk(t, v)[1:], -15))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        i = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
        payload[i] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(payload)))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = b"\x01" + c.compress(bytes(payload[:cut])) + c.flush()
    try:
        ts, vs, _ = decode_chunks([blob])
    except CorruptDatabaseError:
        return
    rt, rv = decode_chunk(blob)
    np.testing.assert_array_equal(ts, rt)
    np.testing.assert_array_equal(_bits(vs), _bits(rv))


def _expected(written: dict[Labels, dict[int, float]], lo: int, hi: int):
    out = {}
    for lab, samples in written.items():
        ts = sorted(t for t in samples if lo <= t <= hi)
        if ts:
            out[lab] = (ts, [samples[t] for t in ts])
    return out


@pytest.mark.parametrize("cache_bytes", [0, 48 << 20])
def test_reads_match_written_samples(db_path: Path, quiet, cache_bytes: int) -> None:
    """Sealed chunks over several windows plus head rows, read cold, warm and partly warm."""
    rng = np.random.default_rng(3)
    series = [Labels.of("m", i=str(i)) for i in range(30)]
    written: dict[Labels, dict[int, float]] = {lab: {} for lab in series}
    t0 = 1_700_000_000_000 // CHUNK_WINDOW_MS * CHUNK_WINDOW_MS
    with Store.open(db_path, options=quiet) as s:
        # 10 h of 1-minute samples for all (sealed into chunks), then 20 head samples each.
        for start, count, seal in [(t0, 600, True), (t0 + 600 * 60_000, 20, False)]:
            refs = np.repeat(np.arange(len(series)), count)
            ts = np.tile(start + 60_000 * np.arange(count, dtype=np.int64), len(series))
            ts += rng.integers(0, 500, len(ts))  # jitter
            vs = np.round(rng.normal(100, 10, len(ts)), 2)
            vs[::97] = STALE_NAN
            s.append_sync(SampleBatch(series, refs, ts, vs))
            for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
                written[series[r]][t] = v
            if seal:
                s.compact_sync(force=True)
        assert s.database_stats().head_samples == 20 * len(series)
    ro = Store.open(db_path, readonly=True, chunk_cache_bytes=cache_bytes)
    try:
        sel = [Matcher("__name__", "=", "m")]
        end = t0 + 620 * 60_000
        # Narrow first (warms part of the cache), then wider ranges (partly cached).
        for lo, hi in [
            (t0 + 3 * 3_600_000, t0 + 4 * 3_600_000),
            (t0 + 3_600_000 + 1, end),
            (0, 2**62),
            (t0 + 9 * 3_600_000, end),
            (t0 + 5 * 3_600_000 + 7, t0 + 5 * 3_600_000 + 7),
        ]:
            got = {d.labels: d for d in ro.select(sel, lo, hi)}
            want = _expected(written, lo, hi)
            assert set(got) == set(want)
            for lab, (ts, vs) in want.items():
                d = got[lab]
                assert d.timestamps.tolist() == ts
                np.testing.assert_array_equal(_bits(d.values), _bits(np.array(vs)))
    finally:
        ro.close()


@pytest.mark.parametrize("cache_bytes", [0, 48 << 20])
def test_overlapping_chunks_are_sorted_first_one_wins(db_path: Path, quiet, cache_bytes) -> None:
    """Chunks of one series that overlap in time (not written by nightowl, e.g. an old
    file) come back sorted, without duplicate times; the earlier chunk wins a tie."""
    import sqlite3

    with Store.open(db_path, options=quiet) as s:
        lab = [Labels.of("m", i="0"), Labels.of("m", i="1")]
        t = np.arange(0, 100_000, 10_000, dtype=np.int64)
        s.append_sync(
            SampleBatch(lab, np.repeat([0, 1], len(t)), np.tile(t, 2), np.ones(2 * len(t)))
        )
        s.compact_sync(force=True)
    conn = sqlite3.connect(db_path)
    sid = conn.execute("SELECT id FROM series WHERE labels LIKE '%\"0\"%'").fetchone()[0]
    extra_t = np.array([5_000, 10_000, 95_000, 120_000], dtype=np.int64)
    conn.execute(
        "INSERT INTO chunks (series_id, mint, maxt, n, data) VALUES (?, ?, ?, ?, ?)",
        (sid, 5_000, 120_000, 4, encode_chunk(extra_t, np.full(4, 2.0))),
    )
    conn.commit()
    conn.close()
    with Store.open(db_path, readonly=True, chunk_cache_bytes=cache_bytes) as ro:
        for _ in range(2):  # cold, then from the cache when it is on
            got = {
                d.labels.get("i"): d for d in ro.select([Matcher("__name__", "=", "m")], 0, 2**40)
            }
            ts = sorted({*t.tolist(), *extra_t.tolist()})
            assert got["0"].timestamps.tolist() == ts
            want = [1.0 if x in set(t.tolist()) else 2.0 for x in ts]
            assert got["0"].values.tolist() == want
            assert got["1"].timestamps.tolist() == t.tolist()


def test_chunk_cache_counts_the_arrays_it_keeps_alive() -> None:
    """Entries are views into batch arrays; the bound counts each batch array once, as
    long as any entry holds a view of it, and evicts least recently used first."""
    rng = np.random.default_rng(5)
    blobs = [
        encode_chunk(np.arange(k, k + 500, dtype=np.int64), rng.random(500)) for k in range(40)
    ]
    per_batch = 10 * 500 * 16  # 10 chunks of 500 samples, 8 + 8 bytes each
    cache = ChunkCache(3 * per_batch)
    for b in range(4):
        each: list[tuple[np.ndarray, np.ndarray]] = []
        decode_chunks(blobs[10 * b : 10 * b + 10], each=each)
        cache.put_many([(10 * b + i, t, v) for i, (t, v) in enumerate(each)])
        assert cache.bytes <= cache.max_bytes
    got = cache.lookup(list(range(40)))
    assert [g is None for g in got] == [True] * 10 + [False] * 30  # the oldest batch went
    assert cache.bytes == 3 * per_batch
    for cid, hit in enumerate(got):
        if hit is not None:
            t, v = hit
            rt, rv = decode_chunk(blobs[cid])
            np.testing.assert_array_equal(t, rt)
            np.testing.assert_array_equal(_bits(v), _bits(rv))
            assert not t.flags.writeable and not v.flags.writeable
    # A batch larger than the whole bound is not kept at all.
    small = ChunkCache(per_batch // 2)
    each = []
    decode_chunks(blobs[:10], each=each)
    small.put_many([(i, t, v) for i, (t, v) in enumerate(each)])
    assert small.bytes == 0 and small.lookup([0]) == [None]
