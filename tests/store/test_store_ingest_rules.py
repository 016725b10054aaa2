"""Out-of-order window, duplicates and cardinality limits: counted, never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, Sample, SampleBatch

A = Labels.of("m", k="a")
B = Labels.of("m", k="b")


def _opts(**kw: int) -> StoreOptions:
    return StoreOptions(compaction_interval_ms=0, retention_time_ms=0, **kw)


def _one(labels: Labels, t: int, v: float) -> SampleBatch:
    return SampleBatch.from_samples([Sample(labels, t, v)])


def _values(store: Store, labels: Labels) -> dict[int, float]:
    got = [s for s in store.select([], -(2**62), 2**62) if s.labels == labels]
    if not got:
        return {}
    return dict(zip(got[0].timestamps.tolist(), got[0].values.tolist(), strict=True))


def test_out_of_order_rejected_without_window(tmp_path: Path) -> None:
    """With no window, a sample older than the series' newest is rejected and counted."""
    with Store.open(tmp_path / "x.db", options=_opts()) as s:
        assert s.append_sync(_one(A, 10_000, 1.0)).accepted == 1
        res = s.append_sync(_one(A, 9_000, 2.0))
        assert (res.accepted, res.out_of_order) == (0, 1)
        assert s.stats().samples_out_of_order == 1
        assert _values(s, A) == {10_000: 1.0}
        # Another series is independent.
        assert s.append_sync(_one(B, 9_000, 2.0)).accepted == 1


def test_out_of_order_window_accepts_recent_and_rejects_older(tmp_path: Path) -> None:
    """Inside the window late samples are stored (even into sealed chunks); older ones not."""
    with Store.open(tmp_path / "x.db", options=_opts(out_of_order_window_ms=60_000)) as s:
        s.append_sync(
            SampleBatch.from_samples([Sample(A, t, t / 1000) for t in range(0, 200_000, 2000)])
        )
        s.compact_sync(force=True)  # everything sealed into chunks
        late = SampleBatch.from_samples(
            [
                Sample(A, 150_001, -1.0),
                Sample(A, 199_999, -2.0),
                Sample(A, 100_001, -3.0),
                Sample(A, 100_000, -4.0),
            ]
        )
        res = s.append_sync(late)
        # 100_001 is too old; 100_000 is stored with another value: a duplicate.
        assert (res.accepted, res.out_of_order, res.duplicate) == (2, 1, 1)
        vals = _values(s, A)
        assert vals[150_001] == -1.0
        assert vals[199_999] == -2.0
        assert 100_001 not in vals
        assert vals[100_000] == 100.0  # the rejected -4.0 did not replace it
        s.compact_sync(force=True)
        assert _values(s, A) == vals
        assert len(vals) == 102


def test_duplicates_against_head_chunks_and_batch(tmp_path: Path) -> None:
    """Same timestamp, different value: rejected; same value: a silent no-op."""
    with Store.open(tmp_path / "x.db", options=_opts(out_of_order_window_ms=3_600_000)) as s:
        s.append_sync(_one(A, 1000, 1.0))
        res = s.append_sync(_one(A, 1000, 1.0))
        assert (res.accepted, res.duplicate) == (1, 0)
        res = s.append_sync(_one(A, 1000, 5.0))
        assert (res.accepted, res.duplicate) == (0, 1)
        # In one batch: the first sample of a timestamp wins.
        batch = SampleBatch.from_samples(
            [Sample(A, 2000, 2.0), Sample(A, 2000, 2.0), Sample(A, 2000, 3.0)]
        )
        res = s.append_sync(batch)
        assert (res.accepted, res.duplicate) == (2, 1)
        s.append_sync(_one(A, 5000, 5.0))
        s.compact_sync(force=True)
        # Against a sealed chunk, inside the window.
        res = s.append_sync(_one(A, 2000, 9.0))
        assert (res.accepted, res.duplicate) == (0, 1)
        res = s.append_sync(_one(A, 2000, 2.0))
        assert (res.accepted, res.duplicate) == (1, 0)
        assert _values(s, A) == {1000: 1.0, 2000: 2.0, 5000: 5.0}
        assert s.stats().samples_duplicate == 3


def test_identical_old_samples_are_no_ops_outside_the_window(tmp_path: Path) -> None:
    """Re-sending stored history: bit-identical samples older than the newest are no-ops,
    a different value at a stored timestamp is a duplicate, a new old timestamp is out of
    order; head rows, sealed chunks and several series in one batch alike."""
    with Store.open(tmp_path / "x.db", options=_opts()) as s:
        ts = np.arange(0, 4 * 3_600_000, 15_000, dtype=np.int64)
        n = len(ts)
        vals = np.random.default_rng(3).normal(size=n)
        vals[5] = float("nan")
        batch = SampleBatch([A, B], np.repeat([0, 1], n), np.tile(ts, 2), np.tile(vals, 2))
        assert s.append_sync(batch).accepted == 2 * n
        s.compact_sync(force=True)  # sealed into chunks
        s.append_sync(_one(A, ts[-1] + 15_000, 7.0))  # a head row, newest of A
        # Everything again, A's newest included, in a shuffled order: all no-ops.
        again = SampleBatch(
            [A, B],
            np.concatenate([np.repeat([0, 1], n), [0]]),
            np.concatenate([np.tile(ts, 2), [ts[-1] + 15_000]]),
            np.concatenate([np.tile(vals, 2), [7.0]]),
        )
        perm = np.random.default_rng(4).permutation(len(again))
        again = SampleBatch(
            again.series, again.refs[perm], again.timestamps[perm], again.values[perm]
        )
        res = s.append_sync(again)
        assert (res.accepted, res.out_of_order, res.duplicate) == (2 * n + 1, 0, 0)
        # Changed values at stored times, and times never stored, both older than the newest.
        mixed = SampleBatch(
            [A, B],
            np.array([0, 0, 1, 1, 0]),
            np.array([ts[10], ts[10] + 1, ts[20], ts[5], ts[-1] + 15_000], dtype=np.int64),
            np.array([vals[10] + 1, 1.0, vals[20], 0.0, 8.0]),
        )
        res = s.append_sync(mixed)
        assert (res.accepted, res.out_of_order, res.duplicate) == (1, 1, 3)
        got = _values(s, A)
        assert len(got) == n + 1
        assert got[int(ts[10])] == vals[10]
        assert got[int(ts[-1]) + 15_000] == 7.0
        st = s.stats()
        assert (st.samples_out_of_order, st.samples_duplicate) == (1, 3)


def test_nan_duplicates_compare_bits(tmp_path: Path) -> None:
    """A repeated NaN with the same bits is a no-op; a staleness marker over NaN is a duplicate."""
    from nightowl.model import STALE_NAN

    with Store.open(tmp_path / "x.db", options=_opts()) as s:
        s.append_sync(_one(A, 1000, float("nan")))
        assert s.append_sync(_one(A, 1000, float("nan"))).duplicate == 0
        assert s.append_sync(_one(A, 1000, STALE_NAN)).duplicate == 1


def test_series_limits_drop_and_count(tmp_path: Path) -> None:
    """Over the total or per-metric limit, new series' samples are dropped and counted."""
    opts = _opts(max_series=5, max_series_per_metric=3)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        series = [Labels.of("m", i=str(i)) for i in range(4)] + [
            Labels.of("n", i=str(i)) for i in range(4)
        ]
        refs = np.repeat(np.arange(8), 2)
        ts = np.tile([1000, 2000], 8)
        res = s.append_sync(SampleBatch(series, refs, ts, np.ones(16)))
        # m: 3 series allowed (per metric), n: 2 allowed (total 5).
        assert res.series_created == 5
        assert (res.accepted, res.over_limit) == (10, 6)
        # Existing series keep ingesting; new ones stay refused, also after reopening.
        res = s.append_sync(SampleBatch(series, refs, ts + 5000, np.ones(16)))
        assert (res.accepted, res.over_limit, res.series_created) == (10, 6, 0)
        assert s.stats().samples_over_limit == 12
    with Store.open(tmp_path / "x.db", options=opts) as s:
        res = s.append_sync(_one(Labels.of("z"), 1000, 1.0))
        assert res.over_limit == 1
        assert len(s.series([])) == 5


def test_every_sample_is_counted_once(tmp_path: Path) -> None:
    """accepted + rejected always equals the batch size on a random messy workload."""
    rng = np.random.default_rng(7)
    opts = _opts(out_of_order_window_ms=5_000, max_series=40)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        series = [Labels.of("m", i=str(i)) for i in range(60)]
        for _ in range(20):
            n = int(rng.integers(1, 400))
            refs = rng.integers(0, 60, n)
            ts = rng.integers(0, 50_000, n)
            vs = rng.integers(0, 3, n).astype(np.float64)
            res = s.append_sync(SampleBatch(series, refs, ts, vs))
            assert res.accepted + res.rejected == n
        st = s.stats()
        stored = sum(len(x.timestamps) for x in s.select([], 0, 10**9))
        assert stored <= st.samples_appended
        assert len(s.series([])) <= 40


def _import(db: Path, file: Path, *extra: str) -> tuple[int, str]:
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "nightowl", "import", "--db", str(db), *extra, str(file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, p.stdout + p.stderr


def test_reimport_after_an_interrupted_import_rejects_nothing(tmp_path: Path) -> None:
    """An import stopped by a bad line after some batches were committed, then the good
    file again: the committed samples are no-ops, not out of order; a changed value is a
    duplicate. A series listed out of order within a batch imports fine."""
    rows = 80_000  # 240,000 samples, more than the importer's first 4 MiB read
    lines = ["# TYPE g gauge"]
    for i in range(rows):
        j = 9 - i if i < 10 else i  # c: its first 10 samples listed newest first
        lines.append(f'g{{k="a"}} {i * 0.5} {1_000 + i * 15}')
        lines.append(f'g{{k="b"}} {i * 0.25} {1_000 + i * 15}')
        lines.append(f'g{{k="c"}} {j} {1_000 + j * 15}')
    good = tmp_path / "good.om"
    good.write_text("\n".join(lines) + "\n# EOF\n")
    bad = tmp_path / "bad.om"
    bad.write_text(
        "\n".join([*lines[:200_000], "not a metric line", *lines[200_001:]]) + "\n# EOF\n"
    )
    db = tmp_path / "x.db"
    batch = ["--batch-size", "30000"]
    code, out = _import(db, bad, *batch)
    assert code == 2 and ":200001:" in out, out
    assert "committed before this line" in out, out
    code, out = _import(db, good, *batch)
    assert code == 0, out
    assert "imported 240000 samples" in out, out
    assert "rejected: 0 out of order, 0 duplicate" in out, out
    changed = tmp_path / "changed.om"
    # a at 1015 s is stored with another value; b at 500 s was never stored.
    changed.write_text('g{k="a"} 12345 1015\ng{k="b"} 1 500\n# EOF\n')
    code, out = _import(db, changed)
    assert "rejected: 1 out of order, 1 duplicate" in out, out
    with Store.open(db, options=_opts()) as s:
        got = _values(s, Labels.of("g", k="c"))
        assert len(got) == rows
        assert all(got[(1_000 + j * 15) * 1000] == j for j in (0, 9, 12_345, rows - 1))
        assert _values(s, Labels.of("g", k="a"))[1_015_000] == 0.5
