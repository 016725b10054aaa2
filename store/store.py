"""`Store`: one nightowl database file, writable or read-only.

Usage::

    store = Store.open(path, options=StoreOptions(retention_time_ms=...))
    result = await store.append(batch)          # Appender (async, one transaction)
    result = store.append_sync(batch)           # the same, blocking (imports, tests)
    series = store.select(matchers, mint, maxt) # Querier (sync, any thread)
    store.close()                               # or `with` / `async with`

    ro = Store.open(path, readonly=True)        # another process: Querier only

A writable store takes the single-writer lock (`<db>.lock`), runs migrations,
owns a writer thread (see :mod:`nightowl.store.writer`) and, unless
`compaction_interval_ms` is 0, a background compactor thread that feeds
compaction steps to the writer one at a time. Reads go through read-only
connections, one per calling thread (:mod:`nightowl.store.reader`), in this
process and in any other.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from nightowl.store.api import AppendResult, RollupData, SeriesData
from nightowl.store.compact import CompactionResult, compaction_steps
from nightowl.store.delete import DeleteResult, delete_series
from nightowl.store.options import DatabaseStats, StoreOptions, StoreStats
from nightowl.store.reader import Reader
from nightowl.store.schema import check_schema, migrate
from nightowl.store.sqlite import (
    WriterLock,
    configure_writer,
    connect_reader,
    connect_writer,
    db_files,
    sniff,
)
from nightowl.store.writer import WriterCore, WriterThread

from nightowl.errors import StoreError
from nightowl.model import Labels, Matcher, MetricMeta, SampleBatch

__all__ = ["Store"]

log = logging.getLogger(__name__)


class Store:
    """A nightowl database: the `Appender` (when writable) and the `Querier`.

    Use :meth:`open`; the constructor is internal.
    """

    def __init__(
        self,
        path: Path,
        options: StoreOptions,
        reader: Reader,
        writer: WriterThread | None,
        core: WriterCore | None,
        lock: WriterLock | None,
    ) -> None:
        self.path = path
        self.options = options
        self.readonly = writer is None
        self._reader = reader
        self._writer = writer
        self._core = core
        self._lock = lock
        self._closed = False
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None
        self._compact_lock = threading.Lock()
        if writer is not None and options.compaction_interval_ms:
            self._compactor = threading.Thread(
                target=self._compact_loop, name=f"nightowl-compactor:{path.name}", daemon=True
            )
            self._compactor.start()

    # -- opening and closing -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        options: StoreOptions | None = None,
        chunk_cache_bytes: int = 48 << 20,
    ) -> Store:
        """Open (or, writable, create) the database at `path`.

        `chunk_cache_bytes` bounds the readers' cache of decoded chunks (0: none).

        Raises DatabaseLockedError (another writer), CorruptDatabaseError (not a
        nightowl database, damaged), SchemaVersionError (newer nightowl) or
        StoreError (cannot open, or read-only and missing).
        """
        path = Path(path).expanduser()
        options = options or StoreOptions()
        if readonly:
            if not sniff(path):
                raise StoreError("database does not exist", where=str(path))
            conn = connect_reader(path)
            try:
                check_schema(conn, str(path))
            finally:
                conn.close()
            return cls(path, options, Reader(path, cache_bytes=chunk_cache_bytes), None, None, None)
        sniff(path)  # refuse foreign files before taking any lock
        lock = WriterLock(path)
        lock.acquire()
        writer: WriterThread | None = None
        try:
            writer = WriterThread(f"nightowl-writer:{path.name}")

            def setup() -> WriterCore:
                conn = connect_writer(path)
                try:
                    version = check_schema(conn, str(path))
                    configure_writer(conn, path, fresh=version == 0)
                    migrate(conn, version)
                    return WriterCore(conn, path, options)
                except BaseException:
                    conn.close()
                    raise

            core = writer.call(setup)
        except BaseException:
            if writer is not None:
                writer.stop()
            lock.release()
            raise
        return cls(path, options, Reader(path, cache_bytes=chunk_cache_bytes), writer, core, lock)

    def close(self) -> None:
        """Stop background work, checkpoint the WAL, close every connection, drop the lock."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._compactor is not None:
            self._compactor.join()
        self._reader.close()
        if self._writer is not None and self._core is not None:
            core = self._core

            def shutdown() -> None:
                try:
                    core.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    core.conn.close()

            try:
                self._writer.call(shutdown)
            finally:
                self._writer.stop()
                if self._lock is not None:
                    self._lock.release()

    async def aclose(self) -> None:
        """`close()` off the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"nightowl Store {self.path} was never closed", ResourceWarning, stacklevel=1
            )

    # -- writing -------------------------------------------------------------------------

    def _need_writer(self) -> tuple[WriterThread, WriterCore]:
        if self._closed:
            raise StoreError("the store is closed", where=str(self.path))
        if self._writer is None or self._core is None:
            raise StoreError("the store was opened read-only", where=str(self.path))
        return self._writer, self._core

    async def append(self, batch: SampleBatch) -> AppendResult:
        """Store one batch in one transaction (the `Appender` protocol)."""
        writer, core = self._need_writer()
        return await asyncio.wrap_future(writer.submit(lambda: core.append(batch)))

    def append_sync(self, batch: SampleBatch) -> AppendResult:
        """Blocking `append`, for imports and other code without an event loop.

        Large batches of few series (an import) are encoded into compressed
        chunks directly; aim for batches of 100,000 samples or more.
        """
        writer, core = self._need_writer()
        return writer.call(lambda: core.append(batch))

    def compact_sync(self, *, force: bool = False) -> CompactionResult:
        """Run one full compaction now (seal, rollups, retention), step by step.

        `force=True` also seals the current window's head samples.
        """
        return self._compact(force=force, background=False)

    def _compact(self, *, force: bool, background: bool) -> CompactionResult:
        writer, core = self._need_writer()
        res = CompactionResult()
        with self._compact_lock:
            steps = writer.call(lambda: compaction_steps(core, res, force=force))

            def advance() -> bool:
                step = next(steps, None)
                if step is None:
                    return False
                step()
                return True

            while writer.call(advance):
                if background and self._stop.is_set():
                    break
            core.stats.compactions += 1
        return res

    async def compact(self, *, force: bool = False) -> CompactionResult:
        """`compact_sync` off the event loop."""
        return await asyncio.to_thread(self.compact_sync, force=force)

    def delete_series(
        self, matcher_sets: Sequence[Sequence[Matcher]], mint: int, maxt: int
    ) -> DeleteResult:
        """Delete the samples in [mint, maxt] (inclusive) of every series matching any of
        `matcher_sets`; series left empty are removed. Blocking, one transaction on the
        writer thread (see :mod:`nightowl.store.delete`)."""
        writer, core = self._need_writer()
        with self._compact_lock:
            return writer.call(lambda: delete_series(core, matcher_sets, mint, maxt))

    def checkpoint(self) -> None:
        """Write the WAL back into the database file and truncate it (waits for readers
        of old snapshots; new readers go on meanwhile)."""
        writer, core = self._need_writer()
        writer.call(lambda: core.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    def vacuum(self) -> None:
        """Rebuild the file without free space (slow; for `nightowl db compact`)."""
        writer, core = self._need_writer()
        writer.call(lambda: core.conn.execute("VACUUM").fetchall())

    def _compact_loop(self) -> None:
        interval = self.options.compaction_interval_ms / 1000
        while not self._stop.wait(interval):
            try:
                self._compact(force=False, background=True)
            except Exception:
                if self._closed:
                    return
                log.exception("background compaction of %s failed; will retry", self.path)

    def stats(self) -> StoreStats:
        """Counters and gauges of this store (zeros for a read-only one)."""
        if self._core is None:
            return StoreStats()
        return self._core.stats

    def database_stats(self, top: int = 10) -> DatabaseStats:
        """Series, samples, time range, file sizes and the `top` metrics by cardinality."""
        if self._closed:
            raise StoreError("the store is closed", where=str(self.path))
        return self._reader.database_stats(top)

    def file_sizes(self) -> dict[str, int]:
        """Size in bytes of each file SQLite keeps for this database."""
        return {p.name: p.stat().st_size for p in db_files(self.path)}

    def integrity_check(self) -> str:
        """`PRAGMA integrity_check` over a fresh read-only connection ("ok" when sound)."""
        conn = connect_reader(self.path)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        return "\n".join(str(r[0]) for r in rows)

    # -- reading (Querier) -----------------------------------------------------------------

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        """Series matching all `matchers` with their samples in [mint, maxt] (inclusive)."""
        return self._reader.select(matchers, mint, maxt)

    def series(
        self, matchers: Sequence[Matcher], mint: int | None = None, maxt: int | None = None
    ) -> list[Labels]:
        """Label sets of matching series that have samples in the range."""
        return self._reader.series(matchers, mint, maxt)

    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted label names present on matching series."""
        return self._reader.label_names(matchers, mint, maxt)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int | None = None,
        maxt: int | None = None,
    ) -> list[str]:
        """Sorted values of label `name` on matching series."""
        return self._reader.label_values(name, matchers, mint, maxt)

    def metadata(self, metric: str | None = None) -> dict[str, MetricMeta]:
        """Metadata by metric family name."""
        return self._reader.metadata(metric)

    def rollups(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, resolution_ms: int
    ) -> list[RollupData] | None:
        """Downsampled buckets inside [mint, maxt], or None when not covered."""
        return self._reader.rollups(matchers, mint, maxt, resolution_ms)
