"""The database schema and its forward migrations (`PRAGMA user_version`).

Tables (version 2)::

    meta(key, value)                      store-wide facts (chunk window, series_gen)
    series(id, metric, labels)            one row per series; the other labels as JSON
    metadata(metric, type, help, unit)    per metric family
    head(series_id, t, v)                 recent raw samples (v: the float64's bits)
    chunks(id, series_id, mint, maxt, n, rolled, data)
                                          sealed, compressed samples of one series in one window
    rollups(id, series_id, res, start, data)
                                          downsampled buckets (added in version 2)

`chunks` and `rollups` are rowid tables with a unique index rather than WITHOUT
ROWID tables: their rows (0.1-4 KB blobs) would spill into overflow pages of an
index b-tree, while a rowid table packs them densely (measured: 25% smaller).
Chunk ids are AUTOINCREMENT, never reused, so readers may cache decoded chunks
by id (a chunk is never changed in place; a merge writes a new row).
Values travel as the float64's bit pattern in an INTEGER column because SQLite
turns NaN into NULL; the bits keep NaN payloads and the staleness marker exact.

Each migration is a function from version N-1 to N, run in one transaction
when a database written by an older nightowl is opened for writing. A
database whose version is newer than :data:`SCHEMA_VERSION` is refused with
:class:`~nightowl.errors.SchemaVersionError` and never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from nightowl.store.options import CHUNK_WINDOW_MS

from nightowl.errors import CorruptDatabaseError, SchemaVersionError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "check_schema", "migrate"]

#: Stored in `PRAGMA application_id` so other SQLite files are recognised as foreign.
APPLICATION_ID = 0x4E4F574C  # "NOWL"
SCHEMA_VERSION = 2


def _run(conn: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would commit the open transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            metric TEXT NOT NULL,
            labels BLOB NOT NULL
        );
        CREATE TABLE metadata (
            metric TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            help TEXT NOT NULL,
            unit TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE head (
            series_id INTEGER NOT NULL,
            t INTEGER NOT NULL,
            v INTEGER NOT NULL,
            PRIMARY KEY (series_id, t)
        ) WITHOUT ROWID;
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            series_id INTEGER NOT NULL,
            mint INTEGER NOT NULL,
            maxt INTEGER NOT NULL,
            n INTEGER NOT NULL,
            rolled INTEGER NOT NULL DEFAULT 0,
            data BLOB NOT NULL
        );
        CREATE UNIQUE INDEX chunks_by_series ON chunks (series_id, mint);
        INSERT INTO meta (key, value) VALUES ('chunk_window_ms', '{CHUNK_WINDOW_MS}');
        INSERT INTO meta (key, value) VALUES ('series_gen', '0');
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE rollups (
            id INTEGER PRIMARY KEY,
            series_id INTEGER NOT NULL,
            res INTEGER NOT NULL,
            start INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE UNIQUE INDEX rollups_by_series ON rollups (series_id, res, start);
        """,
    )


#: MIGRATIONS[i] takes a database from version i to version i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
assert len(MIGRATIONS) == SCHEMA_VERSION


def _user_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {r[0] for r in rows}


def check_schema(conn: sqlite3.Connection, where: str) -> int:
    """The database's schema version after checking that it is ours and not too new.

    Returns 0 for an empty database (no tables yet). Raises
    :class:`CorruptDatabaseError` for a foreign or damaged file and
    :class:`SchemaVersionError` for a newer one.
    """
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = _user_tables(conn)
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(f"not a readable SQLite database ({exc})", where=where) from None
    if version == 0 and app_id == 0 and not tables:
        return 0
    if app_id != APPLICATION_ID:
        raise CorruptDatabaseError(
            "this SQLite file is not a nightowl database; refusing to touch it",
            where=where,
            hint="pass --db with a new file name, or the path of a nightowl database",
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"database schema version {version} is newer than this nightowl understands "
            f"({SCHEMA_VERSION}); it was left untouched",
            where=where,
            hint="upgrade nightowl to read this database",
        )
    if version < 1 or "series" not in tables or "chunks" not in tables:
        raise CorruptDatabaseError(
            f"nightowl database is damaged (schema version {version}, tables missing)",
            where=where,
        )
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'chunk_window_ms'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(f"nightowl database is damaged ({exc})", where=where) from None
    if row is None or int(row[0]) != CHUNK_WINDOW_MS:
        raise CorruptDatabaseError(
            f"database uses chunk windows of {row[0] if row else '?'} ms; this nightowl "
            f"reads only {CHUNK_WINDOW_MS} ms",
            where=where,
        )
    return int(version)


def migrate(conn: sqlite3.Connection, current: int) -> int:
    """Bring a database from version `current` to :data:`SCHEMA_VERSION`, one step per
    transaction. Returns the number of steps applied."""
    steps = 0
    for version in range(current, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        steps += 1
    return steps
