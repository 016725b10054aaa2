"""Opening the SQLite file: pragmas, the single-writer lock, read-only attach.

- The writer takes an exclusive `fcntl.flock` on a sidecar file `<db>.lock`
  and writes its PID there. A second writer (another process, or another
  Store in the same process) gets :class:`~nightowl.errors.DatabaseLockedError`
  naming that PID. The kernel drops the lock when the process dies, so a
  crashed writer never leaves a stale lock behind.
- The database runs in WAL mode with `synchronous=NORMAL`: readers never wait
  for the writer and the writer never waits for readers. Readers open the file
  with the `mode=ro` URI and a busy timeout, so the rare moments where SQLite
  itself needs a lock (WAL recovery, a checkpoint restarting the log) are
  waited out instead of surfacing as "database is locked".
- A new database file is created with mode 0600 before SQLite touches it;
  SQLite gives its `-wal` and `-shm` files the same mode.
- A file that is not SQLite is refused with
  :class:`~nightowl.errors.CorruptDatabaseError` before anything is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import urllib.parse
from pathlib import Path

from nightowl.errors import CorruptDatabaseError, DatabaseLockedError, StoreError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "WriterLock",
    "configure_writer",
    "connect_reader",
    "connect_writer",
    "create_private",
    "db_files",
    "sniff",
]

BUSY_TIMEOUT_MS = 10_000
_MAGIC = b"SQLite format 3\x00"


def db_files(path: Path) -> list[Path]:
    """The files SQLite keeps for database `path` (the ones that exist)."""
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def sniff(path: Path) -> bool:
    """True if `path` exists and is non-empty; raises CorruptDatabaseError when it is
    not an SQLite file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC))
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise CorruptDatabaseError("is a directory, not a database file", where=str(path)) from None
    except OSError as exc:
        raise StoreError(
            f"cannot read the database file ({exc.strerror or exc})", where=str(path)
        ) from None
    if not head:
        return False
    if head != _MAGIC:
        raise CorruptDatabaseError(
            "not an SQLite database (bad file header); refusing to touch it", where=str(path)
        )
    return True


class WriterLock:
    """The exclusive writer lock on `<db>.lock`, holding the writer's PID."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DatabaseLockedError naming the holder's PID."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot create the writer lock file ({exc.strerror or exc})",
                where=str(self.path),
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            db = str(self.path)[: -len(".lock")]
            raise DatabaseLockedError(
                f"database is already open for writing by process {holder}",
                where=db,
                hint="stop that process, or open the database read-only",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent). The lock file stays; it is harmless."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _pragma(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql).fetchall()


def create_private(path: Path, what: str = "database") -> None:
    """Create `path` (and its folder) with mode 0600 unless it exists.

    SQLite gives the `-wal` and `-shm` files the database file's permissions, so
    creating the main file private first keeps all three private.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot create the {what} ({exc.strerror or exc})", where=str(path)
        ) from None
    os.close(fd)


def connect_writer(path: Path) -> sqlite3.Connection:
    """Open (creating with mode 0600 if needed) the database for the writer thread.

    Only the busy timeout is set here, so nothing is written before the caller has
    checked that the file is ours; then call :func:`configure_writer`.
    """
    if not sniff(path):
        create_private(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _pragma(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database ({exc})", where=str(path)) from None
    return conn


def configure_writer(conn: sqlite3.Connection, path: Path, *, fresh: bool) -> None:
    """WAL and the writer's pragmas; page size and incremental vacuum on a fresh file."""
    try:
        if fresh:
            _pragma(conn, "PRAGMA page_size = 8192")
            _pragma(conn, "PRAGMA auto_vacuum = INCREMENTAL")
        _pragma(conn, "PRAGMA journal_mode = WAL")
        _pragma(conn, "PRAGMA synchronous = NORMAL")
        _pragma(conn, "PRAGMA cache_size = -32000")
        _pragma(conn, "PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(
            f"not a usable SQLite database ({exc})", where=str(path)
        ) from None


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (`mode=ro`) for one reader thread."""
    if not sniff(path):
        raise StoreError("database does not exist (or is empty)", where=str(path))
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        _pragma(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _pragma(conn, "PRAGMA query_only = 1")
        _pragma(conn, "PRAGMA cache_size = -16000")
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(
            f"cannot open the database read-only ({exc})", where=str(path)
        ) from None
    return conn
