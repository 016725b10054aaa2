"""Store.delete_series: exactly the matched samples in range go, from head, chunks and rollups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.store import Store, StoreOptions
from nightowl.store.options import CHUNK_WINDOW_MS

from nightowl.model import Labels, Matcher, MatchOp, SampleBatch

ALL = (-(2**62), 2**62)
QUIET = StoreOptions(compaction_interval_ms=0, retention_time_ms=0)
# Rollups built as soon as data is an hour older than the newest sample.
ROLLING = StoreOptions(
    compaction_interval_ms=0,
    retention_time_ms=0,
    rollup_5m_after_ms=3_600_000,
    rollup_1h_after_ms=3_600_000,
)


def _eq(name: str, value: str) -> Matcher:
    return Matcher(name, MatchOp.EQ, value)


def _series(job: str) -> Labels:
    return Labels.of("up", job=job)


def _samples(store: Store, job: str) -> tuple[list[int], list[float]]:
    got = store.select([_eq("job", job)], *ALL)
    if not got:
        return [], []
    (s,) = got
    return s.timestamps.tolist(), s.values.tolist()


def _fill(store: Store, jobs: list[str], start: int, count: int, step: int = 60_000) -> None:
    series = [_series(j) for j in jobs]
    n = len(series)
    refs = np.repeat(np.arange(n, dtype=np.int64), count)
    ts = np.tile(start + step * np.arange(count, dtype=np.int64), n)
    vs = np.tile(np.arange(count, dtype=np.float64), n) + refs * 1000.0
    store.append_sync(SampleBatch(series, refs, ts, vs))


def test_delete_removes_only_the_range_of_matched_series(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", options=QUIET) as store:
        _fill(store, ["a", "b"], 0, 600)  # 10 h: chunks in three windows
        _fill(store, ["a", "b"], 600 * 60_000, 3)  # a few head samples too
        before_a = _samples(store, "a")
        before_b = _samples(store, "b")
        lo, hi = 100 * 60_000, 300 * 60_000
        res = store.delete_series([[_eq("job", "a")]], lo, hi)
        assert res.series_matched == 1
        assert res.samples_deleted == 201
        t, v = _samples(store, "a")
        keep = [(x, y) for x, y in zip(*before_a, strict=True) if not lo <= x <= hi]
        assert list(zip(t, v, strict=True)) == keep
        assert _samples(store, "b") == before_b
        # The head samples of a are untouched; deleting them works as well.
        store.delete_series([[_eq("job", "a")]], 600 * 60_000, 601 * 60_000)
        assert _samples(store, "a")[0][-1] == 602 * 60_000
        assert len(_samples(store, "a")[0]) == len(keep) - 2


def test_delete_is_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Store.open(path, options=QUIET) as store:
        _fill(store, ["a"], 0, 300)
        store.delete_series([[_eq("job", "a")]], 0, 99 * 60_000)
    with Store.open(path, readonly=True) as ro:
        t, _ = _samples(ro, "a")
        assert t[0] == 100 * 60_000 and len(t) == 200


def test_series_left_empty_leave_the_label_index(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", options=QUIET) as store:
        _fill(store, ["a", "b", "c"], 0, 50)
        _fill(store, ["c"], 50 * 60_000, 2)  # c has head rows as well
        # Warm the reader's label index before the delete.
        assert store.label_values("job", [], *ALL) == ["a", "b", "c"]
        res = store.delete_series([[_eq("job", "a")], [Matcher("job", MatchOp.RE, "c")]], *ALL)
        assert res.series_matched == 2 and res.series_deleted == 2
        assert store.label_values("job", [], *ALL) == ["b"]
        assert [s.get("job") for s in store.series([_eq("__name__", "up")], *ALL)] == ["b"]
        assert store.stats().series == 1
        # A deleted series comes back as a new one when appended again.
        _fill(store, ["a"], 0, 3)
        assert _samples(store, "a")[0] == [0, 60_000, 120_000]


def test_deleting_the_newest_samples_lets_older_ones_in_again(tmp_path: Path) -> None:
    opts = StoreOptions(compaction_interval_ms=0, retention_time_ms=0, out_of_order_window_ms=0)
    with Store.open(tmp_path / "a.db", options=opts) as store:
        _fill(store, ["a"], 0, 10)
        store.delete_series([[_eq("job", "a")]], 5 * 60_000, 9 * 60_000)
        # Without the delete these would be out of order (older than the newest sample).
        _fill(store, ["a"], 5 * 60_000, 2)
        assert _samples(store, "a")[0] == [i * 60_000 for i in range(7)]


def test_no_match_and_empty_range_change_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", options=QUIET) as store:
        _fill(store, ["a"], 0, 10)
        assert store.delete_series([[_eq("job", "zzz")]], *ALL).samples_deleted == 0
        assert store.delete_series([[_eq("job", "a")]], 10, 5).samples_deleted == 0
        assert len(_samples(store, "a")[0]) == 10


def _rollup_map(store: Store, res: int) -> list[tuple]:
    got = store.rollups([_eq("__name__", "up")], 0, 3 * CHUNK_WINDOW_MS - 1, res)
    assert got is not None
    return sorted(
        (
            r.labels.get("job"),
            r.starts.tolist(),
            r.min.tolist(),
            r.max.tolist(),
            r.sum.tolist(),
            r.count.tolist(),
        )
        for r in got
    )


@pytest.mark.parametrize("res", [300_000, 3_600_000])
def test_rollups_match_a_store_that_never_had_the_samples(tmp_path: Path, res: int) -> None:
    count = 3 * CHUNK_WINDOW_MS // 60_000 + 200  # three full windows and some newer data
    lo, hi = CHUNK_WINDOW_MS - 30 * 60_000, 2 * CHUNK_WINDOW_MS + 7 * 60_000
    with Store.open(tmp_path / "a.db", options=ROLLING) as store:
        _fill(store, ["a", "b"], 0, count)
        store.compact_sync()
        store.delete_series([[_eq("job", "a")]], lo, hi)
        after = _rollup_map(store, res)
        kept = {job: _samples(store, job) for job in ("a", "b")}
    with Store.open(tmp_path / "b.db", options=ROLLING) as ref:
        for job, (t, v) in kept.items():
            ta = np.array(t, dtype=np.int64)
            ref.append_sync(
                SampleBatch([_series(job)], np.zeros(len(ta), np.int64), ta, np.array(v))
            )
        ref.compact_sync()
        assert after == _rollup_map(ref, res)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    a=st.integers(-10, 700),
    b=st.integers(-10, 700),
    head=st.integers(0, 5),
)
def test_delete_matches_a_plain_filter(tmp_path: Path, a: int, b: int, head: int) -> None:
    lo, hi = min(a, b) * 60_000, max(a, b) * 60_000 + (a % 7) * 1000
    path = tmp_path / f"h{a}_{b}_{head}.db"
    with Store.open(path, options=QUIET) as store:
        _fill(store, ["a"], 0, 600)
        if head:
            _fill(store, ["a"], 600 * 60_000, head)
        t0, v0 = _samples(store, "a")
        res = store.delete_series([[_eq("job", "a")]], lo, hi)
        expect = [(t, v) for t, v in zip(t0, v0, strict=True) if not lo <= t <= hi]
        t1, v1 = _samples(store, "a")
        assert list(zip(t1, v1, strict=True)) == expect
        assert res.samples_deleted == len(t0) - len(expect)
        assert res.series_deleted == (1 if not expect else 0)
