"""Remote-write progress: per-target, per-series high-water marks in a small SQLite file.

A remote writer (`nightowl.server.remote_write`) reads samples back from the
store and must know, after an outage or a restart, which ones a receiver has
already acknowledged. It records, per target and per series, the newest
timestamp the receiver answered 2xx for (the series' *high-water mark*), plus a
few per-target facts (where the target started, where the next scan begins).

The file lives beside the database (``<db>.remote-write``) rather than in it:
the database's single writer thread stays free for appends, and a remote
writer that falls behind never holds the store's write lock. Series are keyed
by their canonical label text, not by the store's series id, so the marks stay
valid when retention deletes a series and its id is reused.

Tables::

    targets(target, key, value)          origin_ms, scan_from_ms per target
    marks(target, series, t)             newest acknowledged timestamp per series
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from nightowl.store.sqlite import create_private

from nightowl.errors import StoreError

__all__ = ["ProgressStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    target TEXT NOT NULL,
    key TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (target, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marks (
    target TEXT NOT NULL,
    series TEXT NOT NULL,
    t INTEGER NOT NULL,
    PRIMARY KEY (target, series)
) WITHOUT ROWID;
"""


class ProgressStore:
    """High-water marks of remote-write targets. Thread-safe (one lock, one connection).

    Args:
        path: The progress file; None keeps the marks in memory (tests, in-memory stores).
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        where = str(self.path) if self.path is not None else ":memory:"
        if self.path is not None:
            create_private(self.path, "remote-write progress file")
        try:
            self._conn = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # A crash may lose the last marks (then samples are resent, never lost); the
            # receivers ignore a resent identical sample.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the remote-write progress file ({exc})", where=where
            ) from None
        self._where = where
        self.closed = False

    @classmethod
    def beside(cls, db_path: str | Path) -> ProgressStore:
        """The progress file next to the database at `db_path`."""
        p = Path(db_path)
        return cls(p.with_name(p.name + ".remote-write"))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
            self.closed = True

    def _run(self, fn):  # type: ignore[no-untyped-def]
        with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise StoreError(f"remote-write progress: {exc}", where=self._where) from None

    def get(self, target: str, key: str) -> int | None:
        """A per-target fact (e.g. ``origin_ms``), None when unset."""
        row = self._run(
            lambda c: c.execute(
                "SELECT value FROM targets WHERE target = ? AND key = ?", (target, key)
            ).fetchone()
        )
        return None if row is None else int(row[0])

    def set(self, target: str, key: str, value: int) -> None:
        """Record a per-target fact."""
        self._run(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO targets (target, key, value) VALUES (?, ?, ?)",
                (target, key, int(value)),
            )
        )

    def marks(self, target: str) -> dict[str, int]:
        """Every series' high-water mark of `target`."""
        rows = self._run(
            lambda c: c.execute(
                "SELECT series, t FROM marks WHERE target = ?", (target,)
            ).fetchall()
        )
        return {s: int(t) for s, t in rows}

    def advance(
        self, target: str, marks: Iterable[tuple[str, int]], facts: dict[str, int] | None = None
    ) -> None:
        """Raise the marks of some series (and set facts) in one transaction."""
        rows = [(target, s, int(t)) for s, t in marks]

        def run(c: sqlite3.Connection) -> None:
            c.execute("BEGIN")
            try:
                c.executemany(
                    "INSERT INTO marks (target, series, t) VALUES (?, ?, ?) "
                    "ON CONFLICT (target, series) DO UPDATE SET t = max(t, excluded.t)",
                    rows,
                )
                for key, value in (facts or {}).items():
                    c.execute(
                        "INSERT OR REPLACE INTO targets (target, key, value) VALUES (?, ?, ?)",
                        (target, key, int(value)),
                    )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        self._run(run)

    def prune(self, target: str, before: int) -> int:
        """Forget marks older than `before` (their series' next samples are newer anyway)."""
        return self._run(
            lambda c: (
                c.execute("DELETE FROM marks WHERE target = ? AND t < ?", (target, before)).rowcount
            )
        )

    def forget(self, target: str) -> None:
        """Drop everything recorded for `target`."""

        def run(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM marks WHERE target = ?", (target,))
            c.execute("DELETE FROM targets WHERE target = ?", (target,))

        self._run(run)

    def targets(self) -> list[str]:
        """Targets with recorded progress."""
        rows = self._run(lambda c: c.execute("SELECT DISTINCT target FROM targets").fetchall())
        return sorted(r[0] for r in rows)
