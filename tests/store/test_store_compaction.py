"""Compaction seals the head, rollups match raw samples, retention drops the oldest first."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from nightowl.store import CHUNK_WINDOW_MS, Store, StoreOptions
from nightowl.store.compact import live_bytes

from nightowl.model import STALE_NAN, Labels, Matcher, Sample, SampleBatch, is_stale

HOUR = 3_600_000
M = Labels.of("m", k="a")


def _opts(**kw: int) -> StoreOptions:
    base = {"compaction_interval_ms": 0, "retention_time_ms": 0}
    base.update(kw)
    return StoreOptions(**base)


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def _scrape(store: Store, series: list[Labels], t: int, values: list[float]) -> None:
    store.append_sync(
        SampleBatch.from_samples([Sample(s, t, v) for s, v in zip(series, values, strict=True)])
    )


def test_compaction_seals_the_head_in_steps(tmp_path: Path) -> None:
    """Closed windows are sealed on every run, the open window every 30 min of sample
    time (all but the newest sample), everything on force; the data never changes."""
    path = tmp_path / "x.db"
    minute = 60_000
    with Store.open(path, options=_opts()) as s:
        per_window = CHUNK_WINDOW_MS // minute
        k = 0

        def scrape(minutes: int) -> None:
            nonlocal k
            for _ in range(minutes):
                _scrape(s, [M], k * minute, [float(k)])
                k += 1

        scrape(per_window * 3 // 2)  # 1.5 windows of one-minute scrapes
        before = s.select([], 0, 10 * CHUNK_WINDOW_MS)[0]
        res = s.compact_sync()
        assert res.head_samples_sealed == k - 1  # all but the newest sample
        assert _count(path, "head") == 1
        scrape(10)
        assert s.compact_sync().head_samples_sealed == 0  # < 30 min since the last seal
        assert _count(path, "head") == 11
        scrape(per_window)  # crosses a window boundary and 30 min
        assert s.compact_sync().head_samples_sealed == 10 + per_window
        assert _count(path, "head") == 1
        res = s.compact_sync(force=True)
        assert res.head_samples_sealed == 1
        assert _count(path, "head") == 0
        # Pages freed by deleting head rows went back to the file system.
        assert s._core.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
        after = s.select([], 0, 10 * CHUNK_WINDOW_MS)[0]
        assert len(after.timestamps) == k
        np.testing.assert_array_equal(after.timestamps[: len(before.timestamps)], before.timestamps)
        np.testing.assert_array_equal(after.values, np.arange(k, dtype=np.float64))
        assert s.stats().compactions == 4


def test_compaction_interleaves_with_ingest(tmp_path: Path) -> None:
    """The background compactor runs while batches keep arriving; nothing is lost."""
    opts = _opts(compaction_interval_ms=5)
    series = [Labels.of("m", i=str(i)) for i in range(100)]
    with Store.open(tmp_path / "x.db", options=opts) as s:
        for k in range(300):
            _scrape(s, series, k * 60_000, [float(k)] * 100)
        s.compact_sync(force=True)
        got = s.select([], 0, 10**12)
        assert len(got) == 100
        assert all(len(x.timestamps) == 300 for x in got)
        assert s.stats().compactions >= 2


def _brute_rollup(t: np.ndarray, v: np.ndarray, res: int) -> dict[int, tuple]:
    out: dict[int, list] = {}
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        if is_stale(vi):
            continue
        out.setdefault(ti // res * res, []).append((ti, vi))
    result = {}
    for start, items in out.items():
        vals = [x[1] for x in items]
        finite = [x for x in vals if not math.isnan(x)]
        result[start] = (
            min(finite) if finite else math.nan,
            max(finite) if finite else math.nan,
            sum(vals),
            len(vals),
            items[-1][1],
            items[-1][0],
        )
    return result


@pytest.mark.parametrize("resolution", [300_000, 3_600_000])
def test_rollups_match_raw_samples(tmp_path: Path, resolution: int) -> None:
    """Every rollup bucket equals min/max/sum/count/last computed from the raw samples."""
    rng = np.random.default_rng(3)
    opts = _opts(rollup_5m_after_ms=0, rollup_1h_after_ms=0)
    series = [Labels.of("g", i=str(i)) for i in range(3)]
    with Store.open(tmp_path / "x.db", options=opts) as s:
        n = 6 * HOUR // 15_000
        for ref in range(3):
            t = np.arange(n, dtype=np.int64) * 15_000 + int(rng.integers(0, 15_000))
            v = np.round(rng.normal(0, 100, n), 2)
            v[rng.integers(0, n, 20)] = STALE_NAN
            v[rng.integers(0, n, 5)] = math.nan
            s.append_sync(SampleBatch([series[ref]], np.zeros(n, np.int64), t, v))
        s.compact_sync(force=True)
        raw = {x.labels: x for x in s.select([], 0, 10 * HOUR)}
        got = s.rollups([Matcher("__name__", "=", "g")], 0, 6 * HOUR - 1, resolution)
        assert got is not None and len(got) == 3
        for r in got:
            expected = _brute_rollup(raw[r.labels].timestamps, raw[r.labels].values, resolution)
            assert r.resolution_ms == resolution
            assert r.starts.tolist() == sorted(expected)
            for i, start in enumerate(r.starts.tolist()):
                mn, mx, sm, cnt, last, last_t = expected[start]
                np.testing.assert_equal(
                    [r.min[i], r.max[i], r.count[i], r.last[i], r.last_t[i]],
                    [mn, mx, cnt, last, last_t],
                )
                if math.isnan(sm):
                    assert math.isnan(r.sum[i])
                else:
                    assert r.sum[i] == pytest.approx(sm, rel=1e-12, abs=1e-9)
        # Only buckets fully inside the range are returned.
        part = s.rollups([], resolution + 1, 5 * HOUR, resolution)
        assert part is not None
        for r in part:
            assert r.starts.min() >= resolution + 1
            assert (r.starts + resolution - 1).max() <= 5 * HOUR


def test_rollups_not_covering_return_none(tmp_path: Path) -> None:
    """Head data or windows not rolled up yet make rollups() answer None."""
    opts = _opts(rollup_5m_after_ms=0, rollup_1h_after_ms=100 * HOUR)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        for i in range(120):
            _scrape(s, [M], i * 60_000, [1.0])
        assert s.rollups([], 0, 2 * HOUR, 300_000) is None  # all in the head
        s.compact_sync(force=True)
        five = s.rollups([], 0, 2 * HOUR, 300_000)
        assert five is not None and five[0].count.sum() == 120
        assert s.rollups([], 0, 2 * HOUR, 3_600_000) is None  # 1 h not built yet (too recent)
        assert s.rollups([], 0, 2 * HOUR, 60_000) is None  # no such resolution
        _scrape(s, [M], 2 * HOUR + 1000, [2.0])
        assert s.rollups([], 0, 3 * HOUR, 300_000) is None  # new head sample in range
        assert s.rollups([Matcher("k", "=", "zzz")], 0, 3 * HOUR, 300_000) == []


def test_rollups_rebuilt_after_late_samples(tmp_path: Path) -> None:
    """An out-of-order sample merged into a rolled-up window updates its rollup."""
    opts = _opts(out_of_order_window_ms=10 * HOUR, rollup_5m_after_ms=0, rollup_1h_after_ms=0)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        for i in range(0, 120, 2):
            _scrape(s, [M], i * 60_000, [1.0])
        s.compact_sync(force=True)
        _scrape(s, [M], 60_000, [50.0])  # late, into the first 5 m bucket
        assert s.rollups([], 0, 2 * HOUR - 1, 300_000) is None
        s.compact_sync(force=True)
        [r] = s.rollups([], 0, 2 * HOUR - 1, 300_000)
        assert r.max[0] == 50.0 and r.count[0] == 4


def test_time_retention_is_relative_to_the_newest_sample(tmp_path: Path) -> None:
    """1970 history survives compaction until newer data pushes it out."""
    opts = _opts(retention_time_ms=24 * HOUR)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        n = 1000
        s.append_sync(
            SampleBatch([M], np.zeros(n, np.int64), np.arange(n) * 60_000, np.ones(n))
        )  # 1970-01-01, about 17 h
        s.compact_sync(force=True)
        assert len(s.select([], 0, 10**12)[0].timestamps) == n
        # Newer data (another series) 16 h after the newest old sample.
        newest_old = (n - 1) * 60_000
        other = Labels.of("m", k="b")
        s.append_sync(SampleBatch([other], [0], [newest_old + 16 * HOUR], [1.0]))
        res = s.compact_sync()
        assert res.chunks_deleted > 0
        [kept] = s.select([Matcher("k", "=", "a")], 0, 10**12)
        cutoff = newest_old + 16 * HOUR - 24 * HOUR
        # Whole windows go: what is left is from the windows that end after the cutoff.
        assert kept.timestamps.min() == (cutoff // CHUNK_WINDOW_MS) * CHUNK_WINDOW_MS > 0
        assert kept.timestamps.max() == newest_old


def test_size_retention_drops_oldest_windows_first(tmp_path: Path) -> None:
    """Over the size limit, the oldest windows go until the database fits."""
    rng = np.random.default_rng(5)
    path = tmp_path / "x.db"
    series = [Labels.of("m", i=str(i)) for i in range(50)]
    n = 48 * HOUR // 15_000
    with Store.open(path, options=_opts()) as s:
        for ref in range(50):
            v = rng.normal(0, 1, n)  # incompressible: about 8 bytes a sample
            s.append_sync(
                SampleBatch([series[ref]], np.zeros(n, np.int64), np.arange(n) * 15_000, v)
            )
        s.compact_sync(force=True)
        full = live_bytes(s._core)
    limit = full // 3
    with Store.open(path, options=_opts(retention_size_bytes=limit)) as s:
        res = s.compact_sync()
        assert res.chunks_deleted > 0
        assert live_bytes(s._core) <= limit
        got = s.select([], 0, 10**12)
        assert len(got) == 50
        oldest = min(int(x.timestamps[0]) for x in got)
        newest = max(int(x.timestamps[-1]) for x in got)
        assert newest == (n - 1) * 15_000  # the newest data is kept
        assert oldest > 0 and oldest % CHUNK_WINDOW_MS == 0  # whole old windows went
