"""The writer: one thread owns the writable SQLite connection.

Every write (an appended batch, one step of compaction) is a closure put on
a queue and run by the writer thread, one transaction each, in arrival order.
Async callers await an `asyncio` future that the thread completes; the bulk
path for imports (`Store.append_sync`) blocks on the same queue, so there is
only ever one connection and one thread touching the file for writing. This
is aiosqlite's design (a thread fed by a queue) without its per-statement
round trips: an append is several statements plus numpy work that belong in
one transaction on one thread.

Appending a batch (:meth:`WriterCore.append`), all vectorised per sample:

1. Resolve label sets to series ids, creating new series within the
   cardinality limits (over-limit samples are dropped and counted).
2. Sort by (series, time); drop in-batch repeats (same value: a no-op;
   different value: a duplicate).
3. Compare with each series' newest timestamp: newer samples are appended.
   Older ones are looked up in stored data (one range read per series,
   vectorised matching): at a stored timestamp a bit-identical value is a
   no-op and a different one a duplicate; otherwise the sample goes to the
   head inside the out-of-order window and is rejected as out of order
   outside it.
4. A series with many new samples in the batch (an import) gets them encoded
   straight into sealed chunks; the few samples of a scrape go to the head
   table, which compaction later seals into chunks.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from nightowl.store.api import AppendResult
from nightowl.store.codec import decode_chunk, encode_chunk
from nightowl.store.options import CHUNK_WINDOW_MS, StoreOptions, StoreStats

from nightowl.errors import StoreError
from nightowl.model import METRIC_NAME, Labels, MetricMeta, SampleBatch

__all__ = ["WriterCore", "WriterThread", "decode_labels", "encode_labels"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A series with at least this many new samples in one batch is written as chunks directly.
BULK_MIN = 32
_INT64_MIN = -(2**63)


def encode_labels(labels: Labels) -> str:
    """Labels but the metric name as the JSON object stored in `series.labels`."""
    return json.dumps(
        {k: v for k, v in labels if k != METRIC_NAME}, separators=(",", ":"), ensure_ascii=False
    )


def decode_labels(metric: str, text: str | bytes) -> Labels:
    """Inverse of :func:`encode_labels`, with the `series.metric` column.

    The JSON keys are stored sorted, so the name is slotted in without sorting
    (this runs once per series when an index loads: 100,000 times at scale).
    """
    items = list(json.loads(text).items())
    if metric:
        pos = 0
        for key, _ in items:
            if key >= METRIC_NAME:
                break
            pos += 1
        items.insert(pos, (METRIC_NAME, metric))
    if any(items[i][0] >= items[i + 1][0] for i in range(len(items) - 1)):
        return Labels(items)  # not written by us in sorted order: take the slow path
    return tuple.__new__(Labels, items)


def window_start(t: int) -> int:
    """Start of the chunk window holding timestamp `t`."""
    return (t // CHUNK_WINDOW_MS) * CHUNK_WINDOW_MS


@dataclass
class _Pending:
    """In-memory state changes of one transaction, applied after COMMIT."""

    ids: dict[Labels, int] = field(default_factory=dict)
    metric_counts: Counter[str] = field(default_factory=Counter)
    maxt: dict[int, int] = field(default_factory=dict)
    meta: dict[str, MetricMeta] = field(default_factory=dict)


class WriterCore:
    """Write logic over one sqlite3 connection. Runs only on the writer thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, options: StoreOptions) -> None:
        self.conn = conn
        self.path = path
        self.options = options
        self.stats = StoreStats()
        self.ids: dict[Labels, int] = {}
        self.metric_counts: Counter[str] = Counter()
        self.maxt: dict[int, int] = {}
        self.meta: dict[str, MetricMeta] = {}
        self.next_id = 1
        self.newest: int | None = None
        #: A lower bound of the oldest stored timestamp (None: nothing stored).
        self.oldest: int | None = None
        #: Newest sample when the head was last sealed up to the present (partial seal).
        self.last_partial_seal = _INT64_MIN
        #: Rollup limits (window starts) of the last rollup pass, and series whose
        #: chunks were rewritten since (None: scan every series next time).
        self.rollup_key: tuple[int, int] | None = None
        self.rollup_dirty: set[int] = set()
        self._load()

    # -- state ---------------------------------------------------------------------------

    def _load(self) -> None:
        for sid, metric, text in self.conn.execute("SELECT id, metric, labels FROM series"):
            self.ids[decode_labels(metric, text)] = sid
            self.metric_counts[metric] += 1
            self.next_id = max(self.next_id, sid + 1)
        for sid, maxt in self.conn.execute(
            "SELECT series_id, max(maxt) FROM chunks GROUP BY series_id"
        ):
            self.maxt[sid] = maxt
        for sid, maxt in self.conn.execute("SELECT series_id, max(t) FROM head GROUP BY series_id"):
            if maxt > self.maxt.get(sid, _INT64_MIN):
                self.maxt[sid] = maxt
        for metric, typ, help_, unit in self.conn.execute(
            "SELECT metric, type, help, unit FROM metadata"
        ):
            self.meta[metric] = MetricMeta(typ, help_, unit)
        self.newest = max(self.maxt.values()) if self.maxt else None
        self.oldest = self.scan_oldest()
        self.stats.series = len(self.ids)
        self.stats.newest_sample_ms = self.newest

    def scan_oldest(self) -> int | None:
        """The oldest stored timestamp (full scans of the chunk and head tables)."""
        lows = [
            self.conn.execute("SELECT min(mint) FROM chunks").fetchone()[0],
            self.conn.execute("SELECT min(t) FROM head").fetchone()[0],
        ]
        known = [x for x in lows if x is not None]
        return min(known) if known else None

    def forget_series(self, sids: set[int]) -> None:
        """Drop deleted series from the in-memory state (after retention)."""
        if not sids:
            return
        for labels, sid in list(self.ids.items()):
            if sid in sids:
                del self.ids[labels]
                self.metric_counts[labels.name] -= 1
        for sid in sids:
            self.maxt.pop(sid, None)
        self.stats.series = len(self.ids)

    # -- appending -----------------------------------------------------------------------

    def append(self, batch: SampleBatch) -> AppendResult:
        """Store one batch in one transaction (see the module docstring)."""
        res = AppendResult()
        pend = _Pending()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._append(batch, res, pend)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(
                f"writing a batch of {len(batch)} samples failed ({exc})", where=str(self.path)
            ) from exc
        # Apply the in-memory changes only now that the data is durable.
        self.ids.update(pend.ids)
        self.metric_counts.update(pend.metric_counts)
        self.maxt.update(pend.maxt)
        self.meta.update(pend.meta)
        if pend.maxt:
            top = max(pend.maxt.values())
            if self.newest is None or top > self.newest:
                self.newest = top
        if res.accepted and len(batch):
            low = int(batch.timestamps.min())
            if self.oldest is None or low < self.oldest:
                self.oldest = low
        st = self.stats
        st.batches_appended += 1
        st.samples_appended += res.accepted
        st.samples_out_of_order += res.out_of_order
        st.samples_duplicate += res.duplicate
        st.samples_over_limit += res.over_limit
        st.series_created += res.series_created
        st.series = len(self.ids)
        st.newest_sample_ms = self.newest
        return res

    def _series_ids(self, batch: SampleBatch, res: AppendResult, pend: _Pending) -> np.ndarray:
        """Series id per entry of `batch.series` (-1: over a cardinality limit)."""
        opts = self.options
        used = np.zeros(len(batch.series), dtype=bool)
        if len(batch.refs):
            if int(batch.refs.min()) < 0 or int(batch.refs.max()) >= len(batch.series):
                raise StoreError("batch refs point outside its series list")
            used[batch.refs] = True
        ids = np.full(len(batch.series), -1, dtype=np.int64)
        new_rows: list[tuple[int, str, str]] = []
        total = len(self.ids)
        for i, labels in enumerate(batch.series):
            sid = self.ids.get(labels)
            if sid is None:
                sid = pend.ids.get(labels)
            if sid is not None:
                ids[i] = sid
                continue
            if not used[i]:
                continue
            metric = labels.name
            if opts.max_series and total + len(new_rows) >= opts.max_series:
                continue
            per_metric = self.metric_counts[metric] + pend.metric_counts[metric]
            if opts.max_series_per_metric and per_metric >= opts.max_series_per_metric:
                continue
            sid = self.next_id + len(new_rows)
            new_rows.append((sid, metric, encode_labels(labels)))
            pend.ids[labels] = sid
            pend.metric_counts[metric] += 1
            ids[i] = sid
        if new_rows:
            self.conn.executemany(
                "INSERT INTO series (id, metric, labels) VALUES (?, ?, ?)", new_rows
            )
            self.next_id += len(new_rows)
            res.series_created = len(new_rows)
        return ids

    def _write_meta(self, batch: SampleBatch, pend: _Pending) -> None:
        rows = []
        for metric, meta in batch.metadata.items():
            if self.meta.get(metric) != meta:
                rows.append((metric, str(meta.type), meta.help, meta.unit))
                pend.meta[metric] = meta
        if rows:
            self.conn.executemany(
                "INSERT INTO metadata (metric, type, help, unit) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (metric) DO UPDATE SET type=excluded.type, help=excluded.help, "
                "unit=excluded.unit",
                rows,
            )

    def _append(self, batch: SampleBatch, res: AppendResult, pend: _Pending) -> None:
        self._write_meta(batch, pend)
        if len(batch) == 0:
            return
        ref_ids = self._series_ids(batch, res, pend)
        sid = ref_ids[batch.refs]
        keep = sid >= 0
        res.over_limit = int(len(sid) - int(keep.sum()))
        t = batch.timestamps
        vb = batch.values.view(np.int64)
        if res.over_limit:
            sid, t, vb = sid[keep], t[keep], vb[keep]
        if len(sid) == 0:
            return
        order = np.lexsort((t, sid))
        sid, t, vb = sid[order], t[order], vb[order]

        # In-batch repeats of (series, t): the first wins.
        if len(sid) > 1:
            repeat = np.zeros(len(sid), dtype=bool)
            repeat[1:] = (sid[1:] == sid[:-1]) & (t[1:] == t[:-1])
            if repeat.any():
                starts = np.flatnonzero(~repeat)
                first = starts[np.cumsum(~repeat) - 1]
                differs = repeat & (vb != vb[first])
                res.duplicate += int(differs.sum())
                res.accepted += int((repeat & ~differs).sum())
                sid, t, vb = sid[~repeat], t[~repeat], vb[~repeat]

        # Against stored data: each series' newest timestamp.
        useries, ucount = np.unique(sid, return_counts=True)
        maxt = np.fromiter(
            (self.maxt.get(s, _INT64_MIN) for s in useries.tolist()),
            dtype=np.int64,
            count=len(useries),
        )
        mt = np.repeat(maxt, ucount)
        new = t > mt
        older = ~new
        if older.any():
            self._append_older(sid[older], t[older], vb[older], mt[older], res)
        if not new.all():
            sid, t, vb = sid[new], t[new], vb[new]
        if len(sid) == 0:
            return
        res.accepted += len(sid)
        self._append_new(sid, t, vb, pend)

    def _append_older(
        self, sid: np.ndarray, t: np.ndarray, vb: np.ndarray, mt: np.ndarray, res: AppendResult
    ) -> None:
        """Samples not newer than their series' newest `mt` (sorted by series, time).

        At a stored timestamp: a no-op when bit-identical, else a duplicate.
        Otherwise inserted into the head inside the out-of-order window and
        rejected as out of order outside it.
        """
        found, stored = self.stored_values(sid, t)
        same = found & (stored == vb)
        n_same = int(same.sum())
        res.accepted += n_same
        res.duplicate += int(found.sum()) - n_same
        window = self.options.out_of_order_window_ms
        # Oldest acceptable timestamp per sample (clamped at the int64 minimum).
        floor = np.where(mt < _INT64_MIN + window, _INT64_MIN, mt - window)
        insert = ~found & (t >= floor)
        n_insert = int(insert.sum())
        res.out_of_order += int((~found).sum()) - n_insert
        if n_insert:
            self.conn.executemany(
                "INSERT INTO head (series_id, t, v) VALUES (?, ?, ?)",
                zip(sid[insert].tolist(), t[insert].tolist(), vb[insert].tolist(), strict=True),
            )
            res.accepted += n_insert

    def stored_values(self, sid: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Look up stored samples at (`sid`, `t`), sorted by series then time.

        Returns (found, value bits): per sample whether the series has a stored
        sample at that timestamp and its value bits (0 where not found). One
        range read of head and chunks per series; matching is vectorised.
        """
        found = np.zeros(len(sid), dtype=bool)
        bits = np.zeros(len(sid), dtype=np.int64)
        if len(sid) == 0:
            return found, bits
        bounds = np.flatnonzero(np.diff(sid)) + 1
        starts = np.concatenate([[0], bounds]).tolist()
        ends = np.concatenate([bounds, [len(sid)]]).tolist()
        conn = self.conn
        for a, b in zip(starts, ends, strict=True):
            s, lo, hi = int(sid[a]), int(t[a]), int(t[b - 1])
            parts_t: list[np.ndarray] = []
            parts_v: list[np.ndarray] = []
            head = conn.execute(
                "SELECT t, v FROM head WHERE series_id = ? AND t >= ? AND t <= ? ORDER BY t",
                (s, lo, hi),
            ).fetchall()
            if head:
                hv = np.array(head, dtype=np.int64)
                parts_t.append(hv[:, 0])
                parts_v.append(hv[:, 1])
            for (data,) in conn.execute(
                "SELECT data FROM chunks WHERE series_id = ? AND mint >= ? AND mint <= ? "
                "AND maxt >= ? ORDER BY mint",
                (s, window_start(lo), hi, lo),
            ):
                ct, cv = decode_chunk(data)
                parts_t.append(ct)
                parts_v.append(cv.view(np.int64))
            if not parts_t:
                continue
            st = np.concatenate(parts_t) if len(parts_t) > 1 else parts_t[0]
            sv = np.concatenate(parts_v) if len(parts_v) > 1 else parts_v[0]
            if len(parts_t) > 1 and not bool(np.all(st[1:] > st[:-1])):
                # Head rows first, so a head sample wins over a chunk's at the same time.
                order = np.argsort(st, kind="stable")
                st, sv = st[order], sv[order]
                keep = np.ones(len(st), dtype=bool)
                keep[1:] = st[1:] != st[:-1]
                st, sv = st[keep], sv[keep]
            q = t[a:b]
            pos = np.searchsorted(st, q)
            inside = pos < len(st)
            hit = np.zeros(len(q), dtype=bool)
            hit[inside] = st[pos[inside]] == q[inside]
            found[a:b] = hit
            bits[a:b][hit] = sv[pos[hit]]
        return found, bits

    def _append_new(self, sid: np.ndarray, t: np.ndarray, vb: np.ndarray, pend: _Pending) -> None:
        """Samples newer than their series' newest: head rows or chunks."""
        bounds = np.flatnonzero(np.diff(sid)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(sid)]])
        counts = ends - starts
        bulk = counts >= BULK_MIN
        # Newest timestamp per series, for the in-memory state.
        for s, last in zip(sid[starts].tolist(), t[ends - 1].tolist(), strict=True):
            pend.maxt[s] = last
        if not bulk.all():
            if bulk.any():
                mask = np.repeat(~bulk, counts)
                hs, ht, hv = sid[mask], t[mask], vb[mask]
            else:
                hs, ht, hv = sid, t, vb
            self.conn.executemany(
                "INSERT INTO head (series_id, t, v) VALUES (?, ?, ?)",
                zip(hs.tolist(), ht.tolist(), hv.tolist(), strict=True),
            )
        vf = vb.view(np.float64)
        for i in np.flatnonzero(bulk).tolist():
            a, b = int(starts[i]), int(ends[i])
            self.write_samples(int(sid[a]), t[a:b], vf[a:b])

    def write_samples(self, sid: int, t: np.ndarray, v: np.ndarray) -> None:
        """Encode sorted samples of one series into chunks, merging each window with its
        existing chunk (timestamps already stored in the chunk win)."""
        win = t // CHUNK_WINDOW_MS
        cuts = np.flatnonzero(np.diff(win)) + 1
        rows = []
        for lo, hi in zip(
            np.concatenate([[0], cuts]).tolist(),
            np.concatenate([cuts, [len(t)]]).tolist(),
            strict=True,
        ):
            wt, wv = t[lo:hi], v[lo:hi]
            ws = int(win[lo]) * CHUNK_WINDOW_MS
            old = self.conn.execute(
                "SELECT mint, data FROM chunks WHERE series_id = ? AND mint >= ? AND mint < ?",
                (sid, ws, ws + CHUNK_WINDOW_MS),
            ).fetchall()
            for mint, data in old:
                ot, ov = decode_chunk(data)
                wt, wv = _merge(ot, ov, wt, wv)
                self.conn.execute(
                    "DELETE FROM chunks WHERE series_id = ? AND mint = ?", (sid, mint)
                )
            rows.append((sid, int(wt[0]), int(wt[-1]), len(wt), encode_chunk(wt, wv)))
        self.conn.executemany(
            "INSERT INTO chunks (series_id, mint, maxt, n, rolled, data) VALUES (?, ?, ?, ?, 0, ?)",
            rows,
        )
        self.rollup_dirty.add(sid)
        self.stats.chunks_written += len(rows)


def _merge(
    ot: np.ndarray, ov: np.ndarray, nt: np.ndarray, nv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted sample runs; on equal timestamps the first run's sample stays."""
    if len(ot) and len(nt) and ot[-1] < nt[0]:
        return np.concatenate([ot, nt]), np.concatenate([ov, nv])
    t = np.concatenate([ot, nt])
    v = np.concatenate([ov, nv])
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    return t[keep], v[keep]


class WriterThread:
    """A thread that runs closures against the writer connection, in order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn` to run on the writer thread."""
        if self._closed:
            raise StoreError("the store is closed")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread and wait for its result."""
        if threading.current_thread() is self._thread:
            return fn()
        return self.submit(fn).result()

    def stop(self) -> None:
        """Finish queued work and end the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
