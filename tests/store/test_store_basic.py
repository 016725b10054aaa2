"""Opening, appending, reading back, and refusing what must be refused."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.store import Appender, Querier, Store, StoreOptions
from nightowl.store.schema import SCHEMA_VERSION, _v1
from nightowl.store.writer import decode_labels, encode_labels

from nightowl.errors import (
    CorruptDatabaseError,
    DatabaseLockedError,
    SchemaVersionError,
    StoreError,
)
from nightowl.model import (
    STALE_NAN,
    Labels,
    Matcher,
    MetricMeta,
    MetricType,
    Sample,
    SampleBatch,
    stale_mask,
)

QUIET = StoreOptions(compaction_interval_ms=0, retention_time_ms=0)

UP = Labels.of("up", job="api", instance="a:1")


def _eq(name: str, value: str) -> Matcher:
    return Matcher(name, "=", value)


def test_store_implements_the_protocols(store: Store) -> None:
    """The SQLite store is an Appender and a Querier."""
    assert isinstance(store, Appender)
    assert isinstance(store, Querier)


async def test_append_and_select_roundtrip(store: Store) -> None:
    """Samples appended asynchronously come back exactly, special values included."""
    values = [1.0, float("inf"), float("-inf"), -0.0, STALE_NAN, float("nan"), 2.5]
    batch = SampleBatch.from_samples(
        [Sample(UP, 1000 * (i + 1), v) for i, v in enumerate(values)],
        {"up": MetricMeta(MetricType.GAUGE, "Target up.", "")},
    )
    res = await store.append(batch)
    assert (res.accepted, res.series_created, res.rejected) == (7, 1, 0)
    [got] = store.select([_eq("__name__", "up")], 0, 10_000)
    assert got.labels == UP
    assert got.timestamps.tolist() == [1000, 2000, 3000, 4000, 5000, 6000, 7000]
    expected = np.array(values).view(np.uint64)
    np.testing.assert_array_equal(got.values.view(np.uint64), expected)
    assert stale_mask(got.values).tolist() == [False] * 4 + [True, False, False]
    assert store.metadata() == {"up": MetricMeta(MetricType.GAUGE, "Target up.", "")}
    assert store.metadata("nope") == {}


def test_range_is_inclusive_and_empty_series_are_omitted(store: Store, grid) -> None:
    """select() keeps [mint, maxt] inclusive and drops series without samples there."""
    a, b = Labels.of("m", k="a"), Labels.of("m", k="b")
    store.append_sync(grid([a], 0, 10, step=1000))
    store.append_sync(grid([b], 100_000, 10, step=1000))
    got = store.select([_eq("__name__", "m")], 2000, 5000)
    assert [s.labels for s in got] == [a]
    assert got[0].timestamps.tolist() == [2000, 3000, 4000, 5000]
    assert store.series([_eq("__name__", "m")], 2000, 5000) == [a]
    assert store.series([_eq("__name__", "m")]) == [a, b]
    assert store.label_values("k") == ["a", "b"]
    assert store.label_values("k", [], 100_000, None) == ["b"]
    assert store.label_names([_eq("k", "b")]) == ["__name__", "k"]


def test_head_and_chunks_merge_in_one_read(store: Store, grid) -> None:
    """Bulk-written chunks, head rows and a compaction in between read as one series."""
    s = Labels.of("m")
    store.append_sync(grid([s], 0, 100, step=1000))  # bulk -> chunk
    for t in range(100_000, 110_000, 1000):  # few per batch -> head
        store.append_sync(SampleBatch.from_samples([Sample(s, t, float(t))]))
    [got] = store.select([], 0, 10**9)
    assert len(got.timestamps) == 110
    assert np.all(np.diff(got.timestamps) > 0)
    store.compact_sync(force=True)
    [after] = store.select([], 0, 10**9)
    np.testing.assert_array_equal(after.timestamps, got.timestamps)
    np.testing.assert_array_equal(after.values.view(np.uint64), got.values.view(np.uint64))


def test_reopen_keeps_everything(db_path: Path, grid) -> None:
    """Data, metadata and the newest timestamps survive a close and reopen."""
    with Store.open(db_path, options=QUIET) as s:
        s.append_sync(grid([UP], 5000, 50))
    with Store.open(db_path, options=QUIET) as s:
        [got] = s.select([], 0, 10**9)
        assert len(got.timestamps) == 50
        # The writer remembered the newest timestamp: an old sample is out of order.
        res = s.append_sync(SampleBatch.from_samples([Sample(UP, 5001, 7.0)]))
        assert res.out_of_order == 1


def test_readonly_store_reads_and_refuses_writes(db_path: Path, grid) -> None:
    """A read-only store sees the writer's commits and cannot append."""
    with Store.open(db_path, options=QUIET) as w:
        w.append_sync(grid([UP], 0, 5))
        with Store.open(db_path, readonly=True) as r:
            assert len(r.select([], 0, 10**9)[0].timestamps) == 5
            w.append_sync(grid([UP], 100_000, 5))
            assert len(r.select([], 0, 10**9)[0].timestamps) == 10
            with pytest.raises(StoreError, match="read-only"):
                r.append_sync(grid([UP], 0, 1))


def test_readonly_open_of_missing_file_is_an_error(tmp_path: Path) -> None:
    """Opening a missing database read-only is a clear StoreError and creates nothing."""
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_file_mode_is_0600(db_path: Path, store: Store, grid) -> None:
    """The database and SQLite's side files are readable by the owner only."""
    store.append_sync(grid([UP], 0, 5))
    for name in (db_path, Path(f"{db_path}-wal")):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600


def test_second_writer_is_refused_with_pid(db_path: Path, store: Store) -> None:
    """A second writer gets DatabaseLockedError naming the holder's PID."""
    with pytest.raises(DatabaseLockedError, match=f"process {os.getpid()}"):
        Store.open(db_path, options=QUIET)


def test_lock_is_released_on_close(db_path: Path) -> None:
    """After close, another writer may open the file."""
    Store.open(db_path, options=QUIET).close()
    Store.open(db_path, options=QUIET).close()


def test_not_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite is refused and left byte for byte as it was."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(CorruptDatabaseError, match="not an SQLite database"):
        Store.open(path)
    with pytest.raises(CorruptDatabaseError):
        Store.open(path, readonly=True)
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    """Another program's SQLite file is not a nightowl database and is not touched."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CorruptDatabaseError, match="not a nightowl database"):
        Store.open(path)
    assert path.read_bytes() == before


def test_corrupt_database_is_refused(db_path: Path, grid) -> None:
    """A nightowl database whose pages were overwritten is reported as damaged."""
    with Store.open(db_path, options=QUIET) as s:
        s.append_sync(grid([UP], 0, 5))
        s.checkpoint()
    data = bytearray(db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    db_path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabaseError):
        Store.open(db_path, options=QUIET)


def test_newer_schema_is_refused_and_untouched(db_path: Path) -> None:
    """A database from a newer nightowl raises SchemaVersionError and is left unchanged."""
    with Store.open(db_path, options=QUIET) as s:
        s.checkpoint()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer"):
        Store.open(db_path, options=QUIET)
    with pytest.raises(SchemaVersionError):
        Store.open(db_path, readonly=True)
    assert db_path.read_bytes() == before


def test_old_schema_is_migrated_forward(db_path: Path) -> None:
    """A version-1 database (no rollups table) is migrated to the current version."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    _v1(conn)
    conn.execute("PRAGMA application_id = 1313822540")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO series (id, metric, labels) VALUES (1, 'up', ?)", ("{}",))
    conn.execute(
        "INSERT INTO head (series_id, t, v) VALUES (1, 1000, ?)",
        (int(np.float64(3.0).view(np.int64)),),
    )
    conn.execute("COMMIT")
    conn.close()
    with Store.open(db_path, options=QUIET) as s:
        [got] = s.select([], 0, 10_000)
        assert got.values.tolist() == [3.0]
        assert s.rollups([], 0, 10_000, 300_000) is None  # head data: not covered
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM rollups").fetchone()[0] == 0
    conn.close()


def test_closed_store_refuses_use(db_path: Path, grid) -> None:
    """Using a closed store is a clear error."""
    s = Store.open(db_path, options=QUIET)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.append_sync(grid([UP], 0, 1))
    with pytest.raises(StoreError, match="closed"):
        s.select([], 0, 1)


def test_bad_refs_are_rejected_without_damage(store: Store, grid) -> None:
    """A batch whose refs point outside its series list fails cleanly; the store goes on."""
    bad = SampleBatch([UP], np.array([3]), np.array([1000]), np.array([1.0]))
    with pytest.raises(StoreError):
        store.append_sync(bad)
    assert store.append_sync(grid([UP], 0, 3)).accepted == 3


def test_concurrent_readers_in_threads_while_appending(db_path: Path, grid) -> None:
    """Querier calls from several threads during ingest and compaction never fail."""
    import threading

    opts = StoreOptions(compaction_interval_ms=10, retention_time_ms=0)
    series = [Labels.of("t", i=str(i)) for i in range(50)]
    errors: list[BaseException] = []
    counts: list[int] = []
    stop = threading.Event()
    with Store.open(db_path, options=opts) as s:
        s.append_sync(grid(series, 0, 10))

        def reader() -> None:
            try:
                while not stop.is_set():
                    got = s.select([_eq("__name__", "t")], 0, 10**12)
                    counts.append(sum(len(x.timestamps) for x in got))
                    s.label_values("i")
                    s.label_names()
                    s.series([Matcher("i", "=~", "new.*")])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for th in threads:
            th.start()
        for k in range(1, 60):
            s.append_sync(grid(series, k * 600_000, 10, step=60_000))
            # A new series each round: the shared label index grows while being read.
            s.append_sync(grid([Labels.of("u", i=f"new{k}")], k * 600_000, 1))
        stop.set()
        for th in threads:
            th.join()
        assert not errors
        assert counts and max(counts) <= 50 * 600
        assert sum(len(x.timestamps) for x in s.select([_eq("__name__", "t")], 0, 10**12)) == (
            50 * 600
        )
        assert len(s.series([Matcher("i", "=~", "new.*")])) == 59


async def test_async_lifecycle(db_path: Path, grid) -> None:
    """`async with`, await append/compact, and the async close work together."""
    async with Store.open(db_path, options=QUIET) as s:
        res = await s.append(grid([UP], 0, 50, step=1000))
        assert res.accepted == 50
        done = await s.compact(force=True)
        assert done.head_samples_sealed == 0  # bulk batches go straight to chunks
        assert len(s.select([], 0, 10**9)[0].timestamps) == 50
    with pytest.raises(StoreError, match="closed"):
        await s.append(grid([UP], 0, 1))


def test_public_names_resolve() -> None:
    """Every name in nightowl.store.__all__ is importable."""
    import nightowl.store as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError):
        _ = pkg.NoSuchName


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=8),
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k != "__name__"),
        st.text(max_size=8),
        max_size=6,
    ),
)
def test_labels_roundtrip_through_the_series_table(name: str, labels: dict[str, str]) -> None:
    """Any label set (odd names, unicode, quotes) comes back equal from the stored form."""
    original = Labels([*labels.items(), ("__name__", name)])
    back = decode_labels(original.name, encode_labels(original))
    assert back == original
    assert type(back) is Labels


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    """A database path under a file (not a directory) fails with StoreError, not OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        Store.open(blocker / "sub" / "x.db", options=QUIET)
