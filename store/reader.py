"""Read side: the label index and the `Querier` over one database file.

A :class:`Reader` is safe to use from many threads at once: each thread gets
its own read-only sqlite3 connection (never shared across threads), and the
in-memory label index is shared under a lock.

The **label index** holds every series' labels in memory, column-wise: for
each label name a list of its distinct values and an int32 array giving, per
series, the index of its value (-1 when the series lacks the label). A
matcher is evaluated over the *distinct values* of its label (a regex runs
once per distinct value, never per series), then mapped to a boolean mask
over all series with one numpy gather. Masks of several matchers are ANDed.
The index refreshes incrementally (series ids only grow); when retention
deletes series the writer bumps `meta.series_gen` and readers rebuild.

Samples come from sealed chunks merged with the head rows of the same range.
A select fetches all its chunk blobs with one query and decodes them in one
batch (:func:`~nightowl.store.codec.decode_chunks`: per-chunk work is only
inflating and reading a few header bytes; everything per sample is numpy over
all chunks at once), cut to the range inside the decoder, then split into one
run per series by offsets. The optional decoded-chunk cache keeps read-only
views of those batch arrays, bounded by the arrays it keeps alive.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from nightowl.store.api import RollupData, SeriesData
from nightowl.store.codec import decode_chunks, decode_columns
from nightowl.store.options import CHUNK_WINDOW_MS, ROLLUP_RESOLUTIONS, DatabaseStats
from nightowl.store.sqlite import connect_reader, db_files
from nightowl.store.writer import decode_labels

from nightowl.errors import CorruptDatabaseError, StoreError
from nightowl.model import METRIC_NAME, Labels, Matcher, MatchOp, MetricMeta, MetricType

__all__ = ["ROLLUP_KINDS", "ChunkCache", "LabelIndex", "Reader", "rollup_block_ms"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
#: Column kinds of a rollup row: starts, min, max, sum, last, count, last_t.
ROLLUP_KINDS = "iffffii"


def rollup_block_ms(resolution_ms: int) -> int:
    """Length of time one stored rollup row covers at `resolution_ms`."""
    return 86_400_000 if resolution_ms < 3_600_000 else 7 * 86_400_000


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every query inside sees the same commit (WAL snapshot)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


class ChunkCache:
    """Decoded chunks by chunk id, least recently used first out, bounded in bytes.

    Chunk ids are never reused (AUTOINCREMENT) and a chunk's data never changes
    in place (a merge writes a new row), so an id identifies its samples.
    Decoded arrays are shared read-only between callers.

    Entries are views into the arrays a batch decode produced (no per-chunk
    copies), so the bound counts those underlying arrays: each once, for as
    long as any entry still holds a view of it. That is the memory the cache
    really keeps alive.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[int, tuple[np.ndarray, np.ndarray, tuple[int, int]]] = (
            OrderedDict()
        )
        # (id of the timestamps' base, id of the values' base) -> [entries, bytes].
        # The ids stay valid while an entry holds a view (the base is alive).
        self._bases: dict[tuple[int, int], list[int]] = {}
        self._lock = threading.Lock()

    def lookup(self, cids: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """The cached decoded chunks for `cids` (None where missing), refreshing them."""
        out: list[tuple[np.ndarray, np.ndarray] | None] = []
        with self._lock:
            items = self._items
            for cid in cids:
                hit = items.get(cid)
                if hit is None:
                    out.append(None)
                else:
                    items.move_to_end(cid)
                    out.append((hit[0], hit[1]))
        return out

    def put_many(self, entries: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Remember decoded chunks (chunk id, timestamps, values)."""
        if self.max_bytes <= 0:
            return
        with self._lock:
            items = self._items
            bases = self._bases
            for cid, ts, vs in entries:
                if cid in items:
                    continue
                bt = ts if ts.base is None else ts.base
                bv = vs if vs.base is None else vs.base
                key = (id(bt), id(bv))
                rec = bases.get(key)
                if rec is None:
                    size = bt.nbytes + bv.nbytes
                    if size > self.max_bytes:
                        continue
                    rec = bases[key] = [0, size]
                    self.bytes += size
                rec[0] += 1
                if ts.flags.writeable:
                    ts.flags.writeable = False
                if vs.flags.writeable:
                    vs.flags.writeable = False
                items[cid] = (ts, vs, key)
            while self.bytes > self.max_bytes and items:
                _, (_, _, key) = items.popitem(last=False)
                rec = bases[key]
                rec[0] -= 1
                if rec[0] == 0:
                    self.bytes -= rec[1]
                    del bases[key]

    def pieces(
        self, rows: Sequence[tuple[int, int, bytes]], mint: int, maxt: int
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Per row (chunk id, series id, blob) its samples in [mint, maxt] as read-only
        views of cached chunks (misses decoded in one batch and cached), or None when
        none of the rows is cached (the caller then decodes them all in one batch)."""
        if self.max_bytes <= 0 or not self._items:
            return None
        got = self.lookup([r[0] for r in rows])
        miss = [i for i, hit in enumerate(got) if hit is None]
        if len(miss) == len(rows):
            return None
        if miss:
            each: list[tuple[np.ndarray, np.ndarray]] = []
            decode_chunks([rows[i][2] for i in miss], each=each)
            self.put_many([(rows[i][0], t, v) for i, (t, v) in zip(miss, each, strict=True)])
            for i, hit in zip(miss, each, strict=True):
                got[i] = hit
        out = []
        for hit in got:
            assert hit is not None
            t, v = hit
            if len(t) and (t[0] < mint or t[-1] > maxt):
                a = int(np.searchsorted(t, mint, "left"))
                b = int(np.searchsorted(t, maxt, "right"))
                t, v = t[a:b], v[a:b]
            out.append((t, v))
        return out


class LabelIndex:
    """Columnar in-memory index of series labels (see the module docstring)."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.labels: list[Labels] = []
        self.values: dict[str, list[str]] = {}
        self.value_pos: dict[str, dict[str, int]] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.max_id = 0
        self.gen = -1
        self._regex_cache: dict[tuple[str, str, str], tuple[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, rows: list[tuple[int, str, str]]) -> None:
        """Add series rows (id, metric, labels JSON) with ids above every known id."""
        if not rows:
            return
        n0 = len(self.labels)
        k = len(rows)
        labels, full = _decode_label_rows(rows)
        self.labels.extend(labels)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=k)
        self.ids = np.concatenate([self.ids, ids])
        self.max_id = max(self.max_id, int(ids.max()))
        # Column by column: one pass over the new rows per label name.
        names: set[str] = set().union(*full)
        for name in names:
            pos = self.value_pos.get(name)
            if pos is None:
                pos = self.value_pos[name] = {}
            col = [
                -1 if v is None else pos.setdefault(v, len(pos))
                for v in [d.get(name) for d in full]
            ]
            self.values[name] = list(pos)
            old = self.codes.get(name)
            if old is None:
                old = np.full(n0, -1, dtype=np.int32)
            self.codes[name] = np.concatenate([old, np.array(col, dtype=np.int32)])
        for name, old in self.codes.items():
            if name not in names:
                self.codes[name] = np.concatenate([old, np.full(k, -1, dtype=np.int32)])
        assert all(len(c) == n0 + k for c in self.codes.values())

    def _value_mask(self, m: Matcher) -> np.ndarray:
        """Boolean per distinct value of `m.name`, plus a last entry for "label absent"."""
        values = self.values.get(m.name, [])
        if m.op is MatchOp.EQ or m.op is MatchOp.NE:
            out = np.zeros(len(values) + 1, dtype=bool)
            code = self.value_pos.get(m.name, {}).get(m.value)
            if code is not None:
                out[code] = True
            out[-1] = m.value == ""
            return out if m.op is MatchOp.EQ else ~out
        key = (m.name, m.op.value, m.value)
        cached = self._regex_cache.get(key)
        if cached is not None and cached[0] == len(values):
            return cached[1]
        start = cached[0] if cached is not None else 0
        head = cached[1][:-1] if cached is not None else np.empty(0, dtype=bool)
        tail = np.fromiter(
            (m.matches(v) for v in values[start:]), dtype=bool, count=len(values) - start
        )
        out = np.concatenate([head, tail, [m.matches("")]])
        if len(self._regex_cache) > 256:
            self._regex_cache.clear()
        self._regex_cache[key] = (len(values), out)
        return out

    def match(self, matchers: Sequence[Matcher]) -> np.ndarray:
        """Positions (into `ids`/`labels`) of series matching all matchers, ascending."""
        n = len(self.labels)
        mask: np.ndarray | None = None
        for m in matchers:
            vmask = self._value_mask(m)
            codes = self.codes.get(m.name)
            # Code -1 (label absent) picks the last entry of vmask.
            hit = np.full(n, bool(vmask[-1])) if codes is None else vmask[codes]
            mask = hit if mask is None else mask & hit
            if not mask.any():
                return np.empty(0, dtype=np.int64)
        if mask is None:
            return np.arange(n, dtype=np.int64)
        return np.flatnonzero(mask)


def _decode_label_rows(
    rows: list[tuple[int, str, str]],
) -> tuple[list[Labels], list[dict[str, str]]]:
    """Labels of series rows (id, metric, labels JSON) and each as a dict.

    Same result as :func:`decode_labels` row by row, but with one JSON parse for
    all rows (the index of a fresh reader loads every series at once).
    """
    try:
        texts = [t if isinstance(t, str) else bytes(t).decode("utf-8") for _, _, t in rows]
        dicts = json.loads("[" + ",".join(texts) + "]")
        if len(dicts) != len(rows) or not all(type(d) is dict for d in dicts):
            raise ValueError("not one JSON object per row")
    except ValueError:  # let the row-by-row decoder report the damaged row
        labels = [decode_labels(m, t) for _, m, t in rows]
        return labels, [dict(lab) for lab in labels]
    labels = []
    for (_, metric, text), d in zip(rows, dicts, strict=True):
        keys = list(d)
        if METRIC_NAME in d or keys != sorted(keys):
            lab = decode_labels(metric, text)  # not written by us: the careful path
            labels.append(lab)
            d.clear()
            d.update(lab)
            continue
        items = list(d.items())
        if metric:
            items.insert(bisect.bisect_left(keys, METRIC_NAME), (METRIC_NAME, metric))
            d[METRIC_NAME] = metric
        labels.append(tuple.__new__(Labels, items))
    return labels, dicts


def _sorted_unique(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples sorted by time; of equal times the first one (in input order) wins."""
    if len(t) < 2 or np.all(t[1:] > t[:-1]):
        return t, v
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    return t[keep], v[keep]


def _split(
    out: dict[int, tuple[np.ndarray, np.ndarray]],
    row_sids: list[int],
    ts: np.ndarray,
    vs: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Cut decoded rows (concatenated, `counts` samples per row, rows ordered by series
    and then time) into one run of samples per series, stored in `out`."""
    if not len(ts):
        return
    sids = np.array(row_sids, dtype=np.int64)
    first = np.flatnonzero(np.concatenate([[True], sids[1:] != sids[:-1]]))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    starts = offsets[first]
    ends = np.append(starts[1:], len(ts))
    # A time step down inside a series means overlapping chunks (not written by us):
    # that series gets sorted.
    down = np.flatnonzero(ts[1:] <= ts[:-1]) + 1
    fix: set[int] = set()
    if len(down):
        inside = down[~np.isin(down, starts)]
        if len(inside):
            which = np.searchsorted(starts, inside, "right") - 1
            fix = set(sids[first[which]].tolist())
    for sid, a, b in zip(sids[first].tolist(), starts.tolist(), ends.tolist(), strict=True):
        if a < b:
            t, v = ts[a:b], vs[a:b]
            out[sid] = _sorted_unique(t, v) if sid in fix else (t, v)


def _sqlite_errors(fn: F) -> F:
    """Report SQLite failures of a read as StoreError naming the file."""

    @functools.wraps(fn)
    def wrapper(self: Reader, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise CorruptDatabaseError(
                f"reading the database failed ({exc})", where=str(self.path)
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"reading the database failed ({exc})", where=str(self.path)) from exc

    return wrapper  # type: ignore[return-value]


class Reader:
    """The synchronous `Querier` over one database file (read-only connections)."""

    def __init__(self, path: Path, *, cache_bytes: int = 48 << 20) -> None:
        self.path = path
        self._cache = ChunkCache(cache_bytes)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        self._index = LabelIndex()
        weakref.finalize(self, Reader._close_all, self._conns)

    # -- connections and index -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed", where=str(self.path))
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_reader(self.path)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @staticmethod
    def _close_all(conns: list[sqlite3.Connection]) -> None:
        for conn in conns:
            conn.close()
        conns.clear()

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            self._closed = True
            Reader._close_all(self._conns)

    def _with_index(self, fn: Callable[[LabelIndex], T]) -> T:
        """Refresh the label index with series added since the last call, then run
        `fn` on it under the index lock (the index is shared between threads)."""
        conn = self._conn()
        gen_row = conn.execute("SELECT value FROM meta WHERE key = 'series_gen'").fetchone()
        gen = int(gen_row[0]) if gen_row else 0
        with self._lock:
            idx = self._index
            if idx.gen != gen:
                idx = self._index = LabelIndex()
                idx.gen = gen
            rows = conn.execute(
                "SELECT id, metric, labels FROM series WHERE id > ? ORDER BY id", (idx.max_id,)
            ).fetchall()
            idx.add(rows)
            return fn(idx)

    def _select_ids(self, matchers: Sequence[Matcher]) -> tuple[np.ndarray, list[Labels]]:
        def pick(idx: LabelIndex) -> tuple[np.ndarray, list[Labels]]:
            pos = idx.match(matchers)
            return idx.ids[pos], [idx.labels[p] for p in pos.tolist()]

        return self._with_index(pick)

    # -- samples -----------------------------------------------------------------------------

    def _read(
        self, ids: np.ndarray, mint: int, maxt: int
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Samples in [mint, maxt] per series id (ids without samples are absent)."""
        if len(ids) == 0 or mint > maxt:
            return {}
        conn = self._conn()
        id_json = json.dumps(ids.tolist())
        lo = max(_INT64_MIN, (mint // CHUNK_WINDOW_MS) * CHUNK_WINDOW_MS)
        with _snapshot(conn):  # chunks and head from the same commit
            rows = conn.execute(
                "SELECT id, series_id, data FROM chunks "
                "WHERE series_id IN (SELECT value FROM json_each(?)) "
                "AND mint >= ? AND mint <= ? AND maxt >= ? ORDER BY series_id, mint",
                (id_json, lo, maxt, mint),
            ).fetchall()
            # One row per series with its times and value bits as text: far fewer
            # Python objects than one row per sample (4x faster for 240k samples).
            head = conn.execute(
                "SELECT series_id, group_concat(t), group_concat(v) FROM head "
                "WHERE series_id IN (SELECT value FROM json_each(?)) "
                "AND t >= ? AND t <= ? GROUP BY series_id",
                (id_json, mint, maxt),
            ).fetchall()
        cache = self._cache
        pieces = cache.pieces(rows, mint, maxt)
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if pieces is not None:
            runs: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
            for (_, sid, _), (t, v) in zip(rows, pieces, strict=True):
                if len(t):
                    runs.setdefault(sid, []).append((t, v))
            for sid, parts in runs.items():
                if len(parts) == 1:
                    out[sid] = parts[0]
                else:
                    out[sid] = _sorted_unique(
                        np.concatenate([p[0] for p in parts]),
                        np.concatenate([p[1] for p in parts]),
                    )
        elif rows:
            each: list[tuple[np.ndarray, np.ndarray]] | None = [] if cache.max_bytes > 0 else None
            ts, vs, counts = decode_chunks([r[2] for r in rows], mint, maxt, each=each)
            if each:
                cache.put_many([(r[0], t, v) for r, (t, v) in zip(rows, each, strict=True)])
            _split(out, [r[1] for r in rows], ts, vs, counts)
        for sid, t_text, v_text in head:
            t = np.fromstring(t_text, dtype=np.int64, sep=",")
            v = np.fromstring(v_text, dtype=np.int64, sep=",").view(np.float64)
            if len(t) != len(v):
                raise CorruptDatabaseError("head rows are damaged", where=str(self.path))
            if len(t) > 1 and not np.all(t[1:] > t[:-1]):
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
            have = out.get(sid)
            if have is None:
                out[sid] = (t, v)
            else:  # sealed samples win over head rows at the same time
                out[sid] = _sorted_unique(
                    np.concatenate([have[0], t]), np.concatenate([have[1], v])
                )
        return out

    @_sqlite_errors
    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        """Series matching all `matchers` with their samples in [mint, maxt] (inclusive)."""
        ids, labels = self._select_ids(matchers)
        data = self._read(ids, mint, maxt)
        out = []
        for sid, lab in zip(ids.tolist(), labels, strict=True):
            got = data.get(sid)
            if got is not None:
                out.append(SeriesData(lab, got[0], got[1]))
        return out

    def _ids_with_data(self, ids: np.ndarray, mint: int | None, maxt: int | None) -> set[int]:
        if len(ids) == 0:
            return set()
        lo = _INT64_MIN if mint is None else mint
        hi = _INT64_MAX if maxt is None else maxt
        conn = self._conn()
        id_json = json.dumps(ids.tolist())
        wlo = max(_INT64_MIN, (lo // CHUNK_WINDOW_MS) * CHUNK_WINDOW_MS)
        with _snapshot(conn):
            found = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT series_id FROM chunks WHERE series_id IN "
                    "(SELECT value FROM json_each(?)) AND mint >= ? AND mint <= ? AND maxt >= ?",
                    (id_json, wlo, hi, lo),
                )
            }
            rest = [i for i in ids.tolist() if i not in found]
            if rest:
                found.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT series_id FROM head WHERE series_id IN "
                        "(SELECT value FROM json_each(?)) AND t >= ? AND t <= ?",
                        (json.dumps(rest), lo, hi),
                    )
                )
        return found

    @_sqlite_errors
    def series(
        self, matchers: Sequence[Matcher], mint: int | None = None, maxt: int | None = None
    ) -> list[Labels]:
        """Label sets of matching series that have samples in the range (None: unbounded)."""
        ids, labels = self._select_ids(matchers)
        have = self._ids_with_data(ids, mint, maxt)
        return sorted(lab for sid, lab in zip(ids.tolist(), labels, strict=True) if sid in have)

    @_sqlite_errors
    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted label names present on matching series."""
        if not matchers and mint is None and maxt is None:
            return self._with_index(
                lambda idx: sorted(n for n, codes in idx.codes.items() if (codes >= 0).any())
            )
        names: set[str] = set()
        for labels in self.series(matchers, mint, maxt):
            names.update(k for k, _ in labels)
        return sorted(names)

    @_sqlite_errors
    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted values of label `name` on matching series."""
        if not matchers and mint is None and maxt is None:

            def values_of(idx: LabelIndex) -> list[str]:
                codes = idx.codes.get(name)
                if codes is None:
                    return []
                used = np.unique(codes[codes >= 0])
                values = idx.values[name]
                return sorted(values[c] for c in used.tolist())

            return self._with_index(values_of)
        out = {lab.get(name) for lab in self.series(matchers, mint, maxt)}
        out.discard("")
        return sorted(out)

    @_sqlite_errors
    def metadata(self, metric: str | None = None) -> dict[str, MetricMeta]:
        """Metadata by metric family name (one family when `metric` is given)."""
        conn = self._conn()
        if metric is None:
            rows = conn.execute("SELECT metric, type, help, unit FROM metadata").fetchall()
        else:
            rows = conn.execute(
                "SELECT metric, type, help, unit FROM metadata WHERE metric = ?", (metric,)
            ).fetchall()
        out = {}
        for m, typ, help_, unit in rows:
            try:
                mtype = MetricType(typ)
            except ValueError:
                mtype = MetricType.UNKNOWN
            out[m] = MetricMeta(mtype, help_, unit)
        return out

    @_sqlite_errors
    def database_stats(self, top: int = 10) -> DatabaseStats:
        """Counts and sizes for `nightowl db stats` (one read transaction)."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            series = conn.execute("SELECT count(*) FROM series").fetchone()[0]
            chunks, chunk_samples, cmin, cmax = conn.execute(
                "SELECT count(*), total(n), min(mint), max(maxt) FROM chunks"
            ).fetchone()
            head, hmin, hmax = conn.execute("SELECT count(*), min(t), max(t) FROM head").fetchone()
            rollup_rows = conn.execute("SELECT count(*) FROM rollups").fetchone()[0]
            top_rows = conn.execute(
                "SELECT metric, count(*) AS c FROM series GROUP BY metric "
                "ORDER BY c DESC, metric LIMIT ?",
                (top,),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        lows = [x for x in (cmin, hmin) if x is not None]
        highs = [x for x in (cmax, hmax) if x is not None]
        return DatabaseStats(
            path=str(self.path),
            schema_version=int(version),
            series=int(series),
            samples=int(chunk_samples) + int(head),
            head_samples=int(head),
            chunks=int(chunks),
            rollup_rows=int(rollup_rows),
            oldest_ms=min(lows) if lows else None,
            newest_ms=max(highs) if highs else None,
            file_sizes={p.name: p.stat().st_size for p in db_files(self.path)},
            top_metrics=[(m, int(c)) for m, c in top_rows],
        )

    @_sqlite_errors
    def rollups(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, resolution_ms: int
    ) -> list[RollupData] | None:
        """Downsampled buckets fully inside [mint, maxt], or None when the rollups of that
        resolution do not cover the range (data still in the head, or windows not yet
        rolled up): the caller then reads raw samples."""
        if resolution_ms not in ROLLUP_RESOLUTIONS or mint > maxt:
            return None
        bit = 1 if resolution_ms == ROLLUP_RESOLUTIONS[0] else 2
        ids, labels = self._select_ids(matchers)
        if len(ids) == 0:
            return []
        conn = self._conn()
        id_json = json.dumps(ids.tolist())
        wlo = max(_INT64_MIN, (mint // CHUNK_WINDOW_MS) * CHUNK_WINDOW_MS)
        with _snapshot(conn):
            unrolled = conn.execute(
                "SELECT 1 FROM chunks WHERE series_id IN (SELECT value FROM json_each(?)) "
                "AND mint >= ? AND mint <= ? AND maxt >= ? AND (rolled & ?) = 0 LIMIT 1",
                (id_json, wlo, maxt, mint, bit),
            ).fetchone()
            if unrolled is not None:
                return None
            in_head = conn.execute(
                "SELECT 1 FROM head WHERE series_id IN (SELECT value FROM json_each(?)) "
                "AND t >= ? AND t <= ? LIMIT 1",
                (id_json, mint, maxt),
            ).fetchone()
            if in_head is not None:
                return None
            block = rollup_block_ms(resolution_ms)
            blo = max(_INT64_MIN, (mint // block) * block)
            rows = conn.execute(
                "SELECT series_id, data FROM rollups WHERE series_id IN "
                "(SELECT value FROM json_each(?)) AND res = ? AND start >= ? AND start <= ? "
                "ORDER BY series_id, start",
                (id_json, resolution_ms, blo, maxt),
            ).fetchall()
        per: dict[int, list[list[np.ndarray]]] = {}
        for sid, data in rows:
            cols = decode_columns(ROLLUP_KINDS, data)
            starts = cols[0]
            keep = (starts >= mint) & (starts + (resolution_ms - 1) <= maxt)
            if keep.any():
                per.setdefault(sid, []).append([c[keep] for c in cols])
        out = []
        for sid, lab in zip(ids.tolist(), labels, strict=True):
            parts = per.get(sid)
            if not parts:
                continue
            cols = [np.concatenate([p[i] for p in parts]) for i in range(len(ROLLUP_KINDS))]
            out.append(
                RollupData(
                    labels=lab,
                    resolution_ms=resolution_ms,
                    starts=cols[0],
                    min=cols[1],
                    max=cols[2],
                    sum=cols[3],
                    count=cols[5],
                    last=cols[4],
                    last_t=cols[6],
                )
            )
        return out
