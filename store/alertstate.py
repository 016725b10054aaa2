"""Alert history, silences and acknowledgements in a small SQLite sidecar file.

Why a sidecar (`<db>-alerts.sqlite` beside the metrics database, see
:func:`alertstate_path`) and not tables in the metrics file: the metrics file
has exactly one writer (the daemon holds its lock), but silences and acks are
written by whoever is on call, from `nightowl silence add` or the TUI in
another SSH session, while the daemon runs. The sidecar is in WAL mode with a
busy timeout, so a few writers at human rates take turns without "database is
locked", and the daemon's sample writer never waits on them.

Every call opens a short-lived connection (these are rare, small operations),
so the object can be shared between threads and processes without sharing a
handle. Nothing outside `store/` writes SQL; the alerting package uses the
typed records here.

``notify_groups`` remembers what each webhook receiver last delivered per
aggregation group, so a restart neither pages again nor forgets a resolve.

Tables: ``alert_history`` (every state transition of every alert: when,
labels, from/to state, value, annotations), ``silences`` (matchers, start, end,
author, comment; Alertmanager's semantics), ``acks`` (one alert by
fingerprint: who, when, note, expiry; ended when the alert resolves).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from nightowl.store.sqlite import BUSY_TIMEOUT_MS, create_private

from nightowl.errors import CorruptDatabaseError, StoreError

__all__ = [
    "AckRecord",
    "AlertStateDB",
    "HistoryEntry",
    "NotifyGroupState",
    "SilenceRecord",
    "alertstate_path",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY,
    t_ms INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    labels TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    value REAL,
    annotations TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alert_history_t ON alert_history (t_ms);
CREATE INDEX IF NOT EXISTS alert_history_fp ON alert_history (fingerprint, t_ms);
CREATE INDEX IF NOT EXISTS alert_history_name ON alert_history (alertname, t_ms);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    labels TEXT NOT NULL,
    acked_by TEXT NOT NULL,
    note TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE INDEX IF NOT EXISTS acks_fp ON acks (fingerprint);
CREATE TABLE IF NOT EXISTS notify_groups (
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    labels TEXT NOT NULL,
    sent_state TEXT NOT NULL,
    last_flush_ms INTEGER NOT NULL,
    PRIMARY KEY (receiver, group_key)
);
PRAGMA user_version = 1;
"""


def alertstate_path(db_path: Path | str) -> Path:
    """The sidecar file of metrics database `db_path`."""
    return Path(f"{db_path}-alerts.sqlite")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition of one alert."""

    t_ms: int
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    value: float | None
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence: alerts matching every matcher are not notified in [starts, ends)."""

    id: str
    matchers: list[str]
    """Matchers in PromQL syntax, e.g. `job="api"`, `instance=~"db.*"`."""
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    created_ms: int
    updated_ms: int

    def state(self, now_ms: int) -> str:
        """`pending`, `active` or `expired`, as Alertmanager reports silences."""
        if now_ms >= self.ends_ms:
            return "expired"
        if now_ms < self.starts_ms:
            return "pending"
        return "active"


@dataclass(frozen=True, slots=True)
class AckRecord:
    """Someone is on one alert."""

    id: str
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    acked_by: str
    note: str
    at_ms: int
    expires_ms: int
    ended_ms: int | None

    def active(self, now_ms: int) -> bool:
        """Not ended (its alert resolved) and not expired."""
        return self.ended_ms is None and now_ms < self.expires_ms


@dataclass(frozen=True, slots=True)
class NotifyGroupState:
    """What a receiver last delivered for one aggregation group."""

    group_key: str
    labels: dict[str, str]
    sent_state: dict[str, bool]
    """Alert fingerprint -> resolved?"""
    last_flush_ms: int


class AlertStateDB:
    """History, silences and acks in the sidecar file at `path` (created on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        with self._conn() as conn:
            try:
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise CorruptDatabaseError(
                    f"not a usable alert state file ({exc})", where=str(self.path)
                ) from None

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        create_private(self.path, "alert state file")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the alert state file ({exc})", where=str(self.path)
            ) from None
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("PRAGMA synchronous = NORMAL").fetchall()
            with conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"alert state file: {exc}", where=str(self.path)) from None
        finally:
            conn.close()

    # -- history

    def record_transitions(self, entries: Sequence[HistoryEntry]) -> None:
        """Append transitions (one transaction)."""
        if not entries:
            return
        with self._conn() as conn:
            conn.executemany(
                "INSERT INTO alert_history (t_ms, fingerprint, alertname, labels, from_state,"
                " to_state, value, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.t_ms,
                        e.fingerprint,
                        e.alertname,
                        json.dumps(e.labels, sort_keys=True),
                        e.from_state,
                        e.to_state,
                        e.value if e.value is None or e.value == e.value else None,
                        json.dumps(e.annotations, sort_keys=True),
                    )
                    for e in entries
                ],
            )

    def history(
        self,
        *,
        alertname: str | None = None,
        fingerprint: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 1000,
    ) -> list[HistoryEntry]:
        """Transitions, newest first, filtered by any of the arguments."""
        where, args = [], []
        for col, op, val in (
            ("alertname", "=", alertname),
            ("fingerprint", "=", fingerprint),
            ("t_ms", ">=", since_ms),
            ("t_ms", "<=", until_ms),
        ):
            if val is not None:
                where.append(f"{col} {op} ?")
                args.append(val)
        sql = (
            "SELECT t_ms, fingerprint, alertname, labels, from_state, to_state, value,"
            " annotations FROM alert_history"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t_ms DESC, id DESC LIMIT ?"
        with self._conn() as conn:
            rows = conn.execute(sql, [*args, limit]).fetchall()
        return [
            HistoryEntry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], json.loads(r[7]))
            for r in rows
        ]

    # -- silences

    def add_silence(
        self,
        matchers: Sequence[str],
        starts_ms: int,
        ends_ms: int,
        created_by: str,
        comment: str,
        now_ms: int,
    ) -> SilenceRecord:
        """Store a new silence; its id is a UUID as in Alertmanager."""
        rec = SilenceRecord(
            str(uuid.uuid4()),
            list(matchers),
            starts_ms,
            ends_ms,
            created_by,
            comment,
            now_ms,
            now_ms,
        )
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    json.dumps(rec.matchers),
                    rec.starts_ms,
                    rec.ends_ms,
                    rec.created_by,
                    rec.comment,
                    rec.created_ms,
                    rec.updated_ms,
                ),
            )
        return rec

    def silences(self, now_ms: int, *, include_expired: bool = False) -> list[SilenceRecord]:
        """Silences (pending and active; expired too when asked), soonest ending first."""
        sql = "SELECT * FROM silences"
        args: list[int] = []
        if not include_expired:
            sql += " WHERE ends_ms > ?"
            args.append(now_ms)
        sql += " ORDER BY ends_ms, id"
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [SilenceRecord(r[0], json.loads(r[1]), *r[2:]) for r in rows]

    def expire_silence(self, silence_id: str, now_ms: int) -> SilenceRecord | None:
        """End a silence now (a unique id prefix is enough); None when no such silence."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id FROM silences WHERE id LIKE ? || '%'", (silence_id,)
            ).fetchall()
            if len(rows) != 1:
                return None
            sid = rows[0][0]
            conn.execute(
                "UPDATE silences SET ends_ms = MIN(ends_ms, ?), updated_ms = ? WHERE id = ?",
                (now_ms, now_ms, sid),
            )
            r = conn.execute("SELECT * FROM silences WHERE id = ?", (sid,)).fetchone()
        return SilenceRecord(r[0], json.loads(r[1]), *r[2:])

    # -- acks

    def add_ack(
        self,
        fingerprint: str,
        alertname: str,
        labels: dict[str, str],
        acked_by: str,
        note: str,
        at_ms: int,
        expires_ms: int,
    ) -> AckRecord:
        """Acknowledge one alert (an earlier active ack of it is replaced)."""
        rec = AckRecord(
            str(uuid.uuid4()),
            fingerprint,
            alertname,
            dict(labels),
            acked_by,
            note,
            at_ms,
            expires_ms,
            None,
        )
        with self._conn() as conn:
            conn.execute(
                "UPDATE acks SET ended_ms = ? WHERE fingerprint = ? AND ended_ms IS NULL",
                (at_ms, fingerprint),
            )
            conn.execute(
                "INSERT INTO acks VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    rec.id,
                    fingerprint,
                    alertname,
                    json.dumps(labels, sort_keys=True),
                    acked_by,
                    note,
                    at_ms,
                    expires_ms,
                ),
            )
        return rec

    def end_acks(self, fingerprint: str, now_ms: int) -> int:
        """End the active acks of an alert (it resolved); how many ended."""
        with self._conn() as conn:
            cur = conn.execute(
                "UPDATE acks SET ended_ms = ? WHERE fingerprint = ? AND ended_ms IS NULL",
                (now_ms, fingerprint),
            )
            return cur.rowcount

    def acks(self, now_ms: int, *, active_only: bool = True) -> list[AckRecord]:
        """Acks, newest first (only active ones unless asked)."""
        sql = "SELECT * FROM acks"
        args: list[int] = []
        if active_only:
            sql += " WHERE ended_ms IS NULL AND expires_ms > ?"
            args.append(now_ms)
        sql += " ORDER BY at_ms DESC"
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [
            AckRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8])
            for r in rows
        ]

    # -- webhook receivers' delivered state

    def save_notify_group(self, receiver: str, state: NotifyGroupState) -> None:
        """Remember a delivered notification (an empty `sent_state` forgets the group)."""
        with self._conn() as conn:
            if not state.sent_state:
                conn.execute(
                    "DELETE FROM notify_groups WHERE receiver = ? AND group_key = ?",
                    (receiver, state.group_key),
                )
                return
            conn.execute(
                "INSERT OR REPLACE INTO notify_groups VALUES (?, ?, ?, ?, ?)",
                (
                    receiver,
                    state.group_key,
                    json.dumps(state.labels, sort_keys=True),
                    json.dumps(state.sent_state, sort_keys=True),
                    state.last_flush_ms,
                ),
            )

    def notify_groups(self, receiver: str) -> list[NotifyGroupState]:
        """The groups a receiver was last told about."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT group_key, labels, sent_state, last_flush_ms FROM notify_groups"
                " WHERE receiver = ? ORDER BY group_key",
                (receiver,),
            ).fetchall()
        return [NotifyGroupState(r[0], json.loads(r[1]), json.loads(r[2]), r[3]) for r in rows]
