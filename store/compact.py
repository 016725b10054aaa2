"""Compaction, rollups and retention: the writer's background work.

Everything here runs on the writer thread as a sequence of *steps*, each one
short transaction (at most :data:`SERIES_PER_STEP` series). The background
compactor submits one step at a time, so appends queued meanwhile run between
steps: ingest waits at most one step, and readers (WAL) never wait.

- **Seal**: head rows of windows that closed before `newest - out_of_order
  window` move into compressed chunks, merged with any chunk already holding
  that window (late out-of-order samples). Every :data:`PARTIAL_SEAL_MS` of
  sample time the head is also sealed up to `newest - out_of_order window`
  inside the open window, so the head (one row per sample) stays small and
  recent reads come mostly from compressed chunks. `force=True` seals
  everything.
- **Rollups**: chunks not yet rolled up whose newest sample is old enough
  (`rollup_5m_after_ms`, `rollup_1h_after_ms`, as Thanos downsamples only
  blocks older than 40 h and 10 d) get 5 m and 1 h buckets (min, max, sum,
  count, last, last_t; staleness markers excluded), stored compressed in one
  row per series, resolution and block (1 day of 5 m buckets, 7 days of 1 h).
  A rewritten chunk is rolled up again.
- **Retention by time** is relative to the newest sample in the database, as
  Prometheus's is relative to its head: imported history is never eaten just
  because it is old, only once newer data pushes it out of the retention time.
  Whole chunks (windows) whose newest sample is older go, oldest first.
- **Retention by size** drops the oldest window across all series while the
  database's live pages exceed the limit.
- Series left without any sample are deleted and `meta.series_gen` bumped so
  readers rebuild their label index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from nightowl.store.codec import decode_chunk, decode_columns, encode_columns
from nightowl.store.options import CHUNK_WINDOW_MS, ROLLUP_RESOLUTIONS
from nightowl.store.reader import ROLLUP_KINDS, rollup_block_ms
from nightowl.store.writer import WriterCore, window_start

from nightowl.model import stale_mask

__all__ = ["CompactionResult", "compaction_steps", "rollup_buckets"]

SERIES_PER_STEP = 200
#: How often (in sample time) the head is sealed up to its newest samples.
PARTIAL_SEAL_MS = 30 * 60_000
_INT64_MAX = 2**63 - 1


@dataclass(slots=True)
class CompactionResult:
    """What one compaction run did."""

    head_samples_sealed: int = 0
    chunks_written: int = 0
    rollup_blocks_written: int = 0
    chunks_deleted: int = 0
    series_deleted: int = 0


def rollup_buckets(t: np.ndarray, v: np.ndarray, resolution_ms: int) -> tuple[np.ndarray, ...]:
    """Buckets of sorted samples: (starts, min, max, sum, last, count, last_t).

    Staleness markers are left out; buckets holding only markers are omitted.
    min/max ignore NaN unless every value of the bucket is NaN.
    """
    keep = ~stale_mask(v)
    t, v = t[keep], v[keep]
    if len(t) == 0:
        e = np.empty(0, np.int64)
        f = np.empty(0, np.float64)
        return e, f, f, f, f, e, e
    bucket = t // resolution_ms
    starts_idx = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
    ends_idx = np.concatenate([starts_idx[1:], [len(t)]])
    with np.errstate(all="ignore"):
        mins = np.fmin.reduceat(v, starts_idx)
        maxs = np.fmax.reduceat(v, starts_idx)
        sums = np.add.reduceat(v, starts_idx)
    return (
        bucket[starts_idx] * resolution_ms,
        mins,
        maxs,
        sums,
        v[ends_idx - 1],
        (ends_idx - starts_idx).astype(np.int64),
        t[ends_idx - 1],
    )


def _begin(core: WriterCore) -> None:
    core.conn.execute("BEGIN IMMEDIATE")


def _step(core: WriterCore, fn: Callable[[], None]) -> None:
    _begin(core)
    try:
        fn()
    except BaseException:
        core.conn.execute("ROLLBACK")
        raise
    core.conn.execute("COMMIT")


def _seal_series(core: WriterCore, sids: list[int], cutoff: int, res: CompactionResult) -> None:
    conn = core.conn
    for sid in sids:
        rows = conn.execute(
            "SELECT t, v FROM head WHERE series_id = ? AND t < ? ORDER BY t", (sid, cutoff)
        ).fetchall()
        if not rows:
            continue
        arr = np.array(rows, dtype=np.int64)
        before = core.stats.chunks_written
        core.write_samples(sid, arr[:, 0].copy(), arr[:, 1].copy().view(np.float64))
        res.chunks_written += core.stats.chunks_written - before
        conn.execute("DELETE FROM head WHERE series_id = ? AND t < ?", (sid, cutoff))
        res.head_samples_sealed += len(rows)
        core.stats.head_samples_sealed += len(rows)


def _rollup_series(
    core: WriterCore, sids: list[int], limits: dict[int, int], res: CompactionResult
) -> None:
    """Build rollups for the unrolled chunks of `sids` whose window ends before the limit
    of each resolution (bit 1: 5 m, bit 2: 1 h in `chunks.rolled`)."""
    conn = core.conn
    for sid in sids:
        for bit, resolution in ((1, ROLLUP_RESOLUTIONS[0]), (2, ROLLUP_RESOLUTIONS[1])):
            limit = limits[resolution]
            chunks = conn.execute(
                "SELECT mint, data FROM chunks WHERE series_id = ? AND (rolled & ?) = 0 "
                "AND maxt <= ? ORDER BY mint",
                (sid, bit, limit),
            ).fetchall()
            if not chunks:
                continue
            block = rollup_block_ms(resolution)
            by_block: dict[int, list[tuple[int, tuple[np.ndarray, ...]]]] = {}
            for mint, data in chunks:
                t, v = decode_chunk(data)
                ws = window_start(mint)
                by_block.setdefault((ws // block) * block, []).append(
                    (ws, rollup_buckets(t, v, resolution))
                )
            for bstart, parts in by_block.items():
                row = conn.execute(
                    "SELECT data FROM rollups WHERE series_id = ? AND res = ? AND start = ?",
                    (sid, resolution, bstart),
                ).fetchone()
                cols = (
                    decode_columns(ROLLUP_KINDS, row[0])
                    if row
                    else [np.empty(0, np.int64 if k == "i" else np.float64) for k in ROLLUP_KINDS]
                )
                drop = np.zeros(len(cols[0]), dtype=bool)
                for ws, _ in parts:
                    drop |= (cols[0] >= ws) & (cols[0] < ws + CHUNK_WINDOW_MS)
                cols = [c[~drop] for c in cols]
                merged = [
                    np.concatenate([cols[i]] + [p[1][i] for p in parts])
                    for i in range(len(ROLLUP_KINDS))
                ]
                order = np.argsort(merged[0], kind="stable")
                merged = [c[order] for c in merged]
                conn.execute(
                    "INSERT OR REPLACE INTO rollups (series_id, res, start, data) "
                    "VALUES (?, ?, ?, ?)",
                    (sid, resolution, bstart, encode_columns(ROLLUP_KINDS, merged)),
                )
                res.rollup_blocks_written += 1
                core.stats.rollup_blocks_written += 1
            conn.executemany(
                "UPDATE chunks SET rolled = rolled | ? WHERE series_id = ? AND mint = ?",
                [(bit, sid, m) for m, _ in chunks],
            )


def _drop_empty_series(core: WriterCore, res: CompactionResult) -> None:
    conn = core.conn
    gone = {
        r[0]
        for r in conn.execute(
            "SELECT s.id FROM series AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM chunks AS c WHERE c.series_id = s.id) "
            "AND NOT EXISTS (SELECT 1 FROM head AS h WHERE h.series_id = s.id)"
        )
    }
    if not gone:
        return
    conn.executemany("DELETE FROM series WHERE id = ?", [(s,) for s in gone])
    conn.executemany("DELETE FROM rollups WHERE series_id = ?", [(s,) for s in gone])
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'series_gen'")
    res.series_deleted += len(gone)
    core.stats.retention_series_deleted += len(gone)
    core.forget_series(gone)


def _retention_time(core: WriterCore, res: CompactionResult) -> None:
    keep_ms = core.options.retention_time_ms
    if not keep_ms or core.newest is None:
        return
    cutoff = core.newest - keep_ms
    if core.oldest is None or core.oldest >= cutoff:
        return  # nothing that old: skip the table scans
    conn = core.conn
    cur = conn.execute("DELETE FROM chunks WHERE maxt < ?", (cutoff,))
    res.chunks_deleted += cur.rowcount
    core.stats.retention_chunks_deleted += cur.rowcount
    conn.execute("DELETE FROM head WHERE t < ?", (cutoff,))
    for resolution in ROLLUP_RESOLUTIONS:
        block = rollup_block_ms(resolution)
        conn.execute(
            "DELETE FROM rollups WHERE res = ? AND start + ? <= ?", (resolution, block, cutoff)
        )
    _drop_empty_series(core, res)
    core.oldest = core.scan_oldest()


def live_bytes(core: WriterCore) -> int:
    """Bytes of the database's pages in use (file size minus free pages)."""
    conn = core.conn
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def _retention_size_step(core: WriterCore, res: CompactionResult) -> bool:
    """Drop the oldest window if the database is over its size; True if it dropped one."""
    limit = core.options.retention_size_bytes
    if not limit or live_bytes(core) <= limit:
        return False
    conn = core.conn
    row = conn.execute("SELECT min(mint) FROM chunks").fetchone()
    head_row = conn.execute("SELECT min(t) FROM head").fetchone()
    oldest = min(x for x in (row[0], head_row[0], _INT64_MAX) if x is not None)
    if oldest == _INT64_MAX:
        return False
    end = window_start(oldest) + CHUNK_WINDOW_MS
    cur = conn.execute("DELETE FROM chunks WHERE mint < ?", (end,))
    res.chunks_deleted += cur.rowcount
    core.stats.retention_chunks_deleted += cur.rowcount
    conn.execute("DELETE FROM head WHERE t < ?", (end,))
    for resolution in ROLLUP_RESOLUTIONS:
        conn.execute("DELETE FROM rollups WHERE res = ? AND start < ?", (resolution, end))
    _drop_empty_series(core, res)
    core.oldest = core.scan_oldest()
    return True


def compaction_steps(
    core: WriterCore, res: CompactionResult, *, force: bool = False
) -> Iterator[Callable[[], None]]:
    """The steps of one compaction run, each to be run on the writer thread.

    Steps are produced lazily so each sees the state left by the previous one.
    """
    opts = core.options
    conn = core.conn

    def vacuum() -> None:
        # Through executescript: sqlite3's execute() steps a PRAGMA only once, and
        # incremental_vacuum frees one page per step. No transaction is open here.
        conn.executescript("PRAGMA incremental_vacuum;")

    # 1. Seal the head: closed windows always; everything but the newest samples
    #    every PARTIAL_SEAL_MS (merged into the window's chunk), so the head stays small.
    if core.newest is not None:
        if force:
            cutoff = _INT64_MAX
        elif core.newest - core.last_partial_seal >= PARTIAL_SEAL_MS:
            cutoff = core.newest - opts.out_of_order_window_ms
            core.last_partial_seal = core.newest
        else:
            cutoff = window_start(core.newest - opts.out_of_order_window_ms)
        sids = [
            r[0] for r in conn.execute("SELECT DISTINCT series_id FROM head WHERE t < ?", (cutoff,))
        ]
        for i in range(0, len(sids), SERIES_PER_STEP):
            group = sids[i : i + SERIES_PER_STEP]
            yield lambda group=group: _step(core, lambda: _seal_series(core, group, cutoff, res))
    # 2. Rollups: all series when a limit entered a new window, else those whose
    #    chunks were rewritten since the last pass.
    if core.newest is not None:
        limits = {
            ROLLUP_RESOLUTIONS[0]: core.newest - opts.rollup_5m_after_ms,
            ROLLUP_RESOLUTIONS[1]: core.newest - opts.rollup_1h_after_ms,
        }
        key = (
            window_start(limits[ROLLUP_RESOLUTIONS[0]]),
            window_start(limits[ROLLUP_RESOLUTIONS[1]]),
        )
        if key != core.rollup_key or force:
            sids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT series_id FROM chunks WHERE rolled != 3 AND maxt <= ?",
                    (max(limits.values()),),
                )
            ]
        else:
            sids = sorted(core.rollup_dirty)
        core.rollup_key = key
        core.rollup_dirty = set()
        for i in range(0, len(sids), SERIES_PER_STEP):
            group = sids[i : i + SERIES_PER_STEP]
            yield lambda group=group: _step(core, lambda: _rollup_series(core, group, limits, res))
    # 3. Retention.
    yield lambda: _step(core, lambda: _retention_time(core, res))
    if opts.retention_size_bytes:
        while True:
            dropped: list[bool] = []

            def drop(dropped: list[bool] = dropped) -> None:
                _step(core, lambda: dropped.append(_retention_size_step(core, res)))

            yield drop
            yield vacuum
            if not dropped or not dropped[0]:
                break
    yield vacuum
