"""Long `count/max/min_over_time` windows answered from rollups give the raw answer exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from nightowl.query.engine import Engine, EngineOptions
from nightowl.query.values import Matrix, Vector
from nightowl.store.api import RollupData, SeriesData
from nightowl.store.memory import MemoryStore

from nightowl.model import STALE_NAN, Labels, Matcher, SampleBatch, stale_mask

HOUR = 3_600_000


class RollupMemory:
    """A MemoryStore that also serves exact rollups computed from its raw samples."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.rollup_calls = 0
        self.select_ranges: list[tuple[int, int]] = []

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        self.select_ranges.append((mint, maxt))
        return self.store.select(matchers, mint, maxt)

    def rollups(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, resolution_ms: int
    ) -> list[RollupData] | None:
        self.rollup_calls += 1
        out = []
        for s in self.store.select(matchers, mint, maxt):
            keep = ~stale_mask(s.values)
            t, v = s.timestamps[keep], s.values[keep]
            starts = np.unique(t // resolution_ms * resolution_ms)
            starts = starts[(starts >= mint) & (starts + resolution_ms - 1 <= maxt)]
            if not len(starts):
                continue
            cols: dict[str, list[float]] = {k: [] for k in ("min", "max", "sum", "count")}
            for b in starts:
                vals = v[(t >= b) & (t < b + resolution_ms)]
                for name, fn in (("min", np.fmin), ("max", np.fmax)):
                    cols[name].append(fn.reduce(vals))
                cols["sum"].append(float(vals.sum()))
                cols["count"].append(len(vals))
            out.append(
                RollupData(
                    s.labels,
                    resolution_ms,
                    starts,
                    np.array(cols["min"]),
                    np.array(cols["max"]),
                    np.array(cols["sum"]),
                    np.array(cols["count"], dtype=np.int64),
                    np.zeros(len(starts)),
                    np.zeros(len(starts), dtype=np.int64),
                )
            )
        return out


def _data(seed: int) -> MemoryStore:
    rng = np.random.default_rng(seed)
    store = MemoryStore()
    for i in range(4):
        # irregular times, some exactly on hour boundaries, NaNs and staleness markers
        t = np.sort(rng.choice(np.arange(0, 30 * HOUR, 15_000), size=3000, replace=False))
        t[:5] = np.arange(5) * HOUR
        v = rng.normal(100, 30, len(t))
        v[rng.random(len(t)) < 0.02] = np.nan
        v[rng.random(len(t)) < 0.01] = STALE_NAN
        store.add_series(Labels.of("m", i=str(i)), t.tolist(), v.tolist())
    return store


def _same(a: object, b: object) -> None:
    if isinstance(a, Vector):
        assert isinstance(b, Vector)
        assert [s.labels for s in a] == [s.labels for s in b]
        np.testing.assert_array_equal([s.v for s in a], [s.v for s in b])
    else:
        assert isinstance(a, Matrix) and isinstance(b, Matrix)
        assert [s.labels for s in a] == [s.labels for s in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.timestamps, y.timestamps)
            np.testing.assert_array_equal(x.values, y.values)


@pytest.mark.parametrize("func", ["count_over_time", "max_over_time", "min_over_time"])
@pytest.mark.parametrize(
    ("window", "t"),
    [("12h", 20 * HOUR), ("5h", 20 * HOUR + 1), ("3h", 17 * HOUR - 1), ("24h", 29 * HOUR + 7)],
)
def test_rollups_are_exact(func: str, window: str, t: int) -> None:
    """Same answers with and without rollups, windows aligned or not."""
    raw = _data(1)
    fast = RollupMemory(raw)
    q = f"{func}(m[{window}])"
    with_rollups = Engine(fast).instant(q, t).value
    assert fast.rollup_calls == 1
    _same(with_rollups, Engine(raw, EngineOptions(use_rollups=False)).instant(q, t).value)
    # only the edges were read raw
    assert all(hi - lo < 2 * HOUR for lo, hi in fast.select_ranges)


def test_rollups_in_range_queries_with_offset_and_at() -> None:
    """Hourly steps, offset and @ keep the answers exact."""
    raw = _data(2)
    plain = Engine(raw, EngineOptions(use_rollups=False))
    for q in (
        "max_over_time(m[6h] offset 30m)",
        "count_over_time(m[4h] @ 100000000)",
        "min_over_time((m[10h]))",
    ):
        fast = RollupMemory(raw)
        got = Engine(fast).range(q, 12 * HOUR, 24 * HOUR, HOUR).value
        assert fast.rollup_calls == 1, q
        _same(got, plain.range(q, 12 * HOUR, 24 * HOUR, HOUR).value)


def test_rollups_skipped_when_not_worth_it() -> None:
    """Short windows or many steps read raw samples only."""
    raw = _data(3)
    fast = RollupMemory(raw)
    Engine(fast).instant("max_over_time(m[8m])", 20 * HOUR)
    Engine(fast).range("count_over_time(m[12h])", 12 * HOUR, 24 * HOUR, 60_000)
    Engine(fast).instant("sum_over_time(m[12h])", 20 * HOUR)
    assert fast.rollup_calls == 0


def test_rollups_of_the_sqlite_store(tmp_path: Path) -> None:
    """With the real store's rollups the answers equal the raw ones."""
    from nightowl.store.options import StoreOptions
    from nightowl.store.store import Store

    opts = StoreOptions(
        retention_time_ms=0,
        compaction_interval_ms=0,
        rollup_5m_after_ms=HOUR,
        rollup_1h_after_ms=HOUR,
    )
    rng = np.random.default_rng(7)
    t = np.arange(0, 3 * 24 * HOUR, 60_000, dtype=np.int64)
    labels = [Labels.of("m", i=str(i)) for i in range(3)]
    refs = np.repeat(np.arange(3), len(t))
    ts = np.tile(t, 3)
    vs = rng.normal(50, 10, len(ts))
    with Store.open(tmp_path / "db.sqlite", options=opts) as store:
        store.append_sync(SampleBatch(labels, refs, ts, vs))
        store.compact_sync(force=True)
        if store.rollups([Matcher("__name__", "=", "m")], 0, 24 * HOUR, HOUR) is None:
            pytest.skip("this store build keeps no 1 h rollups for the data")
        calls = []

        class Spy:
            def __getattr__(self, name: str) -> object:
                return getattr(store, name)

            def rollups(self, *args: object) -> list[RollupData] | None:
                got = store.rollups(*args)  # type: ignore[arg-type]
                calls.append(got is not None)
                return got

        for q in ("count_over_time(m[24h])", "max_over_time(m[12h])", "min_over_time(m[6h])"):
            at = 40 * HOUR + 123
            _same(
                Engine(Spy()).instant(q, at).value,  # type: ignore[arg-type]
                Engine(store, EngineOptions(use_rollups=False)).instant(q, at).value,
            )
        assert calls and all(calls)
