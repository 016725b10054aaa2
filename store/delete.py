"""Deleting samples of chosen series in a time range (Prometheus's `delete_series`).

Runs on the writer thread, in one transaction (:func:`delete_series`):

- head rows of the matched series inside [mint, maxt] are deleted;
- chunks overlapping the range are decoded: a chunk wholly inside it is
  dropped, any other is re-encoded without the deleted samples as a new row
  (chunk ids are never reused, so readers' decoded-chunk caches stay right);
- rollup buckets of the touched windows are recomputed from what is left
  (the chunk's `rolled` bits are kept, so the rollup pass does not redo them);
- series left without any sample are removed from the `series` table and
  `meta.series_gen` is bumped, so readers rebuild their label index;
- the writer's in-memory newest timestamp per series is recomputed, so later
  appends are judged against what is really stored.

There are no tombstones: the data is gone when the call returns, so
`clean_tombstones` has nothing left to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nightowl.store.codec import decode_chunk, decode_columns, encode_chunk, encode_columns
from nightowl.store.compact import rollup_buckets
from nightowl.store.options import CHUNK_WINDOW_MS, ROLLUP_RESOLUTIONS
from nightowl.store.reader import ROLLUP_KINDS, rollup_block_ms
from nightowl.store.writer import WriterCore, window_start

from nightowl.model import Matcher

__all__ = ["DeleteResult", "delete_series"]

_INT64_MIN = -(2**63)


@dataclass(slots=True)
class DeleteResult:
    """What one delete did."""

    series_matched: int = 0
    samples_deleted: int = 0
    chunks_rewritten: int = 0
    chunks_deleted: int = 0
    series_deleted: int = 0


def _matched_ids(core: WriterCore, matcher_sets: Sequence[Sequence[Matcher]]) -> list[int]:
    out = set()
    for labels, sid in core.ids.items():
        for matchers in matcher_sets:
            if all(m.matches(labels.get(m.name)) for m in matchers):
                out.add(sid)
                break
    return sorted(out)


def _rebuild_rollups(core: WriterCore, sid: int, windows: dict[int, int], chunks: dict) -> None:
    """Replace the buckets of `windows` (window start -> rolled bits) in the rollup rows of
    `sid` with buckets of the window's remaining samples (`chunks`: start -> (t, v))."""
    conn = core.conn
    for bit, resolution in ((1, ROLLUP_RESOLUTIONS[0]), (2, ROLLUP_RESOLUTIONS[1])):
        block = rollup_block_ms(resolution)
        by_block: dict[int, list[int]] = {}
        for ws in windows:
            by_block.setdefault((ws // block) * block, []).append(ws)
        for bstart, starts in by_block.items():
            row = conn.execute(
                "SELECT data FROM rollups WHERE series_id = ? AND res = ? AND start = ?",
                (sid, resolution, bstart),
            ).fetchone()
            if row is None:
                continue  # never rolled up: the rollup pass builds it from the chunks
            cols = decode_columns(ROLLUP_KINDS, row[0])
            drop = np.zeros(len(cols[0]), dtype=bool)
            for ws in starts:
                drop |= (cols[0] >= ws) & (cols[0] < ws + CHUNK_WINDOW_MS)
            parts = [[c[~drop]] for c in cols]
            for ws in starts:
                if ws in chunks and windows[ws] & bit:
                    t, v = chunks[ws]
                    for i, col in enumerate(rollup_buckets(t, v, resolution)):
                        parts[i].append(col)
            merged = [np.concatenate(p) for p in parts]
            if len(merged[0]) == 0:
                conn.execute(
                    "DELETE FROM rollups WHERE series_id = ? AND res = ? AND start = ?",
                    (sid, resolution, bstart),
                )
                continue
            order = np.argsort(merged[0], kind="stable")
            merged = [c[order] for c in merged]
            conn.execute(
                "UPDATE rollups SET data = ? WHERE series_id = ? AND res = ? AND start = ?",
                (encode_columns(ROLLUP_KINDS, merged), sid, resolution, bstart),
            )


def _delete_range(core: WriterCore, sid: int, mint: int, maxt: int, res: DeleteResult) -> None:
    conn = core.conn
    cur = conn.execute(
        "DELETE FROM head WHERE series_id = ? AND t >= ? AND t <= ?", (sid, mint, maxt)
    )
    res.samples_deleted += cur.rowcount
    rows = conn.execute(
        "SELECT id, mint, maxt, rolled, data FROM chunks "
        "WHERE series_id = ? AND mint >= ? AND mint <= ? AND maxt >= ?",
        (sid, window_start(max(mint, _INT64_MIN + CHUNK_WINDOW_MS)), maxt, mint),
    ).fetchall()
    touched: dict[int, int] = {}
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for cid, cmint, cmaxt, rolled, data in rows:
        ws = window_start(cmint)
        touched[ws] = touched.get(ws, 0) | rolled
        conn.execute("DELETE FROM chunks WHERE id = ?", (cid,))
        if cmint >= mint and cmaxt <= maxt:
            t, _ = decode_chunk(data)
            res.samples_deleted += len(t)
            res.chunks_deleted += 1
            continue
        t, v = decode_chunk(data)
        keep = (t < mint) | (t > maxt)
        res.samples_deleted += int(len(t) - int(keep.sum()))
        t, v = t[keep], v[keep]
        if len(t) == 0:
            res.chunks_deleted += 1
            continue
        conn.execute(
            "INSERT INTO chunks (series_id, mint, maxt, n, rolled, data) VALUES (?, ?, ?, ?, ?, ?)",
            (sid, int(t[0]), int(t[-1]), len(t), rolled, encode_chunk(t, v)),
        )
        kept[ws] = (t, v)
        res.chunks_rewritten += 1
    if touched:
        _rebuild_rollups(core, sid, touched, kept)


def delete_series(
    core: WriterCore, matcher_sets: Sequence[Sequence[Matcher]], mint: int, maxt: int
) -> DeleteResult:
    """Delete the samples in [mint, maxt] of every series matching any of `matcher_sets`.

    One transaction on the writer connection; call it on the writer thread.
    """
    res = DeleteResult()
    sids = _matched_ids(core, matcher_sets)
    res.series_matched = len(sids)
    if not sids or mint > maxt:
        return res
    conn = core.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sid in sids:
            _delete_range(core, sid, mint, maxt, res)
        gone = set()
        newest: dict[int, int] = {}
        for sid in sids:
            chunk_top = conn.execute(
                "SELECT max(maxt) FROM chunks WHERE series_id = ?", (sid,)
            ).fetchone()[0]
            head_top = conn.execute(
                "SELECT max(t) FROM head WHERE series_id = ?", (sid,)
            ).fetchone()[0]
            tops = [x for x in (chunk_top, head_top) if x is not None]
            if tops:
                newest[sid] = max(tops)
            else:
                gone.add(sid)
        if gone:
            conn.executemany("DELETE FROM series WHERE id = ?", [(s,) for s in gone])
            conn.executemany("DELETE FROM rollups WHERE series_id = ?", [(s,) for s in gone])
            conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'series_gen'"
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    # In-memory state, now that the change is durable.
    res.series_deleted = len(gone)
    core.forget_series(gone)
    core.maxt.update(newest)
    core.newest = max(core.maxt.values()) if core.maxt else None
    core.stats.newest_sample_ms = core.newest
    return res
